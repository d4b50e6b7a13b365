"""`confcast bench pipeline`: the whole publish flow on generated talks, one table.

For each talk length a French talk is generated once (a test pattern with a title card and espeak-ng speech,
cached in the work folder by length and size) and published twice with the real flow, each time in a child
process (`python -m confcast.flows.cli bench publish-one ...`, which runs what `confcast publish` runs): first
into an empty site prefix, then again unchanged. Everything is measured from outside the flow:
- stage times: once the flow has run, the child reads its task runs back from Prefect (name, start and end,
  flows/run_record.py) and writes them to a report file; STAGES maps task names to the table's stages;
- uploads: the parent lists the site before and after each run and counts what is new or changed
  (tasks/bench/uploads.py);
- wall time and memory: the parent times the child from spawn to exit and samples the resident memory of the
  child's whole process tree (the flow, ffmpeg, Prefect's temporary server, ...) from /proc every 0.2 s. Resident
  sizes are summed over the tree, so pages shared between processes (libraries) count once per process: an upper
  bound.

This module does not import Prefect: the parent only spawns and watches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confcast.tasks.bench import cores
from confcast.tasks.bench.talk import FRENCH_SENTENCES, talk_text
from confcast.tasks.bench.uploads import Listing, changes
from confcast.tasks.demo.sample import SampleConference, make_sample_conference

SAMPLE_RATE = 16_000  # Whisper's audio: 16 kHz mono float32
AUDIO_BYTES_PER_S = SAMPLE_RATE * 4
POLL_S = 0.2
MB = 2**20
SPEECH_WPM = 150  # tasks.sample speaks at this pace; the text is sized by it, the real length is measured after
DEFAULT_SIZE = (640, 360)  # one HLS rung: keeps the 30-minute talk reasonable on 2 cores

# The four stages of the table, and which Prefect tasks (their names, flows/stage_tasks.py and
# flows/transcription.py) each sums; the other tasks (check-published, add-hls-subtitles) count only as time
# when a step ran. A transcription (and a translation) runs as transcribe-speech here, as transcribe-on-pool when
# another work pool transcribes.
STAGES: dict[str, tuple[str, ...]] = {
    "probe": ("probe-recording",),
    "transcode": ("transcode-video",),
    "transcribe": ("extract-speech", "transcribe-speech", "transcribe-on-pool", "write-captions"),
    "publish": ("publish-files",),
}


# --- pure: parsing options and /proc --------------------------------------------------------------------------


def parse_minutes(text: str) -> list[float]:
    """ "2,10,30" -> [2.0, 10.0, 30.0]; every length positive."""
    values = [float(part) for part in text.replace(" ", "").split(",") if part]
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"talk lengths {text!r}: give positive minutes separated by commas, e.g. 2,10,30")
    return values


def parse_size(text: str) -> tuple[int, int]:
    """ "640x360" -> (640, 360); even sizes (H.264 4:2:0)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"video size {text!r}: write it as WIDTHxHEIGHT, e.g. 640x360") from None
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"video size {text!r}: use even, positive sizes")
    return width, height


def parse_stat(text: str) -> tuple[int, int]:
    """(pid, parent pid) from a /proc/PID/stat line; the command name may hold spaces and parentheses."""
    pid = int(text.split(" ", 1)[0])
    rest = text[text.rindex(")") + 2 :].split()
    return pid, int(rest[1])  # rest[0] is the state


def tree_pids(parents: Mapping[int, int], root: int) -> set[int]:
    """The root and all its descendants, from a pid -> parent pid map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, ()))
    return found


def parse_statm_rss(text: str, page_size: int) -> int:
    """Resident bytes from a /proc/PID/statm line (second field, in pages)."""
    return int(text.split()[1]) * page_size


def covered_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Seconds during which at least one interval runs (the union's length)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def task_name(run_name: str) -> str:
    """A task's name from its run's: Prefect names a task run in a flow `<task name>-<3 characters>`."""
    name, dash, _key = run_name.rpartition("-")
    return name if dash and name else run_name


def task_intervals(task_runs: Iterable[Sequence]) -> dict[str, list[tuple[float, float]]]:
    """Task name -> its runs' (start, end) in epoch seconds, from (run name, start, end) rows."""
    intervals: dict[str, list[tuple[float, float]]] = {}
    for run_name, start, end in task_runs:
        intervals.setdefault(task_name(run_name), []).append((float(start), float(end)))
    return intervals


