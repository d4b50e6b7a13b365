"""Search data for the catalog: words spoken in every talk, built at publish time as static JSON (pure functions).

The catalog page loads nothing until someone searches. Then it fetches, for each word typed:
- `search/index.json` (short cache): the conferences (title, page, folder of passage chunks) and each shard's file;
- `search/<xy>.<tag>.json` (immutable): the shard of terms starting with `xy`;
- for the conferences every word hits, only the chunks of their passages (start time and text) where all the
  words occur: `conferences/<slug>/search.<tag>/<n>.json` (immutable), about a hundred passages each, scanned in the
  browser to show snippets. A shard maps each term to `[conference, chunk mask, ...]`.
So a search with a hundred talks of two hours loads one small shard per word and a few chunks of the talks that
match, never the whole site's text (`confcast bench search` measures it).

Matching ignores case and accents (`Réseau` = `reseau`, `œuvre` = `oeuvre`); `normalize` here and `fold` in the
catalog's script must agree, character by character (a browser test holds them to it).
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from confcast.tasks.models import Segment
from confcast.tasks.site.layout import conference_prefix, content_tag

SEARCH_SCHEMA = 1
SEARCH_INDEX = "search/index.json"
SHARD_FOLDER = "search"
PASSAGES_NAME = "search"  # conferences/<slug>/search.<tag>/<n>.json
MIN_TERM_CHARS = 2  # one-letter words (a, à, l', d') would hit every talk
SHARD_CHARS = 2  # terms are grouped by their first two characters
CHUNK_PASSAGES = 100  # passages per chunk file (about 8 minutes of speech, 13 kB)
MAX_CHUNKS = 52  # a chunk mask must stay an exact integer in JavaScript (2**53)
_LIGATURES = {"œ": "oe", "æ": "ae", "ß": "ss", "ﬁ": "fi", "ﬂ": "fl"}
_WORD_RE = re.compile(r"[^\W_]+")


@functools.lru_cache(maxsize=4096)
def fold(char: str) -> str:
    """One character, lower-cased and without accents; may be empty (a lone accent) or longer (œ -> oe)."""
    lowered = char.lower()
    lowered = "".join(_LIGATURES.get(c, c) for c in lowered)
    return "".join(c for c in unicodedata.normalize("NFD", lowered) if not unicodedata.category(c).startswith("M"))


def normalize(text: str) -> str:
    if text.isascii():
        return text.lower()  # the common case, and the same result
    return "".join(fold(char) for char in text)


def terms_of(text: str) -> set[str]:
    """The distinct searchable words of a text, normalized."""
    return {word for word in _WORD_RE.findall(normalize(text)) if len(word) >= MIN_TERM_CHARS}


def shard_name(term: str) -> str:
    """The shard of a term: its first two characters when they are ASCII letters or digits, else `_`."""
    head = term[:SHARD_CHARS]
    return head if re.fullmatch(r"[a-z0-9]{%d}" % SHARD_CHARS, head) else "_"


# --- one conference ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    start: float
    text: str


def passages_of(segments: Iterable[Segment]) -> tuple[Passage, ...]:
    """The transcript's segments as passages (one per segment, whitespace collapsed, empty ones left out)."""
    passages = []
    for segment in segments:
        text = " ".join(segment.text.split())
        if text:
            passages.append(Passage(start=round(segment.start, 2), text=text))
    return tuple(passages)


