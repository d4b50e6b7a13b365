"""What a Whisper engine is to the rest of confcast: the contract every engine module implements.

An engine takes 16 kHz mono speech (one block of at most a few minutes, already cut by the VAD) and gives back
segments with word timestamps, in seconds from the start of that block; :mod:`.transcribe` maps them onto the
recording. Both engines decode with :func:`decode_options`, so that at temperature 0 they give the same text.

An engine module (:mod:`.faster_whisper_engine`, :mod:`.openai_whisper_engine`) imports this one and offers its
``NAME`` and ``load_engine(model, *, cache_dir, device, compute_type, threads) -> Engine``, which resolves device
"auto" and compute type "auto" with its own library; :mod:`.transcribe` picks an engine by name. Plain Python and
numpy only: neither faster_whisper, ctranslate2, torch nor whisper is imported here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16_000  # Hz, what Whisper expects (mono float32 samples in -1..1)
TASKS = ("transcribe", "translate")  # Whisper's translate task always writes English
BEAM_SIZE = 5  # hypotheses kept by the beam search at temperature 0
BEST_OF = 5  # candidates sampled at a temperature above 0
# Sampling temperatures, Whisper's default fallback: 0 is a beam search; when its output looks like a loop (or is
# too unlikely) the window is decoded again at the next temperature, sampling BEST_OF candidates.
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
# The seed of the sampling at temperatures above 0: the same speech and settings give the same transcript on a
# machine, run after run (unseeded, a passage decoded again by the fallback changed words from one run to the next).
RANDOM_SEED = 0


@dataclass(frozen=True)
class Decoding:
    """How Whisper searches, beside the temperatures (chosen on real French by `confcast bench transcribe`'s
    decoding rows; docs/transcription.md says why these defaults)."""

    beam_size: int = BEAM_SIZE
    best_of: int = BEST_OF
    condition_on_previous_text: bool = False  # a mistake does not feed the next window: fewer loops
    batch_size: int = 0  # > 0: faster-whisper's BatchedInferencePipeline, this many 30 s windows at once (no fallback)


DECODING = Decoding()


# --- what an engine gives back (times in seconds from the start of the block it was handed) -----------------


@dataclass(frozen=True)
class RawWord:
    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class RawSegment:
    start: float
    end: float
    text: str
    words: tuple[RawWord, ...]


@dataclass(frozen=True)
class Decoded:
    """An engine's answer for one block: the language (detected when none was given) and its segments, lazily."""

    language: str
    probability: float | None  # None when the language was given
    segments: Iterator[RawSegment]


class Engine(Protocol):
    name: str

    def decode(
        self,
        samples: np.ndarray,
        *,
        language: str | None,
        task: str,
        temperatures: Sequence[float],
        prompt: str | None = None,
        decoding: Decoding = DECODING,
    ) -> Decoded: ...


def decode_options(temperatures: Sequence[float], decoding: Decoding = DECODING) -> dict:
    """The decoding options both engines get, so that they decode the same way (the batch size is faster-whisper's
    alone)."""
    return {
        "beam_size": decoding.beam_size,
        "best_of": decoding.best_of,
        "temperature": tuple(temperatures),
        "condition_on_previous_text": decoding.condition_on_previous_text,
        "word_timestamps": True,
    }


def pick_threads(threads: int) -> int:
    """0 → one thread per CPU core this process may use (CTranslate2's own default, 4, oversubscribes small hosts)."""
    if threads > 0:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def one_line(exc: BaseException) -> str:
    """A library's error as one short line for a TranscriptionError message (no errno prefix, at most 300 chars)."""
    text = re.sub(r"^\[Errno -?\d+\] ", "", " ".join(str(exc).split())) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
