"""A CTranslate2 Whisper model (faster-whisper's ``model.bin``) as an openai-whisper checkpoint, offline.

openai-whisper's ``whisper.load_model(path)`` takes a file holding ``{"dims": ..., "model_state_dict": ...}``.
The packaged weights are in CTranslate2's format, a simple binary:

    u32 version (6) · string spec name · u32 revision · u32 variable count
    per variable: string name · u8 rank · u32 × rank shape · u8 dtype · u32 byte count · data
    u32 alias count · per alias: string alias · string target
    (a string is u16 length including a final NUL, the UTF-8 bytes, the NUL; all little-endian)

Only this module reads that format; :func:`convert_model` maps the variables onto openai-whisper's state dict and
:func:`openai_checkpoint` caches the result under the work folder, keyed by the source model's sha256. torch is
imported inside the functions that build and save that checkpoint (openai-whisper loads it with ``torch.load``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from confcast.tasks.errors import TranscriptionError

SUPPORTED_BINARY_VERSIONS = (5, 6)
WHISPER_SPEC = "WhisperSpec"
# CTranslate2's DataType enum (include/ctranslate2/types.h), in order.
DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
DIGEST_CHARS = 16  # hex characters of the source model's sha256 in the checkpoint's name
_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Variable:
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: bytes

    def array(self) -> np.ndarray:
        if self.dtype == "bfloat16":  # numpy has no bfloat16: widen the 16 bits into float32's top half
            raw = np.frombuffer(self.data, dtype="<u2").astype(np.uint32) << 16
            return raw.view(np.float32).reshape(self.shape)
        return np.frombuffer(self.data, dtype=np.dtype(self.dtype).newbyteorder("<")).reshape(self.shape)


@dataclass(frozen=True)
class Ct2Model:
    spec: str
    revision: int
    variables: dict[str, Variable]
    aliases: dict[str, str]


def _read(fh: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    raw = fh.read(size)
    if len(raw) != size:
        raise ValueError("the file ends in the middle of the header")
    return struct.unpack(fmt, raw)[0]


def _read_string(fh: BinaryIO) -> str:
    length = _read(fh, "<H")
    raw = fh.read(length)
    if len(raw) != length or not raw.endswith(b"\0"):
        raise ValueError("a name is cut short")
    return raw[:-1].decode("utf-8")


def read_ct2_model(path: Path) -> Ct2Model:
    """Parse a CTranslate2 ``model.bin``; raises ValueError on a file of another format or a truncated one."""
    with Path(path).open("rb") as fh:
        version = _read(fh, "<I")
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise ValueError(f"binary version {version} is not one of {SUPPORTED_BINARY_VERSIONS}")
        spec = _read_string(fh)
        revision = _read(fh, "<I")
        variables: dict[str, Variable] = {}
        for _ in range(_read(fh, "<I")):
            name = _read_string(fh)
            shape = tuple(_read(fh, "<I") for _ in range(_read(fh, "<B")))
            type_id = _read(fh, "<B")
            if type_id >= len(DTYPES):
                raise ValueError(f"variable {name} has an unknown data type {type_id}")
            count = _read(fh, "<I")
            data = fh.read(count)
            if len(data) != count:
                raise ValueError(f"variable {name} is cut short")
            variables[name] = Variable(name, shape, DTYPES[type_id], data)
        aliases = {}
        for _ in range(_read(fh, "<I")):
            alias = _read_string(fh)
            aliases[alias] = _read_string(fh)
    return Ct2Model(spec, revision, variables, aliases)


# --- the mapping -----------------------------------------------------------------------------------------------


def _weight(model: Ct2Model, name: str) -> np.ndarray:
    """A variable as a float array: float16 and float32 as stored (loading widens them without loss), others as
    float32; int8/int16 weights are dequantised with their ``weight_scale``."""
    variable = model.variables[model.aliases.get(name, name)]
    array = variable.array()
    if variable.dtype in ("int8", "int16"):
        scale = model.variables[name.removesuffix("weight") + "weight_scale"].array().astype(np.float32)
        return array.astype(np.float32) / (scale.reshape(-1, *([1] * (array.ndim - 1))) if scale.ndim else scale)
    return array if variable.dtype in ("float16", "float32") else array.astype(np.float32)


def _scalar(model: Ct2Model, name: str) -> int:
    return int(model.variables[name].array().reshape(-1)[0])


def _layer_count(model: Ct2Model, side: str) -> int:
    numbers = {int(m.group(1)) for n in model.variables if (m := re.match(rf"{side}/layer_(\d+)/", n))}
    return max(numbers) + 1 if numbers else 0


def dims_of(model: Ct2Model) -> dict[str, int]:
    """openai-whisper's ModelDimensions, read off the shapes."""
    conv1 = model.variables["encoder/conv1/weight"].shape  # (state, mels, 3)
    encoder_pos = model.variables["encoder/position_encodings/encodings"].shape
    embeddings = model.variables["decoder/embeddings/weight"].shape
    decoder_pos = model.variables["decoder/position_encodings/encodings"].shape
    return {
        "n_mels": conv1[1],
        "n_audio_ctx": encoder_pos[0],
        "n_audio_state": conv1[0],
        "n_audio_head": _scalar(model, "encoder/num_heads"),
        "n_audio_layer": _layer_count(model, "encoder"),
        "n_vocab": embeddings[0],
        "n_text_ctx": decoder_pos[0],
        "n_text_state": embeddings[1],
        "n_text_head": _scalar(model, "decoder/num_heads"),
        "n_text_layer": _layer_count(model, "decoder"),
    }


