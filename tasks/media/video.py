"""The picture side of a recording in one decode: the HLS ladder, the download MP4, the poster, the catalog
thumbnail and the seek thumbnails; a still title card stands in for the picture of an audio-only recording.

`plan_ladder_job` (pure) says what the single decode makes; `tasks.media.hls` turns that into ffmpeg's arguments.
`make_video` runs it through `tasks.media.ffmpeg`, checks every output (`tasks.media.checks`), then remuxes the top
rung into the MP4, picks the poster among the candidate frames and tiles the sprite, and moves it all into place.
Paths given to ffmpeg are absolute, so a file name can never be read as an option; the recording is read as a `file:`
URL with its probed demuxer only (`tasks.media.ffmpeg.recording_input`), so it can never be read as a playlist.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confcast.config.ladder import DEFAULT_LADDER, LadderPreset
from confcast.tasks.errors import TranscodeError
from confcast.tasks.media import ffmpeg, hls, thumbnails
from confcast.tasks.media.audio import audio_channels
from confcast.tasks.media.checks import check_download, check_ladder
from confcast.tasks.media.drawtext import wrap_lines
from confcast.tasks.media.ladder import fit_size, plan_ladder
from confcast.tasks.models import HlsLadder, Probe, Rendition, SlideFrames, Thumbnails

# Audio-only recordings get a plain card so the page still has something to play.
CARD_COLOR = "0x1b1f24"  # dark slate
CARD_WIDTH = 1280
CARD_HEIGHT = 720
CARD_FPS = 5  # a still card needs few frames; keeps long audio-only talks quick to encode
TITLE_WRAP_CHARS = 32  # characters a line of the card's title (fits 1280 px at the card's font size)
TITLE_LINES = 4

THUMB_SIZE = (480, 270)  # pixels: the catalog thumbnail's box (as the catalog page shows it)
SLIDE_FRAME_BOX = (960, 540)  # the frames kept a second for slide detection: slide images, read by OCR
SLIDE_GREY_SIZE = (128, 72)  # the grey copy slide changes are measured on (tasks/chapters/detect.py)
SLIDE_GREY_RATE = 2.0
SLIDES_OUT = "slide-scan"  # out_dir/slide-scan: what make_video kept for chapters (grey.raw, frames/)
JPEG_QUALITY = 3  # mjpeg -q:v, 2 (best) .. 31


# --- pure: what the decode makes --------------------------------------------------------------------


def display_size(probe: Probe) -> tuple[int, int]:
    """The picture's size as a player shows it (rotation applied); the card's for audio-only recordings."""
    if probe.video is None:
        return CARD_WIDTH, CARD_HEIGHT
    return probe.video.display_width, probe.video.display_height


def plan_slide_scan(width: int, height: int) -> hls.SlideScan:
    """What the decode keeps of the picture for slide-change detection and slide images."""
    frame_width, frame_height = fit_size(width, height, *SLIDE_FRAME_BOX)
    return hls.SlideScan(*SLIDE_GREY_SIZE, SLIDE_GREY_RATE, frame_width, frame_height)


def plan_ladder_job(
    probe: Probe,
    preset: LadderPreset = DEFAULT_LADDER,
    title_file: Path | None = None,
    audio_filter: str | None = None,
    slides: bool = True,
) -> hls.LadderJob:
    """What the single decode makes for this recording: the rungs, and thumbnails and poster candidates from the
    same pass (a still title card for audio-only recordings gets one rung and no thumbnails). `audio_filter`: what
    listeners hear (levelling and loudness, `tasks.media.audio.listening_filter`), None to keep the sound as it is."""
    audio = probe.main_audio
    audio_options: dict[str, Any] = {}
    if audio is not None:
        audio_options = {
            "audio_input": f"0:{audio.index}", "audio_channels": audio_channels(audio), "audio_filter": audio_filter
        }
    if probe.video is None:
        top = plan_ladder(CARD_WIDTH, CARD_HEIGHT, CARD_FPS, preset)[0]
        card = f"color=c={CARD_COLOR}:s={top.width}x{top.height}:r={CARD_FPS}:d={_card_duration(probe.duration_s)}"
        return hls.LadderJob(
            source=probe.source.path,
            source_format=probe.format_name,
            duration_s=probe.duration_s,
            rungs=(top,),
            video_input="1:0",
            card=card,
            card_text=title_file,
            poster_every_s=max(probe.duration_s, 1.0),  # the card is still: one candidate is enough
            preset=preset,
            cut=probe.cut,
            **audio_options,
        )
    width, height = display_size(probe)
    return hls.LadderJob(
        source=probe.source.path,
        source_format=probe.format_name,
        duration_s=probe.duration_s,
        rungs=plan_ladder(width, height, probe.video.fps, preset),
        video_input=f"0:{probe.video.index}",
        deinterlace=probe.video.interlaced,
        video_duration_s=probe.video.duration_s,
        sprite=thumbnails.plan_sprite(probe.duration_s, width, height),
        poster_every_s=thumbnails.poster_interval(probe.duration_s),
        preset=preset,
        cut=probe.cut,
        slide_scan=plan_slide_scan(width, height) if slides else None,
        **audio_options,
    )


def wrap_title(title: str, width: int = TITLE_WRAP_CHARS) -> str:
    """The title on lines short enough for the card (at most TITLE_LINES); whitespace runs become single spaces."""
    return wrap_lines(title, width, TITLE_LINES)


def _card_duration(duration_s: float) -> str:
    """The card's length: the audio's, up to the next whole frame (-shortest alone overshoots)."""
    return f"{math.ceil(round(duration_s * CARD_FPS, 6)) / CARD_FPS:.3f}"


def build_thumb_args(poster: Path, width: int, height: int, output: Path) -> list[str]:
    """ffmpeg arguments scaling the chosen poster (a JPEG, not the recording) to the catalog thumbnail."""
    jpeg = {"frames:v": 1, "q:v": JPEG_QUALITY, "update": 1, "f": "image2", "c:v": "mjpeg"}
    return ffmpeg.compile_args(poster, output, filters=[("scale", width, height), ("setsar", 1)], **jpeg)


def build_remux_args(fragmented: Path, output: Path) -> list[str]:
    """ffmpeg arguments remuxing a rendition's init + segments into a faststart MP4 (no encode)."""
    return ffmpeg.compile_args(fragmented, output, c="copy", movflags="+faststart", map_metadata=-1, f="mp4")


