"""Chapters and slides (issue 15, items 2 and 3): pure parts exactly; then one real publish of a generated talk over
slides (text changing at known times, a speaker inset moving in a corner, spoken French, a slides PDF) by the real
flow to the real S3 server, read back as a viewer, a podcast app and Chromium see it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import unicodedata
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import feedparser
import numpy as np
import pytest
from aws_env import point_aws_at
from chapter_samples import SLIDES, SlidesTalk, make_slides_pdf, make_slides_talk
from playwright.sync_api import Browser
from search_checks import fragment

from confcast.config.settings import Settings
from confcast.flows.publish import publish_conference
from confcast.flows.site_admin import edit_talk
from confcast.tasks.chapters import detect, marks, ocr
from confcast.tasks.chapters.inputs import chapter_inputs
from confcast.tasks.chapters.make import Slide, choose_chapters, read_slides
from confcast.tasks.chapters.pdf import match_pages, pdf_pages
from confcast.tasks.errors import MetadataError
from confcast.tasks.fingerprint import chapters_key
from confcast.tasks.media import hls
from confcast.tasks.media.cut import apply_cut
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.models import Chapter, ConferenceMeta, Cut, Probe, Segment, SlideText, SourceFile, Word
from confcast.tasks.site.edit import MetaChanges

ROOT = Path(__file__).resolve().parent.parent


def plain(text: str) -> str:
    """Lower case without accents: OCR may drop an accent, the words must be there."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


# --- pure ---------------------------------------------------------------------------------------------------------


def test_times_as_people_write_them() -> None:
    assert marks.parse_time("1:02:03.5", "t") == 3723.5
    assert marks.parse_time("2:03", "t") == 123.0
    assert marks.parse_time(95.5, "t") == 95.5
    assert marks.parse_time("12", "t") == 12.0
    for bad in ("soon", "-3", "1:75", True, "nan"):
        with pytest.raises(MetadataError):
            marks.parse_time(bad, "chapters: chapter 1")


def test_sidecar_chapters_are_checked() -> None:
    got = marks.sidecar_chapters([{"start": 0, "title": "Intro"}, {"start": "1:30", "title": " Suite\n"}])
    assert [(m.start, m.title) for m in got] == [(0.0, "Intro"), (90.0, "Suite")]
    with pytest.raises(MetadataError, match="in order"):
        marks.sidecar_chapters([{"start": 60, "title": "B"}, {"start": 30, "title": "A"}])
    with pytest.raises(MetadataError, match="no title"):
        marks.sidecar_chapters([{"start": 0, "title": ""}])
    with pytest.raises(MetadataError, match="mapping"):
        marks.sidecar_chapters(["0:00 Intro"])


def test_chapters_track_and_podcast_json() -> None:
    chapters = [Chapter(start=0.0, title="Intro"), Chapter(start=75.25, title="A --> B")]
    vtt = marks.chapters_vtt(chapters, 3700.0)
    assert vtt.startswith("WEBVTT\n")
    assert "00:00:00.000 --> 00:01:15.250\nIntro" in vtt
    assert "00:01:15.250 --> 01:01:40.000\nA → B" in vtt  # the cue runs to the end; no arrow in a cue's text
    document = json.loads(marks.podcast_chapters(chapters))
    assert document == {"version": "1.2.0", "chapters": [{"startTime": 0.0, "title": "Intro"},
                                                          {"startTime": 75.25, "title": "A --> B"}]}


def test_spoken_title_takes_the_first_words_after_the_start() -> None:
    words = [Word(start=10 + i * 0.4, end=10.3 + i * 0.4, text=f" mot{i}") for i in range(12)]
    segments = [Segment(start=2, end=5, text=" avant"), Segment(start=10, end=15, text=" ...", words=tuple(words))]
    assert marks.spoken_title(segments, 9.5, 30) == "mot0 mot1 mot2 mot3 mot4 mot5 mot6 mot7…"
    assert marks.spoken_title(segments, 40, 60) is None


