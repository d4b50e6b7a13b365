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
from confcast.tasks.site.corrections import replace_captions
from confcast.tasks.site.layout import Generator, build_manifest
from confcast.tasks.site.publish import publish_conference_files, site_info
from confcast.tasks.site.publish import rebuild_site as rebuild_site_files
from confcast.tasks.site.search import SEARCH_INDEX, SearchIndex, terms_from_shards
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


def search_terms(storage: Storage) -> dict[str, frozenset[str]]:
    index = SearchIndex.model_validate_json(storage.get_bytes(SEARCH_INDEX))
    found = terms_from_shards(index, [storage.get_bytes(key) for key in index.shards.values()])
    return {slug: frozenset(terms) for slug, terms in found.items()}


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
        root + SEARCH_INDEX: ("application/json; charset=utf-8", short),
    }
    index = json.loads(http(root + SEARCH_INDEX)[2])
    expected[root + index["shards"]["mi"]] = ("application/json; charset=utf-8", immutable)
    expected[root + index["conferences"][0]["passages"] + "/0.json"] = ("application/json; charset=utf-8", immutable)
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

    # Search data: newest first, each term pointing at the talks that say it.
    assert [c["slug"] for c in index["conferences"]] == ["2026-04-04-microscope", "2026-02-06-atelier"]
    shard = json.loads(http(root + index["shards"]["mi"])[2])
    assert shard["microscope"] == [0, 1]  # conference 0, chunk 0
    assert json.loads(http(root + index["shards"]["re"])[2])["reseau"] == [1, 1]  # accents folded
    assert index["conferences"][0]["chunks"] == 1
    passages = json.loads(http(root + index["conferences"][0]["passages"] + "/0.json")[2])
    assert passages == {"schema": 1, "lang": "fr",
                        "p": [[0.0, "Nous avons construit un microscope."], [4.0, "Il coûte trente euros."]]}

    feed = feedparser.parse(http(root + "feed.xml")[2])
    assert not feed.bozo
    assert [entry.title for entry in feed.entries] == ["Un microscope libre", "L'atelier réseau"]
    assert all(entry.enclosures[0].href.startswith(root) for entry in feed.entries)


def test_republishing_replaces_search_data_and_keeps_shards_one_generation(settings: Settings, tmp_path: Path) -> None:
    storage = open_site(settings)
    publish_stand_ins(storage, tmp_path, "2026-04-04-microscope")
    first = SearchIndex.model_validate_json(storage.get_bytes(SEARCH_INDEX))
    publish_stand_ins(storage, tmp_path, "2026-02-06-atelier")
    second = SearchIndex.model_validate_json(storage.get_bytes(SEARCH_INDEX))
    assert second.shards != first.shards
    # A viewer who loaded the last index a moment ago still finds its shards.
    assert (
        set(first.shards.values()) | set(second.shards.values()) | {SEARCH_INDEX}
        == set(storage.list_keys("search/"))
    )
    publish_stand_ins(storage, tmp_path, "2026-04-04-microscope")  # same content: same shards, the oldest go
    assert SearchIndex.model_validate_json(storage.get_bytes(SEARCH_INDEX)) == second
    assert set(second.shards.values()) | {SEARCH_INDEX} == set(storage.list_keys("search/"))
    assert search_terms(storage)["2026-02-06-atelier"] >= {"reseau", "maille", "ecoles", "bienvenue"}
    assert len([k for k in storage.list_keys("conferences/2026-04-04-microscope/") if "/search." in k]) == 1


class CountingStorage:
    """The real storage, counting uploads of files (to see which a re-run skips)."""

    def __init__(self, storage: Storage) -> None:
        self.storage, self.uploaded = storage, []

    def put_file(self, key, path, content_type=None):
        self.uploaded.append(key)
        return self.storage.put_file(key, path, content_type)

    def __getattr__(self, name: str):
        return getattr(self.storage, name)


def test_republishing_skips_unchanged_media_and_keeps_one_older_generation(settings: Settings, tmp_path: Path) -> None:
    storage = CountingStorage(open_site(settings))
    slug = "2026-04-04-microscope"
    folder = f"conferences/{slug}/"
    publish_stand_ins(storage, tmp_path / "one", slug)
    first = set(storage.list_keys(folder))
    assert len(storage.uploaded) == 7  # MP4, poster, audio, captions, SRT, TXT, JSON

    storage.uploaded.clear()
    publish_stand_ins(storage, tmp_path / "one", slug)  # nothing changed: nothing uploaded again
    assert storage.uploaded == [] and set(storage.list_keys(folder)) == first

    def changed_media(root: Path, text: str) -> None:
        conference = stand_in(root, slug)
        (root / slug / "video.mp4").write_bytes(text.encode() * 100)  # a new cut of the video, same transcript
        manifest = build_manifest(conference, published_at=dt.datetime.now(dt.timezone.utc),
                                  generator=Generator(version="test", engine="faster-whisper", model="base"))
        publish_conference_files(storage, conference, manifest, site_title="OpenLab", site_language="fr")

    storage.uploaded.clear()
    changed_media(tmp_path / "two", "second cut ")
    second_video = json.loads(storage.get_bytes(folder + "manifest.json"))["video"]["mp4"][0]["path"]
    assert storage.uploaded == [folder + second_video]  # only the new video
    assert first <= set(storage.list_keys(folder))  # the previous generation stays for a while

    changed_media(tmp_path / "three", "third cut ")
    keys = set(storage.list_keys(folder))
    first_video = next(key for key in first if "/video/" in key)
    assert first_video not in keys  # two generations old: gone
    assert folder + second_video in keys  # the previous one stays
    manifest = json.loads(storage.get_bytes(folder + "manifest.json"))
    for path in [manifest["video"]["poster"], manifest["captions"][0]["path"], manifest["video"]["mp4"][0]["path"]]:
        assert folder + path in keys


