"""`confcast bench pipeline`: the pure parts exactly, the memory sampler on a real process, and one tiny bench end
to end (a 12-second talk published twice with the real flow into the session's SeaweedFS)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from confcast.tasks.bench import pipeline as bp
from confcast.tasks.bench.pipeline import COLUMNS, MB, Row, RunMeasure, Setup
from confcast.tasks.bench.talk import talk_text
from confcast.tasks.bench.uploads import changes, site_listing
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.storage.s3 import S3Storage

# --- pure functions ---------------------------------------------------------------------------------------------


def test_parse_stat_with_awkward_command_names() -> None:
    assert bp.parse_stat("1234 (python3) S 1 1234 1234 0 -1 4194560 ...") == (1234, 1)
    assert bp.parse_stat("77 (a b) (c)) R 42 77 77 0 -1") == (77, 42)  # spaces and parentheses in the name


def test_tree_pids_finds_descendants_only() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1, 21: 20}
    assert bp.tree_pids(parents, 10) == {10, 11, 12, 13}
    assert bp.tree_pids(parents, 13) == {13}
    assert bp.tree_pids({5: 5}, 5) == {5}  # a loop does not hang


def test_statm_rss_and_labels() -> None:
    assert bp.parse_statm_rss("9000 2500 300 10 0 800 0\n", 4096) == 2500 * 4096
    assert bp.process_label("/venv/bin/python\0-m\0confcast.flows.cli\0bench\0publish-one\0") == "confcast"
    assert bp.process_label("/usr/bin/python3\0-m\0uvicorn\0--app-dir\0/x/prefect/server\0") == "prefect-server"
    assert bp.process_label("/usr/bin/ffmpeg\0-i\0x.mp4\0") == "ffmpeg"
    assert bp.process_label("") == "?"
    assert bp.describe({1: ("ffmpeg", 10 * MB), 2: ("confcast", 300 * MB), 3: ("ffmpeg", 50 * MB)}) == (
        "confcast 300 MB, ffmpeg 60 MB"
    )


def test_covered_seconds_is_the_union() -> None:
    assert bp.covered_seconds([]) == 0
    assert bp.covered_seconds([(0, 10), (5, 15), (20, 21)]) == pytest.approx(16)
    assert bp.covered_seconds([(0, 10), (2, 3)]) == pytest.approx(10)  # nested


def test_options_are_checked() -> None:
    assert bp.parse_minutes("2,10,30") == [2.0, 10.0, 30.0]
    assert bp.parse_minutes(" 0.2 ") == [0.2]
    assert bp.parse_size("1280x720") == (1280, 720)
    for bad in ("", "2,-1", "0"):
        with pytest.raises(ValueError, match="positive minutes"):
            bp.parse_minutes(bad)
    for bad in ("640", "641x360", "axb"):
        with pytest.raises(ValueError, match="video size"):
            bp.parse_size(bad)


def test_talk_text_fills_the_length() -> None:
    text = talk_text(2, ["Un deux trois quatre cinq.", "Six sept huit neuf dix."], wpm=150)
    assert 300 <= len(text.split()) < 310 and text.startswith("Un deux")


def _measure(wall: float, stages: dict, uploaded: int, peak_mb: float) -> RunMeasure:
    return RunMeasure(wall, stages, uploaded, 3 if uploaded else 0, int(peak_mb * MB), "confcast 100 MB")


def test_task_runs_map_to_their_tasks() -> None:
    """Prefect names a task run `<task name>-<3 characters>`; the report's rows become intervals per task."""
    assert bp.task_name("probe-recording-747") == "probe-recording"
    assert bp.task_name("transcribe-speech-0") == "transcribe-speech"
    assert bp.task_name("plain") == "plain"
    rows = [("transcribe-speech-a1f", 5, 50), ("probe-recording-747", 0, 1), ("transcribe-speech-0b2", 60, 70)]
    assert bp.task_intervals(rows) == {"transcribe-speech": [(5, 50), (60, 70)], "probe-recording": [(0, 1)]}
    every_task = {name for names in bp.STAGES.values() for name in names}
    assert {"probe-recording", "transcode-video", "extract-speech", "write-captions", "publish-files"} <= every_task


def test_uploads_are_what_is_new_or_changed(tmp_path: Path) -> None:
    assert changes({}, {"a": (10, "e1"), "b": (5, "e2")}) == (15, 2)
    assert changes({"a": (10, "e1"), "b": (5, "e2")}, {"a": (10, "e1"), "b": (5, "e2")}) == (0, 0)  # unchanged: nothing
    assert changes({"a": (10, "e1"), "b": (5, "e2")}, {"a": (12, "e3")}) == (12, 1)  # rewritten counts, deleted not
    site = FileStorage(tmp_path / "site")
    site.put_bytes("index.html", b"12345")
    site.put_bytes("conferences/x/manifest.json", b"{}")
    before = site_listing(site)
    assert {key: size for key, (size, _) in before.items()} == {"index.html": 5, "conferences/x/manifest.json": 2}
    time.sleep(0.01)
    site.put_bytes("index.html", b"54321")  # same size, new content: seen through its modification time
    assert changes(before, site_listing(site)) == (5, 1)
    assert site_listing(FileStorage(tmp_path / "empty")) == {}


