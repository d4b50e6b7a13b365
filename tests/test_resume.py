"""Resume, do not redo: a run killed at any point finishes when started again, reusing finished stages;
a re-run of an unchanged, published conference encodes and uploads nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CONFCAST = str(Path(sys.executable).with_name("confcast"))
SLUG = "2026-05-07-reprise"

pytestmark = pytest.mark.slow


def publish_args(source: Path, site: Path, work: Path) -> list[str]:
    return [CONFCAST, "publish", str(source), "--title", "Reprise", "--date", "2026-05-07", "--language", "fr",
            "--to", site.as_uri(), "--work-dir", str(work)]


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, env=env)


def snapshot(site: Path) -> dict[str, int]:
    return {str(p.relative_to(site)): p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()}


def kill_when(args: list[str], trigger, env: dict[str, str], poll=None) -> None:
    """Start a publish, and kill its whole process group (like a crash) at the first stderr line that triggers, or
    as soon as `poll()` is true (checked every 50 ms)."""
    process = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                               text=True, start_new_session=True, env=env)
    killed = threading.Event()
    lock = threading.Lock()

    def kill() -> None:
        with lock:
            if not killed.is_set():
                os.killpg(process.pid, signal.SIGKILL)
                killed.set()

    def watch() -> None:
        for line in process.stderr:
            if trigger(line):
                kill()
                return

    def watch_files() -> None:
        while poll is not None and process.poll() is None and not killed.is_set():
            if poll():
                kill()
                return
            time.sleep(0.05)

    threads = [threading.Thread(target=watch, daemon=True), threading.Thread(target=watch_files, daemon=True)]
    for thread in threads:
        thread.start()
    process.wait(timeout=600)
    for thread in threads:
        thread.join(timeout=10)
    assert killed.is_set(), "the run ended before the kill point"
    time.sleep(0.5)


def finished_stages(work: Path) -> set[str]:
    return {p.name.split("-")[0] for p in work.glob("runs/*/stages/*.json")}


def test_rerun_of_an_unchanged_conference_does_nothing(prefect_server, short_sample, tmp_path: Path) -> None:
    site, work = tmp_path / "site", tmp_path / "work"
    first = run(publish_args(short_sample.path, site, work))
    assert first.returncode == 0, first.stderr
    assert not any((work / "runs").iterdir()), "the work folder of a published run is removed"
    before = snapshot(site)
    again = run(publish_args(short_sample.path, site, work))
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert "unchanged since its publication" in again.stderr
    assert "transcode" not in again.stderr and "transcribe" not in again.stderr
    assert snapshot(site) == before, "nothing is uploaded again"
    retitled = run([*publish_args(short_sample.path, site, work)[:-4], "--title", "Reprise", "--description",
                    "Nouvelle description", "--to", site.as_uri(), "--work-dir", str(work)])
    assert retitled.returncode == 0 and "unchanged since its publication" not in retitled.stderr
    assert " | INFO " not in retitled.stderr, "Prefect's console logs stay off the terminal unless --verbose"


@pytest.mark.parametrize(
    "kill_point",
    ["transcode", "transcribe", "upload"],
)
def test_a_killed_run_resumes_without_redoing_finished_stages(
    kill_point: str, prefect_server, short_sample, tmp_path: Path
) -> None:
    site, work = tmp_path / "site", tmp_path / "work"
    args = publish_args(short_sample.path, site, work)
    # The killed run's transcription slot stays taken until its lease ends (60 s, Prefect's minimum); this test is
    # about resuming, so the resumed run counts as another host's rather than wait for that.
    killed_env = {**os.environ, "CONFCAST_HOST_NAME": f"killed-{tmp_path.name}-{os.getpid()}"}
    resumed_env = {**os.environ, "CONFCAST_HOST_NAME": f"resumed-{tmp_path.name}-{os.getpid()}"}
    poll = None
    if kill_point == "upload":  # as soon as both heavy stages are done, whichever ends last
        def trigger(line: str) -> bool:
            return False

        def poll() -> bool:
            return {"transcode", "transcribe"} <= finished_stages(work)
    else:
        def trigger(line: str) -> bool:
            return f"confcast: {kill_point} " in line and "%" in line and not line.rstrip().endswith(" 0.0%")
    kill_when(args, trigger, killed_env, poll)
    done_before = finished_stages(work)
    assert not (site / "conferences" / SLUG / "manifest.json").exists(), "killed before publishing the manifest"

    resumed = run(args, resumed_env)
    assert resumed.returncode == 0, resumed.stderr
    for stage in done_before & {"transcode", "transcribe"}:
        assert f"confcast: {stage} already done, reused" in resumed.stderr, (stage, resumed.stderr)
    manifest = json.loads((site / "conferences" / SLUG / "manifest.json").read_text(encoding="utf-8"))
    folder = site / "conferences" / SLUG
    for track in manifest["captions"]:
        assert (folder / track["path"]).stat().st_size > 0
    for rendition in manifest["video"]["mp4"]:
        assert (folder / rendition["path"]).stat().st_size > 0
    catalog = json.loads((site / "catalog.json").read_text(encoding="utf-8"))
    assert [entry["slug"] for entry in catalog["conferences"]] == [SLUG]
