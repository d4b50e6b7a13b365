"""The webhook's message names the talk as published: slug and title of the built metadata (options, sidecar, file
name), for inbox runs too, and for failed runs whenever the metadata could be built."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from webhook_receiver import webhook_receiver

from confcast.config.settings import Settings
from confcast.tasks.models import ConferenceMeta
from confcast.tasks.notify import Notice, run_notice


def test_a_notice_names_the_talk_as_published() -> None:
    meta = ConferenceMeta(title="Titre corrigé", date=dt.date(2026, 5, 1), slug="2026-05-01-titre-corrige")
    page = "https://cdn.example/site/conferences/2026-05-01-titre/index.html"  # the run continued the earlier slug
    assert run_notice("talk.mp4", meta, page_url=page) == Notice(
        event="published", source="talk.mp4", slug="2026-05-01-titre", title="Titre corrigé", page_url=page
    )
    failed = run_notice("talk.mp4", meta, error="boom")
    assert (failed.event, failed.slug, failed.title, failed.page_url, failed.error) == (
        "failed", "2026-05-01-titre-corrige", "Titre corrigé", None, "boom"
    )


@pytest.mark.slow
def test_inbox_runs_send_the_built_slug_and_title(prefect_server, short_sample, bad_inputs, tmp_path: Path) -> None:
    from confcast.flows.inbox import scan_inbox

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(short_sample.path, inbox / "journee_du-libre.mp4")  # no sidecar: the title is the file name's
    shutil.copy(bad_inputs["text file"], inbox / "atelier.mp4")  # not a recording: fails once its metadata is built
    (inbox / "atelier.mp4.yaml").write_text("title: Atelier cassé\ndate: 2026-06-05\n", encoding="utf-8")
    shutil.copy(bad_inputs["text file"], inbox / "mal-date.mp4")  # fails building its metadata
    (inbox / "mal-date.mp4.yaml").write_text("title: Mal daté\ndate: demain\n", encoding="utf-8")
    shutil.copy(bad_inputs["text file"], inbox / "soiree.mp4")  # an evening that fails: the event's run tells
    (inbox / "soiree.mp4.yaml").write_text("event: {title: Soirée, date: 2026-06-12}\ntalks: [{title: Un, start: 0}]\n",
                                           encoding="utf-8")
    site = tmp_path / "site"
    with webhook_receiver() as receiver:
        settings = Settings(storage_url=site.as_uri(), work_dir=tmp_path / "work", webhook_url=receiver.url)
        assert scan_inbox(inbox=str(inbox), settings=settings) == []  # a folder's files wait for a stable size
        (page_url,) = scan_inbox(inbox=str(inbox), settings=settings)

    messages = {message["source"]: message for message in receiver.received}
    assert sorted(messages) == ["atelier.mp4", "journee_du-libre.mp4", "mal-date.mp4", "soiree.mp4"]
    evening = messages["soiree.mp4"]
    assert (evening["event"], evening["page_url"]) == ("failed", None) and "soiree.mp4" in evening["error"]
    assert (inbox / "failed" / "soiree.mp4").exists()
    assert messages["journee_du-libre.mp4"] == {
        "confcast": 1, "event": "published", "source": "journee_du-libre.mp4",
        "slug": f"{dt.date.today().isoformat()}-journee-du-libre", "title": "journee du libre",
        "page_url": page_url, "error": None,
    }  # fmt: skip
    failed = messages["atelier.mp4"]
    assert (failed["event"], failed["slug"], failed["title"], failed["page_url"]) == (
        "failed", "2026-06-05-atelier-casse", "Atelier cassé", None
    )
    assert "atelier.mp4" in failed["error"]
    unbuilt = messages["mal-date.mp4"]
    assert (unbuilt["event"], unbuilt["slug"], unbuilt["title"], unbuilt["page_url"]) == ("failed", None, None, None)
    assert "date" in unbuilt["error"]