def test_s3_uploads_are_seen_by_their_etags(s3_env, bucket_name: str) -> None:
    site = S3Storage(f"s3://{bucket_name}/site", endpoint_url=s3_env.endpoint_url)
    assert site_listing(site) == {}  # no bucket yet
    site.prepare()
    site.put_bytes("index.html", b"12345")
    site.put_bytes("conferences/x/manifest.json", b"{}")
    before = site_listing(site)
    assert {key: size for key, (size, _) in before.items()} == {"index.html": 5, "conferences/x/manifest.json": 2}
    site.put_bytes("conferences/x/manifest.json", b"{}")  # the same bytes again: the same ETag
    assert changes(before, site_listing(site)) == (0, 0)
    site.put_bytes("index.html", b"54321")  # same size, new content
    assert changes(before, site_listing(site)) == (5, 1)


def test_overhead_counts_parallel_stages_once() -> None:
    m = _measure(100, {"probe-recording": [(0, 1)], "transcode-video": [(2, 40)], "extract-speech": [(2, 5)],
                       "transcribe-speech": [(5, 50)], "write-captions": [(50, 51)], "publish-files": [(52, 60)],
                       "check-published": [(1, 2)]}, 10, 500)  # fmt: skip
    assert m.seconds("transcribe") == pytest.approx(49)  # speech + whisper + captions
    assert m.stages_sum_s == pytest.approx(1 + 38 + 49 + 8)
    assert m.overhead_s == pytest.approx(100 - 59)  # the union of all steps runs from 0 to 51 and 52 to 60
    assert m.overlap_s == pytest.approx(38)


def test_table_has_every_column_and_the_ratios() -> None:
    def row(minutes: float, peak_mb: float) -> Row:
        d = minutes * 60
        first = _measure(d / 2, {"probe-recording": [(0, 0.5)], "transcode-video": [(1, d / 4)],
                                 "transcribe-speech": [(1, d / 5)], "publish-files": [(d / 4, d / 4 + 2)]},
                         5 * MB, peak_mb)  # fmt: skip
        return Row(f"{minutes:g} min", d, (640, 360), first, _measure(10, {"probe-recording": [(0, 0.5)]}, 0, 300))

    rows = [row(2, 700), row(30, 810)]
    text = bp.table(rows, Setup("file:///x (local folder)", "2 cores, AMD EPYC, load 1 → 2", "confcast bench"))
    lines = text.splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    assert lines[2].startswith("| 2 min | 2.0 | 640x360 | 0.5 (240×) | 29.0 (4.1×) | ")
    assert lines[2].endswith("| 10.0 | 0 | 700 | 7.3 | 693 | n/a |")
    assert "- target: file:///x (local folder); machine: 2 cores" in text
    assert "memory beyond the audio, 30 min vs 2 min: 700 MB vs 693 MB (1.01×) for 15.0× the length" in text


# --- the memory sampler on a real process tree -------------------------------------------------------------------


def test_sampler_sees_a_grandchild_allocating() -> None:
    """A shell whose child holds 150 MB: the tree's peak includes it."""
    code = "import time; b = bytearray(150 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    process = subprocess.Popen(["sh", "-c", f'"{sys.executable}" -c "{code}"; true'])
    with bp.PeakSampler(process.pid, every_s=0.1) as sampler:
        process.wait(timeout=30)
    assert sampler.peak_bytes > 150 * MB
    assert "python" in sampler.peak_processes
    assert os.getpid() in bp.tree_memory(os.getpid())  # the sampler's own process is found too


# --- the command --------------------------------------------------------------------------------------------------


def test_bare_bench_runs_the_pipeline_and_subcommands_remain(monkeypatch: pytest.MonkeyPatch) -> None:
    from confcast.flows import bench

    calls = []
    monkeypatch.setattr(bench, "run_pipeline_bench", lambda *args, **kwargs: calls.append((args, kwargs)))
    runner = CliRunner()
    assert runner.invoke(bench.bench_app, []).exit_code == 0
    assert calls == [(("2,10,30", "640x360", None, None, None), {"keep": False})]
    result = runner.invoke(bench.bench_app, ["--help"])
    assert all(name in result.output for name in ("search", "transcode", "transcribe", "pipeline"))
    assert "publish-one" not in result.output  # the bench's child is hidden


def test_tiny_bench_end_to_end(prefect_server, s3_env, bucket_name: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "confcast.flows.cli", "bench", "pipeline", "--minutes", "0.2", "--to", f"s3://{bucket_name}/site",
         "--endpoint-url", s3_env.endpoint_url, "--work-dir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "bench: 0.2 min: publishing (re-run)" in result.stderr  # progress on stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    cells = dict(zip(COLUMNS, (cell.strip() for cell in lines[2].strip("|").split("|")), strict=True))
    assert cells["video"] == "640x360"
    audio_min = float(cells["audio min"])
    assert 0.1 < audio_min < 0.4
    for stage in ("probe", "transcode", "transcribe", "publish"):
        seconds, speed = cells[f"{stage} s (×RT)"].split()
        assert float(seconds) > 0 and float(speed.strip("(×)")) > 0, stage
    assert float(cells["uploaded MB"]) > 0.1
    assert float(cells["run s"]) > float(cells["re-run s"]) > 0
    assert float(cells["overhead s"]) > 0
    assert cells["re-run bytes"] == "0"
    talk_s = float(cells["run s"]) / float(cells["run ÷ talk"])  # the talk's length the ratio was taken over
    assert abs(talk_s / 60 - audio_min) < 0.06  # audio min is rounded to 0.1
    rung, ssim = cells["SSIM per rung"].split()
    assert rung == "360p" and 0.9 < float(ssim) <= 1.0  # the first run's rung against its source
    assert float(cells["peak MB"]) > float(cells["audio MB"]) > 0
    assert "embedded" not in result.stdout and f"s3://{bucket_name}/site (S3)" in result.stdout