def test_ocr_title_is_the_line_in_the_largest_letters() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "5\t1\t1\t1\t1\t1\t60\t40\t100\t20\t90\tpetit",  # a small line above the heading
        "5\t1\t2\t1\t1\t1\t60\t70\t200\t48\t95\tGrand",
        "5\t1\t2\t1\t1\t2\t300\t70\t200\t46\t93\ttitre",
        "5\t1\t3\t1\t1\t1\t60\t200\t100\t22\t91\tcorps",
        "5\t1\t3\t1\t1\t2\t200\t200\t100\t22\t20\tbruit",  # low confidence: noise
    ]
    reading = ocr.parse_tsv("\n".join([header, *rows]))
    assert reading.title == "Grand titre"
    assert reading.text == "petit\nGrand titre\ncorps"
    assert ocr.ocr_languages("fr", frozenset({"fra", "eng"})) == "fra"
    assert ocr.ocr_languages("de", frozenset({"fra", "eng"})) == "fra+eng"


def slide_frames(inset: bool) -> np.ndarray:
    """Grey frames at 2 a second, 16 s: a slide's text changes at 4 s, 8.5 s and 12 s; a moving inset in a corner."""
    frames = np.full((32, 72, 128), 230, dtype=np.uint8)
    for number, start in enumerate((0.0, 4.0, 8.5, 12.0)):
        first = int(start * 2)
        row = 10 + number * 6
        frames[first:, 8:40, 8:120] = 230
        frames[first:, row : row + 5, 10 + number * 7 : 100] = 40  # a line of "text" at another place
    if inset:
        for i in range(len(frames)):
            x = 100 + (i % 5) * 2
            frames[i, 50:68, 90:126] = 128
            frames[i, 52:66, x : x + 10] = (i * 37) % 255
    return frames


def test_slide_changes_found_and_inset_ignored() -> None:
    for inset in (False, True):
        changes = detect.detect_changes(slide_frames(inset), rate=2.0)
        assert [c.start for c in changes] == [4.0, 8.5, 12.0]
    only_inset = slide_frames(True)
    only_inset[:, 8:40, 8:120] = 230  # no slide change at all
    assert detect.detect_changes(only_inset, rate=2.0) == []
    camera = np.random.default_rng(7).integers(0, 255, size=(40, 72, 128), dtype=np.uint8)  # moving all along
    camera[1::2] = camera[0::2]  # still half of the time
    assert detect.detect_changes(camera, rate=2.0) == []


def test_pdf_pages_match_the_slide_frames_that_show_them(tmp_path: Path) -> None:
    pages = pdf_pages(make_slides_pdf(tmp_path / "slides.pdf"))
    assert len(pages) == len(SLIDES) + 1 and "Microscope libre" in pages[0]
    shown = [(s.start, f"{s.title}\n{s.body}") for s in SLIDES]
    assert match_pages(pages, shown) == (0.0, 4.0, 8.5, 12.0, None)


def test_slides_json_lists_the_frames_then_the_pages_and_reads_back(tmp_path: Path) -> None:
    """What a publication writes, and what a new PDF is matched against later (tasks/site/new_slides.py)."""
    frames = [SlideText(start=s.start, text=f"{s.title}\n{s.body}") for s in SLIDES[:2]]
    listed = marks.shown_text(frames, ["Microscope libre\nUne imprimante", "Annexe", "  "])
    assert listed == (*frames, SlideText(start=0.0, text="Microscope libre\nUne imprimante", page=1),
                      SlideText(start=None, text="Annexe", page=2))  # fmt: skip
    assert marks.read_slides_json(marks.slides_json(listed).encode("utf-8")) == listed
    assert marks.shown_text((), []) == ()
    for broken in (b"[]", b'{"slides": [{"start": "soon", "text": "x"}]}', b"{"):
        with pytest.raises(ValueError):
            marks.read_slides_json(broken)


