"""Word times for reviewed captions: the corrected text aligned on the recording (forced alignment).

A reviewed cue has the right words and a time span, but no word times, and the page's highlighting, the search
links and the review editor work word by word. So the cues are handed to Whisper a window at a time (at most its
30 s), as audio plus the known text, and the cross-attention between the two (what Whisper's own word timestamps
are made of: CTranslate2's ``Whisper.align``, see :func:`faster_whisper_engine.align_words`) says where each word
is. The pauses are cut out of the audio first with the VAD, as the transcription cuts them: cross-attention
alignment stretches the word after a pause back over the pause. Times are then mapped back onto the recording and
kept inside their cue. A cue whose alignment fails, or lands outside the cue, gets its words spread over its time
in proportion to their length, and is named in the result.

The pure parts (windows, the speech pieces, mapping times back, punctuation, fitting words to a cue) are tested
exactly; :func:`align_cues` runs them with the model, :func:`recording_samples` decodes the audio with ffmpeg.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from confcast.config.settings import Settings
from confcast.tasks.errors import ConfcastError, TranscriptionError
from confcast.tasks.media import ffmpeg
from confcast.tasks.models import Segment, Word
from confcast.tasks.transcription import faster_whisper_engine, vad
from confcast.tasks.transcription.captions import Cue, spread_words
from confcast.tasks.transcription.engine import SAMPLE_RATE, RawWord

WINDOW_S = 30.0  # Whisper's window: the most audio one alignment sees
MARGIN_S = 0.5  # audio kept before a window's first cue and after its last: words spoken a little off their cue
# Pauses cut out before alignment: shorter than the transcription's (2 s), since a window is aligned as one text;
# a little padding keeps the edges of words.
CUT = vad.VadSettings(min_silence_ms=300, speech_pad_ms=100)
OUTSIDE_SLACK_S = 1.0  # a word aligned this far outside its cue is misplaced
MISPLACED_SHARE = 0.5  # more than this share of a cue's words misplaced: the cue's alignment failed
PODCAST_FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"  # what ffprobe calls the published audio (AAC in M4A)

# (16 kHz mono samples, language, texts) -> each text's words with times from the start of the samples
Aligner = Callable[[np.ndarray, str, Sequence[str]], list[tuple[RawWord, ...]]]


@dataclass(frozen=True)
class AlignmentModel:
    """Which Whisper weights align, found as the transcription finds them (packaged ``base``, offline)."""

    model: str
    cache_dir: Path
    device: str = "auto"
    compute_type: str = "auto"
    threads: int = 0

    def load(self) -> Aligner:
        """The aligner with its model loaded (once per process); TranscriptionError when the model cannot be."""
        whisper = faster_whisper_engine.load_model(
            self.model,
            cache_dir=self.cache_dir,
            device=self.device,
            compute_type=self.compute_type,
            threads=self.threads,
        )
        return functools.partial(faster_whisper_engine.align_words, whisper)


def alignment_model(settings: Settings) -> AlignmentModel:
    """The weights the settings transcribe with (always through faster-whisper: only CTranslate2 aligns here)."""
    return AlignmentModel(
        model=settings.whisper_model,
        cache_dir=settings.work_path,
        device=settings.whisper_device,
        compute_type=settings.whisper_compute_type,
        threads=settings.whisper_threads,
    )


@dataclass(frozen=True)
class AlignedCues:
    """The words of each cue, with times on the recording, and which cues had theirs spread instead."""

    words: tuple[tuple[Word, ...], ...]  # one tuple per cue, in cue order
    spread: tuple[int, ...]  # indexes of the cues whose words were spread over the cue (alignment failed)
    seconds: float = 0.0  # time the alignment took
    why: str = ""  # why alignment failed, when it failed for every cue

    def segments(self, cues: Sequence[Cue]) -> tuple[Segment, ...]:
        return tuple(
            Segment(start=cue.start, end=cue.end, text=cue.text, words=words, speaker=cue.speaker)
            for cue, words in zip(cues, self.words, strict=True)
        )

    def note(self, cues: Sequence[Cue], model: str) -> str:
        """One line for the transcript JSON and the log: how the word times were made."""
        if len(self.spread) == len(cues):
            return f"words spread evenly over each cue: no forced alignment ({self.why or 'not asked for'})"
        text = f"forced alignment on the recording with Whisper {model}"
        if self.spread:
            lines = ", ".join(str(cues[i].line) for i in self.spread[:10]) + (", ..." if len(self.spread) > 10 else "")
            text += f"; words spread evenly in {len(self.spread)} cue(s) where it failed (lines {lines})"
        return text


def spread_all(cues: Sequence[Cue], why: str) -> AlignedCues:
    """Every cue's words spread over it: no audio, no model or an unknown language."""
    return AlignedCues(
        words=tuple(_spread(cue) for cue in cues), spread=tuple(range(len(cues))), why=" ".join(why.split())
    )


