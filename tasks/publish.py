"""Writing a conference to storage in the order that keeps viewers safe.

Media, captions and transcripts first, then the page, then `manifest.json`, then the catalog and the feed:
a viewer following any link never reaches a file that is not there yet.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import ValidationError

from tasks.errors import PublishError
from tasks.layout import (
    CATALOG_JSON,
    CATALOG_PAGE,
    FEED,
    MANIFEST,
    PAGE,
    Catalog,
    Manifest,
    catalog_entry,
    conference_files,
    conference_prefix,
    upsert_entry,
)
from tasks.models import Conference
from tasks.site import SiteInfo, render_catalog_page, render_conference_page, render_feed
from tasks.storage import Storage, content_type_for


def site_info(storage: Storage, *, title: str, language: str) -> SiteInfo:
    catalog_url = storage.public_url(CATALOG_PAGE)
    return SiteInfo(title=title, language=language, base_url=catalog_url[: -len(CATALOG_PAGE)])


def read_catalog(storage: Storage) -> Catalog:
    raw = storage.get_bytes(CATALOG_JSON)
    if raw is None:
        return Catalog()
    try:
        return Catalog.model_validate_json(raw)
    except ValidationError:
        raise PublishError(
            f"{storage.url}/{CATALOG_JSON} is not a confcast catalog; move it away or run confcast rebuild-site"
        ) from None


def read_manifest(storage: Storage, slug: str) -> Manifest | None:
    raw = storage.get_bytes(f"{conference_prefix(slug)}/{MANIFEST}")
    if raw is None:
        return None
    try:
        return Manifest.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None


def write_catalog(storage: Storage, site: SiteInfo, change: Callable[[Catalog], Catalog]) -> Catalog:
    """Apply a change to the catalog, then write catalog.json, index.html and feed.xml (in that order)."""
    catalog = change(read_catalog(storage))
    manifests = {entry.slug: read_manifest(storage, entry.slug) for entry in catalog.conferences}
    present = {slug: manifest for slug, manifest in manifests.items() if manifest is not None}
    storage.put_bytes(CATALOG_JSON, catalog.to_json().encode("utf-8"), content_type_for(CATALOG_JSON))
    storage.put_bytes(CATALOG_PAGE, render_catalog_page(catalog, site).encode("utf-8"), content_type_for(PAGE))
    storage.put_bytes(FEED, render_feed(catalog, present, site).encode("utf-8"), content_type_for(FEED))
    return catalog


def publish_conference_files(
    storage: Storage, conference: Conference, manifest: Manifest, *, site_title: str, site_language: str
) -> str:
    """Upload everything for one conference and update the catalog; returns the public URL of its page."""
    if conference.transcript is None:
        raise ValueError("a conference needs its transcript before publishing")
    prefix = conference_prefix(manifest.slug)
    site = site_info(storage, title=site_title, language=site_language)
    storage.prepare()
    for staged in conference_files(conference):
        key = f"{prefix}/{staged.path}"
        storage.put_file(key, staged.local, content_type_for(key))
    page = render_conference_page(manifest, conference.transcript.segments, site)
    storage.put_bytes(f"{prefix}/{PAGE}", page.encode("utf-8"), content_type_for(PAGE))
    storage.put_bytes(f"{prefix}/{MANIFEST}", manifest.to_json().encode("utf-8"), content_type_for(MANIFEST))
    write_catalog(storage, site, lambda catalog: upsert_entry(catalog, catalog_entry(manifest)))
    return storage.public_url(f"{prefix}/{PAGE}")
