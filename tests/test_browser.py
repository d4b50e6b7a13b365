"""The viewer site in a real browser: Debian's Chromium, headless, driven by Playwright, on pages served by the real
S3 server (SeaweedFS) after the real publish flow ran once for this module.

Screenshots land in test-artifacts/ (gitignored): look at them after a change to the templates.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import unicodedata
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_env import point_aws_at
from playwright.sync_api import Browser, Page

from confcast.config.settings import Settings
from confcast.flows.publish import publish_conference
from confcast.tasks.demo.sample import SampleConference, make_speech_sample
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
from confcast.tasks.site.layout import Generator, build_manifest
from confcast.tasks.site.publish import publish_conference_files
from confcast.tasks.storage.factory import open_storage
from confcast.tasks.transcription.captions import Cue, parse_vtt, write_transcript_files

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
HOSTILE_TITLE = 'Matériel libre <script>window.__pwned = 1; alert("x")</script> "guillemets" & \'apostrophes\''
SLUG = "2026-04-04-materiel-libre"
WAIT_MS = 30_000  # generous: the machine is small and shared


@dataclass(frozen=True)
class Site:
    storage_url: str
    root: str  # public URL of the site root, ending with /
    page: str  # the conference page
    manifest: dict
    segments: list[dict]  # from the published transcript JSON


def normalize(text: str) -> str:
    """Lower case, accents dropped: how people type a query."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c))


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


@pytest.fixture(scope="module")
def ladder_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleConference:
    """Two real sentences over a 854x480 picture: its HLS ladder has two rungs (480p, 360p), its transcript several
    segments for the page to follow."""
    return make_speech_sample(tmp_path_factory.mktemp("ladder-sample"), utterances=(5, 8),
                              title="Matériel libre", width=854, height=480)


@pytest.fixture(scope="module")
def site(prefect_server, s3_server, ladder_sample, tmp_path_factory) -> Iterator[Site]:
    """The short sample (480p, two rungs) published once, with a hostile title, by the real flow to a fresh bucket."""
    work = tmp_path_factory.mktemp("browser-work")
    bucket = f"confcast-browser-{uuid.uuid4().hex[:12]}"
    with pytest.MonkeyPatch.context() as env:
        point_aws_at(env, s3_server, work)
        settings = Settings(storage_url=f"s3://{bucket}/site", s3_endpoint_url=s3_server.endpoint_url,
                            work_dir=work, site_title="Conférences OpenLab")
        page = publish_conference(source=str(ladder_sample.path), title=HOSTILE_TITLE, date="2026-04-04",
                                  speakers=["Alice Martin", "Bob Durand"],
                                  description="Un atelier sur le matériel libre.",
                                  language="fr", slug=SLUG, settings=settings)
        folder = page.rsplit("/", 1)[0]
        manifest = json.loads(get(f"{folder}/manifest.json"))
        segments = json.loads(get(f"{folder}/{manifest['transcript']['json']}"))["segments"]
        yield Site(storage_url=settings.storage_url, root=page.split("conferences/")[0], page=page, manifest=manifest,
                   segments=segments)


LONG_SLUG = "2026-01-15-long-atelier"


def long_talk_segments() -> tuple[Segment, ...]:
    """250 passages, with a few words placed at known moments."""
    texts = [f"Passage numéro {i} sur la fabrication." for i in range(250)]
    texts[10] = "Je ferme la porte de l'atelier."
    texts[180] = "Une présentation glaciale et un cormoran."
    texts[230] = "Le cormoran plonge."
    return tuple(Segment(start=10.0 * i, end=10.0 * i + 9, text=f" {text}") for i, text in enumerate(texts))


