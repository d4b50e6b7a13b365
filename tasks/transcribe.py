"""Speech to text with faster-whisper (CTranslate2). The only module that imports faster_whisper.

``transcribe_audio`` loads the model once per process, decodes the audio, keeps only speech (Silero VAD,
packaged with faster-whisper, offline), and returns a typed :class:`~tasks.models.Transcript` with word
timestamps. Library errors become :class:`~tasks.errors.TranscriptionError` with a one-line message.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.errors import TranscriptionError
from tasks.models import Segment, Transcript, Word
from tasks.whisper_model import resolve_model

if TYPE_CHECKING:  # the import costs a second; do it when a transcription is asked for
    from faster_whisper import WhisperModel

ENGINE = "faster-whisper"
SAMPLE_RATE = 16_000  # Hz, what Whisper expects
BEAM_SIZE = 5
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


def pick_device(device: str) -> str:
    """ "auto" → "cuda" when CTranslate2 sees a CUDA device, else "cpu"."""
    if device != "auto":
        return device
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


def _decode(audio: Path):
    """The audio as 16 kHz mono float32 samples."""
    from faster_whisper import decode_audio

    if not audio.is_file():
        raise TranscriptionError(f"cannot transcribe {audio}: no such file; check the path")
    if audio.stat().st_size == 0:
        raise TranscriptionError(f"cannot transcribe {audio}: the file is empty (0 bytes); give the recording again")
    try:
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


def _words(raw: Iterable | None, seg_start: float, seg_end: float) -> tuple[Word, ...]:
    """Words with times clamped inside their segment and never going back in time."""
    words: list[Word] = []
    last = seg_start
    for w in raw or ():
        if not w.word.strip():
            continue
        start = min(max(float(w.start), last), seg_end)
        end = min(max(float(w.end), start), seg_end)
        words.append(Word(start=round(start, 3), end=round(end, 3), text=w.word, probability=float(w.probability)))
        last = start
    return tuple(words)


def transcribe_audio(
    audio: Path,
    *,
    model: str = "base",
    cache_dir: Path,
    language: str = "auto",
    device: str = "auto",
    compute_type: str = "auto",
    threads: int = 0,
    on_progress: Callable[[float], None] | None = None,
) -> Transcript:
    """Transcribe one recording offline with faster-whisper.

    ``language`` "auto" detects the language (its probability is recorded); a code forces it. ``on_progress``
    receives the fraction of the audio done (0..1) after each segment. Raises TranscriptionError.
    """
    audio = Path(audio)
    forced = _check_language(language)
    whisper = load_model(model, cache_dir=cache_dir, device=device, compute_type=compute_type, threads=threads)
    samples = _decode(audio)
    duration = samples.shape[0] / SAMPLE_RATE

    segments: list[Segment] = []
    try:
        raw_segments, info = whisper.transcribe(
            samples,
            language=forced,
            task="transcribe",
            beam_size=BEAM_SIZE,
            temperature=list(TEMPERATURES),
            condition_on_previous_text=False,  # a mistake does not feed the next window: fewer loops
            word_timestamps=True,
            vad_filter=True,
        )
        for raw in raw_segments:  # lazy: decoding happens while iterating
            if on_progress is not None:
                on_progress(min(1.0, max(0.0, float(raw.end) / duration)))
            text = raw.text.strip()
            if not text or is_silence_hallucination(text):
                continue
            start, end = float(raw.start), max(float(raw.end), float(raw.start))
            segments.append(
                Segment(
                    start=round(start, 3),
                    end=round(end, 3),
                    text=raw.text,
                    words=_words(raw.words, start, end),
                )
            )
    except TranscriptionError:
        raise
    except (RuntimeError, ValueError, MemoryError) as exc:
        raise TranscriptionError(
            f"Whisper failed on {audio}: {_one_line(exc)}; try again with --language set, or another model"
        ) from None
    if on_progress is not None:
        on_progress(1.0)

    if forced is not None:
        detected, probability = info.language, None
    elif info.duration_after_vad <= 0:
        # No speech at all: the language "detected" on nothing is noise.
        detected, probability = UNDETERMINED, 0.0
    else:
        detected, probability = info.language, float(info.language_probability)
    return Transcript(
        language=detected,
        language_probability=probability,
        duration_s=round(duration, 3),
        segments=tuple(segments),
        engine=ENGINE,
        model=model,
    )
