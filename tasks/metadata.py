"""Conference metadata from a sidecar file and command-line options, validated into a ConferenceMeta.

Everything here is typed by people: it is checked strictly, a slug can never become a path that climbs, and a slug
that holds another talk is never taken over silently (`slug_conflict`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import yaml
from anyascii import anyascii
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from confcast.tasks.errors import MetadataError
from confcast.tasks.models import ConferenceMeta, Cut, EventRef

MAX_TITLE_CHARS = 300
MAX_SPEAKER_CHARS = 200
MAX_DESCRIPTION_CHARS = 5000
MAX_SLUG_CHARS = 80
MAX_VOCABULARY_TERMS = 50  # Whisper's prompt holds about 400 characters: more terms could never reach it
MAX_TERM_CHARS = 60
MAX_SIDECAR_BYTES = 64 * 1024
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,%d})$" % (MAX_SLUG_CHARS - 1))
LANGUAGE_PATTERN = re.compile(r"^(auto|[a-z]{2,3})$")
SIDECAR_SUFFIXES = (".yaml", ".yml", ".json")


TITLE_HASH_CHARS = 8  # tells apart titles with nothing to spell (only punctuation or emoji) on one date


def ascii_text(title: str) -> str:
    """The title in ASCII. What has an ASCII form once its accents are gone is spelled that way, as it always was
    (published slugs keep their names); other Latin letters (ß, œ, ł) are transliterated in place, and other scripts
    (Cyrillic, Greek, CJK, Arabic...) as separate words (anyascii spells each CJK character as a capitalised
    syllable: `RiBenYu` becomes `Ri Ben Yu`)."""

    def kind(ch: str) -> str:
        if ch.isascii() or unicodedata.normalize("NFKD", ch).encode("ascii", "ignore"):
            return "plain"
        return "latin" if unicodedata.name(ch, "").startswith("LATIN ") else "other"

    runs: list[list[str]] = []  # [kind, text]; a combining mark stays with the letter it marks
    for ch in title:
        which = runs[-1][0] if runs and unicodedata.combining(ch) else kind(ch)
        if runs and runs[-1][0] == which:
            runs[-1][1] += ch
        else:
            runs.append([which, ch])
    spelled = {
        "plain": lambda text: unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii"),
        "latin": anyascii,
        "other": lambda text: " " + re.sub(r"(?<=[a-z])(?=[A-Z])", " ", anyascii(text)) + " ",
    }
    return "".join(spelled[which](text) for which, text in runs)


def slugify(title: str, date: dt.date) -> str:
    """`2026-04-04-le-titre-en-ascii`: ASCII, lower case, hyphens, bounded length; never the bare date. A title
    without a letter or digit, or whose letters have no ASCII spelling (characters newer than the transliteration
    table), also gets a short hash of itself, so that two such talks on one date stay apart."""
    prefix = f"{date.isoformat()}-"
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text(title).lower()).strip("-")
    if not words or not any(unicodedata.category(ch)[0] in "LN" for ch in title):
        digest = hashlib.sha256(title.encode("utf-8", "surrogatepass")).hexdigest()[:TITLE_HASH_CHARS]
        room = MAX_SLUG_CHARS - len(prefix) - len(digest) - 1  # the hash is never cut off
        words = "-".join(part for part in (words[:room].strip("-"), digest) if part)
    return (prefix + words)[:MAX_SLUG_CHARS].rstrip("-")


def validate_slug(slug: str) -> str:
    """A given slug is one folder name: lower-case letters, digits, `-` and `_`; no `/`, no dots."""
    if not SLUG_PATTERN.fullmatch(slug):
        raise MetadataError(
            f"invalid slug {slug!r}: use 1-{MAX_SLUG_CHARS} lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit (no '/', '.', '..')"
        )
    return slug


def is_noncharacter(ch: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane (U+FFFE, U+FFFF, U+1FFFE...): never text."""
    point = ord(ch)
    return 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE


def keeps(ch: str) -> bool:
    """Whether a character may stay in metadata: what XML 1.0 (the feed) can hold, less other controls."""
    return ch in "\n\t" or (unicodedata.category(ch) not in ("Cc", "Cs") and not is_noncharacter(ch))