@pytest.fixture(scope="module")
def long_talk(site: Site, s3_server, short_sample, tmp_path_factory) -> str:
    """A second, longer talk published beside the sample (real media of the sample, a long made-up transcript)."""
    folder = tmp_path_factory.mktemp("long-talk")
    poster = folder / "poster.jpg"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(short_sample.path), "-frames:v", "1", "-y", str(poster)],
                   check=True)
    segments = long_talk_segments()
    transcript = Transcript(language="fr", language_probability=None, duration_s=2500.0, segments=segments,
                            engine="faster-whisper", model="base")
    size = short_sample.path.stat().st_size
    conference = Conference(
        meta=ConferenceMeta(title="Un long atelier", date=dt.date(2026, 1, 15), slug=LONG_SLUG, language="fr"),
        probe=Probe(source=SourceFile(path=short_sample.path, filename="long.mp4", sha256="ef" * 32, bytes=size),
                    duration_s=2500.0, format_name="mov,mp4",
                    video=VideoStream(index=0, codec="h264", width=640, height=360),
                    audio=(AudioStream(index=1, codec="aac", channels=1, sample_rate=48000),)),
        media=Media(mp4=(Rendition(width=640, height=360, path=short_sample.path, bytes=size),), poster=poster,
                    audio=short_sample.path, speech=short_sample.path),
        transcript=transcript,
        transcript_files=write_transcript_files(transcript, folder / "text"),
    )
    manifest = build_manifest(conference, published_at=dt.datetime.now(dt.timezone.utc),
                              generator=Generator(version="test", engine="faster-whisper", model="base"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
        env.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
        storage = open_storage(site.storage_url, endpoint_url=s3_server.endpoint_url)
        return publish_conference_files(storage, conference, manifest, site_title="Conférences OpenLab",
                                        site_language="fr")



@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors  # our scripts never throw
    assert not dialogs, dialogs  # no injected script ever ran


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def spoken_word(site: Site) -> tuple[str, Cue]:
    """A long word Whisper heard in the sample, and the first caption cue that holds it (what the search shows)."""
    cues = parse_vtt(get(site.page.rsplit("/", 1)[0] + "/" + site.manifest["captions"][0]["path"]).decode("utf-8"))
    for cue in cues:
        for word in sorted(" ".join(cue.lines).replace("'", " ").split(), key=len, reverse=True):
            word = word.strip(".,;:!?")
            if len(word) >= 7 and word.isalpha():  # one word to the search too (it splits "Jean-Carlos" in two)
                return word, cue
    raise AssertionError(f"no long word in the captions: {cues}")


def current_time(page: Page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def test_catalog_lists_the_sample_and_search_opens_the_moment(site: Site, page: Page) -> None:
    page.goto(site.root + "index.html")
    assert HOSTILE_TITLE in page.locator(".catalog h2 a").all_text_contents()  # the hostile title is text
    assert page.evaluate("window.__pwned") is None
    assert "Alice Martin, Bob Durand" in page.locator(".catalog .meta").first.text_content()
    poster = page.locator(".catalog img").first
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=poster.element_handle())
    screenshot(page, "catalog.png")

    word, cue = spoken_word(site)
    # Typed without accents and in capitals, as people do: matching ignores both.
    query = normalize(word).upper()
    page.fill("#search-input", query)
    page.press("#search-input", "Enter")
    page.locator("#search-results ol a").first.wait_for()
    assert page.locator("#search-results h3 a").first.text_content() == HOSTILE_TITLE
    marks = [normalize(m) for m in page.locator("#search-results mark").all_text_contents()]
    assert normalize(word) in marks
    assert "conférence" in page.locator("#search-status").text_content()
    screenshot(page, "catalog-search.png")

    hit = page.locator(f'#search-results ol a[href$="/conferences/{SLUG}/index.html#t={fragment(cue.start)}"]')
    assert word in hit.text_content()
    hit.click()
    page.wait_for_url(f"**/conferences/{SLUG}/index.html#t=*")
    start = int(cue.start)
    page.wait_for_function(f"document.getElementById('player').currentTime >= {start} - 0.01")
    assert start - 0.01 <= current_time(page) < start + 2


def fragment(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def search_hits(page: Page, query: str) -> list[tuple[str, str]]:
    """(talk title, moment link or None) of every result, once the status says the search is done."""
    page.fill("#search-input", query)
    page.press("#search-input", "Enter")
    page.wait_for_function("""() => { const s = document.getElementById('search-status').textContent;
        return s && s.indexOf('Recherche') !== 0; }""")
    hits = page.evaluate("""() => Array.from(document.querySelectorAll('#search-results > li')).flatMap(li => {
        const title = li.querySelector('h3').textContent;
        const moments = Array.from(li.querySelectorAll(':scope ol a')).map(a =>
            a.getAttribute('href').split('/').slice(-3).join('/'));
        return moments.length ? moments.map(m => [title, m]) : [[title, null]]; })""")
    return [tuple(hit) for hit in hits]


def test_search_finds_word_forms_speakers_and_titles_and_filters(site: Site, long_talk: str, page: Page) -> None:
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(site.root + "index.html")
    assert page.locator(".catalog h2 a").all_text_contents() == [HOSTILE_TITLE, "Un long atelier"]
    assert not [url for url in fetched if "/search" in url]  # the catalog loads no search data until asked

    link = f"conferences/{LONG_SLUG}/index.html"
    # A plural finds the singular that was said, and a plural the feminine singular: Pagefind's French stemmer.
    assert search_hits(page, "portes") == [("Un long atelier", f"{link}#t=1m40s")]
    assert search_hits(page, "PRÉSENTATIONS") == [("Un long atelier", f"{link}#t=30m00s")]
    assert search_hits(page, "presentations") == [("Un long atelier", f"{link}#t=30m00s")]  # accents do not matter
    # A speaker's surname finds the talk; its hostile title is text in the results.
    (hit,) = search_hits(page, "durand")
    assert hit[0] == HOSTILE_TITLE and page.evaluate("window.__pwned") is None
    assert page.locator("#search-results .meta").first.text_content().endswith("Alice Martin · Bob Durand")
    # Filters: "atelier" is in both talks (a title, a description, spoken words); the speaker narrows it to one.
    assert {title for title, _ in search_hits(page, "atelier")} == {HOSTILE_TITLE, "Un long atelier"}
    page.select_option("#search-speaker", "Bob Durand")
    page.wait_for_function("document.querySelectorAll('#search-results > li').length === 1")
    assert page.locator("#search-results h3").all_text_contents() == [HOSTILE_TITLE]
    assert page.locator("#search-year option").all_text_contents()[1:] == ["2026"]
    assert page.locator("#search-lang option").all_text_contents()[1:] == ["Français"]
    assert len([url for url in fetched if url.endswith("/search/bundles.json")]) == 1  # fetched once
    assert not [url for url in fetched if "/search/" not in url and "pagefind" in url]  # all from the site
    screenshot(page, "catalog-search-filters.png")


def test_search_reports_no_match(site: Site, page: Page) -> None:
    page.goto(site.root + "index.html?q=zzzqqq")
    page.wait_for_function("document.getElementById('search-status').textContent.indexOf('Aucune') === 0")
    assert page.locator("#search-results li").count() == 0


def test_conference_page_plays_with_captions_and_a_transcript_that_follows(site: Site, page: Page) -> None:
    page.goto(site.page)
    assert page.locator("h1").text_content() == HOSTILE_TITLE
    assert page.title().startswith(HOSTILE_TITLE)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("html").get_attribute("lang") == "fr"

    # The caption track is on and holds cues.
    page.wait_for_function("""() => { const t = document.getElementById('player').textTracks[0];
        return t && t.mode === 'showing' && t.cues && t.cues.length > 0; }""")
    cues = page.evaluate("Array.from(document.getElementById('player').textTracks[0].cues).map(c => c.text)")
    assert any(len(text) > 3 for text in cues), cues

    # The video plays: currentTime advances, from the HLS ladder when there is one (Chromium plays it natively).
    page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
    page.wait_for_function("document.getElementById('player').currentTime > 1")
    playing = page.evaluate("document.getElementById('player').currentSrc")
    expected = site.manifest["video"].get("hls") or site.manifest["video"]["mp4"][0]["path"]
    assert playing == site.page.rsplit("/", 1)[0] + "/" + expected

    buttons = page.locator("#transcript-list button")
    starts = [float(value) for value in buttons.evaluate_all("bs => bs.map(b => b.dataset.start)")]
    assert len(starts) == len([s for s in site.segments if s["text"].strip()]) >= 2

    # The highlighted passage follows playback: from just before the second passage, playing reaches it.
    target = starts[1]
    page.evaluate(f"document.getElementById('player').currentTime = {max(0.0, target - 0.6)}")
    page.wait_for_function(
        f"""() => {{ const b = document.querySelector('#transcript-list button[aria-current="true"]');
        return b && parseFloat(b.dataset.start) === {target}; }}"""
    )
    assert page.locator('#transcript-list button[aria-current="true"]').count() == 1
    screenshot(page, "conference.png")

    # A click on a passage moves currentTime there.
    buttons.nth(0).click()
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {starts[0]}) < 1")
    buttons.last.click()
    page.wait_for_function(f"document.getElementById('player').currentTime >= {starts[-1]} - 0.01")

    # Keyboard: arrows move between passages, Enter seeks.
    buttons.nth(0).focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.start") == buttons.nth(1).get_attribute("data-start")
    page.keyboard.press("Enter")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {starts[1]}) < 1")

    # Seek thumbnails: hovering the strip shows the frame of that moment from the sprite; a click seeks there.
    assert site.manifest["video"]["thumbnails"], "the publish flow makes seek thumbnails"
    page.wait_for_function("""() => { const t = document.querySelector('track[kind="metadata"]');
        return t && t.track.cues && t.track.cues.length > 0; }""")
    strip = page.locator("#scrub")
    box = strip.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#scrub .preview:not([hidden])")
    frame = page.evaluate("(() => { const s = getComputedStyle(document.querySelector('#scrub .frame')); "
                          "return [s.backgroundImage, s.width]; })()")
    assert "sprite" in frame[0] and frame[1] != "0px", frame
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    duration = page.evaluate("document.getElementById('player').duration")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {duration / 2}) < 1")
    screenshot(page, "conference-thumbnails.png")

    # Downloads point at files that are there.
    for link in page.locator(".downloads a").all():
        url = page.evaluate("a => a.href", link.element_handle())
        assert get(url), url


