"""The HLS ladder for one recording, as pure functions of its picture size and frame rate.

Rules: only rungs at or below the source's height (never upscale); the source's own height becomes a rung when it
falls between two preset rungs (or below the lowest); every size is even; bitrate = width x height x fps x bits per
pixel, with the bits per pixel of a source-height rung interpolated between its neighbours.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

from confcast.config.ladder import DEFAULT_LADDER, LadderPreset

# Output frame rates: a source within 1% of one keeps it exactly; any other (variable, odd) rate goes up to the
# next one, so no motion is lost and the output is constant.
STANDARD_RATES = tuple(
    Fraction(r)
    for r in ("5", "10", "12", "15", "20", "24000/1001", "24", "25", "30000/1001", "30", "50", "60000/1001", "60")
)
DEFAULT_FPS = Fraction(25)  # when the source does not say


@dataclass(frozen=True)
class Rung:
    name: str  # "720p": the rendition's folder and label
    width: int
    height: int
    fps: Fraction
    video_bitrate: int  # bits a second, average
    maxrate: int  # bits a second, VBV peak
    bufsize: int  # bits, VBV buffer
    gop: int  # frames between keyframes, fixed


def scaled_size(width: int, height: int, max_height: int) -> tuple[int, int]:
    """Output size for a picture: at most max_height tall, same aspect, both even, never upscaled."""
    if width <= 0 or height <= 0 or max_height <= 0:
        raise ValueError(f"sizes must be positive, got {width}x{height} with max_height {max_height}")
    if height > max_height:
        out_w, out_h = width * max_height / height, float(max_height)
    else:
        out_w, out_h = float(width), float(height)
    # Nearest even, but never above the source (an odd source rounds down).
    return _even(out_w, limit=width), _even(out_h, limit=height)


def fit_size(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The largest even size of this aspect inside a box (never upscaled): for thumbnails."""
    scale = min(1.0, box_width / width, box_height / height)
    return _even(width * scale, limit=width), _even(height * scale, limit=height)


def _even(value: float, limit: int) -> int:
    nearest = int(math.floor(value / 2 + 0.5)) * 2
    return max(2, min(nearest, limit - limit % 2))


def output_fps(source_fps: float | None, max_fps: float = DEFAULT_LADDER.max_fps) -> Fraction:
    """The constant output frame rate for a source's average rate (variable or not)."""
    if source_fps is None or not math.isfinite(source_fps) or source_fps <= 0:
        return DEFAULT_FPS
    rate = source_fps
    while rate > max_fps * 1.01:  # 50 -> 25, 59.94 -> 29.97, 120 -> 30
        rate /= 2
    nearest = min(STANDARD_RATES, key=lambda standard: abs(float(standard) - rate))
    if abs(float(nearest) - rate) <= rate * 0.01:
        return nearest
    for standard in STANDARD_RATES:
        if standard >= rate and standard <= max_fps * 1.01:
            return standard
    return Fraction(max_fps).limit_denominator(1001)


def plan_ladder(
    width: int, height: int, source_fps: float | None, preset: LadderPreset = DEFAULT_LADDER
) -> tuple[Rung, ...]:
    """The renditions for a picture of this display size, tallest first."""
    if width <= 0 or height <= 0:
        raise ValueError(f"sizes must be positive, got {width}x{height}")
    fps = output_fps(source_fps, preset.max_fps)
    presets = sorted(preset.rungs, key=lambda r: r.height, reverse=True)
    source_h = scaled_size(width, height, height)[1]
    heights = [p.height for p in presets if p.height <= source_h]
    if source_h < presets[0].height and source_h not in heights:
        # The source's own height is the top rung when it falls between (or under) the preset's rungs.
        heights.insert(0, source_h)
    rungs = []
    for rung_h in heights:
        w, h = scaled_size(width, height, rung_h)
        bitrate = max(preset.min_video_bitrate, round(w * h * float(fps) * bits_per_pixel(rung_h, preset), -3))
        rungs.append(
            Rung(
                name=f"{h}p",
                width=w,
                height=h,
                fps=fps,
                video_bitrate=int(bitrate),
                maxrate=int(bitrate * preset.maxrate_factor),
                bufsize=int(bitrate * preset.bufsize_factor),
                gop=max(1, round(float(fps) * preset.gop_s)),
            )
        )
    return tuple(_unique_heights(rungs))


def _unique_heights(rungs: list[Rung]) -> list[Rung]:
    seen: set[int] = set()
    kept = []
    for rung in rungs:
        if rung.height not in seen:
            seen.add(rung.height)
            kept.append(rung)
    return kept


def bits_per_pixel(height: int, preset: LadderPreset = DEFAULT_LADDER) -> float:
    """A preset rung's figure; between two rungs linear in height; beyond the ends, the nearest end's."""
    points = sorted((p.height, p.bits_per_pixel) for p in preset.rungs)
    if height <= points[0][0]:
        return points[0][1]
    if height >= points[-1][0]:
        return points[-1][1]
    for (h0, b0), (h1, b1) in itertools.pairwise(points):
        if h0 <= height <= h1:
            return b0 + (b1 - b0) * (height - h0) / (h1 - h0)
    raise AssertionError("unreachable")

