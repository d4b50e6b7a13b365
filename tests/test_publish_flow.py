"""The publish-conference flow, run in-process against the session's Prefect server, to a local folder."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest

from config.settings import Settings
from flows.publish import publish_conference

pytestmark = pytest.mark.slow


def manifest_paths(manifest: dict) -> list[str]:
    """Every file a manifest points to, relative to the conference folder."""
    paths = [f["path"] for f in manifest["video"]["mp4"]]
    paths += [manifest["video"]["poster"], manifest["audio"]["path"], manifest["page"]]
    paths += [track["path"] for track in manifest["captions"]]
    paths += [manifest["transcript"][kind] for kind in ("txt", "srt", "json")]
    return paths


def test_flow_publishes_a_conference_to_a_folder(prefect_server, short_sample, tmp_path: Path) -> None:
    site = tmp_path / "site"
    settings = Settings(storage_url=site.as_uri(), work_dir=tmp_path / "work")
    url = publish_conference(
        source=str(short_sample.path),
        title="Matériel libre <au> labo",
        date="2026-04-04",
        speakers=["Alice Martin"],
        language="fr",
        settings=settings,
    )
    folder = site / "conferences" / "2026-04-04-materiel-libre-au-labo"
    assert url == (folder / "index.html").as_uri()

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["slug"] == "2026-04-04-materiel-libre-au-labo"
    assert manifest["title"] == "Matériel libre <au> labo"
    assert manifest["language"] == "fr"
    assert manifest["source"]["filename"] == short_sample.path.name
    assert abs(manifest["duration_s"] - short_sample.duration_s) < 0.5
    assert manifest["video"]["mp4"][0]["height"] == 360  # never upscaled
    for relative in manifest_paths(manifest):
        assert (folder / relative).stat().st_size > 0, relative

    vtt = (folder / "captions" / "fr.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT")
    assert vtt.count(" --> ") >= 1
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "Matériel libre &lt;au&gt; labo" in page

    catalog = json.loads((site / "catalog.json").read_text(encoding="utf-8"))
    assert [entry["slug"] for entry in catalog["conferences"]] == [manifest["slug"]]
    assert catalog["conferences"][0]["manifest"] == f"conferences/{manifest['slug']}/manifest.json"
    assert "Matériel libre &lt;au&gt; labo" in (site / "index.html").read_text(encoding="utf-8")
    feed = feedparser.parse((site / "feed.xml").read_text(encoding="utf-8"))
    assert not feed.bozo
    assert feed.entries[0].enclosures[0].href.endswith(f"conferences/{manifest['slug']}/audio.m4a")
