"""Issue 15, items 1 and 4: a talk trimmed out of a recording (--start/--end), and an evening's recording published
as several talks with an event page. Real ffmpeg on generated recordings whose frames carry their own number and
whose sound comes at known times; the real flow (session Prefect server) and Whisper through the CLI; Chromium for
the event page."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from child_env import child_env
from event_media import FPS, WINDOW, frame_numbers, make_beep_recording, make_evening, sound_lag, sound_onset
from search_checks import indexed

from confcast.config.settings import Settings
from confcast.flows.cli_support import check_before_flow
from confcast.tasks.errors import MetadataError
from confcast.tasks.event import event_sidecar, given_slugs, plan_event
from confcast.tasks.media.audio import extract_speech, make_podcast_audio
from confcast.tasks.media.cut import apply_cut
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.media.video import make_video
from confcast.tasks.metadata import make_cut, parse_time
from confcast.tasks.models import ConferenceMeta, Cut, EventRef
from confcast.tasks.site.layout import CatalogEntry
from confcast.tasks.site.pages import SiteInfo, catalog_groups, render_event_page
from confcast.tasks.site.publish import site_info, unpublish
from confcast.tasks.storage.factory import open_storage
from confcast.tasks.storage.folder import FileStorage

CONFCAST = str(Path(sys.executable).with_name("confcast"))
ROOT = Path(__file__).resolve().parent.parent
FRENCH = ROOT / "tasks" / "demo" / "fleurs" / "fleurs-fr-005.ogg"  # 7.2 s of real French speech
ENGLISH = ROOT / "tests" / "fixtures" / "librivox" / "sense_and_sensibility_01_austen_64kb-0870.wav"  # 7.1 s
HOSTILE_EVENT = "Soirée <script>window.__pwned = 1</script> OpenLab"
EVENT_SLUG = "2026-06-12-soiree-script-window-pwned-1-script-openlab"


# --- pure: times, cuts, the event plan ------------------------------------------------------------------------------


def test_times_read_as_seconds_or_clock() -> None:
    assert parse_time("1:02:03.5", field="start") == 3723.5
    assert parse_time("2:03", field="start") == 123.0
    assert parse_time("62.5", field="start") == 62.5
    assert parse_time(90, field="start") == 90.0
    for bad in ("1:75", "abc", "-3", "1:02:03:04", "", True):
        with pytest.raises(MetadataError, match="start"):
            parse_time(bad, field="start")


def write_sidecar(recording: Path, text: str) -> Path:
    sidecar = recording.with_name(recording.name + ".yaml")
    sidecar.write_text(text, encoding="utf-8")
    return sidecar


TWO_TALKS = """
event: {{title: Soirée, date: 2026-06-12}}
talks:
  - {{title: Un, start: {a}, end: {b}}}
  - {{title: Deux, start: {c}, end: {d}}}
"""


@pytest.mark.parametrize(
    ("times", "fragment"),
    [
        ({"a": 5, "b": 3, "c": 6, "d": 8}, "is not after"),  # end before start
        ({"a": 1, "b": 3, "c": 6, "d": "0:00:30"}, "beyond the end"),  # past the recording
        ({"a": 1, "b": 5, "c": 4, "d": 8}, "overlap"),
        ({"a": 1, "b": 1.5, "c": 6, "d": 8}, "empty talk"),
        ({"a": 1, "b": 3, "c": "0:99", "d": 8}, "talk 2 .* at most 59.999"),
        ({"a": 1, "b": 3, "c": "soon", "d": 8}, "talk 2 .* not a time"),
    ],
)
def test_bad_times_are_refused_naming_the_talk(tmp_path: Path, times: dict, fragment: str) -> None:
    recording = tmp_path / "evening.mp4"
    recording.write_bytes(b"")  # plan_event reads the sidecar and the probed length only
    write_sidecar(recording, TWO_TALKS.format(**times))
    with pytest.raises(MetadataError, match=fragment) as caught:
        plan_event(recording, event_sidecar(recording), duration_s=10.0)
    assert "\n" not in str(caught.value)


def test_an_event_plan_gives_each_talk_its_cut_event_and_language(tmp_path: Path) -> None:
    recording = tmp_path / "evening.mp4"
    recording.write_bytes(b"")
    write_sidecar(recording, """
