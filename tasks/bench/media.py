"""`confcast bench transcode`: the single-decode ladder against one ffmpeg process per rendition.

Both variants run the same argument builder (`tasks.media.hls.build_ladder_args`): the per-rendition variant gets a
job with one rung at a time, so encoder, bitrates, GOP, filters and muxer settings are identical; only the decoding
and the process count differ. Each variant is measured in the same run, one after the other, on a generated source.
ffmpeg runs through the media adapter (`tasks.media.ffmpeg.run`); its CPU seconds are read with
`resource.getrusage(RUSAGE_CHILDREN)`, which counts every child process this process has waited for.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.chapters import detect
from confcast.tasks.errors import TranscodeError, stderr_tail
from confcast.tasks.media import ffmpeg, hls
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.media.video import plan_ladder_job
from confcast.tasks.models import Probe

SOURCE_SIZE = (1920, 1080)
SOURCE_FPS = 25
SOURCE_CHUNK_S = 10  # generated once, then repeated by stream copy: making minutes of noisy 1080p is slow here
# Like a phone's or camera's file: H.264 High (CABAC, B-frames) at about 16 Mb/s, with sensor-like noise; a clean
# test pattern would compress to a fraction of that and make decoding unrealistically cheap.
SOURCE_FILTER = "noise=alls=4:allf=t"
SOURCE_ENCODE = ["-c:v", "libx264", "-preset", "superfast", "-b:v", "16M", "-maxrate", "20M", "-bufsize", "32M",
                 "-pix_fmt", "yuv420p"]  # fmt: skip


@dataclass(frozen=True)
class Row:
    variant: str
    processes: int
    wall_s: float
    cpu_s: float  # user + system time of the ffmpeg processes: less sensitive than wall time to other load
    output_bytes: int


def make_source(folder: Path, seconds: float) -> Path:
    """A 1080p talk-like source of this length: a noisy moving test pattern and a tone (made once per length)."""
    path = folder / f"bench-1080p-{seconds:g}s.mp4"
    if path.is_file():
        return path
    width, height = SOURCE_SIZE
    chunk = folder / "bench-chunk.mp4"
    if not chunk.is_file():
        _ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r={SOURCE_FPS}:d={SOURCE_CHUNK_S},{SOURCE_FILTER}",
            "-f", "lavfi", "-i", f"sine=f=220:b=2:d={SOURCE_CHUNK_S}",
            *SOURCE_ENCODE, "-c:a", "aac", "-b:a", "160k", "-ac", "2", "-shortest", str(chunk),
        )  # fmt: skip
    loops = int(seconds // SOURCE_CHUNK_S) + 1
    partial = path.with_name(f".{path.name}.partial.mp4")
    _ffmpeg("-stream_loop", str(loops), "-i", str(chunk), "-c", "copy", "-t", f"{seconds:g}", str(partial))
    os.replace(partial, path)
    return path


def _ffmpeg(*args: str) -> None:
    returncode, stderr = ffmpeg.run([*ffmpeg.QUIET, "-y", *args])
    if returncode != 0:
        raise TranscodeError(f"making the benchmark source failed: {stderr_tail(stderr)}; check ffmpeg")


def _run(job: hls.LadderJob, work: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and output bytes of one ffmpeg run of a job."""
    if work.exists():
        shutil.rmtree(work)
    (work / "candidates").mkdir(parents=True)
    (work / "thumbs").mkdir()
    (work / hls.SLIDES_DIR / "frames").mkdir(parents=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    returncode, stderr = ffmpeg.run(hls.build_ladder_args(job, work))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if returncode != 0:
        raise TranscodeError(f"benchmark run failed: {stderr_tail(stderr)}")
    size = sum(p.stat().st_size for p in work.rglob("*") if p.is_file())
    return wall, cpu, size


SLIDES_ROW = "... + slide scan (chapters)"
DETECT_ROW = "slide-change detection (Python, after)"


DECODE_ROW = "decode only (no output)"
SCAN_ROW = "decode + slide scan only"


def _decode_args(job: hls.LadderJob, work: Path | None) -> list[str]:
    """ffmpeg decoding the source's picture as the ladder does (same rate), to nothing or to the slide scan alone:
    their CPU difference is the slide scan's own cost, free of the noise of two ladder encodes."""
    args = [*ffmpeg.QUIET, "-y", *ffmpeg.recording_input(job.source, job.source_format)]
    head = f"[{job.video_input}]fps={hls.fps_text(job.rungs[0].fps)}"
    if work is None or job.slide_scan is None:
        return [*args, "-filter_complex", f"{head}[v]", "-map", "[v]", "-f", "null", "-"]
    return [*args, "-filter_complex", f"{head}[ss];{hls.slide_scan_chain(job.slide_scan, '[ss]')}",
            *hls.slide_scan_outputs(work)]


def _run_args(args: list[str], work: Path) -> tuple[float, float, int]:
    if work.exists():
        shutil.rmtree(work)
    (work / hls.SLIDES_DIR / "frames").mkdir(parents=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    returncode, stderr = ffmpeg.run(args)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if returncode != 0:
        raise TranscodeError(f"benchmark run failed: {stderr_tail(stderr)}")
    size = sum(p.stat().st_size for p in work.rglob("*") if p.is_file())
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, size


def _detect(job: hls.LadderJob, work: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of reading the decode's grey copy and finding the slide changes in it."""
    scan = job.slide_scan
    assert scan is not None
    started, cpu = time.perf_counter(), time.process_time()
    frames = detect.read_grey(work / hls.SLIDES_DIR / hls.SLIDE_GREY, scan.grey_width, scan.grey_height)
    detect.detect_changes(frames, scan.grey_rate)
    return time.perf_counter() - started, time.process_time() - cpu, 0


def measure(seconds: float, folder: Path | None = None) -> tuple[list[Row], Probe]:
    """Run the three variants on one source; returns their rows and the source's probe."""
    base = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="confcast-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    source = make_source(base, seconds)
    probe = probe_recording(source)
    with_slides = plan_ladder_job(probe)
    full = dataclasses.replace(with_slides, slide_scan=None)
    ladder_only = dataclasses.replace(full, sprite=None, poster_every_s=None)
    rows = [
        Row("single decode: whole ladder", 1, *_run(ladder_only, base / "single")),
        Row("single decode: ladder + thumbnails + poster", 1, *_run(full, base / "single-full")),
        Row(SLIDES_ROW, 1, *_run(with_slides, base / "single-slides")),
        Row(DETECT_ROW, 0, *_detect(with_slides, base / "single-slides")),
        Row(DECODE_ROW, 1, *_run_args(_decode_args(with_slides, None), base / "decode")),
        Row(SCAN_ROW, 1, *_run_args(_decode_args(with_slides, base / "scan"), base / "scan")),
    ]
    runs = [
        _run(dataclasses.replace(ladder_only, rungs=(rung,)), base / f"per-{rung.name}") for rung in ladder_only.rungs
    ]
    rows.append(Row("one process per rendition", len(runs), *(sum(values) for values in zip(*runs, strict=True))))
    if folder is None:
        shutil.rmtree(base, ignore_errors=True)
    return rows, probe


def table(rows: list[Row], probe: Probe) -> str:
    job = plan_ladder_job(probe)
    rungs = "/".join(r.name for r in job.rungs)
    duration = probe.duration_s
    lines = [
        f"source: {SOURCE_SIZE[0]}x{SOURCE_SIZE[1]} {SOURCE_FPS} fps H.264 "
        f"at {probe.source.bytes * 8 / duration / 1e6:.0f} Mb/s, "
        f"{duration:.0f} s; ladder {rungs}, "
        f"x264 {job.preset.x264_preset}, fMP4 HLS, {os.cpu_count()} CPU cores",
        "",
        f"{'variant':<46} {'processes':>9} {'wall s':>8} {'x real time':>12} {'CPU s':>8} {'output MB':>10}",
    ]
    for row in rows:
        lines.append(
            f"{row.variant:<46} {row.processes:>9} {row.wall_s:>8.1f} {duration / row.wall_s:>11.2f}x "
            f"{row.cpu_s:>8.1f} {row.output_bytes / 1e6:>10.1f}"
        )
    single, per_rendition = rows[0], rows[-1]
    by_name = {row.variant: row for row in rows}
    if SLIDES_ROW in by_name:
        base, slides, detected = rows[1], by_name[SLIDES_ROW], by_name[DETECT_ROW]
        scan = by_name[SCAN_ROW].cpu_s - by_name[DECODE_ROW].cpu_s  # the branch alone, on the same decode
        extra = scan + detected.cpu_s
        lines += [
            "",
            f"chapter detection: slide scan {scan:.2f} CPU s (decode + scan minus decode alone) + detection "
            f"{detected.cpu_s:.2f} CPU s = {100 * extra / base.cpu_s:.1f} % of the transcode's CPU time "
            f"(target: under 5 %); the whole ladder with and without the scan differ by "
            f"{100 * (slides.cpu_s - base.cpu_s) / base.cpu_s:+.1f} % (two runs: noisier)",
        ]
    lines += [
        "",
        f"single decode vs one process per rendition: {per_rendition.wall_s / single.wall_s:.2f}x faster (wall), "
        f"{per_rendition.cpu_s / single.cpu_s:.2f}x less CPU (target: 1.3x or more)",
    ]
    return "\n".join(lines)
