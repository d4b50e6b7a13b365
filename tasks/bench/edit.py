"""`confcast bench edit`: what a metadata change costs, against the talk's first publication.

Three commands run one after the other on the same talk, each as an operator types it (a child process): the
first `confcast publish`, a `confcast edit` of its title and description, and a `confcast publish` of the same
recording with other metadata. Each is timed from spawn to exit; the site is listed before and after each, and
what is new or changed counts as uploaded, media files (video, audio, images, HLS) apart. Measures only: this
module is never imported by production code.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from confcast.tasks.bench.uploads import Listing, changes

MEDIA_SUFFIXES = (".mp4", ".m4s", ".m4a", ".jpg", ".m3u8")  # what an edit must never upload again


@dataclass(frozen=True)
class Step:
    name: str
    wall_s: float
    uploads: int
    uploaded_bytes: int
    media_bytes: int


def media_bytes(before: Listing, after: Listing) -> int:
    """Bytes of media objects new or changed from `before` to `after`."""
    return sum(
        size
        for key, (size, marker) in after.items()
        if PurePosixPath(key).suffix in MEDIA_SUFFIXES and before.get(key) != (size, marker)
    )


def run_step(
    name: str, args: Sequence[str], listing: Callable[[], Listing], env: Mapping[str, str] | None = None
) -> Step:
    """Run one command, timed; what it left changed in the site, from listings before and after."""
    before = listing()
    started = time.perf_counter()
    done = subprocess.run(list(args), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env=dict(env or os.environ))
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed (exit {done.returncode}): {done.stderr.strip()[-800:]}")
    after = listing()
    uploaded, count = changes(before, after)
    return Step(name=name, wall_s=wall, uploads=count, uploaded_bytes=uploaded, media_bytes=media_bytes(before, after))


def table(steps: Sequence[Step], setup: str) -> str:
    """Markdown: each step's time, its ratio to the first publication's, what it uploaded."""
    first = steps[0].wall_s if steps else 0.0
    lines = [
        "| step | wall time (s) | × first publication | objects written | bytes written | media bytes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for step in steps:
        ratio = step.wall_s / first if first else 0.0
        lines.append(
            f"| {step.name} | {step.wall_s:.1f} | {ratio:.3f} | {step.uploads} | {step.uploaded_bytes} "
            f"| {step.media_bytes} |"
        )
    return "\n".join([*lines, "", setup])