def test_missing_or_broken_pdf_is_one_line(tmp_path: Path) -> None:
    video = tmp_path / "talk.mp4"
    video.write_bytes(b"")
    (tmp_path / "talk.yaml").write_text("slides: missing.pdf\n", encoding="utf-8")
    with pytest.raises(MetadataError, match="does not exist"):
        chapter_inputs(video)
    good = make_slides_pdf(tmp_path / "good.pdf").read_bytes()
    (tmp_path / "broken.pdf").write_bytes(good[: len(good) // 3])  # cut short: no page tree, no xref
    (tmp_path / "talk.yaml").write_text("slides: broken.pdf\n", encoding="utf-8")
    with pytest.raises(MetadataError, match="cannot be read|no pages") as error:
        chapter_inputs(video)
    assert "\n" not in str(error.value)
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.pdf"
    outside.write_bytes(good)  # a readable PDF, but not beside the sidecar: never published
    for named in (f"../{outside.name}", str(outside)):
        (tmp_path / "talk.yaml").write_text(f"slides: '{named}'\n", encoding="utf-8")
        with pytest.raises(MetadataError, match="is outside .*; put the PDF in that folder"):
            chapter_inputs(video)


def test_a_pdf_is_read_once_per_version(tmp_path: Path) -> None:
    from confcast.tasks.chapters.inputs import read_pdf

    video = tmp_path / "talk.mp4"
    video.write_bytes(b"")
    (tmp_path / "talk.yaml").write_text("slides: deck.pdf\n", encoding="utf-8")
    deck = make_slides_pdf(tmp_path / "deck.pdf")
    first = chapter_inputs(video)
    before = read_pdf.cache_info()
    assert chapter_inputs(video) == first and read_pdf.cache_info().hits == before.hits + 1  # read once
    assert first.pdf_pages[0].strip().startswith(SLIDES[0].title)
    title = SLIDES[0].title.encode("latin-1")  # the deck edited in place, its size the same: read again
    deck.write_bytes(deck.read_bytes().replace(title, b"X" * len(title)))
    again = chapter_inputs(video)
    assert again.pdf_sha256 != first.pdf_sha256 and again.pdf_pages[0].strip().startswith("X" * 5)


def test_sidecar_chapters_first_then_the_recordings_own_then_slides(tmp_path: Path) -> None:
    source = tmp_path / "talk.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=5:duration=6",
                    "-c:v", "libx264", "-y", str(tmp_path / "plain.mp4")], check=True)
    (tmp_path / "chapters.txt").write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=2500\n"
                                           "title=Ouverture\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=2500\nEND=6000\n"
                                           "title=Démonstration\n", encoding="utf-8")
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "plain.mp4"), "-i", str(tmp_path / "chapters.txt"),
                    "-map_chapters", "1", "-c", "copy", "-y", str(source)], check=True)
    probe = probe_recording(source)
    assert [(m.start, m.title) for m in probe.chapters] == [(0.0, "Ouverture"), (2.5, "Démonstration")]
    slides = [Slide(0.0, None, "Diapo un"), Slide(4.0, None, "Diapo deux")]
    source_of = choose_chapters(chapter_inputs(source), probe, slides, [])
    assert source_of[0] == "recording" and [c.title for c in source_of[1]] == ["Ouverture", "Démonstration"]
    (tmp_path / "talk.yaml").write_text("chapters:\n  - {start: 0, title: Intro}\n  - {start: '0:04', title: Fin}\n"
                                        "  - {start: 99, title: Après la fin}\n", encoding="utf-8")
    source_of = choose_chapters(chapter_inputs(source), probe, slides, [])
    assert source_of[0] == "sidecar" and [(c.start, c.title) for c in source_of[1]] == [(0.0, "Intro"), (4.0, "Fin")]
    without = probe.model_copy(update={"chapters": ()})
    source_of = choose_chapters(chapter_inputs(tmp_path / "other.mp4"), without, slides, [])
    assert source_of[0] == "slides" and [c.title for c in source_of[1]] == ["Diapo un", "Diapo deux"]
    # A talk cut out of the recording sees the recording's chapters in its own time: the one running at its start
    # begins it, the later ones inside it move back by its start.
    _, cut = apply_cut(ConferenceMeta(title="t", date="2026-01-01", slug="t", cut=Cut(start_s=1.0, end_s=5.5)), probe)
    assert [(m.start, m.title) for m in cut.chapters] == [(0.0, "Ouverture"), (1.5, "Démonstration")]
    _, late = apply_cut(ConferenceMeta(title="t", date="2026-01-01", slug="t", cut=Cut(start_s=3.0, end_s=5.5)), probe)
    assert [(m.start, m.title) for m in late.chapters] == [(0.0, "Démonstration")]


def test_master_playlist_names_the_chapters_once() -> None:
    master = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n"
    once = hls.with_session_chapters(master, "chapters.json")
    assert hls.with_session_chapters(once, "chapters.json") == once
    assert hls.without_session_chapters(once) == master  # sidecar chapters all gone: the master names none
    lines = once.splitlines()
    assert lines[3] == '#EXT-X-SESSION-DATA:DATA-ID="com.apple.hls.chapters",URI="chapters.json"'
    assert json.loads(hls.render_hls_chapters([(0.0, "A"), (4.0, "B")], 10.0, "fr"))[1] == {
        "chapter": 2, "start-time": 4.0, "duration": 6.0, "titles": [{"language": "fr", "title": "B"}]}


