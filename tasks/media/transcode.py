"""Read a recording with ffprobe and make web media with ffmpeg.

This module is the only importer of ffmpeg-python and the only caller of ffprobe and ffmpeg. Pure functions
(`plan_ladder_job`, `build_*_args`, `parse_progress`, `parse_loudnorm`; the ladder command itself is built in
`tasks.hls`) build things and are tested exactly; thin functions (`probe_recording`, `make_video`,
`make_podcast_audio`, `extract_speech`, `make_media`) run ffprobe / ffmpeg and check what they made with ffprobe,
since ffmpeg can exit 0 after decode errors.

Argument lists returned by the builders exclude the program name: run them as ``["ffmpeg", *args]``.
Paths given to ffmpeg are absolute, so a file name can never be read as an option or a protocol.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from confcast.config.ladder import DEFAULT_LADDER, LadderPreset
from confcast.tasks.media import hls
from confcast.tasks.demo import sample
from confcast.tasks.media import thumbnails
from confcast.tasks.errors import ProbeError, TranscodeError, stderr_tail
from confcast.tasks.media.ladder import fit_size, plan_ladder
from confcast.tasks.models import AudioStream, HlsLadder, Media, Probe, Rendition, SourceFile, Thumbnails, VideoStream

# --- constants, with their units --------------------------------------------------------------------

HASH_CHUNK_BYTES = 1024 * 1024
FFPROBE_TIMEOUT_S = 120

AUDIO_CODEC = "aac"
LISTEN_AUDIO_BITRATE = "96k"
SPEECH_SAMPLE_RATE = 16_000  # Hz, what Whisper expects

# Podcast loudness (EBU R128 / AES streaming practice for speech podcasts).
LOUDNESS_TARGET_LUFS = -16.0
TRUE_PEAK_DBTP = -1.5
LOUDNESS_RANGE_LU = 11.0
SILENCE_LUFS = -70.0  # quieter than this is silence: nothing to normalise
PODCAST_SAMPLE_RATE = 48_000  # Hz; loudnorm works at 192 kHz internally, so the rate is set back explicitly

# Audio-only recordings get a plain card so the page still has something to play.
CARD_COLOR = "0x1b1f24"  # dark slate
CARD_WIDTH = 1280
CARD_HEIGHT = 720
CARD_FPS = 5  # a still card needs few frames; keeps long audio-only talks quick to encode
TITLE_WRAP_CHARS = 32  # characters a line of the card's title (fits 1280 px at the card's font size)
TITLE_LINES = 4

THUMB_SIZE = (480, 270)  # pixels: the catalog thumbnail's box (as the catalog page shows it)
JPEG_QUALITY = 3  # mjpeg -q:v, 2 (best) .. 31

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
        source=SourceFile(path=resolved, filename=printable_name(path), sha256=sha256, bytes=size),
        duration_s=duration,
        format_name=format_name,
        video=video,
        audio=audio,
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


def display_size(probe: Probe) -> tuple[int, int]:
    """The picture's size as a player shows it (rotation applied); the card's for audio-only recordings."""
    if probe.video is None:
        return CARD_WIDTH, CARD_HEIGHT
    return probe.video.display_width, probe.video.display_height


def audio_channels(audio: AudioStream) -> int:
    """Channels published: mono stays mono, anything else is stereo (5.1 is downmixed)."""
    return 1 if audio.channels == 1 else 2


def plan_ladder_job(
    probe: Probe, preset: LadderPreset = DEFAULT_LADDER, title_file: Path | None = None
) -> hls.LadderJob:
    """What the single decode makes for this recording: the rungs, and thumbnails and poster candidates from the
    same pass (a still title card for audio-only recordings gets one rung and no thumbnails)."""
    audio = probe.main_audio
    audio_options: dict[str, Any] = {}
    if audio is not None:
        audio_options = {"audio_input": f"0:{audio.index}", "audio_channels": audio_channels(audio)}
    if probe.video is None:
        top = plan_ladder(CARD_WIDTH, CARD_HEIGHT, CARD_FPS, preset)[0]
        card = f"color=c={CARD_COLOR}:s={top.width}x{top.height}:r={CARD_FPS}:d={_card_duration(probe.duration_s)}"
        return hls.LadderJob(
            source=probe.source.path,
            duration_s=probe.duration_s,
            rungs=(top,),
            video_input="1:0",
            card=card,
            card_text=title_file,
            poster_every_s=max(probe.duration_s, 1.0),  # the card is still: one candidate is enough
            preset=preset,
            **audio_options,
        )
    width, height = display_size(probe)
    return hls.LadderJob(
        source=probe.source.path,
        duration_s=probe.duration_s,
        rungs=plan_ladder(width, height, probe.video.fps, preset),
        video_input=f"0:{probe.video.index}",
        deinterlace=probe.video.interlaced,
        video_duration_s=probe.video.duration_s,
        sprite=thumbnails.plan_sprite(probe.duration_s, width, height),
        poster_every_s=thumbnails.poster_interval(probe.duration_s),
        preset=preset,
        **audio_options,
    )


def wrap_title(title: str, width: int = TITLE_WRAP_CHARS) -> str:
    """The title on lines short enough for the card (at most TITLE_LINES); whitespace runs become single spaces."""
    lines = sample.wrap_title(title, width).split("\n")
    if len(lines) > TITLE_LINES:
        lines = lines[:TITLE_LINES]
        lines[-1] = lines[-1][: width - 1] + "…"
    return "\n".join(lines)


def _card_duration(duration_s: float) -> str:
    """The card's length: the audio's, up to the next whole frame (-shortest alone overshoots)."""
    return f"{math.ceil(round(duration_s * CARD_FPS, 6)) / CARD_FPS:.3f}"


def build_thumb_args(poster: Path, width: int, height: int, output: Path) -> list[str]:
    """ffmpeg arguments scaling the chosen poster (a JPEG, not the recording) to the catalog thumbnail."""
    stream = ffmpeg.input(str(poster)).filter("scale", width, height).filter("setsar", 1)
    jpeg = {"frames:v": 1, "q:v": JPEG_QUALITY, "update": 1, "f": "image2", "c:v": "mjpeg"}
    return [*_QUIET, *stream.output(str(output), **jpeg).overwrite_output().get_args()]


def build_remux_args(fragmented: Path, output: Path) -> list[str]:
    """ffmpeg arguments remuxing a rendition's init + segments into a faststart MP4 (no encode)."""
    stream = ffmpeg.input(str(fragmented)).output(
        str(output), c="copy", movflags="+faststart", map_metadata=-1, f="mp4"
    )
    return [*_QUIET, *stream.overwrite_output().get_args()]