def _linear(model: Ct2Model, src: str, dst: str, *, bias: bool = True) -> Iterator[tuple[str, np.ndarray]]:
    yield f"{dst}.weight", _weight(model, f"{src}/weight")
    if bias:
        yield f"{dst}.bias", _weight(model, f"{src}/bias")


def _norm(model: Ct2Model, src: str, dst: str) -> Iterator[tuple[str, np.ndarray]]:
    yield f"{dst}.weight", _weight(model, f"{src}/gamma")
    yield f"{dst}.bias", _weight(model, f"{src}/beta")


def _fused(model: Ct2Model, src: str, dsts: tuple[str, ...]) -> Iterator[tuple[str, np.ndarray]]:
    """A fused projection split into its parts; openai-whisper's key has no bias (CTranslate2 stores zeros)."""
    weights = np.split(_weight(model, f"{src}/weight"), len(dsts))
    biases = np.split(_weight(model, f"{src}/bias"), len(dsts))
    for dst, weight, bias in zip(dsts, weights, biases, strict=True):
        yield f"{dst}.weight", weight
        if not dst.endswith(".key"):
            yield f"{dst}.bias", bias


def _self_attention(model: Ct2Model, src: str, dst: str) -> Iterator[tuple[str, np.ndarray]]:
    parts = tuple(f"{dst}.attn.{part}" for part in ("query", "key", "value"))
    yield from _fused(model, f"{src}/self_attention/linear_0", parts)
    yield from _linear(model, f"{src}/self_attention/linear_1", f"{dst}.attn.out")
    yield from _norm(model, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")


def _feed_forward(model: Ct2Model, src: str, dst: str) -> Iterator[tuple[str, np.ndarray]]:
    yield from _linear(model, f"{src}/ffn/linear_0", f"{dst}.mlp.0")
    yield from _linear(model, f"{src}/ffn/linear_1", f"{dst}.mlp.2")
    yield from _norm(model, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")


def state_dict_arrays(model: Ct2Model) -> Iterator[tuple[str, np.ndarray]]:
    """openai-whisper's state dict entries (name, float array) from a CTranslate2 Whisper model."""
    dims = dims_of(model)
    yield from _linear(model, "encoder/conv1", "encoder.conv1")
    yield from _linear(model, "encoder/conv2", "encoder.conv2")
    yield "encoder.positional_embedding", _weight(model, "encoder/position_encodings/encodings")
    for i in range(dims["n_audio_layer"]):
        yield from _self_attention(model, f"encoder/layer_{i}", f"encoder.blocks.{i}")
        yield from _feed_forward(model, f"encoder/layer_{i}", f"encoder.blocks.{i}")
    yield from _norm(model, "encoder/layer_norm", "encoder.ln_post")

    yield "decoder.token_embedding.weight", _weight(model, "decoder/embeddings/weight")  # projection: an alias
    yield "decoder.positional_embedding", _weight(model, "decoder/position_encodings/encodings")
    for i in range(dims["n_text_layer"]):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        yield from _self_attention(model, src, dst)
        yield from _linear(model, f"{src}/attention/linear_0", f"{dst}.cross_attn.query")
        yield from _fused(model, f"{src}/attention/linear_1", (f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"))
        yield from _linear(model, f"{src}/attention/linear_2", f"{dst}.cross_attn.out")
        yield from _norm(model, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
        yield from _feed_forward(model, src, dst)
    yield from _norm(model, "decoder/layer_norm", "decoder.ln")


def alignment_heads(model_dir: Path, dims: dict[str, int]) -> list[list[int]]:
    """[layer, head] pairs from config.json (the cross-attention heads that follow the words); the last half of
    the decoder's layers, all heads, when config.json gives none (openai-whisper's own default)."""
    try:
        heads = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8")).get("alignment_heads")
    except (OSError, ValueError, AttributeError):
        heads = None
    if heads:
        return [[int(layer), int(head)] for layer, head in heads]
    return [[layer, head] for layer in range(dims["n_text_layer"] // 2, dims["n_text_layer"])
            for head in range(dims["n_text_head"])]


def convert_model(model_dir: Path) -> dict:
    """The openai-whisper checkpoint for the CTranslate2 Whisper model in ``model_dir`` (model.bin, config.json):
    ``{"dims", "model_state_dict", "alignment_heads"}``. Raises ValueError."""
    import torch

    model = read_ct2_model(Path(model_dir) / "model.bin")
    if model.spec != WHISPER_SPEC:
        raise ValueError(f"it holds a {model.spec}, not a Whisper model")
    dims = dims_of(model)
    try:
        state = {name: torch.from_numpy(np.array(array, copy=True)) for name, array in state_dict_arrays(model)}
    except KeyError as missing:
        raise ValueError(f"variable {missing} is missing") from None
    return {"dims": dims, "model_state_dict": state, "alignment_heads": alignment_heads(model_dir, dims)}


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _source_digest(model_bin: Path, cache: Path) -> str:
    """sha256 of model.bin, remembered by path, size and mtime so that a later run does not hash 150 MB again."""
    stat = model_bin.stat()
    key = [str(model_bin.resolve()), stat.st_size, stat.st_mtime_ns]
    memo = cache / ".digests.json"
    try:
        memos = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memos = {}
    if not isinstance(memos, dict):
        memos = {}
    for saved in memos.values():
        if isinstance(saved, dict) and saved.get("key") == key and isinstance(saved.get("sha256"), str):
            return saved["sha256"]
    digest = _file_digest(model_bin)
    memos[key[0]] = {"key": key, "sha256": digest}
    try:
        fd, tmp = tempfile.mkstemp(prefix=".digests.", dir=cache)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(memos, fh)
        os.replace(tmp, memo)
    except OSError:
        pass  # only a shortcut
    return digest


def openai_checkpoint(model_dir: Path, cache_dir: Path) -> Path:
    """The openai-whisper checkpoint of the CTranslate2 model in ``model_dir``, converted once and cached as
    ``<cache_dir>/models/openai-whisper/<sha256 of model.bin>.pt``. Raises TranscriptionError."""
    import torch

    model_bin = Path(model_dir) / "model.bin"
    cache = Path(cache_dir) / "models" / "openai-whisper"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / f"{_source_digest(model_bin, cache)[:DIGEST_CHARS]}.pt"
        if target.is_file():
            return target
        checkpoint = convert_model(Path(model_dir))
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=cache)
        os.close(fd)
        try:
            torch.save(checkpoint, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)  # a half-written checkpoint never has the final name
        finally:
            Path(tmp).unlink(missing_ok=True)
    except ValueError as exc:
        raise TranscriptionError(
            f"cannot convert {model_bin} for openai-whisper: {exc}; give a CTranslate2 Whisper model folder "
            f"(as made by ct2-transformers-converter) or the packaged 'base' model"
        ) from None
    except OSError as exc:
        raise TranscriptionError(
            f"cannot convert {model_bin} for openai-whisper into {cache}: {exc.strerror or exc}; check that the "
            f"work folder is writable and has about 150 MB free"
        ) from None
    return target
