"""Read a recording with ffprobe and make web media with ffmpeg.

This module is the only importer of ffmpeg-python and the only caller of ffprobe. Pure functions
(`scaled_size`, `build_*_args`, `parse_progress`) build things and are tested exactly; thin functions
(`probe_recording`, `transcode_mp4`, `make_poster`, `extract_speech`, `extract_audio`, `make_media`) run
ffprobe / ffmpeg and check what they made, since ffmpeg can exit 0 after decode errors.

Argument lists returned by the builders exclude the program name: run them as ``["ffmpeg", *args]``.
Paths given to ffmpeg are absolute, so a file name can never be read as an option or a protocol.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ffmpeg

from tasks.errors import ProbeError, TranscodeError, stderr_tail
from tasks.models import AudioStream, Media, Probe, Rendition, SourceFile, VideoStream

# --- constants, with their units --------------------------------------------------------------------

HASH_CHUNK_BYTES = 1024 * 1024
FFPROBE_TIMEOUT_S = 120

DEFAULT_MAX_HEIGHT = 720  # pixels: the top rendition's height cap

VIDEO_CODEC = "libx264"
VIDEO_PRESET = "veryfast"
VIDEO_CRF = 23
VIDEO_PROFILE = "high"
VIDEO_PIX_FMT = "yuv420p"
AUDIO_CODEC = "aac"
VIDEO_AUDIO_BITRATE = "128k"
LISTEN_AUDIO_BITRATE = "96k"
SPEECH_SAMPLE_RATE = 16_000  # Hz, what Whisper expects

# Audio-only recordings get a plain card so the page still has something to play.
CARD_COLOR = "0x1b1f24"  # dark slate
CARD_WIDTH = 1280
CARD_HEIGHT = 720
CARD_FPS = 5  # a still card needs few frames; keeps long audio-only talks quick to encode

POSTER_AT = 0.10  # fraction of the duration where the poster frame is taken
POSTER_QUALITY = 3  # mjpeg -q:v, 2 (best) .. 31

# ffmpeg's text "demuxers" read any text file as a video stream: a text file is never a recording.
_TEXT_FORMATS = {"tty", "ansi", "bintext", "xbin", "adf", "idf"}
_TEXT_CODECS = {"ansi", "bintext", "xbin", "idf"}

# Options every ffmpeg run gets: no banner, no reading of stdin, errors only on stderr.
_QUIET = ("-hide_banner", "-nostdin", "-loglevel", "error")
_MISSING_FFMPEG = "ffmpeg is not installed: install the Debian package ffmpeg (apt-get install ffmpeg)"


# --- probing ----------------------------------------------------------------------------------------


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

    info = _ffprobe_json(resolved, what=str(path))
    fmt = info.get("format") or {}
    format_name = str(fmt.get("format_name") or "")
    streams = info.get("streams") or []
    if format_name in _TEXT_FORMATS:
        raise ProbeError(f"{path}: is a text file, not a recording; give the path of a video or audio file")
    if format_name == "image2" or format_name.endswith("_pipe"):
        raise ProbeError(f"{path}: is a still image, not a recording; give the path of a video or audio file")

    video = _parse_video(streams)
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
        source=SourceFile(path=resolved, filename=path.name, sha256=sha256, bytes=size),
        duration_s=duration,
        format_name=format_name,
        video=video,
        audio=audio,
    )


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


def _ffprobe_json(path: Path, what: str) -> dict[str, Any]:
    args = ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)]
    try:
        done = subprocess.run(args, capture_output=True, timeout=FFPROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise ProbeError(_MISSING_FFMPEG.replace("ffmpeg is", "ffprobe is")) from exc
    except subprocess.TimeoutExpired as exc:
        raise ProbeError(f"{what}: ffprobe took over {FFPROBE_TIMEOUT_S} s to read it; check the file") from exc
    if done.returncode != 0:
        raise ProbeError(
            f"{what}: not a media file ffprobe can read ({stderr_tail(done.stderr, 1) or 'no details'}); "
            "give the path of a video or audio recording"
        )
    try:
        return json.loads(done.stdout or b"{}")
    except json.JSONDecodeError as exc:
        raise ProbeError(f"{what}: ffprobe gave unreadable output; check the file and ffprobe") from exc


def _parse_video(streams: list[dict[str, Any]]) -> VideoStream | None:
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


# --- pure builders ----------------------------------------------------------------------------------


def scaled_size(width: int, height: int, max_height: int = DEFAULT_MAX_HEIGHT) -> tuple[int, int]:
    """Output size for a picture: at most max_height tall, same aspect, both even, never upscaled."""
    if width <= 0 or height <= 0 or max_height <= 0:
        raise ValueError(f"sizes must be positive, got {width}x{height} with max_height {max_height}")
    if height > max_height:
        out_w, out_h = width * max_height / height, float(max_height)
    else:
        out_w, out_h = float(width), float(height)
    # Nearest even, but never above the source (an odd source rounds down).
    return _even(out_w, limit=width), _even(out_h, limit=height)


def _even(value: float, limit: int) -> int:
    nearest = int(math.floor(value / 2 + 0.5)) * 2
    return max(2, min(nearest, limit - limit % 2))


def output_size(probe: Probe, max_height: int = DEFAULT_MAX_HEIGHT) -> tuple[int, int]:
    """Width and height of the video made for this recording (display orientation; a card if audio only)."""
    if probe.video is None:
        return scaled_size(CARD_WIDTH, CARD_HEIGHT, max_height)
    return scaled_size(probe.video.display_width, probe.video.display_height, max_height)


def build_transcode_args(probe: Probe, output: Path, max_height: int = DEFAULT_MAX_HEIGHT) -> list[str]:
    """ffmpeg arguments for the web MP4: H.264 high / yuv420p, AAC stereo (or mono), faststart, progress.

    ffmpeg's autorotate turns the picture upright before the scale filter, so the size comes from the
    display dimensions. An audio-only recording gets a plain dark card as its picture.
    """
    source = ffmpeg.input(str(probe.source.path))
    width, height = output_size(probe, max_height)
    audio = probe.main_audio
    streams: list[Any] = []
    options: dict[str, Any] = {}

    if probe.video is not None:
        streams.append(source[str(probe.video.index)].filter("scale", width, height).filter("setsar", 1))
    else:
        card = ffmpeg.input(
            f"color=c={CARD_COLOR}:s={width}x{height}:r={CARD_FPS}:d={_card_duration(probe.duration_s)}",
            f="lavfi",
        )
        streams.append(card)
        options.update({"tune": "stillimage", "shortest": None})

    if audio is not None:
        streams.append(source[str(audio.index)])
        options.update({"c:a": AUDIO_CODEC, "b:a": VIDEO_AUDIO_BITRATE})
        if audio.channels > 2:
            options["ac"] = 2

    options.update(
        {
            "c:v": VIDEO_CODEC,
            "preset": VIDEO_PRESET,
            "crf": VIDEO_CRF,
            "profile:v": VIDEO_PROFILE,
            "pix_fmt": VIDEO_PIX_FMT,
            "movflags": "+faststart",
            "map_metadata": -1,
            "map_chapters": -1,
        }
    )
    stream = ffmpeg.output(*streams, str(output), **options)
    return [*_QUIET, "-progress", "pipe:1", "-nostats", *stream.overwrite_output().get_args()]


def _card_duration(duration_s: float) -> str:
    """The card's length: the audio's, up to the next whole frame (-shortest alone overshoots)."""
    return f"{math.ceil(round(duration_s * CARD_FPS, 6)) / CARD_FPS:.3f}"


def build_poster_args(
    probe: Probe, output: Path, max_height: int = DEFAULT_MAX_HEIGHT, at_s: float | None = None
) -> list[str]:
    """ffmpeg arguments for a JPEG poster: one frame at ~10% of the duration (or at at_s), seeking before
    the input, scaled like the video; a dark card when the recording has no picture."""
    width, height = output_size(probe, max_height)
    jpeg = {"frames:v": 1, "q:v": POSTER_QUALITY, "update": 1, "f": "image2", "c:v": "mjpeg"}
    if probe.video is None:
        card = ffmpeg.input(f"color=c={CARD_COLOR}:s={width}x{height}:r=1:d=1", f="lavfi")
        stream = card.output(str(output), **jpeg)
    else:
        seek = round(probe.duration_s * POSTER_AT if at_s is None else at_s, 3)
        source = ffmpeg.input(str(probe.source.path), ss=seek)
        picture = source[str(probe.video.index)].filter("scale", width, height).filter("setsar", 1)
        stream = picture.output(str(output), **jpeg)
    return [*_QUIET, *stream.overwrite_output().get_args()]


def build_speech_args(probe: Probe, output: Path) -> list[str]:
    """ffmpeg arguments for Whisper's input: the main audio track as 16 kHz mono PCM s16le WAV."""
    audio = _main_audio_or_fail(probe)
    source = ffmpeg.input(str(probe.source.path))
    stream = source[str(audio.index)].output(
        str(output), acodec="pcm_s16le", ac=1, ar=SPEECH_SAMPLE_RATE, f="wav", map_metadata=-1
    )
    return [*_QUIET, *stream.overwrite_output().get_args()]


