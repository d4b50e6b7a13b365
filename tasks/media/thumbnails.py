"""Seek thumbnails and poster choice, as pure functions: the plan of the sprite sheet, its WebVTT track, and the
choice of a poster among candidate frames. The frames themselves come from the ladder's single decode
(`tasks.media.hls.build_ladder_args`), never from a second pass over the recording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.media.ladder import fit_size

TILE_BOX = (160, 90)  # pixels: the largest a seek thumbnail may be
SPRITE_COLUMNS = 10
MAX_THUMBNAILS = 600  # a 3-hour talk gets one every 18 s, not thousands
THUMBNAIL_EVERY_S = 10.0  # for talks of 100 s and more; shorter ones get about ten
POSTER_CANDIDATES = 8


@dataclass(frozen=True)
class SpritePlan:
    interval_s: float  # one thumbnail every this many seconds, from 0
    tile_width: int
    tile_height: int


def plan_sprite(duration_s: float, width: int, height: int) -> SpritePlan:
    """How often a thumbnail is taken, and its size."""
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    step = THUMBNAIL_EVERY_S if duration_s >= 10 * THUMBNAIL_EVERY_S else duration_s / 10
    interval = float(max(1, math.ceil(max(step, duration_s / MAX_THUMBNAILS))))
    return SpritePlan(interval, *fit_size(width, height, *TILE_BOX))


def sprite_grid(count: int) -> tuple[int, int]:
    """Columns and rows of a sheet holding `count` tiles, filled row by row."""
    if count <= 0:
        raise ValueError(f"a sprite needs at least one thumbnail, got {count}")
    columns = min(SPRITE_COLUMNS, count)
    return columns, math.ceil(count / columns)


def thumbnails_vtt(plan: SpritePlan, count: int, duration_s: float, sprite: str = "sprite.jpg") -> str:
    """The WebVTT thumbnails track: cue i covers [i * interval, (i + 1) * interval) and shows tile i.

    Thumbnails sampled at or after the end (the frame-rate filter may emit one more) get no cue.
    """
    columns, _ = sprite_grid(count)
    lines = ["WEBVTT", ""]
    for i in range(count):
        start, end = i * plan.interval_s, min((i + 1) * plan.interval_s, duration_s)
        if end <= start:
            break
        x, y = i % columns * plan.tile_width, i // columns * plan.tile_height
        lines += [
            f"{vtt_time(start)} --> {vtt_time(end)}",
            f"{sprite}#xywh={x},{y},{plan.tile_width},{plan.tile_height}",
            "",
        ]
    return "\n".join(lines)


def cue_count(plan: SpritePlan, count: int, duration_s: float) -> int:
    """How many of `count` thumbnails get a cue (those starting before the end)."""
    return sum(1 for i in range(count) if i * plan.interval_s < duration_s)


def vtt_time(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def poster_interval(duration_s: float, candidates: int = POSTER_CANDIDATES) -> float:
    """Seconds between candidate frames, spread over the whole recording (the first at 0)."""
    return max(duration_s / candidates, 0.04)


def choose_poster(candidates: list[Path]) -> Path:
    """The candidate with the most detail, measured by its JPEG size at equal quality.

    JPEG spends bytes on edges and texture: a black, blank or faded frame compresses to a fraction of a frame with
    a speaker, slides or a room in it. Ties go to the earliest frame.
    """
    if not candidates:
        raise ValueError("no candidate frames to choose a poster from")
    return max(candidates, key=lambda path: (path.stat().st_size, -candidates.index(path)))
