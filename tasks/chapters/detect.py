"""Slide changes in a small grey copy of the picture (made during the ladder's decode, `tasks.media.hls`).

The picture is cut into a grid of cells; a cell changes between two frames when its pixels differ on average by more
than CELL_THRESHOLD. Cells that change often over the whole talk show live video (a speaker inset in a corner, a
camera): they are left out. A slide change is a change of at least MIN_CELLS other cells, after which the picture
holds for MIN_HOLD_S, and whose picture differs from the one before it (a fade out and back to the same slide is
not a change). A picture that moves most of the time (a camera on the speaker) has no slide changes. Pure
functions on numpy arrays; `read_grey` reads the decode's raw file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCAN_WIDTH = 128  # the grey copy's size: small enough to cost little, big enough for a slide's lines of text
SCAN_HEIGHT = 72
SCAN_RATE = 2.0  # frames a second: chapter times to a quarter of a second
CELL = 8  # pixels a side of a grid cell (16 x 9 cells)
CELL_THRESHOLD = 4.0  # mean absolute difference (0-255) over a cell that counts as a change
LIVE_FRACTION = 0.3  # a cell changing between more than this share of frame pairs shows live video
MIN_CELLS = 2  # changed still cells that make a slide change
MIN_HOLD_S = 2.0  # a slide stays at least this long (builds and videos inside slides do not make chapters)
MAX_MOVING_SHARE = 0.25  # a picture whose still cells move between more frames than this is a camera, not slides


@dataclass(frozen=True)
class SlideChange:
    start: float  # seconds: the first frame showing the new slide
    settled: float  # seconds: when the picture holds again (a frame to show and read)


def read_grey(path: Path, width: int, height: int) -> np.ndarray:
    """The raw grey frames as an array (frames, height, width); a trailing partial frame is dropped."""
    data = np.fromfile(path, dtype=np.uint8)
    frames = data.size // (width * height)
    return data[: frames * width * height].reshape(frames, height, width)


def cell_changes(frames: np.ndarray, cell: int = CELL, threshold: float = CELL_THRESHOLD) -> np.ndarray:
    """For each pair of consecutive frames, which cells changed: bool array (frames - 1, rows, columns)."""
    count, height, width = frames.shape
    rows, columns = height // cell, width // cell
    if count < 2 or rows == 0 or columns == 0:
        return np.zeros((max(count - 1, 0), rows, columns), dtype=bool)
    cropped = frames[:, : rows * cell, : columns * cell].astype(np.int16)
    diff = np.abs(np.diff(cropped, axis=0))
    means = diff.reshape(count - 1, rows, cell, columns, cell).mean(axis=(2, 4))
    return means > threshold


def live_cells(changes: np.ndarray, fraction: float = LIVE_FRACTION) -> np.ndarray:
    """Cells that change between more than `fraction` of the frame pairs: live video, not slides."""
    if changes.shape[0] == 0:
        return np.zeros(changes.shape[1:], dtype=bool)
    return changes.mean(axis=0) > fraction


def detect_changes(frames: np.ndarray, rate: float = SCAN_RATE, hold_s: float = MIN_HOLD_S) -> list[SlideChange]:
    """The slide changes of a talk, in order (the first slide, at 0, is not a change)."""
    changes = cell_changes(frames)
    if changes.shape[0] == 0:
        return []
    still = ~live_cells(changes)
    counts = (changes & still).sum(axis=(1, 2))  # counts[i]: still cells changed from frame i to frame i + 1
    moving = counts >= MIN_CELLS
    if moving.mean() > MAX_MOVING_SHARE:  # filmed, not slides: chapters from it would be noise
        return []
    hold = max(1, round(hold_s * rate))
    found: list[SlideChange] = []
    i, pairs = 0, len(moving)
    while i < pairs:
        if not moving[i]:
            i += 1
            continue
        first = i
        while i < pairs and moving[i]:  # the transition: consecutive changed pairs (a fade, a wipe)
            i += 1
        last = i  # frame `last` is the first one after the transition
        quiet = pairs - last if not moving[last:].any() else int(np.argmax(moving[last:]))
        if quiet + 1 < hold and last < pairs:  # does not hold: a build, an animation, a video inside a slide
            continue
        before, after = frames[first].astype(np.int16), frames[last].astype(np.int16)
        differs = cell_changes(np.stack([before, after]).astype(np.uint8))[0] & still
        if differs.sum() < MIN_CELLS:  # back to the same picture (a flash, a fade through black)
            continue
        found.append(SlideChange(start=(first + 1) / rate, settled=(last + min(quiet, hold) / 2) / rate))
    return found


def first_settled(frames: np.ndarray, rate: float = SCAN_RATE) -> float:
    """When the first slide can be read: half a hold in, or the middle of a short talk."""
    return min(MIN_HOLD_S / 2, max(0.0, (len(frames) - 1) / rate / 2))