def build_speech_args(probe: Probe, output: Path) -> list[str]:
    """ffmpeg arguments for Whisper's input: the main audio track as 16 kHz mono PCM s16le WAV."""
    audio = _main_audio_or_fail(probe)
    source = ffmpeg.input(str(probe.source.path))
    stream = source[str(audio.index)].output(
        str(output), acodec="pcm_s16le", ac=1, ar=SPEECH_SAMPLE_RATE, f="wav", map_metadata=-1
    )
    return [*_QUIET, *stream.overwrite_output().get_args()]


def loudnorm_filter(measured: dict[str, float] | None = None) -> str:
    """EBU R128 loudnorm to -16 LUFS: the measuring pass (None) or the linear pass using its measurements."""
    base = f"loudnorm=I={LOUDNESS_TARGET_LUFS:g}:TP={TRUE_PEAK_DBTP:g}:LRA={LOUDNESS_RANGE_LU:g}"
    if measured is None:
        return base + ":print_format=json"
    return (
        f"{base}:measured_I={measured['input_i']:.2f}:measured_TP={measured['input_tp']:.2f}"
        f":measured_LRA={measured['input_lra']:.2f}:measured_thresh={measured['input_thresh']:.2f}"
        f":offset={measured['target_offset']:.2f}:linear=true:print_format=summary"
    )


def build_loudness_args(probe: Probe) -> list[str]:
    """ffmpeg arguments for the measuring pass: audio only (the picture is not decoded), JSON on stderr."""
    audio = _main_audio_or_fail(probe)
    return [
        "-hide_banner", "-nostdin", "-loglevel", "info", "-nostats",
        "-i", str(probe.source.path), "-map", f"0:{audio.index}", "-vn", "-sn", "-dn",
        "-af", f"{_layout_filter(audio)},{loudnorm_filter()}", "-f", "null", "-",
    ]  # fmt: skip