event: {title: "Soirée <b>", date: 2026-06-12, place: Clermont}
language: fr
talks:
  - {title: Deux, speakers: Bob, start: "0:06", language: en, slug: deux}
  - {title: Un, speakers: [Alice, Chloé], start: 1, end: "0:00:05.5"}
""")
    plan = plan_event(recording, event_sidecar(recording), duration_s=10.0)
    assert plan.event.slug == "2026-06-12-soiree-b" and plan.event.place == "Clermont"
    first, second = plan.talks  # in their order in the recording
    assert (first.title, first.cut, first.language, first.speakers) == ("Un", Cut(start_s=1, end_s=5.5), "fr",
                                                                        ("Alice", "Chloé"))
    assert (second.slug, second.cut, second.language) == ("deux", Cut(start_s=6, end_s=10.0), "en")  # to the end
    assert first.event == second.event == plan.event
    assert given_slugs(event_sidecar(recording), plan) == {"deux": "deux", first.slug: None}  # the entry's, or none
    write_sidecar(recording, "talks:\n  - {title: A, start: 1, end: 3}\n  - {title: A, start: 4, end: 6}\n")
    with pytest.raises(MetadataError, match="two talks would be published under the slug"):
        plan_event(recording, event_sidecar(recording), duration_s=10.0)
    write_sidecar(recording, "title: Seul\ntalks:\n  - {title: A, start: 1, end: 3}\n")
    with pytest.raises(MetadataError, match="describe one talk"):
        event_sidecar(recording)
    for whole in ("chapters: [{start: 0, title: Intro}]", "slides: talk.pdf"):  # they would land on every talk
        write_sidecar(recording, whole + "\ntalks:\n  - {title: A, start: 1, end: 3}\n")
        with pytest.raises(MetadataError, match="describe one talk, talks: several; leave them out"):
            event_sidecar(recording)


def test_the_catalog_groups_an_events_talks_and_the_event_page_escapes_them() -> None:
    def entry(slug: str, event: str | None, start: float | None, day: int) -> CatalogEntry:
        return CatalogEntry(
            slug=slug, title=f"<i>{slug}</i>", date=dt.date(2026, 6, day), speakers=("A <b>",), language="fr",
            duration_s=60, page=f"conferences/{slug}/index.html", manifest=f"conferences/{slug}/manifest.json",
            poster=f"conferences/{slug}/poster.jpg", published_at=dt.datetime(2026, 6, 20, tzinfo=dt.timezone.utc),
            event=event, event_title="Soirée <x>" if event else None, start_s=start,
            end_s=start + 60 if start else None,
        )

    entries = [entry("later", None, None, 20), entry("b", "ev", 300.0, 12), entry("solo", None, None, 11),
               entry("a", "ev", 0.0, 12)]
    groups = catalog_groups(entries)
    assert [([e.slug for e in g.entries], g.event) for g in groups] == [
        (["later"], None), (["a", "b"], "ev"), (["solo"], None)
    ]
    event = EventRef(slug="ev", title="Soirée <x>", date=dt.date(2026, 6, 12), place="<Lieu>")
    page = render_event_page(event, entries[1::2][::-1], SiteInfo(title="S", language="fr", base_url="https://s/"))
    assert "<x>" not in page and "&lt;x&gt;" in page and "&lt;i&gt;a&lt;/i&gt;" in page and "&lt;Lieu&gt;" in page
    assert page.index("conferences/a/index.html") < page.index("conferences/b/index.html")
    assert "<time>5:00</time>–<time>6:00</time>" in page


# --- real ffmpeg: a cut is frame-accurate, its sound in sync ---------------------------------------------------------


def test_a_cut_is_frame_accurate_and_its_sound_in_sync(tmp_path: Path) -> None:
    """Frames numbered by their grey level; a beep at 3.0 s. Cut at 2.0-6.0 s (not on a keyframe: the source has
    one keyframe), every output starts with the recording's frame 50 and hears the beep 1.0 s in."""
    recording = make_beep_recording(tmp_path / "beep.mp4", seconds=8.0, beep_at=3.0)
    meta = ConferenceMeta(title="Cut", date=dt.date(2026, 6, 12), slug="cut", cut=make_cut("0:02", "6"))
    meta, probe = apply_cut(meta, probe_recording(recording))
    assert probe.duration_s == 4.0 and probe.cut == Cut(start_s=2.0, end_s=6.0)
    video = make_video(probe, tmp_path / "out")
    numbers, times = frame_numbers(video.mp4.path)
    assert abs(len(numbers) - 4.0 * FPS) <= 1
    assert numbers[0] == 50 % WINDOW and numbers[-1] == 149 % WINDOW  # the first and last frame of the cut
    assert numbers == [(50 + i) % WINDOW for i in range(len(numbers))]  # none repeated, none dropped
    beep_frame = times[numbers.index(75 % WINDOW)]  # frame 75 is shown at 3.0 s of the recording
    onset = sound_onset(video.mp4.path)
    assert abs(onset - beep_frame) < 0.040, (onset, beep_frame)  # audio in sync with the picture
    assert abs(onset - 1.0) < 0.040 and abs(times[0]) < 1 / FPS
    hls_numbers, _ = frame_numbers(video.ladder.root / video.ladder.variants[0].playlist)
    assert hls_numbers[0] == 50 % WINDOW
    assert abs(sound_onset(extract_speech(probe, tmp_path / "speech.wav")) - 1.0) < 0.040  # what Whisper hears
    assert abs(sound_onset(make_podcast_audio(probe, tmp_path / "audio.m4a")) - 1.0) < 0.040


