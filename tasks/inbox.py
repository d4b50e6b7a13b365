"""An inbox of recordings that schedules pick up: a local folder (an S3 prefix is in tasks/storage.py).

A recording is taken only when complete (its size unchanged since the previous scan, or its sidecar file present),
claimed atomically (a rename, so two scanners never take the same file), and moved to `done/` or `failed/`
with a reason file that an operator can read.

Layout of an inbox:
    talk.mp4, talk.mp4.yaml        waiting (the sidecar is optional)
    processing/talk.mp4            claimed by a scanner, being published
    done/talk.mp4, done/talk.mp4.txt      published; the .txt says where
    failed/talk.mp4, failed/talk.mp4.txt  refused or failed; the .txt says why
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from tasks.errors import ConfigError
from tasks.metadata import SIDECAR_SUFFIXES

RECORDING_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .ts .mts .mpg .mpeg .flv .wmv .m4a .mp3 .wav .ogg .oga .opus .flac .aac".split()
)
PROCESSING, DONE, FAILED = "processing", "done", "failed"


@dataclass(frozen=True)
class InboxEntry:
    name: str  # file name inside the inbox
    size: int
    has_sidecar: bool


@dataclass(frozen=True)
class Claimed:
    name: str
    path: Path  # where the recording now lies, under processing/


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