# --- measures ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunMeasure:
    """One publication run in a child process."""

    wall_s: float  # spawn to exit
    stages: dict[str, list[tuple[float, float]]]  # task name -> its runs' (start, end) epoch seconds, from Prefect
    uploaded_bytes: int  # objects new or changed in the site, listed before and after
    uploads: int
    peak_bytes: int  # the process tree's summed resident memory, at its highest
    peak_processes: str = ""  # what ran at the peak, e.g. "python 412 MB, ffmpeg 60 MB"

    def seconds(self, stage: str) -> float:
        return sum(end - start for step in STAGES[stage] for start, end in self.stages.get(step, ()))

    @property
    def stages_sum_s(self) -> float:
        return sum(self.seconds(stage) for stage in STAGES)

    @property
    def overhead_s(self) -> float:
        """Wall time when no task of the flow ran: start-up (Python, Prefect), orchestration, exit."""
        return self.wall_s - covered_seconds(i for intervals in self.stages.values() for i in intervals)

    @property
    def overlap_s(self) -> float:
        """How much of the stages ran side by side (transcode with transcribe)."""
        four = [i for stage in STAGES for step in STAGES[stage] for i in self.stages.get(step, ())]
        return sum(end - start for start, end in four) - covered_seconds(four)


@dataclass(frozen=True)
class Row:
    label: str
    duration_s: float  # the talk's real length
    size: tuple[int, int]
    first: RunMeasure
    rerun: RunMeasure
    ssim: dict[str, float] = field(default_factory=dict)  # rung name -> SSIM against the source (first run)

    @property
    def audio_bytes(self) -> int:
        return int(self.duration_s * AUDIO_BYTES_PER_S)

    def speed(self, stage: str) -> float:
        seconds = self.first.seconds(stage)
        return self.duration_s / seconds if seconds > 0 else float("inf")

    @property
    def peak_bytes(self) -> int:
        return max(self.first.peak_bytes, self.rerun.peak_bytes)

    @property
    def beyond_audio_bytes(self) -> int:
        return self.peak_bytes - self.audio_bytes


@dataclass(frozen=True)
class Setup:
    """What the table states besides the figures."""

    target: str  # e.g. "embedded SeaweedFS (S3, boto3)"
    machine: str  # e.g. "2 cores, Intel Xeon ..., load 1.9 → 2.3"
    command: str
    extra: list[str] = field(default_factory=list)


# --- the table --------------------------------------------------------------------------------------------------

COLUMNS = (
    "talk", "audio min", "video",
    "probe s (×RT)", "transcode s (×RT)", "transcribe s (×RT)", "publish s (×RT)", "uploaded MB",
    "run s", "run ÷ talk", "Σ stages s", "overhead s",
    "re-run s", "re-run bytes",
    "peak MB", "audio MB", "beyond audio MB", "SSIM per rung",
)  # fmt: skip


def _num(value: float) -> str:
    """Two significant figures or more: 0.73, 9.6, 56, 1234."""
    return f"{value:.2f}" if abs(value) < 1 else f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"


def _stage_cell(row: Row, stage: str) -> str:
    return f"{row.first.seconds(stage):.1f} ({_num(row.speed(stage))}×)"


def format_row(row: Row) -> str:
    cells = [
        row.label,
        f"{row.duration_s / 60:.1f}",
        f"{row.size[0]}x{row.size[1]}",
        *(_stage_cell(row, stage) for stage in STAGES),
        _num(row.first.uploaded_bytes / MB),
        f"{row.first.wall_s:.1f}",
        f"{row.first.wall_s / row.duration_s:.2f}",
        f"{row.first.stages_sum_s:.1f}",
        f"{row.first.overhead_s:.1f}",
        f"{row.rerun.wall_s:.1f}",
        f"{row.rerun.uploaded_bytes}",
        _num(row.peak_bytes / MB),
        _num(row.audio_bytes / MB),
        _num(row.beyond_audio_bytes / MB),
        " · ".join(f"{rung} {value:.3f}" for rung, value in row.ssim.items()) or "n/a",
    ]
    return "| " + " | ".join(cells) + " |"


