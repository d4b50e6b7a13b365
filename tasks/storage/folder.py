"""A site in a local folder (`file:///abs/dir`), with the same layout as in a bucket: `FileStorage`.

Every write goes to a temporary file in the destination folder, then os.replace: a reader sees the old file or the
new one, never half of one. No server, no boto3.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from confcast.tasks.errors import ConfigError, PublishError
from confcast.tasks.storage.base import StorageTarget, check_key, check_list_prefix, join_url, parse_storage_url

TEMP_PREFIX = ".confcast-tmp-"  # FileStorage's in-progress files; never listed


class FileStorage:
    """A site in a local folder, with the same layout as in a bucket. Writes are atomic (temp file + rename)."""

    def __init__(self, target: StorageTarget | str | Path, *, public_base_url: str | None = None) -> None:
        if isinstance(target, Path):
            target = StorageTarget(scheme="file", root=Path(os.path.abspath(target)))
        elif isinstance(target, str):
            target = parse_storage_url(target)
        if target.scheme != "file" or target.root is None:
            raise ConfigError(f"FileStorage needs a file:// URL, not {target.url}")
        self.target = target
        self.root = target.root
        self.url = target.url
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None

    def path_for(self, key: str) -> Path:
        """The file of a key, guaranteed inside the root (also through symbolic links)."""
        path = self.root / check_key(key)
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise PublishError(f"invalid object key {key!r}: it leads outside {self.root} (through a link)")
        return path

    def public_url(self, key: str) -> str:
        if self.public_base_url:
            return join_url(self.public_base_url, check_key(key))
        return self.path_for(key).as_uri()

    def prepare(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise PublishError(f"cannot create the site folder {self.root}: {error.strerror}") from None

    def _write(self, key: str, fill: Callable[[io.BufferedWriter], object]) -> None:
        """Write through a temporary file in the destination folder, then os.replace it into place."""
        path = self.path_for(key)
        temporary: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
            temporary = None
        except OSError as error:
            raise PublishError(
                f"cannot write {path}: {error.strerror or error}; check the folder's permissions and free space"
            ) from None
        finally:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._write(key, lambda handle: handle.write(data))

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        if not Path(path).is_file():
            raise PublishError(f"cannot copy {path} to {self.path_for(key)}: the file does not exist")

        def copy(handle: io.BufferedWriter) -> None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, handle, 1024 * 1024)

        self._write(key, copy)

    def get_bytes(self, key: str) -> bytes | None:
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as error:
            raise PublishError(f"cannot read {path}: {error.strerror}") from None

    def list_keys(self, prefix: str = "") -> list[str]:
        check_list_prefix(prefix)
        keys: list[str] = []
        for folder, _dirs, files in os.walk(self.root):
            relative = Path(folder).relative_to(self.root).as_posix()
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    continue
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete_keys(self, keys: Iterable[str]) -> None:
        root = self.root.resolve()
        for key in keys:
            path = self.path_for(key)
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                raise PublishError(f"cannot delete {path}: {error.strerror}") from None
            parent = path.parent  # prune folders left empty, never the root itself
            while parent.resolve() != root and parent.resolve().is_relative_to(root):
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent


def private_folder_problem(what: str, folder: Path, site: Path) -> str | None:
    """Why a private folder of confcast's (`what`: "work folder") may not serve a file:// site, or None: inside the
    site (both paths resolved, links followed), what it holds would be served to anyone."""
    if folder == site or site in folder.parents:
        return (
            f"the {what} {folder} lies inside the published site {site.as_uri()}, which is served to anyone "
            f"(recordings, speech and transcripts in progress would be public); choose a {what} outside the site"
        )
    return None


def work_folder_problem(work_path: Path, storage_url: str | None) -> str | None:
    """Why this work folder cannot serve a site at `storage_url` (a file:// one nesting with it), or None."""
    site = parse_storage_url(storage_url).root if storage_url else None
    if site is None:
        return None
    return private_folder_problem("work folder", Path(os.path.realpath(work_path)), Path(os.path.realpath(site)))
