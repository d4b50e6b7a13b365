"""Read a recording: its bytes hashed, its streams read with ffprobe (through `tasks.media.ffmpeg`) into a `Probe`.

`probe_recording` refuses what is not a recording (missing, empty, a folder, a text file, a still image, a playlist
or any format that reads other files, no stream, no duration) with a one-line `ProbeError`. Only the demuxers of
self-contained recordings (`tasks.media.ffmpeg.RECORDING_FORMATS`) may read it. The parsing of ffprobe's JSON
(`parse_video`, `stream_rotation`, `refusal`, ...) is pure; `tasks.media.checks` reads the outputs back with
`parse_video` too.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from pathlib import Path
from typing import Any

from confcast.tasks.chapters.marks import recording_chapters, within
from confcast.tasks.errors import ProbeError
from confcast.tasks.media.ffmpeg import RECORDING_FORMATS, FormatRefused, probe_recording_json
from confcast.tasks.models import AudioStream, Probe, SourceFile, VideoStream

HASH_CHUNK_BYTES = 1024 * 1024

# ffmpeg's text "demuxers" read any text file as a video stream: a text file is never a recording.
_TEXT_FORMATS = {"tty", "ansi", "bintext", "xbin", "adf", "idf"}
_TEXT_CODECS = {"ansi", "bintext", "xbin", "idf"}
# Demuxers that open further files or URLs named inside the file (HLS has its own message).
_READS_OTHER_FILES = {"concat", "dash", "imf", "webm_dash_manifest", "sdp", "rtp", "rtsp", "avisynth", "vapoursynth"}
_SELF_CONTAINED = "only self-contained recordings are accepted: export the talk as one MP4, MKV or WAV file"


def probe_recording(path: Path) -> Probe:
    """Read a recording's streams with ffprobe and hash its bytes; ProbeError if it is not usable media."""
    path = Path(path)
    if not path.exists():
        raise ProbeError(f"{path}: file not found; check the path of the recording")
    if path.is_dir():
        raise ProbeError(f"{path}: is a directory, not a recording; give the path of a video or audio file")
    resolved = path.resolve()
    sha256, size = _hash_file(resolved)
    if size == 0:
        raise ProbeError(f"{path}: file is empty (0 bytes); copy the recording again, the transfer may have failed")

    try:
        info = probe_recording_json(resolved, what=str(path))
    except FormatRefused as exc:
        raise ProbeError(refusal(path, exc.format_name)) from exc
    fmt = info.get("format") or {}
    format_name = str(fmt.get("format_name") or "")
    streams = info.get("streams") or []
    if format_name not in RECORDING_FORMATS:  # a second guard: the probe's whitelist already keeps them out
        raise ProbeError(refusal(path, format_name))

    video = parse_video(streams)
    audio = tuple(_parse_audio(s) for s in streams if s.get("codec_type") == "audio")
    if video is None and not audio:
        raise ProbeError(
            f"{path}: no audio or video stream found (format {format_name or 'unknown'}); "
            "give the path of a video or audio recording"
        )
    duration = _parse_duration(fmt, streams)
    if duration is None:
        raise ProbeError(
            f"{path}: has no duration (a still image or a broken recording?); give a video or audio recording"
        )
    return Probe(
        source=SourceFile(path=resolved, filename=printable_name(path), sha256=sha256, bytes=size),
        duration_s=duration,
        format_name=format_name,
        video=video,
        audio=audio,
        chapters=within(recording_chapters(info), duration),
    )


def refusal(path: Path, format_name: str) -> str:
    """Why a file that ffprobe detected as `format_name` (not a recording's format) is refused. Pure."""
    if format_name in _TEXT_FORMATS:
        return f"{path}: is a text file, not a recording; give the path of a video or audio file"
    if format_name == "image2" or format_name.endswith("_pipe"):
        return f"{path}: is a still image, not a recording; give the path of a video or audio file"
    if format_name in ("hls", "applehttp"):
        return f"{path}: is an HLS playlist, not a recording; {_SELF_CONTAINED}"
    if format_name in _READS_OTHER_FILES:
        return f"{path}: the '{format_name}' format can read other files or URLs; {_SELF_CONTAINED}"
    return (
        f"{path}: the '{format_name}' format is not a recording format confcast accepts; "
        "convert the recording to MP4, MKV or WAV first"
    )


