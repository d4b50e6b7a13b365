"""The fast engine: faster-whisper (CTranslate2), int8 on CPU and float16 on CUDA, each model loaded once.

faster-whisper is always installed (it is the default engine), so this module also lends both engines two of its
parts: the audio decoder (PyAV) for a file that is not already 16 kHz mono WAV, and the list of language codes
Whisper knows; and the forced alignment of given text on audio (`align_words`, for reviewed captions). faster_whisper
and ctranslate2 are imported inside the functions that use them: the import costs a
second, paid only when a transcription is asked for. Library errors become
:class:`~confcast.tasks.errors.TranscriptionError` with a one-line message.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from confcast.tasks.errors import TranscriptionError
from confcast.tasks.transcription.engine import (
    DECODING,
    RANDOM_SEED,
    SAMPLE_RATE,
    Decoded,
    Decoding,
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


# CTranslate2 4.8 links the CUDA runtime in, needs no cuDNN, and dlopens cuBLAS by name (libcublas.so.12) when it
# first computes on CUDA; pip's nvidia-cublas-cu12 wheel puts it in site-packages, where the loader never looks.
# Loaded beforehand by path, it is found by its soname: nobody edits LD_LIBRARY_PATH. libcublasLt first: libcublas
# needs it.
CUDA_LIBRARIES = ("nvidia/cublas/lib/libcublasLt.so.12", "nvidia/cublas/lib/libcublas.so.12")


def cuda_library_files(site_dirs: Iterable[str | Path]) -> list[Path]:
    """The CUDA libraries CTranslate2 needs, as the nvidia-* wheels installed them in these site-packages folders,
    in loading order (each from the first folder that has it)."""
    roots = [Path(d) for d in site_dirs if d and Path(d).is_absolute()]
    found = (next((root / name for root in roots if (root / name).is_file()), None) for name in CUDA_LIBRARIES)
    return [path for path in found if path is not None]


@functools.cache
def preload_cuda_libraries() -> dict[Path, str | None]:
    """Load the wheels' CUDA libraries into this process, once (call it only for CUDA); each file → None when loaded,
    else why not."""
    loaded: dict[Path, str | None] = {}
    for path in cuda_library_files(sys.path):
        try:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            loaded[path] = None
        except OSError as exc:
            loaded[path] = one_line(exc)
    return loaded


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
    if device == "cuda":
        preload_cuda_libraries()
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
        self,
        samples: np.ndarray,
        *,
        language: str | None,
        task: str,
        temperatures: Sequence[float],
        prompt: str | None = None,
        decoding: Decoding = DECODING,
    ) -> Decoded:
        options = decode_options(temperatures, decoding)
        options["temperature"] = list(options["temperature"])
        # hotwords: faster-whisper puts them in the prompt of every 30 s window (an initial prompt would steer the
        # first window only, since the previous text is not carried over)
        if decoding.batch_size > 0:
            # The batched pipeline cuts the block (speech only already) into windows of at most 30 s at its pauses,
            # with faster-whisper's own VAD, and decodes them together; it samples at the first temperature only.
            from faster_whisper import BatchedInferencePipeline

            raw_segments, info = BatchedInferencePipeline(self.model).transcribe(
                samples, language=language, task=task, vad_filter=True, hotwords=prompt,
                batch_size=decoding.batch_size, **options,
            )
        else:
            raw_segments, info = self.model.transcribe(
                samples, language=language, task=task, vad_filter=False, hotwords=prompt, **options  # VAD ran already
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


def run_briefly(engine: FasterWhisper, samples: np.ndarray) -> None:
    """Decode a few tokens of ``samples``: proof that the model computes on its device (``confcast doctor``), in a
    fraction of a second where a full decode of silence can loop for the whole window."""
    segments, _ = engine.model.transcribe(
        samples, language="en", beam_size=1, temperature=0.0, max_new_tokens=4, without_timestamps=True
    )
    for _ in segments:  # lazy: the decoding happens here
        pass


# --- forced alignment: given text on given audio ----------------------------------------------------------------

ALIGN_MAX_TOKENS = 440  # Whisper's decoder holds 448 positions, the start sequence included


def align_words(
    model: WhisperModel, samples: np.ndarray, language: str, texts: Sequence[str]
) -> list[tuple[RawWord, ...]]:
    """The words of each text with their times (seconds from the start of ``samples``, at most 30 s of audio) and
    probabilities, found by the cross-attention alignment Whisper's own word timestamps use: CTranslate2's
    ``Whisper.align`` over the given tokens, then a dynamic time warping (faster-whisper's ``find_alignment``).

    Punctuation comes out as words of its own; a text gets no words when the alignment found none. Errors of the
    library become TranscriptionError."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer

    try:
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
        per_text = [tokenizer.encode(" " + " ".join(text.split())) for text in texts]
        tokens = [token for text_tokens in per_text for token in text_tokens]
        if not tokens:
            return [() for _ in texts]
        if len(tokens) > ALIGN_MAX_TOKENS:
            raise ValueError(f"{len(tokens)} tokens of text for one window, more than Whisper's {ALIGN_MAX_TOKENS}")
        features = model.feature_extractor(samples)
        frames = min(features.shape[-1], model.feature_extractor.nb_max_frames)
        encoded = model.encode(pad_or_trim(features[:, :frames]))
        (aligned,) = model.find_alignment(tokenizer, [tokens], encoded, frames)
    except (RuntimeError, ValueError, IndexError, KeyError) as exc:
        raise TranscriptionError(f"forced alignment failed: {one_line(exc)}") from None
    # Each text starts with a space, so a word never straddles two texts: count tokens to give words to texts.
    out: list[list[RawWord]] = [[] for _ in texts]
    ends = list(itertools.accumulate(len(text_tokens) for text_tokens in per_text))
    done, index = 0, 0
    for word in aligned:
        while index < len(ends) - 1 and done >= ends[index]:
            index += 1
        done += len(word["tokens"])
        if word["word"]:
            out[index].append(
                RawWord(float(word["start"]), float(word["end"]), word["word"], float(word["probability"]))
            )
    return [tuple(words) for words in out]


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
