"""`confcast bench transcribe`: both Whisper engines (and faster-whisper's compute types) on the same audio.

Each variant runs in its own child process, so that its peak memory (the child's own ru_maxrss) and its model
load are its alone. Audio: real French first (the ten FLEURS utterances shipped with the demo, ten native speakers),
the LibriVox clips of the test fixtures joined (English, repeated to a useful length), and a French talk spoken by
espeak-ng (synthetic: its words change from one CPU to the next, so it measures speed more than quality). Then the
fast engine on recordings of 10 and 60 minutes (a minute of speech in every five, quiet room noise between, so that
an hour fits on a small machine; the engine is handed at most two minutes of speech at a time whatever the density)
shows that memory beyond the audio itself stays flat as a recording grows. Word error rates are against the text
that was read or spoken.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from confcast.tasks.bench.talk import FRENCH_SENTENCES, talk_text
from confcast.tasks.demo.sample import join_with_pauses
from confcast.tasks.demo.speech import fleurs_french
from confcast.tasks.transcription.captions import Cue, layout_cues
from confcast.tasks.transcription.engine import SAMPLE_RATE
from confcast.tasks.transcription.model_lookup import packaged_base_dir
from confcast.tasks.transcription.openai_whisper_engine import resolve_checkpoint
from confcast.tasks.transcription.transcribe import load_engine, transcribe_audio

LIBRIVOX = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "librivox"  # tasks/bench/ -> the repository
ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor"}

# (label, engine, compute type)
VARIANTS = (
    ("faster-whisper int8", "faster-whisper", "int8"),
    ("faster-whisper float32", "faster-whisper", "float32"),
    ("openai-whisper fp32", "openai-whisper", "float32"),
)
FAST, REFERENCE = VARIANTS[0][0], VARIANTS[2][0]

ESPEAK_WORDS_PER_MINUTE = 175  # espeak-ng's default speed, used to size the text before measuring the audio


@dataclass(frozen=True)
class Audio:
    name: str
    path: Path
    duration_s: float
    reference: str


@dataclass(frozen=True)
class Measure:
    variant: str
    audio: str
    duration_s: float
    wall_s: float  # transcription only, model already loaded
    load_s: float
    peak_mb: float  # the child's peak resident memory
    audio_mb: float  # the decoded audio itself (float32 samples)
    wer: float
    growth: bool = False  # one of the recordings that show memory as a recording grows
    over_17_cps: float = 0.0  # share of the caption cues read faster than 17 characters a second
    over_20_cps: float = 0.0  # ... faster than 20 (too fast for most readers)

    @property
    def speed(self) -> float:
        """Times faster than real time."""
        return self.duration_s / self.wall_s if self.wall_s > 0 else float("inf")

    @property
    def beyond_audio_mb(self) -> float:
        return self.peak_mb - self.audio_mb


# --- word error rate (pure) -------------------------------------------------------------------------------------


def normalise(text: str) -> list[str]:
    """Lower case, punctuation to spaces (accents kept), a few English abbreviations spelt out."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^\w\s]", " ", text)
    return [ABBREVIATIONS.get(w, w) for w in text.split()]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance over normalised words."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return word_alignment(ref, hyp)[0] / len(ref)


def word_alignment(ref: Sequence[str], hyp: Sequence[str]) -> tuple[int, int]:
    """The edit distance between two word lists and, among the alignments that reach it, the most words matched
    (the reference words the hypothesis got right)."""
    previous = [(j, 0) for j in range(len(hyp) + 1)]  # (errors, hits) of ref[:i] against hyp[:j]
    for i, r in enumerate(ref, start=1):
        current = [(i, 0)]
        for j, h in enumerate(hyp, start=1):
            diagonal = (previous[j - 1][0] + (r != h), previous[j - 1][1] + (r == h))
            deleted = (previous[j][0] + 1, previous[j][1])
            inserted = (current[j - 1][0] + 1, current[j - 1][1])
            current.append(min(diagonal, deleted, inserted, key=lambda cell: (cell[0], -cell[1])))
        previous = current
    return previous[-1]


def reading_speeds(cues: Sequence[Cue]) -> list[float]:
    """Characters a second (spaces and line breaks counted as one character each) that each cue asks of a reader."""
    return [(len("\n".join(cue.lines))) / max(cue.end - cue.start, 1e-3) for cue in cues]


def share_above(values: Sequence[float], limit: float) -> float:
    return sum(value > limit for value in values) / len(values) if values else 0.0


# --- audio -------------------------------------------------------------------------------------------------------


