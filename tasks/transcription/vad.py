"""Where the speech is in a recording: Silero VAD (the model packaged with faster-whisper) run piece by piece.

faster-whisper's ``get_speech_timestamps`` pads and re-arranges the whole recording before running the model, two
copies of the audio (460 MB more for one hour): memory grows with the recording. Here the model runs over pieces of
``PIECE_WINDOWS`` windows, its state carried from piece to piece exactly as faster-whisper carries it between its
batches of the same size, so the probabilities are the same and only one piece is held at a time. The
probabilities (one float per 32 ms) then become speech spans with faster-whisper's rules and defaults, and
:func:`time_map` maps times on the concatenated speech back onto the recording.

It imports faster_whisper (inside functions: the import costs a second) for the Silero model it ships (with its
ONNX session), and for its map from speech times back to recording times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
WINDOW = 512  # samples the model scores at once (32 ms)
CONTEXT = 64  # samples of the previous window given with each window
PIECE_WINDOWS = 10_000  # windows per model call: faster-whisper's batch (5.3 min of audio, 23 MB of input)
STATE_SHAPE = (1, 1, 128)


@dataclass(frozen=True)
class VadSettings:
    """faster-whisper's VadOptions defaults (the values both engines were tuned with)."""

    threshold: float = 0.5  # a window at or above this is speech
    min_silence_ms: int = 2000  # silence needed to end a span
    speech_pad_ms: int = 400  # added to each side of a span
    min_speech_ms: int = 0  # shorter spans are dropped
    max_speech_s: float = float("inf")  # longer spans are split, at a pause when there is one

    @property
    def neg_threshold(self) -> float:  # below this a window is silence (between the two: as the one before)
        return max(self.threshold - 0.15, 0.01)


def _model_session():
    from faster_whisper.vad import get_vad_model

    return get_vad_model().session


def speech_probabilities(samples: np.ndarray) -> np.ndarray:
    """The probability of speech in every 512-sample window (the last one padded with zeros), piece by piece."""
    session = _model_session()
    # As faster-whisper: the audio is padded to whole windows, always by at least one sample.
    windows = samples.shape[0] // WINDOW + 1
    probabilities = np.empty(windows, dtype=np.float32)
    h = np.zeros(STATE_SHAPE, dtype=np.float32)
    c = np.zeros(STATE_SHAPE, dtype=np.float32)
    buffer = np.empty((min(PIECE_WINDOWS, windows), CONTEXT + WINDOW), dtype=np.float32)  # reused by every piece
    for first in range(0, windows, PIECE_WINDOWS):
        piece = buffer[: min(PIECE_WINDOWS, windows - first)]
        piece.fill(0)
        audio = samples[first * WINDOW : (first + piece.shape[0]) * WINDOW]
        full = audio.shape[0] // WINDOW
        piece[:full, CONTEXT:] = audio[: full * WINDOW].reshape(full, WINDOW)
        if full < piece.shape[0]:  # the padded end of the recording
            piece[full, CONTEXT : CONTEXT + audio.shape[0] - full * WINDOW] = audio[full * WINDOW :]
        if first + piece.shape[0] == windows:  # faster-whisper zeroes the end of the last window (a view's side effect)
            piece[-1, -CONTEXT:] = 0
        piece[1:, :CONTEXT] = piece[:-1, -CONTEXT:]
        if first > 0:
            piece[0, :CONTEXT] = samples[first * WINDOW - CONTEXT : first * WINDOW]
        output, h, c = session.run(None, {"input": piece, "h": h, "c": c})
        probabilities[first : first + piece.shape[0]] = np.asarray(output, dtype=np.float32).reshape(-1)
    return probabilities


def speech_spans(probabilities: np.ndarray, total_samples: int, settings: VadSettings) -> list[dict]:
    """Speech spans as ``{"start", "end"}`` sample indices, from window probabilities. Pure.

    A span opens at a window at or above the threshold and closes after ``min_silence_ms`` below the lower
    threshold; one about to pass ``max_speech_s`` is cut at its last pause of 98 ms or more (else where it is), and
    spans are padded by ``speech_pad_ms`` (half the gap each when two are closer than twice that).
    """
    ms = SAMPLE_RATE / 1000
    pad = settings.speech_pad_ms * ms
    max_speech = settings.max_speech_s * SAMPLE_RATE - WINDOW - 2 * pad
    spans: list[dict] = []
    start: int | None = None  # the open span's start
    silence_from = 0  # where the current run of silence began inside the open span (0: none)
    pause_end = 0  # the end of the last pause long enough to cut at
    resume_at = 0  # where speech resumed after that pause

    for i, probability in enumerate(probabilities):
        at = WINDOW * i
        speech = probability >= settings.threshold
        if speech and silence_from:
            silence_from = 0
            if resume_at < pause_end:
                resume_at = at
        if start is None:
            if speech:
                start = at
            continue
        if at - start > max_speech:
            if pause_end:
                spans.append({"start": start, "end": pause_end})
                start = resume_at if resume_at >= pause_end else None
            else:
                spans.append({"start": start, "end": at})
                start = None
            pause_end = resume_at = silence_from = 0
            if start is None:
                continue
        if probability < settings.neg_threshold:
            silence_from = silence_from or at
            if at - silence_from > 98 * ms:
                pause_end = silence_from
            if at - silence_from >= settings.min_silence_ms * ms:
                if silence_from - start > settings.min_speech_ms * ms:
                    spans.append({"start": start, "end": silence_from})
                start = None
                pause_end = resume_at = silence_from = 0
    if start is not None and total_samples - start > settings.min_speech_ms * ms:
        spans.append({"start": start, "end": total_samples})
    return _padded(spans, total_samples, pad)


def _padded(spans: list[dict], total_samples: int, pad: float) -> list[dict]:
    for i, span in enumerate(spans):
        if i == 0:
            span["start"] = int(max(0, span["start"] - pad))
        if i == len(spans) - 1:
            span["end"] = int(min(total_samples, span["end"] + pad))
            continue
        following = spans[i + 1]
        gap = following["start"] - span["end"]
        if gap < 2 * pad:  # closer than two paddings: meet in the middle
            span["end"] += int(gap // 2)
            following["start"] = int(max(0, following["start"] - gap // 2))
        else:
            span["end"] = int(min(total_samples, span["end"] + pad))
            following["start"] = int(max(0, following["start"] - pad))
    return spans


def speech_chunks(samples: np.ndarray, settings: VadSettings = VadSettings()) -> list[dict]:
    """Where the speech is in 16 kHz mono samples, as ``{"start", "end"}`` sample indices."""
    return speech_spans(speech_probabilities(samples), samples.shape[0], settings)


def time_map(chunks: list[dict]):
    """Times (s) on ``chunks`` played one after the other, back onto the recording: ``get_chunk_index(t)`` and
    ``get_original_time(t, chunk_index=None, is_end=False)``, millisecond precision (faster-whisper's own map)."""
    from faster_whisper.vad import SpeechTimestampsMap

    return SpeechTimestampsMap(chunks, SAMPLE_RATE, time_precision=3)
