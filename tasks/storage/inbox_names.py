"""Names in an inbox (pure): which files belong together, a free name when one is taken, names confcast refuses.

A recording travels with its sidecars (`talk.mp4.yaml`, `talk.yaml`, ...) and, once filed, its reason file
(`talk.mp4.txt`): they form a family, all named from the recording. When a family's name is taken in a folder
(`processing/`, `done/`, `failed/`, or the inbox itself), the whole family moves under the next free variant,
`talk (2).mp4` with `talk (2).mp4.yaml` and `talk (2).mp4.txt`, as file managers name a second copy: nothing is
ever overwritten. A name too long for the file system once the inbox's own suffixes are added is shortened, with a
hash of the full name, to fit.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator

from confcast.tasks.metadata import SIDECAR_SUFFIXES

RECORDING_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .ts .mts .mpg .mpeg .flv .wmv .m4a .mp3 .wav .ogg .oga .opus .flac .aac".split()
)
NAME_MAX = 255  # bytes in one file name on Linux file systems (ext4, xfs, btrfs, tmpfs) and in most others
# The longest name the inbox makes from a recording's name: `.<name>.<32 hex>.claim-pending` in processing/.
INBOX_SUFFIX_BYTES = 48
MAX_KEY_BYTES = 1024  # S3's limit for a whole object key
_COUNTER = re.compile(r" \((\d+)\)$")  # the " (2)" a variant adds to a stem


def is_recording(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in RECORDING_SUFFIXES


def sidecar_names(name: str) -> list[str]:
    """Sidecar files that may sit beside a recording: talk.mp4.yaml, talk.yaml, ... (as tasks.metadata reads them)."""
    stem = os.path.splitext(name)[0]
    return [base + suffix for base in (name, stem) for suffix in SIDECAR_SUFFIXES]


def renamed_sidecars(name: str, new_name: str) -> list[tuple[str, str]]:
    """Each sidecar name of `name` with the one it takes when the recording is renamed `new_name`."""
    return list(zip(sidecar_names(name), sidecar_names(new_name), strict=True))


def max_name_bytes(name_max: int = NAME_MAX) -> int:
    """The longest recording name an inbox on a file system allowing `name_max` bytes a name can handle."""
    return name_max - INBOX_SUFFIX_BYTES


def fit_name(name: str, max_bytes: int) -> str:
    """`name` itself when it fits in `max_bytes` (UTF-8); else its start, `~`, 10 hex digits of its SHA-256 and its
    extension: valid UTF-8, distinct for distinct names, and at most `max_bytes` long."""
    raw = os.fsencode(name)
    if len(raw) <= max_bytes:
        return name
    stem, suffix = os.path.splitext(name)
    if len(os.fsencode(suffix)) > 16 or not _is_text(suffix):
        stem, suffix = name, ""
    tag = "~" + hashlib.sha256(raw).hexdigest()[:10]
    room = max(0, max_bytes - len(tag) - len(suffix.encode("utf-8")))
    start = os.fsencode(stem)[:room].decode("utf-8", "ignore")  # cut on a character boundary, drop invalid bytes
    return f"{start}{tag}{suffix}"


def _is_text(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def candidate_names(name: str, max_bytes: int) -> Iterator[str]:
    """`talk.mp4`, then `talk (2).mp4`, `talk (3).mp4`, ... (a name that already ends in " (n)" counts on from its
    base), each fitted to `max_bytes`: the names to try, in order, until one is free."""
    first = fit_name(name, max_bytes)
    yield first
    stem, suffix = os.path.splitext(name)
    base = _COUNTER.sub("", stem)
    for number in itertools.count(2):
        candidate = fit_name(f"{base} ({number}){suffix}", max_bytes)
        if candidate != first:
            yield candidate


def family_taken(name: str, present: Iterable[str]) -> bool:
    """Whether a recording named `name` would meet another's files in a folder holding `present`: its own name, a
    sidecar (`talk.mp4.yaml` or `talk.yaml`), a reason file or a claim, or another recording whose sidecars it
    would share (`talk.mkv` beside `talk.mp4`). Any name that is the stem or starts with `<stem>.` counts."""
    stem = os.path.splitext(name)[0]
    return any(other == stem or other.startswith(stem + ".") for other in present)


def name_problem(name: str, max_bytes: int) -> str | None:
    """Why a recording's file name cannot go through the inbox, or None (the reason file says it)."""
    if not _is_text(name):
        return "the file name is not valid UTF-8 text; rename it and put it back in the inbox"
    size = len(name.encode("utf-8"))
    if size > max_bytes:
        return (
            f"the file name is {size} bytes long, more than the {max_bytes} an inbox allows (the file system's "
            f"limit less what the inbox adds); rename it shorter and put it back in the inbox"
        )
    return None


def key_problem(name: str, prefix: str = "") -> str | None:
    """Why an S3 inbox cannot take an object (its name under the inbox prefix), or None: a backslash or a control
    character (refused in every key confcast writes), or a key too long once under `processing/` or `failed/`."""
    if "\\" in name:
        return "its name holds a backslash, which confcast refuses in object keys; copy it under a plain name"
    if any(unicodedata.category(char) == "Cc" for char in name):
        return "its name holds a control character; copy it under a plain name"
    longest = f"{prefix}/processing/{name}.claim" if prefix else f"processing/{name}.claim"
    if len(longest.encode("utf-8")) > MAX_KEY_BYTES:
        return f"its name is too long for the inbox's keys (at most {MAX_KEY_BYTES} bytes); copy it under a shorter one"
    return None


def shown(name: str) -> str:
    """A name as one printable line (logs, reason files): undecodable bytes as U+FFFD, control characters escaped."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)
