"""Whisper offline: the packaged weights, real speech, silence, noise and bad files. Nothing is mocked.

The base model (int8) runs at roughly ten times real time on two cores; the model is assembled and loaded once
for the module.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import typing
from pathlib import Path

import jiwer
import pytest

from confcast.config.settings import Settings
from confcast.tasks.demo.speech import fleurs_french
from confcast.tasks.errors import TranscriptionError
from confcast.tasks.models import Transcript
from confcast.tasks.transcription import transcribe as transcribe_module
from confcast.tasks.transcription.faster_whisper_engine import load_model
from confcast.tasks.transcription.model_lookup import packaged_base_dir, packaged_parts, resolve_model
from confcast.tasks.transcription.transcribe import (
    ENGINES,
    group_blocks,
    is_silence_hallucination,
    language_warning,
    summary_markdown,
    transcribe_audio,
)

pytestmark = pytest.mark.slow

LIBRIVOX = Path(__file__).parent / "fixtures" / "librivox"
CLIPS = sorted(LIBRIVOX.glob("*.wav"))

# Spoken by espeak-ng: chosen so that the base model decodes it at temperature 0 (deterministic).
FRENCH = (
    "Bonjour à tous. Merci d'être venus ce soir. Je vais vous parler de la musique et du cinéma. "
    "C'est un sujet très important pour nous. Bonne soirée à tous."
)
ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor"}


def normalise(text: str) -> str:
    """Lower case, punctuation (hyphens and apostrophes included) to spaces, accents kept."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(ABBREVIATIONS.get(w, w) for w in text.split())


def wer(references: list[str], hypotheses: list[str]) -> float:
    return jiwer.wer([normalise(r) for r in references], [normalise(h) for h in hypotheses])


def run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, timeout=60)


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def french(media: Path) -> Path:
    raw, wav = media / "fr-raw.wav", media / "fr.wav"
    run("espeak-ng", "-v", "fr", "-w", str(raw), FRENCH)
    run("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(raw), "-ar", "16000", "-ac", "1", str(wav))
    return wav


@pytest.fixture(scope="module")
def librivox(cache_dir: Path) -> list[tuple[Path, Transcript, list[float]]]:
    """Each clip transcribed once (language detected), with the progress values reported."""
    out = []
    for clip in CLIPS:
        progress: list[float] = []
        out.append((clip, transcribe_audio(clip, cache_dir=cache_dir, on_progress=progress.append), progress))
    return out


# --- weights ----------------------------------------------------------------------------------------------------


def test_packaged_base_is_assembled_once(cache_dir: Path) -> None:
    _, part1, part2 = packaged_parts()
    folder = packaged_base_dir(cache_dir)
    model = folder / "model.bin"
    assert folder.parent == cache_dir / "models"
    assert model.stat().st_size == part1.stat().st_size + part2.stat().st_size
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (folder / name).is_file()
    digest = hashlib.sha256(part1.read_bytes() + part2.read_bytes()).hexdigest()
    assert folder.name == f"faster-whisper-base-{digest[:16]}"
    with model.open("rb") as fh:  # the join is byte for byte: part1 then part2
        assert fh.read(64) == part1.read_bytes()[:64]
        fh.seek(part1.stat().st_size)
        assert fh.read(64) == part2.read_bytes()[:64]

    mtime = model.stat().st_mtime_ns
    assert packaged_base_dir(cache_dir) == folder
    assert resolve_model("base", cache_dir) == folder
    assert model.stat().st_mtime_ns == mtime  # reused, not rewritten
    assert [p.name for p in folder.parent.iterdir() if p.is_dir()] == [folder.name]  # no half-built leftovers


def test_incomplete_model_folder_is_rebuilt(tmp_path: Path, cache_dir: Path) -> None:
    good = packaged_base_dir(cache_dir)
    stale = tmp_path / "models" / good.name
    stale.mkdir(parents=True)
    (stale / "model.bin").write_bytes(b"half a model")
    rebuilt = packaged_base_dir(tmp_path)
    assert rebuilt == stale
    assert (rebuilt / "model.bin").stat().st_size == (good / "model.bin").stat().st_size
    assert (rebuilt / "tokenizer.json").is_file()


@pytest.mark.parametrize("name", ["large-v3", "large-v3-turbo", "small", "medium", "tiny"])
def test_unavailable_model_names_say_what_to_do(name: str, tmp_path: Path) -> None:
    with pytest.raises(TranscriptionError) as exc:
        resolve_model(name, tmp_path)
    message = one_line(exc)
    assert name in message and "offline" in message
    assert "model.bin" in message and "tokenizer.json" in message and "'base'" in message
    assert not (tmp_path / "models").exists()  # nothing fetched, nothing written


def test_missing_model_folder_says_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such-model"
    with pytest.raises(TranscriptionError) as exc:
        resolve_model(str(missing), tmp_path)
    message = one_line(exc)
    assert str(missing) in message and "offline" in message and "'base'" in message


def test_local_model_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"")
    with pytest.raises(TranscriptionError) as exc:
        resolve_model(str(folder), tmp_path)
    assert "tokenizer.json" in one_line(exc)
    (folder / "tokenizer.json").write_text("{}")
    assert resolve_model(str(folder), tmp_path) == folder


