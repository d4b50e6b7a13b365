"""The default HLS ladder preset: plain data, no I/O at import.

Bitrates are not written down per rung: each rung has a bits-per-pixel figure, and the bitrate follows from the
picture size and the output frame rate (`tasks.ladder.plan_ladder`). Talks are mostly a person and slides, so the
figures sit at the low end of what streaming services use for film.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RungPreset:
    height: int  # pixels
    bits_per_pixel: float  # video bits per pixel per frame


@dataclass(frozen=True)
class LadderPreset:
    rungs: tuple[RungPreset, ...]  # any order; the plan sorts them
    max_fps: float = 30.0  # frames a second; a faster source is halved (50 -> 25, 59.94 -> 29.97)
    segment_s: float = 4.0  # HLS segment length, seconds (a multiple of gop_s)
    gop_s: float = 2.0  # keyframe interval, seconds: fixed, so segments align across rungs
    maxrate_factor: float = 1.5  # VBV peak over the average bitrate
    bufsize_factor: float = 2.0  # VBV buffer, in seconds of the average bitrate
    audio_bitrate: int = 128_000  # bits a second, AAC stereo (mono gets the same, it is cheap)
    # superfast: on a slides-and-speaker talk a fifth less CPU than veryfast for the transcode and Whisper together,
    # every rung's SSIM within 0.0011 of veryfast's at the same bitrate (`confcast bench cores`, docs/performance.md)
    x264_preset: str = "superfast"
    x264_tune: str | None = None  # x264's -tune (a still title card always gets stillimage)
    x264_params: str | None = None  # extra x264 options, "key=value:key=value"
    min_video_bitrate: int = 150_000  # bits a second: a floor for tiny pictures
    # Each rung scaled from the one above it rather than from the source: 40 % less scaling CPU (smaller inputs for
    # the smaller rungs), the pictures within SSIM 0.9987 of scaling each from the source (`confcast bench cores`)
    scale_from_rung_above: bool = True


DEFAULT_LADDER = LadderPreset(
    rungs=(
        RungPreset(1080, 0.060),  # 1920x1080 at 30 fps: 3.7 Mb/s
        RungPreset(720, 0.075),  # 1280x720 at 30 fps: 2.1 Mb/s
        RungPreset(480, 0.090),  # 854x480 at 30 fps: 1.1 Mb/s
        RungPreset(360, 0.100),  # 640x360 at 30 fps: 0.7 Mb/s
    )
)
