"""Real French speech shipped with confcast: ten FLEURS utterances (CC BY 4.0) and their human transcriptions.

The demo speaks with them, `confcast bench transcribe` and the tests measure French recognition on them (never on
exact words of synthetic speech, which change from one CPU to the next). See fleurs/SOURCE.md for their origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPEECH_DIR = Path(__file__).resolve().parent / "fleurs"
CREDIT_FR = (
    "Voix : dix phrases lues par des locuteurs natifs, tirées du corpus FLEURS de Google "
    "(Conneau et al., 2022), licence CC BY 4.0."
)


@dataclass(frozen=True)
class Utterance:
    audio: Path  # Opus in Ogg, 16 kHz mono
    text: str  # the human transcription: lower case, no punctuation


def fleurs_french() -> tuple[Utterance, ...]:
    """The ten utterances in order; an error that says what is missing if the package lost its data."""
    clips = sorted(SPEECH_DIR.glob("fleurs-fr-*.ogg"))
    if not clips:
        raise FileNotFoundError(f"no FLEURS clips in {SPEECH_DIR}: reinstall confcast (scripts/install.sh)")
    return tuple(Utterance(audio=clip, text=clip.with_suffix(".txt").read_text(encoding="utf-8").strip())
                 for clip in clips)
