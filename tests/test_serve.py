"""`confcast serve` registers the deployments on a real Prefect server; `publish --via-server` runs one there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from child_env import child_env

CONFCAST = str(Path(sys.executable).with_name("confcast"))

pytestmark = pytest.mark.slow


def wait_for_deployment(name: str, timeout_s: float = 120) -> object:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            try:
                return client.read_deployment_by_name(name)
            except Exception:
                time.sleep(1)
    raise AssertionError(f"deployment {name} never appeared")


def test_serve_and_publish_via_server(prefect_server, short_sample, tmp_path: Path) -> None:
    site, inbox, work = tmp_path / "site", tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir()
    env = child_env()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [
            CONFCAST, "serve", "--to", site.as_uri(), "--work-dir", str(work), "--inbox", str(inbox),
            "--cron", "0 3 * * *",
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_for_deployment("publish-conference/publish-conference")
        scan = wait_for_deployment("scan-inbox/scan-inbox")
        assert scan.parameters == {"inbox": str(inbox)}
        assert [s.schedule.cron for s in scan.schedules] == ["0 3 * * *"]
        wait_for_deployment("rebuild-site/rebuild-site")

        result = subprocess.run(
            [CONFCAST, "publish", str(short_sample.path), "--title", "Via le serveur", "--date", "2026-10-02",
             "--language", "fr", "--via-server"],
            env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr + (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
        page = site / "conferences" / "2026-10-02-via-le-serveur" / "index.html"
        assert result.stdout.strip().splitlines()[-1] == page.as_uri()
        assert page.exists()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
