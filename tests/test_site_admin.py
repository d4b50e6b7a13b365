"""The site on object storage: content types, Cache-Control, CORS, search data, `rebuild-site` and `unpublish`,
against the real SeaweedFS (anonymous HTTP reads, as a viewer's browser makes them) and the session's Prefect server.

Conferences here are stand-ins (small files, a real transcript): the real publish flow runs in test_browser.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import feedparser
import pytest
from search_checks import indexed, indexed_text

from confcast.config.settings import Settings
from confcast.flows.site_admin import rebuild_site, unpublish
from confcast.tasks.errors import PublishError
from confcast.tasks.models import (
    AudioStream,
    Conference,
    ConferenceMeta,
    Media,
    Probe,
    Rendition,
    Segment,
    SourceFile,
    Transcript,
    VideoStream,
)
from confcast.tasks.site import publish as publish_module
from confcast.tasks.site.corrections import replace_captions
from confcast.tasks.site.layout import Generator, build_manifest
from confcast.tasks.site.publish import publish_conference_files, site_info
from confcast.tasks.site.publish import rebuild_site as rebuild_site_files
from confcast.tasks.storage.base import Storage
from confcast.tasks.storage.factory import open_storage
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.transcription.captions import write_transcript_files

CONFCAST = str(Path(sys.executable).with_name("confcast"))
TALKS = {
    "2026-02-06-atelier": (
        "L'atelier réseau", 2, ["Bonjour et bienvenue à l'atelier.", "Le réseau maillé relie nos écoles."]
    ),
    "2026-04-04-microscope": (
        "Un microscope libre", 4, ["Nous avons construit un microscope.", "Il coûte trente euros."]
    ),
}


def stand_in(tmp_path: Path, slug: str) -> Conference:
    """A conference with small stand-in media and a real transcript (captions, SRT, TXT, JSON)."""
    title, month, sentences = TALKS[slug]
    folder = tmp_path / slug
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in ("video.mp4", "poster.jpg", "audio.m4a", "speech.wav"):
        files[name] = folder / name
        files[name].write_bytes(f"{slug} {name}".encode() * 50)
    segments = tuple(Segment(start=4.0 * i, end=4.0 * i + 3.5, text=f" {text}") for i, text in enumerate(sentences))
    transcript = Transcript(language="fr", language_probability=None, duration_s=8.0, segments=segments,
                            engine="faster-whisper", model="base")
    return Conference(
        meta=ConferenceMeta(title=title, date=dt.date(2026, month, 4), slug=slug, speakers=("Alice Martin",),
                            description=f"À propos : {title}", language="fr"),
        probe=Probe(source=SourceFile(path=folder / "talk.mp4", filename="talk.mp4", sha256="cd" * 32, bytes=99),
                    duration_s=8.0, format_name="mov,mp4",
                    video=VideoStream(index=0, codec="h264", width=640, height=360),
                    audio=(AudioStream(index=1, codec="aac", channels=1, sample_rate=48000),)),
        media=Media(mp4=(Rendition(width=640, height=360, path=files["video.mp4"],
                                   bytes=files["video.mp4"].stat().st_size),),
                    poster=files["poster.jpg"], audio=files["audio.m4a"], speech=files["speech.wav"]),
        transcript=transcript,
        transcript_files=write_transcript_files(transcript, folder / "text"),
    )


def publish_stand_ins(storage: Storage, tmp_path: Path, *slugs: str) -> dict[str, str]:
    urls = {}
    for slug in slugs or TALKS:
        conference = stand_in(tmp_path, slug)
        manifest = build_manifest(conference, published_at=dt.datetime.now(dt.timezone.utc),
                                  generator=Generator(version="test", engine="faster-whisper", model="base"))
        urls[slug] = publish_conference_files(storage, conference, manifest, site_title="OpenLab",
                                              site_language="fr")
    return urls


def http(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """An anonymous request, as a viewer's browser makes it."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, b""


def search_keys(storage: Storage) -> set[str]:
    """The keys of the current search build."""
    return set(json.loads(storage.get_bytes("search/files.json"))["current"])


@pytest.fixture
def settings(s3_env, bucket_name: str, tmp_path: Path) -> Settings:
    return Settings(storage_url=f"s3://{bucket_name}/site", s3_endpoint_url=s3_env.endpoint_url,
                    work_dir=tmp_path / "work", site_title="OpenLab", cors_origins=["https://player.example"])


