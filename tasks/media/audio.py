"""The sound of a recording: Whisper's input (16 kHz mono WAV) and the podcast track (AAC, measured then normalised).

Pure builders (`build_speech_args`, `loudnorm_filter`, `build_loudness_args`, `build_podcast_args`,
`parse_loudnorm`, `parse_drives`, `listening_filter`) are tested exactly; `extract_speech` and `make_podcast_audio`
run them through `tasks.media.ffmpeg` and check what came out. Both read only the main audio stream: the picture is
never decoded. The recording is always read through `tasks.media.ffmpeg.recording_input` (its probed demuxer,
files only).
Levelling (quiet voices raised, `tasks.media.levelling`): `extract_speech(level=True)` for Whisper,
`make_listening_audio` for the podcast and the video's audio track (the original mix kept beside).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.errors import TranscodeError, stderr_tail
from confcast.tasks.media import ffmpeg, levelling
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
        cut=probe.cut,
        acodec="pcm_s16le",
        ac=1,
        ar=SPEECH_SAMPLE_RATE,
        f="wav",
        map_metadata=-1,
    )


def build_levelled_speech_args(probe: Probe, output: Path, raw: Path) -> list[str]:
    """ffmpeg arguments for Whisper's input levelled (`tasks.media.levelling`): `output` is the levelled speech,
    `raw` the same 16 kHz mono speech unlevelled, from the same decode (to measure the gain applied)."""
    audio = _main_audio_or_fail(probe)
    wav = ["-c:a", "pcm_s16le", "-ar", str(SPEECH_SAMPLE_RATE), "-ac", "1", "-map_metadata", "-1", "-f", "wav"]
    graph = (
        f"[0:{audio.index}]aformat=channel_layouts=mono,aresample={SPEECH_SAMPLE_RATE},asplit=2[raw][speech];"
        f"[speech]{levelling.SPEECH_LEVELLER}[levelled]"
    )
    return [
        *ffmpeg.QUIET, "-y", *ffmpeg.recording_input(probe.source.path, probe.format_name, probe.cut),
        "-filter_complex", graph, "-map", "[levelled]", *wav, str(output), "-map", "[raw]", *wav, str(raw),
    ]  # fmt: skip


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


def build_loudness_args(probe: Probe, leveller: str | None = None) -> list[str]:
    """ffmpeg arguments for the measuring pass: audio only (the picture is not decoded), figures on stderr. Without
    leveller, loudnorm's measurements (JSON); with one, the integrated loudness after the leveller at each gain of
    `levelling.DRIVES_DB` through the limiter (one ebur128 per gain, named `ebur128@dN`: `parse_drives`)."""
    audio = _main_audio_or_fail(probe)
    head = [
        "-hide_banner", "-nostdin", "-loglevel", "info", "-nostats",
        *ffmpeg.recording_input(probe.source.path, probe.format_name, probe.cut),
    ]  # fmt: skip
    if not leveller:
        chain = ",".join([_layout_filter(audio), loudnorm_filter(None)])
        return [*head, "-map", f"0:{audio.index}", "-vn", "-sn", "-dn", "-af", chain, "-f", "null", "-"]
    drives = levelling.DRIVES_DB
    split = "".join(f"[d{n}]" for n in range(len(drives)))
    graph = f"[0:{audio.index}]{_layout_filter(audio)},{leveller},asplit={len(drives)}{split}" + "".join(
        f";[d{n}]volume={gain:g}dB,{levelling.LIMITER},ebur128@d{n}=framelog=verbose[m{n}]"
        for n, gain in enumerate(drives)
    )
    outputs = [arg for n in range(len(drives)) for arg in ("-map", f"[m{n}]", "-f", "null", "-")]
    return [*head, "-filter_complex", graph, *outputs]


def parse_drives(stderr: str) -> dict[str, float] | None:
    """The levelled measuring pass's figures: {"gain_db": the gain to -16 LUFS through the limiter}; None when the
    sound is silent at every gain tried (nothing to bring up) or ebur128 said nothing readable."""
    found = dict(re.findall(r"\[ebur128@d(\d+) @ [^\]]*\] Summary:\s*Integrated loudness:\s*I:\s*(\S+) LUFS", stderr))
    try:
        tried = [(gain, float(found[str(n)])) for n, gain in enumerate(levelling.DRIVES_DB)]
    except (KeyError, ValueError):
        return None
    if any(not math.isfinite(i) for _, i in tried) or max(i for _, i in tried) <= SILENCE_LUFS:  # ebur128's floor
        return None
    return {"gain_db": levelling.listening_gain(tried, LOUDNESS_TARGET_LUFS)}


def listening_filter(measured: dict[str, float] | None, leveller: str | None = None) -> str:
    """What listeners hear after the channel layout, back to 48 kHz; the podcast and the video's audio track both
    use it. Without leveller: loudnorm with the measuring pass's figures (none: silence, left as it is). With one:
    the leveller, then the measured gain (`parse_drives`) through the limiter (none: silence, levelled only)."""
    if not leveller:
        normalise = [loudnorm_filter(measured)] if measured is not None else []
    else:
        normalise = [f"volume={measured['gain_db']:.2f}dB", levelling.LIMITER] if measured is not None else []
    return ",".join([*([leveller] if leveller else []), *normalise, f"aresample={PODCAST_SAMPLE_RATE}"])


def build_podcast_args(
    probe: Probe, output: Path, measured: dict[str, float] | None, leveller: str | None = None
) -> list[str]:
    """ffmpeg arguments for the podcast track: AAC in M4A (faststart), levelled when asked, normalised, mono if the
    source is mono."""
    audio = _main_audio_or_fail(probe)
    filters = [_layout_filter(audio), listening_filter(measured, leveller)]
    return [
        *ffmpeg.QUIET, "-y", *ffmpeg.recording_input(probe.source.path, probe.format_name, probe.cut),
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


def gain_profile_path(speech: Path) -> Path:
    """Where `extract_speech` keeps the gain the leveller applied, one figure a second (JSON), beside the speech."""
    return speech.with_name(speech.stem + ".gain.json")


def extract_speech(probe: Probe, output: Path, level: bool = False) -> Path:
    """The main audio track as 16 kHz mono PCM WAV, for Whisper; levelled when asked (quiet voices raised), with the
    gain applied kept beside it (`gain_profile_path`). A clip too short to level (`levelling.levels`) is not."""
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = ffmpeg.partial_path(output)
    what = f"extracting speech from {probe.source.filename}"
    if not levelling.levels(level, probe.duration_s):
        gain_profile_path(output).unlink(missing_ok=True)
        return ffmpeg.make(build_speech_args(probe, partial), partial, what, final=output)
    raw = output.with_name(f".{output.stem}.raw.wav")
    try:
        ffmpeg.make(build_levelled_speech_args(probe, partial, raw), partial, what)
        gains = levelling.gain_profile(_wav_samples(raw), _wav_samples(partial), SPEECH_SAMPLE_RATE)
    finally:
        raw.unlink(missing_ok=True)
    profile = [None if math.isnan(g) else float(g) for g in gains]
    gain_profile_path(output).write_text(json.dumps(profile), encoding="utf-8")
    os.replace(partial, output)
    return output


def read_gain_profile(speech: Path) -> list[float | None]:
    """The gain profile `extract_speech` kept (empty when the speech was not levelled or the file is gone)."""
    try:
        values = json.loads(gain_profile_path(speech).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [float(v) if isinstance(v, (int, float)) else None for v in values] if isinstance(values, list) else []


def _wav_samples(path: Path):
    import wave

    import numpy as np

    with wave.open(str(path), "rb") as fh:
        return np.frombuffer(fh.readframes(fh.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def measure_loudness(probe: Probe, leveller: str | None = None) -> dict[str, float] | None:
    """The measuring pass over the audio stream: loudnorm's figures, or with a leveller the gain to -16 LUFS through
    the limiter (`parse_drives`); None for silence."""
    what = f"measuring the loudness of {probe.source.filename}"
    returncode, stderr = ffmpeg.run(build_loudness_args(probe, leveller))
    if returncode != 0:
        raise TranscodeError(f"{what} failed (ffmpeg exit {returncode}): {stderr_tail(stderr)}; check the recording")
    text = stderr.decode("utf-8", "replace")
    return parse_drives(text) if leveller else parse_loudnorm(text)


_MEASURE = object()


def make_podcast_audio(
    probe: Probe, output: Path, leveller: str | None = None, measured: dict[str, float] | None | object = _MEASURE
) -> Path:
    """The podcast track: measured (loudnorm, or after the leveller the gain through the limiter), then normalised to
    -16 LUFS in a second pass (both passes read only the audio stream). `measured`: the measuring pass's figures
    when already taken (`measure_loudness` with the same leveller)."""
    what = f"making the podcast audio of {probe.source.filename}"
    figures = measure_loudness(probe, leveller) if measured is _MEASURE else measured
    output = Path(output).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = ffmpeg.partial_path(output)
    ffmpeg.make(build_podcast_args(probe, partial, figures, leveller), partial, what)  # type: ignore[arg-type]
    check_podcast(partial, audio_channels(_main_audio_or_fail(probe)), probe.duration_s, what)
    os.replace(partial, output)
    return output


@dataclass(frozen=True)
class ListeningAudio:
    """What listeners hear, made before the video: the podcast track, the original mix beside it when levelled, and
    the filter the video's audio track gets (the same levelling and loudness as the podcast)."""

    podcast: Path
    original: Path | None = None  # the mix as recorded (AAC, neither levelled nor normalised): None when off
    video_filter: str | None = None  # for `tasks.media.video.make_video`; None: the video keeps the sound as it is
    levelling: str | None = None  # what was applied (tasks.media.levelling.DESCRIPTION); None: off


