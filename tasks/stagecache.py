"""Finished stages of a run, remembered in the run's work folder so a re-run (or a run restarted after a crash)
does not redo them.

A stage's result is kept as JSON under a key made of what decides its output: the recording's content hash and
the settings that affect the stage, never the recording's path. A remembered result counts only while every file
it names still exists; results are written atomically, after the files they name, so a crash mid-stage leaves
nothing that looks finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

T = TypeVar("T")


def stage_key(*parts: Any) -> str:
    """A short, stable key from JSON-able parts (pydantic models and paths allowed)."""

    def plain(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        return str(value)

    text = json.dumps(parts, sort_keys=True, default=plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def paths_in(value: Any) -> Iterator[Path]:
    """Every Path inside a result: pydantic models, dataclasses, tuples, lists and dicts are searched."""
    if isinstance(value, Path):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from paths_in(getattr(value, name))
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from paths_in(getattr(value, field.name))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from paths_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from paths_in(item)


class StageCache:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _file(self, stage: str, key: str) -> Path:
        return self.folder / f"{stage}-{key}.json"

    def get(self, stage: str, key: str, result_type: Any) -> Any | None:
        """The remembered result, or None when absent, unreadable, or naming a file that is gone."""
        try:
            raw = self._file(stage, key).read_bytes()
            value = TypeAdapter(result_type).validate_json(raw)
        except (FileNotFoundError, ValidationError, ValueError):
            return None
        if all(path.exists() for path in paths_in(value)):
            return value
        return None

    def put(self, stage: str, key: str, result_type: Any, value: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._file(stage, key)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(TypeAdapter(result_type).dump_json(value))
        os.replace(partial, target)


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock across processes on this host (released by the OS if the holder dies)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_once(
    cache: StageCache, stage: str, key: str, result_type: type[T] | Any, produce: Callable[[], T]
) -> tuple[T, bool]:
    """The remembered result of a stage, or produce and remember it; the flag says whether it was reused.

    Two runs of the same stage at once (the same recording published twice) take turns: the second reuses the
    first one's result instead of writing the same files at the same time.
    """
    with exclusive(cache.folder / f".{stage}-{key}.lock"):
        remembered = cache.get(stage, key, result_type)
        if remembered is not None:
            return remembered, True
        value = produce()
        cache.put(stage, key, result_type, value)
        return value, False


IN_USE = ".in-use"


class FolderClaim:
    """A run's shared hold on its work folder: the folder is not removed while any run holds it."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._handle = open(folder / IN_USE, "a+b")
        fcntl.flock(self._handle, fcntl.LOCK_SH)

    def release(self) -> None:
        if not self._handle.closed:
            self._handle.close()  # closing drops the lock; a crashed process drops it too


def remove_if_unused(folder: Path) -> bool:
    """Remove a run's work folder unless another run holds it; True when removed."""
    if not folder.is_dir():
        return False
    with open(folder / IN_USE, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(folder)
        return True
