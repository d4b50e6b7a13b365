"""A talk's vocabulary as Whisper's prompt: checked where people type it (sidecar, option, config), part of the
transcript's keys, recalled on real French speech, and never written into the transcript of silence or music."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from confcast.config.settings import Settings, load_settings
from confcast.tasks.bench.whisper import word_alignment
from confcast.tasks.demo.speech import fleurs_french
from confcast.tasks.errors import ConfigError, MetadataError
from confcast.tasks.fingerprint import (
    fingerprint_of,
    prompt_key,
    run_fingerprint,
    run_keys,
    settings_key,
    transcript_key,
    whisper_prompt,
)
from confcast.tasks.metadata import MAX_VOCABULARY_TERMS, build_meta
from confcast.tasks.site.edit import MetaChanges, edited_meta
from confcast.tasks.transcription.engine import TEMPERATURES
from confcast.tasks.transcription.transcribe import ENGINES, _decode, load_engine, transcribe_audio
from confcast.tasks.transcription.vocabulary import talk_prompt

CONFCAST = str(Path(sys.executable).with_name("confcast"))
SHA = "a" * 64
SITE_TERMS = ["OpenLab", "Clermont-Ferrand", "PME"]
# Proper nouns of the FLEURS clips (tasks/demo/fleurs): what a talk's sidecar would list.
TALK_TERMS = ["USOC", "États-Unis", "Mashhad", "Giancarlo Fisichella", "Del Potro", "Bennet", "Caroline du Nord"]


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "talk.mp4"
    path.write_bytes(b"not read here")
    return path


def sidecar(recording: Path, text: str) -> None:
    (recording.parent / "talk.mp4.yaml").write_text(text, encoding="utf-8")


# --- where people type it -----------------------------------------------------------------------------------------


def test_sidecar_vocabulary_is_read_cleaned_and_replaced_by_the_option(recording: Path) -> None:
    sidecar(recording, "title: T\nvocabulary: [OpenLab, ' Clermont-Ferrand ', '', \"PME\\u0007\"]\n")
    assert build_meta(recording).vocabulary == ("OpenLab", "Clermont-Ferrand", "PME")
    assert build_meta(recording, vocabulary=["Mashhad"]).vocabulary == ("Mashhad",)
    sidecar(recording, "vocabulary: OpenLab\n")  # one term needs no list
    assert build_meta(recording).vocabulary == ("OpenLab",)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("vocabulary: [1, 2]\n", "vocabulary"),
        ("vocabulary: {lab: OpenLab}\n", "vocabulary"),
        ("vocabulary: [[OpenLab]]\n", "vocabulary"),
        (f"vocabulary: [{', '.join(f'w{i}' for i in range(MAX_VOCABULARY_TERMS + 1))}]\n", "at most 50"),
        (f"vocabulary: [{'x' * 61}]\n", "at most 60"),
    ],
)
def test_a_bad_sidecar_vocabulary_is_a_one_line_error(recording: Path, content: str, fragment: str) -> None:
    sidecar(recording, content)
    with pytest.raises(MetadataError) as error:
        build_meta(recording)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_bad_vocabulary_options_are_one_line_errors(recording: Path) -> None:
    with pytest.raises(MetadataError, match="at most 50") as error:
        build_meta(recording, vocabulary=[f"w{i}" for i in range(MAX_VOCABULARY_TERMS + 1)])
    assert "\n" not in str(error.value)
    with pytest.raises(MetadataError, match="at most 60"):
        build_meta(recording, vocabulary=["é" * 61])


def test_site_vocabulary_from_the_config_file_and_the_environment(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("vocabulary: [OpenLab, '  Clermont-Ferrand ']\n", encoding="utf-8")
    monkeypatch.delenv("CONFCAST_VOCABULARY", raising=False)
    assert load_settings(config).vocabulary == ["OpenLab", "Clermont-Ferrand"]
    monkeypatch.setenv("CONFCAST_VOCABULARY", '["PME"]')  # environment over file
    assert load_settings(config).vocabulary == ["PME"]
    for bad in ('["OpenLab"', "[1]", '["' + "x" * 61 + '"]', '["a\\nb"]', json_list(MAX_VOCABULARY_TERMS + 1)):
        monkeypatch.setenv("CONFCAST_VOCABULARY", bad)
        with pytest.raises(ConfigError) as error:
            load_settings(config)
        assert "vocabulary" in str(error.value) and "\n" not in str(error.value), bad


def json_list(count: int) -> str:
    return "[" + ", ".join(f'"w{i}"' for i in range(count)) + "]"


# --- the prompt and the keys ----------------------------------------------------------------------------------


def test_the_prompt_is_the_talks_vocabulary_then_the_sites() -> None:
    assert talk_prompt() is None and talk_prompt([], []) is None
    assert talk_prompt(["Mashhad", "openlab"], SITE_TERMS) == "Mashhad, openlab, Clermont-Ferrand, PME."
    long_terms = [f"Terme{i:02d}-{'x' * 50}" for i in range(MAX_VOCABULARY_TERMS)]
    prompt = talk_prompt(long_terms, SITE_TERMS)
    assert prompt is not None and len(prompt) <= 400 and "Terme00" in prompt and "OpenLab" not in prompt


def test_a_new_vocabulary_transcribes_again_and_an_edit_keeps_the_fingerprint(recording: Path) -> None:
    plain = Settings()
    site = Settings(vocabulary=SITE_TERMS)
    bare = build_meta(recording, title="T", date="2026-04-04", language="fr")
    talk = build_meta(recording, title="T", date="2026-04-04", language="fr", vocabulary=["Mashhad"])
    cases = ((bare, plain), (talk, plain), (bare, site), (talk, site))
    transcript_keys = {
        transcript_key(SHA, "fr", settings, prompt=whisper_prompt(meta, settings)) for meta, settings in cases
    }
    fingerprints = {run_fingerprint(meta, SHA, settings) for meta, settings in cases}
    assert len(transcript_keys) == 4 and len(fingerprints) == 4
    # Without a vocabulary: no prompt, and the keys a publication made before vocabularies existed.
    assert whisper_prompt(bare, plain) is None and prompt_key(None) is None
    assert run_fingerprint(bare, SHA, plain) == fingerprint_of(bare, SHA, settings_key(plain))
    # `confcast edit` knows no vocabulary (never published); with the prompt's key the manifest keeps, it computes
    # the fingerprint a publish of the same talk computes, so the re-run after an edit is unchanged.
    published_key = prompt_key(whisper_prompt(talk, site))
    from_storage = edited_meta_of(talk)
    assert from_storage.vocabulary == ()
    assert fingerprint_of(from_storage, SHA, settings_key(site), published_key) == run_fingerprint(talk, SHA, site)
    # The flow and the CLI's metadata-only shortcut take all the keys from one function: a vocabulary changes the
    # transcript's, never the media's; chapters change the media's (the master names them), never the transcript's.
    fingerprint, keys = run_keys(talk, SHA, site, (), True)
    assert fingerprint == run_fingerprint(talk, SHA, site) and keys.prompt == published_key
    _, bare_keys = run_keys(bare, SHA, plain, (), True)
    assert (bare_keys.media, bare_keys.prompt, bare_keys.chapters) == (keys.media, None, None)
    assert bare_keys.transcript != keys.transcript
    intro = (({"start": 0.0, "title": "Intro"},), None)  # ChapterInputs.key_parts: the sidecar's marks, its PDF
    chaptered, with_chapters = run_keys(talk, SHA, site, intro, True)
    assert chaptered != fingerprint and with_chapters.chapters is not None
    assert with_chapters.media != keys.media and with_chapters.transcript == keys.transcript
    # Other titles or times: another media key, the same picture key (a publication rewrites the chapters alone);
    # a slides PDF, or no sidecar chapters at all: another picture
    _, retitled = run_keys(talk, SHA, site, (({"start": 0.0, "title": "Accueil"},), None), True)
    assert retitled.media != with_chapters.media and retitled.picture == with_chapters.picture != keys.picture
    _, with_pdf = run_keys(talk, SHA, site, (intro[0], "b" * 64), True)
    assert with_pdf.picture not in (with_chapters.picture, keys.picture) and keys.picture == keys.media
    assert run_keys(talk, SHA, site, (), False)[1].media != keys.media  # audio only: the title card is the picture


def test_a_transcription_pool_keys_its_handover_by_the_prompt_too() -> None:
    from confcast.flows.transcription import transcript_key as handover_key

    plain = handover_key(SHA, "fr", "transcribe", "base", "1.0")
    assert plain == handover_key(SHA, "fr", "transcribe", "base", "1.0", None)
    assert len({plain, handover_key(SHA, "fr", "transcribe", "base", "1.0", "OpenLab."),
                handover_key(SHA, "fr", "transcribe", "base", "1.0", "PME.")}) == 3


def edited_meta_of(meta):
    """The metadata `confcast edit` rebuilds from a manifest of this talk (no change asked)."""
    from types import SimpleNamespace

    manifest = SimpleNamespace(title=meta.title, date=meta.date, slug=meta.slug, speakers=meta.speakers,
                               description=meta.description, language=meta.language, cut=meta.cut,
                               event=meta.event, generator=SimpleNamespace(language_asked=meta.language))
    return edited_meta(manifest, MetaChanges())


# --- real French speech ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def words(text: str) -> str:
    return " " + " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split()) + " "


def test_the_vocabulary_reaches_whisper_and_brings_back_proper_nouns(recording: Path, cache_dir: Path) -> None:
    """FLEURS clips 4 and 5 name Mashhad and Giancarlo Fisichella, which Whisper base misspells unprompted ("ma
    chade", "Jean-Carlos Fittiela"): given in a sidecar, they come back spelt right, the other words no worse."""
    clips = [u for u in fleurs_french() if "mashhad" in u.text or "fisichella" in u.text]
    assert len(clips) == 2
    sidecar(recording, "vocabulary: [" + ", ".join(TALK_TERMS) + "]\n")
    prompt = whisper_prompt(build_meta(recording), Settings(vocabulary=SITE_TERMS))
    assert prompt is not None and "Mashhad" in prompt and "OpenLab" in prompt
    without = " ".join(transcribe_audio(c.audio, cache_dir=cache_dir, language="fr").text for c in clips)
    given = " ".join(transcribe_audio(c.audio, cache_dir=cache_dir, language="fr", prompt=prompt).text for c in clips)
    nouns = (" mashhad ", " fisichella ")
    assert not any(noun in words(without) for noun in nouns), without
    assert all(noun in words(given) for noun in nouns), given
    reference = " ".join(c.text for c in clips)
    assert word_errors(reference, given) <= word_errors(reference, without) + 3, (without, given)


def word_errors(reference: str, hypothesis: str) -> int:
    return word_alignment(words(reference).split(), words(hypothesis).split())[0]


# --- no prompt text in silence or music ----------------------------------------------------------------------------

SOUNDS = {
    "silence": ["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono"],
    # chords changing every two seconds (A minor, G major), as a jingle would
    "chords": ["-f", "lavfi", "-i", "aevalsrc='" + "+".join(
        f"0.15*sin(2*PI*if(lt(mod(t,4),2),{a},{b})*t)" for a, b in ((220, 196), (277.18, 246.94), (329.63, 293.66))
    ) + "':s=16000"],
    "pink noise": ["-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.3:sample_rate=16000:seed=1"],
}


def make_sound(folder: Path, name: str, seconds: float = 10.0) -> Path:
    out = folder / f"{name.replace(' ', '-')}.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *SOUNDS[name], "-t", str(seconds), "-ac", "1",
                    "-c:a", "pcm_s16le", str(out)], check=True, capture_output=True, timeout=60)
    return out