def _run(args: Sequence[str]) -> None:
    result = subprocess.run(list(args), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {result.stderr.strip()[-300:]}")


def _duration(path: Path) -> float:
    with wave.open(str(path)) as fh:
        return fh.getnframes() / fh.getframerate()


def english_audio(folder: Path, repeat: int) -> Audio:
    """The LibriVox clips joined with a second of silence between them, ``repeat`` times over."""
    clips = sorted(LIBRIVOX.glob("*.wav")) * repeat
    if not clips:
        raise RuntimeError(f"no LibriVox clips in {LIBRIVOX}")
    out = folder / "librivox.wav"
    join_with_pauses(clips, out, pause_s=1.0, rate=SAMPLE_RATE)
    reference = " ".join(clip.with_suffix(".txt").read_text(encoding="utf-8").strip() for clip in clips)
    duration = _duration(out)
    return Audio(f"English, LibriVox ×{repeat}, {duration / 60:.1f} min", out, duration, reference)


def fleurs_audio(folder: Path) -> Audio:
    """Real French: the ten FLEURS utterances (ten native speakers) joined with a second of silence between them."""
    utterances = fleurs_french()
    out = folder / "fleurs-fr.wav"
    join_with_pauses([u.audio for u in utterances], out, pause_s=1.0, rate=SAMPLE_RATE)
    duration = _duration(out)
    return Audio(f"French, FLEURS, {len(utterances)} speakers, {duration / 60:.1f} min", out, duration,
                 " ".join(u.text for u in utterances))


def french_talk(folder: Path, minutes: float, name: str) -> Audio:
    """A French talk of about ``minutes`` spoken by espeak-ng, sentences in turn, a pause between paragraphs."""
    text = talk_text(minutes, FRENCH_SENTENCES, wpm=ESPEAK_WORDS_PER_MINUTE)
    raw, out = folder / f"{name}-raw.wav", folder / f"{name}.wav"
    text_file = folder / f"{name}.txt"
    text_file.write_text(text, encoding="utf-8")
    _run(["espeak-ng", "-v", "fr", "-f", str(text_file), "-w", str(raw)])
    _run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(raw), "-ar", "16000", "-ac", "1", str(out)])
    raw.unlink()
    duration = _duration(out)
    return Audio(f"French talk, {duration / 60:.1f} min", out, duration, text)


SPEECH_EVERY_S = 300  # a recording that grows: the speech again every five minutes
ROOM_NOISE = 30  # amplitude of the quiet noise between (16-bit; about -60 dBFS)


