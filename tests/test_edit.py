"""`confcast edit SLUG`: a published talk's metadata and slug changed from storage alone (pages, not media)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from search_checks import indexed_text

from confcast.config.settings import Settings
from confcast.tasks.errors import MetadataError
from confcast.tasks.fingerprint import run_fingerprint
from confcast.tasks.site.edit import MetaChanges, edited_meta, redirect_page
from confcast.tasks.site.layout import CaptionTrack, ChaptersInfo, Manifest
from confcast.tasks.site.publish import rebuild_site, site_info
from confcast.tasks.site.republish import plan_republish
from confcast.tasks.storage.factory import open_storage
from confcast.tasks.storage.folder import FileStorage

CONFCAST = str(Path(sys.executable).with_name("confcast"))
SLUG = "2026-10-01-materiel-libre"
NEW_SLUG = "materiel-libre-et-ouvert"


def confcast(*args: str, work: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONFCAST_")}
    env["CONFCAST_WHISPER_TEMPERATURE_FALLBACK"] = "false"  # as the in-process publication (conftest)
    return subprocess.run([CONFCAST, *args, "--work-dir", str(work)], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, env=env)


def a_manifest(**generator: object) -> Manifest:
    return Manifest.model_validate({
        "slug": SLUG, "title": "Matériel libre", "date": "2026-10-01", "speakers": ["Alice"], "description": "",
        "language": "fr", "language_probability": 0.9, "duration_s": 12.0,
        "source": {"sha256": "a" * 64, "bytes": 10, "filename": "talk.mp4"},
        "video": {"mp4": [], "poster": "poster.0123456789ab.jpg"}, "audio": None,
        "captions": [{"lang": "fr", "path": "captions/fr.0123456789ab.vtt"}],
        "transcript": {"lang": "fr", "txt": "t.txt", "srt": "t.srt", "json": "t.json"},
        "page": "index.html", "published_at": "2026-10-01T10:00:00Z",
        "generator": {"version": "1", "engine": "faster-whisper", "model": "base", **generator},
    })


# --- pure ------------------------------------------------------------------------------------------------------


def test_edited_meta_checks_what_it_is_given() -> None:
    manifest = a_manifest(language_asked="auto")
    meta = edited_meta(manifest, MetaChanges(title="  Nouveau\x00 titre ", speakers=("Bob", " "), date="2026-10-02"))
    assert (meta.title, meta.speakers, meta.date, meta.slug) == ("Nouveau titre", ("Bob",), dt.date(2026, 10, 2), SLUG)
    assert meta.language == "auto" and meta.description == ""  # kept as asked, not as detected
    for bad in (MetaChanges(title=" \t"), MetaChanges(date="2026-13-01"), MetaChanges(slug="../up")):
        with pytest.raises(MetadataError):
            edited_meta(manifest, bad)


def test_redirect_page_escapes_the_url_and_title() -> None:
    page = redirect_page('https://x.example/c/n"ew/index.html?a=1&b=<2>', 'A "talk" <script>', "fr")
    assert 'href="https://x.example/c/n&quot;ew/index.html?a=1&amp;b=&lt;2&gt;"' in page
    assert 'content="0; url=https://x.example/c/n&quot;ew/index.html?a=1&amp;b=&lt;2&gt;"' in page
    assert '<link rel="canonical"' in page and "<script>" not in page and "&lt;script&gt;" in page


def test_plan_republish_keys_media_and_transcript_apart_from_metadata() -> None:
    keys = {"fingerprint": "f", "media_key": "m", "transcript_key": "t"}
    manifest = a_manifest(**keys)
    assert plan_republish(None, "a" * 64, "f", "m", "t").action == "publish"
    assert plan_republish(manifest, "b" * 64, "f", "m", "t").action == "publish"  # another recording
    assert plan_republish(manifest, "a" * 64, "f", "m", "t").action == "unchanged"
    assert plan_republish(manifest, "a" * 64, "f2", "m", "t").action == "edit"  # only metadata changed
    assert plan_republish(manifest, "a" * 64, "f2", "m", "t2").action == "tracks"  # Whisper again, no encode
    new_media = plan_republish(manifest, "a" * 64, "f2", "m2", "t")
    assert new_media.action == "publish" and new_media.keep_transcript  # Whisper need not run again
    assert plan_republish(a_manifest(), "a" * 64, "f2", "m", "t").action == "publish"  # a manifest without keys
    reviewed = manifest.model_copy(update={"captions": (
        CaptionTrack(lang="fr", path="captions/fr.0123456789ab.vtt", status="reviewed"),
    )})
    assert plan_republish(reviewed, "a" * 64, "f2", "m", "t2").action == "edit"  # a reviewed track stays
    kept = plan_republish(reviewed, "a" * 64, "f2", "m2", "t2")
    assert kept.action == "publish" and kept.keep_transcript and kept.keep_reviewed
    again = plan_republish(reviewed, "a" * 64, "f", "m", "t", retranscribe=True)
    assert again.action == "tracks" and not again.keep_transcript and again.keep_reviewed
    anew = plan_republish(reviewed, "a" * 64, "f", "m2", "t", retranscribe=True)
    assert anew.action == "publish" and not anew.keep_transcript and anew.keep_reviewed
    added = manifest.model_copy(update={"captions": (  # a person added German; Whisper's French is automatic
        CaptionTrack(lang="fr", path="captions/fr.0123456789ab.vtt"),
        CaptionTrack(lang="de", path="captions/de.0123456789ab.vtt", kind="subtitles", status="reviewed"),
    )})
    new_model = plan_republish(added, "a" * 64, "f2", "m", "t2")
    assert new_model.action == "tracks" and new_model.keep_reviewed  # the new setting is applied, German stays
    # New sidecar chapters: the media key changes, the picture key (the media without the chapters) does not
    pictured = a_manifest(**keys, picture_key="p")
    assert plan_republish(pictured, "a" * 64, "f2", "m2", "t", picture_key="p").action == "chapters"
    both = plan_republish(pictured, "a" * 64, "f2", "m2", "t2", picture_key="p")  # and new words
    assert both.action == "tracks" and both.new_chapters  # Whisper again, the chapters with it, still no encode
    assert not plan_republish(manifest, "a" * 64, "f2", "m", "t2").new_chapters  # the same chapters
    assert plan_republish(pictured, "a" * 64, "f2", "m2", "t", picture_key="p2").action == "publish"  # a new PDF
    assert plan_republish(manifest, "a" * 64, "f2", "m2", "t", picture_key="p").action == "publish"  # none kept
    assert plan_republish(pictured, "a" * 64, "f2", "m2", "t").action == "publish"  # a caller that cannot
    unkeyed = a_manifest(transcript_key="t", picture_key="p")  # no media key: made before the keys, encode again
    assert plan_republish(unkeyed, "a" * 64, "f2", "m2", "t", picture_key="p").action == "publish"


def test_plan_republish_takes_a_new_pdf_from_the_published_slide_text() -> None:
    """A new slides PDF, or chapters a sidecar now gives: the same frames key, the published slide text serves; not
    once the sidecar stops giving chapters (they come from the frames again), nor without a frames key."""
    framed = a_manifest(fingerprint="f", media_key="m", transcript_key="t", picture_key="p", frames_key="s")

    def plan(manifest: Manifest, transcript: str = "t", picture: str = "p2", frames: str | None = "s",
             sidecar_chapters: bool = False):  # fmt: skip
        return plan_republish(manifest, "a" * 64, "f2", "m2", transcript, picture_key=picture, frames_key=frames,
                              sidecar_chapters=sidecar_chapters)  # fmt: skip

    pdf = plan(framed)  # a PDF added, replaced or removed; chapters from the slide frames, or none
    assert (pdf.action, pdf.new_chapters, pdf.new_slides) == ("chapters", True, True)
    assert plan(framed, sidecar_chapters=True).new_slides  # chapters the sidecar now gives (or with a new PDF)
    assert not plan(framed, picture="p").new_slides  # the same PDF: the chapters alone
    from_sidecar = framed.model_copy(update={"chapters": ChaptersInfo(source="sidecar", vtt="c.vtt", json="c.json",
                                                                      items=())})  # fmt: skip
    assert plan(from_sidecar, sidecar_chapters=True).action == "chapters"  # still the sidecar's, a new PDF
    assert plan(from_sidecar).action == "publish"  # the sidecar gives none now: the chapters come from the frames
    named = framed.model_copy(update={"generator": framed.generator.model_copy(update={"chapters_key": "c"})})
    assert plan(named).action == "publish"  # none published, but the sidecar named some: maybe all past the end
    assert plan(named, sidecar_chapters=True).action == "chapters"
    worded = plan(framed, transcript="t2")  # and a vocabulary: Whisper again, the slides with its tracks
    assert (worded.action, worded.new_chapters, worded.new_slides) == ("tracks", True, True)
    assert plan(framed, frames="s2").action == "publish"  # another recording's picture (a new cut, levelling)
    assert plan(framed, frames=None).action == "publish"  # a caller that cannot
    assert plan(a_manifest(fingerprint="f", media_key="m", transcript_key="t", picture_key="p")).action == "publish"
    assert plan(a_manifest(transcript_key="t", frames_key="s")).action == "publish"  # made before the media keys


def test_a_new_pdf_needs_the_published_slide_text(tmp_path: Path) -> None:
    from confcast.tasks.errors import PublishError
    from confcast.tasks.site.layout import SlidesInfo
    from confcast.tasks.site.new_slides import frames_problem, published_frames
    from confcast.tasks.site.republish import Republish, without_published_frames

    storage = FileStorage(tmp_path)
    listed = a_manifest().model_copy(update={"slides": SlidesInfo(json="slides.0123456789ab.json")})
    assert published_frames(storage, a_manifest()) == () and frames_problem(storage, a_manifest()) is None
    with pytest.raises(PublishError, match="slides.0123456789ab.json is missing although the manifest names it$"):
        published_frames(storage, listed)
    storage.put_bytes(f"conferences/{SLUG}/slides.0123456789ab.json", b'{"slides": 3}', "application/json")
    assert "is not a slides.json" in (frames_problem(storage, listed) or "")
    # Then the frames are read anew by a publication, which keeps the transcript when the words are the same
    same_words, new_words = (Republish(action, new_chapters=True, new_slides=True) for action in ("chapters", "tracks"))
    assert without_published_frames(same_words, listed) == Republish("publish", keep_transcript=True)
    assert without_published_frames(new_words, listed) == Republish("publish")
    assert without_published_frames(Republish("chapters", new_chapters=True), listed).action == "chapters"


def test_a_re_encode_keeps_the_states_of_published_tracks() -> None:
    """Reviewed stays reviewed; a track a person added in another language (captions --add) is not turned into a
    machine translation when the run rebuilds the manifest as for a fresh publication."""
    from confcast.flows.stage_tasks import KeptTracks, with_track_states

    rebuilt = a_manifest().model_copy(update={"captions": (
        CaptionTrack(lang="fr", path="captions/fr.0123456789ab.vtt"),
        CaptionTrack(lang="de", path="captions/de.0123456789ab.vtt", kind="subtitles", machine_translated=True),
        CaptionTrack(lang="en", path="captions/en.0123456789ab.vtt", kind="subtitles", machine_translated=True),
    )})
    kept = KeptTracks(reviewed=("fr", "de"), human=("de",))
    tracks = {t.lang: t for t in with_track_states(rebuilt, kept, []).captions}
    assert tracks["fr"].status == "reviewed" and tracks["de"].status == "reviewed" and tracks["en"].status == "auto"
    assert not tracks["de"].machine_translated and tracks["en"].machine_translated
    states = [(t.lang, t.status) for t in with_track_states(rebuilt, kept, [("fr", "x")]).captions]
    assert states[:2] == [("fr", "reviewed"), ("fr", "auto")]  # the reviewed track first: the default


def test_an_edit_keeps_the_settings_a_talk_was_made_with() -> None:
    """The fingerprint an edit stores comes from the settings key the talk was published with, so that `confcast
    edit` run with other settings (another config file) does not make a later publish look unchanged."""
    from confcast.config.settings import Settings
    from confcast.tasks.fingerprint import fingerprint_of, run_fingerprint, settings_key

    manifest = a_manifest()
    meta = edited_meta(manifest, MetaChanges(title="Autre titre"))
    made_with, editing = Settings(whisper_model="small"), Settings()
    assert run_fingerprint(meta, "a" * 64, made_with) == fingerprint_of(meta, "a" * 64, settings_key(made_with))
    assert fingerprint_of(meta, "a" * 64, settings_key(made_with)) != run_fingerprint(meta, "a" * 64, editing)


# --- against a published talk ----------------------------------------------------------------------------------


def read(folder: Path) -> str:
    return (folder / "index.html").read_text(encoding="utf-8")


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_edit_rewrites_pages_not_media_and_moves_a_talk(prefect_server, short_sample, tmp_path: Path) -> None:
    from confcast.flows.publish import publish_conference

    site, work = tmp_path / "site", tmp_path / "work"
    settings = Settings(storage_url=site.as_uri(), work_dir=work)
    publish_conference(source=str(short_sample.path), title="Matériel libre", date="2026-10-01", language="fr",
                       settings=settings)
    folder = site / "conferences" / SLUG
    before = snapshot(site)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    media = {key: value for key, value in snapshot(folder).items()
             if key not in ("index.html", "manifest.json")}
    assert any(key.endswith(".mp4") for key in media) and any(key.startswith("hls.") for key in media)

    # Bad input: one line, non-zero, nothing changed.
    for args, says in (
        (["edit", "no-such-talk", "--title", "X"], "no-such-talk"),
        (["edit", SLUG, "--date", "2026-02-30"], "invalid date"),
        (["edit", SLUG, "--title", "  "], "title is empty"),
        (["edit", SLUG], "nothing to change"),
    ):
        refused = confcast(*args, "--to", site.as_uri(), work=work)
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert refused.returncode != 0 and len(lines) == 1 and says in lines[0], refused.stderr
    assert {k: v for k, v in snapshot(site).items() if not k.startswith(".confcast")} == {
        k: v for k, v in before.items() if not k.startswith(".confcast")
    }

    title = "Matériel libre <et> ouvert"
    done = confcast("edit", SLUG, "--title", title, "--speaker", "Alice Martin", "--speaker", "Bob",
                    "--description", "Une description.", "--to", site.as_uri(), work=work)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (folder / "index.html").as_uri()
    after = snapshot(folder)
    assert {key: after[key] for key in media} == media, "no media file rewritten"
    assert not (work / "runs").exists() or not any((work / "runs").iterdir())
    edited = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert (edited["title"], edited["speakers"], edited["description"]) == (title, ["Alice Martin", "Bob"],
                                                                            "Une description.")
    assert {**edited, "title": 0, "speakers": 0, "description": 0, "generator": 0} == {
        **manifest, "title": 0, "speakers": 0, "description": 0, "generator": 0}
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "Matériel libre &lt;et&gt; ouvert" in page and "Une description." in page and "Bob" in page
    assert "Matériel libre &lt;et&gt; ouvert" in (site / "index.html").read_text(encoding="utf-8")
    assert json.loads((site / "catalog.json").read_text(encoding="utf-8"))["conferences"][0]["title"] == title
    assert "Matériel libre &amp;lt;et&amp;gt; ouvert" in (site / "feed.xml").read_text(encoding="utf-8") or \
        "Matériel libre &lt;et&gt; ouvert" in (site / "feed.xml").read_text(encoding="utf-8")
    assert title in indexed_text(FileStorage(site))[SLUG]
    # The fingerprint is the one a publication of the same recording with this metadata computes.
    from confcast.tasks.metadata import build_meta

    meta = build_meta(short_sample.path, title=title, date="2026-10-01", language="fr", slug=SLUG,
                      speakers=["Alice Martin", "Bob"], description="Une description.")
    assert edited["generator"]["fingerprint"] == run_fingerprint(meta, manifest["source"]["sha256"], settings)

    # The same from `confcast publish` (new description): pages only, and without the flow; then unchanged.
    publish_args = ["publish", str(short_sample.path), "--title", title, "--date", "2026-10-01", "--language", "fr",
                    "--speaker", "Alice Martin", "--speaker", "Bob", "--description", "Autre description.",
                    "--to", site.as_uri()]
    republished = confcast(*publish_args, work=work)
    assert republished.returncode == 0, republished.stderr
    assert republished.stderr == "confcast: only the metadata changed, pages rewritten (no encode, no media upload)\n"
    assert republished.stdout.strip().splitlines()[-1] == (folder / "index.html").as_uri()
    assert {key: snapshot(folder)[key] for key in media} == media and "Autre description." in read(folder)
    again = confcast(*publish_args, work=work)
    assert again.returncode == 0 and "unchanged since its publication" in again.stderr, again.stderr

    # A move: the files go to the new folder, the old address sends viewers on.
    taken = confcast("edit", SLUG, "--slug", "../x", "--to", site.as_uri(), work=work)
    assert taken.returncode != 0 and "invalid slug" in taken.stderr
    moved = confcast("edit", SLUG, "--slug", NEW_SLUG, "--to", site.as_uri(), work=work)
    assert moved.returncode == 0, moved.stderr
    new_folder = site / "conferences" / NEW_SLUG
    assert moved.stdout.strip().splitlines()[-1] == (new_folder / "index.html").as_uri()
    assert [p.name for p in folder.iterdir()] == ["index.html"], "only the redirect stays"
    redirect = (folder / "index.html").read_text(encoding="utf-8")
    new_url = (new_folder / "index.html").as_uri()
    assert f'<meta http-equiv="refresh" content="0; url={new_url}">' in redirect
    assert f'<link rel="canonical" href="{new_url}">' in redirect and f'<a href="{new_url}">' in redirect
    moved_manifest = json.loads((new_folder / "manifest.json").read_text(encoding="utf-8"))
    assert moved_manifest["slug"] == NEW_SLUG and moved_manifest["video"] == manifest["video"]
    for key, (_, data) in media.items():
        assert (new_folder / key).read_bytes() == data, key
    catalog = json.loads((site / "catalog.json").read_text(encoding="utf-8"))
    assert [entry["slug"] for entry in catalog["conferences"]] == [NEW_SLUG]
    assert list(indexed_text(FileStorage(site))) == [NEW_SLUG]
    assert f"conferences/{NEW_SLUG}/" in (site / "feed.xml").read_text(encoding="utf-8")

    # rebuild-site leaves the redirect as it is, and says what it is.
    storage = open_storage(site.as_uri())
    report = rebuild_site(storage, site_info(storage, title="Conférences", language="fr"))
    assert report.pages == (NEW_SLUG,) and read(folder) == redirect
    (skipped,) = report.skipped
    assert skipped.startswith(f"{SLUG}: the page a moved talk left at its old address")

    # Moving another talk onto a taken slug is refused; moving back onto the redirect is not.
    refused = confcast("edit", NEW_SLUG, "--slug", NEW_SLUG + "-b", "--to", site.as_uri(), work=work)
    assert refused.returncode == 0, refused.stderr  # a free slug
    again = confcast("edit", NEW_SLUG + "-b", "--slug", SLUG, "--to", site.as_uri(), work=work)
    assert again.returncode == 0, again.stderr
    (site / "conferences" / "occupied").mkdir()
    (site / "conferences" / "occupied" / "notes.txt").write_text("someone else's\n", encoding="utf-8")
    occupied = confcast("edit", SLUG, "--slug", "occupied", "--to", site.as_uri(), work=work)
    assert occupied.returncode != 0 and "is taken" in occupied.stderr
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["slug"] == SLUG


CHAPTERED = """title: Matériel libre
date: 2026-10-01
language: fr
chapters:
  - {start: 0, title: Ouverture}
  - {start: "0:04", title: "Les <outils>"}