def test_start_and_end_options_trim_one_talk_checked_before_the_flow(tmp_path: Path) -> None:
    recording = make_beep_recording(tmp_path / "talk.mp4", seconds=5.0, beep_at=1.0)
    settings = Settings(storage_url=(tmp_path / "site").as_uri(), work_dir=tmp_path / "work")
    meta, probe = check_before_flow(settings, {"source": str(recording), "start": "0:01.5", "end": None})
    assert meta.cut == Cut(start_s=1.5, end_s=5.0) and probe.duration_s == 3.5  # no end: the recording's
    for start, end, fragment in [("3", "2", "is not after"), ("1", "9", "beyond the end"), ("6", None, "beyond")]:
        result = subprocess.run(
            [CONFCAST, "publish", str(recording), "--start", start, *(["--end", end] if end else []),
             "--to", settings.storage_url, "--work-dir", str(tmp_path / "work")],
            capture_output=True, text=True, env=child_env(), timeout=120, stdin=subprocess.DEVNULL,
        )
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("confcast: error: "), result.stderr
        assert fragment in lines[0]
    assert not (tmp_path / "site").exists()  # nothing published


def test_options_of_one_talk_are_refused_for_an_event(tmp_path: Path) -> None:
    recording = make_beep_recording(tmp_path / "evening.mp4", seconds=5.0, beep_at=1.0)
    write_sidecar(recording, "event: {title: Soirée, date: 2026-06-12}\ntalks:\n  - {title: A, start: 1, end: 3}\n")
    for options, fragment in [(["--title", "X"], "give --title in its talks: entries"),
                              (["--vocabulary", "OpenLab"], "give vocabulary: in the sidecar")]:
        result = subprocess.run(
            [CONFCAST, "publish", str(recording), *options, "--to", (tmp_path / "site").as_uri(),
             "--work-dir", str(tmp_path / "work")],
            capture_output=True, text=True, env=child_env(), timeout=120, stdin=subprocess.DEVNULL,
        )
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and fragment in lines[0], result.stderr
    assert not (tmp_path / "site").exists()  # nothing published


# --- the whole evening through the CLI, the flow and Whisper ---------------------------------------------------------

EVENING_SIDECAR = """
event:
  title: "{title}"
  date: 2026-06-12
  place: Clermont-Ferrand & environs
  description: Deux exposés, une soirée.
talks:
  - title: Le microscope libre
    speakers: [Alice Martin]
    start: "0:00:02"
    end: 9.2
    language: fr
  - title: Sense and <sensibility>
    speakers: Bob Durand
    start: "0:10.2"
    end: "{second_end}"
    language: en
    slug: sense-talk
"""