@dataclass(frozen=True)
class ListeningPlan:
    """What listeners will hear, decided before anything is encoded: the leveller (None: off) and the gain measured
    after it (`parse_drives`), so that the video (made first) and the podcast get the same sound."""

    leveller: str | None = None
    measured: dict[str, float] | None = None

    @property
    def video_filter(self) -> str | None:
        return listening_filter(self.measured, self.leveller) if self.leveller else None


def plan_listening(probe: Probe, level: bool) -> ListeningPlan:
    """The listening plan; levelled, one audio-only measuring pass (the podcast then needs no other)."""
    leveller = levelling.leveller(level, probe.duration_s)
    return ListeningPlan(leveller, measure_loudness(probe, leveller) if leveller else None)


def make_listening_audio(
    probe: Probe, out_dir: Path, level: bool, plan: ListeningPlan | None = None
) -> ListeningAudio:
    """The podcast track in out_dir/audio.m4a, levelled when asked (with the mix as recorded in
    out_dir/audio-original.m4a, encoded only); one measuring pass (`plan`) serves the podcast and the video."""
    out_dir = Path(out_dir)
    plan = plan if plan is not None else plan_listening(probe, level)
    if plan.leveller is None:
        return ListeningAudio(podcast=make_podcast_audio(probe, out_dir / "audio.m4a"))
    return ListeningAudio(
        podcast=make_podcast_audio(probe, out_dir / "audio.m4a", plan.leveller, plan.measured),
        original=make_podcast_audio(probe, out_dir / "audio-original.m4a", None, None),  # as recorded: one encode
        video_filter=plan.video_filter,
        levelling=levelling.DESCRIPTION,
    )
