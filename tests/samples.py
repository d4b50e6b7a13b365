"""Generated media shared by the flow and CLI tests (made once a session; no media is committed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from confcast.tasks.demo.sample import SampleConference, make_sample_conference

SHORT_TEXT_FR = (
    "Bonjour à tous et merci d'être venus. "
    "Aujourd'hui je vais vous parler du matériel libre dans nos laboratoires de Clermont-Ferrand. "
    "Nous avons construit un microscope avec une imprimante et une petite caméra."
)


@pytest.fixture(scope="session")
def short_sample(tmp_path_factory: pytest.TempPathFactory) -> SampleConference:
    """About 12 s of spoken French over a small test pattern."""
    return make_sample_conference(
        tmp_path_factory.mktemp("sample"), text=SHORT_TEXT_FR, title="Matériel libre", width=640, height=360
    )


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
