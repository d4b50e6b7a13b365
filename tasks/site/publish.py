"""Writing a conference to storage in the order that keeps viewers safe, rebuilding the site, unpublishing.

Media, captions and transcripts first, then the page, then `manifest.json`, then the search index (Pagefind,
rebuilt from every published talk's manifest, captions and slides), the catalog and the feed: a viewer following
any link never reaches a file that is not there yet. Unpublishing goes the other way: first the search, catalog and
feed forget the conference, then its files go. Everything here is read back from storage: no local state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from confcast.tasks.errors import MetadataError, PublishError
from confcast.tasks.metadata import validate_slug
from confcast.tasks.models import Conference, Segment, Word
from confcast.tasks.site.assets import ASSETS, site_assets
from confcast.tasks.site.layout import (
    CATALOG_JSON,
    CATALOG_PAGE,
    CONTENT_TAG_CHARS,
    FEED,
    MANIFEST,
    MANIFEST_SCHEMA,
    PAGE,
    REDIRECT_MARK,
    Catalog,
    Manifest,
    catalog_entry,
    conference_files,
    conference_prefix,
    event_page,
    manifest_key,
    remove_entry,
    upsert_entry,
)
from confcast.tasks.site.pagefind_index import build_bundles
from confcast.tasks.site.pages import (
    SiteInfo,
    render_catalog_page,
    render_conference_page,
    render_event_page,
    render_feed,
)
from confcast.tasks.site.search import (
    BUNDLES,
    SEARCH_FOLDER,
    Moment,
    SearchDocument,
    bundles_json,
    cue_moments,
    index_language,
    parse_slides,
    search_tracks,
    slides_path,
    talk_documents,
)
from confcast.tasks.storage.base import Storage, content_tagged_unit, content_type_for
from confcast.tasks.transcription.captions import parse_vtt

T = TypeVar("T")
R = TypeVar("R")


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


def parse_manifest(raw: bytes) -> Manifest | None:
    """A manifest's bytes as a Manifest; None when they are not one (damaged, another program's)."""
    try:
        return Manifest.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None


def read_manifest(storage: Storage, slug: str) -> Manifest | None:
    raw = storage.get_bytes(manifest_key(slug))
    return None if raw is None else parse_manifest(raw)


def read_published(storage: Storage, slug: str) -> Manifest:
    """The manifest published under `slug`, or a one-line error naming the slug (edit, captions, review)."""
    manifest = read_manifest(storage, slug)
    if manifest is None:
        raise PublishError(f"no published conference {slug!r} at {storage.url}; check the slug in its page URL")
    return manifest


PARALLEL_REQUESTS = 8  # a site has hundreds of caption files and index chunks: read and write them side by side


def in_parallel(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`[function(item) for item in items]` with a few requests in flight (boto3 clients are thread-safe)."""
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
        return list(pool.map(function, items))


def read_search_documents(storage: Storage, manifests: Mapping[str, Manifest]) -> list[SearchDocument]:
    """Each published talk's search documents, from what it publishes: its caption tracks (one per language) and
    its slides.json when its manifest lists one. A track or slides file that is missing or unreadable is left out
    of the search (the talk's page says more); the talk's title, speakers and description are still found."""
    wanted: list[tuple[Manifest, str | None, str]] = []  # (manifest, track language or None for slides, key)
    for manifest in manifests.values():
        prefix = conference_prefix(manifest.slug)
        wanted += [(manifest, track.lang, f"{prefix}/{track.path}") for track in search_tracks(manifest)]
        if (slides := slides_path(manifest)) is not None:
            wanted.append((manifest, None, f"{prefix}/{slides}"))
    contents = in_parallel(lambda item: storage.get_bytes(item[2]), wanted)
    tracks: dict[str, dict[str, tuple[Moment, ...]]] = {slug: {} for slug in manifests}
    slides: dict[str, tuple[Moment, ...]] = {}
    for (manifest, lang, _key), raw in zip(wanted, contents, strict=True):
        if raw is None:
            continue
        try:
            if lang is None:
                slides[manifest.slug] = parse_slides(raw)
            else:
                cues = parse_vtt(raw.decode("utf-8"))
                tracks[manifest.slug][lang] = cue_moments((cue.start, " ".join(cue.lines)) for cue in cues)
        except (ValueError, UnicodeDecodeError):
            continue
    documents = []
    for slug, manifest in manifests.items():
        by_lang = tracks[slug] or {manifest.language: ()}  # no captions (a silent talk): its metadata alone
        for lang, moments in by_lang.items():
            spoken = index_language(lang) == index_language(manifest.language)
            documents += talk_documents(manifest, lang, moments, slides.get(slug, ()) if spoken else ())
    return documents


