"""At most one transcription per host at a time (a Prefect global concurrency limit shared by every flow run), and
one writer per site (a lock in the storage itself).

Whisper takes all CPU cores and up to a few GB of memory; two at once on one machine only slow each other down or
run it out of memory. The limit is named after the host, so that machines sharing one Prefect server each run
their own transcription. An operator may raise it (`prefect gcl update confcast-transcription-HOST --limit 2`);
it is created with one slot only when missing, never reset.

The site's lock is not a Prefect limit: such a limit holds only among the runs of one Prefect server, and two
hosts on their own temporary servers would both write the catalog. It is a lease in the storage (tasks.storage.lease),
which every writer sees whatever its server; a Prefect limit beside it would only add a second wait, and keep a
killed run's slot for a minute (Prefect's shortest lease) where the storage lock lets the next run in.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from confcast.config.settings import Settings
from confcast.tasks.storage.base import Storage
from confcast.tasks.storage.lease import SiteLock

TRANSCRIPTION_LIMIT_PREFIX = "confcast-transcription"
TRANSCRIPTION_SLOTS = 1
LEASE_S = 60  # renewed while the work runs; a crashed process frees its slot this long after (Prefect's minimum)


def transcription_limit_name(host: str | None = None) -> str:
    """``confcast-transcription-<host>``, with only characters a limit name may hold."""
    host = re.sub(r"[^A-Za-z0-9._-]+", "-", host or socket.gethostname()).strip("-") or "localhost"
    return f"{TRANSCRIPTION_LIMIT_PREFIX}-{host}"


def ensure_limit(name: str, slots: int) -> None:
    """Create the global concurrency limit ``name`` with ``slots`` if it does not exist (leave it as it is if it
    does: an operator may have changed it)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))
            except ObjectAlreadyExists:
                pass  # another flow run created it first


@contextmanager
def one_transcription_per_host(host: str | None = None) -> Iterator[None]:
    """Hold this host's transcription slot for the duration of the block (waits for it if taken)."""
    name = transcription_limit_name(host)
    ensure_limit(name, TRANSCRIPTION_SLOTS)
    with concurrency(name, occupy=1, lease_duration=LEASE_S, strict=True):
        yield


def report_site_lock(message: str) -> None:
    """The site lock's news (waiting for whom, taken over from whom): on standard error, where the operator
    watches the run, and in the flow run's logs."""
    print(f"confcast: {message}", file=sys.stderr, flush=True)
    try:
        get_run_logger().warning(message)
    except Exception:  # outside a flow run (or in the lease's heartbeat thread): the plain logger
        logging.getLogger("confcast").warning(message)


@contextmanager
def one_writer_per_site(storage: Storage, settings: Settings, *, create: bool = True) -> Iterator[Storage]:
    """Hold the site's lock for the block, and yield the storage to write through (its writes stop if the lock is
    lost): the catalog, feed and search index are read, changed and written back, so two writers at once, from any
    host and any Prefect server, would lose one another's entries. `create`: prepare the site (bucket, folder)
    first; without it a missing site is an error."""
    lock = SiteLock(
        storage, seconds=settings.site_lock_seconds, host=settings.host_name, create=create, on_wait=report_site_lock
    )
    with lock as site:
        yield site
