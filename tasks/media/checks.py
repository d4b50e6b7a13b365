"""What ffmpeg made, read back before it is used: ffmpeg can exit 0 after decode errors.

Each check reads an output with ffprobe (through `tasks.media.ffmpeg`) or reads its playlists and MP4 box headers,
and raises a one-line `TranscodeError` saying what came out instead of what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from confcast.tasks.errors import ProbeError, TranscodeError
from confcast.tasks.media import hls
from confcast.tasks.media.ffmpeg import probe_json
from confcast.tasks.media.probe import parse_video
from confcast.tasks.models import HlsLadder, HlsVariant

DURATION_TOLERANCE_S = 0.5  # seconds an output may differ from the probed duration


def check_ladder(job: hls.LadderJob, root: Path, name: str) -> HlsLadder:
    """Check every rung (playlist, segments, durations, codec and size by ffprobe) and write the master."""
    try:
        codecs = hls.stream_codecs((root / hls.FFMPEG_MASTER).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TranscodeError(f"transcoding {name} to HLS wrote no master playlist; report this") from exc
    tolerance = DURATION_TOLERANCE_S + 2 / float(job.rungs[0].fps)
    variants = []
    for rung in job.rungs:
        playlist = f"{rung.name}/{hls.VARIANT_PLAYLIST}"
        parsed = hls.check_variant(root, playlist, job.video_duration_s or job.duration_s, tolerance)
        what = f"HLS rendition {rung.name} of {name}"
        check_stream(root / playlist, rung.width, rung.height, what, has_audio=job.audio_input is not None)
        variants.append(
            hls.measure_variant(
                root, rung.name, playlist, parsed, rung.width, rung.height, float(rung.fps), codecs.get(playlist, "")
            )
        )
    missing = [v.name for v in variants if not v.codecs]
    if missing:
        raise TranscodeError(f"ffmpeg's master playlist for {name} gives no CODECS for {', '.join(missing)}")
    ladder = HlsLadder(root=root, variants=tuple(variants))
    (root / hls.MASTER).write_text(hls.render_master(ladder.variants), encoding="utf-8")
    return ladder


def check_stream(path: Path, width: int, height: int, what: str, *, has_audio: bool) -> dict[str, Any]:
    """ffprobe an output: H.264 High of the expected size, AAC when there is sound; returns ffprobe's JSON."""
    try:
        info = probe_json(path, what=str(path))
    except ProbeError as exc:
        raise TranscodeError(f"{what} is unreadable ({exc}); report this with the recording's ffprobe output") from exc
    streams = info.get("streams") or []
    video = parse_video(streams)
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    made = "nothing" if video is None else f"{video.codec} {video.display_width}x{video.display_height}"
    profile = next((s.get("profile") for s in streams if s.get("codec_type") == "video"), None)
    wrong = video is None or video.codec != "h264" or (video.display_width, video.display_height) != (width, height)
    if wrong or profile != "High":
        raise TranscodeError(f"{what} is {made} ({profile}) instead of h264 High {width}x{height}; report this")
    want_audio = ["aac"] if has_audio else []
    made_audio = [s.get("codec_name") for s in audio]
    if made_audio != want_audio:
        raise TranscodeError(f"{what} has audio {made_audio} instead of {want_audio}; report this")
    return info


def check_download(path: Path, top: HlsVariant, duration_s: float, what: str, *, has_audio: bool) -> None:
    """The download MP4: the top rung's picture and sound, the recording's length, the index (moov) first."""
    info = check_stream(path, top.width, top.height, what, has_audio=has_audio)
    duration = float((info.get("format") or {}).get("duration") or 0)
    if abs(duration - duration_s) > DURATION_TOLERANCE_S + 2 / top.fps:
        raise TranscodeError(f"{what}: it lasts {duration:.3f} s instead of {duration_s:.3f} s; report this")
    if not moov_first(path):
        raise TranscodeError(f"{what}: the index (moov) is not before the media (mdat); report this")


def check_podcast(path: Path, channels: int, duration_s: float, what: str) -> None:
    """ffprobe the podcast track: one AAC stream, the expected channels, the recording's length, moov first.
    A wrong track is deleted."""
    streams = (probe_json(path, what=str(path)).get("streams")) or []
    made = [(s.get("codec_type"), s.get("codec_name"), s.get("channels")) for s in streams]
    seconds = float(streams[0].get("duration") or 0) if streams else 0.0
    faststart = moov_first(path)
    # An audio track may be shorter than the recording's longest stream: only a gross mismatch is an error.
    if made != [("audio", "aac", channels)] or seconds < duration_s * 0.5 or not faststart:
        path.unlink(missing_ok=True)
        raise TranscodeError(
            f"{what} made {made} of {seconds:.1f} s (moov first: {faststart}) instead of AAC with {channels} "
            "channel(s); report this with the recording's ffprobe output"
        )


def moov_first(path: Path) -> bool:
    """Whether an MP4's index (moov) comes before its media (mdat): a player can start before the download ends."""
    boxes = mp4_boxes(path)
    return "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")


def mp4_boxes(path: Path) -> list[str]:
    """The types of an MP4's top-level boxes, in file order (reads only the box headers)."""
    boxes = []
    size_total = path.stat().st_size
    with path.open("rb") as handle:
        offset = 0
        while offset + 8 <= size_total:
            handle.seek(offset)
            header = handle.read(16)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(header[8:16], "big")
            elif size == 0:
                size = size_total - offset
            if size < 8:
                break
            boxes.append(kind)
            offset += size
    return boxes
