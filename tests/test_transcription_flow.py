"""Transcription inside Prefect: one transcription per host, the translated track, the run summary.

Real Prefect server (the session's), real Whisper, real files; nothing is mocked.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.task_runners import ThreadPoolTaskRunner

from confcast.config.settings import Settings
from confcast.flows.concurrency import one_transcription_per_host, transcription_limit_name
from confcast.flows.publish import publish_conference
from confcast.flows.stage_tasks import whisper_temperatures
from confcast.tasks.transcription import transcribe
from confcast.tasks.transcription.transcribe import transcribe_audio

pytestmark = pytest.mark.slow

CLIP = Path(__file__).parent / "fixtures" / "librivox" / "sense_and_sensibility_01_austen_64kb-0890.wav"


@task
def timed_transcription(cache_dir: Path) -> tuple[float, float, str]:
    with one_transcription_per_host():
        start = time.monotonic()
        text = transcribe_audio(CLIP, cache_dir=cache_dir, language="en").text
        return start, time.monotonic(), text


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def two_transcriptions(cache_dir: Path) -> list[tuple[float, float, str]]:
    futures = [timed_transcription.submit(cache_dir) for _ in range(2)]
    return [f.result() for f in futures]


def test_temperature_fallback_is_whisper_default_unless_turned_off() -> None:
    assert whisper_temperatures(Settings(whisper_temperature_fallback=True)) == transcribe.TEMPERATURES
    assert whisper_temperatures(Settings(whisper_temperature_fallback=False)) == (0.0,)
    assert Settings.model_fields["whisper_temperature_fallback"].default is True


def test_two_transcriptions_in_one_flow_run_do_not_overlap(prefect_server, tmp_path: Path) -> None:
    (first_start, first_end, first_text), (second_start, second_end, second_text) = sorted(
        two_transcriptions(tmp_path)
    )
    assert first_text and first_text == second_text
    assert first_end <= second_start  # the second waited for the first's slot
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(transcription_limit_name())
    assert limit.limit == 1 and limit.active_slots == 0  # created with one slot, and released


def test_publish_with_an_english_translation(prefect_server, short_sample, tmp_path: Path) -> None:
    site = tmp_path / "site"
    settings = Settings(storage_url=site.as_uri(), work_dir=tmp_path / "work", translate="en")
    state = publish_conference(
        source=str(short_sample.path), title="Matériel libre", date="2026-04-04", language="fr", settings=settings,
        return_state=True,
    )
    folder = site / "conferences" / "2026-04-04-materiel-libre"
    assert state.result() == (folder / "index.html").as_uri()

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["language"] == "fr" and manifest["transcript"]["lang"] == "fr"
    french, english = manifest["captions"]
    assert (french["lang"], french["kind"], french["status"], french["machine_translated"]) == (
        "fr", "captions", "auto", False
    )
    assert (english["lang"], english["kind"], english["status"], english["machine_translated"]) == (
        "en", "subtitles", "auto", True
    )
    assert english["path"].startswith("captions/en") and english["path"].endswith(".vtt")
    vtt = (folder / english["path"]).read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\nLanguage: en\n") and "Machine translation" in vtt and " --> " in vtt
    assert "matériel" not in vtt.lower()  # English, not the French transcript again

    page = (folder / "index.html").read_text(encoding="utf-8")
    assert page.count("<track ") >= 2
    assert 'srclang="en"' in page and "traduction automatique" in page

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    summaries = [a for a in artifacts if a.description == "Run summary"]  # the page link is markdown too
    assert len(summaries) == 1
    assert "fr (forced)" in summaries[0].data and "| Translation | en, machine-translated" in summaries[0].data