def clean_text(value: str, *, field: str, max_chars: int) -> str:
    """Strip control characters, lone surrogates, non-characters (U+FFFE, U+FFFF...) and surrounding space: one of
    them in a title made feed.xml unreadable for every subscriber. A title is text, never markup (escaping is the
    page's job)."""
    try:
        text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # undecodable bytes -> U+FFFD
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte (e.g. "\ud800" in a JSON sidecar)
        text = value
    cleaned = "".join(ch for ch in text if keeps(ch)).strip()
    if len(cleaned) > max_chars:
        raise MetadataError(f"{field} is {len(cleaned)} characters long; shorten it to at most {max_chars}")
    return cleaned


TIME_PATTERN = re.compile(r"^(?:(?:(\d+):)?(\d{1,2}):)?(\d+(?:\.\d+)?)$")
MAX_TALKS = 50


def parse_time(value: str | float | int, *, field: str) -> float:
    """A time in a recording, `1:02:03.5`, `2:03`, `62.5` or a number of seconds, as seconds."""
    if isinstance(value, bool):
        raise MetadataError(f"{field}: {value!r} is not a time; write seconds (62.5) or H:MM:SS.s (1:02:03.5)")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        found = TIME_PATTERN.fullmatch(str(value).strip())
        if found is None:
            raise MetadataError(f"{field}: {value!r} is not a time; write seconds (62.5) or H:MM:SS.s (1:02:03.5)")
        hours, minutes, rest = found.groups()
        if (hours is not None or minutes is not None) and float(rest) >= 60:
            raise MetadataError(f"{field}: {value!r} has {rest} seconds; write at most 59.999 after a colon")
        if hours is not None and int(minutes) >= 60:
            raise MetadataError(f"{field}: {value!r} has {minutes} minutes; write at most 59 after the hours")
        seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(rest)
    if not seconds >= 0 or seconds == float("inf"):
        raise MetadataError(f"{field}: {value!r} is not a time in the recording; give 0 or more seconds")
    return round(seconds, 6)


TimeValue = str | float | int


class EventSpec(BaseModel):
    """`event:` in a sidecar: the evening that several talks of one recording belong to."""

    model_config = ConfigDict(extra="forbid", strict=False)

    title: str
    date: dt.date | None = None
    place: str | None = None
    description: str | None = None
    slug: str | None = None


class TalkSpec(BaseModel):
    """One entry of `talks:` in a sidecar: a talk cut from the recording at `start`..`end` (end: the recording's)."""

    model_config = ConfigDict(extra="forbid", strict=False)

    title: str
    speakers: list[str] = Field(default_factory=list, max_length=50)
    start: TimeValue
    end: TimeValue | None = None
    description: str | None = None
    language: str | None = None
    slug: str | None = None

    @field_validator("speakers", mode="before")
    @classmethod
    def one_speaker_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Sidecar(BaseModel):
    """The metadata file beside a recording (`talk.mp4.yaml`, `talk.yaml` or `.json`)."""

    model_config = ConfigDict(extra="forbid", strict=False)

    title: str | None = None
    date: dt.date | None = None
    speakers: list[str] = Field(default_factory=list, max_length=50)
    description: str | None = None
    language: str | None = None
    slug: str | None = None
    start: TimeValue | None = None  # one talk trimmed out of the recording
    end: TimeValue | None = None
    event: EventSpec | None = None  # an evening of several talks (tasks/event.py)
    talks: list[TalkSpec] | None = Field(default=None, max_length=MAX_TALKS)
    chapters: list[Any] = Field(default_factory=list)  # [{start, title}]: checked by tasks/chapters/inputs.py
    slides: str | None = None  # the slides PDF, beside the sidecar (tasks/chapters/inputs.py)
    vocabulary: list[str] = Field(default_factory=list, max_length=MAX_VOCABULARY_TERMS)

    @field_validator("speakers", "vocabulary", mode="before")
    @classmethod
    def one_item_as_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def find_sidecar(source: Path) -> Path | None:
    """`talk.mp4.yaml` first, then `talk.yaml` (each also `.yml` and `.json`)."""
    for base in (source.with_name(source.name), source.with_suffix("")):
        for suffix in SIDECAR_SUFFIXES:
            candidate = base.with_name(base.name + suffix)
            if candidate.is_file():
                return candidate
    return None


