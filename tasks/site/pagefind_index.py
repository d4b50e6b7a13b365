"""Pagefind's indexer (PyPI `pagefind` with its binary from `pagefind[bin]`): documents in, search bundles out.

One Pagefind process builds one bundle per language (forced, so that each uses its language's stemmer and the
browser's script can load any of them whatever the catalog page's own language), written to a temporary folder
and returned as `key -> bytes` under `search/`. Of Pagefind's output only what the catalog's script uses is kept:
`search/pagefind.js` (one copy, the same in every bundle), and per language the entry file, metadata, the WebAssembly
of that language, and the index, filter and fragment chunks. Pagefind names chunks by their content.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from confcast.tasks.errors import PublishError
from confcast.tasks.site.search import SEARCH_FOLDER, SearchDocument, bundle_folder

PAGEFIND_JS = f"{SEARCH_FOLDER}/pagefind.js"
_KEPT_PARTS = ("index", "filter", "fragment")


def indexer() -> str:
    """Where Pagefind's indexer is, or a PublishError that says what to install (`confcast doctor` shows it)."""
    from pagefind.service import get_executable

    try:
        found = get_executable()
    except FileNotFoundError:
        found = None
    if found is None or not found.is_file():
        raise PublishError("Pagefind's indexer is missing; run scripts/install.sh (it installs pagefind[bin])")
    return str(found)


def kept(relative: str, lang: str) -> bool:
    """Whether a file of a bundle's output is published (the UI kits, the worker and other wasm are not)."""
    name = relative.split("/")[-1]
    if "/" in relative:
        return relative.split("/")[0] in _KEPT_PARTS
    return (
        name == "pagefind-entry.json"
        or (name.startswith("pagefind.") and name.endswith(".pf_meta"))
        or name == f"wasm.{lang}.pagefind"
    )


def write_documents(documents: Sequence[SearchDocument], folder: Path) -> list[str]:
    """The documents as files, one tree per language (`<folder>/<lang>/conferences/...`); returns the languages."""
    languages = sorted({document.lang for document in documents})
    for document in documents:
        path = folder / document.lang / document.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document.html, encoding="utf-8")
    return languages


async def _build(languages: Sequence[str], documents: Path, out: Path) -> None:
    from pagefind.index import PagefindIndex
    from pagefind.service import PagefindService

    # One folder a language, added with one request: the Python client reads each answer after a 0.1 s pause, so
    # a request per document would cost minutes on a site of a hundred long talks.
    async with PagefindService() as service:
        for lang in languages:
            index: PagefindIndex = await service.create_index(
                {"force_language": lang, "output_path": str(out / lang), "keep_index_url": True}
            )
            await index.add_directory(str(documents / lang))
            await index.write_files()
            await index.delete_index()


def build_bundles(documents: Sequence[SearchDocument]) -> dict[str, bytes]:
    """Every file of the site's search, `key -> bytes` (keys under `search/`); empty when there is nothing to index."""
    if not documents:
        return {}
    with tempfile.TemporaryDirectory(prefix="confcast-pagefind-") as folder:
        out, tree = Path(folder) / "out", Path(folder) / "documents"
        languages = write_documents(documents, tree)
        try:
            # its own thread and event loop: callers may run inside one (Prefect tasks, the review server)
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(asyncio.run, _build(languages, tree, out)).result()
        except FileNotFoundError as error:
            raise PublishError(
                f"Pagefind's indexer is missing ({error}); run scripts/install.sh (it installs pagefind[bin])"
            ) from None
        except (OSError, RuntimeError, AssertionError, KeyError) as error:
            raise PublishError(f"Pagefind could not build the search index: {error}") from None
        files: dict[str, bytes] = {}
        for bundle in sorted(p for p in out.iterdir() if p.is_dir()):
            lang = bundle.name
            for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
                relative = path.relative_to(bundle).as_posix()
                if relative == "pagefind.js":
                    files[PAGEFIND_JS] = path.read_bytes()
                elif kept(relative, lang):
                    files[f"{bundle_folder(lang)}/{relative}"] = path.read_bytes()
        return files