def test_model_is_loaded_once(cache_dir: Path) -> None:
    first = load_model("base", cache_dir=cache_dir, device="cpu", compute_type="int8")
    assert load_model("base", cache_dir=cache_dir, device="auto", compute_type="auto") is first


# --- English speech -------------------------------------------------------------------------------------------


def test_librivox_word_error_rate(librivox) -> None:
    assert len(librivox) == 3
    references = [clip.with_suffix(".txt").read_text(encoding="utf-8") for clip, _, _ in librivox]
    hypotheses = [t.text for _, t, _ in librivox]
    assert wer(references, hypotheses) <= 0.10, hypotheses


def test_librivox_transcript_fields(librivox) -> None:
    for clip, transcript, _ in librivox:
        assert transcript.language == "en"
        assert transcript.language_probability is not None and transcript.language_probability > 0.5
        assert transcript.engine == "faster-whisper" and transcript.model == "base"
        assert transcript.duration_s == pytest.approx(clip.stat().st_size / 32000, abs=0.1)  # 16 kHz s16 mono
        assert transcript.segments


def test_librivox_word_times_increase_inside_segments(librivox) -> None:
    for _, transcript, _ in librivox:
        previous_end = 0.0
        for segment in transcript.segments:
            assert previous_end <= segment.start <= segment.end <= transcript.duration_s
            assert segment.words
            assert "".join(w.text for w in segment.words).strip() == segment.text.strip()
            starts = [w.start for w in segment.words]
            assert starts == sorted(starts)
            for word in segment.words:
                assert segment.start <= word.start <= word.end <= segment.end
                assert 0.0 <= word.probability <= 1.0
            previous_end = segment.end


def test_progress_is_reported(librivox) -> None:
    for _, transcript, progress in librivox:
        assert progress and progress[-1] == 1.0
        assert progress == sorted(progress)
        assert all(0.0 <= p <= 1.0 for p in progress)
        assert len(progress) >= len(transcript.segments)


def test_forced_language_has_no_probability(cache_dir: Path) -> None:
    clip = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"
    transcript = transcribe_audio(clip, cache_dir=cache_dir, language="en")
    assert transcript.language == "en" and transcript.language_probability is None
    assert wer([clip.with_suffix(".txt").read_text()], [transcript.text]) <= 0.10


# --- French speech ----------------------------------------------------------------------------------------------


# Real speakers (FLEURS, shipped with the demo): two short utterances, measured at 17 % and 27 % WER (base, int8).
FLEURS_CLIPS = ("fleurs-fr-005", "fleurs-fr-008")