@dataclass(frozen=True)
class Evening:
    recording: Path
    site: Path
    work: Path
    stdout: list[str]

    def publish(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [CONFCAST, "publish", str(self.recording), "--to", self.site.as_uri(), "--work-dir", str(self.work)],
            capture_output=True, text=True, env=child_env(), timeout=900, stdin=subprocess.DEVNULL,
        )

    def manifest(self, slug: str) -> dict:
        return json.loads((self.site / "conferences" / slug / "manifest.json").read_text(encoding="utf-8"))


def set_second_end(recording: Path, end: str) -> None:
    write_sidecar(recording, EVENING_SIDECAR.format(title=HOSTILE_EVENT, second_end=end))


@pytest.fixture(scope="module")
def evening(prefect_server, tmp_path_factory) -> Evening:
    folder = tmp_path_factory.mktemp("evening")
    recording = make_evening(folder / "evening.mp4", [(FRENCH, 2.0), (ENGLISH, 10.2)], seconds=19.0)
    set_second_end(recording, "0:00:17.3")
    made = Evening(recording, folder / "site", folder / "work", [])
    result = made.publish()
    assert result.returncode == 0, result.stderr
    return Evening(recording, made.site, made.work, result.stdout.splitlines())


FIRST, SECOND = "2026-06-12-le-microscope-libre", "sense-talk"


@pytest.mark.slow
def test_an_evening_publishes_each_talk_cut_and_transcribed_in_its_language(evening: Evening) -> None:
    site = evening.site.as_uri()
    assert evening.stdout == [
        f"{site}/conferences/{FIRST}/index.html",
        f"{site}/conferences/{SECOND}/index.html",
        f"{site}/events/{EVENT_SLUG}/index.html",  # the event page's URL last
    ]
    first, second = evening.manifest(FIRST), evening.manifest(SECOND)
    assert first["cut"] == {"start_s": 2.0, "end_s": 9.2} and second["cut"] == {"start_s": 10.2, "end_s": 17.3}
    assert first["event"]["slug"] == second["event"]["slug"] == EVENT_SLUG
    assert first["source"]["sha256"] == second["source"]["sha256"]  # one recording
    assert abs(first["duration_s"] - 7.2) < 0.05 and abs(second["duration_s"] - 7.1) < 0.05
    assert (first["language"], second["language"]) == ("fr", "en")  # Whisper once per talk, each in its language
    assert first["generator"]["media_key"] != second["generator"]["media_key"]
    # each talk's picture starts at its own frame (frame 50, 2.0 s; frame 255, 10.2 s), its own speech inside it
    for manifest, slug, frame, clip in ((first, FIRST, 50, FRENCH), (second, SECOND, 255, ENGLISH)):
        mp4 = evening.site / "conferences" / slug / manifest["video"]["mp4"][0]["path"]
        numbers, _ = frame_numbers(mp4)
        assert numbers[0] == frame % WINDOW
        # each clip was placed at its talk's start: its words come as far into the talk as into the clip (the
        # levelled sound's shape against the clip's; a leveller lifts a word's quiet start, not its place)
        assert abs(sound_lag(mp4, clip)) < 0.04
        text = (evening.site / "conferences" / slug / manifest["transcript"]["txt"]).read_text(encoding="utf-8")
        assert text.strip()
    catalog = json.loads((evening.site / "catalog.json").read_text(encoding="utf-8"))
    assert {(e["slug"], e["event"], e["start_s"]) for e in catalog["conferences"]} == {
        (FIRST, EVENT_SLUG, 2.0), (SECOND, EVENT_SLUG, 10.2)
    }
    feed = (evening.site / "feed.xml").read_text(encoding="utf-8")
    assert feed.count("<item>") == 2
    assert set(indexed(FileStorage(evening.site))) == {FIRST, SECOND}  # both talks in the site's search



