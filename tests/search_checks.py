"""What the published Pagefind index holds, read back from storage for tests: each talk's indexed text.

Pagefind's fragments are gzip-compressed `pagefind_dcd` + JSON (url, content, meta, filters, anchors); the keys of
the current build are listed in search/files.json.
"""

from __future__ import annotations

import gzip
import json

from confcast.tasks.storage.base import Storage

FRAGMENT_MARK = b"pagefind_dcd"


def fragment(data: bytes) -> dict:
    raw = gzip.decompress(data)
    assert raw.startswith(FRAGMENT_MARK), raw[:40]
    return json.loads(raw[len(FRAGMENT_MARK):])


def indexed(storage: Storage) -> dict[str, dict[str, list[dict]]]:
    """slug -> language -> the fragments Pagefind made of that talk in that language, by address: the talk
    (`index.html`), then the parts of its speech (`part-N.html`); current build only."""
    listing = json.loads(storage.get_bytes("search/files.json"))
    found: dict[str, dict[str, list[dict]]] = {}
    for key in listing["current"]:
        if "/fragment/" in key:
            data = fragment(storage.get_bytes(key))
            slug = data["url"].strip("/").split("/")[1]
            found.setdefault(slug, {}).setdefault(key.split("/")[1], []).append(data)
    for by_lang in found.values():
        for fragments in by_lang.values():
            fragments.sort(key=lambda f: (not f["url"].endswith("/index.html"), f["url"]))
    return found


def indexed_text(storage: Storage) -> dict[str, str]:
    """slug -> all the text indexed for it (every language, every part)."""
    return {
        slug: " ".join(f["content"] for fragments in by_lang.values() for f in fragments)
        for slug, by_lang in indexed(storage).items()
    }
