"""The sound of a recording: Whisper's input (16 kHz mono WAV) and the podcast track (AAC, two-pass loudnorm).

Pure builders (`build_speech_args`, `loudnorm_filter`, `build_loudness_args`, `build_podcast_args`,
`parse_loudnorm`) are tested exactly; `extract_speech` and `make_podcast_audio` run them through
`tasks.media.ffmpeg` and check what came out. Both read only the main audio stream: the picture is never decoded.
The recording is always read through `tasks.media.ffmpeg.recording_input` (its probed demuxer, files only).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

from confcast.tasks.errors import TranscodeError, stderr_tail
from confcast.tasks.media import ffmpeg
from confcast.tasks.media.checks import check_podcast
from confcast.tasks.media.probe import require_audio
from confcast.tasks.models import AudioStream, Probe

AUDIO_CODEC = "aac"
LISTEN_AUDIO_BITRATE = "96k"
SPEECH_SAMPLE_RATE = 16_000  # Hz, what Whisper expects

# Podcast loudness (EBU R128 / AES streaming practice for speech podcasts).
LOUDNESS_TARGET_LUFS = -16.0
TRUE_PEAK_DBTP = -1.5
LOUDNESS_RANGE_LU = 11.0
SILENCE_LUFS = -70.0  # quieter than this is silence: nothing to normalise
PODCAST_SAMPLE_RATE = 48_000  # Hz; loudnorm works at 192 kHz internally, so the rate is set back explicitly


# --- pure builders ----------------------------------------------------------------------------------


def audio_channels(audio: AudioStream) -> int:
    """Channels published: mono stays mono, anything else is stereo (5.1 is downmixed)."""
    return 1 if audio.channels == 1 else 2


def build_speech_args(probe: Probe, output: Path) -> list[str]:
    """ffmpeg arguments for Whisper's input: the main audio track as 16 kHz mono PCM s16le WAV."""
    audio = _main_audio_or_fail(probe)
    return ffmpeg.compile_args(
        probe.source.path,
        output,
        stream=str(audio.index),
        recording_format=probe.format_name,
        acodec="pcm_s16le",
        ac=1,
        ar=SPEECH_SAMPLE_RATE,
        f="wav",
        map_metadata=-1,
    )


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
        *ffmpeg.recording_input(probe.source.path, probe.format_name), "-map", f"0:{audio.index}", "-vn", "-sn",
        "-dn", "-af", f"{_layout_filter(audio)},{loudnorm_filter()}", "-f", "null", "-",
    ]  # fmt: skip


def build_podcast_args(probe: Probe, output: Path, measured: dict[str, float] | None) -> list[str]:
    """ffmpeg arguments for the podcast track: AAC in M4A (faststart), normalised, mono if the source is mono."""
    audio = _main_audio_or_fail(probe)
    filters = [_layout_filter(audio)] + ([loudnorm_filter(measured)] if measured is not None else [])
    filters.append(f"aresample={PODCAST_SAMPLE_RATE}")
    return [
        *ffmpeg.QUIET, "-y", *ffmpeg.recording_input(probe.source.path, probe.format_name),
        "-map", f"0:{audio.index}", "-vn", "-sn", "-dn",
        "-af", ",".join(filters), "-c:a", AUDIO_CODEC, "-b:a", LISTEN_AUDIO_BITRATE,
        "-ac", str(audio_channels(audio)), "-map_metadata", "-1", "-movflags", "+faststart", "-f", "ipod",
        str(output),
    ]  # fmt: skip


def _layout_filter(audio: AudioStream) -> str:
    """Downmix first, so loudness is measured and set on what listeners hear."""
    return f"aformat=channel_layouts={'mono' if audio_channels(audio) == 1 else 'stereo'}"


def parse_loudnorm(stderr: str) -> dict[str, float] | None:
    """loudnorm's measurements from the measuring pass's stderr; None when the audio is silent (or unmeasurable)."""
    found = re.findall(r"\{[^{}]*\"input_i\"[^{}]*\}", stderr)
    if not found:
        return None
    try:
        values = {key: float(value) for key, value in json.loads(found[-1]).items() if key != "normalization_type"}
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


# --- runners ----------------------------------------------------------------------------------------


def extract_speech(probe: Probe, output: Path) -> Path:
    """The main audio track as 16 kHz mono PCM WAV, for Whisper."""
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = ffmpeg.partial_path(output)
    what = f"extracting speech from {probe.source.filename}"
    return ffmpeg.make(build_speech_args(probe, partial), partial, what, final=output)


def make_podcast_audio(probe: Probe, output: Path) -> Path:
    """The podcast track: measured with loudnorm, then normalised to -16 LUFS in a second, linear pass (both
    passes read only the audio stream)."""
    what = f"making the podcast audio of {probe.source.filename}"
    returncode, stderr = ffmpeg.run(build_loudness_args(probe))
    if returncode != 0:
        raise TranscodeError(f"{what} failed (ffmpeg exit {returncode}): {stderr_tail(stderr)}; check the recording")
    measured = parse_loudnorm(stderr.decode("utf-8", "replace"))
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = ffmpeg.partial_path(output)
    ffmpeg.make(build_podcast_args(probe, partial, measured), partial, what)
    check_podcast(partial, audio_channels(_main_audio_or_fail(probe)), probe.duration_s, what)
    os.replace(partial, output)
    return output