def build_audio_args(probe: Probe, output: Path) -> list[str]:
    """ffmpeg arguments for the listening track: AAC 96k in M4A with faststart, mono if the source is mono."""
    audio = _main_audio_or_fail(probe)
    source = ffmpeg.input(str(probe.source.path))
    stream = source[str(audio.index)].output(
        str(output),
        acodec=AUDIO_CODEC,
        ac=1 if audio.channels == 1 else 2,
        f="ipod",
        map_metadata=-1,
        movflags="+faststart",
        **{"b:a": LISTEN_AUDIO_BITRATE},
    )
    return [*_QUIET, *stream.overwrite_output().get_args()]


def _main_audio_or_fail(probe: Probe) -> AudioStream:
    audio = probe.main_audio
    if audio is None:
        require_audio(probe)
    assert audio is not None
    return audio


def parse_progress(line: str, duration_s: float) -> float | None:
    """Fraction done, in [0, 1], from one line of ffmpeg's `-progress` output; None for other lines."""
    key, sep, value = line.strip().partition("=")
    if not sep:
        return None
    if key == "progress":
        return 1.0 if value.strip() == "end" else None
    if key not in ("out_time_us", "out_time_ms"):  # both are microseconds
        return None
    if duration_s <= 0:
        return None
    try:
        micros = int(value.strip())
    except ValueError:  # "N/A" before the first frame
        return None
    return min(1.0, max(0.0, micros / 1_000_000 / duration_s))


