"""The transcription benchmark's pure parts: word error rate and the table with its ratios."""

from __future__ import annotations

import pytest

from confcast.tasks.bench.whisper import (
    FAST,
    REFERENCE,
    Measure,
    reading_speeds,
    share_above,
    table,
    word_error_rate,
)
from confcast.tasks.transcription.captions import Cue


def test_word_error_rate() -> None:
    assert word_error_rate("Mr. Dashwood had then leisure.", "mister dashwood had then leisure") == 0.0
    assert word_error_rate("a b c d", "a x c") == pytest.approx(0.5)  # one substitution, one deletion
    assert word_error_rate("a b", "a b c d") == pytest.approx(1.0)  # two insertions
    assert word_error_rate("Le cinéma", "le cinema") == pytest.approx(0.5)  # accents count
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "noise") == 1.0


def test_table_gives_ratios() -> None:
    def m(variant: str, audio: str, duration: float, wall: float, peak: float, wer: float, growth=False) -> Measure:
        return Measure(variant, audio, duration, wall, 1.0, peak, duration * 16000 * 4 / 2**20, wer, growth)

    rows = [
        m(FAST, "talk", 180, 20, 500, 0.10),
        m(REFERENCE, "talk", 180, 150, 900, 0.095),
        m(FAST, "ten", 600, 30, 530, 0.11, growth=True),
        m(FAST, "sixty", 3600, 170, 740, 0.11, growth=True),
    ]
    text = table(rows)
    assert len([line for line in text.splitlines() if line.startswith("| ")]) == 5  # the header and 4 rows
    assert "| talk | faster-whisper int8 | 180 | 20.0 | 9.0 |" in text
    assert "7.5× faster than openai-whisper fp32" in text and "WER +0.5 points" in text
    assert "10.0 min → 493 MB beyond the audio, 60.0 min → 520 MB (1.05×" in text  # the talk is not a growth run


def test_reading_speed_of_cues() -> None:
    cues = [Cue(0.0, 1.0, ("seventeen chars..",)), Cue(1.0, 2.0, ("twenty-one characters",)), Cue(2.0, 4.0, ("a", "b"))]
    speeds = reading_speeds(cues)
    assert speeds == pytest.approx([17.0, 21.0, 1.5])  # the line break counts as one character
    assert share_above(speeds, 17.0) == pytest.approx(1 / 3) and share_above(speeds, 20.0) == pytest.approx(1 / 3)
    assert share_above([], 17.0) == 0.0
