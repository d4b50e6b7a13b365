"""Cue layout and caption writers: exact examples and properties (hypothesis). Pure, no Whisper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confcast.tasks.errors import TranscriptionError
from confcast.tasks.models import Segment, Transcript, Word
from confcast.tasks.site.publish import segments_from_transcript_json
from confcast.tasks.transcription.captions import (
    Cue,
    layout_cues,
    parse_vtt,
    srt_text,
    transcript_json,
    transcript_txt,
    translation_note,
    vtt_text,
    write_transcript_files,
)

MAX_CHARS, MAX_LINES, MIN_S, MAX_S, MAX_CPS = 42, 2, 5 / 6, 7.0, 17.0
MS = 0.001  # captions are timed to the millisecond
QUICK = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}  # layout runs are short but vary


def segment(words: list[tuple[float, float, str]]) -> Segment:
    return Segment(
        start=words[0][0],
        end=words[-1][1],
        text="".join(t for _, _, t in words),
        words=tuple(Word(start=a, end=b, text=t) for a, b, t in words),
    )


# From the LibriVox clip 0870 and 0880, as faster-whisper timed them.
AUSTEN = [
    segment([(0.0, 0.34, " And"), (0.34, 0.6, " Mr."), (0.64, 0.94, " John"), (0.94, 1.5, " Dashwood"),
             (1.5, 1.76, " had"), (1.76, 2.02, " then"), (2.02, 2.56, " leisure"), (2.56, 2.86, " to"),
             (2.86, 3.36, " consider"), (3.36, 3.74, " how"), (3.74, 4.24, " much"), (4.24, 4.5, " there"),
             (4.5, 4.7, " might"), (4.7, 4.92, " be"), (4.92, 5.4, " prudently"), (5.4, 5.58, " in"),
             (5.58, 5.74, " his"), (5.74, 5.96, " power"), (5.96, 6.14, " to"), (6.14, 6.3, " do"),
             (6.3, 6.58, " for"), (6.58, 6.8, " them.")]),
    segment([(7.5, 7.84, " He"), (7.84, 8.02, " was"), (8.02, 8.3, " not"), (8.3, 8.8, " an"),
             (8.8, 8.96, " ill"), (8.96, 9.54, "-disposed"), (9.54, 9.78, " young"), (9.78, 10.1, " man.")]),
]


# --- layout: exact examples ---------------------------------------------------------------------------------------


def test_layout_of_real_words() -> None:
    cues = layout_cues(AUSTEN)
    assert [c.lines for c in cues] == [
        ("And Mr. John Dashwood had then leisure to", "consider how much there might be prudently"),
        ("in his power to do for them.",),
        ("He was not an ill-disposed young man.",),
    ]
    assert [(c.start, c.end) for c in cues] == [(0.0, 5.4), (5.4, 7.048), (7.5, 10.1)]


def test_short_cue_stays_on_screen_and_reading_speed_is_kept() -> None:
    words = [(1.0, 1.2, " Oui."), (5.0, 5.5, " Alors,"), (5.5, 6.0, " voilà"), (6.0, 6.2, " la"),
             (6.2, 6.6, " conférence"), (6.6, 6.9, " d'aujourd'hui"), (6.9, 7.0, " sur"), (7.0, 7.2, " les"),
             (7.2, 7.5, " sous-titres.")]
    cues = layout_cues([segment(words)])
    assert cues[0] == Cue(1.0, 1.834, ("Oui.",))  # 5/6 s on screen, though said in 0.2 s
    second = cues[1]
    assert second.start == 5.0
    assert second.lines == ("Alors, voilà la conférence", "d'aujourd'hui sur les sous-titres.")
    # 61 characters at 17 a second need 3.59 s: the cue stays on after the last word (7.5 s).
    assert second.end == 8.589


def test_long_pause_always_ends_a_cue() -> None:
    cues = layout_cues([segment([(0.0, 0.3, " Bon,"), (0.3, 0.6, " alors"), (3.0, 3.4, " voilà.")])])
    assert [c.lines for c in cues] == [("Bon, alors",), ("voilà.",)]
    assert cues[0].end <= cues[1].start == 3.0


def test_french_punctuation_stays_with_its_word() -> None:
    words = [(0.0, 0.2, " Vous"), (0.2, 0.4, " êtes"), (0.4, 0.6, " prêts"), (0.6, 0.7, " ?")]
    words += [(0.7 + 0.3 * i, 0.9 + 0.3 * i, f" mot{i}") for i in range(12)]
    for cue in layout_cues([segment(words)]):
        assert all(not line.startswith("?") for line in cue.lines)
    assert "Vous êtes prêts ?" in " ".join(" ".join(c.lines) for c in layout_cues([segment(words)]))


def test_segment_without_words_is_spread_over_its_time() -> None:
    text = " Une phrase sans horodatage des mots, assez longue pour tenir sur deux lignes au moins, voire plus."
    cues = layout_cues([Segment(start=10.0, end=16.0, text=text)])
    assert " ".join(" ".join(c.lines) for c in cues).split() == text.split()
    assert cues[0].start == 10.0 and cues[-1].end >= 16.0 - MS
    for cue in cues:
        assert len(cue.lines) <= 2 and all(len(line) <= 42 for line in cue.lines)


def test_over_long_word_sits_alone() -> None:
    long_word = "Pneumonoultramicroscopicsilicovolcanoconiosis-like"  # 50 characters
    cues = layout_cues([segment([(0.0, 0.5, " A"), (0.5, 2.0, " " + long_word), (2.0, 2.3, " b")])])
    lines = [line for c in cues for line in c.lines]
    assert long_word in lines
    assert " ".join(lines).split() == ["A", long_word, "b"]


def test_empty_input() -> None:
    assert layout_cues([]) == []
    assert layout_cues([Segment(start=0.0, end=1.0, text="  ")]) == []


# --- layout: properties ------------------------------------------------------------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyzéèàçùœABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'-"
word_text = st.builds(
    lambda core, punct: core + punct,
    st.text(alphabet=LETTERS, min_size=1, max_size=50).filter(lambda w: any(ch.isalnum() for ch in w)),
    st.sampled_from(["", "", "", ".", ",", "?", "!", ";", "…"]),
)


@st.composite
def segments_strategy(draw: st.DrawFn, text_only: bool = True) -> list[Segment]:
    """Segments of timed words; with ``text_only``, some segments lack word times (text spread over time)."""
    n = draw(st.integers(min_value=0, max_value=60))
    texts = draw(st.lists(word_text, min_size=n, max_size=n))
    t = draw(st.floats(min_value=0, max_value=100))
    timed = []
    for text in texts:
        duration = draw(st.sampled_from([0.0, 0.05, 0.2, 0.4, 0.9, 2.5, 8.0]))
        gap = draw(st.sampled_from([0.0, 0.0, 0.0, 0.01, 0.1, 0.5, 1.0, 1.6, 4.0]))
        timed.append((round(t, 3), round(t + duration, 3), " " + text))
        t += duration + gap
    segments, i = [], 0
    while i < len(timed):
        size = draw(st.integers(min_value=1, max_value=25))
        chunk = timed[i : i + size]
        seg = segment(chunk)
        if text_only and draw(st.booleans()) and draw(st.booleans()):
            seg = Segment(start=seg.start, end=seg.end, text=seg.text)
        segments.append(seg)
        i += size
    return segments


@given(segments_strategy())
@settings(max_examples=300, **QUICK)
def test_layout_properties(segments: list[Segment]) -> None:
    cues = layout_cues(segments)
    words = [w for s in segments for w in s.text.split()]
    # Every word once, in order, never split.
    assert [w for c in cues for line in c.lines for w in line.split()] == words
    for n, cue in enumerate(cues):
        assert 1 <= len(cue.lines) <= MAX_LINES
        for line in cue.lines:
            assert line and line == line.strip()
            assert len(line) <= MAX_CHARS or " " not in line  # only a single over-long word may exceed
        assert cue.start < cue.end <= cue.start + MAX_S + MS
        assert cue.start >= 0
        if n + 1 < len(cues):
            nxt = cues[n + 1]
            assert cue.end <= nxt.start and cue.start < nxt.start
            room = nxt.start - cue.start
        else:
            room = float("inf")
        # On screen at least 5/6 s where the next cue leaves room for it.
        assert cue.end - cue.start >= min(MIN_S, room) - 2 * MS
        # About 17 characters a second, unless the next cue or the 7 s limit leaves no room to stay longer.
        if len(" ".join(cue.lines)) / (cue.end - cue.start) > MAX_CPS + 1e-6:
            assert cue.end >= cue.start + room - 2 * MS or cue.end >= cue.start + MAX_S - 2 * MS


@given(segments_strategy(text_only=False))
@settings(max_examples=100, **QUICK)
def test_layout_times_follow_words(segments: list[Segment]) -> None:
    """A cue starts with its first word and stays at least until its last word ends (within 7 s)."""
    timed = [w for s in segments for w in s.words]
    cues = layout_cues(segments)
    i = 0
    for n, cue in enumerate(cues):
        count = len(" ".join(cue.lines).split())
        first, last = timed[i], timed[i + count - 1]
        assert cue.start >= first.start - MS  # never before its first word
        assert cue.start <= first.start + MS or (n and cue.start == cues[n - 1].end)
        assert cue.end >= min(last.end, cue.start + MAX_S) - 2 * MS  # never gone before its last word ends
        i += count
    assert i == len(timed)


# --- WebVTT and SRT: exact ----------------------------------------------------------------------------------------

CUES = [
    Cue(0.0, 1.5, ("Hello <script>alert(1)</script>",)),
    Cue(61.25, 3723.004, ("Tom & Jerry", "--> next")),
]

VTT = """WEBVTT
Language: en

