"""CTranslate2 model.bin → openai-whisper checkpoint: the format, the mapping, the cache. Real packaged weights.

That the converted model transcribes like faster-whisper is proven in test_transcribe.py (engines agree).
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from confcast.tasks.errors import TranscriptionError
from confcast.tasks.transcription.convert import _weight, convert_model, dims_of, openai_checkpoint, read_ct2_model
from confcast.tasks.transcription.model_lookup import packaged_base_dir

BASE_DIMS = {
    "n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 512, "n_audio_head": 8, "n_audio_layer": 6,
    "n_vocab": 51865, "n_text_ctx": 448, "n_text_state": 512, "n_text_head": 8, "n_text_layer": 6,
}
BASE_ALIGNMENT_HEADS = [[3, 1], [4, 2], [4, 3], [4, 7], [5, 1], [5, 2], [5, 4], [5, 6]]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def base_dir(cache_dir: Path) -> Path:
    return packaged_base_dir(cache_dir)


@pytest.fixture(scope="module")
def checkpoint(base_dir: Path) -> dict:
    return convert_model(base_dir)


def string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\0"
    return struct.pack("<H", len(raw)) + raw


def variable(name: str, array: np.ndarray, type_id: int) -> bytes:
    data = array.tobytes()
    head = string(name) + struct.pack("<B", array.ndim) + b"".join(struct.pack("<I", d) for d in array.shape)
    return head + struct.pack("<B", type_id) + struct.pack("<I", len(data)) + data


def test_reads_the_binary_format(tmp_path: Path) -> None:
    weight = np.arange(6, dtype=np.float16).reshape(2, 3)
    quantised = np.array([[2, -4], [6, 8]], dtype=np.int8)
    scale = np.array([2.0, 4.0], dtype=np.float32)
    body = struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<I", 3) + struct.pack("<I", 3)
    body += variable("a/weight", weight, 4) + variable("q/weight", quantised, 1) + variable("q/weight_scale", scale, 0)
    body += struct.pack("<I", 1) + string("b/weight") + string("a/weight")
    path = tmp_path / "model.bin"
    path.write_bytes(body)

    model = read_ct2_model(path)
    assert (model.spec, model.revision) == ("WhisperSpec", 3)
    assert model.aliases == {"b/weight": "a/weight"}
    assert model.variables["a/weight"].shape == (2, 3) and model.variables["a/weight"].dtype == "float16"
    np.testing.assert_array_equal(model.variables["a/weight"].array(), weight)
    np.testing.assert_array_equal(model.variables["q/weight"].array(), quantised)

    np.testing.assert_array_equal(_weight(model, "b/weight"), weight)  # through the alias
    np.testing.assert_allclose(_weight(model, "q/weight"), [[1, -2], [1.5, 2]])  # int8 / per-row scale

    path.write_bytes(body[:-7])
    with pytest.raises(ValueError, match="cut short"):
        read_ct2_model(path)
    path.write_bytes(struct.pack("<I", 99) + body[4:])
    with pytest.raises(ValueError, match="binary version 99"):
        read_ct2_model(path)


def test_dims_and_alignment_heads_of_base(checkpoint: dict) -> None:
    assert checkpoint["dims"] == BASE_DIMS
    assert checkpoint["alignment_heads"] == BASE_ALIGNMENT_HEADS


def test_state_dict_matches_openai_whisper(checkpoint: dict) -> None:
    from whisper.model import ModelDimensions, Whisper

    expected = Whisper(ModelDimensions(**checkpoint["dims"])).state_dict()
    state = checkpoint["model_state_dict"]
    assert set(state) == set(expected)
    for name, tensor in state.items():
        assert tuple(tensor.shape) == tuple(expected[name].shape), name
        assert tensor.dtype in (torch.float16, torch.float32), name
        assert torch.isfinite(tensor.float()).all(), name


def test_fused_projections_are_split(base_dir: Path, checkpoint: dict) -> None:
    model = read_ct2_model(base_dir / "model.bin")
    state = checkpoint["model_state_dict"]
    fused = model.variables["decoder/layer_2/self_attention/linear_0/weight"].array()
    parts = [state[f"decoder.blocks.2.attn.{p}.weight"].numpy() for p in ("query", "key", "value")]
    np.testing.assert_array_equal(np.concatenate(parts), fused)
    assert "decoder.blocks.2.attn.key.bias" not in state  # openai-whisper's key has no bias
    zero_bias = model.variables["decoder/layer_2/self_attention/linear_0/bias"].array()[512:1024]
    assert not zero_bias.any()  # ... and CTranslate2 stores zeros there, so nothing is lost
    cross = model.variables["decoder/layer_0/attention/linear_1/weight"].array()
    np.testing.assert_array_equal(state["decoder.blocks.0.cross_attn.key.weight"].numpy(), cross[:512])
    np.testing.assert_array_equal(state["decoder.blocks.0.cross_attn.value.weight"].numpy(), cross[512:])
    np.testing.assert_array_equal(
        state["decoder.token_embedding.weight"].numpy(), model.variables["decoder/embeddings/weight"].array()
    )
    assert dims_of(model) == BASE_DIMS


def test_checkpoint_is_cached_by_source_hash(base_dir: Path, cache_dir: Path) -> None:
    path = openai_checkpoint(base_dir, cache_dir)
    digest = hashlib.sha256((base_dir / "model.bin").read_bytes()).hexdigest()
    assert path == cache_dir / "models" / "openai-whisper" / f"{digest[:16]}.pt"
    data = torch.load(path, weights_only=True)
    assert data["dims"] == BASE_DIMS and data["alignment_heads"] == BASE_ALIGNMENT_HEADS
    mtime = path.stat().st_mtime_ns
    assert openai_checkpoint(base_dir, cache_dir) == path
    assert path.stat().st_mtime_ns == mtime  # reused, not converted again
    assert [p.name for p in path.parent.glob("*.pt*")] == [path.name]  # no half-written leftovers


def test_not_a_model_is_a_one_line_error(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"\x06\x00\x00\x00garbage")
    with pytest.raises(TranscriptionError) as exc:
        openai_checkpoint(folder, tmp_path)
    message = str(exc.value)
    assert str(folder / "model.bin") in message and "CTranslate2" in message and "\n" not in message
    assert not list((tmp_path / "models" / "openai-whisper").glob("*.pt"))
