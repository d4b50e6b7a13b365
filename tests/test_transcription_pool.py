"""Transcription on its own work pool: publish-conference hands the speech over in S3 to transcribe-recording.

The unit tests check the handover location (never inside the public site). The pool test deploys prefect.yaml on
two process pools, one worker each, and publishes the short sample through the real SeaweedFS: the transcription
runs on the "GPU" pool's worker, with S3 URIs only, and what is handed over stays private.
"""

from __future__ import annotations

import contextvars
import json
import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest
from child_env import child_env
from prefect_workers import ROOT, start_worker, stop_workers
from test_inbox_s3 import anonymous_status
from test_workers import prefect_cli

from confcast.flows.transcription import handover_location, speech_key, split_object_uri, transcript_key
from confcast.tasks.errors import ConfigError, TranscriptionError

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


# --- the flow and the wait, on the session's Prefect server (no worker, no Whisper) ------------------


def test_transcribe_recording_looks_the_transcript_up_first(prefect_server, tmp_path: Path) -> None:
    from confcast.config.settings import Settings
    from confcast.flows.transcription import transcribe_recording
    from confcast.tasks.models import Segment, Transcript

    done = Transcript(language="fr", language_probability=None, duration_s=2.0,
                      segments=(Segment(start=0.0, end=2.0, text="Bonjour"),), engine="faster-whisper", model="base")
    result = tmp_path / "handover" / "transcript.json"
    result.parent.mkdir()
    result.write_text(done.model_dump_json(), encoding="utf-8")
    settings = Settings(work_dir=tmp_path / "work")
    speech_uri = (tmp_path / "handover" / "speech.wav").as_uri()  # absent: it is not even fetched
    assert transcribe_recording(speech_uri, result.as_uri(), language="fr", settings=settings) == result.as_uri()
    assert not (tmp_path / "work" / "transcriptions").exists()

    missing = tmp_path / "handover" / "other.json"
    with pytest.raises(TranscriptionError, match="no speech at file://") as error:
        transcribe_recording(speech_uri, missing.as_uri(), language="fr", settings=settings)
    assert "\n" not in str(error.value) and not missing.exists()


def test_a_failed_transcription_run_is_one_line_naming_deployment_and_run(prefect_server, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.states import Failed

    from confcast.config.settings import Settings
    from confcast.flows.transcription import wait_for_remote

    name = f"test-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:  # a deployment nobody serves: its run is failed by hand below
        deployment_id = client.create_deployment(client.create_flow_from_name("transcribe-recording"), name)
    settings = Settings(work_dir=tmp_path / "work")
    parameters = {"speech_uri": "s3://b/h/speech.wav", "result_uri": "s3://b/h/t.json"}
    outcome: list[BaseException] = []
    context = contextvars.copy_context()  # the session server's Prefect settings, in the waiting thread too
    waiting = threading.Thread(target=lambda: context.run(capture, outcome, wait_for_remote,
                                                          f"transcribe-recording/{name}", parameters,
                                                          "s3://b/h/t.json", settings))
    waiting.start()
    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + 60
        while not (runs := client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))):
            assert time.monotonic() < deadline and not outcome, outcome
            time.sleep(0.5)
        client.set_flow_run_state(runs[0].id, Failed(message="CUDA out of memory\non gpu-1"), force=True)
    waiting.join(60)
    [error] = outcome
    assert isinstance(error, TranscriptionError)
    message = str(error)
    assert "\n" not in message and f"transcribe-recording/{name}" in message and runs[0].name in message
    assert str(runs[0].id) in message and "Failed" in message and "CUDA out of memory on gpu-1" in message

    with pytest.raises(TranscriptionError, match="could not start transcription deployment transcribe-recording/nope"):
        wait_for_remote("transcribe-recording/nope", parameters, "s3://b/h/t.json", settings)


def capture(outcome: list[BaseException], function, *args) -> None:
    try:
        function(*args)
    except BaseException as error:
        outcome.append(error)


# --- two pools, one worker each ----------------------------------------------------------------------


@pytest.mark.slow
def test_transcription_runs_on_its_own_pool_with_s3_uris_only(
    prefect_server, s3_env, bucket_name: str, short_sample, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    from confcast.config.settings import Settings
    from confcast.flows.serve import publish_via_server
    from confcast.flows.transcription import TRANSCRIPTION_DEPLOYMENT, remove_handover
    from confcast.tasks.storage.s3 import S3Storage

    pool = f"confcast-test-{uuid.uuid4().hex[:8]}"
    gpu_pool = f"{pool}-gpu"
    site_url, handover_url = f"s3://{bucket_name}/site", f"s3://{bucket_name}/private/handover"
    env = child_env()
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
    with get_client(sync_client=True) as client:  # as `prefect work-pool create NAME --type process`, faster
        for name in (pool, gpu_pool):
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))

    source = tmp_path / "archive" / "atelier.mp4"
    source.parent.mkdir()
    shutil.copy(short_sample.path, source)
    workers = [  # started first: they come up while the deployments are made
        start_worker(pool, "worker-publish", {**env, "CONFCAST_WORK_DIR": str(tmp_path / "work-publish")},
                     tmp_path / "worker-publish.log"),
        start_worker(gpu_pool, "worker-gpu", {**env, "CONFCAST_WORK_DIR": str(tmp_path / "work-gpu"),
                                              "CONFCAST_HOST_NAME": f"gpu-{pool}", "CONFCAST_WHISPER_THREADS": "2"},
                     tmp_path / "worker-gpu.log"),
    ]
    try:
        prefect_cli("deploy", "--name", "publish-conference", "--name", "transcribe-recording",
                    "--prefect-file", str(ROOT / "prefect.yaml"), env=env)
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
    assert (
        anonymous_status(s3_env.endpoint_url, bucket_name, "site/conferences/2026-05-05-atelier/manifest.json")
        == 200
    )

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
