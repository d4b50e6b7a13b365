"""Speech to text with two Whisper engines behind one function. The only module that imports faster_whisper.

``transcribe_audio`` decodes the audio, keeps only speech (Silero VAD, packaged with faster-whisper, offline, the
same for both engines), hands the speech to the chosen engine in blocks of at most ``BLOCK_S`` seconds (so that
what a transcription holds beyond the audio itself stays flat however long the recording), maps the times back
onto the recording, and returns a typed :class:`~tasks.models.Transcript` with word timestamps.

Engines: ``faster-whisper`` (CTranslate2; int8 on CPU, float16 on CUDA) here, and ``openai-whisper`` (the
reference, PyTorch) in :mod:`tasks.whisper_reference`. Each model is loaded once per process. Library errors
become :class:`~tasks.errors.TranscriptionError` with a one-line message.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from confcast.tasks.transcription import vad
from confcast.tasks.errors import TranscriptionError
from confcast.tasks.models import Segment, Transcript, Word
from confcast.tasks.transcription.model_lookup import resolve_model

if TYPE_CHECKING:  # the import costs a second; do it when a transcription is asked for
    from faster_whisper import WhisperModel

ENGINE = "faster-whisper"
ENGINES = ("faster-whisper", "openai-whisper")
TASKS = ("transcribe", "translate")  # Whisper's translate task always writes English
SAMPLE_RATE = 16_000  # Hz, what Whisper expects
BEAM_SIZE = 5
BEST_OF = 5  # candidates sampled at a temperature above 0
# Seconds of speech handed to an engine at once: the engines compute features for all they are given, so this
# bounds the memory beyond the audio itself. Blocks end between VAD speech chunks, never inside speech.
BLOCK_S = 120.0
# Whisper's default fallback: decode again at a higher temperature when the output looks like a loop.
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
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


def pick_device(device: str, engine: str = ENGINE) -> str:
    """ "auto" → "cuda" when the engine's library sees a CUDA device, else "cpu"."""
    if device != "auto":
        return device
    if engine == "openai-whisper":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def pick_threads(threads: int) -> int:
    """0 → one thread per CPU core this process may use (CTranslate2's own default, 4, oversubscribes small hosts)."""
    if threads > 0:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def pick_compute_type(compute_type: str, device: str) -> str:
    """ "auto" → int8 on CPU (fast, same accuracy), float16 on CUDA."""
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


@functools.lru_cache(maxsize=4)
def _load_model(path: str, device: str, compute_type: str, threads: int) -> WhisperModel:
    """One WhisperModel per (folder, device, compute type, threads) for the life of the process."""
    from faster_whisper import WhisperModel

    return WhisperModel(
        path, device=device, compute_type=compute_type, cpu_threads=threads, local_files_only=True
    )


def load_model(
    model: str = "base", *, cache_dir: Path, device: str = "auto", compute_type: str = "auto", threads: int = 0
) -> WhisperModel:
    """The (cached) faster-whisper model for these settings; errors become TranscriptionError."""
    folder = resolve_model(model, cache_dir)
    device = pick_device(device)
    compute_type = pick_compute_type(compute_type, device)
    try:
        return _load_model(str(folder), device, compute_type, pick_threads(int(threads)))
    except (RuntimeError, ValueError, OSError) as exc:
        raise TranscriptionError(
            f"cannot load Whisper model {model!r} from {folder} on {device} ({compute_type}): {_one_line(exc)}; "
            f"check the model folder, or choose another device or compute type (cpu with int8 always works)"
        ) from None


