"""tasks.demo.sample: the demo's sample conference, made with the real espeak-ng and ffmpeg."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import pytest

from confcast.tasks.demo import sample
from confcast.tasks.demo.speech import fleurs_french
from confcast.tasks.errors import ConfcastError
from confcast.tasks.media.probe import probe_recording, require_audio

SHORT_TEXT = "Bonjour à tous. Voici une courte démonstration du matériel libre, fabriqué dans nos laboratoires."


@pytest.fixture(scope="module")
def odd_dir_sample(tmp_path_factory: pytest.TempPathFactory) -> sample.SampleConference:
    # A folder name with the characters ffmpeg's filter syntax treats specially.
    out_dir = tmp_path_factory.mktemp("sample") / "l'atelier: [démo], 1;2"
    return sample.make_sample_conference(
        out_dir, text=SHORT_TEXT, title="L'open hardware à 100 % : {essai} [1]", width=320, height=180, fps=10
    )


def test_odd_dir_sample_is_a_conference(odd_dir_sample: sample.SampleConference) -> None:
    assert odd_dir_sample.path.suffix == ".mp4" and odd_dir_sample.path.is_file()
    assert (odd_dir_sample.language, odd_dir_sample.text) == ("fr", SHORT_TEXT)
    assert 2.0 < odd_dir_sample.duration_s < 10.0
    probe = probe_recording(odd_dir_sample.path)
    assert probe.video is not None and (probe.video.codec, probe.video.width, probe.video.height) == ("h264", 320, 180)
    assert probe.video.fps == pytest.approx(10.0)
    assert probe.main_audio is not None and probe.main_audio.codec == "aac"
    require_audio(probe)
    assert probe.duration_s == pytest.approx(odd_dir_sample.duration_s, abs=0.2)


def test_odd_dir_sample_has_speech(odd_dir_sample: sample.SampleConference) -> None:
    # The audio is not silence: some samples are loud.
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(odd_dir_sample.path), "-map", "0:a", "-ac", "1", "-ar", "8000",
         "-f", "s16le", "-"],
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    samples = memoryview(pcm).cast("h")
    assert len(samples) == pytest.approx(odd_dir_sample.duration_s * 8000, rel=0.05)
    assert max(abs(s) for s in samples) > 3000


def test_title_card_shows_then_goes(odd_dir_sample: sample.SampleConference) -> None:
    def frame(at_s: float) -> bytes:
        return subprocess.run(
            ["ffmpeg", "-v", "error", "-ss", str(at_s), "-i", str(odd_dir_sample.path), "-frames:v", "1",
             "-vf", "crop=200:40:60:70", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            check=True,
            capture_output=True,
        ).stdout  # fmt: skip

    # The dark box behind the title darkens the middle of the picture during the first seconds only.
    assert odd_dir_sample.duration_s > sample.TITLE_CARD_S + 1.0
    during = sum(frame(1.0)) / (200 * 40)
    after = sum(frame(sample.TITLE_CARD_S + 0.5)) / (200 * 40)
    assert during < 0.6 * after, (during, after)


def test_same_sample_is_reused(odd_dir_sample: sample.SampleConference) -> None:
    before = odd_dir_sample.path.stat().st_mtime_ns
    again = sample.make_sample_conference(
        odd_dir_sample.path.parent,
        text=SHORT_TEXT,
        title=odd_dir_sample.title,
        width=320,
        height=180,
        fps=10,
    )
    assert again == odd_dir_sample
    assert again.path.stat().st_mtime_ns == before


def test_default_text_lasts_about_a_minute(tmp_path: Path) -> None:
    # Speech only (espeak-ng is fast); the full video is the demo's job.
    speech = tmp_path / "fr.wav"
    text = tmp_path / "fr.txt"
    sample._speak("espeak-ng", sample.SAMPLE_TEXT_FR, "fr", speech, text)
    with wave.open(str(speech)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert 50 <= seconds <= 75
    assert sample.wav_duration(speech) == pytest.approx(seconds)


def test_missing_programs_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: nothing to run
    with pytest.raises(ConfcastError) as error:
        sample.make_sample_conference(tmp_path / "out", text="Bonjour.")
    message = str(error.value)
    assert "espeak-ng" in message and "apt-get install espeak-ng" in message and "\n" not in message


def test_wrap_title() -> None:
    assert sample.wrap_title("Court") == "Court"
    long = "Le matériel libre dans les laboratoires de Clermont-Ferrand et ailleurs"
    lines = sample.wrap_title(long).split("\n")
    assert len(lines) > 1 and all(len(line) <= sample.TITLE_WRAP_CHARS for line in lines)
    assert " ".join(lines) == long


def test_speech_sample_is_the_chosen_real_sentences(tmp_path: Path) -> None:
    made = sample.make_speech_sample(tmp_path, utterances=(5, 8), title="Deux phrases", width=320, height=180)
    said = [u.text for u in fleurs_french()]
    assert made.text == f"{said[5]} {said[8]}" and "FLEURS" in made.description
    probe = probe_recording(made.path)
    assert probe.video is not None and (probe.video.width, probe.video.height) == (320, 180)
    # the two clips (7.2 s and 7.7 s), each followed by its pause
    assert made.duration_s == pytest.approx(7.2065 + 7.6865 + 2 * sample.PAUSE_S, abs=0.05)
    assert probe.duration_s == pytest.approx(made.duration_s, abs=0.2)
    assert sample.make_speech_sample(tmp_path, utterances=(5, 8), title="Deux phrases", width=320, height=180) == made
    with pytest.raises(ConfcastError, match="choose among 0 to 9"):
        sample.make_speech_sample(tmp_path, utterances=(10,), title="x")
    with pytest.raises(ConfcastError, match="choose among"):
        sample.make_speech_sample(tmp_path, utterances=(), title="x")