# --- runners ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoOutputs:
    """What `make_video` made; `tasks.media.outputs.media_record` turns it into the `Media` that travels through a
    run."""

    ladder: HlsLadder
    mp4: Rendition
    poster: Path
    thumb: Path
    thumbnails: Thumbnails | None
    slides: SlideFrames | None = None  # kept for chapters from slide changes (None: no picture, or not asked)


def make_video(
    probe: Probe,
    out_dir: Path,
    on_progress: Callable[[float], None] | None = None,
    preset: LadderPreset = DEFAULT_LADDER,
    title: str | None = None,
    audio_filter: str | None = None,
    slides: bool = True,
    threads: int | None = None,
) -> VideoOutputs:
    """The whole picture side in one decode: out_dir/hls (ladder + master), video/<height>p.mp4 (the top rung
    remuxed), poster.jpg, thumb.jpg and thumbnails/ (sprite.jpg + thumbnails.vtt); every output checked.

    An audio-only recording gets a still card with the title (when given) as its picture. ``threads``: ffmpeg's
    share of the cores (config/threads.py); None lets ffmpeg size its threads itself."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    name = probe.source.filename
    work = Path(tempfile.mkdtemp(prefix=".ladder.partial.", dir=out_dir))
    try:
        title_file = None
        if probe.video is None and title and title.strip():
            title_file = work / "title.txt"
            title_file.write_text(wrap_title(title), encoding="utf-8")
        job = dataclasses.replace(plan_ladder_job(probe, preset, title_file, audio_filter, slides), threads=threads)
        (work / "candidates").mkdir()
        (work / "thumbs").mkdir()
        if job.slide_scan is not None:
            (work / hls.SLIDES_DIR / "frames").mkdir(parents=True)
        report = _Reporter(on_progress)
        ffmpeg.run_with_progress(
            hls.build_ladder_args(job, work), probe.duration_s, report, f"transcoding {name} to HLS"
        )
        ladder = check_ladder(job, work / "hls", name)
        mp4 = _remux_top_rung(ladder, work / "top.mp4", probe, name)
        poster = _pick_poster(job, work, name)
        thumb = ffmpeg.make(build_thumb_args(poster, *fit_size(*hls.poster_size(job), *THUMB_SIZE), work / "thumb.jpg"),
                            work / "thumb.jpg", f"making the catalog thumbnail of {name}")  # fmt: skip
        count = _make_sprite(job, work, probe.duration_s, name)
        # Everything is checked: move it into place.
        final_hls = _replace(work / "hls", out_dir / "hls")
        (final_hls / hls.FFMPEG_MASTER).unlink()  # ffmpeg's own master: replaced by master.m3u8
        ladder = ladder.model_copy(update={"root": final_hls})
        top = ladder.variants[0]
        mp4_path = out_dir / "video" / f"{top.height}p.mp4"
        mp4_path.parent.mkdir(exist_ok=True)
        os.replace(mp4, mp4_path)
        mp4_rendition = Rendition(
            width=top.width, height=top.height, path=mp4_path, bytes=mp4_path.stat().st_size, bandwidth=top.bandwidth
        )
        os.replace(poster, out_dir / "poster.jpg")
        os.replace(thumb, out_dir / "thumb.jpg")
        track = None
        if job.sprite is not None:
            folder = out_dir / "thumbnails"
            folder.mkdir(exist_ok=True)
            os.replace(work / "sprite.jpg", folder / "sprite.jpg")
            os.replace(work / "thumbnails.vtt", folder / "thumbnails.vtt")
            track = Thumbnails(
                sprite=folder / "sprite.jpg",
                vtt=folder / "thumbnails.vtt",
                interval_s=job.sprite.interval_s,
                count=count,
            )
        slide_frames = _keep_slide_scan(job, work, out_dir / SLIDES_OUT)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(1.0)
    return VideoOutputs(ladder, mp4_rendition, out_dir / "poster.jpg", out_dir / "thumb.jpg", track, slide_frames)


def _keep_slide_scan(job: hls.LadderJob, work: Path, final: Path) -> SlideFrames | None:
    """Move what the decode kept for slide detection into place."""
    scan = job.slide_scan
    if scan is None:
        return None
    folder = _replace(work / hls.SLIDES_DIR, final)
    frames = tuple(sorted(p for p in (folder / "frames").glob("*.jpg") if ffmpeg.non_empty(p)))
    return SlideFrames(
        grey=folder / hls.SLIDE_GREY, width=scan.grey_width, height=scan.grey_height, rate=scan.grey_rate,
        frames=frames,
    )


class _Reporter:
    """Passes progress on in steps of at least 1%, and 1.0 exactly once, at the very end."""

    def __init__(self, on_progress: Callable[[float], None] | None) -> None:
        self.on_progress, self.last = on_progress, -1.0

    def __call__(self, fraction: float) -> None:
        if self.on_progress is not None and (fraction >= self.last + 0.01 or (fraction == 1.0 and self.last < 1.0)):
            self.last = fraction
            self.on_progress(fraction)


def _remux_top_rung(ladder: HlsLadder, output: Path, probe: Probe, name: str) -> Path:
    """The download MP4: the top rung's own segments joined and remuxed with moov first (no second encode)."""
    top = ladder.variants[0]
    fragmented = output.with_name("top.fragmented.mp4")
    with fragmented.open("wb") as joined:
        for relative in top.files:  # the init segment, then the media segments in order
            with (ladder.root / relative).open("rb") as part:
                shutil.copyfileobj(part, joined)
    what = f"making the download MP4 of {name}"
    ffmpeg.make(build_remux_args(fragmented, output), output, what)
    fragmented.unlink()
    check_download(output, top, probe.duration_s, what, has_audio=probe.main_audio is not None)
    return output