def load_sidecar(path: Path) -> Sidecar:
    size = path.stat().st_size
    if size > MAX_SIDECAR_BYTES:
        raise MetadataError(f"sidecar {path} is {size} bytes; metadata files are limited to {MAX_SIDECAR_BYTES}")
    return parse_sidecar(path.read_bytes(), path)


def parse_sidecar(data: bytes, path: Path | str) -> Sidecar:
    """A sidecar's fields from its bytes (`path`: where it lies, for its format and the messages)."""
    if len(data) > MAX_SIDECAR_BYTES:
        raise MetadataError(f"sidecar {path} is {len(data)} bytes; metadata files are limited to {MAX_SIDECAR_BYTES}")
    suffix = Path(path).suffix
    text = data.decode("utf-8", errors="replace")
    try:
        fields = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise MetadataError(f"sidecar {path} is not valid {suffix[1:].upper()}: {error}") from None
    except RecursionError:  # both parsers recurse once per level: `[[[[...]]]]` thousands deep exhausts the stack
        raise MetadataError(
            f"sidecar {path} is nested too deeply (lists or mappings inside each other, thousands of levels); "
            "write a flat mapping of fields: title, date, speakers, description, language, slug, vocabulary"
        ) from None
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise MetadataError(f"sidecar {path} must hold a mapping of fields (title, date, speakers, ...)")
    try:
        return Sidecar.model_validate(fields)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise MetadataError(f"sidecar {path}: field {where}: {first['msg']}") from None


class PublishedSource(Protocol):
    @property
    def sha256(self) -> str: ...


class PublishedTalk(Protocol):
    """What `slug_conflict` reads of the manifest published under a slug (tasks/site/layout.py, Manifest)."""

    @property
    def title(self) -> str: ...
    @property
    def date(self) -> dt.date: ...
    @property
    def source(self) -> PublishedSource: ...


def slug_conflict(slug: str, published: PublishedTalk | None, source_sha256: str, replace: bool) -> str | None:
    """Why a recording may not be published under `slug`, or None when it may: the slug is free, holds this very
    recording (new metadata for the same talk), or the operator asked to replace the talk there."""
    if published is None or published.source.sha256 == source_sha256 or replace:
        return None
    return (
        f"slug {slug!r} already holds another talk, {published.title!r} of {published.date.isoformat()}, "
        "published from a different recording; publish this one under another slug (--slug another-slug, or "
        "slug: in its sidecar file), or give --replace to replace that talk on purpose"
    )


def clean_vocabulary(terms: Iterable[str], *, where: str = "vocabulary") -> tuple[str, ...]:
    """Vocabulary terms as Whisper's prompt gets them: text (no control characters), each at most MAX_TERM_CHARS,
    at most MAX_VOCABULARY_TERMS of them, blanks dropped; anything else is a one-line MetadataError."""
    kept = []
    for term in terms:
        if not isinstance(term, str):
            raise MetadataError(f"{where}: {term!r} is not text; write each term as a string (a word or a name)")
        cleaned = " ".join(clean_text(term, field=f"{where} term {term[:20]!r}", max_chars=MAX_TERM_CHARS).split())
        if cleaned:
            kept.append(cleaned)
    if len(kept) > MAX_VOCABULARY_TERMS:
        raise MetadataError(
            f"{where} holds {len(kept)} terms; give at most {MAX_VOCABULARY_TERMS} (Whisper's prompt holds about "
            "400 characters): keep the proper nouns it gets wrong"
        )
    return tuple(kept)


