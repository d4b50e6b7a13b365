"""What the catalog's search indexes, as pure functions: HTML documents of each talk, for Pagefind.

Pagefind (tasks/site/pagefind_index.py runs it) builds the index from these documents; the catalog's script
(static/search.js) queries it in the browser. A talk is a document of its title, speakers and description (weighted
above the rest) and its slide text when it publishes `slides.json` (weighted too), then documents of ten minutes of
one caption track each, every cue a section whose heading carries the cue's moment as its id (`t=83.5`): Pagefind
returns the documents, and the sections that match as sub-results; the script groups them by talk (meta `page`)
and links each moment to `conferences/<slug>/index.html#t=...`, which starts the video there. Each language gets
its own index (its stemmer: "portes" finds "porte"); the script searches them all.

Everything comes from what a talk publishes (its manifest, its caption files, its slides), so the index is rebuilt
from storage alone after every change.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confcast.tasks.site.layout import CaptionTrack, Manifest, conference_prefix

SEARCH_FOLDER = "search"  # search/pagefind.js, search/bundles.json, search/<lang>/... (one Pagefind bundle each)
BUNDLES = f"{SEARCH_FOLDER}/bundles.json"  # which languages have a bundle: the script reads it on the first search
# How much more a word counts where it is (Pagefind's data-pagefind-weight; spoken text is 1).
TITLE_WEIGHT = 10
SPEAKER_WEIGHT = 8
SLIDE_WEIGHT = 3
DESCRIPTION_WEIGHT = 2
PART_SECONDS = 600  # speech is indexed in parts of 10 minutes: a search loads the text of the parts that match
_LANG = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class Moment:
    """A passage a viewer can jump to: a caption cue or a slide; `start` None is the talk as a whole."""

    start: float | None
    text: str


@dataclass(frozen=True)
class SearchDocument:
    """One talk in one language, ready for Pagefind: `url` relative to the site root."""

    slug: str
    lang: str
    path: str  # where Pagefind reads it, relative: conferences/<slug>/index.html, .../part-N.html for speech
    html: str


def index_language(lang: str) -> str:
    """The two- or three-letter code Pagefind stems with (`fr-CA` -> `fr`); `unknown` when it is not one."""
    base = lang.lower().split("-")[0].split("_")[0]
    return base if _LANG.fullmatch(base) else "unknown"


def search_tracks(manifest: Manifest) -> list[CaptionTrack]:
    """The caption tracks to index: one per language, the reviewed one where a language has two."""
    chosen: dict[str, CaptionTrack] = {}
    for track in manifest.captions:
        held = chosen.get(track.lang)
        if held is None or (held.status != "reviewed" and track.status == "reviewed"):
            chosen[track.lang] = track
    return list(chosen.values())


def cue_moments(cues: Iterable[tuple[float, str]]) -> tuple[Moment, ...]:
    """Cues (start, text) as moments, whitespace collapsed, empty ones left out."""
    moments = []
    for start, text in cues:
        words = " ".join(text.split())
        if words:
            moments.append(Moment(start=round(start, 2), text=words))
    return tuple(moments)


def parse_slides(raw: bytes) -> tuple[Moment, ...]:
    """A talk's slides.json as moments; an error names what is wrong (the caller reports it and goes on)."""
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("slides"), list):
        raise ValueError('slides.json must be {"slides": [{"start": seconds or null, "text": "..."}]}')
    moments = []
    for slide in data["slides"]:
        if not isinstance(slide, dict) or not isinstance(slide.get("text", ""), str):
            raise ValueError("each slide must be an object with a text")
        start = slide.get("start")
        if start is not None and (isinstance(start, bool) or not isinstance(start, int | float) or start < 0):
            raise ValueError(f"a slide's start must be seconds or null, not {start!r}")
        words = " ".join(str(slide.get("text", "")).split())
        if words:
            moments.append(Moment(start=None if start is None else round(float(start), 2), text=words))
    return tuple(moments)