# --- runners ----------------------------------------------------------------------------------------


def transcode_mp4(
    probe: Probe,
    output: Path,
    max_height: int = DEFAULT_MAX_HEIGHT,
    on_progress: Callable[[float], None] | None = None,
) -> Rendition:
    """Encode the web MP4 and check it (H.264, expected size); on_progress gets fractions, ending at 1.0."""
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(output)
    args = build_transcode_args(probe, partial, max_height)
    name = probe.source.filename
    last = -1.0

    def report(fraction: float) -> None:
        nonlocal last
        if on_progress is not None and (fraction >= last + 0.01 or (fraction == 1.0 and last < 1.0)):
            last = fraction
            on_progress(fraction)

    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                ["ffmpeg", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        except FileNotFoundError as exc:
            raise TranscodeError(_MISSING_FFMPEG) from exc
        try:
            assert process.stdout is not None
            for line in process.stdout:
                fraction = parse_progress(line, probe.duration_s)
                if fraction is not None:
                    report(min(fraction, 0.99))  # 1.0 once the output is checked
            returncode = process.wait()
        finally:
            if process.poll() is None:  # interrupted, e.g. by on_progress raising
                process.kill()
                process.wait()
                partial.unlink(missing_ok=True)
        errors.seek(0)
        stderr = errors.read()

    what = f"transcoding {name} to MP4"
    _check_made(partial, returncode, stderr, what)
    width, height = output_size(probe, max_height)
    _check_mp4(partial, width, height, stderr, what)
    os.replace(partial, output)
    report(1.0)
    return Rendition(width=width, height=height, path=output, bytes=output.stat().st_size)


def make_poster(probe: Probe, output: Path, max_height: int = DEFAULT_MAX_HEIGHT) -> Path:
    """A JPEG poster at ~10% of the duration (a dark card for audio only), scaled like the video."""
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(output)
    what = f"making the poster of {probe.source.filename}"
    returncode, stderr = _run(build_poster_args(probe, partial, max_height))
    if probe.video is not None and returncode == 0 and not _non_empty(partial):
        # The probed duration can overshoot the last frame: take the first frame rather than nothing.
        returncode, stderr = _run(build_poster_args(probe, partial, max_height, at_s=0.0))
    _check_made(partial, returncode, stderr, what)
    os.replace(partial, output)
    return output


def extract_speech(probe: Probe, output: Path) -> Path:
    """The main audio track as 16 kHz mono PCM WAV, for Whisper."""
    return _make(build_speech_args, probe, output, f"extracting speech from {probe.source.filename}")


def extract_audio(probe: Probe, output: Path) -> Path:
    """The main audio track as AAC 96k in M4A (faststart), for listening and the podcast feed."""
    return _make(build_audio_args, probe, output, f"extracting audio from {probe.source.filename}")


def make_media(
    probe: Probe,
    out_dir: Path,
    on_progress: Callable[[float], None] | None = None,
    max_height: int = DEFAULT_MAX_HEIGHT,
) -> Media:
    """All web media for a recording in out_dir: video/<height>p.mp4, poster.jpg, audio.m4a, speech.wav."""
    require_audio(probe)
    out_dir = Path(out_dir)
    _, height = output_size(probe, max_height)
    rendition = transcode_mp4(probe, out_dir / "video" / f"{height}p.mp4", max_height, on_progress)
    poster = make_poster(probe, out_dir / "poster.jpg", max_height)
    audio = extract_audio(probe, out_dir / "audio.m4a")
    speech = extract_speech(probe, out_dir / "speech.wav")
    return Media(mp4=(rendition,), poster=poster, audio=audio, speech=speech)


def _make(build: Callable[[Probe, Path], list[str]], probe: Probe, output: Path, what: str) -> Path:
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(output)
    returncode, stderr = _run(build(probe, partial))
    _check_made(partial, returncode, stderr, what)
    os.replace(partial, output)
    return output


def _run(args: list[str]) -> tuple[int, bytes]:
    try:
        done = subprocess.run(["ffmpeg", *args], capture_output=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise TranscodeError(_MISSING_FFMPEG) from exc
    return done.returncode, done.stderr


def _partial_path(output: Path) -> Path:
    """Where ffmpeg writes before the result is checked and moved into place (same folder, same suffix)."""
    return output.with_name(f".{output.stem}.partial{output.suffix}")


def _non_empty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _check_made(partial: Path, returncode: int, stderr: bytes, what: str) -> None:
    if returncode != 0:
        partial.unlink(missing_ok=True)
        raise TranscodeError(
            f"{what} failed (ffmpeg exit {returncode}): {stderr_tail(stderr) or 'no message'}; "
            "check that the recording plays, or re-export it"
        )
    if not _non_empty(partial):
        partial.unlink(missing_ok=True)
        raise TranscodeError(
            f"{what} made an empty file although ffmpeg exited 0: {stderr_tail(stderr) or 'no message'}; "
            "the recording may be damaged, re-export it"
        )


def _check_mp4(path: Path, width: int, height: int, stderr: bytes, what: str) -> None:
    try:
        info = _ffprobe_json(path, what=str(path))
    except ProbeError as exc:
        path.unlink(missing_ok=True)
        raise TranscodeError(f"{what} made an unreadable MP4 ({exc}): {stderr_tail(stderr)}") from exc
    video = _parse_video(info.get("streams") or [])
    made = "nothing" if video is None else f"{video.codec} {video.display_width}x{video.display_height}"
    if video is None or video.codec != "h264" or (video.display_width, video.display_height) != (width, height):
        path.unlink(missing_ok=True)
        raise TranscodeError(
            f"{what} made {made} instead of h264 {width}x{height}: {stderr_tail(stderr) or 'no message'}; "
            "report this with the recording's ffprobe output"
        )
