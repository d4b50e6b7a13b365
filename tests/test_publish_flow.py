"""The publish-conference flow, run in-process against the session's Prefect server, to a local folder."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest

from confcast.config.settings import Settings
from confcast.flows.publish import publish_conference
from confcast.tasks.media.hls import parse_media_playlist

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

    # The HLS ladder and seek thumbnails, published with the captions as a subtitle rendition of every variant.
    video = manifest["video"]
    assert video["hls"].startswith("hls.") and video["hls"].endswith("/master.m3u8")
    assert [(r["width"], r["height"]) for r in video["renditions"]] == [(640, 360)]  # never upscaled
    master = (folder / video["hls"]).read_text(encoding="utf-8")
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",NAME="Français",LANGUAGE="fr"' in master
    assert master.count('SUBTITLES="subs"') == len(video["renditions"])
    for rendition in video["renditions"]:
        playlist = folder / rendition["path"]
        parsed = parse_media_playlist(playlist.read_text(encoding="utf-8"))
        assert abs(parsed.duration_s - manifest["duration_s"]) < 0.5
        assert all(
            (playlist.parent / name).stat().st_size > 0 for name in [parsed.init] + [n for _, n in parsed.segments]
        )
        assert f"BANDWIDTH={rendition['bandwidth']}," in master and rendition["bandwidth"] > 0
    assert video["mp4"][0]["bandwidth"] == video["renditions"][0]["bandwidth"]
    track = folder / video["thumbnails"]
    assert track.read_text(encoding="utf-8").startswith("WEBVTT") and (track.parent / "sprite.jpg").is_file()
    assert (folder / video["thumbnail"]).is_file()
    assert manifest["source"]["audio_track"] == {"index": 1, "channels": 1, "language": None, "of_tracks": 1}
    assert manifest["notices"] == []
    # Levelled by default (issue 16): said in the manifest, the original mix beside, no quiet speech in this talk.
    audio = manifest["audio"]
    assert "dynaudnorm" in audio["levelling"] and audio["quiet_passages"] == []
    assert (folder / audio["original"]).stat().st_size == audio["original_bytes"] > 0

    vtt = (folder / manifest["captions"][0]["path"]).read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT")
    assert vtt.count(" --> ") >= 1
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "Matériel libre &lt;au&gt; labo" in page
    assert f'<source src="{video["hls"]}" type="application/vnd.apple.mpegurl">' in page
    assert f'<track kind="metadata" label="thumbnails" src="{video["thumbnails"]}">' in page

    catalog = json.loads((site / "catalog.json").read_text(encoding="utf-8"))
    assert [entry["slug"] for entry in catalog["conferences"]] == [manifest["slug"]]
    assert catalog["conferences"][0]["manifest"] == f"conferences/{manifest['slug']}/manifest.json"
    assert "Matériel libre &lt;au&gt; labo" in (site / "index.html").read_text(encoding="utf-8")
    feed = feedparser.parse((site / "feed.xml").read_text(encoding="utf-8"))
    assert not feed.bozo
    assert feed.entries[0].enclosures[0].href.endswith(f"conferences/{manifest['slug']}/{manifest['audio']['path']}")