def test_hls_js_plays_switches_rungs_and_keeps_captions_where_forced(site: Site, page: Page) -> None:
    """The path of browsers without native HLS (Firefox), forced in Chromium with ?hls=js: hls.js from the site."""
    assert site.manifest["video"]["hls"] and len(site.manifest["video"]["renditions"]) >= 2, "a ladder of 2 rungs"
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(site.page + "?hls=js#t=4s")  # a deep link too
    page.wait_for_function("window.confcastHls && window.confcastHls.levels.length >= 2")
    scripts = [url for url in fetched if "hls.light.min." in url]
    assert len(scripts) == 1 and scripts[0].startswith(site.root + "assets/"), scripts  # the site's own copy
    assert b"Apache License" in get(site.root + "assets/hls.js-LICENSE.txt")
    page.wait_for_function("document.getElementById('player').currentTime >= 3.99")  # the deep link, honoured
    assert page.evaluate("document.getElementById('player').currentSrc").startswith("blob:")  # MSE, not the MP4
    progressive = [m["path"] for m in site.manifest["video"]["mp4"]]
    assert not [url for url in fetched if url.endswith(tuple(progressive))]  # the progressive MP4 is not fetched

    # Captions still show, from the page's own track (hls.js's light build adds none of its own).
    page.wait_for_function("""() => { const t = document.getElementById('player').textTracks;
        return t.length >= 1 && t[0].mode === 'showing' && t[0].cues && t[0].cues.length > 0; }""")
    assert page.evaluate("document.getElementById('player').textTracks.length") == len(
        site.manifest["captions"]) + (1 if site.manifest["video"]["thumbnails"] else 0)

    # It plays, the transcript follows, and it switches to another rung while playing.
    page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; v.currentTime = 0; "
                  "return v.play(); }")
    page.wait_for_function("document.getElementById('player').currentTime > 0.5")
    page.wait_for_selector('#transcript-list button[aria-current="true"]')
    first = page.evaluate("window.confcastHls.currentLevel")
    other = 0 if first != 0 else 1
    page.evaluate(f"window.confcastHls.currentLevel = {other}")
    page.wait_for_function(f"window.confcastHls.currentLevel === {other}")
    at = page.evaluate("document.getElementById('player').currentTime")
    page.wait_for_function(f"document.getElementById('player').currentTime > {at} + 0.5")
    heights = page.evaluate("window.confcastHls.levels.map(level => level.height)")
    assert sorted(heights) == sorted(r["height"] for r in site.manifest["video"]["renditions"])
    page.wait_for_function(f"document.getElementById('player').videoHeight === {heights[other]}")  # the picture too
    # Seek thumbnails are there as before.
    page.wait_for_function("""() => { const t = document.querySelector('track[kind="metadata"]');
        return t && t.track.cues && t.track.cues.length > 0; }""")


