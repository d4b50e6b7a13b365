"""An inbox of recordings that schedules pick up: a local folder, or a prefix of an S3 bucket.

A recording is taken only when complete (its size unchanged since the previous scan, or its sidecar file present),
claimed atomically, so that of several scanners exactly one takes it, and moved to `done/` or `failed/` with a
reason file that an operator can read.

Layout of a folder inbox (claims are renames, atomic within one file system):
    talk.mp4, talk.mp4.yaml        waiting (the sidecar is optional)
    processing/talk.mp4            claimed by a scanner, being published
    processing/talk.mp4.claim      who claimed it (JSON: host, pid, process start, boot id, when)
    done/talk.mp4, done/talk.mp4.txt      published; the .txt says where
    failed/talk.mp4, failed/talk.mp4.txt  refused or failed; the .txt says why

Layout of an S3 inbox, s3://bucket/prefix (objects cannot be renamed: a claim is a conditional write,
`PutObject` with `If-None-Match: *`, which the server lets exactly one writer make):
    talk.mp4, talk.mp4.yaml        waiting; stays here while it is being published
    processing/talk.mp4.claim      the claim: who took it and when
    done/... and failed/...        as in a folder (copied there, then the originals and the claim are deleted)
The claimed recording and its sidecar are downloaded into the work folder, where the publish flow reads them.

Stale claims. Every claim records its owner (`ClaimOwner`: host, pid, the process's start time and the machine's
boot id, when). A scanner that crashes, or a machine that reboots, mid-publication leaves its claim behind; the next
scan takes it back when its owner is provably gone (`stale_reason`): on this machine, its process is no longer
running (or its pid now belongs to another process, or the machine has restarted since); on another machine, the
claim is older than `inbox_claim_hours`. Taking back is atomic, so that of several scanners exactly one wins: in a
folder, a compare-and-replace of `processing/<name>.claim` under an advisory lock (flock, released by the kernel
when its holder dies); in S3, a conditional write of the claim with `If-Match` on the stale claim's ETag.
A folder claim writes its owner into a pending file before the rename, then moves it to `processing/<name>.claim`:
a crash in between leaves the owner in `processing/.<name>.<id>.claim-pending`, never a claim without an owner.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from confcast.tasks.errors import ConfigError, PublishError
from confcast.tasks.metadata import SIDECAR_SUFFIXES
from confcast.tasks.storage.s3 import S3Storage, is_transient

RECORDING_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .ts .mts .mpg .mpeg .flv .wmv .m4a .mp3 .wav .ogg .oga .opus .flac .aac".split()
)
PROCESSING, DONE, FAILED = "processing", "done", "failed"
CLAIM_SUFFIX = ".claim"
CLAIM_TYPE = "application/json; charset=utf-8"
PENDING_SUFFIX = ".claim-pending"  # a folder claim's owner, written before the rename
TAKEOVER_LOCK = ".takeover.lock"  # in processing/: serializes taking back stale folder claims
# A claim whose owner is unknown (a claim made by an older confcast, or an unreadable owner file) is stale once
# nothing has touched it for this long: far longer than the instant between a claim's rename and its owner file.
OWNERLESS_GRACE = dt.timedelta(minutes=10)
DEFAULT_CLAIM_MAX_AGE = dt.timedelta(hours=12)


@dataclass(frozen=True)
class InboxEntry:
    name: str  # file name inside the inbox
    size: int
    has_sidecar: bool


@dataclass(frozen=True)
class Claimed:
    name: str
    path: Path  # the local file to publish: under processing/ (folder inbox) or in the work folder (S3 inbox)
    claim_id: str = ""  # this claim's id, as written in its owner record


# --- claim owners and staleness (pure functions, plus the two probes of this machine) ---------------------------


@dataclass(frozen=True)
class Machine:
    """Where a process runs: host name, boot id (changes at each boot) and pid namespace (differs per container)."""

    host: str
    boot: str | None = None
    pidns: str | None = None

    @classmethod
    def current(cls) -> Machine:
        boot = pidns = None
        with contextlib.suppress(OSError):
            boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip() or None
        with contextlib.suppress(OSError):
            pidns = os.readlink("/proc/self/ns/pid")
        return cls(socket.gethostname(), boot, pidns)


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, from /proc/<pid>/stat); None when there is no such
    process (or only its zombie); -1 when it runs but its start time cannot be read (no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        stat = ""
    if stat:
        fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)": the comm may hold spaces and parentheses
        if len(fields) > 19:
            return None if fields[0] in ("Z", "X") else int(fields[19])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return -1


@dataclass(frozen=True)
class ClaimOwner:
    """Who holds a claim: written as JSON in the claim file (folder) or object (S3)."""

    claim: str
    host: str
    pid: int
    at: dt.datetime
    started: int | None = None  # the process's start time, clock ticks since boot (tells a reused pid apart)
    boot: str | None = None
    pidns: str | None = None

    @classmethod
    def mine(cls, now: dt.datetime | None = None, machine: Machine | None = None) -> ClaimOwner:
        machine = machine or Machine.current()
        start = process_start(os.getpid())
        return cls(
            claim=uuid.uuid4().hex,
            host=machine.host,
            pid=os.getpid(),
            at=(now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0),
            started=start if start is not None and start >= 0 else None,
            boot=machine.boot,
            pidns=machine.pidns,
        )

    def to_json(self) -> bytes:
        data = {"claim": self.claim, "host": self.host, "pid": self.pid, "at": self.at.isoformat(timespec="seconds"),
                "started": self.started, "boot": self.boot, "pidns": self.pidns}
        return json.dumps(data).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | None) -> ClaimOwner | None:
        """The owner recorded in a claim; None when unreadable (the claim is then judged by its age alone)."""
        try:
            raw = json.loads(data or b"")
            at = dt.datetime.fromisoformat(str(raw["at"]))
            if at.tzinfo is None:
                at = at.replace(tzinfo=dt.timezone.utc)
            started = raw.get("started")
            return cls(
                claim=str(raw["claim"]),
                host=str(raw["host"]),
                pid=int(raw["pid"]),
                at=at,
                started=int(started) if started is not None else None,
                boot=raw.get("boot") or None,
                pidns=raw.get("pidns") or None,
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def describe(self) -> str:
        return f"{self.host} pid {self.pid} (claimed at {self.at.isoformat(timespec='seconds')})"


def stale_reason(
    owner: ClaimOwner | None,
    *,
    now: dt.datetime,
    here: Machine,
    alive: Callable[[int], int | None] = process_start,
    max_age: dt.timedelta = DEFAULT_CLAIM_MAX_AGE,
    seen_at: dt.datetime | None = None,
    grace: dt.timedelta = OWNERLESS_GRACE,
) -> str | None:
    """Why a claim is stale (its owner is provably gone), or None while its owner may still be working on it.

    On this machine (same host name, same pid namespace) the owner's process is checked: gone, replaced by another
    process under the same pid (its start time differs), or the machine has restarted since (boot id). A claim by
    another machine cannot be checked: it is stale once older than `max_age`. A claim without a readable owner is
    stale once `seen_at` (when the claim was last touched) is older than `grace`. `alive(pid)` is `process_start`.
    """
    if owner is None:
        if seen_at is None or now - seen_at >= grace:
            return f"no owner recorded and untouched for more than {_span(grace)}"
        return None
    same_ns = owner.pidns is None or here.pidns is None or owner.pidns == here.pidns
    if owner.host == here.host and same_ns:
        if owner.boot and here.boot and owner.boot != here.boot:
            return "the machine has restarted since"
        start = alive(owner.pid)
        if start is None:
            return f"process {owner.pid} is gone"
        if owner.started is not None and start >= 0 and start != owner.started:
            return f"pid {owner.pid} is now another process"
        return None
    age = now - owner.at
    if age >= max_age:
        return f"held by another machine for {_span(age)}, more than inbox_claim_hours ({_span(max_age)})"
    return None


def _span(delta: dt.timedelta) -> str:
    """A duration for people: 13 h, 12 h 30 min, 10 min, 40 s."""
    seconds = delta.total_seconds()
    if seconds < 60:
        return f"{int(seconds)} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours and minutes else f"{hours} h" if hours else f"{minutes} min"


@dataclass(frozen=True)
class StaleClaim:
    """A claim whose owner is gone, as seen by a scan; `take_back` replaces it only if it is still this one."""

    name: str
    owner: ClaimOwner | None
    why: str
    seen: bytes | None = None  # folder: the claim file's content (None: there was none)
    etag: str | None = None  # S3: the claim object's ETag
    orphan: bool = False  # S3: the recording is gone (filed away by a scanner that died before dropping its claim)

    def describe(self) -> str:
        return f"{self.owner.describe() if self.owner else 'an unknown owner'}: {self.why}"


def is_outage(error: BaseException) -> bool:
    """Whether a failed publication failed only because the S3 storage was unreachable (or answering 5xx,
    throttling) until the retries ran out: the recording is fine, and a later scan should try it again.

    Read from the error itself: a `transient` attribute when the error has one, else the botocore error it was
    raised from (kept as its context by tasks.storage.s3), else the message tasks.storage.s3 writes in that case."""
    flag = getattr(error, "transient", None)
    if isinstance(flag, bool):
        return flag
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if link is not error and is_transient(link):
            return True
        link = link.__cause__ or link.__context__
    text = str(error)
    return isinstance(error, PublishError) and (
        "cannot reach the S3 endpoint" in text or "s of retries (s3_retry_seconds" in text
    )


class Inbox(Protocol):
    """What the scan-inbox flow needs from an inbox, a folder or an S3 prefix."""

    @property
    def url(self) -> str: ...
    def entries(self) -> list[InboxEntry]: ...
    def claim(self, entry: InboxEntry) -> Claimed | None: ...
    def finish(self, claimed: Claimed, *, ok: bool, detail: str, now: dt.datetime | None = None) -> object: ...
    def release(self, claimed: Claimed) -> None: ...
    def stale_claims(
        self, *, max_age: dt.timedelta = DEFAULT_CLAIM_MAX_AGE, now: dt.datetime | None = None
    ) -> list[StaleClaim]: ...
    def take_back(self, stale: StaleClaim) -> Claimed | None: ...


def is_recording(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in RECORDING_SUFFIXES


def sidecar_names(name: str) -> list[str]:
    """Sidecar files that may sit beside a recording: talk.mp4.yaml, talk.yaml, ... (as tasks.metadata reads them)."""
    stem = Path(name).stem
    return [base + suffix for base in (name, stem) for suffix in SIDECAR_SUFFIXES]


def ready_entries(current: list[InboxEntry], previous_sizes: dict[str, int]) -> list[InboxEntry]:
    """Entries complete enough to take: a sidecar is present, or the size is unchanged since the last scan."""
    return [
        entry
        for entry in current
        if entry.size > 0 and (entry.has_sidecar or previous_sizes.get(entry.name) == entry.size)
    ]


def reason_text(outcome: str, detail: str, *, now: dt.datetime) -> str:
    return f"{outcome} at {now.isoformat(timespec='seconds')}\n{detail}\n"


class FolderInbox:
    """An inbox on a local (or network) file system; claims are renames, atomic within one file system."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise ConfigError(f"inbox {self.root} is not a folder; create it or give another --inbox")
        for folder in (PROCESSING, DONE, FAILED):
            (self.root / folder).mkdir(exist_ok=True)
        self.machine = Machine.current()

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def entries(self) -> list[InboxEntry]:
        names = {entry.name for entry in os.scandir(self.root) if entry.is_file()}
        return [
            InboxEntry(
                name=name,
                size=(self.root / name).stat().st_size,
                has_sidecar=any(side in names for side in sidecar_names(name)),
            )
            for name in sorted(names)
            if is_recording(name)
        ]

    def _marker(self, name: str) -> Path:
        return self.root / PROCESSING / f"{name}{CLAIM_SUFFIX}"

    def _pending(self, name: str, claim_id: str) -> Path:
        return self.root / PROCESSING / f".{name}.{claim_id}{PENDING_SUFFIX}"

    def _pending_files(self, name: str) -> list[Path]:
        return sorted((self.root / PROCESSING).glob(f".{_glob_escape(name)}.*{PENDING_SUFFIX}"))

    def _write_owner(self, path: Path, owner: ClaimOwner) -> None:
        partial = path.with_name(f".{path.name}.{owner.claim}.partial")
        partial.write_bytes(owner.to_json())
        os.replace(partial, path)

    def _read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def claim(self, entry: InboxEntry) -> Claimed | None:
        """Move the recording (and its sidecar) to processing/; None when another scanner took it first.

        The owner is written first to a pending file, which becomes processing/<name>.claim once the rename has
        won: at no moment is the recording in processing/ without a record of who took it."""
        owner = ClaimOwner.mine(machine=self.machine)
        pending = self._pending(entry.name, owner.claim)
        self._write_owner(pending, owner)
        target = self.root / PROCESSING / entry.name
        try:
            os.rename(self.root / entry.name, target)
        except FileNotFoundError:
            pending.unlink(missing_ok=True)
            return None
        os.replace(pending, self._marker(entry.name))
        self._take_sidecars(entry.name)
        return Claimed(name=entry.name, path=target, claim_id=owner.claim)

    def _take_sidecars(self, name: str) -> None:
        for side in sidecar_names(name):
            try:
                os.rename(self.root / side, self.root / PROCESSING / side)
            except FileNotFoundError:
                continue

    def _owns(self, claimed: Claimed) -> bool:
        """Whether the claim is still ours: not taken back by another scanner that judged us gone."""
        owner = ClaimOwner.from_json(self._read(self._marker(claimed.name)))
        return owner is None or not claimed.claim_id or owner.claim == claimed.claim_id

    def finish(self, claimed: Claimed, *, ok: bool, detail: str, now: dt.datetime | None = None) -> Path | None:
        """Move a claimed recording to done/ or failed/ with a reason file; returns the reason file (None when
        another scanner has taken the claim back meanwhile: it files the recording itself)."""
        if not self._owns(claimed):
            return None
        folder = self.root / (DONE if ok else FAILED)
        for name in [claimed.name, *sidecar_names(claimed.name)]:
            source = self.root / PROCESSING / name
            if source.exists():
                os.replace(source, folder / name)
        reason = folder / f"{claimed.name}.txt"
        outcome = "published" if ok else "failed"
        reason.write_text(reason_text(outcome, detail, now=now or dt.datetime.now(dt.timezone.utc)), encoding="utf-8")
        self._marker(claimed.name).unlink(missing_ok=True)  # last: the claim outlives the files it covers
        return reason

    def release(self, claimed: Claimed) -> None:
        """Give the recording back to the inbox, unpublished and unfiled, for the next scan (the claim goes first:
        once the recording is back, another scanner may claim it at once)."""
        if not self._owns(claimed):
            return
        self._marker(claimed.name).unlink(missing_ok=True)
        for name in [*sidecar_names(claimed.name), claimed.name]:  # the recording last: it comes with its sidecar
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.root / PROCESSING / name, self.root / name)

    def stale_claims(
        self, *, max_age: dt.timedelta = DEFAULT_CLAIM_MAX_AGE, now: dt.datetime | None = None
    ) -> list[StaleClaim]:
        """Recordings in processing/ whose claim's owner is gone (see `stale_reason`)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        found = []
        for item in sorted(os.scandir(self.root / PROCESSING), key=lambda item: item.name):
            if not item.is_file() or not is_recording(item.name):
                continue
            seen = self._read(self._marker(item.name))
            owner = ClaimOwner.from_json(seen)
            touched = None
            if seen is None:  # claimed without an owner file: a crash between the rename and its owner file
                owners = [ClaimOwner.from_json(self._read(path)) for path in self._pending_files(item.name)]
                owners = [o for o in owners if o is not None]
                judged = [stale_reason(o, now=now, here=self.machine, max_age=max_age) for o in owners]
                if any(why is None for why in judged):
                    continue  # its owner may be renaming it right now
                if owners:
                    found.append(StaleClaim(item.name, owners[0], judged[0] or "", seen=None))
                    continue
            if owner is None:
                with contextlib.suppress(FileNotFoundError):
                    stat = item.stat()
                    touched = dt.datetime.fromtimestamp(max(stat.st_mtime, stat.st_ctime), dt.timezone.utc)
            why = stale_reason(owner, now=now, here=self.machine, max_age=max_age, seen_at=touched)
            if why is not None:
                found.append(StaleClaim(item.name, owner, why, seen=seen))
        return found

    @contextlib.contextmanager
    def _takeover_lock(self) -> Iterator[None]:
        """An exclusive advisory lock on processing/.takeover.lock; the kernel drops it if its holder dies."""
        fd = os.open(self.root / PROCESSING / TAKEOVER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def take_back(self, stale: StaleClaim) -> Claimed | None:
        """Replace a stale claim with our own, only if it is still the one the scan judged stale (compare and
        replace under the takeover lock): of several scanners, exactly one wins. None when another won."""
        owner = ClaimOwner.mine(machine=self.machine)
        target = self.root / PROCESSING / stale.name
        marker = self._marker(stale.name)
        with self._takeover_lock():
            if self._read(marker) != stale.seen or not target.exists():
                return None
            self._write_owner(marker, owner)
        for path in self._pending_files(stale.name):  # owners of a claim interrupted before its owner file
            if stale_reason(ClaimOwner.from_json(self._read(path)), now=owner.at, here=self.machine) is not None:
                path.unlink(missing_ok=True)
        self._take_sidecars(stale.name)  # a sidecar left behind by a claim interrupted after the recording
        return Claimed(name=stale.name, path=target, claim_id=owner.claim)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


class S3Inbox:
    """An inbox under an S3 prefix (private: never under a published site prefix). A claim is a conditional PUT of
    `processing/<name>.claim` (If-None-Match: *): of several scanners, on any hosts, exactly one creates it."""

    def __init__(self, storage: S3Storage, download_dir: Path) -> None:
        self.storage = storage
        self.download_dir = Path(download_dir)
        self._checked_private = False
        self.machine = Machine.current()

    @property
    def url(self) -> str:
        return self.storage.url

    def check_private(self) -> None:
        """Refuse an inbox that the bucket policy lets anyone read (a site prefix, or the whole bucket public)."""
        if self._checked_private:
            return
        statement = self.storage.public_statement_for(f"{PROCESSING}/any{CLAIM_SUFFIX}")
        if statement is not None:
            raise ConfigError(
                f"inbox {self.url} is publicly readable (bucket policy statement {statement}): recordings waiting "
                "there would be public; use a prefix outside the published site, or another bucket"
            )
        self._checked_private = True

    def entries(self) -> list[InboxEntry]:
        """Recordings at the top of the prefix (not in processing/, done/ or failed/) that nobody has claimed."""
        self.check_private()
        sizes = self.storage.list_sizes("", recursive=False)
        claims = self.storage.list_sizes(f"{PROCESSING}/")
        return [
            InboxEntry(
                name=name,
                size=size,
                has_sidecar=any(side in sizes for side in sidecar_names(name)),
            )
            for name, size in sorted(sizes.items())
            if is_recording(name) and f"{PROCESSING}/{name}{CLAIM_SUFFIX}" not in claims
        ]

    def claim(self, entry: InboxEntry) -> Claimed | None:
        """Write the claim marker (only if absent), then download the recording and its sidecar into the work
        folder; None when another scanner holds the claim or has already filed the recording away."""
        self.check_private()
        marker = f"{PROCESSING}/{entry.name}{CLAIM_SUFFIX}"
        owner = ClaimOwner.mine(machine=self.machine)
        token = owner.to_json()
        if not self.storage.put_bytes_if_absent(marker, token, CLAIM_TYPE):
            # Taken, unless our own write went through and only its answer was lost (then a retry found it there).
            if self.storage.get_bytes(marker) != token:
                return None
        return self._download(entry.name, marker, owner.claim)

    def _download(self, name: str, marker: str, claim_id: str) -> Claimed | None:
        folder = self.download_dir / claim_id
        try:
            if not self.storage.download_file(name, folder / name):
                self._release(marker, folder)  # filed away by the scanner that held the claim before us
                return None
            for side in sidecar_names(name):
                self.storage.download_file(side, folder / side)
        except BaseException:
            self._release(marker, folder)  # the next scan tries again
            raise
        return Claimed(name=name, path=folder / name, claim_id=claim_id)

    def _release(self, marker: str, folder: Path) -> None:
        self.storage.delete_keys([marker])
        shutil.rmtree(folder, ignore_errors=True)

    def _owns(self, claimed: Claimed) -> bool:
        """Whether the claim is still ours: not taken back by another scanner that judged us gone."""
        owner = ClaimOwner.from_json(self.storage.get_bytes(f"{PROCESSING}/{claimed.name}{CLAIM_SUFFIX}"))
        return owner is None or not claimed.claim_id or owner.claim == claimed.claim_id

    def release(self, claimed: Claimed) -> None:
        """Drop our claim and the download: the recording, never moved, is offered again at the next scan."""
        if self._owns(claimed):
            self.storage.delete_keys([f"{PROCESSING}/{claimed.name}{CLAIM_SUFFIX}"])
        shutil.rmtree(claimed.path.parent, ignore_errors=True)

    def finish(self, claimed: Claimed, *, ok: bool, detail: str, now: dt.datetime | None = None) -> str | None:
        """Copy the recording (and its sidecar) to done/ or failed/ with a reason file, then delete the originals,
        then the claim (in that order: a claim is never free while the recording is still waiting); returns the
        reason file's URL (None when another scanner has taken the claim back meanwhile: it files the recording)."""
        if not self._owns(claimed):
            shutil.rmtree(claimed.path.parent, ignore_errors=True)
            return None
        folder = DONE if ok else FAILED
        detail = detail.replace(str(claimed.path.parent), self.url)  # name the recording where the operator sees it
        present = self.storage.list_sizes("", recursive=False)
        names = [name for name in [claimed.name, *sidecar_names(claimed.name)] if name in present]
        for name in names:
            self.storage.copy_key(name, f"{folder}/{name}")
        reason = f"{folder}/{claimed.name}.txt"
        outcome = "published" if ok else "failed"
        text = reason_text(outcome, detail, now=now or dt.datetime.now(dt.timezone.utc))
        self.storage.put_bytes(reason, text.encode("utf-8"), "text/plain; charset=utf-8")
        if names:
            self.storage.delete_keys(names)
        self.storage.delete_keys([f"{PROCESSING}/{claimed.name}{CLAIM_SUFFIX}"])
        shutil.rmtree(claimed.path.parent, ignore_errors=True)  # the claim's own download folder
        return f"{self.url}/{reason}"

    def stale_claims(
        self, *, max_age: dt.timedelta = DEFAULT_CLAIM_MAX_AGE, now: dt.datetime | None = None
    ) -> list[StaleClaim]:
        """Claims under processing/ whose owner is gone (see `stale_reason`), with their ETags; a claim whose
        recording is no longer waiting is an orphan (its owner died after filing it): taking it back clears it."""
        self.check_private()
        now = now or dt.datetime.now(dt.timezone.utc)
        waiting = self.storage.list_sizes("", recursive=False)
        found = []
        for key in sorted(self.storage.list_sizes(f"{PROCESSING}/", recursive=False)):
            name = key[len(PROCESSING) + 1 : -len(CLAIM_SUFFIX)]
            if not key.endswith(CLAIM_SUFFIX) or not is_recording(name):
                continue
            read = self.storage.get_with_etag(key)
            if read is None:
                continue  # released or filed meanwhile
            data, etag, modified = read
            owner = ClaimOwner.from_json(data)
            why = stale_reason(owner, now=now, here=self.machine, max_age=max_age, seen_at=modified)
            if why is not None:
                found.append(StaleClaim(name, owner, why, seen=data, etag=etag, orphan=name not in waiting))
        return found

    def take_back(self, stale: StaleClaim) -> Claimed | None:
        """Replace the stale claim with ours by a conditional write (If-Match on its ETag: of several scanners
        exactly one wins), then download the recording as `claim` does. None when another scanner won, or when
        the claim was an orphan (then it is removed)."""
        self.check_private()
        marker = f"{PROCESSING}/{stale.name}{CLAIM_SUFFIX}"
        owner = ClaimOwner.mine(machine=self.machine)
        token = owner.to_json()
        if stale.etag is None or not self.storage.put_bytes_if_match(marker, token, stale.etag, CLAIM_TYPE):
            if self.storage.get_bytes(marker) != token:  # unless only the answer to our write was lost
                return None
        return self._download(stale.name, marker, owner.claim)


class ScanMemory:
    """Sizes seen at the previous scan of an inbox, kept in the work folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def save(self, entries: list[InboxEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps({e.name: e.size for e in entries}, sort_keys=True), encoding="utf-8")
        os.replace(partial, self.path)
