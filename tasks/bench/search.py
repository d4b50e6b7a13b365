"""`confcast bench search`: the catalog's search on a synthetic site of many long talks, Pagefind against the
hand-written index confcast had before (tasks/bench/search_legacy.py), side by side in one run.

The site (deterministic): `talks` talks of `minutes` minutes, 150 words a minute, words drawn from a Zipf-distributed
lexicon of French-looking words (some with accents), in cues of about 12 words. For each index:
- build: the time to build the whole index (Pagefind: the documents and its indexer, for every talk);
- publication: for Pagefind, what each publication now costs: `write_search` on a local folder holding the 100 talks'
  manifests and caption files (read them all, build, write the files);
- first search: the bytes a viewer's browser loads for its first search, mean over the queries. Pagefind's is
  measured in Chromium (Debian's, driven by Playwright) on the real catalog page served over HTTP, a fresh browser
  context per query, counting every response under search/; the old index's is computed from its files, as its
  script read them (index, the word's shard, the chunks of the first 10 talks that hold it).
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import random
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.bench import search_legacy
from confcast.tasks.site.layout import CATALOG_PAGE, Catalog, Manifest, catalog_entry, upsert_entry
from confcast.tasks.site.pagefind_index import build_bundles
from confcast.tasks.site.pages import SiteInfo, render_catalog_page
from confcast.tasks.site.publish import write_search
from confcast.tasks.site.search import Moment, talk_documents
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.transcription.captions import Cue, vtt_text

WORDS_A_MINUTE = 150
WORDS_A_CUE = 12
LEXICON = 40_000
CHROMIUM = "/usr/bin/chromium"
_SYLLABLES = ("ma te ri el li bre ré seau con fé ren ce mi cro sco pe la bo ra toi re pro jet cap teur é nergie "
              "ou vert do cu ment co de ser veur don née mo dè le ca mé ra im pri man te ci té é co le").split()


@dataclass(frozen=True)
class Row:
    index: str
    build_s: float
    publication_s: float | None  # what one publication spends on the search (None: not measured)
    first_search_bytes: int
    files: int  # files a first search fetches (mean)


def synthetic_site(talks: int, minutes: int, seed: int = 5) -> list[tuple[Moment, ...]]:
    rng = random.Random(seed)
    lexicon = sorted({"".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(LEXICON)})
    rng.shuffle(lexicon)
    weights = [1 / (rank + 1) for rank in range(len(lexicon))]  # Zipf: a few words everywhere, most rare
    site = []
    for _ in range(talks):
        words = rng.choices(lexicon, weights=weights, k=minutes * WORDS_A_MINUTE)
        site.append(tuple(
            Moment(start=round(i / WORDS_A_MINUTE * 60, 2),
                   text=" ".join(words[i : i + WORDS_A_CUE]).capitalize() + ".")
            for i in range(0, len(words), WORDS_A_CUE)
        ))
    return site


def synthetic_manifest(number: int, minutes: int) -> Manifest:
    slug = f"2026-01-01-talk-{number}"
    return Manifest.model_validate({
        "slug": slug, "title": f"Talk {number}", "date": dt.date(2020 + number % 7, 1, 1).isoformat(),
        "speakers": [f"Speaker {number % 13}"], "description": f"Description of talk {number}.", "language": "fr",
        "language_probability": None, "duration_s": minutes * 60.0,
        "source": {"sha256": "ab" * 32, "bytes": 1, "filename": "talk.mp4"},
        "video": {"mp4": [{"height": 360, "width": 640, "path": "video/360p.mp4", "bytes": 1}], "poster": "poster.jpg"},
        "audio": None, "captions": [{"lang": "fr", "path": "captions/fr.vtt"}], "transcript": None,
        "page": "index.html", "published_at": "2026-01-01T00:00:00Z",
        "generator": {"version": "bench", "engine": "none", "model": "none"},
    })


def default_queries(site: Sequence[Sequence[Moment]]) -> tuple[str, ...]:
    """A frequent word, a middling one and a rare one of the synthetic lexicon (by the talks that say them, accents
    folded): the queries the bench used before Pagefind, on the same site, so that its figures compare."""
    talks_of: dict[str, int] = {}
    for moments in site:
        for word in {t for m in moments for t in search_legacy.terms_of(m.text)}:
            talks_of[word] = talks_of.get(word, 0) + 1
    ranked = sorted(talks_of, key=lambda w: (talks_of[w], w))
    return ranked[-1], ranked[len(ranked) * 9 // 10], ranked[len(ranked) // 2]


def kind_of(url: str) -> str:
    name = url.rsplit("/", 1)[-1]
    for part in ("fragment", "index", "filter"):
        if f"/{part}/" in url:
            return part
    if name.startswith("wasm."):
        return "wasm"
    return "js" if name.endswith(".js") else "meta"


def browser_bytes(root: Path, queries: Sequence[str]) -> tuple[int, int, dict[str, int]]:
    """Mean bytes and files under search/ that Chromium loads for a first search on the catalog served from `root`,
    and the mean bytes of each kind of file (js, wasm, meta, index, filter, fragment)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise RuntimeError("bench search needs Playwright (scripts/install.sh --test installs it)") from None
    if not Path(CHROMIUM).is_file():
        raise RuntimeError(f"bench search needs Chromium at {CHROMIUM} (scripts/install.sh --test installs it)")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{CATALOG_PAGE}"
    total_bytes = total_files = 0
    kinds: dict[str, int] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=["--no-sandbox", "--disable-gpu"])
            for query in queries:
                context = browser.new_context()
                page = context.new_page()
                loaded: list[tuple[str, int]] = []
                page.on("requestfinished", lambda request, loaded=loaded: loaded.append(
                    (request.url, request.sizes()["responseBodySize"])) if "/search/" in request.url else None)
                page.goto(url)
                page.evaluate("q => window.confcastSearch.search(q)", query)
                page.wait_for_function("document.getElementById('search-status').textContent.indexOf('…') < 0")
                total_bytes += sum(size for _, size in loaded)
                total_files += len(loaded)
                for address, size in loaded:
                    kinds[kind_of(address)] = kinds.get(kind_of(address), 0) + size
                context.close()
            browser.close()
    finally:
        server.shutdown()
    mean = {kind: size // len(queries) for kind, size in sorted(kinds.items())}
    return total_bytes // len(queries), round(total_files / len(queries)), mean


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def measure(talks: int = 100, minutes: int = 120, queries: tuple[str, ...] = ()) -> tuple[list[Row], dict]:
    site = synthetic_site(talks, minutes)
    queries = queries or default_queries(site)

    started = time.perf_counter()
    legacy = search_legacy.build([[(m.start, m.text) for m in moments] for moments in site])
    legacy_build = time.perf_counter() - started
    legacy_bytes = sum(search_legacy.first_search_bytes(legacy, q) for q in queries) // len(queries)

    manifests = [synthetic_manifest(n, minutes) for n in range(talks)]
    started = time.perf_counter()
    documents = [d for m, moments in zip(manifests, site, strict=True) for d in talk_documents(m, "fr", moments)]
    files = build_bundles(documents)
    pagefind_build = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="confcast-bench-search-") as folder:
        storage = FileStorage(Path(folder))
        catalog = Catalog()
        for manifest, moments in zip(manifests, site, strict=True):
            cues = [Cue(start=m.start or 0.0, end=(m.start or 0.0) + 4.8, lines=(m.text,)) for m in moments]
            storage.put_bytes(f"conferences/{manifest.slug}/captions/fr.vtt", vtt_text(cues, "fr").encode("utf-8"))
            catalog = upsert_entry(catalog, catalog_entry(manifest))
        started = time.perf_counter()
        write_search(storage, {m.slug: m for m in manifests})
        publication = time.perf_counter() - started
        site_info = SiteInfo(title="Bench", language="fr", base_url="http://127.0.0.1/")
        storage.put_bytes(CATALOG_PAGE, render_catalog_page(catalog, site_info).encode("utf-8"))
        pagefind_bytes, pagefind_files, kinds = browser_bytes(Path(folder), queries)

    rows = [
        Row("hand-written (before)", legacy_build, None, legacy_bytes, 2 + 10),
        Row("Pagefind", pagefind_build, publication, pagefind_bytes, pagefind_files),
    ]
    figures = {"talks": talks, "minutes": minutes, "words": talks * minutes * WORDS_A_MINUTE,
               "queries": queries, "pagefind_files": len(files),
               "pagefind_total_bytes": sum(len(d) for d in files.values()), "kinds": kinds}
    return rows, figures


def table(rows: list[Row], figures: dict) -> str:
    baseline = rows[0].first_search_bytes
    lines = [
        f"catalog search on {figures['talks']} talks of {figures['minutes']} min ({figures['words']:,} words); "
        f"first search: mean of {len(figures['queries'])} queries ({', '.join(figures['queries'])})",
        f"{'index':<24} {'build s':>8} {'publication s':>14} {'first search kB':>16} {'vs before':>10}",
    ]
    for row in rows:
        publication = "-" if row.publication_s is None else f"{row.publication_s:.1f}"
        lines.append(f"{row.index:<24} {row.build_s:>8.1f} {publication:>14} {row.first_search_bytes / 1000:>16,.0f}"
                     f" {row.first_search_bytes / baseline:>9.2f}x")
    lines.append("Pagefind's first search, kB by kind: " + ", ".join(
        f"{kind} {size / 1000:,.0f}" for kind, size in figures["kinds"].items()))
    lines.append(f"Pagefind: {figures['pagefind_files']} files, {figures['pagefind_total_bytes'] / 1e6:.1f} MB in all "
                 "(publication: read every talk's captions from storage, build, write)")
    return "\n".join(lines)