"""


@pytest.mark.slow
def test_new_sidecar_chapters_rewrite_chapters_and_pages_not_media(
    prefect_server, short_sample, tmp_path: Path
) -> None:
    """A chapter title fixed in the sidecar of a published talk: `confcast publish` (and the flow itself) rewrites
    the chapters' files, a new HLS master and the pages, without a work folder, so without an encode, even once the
    first run's work folder is gone."""
    import shutil

    from confcast.flows.publish import publish_conference
    from confcast.tasks.fingerprint import picture_parts

    talk, sidecar = tmp_path / "talk.mp4", tmp_path / "talk.mp4.yaml"
    shutil.copy(short_sample.path, talk)
    sidecar.write_text(CHAPTERED, encoding="utf-8")
    site, work = tmp_path / "site", tmp_path / "work"
    settings = Settings(storage_url=site.as_uri(), work_dir=work)
    publish_conference(source=str(talk), settings=settings)
    folder = site / "conferences" / SLUG
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["generator"]["picture_key"] and [c["title"] for c in manifest["chapters"]["items"]] == [
        "Ouverture", "Les <outils>"]
    assert picture_parts(((), None)) == (False, None) and picture_parts(()) == ()
    media = {key: value for key, value in snapshot(folder).items() if "chapters" not in key
             and not key.endswith(("index.html", "manifest.json", "master.m3u8")) and "/master." not in key}
    assert any(key.endswith(".m4s") for key in media) and any(key.endswith(".mp4") for key in media)
    assert not (work / "runs").exists() or not any((work / "runs").iterdir()), "the work folder goes once published"

    def published() -> tuple[dict, str, list[dict]]:
        now = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        master = (folder / now["video"]["hls"]).read_text(encoding="utf-8")
        uri = master.split('DATA-ID="com.apple.hls.chapters",URI="')[1].split('"')[0]
        hls_chapters = json.loads((folder / now["video"]["hls"]).parent.joinpath(uri).read_text(encoding="utf-8"))
        return now, (folder / now["chapters"]["vtt"]).read_text(encoding="utf-8"), hls_chapters

    # The CLI, without Prefect: a title fixed, a chapter moved
    sidecar.write_text(CHAPTERED.replace("Les <outils>", "Les <outils> libres").replace('"0:04"', '"0:05"'),
                       encoding="utf-8")  # fmt: skip
    done = confcast("publish", str(talk), "--to", site.as_uri(), work=work)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "confcast: only the chapters changed: chapters and pages rewritten, no encode\n"
    assert done.stdout.strip().splitlines()[-1] == (folder / "index.html").as_uri()
    after, vtt, hls_chapters = published()
    assert [(c["start"], c["title"]) for c in after["chapters"]["items"]] == [(0.0, "Ouverture"),
                                                                             (5.0, "Les <outils> libres")]
    assert after["chapters"]["source"] == "sidecar" and "Les <outils> libres" in vtt and "00:00:05.000" in vtt
    assert [c["titles"][0]["title"] for c in hls_chapters] == ["Ouverture", "Les <outils> libres"]
    assert after["video"]["hls"] != manifest["video"]["hls"], "a new master beside the immutable ladder"
    assert "Les &lt;outils&gt; libres" in read(folder) and "Les <outils> libres" not in read(folder)
    assert {key: snapshot(folder)[key] for key in media} == media, "no media file rewritten"
    assert not (work / "runs").exists() or not any((work / "runs").iterdir()), "no work folder: nothing encoded"
    assert (after["generator"]["picture_key"], after["generator"]["media_key"]) != (None, manifest["generator"][
        "media_key"]) and after["generator"]["picture_key"] == manifest["generator"]["picture_key"]
    again = confcast("publish", str(talk), "--to", site.as_uri(), work=work)
    assert again.returncode == 0 and "unchanged since its publication" in again.stderr, again.stderr

    # The flow itself (a schedule, an inbox, --via-server): the same, and the site's title with it
    sidecar.write_text(CHAPTERED.replace("Ouverture", "Accueil").replace("title: Matériel libre", "title: Matériel"),
                       encoding="utf-8")  # fmt: skip
    page = publish_conference(source=str(talk), settings=settings, slug=SLUG)
    assert page == (folder / "index.html").as_uri()
    last, vtt, hls_chapters = published()
    assert [c["title"] for c in last["chapters"]["items"]] == ["Accueil", "Les <outils>"]
    assert last["title"] == "Matériel"
    assert [c["titles"][0]["title"] for c in hls_chapters] == ["Accueil", "Les <outils>"] and "Accueil" in vtt
    assert {key: snapshot(folder)[key] for key in media} == media, "no media file rewritten"
    assert not (work / "runs").exists() or not any((work / "runs").iterdir()), "no work folder: nothing encoded"
    assert not (folder / manifest["chapters"]["vtt"]).exists(), "the generation before the previous one is gone"

    # A chapter and the words at once (a vocabulary added): Whisper again onto the same media, chapters with it
    sidecar.write_text(CHAPTERED.replace("Ouverture", "Bienvenue") + "vocabulary: [Clermont-Ferrand]\n",
                       encoding="utf-8")
    done = confcast("publish", str(talk), "--to", site.as_uri(), work=work)
    assert done.returncode == 0, done.stderr
    assert "confcast: the media are unchanged: transcribing again, new chapters, no encode" in done.stderr
    both, vtt, hls_chapters = published()
    assert [c["title"] for c in both["chapters"]["items"]] == ["Bienvenue", "Les <outils>"] and "Bienvenue" in vtt
    assert [c["titles"][0]["title"] for c in hls_chapters] == ["Bienvenue", "Les <outils>"]
    assert both["generator"]["transcript_key"] != last["generator"]["transcript_key"], "transcribed again"
    assert both["generator"]["media_key"] != last["generator"]["media_key"]
    assert both["generator"]["picture_key"] == manifest["generator"]["picture_key"]
    master = (folder / both["video"]["hls"]).read_text(encoding="utf-8")
    assert 'TYPE=SUBTITLES' in master and "com.apple.hls.chapters" in master, "captions and chapters both named"
    assert (folder / both["captions"][0]["path"]).read_text(encoding="utf-8").startswith("WEBVTT")
    assert {key: snapshot(folder)[key] for key in media} == media, "no media file rewritten"
    again = confcast("publish", str(talk), "--to", site.as_uri(), work=work)
    assert again.returncode == 0 and "unchanged since its publication" in again.stderr, again.stderr