def leaked(text: str, prompt: str) -> list[str]:
    """The prompt's terms found in a transcript (each term's words, in order)."""
    return [term for term in re.split(r"[,.]\s*", prompt) if term and words(term) in words(text)]


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sounds")
    made = {name: make_sound(folder, name) for name in SOUNDS}
    # a talk's end: a sentence without proper nouns, then the jingle and the room
    speech = next(u.audio for u in fleurs_french() if u.text.startswith("malheureusement"))
    made["speech then music"] = folder / "speech-then-music.wav"
    joined = "[0:a]aresample=16000[s];[s][1:a][2:a]concat=n=3:v=0:a=1"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(speech), "-i", str(made["chords"]),
                    "-i", str(made["pink noise"]), "-filter_complex", joined, "-ac", "1", "-c:a", "pcm_s16le",
                    str(made["speech then music"])], check=True, capture_output=True, timeout=60)
    return made


@pytest.mark.parametrize("engine", ENGINES)
def test_no_prompt_text_in_silence_or_music(engine: str, sounds: dict[str, Path], cache_dir: Path) -> None:
    """What a publication does (VAD, then Whisper with the prompt) on each engine; then faster-whisper alone, without
    the VAD, on silence and music (the reference engine decodes as it does, and costs minutes there; noise without
    the VAD costs half a minute of fallback decoding, and is covered with it)."""
    prompt = talk_prompt(TALK_TERMS, SITE_TERMS)
    assert prompt is not None
    for name, path in sounds.items():
        transcript = transcribe_audio(path, engine=engine, cache_dir=cache_dir, language="fr", prompt=prompt)
        assert not leaked(transcript.text, prompt), (name, transcript.text)
        if name == "speech then music":
            assert " circulation " in words(transcript.text), transcript.text  # the speech itself was heard
        elif engine == "faster-whisper" and name != "pink noise":
            whisper = load_engine(engine, "base", cache_dir=cache_dir, device="cpu", compute_type="auto", threads=0)
            decoded = whisper.decode(_decode(path), language="fr", task="transcribe", temperatures=TEMPERATURES,
                                     prompt=prompt)
            text = " ".join(segment.text for segment in decoded.segments)
            assert not leaked(text, prompt), (name, text)