def table(rows: Sequence[Row], setup: Setup) -> str:
    """The Markdown table (a row a talk), then what it ran on and the ratios."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * (len(COLUMNS) - 1)]
    lines += [format_row(row) for row in rows]
    lines += [
        "",
        f"- target: {setup.target}; machine: {setup.machine}",
        f"- command: `{setup.command}`",
        "- ×RT: talk length over the stage's wall time; stage times are the flow's task runs as Prefect recorded "
        "them (start to end); transcribe = speech extraction + Whisper + caption files; publish = uploads, pages, "
        "catalog and search. Transcode and transcribe run side by side, so Σ stages can exceed the time they take; "
        "overhead = run − time when any task ran (Python and Prefect start-up, orchestration, the CLI's own probe, "
        "reading the task runs back, exit).",
        "- uploaded MB, re-run bytes: objects new or changed in the site after the run, from a listing before and "
        "after it (size and ETag in S3, size and modification time in a folder; tasks/bench/uploads.py).",
        "- peak MB: resident memory summed over the child's process tree (flow, ffmpeg, Prefect's temporary "
        "server), sampled every 0.2 s, the higher of the two runs; audio MB: the talk as 16 kHz float32.",
        "- run ÷ talk: the first run's time over the talk's length; SSIM per rung: ffmpeg's ssim filter (All), each "
        "rung of the first run against the source scaled to it (tasks/bench/cores.py).",
    ]
    lines += [f"- {line}" for line in setup.extra]
    for row in rows:
        overlap = row.first.overlap_s
        lines.append(
            f"- {row.label}: transcode and transcribe overlapped {overlap:.1f} s; "
            f"at the peak: {row.first.peak_processes or 'n/a'}; re-run {row.rerun.wall_s:.1f} s, "
            f"{row.rerun.uploads} objects new or changed"
        )
    if len(rows) >= 2:
        short, long = min(rows, key=lambda r: r.duration_s), max(rows, key=lambda r: r.duration_s)
        grow = long.beyond_audio_bytes / short.beyond_audio_bytes if short.beyond_audio_bytes > 0 else float("inf")
        lines.append(
            f"- memory beyond the audio, {long.label} vs {short.label}: {long.beyond_audio_bytes / MB:.0f} MB vs "
            f"{short.beyond_audio_bytes / MB:.0f} MB ({grow:.2f}×) for {long.duration_s / short.duration_s:.1f}× "
            f"the length (peak {long.peak_bytes / short.peak_bytes:.2f}×)"
        )
        lines.append(
            f"- run time, {long.label} vs {short.label}: {long.first.wall_s / short.first.wall_s:.1f}× "
            f"(overhead {short.first.overhead_s:.1f} s → {long.first.overhead_s:.1f} s)"
        )
    return "\n".join(lines)


# --- the process tree's memory ----------------------------------------------------------------------------------

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:  # the process ended meanwhile
        return None


def process_parents() -> dict[int, int]:
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            text = _read(f"/proc/{name}/stat")
            if text:
                pid, ppid = parse_stat(text)
                parents[pid] = ppid
    return parents


def process_label(cmdline: str) -> str:
    """A short name for a process from its NUL-separated command line: confcast, prefect-server, ffmpeg, ..."""
    args = [arg for arg in cmdline.split("\0") if arg]
    if not args:
        return "?"
    if "confcast.flows.cli" in args or Path(args[0]).name == "confcast":
        return "confcast"
    if any("prefect" in arg for arg in args) and any("server" in arg or "uvicorn" in arg for arg in args):
        return "prefect-server"
    return Path(args[0]).name


def tree_memory(root: int) -> dict[int, tuple[str, int]]:
    """pid -> (label, resident bytes) for the root and its descendants now."""
    found = {}
    for pid in tree_pids(process_parents(), root):
        statm, cmdline = _read(f"/proc/{pid}/statm"), _read(f"/proc/{pid}/cmdline")
        if statm:
            found[pid] = (process_label(cmdline or ""), parse_statm_rss(statm, PAGE_SIZE))
    return found


def describe(processes: Mapping[int, tuple[str, int]]) -> str:
    """ "confcast 412 MB, ffmpeg 60 MB" (largest first, same labels summed)."""
    by_name: dict[str, int] = {}
    for name, rss in processes.values():
        by_name[name] = by_name.get(name, 0) + rss
    return ", ".join(f"{name} {rss / MB:.0f} MB" for name, rss in sorted(by_name.items(), key=lambda kv: -kv[1]))


class PeakSampler:
    """Polls a process tree's summed resident memory in a thread; keeps the peak and what made it."""

    def __init__(self, root: int, every_s: float = POLL_S) -> None:
        self.root, self.every_s = root, every_s
        self.peak_bytes, self.peak_processes = 0, ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            processes = tree_memory(self.root)
            total = sum(rss for _name, rss in processes.values())
            if total > self.peak_bytes:
                self.peak_bytes, self.peak_processes = total, describe(processes)
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- talks and runs ---------------------------------------------------------------------------------------------


def make_talk(folder: Path, minutes: float, size: tuple[int, int]) -> SampleConference:
    """A French talk of about `minutes` (espeak-ng speech over a test pattern), made once per length and size."""
    width, height = size
    return make_sample_conference(
        folder / f"talk-{minutes:g}min-{width}x{height}",
        text=talk_text(minutes, FRENCH_SENTENCES, wpm=SPEECH_WPM),
        language="fr",
        title=f"Banc d'essai : {minutes:g} minutes",
        width=width,
        height=height,
    )


