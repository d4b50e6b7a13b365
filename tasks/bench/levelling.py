"""`confcast bench levelling`: a question from the room, lowered 20-50 dB, before and after levelling.

Real French speech (the FLEURS clips, `tasks.demo.speech`): the speaker, silence and pink noise, a question (two
clips) lowered by so many dB, noise and silence, the speaker again. For each level: the share of the question's words
Whisper transcribed and its WER, and the question's loudness against the speaker's in the published podcast, with
levelling off (today's plain normalisation) and on; the podcast's integrated loudness, range and true peak; words
found in silence and noise. Then the CPU time levelling adds to the media and Whisper work of one talk (the one of
`cost_level`, as a video). Then pumping: music and applause between speech (`make_mixed_talk`), their momentary
loudness as recorded and in the podcast without and with levelling (`run_mixed`). Measures only: never imported by
production code (the tests build their talk with `make_talk`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from confcast.tasks.bench.whisper import word_alignment
from confcast.tasks.demo.speech import fleurs_french
from confcast.tasks.media import audio as media_audio
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.media.video import make_video
from confcast.tasks.models import Transcript
from confcast.tasks.transcription.transcribe import transcribe_audio

LOUD, QUIET, LOUD_AFTER = (0, 2), (3, 4), (5,)  # FLEURS clips: the speaker, the question (18.5 s), the speaker
GAP_S = 3.0  # each gap: silence then pink noise before the question, pink noise then silence after
NOISE = "anoisesrc=a=0.003:c=pink:r=48000"  # about -65 dBFS RMS: room noise as quiet as a question 40 dB down
LEVELS_DB = (20, 30, 40, 50)
# Music and applause for the pumping rows: a chord that changes every 2 s, pulsing twice a second (about -32 LUFS,
# near the speaker), and applause as shaped noise above 400 Hz (about -27 LUFS: a room claps louder than it speaks).
CHORD = "+".join(f"sin(2*PI*{hz}*(1+0.335*mod(floor(t/2),2))*t)" for hz in (220, 277.2, 329.6))
MUSIC = f"aevalsrc='0.03*({CHORD}+0.5*sin(2*PI*110*t))*(0.55+0.45*pow(abs(sin(2*PI*t)),0.5))':s=48000:c=mono"
APPLAUSE = ("aevalsrc='0.06*(2*random(0)-1)*(0.4+0.6*pow(abs(sin(PI*5.3*t)*sin(PI*3.1*t+1)),0.3))'"
            ":s=48000:c=mono,highpass=f=400")
PASSAGE_S = 8.0


@dataclass(frozen=True)
class Talk:
    path: Path
    question: tuple[float, float]  # seconds
    gaps: tuple[tuple[float, float], ...]
    duration: float


def clip_seconds(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return float(out)


class _Concat:
    """A mono 48 kHz WAV made of clips and lavfi sources one after the other, and where each one lies."""

    def __init__(self) -> None:
        self.inputs: list[str] = []
        self.chains: list[str] = []
        self.at = 0.0

    def add(self, source: list[str], chain: str, seconds: float) -> tuple[float, float]:
        n, start = len(self.chains), self.at
        self.inputs.extend(source)
        self.chains.append(f"[{n}:a]{chain}aresample=48000,aformat=sample_fmts=s16:channel_layouts=mono[c{n}]")
        self.at += seconds
        return start, self.at

    def speech(self, indices: tuple[int, ...], lowered: float) -> tuple[float, float]:
        clips = fleurs_french()
        start = self.at
        for i in indices:
            self.add(["-i", str(clips[i].audio)], f"volume={-lowered:g}dB,", clip_seconds(clips[i].audio))
        return start, self.at

    def lavfi(self, source: str, seconds: float) -> tuple[float, float]:
        return self.add(["-f", "lavfi", "-t", f"{seconds:g}", "-i", source], "", seconds)

    def write(self, path: Path) -> Path:
        labels = "".join(f"[c{n}]" for n in range(len(self.chains)))
        graph = ";".join(self.chains) + f";{labels}concat=n={len(self.chains)}:v=0:a=1[out]"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *self.inputs, "-filter_complex", graph,
                        "-map", "[out]", "-c:a", "pcm_s16le", str(path)], check=True, capture_output=True, timeout=300)
        return path


def make_talk(folder: Path, lowered_db: float) -> Talk:
    """The speaker, silence, noise, the question lowered by `lowered_db`, noise, silence, the speaker: a 48 kHz WAV."""
    talk = _Concat()
    talk.speech(LOUD, 0)
    gaps = [talk.lavfi("anullsrc=r=48000:cl=mono", GAP_S), talk.lavfi(f"{NOISE}:s=7", GAP_S)]
    question = talk.speech(QUIET, lowered_db)
    gaps += [talk.lavfi(f"{NOISE}:s=8", GAP_S), talk.lavfi("anullsrc=r=48000:cl=mono", GAP_S)]
    talk.speech(LOUD_AFTER, 0)
    return Talk(talk.write(Path(folder) / f"talk-{lowered_db:g}.wav"), question, tuple(gaps), talk.at)


@dataclass(frozen=True)
class MixedTalk:
    path: Path
    music: tuple[float, float]  # seconds
    applause: tuple[float, float]
    duration: float


def make_mixed_talk(folder: Path) -> MixedTalk:
    """The speaker, music, the speaker, applause, the speaker (real speech at level, `PASSAGE_S` of each sound)."""
    talk = _Concat()
    talk.speech(LOUD, 0)
    music = talk.lavfi(MUSIC, PASSAGE_S)
    talk.speech(QUIET, 0)
    applause = talk.lavfi(APPLAUSE, PASSAGE_S)
    talk.speech(LOUD_AFTER, 0)
    return MixedTalk(talk.write(Path(folder) / "talk-music-applause.wav"), music, applause, talk.at)


VIDEO_SIZE = "1280x720"  # a camera's picture (a three-rung ladder), for the cost rows


def with_picture(talk: Talk, size: str = VIDEO_SIZE) -> Talk:
    """The talk as a video recording (a test pattern at 25 fps, the sound as it is, in Matroska), so that the CPU
    cost of levelling is set against a real ladder encode."""
    path = talk.path.with_suffix(".mkv")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate=25:duration={talk.duration:.3f}", "-i", str(talk.path),
                    "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy",
                    str(path)], check=True, capture_output=True, timeout=600)
    return dataclasses.replace(talk, path=path)


def loudness(path: Path, start: float, end: float) -> tuple[float, float, float]:
    """Integrated loudness (LUFS), loudness range (LU) and true peak (dBTP) of [start, end] of a file's audio."""
    stderr = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:a:0", "-af",
         f"atrim={start}:{end},ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stderr
    summary = stderr[stderr.rfind("Summary:"):]
    found = [re.search(pattern, summary) for pattern in (r"I:\s+(\S+) LUFS", r"LRA:\s+(\S+) LU", r"Peak:\s+(\S+)")]
    if not all(found):
        raise RuntimeError(f"ffmpeg's ebur128 said nothing readable about {path}: {summary[-300:]}")
    i, lra, peak = (float(match.group(1)) for match in found)  # type: ignore[union-attr]
    return i, lra, peak