def parse_date(value: str | dt.date | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise MetadataError(f"invalid date {value!r}: use YYYY-MM-DD, for example 2026-04-04") from None


def build_meta(
    source: Path,
    *,
    title: str | None = None,
    date: str | dt.date | None = None,
    speakers: list[str] | None = None,
    description: str | None = None,
    language: str | None = None,
    slug: str | None = None,
    vocabulary: list[str] | None = None,
    default_language: str = "auto",
    today: dt.date | None = None,
    start: TimeValue | None = None,
    end: TimeValue | None = None,
    event: EventRef | None = None,
) -> ConferenceMeta:
    """Options override the sidecar file, which overrides defaults (title from the file name, today's date).
    `start`/`end` trim the talk out of the recording (the end checked against the recording once probed);
    `event`: the event an event's talk belongs to (tasks/event.py)."""
    try:
        str(source).encode("utf-8")
    except UnicodeEncodeError:
        # The path travels as JSON (Prefect parameters, manifest): it must be text.
        shown = os.fsencode(source).decode("utf-8", "replace")
        raise MetadataError(
            f"{shown}: the file name is not valid UTF-8 text; rename the file and publish it again"
        ) from None
    sidecar_path = find_sidecar(source)
    sidecar = load_sidecar(sidecar_path) if sidecar_path else Sidecar()
    if sidecar.talks is not None and event is None:  # never the whole evening published as one talk by mistake
        raise MetadataError(
            f"sidecar {sidecar_path} describes an event's talks: publish it with `confcast publish {source.name}` "
            "(the inbox and --via-server publish one talk only)"
        )

    chosen_title = title if title is not None else sidecar.title
    if chosen_title is None:
        chosen_title = source.stem.replace("_", " ").replace("-", " ")
    chosen_title = clean_text(chosen_title, field="title", max_chars=MAX_TITLE_CHARS)
    if not chosen_title:
        raise MetadataError("the title is empty: give --title or a title in the sidecar file")

    chosen_date = parse_date(date) or sidecar.date or today or dt.date.today()
    chosen_speakers = tuple(
        clean_text(name, field="speaker", max_chars=MAX_SPEAKER_CHARS)
        for name in (speakers if speakers else sidecar.speakers)
        if name.strip()
    )
    chosen_description = clean_text(
        description if description is not None else (sidecar.description or ""),
        field="description",
        max_chars=MAX_DESCRIPTION_CHARS,
    )
    chosen_language = (language or sidecar.language or default_language).strip().lower()
    if not LANGUAGE_PATTERN.fullmatch(chosen_language):
        raise MetadataError(f"invalid language {chosen_language!r}: use auto or a code such as fr or en")

    chosen_vocabulary = clean_vocabulary(vocabulary if vocabulary else sidecar.vocabulary)
    given_slug = slug if slug is not None else sidecar.slug
    chosen_slug = validate_slug(given_slug) if given_slug is not None else slugify(chosen_title, chosen_date)
    return ConferenceMeta(
        title=chosen_title,
        date=chosen_date,
        slug=chosen_slug,
        speakers=chosen_speakers,
        description=chosen_description,
        language=chosen_language,
        cut=make_cut(start if start is not None else sidecar.start, end if end is not None else sidecar.end),
        event=event,
        vocabulary=chosen_vocabulary,
    )


MIN_TALK_S = 1.0  # a talk shorter than this is empty


def make_cut(start: TimeValue | None, end: TimeValue | None, where: str = "") -> Cut | None:
    """The cut of `--start`/`--end` (or a talk's `start`/`end`): None when neither is given; an end before the
    start, or a talk shorter than MIN_TALK_S, is refused (the end is checked against the recording once probed)."""
    if start is None and end is None:
        return None
    start_s = parse_time(start, field=f"{where}start") if start is not None else 0.0
    end_s = parse_time(end, field=f"{where}end") if end is not None else None
    if end_s is not None and end_s <= start_s:
        raise MetadataError(
            f"{where}end {clock_text(end_s)} is not after {where}start {clock_text(start_s)}; "
            "give an end later than the start"
        )
    if end_s is not None and end_s - start_s < MIN_TALK_S:
        raise MetadataError(
            f"{where}start {clock_text(start_s)} to end {clock_text(end_s)} is an empty talk "
            f"(under {MIN_TALK_S:g} s); check the times"
        )
    return Cut(start_s=start_s, end_s=end_s)


def clock_text(seconds: float) -> str:
    """`1:02:03.500` (hours always shown): how errors name a time."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours)}:{int(minutes):02d}:{secs:06.3f}"
