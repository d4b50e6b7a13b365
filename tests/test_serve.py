"""`confcast serve` registers the deployments on a real Prefect server; `publish --via-server` runs one there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from child_env import child_env
from event_media import make_beep_recording
from webhook_receiver import PATH_TOKEN, QUERY_TOKEN, Receiver, webhook_receiver

CONFCAST = str(Path(sys.executable).with_name("confcast"))

pytestmark = pytest.mark.slow


SERVED = ("publish-conference/publish-conference", "publish-event/publish-event", "scan-inbox/scan-inbox",
          "rebuild-site/rebuild-site")


def forget_deployments(names: tuple[str, ...]) -> None:
    """Deployments of these names that other tests left on the session's server (a work-pool deployment of
    publish-conference, say) go first: waiting for serve's own must not find theirs."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for name in names:
            try:
                client.delete_deployment(client.read_deployment_by_name(name).id)
            except Exception:  # none of that name
                continue


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


def newest_run_parameters(flow_name: str) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                                       sort=FlowRunSort.START_TIME_DESC, limit=1)
    return run.parameters


def test_serve_and_publish_via_server(prefect_server, short_sample, tmp_path: Path) -> None:
    with webhook_receiver() as receiver:
        serve_and_publish(receiver, short_sample, tmp_path)


def serve_and_publish(receiver: Receiver, short_sample, tmp_path: Path) -> None:
    site, inbox, work = tmp_path / "site", tmp_path / "inbox", tmp_path / "work"
    inbox.mkdir()
    env = child_env()
    forget_deployments(SERVED)
    log = (tmp_path / "serve.log").open("wb")
    config = tmp_path / "config.yaml"  # every setting of serve's own file reaches its runs, the webhook (a secret) too
    config.write_text(f"webhook_url: {receiver.url}\nsite_title: Les conférences du labo\nlanguage: en\n",
                      encoding="utf-8")
    server = subprocess.Popen(
        [
            CONFCAST, "serve", "--to", site.as_uri(), "--work-dir", str(work), "--inbox", str(inbox),
            "--cron", "0 3 * * *", "--config", str(config),
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_for_deployment("publish-conference/publish-conference")
        scan = wait_for_deployment("scan-inbox/scan-inbox")
        assert scan.parameters == {"inbox": str(inbox)}
        assert [s.schedule.cron for s in scan.schedules] == ["0 3 * * *"]
        wait_for_deployment("rebuild-site/rebuild-site")
        wait_for_deployment("publish-event/publish-event")

        result = subprocess.run(
            [CONFCAST, "publish", str(short_sample.path), "--title", "Via le serveur", "--date", "2026-10-02",
             "--via-server"],
            env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr + (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
        page = site / "conferences" / "2026-10-02-via-le-serveur" / "index.html"
        assert result.stdout.strip().splitlines()[-1] == page.as_uri()
        assert page.exists()
        deadline = time.monotonic() + 60  # the hook may still be posting when the run reads as completed
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.5)
        assert receiver.events() == [("published", short_sample.path.name)], "a served run calls the webhook"
        (message,) = receiver.received  # slug and title of the built metadata, not of the parameters given
        assert (message["slug"], message["title"]) == ("2026-10-02-via-le-serveur", "Via le serveur")
        assert message["page_url"] == page.as_uri()
        manifest = json.loads((page.parent / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["language"] == "en", "the config file's language, not auto (which detects French)"
        assert "<title>Les conférences du labo</title>" in (site / "index.html").read_text(encoding="utf-8")
        stored = str(newest_run_parameters("publish-conference"))
        assert "Via le serveur" in stored and PATH_TOKEN not in stored and QUERY_TOKEN not in stored

        # An evening: a run of the served publish-event deployment, its talks' addresses then the event page's.
        evening = make_beep_recording(tmp_path / "soiree.mp4", seconds=6.0, beep_at=4.0)
        evening_sidecar = ("event: {title: Soirée, date: 2026-10-09}\ntalks:\n  - {title: Un, start: 0, end: 3}\n"
                           "  - {title: Deux, start: 3}\n")
        (tmp_path / "soiree.mp4.yaml").write_text(evening_sidecar, encoding="utf-8")
        result = subprocess.run([CONFCAST, "publish", str(evening), "--via-server"], env=env, capture_output=True,
                                text=True, timeout=600, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr + (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
        talks = [site / "conferences" / f"2026-10-09-{name}" / "index.html" for name in ("un", "deux")]
        event_page = site / "events" / "2026-10-09-soiree" / "index.html"
        assert result.stdout.strip().splitlines() == [page.as_uri() for page in [*talks, event_page]]
        assert all(page.exists() for page in talks) and "2026-10-09-deux" in event_page.read_text(encoding="utf-8")

        # Another recording of that evening, with a new first talk: "Deux" is held by the first recording's talk.
        # The served site (not this machine's) is checked for every talk before the first is published.
        other = make_beep_recording(tmp_path / "autre.mp4", seconds=6.0, beep_at=2.0)
        (tmp_path / "autre.mp4.yaml").write_text(evening_sidecar.replace("title: Un", "title: Trois"),
                                                 encoding="utf-8")
        before = {p: p.read_bytes() for p in (site / "conferences").rglob("manifest.json")}
        result = subprocess.run([CONFCAST, "publish", str(other), "--via-server"], env=env, capture_output=True,
                                text=True, timeout=600, stdin=subprocess.DEVNULL)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode != 0 and len(lines) == 1, result.stderr
        assert lines[0].startswith("confcast: error: flow run ") and lines[0].endswith(
            "did not complete: slug '2026-10-09-deux' already holds another talk, 'Deux' of 2026-10-09, published "
            "from a different recording; publish this one under another slug (--slug another-slug, or slug: in its "
            "sidecar file), or give --replace to replace that talk on purpose"), lines[0]
        assert not (site / "conferences" / "2026-10-09-trois").exists(), "nothing published before the refusal"
        assert {p: p.read_bytes() for p in (site / "conferences").rglob("manifest.json")} == before
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def test_a_served_failure_is_one_line_of_its_own_error() -> None:
    from confcast.flows.serve import failure_line

    assert failure_line("odd-cat", "Flow run encountered an exception: MetadataError: slug 'x' holds\nanother") == (
        "flow run odd-cat did not complete: slug 'x' holds another")
    assert failure_line("odd-cat", "Flow run was cancelled.") == "flow run odd-cat did not complete: Flow run was " \
        "cancelled."
    assert failure_line("odd-cat", None) == "flow run odd-cat did not complete: no state"