def write_search(storage: Storage, manifests: Mapping[str, Manifest]) -> None:
    """Rebuild the site's search with Pagefind from the published talks, then write it: the chunks first, then
    each bundle's entry file, then search/bundles.json; the files of the generation before the last go (a viewer
    whose search began a minute ago still finds the last one's)."""
    files = build_bundles(read_search_documents(storage, manifests))
    files[BUNDLES] = bundles_json(
        key.split("/")[1] for key in files if key.endswith("/pagefind-entry.json")
    )
    current, previous = _search_files(storage)
    last = [key for key in files if key.endswith(("/pagefind-entry.json", ".js")) or key == BUNDLES]
    fixed = set(last) | {key for key in files if "/wasm." in key}
    first = [(key, files[key]) for key in files if key not in last and (key in fixed or key not in current)]
    in_parallel(lambda item: storage.put_bytes(item[0], item[1], content_type_for(item[0])), first)
    in_parallel(lambda key: storage.put_bytes(key, files[key], content_type_for(key)), last)
    listing = {"current": sorted(files), "previous": sorted(current)}
    storage.put_bytes(SEARCH_FILES, json.dumps(listing).encode("utf-8"), content_type_for(SEARCH_FILES))
    stale = sorted(previous - set(files) - current)
    if not previous and not current:  # the first Pagefind build of a site: what the search before it wrote goes
        stale += [key for key in storage.list_keys(f"{SEARCH_FOLDER}/") if _BEFORE_PAGEFIND.fullmatch(key)]
    if stale:
        storage.delete_keys(stale)


# The files of the search confcast wrote before Pagefind (index and shards); a talk's passages (`search.<tag>/`
# folders) are content-tagged, and go with its next publication's stale media.
_BEFORE_PAGEFIND = re.compile(rf"{SEARCH_FOLDER}/(index|[a-z0-9_]+\.[0-9a-f]{{{CONTENT_TAG_CHARS}}})\.json")


SEARCH_FILES = f"{SEARCH_FOLDER}/files.json"  # the keys of the search as last written (never read by viewers)


def _search_files(storage: Storage) -> tuple[set[str], set[str]]:
    """The keys the last search build wrote, and those of the build before it (which may go now)."""
    raw = storage.get_bytes(SEARCH_FILES)
    try:
        listing = json.loads(raw) if raw is not None else {}
    except ValueError:
        listing = {}
    if not isinstance(listing, dict):
        listing = {}

    def keys(name: str) -> set[str]:
        found = listing.get(name)
        found = found if isinstance(found, list) else []
        return {key for key in found if isinstance(key, str) and key.startswith(f"{SEARCH_FOLDER}/")}

    return keys("current"), keys("previous")


def put_site_assets(storage: Storage) -> None:
    """hls.js and its licence under assets/ (pages load it), unless there already: before any page names it."""
    present = set(storage.list_keys(f"{ASSETS}/"))
    for key, data in site_assets().items():
        if key not in present:
            storage.put_bytes(key, data, content_type_for(key))


def write_catalog(storage: Storage, site: SiteInfo, change: Callable[[Catalog], Catalog]) -> Catalog:
    """Apply a change to the catalog, then write the search (rebuilt from every published talk), catalog.json,
    index.html and feed.xml."""
    put_site_assets(storage)  # edits and corrections write pages first: a new hls.js is there by this one's end
    before = read_catalog(storage)
    catalog = change(before)
    manifests = {entry.slug: read_manifest(storage, entry.slug) for entry in catalog.conferences}
    present = {slug: manifest for slug, manifest in manifests.items() if manifest is not None}
    write_search(storage, present)
    write_event_pages(storage, site, before, catalog, present)  # before the catalog that links to them
    storage.put_bytes(CATALOG_JSON, catalog.to_json().encode("utf-8"), content_type_for(CATALOG_JSON))
    storage.put_bytes(CATALOG_PAGE, render_catalog_page(catalog, site).encode("utf-8"), content_type_for(PAGE))
    storage.put_bytes(FEED, render_feed(catalog, present, site).encode("utf-8"), content_type_for(FEED))
    return catalog


def write_event_pages(
    storage: Storage, site: SiteInfo, before: Catalog, after: Catalog, manifests: Mapping[str, Manifest]
) -> None:
    """Each event's page (events/<slug>/index.html) from its talks in the catalog, the event's details from its
    most recently published talk's manifest; the page of an event left without talks goes."""
    talks: dict[str, list] = {}
    for entry in after.conferences:
        if entry.event is not None:
            talks.setdefault(entry.event, []).append(entry)
    for slug, entries in talks.items():
        described = [manifests[e.slug] for e in entries if e.slug in manifests and manifests[e.slug].event]
        if not described:
            continue
        event = max(described, key=lambda manifest: manifest.published_at).event
        assert event is not None
        page = render_event_page(event, entries, site).encode("utf-8")
        if storage.get_bytes(event_page(slug)) != page:
            storage.put_bytes(event_page(slug), page, content_type_for(PAGE))
    gone = {entry.event for entry in before.conferences if entry.event is not None} - set(talks)
    if gone:
        storage.delete_keys([event_page(slug) for slug in sorted(gone)])