def make_slides_talk(folder: Path, minutes: float, size: tuple[int, int]) -> SampleConference:
    """A slides-and-speaker talk of `minutes` (real French speech; tasks/bench/cores.py), made once per length, size."""
    path, reference = cores.make_talk(folder / "slides", minutes * 60, size)
    return SampleConference(path=path, title=f"Banc d'essai : {minutes:g} minutes", language="fr", text=reference,
                            duration_s=minutes * 60)  # fmt: skip


def run_child(
    args: Sequence[str], report: Path, listing: Callable[[], Listing],
    env: Mapping[str, str] | None = None,
) -> RunMeasure:
    """Run one publication child, watching its tree's memory; its report file gives the task runs, the site's
    listing before and after gives what it uploaded (`listing`, e.g. uploads.site_listing on the target)."""
    report.unlink(missing_ok=True)
    before = listing()
    log = report.with_suffix(".log")
    with log.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=dict(env or os.environ)
        )
        with PeakSampler(process.pid) as sampler:
            out, _ = process.communicate()
        wall = time.perf_counter() - started
    if process.returncode != 0 or not report.is_file():
        tail = log.read_text(errors="replace").strip()[-800:]
        raise RuntimeError(f"the publication child failed (exit {process.returncode}): {tail}")
    uploaded_bytes, uploads = changes(before, listing())
    data = json.loads(report.read_text())
    return RunMeasure(
        wall_s=wall,
        stages=task_intervals(data["task_runs"]),
        uploaded_bytes=uploaded_bytes,
        uploads=uploads,
        peak_bytes=sampler.peak_bytes,
        peak_processes=sampler.peak_processes,
    )


def machine_line(load_before: str) -> str:
    """Cores, CPU model, and the load averages at start and now."""
    model = "unknown CPU"
    for line in (_read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {model}, load (1/5/15 min) {load_before} at start, {load_now()} at end"


def load_now() -> str:
    return " ".join((_read("/proc/loadavg") or "? ? ?").split()[:3])


def run_bench(
    minutes: Sequence[float],
    *,
    size: tuple[int, int],
    talks_dir: Path,
    reports_dir: Path,
    child_args: Callable[[Path, str, str, Path], list[str]],
    listing: Callable[[], Listing],
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] = print,
    before_first: Callable[[Path], None] | None = None,
    after_first: Callable[[Path], dict[str, float]] | None = None,
    talk_maker: Callable[[Path, float, tuple[int, int]], SampleConference] = make_talk,
) -> list[Row]:
    """Each length: make (or reuse) the talk, publish it, publish it again unchanged.

    `child_args(source, title, slug, report)` is the child's command line and `listing()` the target site's objects
    (the caller knows the target); `before_first(source)` runs before the first publication (e.g. to drop an
    interrupted bench's leftovers)."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for length in minutes:
        echo(f"bench: making (or reusing) the {length:g}-minute talk, {size[0]}x{size[1]}")
        talk = talk_maker(talks_dir, length, size)
        slug = f"bench-{length:g}-min".replace(".", "-")
        measures = []
        if before_first is not None:
            before_first(talk.path)
        ssim: dict[str, float] = {}
        for attempt in ("first", "re-run"):
            echo(f"bench: {length:g} min: publishing ({attempt})")
            report = reports_dir / f"{slug}-{attempt}.json"
            measures.append(run_child(child_args(talk.path, talk.title, slug, report), report, listing, env))
            m = measures[-1]
            if attempt == "first" and after_first is not None:
                ssim = after_first(talk.path)
            echo(
                f"bench: {length:g} min {attempt}: {m.wall_s:.1f} s, uploaded {m.uploaded_bytes} bytes, "
                f"peak {m.peak_bytes / MB:.0f} MB ({m.peak_processes})"
            )
        rows.append(Row(f"{length:g} min", talk.duration_s, size, measures[0], measures[1], ssim))  # asked length
        echo(f"bench: {format_row(rows[-1])}")
    return rows


def write_report(path: Path, flow_run_id: str, task_runs: Iterable[tuple[str, float, float]]) -> None:
    """The child's side: its flow run and that run's task runs (name, start, end in epoch seconds) as JSON."""
    data = {"flow_run_id": flow_run_id, "task_runs": [list(run) for run in task_runs]}
    path.write_text(json.dumps(data), encoding="utf-8")


# A quick look at a process tree: python -m confcast.tasks.bench.pipeline PID
if __name__ == "__main__":  # pragma: no cover
    print(describe(tree_memory(int(sys.argv[1]))))