NOTE
Automatic captions: machine transcription (speech recognition), not reviewed by a person; they may contain errors.

00:00:00.000 --> 00:00:01.500
Hello &lt;script&gt;alert(1)&lt;/script&gt;

00:01:01.250 --> 01:02:03.004
Tom &amp; Jerry
--&gt; next
"""

SRT = """1
00:00:00,000 --> 00:00:01,500
Hello <script>alert(1)</script>

2
00:01:01,250 --> 01:02:03,004
Tom & Jerry
--> next

"""


def test_vtt_text_exact() -> None:
    assert vtt_text(CUES, "en") == VTT


def test_srt_text_exact() -> None:
    assert srt_text(CUES) == SRT
    assert srt_text([]) == ""


def test_vtt_of_no_cues_is_a_valid_file() -> None:
    assert parse_vtt(vtt_text([], "fr")) == []
    assert vtt_text([], "fr").startswith("WEBVTT\nLanguage: fr\n\nNOTE\n")


def test_parse_vtt_round_trips_exact_example() -> None:
    assert parse_vtt(VTT) == CUES


def test_parse_vtt_reads_what_people_write() -> None:
    text = (
        "\ufeffWEBVTT - corrected by hand\r\n\r\n"
        "NOTE fixed the speaker's name\r\n\r\n"
        "intro\r\n00:01.000 --> 00:03.500 align:start line:0\r\n<v Alice>Bonjour à <i>tous</i></v> &amp; bienvenue\r\n"
        "\r\n"
        "00:00:04.000 --> 00:00:05.000\r\n2 &lt; 3 &#233;t&eacute;\r\n"
    )
    assert parse_vtt(text) == [
        Cue(1.0, 3.5, ("Bonjour à tous & bienvenue",), speaker="Alice"),
        Cue(4.0, 5.0, ("2 < 3 été",)),
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", 1),
        ("hello\n", 1),
        ("WEBVTTX\n", 1),
        ("WEBVTT\n00:00.000 --> 00:01.000\nheader runs into a cue\n", 2),
        ("WEBVTT\n\n00:00.000 --> nope\nhi\n", 3),
        ("WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nbackwards\n", 3),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:01.000\nzero length\n", 3),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<b unclosed\n", 4),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n1 > 0\n", 4),
        ("WEBVTT\n\njust text\n", 3),
        ("WEBVTT\n\nid\nstill no timing\n", 4),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\n00:00:03.000 --> 00:00:04.000\nb\n", 5),
        ("WEBVTT\n\n00:00:61.000 --> 00:00:62.000\nbad seconds\n", 3),
        ("WEBVTT\n\n0:00:01.000 --> 0:00:02.000\nshort hours\n", 3),
        ("WEBVTT\n\n00:00:01,000 --> 00:00:02,000\nSRT commas\n", 3),
        ("WEBVTT\n\n00:00:0١.000 --> 00:00:02.000\nnot an ASCII digit\n", 3),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\nSTYLE\n::cue { color: red }\n", 6),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nnul \x00 here\n", 4),
    ],
)
def test_parse_vtt_rejects_garbage_with_line_number(text: str, line: int) -> None:
    with pytest.raises(ValueError, match=rf"^line {line}: "):
        parse_vtt(text)


# --- WebVTT: voice tags (speakers) ----------------------------------------------------------------------------------


def test_voice_tags_become_speakers() -> None:
    text = (
        "WEBVTT\n\n"
        "00:00:01.000 --> 00:00:02.000\n<v Alice>Bonjour <i>à</i> tous</v>\n\n"  # closed span, inline tags
        "00:00:02.000 --> 00:00:03.000\n<v.loud.first Bob  Martin>Ça <b>marche</b>\nsur deux lignes\n\n"  # classes
        "c3\n00:00:03.000 --> 00:00:04.000\n<00:00:03.500>sans voix <c.x>du tout</c>\n\n"
        "00:00:04.000 --> 00:00:05.000\n<v Tom &amp; Jerry>Et &lt;nous&gt;\n\n"  # references in the name
        "00:00:05.000 --> 00:00:06.000\n<v>Une voix sans nom\n\n"
        "00:00:06.000 --> 00:00:07.000\n<v Alice>Encore</v> <v Alice>moi\n"  # the same speaker twice
    )
    cues = parse_vtt(text)
    assert cues == [
        Cue(1.0, 2.0, ("Bonjour à tous",), "Alice"),
        Cue(2.0, 3.0, ("Ça marche", "sur deux lignes"), "Bob Martin"),
        Cue(3.0, 4.0, ("sans voix du tout",)),
        Cue(4.0, 5.0, ("Et <nous>",), "Tom & Jerry"),
        Cue(5.0, 6.0, ("Une voix sans nom",)),
        Cue(6.0, 7.0, ("Encore moi",), "Alice"),
    ]
    assert [c.line for c in cues] == [3, 6, 11, 14, 17, 20]  # each cue's timing line, for error messages


def test_two_speakers_in_one_cue_are_refused_with_the_line() -> None:
    with pytest.raises(ValueError, match=r"^line 5: two speakers in one cue \('Alice' and 'Bob'\); split it"):
        parse_vtt("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Alice>- Bonjour\n<v Bob>- Salut\n")


def test_vtt_text_writes_speakers_as_voice_tags() -> None:
    cues = [Cue(0.0, 1.0, ("Bonjour", "à tous"), "Tom & <Jerry>"), Cue(1.0, 2.0, ("Merci",))]
    assert vtt_text(cues, "fr", note="n").split("\n")[6:] == [
        "00:00:00.000 --> 00:00:01.000", "<v Tom &amp; &lt;Jerry&gt;>Bonjour", "à tous", "",
        "00:00:01.000 --> 00:00:02.000", "Merci", "",
    ]
    assert parse_vtt(vtt_text(cues, "fr")) == cues


def speakers_transcript(language: str) -> Transcript:
    said = [(0.0, "Alice", "Bonjour."), (1.0, None, "Je commence."), (2.0, "Bob", "Merci Alice."),
            (3.0, "Bob", "Une question ?"), (4.0, "Alice", "Oui.")]
    return transcript(language).model_copy(update={"segments": tuple(
        Segment(start=t, end=t + 0.9, text=f" {text}", speaker=who) for t, who, text in said
    )})


def test_transcript_txt_paragraphs_by_speaker() -> None:
    assert transcript_txt(speakers_transcript("fr")) == (
        "Alice : Bonjour. Je commence.\n\nBob : Merci Alice. Une question ?\n\nAlice : Oui.\n"
    )
    assert transcript_txt(speakers_transcript("en")).startswith("Alice: Bonjour. Je commence.\n\nBob: Merci")


def test_transcript_json_carries_speakers_and_reads_back() -> None:
    raw = transcript_json(speakers_transcript("fr"), word_timing="forced alignment")
    data = json.loads(raw)
    assert data["word_timing"] == "forced alignment"
    assert [s.get("speaker") for s in data["segments"]] == ["Alice", None, "Bob", "Bob", "Alice"]
    assert "speaker" not in data["segments"][1]  # nobody named: no key (automatic transcripts are unchanged)
    assert "speaker" not in json.loads(transcript_json(transcript()))["segments"][0]
    # What the site reads back from storage keeps speakers and words (times, text, probability).
    back = segments_from_transcript_json(transcript_json(transcript()).encode(), "fr.json")
    assert back[0].words == transcript().segments[0].words
    assert [s.speaker for s in segments_from_transcript_json(raw.encode(), "fr.json")] == [
        "Alice", None, "Bob", "Bob", "Alice"
    ]


# --- WebVTT: properties ---------------------------------------------------------------------------------------------

clean_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=60
).map(lambda s: " ".join(s.split())).filter(bool)


@st.composite
def cue_lists(draw: st.DrawFn) -> list[Cue]:
    cues, t = [], draw(st.integers(min_value=0, max_value=10_000))
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        t += draw(st.integers(min_value=0, max_value=5000))
        length = draw(st.integers(min_value=1, max_value=7000))
        lines = tuple(draw(st.lists(clean_line, min_size=1, max_size=3)))
        cues.append(Cue(t / 1000, (t + length) / 1000, lines, draw(st.none() | clean_line)))
        t += length
    return cues


@given(cue_lists(), st.sampled_from(["fr", "en", "deu"]))
@settings(max_examples=200, **QUICK)
def test_vtt_round_trip(cues: list[Cue], lang: str) -> None:
    assert parse_vtt(vtt_text(cues, lang)) == cues


@given(segments_strategy())
@settings(max_examples=50, **QUICK)
def test_vtt_round_trip_of_layout(segments: list[Segment]) -> None:
    cues = layout_cues(segments)
    assert parse_vtt(vtt_text(cues, "fr")) == cues


@given(st.text(max_size=300))
@settings(max_examples=300, **QUICK)
def test_parse_vtt_fuzz_any_text(text: str) -> None:
    for candidate in (text, "WEBVTT\n\n" + text, "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n" + text):
        try:
            cues = parse_vtt(candidate)
        except ValueError as exc:
            assert str(exc).startswith("line ")
        else:
            assert all(isinstance(c, Cue) and c.end > c.start for c in cues)


@given(cue_lists(), st.data())
@settings(max_examples=200, **QUICK)
def test_parse_vtt_fuzz_mutated_files(cues: list[Cue], data: st.DataObject) -> None:
    lines = vtt_text(cues, "fr").split("\n")
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        at = data.draw(st.integers(min_value=0, max_value=len(lines)))
        action = data.draw(st.sampled_from(["delete", "insert", "truncate"]))
        if action == "delete" and at < len(lines):
            del lines[at]
        elif action == "insert":
            lines.insert(at, data.draw(st.sampled_from(["", "-->", "00:00:01.000 --> x", "<", "NOTE", "garbage"])))
        elif at < len(lines):
            lines[at] = lines[at][: data.draw(st.integers(min_value=0, max_value=len(lines[at])))]
    try:
        parse_vtt("\n".join(lines))
    except ValueError as exc:
        assert str(exc).startswith("line ")


# --- transcript files -----------------------------------------------------------------------------------------------


def transcript(language: str = "fr") -> Transcript:
    return Transcript(
        language=language,
        language_probability=0.93,
        duration_s=20.0,
        segments=(
            Segment(start=0.5, end=2.0, text=" Bonjour à tous.",
                    words=(Word(start=0.5, end=1.1, text=" Bonjour", probability=0.9),
                           Word(start=1.1, end=1.4, text=" à"), Word(start=1.4, end=2.0, text=" tous."))),
            Segment(start=2.2, end=3.0, text=" Merci d'être là & <bienvenue>."),
            Segment(start=8.0, end=9.5, text=" Nouvelle partie."),
        ),
        engine="faster-whisper",
        model="base",
    )


def test_transcript_txt_paragraphs() -> None:
    assert transcript_txt(transcript()) == (
        "Bonjour à tous. Merci d'être là & <bienvenue>.\n\nNouvelle partie.\n"
    )
    assert transcript_txt(transcript().model_copy(update={"segments": ()})) == ""


def test_transcript_json() -> None:
    data = json.loads(transcript_json(transcript()))
    assert {k: data[k] for k in ("language", "language_probability", "engine", "model")} == {
        "language": "fr", "language_probability": 0.93, "engine": "faster-whisper", "model": "base",
    }
    assert data["segments"][0] == {
        "start": 0.5, "end": 2.0, "text": "Bonjour à tous.",
        "words": [
            {"start": 0.5, "end": 1.1, "text": "Bonjour", "probability": 0.9},
            {"start": 1.1, "end": 1.4, "text": "à", "probability": 1.0},
            {"start": 1.4, "end": 2.0, "text": "tous.", "probability": 1.0},
        ],
    }
    assert data["segments"][1]["words"] == []
    assert "à" in transcript_json(transcript())  # UTF-8, not \\u escapes


def test_write_transcript_files(tmp_path: Path) -> None:
    files = write_transcript_files(transcript(), tmp_path)
    assert files.lang == "fr"
    assert files.vtt == tmp_path / "captions" / "fr.vtt"
    assert (files.srt, files.txt, files.json_) == (
        tmp_path / "transcript" / "fr.srt", tmp_path / "transcript" / "fr.txt", tmp_path / "transcript" / "fr.json",
    )
    vtt = files.vtt.read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\nLanguage: fr\n")
    assert "&amp; &lt;bienvenue&gt;" in vtt
    cues = parse_vtt(vtt)
    assert " ".join(c.text for c in cues) == transcript().text
    assert srt_text(cues) == files.srt.read_text(encoding="utf-8")
    assert files.txt.read_text(encoding="utf-8") == transcript_txt(transcript())
    assert json.loads(files.json_.read_text(encoding="utf-8"))["language"] == "fr"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["captions", "fr.json", "fr.srt", "fr.txt", "fr.vtt",
                                                           "transcript"]  # no temporary files left


@pytest.mark.parametrize("language", ["FR", "f", "../etc", "fr/x", "frenc", "", "und!"])
def test_write_transcript_files_rejects_bad_language(tmp_path: Path, language: str) -> None:
    bad = transcript().model_copy(update={"language": language})
    with pytest.raises(TranscriptionError, match="language"):
        write_transcript_files(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_translated_track_says_so(tmp_path: Path) -> None:
    english = transcript().model_copy(update={"language": "en"})
    files = write_transcript_files(english, tmp_path, note=translation_note("fr"))
    vtt = files.vtt.read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\nLanguage: en\n\nNOTE\nMachine translation: speech in fr translated into English")
    assert "Automatic captions" not in vtt
    assert [c.text for c in parse_vtt(vtt)] == [c.text for c in layout_cues(english.segments)]
    # A note can never end the NOTE block early or hold a cue timing.
    hostile = vtt_text([], "en", note="a\n\n00:00:00.000 --> 00:00:01.000\nsneaky")
    assert parse_vtt(hostile) == [] and "-->" not in hostile
