"""The reference engine: openai-whisper (PyTorch) on weights converted from the packaged CTranslate2 model.

The only module of confcast that imports ``whisper``. It imports ``torch`` too, to load the checkpoint, to choose the
device ("auto" is CUDA when torch sees one) and to set its CPU threads; the only other module that does is
:mod:`.convert`, which writes the checkpoint. Both libraries are imported inside functions: they cost seconds, paid
only when this engine is asked for. Weights come from :func:`.convert.openai_checkpoint` (converted once, cached by
the source's sha256, alignment heads from config.json), or from an openai-whisper checkpoint already on disk
(``~/.cache/whisper/<name>.pt`` or a ``.pt`` file given as the model). Nothing is downloaded. Decoding options are
:func:`.engine.decode_options`, those of the faster-whisper engine, so at temperature 0 both give the same text.
"""

from __future__ import annotations

import base64
import functools
import gzip
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from confcast.tasks.errors import TranscriptionError
from confcast.tasks.transcription.convert import openai_checkpoint
from confcast.tasks.transcription.engine import (
    DECODING,
    RANDOM_SEED,
    Decoded,
    Decoding,
    RawSegment,
    RawWord,
    decode_options,
    one_line,
    pick_threads,
)
from confcast.tasks.transcription.model_lookup import PACKAGED_MODEL, resolve_model

if TYPE_CHECKING:
    from whisper.model import Whisper

NAME = "openai-whisper"
COMPUTE_TYPES = ("auto", "float32", "float16")


def openai_cache_dir() -> Path:
    """Where openai-whisper keeps downloaded checkpoints (its own rule: $XDG_CACHE_HOME/whisper)."""
    return Path(os.getenv("XDG_CACHE_HOME", Path("~/.cache").expanduser())) / "whisper"


def pick_device(device: str) -> str:
    """ "auto" → "cuda" when torch sees a CUDA device, else "cpu"."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _pick_compute_type(compute_type: str, device: str) -> str:
    if compute_type not in COMPUTE_TYPES:
        raise TranscriptionError(
            f"openai-whisper computes in float32 or float16, not {compute_type!r}; set the compute type to auto, "
            f"float32 or float16 (int8 is for the faster-whisper engine)"
        )
    if compute_type == "auto":
        return "float16" if device == "cuda" else "float32"
    if compute_type == "float16" and device != "cuda":
        raise TranscriptionError("openai-whisper computes in float16 only on CUDA; use float32 or auto on the CPU")
    return compute_type


def resolve_checkpoint(model: str, cache_dir: Path) -> Path:
    """The openai-whisper checkpoint file for ``model``: a ``.pt`` file given as it is, ``<name>.pt`` in
    openai-whisper's cache when there, else the CTranslate2 model (packaged base or a folder) converted once."""
    given = Path(model).expanduser()
    if given.is_file() and given.suffix == ".pt":
        return given
    if model != PACKAGED_MODEL and os.sep not in model:
        cached = openai_cache_dir() / f"{model}.pt"
        if cached.is_file():
            return cached
    try:
        folder = resolve_model(model, cache_dir)
    except TranscriptionError as error:
        raise TranscriptionError(
            f"{error}; for the openai-whisper engine, a checkpoint {model}.pt in {openai_cache_dir()} or a .pt file "
            f"path also works"
        ) from None
    return openai_checkpoint(folder, cache_dir)


def _heads_dump(heads: Sequence[Sequence[int]], layers: int, per_layer: int) -> bytes:
    """Alignment heads in the form Whisper.set_alignment_heads takes (base85 of a gzipped boolean mask)."""
    mask = np.zeros((layers, per_layer), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes()))


