"""`confcast doctor`, the CUDA 12 libraries' look-up and preload, and `scripts/install.sh --gpu` (as a dry run: the
GPU wheels weigh gigabytes). This machine has no GPU: doctor must prove both engines on cpu, say why cuda is not
available, and fail with one line when the settings ask for cuda."""

from __future__ import annotations

import _ctypes
import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from confcast.flows.cli import app
from confcast.tasks.transcription.doctor import (
    Finding,
    gpus_from_nvidia_smi,
    is_cpu_build,
    redact_url,
    tool_version_from,
)
from confcast.tasks.transcription.faster_whisper_engine import CUDA_LIBRARIES, cuda_library_files

ROOT = Path(__file__).resolve().parents[1]
CUBLAS_LT, CUBLAS = CUDA_LIBRARIES
CT2 = f"CTranslate2 {metadata.version('ctranslate2')}"
TORCH = f"torch {metadata.version('torch')}"  # the CPU build here: 2.13.0+cpu


# --- the CUDA 12 libraries of the nvidia-* wheels -----------------------------------------------------------------


def put(root: Path, relative: str, content: bytes = b"") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_cuda_libraries_are_looked_up_in_site_packages(tmp_path: Path) -> None:
    first, second, empty = tmp_path / "first", tmp_path / "second", tmp_path / "empty"
    empty.mkdir()
    put(first, CUBLAS)
    put(first, "nvidia/cu13/lib/libcublasLt.so.13")  # torch's CUDA 13 copy: not what CTranslate2 4.8 loads
    put(second, CUBLAS)
    put(second, CUBLAS_LT)
    # each library from the first folder that has it, libcublasLt (which libcublas needs) first; relative entries
    # of sys.path (the current folder) are never searched
    assert cuda_library_files(["", str(empty), first, second]) == [second / CUBLAS_LT, first / CUBLAS]
    assert cuda_library_files([empty]) == []
    assert cuda_library_files([]) == []


def test_preload_loads_what_it_finds_and_says_what_did_not_load(tmp_path: Path) -> None:
    # a real shared object (ctypes' own extension) stands for libcublasLt; libcublas is not a library at all
    site = tmp_path / "site-packages"
    good = put(site, CUBLAS_LT, Path(_ctypes.__file__).read_bytes())
    bad = put(site, CUBLAS, b"not a shared object")
    code = (
        "import json, sys; sys.path.append(sys.argv[1]);"
        "from confcast.tasks.transcription.faster_whisper_engine import preload_cuda_libraries;"
        "loaded = preload_cuda_libraries();"
        "maps = open('/proc/self/maps').read();"
        "print(json.dumps({str(p): [e, str(p) in maps] for p, e in loaded.items()}))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result[str(good)] == [None, True]  # loaded into the process
    error, mapped = result[str(bad)]
    assert not mapped and error and "\n" not in error


PRELOAD_ONLY_FOR_CUDA = """
import sys
from pathlib import Path
from confcast.tasks.errors import TranscriptionError
from confcast.tasks.transcription.faster_whisper_engine import load_model

site, cache, library = sys.argv[1:]
sys.path.append(site)
mapped = lambda: library in open("/proc/self/maps").read()
load_model("base", cache_dir=Path(cache), device="cpu")
print("cpu", mapped())
try:
    load_model("base", cache_dir=Path(cache), device="cuda")
except TranscriptionError as error:
    print("error", error)
print("cuda", mapped())
"""


def test_the_engine_preloads_only_for_cuda(tmp_path: Path, work_dir: Path) -> None:
    # With the wheel's libraries on sys.path, loading on cpu leaves them alone; asking for cuda loads them before
    # CTranslate2 is asked for the model (which then fails here: no GPU).
    site = tmp_path / "site-packages"
    lt = put(site, CUBLAS_LT, Path(_ctypes.__file__).read_bytes())
    put(site, CUBLAS, Path(_ctypes.__file__).read_bytes())
    done = subprocess.run(
        [sys.executable, "-c", PRELOAD_ONLY_FOR_CUDA, str(site), str(work_dir), str(lt)],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "cpu False"
    assert lines[1].startswith("error cannot load Whisper model 'base'") and " on cuda " in lines[1]
    assert lines[2] == "cuda True"


# --- doctor: pure parts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("s3://bucket/site", "s3://bucket/site"),
        ("s3://AKIAKEY:s3cret@bucket/site", "s3://bucket/site"),
        ("https://user:pass@s3.example.org:9000/x?X-Amz-Signature=abc#frag", "https://s3.example.org:9000/x"),
        ("file:///srv/site", "file:///srv/site"),
    ],
)
def test_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_what_the_tools_print_is_read() -> None:
    assert tool_version_from("ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024\nbuilt with gcc") == (
        "5.1.6-0+deb12u1"
    )
    assert gpus_from_nvidia_smi("NVIDIA H200, 580.65.06\nNVIDIA A10, 535.1\n") == [
        "NVIDIA H200 (driver 580.65.06)",
        "NVIDIA A10 (driver 535.1)",
    ]
    assert gpus_from_nvidia_smi("") == []
    assert is_cpu_build("2.13.0+cpu") and not is_cpu_build("2.13.0") and not is_cpu_build("2.13.0+cu126")
    assert Finding("x", False, "why", "do this", essential=True).line() == "FAIL x: why; do this"
    assert Finding("x", False, "why").line() == "no   x: why"


# --- doctor: the command ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One work folder for the module: the packaged model is assembled and converted once."""
    return tmp_path_factory.mktemp("doctor-work")


