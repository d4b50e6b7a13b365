"""The catalog search confcast had before Pagefind, kept ONLY as the baseline of `confcast bench search`.

Hand-written, sharded static JSON: `search/index.json`, one shard per two-letter term prefix mapping each term to
`[talk, chunk mask, ...]`, and each talk's passages in chunks of about 100. A first search loaded the index, the
shard of the word, then, for the first 10 talks that matched, the chunks holding it, in order, until 6 passages
were found. Nothing in the site uses this module any more (tests/test_imports.py keeps bench code out of it).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

CHUNK_PASSAGES = 100
MAX_CHUNKS = 52
SHARD_CHARS = 2
MAX_TALKS = 10
MAX_PASSAGES = 5
_WORD = re.compile(r"[^\W_]+")
_LIGATURES = {"œ": "oe", "æ": "ae", "ß": "ss"}


def normalize(text: str) -> str:
    lowered = "".join(_LIGATURES.get(c, c) for c in text.lower())
    return "".join(c for c in unicodedata.normalize("NFD", lowered) if not unicodedata.category(c).startswith("M"))


def terms_of(text: str) -> set[str]:
    return {word for word in _WORD.findall(normalize(text)) if len(word) >= 2}


def shard_name(term: str) -> str:
    head = term[:SHARD_CHARS]
    return head if re.fullmatch(r"[a-z0-9]{2}", head) else "_"


@dataclass(frozen=True)
class LegacySite:
    index_bytes: int
    shard_bytes: dict[str, int]
    chunks: list[list[bytes]]  # per talk, its chunk files
    terms: list[dict[str, int]]  # per talk, term -> chunk mask


def build(site: Sequence[Sequence[tuple[float, str]]]) -> LegacySite:
    """Every file the old search wrote for a site of talks (passages as (start, text))."""
    chunks: list[list[bytes]] = []
    terms: list[dict[str, int]] = []
    for passages in site:
        size = max(CHUNK_PASSAGES, -(-len(passages) // MAX_CHUNKS))
        parts = [passages[i : i + size] for i in range(0, len(passages), size)]
        chunks.append([
            json.dumps({"schema": 1, "lang": "fr", "p": [[s, t] for s, t in part]}, ensure_ascii=False,
                       separators=(",", ":")).encode("utf-8")
            for part in parts
        ])
        found: dict[str, int] = {}
        for number, part in enumerate(parts):
            for _start, text in part:
                for term in terms_of(text):
                    found[term] = found.get(term, 0) | (1 << number)
        terms.append(found)
    grouped: dict[str, dict[str, list[int]]] = {}
    for number, found in enumerate(terms):
        for term, mask in found.items():
            grouped.setdefault(shard_name(term), {}).setdefault(term, []).extend((number, mask))
    shard_bytes = {
        name: len(json.dumps(postings, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        for name, postings in grouped.items()
    }
    conferences = [
        {"slug": f"talk-{n}", "title": f"Talk {n}", "page": f"conferences/talk-{n}/index.html", "date": "2026-04-04",
         "lang": "fr", "passages": f"conferences/talk-{n}/search.0123456789ab", "chunks": len(chunks[n])}
        for n in range(len(site))
    ]
    index = {"schema": 1, "conferences": conferences,
             "shards": {name: f"search/{name}.0123456789ab.json" for name in grouped}}
    return LegacySite(len(json.dumps(index).encode("utf-8")), shard_bytes, chunks, terms)


def first_search_bytes(site: LegacySite, query: str) -> int:
    """What the old script fetched for a one-word query: index, shard, then the chunks it read."""
    term = normalize(query)
    total = site.index_bytes + site.shard_bytes.get(shard_name(term), 0)
    hits = [n for n, found in enumerate(site.terms) if any(t.startswith(term) for t in found)][:MAX_TALKS]
    for talk in hits:
        mask = 0
        for word, bits in site.terms[talk].items():
            if word.startswith(term):
                mask |= bits
        found = 0
        for number, data in enumerate(site.chunks[talk]):
            if not mask >> number & 1:
                continue
            total += len(data)
            found += sum(1 for p in json.loads(data)["p"] if any(w.startswith(term) for w in terms_of(p[1])))
            if found > MAX_PASSAGES:
                break
    return total
