"""openai-whisper on a CUDA GPU: the packaged base model on real French (FLEURS) and on a one-hour talk.

Run on a GPU host that has torch with CUDA and openai-whisper importable (no confcast install needed):

    python3 scripts/gpu_whisper_measure.py CHECKPOINT.pt fleurs.npz OUT.json

CHECKPOINT is the openai-whisper checkpoint confcast converts from its packaged weights (the work folder's
models/openai-whisper/<digest>.pt); fleurs.npz holds the FLEURS clips as 16 kHz float32 arrays. The hypotheses are
written to OUT.json; word error rates are computed afterwards with confcast's own scorer
(confcast.tasks.bench.whisper.word_error_rate), so that this script needs nothing of the project.
Decoding options are the project's (engine.decode_options): beam 5, temperature fallback, word timestamps.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
import whisper

SAMPLE_RATE = 16_000
OPTIONS = {
    "beam_size": 5,
    "best_of": 5,
    "temperature": (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    "condition_on_previous_text": False,
    "word_timestamps": True,
}
HOUR_S = 3600.0
GAP_S = 1.5  # silence between utterances in the one-hour talk


def one_hour(clips: list[np.ndarray]) -> np.ndarray:
    """The clips one after the other, with short silences, repeated up to an hour."""
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)
    pieces, length, i = [], 0, 0
    while length < HOUR_S * SAMPLE_RATE:
        clip = clips[i % len(clips)]
        pieces += [clip, gap]
        length += len(clip) + len(gap)
        i += 1
    return np.concatenate(pieces)[: int(HOUR_S * SAMPLE_RATE)]


def run(model, audio: np.ndarray, fp16: bool) -> tuple[str, float]:
    torch.cuda.synchronize()
    start = time.perf_counter()
    result = whisper.transcribe(model, audio, language="fr", fp16=fp16, verbose=None, **OPTIONS)
    torch.cuda.synchronize()
    return result["text"], time.perf_counter() - start


def main(checkpoint: str, clips_file: str, out_file: str) -> None:
    clips = dict(np.load(clips_file))
    names = sorted(clips)
    report: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": []}
    for label, fp16, half in (("float16 weights", True, True), ("float32", False, False), ("float16", True, False)):
        model = whisper.load_model(checkpoint, device="cuda")
        if half:  # weights stored in float16, except the layer norms, which whisper computes in float32
            model = model.half()
            for module in model.modules():
                if isinstance(module, torch.nn.LayerNorm):
                    module.float()
        run(model, clips[names[0]], fp16)  # warm-up: CUDA kernels, caches
        texts, wall = {}, 0.0
        for name in names:
            texts[name], seconds = run(model, clips[name], fp16)
            wall += seconds
        row = {"setting": label, "fleurs_wall_s": wall, "texts": texts,
               "fleurs_audio_s": sum(len(clips[n]) for n in names) / SAMPLE_RATE}
        if half:  # the hour once, in the fastest setting (device time is scarce)
            torch.cuda.reset_peak_memory_stats()
            _, row["hour_wall_s"] = run(model, one_hour([clips[n] for n in names]), fp16)
            row["hour_peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        report["rows"].append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "texts"}), flush=True)
        del model
        torch.cuda.empty_cache()
    with open(out_file, "w", encoding="utf-8") as handle:
        json.dump(report, handle, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:4])