@pytest.mark.slow
def test_the_event_page_lists_its_talks_and_links_both_ways(evening: Evening, browser) -> None:
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    event_url = evening.stdout[-1]
    page.goto(event_url)
    assert page.locator("h1").inner_text() == HOSTILE_EVENT  # text, never markup
    assert page.evaluate("window.__pwned") is None and not dialogs
    assert "Clermont-Ferrand & environs" in page.locator(".place").inner_text()
    talks = page.locator("ol.event-talks > li")
    assert talks.count() == 2
    assert talks.nth(0).locator("h3").inner_text() == "Le microscope libre"
    assert talks.nth(1).locator("h3").inner_text() == "Sense and <sensibility>"
    assert talks.nth(0).locator(".times").inner_text() == "0:02–0:09"
    assert talks.nth(1).locator(".times").inner_text() == "0:10–0:17"
    assert talks.nth(0).locator(".speakers").inner_text() == "Alice Martin"
    assert talks.nth(1).locator(".speakers").inner_text() == "Bob Durand"
    for i in range(2):  # each poster loaded
        image = talks.nth(i).locator("img")
        image.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    talks.nth(1).locator("h3 a").click()
    page.wait_for_url(evening.stdout[1])
    back = page.locator("a.event")
    assert back.inner_text() == HOSTILE_EVENT
    back.click()
    page.wait_for_url(event_url)
    page.goto(evening.site.as_uri() + "/index.html")  # the catalog groups the talks under their event
    group = page.locator(f'section.event[data-event="{EVENT_SLUG}"]')
    assert group.locator("h2").inner_text() == HOSTILE_EVENT
    assert group.locator("h3").all_inner_texts() == ["Le microscope libre", "Sense and <sensibility>"]
    group.locator("h2 a").click()
    page.wait_for_url(event_url)
    assert page.evaluate("window.__pwned") is None and not dialogs
    page.close()


def site_files(site: Path) -> dict[str, int]:
    return {str(p.relative_to(site)): p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_rerun_costs_nothing_and_new_times_reencode_that_talk_only(evening: Evening) -> None:
    before = site_files(evening.site)
    start = time.monotonic()
    again = evening.publish()
    assert again.returncode == 0, again.stderr
    assert time.monotonic() - start < 15  # no Prefect, no encode, no Whisper
    assert again.stdout.splitlines() == evening.stdout
    assert "talks are unchanged since their publication, nothing to do" in again.stderr
    assert site_files(evening.site) == before  # nothing written

    # Bad times: one line, nothing published (the site as it was).
    set_second_end(evening.recording, "0:00:08")
    bad = evening.publish()
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 1 and len(lines) == 1 and "is not after" in lines[0], bad.stderr
    assert site_files(evening.site) == before

    first, second = evening.manifest(FIRST), evening.manifest(SECOND)
    set_second_end(evening.recording, "0:00:16.8")
    try:
        changed = evening.publish()
    finally:
        set_second_end(evening.recording, "0:00:17.3")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.splitlines() == evening.stdout
    assert evening.manifest(FIRST) == first  # the other talk: untouched
    after = site_files(evening.site)
    untouched = [key for key in before if key.startswith(f"conferences/{FIRST}/")]
    assert untouched and all(after[key] == before[key] for key in untouched)
    new = evening.manifest(SECOND)
    assert new["cut"] == {"start_s": 10.2, "end_s": 16.8} and abs(new["duration_s"] - 6.6) < 0.05
    assert new["generator"]["media_key"] != second["generator"]["media_key"]
    assert new["video"]["mp4"][0]["path"] != second["video"]["mp4"][0]["path"]
    runs = sorted(p.name for p in (evening.work / "runs").iterdir()) if (evening.work / "runs").exists() else []
    assert len({name.split("-")[0] for name in runs}) <= 1  # one recording, a work folder per cut at most
    assert os.environ.get("PREFECT_API_URL")  # the flow ran on the session's server
    shutil.rmtree(evening.work / "runs", ignore_errors=True)

    # Unpublishing a talk takes it off its event's page; the last one takes the page away.
    storage = open_storage(evening.site.as_uri())
    site = site_info(storage, title="Conférences OpenLab", language="fr")
    event_file = evening.site / "events" / EVENT_SLUG / "index.html"
    unpublish(storage, site, SECOND)
    assert FIRST in event_file.read_text(encoding="utf-8") and SECOND not in event_file.read_text(encoding="utf-8")
    unpublish(storage, site, FIRST)
    assert not event_file.exists() and "section class=\"event\"" not in (evening.site / "index.html").read_text()
