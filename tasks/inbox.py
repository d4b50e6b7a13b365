"""An inbox of recordings that schedules pick up: a local folder, or a prefix of an S3 bucket.

A recording is taken only when complete (its size unchanged since the previous scan, or its sidecar file present),
claimed atomically, so that of several scanners exactly one takes it, and moved to `done/` or `failed/` with a
reason file that an operator can read.

Layout of a folder inbox (claims are renames, atomic within one file system):
    talk.mp4, talk.mp4.yaml        waiting (the sidecar is optional)
    processing/talk.mp4            claimed by a scanner, being published
    done/talk.mp4, done/talk.mp4.txt      published; the .txt says where
    failed/talk.mp4, failed/talk.mp4.txt  refused or failed; the .txt says why

Layout of an S3 inbox, s3://bucket/prefix (objects cannot be renamed: a claim is a conditional write,
`PutObject` with `If-None-Match: *`, which the server lets exactly one writer make):
    talk.mp4, talk.mp4.yaml        waiting; stays here while it is being published
    processing/talk.mp4.claim      the claim: who took it and when
    done/... and failed/...        as in a folder (copied there, then the originals and the claim are deleted)
The claimed recording and its sidecar are downloaded into the work folder, where the publish flow reads them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tasks.errors import ConfigError
from tasks.metadata import SIDECAR_SUFFIXES
from tasks.storage import S3Storage

RECORDING_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .ts .mts .mpg .mpeg .flv .wmv .m4a .mp3 .wav .ogg .oga .opus .flac .aac".split()
)
PROCESSING, DONE, FAILED = "processing", "done", "failed"
CLAIM_SUFFIX = ".claim"


@dataclass(frozen=True)
class InboxEntry:
    name: str  # file name inside the inbox
    size: int
    has_sidecar: bool


@dataclass(frozen=True)
class Claimed:
    name: str
    path: Path  # the local file to publish: under processing/ (folder inbox) or in the work folder (S3 inbox)


class Inbox(Protocol):
    """What the scan-inbox flow needs from an inbox, a folder or an S3 prefix."""

    @property
    def url(self) -> str: ...
    def entries(self) -> list[InboxEntry]: ...
    def claim(self, entry: InboxEntry) -> Claimed | None: ...
    def finish(self, claimed: Claimed, *, ok: bool, detail: str, now: dt.datetime | None = None) -> object: ...


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

    def claim(self, entry: InboxEntry) -> Claimed | None:
        """Move the recording (and its sidecar) to processing/; None when another scanner took it first."""
        target = self.root / PROCESSING / entry.name
        try:
            os.rename(self.root / entry.name, target)
        except FileNotFoundError:
            return None
        for side in sidecar_names(entry.name):
            try:
                os.rename(self.root / side, self.root / PROCESSING / side)
            except FileNotFoundError:
                continue
        return Claimed(name=entry.name, path=target)

    def finish(self, claimed: Claimed, *, ok: bool, detail: str, now: dt.datetime | None = None) -> Path:
        """Move a claimed recording to done/ or failed/ with a reason file; returns the reason file."""
        folder = self.root / (DONE if ok else FAILED)
        for name in [claimed.name, *sidecar_names(claimed.name)]:
            source = self.root / PROCESSING / name
            if source.exists():
                os.replace(source, folder / name)
        reason = folder / f"{claimed.name}.txt"
        outcome = "published" if ok else "failed"
        reason.write_text(reason_text(outcome, detail, now=now or dt.datetime.now(dt.timezone.utc)), encoding="utf-8")
        return reason


class S3Inbox:
    """An inbox under an S3 prefix (private: never under a published site prefix). A claim is a conditional PUT of
    `processing/<name>.claim` (If-None-Match: *): of several scanners, on any hosts, exactly one creates it."""

    def __init__(self, storage: S3Storage, download_dir: Path) -> None:
        self.storage = storage
        self.download_dir = Path(download_dir)
        self._checked_private = False

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
        claim_id = uuid.uuid4().hex
        token = json.dumps(
            {
                "claim": claim_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            }
        ).encode("utf-8")
        if not self.storage.put_bytes_if_absent(marker, token, "application/json; charset=utf-8"):
            # Taken, unless our own write went through and only its answer was lost (then a retry found it there).
            if self.storage.get_bytes(marker) != token:
                return None
        folder = self.download_dir / claim_id
        try:
            if not self.storage.download_file(entry.name, folder / entry.name):
                self._release(marker, folder)  # filed away by the scanner that held the claim before us
                return None
            for side in sidecar_names(entry.name):
                self.storage.download_file(side, folder / side)
        except BaseException:
            self._release(marker, folder)  # the next scan tries again
            raise
        return Claimed(name=entry.name, path=folder / entry.name)

    def _release(self, marker: str, folder: Path) -> None:
        self.storage.delete_keys([marker])
        shutil.rmtree(folder, ignore_errors=True)

    def finish(self, claimed: Claimed, *, ok: bool, detail: str, now: dt.datetime | None = None) -> str:
        """Copy the recording (and its sidecar) to done/ or failed/ with a reason file, then delete the originals,
        then the claim (in that order: a claim is never free while the recording is still waiting); returns the
        reason file's URL."""
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