def build_podcast_args(probe: Probe, output: Path, measured: dict[str, float] | None) -> list[str]:
    """ffmpeg arguments for the podcast track: AAC in M4A (faststart), normalised, mono if the source is mono."""
    audio = _main_audio_or_fail(probe)
    filters = [_layout_filter(audio)] + ([loudnorm_filter(measured)] if measured is not None else [])
    filters.append(f"aresample={PODCAST_SAMPLE_RATE}")
    return [
        *_QUIET, "-y", "-i", str(probe.source.path), "-map", f"0:{audio.index}", "-vn", "-sn", "-dn",
        "-af", ",".join(filters), "-c:a", AUDIO_CODEC, "-b:a", LISTEN_AUDIO_BITRATE,
        "-ac", str(audio_channels(audio)), "-map_metadata", "-1", "-movflags", "+faststart", "-f", "ipod",
        str(output),
    ]  # fmt: skip


def _layout_filter(audio: AudioStream) -> str:
    """Downmix first, so loudness is measured and set on what listeners hear."""
    return f"aformat=channel_layouts={'mono' if audio_channels(audio) == 1 else 'stereo'}"


def parse_loudnorm(stderr: str) -> dict[str, float] | None:
    """loudnorm's measurements from the measuring pass's stderr; None when the audio is silent (or unmeasurable)."""
    match = None
    for match in re.finditer(r"\{[^{}]*\"input_i\"[^{}]*\}", stderr):
        pass
    if match is None:
        return None
    try:
        values = {key: float(value) for key, value in json.loads(match.group(0)).items() if key != "normalization_type"}
    except (ValueError, TypeError):
        return None
    needed = ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")
    if any(key not in values or not math.isfinite(values[key]) for key in needed):
        return None
    if values["input_i"] < SILENCE_LUFS:
        return None
    return values


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


@dataclass(frozen=True)
class VideoOutputs:
    """What `make_video` made; `media_record` turns it into the `Media` that travels through a run."""

    ladder: HlsLadder
    mp4: Rendition
    poster: Path
    thumb: Path
    thumbnails: Thumbnails | None


def make_video(
    probe: Probe,
    out_dir: Path,
    on_progress: Callable[[float], None] | None = None,
    preset: LadderPreset = DEFAULT_LADDER,
    title: str | None = None,
) -> VideoOutputs:
    """The whole picture side in one decode: out_dir/hls (ladder + master), video/<height>p.mp4 (the top rung
    remuxed), poster.jpg, thumb.jpg and thumbnails/ (sprite.jpg + thumbnails.vtt); every output checked.

    An audio-only recording gets a still card with the title (when given) as its picture."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    name = probe.source.filename
    work = Path(tempfile.mkdtemp(prefix=".ladder.partial.", dir=out_dir))
    try:
        title_file = None
        if probe.video is None and title and title.strip():
            title_file = work / "title.txt"
            title_file.write_text(wrap_title(title), encoding="utf-8")
        job = plan_ladder_job(probe, preset, title_file)
        (work / "candidates").mkdir()
        (work / "thumbs").mkdir()
        report = _Reporter(on_progress)
        _run_with_progress(hls.build_ladder_args(job, work), probe.duration_s, report, f"transcoding {name} to HLS")
        ladder = _check_ladder(job, work / "hls", name)
        mp4 = _remux_top_rung(ladder, work / "top.mp4", probe, name)
        poster = _pick_poster(job, work, name)
        thumb = _make(build_thumb_args(poster, *fit_size(*hls.poster_size(job), *THUMB_SIZE), work / "thumb.jpg"),
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
                sprite=folder / "sprite.jpg", vtt=folder / "thumbnails.vtt", interval_s=job.sprite.interval_s, count=count
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(1.0)
    return VideoOutputs(ladder, mp4_rendition, out_dir / "poster.jpg", out_dir / "thumb.jpg", track)


def make_podcast_audio(probe: Probe, output: Path) -> Path:
    """The podcast track: measured with loudnorm, then normalised to -16 LUFS in a second, linear pass (both
    passes read only the audio stream)."""
    what = f"making the podcast audio of {probe.source.filename}"
    returncode, stderr = _run(build_loudness_args(probe))
    if returncode != 0:
        raise TranscodeError(f"{what} failed (ffmpeg exit {returncode}): {stderr_tail(stderr)}; check the recording")
    measured = parse_loudnorm(stderr.decode("utf-8", "replace"))
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(output)
    _make(build_podcast_args(probe, partial, measured), partial, what)
    _check_podcast(partial, audio_channels(_main_audio_or_fail(probe)), probe.duration_s, what)
    os.replace(partial, output)
    return output


def _check_podcast(path: Path, channels: int, duration_s: float, what: str) -> None:
    """ffprobe the podcast track: one AAC stream, the expected channels, the recording's length, moov first."""
    streams = (_ffprobe_json(path, what=str(path)).get("streams")) or []
    made = [(s.get("codec_type"), s.get("codec_name"), s.get("channels")) for s in streams]
    seconds = float(streams[0].get("duration") or 0) if streams else 0.0
    boxes = mp4_boxes(path)
    faststart = "moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat")
    # An audio track may be shorter than the recording's longest stream: only a gross mismatch is an error.
    if made != [("audio", "aac", channels)] or seconds < duration_s * 0.5 or not faststart:
        path.unlink(missing_ok=True)
        raise TranscodeError(
            f"{what} made {made} of {seconds:.1f} s (moov first: {faststart}) instead of AAC with {channels} "
            "channel(s); report this with the recording's ffprobe output"
        )