def publish_conference_files(
    storage: Storage, conference: Conference, manifest: Manifest, *, site_title: str, site_language: str
) -> str:
    """Upload everything for one conference and update the catalog; returns the public URL of its page."""
    if conference.transcript is None and manifest.transcript is not None:
        raise ValueError("a conference needs its transcript before publishing")
    segments = conference.transcript.segments if conference.transcript is not None else ()  # none: a silent recording
    prefix = conference_prefix(manifest.slug)
    site = site_info(storage, title=site_title, language=site_language)
    storage.prepare()
    previous = read_manifest(storage, manifest.slug)
    present = set(storage.list_keys(f"{prefix}/"))
    for staged in conference_files(conference):
        key = f"{prefix}/{staged.path}"
        if key in present and content_tagged_unit(key) is not None:
            continue  # a content-tagged key holds exactly this content already: nothing to upload
        storage.put_file(key, staged.local, content_type_for(key))
    put_site_assets(storage)
    page = render_conference_page(manifest, segments, site)
    storage.put_bytes(f"{prefix}/{PAGE}", page.encode("utf-8"), content_type_for(PAGE))
    storage.put_bytes(f"{prefix}/{MANIFEST}", manifest.to_json().encode("utf-8"), content_type_for(MANIFEST))
    write_catalog(storage, site, lambda catalog: upsert_entry(catalog, catalog_entry(manifest)))
    remove_stale_media(storage, manifest, previous)
    return storage.public_url(f"{prefix}/{PAGE}")


def manifest_units(manifest: Manifest) -> set[str]:
    """The content-tagged files and folders a manifest points to, as keys (every path field, present or future)."""
    prefix = conference_prefix(manifest.slug)
    units: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            unit = content_tagged_unit(f"{prefix}/{value}")
            if unit is not None:
                units.add(unit)

    walk(manifest.model_dump(mode="json", by_alias=True))
    return units


def remove_stale_media(storage: Storage, manifest: Manifest, previous: Manifest | None) -> None:
    """Delete content-tagged files that neither this manifest nor the previous one points to.

    The previous generation stays: a viewer whose page is a minute old still plays it."""
    keep = manifest_units(manifest) | (manifest_units(previous) if previous is not None else set())
    stale = [
        key
        for key in storage.list_keys(f"{conference_prefix(manifest.slug)}/")
        if (unit := content_tagged_unit(key)) is not None and unit not in keep
    ]
    if stale:
        storage.delete_keys(stale)


# --- the whole site, from storage alone --------------------------------------------------------------------------


