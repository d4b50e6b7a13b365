"""`confcast captions SLUG --replace fixed.vtt` and `--add subs.vtt --lang de`: reviewed captions republished
without transcribing again (speakers from voice tags, words timed by forced alignment), human tracks added."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from search_checks import indexed, indexed_text

from confcast.config.settings import Settings
from confcast.flows.publish import publish_conference
from confcast.tasks.errors import MetadataError
from confcast.tasks.media.hls import subtitle_uri, with_added_subtitles
from confcast.tasks.site.corrections import caption_language, replace_captions, reviewed_cues
from confcast.tasks.site.publish import site_info
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.transcription.captions import vtt_timestamp

CONFCAST = str(Path(sys.executable).with_name("confcast"))
SLUG = "2026-09-10-corrections"

# What the short sample says, corrected, with speakers (one of them with a name that is not HTML).
REVIEWED = """WEBVTT

00:00:01.000 --> 00:00:04.800
<v Alice>L'accident a eu lieu en terrain montagneux,

00:00:04.800 --> 00:00:09.500
<v.loud Zoé &lt;b&gt;>et il semblerait que cela ait été causé
par un incendie malveillant, texte relu.</v>
"""

GERMAN = """WEBVTT

00:00:00.500 --> 00:00:04.000
Hallo zusammen, danke fürs Kommen.

00:00:04.000 --> 00:00:09.000
Heute spreche ich über freie Hardware.
"""


# --- checks of a reviewed file, with line numbers (pure) ------------------------------------------------------------


def vtt(*cues: tuple[str, str]) -> str:
    return "WEBVTT\n\n" + "\n".join(f"{start} --> {end}\ntexte\n" for start, end in cues)


@pytest.mark.parametrize(
    ("text", "duration", "message"),
    [
        (vtt(("00:01.000", "00:02.000"), ("00:00.500", "00:03.000")), 60,
         r"^f.vtt, line 6: the cue starts at 00:00:00.500, before the cue above it \(line 3, 00:00:01.000\); "
         r"put the cues in time order$"),
        (vtt(("00:01.000", "00:03.000"), ("00:02.000", "00:04.000")), 60,
         r"^f.vtt, line 6: the cue starts at 00:00:02.000, before the cue above it \(line 3\) ends at "
         r"00:00:03.000; cues may not overlap"),
        (vtt(("00:01.000", "00:02.000"), ("01:00.000", "01:01.000")), 59.5,
         r"^f.vtt, line 6: the cue starts at 00:01:00.000, after the end of the recording \(00:00:59.500\)"),
        (vtt(("00:01.000", "00:02.000"), ("00:58.000", "01:01.000")), 59.5,
         r"^f.vtt, line 6: the cue ends at 00:01:01.000, after the end of the recording"),
        (vtt(*[(f"00:{i:02d}.000", f"00:{i:02d}.500") for i in range(12)]), 3.0,
         r"^f.vtt, line 33: cue 11 is one too many: at most 10 cues for a recording of 3 s"),
        (vtt(*[(f"00:00:00.{i:03d}", f"00:00:00.{i + 1:03d}") for i in range(31)]), 10.0,
         r"^f.vtt, line 93: cue 31 is one too many: at most 30 cues"),
    ],
)
def test_bad_cues_are_refused_with_their_line(text: str, duration: float, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        reviewed_cues(text, "f.vtt", duration)


def test_more_than_twenty_thousand_cues_are_refused_whatever_the_length() -> None:
    text = "WEBVTT\n\n" + "".join(
        f"{vtt_timestamp(i / 10)} --> {vtt_timestamp(i / 10 + 0.05)}\nx\n\n" for i in range(20_001)
    )
    with pytest.raises(MetadataError, match=r"^big.vtt, line 60003: cue 20001 is one too many: at most 20000"):
        reviewed_cues(text, "big.vtt", float("inf"))


def test_a_tiny_overlap_is_trimmed_not_refused() -> None:
    cues = reviewed_cues(vtt(("00:01.000", "00:03.050"), ("00:03.000", "00:04.000")), "f.vtt", 60)
    assert [(c.start, c.end) for c in cues] == [(1.0, 3.0), (3.0, 4.0)]


@pytest.mark.parametrize(("given", "code"), [("de", "de"), ("DE", "de"), ("pt-br", "pt-BR"), ("zh-hant", "zh-Hant"),
                                              ("gsw", "gsw")])
def test_language_codes(given: str, code: str) -> None:
    assert caption_language(given) == code


@pytest.mark.parametrize("bad", ["", "d", "deutsch", "../de", "de/x", "de.vtt", "de-", "de de", "é"])
def test_what_is_not_a_language_code_is_refused(bad: str) -> None:
    with pytest.raises(MetadataError, match="is not a language code"):
        caption_language(bad)


# --- a new subtitle rendition in the HLS master (pure) --------------------------------------------------------------

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Français",LANGUAGE="fr",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI="subtitles/fr.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,SUBTITLES="subs"
360p/index.m3u8
"""


