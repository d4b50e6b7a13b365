"""Forced alignment of reviewed captions: the pure parts exactly, then real French speech with the packaged Whisper
base model (two FLEURS utterances with a silence between them, in one cue)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from confcast.tasks.demo.speech import SPEECH_DIR
from confcast.tasks.errors import TranscriptionError
from confcast.tasks.models import Word
from confcast.tasks.transcription.alignment import (
    AlignmentModel,
    align_cues,
    align_on_recording,
    cue_windows,
    fit_to_cue,
    merge_punctuation,
    spread_all,
    to_recording,
)
from confcast.tasks.transcription.captions import Cue
from confcast.tasks.transcription.engine import RawWord

FLEURS = SPEECH_DIR  # the FLEURS clips shipped with the demo (real French, CC BY 4.0)
RATE = 16_000


# --- pure parts ------------------------------------------------------------------------------------------------------


def test_cues_are_grouped_in_whisper_windows() -> None:
    cues = [Cue(t, t + 5.0, ("x",)) for t in range(0, 60, 5)] + [Cue(61.0, 101.0, ("long",)), Cue(101.0, 102.0, ("y",))]
    windows = [(w.start, w.end, w.first, w.stop) for w in cue_windows(cues, duration_s=102.2)]
    assert windows == [(0.0, 25.5, 0, 5), (24.5, 50.5, 5, 10), (49.5, 60.5, 10, 12), (60.5, 101.5, 12, 13),
                       (100.5, 102.2, 13, 14)]


def test_times_on_the_speech_go_back_onto_the_recording() -> None:
    pieces = [(1 * RATE, 2 * RATE), (4 * RATE, 5 * RATE)]  # speech at 1-2 s and 4-5 s of a window starting at 10 s
    words = [RawWord(0.2, 0.5, " un", 0.9), RawWord(0.9, 1.3, " deux", 0.8), RawWord(1.6, 2.4, " trois", 0.7)]
    assert [(round(w.start, 3), round(w.end, 3), w.text) for w in to_recording(words, pieces, 10.0)] == [
        (11.2, 11.5, " un"),
        (14.0, 14.3, " deux"),  # across the cut, mostly after it: kept in the second piece
        (14.6, 15.0, " trois"),  # past the last piece: kept inside it
    ]
    assert to_recording(words, [], 0.0) == []


def test_punctuation_joins_its_word() -> None:
    words = [RawWord(0, 1, " Bonjour", 0.9), RawWord(1, 1.1, ",", 0.2), RawWord(1.1, 2, " tous", 0.8),
             RawWord(2, 2.2, " ?", 0.3), RawWord(3, 3.1, " «", 0.5), RawWord(3.1, 4, " Oui", 0.7),
             RawWord(4, 4.1, " »", 0.5)]
    assert merge_punctuation(words) == [RawWord(0, 1.1, " Bonjour,", 0.9), RawWord(1.1, 2.2, " tous ?", 0.8),
                                        RawWord(3.1, 4.1, " « Oui »", 0.7)]


def test_words_are_kept_inside_their_cue_or_refused() -> None:
    cue = Cue(1.0, 3.0, ("Deux mots",))
    words = [RawWord(0.8, 1.5, " Deux", 0.9), RawWord(1.5, 3.4, " mots", 0.6)]
    assert fit_to_cue(words, cue) == (Word(start=1.0, end=1.5, text=" Deux", probability=0.9),
                                      Word(start=1.5, end=3.0, text=" mots", probability=0.6))
    assert fit_to_cue(words[:1], cue) is None  # not the cue's words
    assert fit_to_cue([RawWord(5.0, 5.5, " Deux", 0.9), RawWord(5.5, 6.0, " mots", 0.9)], cue) is None  # elsewhere


def test_a_failed_window_spreads_its_cues_and_says_where() -> None:
    cues = [Cue(0.0, 2.0, ("Un deux",), line=3), Cue(40.0, 42.0, ("Trois quatre",), line=6)]

    def aligner(samples: np.ndarray, language: str, texts: list[str]) -> list[tuple[RawWord, ...]]:
        if len(samples) > RATE * 2.5:  # the second window (40 s on): its audio is 2.5 s long with the margins
            raise TranscriptionError("forced alignment failed: test")
        return [(RawWord(0.5, 1.0, " Un", 0.9), RawWord(1.0, 1.5, " deux", 0.9))]

    samples = np.zeros(45 * RATE, dtype=np.float32)
    result = align_cues(cues, samples, "fr", aligner, probabilities=lambda audio: np.ones(len(audio) // 512 + 1))
    assert result.spread == (1,)
    assert result.words[0] == (Word(start=0.5, end=1.0, text=" Un", probability=0.9),
                               Word(start=1.0, end=1.5, text=" deux", probability=0.9))
    spread = [(round(w.start, 3), round(w.end, 3), w.text) for w in result.words[1]]
    assert spread == [(40.0, 40.923, " Trois"), (40.923, 42.0, " quatre")]  # in proportion to length (+1 for spaces)
    assert result.note(cues, "base") == (
        "forced alignment on the recording with Whisper base; words spread evenly in 1 cue(s) where it failed (lines 6)"
    )
    assert spread_all(cues, "no\nmodel").note(cues, "base") == (
        "words spread evenly over each cue: no forced alignment (no model)"
    )


# --- real speech -----------------------------------------------------------------------------------------------------


def decoded(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768


def onset_s(samples: np.ndarray) -> float:
    """Where the speech of a clip really starts: the first 20 ms louder than a tenth of the loudest (the clips are
    quiet before their speech)."""
    frames = samples[: len(samples) // 320 * 320].reshape(-1, 320)
    loudness = np.sqrt((frames**2).mean(axis=1))
    return float(np.argmax(loudness > loudness.max() / 10)) * 0.02


@pytest.mark.slow
def test_aligned_words_land_where_they_are_spoken(tmp_path: Path) -> None:
    first, second = decoded(FLEURS / "fleurs-fr-005.ogg"), decoded(FLEURS / "fleurs-fr-002.ogg")
    gap_s = 3.0
    second_starts = (len(first) / RATE) + gap_s + onset_s(second)
    # The published audio is AAC in M4A: make one from the two utterances, a silence between them.
    audio = tmp_path / "audio.m4a"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(FLEURS / "fleurs-fr-005.ogg"), "-i", str(FLEURS / "fleurs-fr-002.ogg"),
         "-filter_complex", f"[0:a]apad=pad_dur={gap_s}[a];[a][1:a]concat=n=2:v=0:a=1", "-ac", "1", "-ar", "48000",
         "-c:a", "aac", "-b:a", "96k", str(audio)],
        check=True,
    )
    said = [(FLEURS / name).read_text(encoding="utf-8").strip() for name in ("fleurs-fr-005.txt", "fleurs-fr-002.txt")]
    cue = Cue(0.5, round((len(first) + gap_s * RATE + len(second)) / RATE - 0.1, 3), tuple(said), line=3)
    model = AlignmentModel("base", cache_dir=tmp_path / "cache")

    result = align_on_recording([cue], audio, "fr", model)

    assert result.spread == ()
    (words,) = result.words
    assert "".join(w.text for w in words).split() == " ".join(said).split()
    count = len(said[0].split())
    first_word, last_word, after_gap = words[0], words[count - 1], words[count]
    assert after_gap.text == " il"
    assert abs(after_gap.start - second_starts) < 0.5, (after_gap, second_starts)
    assert abs(first_word.start - onset_s(first)) < 0.5, first_word
    assert last_word.end < len(first) / RATE + gap_s / 2  # "démarrage" is not stretched over the silence
    assert all(a.start <= b.start for a, b in zip(words, words[1:], strict=False))
    assert result.seconds < 10