def open_site(settings: Settings) -> Storage:
    return open_storage(settings.storage_url, endpoint_url=settings.s3_endpoint_url,
                        cors_origins=settings.cors_origins)


def test_published_files_carry_types_cache_rules_and_cors(settings: Settings, tmp_path: Path) -> None:
    storage = open_site(settings)
    urls = publish_stand_ins(storage, tmp_path)
    root = storage.public_url("index.html").removesuffix("index.html")
    folder = urls["2026-04-04-microscope"].removesuffix("index.html")
    manifest = json.loads(http(folder + "manifest.json")[2])

    immutable, short = "public, max-age=31536000, immutable", "public, max-age=60"
    expected = {
        folder + manifest["video"]["mp4"][0]["path"]: ("video/mp4", immutable),
        folder + manifest["video"]["poster"]: ("image/jpeg", immutable),
        folder + manifest["audio"]["path"]: ("audio/mp4", immutable),
        folder + manifest["captions"][0]["path"]: ("text/vtt; charset=utf-8", immutable),
        folder + manifest["transcript"]["srt"]: ("application/x-subrip; charset=utf-8", immutable),
        folder + manifest["transcript"]["json"]: ("application/json; charset=utf-8", immutable),
        folder + "index.html": ("text/html; charset=utf-8", short),
        folder + "manifest.json": ("application/json; charset=utf-8", short),
        root + "index.html": ("text/html; charset=utf-8", short),
        root + "catalog.json": ("application/json; charset=utf-8", short),
        root + "feed.xml": ("application/rss+xml; charset=utf-8", short),
        root + "search/bundles.json": ("application/json; charset=utf-8", short),
        root + "search/pagefind.js": ("text/javascript; charset=utf-8", short),
    }
    fragment = next(key for key in search_keys(storage) if "/fragment/" in key)
    expected[root + fragment] = ("application/octet-stream", short)  # Pagefind names it by content, 7 hex digits
    for url, (content_type, cache_control) in expected.items():
        status, headers, body = http(url)
        assert status == 200 and body, url
        assert (headers["content-type"], headers["cache-control"]) == (content_type, cache_control), url

    # Players on the configured origin may fetch captions and ranges of the video; other origins may not.
    vtt = folder + manifest["captions"][0]["path"]
    status, headers, _ = http(vtt, "OPTIONS", {"Origin": "https://player.example",
                                                "Access-Control-Request-Method": "GET",
                                                "Access-Control-Request-Headers": "range"})
    assert status == 200 and headers.get("access-control-allow-origin") == "https://player.example"
    assert "GET" in headers.get("access-control-allow-methods", "")
    status, headers, _ = http(vtt, headers={"Origin": "https://player.example"})
    assert headers.get("access-control-allow-origin") == "https://player.example"
    assert "content-range" in headers.get("access-control-expose-headers", "").lower()
    _, headers, _ = http(vtt, "OPTIONS", {"Origin": "https://elsewhere.example",
                                           "Access-Control-Request-Method": "GET"})
    assert headers.get("access-control-allow-origin") is None

    # Search data: a Pagefind document per talk, its cues anchored at their moment.
    fragments = {slug: by_lang["fr"] for slug, by_lang in indexed(storage).items()}
    assert set(fragments) == {"2026-04-04-microscope", "2026-02-06-atelier"}
    talk, speech = fragments["2026-04-04-microscope"]  # the talk, and its one part of speech
    for document in (talk, speech):
        assert document["meta"]["title"] == "Un microscope libre" and document["filters"]["speaker"] == ["Alice Martin"]
        assert document["meta"]["page"] == "conferences/2026-04-04-microscope/index.html"
    assert "Alice Martin" in talk["content"] and "Alice Martin" not in speech["content"]
    assert [(a["id"], a["text"]) for a in speech["anchors"] if a["element"] == "h2"] == [
        ("t=0", "Nous avons construit un microscope."), ("t=4", "Il coûte trente euros.")]

    feed = feedparser.parse(http(root + "feed.xml")[2])
    assert not feed.bozo
    assert [entry.title for entry in feed.entries] == ["Un microscope libre", "L'atelier réseau"]
    assert all(entry.enclosures[0].href.startswith(root) for entry in feed.entries)