def momentary(path: Path, start: float, end: float) -> list[float]:
    """Momentary loudness (LUFS, 400 ms windows, every 100 ms) of [start, end] of a file's audio, from ebur128's
    frame log: what pumping would make rise and fall inside a steady sound."""
    stderr = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0", "-af",
         f"atrim={start}:{end},ebur128=framelog=info", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=300,
    ).stderr
    values = [float(m) for m in re.findall(r"\bt:\s*\S+\s+TARGET:\S+ LUFS\s+M:\s*(\S+)", stderr)]
    if not values:
        raise RuntimeError(f"ffmpeg's ebur128 logged no frame of {path}")
    return values[4:]  # from the first full 400 ms window


@dataclass(frozen=True)
class MixedRow:
    sound: str  # "as recorded", "levelling off", "levelling on"
    integrated: float
    lra: float
    true_peak: float
    music_sd: float  # momentary loudness inside the music: SD around its straight trend (LU), what pumping raises
    music_span: float  # and max - min (LU), which a slow drift of the leveller's gain raises too
    applause_sd: float
    applause_span: float


def mixed_row(sound: str, path: Path, talk: MixedTalk) -> MixedRow:
    integrated, lra, peak = loudness(path, 0.0, talk.duration)
    spread: list[float] = []
    for start, end in (talk.music, talk.applause):
        values = np.array(momentary(path, start + 0.5, end - 0.5))  # borders off: the sound alone
        frames = np.arange(values.size)
        wobble = values - np.polyval(np.polyfit(frames, values, 1), frames)  # a slow drift is not pumping
        spread += [float(np.std(wobble)), float(np.max(values) - np.min(values))]
    return MixedRow(sound, integrated, lra, peak, *spread)