def printable_name(path: Path) -> str:
    """The file name as text: bytes that are not UTF-8 (a name from another system) become U+FFFD."""
    return os.fsencode(path.name).decode("utf-8", "replace")


def require_audio(probe: Probe) -> None:
    """ProbeError when the recording has no audio stream: there would be nothing to transcribe."""
    if not probe.audio:
        raise ProbeError(
            f"{probe.source.path} has no audio stream: confcast needs speech to transcribe; "
            "publish a recording with sound, or add the audio track with ffmpeg first"
        )


def _hash_file(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file, read once in chunks."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ProbeError(f"{path}: cannot be read ({exc.strerror or exc}); check its permissions") from exc
    return digest.hexdigest(), size


# --- ffprobe's JSON, parsed (pure) -------------------------------------------------------------------


def parse_video(streams: list[dict[str, Any]]) -> VideoStream | None:
    """The first real video stream: cover art and thumbnails (attached pictures) are not video."""
    for s in streams:
        if s.get("codec_type") != "video":
            continue
        disposition = s.get("disposition") or {}
        if disposition.get("attached_pic") or disposition.get("timed_thumbnails"):
            continue
        if s.get("codec_name") in _TEXT_CODECS:
            continue
        width, height = int(s.get("width") or 0), int(s.get("height") or 0)
        if width <= 0 or height <= 0:
            continue
        return VideoStream(
            index=int(s["index"]),
            codec=str(s.get("codec_name") or "unknown"),
            width=width,
            height=height,
            rotation=stream_rotation(s),
            fps=_parse_rate(s.get("avg_frame_rate")),
            pix_fmt=s.get("pix_fmt"),
            field_order=s.get("field_order"),
            duration_s=_parse_duration({}, [s]),
        )
    return None


def _parse_audio(s: dict[str, Any]) -> AudioStream:
    language = (s.get("tags") or {}).get("language")
    if not language or language.lower() in {"und", "unk", "zxx", "mis"}:
        language = None
    return AudioStream(
        index=int(s["index"]),
        codec=str(s.get("codec_name") or "unknown"),
        channels=int(s.get("channels") or 0),
        sample_rate=int(s.get("sample_rate") or 0),
        language=language,
        default=bool((s.get("disposition") or {}).get("default")),
    )


def _parse_duration(fmt: dict[str, Any], streams: list[dict[str, Any]]) -> float | None:
    """The first positive, finite duration: the container's, then each stream's."""
    candidates = [fmt.get("duration")] + [s.get("duration") for s in streams]
    for value in candidates:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds > 0:
            return seconds
    return None


def _parse_rate(value: Any) -> float | None:
    """'30000/1001' -> 29.97...; '0/0' or missing -> None."""
    if not value or not isinstance(value, str):
        return None
    num, _, den = value.partition("/")
    try:
        rate = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return rate if math.isfinite(rate) and rate > 0 else None


def stream_rotation(stream: dict[str, Any]) -> int:
    """Degrees clockwise a player turns the picture: 0, 90, 180 or 270.

    ffprobe's display-matrix "rotation" is counter-clockwise (av_display_rotation_get); the legacy
    `rotate` tag is clockwise.
    """
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            try:
                return _quarter_turns(-float(side["rotation"]))
            except (TypeError, ValueError):
                pass
        if "displaymatrix" in side:
            ccw = _matrix_rotation(str(side["displaymatrix"]))
            if ccw is not None:
                return _quarter_turns(-ccw)
    tag = (stream.get("tags") or {}).get("rotate")
    if tag is not None:
        try:
            return _quarter_turns(float(tag))
        except (TypeError, ValueError):
            pass
    return 0


def _matrix_rotation(text: str) -> float | None:
    """Counter-clockwise degrees from ffprobe's printed display matrix, as av_display_rotation_get."""
    numbers = [int(n) for n in re.findall(r"(?<=\s)-?\d+", " " + re.sub(r"^\s*\d+:", " ", text, flags=re.M))]
    if len(numbers) < 9:
        return None
    m = numbers[:9]
    scale0, scale1 = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if scale0 == 0 or scale1 == 0:
        return None
    return -math.degrees(math.atan2(m[1] / scale1, m[0] / scale0))


def _quarter_turns(clockwise_degrees: float) -> int:
    return int(round(clockwise_degrees / 90.0)) % 4 * 90