def recording_with_pauses(folder: Path, minutes: float, speech: Audio) -> Audio:
    """``minutes`` of recording: ``speech`` every five minutes, quiet room noise between (written piece by piece)."""
    with wave.open(str(speech.path)) as fh:
        spoken = np.frombuffer(fh.readframes(fh.getnframes()), dtype="<i2")
    total = int(minutes * 60 * SAMPLE_RATE)
    every = SPEECH_EVERY_S * SAMPLE_RATE
    rng = np.random.default_rng(0)
    out = folder / f"recording-{minutes:g}min.wav"
    times = 0
    with wave.open(str(out), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(SAMPLE_RATE)
        for start in range(0, total, every):
            length = min(every, total - start)
            piece = np.clip(rng.normal(0, ROOM_NOISE, length), -32768, 32767).astype("<i2")
            said = spoken[: length]
            piece[: said.size] = said
            times += said.size == spoken.size
            fh.writeframes(piece.tobytes())
    reference = " ".join([speech.reference] * times)
    label = f"French, {minutes:g} min, {speech.duration_s / 60:.1f} min of speech every {SPEECH_EVERY_S // 60}"
    return Audio(label, out, total / SAMPLE_RATE, reference)


# --- one variant in a child process ------------------------------------------------------------------------------


def _child(engine: str, compute_type: str, audio: str, cache_dir: str) -> None:
    """Runs in the child: load, transcribe, print one JSON line."""
    start = time.perf_counter()
    load_engine(engine, "base", cache_dir=Path(cache_dir), device="cpu", compute_type=compute_type, threads=0)
    loaded = time.perf_counter()
    transcript = transcribe_audio(
        Path(audio), engine=engine, cache_dir=Path(cache_dir), device="cpu", compute_type=compute_type
    )
    done = time.perf_counter()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    speeds = reading_speeds(layout_cues(transcript.segments))  # the captions this transcript is published with
    print(json.dumps({"load_s": loaded - start, "wall_s": done - loaded, "peak_mb": peak_kb / 1024,
                      "text": transcript.text, "over_17": share_above(speeds, 17.0),
                      "over_20": share_above(speeds, 20.0)}))


def measure(
    label: str, engine: str, compute_type: str, audio: Audio, cache_dir: Path, *, growth: bool = False
) -> Measure:
    result = subprocess.run(
        [sys.executable, "-m", "confcast.tasks.bench.whisper", engine, compute_type, str(audio.path), str(cache_dir)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{label} failed: {result.stderr.strip()[-500:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return Measure(
        variant=label,
        audio=audio.name,
        duration_s=audio.duration_s,
        wall_s=data["wall_s"],
        load_s=data["load_s"],
        peak_mb=data["peak_mb"],
        audio_mb=audio.duration_s * SAMPLE_RATE * 4 / 2**20,
        wer=word_error_rate(audio.reference, data["text"]),
        growth=growth,
        over_17_cps=data["over_17"],
        over_20_cps=data["over_20"],
    )


# --- the table ---------------------------------------------------------------------------------------------------


def _row(m: Measure) -> str:
    return (
        f"| {m.audio} | {m.variant} | {m.duration_s:.0f} | {m.wall_s:.1f} | {m.speed:.1f} | {m.load_s:.1f} | "
        f"{m.peak_mb:.0f} | {m.beyond_audio_mb:.0f} | {m.wer * 100:.1f} | {m.over_17_cps * 100:.0f} | "
        f"{m.over_20_cps * 100:.0f} |"
    )


def table(measures: Sequence[Measure]) -> str:
    """A Markdown table, then the ratios of the fast engine against the reference on each audio."""
    lines = [
        "| audio | variant | audio s | wall s | × real time | load s | peak MB | beyond audio MB | WER % "
        "| cues > 17 cps % | cues > 20 cps % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_row(m) for m in measures]
    lines.append("")
    for audio in dict.fromkeys(m.audio for m in measures):
        by_variant = {m.variant: m for m in measures if m.audio == audio}
        fast, reference = by_variant.get(FAST), by_variant.get(REFERENCE)
        if fast and reference:
            lines.append(
                f"- {audio}: {FAST} is {reference.wall_s / fast.wall_s:.1f}× faster than {REFERENCE} "
                f"(target ≥ 5×), WER {(fast.wer - reference.wer) * 100:+.1f} points (target ≤ +1), "
                f"peak memory {fast.peak_mb / reference.peak_mb:.2f}×"
            )
    growth = [m for m in measures if m.growth]
    if len(growth) >= 2:
        short, long = min(growth, key=lambda m: m.duration_s), max(growth, key=lambda m: m.duration_s)
        lines.append(
            f"- memory as the recording grows ({FAST}): "
            f"{short.duration_s / 60:.1f} min → {short.beyond_audio_mb:.0f} MB beyond the audio, "
            f"{long.duration_s / 60:.1f} min → {long.beyond_audio_mb:.0f} MB "
            f"({long.beyond_audio_mb / short.beyond_audio_mb:.2f}×; the audio itself: {long.audio_mb:.0f} MB)"
        )
    return "\n".join(lines)


def run_bench(
    *,
    english_repeat: int,
    fleurs: bool = True,
    talk_minutes: float,
    growth_minutes: Sequence[float],
    cache_dir: Path,
    echo=print,
) -> list[Measure]:
    """Every variant on real French (FLEURS), the English clips and espeak-ng's French talk (0 skips either), then
    the fast engine on
    recordings of ``growth_minutes`` with a minute of speech in every five."""
    packaged_base_dir(cache_dir)  # assemble and convert once, outside the timings
    resolve_checkpoint("base", cache_dir)
    measures: list[Measure] = []

    def run(label: str, engine: str, compute_type: str, audio: Audio, growth: bool = False) -> None:
        measures.append(measure(label, engine, compute_type, audio, cache_dir, growth=growth))
        echo(f"bench: {_row(measures[-1])}")  # as it goes: a long run still shows what it measured

    with tempfile.TemporaryDirectory(prefix="confcast-bench-") as tmp:
        folder = Path(tmp)
        sets = [fleurs_audio(folder)] if fleurs else []
        sets += [english_audio(folder, english_repeat)] if english_repeat > 0 else []
        sets += [french_talk(folder, talk_minutes, "talk")] if talk_minutes > 0 else []
        for audio in sets:
            for label, engine, compute_type in VARIANTS:
                run(label, engine, compute_type, audio)
        if growth_minutes:
            speech = french_talk(folder, 1.0, "minute")
            for minutes in growth_minutes:
                run(FAST, VARIANTS[0][1], VARIANTS[0][2], recording_with_pauses(folder, minutes, speech), True)
    return measures


if __name__ == "__main__":  # the child process of `measure`
    _child(*sys.argv[1:5])