def segments_from_transcript_json(raw: bytes, where: str) -> tuple[Segment, ...]:
    """The segments of a published transcript/<lang>.json (as tasks.captions.transcript_json writes it), with their
    speaker and their words (written without their leading space: read back with one)."""
    try:
        data = json.loads(raw)
        return tuple(
            Segment(
                start=float(s["start"]),
                end=float(s["end"]),
                text=str(s["text"]),
                speaker=None if s.get("speaker") is None else str(s["speaker"]),
                words=tuple(
                    Word(
                        start=float(w["start"]),
                        end=float(w["end"]),
                        text=f" {w['text']}",
                        probability=float(w.get("probability", 1.0)),
                    )
                    for w in s.get("words", ())
                ),
            )
            for s in data["segments"]
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PublishError(
            f"{where} is not a confcast transcript (JSON with segments of start, end and text); "
            "publish the conference again to rewrite it"
        ) from None


def transcript_lang(manifest: Manifest) -> str:
    return manifest.transcript.lang if manifest.transcript is not None else manifest.language


def read_segments(storage: Storage, manifest: Manifest) -> tuple[Segment, ...]:
    if manifest.transcript is None:  # a silent recording: nothing was transcribed
        return ()
    key = f"{conference_prefix(manifest.slug)}/{manifest.transcript.json_}"
    raw = storage.get_bytes(key)
    if raw is None:
        raise PublishError(
            f"{storage.url}/{key} is missing although {manifest.slug}'s manifest names it; publish the conference "
            "again, or unpublish it"
        )
    return segments_from_transcript_json(raw, f"{storage.url}/{key}")


def conference_folders(storage: Storage) -> dict[str, bool]:
    """Every folder under `conferences/`, and whether it holds a manifest.json (foreign folders included)."""
    folders: dict[str, bool] = {}
    for key in storage.list_keys("conferences/"):
        parts = key.split("/")
        if len(parts) >= 3:
            folders[parts[1]] = folders.get(parts[1], False) or (len(parts) == 3 and parts[2] == MANIFEST)
    return folders


class NotAConference(Exception):
    """A folder of `conferences/` that rebuild-site leaves as it is; the message says why."""


def load_published(storage: Storage, folder: str) -> tuple[Manifest, tuple[Segment, ...]]:
    """A conference folder's manifest and transcript; NotAConference when the folder is not a conference this
    confcast can rebuild (foreign files, a broken or newer manifest, a missing transcript). A storage that cannot
    be read raises its own PublishError: an outage must not drop conferences from the catalog."""
    try:
        validate_slug(folder)
    except MetadataError:
        raise NotAConference("not a conference folder (its name is not a slug)") from None
    raw = storage.get_bytes(manifest_key(folder))
    if raw is None:
        page = storage.get_bytes(f"{conference_prefix(folder)}/{PAGE}")
        if page is not None and REDIRECT_MARK.encode("utf-8") in page:
            raise NotAConference("the page a moved talk left at its old address (it sends viewers to the new one)")
        raise NotAConference("no manifest.json: foreign files, or a publication that did not finish")
    try:
        data = json.loads(raw)
        schema = data.get("schema") if isinstance(data, dict) else None
        if isinstance(schema, int) and schema > MANIFEST_SCHEMA:
            raise NotAConference(
                f"manifest.json has schema {schema}, which this confcast (schema {MANIFEST_SCHEMA}) does not read: "
                "a newer confcast's, or another program's"
            )
        manifest = Manifest.model_validate(data)
    except (ValueError, ValidationError):
        raise NotAConference("manifest.json is not a confcast manifest for this folder") from None
    if manifest.slug != folder:
        raise NotAConference(f"manifest.json is not a confcast manifest for this folder (it is {manifest.slug!r}'s)")
    if manifest.transcript is None:  # a silent recording: nothing was transcribed
        return manifest, ()
    key = f"{conference_prefix(folder)}/{manifest.transcript.json_}"
    raw = storage.get_bytes(key)
    if raw is None:
        raise NotAConference(f"{key} is missing although the manifest names it; publish the conference again")
    try:
        return manifest, segments_from_transcript_json(raw, f"{storage.url}/{key}")
    except PublishError as error:
        raise NotAConference(str(error)) from None


@dataclass(frozen=True)
class RebuildReport:
    pages: tuple[str, ...]  # slugs whose page was rewritten
    skipped: tuple[str, ...]  # `folder: why` for each folder of conferences/ that is not a readable conference


def rebuild_site(storage: Storage, site: SiteInfo, on_page: Callable[[str], None] | None = None) -> RebuildReport:
    """Rewrite every conference page, then catalog, feed and search, from the manifests and transcripts in storage.

    A folder that is not a conference this confcast can read (foreign files, no manifest, a broken or newer
    manifest, a missing transcript) is left as it is, out of the catalog, and reported; the others are rebuilt.
    """
    storage.prepare()
    put_site_assets(storage)
    catalog = Catalog()
    done, skipped = [], []
    for folder in sorted(conference_folders(storage)):
        try:
            manifest, segments = load_published(storage, folder)
        except NotAConference as error:
            skipped.append(f"{folder}: {error}")
            continue
        slug = manifest.slug
        page = render_conference_page(manifest, segments, site)
        storage.put_bytes(f"{conference_prefix(slug)}/{PAGE}", page.encode("utf-8"), content_type_for(PAGE))
        catalog = upsert_entry(catalog, catalog_entry(manifest))
        done.append(slug)
        if on_page is not None:
            on_page(slug)
    write_catalog(storage, site, lambda _old: catalog)
    return RebuildReport(pages=tuple(done), skipped=tuple(skipped))


def unpublish(storage: Storage, site: SiteInfo, slug: str) -> int:
    """Remove a conference: catalog, feed and search first, then the manifest, then its files.

    Returns how many files were deleted; a slug that is neither in the catalog nor in storage is an error.
    """
    prefix = conference_prefix(slug)
    keys = storage.list_keys(f"{prefix}/")
    listed = any(entry.slug == slug for entry in read_catalog(storage).conferences)
    if not keys and not listed:
        raise PublishError(f"no conference {slug!r} in {storage.url}; `confcast rebuild-site` lists none by that slug")
    write_catalog(storage, site, lambda catalog: remove_entry(catalog, slug))
    manifest_key = f"{prefix}/{MANIFEST}"
    first = [key for key in (manifest_key, f"{prefix}/{PAGE}") if key in keys]
    if first:
        storage.delete_keys(first)  # the manifest first: a script never finds a manifest whose files are gone
    rest = [key for key in keys if key not in first]
    if rest:
        storage.delete_keys(rest)
    return len(keys)
