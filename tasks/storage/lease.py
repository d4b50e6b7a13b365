"""One writer at a time per site, whatever the host: a lock held in the storage itself (`SiteLock`).

Every publication reads the catalog, feed and search index, changes them and writes them back; two writers at once
lose one another's entries. A Prefect concurrency limit holds only among the runs of one Prefect server (hosts on
their own temporary servers never see each other), so the lock lives beside the site:

- s3://: a lease object, `.confcast-site.lock` under the site prefix, created by a conditional write
  (`If-None-Match: *`: of several writers, one wins). Its holder renews it every third of its lease (`If-Match` on
  its own last ETag). A lease not renewed for its whole duration belongs to a run that crashed (or lost the
  network): the next writer takes it over with `If-Match` on the stale lease's ETag (of several, one wins) and says
  whose lease it took. Expiry trusts no clock across hosts: the waiter's own clock measures how long the lease
  object stays unchanged. Only a lease last renewed longer ago than its duration plus S3's 15-minute signing
  tolerance (our clock is at least that close to the server's, or S3 would refuse our requests) is taken at once.
  Released, the object stays, marked free, through one more compare-and-swap: a plain delete could remove a
  successor's lease.
- file://: `fcntl.flock` on `.confcast-site.lock` in the site folder, which the kernel releases when its process
  dies (kill -9 included): no expiry needed. The file names its holder for the waiters' message.

A lease names its holder (host, pid, since when) and nothing secret: it lies inside the site prefix, which may be
publicly readable, like the site. Site code never lists the site's root, so a lease is never taken for content.
Writes go through `GuardedStorage` while the lock is held: once the lease is lost (taken over because its holder
could not renew it in time), they are refused, so the late holder stops before overwriting its successor's work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from confcast.tasks.errors import PublishError
from confcast.tasks.storage.base import Storage
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.storage.processes import Machine, machine_id, process_start
from confcast.tasks.storage.s3 import S3Storage

LOCK_KEY = ".confcast-site.lock"
LOCK_TYPE = "application/json; charset=utf-8"
DEFAULT_LEASE_S = 120.0  # settings: site_lock_seconds
MIN_LEASE_S = 2.0
SIGNING_TOLERANCE_S = 15 * 60.0  # S3 refuses a request signed more than 15 minutes off its own clock
S3_POLL_MAX_S = 1.0  # a waiter reads the lease this often at most
FILE_POLL_S = 0.5

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseRecord:
    """Who holds a site's lock: the content of the lease object (S3) or lock file (folder), as JSON."""

    lease: str  # this hold's random id
    host: str
    pid: int
    since: dt.datetime
    seconds: float  # the lease: taken over when not renewed for this long
    beat: int = 0  # renewals so far: each one changes the object, so that waiters see it live
    released: bool = False
    machine: str | None = None  # processes.machine_id of the holder's machine: a waiter there can check its pid
    started: int | None = None  # the holder's process start time (tells a reused pid apart)

    @classmethod
    def mine(cls, seconds: float, host: str | None = None, now: dt.datetime | None = None) -> LeaseRecord:
        return cls(
            lease=uuid.uuid4().hex,
            host=host or socket.gethostname(),
            pid=os.getpid(),
            since=(now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0),
            seconds=max(MIN_LEASE_S, float(seconds)),
            machine=machine_id(Machine.current()),
            started=process_start(os.getpid()),
        )

    def to_json(self) -> bytes:
        data = dataclasses.asdict(self) | {"since": self.since.isoformat(timespec="seconds")}
        return json.dumps(data).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | None) -> LeaseRecord | None:
        """The record in a lease; None when empty or unreadable (then judged by the waiter's lease)."""
        try:
            raw = json.loads(data or b"")
            since = dt.datetime.fromisoformat(str(raw["since"]))
            return cls(
                lease=str(raw["lease"]),
                host=str(raw["host"]),
                pid=int(raw["pid"]),
                since=since if since.tzinfo else since.replace(tzinfo=dt.timezone.utc),
                seconds=max(MIN_LEASE_S, float(raw["seconds"])),
                beat=int(raw.get("beat", 0)),
                released=bool(raw.get("released", False)),
                machine=str(raw["machine"]) if raw.get("machine") else None,
                started=int(raw["started"]) if raw.get("started") is not None else None,
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def describe(self) -> str:
        since = self.since.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        return f"{self.host} pid {self.pid} (since {since} UTC)"

    def renewed(self) -> LeaseRecord:
        return dataclasses.replace(self, beat=self.beat + 1)

    def freed(self) -> LeaseRecord:
        return dataclasses.replace(self, beat=self.beat + 1, released=True)


def describe(record: LeaseRecord | None) -> str:
    return record.describe() if record is not None else "an unknown writer (its lease is unreadable)"


def expiry_reason(
    record: LeaseRecord | None,
    *,
    unchanged_s: float,
    age_s: float | None,
    default_s: float,
    here: str | None = None,
    alive: Callable[[int], int | None] = process_start,
) -> str | None:
    """Why a lease may be taken, or None while its holder may still be writing.

    `unchanged_s`: how long this waiter has seen the lease object unchanged (its own clock); `age_s`: how long ago
    the server says it was last written, by this machine's clock; `default_s`: the lease of an unreadable record;
    `here`: this machine's `machine_id`, and `alive(pid)` its process start times (`process_start`).
    A released lease is free; a lease held by a process of this very machine that is gone (a run killed, or failed
    while the server was unreachable) is free at once; otherwise a lease is expired once unchanged for its
    duration, or at once when its last renewal is older than its duration plus S3's signing tolerance (no clock
    can be that far off the server's).
    """
    if record is not None and record.released:
        return "released"
    if record is not None and here is not None and record.machine == here:
        start = alive(record.pid)
        if start is None:
            return f"its process {record.pid} on this machine has ended"
        if record.started is not None and start >= 0 and start != record.started:
            return f"its process {record.pid} on this machine has ended (the pid is another process's now)"
    lease_s = record.seconds if record is not None else max(MIN_LEASE_S, default_s)
    if unchanged_s >= lease_s:
        return f"not renewed for {unchanged_s:.0f} s, past its {lease_s:g} s lease"
    if age_s is not None and age_s >= lease_s + SIGNING_TOLERANCE_S:
        return f"last renewed {age_s / 60:.0f} min ago, past its {lease_s:g} s lease"
    return None


class SiteLock:
    """`with SiteLock(storage) as site: ...`: the site's one writer while the block runs; write through `site`.

    Waits (as long as it takes) while another writer holds the lock, telling `on_wait` who it is; takes over an
    expired S3 lease, saying whose. `create` prepares the site (bucket, folder) first; without it a missing site is
    a PublishError. Leaving the block releases the lock; a lease lost meanwhile is a PublishError there."""

    def __init__(
        self,
        storage: Storage,
        *,
        seconds: float = DEFAULT_LEASE_S,
        host: str | None = None,
        create: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        inner = storage._storage if isinstance(storage, GuardedStorage) else storage
        if isinstance(inner, S3Storage):
            self._lock: S3Lease | FileLock = S3Lease(inner, seconds, host, on_wait or logger.warning)
        elif isinstance(inner, FileStorage):
            self._lock = FileLock(inner, seconds, host, on_wait or logger.warning)
        else:
            raise TypeError(f"no site lock for {type(inner).__name__}: S3Storage and FileStorage have one")
        self.storage, self.create = inner, create

    @property
    def lost(self) -> str | None:
        """Why the lock is no longer ours (taken over by another writer), or None while it is."""
        return self._lock.lost

    def check(self) -> None:
        if self._lock.lost:
            raise PublishError(self._lock.lost)

    def __enter__(self) -> GuardedStorage:
        if self.create:
            self.storage.prepare()
        self._lock.acquire()
        return GuardedStorage(self.storage, self)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._lock.release()
        if kind is None:
            self.check()


class GuardedStorage:
    """A storage whose writes stop once its site lock is lost; everything else is the storage's own."""

    def __init__(self, storage: Storage, lock: SiteLock) -> None:
        self._storage, self._lock = storage, lock

    def __getattr__(self, name: str) -> object:
        return getattr(self._storage, name)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        self._lock.check()
        self._storage.put_file(key, path, content_type)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._lock.check()
        self._storage.put_bytes(key, data, content_type)

    def delete_keys(self, keys: Iterable[str]) -> None:
        self._lock.check()
        self._storage.delete_keys(keys)


class S3Lease:
    """The lease object of an s3:// site (see the module's docstring)."""

    def __init__(self, storage: S3Storage, seconds: float, host: str | None, on_wait: Callable[[str], None]) -> None:
        self.storage, self.host, self.on_wait = storage, host, on_wait
        self.seconds = max(MIN_LEASE_S, float(seconds))
        self.machine = machine_id(Machine.current())
        self.where = f"s3://{storage.bucket}/{storage.object_key(LOCK_KEY)}"
        self.record: LeaseRecord | None = None
        self.etag = ""
        self.lost: str | None = None
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def _put(self, record: LeaseRecord, if_match: str | None) -> str | None:
        """Write a lease under a condition; its ETag, or None when the condition failed."""
        etag = self.storage.put_bytes_conditionally(
            LOCK_KEY, record.to_json(), if_match=if_match, content_type=LOCK_TYPE
        )
        if etag == "":  # a server that sends no ETag: read it back (only this lease can be there now)
            current = self.storage.get_with_etag(LOCK_KEY)
            etag = current[1] if current and _lease_id(current[0]) == record.lease else None
        return etag

    def acquire(self) -> None:
        mine = LeaseRecord.mine(self.seconds, self.host)
        started = time.monotonic()
        seen_etag, seen_at, announced = None, started, None
        poll = min(S3_POLL_MAX_S, self.seconds / 4)
        while True:
            etag = self._put(mine, None)
            if etag is not None:
                break
            current = self.storage.get_with_etag(LOCK_KEY)
            if current is None:
                continue  # released and removed in between: try again at once
            data, current_etag, modified = current
            record = LeaseRecord.from_json(data)
            now = time.monotonic()
            if current_etag != seen_etag:
                seen_etag, seen_at = current_etag, now
            age = (dt.datetime.now(dt.timezone.utc) - modified).total_seconds()
            reason = expiry_reason(
                record, unchanged_s=now - seen_at, age_s=age, default_s=self.seconds, here=self.machine
            )
            if reason is not None:
                etag = self._put(mine, current_etag)
                if etag is None:
                    continue  # another writer took it first
                if reason != "released":
                    self.on_wait(
                        f"took over the site lock {self.where} from {describe(record)}: {reason}; that run "
                        "presumably crashed (run `confcast rebuild-site` if it was updating the catalog)"
                    )
                break
            holder = record.lease if record is not None else current_etag
            if holder != announced:
                announced = holder
                self.on_wait(
                    f"waiting for the site lock {self.where}: held by {describe(record)}, another publication or "
                    f"site change; taken over if not renewed for {record.seconds if record else self.seconds:g} s"
                )
            time.sleep(poll)
        self.record, self.etag = mine, etag
        if announced is not None:
            self.on_wait(f"got the site lock {self.where} after {time.monotonic() - started:.0f} s")
        self._heartbeat = threading.Thread(target=self._renew_until_released, name="site-lock-heartbeat", daemon=True)
        self._heartbeat.start()

    def _renew_until_released(self) -> None:
        assert self.record is not None
        while not self._stop.wait(self.record.seconds / 3) and self.lost is None:
            self._renew()

    def _renew(self) -> None:
        assert self.record is not None
        renewed = self.record.renewed()
        try:
            etag = self._put(renewed, self.etag)
            if etag is None:  # changed under us: a retried request of ours that went through, or a takeover
                current = self.storage.get_with_etag(LOCK_KEY)
                record = LeaseRecord.from_json(current[0]) if current else None
                if current is not None and record is not None and record.lease == renewed.lease:
                    self.record, self.etag = record, current[1]
                    return
                self.lost = (
                    f"the site lock {self.where} was taken over by {describe(record)} while this run held it (it "
                    f"could not be renewed within {renewed.seconds:g} s); run `confcast rebuild-site` once that "
                    "run is done, to restore the catalog, feed and search from the manifests"
                )
                self.on_wait(self.lost)
                return
        except PublishError as error:  # an outage: the next beat tries again, the lease lasts meanwhile
            self.on_wait(f"warning: could not renew the site lock {self.where}: {error}")
            return
        self.record, self.etag = renewed, etag

    def release(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        if self.record is None or self.lost is not None:
            return
        try:
            if self._put(self.record.freed(), self.etag) is None:
                self.on_wait(f"warning: the site lock {self.where} had changed hands when released")
        except PublishError as error:
            self.on_wait(f"warning: could not release the site lock ({error}); it expires in {self.seconds:g} s")


def _lease_id(data: bytes) -> str | None:
    record = LeaseRecord.from_json(data)
    return record.lease if record is not None else None


class FileLock:
    """The lock file of a file:// site (see the module's docstring)."""

    def __init__(
        self, storage: FileStorage, seconds: float, host: str | None, on_wait: Callable[[str], None]
    ) -> None:
        self.storage, self.seconds, self.host, self.on_wait = storage, seconds, host, on_wait
        self.path = storage.path_for(LOCK_KEY)
        self.fd: int | None = None
        self.record: LeaseRecord | None = None
        self.lost: str | None = None  # the kernel holds the lock for as long as the process lives

    def _holder(self, fd: int) -> LeaseRecord | None:
        with contextlib.suppress(OSError):
            return LeaseRecord.from_json(os.pread(fd, 4096, 0))
        return None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except FileNotFoundError:
            raise PublishError(
                f"no site at {self.storage.root} (the folder does not exist); check the storage URL"
            ) from None
        except OSError as error:
            raise PublishError(
                f"cannot open the site lock {self.path}: {error.strerror}; check the site folder's permissions"
            ) from None
        started, announced = time.monotonic(), None
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                record = self._holder(fd)
                holder = record.lease if record is not None else ""
                if holder != announced:
                    announced = holder
                    self.on_wait(
                        f"waiting for the site lock {self.path}: held by {describe(record)}, another publication "
                        "or site change"
                    )
                time.sleep(FILE_POLL_S)
            except OSError as error:
                os.close(fd)
                raise PublishError(f"cannot lock {self.path}: {error.strerror}; check the site folder") from None
        previous = self._holder(fd)
        if previous is not None and not previous.released:  # its process died holding it: the kernel let it go
            self.on_wait(f"took over the site lock {self.path} from {previous.describe()}, whose run ended "
                         "without releasing it (run `confcast rebuild-site` if it was updating the catalog)")
        mine = LeaseRecord.mine(self.seconds, self.host)
        with contextlib.suppress(OSError):  # only for the waiters' message: the lock holds without it
            os.ftruncate(fd, 0)
            os.pwrite(fd, mine.to_json(), 0)
        self.fd, self.record = fd, mine
        if announced is not None:
            self.on_wait(f"got the site lock {self.path} after {time.monotonic() - started:.0f} s")

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        os.close(self.fd)  # closing the last descriptor releases the flock
        self.fd = None
