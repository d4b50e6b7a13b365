"""Speech to text: one function, ``transcribe_audio``, over the Whisper engines, and what an operator is told.

``transcribe_audio`` decodes the audio, keeps only speech (:mod:`.vad`: Silero VAD, packaged with faster-whisper,
offline, the same for both engines), hands the speech to the chosen engine in blocks of at most ``BLOCK_S``
seconds (so that what a transcription holds beyond the audio itself stays flat however long the recording), maps
the times back onto the recording, and returns a typed :class:`~confcast.tasks.models.Transcript` with word
timestamps.

Engines implement :mod:`.engine`'s contract, one module each: :mod:`.faster_whisper_engine` (CTranslate2; the
default) and :mod:`.openai_whisper_engine` (the reference, PyTorch). :func:`load_engine` picks one by name from
``ENGINE_LOADERS``; a new engine is a new module and one line there (and its name among the values of
``whisper_engine`` in :mod:`confcast.config.settings`). No Whisper library is imported here: the engine modules
import theirs inside functions, so importing this module stays cheap (the audio decoder and the list of language
codes, faster-whisper's, come through :mod:`.faster_whisper_engine`). Each model is loaded once per process.
Library errors become :class:`~confcast.tasks.errors.TranscriptionError` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from confcast.tasks.errors import TranscriptionError
from confcast.tasks.markdown import escape_markdown
from confcast.tasks.models import Segment, Transcript, Word
from confcast.tasks.transcription import faster_whisper_engine, openai_whisper_engine, vad
from confcast.tasks.transcription.engine import (
    DECODING,
    SAMPLE_RATE,
    TASKS,
    TEMPERATURES,
    Decoding,
    Engine,
    RawSegment,
    RawWord,
    one_line,
)

# Engine name -> its loader, ``load_engine(model, *, cache_dir, device, compute_type, threads) -> Engine``.
ENGINE_LOADERS: dict[str, Callable[..., Engine]] = {
    faster_whisper_engine.NAME: faster_whisper_engine.load_engine,
    openai_whisper_engine.NAME: openai_whisper_engine.load_engine,
}
ENGINES = tuple(ENGINE_LOADERS)
ENGINE = faster_whisper_engine.NAME  # the default

# Seconds of speech handed to an engine at once: the engines compute features for all they are given, so this
# bounds the memory beyond the audio itself. Blocks end between VAD speech chunks, never inside speech.
BLOCK_S = 120.0
UNDETERMINED = "und"  # ISO 639-2 code reported when language is "auto" and the audio holds no speech

# Sentences Whisper invents on silence or music (learnt from subtitled videos). A segment is dropped when its
# whole text, lower-cased with punctuation and spacing normalised, matches one of these.
SILENCE_HALLUCINATIONS = (
    r"sous-titres réalisés par .*",
    r"sous-titrage st' ?501",
    r"sous-titrage société radio-canada",
    r"merci d'avoir regardé( cette vidéo)?",
    r"thanks? (you )?for watching",
)
_HALLUCINATION_RE = re.compile("|".join(f"(?:{p})" for p in SILENCE_HALLUCINATIONS))


def is_silence_hallucination(text: str) -> bool:
    """Whether a whole segment's text is one of the known sentences Whisper invents on silence."""
    norm = unicodedata.normalize("NFC", text).lower().replace("’", "'")
    norm = re.sub(r"[^\w' -]+", " ", norm)  # drop punctuation such as . ! … « »
    norm = " ".join(norm.split())
    return bool(norm) and _HALLUCINATION_RE.fullmatch(norm) is not None


