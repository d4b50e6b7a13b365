"""Chapters as data, pure functions: times typed by people (`1:02:03.5` or seconds), the sidecar's chapter list,
the recording's own chapters (ffprobe's), titles from the first words spoken, and the published forms: a WebVTT
chapters track, Podcasting 2.0 chapters JSON and the slides' text (`slides.json`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from confcast.tasks.chapters.pdf import match_pages
from confcast.tasks.errors import MetadataError
from confcast.tasks.models import Chapter, ChapterMark, Segment, SlideText

MAX_CHAPTERS = 500
MAX_TITLE_CHARS = 200
SPOKEN_TITLE_WORDS = 8  # a chapter without slide text is titled with the first words spoken after its start
SPOKEN_WITHIN_S = 20.0  # ... said within this many seconds of its start
PODCAST_CHAPTERS_VERSION = "1.2.0"

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def parse_time(value: Any, what: str) -> float:
    """Seconds from `1:02:03.5`, `2:03`, `123.5` or a number; MetadataError naming `what` otherwise."""
    if isinstance(value, bool):
        raise MetadataError(f"{what}: {value!r} is not a time; write seconds (95.5) or h:mm:ss (1:35.5)")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        found = _CLOCK.fullmatch(text)
        try:
            if found:
                hours, minutes, secs = found.groups()
                if int(minutes) >= 60 and hours is not None or float(secs) >= 60:
                    raise ValueError(text)
                seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
            else:
                seconds = float(text)
        except ValueError:
            raise MetadataError(
                f"{what}: {text!r} is not a time; write seconds (95.5) or h:mm:ss (1:35.5)"
            ) from None
    if not seconds >= 0 or seconds == float("inf"):
        raise MetadataError(f"{what}: {value!r} is not a time at or after the start of the recording")
    return seconds


def clean_title(text: str) -> str:
    """One line of at most MAX_TITLE_CHARS characters, control characters gone."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= MAX_TITLE_CHARS else flat[: MAX_TITLE_CHARS - 1].rstrip() + "…"


def sidecar_chapters(items: Sequence[Any]) -> tuple[ChapterMark, ...]:
    """The sidecar's `chapters: [{start, title}]`, checked: times in order, titles not empty."""
    if len(items) > MAX_CHAPTERS:
        raise MetadataError(f"chapters: {len(items)} chapters; at most {MAX_CHAPTERS} are allowed")
    marks = []
    for number, item in enumerate(items, 1):
        what = f"chapters: chapter {number}"
        if not isinstance(item, dict) or set(item) - {"start", "title"} or "start" not in item:
            raise MetadataError(f"{what} must be a mapping with start and title (start: 1:02:03.5, title: Intro)")
        title = clean_title(str(item.get("title") or ""))
        if not title:
            raise MetadataError(f"{what} has no title")
        marks.append(ChapterMark(start=parse_time(item["start"], what), title=title))
    for before, after in zip(marks, marks[1:], strict=False):
        if after.start <= before.start:
            raise MetadataError(
                f"chapters: {after.title!r} starts at {after.start:g} s, not after {before.title!r} "
                f"({before.start:g} s); list chapters in order of their start"
            )
    return tuple(marks)


def recording_chapters(probe_json: dict[str, Any]) -> tuple[ChapterMark, ...]:
    """The recording's own chapters, from ffprobe's `-show_chapters` JSON (untitled ones numbered)."""
    marks = []
    for number, item in enumerate(probe_json.get("chapters") or (), 1):
        try:
            start = float(item.get("start_time"))
        except (TypeError, ValueError):
            continue
        title = clean_title(str((item.get("tags") or {}).get("title") or "")) or f"Chapter {number}"
        if start >= 0 and (not marks or start > marks[-1].start):
            marks.append(ChapterMark(start=start, title=title))
    return tuple(marks[:MAX_CHAPTERS])


