"""An inbox of recordings that schedules pick up: a local folder, or a prefix of an S3 bucket.

A recording is taken only when complete (in a folder, its size unchanged since the previous scan; in S3, where an
object appears whole, also as soon as its sidecar file is there) and, when its sidecar names a slides PDF, once that
PDF is in the inbox too (or after `inbox_slides_wait_minutes`, when the flow files it with the reason), claimed
atomically, so that of several scanners exactly one takes it, and moved to `done/` or `failed/` with a reason file
that an operator can read.

Nothing is ever overwritten: when a name is taken in processing/, done/ or failed/ (two recordings called talk.mp4,
the second dropped while the first is published), the recording, its sidecars and its reason file move together
under the next free name, `talk (2).mp4` (tasks.storage.inbox_names). One bad entry never blocks the others: a
name too long for the file system is filed under a shortened name, an S3 key confcast cannot address is left alone
with a warning, a file that vanishes between the listing and the claim is skipped.

Layout of a folder inbox (claims are renames, atomic within one file system):
    talk.mp4, talk.mp4.yaml        waiting (the sidecar is optional)
    processing/talk.mp4            claimed by a scanner, being published
    processing/talk.mp4.claim      who claimed it (JSON: host, pid, process start, boot id, when, its inbox name)
    done/talk.mp4, done/talk.mp4.txt      published; the .txt says where
    failed/talk.mp4, failed/talk.mp4.txt  refused or failed; the .txt says why
Nothing outside the inbox is read or written (tasks.storage.safe_fs): the special folders are opened by descriptor
and must be real folders (a symbolic link stops the scan with one line), and a recording or sidecar that is a
symbolic link is filed under failed/ (the link itself, never its target) without being read.

Layout of an S3 inbox, s3://bucket/prefix (objects cannot be renamed: a claim is a conditional write,
`PutObject` with `If-None-Match: *`, which the server lets exactly one writer make):
    talk.mp4, talk.mp4.yaml        waiting; stays here while it is being published
    processing/talk.mp4.claim      the claim: who took it and when
    done/... and failed/...        as in a folder (copied there, then the originals and the claim are deleted); the
                                   reason file is written first, with `If-None-Match: *`, to reserve the name
The claimed recording and its sidecar are downloaded into the work folder, where the publish flow reads them. A
recording replaced by a new upload while it was being published is not filed: what was published is filed from the
download, and the new one waits for the next scan.

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
import posixpath
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from confcast.tasks.errors import ConfigError, MetadataError, PublishError
from confcast.tasks.metadata import MAX_SIDECAR_BYTES, find_sidecar, load_sidecar, parse_sidecar
from confcast.tasks.storage.inbox_names import (
    MAX_KEY_BYTES,
    NAME_MAX,
    candidate_names,
    family_taken,
    is_recording,
    key_problem,
    max_name_bytes,
    name_problem,
    renamed_sidecars,
    shown,
    sidecar_names,
)
from confcast.tasks.storage.processes import Machine, process_start
from confcast.tasks.storage.s3 import S3Storage, is_transient
from confcast.tasks.storage.safe_fs import (
    LinkedFolder,
    kind,
    names,
    open_folder,
    read_file,
    rename_noreplace,
    replace_with,
    write_new,
)

PROCESSING, DONE, FAILED = "processing", "done", "failed"
SPECIAL_FOLDERS = (PROCESSING, DONE, FAILED)
CLAIM_SUFFIX = ".claim"
CLAIM_TYPE = "application/json; charset=utf-8"
REASON_TYPE = "text/plain; charset=utf-8"
PENDING_SUFFIX = ".claim-pending"  # a folder claim's owner, written before the rename
PENDING_RE = re.compile(r"\.(?P<name>.+)\.[^.]+" + re.escape(PENDING_SUFFIX))  # .<name>.<claim id>.claim-pending
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
    skip: str = ""  # why the inbox cannot take it at all (an S3 key it cannot address): left in place, logged once


@dataclass(frozen=True)
class Claimed:
    name: str  # its name where it is claimed: processing/<name> (folder inbox; unique there) or its key (S3 inbox)
    path: Path  # the local file to publish: under processing/ (folder inbox) or in the work folder (S3 inbox)
    claim_id: str = ""  # this claim's id, as written in its owner record
    problem: str = ""  # why it is refused unread (a symbolic link, a name too long): filed under failed/ as it is
    etag: str = ""  # S3: the recording's ETag when downloaded (a new upload under its name is not filed with it)
    slides_folder: Path | None = None  # where the sidecar's `slides:` PDF lies, when not beside the claimed sidecar


# --- claim owners and staleness (pure functions, plus the two probes of this machine) ---------------------------


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
    name: str | None = None  # the recording's name in the inbox when claimed (its name in processing/ may differ)

    @classmethod
    def mine(
        cls, now: dt.datetime | None = None, machine: Machine | None = None, name: str | None = None
    ) -> ClaimOwner:
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
            name=name,
        )

    def to_json(self) -> bytes:
        data = {"claim": self.claim, "host": self.host, "pid": self.pid, "at": self.at.isoformat(timespec="seconds"),
                "started": self.started, "boot": self.boot, "pidns": self.pidns, "name": self.name}
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
                name=str(raw["name"]) if raw.get("name") else None,
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
            return f"no owner recorded and untouched for more than {span_text(grace)}"
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
        return f"held by another machine for {span_text(age)}, more than inbox_claim_hours ({span_text(max_age)})"
    return None


def span_text(delta: dt.timedelta) -> str:
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

    sidecar_means_complete: bool  # whether a sidecar beside a recording says the recording is there whole

    @property
    def url(self) -> str: ...
    def entries(self) -> list[InboxEntry]: ...
    def missing_slides(self, entry: InboxEntry) -> str | None: ...
    def claim(self, entry: InboxEntry) -> Claimed | None: ...
    def finish(self, claimed: Claimed, *, ok: bool, detail: str, now: dt.datetime | None = None) -> object: ...
    def release(self, claimed: Claimed) -> None: ...
    def stale_claims(
        self, *, max_age: dt.timedelta = DEFAULT_CLAIM_MAX_AGE, now: dt.datetime | None = None
    ) -> list[StaleClaim]: ...
    def take_back(self, stale: StaleClaim) -> Claimed | None: ...


def ready_entries(
    current: list[InboxEntry], previous_sizes: dict[str, int], *, sidecar_means_complete: bool = True
) -> list[InboxEntry]:
    """Entries complete enough to take: the size is unchanged since the last scan, or (where a sidecar says the
    recording is whole: S3, whose objects appear whole) a sidecar is present. Never an entry to skip."""
    return [
        entry
        for entry in current
        if entry.size > 0
        and not entry.skip
        and ((sidecar_means_complete and entry.has_sidecar) or previous_sizes.get(entry.name) == entry.size)
    ]


def reason_text(outcome: str, detail: str, *, now: dt.datetime) -> str:
    return f"{outcome} at {now.isoformat(timespec='seconds')}\n{detail}\n"


def site_overlap(inbox: Path, site: Path) -> str | None:
    """Why a folder inbox and a file:// site (both resolved paths) cannot go together, or None: recordings waiting
    in an inbox inside the site would be served to anyone, and a site inside the inbox mixes with its folders."""
    if inbox == site or site in inbox.parents:
        return (
            f"inbox {inbox} lies inside the published site {site.as_uri()}, which is served to anyone: recordings "
            "waiting there (and done/, failed/) would be public; use a folder outside the site"
        )
    if inbox in site.parents:
        return (
            f"the published site {site.as_uri()} lies inside the inbox {inbox}: published files would mix with "
            "the inbox's own; use a site folder outside the inbox"
        )
    return None


@dataclass(frozen=True)
class Folders:
    """Descriptors of an inbox and its special folders, each opened without following a link."""

    root: int
    processing: int
    done: int
    failed: int


class FolderInbox:
    """An inbox on a local (or network) file system; claims are renames, atomic within one file system.

    Every operation goes through descriptors of the inbox's folders (`_folders`), never through a path that a link
    could redirect; names are never overwritten (a taken name moves the family to `talk (2).mp4`)."""

    # A file being copied into a folder already has its name, and perhaps its sidecar, before its last byte: only a
    # size unchanged since the previous scan says it is whole.
    sidecar_means_complete = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise ConfigError(f"inbox {self.root} is not a folder; create it or give another --inbox")
        with self._root() as root_fd:
            for folder in SPECIAL_FOLDERS:
                with contextlib.suppress(FileExistsError):  # whatever is there is checked below
                    os.mkdir(folder, dir_fd=root_fd)
        try:
            name_max = min(int(os.pathconf(self.root, "PC_NAME_MAX")), NAME_MAX)
        except (OSError, ValueError):
            name_max = NAME_MAX
        self.max_name = max_name_bytes(name_max)
        self.machine = Machine.current()
        with self._folders():
            pass  # a special folder that is a link: refused now, with one line

    @property
    def url(self) -> str:
        return self.root.as_uri()

    # -- folders, by descriptor

    @contextlib.contextmanager
    def _root(self) -> Iterator[int]:
        try:
            fd = open_folder(str(self.root))
        except (LinkedFolder, FileNotFoundError):
            raise ConfigError(f"inbox {self.root} is no longer a folder; create it or give another --inbox") from None
        try:
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _folders(self) -> Iterator[Folders]:
        """The inbox and its processing/, done/ and failed/, opened without following links; a special folder that
        is a link (or missing, or not a folder) stops everything with one line naming it."""
        with self._root() as root:
            opened: list[int] = []
            try:
                for folder in SPECIAL_FOLDERS:
                    try:
                        opened.append(open_folder(folder, dir_fd=root))
                    except (LinkedFolder, FileNotFoundError):
                        raise self._bad_folders(root) from None
                yield Folders(root, *opened)
            finally:
                for fd in opened:
                    os.close(fd)

    def _bad_folders(self, root: int) -> ConfigError:
        problems = []
        for folder in SPECIAL_FOLDERS:
            what = kind(root, folder)
            if what == "link":
                problems.append(f"{folder}/ is a symbolic link (to {shown(os.readlink(folder, dir_fd=root))})")
            elif what is None:
                problems.append(f"{folder}/ is missing")
            elif what != "folder":
                problems.append(f"{folder}/ is not a folder")
        return ConfigError(
            f"inbox {self.root}: {'; '.join(problems) or 'a special folder changed while it was opened'}; confcast "
            "reads and writes only inside the inbox: replace each with a real folder (or remove it: the next scan "
            "makes it)"
        )

    # -- scanning and claiming

    def entries(self) -> list[InboxEntry]:
        """Recordings waiting at the top of the inbox: files, and links (to be filed, never followed). A name gone
        between the listing and its size (another scanner took it) is left out."""
        with self._folders() as f:
            listed = {}
            with os.scandir(f.root) as listing:
                for item in listing:
                    if item.is_symlink() or item.is_file(follow_symlinks=False):
                        listed[item.name] = item
            found = []
            for name in sorted(listed):
                if not is_recording(name):
                    continue
                try:
                    size = os.stat(name, dir_fd=f.root, follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue
                found.append(InboxEntry(name, size, has_sidecar=any(side in listed for side in sidecar_names(name))))
            return found

    def missing_slides(self, entry: InboxEntry) -> str | None:
        """The slides PDF that the entry's sidecar names and that is not in the inbox yet (None: none named, or
        there). Read as the claim will: the first sidecar of its names, never through a link."""
        if not entry.has_sidecar:
            return None
        with self._folders() as f:
            for side in sidecar_names(entry.name):
                data = read_file(f.root, side, limit=MAX_SIDECAR_BYTES + 1)
                if data is not None:
                    key = named_slides(side, data)
                    return key if key is not None and not os.path.lexists(self.root / key) else None
        return None

    def _pending_files(self, name: str, present: Iterable[str]) -> list[str]:
        return sorted(n for n in present if (match := PENDING_RE.fullmatch(n)) and match["name"] == name)

    def claim(self, entry: InboxEntry) -> Claimed | None:
        """Move the recording (and its sidecars) to processing/, under a name free there; None when another scanner
        took it first. The recording itself is moved, a link as a link; a link, or a name the inbox cannot handle,
        comes back with its `problem` (to be filed, never read).

        The owner is written first to a pending file, which becomes processing/<name>.claim once the rename has
        won: at no moment is the recording in processing/ without a record of who took it."""
        owner = ClaimOwner.mine(machine=self.machine, name=entry.name)
        with self._folders() as f:
            present = names(f.processing)
            for name in candidate_names(entry.name, self.max_name):
                if family_taken(name, present):
                    continue
                pending = f".{name}.{owner.claim}{PENDING_SUFFIX}"
                write_new(f.processing, pending, owner.to_json())
                try:
                    moved = rename_noreplace(f.root, entry.name, f.processing, name)
                except FileNotFoundError:  # another scanner took it first
                    os.unlink(pending, dir_fd=f.processing)
                    return None
                except BaseException:  # no pending owner left behind by a failed claim
                    os.unlink(pending, dir_fd=f.processing)
                    raise
                if not moved:  # the name was taken meanwhile: the next one
                    os.unlink(pending, dir_fd=f.processing)
                    present.add(name)
                    continue
                os.replace(pending, name + CLAIM_SUFFIX, src_dir_fd=f.processing, dst_dir_fd=f.processing)
                self._take_sidecars(f, entry.name, name)
                problem = self._problem(f, name, entry.name)
                return Claimed(name, self.root / PROCESSING / name, owner.claim, problem, slides_folder=self.root)
        return None  # not reached: candidate_names never ends

    def _take_sidecars(self, f: Folders, original: str, name: str) -> None:
        """Move the sidecars of the inbox's `original` into processing/ beside `name` (a name taken there: the
        sidecar stays in the inbox, never overwriting anything)."""
        for side, new in renamed_sidecars(original, name):
            with contextlib.suppress(FileNotFoundError):
                rename_noreplace(f.root, side, f.processing, new)

    def _problem(self, f: Folders, name: str, original: str) -> str:
        """Why the claimed processing/<name> (in the inbox as `original`) must be filed unread, or ""."""
        what = kind(f.processing, name)
        if what == "link":
            return (
                f"{shown(original)} is a symbolic link; confcast takes only files inside the inbox, never what a "
                "link points to: put the recording itself in the inbox"
            )
        if what not in ("file", None):
            return f"{shown(original)} is not a regular file; put the recording itself in the inbox"
        problem = name_problem(original, self.max_name)
        if problem:
            return f"{shown(original)}: {problem}"
        for side, new in renamed_sidecars(original, name):
            if kind(f.processing, new) == "link":
                return (
                    f"its sidecar {shown(side)} is a symbolic link; confcast reads only files inside the inbox: put "
                    "the metadata file itself beside the recording"
                )
        return ""

    def _owns(self, f: Folders, claimed: Claimed) -> bool:
        """Whether the claim is still ours: not taken back by another scanner that judged us gone."""
        owner = ClaimOwner.from_json(read_file(f.processing, claimed.name + CLAIM_SUFFIX))
        return owner is None or not claimed.claim_id or owner.claim == claimed.claim_id

    def finish(self, claimed: Claimed, *, ok: bool, detail: str, now: dt.datetime | None = None) -> Path | None:
        """Move a claimed recording to done/ or failed/ with a reason file, under a name free there (its sidecars
        and reason file take the same); returns the reason file (None when another scanner has taken the claim back
        meanwhile: it files the recording itself)."""
        folder = DONE if ok else FAILED
        text = reason_text("published" if ok else "failed", detail, now=now or dt.datetime.now(dt.timezone.utc))
        with self._folders() as f:
            if not self._owns(f, claimed):
                return None
            target = f.done if ok else f.failed
            present = names(target)
            for name in candidate_names(claimed.name, self.max_name):
                if family_taken(name, present):
                    continue
                try:
                    if rename_noreplace(f.processing, claimed.name, target, name):
                        break
                except FileNotFoundError:
                    break  # the recording is gone: its sidecars and reason are filed all the same
                present.add(name)
            for side, new in renamed_sidecars(claimed.name, name):
                with contextlib.suppress(FileNotFoundError):
                    rename_noreplace(f.processing, side, target, new)  # taken meanwhile: it stays in processing/
            reason = f"{name}.txt"
            data = text.encode("utf-8", "replace")
            try:
                write_new(target, reason, data)
            except FileExistsError:  # never replace: a second reason file beside the first
                reason = f"{name}.{claimed.claim_id[:8] or uuid.uuid4().hex[:8]}.txt"
                write_new(target, reason, data)
            with contextlib.suppress(FileNotFoundError):  # last: the claim outlives the files it covers
                os.unlink(claimed.name + CLAIM_SUFFIX, dir_fd=f.processing)
        return self.root / folder / reason

    def release(self, claimed: Claimed) -> None:
        """Give the recording back to the inbox, unpublished and unfiled, for the next scan, under a name free there
        (the claim goes first: once the recording is back, another scanner may claim it at once)."""
        with self._folders() as f:
            if not self._owns(f, claimed):
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(claimed.name + CLAIM_SUFFIX, dir_fd=f.processing)
            present = names(f.root)
            for name in candidate_names(claimed.name, self.max_name):
                if family_taken(name, present):
                    continue
                moved = []
                for side, new in renamed_sidecars(claimed.name, name):  # the recording last: it comes with them
                    with contextlib.suppress(FileNotFoundError):
                        if rename_noreplace(f.processing, side, f.root, new):
                            moved.append((side, new))
                try:
                    if rename_noreplace(f.processing, claimed.name, f.root, name):
                        return
                except FileNotFoundError:
                    return
                for side, new in moved:  # the name was taken meanwhile: the sidecars come back, the next name
                    rename_noreplace(f.root, new, f.processing, side)
                present = names(f.root)

    # -- stale claims

    def stale_claims(
        self, *, max_age: dt.timedelta = DEFAULT_CLAIM_MAX_AGE, now: dt.datetime | None = None
    ) -> list[StaleClaim]:
        """Recordings in processing/ whose claim's owner is gone (see `stale_reason`)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        found = []
        with self._folders() as f:
            present = names(f.processing)
            for name in sorted(present):
                if not is_recording(name) or kind(f.processing, name) not in ("file", "link"):
                    continue
                seen = read_file(f.processing, name + CLAIM_SUFFIX)
                owner = ClaimOwner.from_json(seen)
                touched = None
                if seen is None:  # claimed without an owner file: a crash between the rename and its owner file
                    pending = self._pending_files(name, present)
                    owners = [o for p in pending if (o := ClaimOwner.from_json(read_file(f.processing, p))) is not None]
                    judged = [stale_reason(o, now=now, here=self.machine, max_age=max_age) for o in owners]
                    if any(why is None for why in judged):
                        continue  # its owner may be renaming it right now
                    if owners:
                        found.append(StaleClaim(name, owners[0], judged[0] or "", seen=None))
                        continue
                if owner is None:
                    with contextlib.suppress(FileNotFoundError):
                        stat = os.stat(name, dir_fd=f.processing, follow_symlinks=False)
                        touched = dt.datetime.fromtimestamp(max(stat.st_mtime, stat.st_ctime), dt.timezone.utc)
                why = stale_reason(owner, now=now, here=self.machine, max_age=max_age, seen_at=touched)
                if why is not None:
                    found.append(StaleClaim(name, owner, why, seen=seen))
        return found

    @contextlib.contextmanager
    def _takeover_lock(self, processing: int) -> Iterator[None]:
        """An exclusive advisory lock on processing/.takeover.lock; the kernel drops it if its holder dies."""
        try:
            fd = os.open(TAKEOVER_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=processing)
        except OSError as error:
            raise ConfigError(
                f"inbox {self.root}: {PROCESSING}/{TAKEOVER_LOCK} cannot be opened ({error.strerror}); remove it "
                "(the next scan makes it again)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def take_back(self, stale: StaleClaim) -> Claimed | None:
        """Replace a stale claim with our own, only if it is still the one the scan judged stale (compare and
        replace under the takeover lock): of several scanners, exactly one wins. None when another won."""
        original = (stale.owner.name if stale.owner else None) or stale.name
        owner = ClaimOwner.mine(machine=self.machine, name=original)
        marker = stale.name + CLAIM_SUFFIX
        with self._folders() as f:
            with self._takeover_lock(f.processing):
                if read_file(f.processing, marker) != stale.seen or kind(f.processing, stale.name) is None:
                    return None
                replace_with(f.processing, marker, owner.to_json(), scratch=f".{marker}.{owner.claim}.partial")
            present = names(f.processing)
            for pending in self._pending_files(stale.name, present):  # owners of a claim interrupted before its file
                claim_owner = ClaimOwner.from_json(read_file(f.processing, pending))
                if stale_reason(claim_owner, now=owner.at, here=self.machine) is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(pending, dir_fd=f.processing)
            if kind(f.root, original) is None:  # else a new recording of that name waits with its own sidecars
                self._take_sidecars(f, original, stale.name)  # left behind by a claim interrupted after the recording
            problem = self._problem(f, stale.name, original)
        return Claimed(stale.name, self.root / PROCESSING / stale.name, owner.claim, problem, slides_folder=self.root)


def inbox_slides_key(slides: str | None) -> str | None:
    """The inbox key of a sidecar's `slides:` (relative to the sidecar, so to the inbox's top); None without one,
    or when it would leave the inbox (the flow then refuses the sidecar with its own one-line error)."""
    if not slides:
        return None
    key = posixpath.normpath(slides)
    if key.startswith(("/", "../")) or key in (".", "..") or key_problem(key):
        return None
    return key


def named_slides(sidecar: str, data: bytes | None) -> str | None:
    """The inbox key of the slides PDF that a sidecar's bytes name; None without a sidecar or slides, or when the
    sidecar cannot be read (the flow says why)."""
    if not data:
        return None
    try:
        return inbox_slides_key(parse_sidecar(data, sidecar).slides)
    except MetadataError:
        return None


def slides_key(recording: Path) -> str | None:
    """The inbox key of the slides PDF that the sidecar beside a downloaded `recording` names (see
    inbox_slides_key); None without one, or when the sidecar cannot be read (the flow says why)."""
    sidecar = find_sidecar(recording)
    if sidecar is None:
        return None
    try:
        return inbox_slides_key(load_sidecar(sidecar).slides)
    except MetadataError:
        return None


class S3Inbox:
    """An inbox under an S3 prefix (private: never under a published site prefix). A claim is a conditional PUT of
    `processing/<name>.claim` (If-None-Match: *): of several scanners, on any hosts, exactly one creates it."""

    sidecar_means_complete = True  # an object is listed only once uploaded whole

    def __init__(self, storage: S3Storage, download_dir: Path) -> None:
        self.storage = storage
        self.download_dir = Path(download_dir)
        self._checked_private = False
        self.machine = Machine.current()
        self.max_name = max_name_bytes()  # the download is a local file: its name must fit the file system

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
        """Recordings at the top of the prefix (not in processing/, done/ or failed/) that nobody has claimed; one
        whose key confcast cannot address comes with the reason to `skip` it."""
        self.check_private()
        sizes = self.storage.list_sizes("", recursive=False)
        claims = self.storage.list_sizes(f"{PROCESSING}/")
        return [
            InboxEntry(
                name=name,
                size=size,
                has_sidecar=any(side in sizes for side in sidecar_names(name)),
                skip=key_problem(name, self.storage.prefix) or "",
            )
            for name, size in sorted(sizes.items())
            if is_recording(name) and f"{PROCESSING}/{name}{CLAIM_SUFFIX}" not in claims
        ]

    def missing_slides(self, entry: InboxEntry) -> str | None:
        """The slides PDF that the entry's sidecar names and that is not in the inbox yet (None: none named, or
        there), read as the claim will: the first sidecar of its names."""
        if not entry.has_sidecar:
            return None
        for side in sidecar_names(entry.name):
            data = self.storage.get_bytes(side)
            if data is not None:
                key = named_slides(side, data)
                return key if key is not None and self.storage.etag_of(key) is None else None
        return None

    def claim(self, entry: InboxEntry) -> Claimed | None:
        """Write the claim marker (only if absent), then download the recording and its sidecar into the work
        folder; None when another scanner holds the claim or has already filed the recording away (or when the
        entry is one to skip). A name too long for a local file is claimed with its `problem`, not downloaded."""
        if entry.skip or key_problem(entry.name, self.storage.prefix):
            return None
        self.check_private()
        marker = f"{PROCESSING}/{entry.name}{CLAIM_SUFFIX}"
        owner = ClaimOwner.mine(machine=self.machine, name=entry.name)
        token = owner.to_json()
        if not self.storage.put_bytes_if_absent(marker, token, CLAIM_TYPE):
            # Taken, unless our own write went through and only its answer was lost (then a retry found it there).
            if self.storage.get_bytes(marker) != token:
                return None
        return self._download(entry.name, marker, owner.claim)

    def _download(self, name: str, marker: str, claim_id: str) -> Claimed | None:
        folder = self.download_dir / claim_id
        problem = name_problem(name, self.max_name)
        if problem:
            return Claimed(name, folder / "recording", claim_id, problem=f"{shown(name)}: {problem}")
        try:
            etag = self.storage.etag_of(name)
            if etag is None or not self.storage.download_file(name, folder / name):
                self._release(marker, folder)  # filed away by the scanner that held the claim before us
                return None
            for side in sidecar_names(name):
                self.storage.download_file(side, folder / side)
            slides = slides_key(folder / name)
            if slides is not None:  # beside the sidecar, where the flow reads it; absent: the flow says so
                self.storage.download_file(slides, folder / slides)
            if self.storage.etag_of(name) != etag:  # replaced while we downloaded it: the next scan takes it
                self._release(marker, folder)
                return None
        except BaseException:
            self._release(marker, folder)  # the next scan tries again
            raise
        return Claimed(name=name, path=folder / name, claim_id=claim_id, etag=etag)

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

    def _reserve(self, folder: str, name: str, reason: bytes) -> str:
        """A name free in done/ or failed/ for a recording's family, reserved by writing its reason file there with
        If-None-Match (of several writers, one gets each name): `name`, else `talk (2).mp4`, ..."""
        for candidate in candidate_names(name, MAX_KEY_BYTES):
            key = f"{folder}/{candidate}.txt"
            if not self.storage.put_bytes_if_absent(key, reason, REASON_TYPE):
                if self.storage.get_bytes(key) != reason:  # unless only the answer to our own write was lost
                    continue
            stem = os.path.splitext(candidate)[0]
            others = {k[len(folder) + 1 :] for k in self.storage.list_sizes(f"{folder}/{stem}", recursive=False)}
            if not family_taken(candidate, others - {f"{candidate}.txt"}):
                return candidate
            self.storage.delete_keys([key])  # a file of that family is there (filed by an older confcast): next
        raise AssertionError("candidate_names never ends")

    def finish(self, claimed: Claimed, *, ok: bool, detail: str, now: dt.datetime | None = None) -> str | None:
        """File the recording (and its sidecar) in done/ or failed/ under a name free there, reserved by its reason
        file; copy, then delete the originals, then the claim (in that order: a claim is never free while the
        recording is still waiting). A recording replaced by a new upload since it was downloaded is filed from
        the download, and the new one (with the sidecars beside it) is left waiting. Returns the reason file's URL
        (None when another scanner has taken the claim back meanwhile: it files the recording)."""
        if not self._owns(claimed):
            shutil.rmtree(claimed.path.parent, ignore_errors=True)
            return None
        folder = DONE if ok else FAILED
        detail = detail.replace(str(claimed.path.parent), self.url)  # name the recording where the operator sees it
        outcome = "published" if ok else "failed"
        text = reason_text(outcome, detail, now=now or dt.datetime.now(dt.timezone.utc))
        present = self.storage.list_sizes("", recursive=False)
        originals = [name for name in [claimed.name, *sidecar_names(claimed.name)] if name in present]
        name = self._reserve(folder, claimed.name, text.encode("utf-8"))
        renamed = {claimed.name: name, **dict(renamed_sidecars(claimed.name, name))}
        if claimed.etag and claimed.name in present:
            if self.storage.copy_key(claimed.name, f"{folder}/{name}", if_match=claimed.etag):
                originals.remove(claimed.name)
                self._copy(originals, folder, renamed)
                originals.append(claimed.name)
            else:  # a new upload under this name: file what was published, from the download; leave the new one
                for local in renamed:
                    if (claimed.path.parent / local).is_file():
                        self.storage.put_file(f"{folder}/{renamed[local]}", claimed.path.parent / local)
                originals = []
        else:
            self._copy(originals, folder, renamed)
        if originals:
            self.storage.delete_keys(originals)
        self.storage.delete_keys([f"{PROCESSING}/{claimed.name}{CLAIM_SUFFIX}"])
        shutil.rmtree(claimed.path.parent, ignore_errors=True)  # the claim's own download folder
        return f"{self.url}/{folder}/{name}.txt"

    def _copy(self, keys: list[str], folder: str, renamed: dict[str, str]) -> None:
        for key in keys:  # one removed since the listing is simply not filed
            self.storage.copy_key(key, f"{folder}/{renamed[key]}")

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
            if not key.endswith(CLAIM_SUFFIX) or not is_recording(name) or key_problem(name, self.storage.prefix):
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
        owner = ClaimOwner.mine(machine=self.machine, name=stale.name)
        token = owner.to_json()
        if stale.etag is None or not self.storage.put_bytes_if_match(marker, token, stale.etag, CLAIM_TYPE):
            if self.storage.get_bytes(marker) != token:  # unless only the answer to our write was lost
                return None
        return self._download(stale.name, marker, owner.claim)


class ScanMemory:
    """What the previous scan of an inbox saw, kept in the work folder: each recording's size, the entries already
    reported as skipped (reported once, not at every scan), and since when each recording has waited for the slides
    PDF that its sidecar names."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return data if isinstance(data.get("sizes"), dict) else {"sizes": data}  # older files: the sizes alone

    def load(self) -> dict[str, int]:
        sizes = self._read().get("sizes", {})
        return {str(k): int(v) for k, v in sizes.items() if isinstance(v, int)}

    def reported(self) -> set[str]:
        reported = self._read().get("reported", [])
        return {str(name) for name in reported} if isinstance(reported, list) else set()

    def waiting(self) -> dict[str, dt.datetime]:
        waiting = self._read().get("waiting", {})
        since = {}
        for name, value in waiting.items() if isinstance(waiting, dict) else ():
            with contextlib.suppress(TypeError, ValueError):
                since[str(name)] = dt.datetime.fromisoformat(value)
        return {name: at for name, at in since.items() if at.tzinfo is not None}

    def save(
        self, entries: list[InboxEntry], reported: Iterable[str] = (), waiting: Mapping[str, dt.datetime] | None = None
    ) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        data = {
            "sizes": {e.name: e.size for e in entries},
            "reported": sorted(reported),
            "waiting": {name: at.isoformat() for name, at in (waiting or {}).items()},
        }
        partial.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(partial, self.path)
