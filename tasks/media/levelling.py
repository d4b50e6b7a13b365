"""Levelling: quiet voices (questions from the room) brought up to the speaker's level, for Whisper and for listeners.

A recording's microphone hears the speaker far louder than the room: a question 40 dB below the talk is dropped from
Whisper's transcript, and a whole-file loudness normalisation cannot lift one quiet passage. ffmpeg's Dynamic Audio
Normalizer (`dynaudnorm`) raises each passage by a gain that follows its own level slowly (a Gaussian over
``WINDOW_FRAMES`` frames of ``FRAME_MS``: about 15 s, so no pumping within a sentence), up to ``MAX_GAIN`` (40 dB).
Chosen by measurement (docs/transcription.md, "Quiet voices"): on FLEURS French with one passage lowered 30-50 dB it
kept the quiet passage's word error rate near the same passage at level, where speechnorm and shorter frames did not.

Pure functions here (filter strings, the gain profile, the quiet passages an operator should check);
`tasks.media.audio` runs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from confcast.tasks.models import QuietPassage, Segment

FRAME_MS = 500  # dynaudnorm frame length
WINDOW_FRAMES = 31  # Gaussian window over frames (odd): 15.5 s
MAX_GAIN = 100.0  # 40 dB, dynaudnorm's maximum
SPEECH_PEAK = 0.95  # Whisper's input: each passage's peaks near full scale (dynaudnorm's default)
LISTENING_PEAK = 0.5  # -6 dBFS: every passage's peaks at one level, so the gain below is found on a known scale
SPEECH_LEVELLER = f"dynaudnorm=f={FRAME_MS}:g={WINDOW_FRAMES}:m={MAX_GAIN:g}:p={SPEECH_PEAK:g}"
LEVELLER = f"dynaudnorm=f={FRAME_MS}:g={WINDOW_FRAMES}:m={MAX_GAIN:g}:p={LISTENING_PEAK:g}"

# After the leveller, speech's peaks stand 20-25 dB above its loudness (FLEURS): -16 LUFS under -1.5 dBTP needs its
# peaks limited. loudnorm's second pass could not (its linear gain broke the ceiling, its dynamic mode landed at -17
# to -18 LUFS), so the levelled sound gets a static gain then a lookahead limiter, the gain found in the measuring
# pass by trying DRIVES_DB through the same limiter (`listening_gain`). docs/performance.md, "Quiet voices".
LIMIT_DBFS = -3.5  # sample peaks; inter-sample peaks and AAC added up to 1.5 dB (measured): published <= -1.5 dBTP
LIMITER = f"alimiter=limit={10 ** (LIMIT_DBFS / 20):.4f}:attack=5:release=50:level=0:latency=1"  # latency: in sync
DRIVES_DB = (6.0, 9.0, 12.0, 15.0, 18.0, 21.0, 24.0)  # gains tried; 24 dB at most (past it, the limiter would crush)
DESCRIPTION = (
    f"speech for Whisper: ffmpeg {SPEECH_LEVELLER}; audio heard: {LEVELLER}, then the gain that brings it to -16 LUFS "
    f"through {LIMITER} (peaks at {LIMIT_DBFS:g} dBFS)"
)

REPORT_GAIN_DB = 20.0  # a passage of speech raised by more than this is named in the run summary
PROFILE_WINDOW_S = 1.0  # one gain figure a second
MERGE_GAP_S = 5.0  # quiet passages closer than this are one passage
SILENT_RMS = 1e-5  # below this (-100 dBFS) a window holds nothing to measure


MIN_LEVELLED_S = 1.0  # shorter sound is left as it is: ffmpeg 5.1's dynaudnorm crashes under one 500 ms frame


def levels(level: bool, duration_s: float) -> bool:
    """Whether the sound is levelled: asked, and long enough to level (a clip under MIN_LEVELLED_S is not)."""
    return level and duration_s >= MIN_LEVELLED_S


def leveller(level: bool, duration_s: float) -> str | None:
    """The levelling filter for what listeners hear, or None when the sound is not levelled (`levels`)."""
    return LEVELLER if levels(level, duration_s) else None


def listening_gain(loudness: Sequence[tuple[float, float]], target: float) -> float:
    """The gain (dB) that brings the levelled sound to `target` LUFS through the limiter, from (gain, integrated
    loudness) pairs measured through it: interpolated between the two tried gains around the target (loudness grows
    with the gain, less and less as the limiter works); below the smallest, the limiter idles and dB are dB; past the
    largest, the largest (a little quieter rather than crushed). Pure."""
    tried = sorted(loudness)
    if target <= tried[0][1]:
        return round(tried[0][0] + target - tried[0][1], 2)
    for (low, low_i), (high, high_i) in zip(tried, tried[1:], strict=False):
        if low_i <= target <= high_i:
            return round(low + (high - low) * (target - low_i) / (high_i - low_i) if high_i > low_i else low, 2)
    return tried[-1][0]


def gain_profile(raw: np.ndarray, levelled: np.ndarray, rate: int, window_s: float = PROFILE_WINDOW_S) -> np.ndarray:
    """The gain (dB) the leveller applied in each window of ``window_s``: levelled RMS over raw RMS; NaN where the
    raw window is silent. Pure."""
    size = max(1, int(rate * window_s))
    count = min(raw.shape[0], levelled.shape[0]) // size
    gains = np.full(count, np.nan, dtype=np.float64)
    if count == 0:
        return gains
    before = np.sqrt(np.mean(np.square(raw[: count * size].reshape(count, size), dtype=np.float64), axis=1))
    after = np.sqrt(np.mean(np.square(levelled[: count * size].reshape(count, size), dtype=np.float64), axis=1))
    audible = before > SILENT_RMS
    gains[audible] = 20 * np.log10(np.maximum(after[audible], SILENT_RMS) / before[audible])
    return np.round(gains, 1)


def quiet_passages(
    gains: Iterable[float | None],
    segments: Iterable[Segment],
    window_s: float = PROFILE_WINDOW_S,
    threshold_db: float = REPORT_GAIN_DB,
) -> tuple[QuietPassage, ...]:
    """Where transcribed speech needed more than ``threshold_db`` of gain: each segment's median gain over its
    windows, neighbouring quiet segments merged. Only transcribed speech counts, never raised noise. Pure."""
    profile = [np.nan if g is None else float(g) for g in gains]
    found: list[QuietPassage] = []
    for segment in segments:
        first, last = int(segment.start // window_s), int(segment.end // window_s) + 1
        inside = [g for g in profile[first:last] if np.isfinite(g)]
        if not inside:
            continue
        gain = float(np.median(inside))
        if gain <= threshold_db:
            continue
        if found and segment.start - found[-1].end <= MERGE_GAP_S:
            previous = found[-1]
            found[-1] = QuietPassage(start=previous.start, end=segment.end, gain_db=max(previous.gain_db, round(gain)))
        else:
            found.append(QuietPassage(start=segment.start, end=segment.end, gain_db=round(gain)))
    return tuple(found)


def clock(seconds: float) -> str:
    """12:30, or 1:02:05 past an hour."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def passage_line(passage: QuietPassage) -> str:
    """One line for the run summary: "quiet speech at 12:30–13:05, levelled (+34 dB)"."""
    return f"quiet speech at {clock(passage.start)}–{clock(passage.end)}, levelled (+{passage.gain_db} dB)"
