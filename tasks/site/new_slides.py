"""A new slides PDF (added, replaced or removed) for a published talk, from storage alone: no decode, no OCR.

The published slides.json keeps the text read on each slide frame, with its time. A new PDF's pages are matched to
that text as a publication matches them to the frames themselves (tasks/chapters/marks.py `shown_text`), so the
new slides.json, the PDF and the manifest's slides entry are those an encode would have made, under content-tagged
names beside the old ones. Whether the frames are still the published ones is the frames key's business
(tasks/fingerprint.py ContentKeys.frames).
"""

from __future__ import annotations

from confcast.tasks.chapters.inputs import ChapterInputs
from confcast.tasks.chapters.marks import read_slides_json, shown_text, slides_json
from confcast.tasks.errors import PublishError
from confcast.tasks.models import SlideText
from confcast.tasks.site.layout import (
    SLIDES_JSON,
    SLIDES_PDF,
    Manifest,
    SlidesInfo,
    conference_prefix,
)
from confcast.tasks.site.tracks import file_writer, text_writer
from confcast.tasks.storage.base import Storage


def published_frames(storage: Storage, manifest: Manifest) -> tuple[SlideText, ...]:
    """The text read on the talk's slide frames, from its published slides.json (the PDF's pages left out);
    PublishError, saying what is wrong with that file, when it cannot be read."""
    if manifest.slides is None:  # nothing was read on its frames, and it had no PDF
        return ()
    key = f"{conference_prefix(manifest.slug)}/{manifest.slides.json_}"
    raw = storage.get_bytes(key)
    problem = "is missing although the manifest names it"
    if raw is not None:
        try:
            return tuple(slide for slide in read_slides_json(raw) if slide.page is None)
        except ValueError as error:
            problem = f"is not a slides.json ({str(error).splitlines()[0]})"
    raise PublishError(f"{storage.url}/{key} {problem}")


def frames_problem(storage: Storage, manifest: Manifest) -> str | None:
    """Why the talk's published slide text cannot be read (a new PDF then needs the frames read anew), or None."""
    try:
        published_frames(storage, manifest)
    except PublishError as error:
        return str(error)
    return None


def with_new_slides(
    storage: Storage, manifest: Manifest, inputs: ChapterInputs, frames: tuple[SlideText, ...]
) -> Manifest:
    """Write slides.json (the `frames`' text, `published_frames`, and the pages of the PDF `inputs` names) and that
    PDF (none: the talk offers no PDF any more) into the talk's folder and return its manifest listing them; the
    caller writes the manifest and pages, under the site lock."""
    texts = shown_text(frames, inputs.pdf_pages)
    if not texts and inputs.pdf is None and manifest.chapters is None:  # as a publication: nothing to list
        return manifest.model_copy(update={"slides": None})
    prefix = conference_prefix(manifest.slug)
    pdf_key = pdf_bytes = None
    if inputs.pdf is not None:
        data = inputs.pdf.read_bytes()
        pdf_key, pdf_bytes = file_writer(storage, prefix)(SLIDES_PDF, data), len(data)
    slides = SlidesInfo(
        json=text_writer(storage, prefix)(SLIDES_JSON, slides_json(texts)),
        pdf=pdf_key,
        pdf_bytes=pdf_bytes,
        pages=len(inputs.pdf_pages),
    )
    return manifest.model_copy(update={"slides": slides})
