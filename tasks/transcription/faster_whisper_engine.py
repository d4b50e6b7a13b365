"""The fast engine: faster-whisper (CTranslate2), int8 on CPU and float16 on CUDA, each model loaded once.

faster-whisper is always installed (it is the default engine), so this module also lends both engines two of its
parts: the audio decoder (PyAV) for a file that is not already 16 kHz mono WAV, and the list of language codes
Whisper knows. faster_whisper and ctranslate2 are imported inside the functions that use them: the import costs a
second, paid only when a transcription is asked for. Library errors become
:class:`~confcast.tasks.errors.TranscriptionError` with a one-line message.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from confcast.tasks.errors import TranscriptionError
from confcast.tasks.transcription.engine import (
    RANDOM_SEED,
    SAMPLE_RATE,
    Decoded,
    RawSegment,
    RawWord,
    decode_options,
    one_line,
    pick_threads,
)
from confcast.tasks.transcription.model_lookup import resolve_model

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

NAME = "faster-whisper"


def pick_device(device: str) -> str:
    """ "auto" → "cuda" when CTranslate2 sees a CUDA device, else "cpu"."""
    if device != "auto":
        return device
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def pick_compute_type(compute_type: str, device: str) -> str:
    """ "auto" → int8 on CPU (fast, same accuracy), float16 on CUDA."""
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


@functools.lru_cache(maxsize=4)
def _load_model(path: str, device: str, compute_type: str, threads: int) -> WhisperModel:
    """One WhisperModel per (folder, device, compute type, threads) for the life of the process."""
    import ctranslate2
    from faster_whisper import WhisperModel

    # CTranslate2 seeds each of its threads' random generators at the thread's first draw, from this seed: the
    # sampling at hot temperatures is then the same run after run (one process each), not call after call.
    ctranslate2.set_random_seed(RANDOM_SEED)
    return WhisperModel(
        path, device=device, compute_type=compute_type, cpu_threads=threads, local_files_only=True
    )


def load_model(
    model: str = "base", *, cache_dir: Path, device: str = "auto", compute_type: str = "auto", threads: int = 0
) -> WhisperModel:
    """The (cached) faster-whisper model for these settings; errors become TranscriptionError."""
    folder = resolve_model(model, cache_dir)
    device = pick_device(device)
    compute_type = pick_compute_type(compute_type, device)
    try:
        return _load_model(str(folder), device, compute_type, pick_threads(int(threads)))
    except (RuntimeError, ValueError, OSError) as exc:
        raise TranscriptionError(
            f"cannot load Whisper model {model!r} from {folder} on {device} ({compute_type}): {one_line(exc)}; "
            f"check the model folder, or choose another device or compute type (cpu with int8 always works)"
        ) from None


@dataclass(frozen=True)
class FasterWhisper:
    model: WhisperModel
    name: str = NAME

    def decode(
        self, samples: np.ndarray, *, language: str | None, task: str, temperatures: Sequence[float]
    ) -> Decoded:
        options = decode_options(temperatures)
        options["temperature"] = list(options["temperature"])
        raw_segments, info = self.model.transcribe(
            samples, language=language, task=task, vad_filter=False, **options  # the VAD ran already
        )
        segments = (
            RawSegment(
                float(s.start),
                float(s.end),
                s.text,
                tuple(RawWord(float(w.start), float(w.end), w.word, float(w.probability)) for w in s.words or ()),
            )
            for s in raw_segments  # lazy: decoding happens while iterating
        )
        probability = None if language is not None else float(info.language_probability)
        return Decoded(info.language, probability, segments)


def load_engine(model: str, *, cache_dir: Path, device: str, compute_type: str, threads: int) -> FasterWhisper:
    """faster-whisper with ``model`` on ``device`` ("auto", "cpu" or "cuda"), loaded once per process."""
    return FasterWhisper(
        load_model(model, cache_dir=cache_dir, device=device, compute_type=compute_type, threads=threads)
    )


# --- lent to both engines ---------------------------------------------------------------------------------------


def language_codes() -> frozenset[str] | None:
    """The language codes Whisper knows (faster-whisper's tokenizer list); None when this version hides it."""
    from faster_whisper import tokenizer

    known = getattr(tokenizer, "_LANGUAGE_CODES", None)
    return None if known is None else frozenset(known)


def decode_audio(path: Path) -> np.ndarray:
    """Any media file's audio as 16 kHz mono float32 samples (PyAV, through faster-whisper). Raises the decoder's
    own errors (PyAV's FFmpegError family, IndexError when there is no audio stream)."""
    from faster_whisper import decode_audio

    return decode_audio(str(path), sampling_rate=SAMPLE_RATE)