def check_engine(engine: str) -> str:
    if engine not in ENGINE_LOADERS:
        raise TranscriptionError(f"unknown Whisper engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return engine


def _check_language(language: str) -> str | None:
    """None for "auto", else the code in lower case, if Whisper knows it."""
    if language == "auto":
        return None
    code = language.strip().lower()
    known = faster_whisper_engine.language_codes()
    if known is not None and code not in known:
        raise TranscriptionError(
            f"Whisper does not know the language {language!r}; give an ISO 639-1 code such as fr or en, or auto"
        )
    return code


def _read_speech_wav(path: Path) -> np.ndarray | None:
    """A 16 kHz mono 16-bit WAV (what the flow extracts for Whisper) read directly, in pieces: no decoder
    buffers beside the samples. None for any other file."""
    import wave

    try:
        fh = wave.open(str(path), "rb")
    except (wave.Error, EOFError, OSError):
        return None
    with fh:
        if (fh.getframerate(), fh.getnchannels(), fh.getsampwidth()) != (SAMPLE_RATE, 1, 2):
            return None
        samples = np.empty(fh.getnframes(), dtype=np.float32)
        done = 0
        while done < samples.size:
            chunk = np.frombuffer(fh.readframes(SAMPLE_RATE * 60), dtype="<i2")
            if chunk.size == 0:
                break
            samples[done : done + chunk.size] = chunk / 32768.0  # faster-whisper's own scaling
            done += chunk.size
    return samples[:done]


def _decode(audio: Path):
    """The audio as 16 kHz mono float32 samples."""
    if not audio.is_file():
        raise TranscriptionError(f"cannot transcribe {audio}: no such file; check the path")
    if audio.stat().st_size == 0:
        raise TranscriptionError(f"cannot transcribe {audio}: the file is empty (0 bytes); give the recording again")
    try:
        samples = _read_speech_wav(audio)
        if samples is None:
            samples = faster_whisper_engine.decode_audio(audio)
    except Exception as exc:  # PyAV raises its own FFmpegError family, and IndexError when there is no audio
        raise TranscriptionError(
            f"cannot decode the audio of {audio}: {one_line(exc)}; "
            f"give a media file with an audio track (ffprobe shows what it holds)"
        ) from None
    if samples.size == 0:
        raise TranscriptionError(
            f"cannot transcribe {audio}: it holds no audio samples; give a recording with sound in it"
        )
    return samples


def load_engine(
    engine: str, model: str, *, cache_dir: Path, device: str, compute_type: str, threads: int
) -> Engine:
    """The engine with its model loaded (once per process for the same settings). ``device`` "auto" and
    ``threads`` 0 are resolved by the engine, ``compute_type`` "auto" too (each library has its own)."""
    loader = ENGINE_LOADERS[check_engine(engine)]
    return loader(model, cache_dir=cache_dir, device=device, compute_type=compute_type, threads=threads)


# --- speech only, in blocks -----------------------------------------------------------------------------------


def speech_chunks(samples: np.ndarray, options: vad.VadSettings | None = None) -> list[dict]:
    """Where the speech is, as ``{"start", "end"}`` sample indices (Silero VAD with faster-whisper's defaults unless
    ``options`` say otherwise, run piece by piece so that its memory does not grow with the recording; chunks no
    longer than a block)."""
    return vad.speech_chunks(samples, dataclasses.replace(options or vad.VadSettings(), max_speech_s=BLOCK_S))


def group_blocks(chunks: Sequence[dict], block_samples: int) -> list[list[dict]]:
    """Consecutive speech chunks grouped so that each group holds at most ``block_samples`` (a longer chunk
    stands alone). Pure."""
    blocks: list[list[dict]] = []
    size = 0
    for chunk in chunks:
        length = chunk["end"] - chunk["start"]
        if blocks and size + length <= block_samples:
            blocks[-1].append(chunk)
            size += length
        else:
            blocks.append([chunk])
            size = length
    return blocks


def _restore(raw: RawSegment, chunks: list[dict]) -> tuple[float, float, list[RawWord]]:
    """A segment's times on the recording, from times on the block's concatenated speech."""
    times = vad.time_map(chunks)
    if raw.words:
        words = []
        for w in raw.words:
            index = times.get_chunk_index((w.start + w.end) / 2)  # both ends in the same chunk
            start = times.get_original_time(w.start, index)
            end = times.get_original_time(w.end, index)
            words.append(RawWord(start, end, w.text, w.probability))
        return words[0].start, words[-1].end, words
    return times.get_original_time(raw.start), times.get_original_time(raw.end, is_end=True), []


def _words(raw: Iterable[RawWord], seg_start: float, seg_end: float) -> tuple[Word, ...]:
    """Words with times clamped inside their segment and never going back in time."""
    words: list[Word] = []
    last = seg_start
    for w in raw:
        if not w.text.strip():
            continue
        start = min(max(float(w.start), last), seg_end)
        end = min(max(float(w.end), start), seg_end)
        words.append(Word(start=round(start, 3), end=round(end, 3), text=w.text, probability=float(w.probability)))
        last = start
    return tuple(words)


def transcribe_audio(
    audio: Path,
    *,
    engine: str = ENGINE,
    model: str = "base",
    cache_dir: Path,
    language: str = "auto",
    task: Literal["transcribe", "translate"] = "transcribe",
    device: str = "auto",
    compute_type: str = "auto",
    threads: int = 0,
    temperatures: Sequence[float] = TEMPERATURES,
    prompt: str | None = None,
    decoding: Decoding = DECODING,
    vad_options: vad.VadSettings | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Transcript:
    """Transcribe one recording offline with faster-whisper or openai-whisper.

    ``language`` "auto" detects the language (its probability is recorded); a code forces it. ``task``
    "translate" writes English whatever the spoken language (the transcript's language is then "en").
    ``prompt`` (words the talk is likely to use: see `vocabulary_prompt`) steers every 30 s window of both engines.
    ``decoding`` (beam, batching) and ``vad_options`` (thresholds) keep their measured defaults unless given.
    ``on_progress`` receives the fraction of the audio done (0..1) after each segment. Raises TranscriptionError.
    """
    audio = Path(audio)
    check_engine(engine)
    if task not in TASKS:
        raise TranscriptionError(f"unknown Whisper task {task!r}; choose transcribe or translate")
    forced = _check_language(language)
    whisper = load_engine(
        engine, model, cache_dir=cache_dir, device=device, compute_type=compute_type, threads=threads
    )
    samples = _decode(audio)
    duration = samples.shape[0] / SAMPLE_RATE

    detected, probability = forced, None
    segments: list[Segment] = []
    try:
        blocks = group_blocks(speech_chunks(samples, vad_options), int(BLOCK_S * SAMPLE_RATE))
        for chunks in blocks:
            speech = np.concatenate([samples[c["start"] : c["end"]] for c in chunks])
            decoded = whisper.decode(
                speech, language=detected, task=task, temperatures=temperatures, prompt=prompt, decoding=decoding
            )
            del speech  # the engine holds what it needs; keep one block alive at a time
            if detected is None:  # detected on the first block, then kept for the rest
                detected, probability = decoded.language, decoded.probability
            for raw in decoded.segments:
                text = raw.text.strip()
                start, end, words = _restore(raw, chunks)
                if on_progress is not None:
                    on_progress(min(1.0, max(0.0, end / duration)))
                if not text or is_silence_hallucination(text):
                    continue
                end = max(end, start)
                segments.append(
                    Segment(start=round(start, 3), end=round(end, 3), text=raw.text, words=_words(words, start, end))
                )
    except TranscriptionError:
        raise
    except (RuntimeError, ValueError, MemoryError) as exc:
        raise TranscriptionError(
            f"Whisper ({engine}) failed on {audio}: {one_line(exc)}; try again with --language set, or another "
            f"model"
        ) from None
    if on_progress is not None:
        on_progress(1.0)

    if detected is None:  # no speech at all: the language "detected" on nothing would be noise
        detected, probability = UNDETERMINED, 0.0
    if task == "translate":  # the probability was the spoken language's
        detected, probability = "en", None
    return Transcript(
        language=detected,
        language_probability=probability,
        duration_s=round(duration, 3),
        segments=tuple(segments),
        engine=engine,
        model=model,
    )


# --- what an operator should know --------------------------------------------------------------------------------

# Below this, a detected language is worth a look: Whisper base is usually above 0.9 on clear speech, and a wrong
# language gives a transcript in the wrong language (or a translation).
LOW_LANGUAGE_PROBABILITY = 0.8


def language_warning(transcript: Transcript) -> str | None:
    """One line for the operator when the detected language may be wrong; None when forced or confident."""
    probability = transcript.language_probability
    if probability is None:
        return None
    if transcript.language == UNDETERMINED:
        return "no speech was recognised, so no language was detected; check the recording's audio track"
    if probability < LOW_LANGUAGE_PROBABILITY:
        return (
            f"language detected as {transcript.language} with low confidence ({probability:.0%}); if that is wrong, "
            f"publish again with --language set"
        )
    return None


def summary_markdown(
    transcript: Transcript, translation: Transcript | None, page_url: str, notes: Sequence[str] = ()
) -> str:
    """The run summary (a Prefect markdown artifact): what Whisper heard, with a flag on a doubtful language, and
    `notes` for the operator to check (quiet speech levelled: tasks.media.levelling.passage_line)."""
    text = escape_markdown  # what Whisper or the settings said is text in Markdown, never markup
    if transcript.language_probability is None:
        language = f"{text(transcript.language)} (forced)"
    else:
        language = f"{text(transcript.language)} (detected, probability {transcript.language_probability:.2f})"
    words = sum(len(s.words) for s in transcript.segments)
    page = f"<{page_url}>" if not set("<> |") & set(page_url) else text(page_url)
    rows = [
        ("Page", page),
        ("Engine", f"{text(transcript.engine)}, model {text(transcript.model)}"),
        ("Language", language),
        ("Speech", f"{len(transcript.segments)} segments, {words} words, {transcript.duration_s:.0f} s of audio"),
    ]
    if translation is not None:
        translated = f"{text(translation.language)}, machine-translated, {len(translation.segments)} segments"
        rows.append(("Translation", translated))
    lines = ["# Publish summary", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    warning = language_warning(transcript)
    if warning:
        lines += ["", f"> **Warning:** {text(warning)}"]
    if notes:
        lines += ["", "To check:", ""] + [f"- {text(note)}" for note in notes]
    return "\n".join(lines) + "\n"