def test_rebuild_site_restores_everything_from_manifests_alone(
    prefect_server, settings: Settings, tmp_path: Path
) -> None:
    storage = open_site(settings)
    urls = publish_stand_ins(storage, tmp_path)
    before = {key: storage.get_bytes(key) for key in ("catalog.json", "feed.xml")}
    page_before = storage.get_bytes("conferences/2026-04-04-microscope/index.html")
    terms_before = search_terms(storage)
    # Lose every generated file: pages, catalog, feed and search data.
    generated = [key for key in storage.list_keys() if key.endswith(("index.html", "catalog.json", "feed.xml"))
                 or key.startswith("search/") or "/search." in key]
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
    assert search_terms(storage) == terms_before
    status, _, page = http(urls["2026-02-06-atelier"])
    assert status == 200 and "Le réseau maillé relie nos écoles." in page.decode()


def test_unpublish_removes_the_conference_then_updates_catalog_feed_and_search(
    prefect_server, settings: Settings, tmp_path: Path
) -> None:
    storage = open_site(settings)
    urls = publish_stand_ins(storage, tmp_path)
    kept_before = storage.list_keys("conferences/2026-02-06-atelier/")

    deleted = unpublish("2026-04-04-microscope", settings=settings)

    assert deleted >= 9  # media, captions, transcripts, search passages, page and manifest
    assert storage.list_keys("conferences/2026-04-04-microscope/") == []
    assert http(urls["2026-04-04-microscope"])[0] in (403, 404)
    assert storage.list_keys("conferences/2026-02-06-atelier/") == kept_before
    assert [e["slug"] for e in json.loads(storage.get_bytes("catalog.json"))["conferences"]] == ["2026-02-06-atelier"]
    feed = feedparser.parse(storage.get_bytes("feed.xml"))
    assert [entry.title for entry in feed.entries] == ["L'atelier réseau"]
    assert "Un microscope libre" not in storage.get_bytes("index.html").decode()
    terms = search_terms(storage)
    assert list(terms) == ["2026-02-06-atelier"] and "microscope" not in terms["2026-02-06-atelier"]

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


def test_publishing_deletes_only_the_search_shards_confcast_wrote(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "site")
    theirs = {"search/README.txt": b"our own notes", "search/pagefind/pagefind.js": b"// another search engine",
              "search/mi.json": b"{}", "search/synonyms.0123456789ab.json.bak": b"{}"}
    for key, data in theirs.items():
        storage.put_bytes(key, data)
    publish_stand_ins(storage, tmp_path, "2026-04-04-microscope")
    first = SearchIndex.model_validate_json(storage.get_bytes(SEARCH_INDEX))
    publish_stand_ins(storage, tmp_path, "2026-02-06-atelier")
    publish_stand_ins(storage, tmp_path, "2026-04-04-microscope")  # the first index's own shards are now stale
    second = SearchIndex.model_validate_json(storage.get_bytes(SEARCH_INDEX))
    assert set(first.shards.values()) - set(second.shards.values()), "some shards went stale"
    assert set(storage.list_keys("search/")) == set(second.shards.values()) | {SEARCH_INDEX} | set(theirs)
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
    # Where the reviewed transcript's search passages go, learnt on a copy (content-tagged keys: the same there).
    shutil.copytree(storage.root, tmp_path / "copy")
    copy = FileStorage(tmp_path / "copy")
    replace_captions(copy, site, slug, REVIEWED, source_name="fixed.vtt")
    (passages,) = [c["passages"] for c in json.loads(copy.get_bytes(SEARCH_INDEX))["conferences"] if c["slug"] == slug]
    before = site_files(storage.root)
    # A folder where the first passage file must go: the storage really refuses that write, after the captions and
    # transcript files were written and before the page and the manifest.
    (storage.root / passages / "0.json").mkdir(parents=True)

    with pytest.raises(PublishError) as failed:
        replace_captions(storage, site, slug, REVIEWED, source_name="fixed.vtt")

    message = str(failed.value)
    assert message.startswith(f"the captions of {slug} were not replaced (the published conference is as it was): ")
    assert "Is a directory" in message and "\n" not in message
    assert site_files(storage.root) == before, "no new file left, the manifest, page, catalog and search unchanged"

    shutil.rmtree(storage.root / passages)
    updated = replace_captions(storage, site, slug, REVIEWED, source_name="fixed.vtt")
    assert updated.captions[0].status == "reviewed"
    assert site_files(storage.root) == site_files(copy.root)
