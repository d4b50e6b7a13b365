"""`confcast bench transcribe --vocabulary`: Whisper with and without a talk's vocabulary as its prompt, side by side.

Audio: the ten FLEURS utterances (real French, tasks/demo/fleurs), as a talk (joined with a second of silence
between them, transcribed the way a publication is: VAD, then blocks of speech) and one utterance at a time (one
30 s window each). Their proper nouns are the talk's vocabulary; "OpenLab, Clermont-Ferrand, PME" a site's, never
said in these sentences. Each row: word error rate against the human transcription, and recall of the proper nouns
(the share of the vocabulary's terms that occur in the reference and come out spelt right). A row with the title and
the speakers' names as well shows why those stay out of the prompt (docs/transcription.md).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.bench.whisper import normalise, word_error_rate
from confcast.tasks.demo.sample import join_with_pauses
from confcast.tasks.demo.speech import fleurs_french
from confcast.tasks.transcription.engine import SAMPLE_RATE
from confcast.tasks.transcription.transcribe import load_engine, transcribe_audio
from confcast.tasks.transcription.vocabulary import talk_prompt, vocabulary_prompt

# The proper nouns of the FLEURS sentences, as a talk's sidecar would list them.
TALK_TERMS = ("USOC", "États-Unis", "Mashhad", "Giancarlo Fisichella", "Del Potro", "Bennet", "Caroline du Nord")
SITE_TERMS = ("OpenLab", "Clermont-Ferrand", "PME")  # a site's vocabulary: words these sentences never say
TITLE = "Revue de l'actualité : sport, aviation, recherche et écoles"
SPEAKERS = ("Claire Vasseur", "Karim Benali")  # names the speech never says, as a talk's speakers often are

# label -> prompt
FORMS: dict[str, str | None] = {
    "no prompt": None,
    "talk vocabulary": talk_prompt(TALK_TERMS),
    "talk + site vocabulary": talk_prompt(TALK_TERMS, SITE_TERMS),
    "site vocabulary only": talk_prompt((), SITE_TERMS),
    "title + speakers + talk vocabulary": vocabulary_prompt(TITLE, SPEAKERS, TALK_TERMS),
}
JOINED, EACH = "as a talk", "one utterance at a time"
# (engine, compute type, form, mode): the reference engine is slow, so it runs the forms that decide the default
ROWS = (
    *(("faster-whisper", "int8", form, mode) for mode in (JOINED, EACH) for form in FORMS),
    *(("openai-whisper", "float32", form, JOINED) for form in ("no prompt", "talk vocabulary")),
)


@dataclass(frozen=True)
class Row:
    engine: str
    form: str
    mode: str
    wer: float
    recall: float  # of the talk vocabulary's terms that the reference holds
    found: tuple[str, ...]
    wall_s: float


def terms_in(text: str, terms: Sequence[str]) -> tuple[str, ...]:
    """The terms whose words occur, in order, in the text (both normalised as for the word error rate)."""
    spaced = " " + " ".join(normalise(text)) + " "
    return tuple(term for term in terms if " " + " ".join(normalise(term)) + " " in spaced)


def recall(reference: str, hypothesis: str, terms: Sequence[str] = TALK_TERMS) -> tuple[float, tuple[str, ...]]:
    expected = terms_in(reference, terms)
    found = terms_in(hypothesis, expected)
    return (len(found) / len(expected) if expected else 1.0), found


def run_bench(cache_dir: Path, echo: Callable[[str], None] = print, rows=ROWS) -> list[Row]:
    utterances = fleurs_french()
    reference = " ".join(u.text for u in utterances)
    done: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="confcast-bench-vocabulary-") as tmp:
        joined = Path(tmp) / "fleurs-fr.wav"
        join_with_pauses([u.audio for u in utterances], joined, pause_s=1.0, rate=SAMPLE_RATE)
        for engine, compute_type, form, mode in rows:
            load_engine(engine, "base", cache_dir=cache_dir, device="cpu", compute_type=compute_type, threads=0)
            options = {"engine": engine, "cache_dir": cache_dir, "device": "cpu", "compute_type": compute_type,
                       "language": "fr", "prompt": FORMS[form]}
            start = time.perf_counter()
            if mode == JOINED:
                text = transcribe_audio(joined, **options).text
            else:
                text = " ".join(transcribe_audio(u.audio, **options).text for u in utterances)
            wall = time.perf_counter() - start
            share, found = recall(reference, text)
            done.append(Row(engine, form, mode, word_error_rate(reference, text), share, found, wall))
            echo(f"bench: {_row(done[-1])}")
    return done


def _row(r: Row) -> str:
    return (f"| {r.engine} | {r.mode} | {r.form} | {r.wer * 100:.1f} | {r.recall * 100:.0f} | "
            f"{', '.join(r.found) or '-'} | {r.wall_s:.1f} |")


def table(rows: Sequence[Row]) -> str:
    """A Markdown table, then each prompt's change against no prompt on the same engine and audio."""
    lines = [
        "| engine | FLEURS | prompt | WER % | proper nouns recalled % | recalled | wall s |",
        "|---|---|---|---:|---:|---|---:|",
        *(_row(r) for r in rows),
        "",
    ]
    for row in rows:
        base = next((b for b in rows if (b.engine, b.mode, b.form) == (row.engine, row.mode, "no prompt")), None)
        if base is not None and row is not base:
            lines.append(
                f"- {row.engine}, {row.mode}, {row.form}: WER {(row.wer - base.wer) * 100:+.1f} points, proper "
                f"nouns {(row.recall - base.recall) * 100:+.0f} points, time {row.wall_s / base.wall_s:.2f}×"
            )
    return "\n".join(lines)