def within(marks: Iterable[ChapterMark], duration_s: float) -> tuple[ChapterMark, ...]:
    """The chapters that start inside the recording; the first one moved to 0 when it starts a little later."""
    kept = [m for m in marks if m.start < duration_s]
    if kept and kept[0].start < 1.0:
        kept[0] = kept[0].model_copy(update={"start": 0.0})
    return tuple(kept)


def sidecar_chapter_list(given: Iterable[ChapterMark], duration_s: float) -> list[Chapter]:
    """The sidecar's chapters as a publication lists them: those within the talk (`within`). Pure."""
    return [Chapter(start=m.start, title=m.title) for m in within(given, duration_s)]


def spoken_title(segments: Sequence[Segment], start: float, end: float) -> str | None:
    """The first words spoken from `start` (before `end` and within SPOKEN_WITHIN_S), as a title; None if silent."""
    limit = min(end, start + SPOKEN_WITHIN_S)
    words: list[str] = []
    for segment in segments:
        if segment.end <= start or segment.start >= limit:
            continue
        if segment.words:
            words += [w.text.strip() for w in segment.words if start - 0.2 <= w.start < limit and w.text.strip()]
        elif segment.start >= start - 0.2:
            words += segment.text.split()
        if len(words) >= SPOKEN_TITLE_WORDS:
            break
    if not words:
        return None
    title = clean_title(" ".join(words[:SPOKEN_TITLE_WORDS]))
    return title + ("…" if len(words) > SPOKEN_TITLE_WORDS else "")


def _clock(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def chapters_vtt(chapters: Sequence[Chapter], duration_s: float) -> str:
    """A WebVTT chapters track: one cue a chapter, running to the next one (the last to the end)."""
    lines = ["WEBVTT", ""]
    for number, chapter in enumerate(chapters):
        end = chapters[number + 1].start if number + 1 < len(chapters) else duration_s
        end = max(end, chapter.start + 0.001)
        title = chapter.title.replace("-->", "→")  # a cue's text may not hold the timing arrow
        lines += [f"chapter-{number + 1}", f"{_clock(chapter.start)} --> {_clock(end)}", title, ""]
    return "\n".join(lines)


def podcast_chapters(chapters: Sequence[Chapter]) -> str:
    """Podcasting 2.0 chapters JSON (`application/json+chapters`, version 1.2.0)."""
    document = {
        "version": PODCAST_CHAPTERS_VERSION,
        "chapters": [{"startTime": round(c.start, 3), "title": c.title} for c in chapters],
    }
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def slides_json(slides: Sequence[SlideText]) -> str:
    """`{"slides": [{"start": seconds or null, "text": ...}]}`: the text shown in the talk, for search."""
    items = []
    for slide in slides:
        item: dict[str, Any] = {"start": None if slide.start is None else round(slide.start, 3), "text": slide.text}
        if slide.page is not None:
            item["page"] = slide.page
        items.append(item)
    return json.dumps({"slides": items}, ensure_ascii=False, indent=1) + "\n"


def shown_text(frames: Sequence[SlideText], pdf_pages: Sequence[str]) -> tuple[SlideText, ...]:
    """What slides.json lists: the text read on each slide frame (`frames`, with their starts), then each page of the
    slides PDF with the start of the first frame that shows it (None when none does). Pure."""
    read = [(frame.start, frame.text) for frame in frames if frame.start is not None and frame.text.strip()]
    starts = match_pages(pdf_pages, read)
    pages = tuple(
        SlideText(start=None if start is None else round(start, 3), text=text, page=number)
        for number, (text, start) in enumerate(zip(pdf_pages, starts, strict=True), 1)
        if text.strip()
    )
    return (*frames, *pages)


def read_slides_json(raw: bytes) -> tuple[SlideText, ...]:
    """A slides.json as `slides_json` writes it, read back; ValueError names what is wrong."""
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("slides"), list):
        raise ValueError('it is not {"slides": [...]}')
    return tuple(SlideText.model_validate(item) for item in data["slides"])