def doctor(work_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str):
    for name in ("CONFCAST_WHISPER_ENGINE", "CONFCAST_WHISPER_DEVICE", "CONFCAST_WHISPER_COMPUTE_TYPE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"work_dir: {work_dir}\n"
        "storage_url: s3://AKIAKEY:s3cret@openlab/site?token=t0ken\n"
        "s3_endpoint_url: https://user:pa55@s3.example.org\n",
        encoding="utf-8",
    )
    return CliRunner().invoke(app, ["doctor", "--config", str(config)])


@pytest.mark.slow  # real Whisper, both engines
def test_doctor_on_a_cpu_host(work_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = doctor(work_dir, tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    topics = {line[5:].partition(":")[0]: line for line in lines}
    assert topics["faster-whisper on cpu"].startswith("ok   faster-whisper on cpu: works (CTranslate2 ")
    assert topics["openai-whisper on cpu"].startswith("ok   openai-whisper on cpu: works (torch ")
    # no GPU here: said, with the reason, but not a problem with the default device (auto)
    assert topics["GPU"].startswith("no   GPU: no NVIDIA driver (nvidia-smi not found")
    assert topics["faster-whisper on cuda"].startswith(
        f"no   faster-whisper on cuda: {CT2} sees no CUDA device: no NVIDIA driver"
    )
    assert topics["openai-whisper on cuda"] == (
        f"no   openai-whisper on cuda: {TORCH} is a CPU build; run scripts/install.sh --gpu"
    )
    assert topics["configured"] == "ok   configured: faster-whisper on auto (here: cpu): works"
    assert topics["ffmpeg"].startswith("ok   ffmpeg: ") and topics["ffprobe"].startswith("ok   ffprobe: ")
    assert topics["slides"] == "ok   slides: tesseract (eng, fra) and pdftotext"  # chapter titles from slides
    assert "packaged 'base' found" in topics["Whisper weights"]
    assert topics["storage"] == "ok   storage: s3://openlab/site at https://s3.example.org"
    assert topics["work folder"].startswith(f"ok   work folder: {work_dir}: ")
    assert topics["work folder"].endswith(" GB free")
    assert topics["Pagefind"].startswith("ok   Pagefind: indexer at ") and topics["Pagefind"].endswith("/pagefind")
    assert topics["hls.js"] == "ok   hls.js: 1.7.4, published with the site for browsers without HLS"
    for secret in ("AKIAKEY", "s3cret", "t0ken", "pa55"):
        assert secret not in result.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("engine", "reason"),
    [
        (
            "faster-whisper",
            f"{CT2} sees no CUDA device: no NVIDIA driver (nvidia-smi not found, no /proc/driver/nvidia); "
            "use whisper_device cpu or auto on this host",
        ),
        ("openai-whisper", f"{TORCH} is a CPU build; run scripts/install.sh --gpu"),
    ],
)
def test_doctor_fails_in_one_line_when_cuda_is_asked_for(
    engine: str, reason: str, work_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = doctor(
        work_dir, tmp_path, monkeypatch, CONFCAST_WHISPER_DEVICE="cuda", CONFCAST_WHISPER_ENGINE=engine
    )
    assert result.exit_code == 1, result.output
    assert result.stderr == f"confcast: error: configured: {engine} on cuda: does not work here: {reason}\n"
    assert f"FAIL configured: {engine} on cuda: does not work here: {reason}" in result.stdout.splitlines()
    assert "ok   faster-whisper on cpu: works" in result.stdout  # the rest of the report is still there


# --- scripts/install.sh --gpu ---------------------------------------------------------------------------------------


def dry_run(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """The install script copied into an empty checkout and run with --dry-run: it may only print."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "install.sh", tmp_path / "scripts" / "install.sh")
    return subprocess.run(
        ["bash", str(tmp_path / "scripts" / "install.sh"), *options], capture_output=True, text=True, check=False
    )


def commands(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line[2:] for line in done.stderr.splitlines() if line.startswith("+ ")]


PIP = ".venv/bin/python -m pip --disable-pip-version-check -q install"


def test_install_gpu_dry_run(tmp_path: Path) -> None:
    done = dry_run(tmp_path, "--gpu", "--dry-run")
    assert done.returncode == 0, done.stderr
    steps = commands(done)
    assert f"{PIP} torch==2.13.0,!=2.13.0+cpu" in steps  # the same torch, any build but the CPU one
    assert f"{PIP} torch==2.13.0" not in steps
    assert steps[-1] == f"{PIP} nvidia-cublas-cu12==12.9.1.4"  # after the project, which pins nothing of CUDA
    assert not any("cudnn" in step for step in steps)  # CTranslate2 4.8 needs none; torch brings its own
    assert any(step.endswith("-m venv .venv") for step in steps)
    assert "dry run: nothing was changed" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scripts"]  # no .venv made


def test_install_without_gpu_is_unchanged(tmp_path: Path) -> None:
    done = dry_run(tmp_path, "--dry-run", "--test")
    assert done.returncode == 0, done.stderr
    steps = commands(done)
    assert f"{PIP} torch==2.13.0" in steps
    assert not any("nvidia" in step or "+cpu" in step for step in steps)
    assert steps[-1].endswith("install -e .[test]")
    # hls.js from the npm registry with npm, pinned and checked against its sha512, before the project
    assert any(step.startswith("npm pack hls.js@1.7.4 (checked against sha512-") for step in steps)


def test_install_refuses_an_unknown_option(tmp_path: Path) -> None:
    done = dry_run(tmp_path, "--gpus")
    assert done.returncode == 2
    assert done.stderr == "install: unknown option --gpus (known: --test, --gpu, --dry-run)\n"
