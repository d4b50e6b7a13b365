"""Layout, manifest, catalog, and the rendered pages and feed (pure functions; the browser tests are elsewhere)."""

import datetime as dt
import html
import html.parser
import json
import re
from pathlib import Path

import feedparser
import pytest

from confcast.tasks.errors import MetadataError
from confcast.tasks.models import (
    AudioStream,
    Conference,
    ConferenceMeta,
    EventRef,
    Media,
    Probe,
    Rendition,
    Segment,
    SourceFile,
    Transcript,
    TranscriptFiles,
    VideoStream,
)
from confcast.tasks.site.assets import hlsjs_key
from confcast.tasks.site.layout import (
    CaptionTrack,
    Catalog,
    Generator,
    SlidesInfo,
    build_manifest,
    catalog_entry,
    conference_files,
    conference_prefix,
    content_tag,
    remove_entry,
    upsert_entry,
)
from confcast.tasks.site.pagefind_index import PAGEFIND_JS, build_bundles
from confcast.tasks.site.pages import (
    SiteInfo,
    clock,
    human_size,
    iso_duration,
    render_catalog_page,
    render_conference_page,
    render_event_page,
    render_feed,
)
from confcast.tasks.site.search import (
    Moment,
    bundles_json,
    cue_moments,
    index_language,
    parse_slides,
    search_tracks,
    slides_path,
    talk_documents,
)
from confcast.tasks.storage.base import cache_control_for

HOSTILE = '<script>alert("x")</script> "onerror=alert(1) \'q\' </textarea> javascript:alert(1)'
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
TAG = content_tag(b"x" * 10)  # every stand-in file below holds these bytes
SITE = SiteInfo(title="OpenLab <b>talks</b>", language="fr", base_url="http://127.0.0.1:8333/confcast/site/")


def make_conference(
    tmp_path: Path, *, slug: str = "2026-04-04-talk", title: str = "Un titre", day: int = 4
) -> Conference:
    files = {}
    for name in ["video.mp4", "poster.jpg", "audio.m4a", "speech.wav", "fr.vtt", "fr.srt", "fr.txt", "fr.json"]:
        path = tmp_path / slug / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
        files[name] = path
    segments = (
        Segment(start=0.0, end=2.5, text=" Bonjour à tous."),
        Segment(start=2.5, end=65.0, text=f" {HOSTILE}"),
    )
    return Conference(
        meta=ConferenceMeta(title=title, date=dt.date(2026, 4, day), slug=slug, speakers=(HOSTILE, "Bob"),
                            description=HOSTILE, language="fr"),
        probe=Probe(
            source=SourceFile(path=tmp_path / "talk.mp4", filename="talk.mp4", sha256="ab" * 32, bytes=1234),
            duration_s=65.0004,
            format_name="mov,mp4",
            video=VideoStream(index=0, codec="h264", width=1280, height=720),
            audio=(AudioStream(index=1, codec="aac", channels=1, sample_rate=48000),),
        ),
        media=Media(mp4=(Rendition(width=1280, height=720, path=files["video.mp4"], bytes=10),),
                    poster=files["poster.jpg"], audio=files["audio.m4a"], speech=files["speech.wav"]),
        transcript=Transcript(language="fr", language_probability=0.97, duration_s=65.0, segments=segments,
                              engine="faster-whisper", model="base"),
        transcript_files=TranscriptFiles(lang="fr", vtt=files["fr.vtt"], srt=files["fr.srt"], txt=files["fr.txt"],
                                         json=files["fr.json"]),
    )


def manifest_of(conference: Conference):
    return build_manifest(
        conference, published_at=NOW, generator=Generator(version="0.1.0", engine="faster-whisper", model="base")
    )