def test_publish_refuses_a_bad_vocabulary_in_one_line(tmp_path: Path) -> None:
    recording = tmp_path / "talk.mp4"
    recording.write_bytes(b"never probed: the metadata is refused first")
    sidecar(recording, "vocabulary: [OpenLab, 12]\n")
    result = subprocess.run([CONFCAST, "publish", "--to", (tmp_path / "site").as_uri(), "--work-dir",
                             str(tmp_path / "work"), str(recording)], capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("confcast: error: "), result.stderr
    assert "vocabulary" in lines[0] and not (tmp_path / "site").exists()


# --- the bench's pure parts ----------------------------------------------------------------------------------------


def test_bench_recall_counts_the_terms_the_reference_holds() -> None:
    from confcast.tasks.bench.vocabulary import FORMS, Row, recall, table

    reference = "le même mois un avion a heurté un mur à mashhad et giancarlo fisichella a perdu"
    share, found = recall(reference, "Un avion à Mashhad, et Jean-Carlos Fittiela a perdu.")
    assert found == ("Mashhad",) and share == pytest.approx(0.5)  # USOC and the others are not in the reference
    assert recall(reference, "rien") == (0.0, ())
    assert FORMS["no prompt"] is None and "OpenLab" not in (FORMS["talk vocabulary"] or "")
    rows = [Row("faster-whisper", "no prompt", "as a talk", 0.30, 0.25, ("USOC",), 10.0),
            Row("faster-whisper", "talk vocabulary", "as a talk", 0.27, 0.75, ("USOC", "Mashhad", "Bennet"), 12.0)]
    text = table(rows)
    assert "| faster-whisper | as a talk | talk vocabulary | 27.0 | 75 | USOC, Mashhad, Bennet | 12.0 |" in text
    assert "talk vocabulary: WER -3.0 points, proper nouns +50 points, time 1.20×" in text