def _spread(cue: Cue) -> tuple[Word, ...]:
    return spread_words(Segment(start=cue.start, end=cue.end, text=cue.text))


# --- pure parts ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: float  # seconds on the recording
    end: float
    first: int  # the window's cues: cues[first:stop]
    stop: int


def cue_windows(cues: Sequence[Cue], duration_s: float, window_s: float = WINDOW_S) -> list[Window]:
    """Runs of consecutive cues whose audio (with ``MARGIN_S`` on each side) fits one Whisper window. A cue longer
    than a window gets one of its own, longer than Whisper takes: only its speech is handed over, which may fit."""
    windows: list[Window] = []
    i = 0
    while i < len(cues):
        start = max(0.0, cues[i].start - MARGIN_S)
        stop = i + 1
        while stop < len(cues) and min(duration_s, cues[stop].end + MARGIN_S) - start <= window_s:
            stop += 1
        end = min(duration_s, max(cue.end for cue in cues[i:stop]) + MARGIN_S)
        windows.append(Window(start=start, end=max(end, start), first=i, stop=stop))
        i = stop
    return windows


def speech_pieces(spans: Sequence[dict]) -> list[tuple[int, int]]:
    """The VAD's speech spans (sample indices in the window) as (start, end) pairs, empty ones left out."""
    return [(int(span["start"]), int(span["end"])) for span in spans if int(span["end"]) > int(span["start"])]


def to_recording(words: Sequence[RawWord], pieces: Sequence[tuple[int, int]], offset_s: float) -> list[RawWord]:
    """Words timed on the speech pieces played one after the other, timed on the recording instead (the window
    starting at ``offset_s``). A word across two pieces keeps the piece holding more of it, and stays inside it."""
    bounds = []  # (start on the concatenation, end on it, start on the window), seconds
    played = 0
    for start, end in pieces:
        bounds.append((played / SAMPLE_RATE, (played + end - start) / SAMPLE_RATE, start / SAMPLE_RATE))
        played += end - start
    if not bounds:
        return []
    out = []
    for word in words:
        best = max(bounds, key=lambda b: (min(word.end, b[1]) - max(word.start, b[0]), -abs(word.start - b[0])))
        a, b, at = best
        start = min(max(word.start, a), b)
        end = min(max(word.end, start), b)
        out.append(RawWord(offset_s + at + start - a, offset_s + at + end - a, word.text, word.probability))
    return out


_OPENING = "«(“‘[{¿¡\"'"


def merge_punctuation(words: Sequence[RawWord]) -> list[RawWord]:
    """Punctuation standing alone as a word (tokenizers split it off: "venus" + ".", French " ?") joined to its
    word: opening marks to the next word, the others to the one before, spaces kept as written; the word keeps its
    own times and probability."""
    out: list[RawWord] = []
    pending = ""  # opening marks waiting for their word, as written
    for word in words:
        mark = word.text.strip()
        if any(ch.isalnum() for ch in mark):
            out.append(RawWord(word.start, word.end, pending + word.text, word.probability))
            pending = ""
        elif mark[:1] in _OPENING or not out:  # (an empty mark is no word: kept for the spaces)
            pending += word.text
        else:
            last = out[-1]
            out[-1] = RawWord(last.start, max(last.end, word.end), last.text + word.text, last.probability)
    if pending:  # punctuation alone at the end of a cue: a word of its own
        out.append(RawWord(words[-1].start, words[-1].end, pending, 1.0))
    return out