@functools.lru_cache(maxsize=2)
def _load(checkpoint: str, device: str, compute_type: str) -> Whisper:
    import torch
    from whisper.model import ModelDimensions, Whisper

    with open(checkpoint, "rb") as fh:
        data = torch.load(fh, map_location="cpu", weights_only=True)
    dims = ModelDimensions(**data["dims"])
    model = Whisper(dims)
    model.load_state_dict(data["model_state_dict"])  # widens float16 weights to the model's float32
    heads = data.get("alignment_heads")
    if heads:  # converted checkpoints carry them; openai-whisper's own name them in whisper._ALIGNMENT_HEADS
        model.set_alignment_heads(_heads_dump(heads, dims.n_text_layer, dims.n_text_head))
    else:
        import whisper

        name = Path(checkpoint).stem
        if name in whisper._ALIGNMENT_HEADS:
            model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
    return model.to(device)


@dataclass(frozen=True)
class OpenAIWhisper:
    model: Whisper
    fp16: bool
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
        import torch
        import whisper

        if decoding.batch_size > 0:
            raise TranscriptionError(
                "batched inference is faster-whisper's alone: decode one window at a time (batch size 0) "
                "with openai-whisper"
            )

        probability = None
        if language is None:
            # As whisper.transcribe does it: on the first 30 s of the log-Mel spectrogram of the whole block.
            mel = whisper.log_mel_spectrogram(samples, self.model.dims.n_mels, padding=whisper.audio.N_SAMPLES)
            segment = whisper.pad_or_trim(mel, whisper.audio.N_FRAMES).to(self.model.device)
            del mel
            with torch.no_grad():
                _, probs = self.model.detect_language(segment.half() if self.fp16 else segment)
            language = max(probs, key=probs.get)
            probability = float(probs[language])
        options = decode_options(temperatures, decoding)
        torch.manual_seed(RANDOM_SEED)
        result = whisper.transcribe(
            self.model, samples, language=language, task=task, fp16=self.fp16, verbose=None,
            initial_prompt=prompt, carry_initial_prompt=prompt is not None,  # in every window, as faster-whisper's
            **options,
        )
        segments = (
            RawSegment(
                float(s["start"]),
                float(s["end"]),
                s["text"],
                tuple(
                    RawWord(float(w["start"]), float(w["end"]), w["word"], float(w["probability"]))
                    for w in s.get("words", ())
                ),
            )
            for s in result["segments"]
        )
        return Decoded(language, probability, segments)


def run_briefly(engine: OpenAIWhisper, samples: np.ndarray) -> None:
    """Decode a few tokens of ``samples``: proof that the model computes on its device (``confcast doctor``)."""
    import whisper

    whisper.transcribe(
        engine.model, samples, language="en", temperature=0.0, sample_len=4, without_timestamps=True,
        fp16=engine.fp16, condition_on_previous_text=False, verbose=None,
    )


def load_engine(model: str, *, cache_dir: Path, device: str, compute_type: str, threads: int) -> OpenAIWhisper:
    """openai-whisper with ``model`` on ``device`` ("auto", "cpu" or "cuda"), loaded once per process."""
    import torch

    device = pick_device(device)
    threads = pick_threads(int(threads))
    compute_type = _pick_compute_type(compute_type, device)
    if device == "cuda" and not torch.cuda.is_available():
        raise TranscriptionError(
            f"openai-whisper cannot use cuda: torch {torch.__version__} sees no CUDA device (a CPU build of torch, "
            f"or no GPU); use device cpu or auto, or install a CUDA build of torch"
        )
    checkpoint = resolve_checkpoint(model, cache_dir)
    if device == "cpu":
        torch.set_num_threads(threads)
    try:
        loaded = _load(str(checkpoint), device, compute_type)
    except (RuntimeError, ValueError, OSError, KeyError, TypeError) as exc:
        raise TranscriptionError(
            f"cannot load openai-whisper model {model!r} from {checkpoint} on {device}: {one_line(exc)}; "
            f"delete that file to convert it again, or choose another device (cpu always works)"
        ) from None
    return OpenAIWhisper(loaded, fp16=compute_type == "float16")