def test_republishing_rebuilds_the_search_and_keeps_one_generation(settings: Settings, tmp_path: Path) -> None:
    storage = open_site(settings)
    publish_stand_ins(storage, tmp_path, "2026-04-04-microscope")
    first = search_keys(storage)
    publish_stand_ins(storage, tmp_path, "2026-02-06-atelier")
    second = search_keys(storage)
    assert second != first
    # A viewer whose search began a moment ago still finds the last build's files.
    assert first | second | {"search/files.json"} == set(storage.list_keys("search/"))
    text = indexed_text(storage)
    publish_stand_ins(storage, tmp_path, "2026-04-04-microscope")  # same content: the same index, the oldest go
    third = search_keys(storage)
    assert second | third | {"search/files.json"} == set(storage.list_keys("search/"))
    assert not (first - second - third) & set(storage.list_keys("search/"))
    assert indexed_text(storage) == text
    assert "Le réseau maillé relie nos écoles." in text["2026-02-06-atelier"] and "Alice Martin" in text[
        "2026-02-06-atelier"]
    assert json.loads(storage.get_bytes("search/bundles.json")) == {"languages": {"fr": "fr/"}}
    status, headers, _ = http(storage.public_url("search/pagefind.js"))
    assert status == 200 and headers["content-type"].startswith("text/javascript")


def test_rebuild_site_restores_everything_from_manifests_alone(
    prefect_server, settings: Settings, tmp_path: Path
) -> None:
    storage = open_site(settings)
    urls = publish_stand_ins(storage, tmp_path)
    before = {key: storage.get_bytes(key) for key in ("catalog.json", "feed.xml")}
    page_before = storage.get_bytes("conferences/2026-04-04-microscope/index.html")
    text_before = indexed_text(storage)
    # Lose every generated file: pages, catalog, feed and search data.
    generated = [key for key in storage.list_keys() if key.endswith(("index.html", "catalog.json", "feed.xml"))
                 or key.startswith("search/")]
    storage.delete_keys(generated)
    storage.put_bytes("conferences/broken/manifest.json", b"{not json")

    report = rebuild_site(settings=settings)

    assert (
        set(report.pages) == set(urls)
        and report.skipped == ("broken: manifest.json is not a confcast manifest for this folder",)
    )
    assert storage.get_bytes("conferences/2026-04-04-microscope/index.html") == page_before
    catalog_after = json.loads(storage.get_bytes("catalog.json"))
    catalog_before = json.loads(before["catalog.json"])
    assert [e["slug"] for e in catalog_after["conferences"]] == [e["slug"] for e in catalog_before["conferences"]]
    assert catalog_after == catalog_before
    assert storage.get_bytes("feed.xml") == before["feed.xml"]
    assert indexed_text(storage) == text_before
    status, _, page = http(urls["2026-02-06-atelier"])
    assert status == 200 and "Le réseau maillé relie nos écoles." in page.decode()


def test_unpublish_removes_the_conference_then_updates_catalog_feed_and_search(
    prefect_server, settings: Settings, tmp_path: Path
) -> None:
    storage = open_site(settings)
    urls = publish_stand_ins(storage, tmp_path)
    kept_before = storage.list_keys("conferences/2026-02-06-atelier/")

    deleted = unpublish("2026-04-04-microscope", settings=settings)

    assert deleted >= 8  # media, captions, transcripts, page and manifest
    assert storage.list_keys("conferences/2026-04-04-microscope/") == []
    assert http(urls["2026-04-04-microscope"])[0] in (403, 404)
    assert storage.list_keys("conferences/2026-02-06-atelier/") == kept_before
    assert [e["slug"] for e in json.loads(storage.get_bytes("catalog.json"))["conferences"]] == ["2026-02-06-atelier"]
    feed = feedparser.parse(storage.get_bytes("feed.xml"))
    assert [entry.title for entry in feed.entries] == ["L'atelier réseau"]
    assert "Un microscope libre" not in storage.get_bytes("index.html").decode()
    assert list(indexed_text(storage)) == ["2026-02-06-atelier"]

    with pytest.raises(PublishError, match="no conference 'nothing-here'"):
        unpublish("nothing-here", settings=settings)


def test_rebuild_on_a_local_folder_needs_no_server(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "site")
    publish_stand_ins(storage, tmp_path / "work")
    (tmp_path / "site" / "index.html").unlink()
    report = rebuild_site_files(storage, site_info(storage, title="OpenLab", language="en"))
    assert len(report.pages) == 2 and report.skipped == ()
    catalog_page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in catalog_page and "Search what was said" in catalog_page


