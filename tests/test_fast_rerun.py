"""An unchanged re-run of `confcast publish` answers from the published manifest, without starting Prefect; anything
else (new metadata, another recording, nothing published, --replace) runs the flow as before."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from child_env import child_env
from prefect_server import free_port

from confcast.config.settings import Settings
from confcast.flows.cli_support import check_before_flow, quick_storage, unchanged_publication

CONFCAST = str(Path(sys.executable).with_name("confcast"))

pytestmark = pytest.mark.slow


def test_an_unchanged_rerun_answers_without_prefect(
    prefect_server, short_sample, s3_env, bucket_name: str, tmp_path: Path
) -> None:
    from confcast.flows.publish import publish_conference

    site, work = f"s3://{bucket_name}/site", tmp_path / "work"
    options = {"title": "Sans Prefect", "date": "2026-07-01", "language": "fr"}
    settings = Settings(storage_url=site, work_dir=work)
    page_url = publish_conference(source=str(short_sample.path), settings=settings, **options)

    env = {**child_env(), "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}  # nothing listens there

    def rerun(*extra: str) -> tuple[subprocess.CompletedProcess, float]:
        command = [CONFCAST, "publish", str(short_sample.path), "--title", "Sans Prefect", "--date", "2026-07-01",
                   "--language", "fr", "--to", site, "--work-dir", str(work), *extra]
        start = time.monotonic()
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
        return result, time.monotonic() - start

    result, elapsed = rerun()
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [page_url]
    assert result.stderr == "confcast: unchanged since its publication, nothing to do\n"
    assert elapsed < 10, f"{elapsed:.1f} s"  # about a second here; Prefect's temporary server alone takes 10-17 s

    # New metadata only: pages rewritten, also without Prefect (flows/site_admin.py, publish_metadata_only).
    edited, _ = rerun("--description", "Une description ajoutée")
    assert edited.returncode == 0, edited.stderr
    assert edited.stderr == "confcast: only the metadata changed, pages rewritten (no encode, no media upload)\n"
    assert rerun()[0].returncode == 0  # and back to the first metadata
    changed, _ = rerun("--replace")  # the flow runs: Prefect, unreachable
    assert changed.returncode == 1 and "unchanged" not in changed.stderr
    assert "Failed to reach API" in changed.stderr, changed.stderr

    meta, probe = check_before_flow(settings, {"source": str(short_sample.path), **options})
    assert unchanged_publication(settings, meta, probe) == page_url
    other_recording = probe.model_copy(update={"source": probe.source.model_copy(update={"sha256": "0" * 64})})
    for changed_settings, changed_meta, changed_probe in [
        (settings, meta.model_copy(update={"description": "Une description ajoutée"}), probe),
        (settings, meta.model_copy(update={"slug": "rien-ici"}), probe),  # nothing published at that slug
        (settings, meta, other_recording),  # another recording under the same slug
        (settings.model_copy(update={"whisper_model": "tiny"}), meta, probe),  # a setting that shapes the output
        (settings.model_copy(update={"storage_url": f"s3://{bucket_name}-none/site"}), meta, probe),  # no bucket
    ]:
        assert unchanged_publication(changed_settings, changed_meta, changed_probe) is None


def test_the_embedded_server_is_read_only_when_running(tmp_path: Path) -> None:
    settings = Settings(work_dir=tmp_path / "work", local_s3_port=free_port())
    assert quick_storage(settings) is None  # not running: the run starts it, not this question
    assert not (tmp_path / "work" / "seaweedfs").exists()