def test_the_ladder_decode_keeps_the_slide_scan() -> None:
    from confcast.tasks.media.ladder import plan_ladder
    from confcast.tasks.media.video import plan_slide_scan

    job = hls.LadderJob(source=Path("/r/talk.mp4"), source_format="mov,mp4,m4a,3gp,3g2,mj2", duration_s=10,
                        rungs=plan_ladder(1920, 1080, 25), video_input="0:0", slide_scan=plan_slide_scan(1920, 1080))
    graph = hls.build_filter_graph(job)
    assert "[ss]fps=2,split=2[sg][sk]" in graph and "scale=128:72:flags=area,format=gray[slidegrey]" in graph
    assert "scale=960:540" in graph
    args = hls.build_ladder_args(job, Path("/w"))
    assert args.count("-filter_complex") == 1 and args.count("-i") == 1  # one decode
    assert "/w/slides/grey.raw" in args and "/w/slides/frames/%05d.jpg" in args


# --- the real thing -----------------------------------------------------------------------------------------------


def test_tesseract_is_installed_with_french() -> None:
    assert shutil.which("tesseract"), "tesseract is missing: run scripts/install.sh (tesseract-ocr, tesseract-ocr-fra)"
    assert {"fra", "eng"} <= ocr.installed_languages()


def test_without_tesseract_chapters_are_titled_from_speech(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    for program in ("ffmpeg", "ffprobe"):
        (bare / program).symlink_to(shutil.which(program))
    monkeypatch.setenv("PATH", str(bare))
    ocr.installed_languages.cache_clear()
    warnings: list[str] = []
    try:
        slides = read_slides([(0.0, None), (4.0, None)], "fr", warnings.append)
    finally:
        ocr.installed_languages.cache_clear()
    assert len(warnings) == 1 and "tesseract-ocr" in warnings[0]
    words = tuple(Word(start=4.2 + i * 0.3, end=4.4 + i * 0.3, text=f" {w}") for i, w in enumerate(["voici", "la"]))
    segments = [Segment(start=0.5, end=3, text=" Bonjour à tous"),
                Segment(start=4.2, end=5.5, text=" voici la", words=words)]
    probe = Probe(source=SourceFile(path=tmp_path / "none.mp4", filename="none.mp4", sha256="0" * 64, bytes=0),
                  duration_s=8.0, format_name="mov,mp4,m4a,3gp,3g2,mj2", video=None, audio=())
    source, chapters = choose_chapters(chapter_inputs(tmp_path / "none.mp4"), probe, slides, segments)
    assert source == "slides" and [c.title for c in chapters] == ["Bonjour à tous", "voici la"]


@dataclass(frozen=True)
class Published:
    talk: SlidesTalk
    root: str
    page: str
    manifest: dict
    settings: Settings


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


@pytest.fixture(scope="module")
def published(prefect_server, s3_server, tmp_path_factory) -> Iterator[Published]:
    """The talk over slides published once by the real flow to a fresh bucket of the real S3 server."""
    folder = tmp_path_factory.mktemp("slides-talk")
    talk = make_slides_talk(folder)
    (folder / "slides-talk.yaml").write_text("title: Microscope libre\ndate: 2026-04-04\nlanguage: fr\n"
                                             "slides: slides.pdf\n", encoding="utf-8")
    bucket = f"confcast-chapters-{uuid.uuid4().hex[:12]}"
    with pytest.MonkeyPatch.context() as env:
        point_aws_at(env, s3_server, folder)
        settings = Settings(storage_url=f"s3://{bucket}/site", s3_endpoint_url=s3_server.endpoint_url,
                            work_dir=folder / "work")
        page = publish_conference(source=str(talk.video), settings=settings)
        manifest = json.loads(get(f"{page.rsplit('/', 1)[0]}/manifest.json"))
        yield Published(talk, page.split("conferences/")[0], page, manifest, settings)


def test_chapters_at_the_slide_changes_titled_by_ocr(published: Published) -> None:
    chapters = published.manifest["chapters"]
    assert chapters["source"] == "slides"
    items = chapters["items"]
    # one chapter a slide, none where only the speaker inset moved
    assert len(items) == len(SLIDES), items
    for item, slide in zip(items, SLIDES, strict=True):
        assert abs(item["start"] - slide.start) <= 1.0, (item, slide)
        assert set(plain(slide.title).split()) <= set(plain(item["title"]).split()), (item["title"], slide.title)
        assert item["image"] and get(published.page.rsplit("/", 1)[0] + "/" + item["image"])[:2] == b"\xff\xd8"
    folder = published.page.rsplit("/", 1)[0]
    vtt = get(f"{folder}/{chapters['vtt']}").decode("utf-8")
    assert vtt.startswith("WEBVTT") and vtt.count(" --> ") == len(SLIDES)


def test_slide_text_and_pdf_published(published: Published) -> None:
    folder = published.page.rsplit("/", 1)[0]
    slides = published.manifest["slides"]
    assert slides["pages"] == len(SLIDES) + 1
    assert get(f"{folder}/{slides['pdf']}") == published.talk.pdf.read_bytes()
    shown = json.loads(get(f"{folder}/{slides['json']}"))["slides"]
    detected = [s for s in shown if "page" not in s]
    pages = [s for s in shown if "page" in s]
    assert [round(s["start"]) for s in detected] == [round(s.start) for s in SLIDES]
    assert "trois laboratoires partenaires" in plain(detected[1]["text"])
    # each PDF page with the moment a slide frame shows it; the page never shown links to the talk (null)
    assert [p["page"] for p in pages] == [1, 2, 3, 4, 5]
    assert [p["start"] is None for p in pages] == [False, False, False, False, True]
    assert all(abs(p["start"] - s.start) <= 1.0 for p, s in zip(pages, SLIDES, strict=False))


def test_slide_text_searchable_and_chapters_in_the_hls_master(published: Published) -> None:
    # The slide's text is in the site's Pagefind index, as a moment of the talk: a hit links to when it is shown.
    listing = json.loads(get(f"{published.root}search/files.json"))
    fragments = [fragment(get(f"{published.root}{key}")) for key in listing["current"] if "/fragment/" in key]
    talk = next(f for f in fragments if f["url"].endswith("/index.html"))  # the talk's own document
    slide = [a["id"] for a in talk["anchors"] if "laboratoires partenaires" in plain(a["text"])]
    assert slide and all(abs(float(id_.removeprefix("t=")) - SLIDES[1].start) <= 1.0 for id_ in slide)
    folder = published.page.rsplit("/", 1)[0]
    master_path = published.manifest["video"]["hls"]
    master = get(f"{folder}/{master_path}").decode("utf-8")
    line = next(line for line in master.splitlines() if line.startswith("#EXT-X-SESSION-DATA:"))
    assert 'DATA-ID="com.apple.hls.chapters"' in line
    uri = line.split('URI="', 1)[1].split('"', 1)[0]
    chapters = json.loads(get(f"{folder}/{master_path.rsplit('/', 1)[0]}/{uri}"))
    assert [c["titles"][0]["language"] for c in chapters] == ["fr"] * len(SLIDES)
    assert [round(c["start-time"]) for c in chapters] == [round(s.start) for s in SLIDES]


def test_feed_names_the_podcast_chapters(published: Published) -> None:
    feed = feedparser.parse(get(f"{published.root}feed.xml"))
    item = feed.entries[0]
    assert item["podcast_chapters"]["type"] == "application/json+chapters"
    url = item["podcast_chapters"]["url"]
    document = json.loads(get(url))
    assert document["version"] == "1.2.0"
    assert [round(c["startTime"]) for c in document["chapters"]] == [round(s.start) for s in SLIDES]


def test_unchanged_rerun_costs_nothing(published: Published) -> None:
    page = publish_conference(source=str(published.talk.video), settings=published.settings)
    again = json.loads(get(f"{page.rsplit('/', 1)[0]}/manifest.json"))
    assert again["published_at"] == published.manifest["published_at"]


def test_chapter_list_seeks_in_chromium(published: Published, browser: Browser) -> None:
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(published.page)
    buttons = page.locator("#chapter-list button")
    assert buttons.count() == len(SLIDES)
    assert "Calendrier" in buttons.nth(2).inner_text()
    track = page.locator('video track[kind="chapters"]')
    assert track.count() == 1
    page.evaluate("document.querySelector('video track[kind=chapters]').track.mode = 'hidden'")
    cues = "document.querySelector('video track[kind=chapters]').track.cues"
    page.wait_for_function(f"{cues} && {cues}.length == {len(SLIDES)}")
    target = published.manifest["chapters"]["items"][2]["start"]
    buttons.nth(2).click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {target}) < 1")
    page.wait_for_function("document.querySelector('#chapter-list button[aria-current=true]') !== null")
    assert page.locator("#chapter-list button[aria-current=true]").inner_text() == buttons.nth(2).inner_text()