def fit_to_cue(words: Sequence[RawWord], cue: Cue) -> tuple[Word, ...] | None:
    """The aligned words of a cue kept inside it, in order; None when they are not the cue's words or too many
    of them landed outside it (the alignment failed there)."""
    if " ".join("".join(w.text for w in words).split()) != " ".join(cue.text.split()):
        return None
    if not words:
        return ()
    outside = sum(
        1
        for w in words
        if (w.start + w.end) / 2 < cue.start - OUTSIDE_SLACK_S or (w.start + w.end) / 2 > cue.end + OUTSIDE_SLACK_S
    )
    if outside > MISPLACED_SHARE * len(words):
        return None
    fitted, last = [], cue.start
    for w in words:
        start = min(max(w.start, last, cue.start), cue.end)
        end = min(max(w.end, start), cue.end)
        fitted.append(Word(start=round(start, 3), end=round(end, 3), text=w.text, probability=round(w.probability, 4)))
        last = start
    return tuple(fitted)


# --- running ---------------------------------------------------------------------------------------------------------


def align_cues(
    cues: Sequence[Cue],
    samples: np.ndarray,
    language: str,
    aligner: Aligner,
    *,
    probabilities: Callable[[np.ndarray], np.ndarray] = vad.speech_probabilities,
) -> AlignedCues:
    """The words of every cue timed on ``samples`` (the recording, 16 kHz mono), window by window; a cue whose
    alignment fails has its words spread over it."""
    began = time.monotonic()
    words: list[tuple[Word, ...]] = [_spread(cue) for cue in cues]
    spread: set[int] = set(range(len(cues)))
    duration_s = samples.shape[0] / SAMPLE_RATE
    for window in cue_windows(cues, duration_s):
        window_cues = cues[window.first : window.stop]
        audio = samples[round(window.start * SAMPLE_RATE) : round(window.end * SAMPLE_RATE)]
        pieces = speech_pieces(vad.speech_spans(probabilities(audio), audio.shape[0], CUT)) if audio.size else []
        speech = np.concatenate([audio[a:b] for a, b in pieces]) if pieces else audio[:0]
        if speech.size == 0 or speech.shape[0] > WINDOW_S * SAMPLE_RATE:
            continue  # nothing heard, or more speech than Whisper takes at once: spread
        try:
            aligned = aligner(speech, language, [cue.text for cue in window_cues])
        except TranscriptionError:
            continue
        for index, (cue, cue_words) in enumerate(zip(window_cues, aligned, strict=True), start=window.first):
            fitted = fit_to_cue(merge_punctuation(to_recording(cue_words, pieces, window.start)), cue)
            if fitted is not None:
                words[index] = fitted
                spread.discard(index)
    return AlignedCues(words=tuple(words), spread=tuple(sorted(spread)), seconds=time.monotonic() - began)


def align_on_recording(
    cues: Sequence[Cue], audio: Path | None, language: str, model: AlignmentModel | None
) -> AlignedCues:
    """:func:`align_cues` on a recording's audio file with ``model``; every cue spread (and why) when there is no
    audio, no model, or the model or the audio cannot be loaded: a correction is published either way."""
    if model is None:
        return spread_all(cues, "no Whisper model given")
    if audio is None:
        return spread_all(cues, "the recording has no audio")
    known = faster_whisper_engine.language_codes()
    if known is not None and language not in known:
        return spread_all(cues, f"Whisper does not know the language {language!r}")
    try:
        aligner = model.load()
        samples = recording_samples(audio)
    except ConfcastError as error:
        return spread_all(cues, str(error))
    return align_cues(cues, samples, language, aligner)


def recording_samples(audio: Path) -> np.ndarray:
    """The published audio (AAC in M4A) as 16 kHz mono float32 samples, decoded by ffmpeg; TranscodeError when it
    cannot be."""
    with tempfile.TemporaryDirectory(prefix="confcast-align-") as folder:
        raw = Path(folder) / "speech.pcm"
        partial = ffmpeg.partial_path(raw)
        args = ffmpeg.compile_args(
            Path(audio).absolute(),
            partial,
            stream="a:0",
            recording_format=PODCAST_FORMAT,
            acodec="pcm_s16le",
            ac=1,
            ar=SAMPLE_RATE,
            f="s16le",
        )
        ffmpeg.make(args, partial, f"decoding {Path(audio).name} for alignment", final=raw)
        return np.fromfile(raw, dtype="<i2").astype(np.float32) / 32768.0  # Whisper's own scaling
