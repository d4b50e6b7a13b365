"""`confcast captions SLUG --replace fixed.vtt`: reviewed captions republished without Whisper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from confcast.config.settings import Settings
from confcast.flows.publish import publish_conference
from confcast.tasks.media.hls import subtitle_uri

CONFCAST = str(Path(sys.executable).with_name("confcast"))
SLUG = "2026-09-10-corrections"

pytestmark = pytest.mark.slow

REVIEWED = """WEBVTT

00:00:00.500 --> 00:00:04.000
Bonjour à tous, merci d'être venus.

00:00:04.000 --> 00:00:09.000
Je parle du matériel libre
à Clermont-Ferrand, texte relu.
"""


def captions(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CONFCAST, "captions", *args], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, env=dict(os.environ))


def test_reviewed_captions_replace_the_automatic_ones(prefect_server, short_sample, tmp_path: Path) -> None:
    site = tmp_path / "site"
    publish_conference(source=str(short_sample.path), title="Corrections", date="2026-09-10", language="fr",
                       settings=Settings(storage_url=site.as_uri(), work_dir=tmp_path / "work"))
    folder = site / "conferences" / SLUG
    before = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert before["captions"][0]["status"] == "auto"

    broken = tmp_path / "broken.vtt"
    broken.write_text("WEBVTT\n\n00:00:01.000 --> nonsense\nTexte\n", encoding="utf-8")
    refused = captions(SLUG, "--replace", str(broken), "--to", site.as_uri())
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode != 0 and len(lines) == 1 and "broken.vtt" in lines[0] and "line" in lines[0]
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8")) == before

    fixed = tmp_path / "fixed.vtt"
    fixed.write_text(REVIEWED, encoding="utf-8")
    result = captions(SLUG, "--replace", str(fixed), "--to", site.as_uri(), "--work-dir", str(tmp_path / "work"))
    assert result.returncode == 0, result.stderr
    after = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    (track,) = after["captions"]
    assert track["status"] == "reviewed" and track["path"] != before["captions"][0]["path"]
    vtt = (folder / track["path"]).read_text(encoding="utf-8")
    assert "texte relu" in vtt and "reviewed by a person" in vtt
    assert not (folder / before["captions"][0]["path"]).exists(), "the automatic track is removed"
    assert "texte relu" in (folder / after["transcript"]["txt"]).read_text(encoding="utf-8")
    assert "texte relu" in (folder / after["transcript"]["srt"]).read_text(encoding="utf-8")
    segments = json.loads((folder / after["transcript"]["json"]).read_text(encoding="utf-8"))["segments"]
    assert [s["start"] for s in segments] == [0.5, 4.0]
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "texte relu" in page and "(sous-titres relus)" in page and "automatiques" not in page
    assert after["source"] == before["source"]
    assert {**after["video"], "hls": None} == {**before["video"], "hls": None}  # no new encode
    # The HLS ladder's subtitle rendition (what Safari and HLS players show) carries the reviewed text too.
    master = (folder / after["video"]["hls"]).read_text(encoding="utf-8")
    subtitle_playlist = folder / after["video"]["hls"].rsplit("/", 1)[0] / subtitle_uri(master, "fr")
    (segment,) = [line for line in subtitle_playlist.read_text(encoding="utf-8").splitlines() if line[:1] not in "#"]
    assert "texte relu" in (subtitle_playlist.parent / segment).read_text(encoding="utf-8")
    assert not (folder / before["video"]["hls"]).exists(), "the old master (automatic captions) is removed"
    caption_files = [p for p in folder.rglob("*.vtt") if not p.name.startswith("thumbnails")]
    assert len(caption_files) == 2, "the captions track and its HLS copy, no automatic copy left"
    assert all("texte relu" in p.read_text(encoding="utf-8") for p in caption_files)
    assert f'src="{after["video"]["hls"]}"' in page
    search = "".join(p.read_text(encoding="utf-8") for p in site.rglob("*.json") if "search" in str(p))
    assert "texte relu" in search