def extract_speech(probe: Probe, output: Path) -> Path:
    """The main audio track as 16 kHz mono PCM WAV, for Whisper."""
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial_path(output)
    what = f"extracting speech from {probe.source.filename}"
    return _make(build_speech_args(probe, partial), partial, what, final=output)


def make_media(
    probe: Probe,
    out_dir: Path,
    on_progress: Callable[[float], None] | None = None,
    preset: LadderPreset = DEFAULT_LADDER,
    title: str | None = None,
) -> Media:
    """All web media for a recording in out_dir (video side, then podcast audio and speech when there is sound)."""
    out_dir = Path(out_dir)
    video = make_video(probe, out_dir, on_progress, preset, title)
    audio = speech = None
    if probe.main_audio is not None:
        audio = make_podcast_audio(probe, out_dir / "audio.m4a")
        speech = extract_speech(probe, out_dir / "speech.wav")
    return media_record(probe, video, audio, speech)


def media_record(probe: Probe, video: VideoOutputs, audio: Path | None, speech: Path | None) -> Media:
    return Media(
        mp4=(video.mp4,),
        poster=video.poster,
        audio=audio,
        speech=speech,
        hls=video.ladder,
        thumb=video.thumb,
        thumbnails=video.thumbnails,
        audio_track=probe.main_audio,
    )


class _Reporter:
    """Passes progress on in steps of at least 1%, and 1.0 exactly once, at the very end."""

    def __init__(self, on_progress: Callable[[float], None] | None) -> None:
        self.on_progress, self.last = on_progress, -1.0

    def __call__(self, fraction: float) -> None:
        if self.on_progress is not None and (fraction >= self.last + 0.01 or (fraction == 1.0 and self.last < 1.0)):
            self.last = fraction
            self.on_progress(fraction)


def _run_with_progress(args: list[str], duration_s: float, report: Callable[[float], None], what: str) -> None:
    """Run ffmpeg with `-progress pipe:1`, reporting fractions below 1.0; TranscodeError on failure."""
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                ["ffmpeg", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, text=True
            )
        except FileNotFoundError as exc:
            raise TranscodeError(_MISSING_FFMPEG) from exc
        try:
            assert process.stdout is not None
            for line in process.stdout:
                fraction = parse_progress(line, duration_s)
                if fraction is not None:
                    report(min(fraction, 0.99))  # 1.0 once the outputs are checked
            returncode = process.wait()
        finally:
            if process.poll() is None:  # interrupted, e.g. by on_progress raising
                process.kill()
                process.wait()
        errors.seek(0)
        stderr = errors.read()
    if returncode != 0:
        raise TranscodeError(
            f"{what} failed (ffmpeg exit {returncode}): {stderr_tail(stderr) or 'no message'}; "
            "check that the recording plays, or re-export it"
        )