def chunk_length(count: int) -> int:
    """Passages per chunk: CHUNK_PASSAGES, more for very long talks so that they have at most MAX_CHUNKS."""
    return max(CHUNK_PASSAGES, -(-count // MAX_CHUNKS))


def chunks_of(passages: Sequence[Passage]) -> list[tuple[Passage, ...]]:
    size = chunk_length(len(passages))
    return [tuple(passages[start : start + size]) for start in range(0, len(passages), size)]


def passages_json(passages: Sequence[Passage], lang: str) -> bytes:
    """One chunk file, compact: `{"schema":1,"lang":"fr","p":[[0.0,"Bonjour"],...]}`."""
    data = {"schema": SEARCH_SCHEMA, "lang": lang, "p": [[p.start, p.text] for p in passages]}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class PassageFiles:
    folder: str  # conferences/<slug>/search.<tag>, tagged over every chunk
    files: dict[str, bytes]  # key -> content: <folder>/0.json, <folder>/1.json, ...
    terms: dict[str, int]  # term -> mask of the chunks holding it


def passage_files(
    slug: str, passages: Sequence[Passage], lang: str, tracks: Sequence[tuple[str, Sequence[Passage]]] = ()
) -> PassageFiles:
    """The chunk files and terms of a talk: its transcript's passages, then those of its caption ``tracks`` in other
    languages (`(lang, passages)`; a human track added in German is searchable too), each chunk in one language."""
    # A chunk mask has MAX_CHUNKS bits, one chunk at least per language: languages past that are not indexed.
    groups = [(lang, passages), *((track_lang, found) for track_lang, found in tracks if found)][:MAX_CHUNKS]
    size = chunk_length(sum(len(found) for _, found in groups))
    while sum(-(-len(found) // size) for _, found in groups) > MAX_CHUNKS:
        size += CHUNK_PASSAGES
    chunks, contents = [], []
    for group_lang, found in groups:
        for start in range(0, len(found), size):
            chunks.append(tuple(found[start : start + size]))
            contents.append(passages_json(chunks[-1], group_lang))
    folder = f"{conference_prefix(slug)}/{PASSAGES_NAME}.{content_tag(' '.join(map(content_tag, contents)).encode())}"
    terms: dict[str, int] = {}
    for number, chunk in enumerate(chunks):
        for term in conference_terms(chunk):
            terms[term] = terms.get(term, 0) | (1 << number)
    return PassageFiles(
        folder=folder, files={f"{folder}/{n}.json": data for n, data in enumerate(contents)}, terms=terms
    )


def conference_terms(passages: Iterable[Passage]) -> frozenset[str]:
    found: set[str] = set()
    for passage in passages:
        found |= terms_of(passage.text)
    return frozenset(found)


# --- the whole site ---------------------------------------------------------------------------------------------


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IndexedConference(Frozen):
    slug: str
    title: str
    page: str  # relative to the site root
    date: str
    lang: str
    passages: str  # the folder of the passage chunks (<passages>/<n>.json), relative to the site root
    chunks: int


class SearchIndex(Frozen):
    schema_: int = Field(SEARCH_SCHEMA, alias="schema")
    conferences: tuple[IndexedConference, ...] = ()
    shards: dict[str, str] = Field(default_factory=dict)  # shard name -> file, relative to the site root

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode("utf-8")


@dataclass(frozen=True)
class SearchFiles:
    """What to write for the site's search: the shards (key -> bytes), then the index that names them."""

    index: SearchIndex
    shards: dict[str, bytes]


def build_search(
    conferences: Sequence[IndexedConference], terms: Mapping[str, Mapping[str, int]]
) -> SearchFiles:
    """Shards of term -> [conference number, chunk mask, ...] (numbers are positions in `conferences`), and the index.

    `terms` maps each slug to its terms and their chunk masks; the shard files' names carry their content tag, so a
    reader holding an index always gets the shards that go with it.
    """
    grouped: dict[str, dict[str, list[int]]] = {}
    for number, conference in enumerate(conferences):
        for term, mask in terms.get(conference.slug, {}).items():
            grouped.setdefault(shard_name(term), {}).setdefault(term, []).extend((number, mask))
    shards: dict[str, bytes] = {}
    names: dict[str, str] = {}
    for name in sorted(grouped):
        postings = {term: grouped[name][term] for term in sorted(grouped[name])}
        data = json.dumps(postings, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        key = f"{SHARD_FOLDER}/{name}.{content_tag(data)}.json"
        shards[key] = data
        names[name] = key
    return SearchFiles(index=SearchIndex(conferences=tuple(conferences), shards=names), shards=shards)


def terms_from_shards(index: SearchIndex, shards: Iterable[bytes]) -> dict[str, dict[str, int]]:
    """The inverse of `build_search`: each indexed conference's terms and chunk masks, read back from its shards."""
    found: dict[str, dict[str, int]] = {conference.slug: {} for conference in index.conferences}
    for data in shards:
        for term, postings in json.loads(data).items():
            for number, mask in zip(postings[::2], postings[1::2], strict=False):
                if 0 <= number < len(index.conferences):
                    found[index.conferences[number].slug][term] = mask
    return found


def parse_index(raw: bytes | None) -> SearchIndex | None:
    """The published index, or None when it is missing or not ours (it is then rebuilt)."""
    if raw is None:
        return None
    try:
        index = SearchIndex.model_validate_json(raw)
    except ValueError:
        return None
    return index if index.schema_ == SEARCH_SCHEMA else None
