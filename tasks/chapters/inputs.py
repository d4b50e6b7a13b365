"""What a person gives for chapters and slides, from the sidecar file: `chapters: [{start, title}]` and
`slides: talk.pdf` (a path relative to the sidecar's folder). Checked before anything is made or published.
"""

from __future__ import annotations

import functools
from pathlib import Path

from confcast.tasks.chapters.marks import sidecar_chapters
from confcast.tasks.chapters.pdf import pdf_pages
from confcast.tasks.errors import MetadataError
from confcast.tasks.metadata import find_sidecar, load_sidecar
from confcast.tasks.models import ChapterMark, Frozen
from confcast.tasks.site.layout import file_sha256


class ChapterInputs(Frozen):
    marks: tuple[ChapterMark, ...] = ()  # the sidecar's chapters
    pdf: Path | None = None
    pdf_sha256: str | None = None
    pdf_pages: tuple[str, ...] = ()  # each page's text

    @property
    def empty(self) -> bool:
        return not self.marks and self.pdf is None

    def key_parts(self) -> tuple[object, ...]:
        """What of them shapes a publication (the PDF by its content, never its path); () when there is nothing."""
        if self.empty:
            return ()
        return (tuple(m.model_dump() for m in self.marks), self.pdf_sha256)


def chapter_inputs(source: Path, slides_folder: Path | None = None) -> ChapterInputs:
    """The chapters and slides PDF the sidecar beside `source` names; MetadataError (one line) for bad chapters
    or a missing or unreadable PDF. `slides_folder`: where the sidecar's `slides:` is found, when the sidecar no
    longer sits where it was written (a folder inbox moves it into processing/ and leaves the PDF in the inbox);
    by default the sidecar's own folder."""
    sidecar_path = find_sidecar(source)
    if sidecar_path is None:
        return ChapterInputs()
    sidecar = load_sidecar(sidecar_path)
    marks = sidecar_chapters(sidecar.chapters)
    if not sidecar.slides:
        return ChapterInputs(marks=marks)
    folder = (slides_folder or sidecar_path.parent).resolve()
    pdf = (folder / sidecar.slides).resolve()
    if not pdf.is_relative_to(folder):  # it is published for download: never a file from elsewhere on the machine
        raise MetadataError(
            f"sidecar {sidecar_path}: slides {sidecar.slides!r} is outside {folder}; put the PDF in that folder"
        )
    try:
        stamp = pdf.stat()
    except OSError:
        pdf_pages(pdf)  # a missing PDF: its one-line error
        raise
    pages, sha256 = read_pdf(pdf, stamp.st_mtime_ns, stamp.st_size)  # a broken PDF stops the run here
    return ChapterInputs(marks=marks, pdf=pdf, pdf_sha256=sha256, pdf_pages=pages)


@functools.lru_cache(maxsize=8)
def read_pdf(pdf: Path, mtime_ns: int, size: int) -> tuple[tuple[str, ...], str]:
    """Each page's text and the file's SHA-256, once per version of the file in a process: `confcast publish`
    checks the sidecar before Prefect starts, asks whether anything changed, then the flow reads it again."""
    return pdf_pages(pdf), file_sha256(pdf)
