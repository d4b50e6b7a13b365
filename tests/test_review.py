"""`confcast review SLUG`: the local review editor, its data and the captions it saves.

The editor is tested as an operator uses it: the real command serves a talk published to a file:// site (the
short sample's real media, a transcript whose word probabilities the test sets), Debian's Chromium opens it with
Playwright, jumps to the doubtful word, fixes it and saves; the public page then shows the word, marked reviewed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from confcast.config.settings import Settings
from confcast.flows.review import open_review
from confcast.tasks.errors import MetadataError
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
    Word,
)
from confcast.tasks.site.layout import Generator, build_manifest, file_sha256
from confcast.tasks.site.publish import publish_conference_files
from confcast.tasks.site.review import (
    EditedCaptions,
    TimedWord,
    editor_cues,
    name_cues,
    review_vtt,
    saved_vtt,
    transcript_words,
    words_by_cue,
)
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.transcription.captions import Cue, parse_vtt, transcript_json, write_transcript_files

CONFCAST = str(Path(sys.executable).with_name("confcast"))
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SLUG = "2026-10-01-relecture"
WAIT_MS = 30_000
DOUBTFUL = "matérial"  # the word the test's Whisper was unsure of; the reviewer writes "matériel"
SPOKEN = (
    ("Bonjour", 0.98), ("à", 0.97), ("tous", 0.95), ("et", 0.9), ("merci", 0.96), ("d'être", 0.9), ("venus.", 0.93),
    ("Aujourd'hui", 0.9), ("je", 0.99), ("vais", 0.98), ("vous", 0.97), ("parler", 0.95), ("du", 0.9),
    (DOUBTFUL, 0.21), ("libre", 0.92), ("dans", 0.9), ("nos", 0.9), ("laboratoires", 0.88), ("de", 0.97),
    ("Clermont-Ferrand.", 0.45),
)


# --- pure parts: the saved WebVTT, the words of each cue ---------------------------------------------------------


def edited(*cues: tuple[float, float, str, str]) -> EditedCaptions:
    return EditedCaptions.model_validate(
        {"cues": [{"start": s, "end": e, "text": t, "speaker": p} for s, e, t, p in cues]}
    )


def test_saved_cues_are_escaped_webvtt_with_voice_tags() -> None:
    text, timing_lines = review_vtt(edited(
        (0.5, 2.0, "Ça <b>marche</b> & --> bien\nligne deux", "Alice <Martin> & co"),
        (2.0, 3.0, "  \n ", ""),  # emptied in the editor: deleted
        (3.0, 4.25, "Deuxième", ""),
    ))
    cues = parse_vtt(text)
    assert [(c.start, c.end, c.lines) for c in cues] == [
        (0.5, 2.0, ("Ça <b>marche</b> & --> bien", "ligne deux")),
        (3.0, 4.25, ("Deuxième",)),
    ]
    assert "<v Alice &lt;Martin&gt; &amp; co>Ça &lt;b&gt;" in text
    assert [c.speaker for c in cues] == ["Alice <Martin> & co", None]
    assert [text.splitlines()[n - 1].split(" --> ")[0] for n in timing_lines] == ["00:00:00.500", "00:00:03.000"]
    assert name_cues("x.vtt: line 7: bad timing", timing_lines) == "x.vtt: line 7 (cue 2): bad timing"
    assert name_cues("x.vtt: line 1: header", timing_lines) == "x.vtt: line 1: header"


@pytest.mark.parametrize(
    ("cues", "expected"),
    [
        ([{"start": 0.5, "end": 1, "text": "a"}, {"start": 5, "end": 6, "text": "b"},
          {"start": 1, "end": 2, "text": "c"}], "(cue 3): the cue starts at 00:00:01.000, before the cue above"),
        ([{"start": 1, "end": 3, "text": "a"}, {"start": 2, "end": 4, "text": "b"}], "(cue 2): the cue starts at"),
        ([{"start": 1, "end": 1.0001, "text": "a"}], "(cue 1): the cue ends (1.000 s) before it starts"),
        ([{"start": 1, "end": 70, "text": "a"}], "(cue 1): the cue ends at 00:01:10.000, after the end of the rec"),
        ([{"start": 1, "end": "NaN", "text": "a"}], "cue 1 end:"),
        ([{"start": 1, "end": 2, "text": "a", "html": "<b>"}], "cue 1 html:"),
        ("[not json", "the request:"),
    ],
)
def test_a_bad_save_is_one_line_naming_the_cue(cues: list | str, expected: str) -> None:
    body = cues.encode() if isinstance(cues, str) else json.dumps({"cues": cues}).encode()
    with pytest.raises(MetadataError) as refused:
        saved_vtt(body, "fr.vtt from the review editor", 60.0)
    assert expected in str(refused.value) and "\n" not in str(refused.value), str(refused.value)


def test_words_go_to_the_cue_that_holds_them_and_speakers_are_read_back() -> None:
    cues = [Cue(0.0, 2.0, ("un deux",)), Cue(3.0, 5.0, ("trois",)), Cue(8.0, 9.0, ("quatre",))]
    words = [TimedWord(start=s, end=e, text=t, probability=0.3) for s, e, t in
             [(0.1, 0.5, "un"), (1.8, 2.6, "deux"), (2.7, 3.1, "trois"), (5.2, 5.6, "tard"), (7.4, 7.8, "quatre")]]
    assert [[w.text for w in group] for group in words_by_cue(cues, words)] == [
        ["un", "deux"], ["trois", "tard"], ["quatre"]
    ]
    transcript = Transcript(language="fr", language_probability=None, duration_s=9, engine="e", model="m", segments=(
        Segment(start=0, end=2, text=" un deux", words=(
            Word(start=0.1, end=0.5, text=" un", probability=0.99), Word(start=0.6, end=1.5, text=" deux",
                                                                        probability=0.2))),))
    raw = transcript_json(transcript).encode()
    assert [(w.text, w.probability) for w in transcript_words(raw)] == [("un", 0.99), ("deux", 0.2)]
    assert transcript_words(b"not json") == [] and transcript_words(b'{"segments": [{"text": "x"}]}') == []
    vtt = ("WEBVTT\n\nNOTE a note\n\n1\n00:00.000 --> 00:02.000\n<v.loud Bob &amp; Co>un deux\n\n"
           "00:03.000 --> 00:05.000\ntrois\n")
    shown = editor_cues(vtt, raw)
    assert [(c.text, c.speaker, [w.text for w in c.words]) for c in shown] == [
        ("un deux", "Bob & Co", ["un", "deux"]), ("trois", "", [])
    ]


# --- the editor, served by the command, in Chromium ----------------------------------------------------------------


@dataclass(frozen=True)
class Editor:
    site: Path
    folder: Path  # the conference's folder in the site
    address: str
    process: subprocess.Popen


def publish_talk(sample, folder: Path, site: Path) -> None:
    """The short sample's real media, published to a file:// site with a transcript whose probabilities are set."""
    poster, audio = folder / "poster.jpg", folder / "audio.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(sample.path), "-frames:v", "1", "-y", str(poster)], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(sample.path), "-vn", "-c:a", "copy", "-y", str(audio)],
                   check=True)
    duration = sample.duration_s
    step = (duration - 1.0) / len(SPOKEN)
    words = tuple(Word(start=0.5 + i * step, end=0.5 + (i + 0.8) * step, text=f" {text}", probability=p)
                  for i, (text, p) in enumerate(SPOKEN))
    segments = (
        Segment(start=words[0].start, end=words[6].end, text=" ".join(w.text.strip() for w in words[:7]),
                words=words[:7]),
        Segment(start=words[7].start, end=words[-1].end, text=" ".join(w.text.strip() for w in words[7:]),
                words=words[7:]),
    )
    transcript = Transcript(language="fr", language_probability=None, duration_s=duration, segments=segments,
                            engine="faster-whisper", model="base")
    size = sample.path.stat().st_size
    conference = Conference(
        meta=ConferenceMeta(title="Relecture <des> sous-titres", date=dt.date(2026, 10, 1), slug=SLUG, language="fr",
                            speakers=("Alice Martin",)),
        probe=Probe(source=SourceFile(path=sample.path, filename="talk.mp4", sha256=file_sha256(sample.path),
                                      bytes=size),
                    duration_s=duration, format_name="mov,mp4",
                    video=VideoStream(index=0, codec="h264", width=640, height=360),
                    audio=(AudioStream(index=1, codec="aac", channels=1, sample_rate=48000),)),
        media=Media(mp4=(Rendition(width=640, height=360, path=sample.path, bytes=size),), poster=poster,
                    audio=audio, speech=audio),
        transcript=transcript,
        transcript_files=write_transcript_files(transcript, folder / "text"),
    )
    manifest = build_manifest(conference, published_at=dt.datetime.now(dt.timezone.utc),
                              generator=Generator(version="test", engine="faster-whisper", model="base"))
    publish_conference_files(FileStorage(site), conference, manifest, site_title="Conférences", site_language="fr")