def test_a_new_language_joins_the_master() -> None:
    added = with_added_subtitles(MASTER, "de", 'Deutsch"', "subtitles/de.abc.m3u8")
    assert added.splitlines()[4] == (
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Deutsch",LANGUAGE="de",DEFAULT=NO,AUTOSELECT=YES,'
        'FORCED=NO,URI="subtitles/de.abc.m3u8"'
    )
    assert subtitle_uri(added, "de") == "subtitles/de.abc.m3u8" and subtitle_uri(added, "fr") == "subtitles/fr.m3u8"
    assert added.count('SUBTITLES="subs"') == 1  # the variant already named the group
    # A ladder published without captions: the group is made, and every variant names it.
    bare = "\n".join(line for line in MASTER.splitlines() if "TYPE=SUBTITLES" not in line)
    bare = bare.replace(',SUBTITLES="subs"', "")
    first = with_added_subtitles(bare + "\n", "de", "Deutsch", "subtitles/de.m3u8")
    assert 'LANGUAGE="de",DEFAULT=YES' in first and first.splitlines()[4].endswith(',SUBTITLES="subs"')
    assert first.index("TYPE=SUBTITLES") < first.index("#EXT-X-STREAM-INF")


# --- end to end: one publication, corrected, then a German track added ---------------------------------------------


def test_a_correction_replaces_the_default_track_not_the_automatic_one_beside_it(tmp_path: Path) -> None:
    """After --retranscribe a language has two tracks: the reviewed default and Whisper's beside it. Correcting
    the captions again rewrites the default one only; the automatic one stays, as published."""
    from confcast.tasks.site.corrections import _reviewed_manifest
    from confcast.tasks.site.layout import CaptionTrack, Manifest

    manifest = Manifest.model_validate({
        "slug": "s", "title": "T", "date": "2026-10-01", "speakers": [], "description": "", "language": "fr",
        "language_probability": None, "duration_s": 20.0,
        "source": {"sha256": "a" * 64, "bytes": 1, "filename": "t.mp4"},
        "video": {"mp4": [], "poster": "poster.0123456789ab.jpg"}, "audio": None,
        "captions": [
            {"lang": "fr", "path": "captions/fr.0123456789ab.vtt", "status": "reviewed"},
            {"lang": "fr", "path": "captions/fr-auto.0123456789ab.vtt"},
        ],
        "transcript": {"lang": "fr", "txt": "t.txt", "srt": "t.srt", "json": "t.json"},
        "page": "index.html", "published_at": "2026-10-01T10:00:00Z",
        "generator": {"version": "1", "engine": "faster-whisper", "model": "base"},
    })
    cues = reviewed_cues(vtt(("00:00:01.000", "00:00:03.000")), "fixed.vtt", 20.0)
    written: dict[str, str] = {}

    def put(path: str, body: str) -> str:
        written[path] = body
        return path.replace(".vtt", ".fedcba987654.vtt")

    updated, _, _ = _reviewed_manifest(FileStorage(tmp_path), "conferences/s", manifest, "fr", cues, put)
    assert updated.captions == (
        CaptionTrack(lang="fr", path="captions/fr.fedcba987654.vtt", status="reviewed"),
        CaptionTrack(lang="fr", path="captions/fr-auto.0123456789ab.vtt"),
    )


