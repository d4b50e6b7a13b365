"""A short, prepared check of Whisper on a CUDA machine (docs/performance.md: "Whisper on a GPU").

It runs where the project's virtual environment is not installed (a lent GPU machine with its own PyTorch): the
packaged base weights arrive split in .gpu/{a,b,c}/mb.*, openai-whisper's pure-Python package in .gpu/c/pylib,
and 16 kHz test audio with reference texts in .gpu/c/audio. It converts the weights with
tasks/transcription/convert.py and times openai-whisper on CUDA (fp16 and fp32) against the same machine's CPU,
with word error rates. faster-whisper's CTranslate2 wheel needs cuBLAS 12 (libcublas.so.12): the check reports
whether it is there.

    python3 scripts/gpu_check.py [--devices cuda,cpu] [--audio english,french]   # prints a Markdown table
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
import types
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / ".gpu"
sys.path[:0] = [str(GPU / "c" / "pylib")]
# Where confcast is not installed, its namespace is mapped onto this checkout as pyproject.toml's package-dir does
# (confcast.tasks is tasks/), so that `from confcast.tasks...` finds the source folders.
if importlib.util.find_spec("confcast") is None:
    sys.modules["confcast"] = types.ModuleType("confcast")
    sys.modules["confcast"].__path__ = [str(ROOT)]


def assemble(model_dir: Path) -> Path:
    model_dir.mkdir(parents=True, exist_ok=True)
    with open(model_dir / "model.bin", "wb") as out:
        # Parts over several calls: each call may copy its part to /tmp/confcast-parts, which outlives the call.
        parts = {p.name: p for p in [*Path("/tmp/confcast-parts").glob("mb.*"), *GPU.glob("*/mb.*")]}
        for _, part in sorted(parts.items()):
            out.write(part.read_bytes())
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (model_dir / name).write_bytes((GPU / "c" / name).read_bytes())
    return model_dir


def read_wav(path: Path):
    import numpy as np

    with wave.open(str(path)) as handle:
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    return data.astype(np.float32) / 32768.0


def words(text: str) -> list[str]:
    text = text.lower().replace("’", "'").replace("-", " ")
    return re.sub(r"[^\w' ]", " ", text).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(1, len(ref))


def load(checkpoint: Path, device: str):
    import base64
    import gzip

    import numpy as np
    import torch
    from whisper.model import ModelDimensions, Whisper

    data = torch.load(checkpoint, map_location="cpu", weights_only=True)
    dims = ModelDimensions(**data["dims"])
    model = Whisper(dims)
    model.load_state_dict(data["model_state_dict"])
    mask = np.zeros((dims.n_text_layer, dims.n_text_head), dtype=bool)
    for layer, head in data["alignment_heads"]:
        mask[layer, head] = True
    model.set_alignment_heads(base64.b85encode(gzip.compress(mask.tobytes())))
    return model.to(device)


def main(devices: list[str], clips: list[str]) -> None:
    import torch
    import whisper

    from confcast.tasks.transcription.convert import openai_checkpoint

    cublas = subprocess.run(["bash", "-c", "ldconfig -p | grep -o 'libcublas.so[.0-9]*' | sort -u"],
                            capture_output=True, text=True).stdout.split()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"GPU: {gpu}; torch {torch.__version__}; cuBLAS found: {', '.join(cublas) or 'none'}")
    print(
        "faster-whisper on CUDA: "
        + ("possible" if "libcublas.so.12" in cublas else "not possible here (CTranslate2 4.8.5 needs libcublas.so.12)")
    )
    started = time.perf_counter()
    checkpoint = openai_checkpoint(assemble(Path("/tmp/confcast-model")), Path("/tmp/confcast-cache"))
    print(f"conversion of the packaged base weights: {time.perf_counter() - started:.1f} s")

    audio = {name: (read_wav(GPU / "c" / "audio" / f"{name}.wav"), (GPU / "c" / "audio" / f"{name}.txt").read_text())
             for name in clips}
    print("\n| engine | device | precision | audio | length (s) | wall (s) | × real time | WER |")
    print("|---|---|---|---|---|---|---|---|")
    variants = [(d, p) for d, p in (("cuda", "float16"), ("cuda", "float32"), ("cpu", "float32")) if d in devices]
    for device, precision in variants:
        model = load(checkpoint, device)
        warm_up = next(iter(audio.values()))[0][: 16000 * 5]  # first CUDA calls compile kernels: not timed
        whisper.transcribe(model, warm_up, language="en", fp16=precision == "float16", temperature=0.0)
        for name, (samples, reference) in audio.items():
            language = "en" if name == "english" else "fr"
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            result = whisper.transcribe(model, samples, language=language, fp16=precision == "float16",
                                        temperature=0.0, word_timestamps=True, condition_on_previous_text=False)
            if device == "cuda":
                torch.cuda.synchronize()
            wall = time.perf_counter() - started
            length = len(samples) / 16000
            print(f"| openai-whisper base | {device} | {precision} | {name} | {length:.0f} | {wall:.2f} | "
                  f"{length / wall:.1f} | {word_error_rate(reference, result['text']):.3f} |", flush=True)
        del model


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="cuda,cpu", help="comma-separated: cuda, cpu")
    parser.add_argument("--audio", default="english,french", help="comma-separated: english, french")
    arguments = parser.parse_args()
    main(arguments.devices.split(","), arguments.audio.split(","))