def read_address(process: subprocess.Popen, seconds: float = 60) -> str:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(seconds)
    assert found and found[0].startswith("http://127.0.0.1:"), (found, process.poll())
    return found[0].strip()


@pytest.fixture(scope="module")
def editor(short_sample, tmp_path_factory) -> Iterator[Editor]:
    folder = tmp_path_factory.mktemp("review")
    site = folder / "site"
    publish_talk(short_sample, folder, site)
    process = subprocess.Popen(
        [CONFCAST, "review", SLUG, "--to", site.as_uri(), "--work-dir", str(folder / "work")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=dict(os.environ),
    )
    try:
        yield Editor(site=site, folder=site / "conferences" / SLUG, address=read_address(process), process=process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def request(url: str, *, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers or {}), timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def published_state(editor: Editor) -> dict[str, bytes]:
    return {str(p.relative_to(editor.site)): p.read_bytes() for p in sorted(editor.site.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_only_this_machine_with_the_token_reaches_the_editor(editor: Editor) -> None:
    port = int(editor.address.split(":")[2].split("/")[0])
    token = editor.address.rstrip("/").rsplit("/", 1)[1]
    root = f"http://127.0.0.1:{port}"
    assert request(f"{editor.address}data.json")[0] == 200
    for url in (f"{root}/", f"{root}/data.json", f"{root}/{token[:-1]}/data.json", f"{root}/docs",
                f"{root}/x/{token}/data.json"):
        status, body = request(url)
        assert status == 403 and b"confcast review" in body, url
    # A page of another site that resolves its own name to 127.0.0.1 (DNS rebinding) still names its host.
    assert request(f"{editor.address}data.json", headers={"Host": f"attacker.example:{port}"})[0] == 403
    assert request(f"{editor.address}data.json", headers={"Host": "localhost:8765"})[0] == 200  # an SSH tunnel
    # Bound to 127.0.0.1 alone: another address of this machine, even a loopback one, is refused.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.2", port), timeout=5):
        pass
    status, _ = request(f"{editor.address}media/manifest.json")
    assert status == 404, "the server serves the talk's video and poster, not the rest of the site folder"


@pytest.mark.slow
def test_a_track_that_does_not_exist_is_one_line_before_anything_is_served(editor: Editor, tmp_path: Path) -> None:
    done = subprocess.run([CONFCAST, "review", SLUG, "--lang", "de", "--to", editor.site.as_uri(), "--work-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and done.stdout == "" and len(lines) == 1 and "'de' (it has: fr)" in lines[0], lines


@pytest.mark.slow
def test_a_bad_save_is_refused_in_one_line_and_changes_nothing(editor: Editor) -> None:
    before = published_state(editor)
    data = json.loads(request(f"{editor.address}data.json")[1])
    cues = [{"start": c["start"], "end": c["end"], "text": c["text"], "speaker": c["speaker"]} for c in data["cues"]]
    assert len(cues) >= 2
    swapped = [cues[1], cues[0], *cues[2:]]
    too_long = [*cues[:-1], {**cues[-1], "end": data["duration_s"] + 60}]
    json_headers = {"Content-Type": "application/json"}
    for body, expected in ((swapped, "(cue 2): the cue starts at"), (too_long, "after the end of the recording")):
        status, answer = request(f"{editor.address}save", data=json.dumps({"cues": body}).encode(),
                                 headers=json_headers)
        message = json.loads(answer)["error"]
        assert status == 422 and expected in message and "\n" not in message, message
    status, answer = request(f"{editor.address}save", data=json.dumps({"cues": cues}).encode(),
                             headers={"Content-Type": "text/plain"})
    assert status == 415 and "JSON" in json.loads(answer)["error"]
    root = editor.address.rsplit("/", 2)[0]
    assert request(f"{root}/save", data=b"{}", headers=json_headers)[0] == 403
    assert published_state(editor) == before



@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, errors  # the editor's script never throws


@pytest.mark.slow
def test_fix_a_doubtful_word_save_and_the_public_page_shows_it_reviewed(editor: Editor, page: Page) -> None:
    page.goto(editor.address)
    page.wait_for_selector("#cues .cue")
    marks = page.locator("#cues mark.doubt").all_text_contents()
    assert DOUBTFUL in marks and "Clermont-Ferrand" in marks and "libre" not in marks
    # The video plays from the site folder through the editor (ranges), the poster too.
    page.wait_for_function("() => (v => v.readyState >= 1 && v.duration > 5)(document.getElementById('player'))")

    # Clicking a cue's time seeks there.
    second = page.locator("#cues .cue").nth(1)
    start = float(page.evaluate("document.querySelectorAll('#cues .cue .time')[1].textContent.split(':').pop()"))
    second.locator(".time").click()
    page.wait_for_function(f"() => Math.abs(document.getElementById('player').currentTime - {start}) < 0.2")

    # Alt+N selects the next doubtful word (and plays it); typing replaces it.
    page.locator("#cues .cue .text").first.click()
    page.keyboard.press("Control+Home")
    page.keyboard.press("Alt+n")
    assert page.evaluate("window.getSelection().toString()") == DOUBTFUL
    page.keyboard.type("matériel")
    assert page.locator("#cues mark.doubt").all_text_contents() == ["Clermont-Ferrand"], "a fixed word is done"
    # Alt+P names the cue's speaker; Enter goes back to the text.
    page.keyboard.press("Alt+p")
    page.keyboard.type("Bob Durand")
    page.keyboard.press("Enter")
    assert page.locator("#changes").text_content().startswith("1 cue")
    screenshot(page, "review-editor.png")

    with page.expect_request("**/save") as sent:
        page.keyboard.press("Control+s")
    posted = json.loads(sent.value.post_data)["cues"]
    fixed = [cue for cue in posted if "matériel" in cue["text"]]
    assert len(fixed) == 1 and fixed[0]["speaker"] == "Bob Durand"
    assert DOUBTFUL not in json.dumps(posted, ensure_ascii=False)
    page.wait_for_selector("#status.done")
    assert page.locator("#status a").text_content().endswith(f"conferences/{SLUG}/index.html")
    assert page.locator("#track-status").text_content() == "reviewed"

    public = (editor.folder / "index.html").read_text(encoding="utf-8")
    assert "matériel" in public and DOUBTFUL not in public
    assert 'class="badge reviewed"' in public
    manifest = json.loads((editor.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["captions"][0]["status"] == "reviewed"
    vtt = (editor.folder / manifest["captions"][0]["path"]).read_text(encoding="utf-8")
    assert "matériel" in vtt and "<v Bob Durand>" in vtt


@pytest.mark.slow
def test_keys_play_pause_and_replay_the_cue(editor: Editor, page: Page) -> None:
    page.goto(editor.address)
    page.wait_for_selector("#cues .cue")
    # Playwright evaluates a bare expression with eval(), which the editor's Content-Security-Policy forbids.
    paused, now = "document.getElementById('player').paused", "document.getElementById('player').currentTime"
    page.keyboard.press("Escape")
    page.wait_for_function(f"() => !{paused}")
    page.keyboard.press("Escape")
    page.wait_for_function(f"() => {paused}")
    last = page.locator("#cues .cue .text").last
    last.click()
    data = json.loads(request(f"{editor.address}data.json")[1])["cues"][-1]
    start, end = data["start"], data["end"]
    page.keyboard.press("Alt+r")  # plays the cue from its start, and pauses at its end
    page.wait_for_function(f"() => !{paused} && {now} >= {start}")
    shown = json.dumps(last.inner_text())  # the cue's text over the video while it plays
    page.wait_for_function(f"() => document.getElementById('overlay').textContent === {shown}")
    page.wait_for_function(f"() => {paused} && {now} >= {end - 0.3}")


@pytest.mark.slow
def test_media_comes_from_the_public_site_when_it_is_on_the_web(editor: Editor, tmp_path: Path) -> None:
    """A file:// site has no address a page on http:// may load: the editor serves its MP4 and poster. A site with a
    public address on the web: the page loads them from there, as viewers do, and this server serves no media."""
    local = open_review(Settings(storage_url=editor.site.as_uri(), work_dir=tmp_path), SLUG, None)
    data = local.data()
    assert data.video.src.startswith("media/video/") and local.media_origins() == ""
    assert local.served_media() == {data.video.src.removeprefix("media/"), data.video.poster.removeprefix("media/")}
    web = open_review(Settings(storage_url=editor.site.as_uri(), work_dir=tmp_path,
                               public_base_url="https://talks.example.org/site"), SLUG, None)
    data = web.data()
    assert data.video.src.startswith(f"https://talks.example.org/site/conferences/{SLUG}/video/")
    assert web.media_origins() == "https://talks.example.org" and web.served_media() == set()
    assert local.token != web.token and len(local.token) >= 32


@pytest.mark.slow
def test_split_and_merge_keep_the_words_and_the_times(editor: Editor, page: Page) -> None:
    page.goto(editor.address)
    page.wait_for_selector("#cues .cue")
    count = page.locator("#cues .cue").count()
    first = page.locator("#cues .cue .text").first
    text = first.inner_text()
    first.click()
    page.keyboard.press("Control+Home")
    for _ in range(len(text.split()[0])):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Alt+Enter")
    assert page.locator("#cues .cue").count() == count + 1
    halves = page.locator("#cues .cue .text").all_inner_texts()[:2]
    assert halves[0] == text.split()[0] and " ".join(halves).split() == text.split()
    times = page.evaluate("Array.from(document.querySelectorAll('#cues .cue .time')).map(b => b.textContent)")
    assert times[0] < times[1]
    page.keyboard.press("Alt+ArrowUp")
    page.keyboard.press("Alt+m")
    assert page.locator("#cues .cue").count() == count
    assert page.locator("#cues .cue .text").first.inner_text().split() == text.split()


@pytest.mark.slow
def test_ctrl_c_stops_the_editor(editor: Editor) -> None:
    """Run last in this module: Ctrl-C (SIGINT) ends the command cleanly, exit status 0."""
    editor.process.send_signal(signal.SIGINT)
    assert editor.process.wait(20) == 0, editor.process.stderr.read()
    assert "Traceback" not in editor.process.stderr.read()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