def test_without_the_query_chromium_plays_hls_natively(site: Site, page: Page) -> None:
    page.goto(site.page)
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    assert page.evaluate("window.confcastHls") is None
    assert page.evaluate("document.getElementById('player').currentSrc").endswith(".m3u8")


def test_moment_links_start_there_and_the_page_reads_on_a_phone(site: Site, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    try:
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        start = int(site.segments[-1]["start"])
        page.goto(f"{site.page}#t=0m{start:02d}s")
        page.wait_for_function(f"document.getElementById('player').currentTime >= {start} - 0.01")
        # Nothing is wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        screenshot(page, "conference-phone.png")
    finally:
        context.close()


CONTRAST_JS = """(selectors) => {
  const parse = c => { const p = c.match(/rgba?\\(([^)]+)\\)/)[1].split(/[ ,\\/]+/).filter(Boolean).map(parseFloat);
                       return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
                     return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const background = el => {  // the colours painted behind the element, composed over white
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) { break; } }
    }
    let base = [255, 255, 255];
    for (const c of layers.reverse()) { base = base.map((v, i) => c[3] * c[i] + (1 - c[3]) * v); }
    return base;
  };
  return selectors.map(sel => {
    const el = document.querySelector(sel);
    if (!el) { return [sel, null]; }
    const a = lum(parse(getComputedStyle(el).color)), b = lum(background(el));
    return [sel, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}"""


def test_pages_meet_contrast_focus_and_label_rules(site: Site, page: Page) -> None:
    """WCAG 2.1 AA basics a machine can check: text contrast, a visible focus ring, named controls, languages."""
    page.goto(site.root + "index.html?q=" + normalize(spoken_word(site)[0]))
    page.wait_for_selector("#search-results mark")
    catalog = ["body", "header.site .brand", "header.site a[href='feed.xml']", ".catalog h2 a", ".catalog .meta",
               ".catalog .duration", "form.search label", "button.primary", "#search-status", "#search-results mark",
               "#search-results time", "footer a"]
    for selector, ratio in page.evaluate(CONTRAST_JS, catalog):
        assert ratio is not None and ratio >= 4.5, (selector, ratio)
    assert page.evaluate("Array.from(document.querySelectorAll('input')).every(i => i.labels.length > 0)")

    page.goto(site.page)
    page.locator("#transcript-list button").nth(1).click()
    page.wait_for_selector('#transcript-list button[aria-current="true"]')
    conference = [".meta", ".badge", "#transcript-list button", '#transcript-list button[aria-current="true"] time',
                  '#transcript-list button[aria-current="true"] span', ".downloads a", ".downloads .size",
                  ".transcript label"]
    for selector, ratio in page.evaluate(CONTRAST_JS, conference):
        assert ratio is not None and ratio >= 4.5, (selector, ratio)
    assert page.evaluate("Array.from(document.querySelectorAll('input')).every(i => i.labels.length > 0)")
    assert page.evaluate("Array.from(document.querySelectorAll('button')).every(b => b.textContent.trim().length > 0)")
    assert page.locator("video track").first.get_attribute("label")
    # Keyboard: the first Tab shows the skip link; a focused passage wears a visible ring.
    page.goto(site.page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.evaluate("document.activeElement.getBoundingClientRect().left") >= 0
    page.locator("#transcript-list button").first.focus()
    page.keyboard.press("ArrowDown")
    outline = page.evaluate("(() => { const s = getComputedStyle(document.activeElement); "
                            "return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor]; })()")
    assert outline[0] == "solid" and outline[1] >= 2, outline
    assert page.evaluate(CONTRAST_JS.replace("getComputedStyle(el).color", "getComputedStyle(el).outlineColor"),
                         ["#transcript-list li:nth-child(2) button"])[0][1] >= 3  # WCAG 1.4.11: focus ring >= 3:1
    assert page.locator("h1").get_attribute("lang") == "fr"
