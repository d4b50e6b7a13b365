"""Voice activity detection piece by piece: the same speech spans as faster-whisper's, in memory that stays flat."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from faster_whisper import decode_audio
from faster_whisper.vad import VadOptions, get_speech_timestamps

from confcast.tasks.transcription import vad

LIBRIVOX = Path(__file__).parent / "fixtures" / "librivox"


def talk(minutes: float) -> np.ndarray:
    """The LibriVox clips in turn with pauses of 1 to 4 s, cut to ``minutes``."""
    clips = [decode_audio(str(path), sampling_rate=vad.SAMPLE_RATE) for path in sorted(LIBRIVOX.glob("*.wav"))]
    wanted = int(minutes * 60 * vad.SAMPLE_RATE)
    parts, size, turn = [], 0, 0
    while size < wanted:
        pause = np.zeros(vad.SAMPLE_RATE * (1 + turn % 4), dtype=np.float32)
        parts += [clips[turn % len(clips)], pause]
        size += parts[-2].size + pause.size
        turn += 1
    return np.concatenate(parts)[:wanted]


@pytest.fixture(scope="module")
def six_minutes() -> np.ndarray:
    audio = talk(6.0)  # longer than one piece (5.3 min): the model's state crosses a piece boundary
    assert audio.size // vad.WINDOW > vad.PIECE_WINDOWS
    return audio


@pytest.mark.parametrize("max_speech_s", [float("inf"), 120.0, 4.0])
def test_same_spans_as_faster_whisper(six_minutes: np.ndarray, max_speech_s: float) -> None:
    expected = get_speech_timestamps(six_minutes, VadOptions(max_speech_duration_s=max_speech_s))
    assert len(expected) > 10
    assert vad.speech_chunks(six_minutes, vad.VadSettings(max_speech_s=max_speech_s)) == expected


@pytest.mark.parametrize("extra", [0, 1, vad.WINDOW - 20, vad.WINDOW])
def test_same_spans_whatever_the_last_window(extra: int) -> None:
    audio = np.concatenate([talk(0.4), np.zeros(vad.WINDOW * 3 + extra, dtype=np.float32)])
    audio[-30:] = 0.2  # the very end of the last window counts differently; be sure it is handled the same
    assert vad.speech_chunks(audio) == get_speech_timestamps(audio, VadOptions())


def test_silence_has_no_speech() -> None:
    assert vad.speech_chunks(np.zeros(vad.SAMPLE_RATE * 30, dtype=np.float32)) == []


def _peak_mb(audio: np.ndarray) -> float:
    tracemalloc.start()
    try:
        vad.speech_chunks(audio)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_recording() -> None:
    short, long = talk(6.0), talk(16.0)  # one piece and a bit, three pieces
    short_peak, long_peak = _peak_mb(short), _peak_mb(long)
    audio_mb = long.nbytes / 2**20  # 59 MB; faster-whisper's own function holds two copies more
    assert long_peak < 1.1 * short_peak + 2, (short_peak, long_peak)
    assert long_peak < audio_mb / 2, (long_peak, audio_mb)
