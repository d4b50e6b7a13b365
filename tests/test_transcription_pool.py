"""Transcription on its own work pool: publish-conference hands the speech over in S3 to transcribe-recording.

The unit tests check the handover location (never inside the public site). The pool test deploys prefect.yaml on
two process pools, one worker each, and publishes the short sample through the real SeaweedFS: the transcription
runs on the "GPU" pool's worker, with S3 URIs only, and what is handed over stays private.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest

from flows.transcription import handover_location, speech_key, split_object_uri, transcript_key
from tasks.errors import ConfigError
from test_inbox_s3 import anonymous_status
from test_workers import PREFECT, ROOT, prefect_cli

SHA = "ab" * 32


# --- the handover location (no server) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("handover", "site"),
    [
        ("s3://talks/site", "s3://talks/site"),  # the site itself
        ("s3://talks/site/handover", "s3://talks/site"),  # under it
        ("s3://talks/private", "s3://talks"),  # the whole bucket is the site
        ("file:///srv/site/handover", "file:///srv/site"),
    ],
)
def test_handover_inside_the_public_site_is_refused(handover: str, site: str) -> None:
    with pytest.raises(ConfigError) as error:
        handover_location(handover, site)
    message = str(error.value)
    assert "\n" not in message and "inside the published site" in message and "public" in message


@pytest.mark.parametrize(
    ("handover", "site", "expected"),
    [
        ("s3://talks/handover", "s3://talks/site", "s3://talks/handover"),
        ("s3://talks/site-handover", "s3://talks/site", "s3://talks/site-handover"),  # a sibling, not inside
        ("s3://private-bucket", "s3://talks", "s3://private-bucket"),  # another bucket
        (None, "s3://talks/site", "s3://talks/handover"),  # derived beside the site prefix
        (None, "s3://talks/public/site", "s3://talks/handover"),
    ],
)
def test_handover_outside_the_site_is_accepted_or_derived(handover: str | None, site: str, expected: str) -> None:
    assert handover_location(handover, site).url == expected


@pytest.mark.parametrize("site", ["s3://talks", "file:///srv/site", "s3://talks/handover", "s3://talks/handover/x"])
def test_handover_is_required_when_it_cannot_be_derived_safely(site: str) -> None:
    with pytest.raises(ConfigError, match="needs handover_url"):
        handover_location(None, site)


def test_handover_keys_are_content_addressed() -> None:
    assert speech_key(SHA) == f"{SHA}/speech.wav"
    key = transcript_key(SHA, "fr", "transcribe", "base", "1.0")
    assert key.startswith(f"{SHA}/transcript-") and key.endswith(".json")
    assert key == transcript_key(SHA, "fr", "transcribe", "base", "1.0")
    assert len({key, transcript_key(SHA, "fr", "translate", "base", "1.0"),
                transcript_key(SHA, "en", "transcribe", "base", "1.0"),
                transcript_key(SHA, "fr", "transcribe", "small", "1.0")}) == 4
    location, name = split_object_uri(f"s3://talks/handover/{key}")
    assert (location.url, name) == (f"s3://talks/handover/{SHA}", key.rsplit("/", 1)[1])
    with pytest.raises(ConfigError):
        split_object_uri("s3://talks")


# --- two pools, one worker each ----------------------------------------------------------------------


def start_worker(pool: str, name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as output:
        return subprocess.Popen(
            [PREFECT, "worker", "start", "--pool", pool, "--name", name, "--limit", "1"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


@pytest.mark.slow
def test_transcription_runs_on_its_own_pool_with_s3_uris_only(
    prefect_server, s3_env, bucket_name: str, short_sample, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    from config.settings import Settings
    from flows.serve import publish_via_server
    from flows.transcription import TRANSCRIPTION_DEPLOYMENT, remove_handover
    from tasks.storage import S3Storage

    pool = f"confcast-test-{uuid.uuid4().hex[:8]}"
    gpu_pool = f"{pool}-gpu"
    site_url, handover_url = f"s3://{bucket_name}/site", f"s3://{bucket_name}/private/handover"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONFCAST_")}
    env.update(
        CONFCAST_WORK_POOL=pool,
        CONFCAST_TRANSCRIPTION_POOL=gpu_pool,
        CONFCAST_CHECKOUT=str(ROOT),
        CONFCAST_STORAGE_URL=site_url,
        CONFCAST_HANDOVER_URL=handover_url,
        CONFCAST_TRANSCRIPTION_DEPLOYMENT=TRANSCRIPTION_DEPLOYMENT,
        CONFCAST_KEEP_WORK="true",  # keeps the handover objects, to check they are private
        CONFCAST_WHISPER_THREADS="1",
        CONFCAST_S3_RETRY_SECONDS="5",
        PREFECT_WORKER_QUERY_SECONDS="2",
    )
    for name in (pool, gpu_pool):
        prefect_cli("work-pool", "create", name, "--type", "process", env=env)
    prefect_cli("deploy", "--name", "publish-conference", "--name", "transcribe-recording",
                "--prefect-file", str(ROOT / "prefect.yaml"), env=env)

    source = tmp_path / "archive" / "atelier.mp4"
    source.parent.mkdir()
    shutil.copy(short_sample.path, source)
    workers = [
        start_worker(pool, "worker-publish", {**env, "CONFCAST_WORK_DIR": str(tmp_path / "work-publish")},
                     tmp_path / "worker-publish.log"),
        start_worker(gpu_pool, "worker-gpu", {**env, "CONFCAST_WORK_DIR": str(tmp_path / "work-gpu"),
                                              "CONFCAST_HOST_NAME": f"gpu-{pool}"}, tmp_path / "worker-gpu.log"),
    ]
    try:
        page_url = publish_via_server(
            {"source": str(source), "title": "Atelier", "date": "2026-05-05", "language": "fr"}, timeout_s=600
        )
    finally:
        stop_workers(workers)

    # Published, with French captions, on the public site.
    site = S3Storage(site_url, public_read=False)
    manifest = json.loads(site.get_bytes("conferences/2026-05-05-atelier/manifest.json") or b"{}")
    assert page_url.endswith("/site/conferences/2026-05-05-atelier/index.html")
    assert manifest["language"] == "fr" and [track["lang"] for track in manifest["captions"]] == ["fr"]
    vtt = site.get_bytes(f"conferences/2026-05-05-atelier/{manifest['captions'][0]['path']}") or b""
    assert vtt.startswith(b"WEBVTT") and b" --> " in vtt
    assert anonymous_status(s3_env.endpoint_url, bucket_name, "site/conferences/2026-05-05-atelier/manifest.json") == 200

    with get_client(sync_client=True) as client:
        [publish_run] = client.read_flow_runs(work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])))
        [transcribe_run] = client.read_flow_runs(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[gpu_pool]))
        )
        parent_task = client.read_task_run(transcribe_run.parent_task_run_id)
    assert publish_run.state.is_completed() and transcribe_run.state.is_completed()
    assert publish_run.labels.get("prefect.worker.name") == "worker-publish"
    assert transcribe_run.labels.get("prefect.worker.name") == "worker-gpu"
    assert parent_task.flow_run_id == publish_run.id  # a subflow of the publication in the UI

    # Only S3 URIs cross the pools: no local path of the publishing host.
    parameters = transcribe_run.parameters
    assert parameters["speech_uri"].startswith(f"{handover_url}/") and parameters["result_uri"].startswith(
        f"{handover_url}/"
    )
    assert parameters["language"] == "fr" and parameters["task"] == "transcribe"
    text = json.dumps(parameters)
    assert "/tmp" not in text and "/root" not in text and str(tmp_path) not in text

    # The handover (kept here by keep_work) is private: the speech and the transcript are not readable anonymously.
    handover = S3Storage(f"s3://{bucket_name}/private", public_read=False)
    keys = handover.list_keys("handover/")
    speech = next(key for key in keys if key.endswith("/speech.wav"))
    transcript = next(key for key in keys if "/transcript-" in key)
    for key in (speech, transcript):
        assert anonymous_status(s3_env.endpoint_url, bucket_name, f"private/{key}") == 403, key
    assert json.loads(handover.get_bytes(transcript) or b"{}")["language"] == "fr"

    # Without keep_work, the publication removes what it handed over (remove_handover, called after publishing).
    local_speech = tmp_path / "speech.wav"
    assert handover.download_file(speech, local_speech)
    settings = Settings(storage_url=site_url, handover_url=handover_url,
                        transcription_deployment=TRANSCRIPTION_DEPLOYMENT, work_dir=tmp_path / "w")
    remove_handover(local_speech, settings)
    assert handover.list_keys("handover/") == []