def _check_ladder(job: hls.LadderJob, root: Path, name: str) -> HlsLadder:
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
        _check_stream(root / playlist, rung.width, rung.height, what, has_audio=job.audio_input is not None)
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


DURATION_TOLERANCE_S = 0.5  # seconds an output may differ from the probed duration


def _check_stream(path: Path, width: int, height: int, what: str, *, has_audio: bool) -> dict[str, Any]:
    """ffprobe an output: H.264 High of the expected size, AAC when there is sound; returns ffprobe's JSON."""
    try:
        info = _ffprobe_json(path, what=str(path))
    except ProbeError as exc:
        raise TranscodeError(f"{what} is unreadable ({exc}); report this with the recording's ffprobe output") from exc
    streams = info.get("streams") or []
    video = _parse_video(streams)
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    made = "nothing" if video is None else f"{video.codec} {video.display_width}x{video.display_height}"
    profile = next((s.get("profile") for s in streams if s.get("codec_type") == "video"), None)
    wrong = video is None or video.codec != "h264" or (video.display_width, video.display_height) != (width, height)
    if wrong or profile != "High":
        raise TranscodeError(f"{what} is {made} ({profile}) instead of h264 High {width}x{height}; report this")
    want_audio = ["aac"] if has_audio else []
    if [s.get("codec_name") for s in audio] != want_audio:
        raise TranscodeError(f"{what} has audio {[s.get('codec_name') for s in audio]} instead of {want_audio}; report this")
    return info


def _remux_top_rung(ladder: HlsLadder, output: Path, probe: Probe, name: str) -> Path:
    """The download MP4: the top rung's own segments joined and remuxed with moov first (no second encode)."""
    top = ladder.variants[0]
    fragmented = output.with_name("top.fragmented.mp4")
    with fragmented.open("wb") as joined:
        for relative in top.files:  # the init segment, then the media segments in order
            with (ladder.root / relative).open("rb") as part:
                shutil.copyfileobj(part, joined)
    what = f"making the download MP4 of {name}"
    _make(build_remux_args(fragmented, output), output, what)
    fragmented.unlink()
    info = _check_stream(output, top.width, top.height, what, has_audio=probe.main_audio is not None)
    duration = float((info.get("format") or {}).get("duration") or 0)
    if abs(duration - probe.duration_s) > DURATION_TOLERANCE_S + 2 / top.fps:
        raise TranscodeError(f"{what}: it lasts {duration:.3f} s instead of {probe.duration_s:.3f} s; report this")
    boxes = mp4_boxes(output)
    if "moov" not in boxes or "mdat" not in boxes or boxes.index("moov") > boxes.index("mdat"):
        raise TranscodeError(f"{what}: the index (moov) is not before the media (mdat); report this")
    return output


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


def _make_sprite(job: hls.LadderJob, work: Path, duration_s: float, name: str) -> int:
    """Tile the decode's thumbnails into work/sprite.jpg and write work/thumbnails.vtt; returns the cue count."""
    if job.sprite is None:
        return 0
    made = sorted(p for p in (work / "thumbs").glob("*.jpg") if _non_empty(p))
    count = thumbnails.cue_count(job.sprite, len(made), duration_s)
    if count == 0:
        raise TranscodeError(f"making the seek thumbnails of {name}: no frame came out of the decode; report this")
    for extra in made[count:]:
        extra.unlink()
    columns, rows = thumbnails.sprite_grid(count)
    sprite = work / "sprite.jpg"
    _make(hls.build_sprite_args(work / "thumbs", columns, rows, sprite), sprite, f"tiling thumbnails of {name}")
    (work / "thumbnails.vtt").write_text(thumbnails.thumbnails_vtt(job.sprite, count, duration_s), encoding="utf-8")
    return count


def _pick_poster(job: hls.LadderJob, work: Path, name: str) -> Path:
    """The candidate frame with most detail (the title card's for an audio-only recording)."""
    candidates = sorted(p for p in (work / "candidates").glob("*.jpg") if _non_empty(p))
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


def _make(args: list[str], partial: Path, what: str, final: Path | None = None) -> Path:
    """Run ffmpeg writing `partial`; check it is there; move it to `final` when given."""
    returncode, stderr = _run(args)
    _check_made(partial, returncode, stderr, what)
    if final is None:
        return partial
    os.replace(partial, final)
    return final


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