def _one_line(exc: BaseException) -> str:
    text = re.sub(r"^\[Errno -?\d+\] ", "", " ".join(str(exc).split())) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise TranscriptionError(f"unknown Whisper engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return engine


def _check_language(language: str) -> str | None:
    """None for "auto", else the code in lower case, if Whisper knows it."""
    if language == "auto":
        return None
    from faster_whisper import tokenizer

    code = language.strip().lower()
    known = getattr(tokenizer, "_LANGUAGE_CODES", None)
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
    from faster_whisper import decode_audio

    if not audio.is_file():
        raise TranscriptionError(f"cannot transcribe {audio}: no such file; check the path")
    if audio.stat().st_size == 0:
        raise TranscriptionError(f"cannot transcribe {audio}: the file is empty (0 bytes); give the recording again")
    try:
        samples = _read_speech_wav(audio)
        if samples is None:
            samples = decode_audio(str(audio), sampling_rate=SAMPLE_RATE)
    except Exception as exc:  # PyAV raises its own FFmpegError family, and IndexError when there is no audio
        raise TranscriptionError(
            f"cannot decode the audio of {audio}: {_one_line(exc)}; "
            f"give a media file with an audio track (ffprobe shows what it holds)"
        ) from None
    if samples.size == 0:
        raise TranscriptionError(
            f"cannot transcribe {audio}: it holds no audio samples; give a recording with sound in it"
        )
    return samples


# --- what an engine gives back (times in seconds from the start of the block it was handed) -----------------


@dataclass(frozen=True)
class RawWord:
    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class RawSegment:
    start: float
    end: float
    text: str
    words: tuple[RawWord, ...]


@dataclass(frozen=True)
class Decoded:
    """An engine's answer for one block: the language (detected when none was given) and its segments, lazily."""

    language: str
    probability: float | None  # None when the language was given
    segments: Iterator[RawSegment]


class Engine(Protocol):
    name: str

    def decode(
        self, samples: np.ndarray, *, language: str | None, task: str, temperatures: Sequence[float]
    ) -> Decoded: ...


def decode_options(temperatures: Sequence[float]) -> dict:
    """The decoding options both engines get, so that they decode the same way."""
    return {
        "beam_size": BEAM_SIZE,
        "best_of": BEST_OF,
        "temperature": tuple(temperatures),
        "condition_on_previous_text": False,  # a mistake does not feed the next window: fewer loops
        "word_timestamps": True,
    }


@dataclass(frozen=True)
class FasterWhisper:
    model: WhisperModel
    name: str = "faster-whisper"

    def decode(
        self, samples: np.ndarray, *, language: str | None, task: str, temperatures: Sequence[float]
    ) -> Decoded:
        options = decode_options(temperatures)
        options["temperature"] = list(options["temperature"])
        raw_segments, info = self.model.transcribe(
            samples, language=language, task=task, vad_filter=False, **options  # the VAD ran already
        )
        segments = (
            RawSegment(
                float(s.start),
                float(s.end),
                s.text,
                tuple(RawWord(float(w.start), float(w.end), w.word, float(w.probability)) for w in s.words or ()),
            )
            for s in raw_segments  # lazy: decoding happens while iterating
        )
        probability = None if language is not None else float(info.language_probability)
        return Decoded(info.language, probability, segments)


def load_engine(
    engine: str, model: str, *, cache_dir: Path, device: str, compute_type: str, threads: int
) -> Engine:
    """The engine with its model loaded (once per process for the same settings)."""
    if check_engine(engine) == "openai-whisper":
        from confcast.tasks.transcription import openai_whisper_engine as whisper_reference

        return whisper_reference.load_engine(
            model, cache_dir=cache_dir, device=pick_device(device, engine), compute_type=compute_type,
            threads=pick_threads(int(threads)),
        )
    return FasterWhisper(
        load_model(model, cache_dir=cache_dir, device=device, compute_type=compute_type, threads=threads)
    )


# --- speech only, in blocks -----------------------------------------------------------------------------------


def speech_chunks(samples: np.ndarray) -> list[dict]:
    """Where the speech is, as ``{"start", "end"}`` sample indices (Silero VAD with faster-whisper's defaults, run
    piece by piece so that its memory does not grow with the recording; chunks no longer than a block)."""
    return vad.speech_chunks(samples, vad.VadSettings(max_speech_s=BLOCK_S))


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
    from faster_whisper.vad import SpeechTimestampsMap

    times = SpeechTimestampsMap(chunks, SAMPLE_RATE, time_precision=3)
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
    on_progress: Callable[[float], None] | None = None,
) -> Transcript:
    """Transcribe one recording offline with faster-whisper or openai-whisper.

    ``language`` "auto" detects the language (its probability is recorded); a code forces it. ``task``
    "translate" writes English whatever the spoken language (the transcript's language is then "en").
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
        blocks = group_blocks(speech_chunks(samples), int(BLOCK_S * SAMPLE_RATE))
        for chunks in blocks:
            speech = np.concatenate([samples[c["start"] : c["end"]] for c in chunks])
            decoded = whisper.decode(speech, language=detected, task=task, temperatures=temperatures)
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
            f"Whisper ({engine}) failed on {audio}: {_one_line(exc)}; try again with --language set, or another "
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


def summary_markdown(transcript: Transcript, translation: Transcript | None, page_url: str) -> str:
    """The run summary (a Prefect markdown artifact): what Whisper heard, with a flag on a doubtful language."""
    if transcript.language_probability is None:
        language = f"{transcript.language} (forced)"
    else:
        language = f"{transcript.language} (detected, probability {transcript.language_probability:.2f})"
    words = sum(len(s.words) for s in transcript.segments)
    rows = [
        ("Page", f"<{page_url}>"),
        ("Engine", f"{transcript.engine}, model {transcript.model}"),
        ("Language", language),
        ("Speech", f"{len(transcript.segments)} segments, {words} words, {transcript.duration_s:.0f} s of audio"),
    ]
    if translation is not None:
        translated = f"{translation.language}, machine-translated, {len(translation.segments)} segments"
        rows.append(("Translation", translated))
    lines = ["# Publish summary", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in rows]
    warning = language_warning(transcript)
    if warning:
        lines += ["", f"> **Warning:** {warning}"]
    return "\n".join(lines) + "\n"