class TextCollector(html.parser.HTMLParser):
    """Collects the element names and the text of a page, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(attrs)
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text).append(data)


def test_manifest_holds_the_contract_fields(tmp_path: Path) -> None:
    manifest = manifest_of(make_conference(tmp_path))
    data = manifest.model_dump(by_alias=True, mode="json")
    for field in ["schema", "slug", "title", "date", "language", "duration_s", "source", "video", "audio",
                  "captions", "transcript", "page", "published_at", "generator"]:
        assert field in data
    assert data["schema"] == 1
    assert {key: data["source"][key] for key in ("sha256", "bytes", "filename")} == {
        "sha256": "ab" * 32, "bytes": 1234, "filename": "talk.mp4"}
    (mp4,) = data["video"]["mp4"]
    assert (mp4["height"], mp4["path"], mp4["bytes"]) == (720, f"video/720p.{TAG}.mp4", 10)
    (track,) = data["captions"]
    assert {key: track[key] for key in ("lang", "path", "kind", "status")} == {
        "lang": "fr", "path": f"captions/fr.{TAG}.vtt", "kind": "captions", "status": "auto"}
    assert data["transcript"] == {"lang": "fr", "txt": f"transcript/fr.{TAG}.txt", "srt": f"transcript/fr.{TAG}.srt",
                                  "json": f"transcript/fr.{TAG}.json"}
    assert data["duration_s"] == 65.0
    staged = {f.path for f in conference_files(make_conference(tmp_path))}
    assert staged == {f"video/720p.{TAG}.mp4", f"poster.{TAG}.jpg", f"audio.{TAG}.m4a", f"captions/fr.{TAG}.vtt",
                      f"transcript/fr.{TAG}.srt", f"transcript/fr.{TAG}.txt", f"transcript/fr.{TAG}.json"}


def test_conference_prefix_refuses_climbing_slugs() -> None:
    assert conference_prefix("talk") == "conferences/talk"
    with pytest.raises(MetadataError):
        conference_prefix("../talk")


def test_catalog_is_newest_first_and_upsert_replaces(tmp_path: Path) -> None:
    older = catalog_entry(manifest_of(make_conference(tmp_path, slug="older", day=1)))
    newer = catalog_entry(manifest_of(make_conference(tmp_path, slug="newer", day=20)))
    catalog = upsert_entry(upsert_entry(Catalog(), older), newer)
    assert [e.slug for e in catalog.conferences] == ["newer", "older"]
    renamed = catalog_entry(manifest_of(make_conference(tmp_path, slug="older", title="Renamed", day=1)))
    catalog = upsert_entry(catalog, renamed)
    assert [(e.slug, e.title) for e in catalog.conferences] == [("newer", "Un titre"), ("older", "Renamed")]
    assert [e.slug for e in remove_entry(catalog, "newer").conferences] == ["older"]
    assert Catalog.model_validate_json(catalog.to_json()) == catalog


def test_conference_page_shows_hostile_metadata_as_text(tmp_path: Path) -> None:
    conference = make_conference(tmp_path, title=HOSTILE)
    page = render_conference_page(manifest_of(conference), conference.transcript.segments, SITE)
    parsed = TextCollector()
    parsed.feed(page)
    assert parsed.tags.count("script") == 1  # only our own player script
    assert HOSTILE not in "".join(parsed.scripts) and "alert" not in "".join(parsed.scripts)
    assert "textarea" not in parsed.tags
    assert not any(name.startswith("on") for name, _ in parsed.attributes)
    text = "".join(parsed.text)
    assert HOSTILE in text  # shown, as text, in title, speakers, description and transcript
    assert text.count(HOSTILE) >= 4
    assert "OpenLab <b>talks</b>" in text
    assert (f'<track kind="captions" src="captions/fr.{TAG}.vtt" srclang="fr" '
            'label="Français (sous-titres automatiques)" default>') in page
    assert f'<source src="video/720p.{TAG}.mp4" type="video/mp4">' in page
    assert '<source src="hls' not in page and 'data-hlsjs="' not in page  # no HLS in this manifest, no hls.js
    assert 'data-start="2.50"' in page
    assert '<time datetime="PT1M5S">1:05</time>' in page
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"fr\">")
    assert '<ol id="transcript-list" lang="fr"' in page and '<h1 lang="fr">' in page
    # Link previews: the hostile title stays one attribute value; URLs are absolute.
    assert ("property", "og:title") in parsed.attributes and ("content", HOSTILE) in parsed.attributes
    folder = "http://127.0.0.1:8333/confcast/site/conferences/2026-04-04-talk/"
    assert f'<meta property="og:image" content="{folder}poster.{TAG}.jpg">' in page
    assert f'<meta property="og:url" content="{folder}index.html">' in page
    assert '<link rel="alternate" type="application/rss+xml"' in page


def test_catalog_page_and_feed(tmp_path: Path) -> None:
    conference = make_conference(tmp_path, title=HOSTILE)
    manifest = manifest_of(conference)
    catalog = upsert_entry(Catalog(), catalog_entry(manifest))
    page = render_catalog_page(catalog, SITE)
    parsed = TextCollector()
    parsed.feed(page)
    assert parsed.tags.count("script") == 2  # the search strings (JSON) and the search script
    assert "alert" not in "".join(parsed.scripts)
    assert HOSTILE in "".join(parsed.text)
    assert 'href="conferences/2026-04-04-talk/index.html"' in page
    assert f'src="conferences/2026-04-04-talk/poster.{TAG}.jpg"' in page
    assert '<label for="search-input">' in page and 'role="search"' in page

    rendered = render_feed(catalog, {manifest.slug: manifest}, SITE)
    feed = feedparser.parse(rendered)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "OpenLab <b>talks</b>"
    (item,) = feed.entries
    assert item.title == HOSTILE
    folder = "http://127.0.0.1:8333/confcast/site/conferences/2026-04-04-talk"
    assert item.enclosures[0].href == f"{folder}/audio.{TAG}.m4a"
    assert item.enclosures[0].type == "audio/mp4"
    assert item.enclosures[0].length == "10"
    assert item.itunes_duration == "00:01:05"
    assert item.image.href == f"{folder}/poster.{TAG}.jpg" and feed.feed.image.href == item.image.href
    assert feed.feed.tags[0].term == "Education"
    assert item.link == f"{folder}/index.html"
    assert html.unescape(item.description) == HOSTILE  # an HTML field: the text is escaped, never markup
    assert (
        f'<podcast:transcript url="{folder}/captions/fr.{TAG}.vtt" type="text/vtt" language="fr" rel="captions"/>'
        in rendered
    )
    assert (
        f'<podcast:transcript url="{folder}/transcript/fr.{TAG}.srt" type="application/x-subrip" language="fr"/>'
        in rendered
    )


def test_event_page_lists_its_talks_in_recording_order_and_shows_hostile_text_as_text(tmp_path: Path) -> None:
    event = EventRef(slug="2026-04-04-openlab", title=HOSTILE, date=dt.date(2026, 4, 4), place=HOSTILE)
    later = catalog_entry(manifest_of(make_conference(tmp_path / "a", title="Second", slug="b-talk")))
    sooner = catalog_entry(manifest_of(make_conference(tmp_path / "b", title="First", slug="a-talk")))
    talks = [later.model_copy(update={"start_s": 600.0}), sooner.model_copy(update={"start_s": 5.0})]
    page = render_event_page(event, talks, SITE)
    parsed = TextCollector()
    parsed.feed(page)
    assert "script" not in parsed.tags and not any(name.startswith("on") for name, _ in parsed.attributes)
    assert "".join(parsed.text).count(HOSTILE) >= 2  # the title and the place, as text
    assert ("content", HOSTILE) in parsed.attributes  # the link preview's title: one attribute value
    assert page.index('href="../../conferences/a-talk/index.html"') < page.index('href="../../conferences/b-talk/')
    assert '<a class="brand" href="../../index.html">OpenLab &lt;b&gt;talks&lt;/b&gt;</a>' in page
    url = "http://127.0.0.1:8333/confcast/site/events/2026-04-04-openlab/index.html"
    assert f'<meta property="og:url" content="{url}">' in page and "og:image" not in page


def test_page_plays_hls_first_and_lists_every_caption_track(tmp_path: Path) -> None:
    manifest = manifest_of(make_conference(tmp_path))
    english = CaptionTrack(lang="en", path="captions/en.0123456789ab.vtt", kind="subtitles", status="reviewed")
    manifest = manifest.model_copy(update={
        "video": manifest.video.model_copy(update={"hls": "hls.0123456789ab/master.m3u8"}),
        "captions": (english, *manifest.captions),
    })
    page = render_conference_page(manifest, (), SiteInfo(title="Talks", language="en", base_url="http://x/"))
    hls = page.index('<source src="hls.0123456789ab/master.m3u8" type="application/vnd.apple.mpegurl">')
    assert hls < page.index('type="video/mp4"')
    # hls.js, for browsers without native HLS: the site's own copy, named by its content, two folders up.
    assert f'data-hlsjs="../../{hlsjs_key()}"' in page and re.fullmatch(
        r"assets/hls\.light\.min\.[0-9a-f]{12}\.js", hlsjs_key())
    # The track in the spoken language (French) is the default one, whatever the order.
    assert (
        '<track kind="subtitles" src="captions/en.0123456789ab.vtt" srclang="en" label="English (reviewed captions)">'
        in page
    )
    assert 'srclang="fr" label="French (automatic captions)" default>' in page
    assert page.count("<track ") == 2
    assert "No speech was recognised" in page  # English interface, no transcript
    assert '<html lang="en">' in page


def test_empty_catalog_page_says_so() -> None:
    assert "Aucune conférence publiée" in render_catalog_page(Catalog(), SITE)


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (83.9, "1:23"), (3725, "1:02:05")])
def test_time_formats(seconds: float, text: str) -> None:
    assert clock(seconds) == text


def test_sizes_and_iso_durations() -> None:
    assert human_size(954_321, "fr") == "954 ko"
    assert human_size(1_534_000, "fr") == "1,5 Mo"
    assert human_size(1_534_000, "en") == "1.5 MB"
    assert human_size(12, "en") == "12 B"
    assert iso_duration(3725.4) == "PT1H2M5S" and iso_duration(5) == "PT5S"


# --- search data (tasks/search.py) and cache rules (tasks/storage.py) -------------------------------------------


def test_talk_documents_weigh_metadata_and_anchor_each_moment(tmp_path: Path) -> None:
    manifest = manifest_of(make_conference(tmp_path))
    moments = cue_moments([(0.004, "  Bonjour   à tous. "), (2.0, " "), (83.456, "Un microscope libre."),
                           (601.0, "Dix minutes plus tard.")])
    assert moments[:2] == (Moment(0.0, "Bonjour à tous."), Moment(83.46, "Un microscope libre."))
    slides = (Moment(None, "Plan de l'exposé"), Moment(60.0, "Le microscope"))
    talk, first, second = talk_documents(manifest, "fr-CA", moments, slides)
    page = "conferences/2026-04-04-talk/index.html"
    folder = "conferences/2026-04-04-talk"
    assert [d.path for d in (talk, first, second)] == [page, f"{folder}/part-0.html", f"{folder}/part-1.html"]
    assert {d.lang for d in (talk, first, second)} == {"fr"}
    for document, ids in ((talk, ["t=60"]), (first, ["t=0", "t=83.46"]), (second, ["t=601"])):
        parsed = TextCollector()
        parsed.feed(document.html)
        assert "script" not in parsed.tags  # every value is text
        assert [value for name, value in parsed.attributes if name == "id"] == ids
        assert ("data-pagefind-meta", "title") in parsed.attributes  # every part names its talk and its page
        assert ("data-pagefind-meta", f"page:{page}") in parsed.attributes
        assert ("data-pagefind-filter", "year:2026") in parsed.attributes
        assert '<span data-pagefind-filter="speaker">Bob</span>' in document.html
    parsed = TextCollector()
    parsed.feed(talk.html)
    assert HOSTILE in "".join(parsed.text)  # the title, a speaker and the description: text
    # the talk's words weigh more than speech, and only the first document holds them where Pagefind indexes
    assert '<p data-pagefind-weight="8">Bob</p>' in talk.html and '<p data-pagefind-weight="8">' not in first.html
    assert '<h2 id="t=60" data-pagefind-weight="3">Le microscope</h2>' in talk.html
    assert '<h2 id="t=83.46" data-pagefind-weight="1">Un microscope libre.</h2>' in first.html
    assert index_language("pt_BR") == "pt" and index_language("x") == "unknown"
    assert bundles_json(["fr", "en", "fr"]) == b'{"languages":{"en":"en/","fr":"fr/"}}'


def test_slides_and_tracks_to_index() -> None:
    assert parse_slides(b'{"slides": [{"start": 12, "text": " Titre  "}, {"start": null, "text": "x"},'
                        b' {"start": 3, "text": ""}]}') == (Moment(12.0, "Titre"), Moment(None, "x"))
    for bad in (b'[]', b'{"slides": [{"start": "1", "text": "a"}]}', b'{"slides": [{"start": -1, "text": "a"}]}'):
        with pytest.raises(ValueError):
            parse_slides(bad)


def test_one_track_per_language_is_indexed_the_reviewed_one_first(tmp_path: Path) -> None:
    manifest = manifest_of(make_conference(tmp_path))
    tracks = (CaptionTrack(lang="fr", path="captions/fr.a.vtt"),
              CaptionTrack(lang="fr", path="captions/fr.b.vtt", status="reviewed"),
              CaptionTrack(lang="en", path="captions/en.c.vtt", kind="subtitles"))
    chosen = search_tracks(manifest.model_copy(update={"captions": tracks}))
    assert [t.path for t in chosen] == ["captions/fr.b.vtt", "captions/en.c.vtt"]
    assert slides_path(manifest) is None
    named = manifest.model_copy(update={"slides": SlidesInfo.model_validate({"json": "slides.0123.json"})})
    assert slides_path(named) == "slides.0123.json"


def test_pagefind_builds_one_bundle_per_language(tmp_path: Path) -> None:
    manifest = manifest_of(make_conference(tmp_path))
    documents = [*talk_documents(manifest, "fr", (Moment(1.0, "Je ferme la porte."),)),
                 *talk_documents(manifest, "en", (Moment(1.0, "I close the door."),))]
    files = build_bundles(documents)
    assert PAGEFIND_JS in files
    for lang in ("fr", "en"):
        assert f"search/{lang}/pagefind-entry.json" in files and f"search/{lang}/wasm.{lang}.pagefind" in files
        assert json.loads(files[f"search/{lang}/pagefind-entry.json"])["languages"].keys() == {lang}
        assert any(key.startswith(f"search/{lang}/fragment/") for key in files)
    assert not [key for key in files if "-ui" in key or "worker" in key or "wasm.unknown" in key]
    assert build_bundles([]) == {}


@pytest.mark.parametrize("key, immutable", [
    ("conferences/t/video/720p.0123456789ab.mp4", True),
    ("conferences/t/hls.0123456789ab/720p/seg_001.m4s", True),
    ("conferences/t/index.html", False),
    ("conferences/t/manifest.json", False),
    ("conferences/t/video/720p.mp4", False),
    ("search/fr/pagefind-entry.json", False),
    ("catalog.json", False),
    ("feed.xml", False),
    ("index.html", False),
])
def test_cache_control_is_long_only_for_content_tagged_keys(key: str, immutable: bool) -> None:
    expected = "public, max-age=31536000, immutable" if immutable else "public, max-age=60"
    assert cache_control_for(key) == expected


def test_a_missing_hls_js_says_to_run_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from confcast.tasks.errors import PublishError
    from confcast.tasks.site import assets

    assert assets.hlsjs()[0] == "1.7.4" and b"Apache License" in assets.hlsjs()[2]
    assert set(assets.site_assets()) == {assets.hlsjs_key(), "assets/hls.js-LICENSE.txt"}
    monkeypatch.setattr(assets, "VENDOR_PACKAGE", "confcast.tasks.site.templates")  # a folder without hls.js
    assets.hlsjs.cache_clear()
    try:
        with pytest.raises(PublishError, match=r"hls\.js is missing .*run scripts/install\.sh"):
            assets.hlsjs()
    finally:
        assets.hlsjs.cache_clear()
