"""The slides PDF named in a sidecar (`slides: talk.pdf`): its pages' text with `pdftotext` (Debian's
poppler-utils; the only caller of the program), and which slide frame each page matches (pure).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from confcast.tasks.errors import MetadataError, stderr_tail

PDFTOTEXT_TIMEOUT_S = 120
MAX_PDF_BYTES = 200 * 1024 * 1024
MATCH_MIN = 0.5  # share of a page's words (and of the slide's) that must agree for a page to match a slide frame
MISSING_PDFTOTEXT = "pdftotext is not installed: install the Debian package poppler-utils (scripts/install.sh)"


def check_pdf(path: Path) -> None:
    """A missing, empty, oversized or non-PDF file: MetadataError (one line, before anything is published)."""
    if not path.is_file():
        raise MetadataError(f"slides PDF {path} does not exist; fix slides: in the sidecar file or add the file")
    size = path.stat().st_size
    if size > MAX_PDF_BYTES:
        raise MetadataError(f"slides PDF {path} is {size} bytes; slides are limited to {MAX_PDF_BYTES} bytes")
    with path.open("rb") as handle:
        if not handle.read(1024).lstrip().startswith(b"%PDF-"):
            raise MetadataError(f"slides PDF {path} is not a PDF file; export the slides as PDF")


def pdf_pages(path: Path) -> tuple[str, ...]:
    """The text of each page; MetadataError for a PDF that cannot be read (damaged, encrypted)."""
    check_pdf(path)
    if shutil.which("pdftotext") is None:
        raise MetadataError(MISSING_PDFTOTEXT)
    try:
        done = subprocess.run(
            ["pdftotext", "-layout", "-enc", "UTF-8", str(path.resolve()), "-"],
            capture_output=True,
            timeout=PDFTOTEXT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise MetadataError(f"slides PDF {path}: reading its text took over {PDFTOTEXT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        detail = stderr_tail(done.stderr) or f"pdftotext exit {done.returncode}"
        raise MetadataError(f"slides PDF {path} cannot be read ({detail}); export the slides as PDF again")
    text = done.stdout.decode("utf-8", "replace")
    pages = text.split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]  # pdftotext ends every page with a form feed
    if not pages:
        raise MetadataError(f"slides PDF {path} has no pages; export the slides as PDF again")
    return tuple(" ".join(page.split()) for page in pages)


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if len(w) > 1}


def match_pages(pages: Sequence[str], slides: Sequence[tuple[float, str]]) -> tuple[float | None, ...]:
    """For each page, the start of the first slide frame (start, OCR text) showing it, else None. Pure."""
    matched: list[float | None] = []
    for page in pages:
        page_words = words(page)
        best, best_score = None, 0.0
        for start, text in slides:
            slide_words = words(text)
            if not page_words or not slide_words:
                continue
            common = len(page_words & slide_words)
            score = min(common / len(page_words), common / len(slide_words))
            if score > best_score:
                best, best_score = start, score
        matched.append(best if best_score >= MATCH_MIN else None)
    return tuple(matched)
