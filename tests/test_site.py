"""Layout, manifest, catalog, and the rendered pages and feed (pure functions; the browser tests are elsewhere)."""

import datetime as dt
import html.parser
from pathlib import Path

import feedparser
import pytest

from tasks.layout import (
    Catalog,
    Generator,
    build_manifest,
    catalog_entry,
    conference_files,
    conference_prefix,
    remove_entry,
    upsert_entry,
)
from tasks.errors import MetadataError
from tasks.models import (
    AudioStream,
    Conference,
    ConferenceMeta,
    Media,
    Probe,
    Rendition,
    Segment,
    SourceFile,
    Transcript,
    TranscriptFiles,
    VideoStream,
)
from tasks.site import SiteInfo, clock, fragment_time, render_catalog_page, render_conference_page, render_feed

HOSTILE = '<script>alert("x")</script> "onerror=alert(1) \'q\' </textarea> javascript:alert(1)'
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
SITE = SiteInfo(title="OpenLab <b>talks</b>", language="fr", base_url="http://127.0.0.1:8333/confcast/site/")


def make_conference(tmp_path: Path, *, slug: str = "2026-04-04-talk", title: str = "Un titre", day: int = 4) -> Conference:
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
    return build_manifest(conference, published_at=NOW, generator=Generator(version="0.1.0", engine="faster-whisper", model="base"))


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
    assert data["source"] == {"sha256": "ab" * 32, "bytes": 1234, "filename": "talk.mp4"}
    assert data["video"]["mp4"] == [{"height": 720, "width": 1280, "path": "video/720p.mp4", "bytes": 10}]
    assert data["captions"] == [{"lang": "fr", "path": "captions/fr.vtt", "kind": "captions", "status": "auto"}]
    assert data["transcript"] == {"lang": "fr", "txt": "transcript/fr.txt", "srt": "transcript/fr.srt",
                                  "json": "transcript/fr.json"}
    assert data["duration_s"] == 65.0
    staged = {f.path for f in conference_files(make_conference(tmp_path))}
    assert staged == {"video/720p.mp4", "poster.jpg", "audio.m4a", "captions/fr.vtt", "transcript/fr.srt",
                      "transcript/fr.txt", "transcript/fr.json"}


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
    assert "textarea" not in parsed.tags
    assert not any(name.startswith("on") for name, _ in parsed.attributes)
    text = "".join(parsed.text)
    assert HOSTILE in text  # shown, as text, in title, speakers, description and transcript
    assert text.count(HOSTILE) >= 4
    assert "OpenLab <b>talks</b>" in text
    assert '<track kind="captions" src="captions/fr.vtt" srclang="fr" label="Français" default>' in page
    assert '<source src="video/720p.mp4" type="video/mp4">' in page
    assert 'data-start="2.50"' in page
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"fr\">")


def test_catalog_page_and_feed(tmp_path: Path) -> None:
    conference = make_conference(tmp_path, title=HOSTILE)
    manifest = manifest_of(conference)
    catalog = upsert_entry(Catalog(), catalog_entry(manifest))
    page = render_catalog_page(catalog, SITE)
    parsed = TextCollector()
    parsed.feed(page)
    assert "script" not in parsed.tags
    assert HOSTILE in "".join(parsed.text)
    assert 'href="conferences/2026-04-04-talk/index.html"' in page

    feed = feedparser.parse(render_feed(catalog, {manifest.slug: manifest}, SITE))
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "OpenLab <b>talks</b>"
    (item,) = feed.entries
    assert item.title == HOSTILE
    assert item.enclosures[0].href == "http://127.0.0.1:8333/confcast/site/conferences/2026-04-04-talk/audio.m4a"
    assert item.enclosures[0].type == "audio/mp4"
    assert item.itunes_duration == "00:01:05"
    assert 'podcast:transcript url="http://127.0.0.1:8333/confcast/site/conferences/2026-04-04-talk/captions/fr.vtt"' in render_feed(
        catalog, {manifest.slug: manifest}, SITE)


def test_empty_catalog_page_says_so() -> None:
    assert "Aucune conférence publiée" in render_catalog_page(Catalog(), SITE)


@pytest.mark.parametrize("seconds, text, fragment", [(0, "0:00", "0s"), (83.9, "1:23", "1m23s"), (3725, "1:02:05", "62m05s")])
def test_time_formats(seconds: float, text: str, fragment: str) -> None:
    assert clock(seconds) == text
    assert fragment_time(seconds) == fragment