@pytest.mark.parametrize("name", FLEURS_CLIPS)
def test_real_french_speech(cache_dir: Path, media: Path, name: str) -> None:
    utterance = next(u for u in fleurs_french() if u.audio.stem == name)
    wav = media / f"{name}.wav"
    run("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(utterance.audio), "-ar", "16000", "-ac", "1", str(wav))
    transcript = transcribe_audio(wav, cache_dir=cache_dir)
    assert transcript.language == "fr"
    assert transcript.language_probability is not None and transcript.language_probability > 0.8
    # A margin over the measured rate: int8 kernels differ from one CPU to the next, real speech barely moves.
    assert wer([utterance.text], [transcript.text]) <= 0.45, transcript.text
    assert set("éèàç") & set(transcript.text.lower()), transcript.text  # accents survive


# --- no speech ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def silence(media: Path) -> Path:
    path = media / "silence.wav"
    run("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "10",
        str(path))
    return path


@pytest.mark.parametrize("language", ["fr", "en"])
def test_silence_gives_no_segments(silence: Path, cache_dir: Path, language: str) -> None:
    transcript = transcribe_audio(silence, cache_dir=cache_dir, language=language)
    assert transcript.segments == () and transcript.text == ""
    assert transcript.language == language and transcript.language_probability is None
    assert transcript.duration_s == pytest.approx(10.0, abs=0.05)


def test_silence_with_detection_is_undetermined(silence: Path, cache_dir: Path) -> None:
    transcript = transcribe_audio(silence, cache_dir=cache_dir)
    assert transcript.segments == ()
    assert transcript.language == "und" and transcript.language_probability == 0.0


@pytest.mark.parametrize("language", ["auto", "fr"])
def test_low_noise_invents_nothing(cache_dir: Path, media: Path, language: str) -> None:
    path = media / "noise.wav"
    if not path.exists():
        run("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
            "anoisesrc=a=0.02:c=pink:r=16000:d=10:s=7", "-ac", "1", str(path))
    transcript = transcribe_audio(path, cache_dir=cache_dir, language=language)
    assert transcript.segments == () and transcript.text == ""


def test_known_silence_hallucinations() -> None:
    for text in (
        " Sous-titres réalisés par la communauté d'Amara.org",
        " Merci d'avoir regardé cette vidéo !",
        "Thanks for watching!",
        " Thank you for watching.",
        " Sous-titrage ST' 501",
        "Sous-titrage Société Radio-Canada",
    ):
        assert is_silence_hallucination(text), text
    for text in (" Merci à tous.", " Thanks for coming, and watching the demo.", "", " Sous-titres"):
        assert not is_silence_hallucination(text), text


# --- bad input --------------------------------------------------------------------------------------------------


def test_empty_file_is_an_error(cache_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "talk.wav"
    empty.write_bytes(b"")
    with pytest.raises(TranscriptionError) as exc:
        transcribe_audio(empty, cache_dir=cache_dir)
    assert str(empty) in one_line(exc)


def test_non_audio_file_is_an_error(cache_dir: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "talk.mp4"
    bogus.write_text("this is not a recording\n" * 100)
    with pytest.raises(TranscriptionError) as exc:
        transcribe_audio(bogus, cache_dir=cache_dir)
    message = one_line(exc)
    assert str(bogus) in message and "Errno" not in message


def test_video_without_audio_is_an_error(cache_dir: Path, tmp_path: Path) -> None:
    video = tmp_path / "mute.mp4"
    run("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-t", "1",
        "-pix_fmt", "yuv420p", str(video))
    with pytest.raises(TranscriptionError) as exc:
        transcribe_audio(video, cache_dir=cache_dir)
    assert str(video) in one_line(exc)


def test_missing_file_is_an_error(cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(TranscriptionError) as exc:
        transcribe_audio(tmp_path / "nope.wav", cache_dir=cache_dir)
    assert "no such file" in one_line(exc)


def test_unknown_language_is_an_error(cache_dir: Path) -> None:
    with pytest.raises(TranscriptionError) as exc:
        transcribe_audio(CLIPS[0], cache_dir=cache_dir, language="klingon")
    assert "klingon" in one_line(exc)


def test_unknown_model_is_an_error_before_decoding(cache_dir: Path) -> None:
    with pytest.raises(TranscriptionError) as exc:
        transcribe_audio(CLIPS[0], model="large-v3", cache_dir=cache_dir)
    assert "offline" in one_line(exc)


# --- two engines ------------------------------------------------------------------------------------------------

REFERENCE = "openai-whisper"


def test_engines_agree_at_temperature_zero(cache_dir: Path) -> None:
    """openai-whisper on the converted weights gives faster-whisper float32's text, character for character."""
    clip = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav"
    options = {"cache_dir": cache_dir, "temperatures": (0.0,), "device": "cpu"}
    fast = transcribe_audio(clip, engine="faster-whisper", compute_type="float32", **options)
    reference = transcribe_audio(clip, engine=REFERENCE, **options)
    assert reference.engine == REFERENCE and fast.engine == "faster-whisper"
    assert reference.text == fast.text
    assert wer([clip.with_suffix(".txt").read_text()], [reference.text]) <= 0.10
    assert reference.language == "en" and reference.language_probability > 0.9
    # Word timestamps come from the alignment heads set from config.json: both engines time words alike.
    fast_words = [w for s in fast.segments for w in s.words]
    reference_words = [w for s in reference.segments for w in s.words]
    assert [w.text for w in reference_words] == [w.text for w in fast_words]
    assert max(abs(a.start - b.start) for a, b in zip(reference_words, fast_words, strict=False)) <= 0.1


SAMPLE_HOT = """
import json, sys
from pathlib import Path
from confcast.tasks.transcription.transcribe import transcribe_audio
transcript = transcribe_audio(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]), language="fr", temperatures=(1.0,))
print(json.dumps([[w.text, w.probability] for s in transcript.segments for w in s.words]))
"""


def test_faster_whisper_sampling_is_seeded_run_after_run(cache_dir: Path, french: Path) -> None:
    """Hot temperatures sample words at random; seeded, two runs (each its own process, as publications are) of
    the same speech give the same words with the same probabilities."""
    command = [sys.executable, "-c", SAMPLE_HOT, str(french), str(cache_dir)]
    runs = [subprocess.run(command, check=True, capture_output=True, text=True, timeout=120).stdout for _ in range(2)]
    assert json.loads(runs[0]) and runs[0] == runs[1]


def test_reference_engine_sampling_is_seeded(cache_dir: Path, french: Path, media: Path) -> None:
    """openai-whisper draws from torch's generator, seeded before each block: reproducible call after call."""
    opening = media / "fr-opening.wav"  # its first sentence: the reference engine samples slowly on the CPU
    run("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(french), "-t", "3", str(opening))
    options = {"cache_dir": cache_dir, "language": "fr", "temperatures": (1.0,), "engine": REFERENCE}
    first, second = (transcribe_audio(opening, **options) for _ in range(2))
    assert first.text and first.text == second.text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_reference_engine_on_silence_gives_nothing(silence: Path, cache_dir: Path, language: str) -> None:
    transcript = transcribe_audio(silence, engine=REFERENCE, cache_dir=cache_dir, language=language)
    assert transcript.segments == () and transcript.language == language


def test_reference_engine_on_noise_invents_nothing(cache_dir: Path, media: Path) -> None:
    path = media / "noise-loud.wav"
    run("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
        "anoisesrc=a=0.2:c=white:r=16000:d=8:s=3", "-ac", "1", str(path))
    transcript = transcribe_audio(path, engine=REFERENCE, cache_dir=cache_dir)
    assert transcript.segments == () and transcript.language == "und"


def test_reference_engine_unknown_model_names_where_to_put_it(cache_dir: Path) -> None:
    with pytest.raises(TranscriptionError) as exc:
        transcribe_audio(CLIPS[0], engine=REFERENCE, model="large-v3", cache_dir=cache_dir)
    message = one_line(exc)
    assert "large-v3.pt" in message and "offline" in message and "'base'" in message


def test_reference_engine_refuses_int8(cache_dir: Path) -> None:
    with pytest.raises(TranscriptionError) as exc:
        transcribe_audio(CLIPS[0], engine=REFERENCE, compute_type="int8", cache_dir=cache_dir)
    assert "faster-whisper" in one_line(exc)


def test_unknown_engine_is_an_error(cache_dir: Path) -> None:
    with pytest.raises(TranscriptionError) as exc:
        transcribe_audio(CLIPS[0], engine="whisper.cpp", cache_dir=cache_dir)
    assert "openai-whisper" in one_line(exc)


def test_the_settings_offer_every_engine_and_only_those() -> None:
    assert set(typing.get_args(Settings.model_fields["whisper_engine"].annotation)) == set(ENGINES)


def test_importing_the_engines_loads_no_whisper_library() -> None:
    """Each engine module imports its library inside functions: the factory imports them all, and stays cheap."""
    code = (
        "import sys, confcast.tasks.transcription.transcribe; "
        "print(sorted({'faster_whisper', 'ctranslate2', 'torch', 'whisper'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("engine", ["faster-whisper", REFERENCE])
def test_device_cuda_is_honoured(engine: str, cache_dir: Path) -> None:
    """Asked for CUDA, both engines try CUDA (on a machine without it: a one-line error, never a silent CPU run)."""
    import torch

    if torch.cuda.is_available():  # a GPU machine: it must simply work there
        transcript = transcribe_audio(CLIPS[1], engine=engine, device="cuda", cache_dir=cache_dir)
        assert transcript.text
        return
    with pytest.raises(TranscriptionError) as exc:
        transcribe_audio(CLIPS[1], engine=engine, device="cuda", cache_dir=cache_dir)
    message = one_line(exc)
    assert "cuda" in message.lower() and "cpu" in message


# --- translation ----------------------------------------------------------------------------------------------


def test_translate_task_writes_english(cache_dir: Path, french: Path) -> None:
    transcript = transcribe_audio(french, cache_dir=cache_dir, language="fr", task="translate")
    assert transcript.language == "en" and transcript.language_probability is None
    words = set(normalise(transcript.text).split())
    # The meaning, not the exact words: synthetic speech is heard slightly differently from one CPU to another.
    assert "music" in words and {"cinema", "film", "films", "movie", "movies"} & words, transcript.text
    assert not {"musique", "cinéma", "bonjour"} & words


# --- long recordings in blocks ----------------------------------------------------------------------------------


def test_group_blocks() -> None:
    chunks = [{"start": a, "end": b} for a, b in ((0, 4), (10, 13), (20, 30), (40, 41), (50, 52))]
    assert group_blocks(chunks, 8) == [chunks[0:2], chunks[2:3], chunks[3:5]]
    assert group_blocks(chunks, 100) == [chunks]
    assert group_blocks([], 8) == []


def test_blocks_keep_times_on_the_recording(cache_dir: Path, media: Path, monkeypatch) -> None:
    """Two clips 5 s apart, each decoded as its own block: the words land where they were spoken."""
    first, second = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav", CLIPS[0]
    joined = media / "two-clips.wav"
    run("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(first), "-i", str(second), "-filter_complex",
        "[0]apad=pad_dur=5[a];[a][1]concat=n=2:v=0:a=1", "-ar", "16000", "-ac", "1", str(joined))
    offset = first.stat().st_size / 32000 + 5
    monkeypatch.setattr(transcribe_module, "BLOCK_S", 4.0)
    transcript = transcribe_audio(joined, cache_dir=cache_dir, language="en")
    late = [s for s in transcript.segments if s.start >= offset - 0.5]
    early = [s for s in transcript.segments if s.end <= offset]
    assert early and late and len(early) + len(late) == len(transcript.segments)
    expected = [p.with_suffix(".txt").read_text() for p in (first, second)]
    got = [" ".join(s.text for s in part) for part in (early, late)]
    assert wer(expected, got) <= 0.15, got
    for segment in transcript.segments:
        assert segment.words and segment.start <= segment.words[0].start <= segment.words[-1].end <= segment.end


# --- what an operator is told -----------------------------------------------------------------------------------


def test_language_warning_and_summary() -> None:
    def transcript(language: str, probability: float | None) -> Transcript:
        return Transcript(language=language, language_probability=probability, duration_s=60.0, segments=(),
                          engine="faster-whisper", model="base")

    assert language_warning(transcript("fr", None)) is None
    assert language_warning(transcript("fr", 0.97)) is None
    low = language_warning(transcript("cy", 0.41))
    assert low and "cy" in low and "41%" in low and "--language" in low
    assert "no speech" in language_warning(transcript("und", 0.0))

    summary = summary_markdown(transcript("cy", 0.41), None, "https://example.org/conferences/x/index.html")
    assert summary.startswith("# Publish summary")
    assert "cy (detected, probability 0.41)" in summary and "> **Warning:**" in summary
    assert "Translation" not in summary
    calm = summary_markdown(transcript("fr", None), transcript("en", None), "https://example.org/x")
    assert "fr (forced)" in calm and "Warning" not in calm and "| Translation | en, machine-translated" in calm


def test_named_model_in_the_hub_cache_is_found_offline(cache_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """A model fetched earlier into the Hugging Face cache (here: the base weights filed as 'small') is used."""
    import huggingface_hub.constants

    base = packaged_base_dir(cache_dir)
    snapshot = tmp_path / "hub" / "models--Systran--faster-whisper-small" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        (snapshot / name).symlink_to(base / name)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve_model("small", tmp_path) == snapshot
    with pytest.raises(TranscriptionError) as exc:
        resolve_model("medium", tmp_path)
    assert "Systran/faster-whisper-medium" in one_line(exc)
