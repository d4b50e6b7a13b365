"""Re-publishing a published recording: metadata costs pages, not media; reviewed captions are published state."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from search_checks import indexed_text

from confcast.config.settings import Settings
from confcast.flows.publish import publish_conference
from confcast.flows.site_admin import replace_captions_flow
from confcast.tasks.media.hls import subtitle_uri
from confcast.tasks.storage.folder import FileStorage

pytestmark = pytest.mark.slow

SLUG = "2026-10-02-materiel-libre"
REVIEWED = """WEBVTT

00:00:00.500 --> 00:00:04.000
Bonjour à tous, merci d'être venus.

00:00:04.000 --> 00:00:09.000
Je parle du matériel libre
à Clermont-Ferrand, texte relu.
"""


def media_of(folder: Path) -> dict[str, tuple[int, bytes]]:
    """The media files of a conference folder (not page, manifest, captions, transcript nor search passages)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix in (".mp4", ".m4s", ".m4a", ".jpg")
    }


def current_media(folder: Path, manifest: dict) -> dict[str, tuple[int, bytes]]:
    """The media files a manifest points to (an earlier generation's may go meanwhile)."""
    video = manifest["video"]
    units = {f["path"] for f in video["mp4"]} | {manifest["audio"]["path"], video["poster"], video["thumbnail"]}
    units |= {video["hls"].split("/")[0], video["thumbnails"].split("/")[0]}
    return {key: value for key, value in media_of(folder).items() if key.split("/")[0] in units}


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def assert_reviewed_everywhere(site: Path, folder: Path) -> dict:
    """The reviewed text in the caption track, the HLS subtitle rendition, TXT/SRT/JSON, the page and the search."""
    manifest = json.loads(read(folder / "manifest.json"))
    track = manifest["captions"][0]
    assert track["status"] == "reviewed" and track["lang"] == "fr"
    assert "texte relu" in read(folder / track["path"])
    for kind in ("txt", "srt", "json"):
        assert "texte relu" in read(folder / manifest["transcript"][kind]), kind
    master = read(folder / manifest["video"]["hls"])
    playlist = folder / manifest["video"]["hls"].rsplit("/", 1)[0] / subtitle_uri(master, "fr")
    (segment,) = [line for line in read(playlist).splitlines() if line[:1] not in "#"]
    assert "texte relu" in read(playlist.parent / segment)
    page = read(folder / "index.html")
    assert "texte relu" in page and "(sous-titres relus)" in page
    assert "texte relu" in " ".join(indexed_text(FileStorage(site)).values())
    return manifest