@pytest.mark.slow
def test_a_new_slides_pdf_and_sidecar_chapters_cost_no_encode(prefect_server, tmp_path: Path) -> None:
    """A slides PDF added to a published talk over slides, then chapters the sidecar now gives, then the PDF taken
    away: each goes up from the slide text published with the talk (no work folder, no media file rewritten), the
    PDF's pages matched to the moments that show them as a publication matches them."""
    from chapter_samples import make_slides_talk

    from confcast.flows.publish import publish_conference

    talk = make_slides_talk(tmp_path / "talk")
    sidecar = talk.video.with_suffix(".yaml")
    described = "title: Microscope libre\ndate: 2026-04-04\nlanguage: fr\n"
    sidecar.write_text(described, encoding="utf-8")
    site, work = tmp_path / "site", tmp_path / "work"
    publish_conference(source=str(talk.video), settings=Settings(storage_url=site.as_uri(), work_dir=work))
    folder = site / "conferences" / "2026-04-04-microscope-libre"

    def manifest() -> dict:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))

    def shown(now: dict) -> list[dict]:
        return json.loads((folder / now["slides"]["json"]).read_text(encoding="utf-8"))["slides"]

    first = manifest()
    assert first["chapters"]["source"] == "slides" and first["slides"]["pdf"] is None
    assert first["generator"]["frames_key"] and not [s for s in shown(first) if "page" in s]
    media = {key: value for key, value in snapshot(folder).items() if key.endswith((".mp4", ".m4s", ".m4a"))}
    assert len(media) > 3

    def nothing_encoded() -> None:
        assert {key: snapshot(folder).get(key) for key in media} == media, "no media file rewritten"
        assert not (work / "runs").exists() or not any((work / "runs").iterdir()), "no work folder: nothing encoded"

    # The PDF added: the CLI, without Prefect
    sidecar.write_text(f"{described}slides: slides.pdf\n", encoding="utf-8")
    done = confcast("publish", str(talk.video), "--to", site.as_uri(), work=work)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("confcast: only the slides PDF or the chapters changed: slides, chapters and pages "
                           "rewritten, no encode\n")  # fmt: skip
    with_pdf = manifest()
    assert (folder / with_pdf["slides"]["pdf"]).read_bytes() == talk.pdf.read_bytes()
    assert with_pdf["slides"]["pages"] == len(talk.slides) + 1 and with_pdf["chapters"] == first["chapters"]
    pages = [s for s in shown(with_pdf) if "page" in s]
    assert [s for s in shown(with_pdf) if "page" not in s] == shown(first), "the text read on the frames stays"
    assert [p["page"] for p in pages] == [1, 2, 3, 4, 5]
    assert [p["start"] is None for p in pages] == [False, False, False, False, True]
    assert all(abs(p["start"] - s.start) <= 1.0 for p, s in zip(pages, talk.slides, strict=False))
    assert with_pdf["slides"]["pdf"] in read(folder)  # the page offers it for download
    assert "Annexe bibliographique" in " ".join(indexed_text(FileStorage(site)).values()), "searchable"
    nothing_encoded()
    again = confcast("publish", str(talk.video), "--to", site.as_uri(), work=work)
    assert again.returncode == 0 and "unchanged since its publication" in again.stderr, again.stderr

    # Chapters the sidecar now gives: the flow itself (a schedule, an inbox), the same
    sidecar.write_text(f"{described}slides: slides.pdf\nchapters:\n  - {{start: 0, title: Ouverture}}\n"
                       "  - {start: 8, title: Calendrier}\n", encoding="utf-8")  # fmt: skip
    publish_conference(source=str(talk.video), settings=Settings(storage_url=site.as_uri(), work_dir=work))
    chaptered = manifest()
    assert chaptered["chapters"]["source"] == "sidecar"
    assert [(c["start"], c["title"]) for c in chaptered["chapters"]["items"]] == [(0.0, "Ouverture"),
                                                                                 (8.0, "Calendrier")]
    assert chaptered["slides"] == with_pdf["slides"] and "Calendrier" in read(folder)
    nothing_encoded()

    # The PDF taken away: no page offers it any more, the frames' text stays searchable
    sidecar.write_text(sidecar.read_text(encoding="utf-8").replace("slides: slides.pdf\n", ""), encoding="utf-8")
    done = confcast("publish", str(talk.video), "--to", site.as_uri(), work=work)
    assert done.returncode == 0 and "only the slides PDF or the chapters changed" in done.stderr, done.stderr
    without = manifest()
    assert without["slides"]["pdf"] is None and without["slides"]["pages"] == 0
    assert shown(without) == shown(first) and without["chapters"] == chaptered["chapters"]
    assert with_pdf["slides"]["pdf"] not in read(folder)
    assert "Annexe bibliographique" not in " ".join(indexed_text(FileStorage(site)).values())
    nothing_encoded()

    # The PDF back with new words (a vocabulary): Whisper again onto the same media, the slides with its tracks
    sidecar.write_text(f"{sidecar.read_text(encoding='utf-8')}slides: slides.pdf\nvocabulary: [Microscope]\n",
                       encoding="utf-8")  # fmt: skip
    done = confcast("publish", str(talk.video), "--to", site.as_uri(), work=work)
    assert done.returncode == 0, done.stderr
    assert "the media are unchanged: transcribing again, new slides and chapters, no encode" in done.stderr
    worded = manifest()
    assert worded["generator"]["transcript_key"] != without["generator"]["transcript_key"], "transcribed again"
    assert worded["slides"] == with_pdf["slides"] and worded["chapters"] == chaptered["chapters"]
    master = (folder / worded["video"]["hls"]).read_text(encoding="utf-8")
    assert "TYPE=SUBTITLES" in master and "com.apple.hls.chapters" in master, "captions and chapters both named"
    nothing_encoded()

    # The published slide text lost (storage damaged), then the PDF taken away: published again from the recording,
    # which reads the frames anew; the words are the same, the published transcript stays
    (folder / worded["slides"]["json"]).unlink()
    sidecar.write_text(sidecar.read_text(encoding="utf-8").replace("slides: slides.pdf\n", ""), encoding="utf-8")
    done = confcast("publish", str(talk.video), "--to", site.as_uri(), work=work)
    assert done.returncode == 0, done.stderr
    assert "is missing although the manifest names it: publishing again from the recording" in done.stderr
    anew = manifest()
    assert anew["slides"]["pdf"] is None and shown(anew) == shown(first), "the frames read anew"
    assert anew["generator"]["transcript_key"] == worded["generator"]["transcript_key"]
    assert anew["chapters"]["source"] == "sidecar" and anew["captions"] == worded["captions"]
