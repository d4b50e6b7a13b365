"""`confcast bench transcribe`'s decoding rows: how faster-whisper int8 searches, measured on real French.

Each variant changes one thing from the default decoding (tasks/transcription/engine.py's ``Decoding`` and
``TEMPERATURES``, tasks/transcription/vad.py's ``VadSettings``): the beam size, the temperature fallback,
conditioning on the previous text, the VAD's speech threshold, and faster-whisper's ``BatchedInferencePipeline``.
All run on the same audio (the FLEURS utterances, ten native speakers), each in its own child process with the same
threads, in interleaved rounds (every variant once, then every variant again, ...) so that a change in the machine's
load falls on all of them; a row keeps its fastest round. Beside the wall time, the child's CPU time (user + system,
all threads) while it transcribes: on a machine shared with other work it moves far less than the wall time. Times
are given as ratios to the default's (the first row).
"""

from __future__ import annotations

import dataclasses
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.bench.whisper import Audio, _duration, reading_speeds, share_above, word_error_rate
from confcast.tasks.demo.sample import join_with_pauses
from confcast.tasks.demo.speech import fleurs_french
from confcast.tasks.transcription.captions import layout_cues
from confcast.tasks.transcription.engine import SAMPLE_RATE, TEMPERATURES, Decoding
from confcast.tasks.transcription.model_lookup import packaged_base_dir
from confcast.tasks.transcription.transcribe import load_engine, transcribe_audio
from confcast.tasks.transcription.vad import VadSettings

ENGINE, COMPUTE_TYPE = "faster-whisper", "int8"  # the default engine on a CPU


@dataclass(frozen=True)
class DecodingVariant:
    label: str
    decoding: Decoding = Decoding()
    fallback: bool = True  # Whisper's temperature fallback (TEMPERATURES), else one pass at temperature 0
    vad_threshold: float = VadSettings().threshold

    def spec(self) -> dict:
        return {"decoding": dataclasses.asdict(self.decoding), "fallback": self.fallback,
                "vad_threshold": self.vad_threshold}  # fmt: skip


DEFAULT = DecodingVariant("default: beam 5, fallback, no previous text, VAD 0.5")
VARIANTS = (
    DEFAULT,
    DecodingVariant("beam 1 (greedy)", Decoding(beam_size=1, best_of=1)),
    DecodingVariant("beam 2", Decoding(beam_size=2)),
    DecodingVariant("no temperature fallback", fallback=False),
    DecodingVariant("condition on previous text", Decoding(condition_on_previous_text=True)),
    DecodingVariant("VAD threshold 0.35", vad_threshold=0.35),
    DecodingVariant("VAD threshold 0.65", vad_threshold=0.65),
    DecodingVariant("batched ×8 (BatchedInferencePipeline)", Decoding(batch_size=8)),
    DecodingVariant("batched ×8, beam 1", Decoding(beam_size=1, best_of=1, batch_size=8)),
)


@dataclass(frozen=True)
class DecodingMeasure:
    variant: str
    duration_s: float
    wall_s: float  # transcription only, the model already loaded (the fastest round)
    cpu_s: float  # the child's user + system time while it transcribed (the lowest round)
    wer: float
    peak_mb: float
    over_17_cps: float = 0.0
    walls: tuple[float, ...] = ()  # every round's wall time

    @property
    def speed(self) -> float:
        return self.duration_s / self.wall_s if self.wall_s > 0 else float("inf")


def fleurs_clip(folder: Path, count: int | None = None) -> Audio:
    """The first ``count`` FLEURS utterances (all when None) joined with a second of silence between them."""
    utterances = fleurs_french()[:count]
    out = folder / f"fleurs-fr-{len(utterances)}.wav"
    join_with_pauses([u.audio for u in utterances], out, pause_s=1.0, rate=SAMPLE_RATE)
    duration = _duration(out)
    return Audio(f"French, FLEURS, {len(utterances)} speakers, {duration:.0f} s", out, duration,
                 " ".join(u.text for u in utterances))  # fmt: skip


# --- one variant in a child process ------------------------------------------------------------------------------