def captions(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CONFCAST, "captions", *args], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, env=dict(os.environ))


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.slow
def test_reviewed_captions_replace_the_automatic_ones(prefect_server, short_sample, tmp_path: Path) -> None:
    site = tmp_path / "site"
    work = tmp_path / "work"
    publish_conference(source=str(short_sample.path), title="Corrections", date="2026-09-10", language="fr",
                       settings=Settings(storage_url=site.as_uri(), work_dir=work))
    folder = site / "conferences" / SLUG
    before = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert before["captions"][0]["status"] == "auto"

    broken = tmp_path / "broken.vtt"
    broken.write_text("WEBVTT\n\n00:00:01.000 --> nonsense\nTexte\n", encoding="utf-8")
    error = one_line_error(captions(SLUG, "--replace", str(broken), "--to", site.as_uri()))
    assert "broken.vtt" in error and "line 3" in error
    overlapping = tmp_path / "overlap.vtt"
    overlapping.write_text(vtt(("00:01.000", "00:05.000"), ("00:02.000", "00:06.000")), encoding="utf-8")
    error = one_line_error(captions(SLUG, "--replace", str(overlapping), "--to", site.as_uri()))
    assert "overlap.vtt, line 6" in error and "overlap" in error
    error = one_line_error(captions(SLUG, "--add", str(overlapping), "--lang", "../de", "--to", site.as_uri()))
    assert "not a language code" in error
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8")) == before

    fixed = tmp_path / "fixed.vtt"
    fixed.write_text(REVIEWED, encoding="utf-8")
    result = captions(SLUG, "--replace", str(fixed), "--to", site.as_uri(), "--work-dir", str(work))
    assert result.returncode == 0, result.stderr
    after = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    (track,) = after["captions"]
    assert track["status"] == "reviewed" and track["path"] != before["captions"][0]["path"]
    vtt_text = (folder / track["path"]).read_text(encoding="utf-8")
    assert "texte relu" in vtt_text and "reviewed by a person" in vtt_text
    assert "<v Alice>L'accident" in vtt_text and "<v Zoé &lt;b&gt;>et il" in vtt_text  # voices kept
    assert not (folder / before["captions"][0]["path"]).exists(), "the automatic track is removed"
    txt = (folder / after["transcript"]["txt"]).read_text(encoding="utf-8")
    assert txt == ("Alice : L'accident a eu lieu en terrain montagneux,\n\n"
                   "Zoé <b> : et il semblerait que cela ait été causé par un incendie malveillant, texte relu.\n")
    assert "texte relu" in (folder / after["transcript"]["srt"]).read_text(encoding="utf-8")
    data = json.loads((folder / after["transcript"]["json"]).read_text(encoding="utf-8"))
    segments = data["segments"]
    assert [(s["start"], s["speaker"]) for s in segments] == [(1.0, "Alice"), (4.8, "Zoé <b>")]
    # Every word timed on the recording by forced alignment, inside its cue, in order.
    assert data["word_timing"].startswith("forced alignment on the recording with Whisper base")
    assert "spread" not in data["word_timing"]
    for segment in segments:
        words = segment["words"]
        assert "".join(w["text"] for w in words) == segment["text"].replace(" ", "")
        assert all(segment["start"] <= w["start"] <= w["end"] <= segment["end"] for w in words)
        assert [w["start"] for w in words] == sorted(w["start"] for w in words)
        assert all(0 < w["probability"] <= 1 for w in words)
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "texte relu" in page and "(sous-titres relus)" in page and "automatiques" not in page
    assert '<b class="speaker">Alice</b>' in page and '<b class="speaker">Zoé &lt;b&gt;</b>' in page
    assert after["source"] == before["source"]
    assert {**after["video"], "hls": None} == {**before["video"], "hls": None}  # no new encode
    # The HLS ladder's subtitle rendition (what Safari and HLS players show) carries the reviewed text too.
    master = (folder / after["video"]["hls"]).read_text(encoding="utf-8")
    subtitle_playlist = folder / after["video"]["hls"].rsplit("/", 1)[0] / subtitle_uri(master, "fr")
    (segment,) = [line for line in subtitle_playlist.read_text(encoding="utf-8").splitlines() if line[:1] not in "#"]
    assert "texte relu" in (subtitle_playlist.parent / segment).read_text(encoding="utf-8")
    assert not (folder / before["video"]["hls"]).exists(), "the old master (automatic captions) is removed"
    caption_files = [p for p in folder.rglob("*.vtt") if not p.name.startswith("thumbnails")]
    assert len(caption_files) == 2, "the captions track and its HLS copy, no automatic copy left"
    assert all("texte relu" in p.read_text(encoding="utf-8") for p in caption_files)
    assert f'src="{after["video"]["hls"]}"' in page
    assert "texte relu" in " ".join(indexed_text(FileStorage(site)).values())

    # A human German track: a new track (subtitles, reviewed), on the page, in the HLS master and in the feed.
    storage, german = FileStorage(site), tmp_path / "de.vtt"
    german.write_text(GERMAN, encoding="utf-8")
    info = site_info(storage, title="t", language="fr")
    with pytest.raises(MetadataError, match=r"has no caption track in 'de' \(it has: fr\).*--add"):
        replace_captions(storage, info, SLUG, GERMAN, source_name="de.vtt", lang="de")
    result = captions(SLUG, "--add", str(german), "--lang", "DE", "--to", site.as_uri(), "--work-dir", str(work))
    assert result.returncode == 0, result.stderr
    with pytest.raises(MetadataError, match=r"already has a caption track in 'de'; correct it with --replace"):
        replace_captions(storage, info, SLUG, GERMAN, source_name="de.vtt", lang="de", add=True)
    added = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert [(t["lang"], t["kind"], t["status"]) for t in added["captions"]] == [
        ("fr", "captions", "reviewed"), ("de", "subtitles", "reviewed")
    ]
    assert added["captions"][0] == after["captions"][0] and added["transcript"] == after["transcript"]
    de_path = added["captions"][1]["path"]
    assert de_path.startswith("captions/de.") and "freie Hardware" in (folder / de_path).read_text(encoding="utf-8")
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert f'<track kind="subtitles" src="{de_path}" srclang="de" label="Allemand (sous-titres relus)">' in page
    assert '<b class="speaker">Alice</b>' in page  # the transcript panel is unchanged
    master = (folder / added["video"]["hls"]).read_text(encoding="utf-8")
    hls_folder = folder / added["video"]["hls"].rsplit("/", 1)[0]
    assert subtitle_uri(master, "fr") is not None and 'NAME="Deutsch",LANGUAGE="de"' in master
    de_playlist = hls_folder / subtitle_uri(master, "de")
    (segment,) = [line for line in de_playlist.read_text(encoding="utf-8").splitlines() if line[:1] not in "#"]
    assert "freie Hardware" in (de_playlist.parent / segment).read_text(encoding="utf-8")
    feed = (site / "feed.xml").read_text(encoding="utf-8")
    assert f'{de_path}" type="text/vtt" language="de"' in feed
    # ... and searchable, in a Pagefind bundle of its own language beside the French one.
    by_lang = indexed(FileStorage(site))[folder.name]
    assert set(by_lang) == {"fr", "de"}
    assert "freie Hardware" in " ".join(f["content"] for f in by_lang["de"])
    assert "texte relu" in " ".join(f["content"] for f in by_lang["fr"])