def test_cli_rebuild_site_and_unpublish(prefect_server, settings: Settings, tmp_path: Path) -> None:
    storage = open_site(settings)
    publish_stand_ins(storage, tmp_path)
    options = [
        "--to", settings.storage_url, "--endpoint-url", settings.s3_endpoint_url, "--work-dir", str(tmp_path / "w")
    ]

    def confcast(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([CONFCAST, *args, *options], capture_output=True, text=True, env=dict(os.environ),
                              timeout=300, stdin=subprocess.DEVNULL)

    listed = subprocess.run([CONFCAST, "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "rebuild-site" in listed and "unpublish" in listed

    result = confcast("rebuild-site")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == storage.public_url("index.html")
    assert "rebuilt 2 conference page(s)" in result.stderr

    result = confcast("unpublish", "2026-02-06-atelier")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("unpublished 2026-02-06-atelier (")
    assert [e["slug"] for e in json.loads(storage.get_bytes("catalog.json"))["conferences"]] == [
        "2026-04-04-microscope"
    ]

    result = confcast("unpublish", "../escape")
    assert result.returncode == 1 and result.stderr.startswith("confcast: error: invalid slug")
    assert len(result.stderr.strip().splitlines()) == 1


# --- one site, many writers: what is not confcast's is left alone, a failed change changes nothing ----------------


def site_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rebuild_reports_and_skips_each_folder_that_is_not_a_conference(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "site")
    publish_stand_ins(storage, tmp_path / "work")
    good = json.loads(storage.get_bytes("conferences/2026-02-06-atelier/manifest.json"))
    foreign = {
        "conferences/photos/readme.txt": b"not a conference",
        "conferences/unreadable/manifest.json": b"\xff\xfe{",
        "conferences/other-program/manifest.json": json.dumps({"schema": 7, "name": "player"}).encode(),
        "conferences/newer/manifest.json": json.dumps({**good, "schema": 99, "slug": "newer"}).encode(),
        "conferences/Not A Slug/manifest.json": json.dumps({**good, "slug": "Not A Slug"}).encode(),
        "conferences/no-transcript/manifest.json": json.dumps({**good, "slug": "no-transcript"}).encode(),
        "conferences/other-folder/manifest.json": json.dumps(good).encode(),
    }
    for key, data in foreign.items():
        (storage.root / key).parent.mkdir(parents=True, exist_ok=True)
        (storage.root / key).write_bytes(data)
    (storage.root / "index.html").unlink()

    report = rebuild_site_files(storage, site_info(storage, title="OpenLab", language="fr"))

    assert report.pages == ("2026-02-06-atelier", "2026-04-04-microscope")
    assert report.skipped == (
        "Not A Slug: not a conference folder (its name is not a slug)",
        "newer: manifest.json has schema 99, which this confcast (schema 1) does not read: a newer confcast's, "
        "or another program's",
        f"no-transcript: conferences/no-transcript/{good['transcript']['json']} is missing although the manifest "
        "names it; publish the conference again",
        "other-folder: manifest.json is not a confcast manifest for this folder (it is '2026-02-06-atelier''s)",
        "other-program: manifest.json has schema 7, which this confcast (schema 1) does not read: a newer "
        "confcast's, or another program's",
        "photos: no manifest.json: foreign files, or a publication that did not finish",
        "unreadable: manifest.json is not a confcast manifest for this folder",
    )
    assert all((storage.root / key).read_bytes() == data for key, data in foreign.items()), "left as they are"
    assert [e["slug"] for e in json.loads(storage.get_bytes("catalog.json"))["conferences"]] == [
        "2026-04-04-microscope", "2026-02-06-atelier"
    ]
    assert "Un microscope libre" in storage.get_bytes("index.html").decode("utf-8")


def test_publishing_deletes_only_the_search_files_confcast_wrote(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "site")
    theirs = {"search/README.txt": b"our own notes", "search/pagefind/pagefind.js": b"// another search engine",
              "search/fr/notes.json": b"{}", "search/fr/fragment/theirs.pf_fragment": b"x"}
    for key, data in theirs.items():
        storage.put_bytes(key, data)
    publish_stand_ins(storage, tmp_path, "2026-04-04-microscope")
    first = search_keys(storage)
    publish_stand_ins(storage, tmp_path, "2026-02-06-atelier")
    second = search_keys(storage)
    publish_stand_ins(storage, tmp_path, "2026-04-04-microscope")  # the first build's own files are now stale
    third = search_keys(storage)
    assert first - second - third, "some files went stale"
    assert set(storage.list_keys("search/")) == second | third | {"search/files.json"} | set(theirs)
    assert all(storage.get_bytes(key) == data for key, data in theirs.items())


REVIEWED = """WEBVTT

00:00:00.500 --> 00:00:03.000
Bonjour, texte relu par une personne.

00:00:04.000 --> 00:00:07.500
Le réseau maillé, relu aussi.
"""


def test_a_caption_replacement_that_fails_midway_leaves_the_conference_as_it_was(tmp_path: Path) -> None:
    slug = "2026-02-06-atelier"
    storage = FileStorage(tmp_path / "site")
    publish_stand_ins(storage, tmp_path / "work")
    site = site_info(storage, title="OpenLab", language="fr")
    # Where the reviewed transcript goes, learnt on a copy (content-tagged keys: the same there).
    shutil.copytree(storage.root, tmp_path / "copy")
    copy = FileStorage(tmp_path / "copy")
    replace_captions(copy, site, slug, REVIEWED, source_name="fixed.vtt")
    transcript = f"conferences/{slug}/" + json.loads(copy.get_bytes(f"conferences/{slug}/manifest.json"))[
        "transcript"]["json"]
    before = site_files(storage.root)
    # A folder where the reviewed transcript must go: the storage really refuses that write, after the captions were
    # written and before the page and the manifest.
    (storage.root / transcript).mkdir(parents=True)

    with pytest.raises(PublishError) as failed:
        replace_captions(storage, site, slug, REVIEWED, source_name="fixed.vtt")

    message = str(failed.value)
    assert message.startswith(f"the captions of {slug} were not replaced (the published conference is as it was): ")
    assert "Is a directory" in message and "\n" not in message
    assert site_files(storage.root) == before, "no new file left, the manifest, page, catalog and search unchanged"

    shutil.rmtree(storage.root / transcript)
    updated = replace_captions(storage, site, slug, REVIEWED, source_name="fixed.vtt")
    assert updated.captions[0].status == "reviewed"
    # Pagefind's metadata file may be named differently from one build of the same documents to the next
    def site_files_but_search(root: Path) -> dict:
        return {key: data for key, data in site_files(root).items() if not key.startswith("search/")}

    assert site_files_but_search(storage.root) == site_files_but_search(copy.root)
    assert indexed(storage) == indexed(copy)


ENGLISH = """WEBVTT

00:00:01.000 --> 00:00:03.000
We built the microscopes ourselves.
"""


def test_every_caption_track_is_searched_in_its_language_and_slides_with_the_talk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slug = "2026-04-04-microscope"
    storage = FileStorage(tmp_path / "site")
    publish_stand_ins(storage, tmp_path / "work", slug)
    site = site_info(storage, title="OpenLab", language="fr")
    replace_captions(storage, site, slug, ENGLISH, source_name="en.vtt", lang="en", add=True)
    by_lang = indexed(storage)[slug]
    assert set(by_lang) == {"fr", "en"}
    assert json.loads(storage.get_bytes("search/bundles.json")) == {"languages": {"en": "en/", "fr": "fr/"}}
    (english_talk, english_speech) = by_lang["en"]
    assert english_talk["meta"]["title"] == "Un microscope libre"  # the title is found from either language
    assert [(a["id"], a["text"]) for a in english_speech["anchors"] if a["element"] == "h2"] == [
        ("t=1", "We built the microscopes ourselves.")]
    # A talk that publishes slides.json: each slide is searched, with its moment. (The manifest field that will list
    # it is not in this schema yet: where the manifest names it is stood in for.)
    storage.put_bytes(f"conferences/{slug}/slides.json", json.dumps({"slides": [
        {"start": 2.5, "text": "Schéma optique"}, {"start": None, "text": "Sommaire"}]}).encode())
    monkeypatch.setattr(publish_module, "slides_path", lambda m: "slides.json" if m.slug == slug else None)
    rebuild_site_files(storage, site)
    talk = indexed(storage)[slug]["fr"][0]
    assert "Schéma optique" in talk["content"] and "Sommaire" in talk["content"]
    assert ("t=2.5", "Schéma optique") in [(a["id"], a["text"]) for a in talk["anchors"]]
    assert "Schéma optique" not in " ".join(f["content"] for f in indexed(storage)[slug]["en"])