def test_republish_reuses_published_media_and_keeps_reviewed_captions(
    prefect_server, short_sample, tmp_path: Path
) -> None:
    site, work = tmp_path / "site", tmp_path / "work"
    settings = Settings(storage_url=site.as_uri(), work_dir=work)
    source = str(short_sample.path)
    first = publish_conference(source=source, title="Matériel libre", date="2026-10-02", language="fr",
                               settings=settings)
    folder = site / "conferences" / SLUG
    assert first == (folder / "index.html").as_uri()
    media = media_of(folder)
    assert any(key.endswith(".mp4") for key in media)
    shutil.rmtree(work)  # a metadata-only re-publish needs no work folder

    # A fixed title, no slug given: the same talk is updated (not a second one), from storage alone.
    url = publish_conference(source=source, title="Matériel libre et ouvert", date="2026-10-02", language="fr",
                             settings=settings)
    assert url == first
    assert not (work / "runs").exists(), "no stage ran: nothing encoded nor transcribed"
    assert media_of(folder) == media, "no media rewritten"
    catalog = json.loads(read(site / "catalog.json"))
    assert [(e["slug"], e["title"]) for e in catalog["conferences"]] == [(SLUG, "Matériel libre et ouvert")]
    assert "Matériel libre et ouvert" in read(folder / "index.html")
    assert "Matériel libre et ouvert" in read(site / "feed.xml")
    assert [p.name for p in (site / "conferences").iterdir()] == [SLUG]

    # A vocabulary for Whisper's prompt: the transcript is made again onto the published media (the manifest says a
    # prompt was used, not its words); the same vocabulary again is an unchanged re-run.
    before = json.loads(read(folder / "manifest.json"))
    publish_conference(source=source, title="Matériel libre et ouvert", date="2026-10-02", language="fr",
                       vocabulary=["OpenLab"], settings=settings)
    shutil.rmtree(work)
    worded = json.loads(read(folder / "manifest.json"))
    assert before["generator"]["prompt_key"] is None and worded["generator"]["prompt_key"]
    assert worded["generator"]["transcript_key"] != before["generator"]["transcript_key"]
    assert "OpenLab" not in json.dumps(worded) and media_of(folder) == media
    publish_conference(source=source, title="Matériel libre et ouvert", date="2026-10-02", language="fr",
                       vocabulary=["OpenLab"], settings=settings)
    assert not (work / "runs").exists(), "unchanged: nothing ran"

    # Another Whisper setting, no reviewed track: Whisper runs again, its tracks go onto the published media.
    float32 = Settings(storage_url=site.as_uri(), work_dir=work, whisper_compute_type="float32")
    before = json.loads(read(folder / "manifest.json"))
    publish_conference(source=source, title="Matériel libre et ouvert", date="2026-10-02", language="fr",
                       settings=float32)
    retracked = json.loads(read(folder / "manifest.json"))
    assert media_of(folder) == media, "no encode, no media upload"
    assert retracked["generator"]["transcript_key"] != before["generator"]["transcript_key"]
    assert retracked["generator"]["media_key"] == before["generator"]["media_key"]
    assert retracked["video"]["mp4"] == before["video"]["mp4"]
    master = read(folder / retracked["video"]["hls"])
    playlist = folder / retracked["video"]["hls"].rsplit("/", 1)[0] / subtitle_uri(master, "fr")
    (segment,) = [line for line in read(playlist).splitlines() if line[:1] not in "#"]
    assert read(playlist.parent / segment) == read(folder / retracked["captions"][0]["path"])
    shutil.rmtree(work)

    # A person reviews the captions.
    (site / "reviewed.vtt").write_text(REVIEWED, encoding="utf-8")
    replace_captions_flow(SLUG, REVIEWED, "reviewed.vtt", settings=settings)
    assert_reviewed_everywhere(site, folder)

    # New metadata, then a new Whisper setting: pages only, the reviewed captions stay, Whisper does not run.
    publish_conference(source=source, title="Matériel libre et ouvert", date="2026-10-02", language="fr",
                       description="Avec une description.", settings=settings)
    manifest = assert_reviewed_everywhere(site, folder)
    assert manifest["description"] == "Avec une description." and "Avec une description." in read(folder / "index.html")
    other_whisper = Settings(storage_url=site.as_uri(), work_dir=work, whisper_compute_type="int8")
    publish_conference(source=source, title="Matériel libre et ouvert", date="2026-10-02", language="fr",
                       description="Avec une description.", settings=other_whisper)
    assert_reviewed_everywhere(site, folder)
    assert not (work / "runs").exists() and media_of(folder) == media

    # Media made again (here: a manifest from before content keys, as after an upgrade): the reviewed files come
    # back into the run from storage, Whisper does not run, the new ladder's subtitle rendition is the reviewed one.
    path = folder / "manifest.json"
    old = json.loads(read(path))
    keyed = ("media_key", "transcript_key", "fingerprint")
    old["generator"] = {k: v for k, v in old["generator"].items() if k not in keyed}
    path.write_text(json.dumps(old), encoding="utf-8")
    keep = Settings(storage_url=site.as_uri(), work_dir=work, keep_work=True)
    publish_conference(source=source, title="Matériel libre et ouvert", date="2026-10-02", language="fr",
                       description="Avec une description.", settings=keep)
    (run_dir,) = (work / "runs").iterdir()
    assert list(run_dir.rglob("*.mp4")) and not list(run_dir.rglob("*.wav")), "encoded, not transcribed"
    after_upgrade = assert_reviewed_everywhere(site, folder)
    assert after_upgrade["generator"]["media_key"] and after_upgrade["captions"] == old["captions"]
    shutil.rmtree(work)
    media = current_media(folder, after_upgrade)

    # Only --retranscribe runs Whisper again: the reviewed track stays the default, the automatic one beside it.
    publish_conference(source=source, title="Matériel libre et ouvert", date="2026-10-02", language="fr",
                       description="Avec une description.", settings=settings, retranscribe=True)
    manifest = assert_reviewed_everywhere(site, folder)
    assert current_media(folder, manifest) == media, "the media stay: no encode"
    assert [(t["lang"], t["status"]) for t in manifest["captions"]] == [("fr", "reviewed"), ("fr", "auto")]
    automatic = read(folder / manifest["captions"][1]["path"])
    assert automatic.startswith("WEBVTT") and "texte relu" not in automatic
    page = read(folder / "index.html")
    assert "Français (sous-titres automatiques" in page
    assert 'download hreflang="fr">WebVTT (Français (sous-titres automatiques))</a>' in page
    tracks = [line for line in page.splitlines() if "<track kind=\"captions\"" in line]
    assert len(tracks) == 2 and " default" in tracks[0] and " default" not in tracks[1]
