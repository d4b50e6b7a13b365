"""At most one transcription per host at a time: a Prefect global concurrency limit shared by every flow run.

Whisper takes all CPU cores and up to a few GB of memory; two at once on one machine only slow each other down or
run it out of memory. The limit is named after the host, so that machines sharing one Prefect server each run
their own transcription. An operator may raise it (`prefect gcl update confcast-transcription-HOST --limit 2`);
it is created with one slot only when missing, never reset.
"""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

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


SITE_LIMIT_PREFIX = "confcast-site"


def site_limit_name(storage_url: str) -> str:
    """``confcast-site-<hash of the storage URL>``: one name per published site, whatever host writes it."""
    return f"{SITE_LIMIT_PREFIX}-{hashlib.sha256(storage_url.encode('utf-8')).hexdigest()[:12]}"


@contextmanager
def one_writer_per_site(storage_url: str) -> Iterator[None]:
    """Hold the site's single writing slot: the catalog, feed and search index are read, changed and written back,
    so two publications at once (from any host of the Prefect server) would lose one another's entries."""
    name = site_limit_name(storage_url)
    ensure_limit(name, 1)
    with concurrency(name, occupy=1, lease_duration=LEASE_S, strict=True):
        yield
