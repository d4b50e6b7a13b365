"""Whether a conference is published exactly as a run would publish it again: the recording's hash and the run's
fingerprint (tasks/fingerprint.py) against its manifest. No Prefect, so that the CLI answers an unchanged re-run
before starting anything.
"""

from __future__ import annotations

from confcast.tasks.site.layout import Manifest, conference_prefix
from confcast.tasks.site.publish import read_manifest
from confcast.tasks.storage.base import Storage


def unchanged_page_key(manifest: Manifest | None, slug: str, sha256: str, fingerprint: str) -> str | None:
    """The page's key in the site when `manifest` (the one under `slug`) was made from this recording with this
    fingerprint; None when anything differs or nothing is published."""
    if manifest is None or manifest.source.sha256 != sha256 or manifest.generator.fingerprint != fingerprint:
        return None
    return f"{conference_prefix(slug)}/{manifest.page}"


def unchanged_page_url(storage: Storage, slug: str, sha256: str, fingerprint: str) -> str | None:
    """The public URL of the published page when it is unchanged (one read: the manifest); else None."""
    key = unchanged_page_key(read_manifest(storage, slug), slug, sha256, fingerprint)
    return None if key is None else storage.public_url(key)