def _child(audio: str, cache_dir: str, threads: str, spec_json: str) -> None:
    """Runs in the child: load, transcribe with the variant's decoding, print one JSON line."""
    spec = json.loads(spec_json)
    cache = Path(cache_dir)
    load_engine(ENGINE, "base", cache_dir=cache, device="cpu", compute_type=COMPUTE_TYPE, threads=int(threads))
    start, cpu = time.perf_counter(), _cpu_seconds()
    transcript = transcribe_audio(
        Path(audio), engine=ENGINE, cache_dir=cache, device="cpu", compute_type=COMPUTE_TYPE, threads=int(threads),
        language="fr", decoding=Decoding(**spec["decoding"]),
        temperatures=TEMPERATURES if spec["fallback"] else (0.0,),
        vad_options=VadSettings(threshold=spec["vad_threshold"]),
    )  # fmt: skip
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    speeds = reading_speeds(layout_cues(transcript.segments))
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "text": transcript.text, "over_17": share_above(speeds, 17.0),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))  # fmt: skip


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def measure(variant: DecodingVariant, audio: Audio, cache_dir: Path, threads: int) -> DecodingMeasure:
    args = [sys.executable, "-m", "confcast.tasks.bench.decoding", str(audio.path), str(cache_dir), str(threads),
            json.dumps(variant.spec())]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"{variant.label} failed: {result.stderr.strip()[-500:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return DecodingMeasure(
        variant=variant.label, duration_s=audio.duration_s, wall_s=data["wall_s"], cpu_s=data["cpu_s"],
        walls=(data["wall_s"],), wer=word_error_rate(audio.reference, data["text"]), peak_mb=data["peak_mb"],
        over_17_cps=data["over_17"],
    )  # fmt: skip


def run_bench(
    *,
    cache_dir: Path,
    folder: Path,
    threads: int = 0,
    count: int | None = None,
    rounds: int = 2,
    variants: Sequence[DecodingVariant] = VARIANTS,
    echo: Callable[[str], None] = print,
) -> tuple[Audio, list[DecodingMeasure]]:
    """Every variant on the FLEURS clip, in ``rounds`` interleaved rounds; a row a variant (its fastest round)."""
    packaged_base_dir(cache_dir)  # assembled once, outside the timings
    audio = fleurs_clip(folder, count)
    best: dict[str, DecodingMeasure] = {}
    for round_ in range(1, rounds + 1):
        for variant in variants:
            m = measure(variant, audio, cache_dir, threads)
            echo(f"bench: decoding, round {round_}: {format_row(m, best.get(variants[0].label, m))}")
            best[variant.label] = merge(best[variant.label], m) if variant.label in best else m
    return audio, [best[v.label] for v in variants]


def merge(a: DecodingMeasure, b: DecodingMeasure) -> DecodingMeasure:
    """Two rounds of one variant: the faster wall time, the lower CPU time, the worse WER (seeded decoding gives the
    same words each round; a difference would show here)."""
    return dataclasses.replace(
        a, wall_s=min(a.wall_s, b.wall_s), cpu_s=min(a.cpu_s, b.cpu_s), wer=max(a.wer, b.wer),
        walls=a.walls + b.walls, peak_mb=max(a.peak_mb, b.peak_mb),
    )  # fmt: skip


# --- the table ---------------------------------------------------------------------------------------------------

COLUMNS = ("decoding (faster-whisper int8)", "wall s", "× real time", "wall ÷ default", "CPU s", "CPU ÷ default",
           "WER %", "Δ WER points", "cues > 17 cps %", "peak MB", "rounds' wall s")  # fmt: skip


def format_row(m: DecodingMeasure, default: DecodingMeasure) -> str:
    cells = [
        m.variant, f"{m.wall_s:.1f}", f"{m.speed:.1f}", f"{m.wall_s / default.wall_s:.2f}", f"{m.cpu_s:.1f}",
        f"{m.cpu_s / default.cpu_s:.2f}", f"{m.wer * 100:.1f}", f"{(m.wer - default.wer) * 100:+.1f}",
        f"{m.over_17_cps * 100:.0f}", f"{m.peak_mb:.0f}", " / ".join(f"{w:.1f}" for w in m.walls),
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def table(audio: Audio, measures: Sequence[DecodingMeasure], threads: int, machine: str = "") -> str:
    """A Markdown table, a row a variant, the first row the default the ratios are taken against."""
    if not measures:
        return ""
    default = measures[0]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * (len(COLUMNS) - 1)]
    lines += [format_row(m, default) for m in measures]
    lines += [
        "",
        f"- audio: {audio.name}; each variant in its own process, {threads} thread(s), in interleaved rounds in one "
        f"run{'; ' + machine if machine else ''}",
        "- wall s: the fastest round's transcription time (model load excluded); CPU s: the child's user + system "
        "time while it transcribed (least moved by other work on the machine); ÷ default: over the first row's; "
        "rounds' wall s: every round, to show how much the machine's load moved them.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # the child process of `measure`
    _child(*sys.argv[1:5])
