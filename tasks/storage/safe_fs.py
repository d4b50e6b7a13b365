"""File operations inside folders opened by descriptor that never follow a symbolic link and never replace a file.

The folder inbox works on files that anyone allowed to drop a recording controls: a name may be a symbolic link to
any file the scanner can read, or a special folder may be swapped for a link between a check and a write. So every
operation here is relative to a folder descriptor opened with O_NOFOLLOW (swapping the folder's path later changes
nothing for us), reads and writes open with O_NOFOLLOW, new files are created with O_EXCL, and renames use
`renameat2(RENAME_NOREPLACE)`: atomic, and refused when the target exists (of two movers, one wins; nothing is
overwritten). Where the kernel or the file system lacks RENAME_NOREPLACE, a hard link then unlink does the same job.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import stat
from collections.abc import Callable, Iterator

RENAME_NOREPLACE = 1  # linux/fs.h
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# errno values meaning "this kernel or file system has no renameat2 flags": fall back to link + unlink.
_NO_RENAMEAT2 = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}


class LinkedFolder(OSError):
    """A folder that had to be a real folder is a symbolic link (or not a folder at all)."""


def open_folder(name: str, *, dir_fd: int | None = None) -> int:
    """A descriptor of folder `name` (relative to `dir_fd`), refusing a symbolic link: LinkedFolder."""
    try:
        return os.open(name, _FOLDER_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise LinkedFolder(error.errno, "not a real folder", name) from None
        raise


@contextlib.contextmanager
def opened_folder(path: str | os.PathLike[str]) -> Iterator[int]:
    """A folder's descriptor for the length of a `with` (the path's last part must not be a link)."""
    fd = open_folder(os.fspath(path))
    try:
        yield fd
    finally:
        os.close(fd)


def kind(dir_fd: int, name: str) -> str | None:
    """What `name` is, never following a link: "file", "link", "folder", "other", or None when absent."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISREG(mode):
        return "file"
    return "folder" if stat.S_ISDIR(mode) else "other"


def names(dir_fd: int) -> set[str]:
    """The names in a folder (a snapshot: any of them may be gone by the time it is used)."""
    with os.scandir(dir_fd) as listing:
        return {entry.name for entry in listing}


def read_file(dir_fd: int, name: str, limit: int = 1 << 20) -> bytes | None:
    """At most `limit` bytes of a regular file; None when absent; b"" for a link or anything but a file."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            return b""
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, limit)
    finally:
        os.close(fd)


def write_new(dir_fd: int, name: str, data: bytes) -> None:
    """Create `name` with `data`; FileExistsError when anything (a file, a link) already has that name."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def replace_with(dir_fd: int, name: str, data: bytes, scratch: str) -> None:
    """Write `data` whole to `scratch`, then rename it over `name` (a link there is replaced, never followed)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(scratch, dir_fd=dir_fd)
    write_new(dir_fd, scratch, data)
    os.replace(scratch, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


@functools.lru_cache(maxsize=1)
def _renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without renameat2 (glibc < 2.28, musl < 1.2.?)
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def rename_noreplace(src_fd: int, src: str, dst_fd: int, dst: str) -> bool:
    """Move `src` (the entry itself: a link stays a link) to `dst` unless `dst` exists: True when moved, False
    when `dst` was taken. FileNotFoundError when `src` is gone (another scanner moved it first)."""
    renameat2 = _renameat2()
    if renameat2 is not None:
        if renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), RENAME_NOREPLACE) == 0:
            return True
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            return False
        if code not in _NO_RENAMEAT2:
            raise OSError(code, os.strerror(code), src)
    return link_noreplace(src_fd, src, dst_fd, dst)


def link_noreplace(src_fd: int, src: str, dst_fd: int, dst: str) -> bool:
    """`rename_noreplace` without renameat2: a hard link cannot replace anything either; the source's name is then
    removed (of two movers that linked it under different names, the one that removes it keeps it)."""
    try:
        os.link(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
    except FileExistsError:
        return False
    try:
        os.unlink(src, dir_fd=src_fd)
    except FileNotFoundError:  # another mover took it meanwhile: it is theirs, drop our second name
        os.unlink(dst, dir_fd=dst_fd)
        raise
    return True
