"""`confcast bench search`: what a viewer's browser loads for a first search, with a site of many long talks.

A synthetic site (deterministic): `talks` talks of `minutes` minutes, 150 words a minute, words drawn from a
Zipf-distributed lexicon of French-looking words (some with accents), in segments of about 12 words. Three ways
to serve static search data are compared on the same site and the same queries:
- one file: every passage of every talk in one JSON file (the simplest static search);
- term map + passages: one file mapping every term to its talks, then all the passages of the matching talks
  (at most 10, as the catalog shows);
- sharded + chunks (confcast): search/index.json, the shard of the query word, then, for the matching talks, only
  the chunks of passages (about 100 each) where the word occurs, in order, until 6 passages are found.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass

from confcast.tasks.models import Segment
from confcast.tasks.site.search import (
    SHARD_CHARS,
    IndexedConference,
    Passage,
    build_search,
    normalize,
    passage_files,
    passages_of,
    shard_name,
    terms_of,
)

WORDS_A_MINUTE = 150
WORDS_A_SEGMENT = 12
MAX_TALKS_WITH_PASSAGES = 10  # as the catalog's script
MAX_PASSAGES = 5  # shown per talk; the script reads chunks until it has one more
LEXICON = 40_000
_SYLLABLES = ("ma te ri el li bre ré seau con fé ren ce mi cro sco pe la bo ra toi re pro jet cap teur é nergie "
              "ou vert do cu ment co de ser veur don née mo dè le ca mé ra im pri man te ci té é co le").split()


@dataclass(frozen=True)
class Row:
    variant: str
    files: int  # fetched by the browser for the query
    bytes: int


def synthetic_site(talks: int, minutes: int, seed: int = 5) -> list[tuple[Passage, ...]]:
    rng = random.Random(seed)
    lexicon = sorted({"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(LEXICON)})
    rng.shuffle(lexicon)
    weights = [1 / (rank + 1) for rank in range(len(lexicon))]  # Zipf: a few words everywhere, most rare
    site = []
    for _ in range(talks):
        words = rng.choices(lexicon, weights=weights, k=minutes * WORDS_A_MINUTE)
        segments = [
            Segment(start=i / WORDS_A_MINUTE * 60, end=(i + WORDS_A_SEGMENT) / WORDS_A_MINUTE * 60,
                    text=" ".join(words[i : i + WORDS_A_SEGMENT]).capitalize() + ".")
            for i in range(0, len(words), WORDS_A_SEGMENT)
        ]
        site.append(passages_of(segments))
    return site


def measure(talks: int = 100, minutes: int = 120, queries: tuple[str, ...] = ()) -> tuple[list[Row], dict[str, float]]:
    """Bytes a first search loads with each variant (averaged over the queries), and build figures."""
    started = time.perf_counter()
    site = synthetic_site(talks, minutes)
    generated_s = time.perf_counter() - started

    started = time.perf_counter()
    chunked = [passage_files(f"talk-{n}", passages, "fr") for n, passages in enumerate(site)]
    terms = {f"talk-{n}": files.terms for n, files in enumerate(chunked)}
    conferences = [
        IndexedConference(slug=f"talk-{n}", title=f"Talk {n}", page=f"conferences/talk-{n}/index.html",
                          date="2026-04-04", lang="fr", passages=chunked[n].folder, chunks=len(chunked[n].files))
        for n in range(talks)
    ]
    files = build_search(conferences, terms)
    build_s = time.perf_counter() - started
    passages_bytes = [sum(len(data) for data in talk.files.values()) for talk in chunked]

    def chunks_read(talk: int, term: str) -> tuple[int, int]:
        """Chunks and bytes the script reads for one term in one talk: in order, until it has enough passages."""
        mask = 0
        for word, bits in terms[f"talk-{talk}"].items():
            if word.startswith(term):
                mask |= bits
        read, files_read, found = 0, 0, 0
        contents = list(chunked[talk].files.values())
        for number, data in enumerate(contents):
            if not mask >> number & 1:
                continue
            read += len(data)
            files_read += 1
            found += sum(1 for p in json.loads(data)["p"] if any(w.startswith(term) for w in terms_of(p[1])))
            if found > MAX_PASSAGES:
                break
        return files_read, read

    one_file = json.dumps([[[p.start, p.text] for p in passages] for passages in site], ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
    term_map: dict[str, list[int]] = {}
    for number, conference in enumerate(conferences):
        for term in terms[conference.slug]:
            term_map.setdefault(term, []).append(number)  # whole talks: no chunk masks
    term_map_bytes = len(json.dumps(term_map, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    index_bytes = len(files.index.to_json())
    shard_bytes = {name: len(files.shards[key]) for name, key in files.index.shards.items()}

    if not queries:  # a frequent word, a middling one and a rare one of the synthetic lexicon
        by_talks = sorted(term_map, key=lambda t: (len(term_map[t]), t))
        queries = (by_talks[-1], by_talks[len(by_talks) * 9 // 10], by_talks[len(by_talks) // 2])
    totals = {"one file": [0, 0], "term map + passages": [0, 0], "sharded + chunks": [0, 0]}
    for query in queries:
        term = normalize(query)
        hits = sorted({n for t, numbers in term_map.items() if t.startswith(term) for n in numbers})
        top = hits[:MAX_TALKS_WITH_PASSAGES]
        whole = sum(passages_bytes[n] for n in top)
        reads = [chunks_read(n, term) for n in top]
        chunk_files, chunks = sum(r[0] for r in reads), sum(r[1] for r in reads)
        for name, files_count, size in (
            ("one file", 1, len(one_file)),
            ("term map + passages", 1 + len(top), term_map_bytes + whole),
            ("sharded + chunks", 2 + chunk_files, index_bytes + shard_bytes.get(shard_name(term), 0) + chunks),
        ):
            totals[name][0] += files_count
            totals[name][1] += size
    rows = [Row(name, round(count / len(queries)), size // len(queries)) for name, (count, size) in totals.items()]
    figures = {
        "talks": talks,
        "minutes": minutes,
        "words": talks * minutes * WORDS_A_MINUTE,
        "queries": len(queries),
        "generate_s": generated_s,
        "build_s": build_s,
        "index_bytes": index_bytes,
        "shards": len(files.shards),
        "largest_shard_bytes": max(shard_bytes.values()),
        "passages_bytes_per_talk": sum(passages_bytes) // talks,
        "shard_chars": SHARD_CHARS,
    }
    return rows, figures


def table(rows: list[Row], figures: dict[str, float]) -> str:
    baseline = rows[0].bytes
    lines = [
        f"search data for {figures['talks']} talks of {figures['minutes']} min ({figures['words']:,} words), "
        f"first search, mean of {figures['queries']} queries",
        f"{'variant':<22} {'files':>6} {'kB loaded':>11} {'vs one file':>12}",
    ]
    for row in rows:
        lines.append(f"{row.variant:<22} {row.files:>6} {row.bytes / 1000:>11,.0f} {row.bytes / baseline:>11.3f}x")
    lines.append(
        f"index.json {figures['index_bytes'] / 1000:,.1f} kB, {figures['shards']} shards (largest "
        f"{figures['largest_shard_bytes'] / 1000:,.1f} kB), passages "
        f"{figures['passages_bytes_per_talk'] / 1000:,.0f} kB "
        f"a talk; built in {figures['build_s']:.1f} s (site generated in {figures['generate_s']:.1f} s)"
    )
    return "\n".join(lines)