def run_mixed(echo: Callable[[str], None]) -> list[MixedRow]:
    """Music and applause between real speech: the recording, the podcast without and with levelling."""
    with tempfile.TemporaryDirectory(prefix="confcast-bench-levelling-") as tmp:
        talk = make_mixed_talk(Path(tmp))
        rows = [mixed_row("as recorded", talk.path, talk)]
        probe = probe_recording(talk.path)
        for levelled in (False, True):
            echo(f"confcast: music and applause, levelling {'on' if levelled else 'off'}")
            podcast = media_audio.make_listening_audio(probe, Path(tmp) / f"mixed-{levelled}", levelled).podcast
            rows.append(mixed_row(f"levelling {'on' if levelled else 'off'}", podcast, talk))
    return rows


def mixed_table(rows: Sequence[MixedRow]) -> str:
    lines = [
        "| music and applause | LUFS | LRA (LU) | true peak (dBTP) | music: wobble SD (LU) | music: max − min (LU) "
        "| applause: wobble SD (LU) | applause: max − min (LU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.sound} | {r.integrated:.1f} | {r.lra:.1f} | {r.true_peak:.1f} | {r.music_sd:.2f} "
            f"| {r.music_span:.1f} | {r.applause_sd:.2f} | {r.applause_span:.1f} |"
        )
    return "\n".join(lines)


def normalise(text: str) -> str:
    text = re.sub(r"[^\w\s]", " ", text.lower().replace("’", "'"))
    return " ".join(text.split())


def words_between(transcript: Transcript, start: float, end: float) -> str:
    return " ".join(w.text for s in transcript.segments for w in s.words if start <= (w.start + w.end) / 2 <= end)


def question_words(transcript: Transcript, talk: Talk) -> tuple[float, float]:
    """The share of the question's reference words transcribed (hits) and the question's WER."""
    reference = normalise(" ".join(fleurs_french()[i].text for i in QUIET))
    heard = normalise(words_between(transcript, talk.question[0] - 0.5, talk.question[1] + 0.5))
    if not heard:
        return 0.0, 1.0
    errors, hits = word_alignment(reference.split(), heard.split())
    return hits / len(reference.split()), errors / len(reference.split())


def gap_words(transcript: Transcript, talk: Talk) -> int:
    return sum(len(words_between(transcript, start + 0.4, end - 0.4).split()) for start, end in talk.gaps)


@dataclass(frozen=True)
class Row:
    lowered_db: float
    levelled: bool
    words_share: float  # of the question's words, transcribed
    wer: float
    gap_words: int  # words found in silence and noise
    question_lu: float  # question minus speaker, in the published podcast
    integrated: float  # LUFS, the podcast
    lra: float
    true_peak: float


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_of(work: Callable[[], object]) -> float:
    """CPU seconds of `work`: this process's threads (Whisper) and the ffmpeg children it ran."""
    own, children = time.process_time(), children_cpu()
    work()
    return time.process_time() - own + children_cpu() - children