def test_after_an_edit_the_same_publish_has_nothing_to_do(
    published: Published, s3_server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`confcast edit` computes the fingerprint a publish of the edited talk computes, its sidecar's chapters and
    slides PDF included (their key is in the manifest): the re-run after an edit answers unchanged, rewriting
    nothing. Last of the tests on this talk: it changes its description."""
    assert chapters_key(()) is None and published.manifest["generator"]["chapters_key"]
    folder = published.talk.video.parent
    point_aws_at(monkeypatch, s3_server, folder)
    description = "Trois laboratoires partenaires."
    edit_talk(published.manifest["slug"], MetaChanges(description=description), published.settings)
    sidecar = folder / "slides-talk.yaml"
    sidecar.write_text(f"{sidecar.read_text(encoding='utf-8')}description: {description}\n", encoding="utf-8")
    capsys.readouterr()
    page = publish_conference(source=str(published.talk.video), settings=published.settings, show_progress=True)
    assert page == published.page
    assert "unchanged since its publication" in capsys.readouterr().err
    manifest = json.loads(get(f"{page.rsplit('/', 1)[0]}/manifest.json"))
    assert manifest["description"] == description
    assert manifest["generator"]["chapters_key"] == published.manifest["generator"]["chapters_key"]


def test_broken_pdf_publishes_nothing(tmp_path: Path) -> None:
    talk = tmp_path / "talk.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=5:duration=1",
                    "-c:v", "libx264", "-y", str(talk)], check=True)
    (tmp_path / "slides.pdf").write_bytes(b"%PDF-1.4\nnot really a pdf\n")
    (tmp_path / "talk.yaml").write_text("slides: slides.pdf\n", encoding="utf-8")
    site = tmp_path / "site"
    env = {**os.environ, "CONFCAST_WORK_DIR": str(tmp_path / "work"), "PREFECT_HOME": str(tmp_path / "prefect")}
    done = subprocess.run([str(Path(sys.executable).parent / "confcast"), "publish", str(talk), "--to",
                           f"file://{site}"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and done.stderr.startswith("confcast: error: slides PDF")
    assert not site.exists() or not any(site.rglob("*.html"))


def test_bench_table_says_the_chapter_detection_share() -> None:
    from confcast.tasks.bench import media as bench_media
    from confcast.tasks.models import VideoStream

    probe = Probe(source=SourceFile(path=Path("/b/src.mp4"), filename="src.mp4", sha256="0" * 64, bytes=250_000_000),
                  duration_s=120.0, format_name="mov", video=VideoStream(index=0, codec="h264", width=1920,
                                                                          height=1080, fps=25.0), audio=())
    rows = [
        bench_media.Row("single decode: whole ladder", 1, 100.0, 180.0, 10_000_000),
        bench_media.Row("single decode: ladder + thumbnails + poster", 1, 102.0, 200.0, 10_400_000),
        bench_media.Row(bench_media.SLIDES_ROW, 1, 103.0, 203.0, 10_500_000),
        bench_media.Row(bench_media.DETECT_ROW, 0, 0.5, 0.4, 0),
        bench_media.Row(bench_media.DECODE_ROW, 1, 20.0, 30.0, 0),
        bench_media.Row(bench_media.SCAN_ROW, 1, 21.0, 31.6, 1_000_000),
        bench_media.Row("one process per rendition", 4, 150.0, 240.0, 10_000_000),
    ]
    text = bench_media.table(rows, probe)
    assert "slide scan 1.60 CPU s (decode + scan minus decode alone) + detection 0.40 CPU s = 1.0 %" in text
    assert "differ by +1.5 %" in text
    assert text.endswith("1.50x faster (wall), 1.33x less CPU (target: 1.3x or more)")