def slides_path(manifest: Manifest) -> str | None:
    """The slides.json a manifest lists (`slides.json`), relative to the talk's folder; None when none."""
    return manifest.slides.json_ if manifest.slides is not None else None


def anchor(start: float) -> str:
    """The id of a moment's heading, and so the fragment of its address: `t=83.5`."""
    return f"t={start:g}"


def talk_documents(
    manifest: Manifest, lang: str, moments: Sequence[Moment], slides: Sequence[Moment] = ()
) -> list[SearchDocument]:
    """The HTML Pagefind indexes for one talk in one language (every value escaped: a title is text, never HTML).

    The first document is the talk itself: its title, speakers, description and slides, weighted above speech.
    Then its speech, cut in parts of PART_SECONDS, so that a search loads the text of the parts that match, not of
    whole talks. Every document carries the meta `title`, `date` and `page` (the talk's page, relative to the site
    root) and the filters `speaker` and `year`, in an element Pagefind does not index (they are found through the
    first document).
    """
    e = html.escape
    page = f"{conference_prefix(manifest.slug)}/{manifest.page}"
    code = index_language(lang)
    labels = "".join([
        f'<span data-pagefind-meta="title">{e(manifest.title)}</span>',
        f'<span data-pagefind-meta="page:{e(page)}"></span>',  # a slug and a file name: no comma, no colon
        f'<span data-pagefind-meta="date:{manifest.date.isoformat()}"></span>',
        f'<span data-pagefind-filter="year:{manifest.date.year}"></span>',
        *(f'<span data-pagefind-filter="speaker">{e(name)}</span>' for name in manifest.speakers),
    ])
    hidden = f"<div data-pagefind-ignore>{labels}</div>"

    def document(path: str, content: str) -> SearchDocument:
        text = (f'<!DOCTYPE html><html lang="{code}"><head><meta charset="utf-8"><title>{e(manifest.title)}</title>'
                f"</head><body data-pagefind-body>{hidden}{content}</body></html>")
        return SearchDocument(slug=manifest.slug, lang=code, path=path, html=text)

    # Each moment is a heading with an id: Pagefind's sub-results are the sections that start at a heading, and
    # their addresses end with its id. The weight is set, since Pagefind would weigh a heading's words up.
    def heading(start: float, weight: int, text: str) -> str:
        return f'<h2 id="{anchor(start)}" data-pagefind-weight="{weight}">{e(text)}</h2>'

    head = [f'<h1 data-pagefind-weight="{TITLE_WEIGHT}">{e(manifest.title)}</h1>']
    head += [f'<p data-pagefind-weight="{SPEAKER_WEIGHT}">{e(name)}</p>' for name in manifest.speakers]
    if manifest.description.strip():
        head.append(f'<p data-pagefind-weight="{DESCRIPTION_WEIGHT}">{e(manifest.description)}</p>')
    head += [f'<p data-pagefind-weight="{SLIDE_WEIGHT}">{e(s.text)}</p>' for s in slides if s.start is None]
    head += [heading(s.start, SLIDE_WEIGHT, s.text) for s in sorted(
        (s for s in slides if s.start is not None), key=lambda s: s.start or 0.0)]
    documents = [document(page, "".join(head))]
    parts: dict[int, list[str]] = {}
    for moment in sorted((m for m in moments if m.start is not None), key=lambda m: m.start or 0.0):
        start = moment.start or 0.0
        parts.setdefault(int(start // PART_SECONDS), []).append(heading(start, 1, moment.text))
    folder = conference_prefix(manifest.slug)
    documents += [document(f"{folder}/part-{number}.html", "".join(parts[number])) for number in sorted(parts)]
    return documents


def bundle_folder(lang: str) -> str:
    return f"{SEARCH_FOLDER}/{lang}"


def bundles_json(languages: Iterable[str]) -> bytes:
    """search/bundles.json: `{"languages": {"fr": "fr/", ...}}`, folders relative to search/."""
    data = {"languages": {lang: f"{lang}/" for lang in sorted(set(languages))}}
    return json.dumps(data, separators=(",", ":")).encode("utf-8")