def measure_row(talk: Talk, lowered_db: float, levelled: bool, folder: Path, cache_dir: Path,
                costs: dict[str, float] | None = None) -> Row:
    probe = probe_recording(talk.path)
    out = folder / f"{lowered_db:g}-{'on' if levelled else 'off'}"
    made: dict[str, object] = {}
    audio_cpu = cpu_of(lambda: made.update(listening=media_audio.make_listening_audio(probe, out, levelled),
                                           speech=media_audio.extract_speech(probe, out / "speech.wav", levelled)))
    listening: media_audio.ListeningAudio = made["listening"]  # type: ignore[assignment]
    speech: Path = made["speech"]  # type: ignore[assignment]
    whisper_cpu = cpu_of(lambda: made.update(transcript=transcribe_audio(speech, cache_dir=cache_dir, language="fr")))
    transcript: Transcript = made["transcript"]  # type: ignore[assignment]
    if costs is not None:  # the video's audio track goes through the same filter inside the ladder's decode
        costs["video"] = cpu_of(lambda: make_video(probe, out, audio_filter=listening.video_filter))
        costs["audio"], costs["whisper"] = audio_cpu, whisper_cpu
    share, wer = question_words(transcript, talk)
    podcast = listening.podcast
    speaker = loudness(podcast, 0.0, talk.gaps[0][0])[0]
    question = loudness(podcast, talk.question[0] + 1, talk.question[1] - 1)[0]
    integrated, lra, peak = loudness(podcast, 0.0, talk.duration)
    return Row(lowered_db, levelled, share, wer, gap_words(transcript, talk), question - speaker, integrated, lra,
               peak)


def run_bench(levels: Sequence[float], cache_dir: Path, echo: Callable[[str], None],
              cost_level: float = 40, size: str = VIDEO_SIZE) -> tuple[list[Row], dict[str, dict[str, float]]]:
    """Every row, levelling off then on, and the CPU costs of the talk lowered by `cost_level` dB."""
    rows: list[Row] = []
    costs: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="confcast-bench-levelling-") as tmp:
        folder = Path(tmp)
        for lowered in (0, *levels):
            talk = make_talk(folder, lowered)
            if lowered == cost_level:
                talk = with_picture(talk, size)
            for levelled in (False, True):
                echo(f"confcast: question {lowered:g} dB down, levelling {'on' if levelled else 'off'}")
                cost = costs.setdefault("on" if levelled else "off", {}) if lowered == cost_level else None
                rows.append(measure_row(talk, lowered, levelled, folder, cache_dir, cost))
    return rows, costs


def table(rows: Sequence[Row], costs: dict[str, dict[str, float]], size: str = VIDEO_SIZE) -> str:
    lines = [
        "| question lowered | levelling | question words transcribed | question WER | words in silence/noise "
        "| question − speaker (LU) | podcast LUFS | podcast LRA (LU) | true peak (dBTP) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.lowered_db:g} dB | {'on' if r.levelled else 'off'} | {r.words_share:.0%} | {r.wer:.1%} "
            f"| {r.gap_words} | {r.question_lu:+.1f} | {r.integrated:.1f} | {r.lra:.1f} | {r.true_peak:.1f} |"
        )
    if costs.get("on") and costs.get("off"):
        lines += ["", "| CPU seconds | levelling off | levelling on | added |", "|---|---:|---:|---:|"]
        for part in ("audio", "video", "whisper"):
            off, on = costs["off"].get(part, math.nan), costs["on"].get(part, math.nan)
            lines.append(f"| {part} | {off:.1f} | {on:.1f} | {on - off:+.1f} |")
        total_off, total_on = sum(costs["off"].values()), sum(costs["on"].values())
        media_added = sum(costs["on"][p] - costs["off"][p] for p in ("audio", "video"))
        lines.append(f"| all | {total_off:.1f} | {total_on:.1f} | {total_on - total_off:+.1f} |")
        lines += ["", f"Levelling's own cost (the podcast and the video's sound, not Whisper's): {media_added:+.1f} s "
                  f"CPU, {media_added / total_off:.1%} of this talk's work (a {size} test pattern under the sound; "
                  "a larger picture makes the share smaller); Whisper's difference is what it finds to transcribe."]
    return "\n".join(lines)
