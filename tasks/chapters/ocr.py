"""Slide text with Tesseract (Debian's `tesseract-ocr`, `tesseract-ocr-fra`): the only caller of the program.

`read_slide` runs `tesseract IMAGE stdout -l LANG tsv`; `parse_tsv` (pure) turns its words into the slide's text and
its title: the line set in the largest letters (a slide's heading), else the first line.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.errors import ConfcastError, stderr_tail

TESSERACT_TIMEOUT_S = 60
MIN_CONFIDENCE = 55.0  # Tesseract's word confidence (0-100) below which a word is noise
TITLE_HEIGHT_RATIO = 1.15  # a heading's letters are at least this much taller than the body's
MISSING_TESSERACT = (
    "tesseract is not installed: chapters are titled from the first words spoken; install the Debian packages "
    "tesseract-ocr and tesseract-ocr-fra (scripts/install.sh) to title them from the slides"
)
# ISO 639-1 (the talk's language) -> Tesseract's language data
LANGUAGES = {"fr": "fra", "en": "eng", "de": "deu", "es": "spa", "it": "ita", "nl": "nld", "pt": "por"}
FALLBACK_LANGUAGES = "fra+eng"


class OcrError(ConfcastError):
    """Tesseract is missing or failed on an image."""


@dataclass(frozen=True)
class SlideReading:
    title: str  # "" when nothing readable
    text: str  # the slide's lines, one a line


@functools.lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    """Tesseract's installed language data; OcrError when the program is missing."""
    if shutil.which("tesseract") is None:
        raise OcrError(MISSING_TESSERACT)
    done = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=TESSERACT_TIMEOUT_S)
    return frozenset(line.strip() for line in done.stdout.splitlines()[1:] if line.strip())


def ocr_languages(language: str | None, installed: frozenset[str]) -> str:
    """Tesseract's `-l` for a talk's language (fr -> fra), else French and English, whichever is installed."""
    wanted = LANGUAGES.get((language or "").lower())
    if wanted in installed:
        return wanted
    fallback = "+".join(code for code in FALLBACK_LANGUAGES.split("+") if code in installed)
    return fallback or "eng"


def parse_tsv(tsv: str) -> SlideReading:
    """The slide's text and title from Tesseract's TSV output."""
    lines: dict[tuple[int, int, int, int], list[tuple[str, int, int]]] = {}
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        if len(fields) < 12 or fields[0] != "5":
            continue
        try:
            confidence = float(fields[10])
            height, left = int(fields[9]), int(fields[6])
        except ValueError:
            continue
        word = fields[11].strip()
        if confidence < MIN_CONFIDENCE or not re.search(r"\w", word):
            continue
        key = tuple(int(f) for f in fields[1:5])  # page, block, paragraph, line
        lines.setdefault(key, []).append((word, height, left))  # type: ignore[arg-type]
    ordered = [sorted(words, key=lambda w: w[2]) for _, words in sorted(lines.items())]
    texts = [" ".join(w for w, _, _ in words) for words in ordered]
    if not texts:
        return SlideReading(title="", text="")
    heights = [sorted(h for _, h, _ in words)[len(words) // 2] for words in ordered]
    tallest = max(range(len(texts)), key=lambda i: (heights[i], -i))
    body = sorted(heights)[len(heights) // 2]
    title_at = tallest if heights[tallest] >= body * TITLE_HEIGHT_RATIO else 0
    return SlideReading(title=texts[title_at], text="\n".join(texts))


def read_slide(image: Path, languages: str) -> SlideReading:
    """The text of one slide image; OcrError when Tesseract is missing or fails."""
    try:
        done = subprocess.run(
            ["tesseract", str(image), "stdout", "-l", languages, "--psm", "3", "tsv"],
            capture_output=True,
            text=True,
            timeout=TESSERACT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise OcrError(MISSING_TESSERACT) from None
    except subprocess.TimeoutExpired:
        raise OcrError(f"tesseract took over {TESSERACT_TIMEOUT_S} s on {image.name}") from None
    if done.returncode != 0:
        raise OcrError(f"tesseract failed on {image.name}: {stderr_tail(done.stderr) or 'no message'}")
    return parse_tsv(done.stdout)
