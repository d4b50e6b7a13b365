"""Generated media shared by the flow and CLI tests (made once a session; no media is committed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from confcast.tasks.demo.sample import SampleConference, make_speech_sample

SHORT_UTTERANCES = (0,)  # one FLEURS sentence of 10 s (7 s of speech): real French, which Whisper decodes without loops


@pytest.fixture(scope="session")
def short_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleConference:
    """About 11 s of real French speech (one FLEURS sentence, a pause in its middle) over a small test pattern."""
    return make_speech_sample(tmp_path_factory.mktemp("sample"), utterances=SHORT_UTTERANCES, title="Matériel libre")


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Recordings the pipeline must refuse, each with a one-line error."""
    folder = tmp_path_factory.mktemp("bad")
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    random_bytes = folder / "random.mp4"
    random_bytes.write_bytes(bytes(range(256)) * 64)
    text = folder / "notes.txt"
    text.write_text("Ceci n'est pas une vidéo.\n", encoding="utf-8")
    no_audio = folder / "silent-film.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=2",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-y", str(no_audio)],
        check=True,
    )
    return {
        "missing": folder / "does-not-exist.mp4",
        "empty": empty,
        "random bytes": random_bytes,
        "text file": text,
        "no audio": no_audio,
    }
