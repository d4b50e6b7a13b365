"""A conference's chapters, slide text and slides PDF, made into files once the video and transcript are there.

Chapters come from the first of: the sidecar's `chapters`, the recording's own chapters, the slide changes found in
the ladder's decode (`tasks.chapters.detect`), each titled from its slide's text (`tasks.chapters.ocr`) or else from
the first words spoken after it. Every detected slide's text, and every page of the slides PDF (with the start of
the slide frame it matches), goes to `slides.json` for search. Files are written under out_dir/chapters/.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.chapters import detect, marks, ocr
from confcast.tasks.chapters.inputs import ChapterInputs
from confcast.tasks.media import ffmpeg
from confcast.tasks.media.ladder import fit_size
from confcast.tasks.media.video import build_thumb_args
from confcast.tasks.models import Chapter, ChapterSet, Probe, Segment, SlideFrames, SlideText

log = logging.getLogger(__name__)

CHAPTERS_PREFIX = "chapters-"
SLIDE_IMAGE_BOX = (320, 180)  # each slide's frame, kept small for the chapter list


@dataclass(frozen=True)
class Slide:
    start: float
    image: Path | None  # the frame read and kept (None when the decode kept none)
    title: str = ""
    text: str = ""


def find_slides(frames: SlideFrames) -> list[tuple[float, Path | None]]:
    """The slides of a talk (the first one at 0) and the kept frame showing each, settled after its change."""
    grey = detect.read_grey(frames.grey, frames.width, frames.height)
    if len(grey) == 0:
        return []
    found = [(0.0, detect.first_settled(grey, frames.rate))]
    found += [(change.start, change.settled) for change in detect.detect_changes(grey, frames.rate)]
    slides = []
    last = len(frames.frames) - 1  # frame k shows the picture at k seconds
    for number, (start, settled) in enumerate(found):
        low = math.ceil(start)
        high = math.floor(found[number + 1][0] - 0.01) if number + 1 < len(found) else last
        second = min(max(round(settled), low), max(high, low), last)
        slides.append((start, frames.frames[second] if last >= 0 else None))
    return slides


def read_slides(found: Sequence[tuple[float, Path | None]], language: str | None, warn: Callable[[str], None]
                ) -> list[Slide]:
    """OCR of each slide's frame; without Tesseract (a warning) the slides keep no text."""
    try:
        languages = ocr.ocr_languages(language, ocr.installed_languages())
    except (ocr.OcrError, OSError) as error:
        warn(str(error))
        return [Slide(start, image) for start, image in found]
    slides = []
    for start, image in found:
        reading = ocr.SlideReading("", "")
        if image is not None:
            try:
                reading = ocr.read_slide(image, languages)
            except ocr.OcrError as error:
                warn(f"{error}; that slide's chapter is titled from speech")
        slides.append(Slide(start, image, marks.clean_title(reading.title), reading.text))
    return slides


def choose_chapters(
    inputs: ChapterInputs, probe: Probe, slides: Sequence[Slide], segments: Sequence[Segment]
) -> tuple[str, list[Chapter]]:
    """The chapters and where they come from: the sidecar, else the recording, else the slide changes."""
    duration = probe.duration_s
    if inputs.marks:
        return "sidecar", marks.sidecar_chapter_list(inputs.marks, duration)
    if probe.chapters:
        return "recording", [Chapter(start=m.start, title=m.title) for m in probe.chapters]
    if len(slides) < 2:  # one picture all along: no chapters
        return "slides", []
    chapters = []
    for number, slide in enumerate(slides):
        end = slides[number + 1].start if number + 1 < len(slides) else duration
        title = slide.title or marks.spoken_title(segments, slide.start, end) or f"Slide {number + 1}"
        chapters.append(Chapter(start=round(slide.start, 3), title=title, image=slide.image))
    return "slides", chapters


def make_chapters(
    probe: Probe,
    frames: SlideFrames | None,
    inputs: ChapterInputs,
    segments: Sequence[Segment],
    language: str | None,
    out_dir: Path,
    warn: Callable[[str], None] = log.warning,
) -> ChapterSet | None:
    """The chapters track, podcast chapters, slides.json, slide images and PDF of a conference; None when there is
    nothing (no chapters, no slide text, no PDF)."""
    # A folder of this run's own: talks of one recording share its work folder and may run at once (a season on
    # two workers), each with its own chapters; the work folder goes once the last of them has published.
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=CHAPTERS_PREFIX, dir=out_dir))
    found = find_slides(frames) if frames is not None else []
    slides = read_slides(found, language, warn) if found else []
    source, chapters = choose_chapters(inputs, probe, slides, segments)
    chapters = [_with_small_image(chapter, folder, number) for number, chapter in enumerate(chapters, 1)]
    frame_texts = [SlideText(start=round(s.start, 3), text=s.text) for s in slides if s.text.strip()]
    texts = marks.shown_text(frame_texts, inputs.pdf_pages)
    if not chapters and not texts and inputs.pdf is None:
        shutil.rmtree(folder)
        return None
    vtt = json_file = pdf = None
    if chapters:
        vtt = folder / "chapters.vtt"
        vtt.write_text(marks.chapters_vtt(chapters, probe.duration_s), encoding="utf-8")
        json_file = folder / "chapters.json"
        json_file.write_text(marks.podcast_chapters(chapters), encoding="utf-8")
    slides_file = folder / "slides.json"
    slides_file.write_text(marks.slides_json(texts), encoding="utf-8")
    if inputs.pdf is not None:
        pdf = folder / "slides.pdf"
        shutil.copyfile(inputs.pdf, pdf)
    return ChapterSet(
        source=source,
        chapters=tuple(chapters),
        slides=tuple(texts),
        vtt=vtt,
        json=json_file,
        slides_json=slides_file,
        pdf=pdf,
        pdf_pages=len(inputs.pdf_pages),
    )


def _with_small_image(chapter: Chapter, folder: Path, number: int) -> Chapter:
    """The chapter with its slide's frame scaled down into the chapters folder."""
    if chapter.image is None:
        return chapter
    image = folder / f"slide-{number:03d}.jpg"
    source_size = _jpeg_size(chapter.image) or SLIDE_IMAGE_BOX
    width, height = fit_size(*source_size, *SLIDE_IMAGE_BOX)
    ffmpeg.make(build_thumb_args(chapter.image, width, height, image), image, f"making the image of slide {number}")
    return chapter.model_copy(update={"image": image})


def _jpeg_size(path: Path) -> tuple[int, int] | None:
    """A baseline or progressive JPEG's size, from its SOF marker."""
    data = path.read_bytes()
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[at + 7 : at + 9], "big"), int.from_bytes(data[at + 5 : at + 7], "big")
        at += 2 + length
    return None
