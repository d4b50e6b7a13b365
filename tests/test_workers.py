"""Scale-out through Prefect itself: prefect.yaml deployed onto a process work pool, two workers share a season."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from child_env import child_env
from prefect_workers import PREFECT, ROOT, start_worker, stop_workers

pytestmark = pytest.mark.slow


def prefect_cli(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run([PREFECT, "--no-prompt", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_two_workers_share_a_season_each_conference_once(prefect_server, short_sample, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    from confcast.flows.season import publish_season

    pool = f"confcast-test-{uuid.uuid4().hex[:8]}"
    site = tmp_path / "site"
    env = child_env()
    env.update(
        CONFCAST_WORK_POOL=pool,
        CONFCAST_CHECKOUT=str(ROOT),
        CONFCAST_STORAGE_URL=site.as_uri(),
        CONFCAST_WORK_DIR=str(tmp_path / "work"),
        CONFCAST_WHISPER_THREADS="1",
        PREFECT_WORKER_QUERY_SECONDS="2",
    )
    prefect_cli("work-pool", "create", pool, "--type", "process", env=env)
    prefect_cli("deploy", "--name", "publish-conference", "--prefect-file", str(ROOT / "prefect.yaml"), env=env)

    sources = []
    # One recording, three talks: each sidecar names its slug (a re-publish of a recording without one updates the
    # talk it already is).
    for title, slug in (("Premier", "premier"), ("Deuxième", "deuxieme"), ("Troisième", "troisieme")):
        path = tmp_path / "archive" / f"{title}.mp4"
        path.parent.mkdir(exist_ok=True)
        shutil.copy(short_sample.path, path)
        path.with_name(path.name + ".yaml").write_text(
            f"title: {title}\ndate: 2026-03-01\nlanguage: fr\nslug: 2026-03-01-{slug}\n", encoding="utf-8"
        )
        sources.append(str(path))

    workers = [start_worker(pool, name, env, tmp_path / f"{name}.log") for name in ("worker-a", "worker-b")]
    try:
        run_ids = publish_season(sources=sources, timeout_s=900)
    finally:
        stop_workers(workers)

    for slug in ("2026-03-01-premier", "2026-03-01-deuxieme", "2026-03-01-troisieme"):
        assert (site / "conferences" / slug / "manifest.json").exists(), slug
    with get_client(sync_client=True) as client:
        runs = [client.read_flow_run(uuid.UUID(run_id)) for run_id in run_ids]
    assert len({run.parameters["source"] for run in runs}) == 3
    assert all(run.state.is_completed() and run.run_count == 1 for run in runs)  # each processed exactly once
    worker_names = {run.labels.get("prefect.worker.name") for run in runs}
    assert worker_names == {"worker-a", "worker-b"}, [run.labels for run in runs]