def _make_sprite(job: hls.LadderJob, work: Path, duration_s: float, name: str) -> int:
    """Tile the decode's thumbnails into work/sprite.jpg and write work/thumbnails.vtt; returns the cue count."""
    if job.sprite is None:
        return 0
    made = sorted(p for p in (work / "thumbs").glob("*.jpg") if ffmpeg.non_empty(p))
    count = thumbnails.cue_count(job.sprite, len(made), duration_s)
    if count == 0:
        raise TranscodeError(f"making the seek thumbnails of {name}: no frame came out of the decode; report this")
    for extra in made[count:]:
        extra.unlink()
    columns, rows = thumbnails.sprite_grid(count)
    sprite = work / "sprite.jpg"
    ffmpeg.make(hls.build_sprite_args(work / "thumbs", columns, rows, sprite), sprite, f"tiling thumbnails of {name}")
    (work / "thumbnails.vtt").write_text(thumbnails.thumbnails_vtt(job.sprite, count, duration_s), encoding="utf-8")
    return count


def _pick_poster(job: hls.LadderJob, work: Path, name: str) -> Path:
    """The candidate frame with most detail (the title card's for an audio-only recording)."""
    candidates = sorted(p for p in (work / "candidates").glob("*.jpg") if ffmpeg.non_empty(p))
    if not candidates:
        raise TranscodeError(f"making the poster of {name}: no frame came out of the decode; re-export the recording")
    chosen = thumbnails.choose_poster(candidates)
    return chosen.rename(work / "poster.jpg")


def _replace(made: Path, final: Path) -> Path:
    """Put a checked folder in place of the previous run's."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(made, final)
    return final
