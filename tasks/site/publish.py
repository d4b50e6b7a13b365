"""Writing a conference to storage in the order that keeps viewers safe, rebuilding the site, unpublishing.

Media, captions, transcripts and search passages first, then the page, then `manifest.json`, then the catalog,
the feed and the search index: a viewer following any link never reaches a file that is not there yet.
Unpublishing goes the other way: first the catalog, feed and search forget the conference, then its files go.
Everything here is read back from storage (manifests, transcripts, search index): no local state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import ValidationError

from confcast.tasks.errors import MetadataError, PublishError
from confcast.tasks.metadata import validate_slug
from confcast.tasks.models import Conference, Segment, Word
from confcast.tasks.site.layout import (
    CATALOG_JSON,
    CATALOG_PAGE,
    CONTENT_TAG_CHARS,
    FEED,
    MANIFEST,
    MANIFEST_SCHEMA,
    PAGE,
    REDIRECT_MARK,
    CaptionTrack,
    Catalog,
    Manifest,
    catalog_entry,
    conference_files,
    conference_prefix,
    manifest_key,
    remove_entry,
    upsert_entry,
)
from confcast.tasks.site.pages import SiteInfo, render_catalog_page, render_conference_page, render_feed
from confcast.tasks.site.search import (
    PASSAGES_NAME,
    SEARCH_INDEX,
    SHARD_FOLDER,
    IndexedConference,
    Passage,
    build_search,
    parse_index,
    passage_files,
    passages_of,
    terms_from_shards,
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


PARALLEL_REQUESTS = 8  # a site with many talks has hundreds of small shards: read and write them side by side


def in_parallel(function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`[function(item) for item in items]` with a few requests in flight (boto3 clients are thread-safe)."""
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
        return list(pool.map(function, items))


@dataclass(frozen=True)
class SearchRecord:
    """What the search index holds about one conference: its passage chunks and its terms."""

    passages: str  # the folder of the passage chunks, relative to the site root
    chunks: int
    lang: str
    terms: Mapping[str, int] = field(repr=False)  # term -> mask of the chunks holding it


def read_search_records(storage: Storage) -> tuple[dict[str, SearchRecord], set[str]]:
    """The search index as published: a record per conference, and the keys of the shards it names."""
    index = parse_index(storage.get_bytes(SEARCH_INDEX))
    if index is None:
        return {}, set()
    shard_keys = set(index.shards.values())
    shards = [data for data in in_parallel(storage.get_bytes, sorted(shard_keys)) if data is not None]
    try:
        terms = terms_from_shards(index, shards)
    except (ValueError, AttributeError, TypeError):
        return {}, shard_keys  # a damaged shard: rebuild-site restores the terms
    records = {
        c.slug: SearchRecord(passages=c.passages, chunks=c.chunks, lang=c.lang, terms=terms.get(c.slug, {}))
        for c in index.conferences
    }
    return records, shard_keys


def track_passages(storage: Storage, manifest: Manifest) -> list[tuple[str, tuple[Passage, ...]]]:
    """The passages of each caption track in a language other than the transcript's, read from storage: one track
    per language, a reviewed one before Whisper's (the spoken language's tracks repeat the transcript)."""
    spoken = transcript_lang(manifest)
    chosen: dict[str, CaptionTrack] = {}
    for track in sorted(manifest.captions, key=lambda t: t.status != "reviewed"):
        if track.lang != spoken:
            chosen.setdefault(track.lang, track)
    found = []
    for lang, track in chosen.items():
        key = f"{conference_prefix(manifest.slug)}/{track.path}"
        raw = storage.get_bytes(key)
        if raw is None:
            raise PublishError(f"{storage.url}/{key} is missing although {manifest.slug}'s manifest names it; "
                               "publish the conference again")
        try:
            cues = parse_vtt(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise PublishError(f"{storage.url}/{key} is not readable WebVTT ({error}); replace it with "
                               "`confcast captions --replace`") from None
        found.append((lang, tuple(Passage(start=round(c.start, 2), text=c.text) for c in cues if c.text.strip())))
    return found


def put_passages(storage: Storage, manifest: Manifest, segments: Sequence[Segment]) -> SearchRecord:
    """Write a conference's search passages (immutable chunks in a content-tagged folder): its transcript's and its
    caption tracks' in other languages; returns its record."""
    slug, lang = manifest.slug, transcript_lang(manifest)
    files = passage_files(slug, passages_of(segments), lang, track_passages(storage, manifest))
    present = set(storage.list_keys(f"{files.folder}/"))
    for key, data in files.files.items():
        if key not in present:
            storage.put_bytes(key, data, content_type_for(key))
    return SearchRecord(passages=files.folder, chunks=len(files.files), lang=lang, terms=files.terms)


def write_search(
    storage: Storage, catalog: Catalog, records: Mapping[str, SearchRecord], previous_shards: set[str]
) -> None:
    """Write the shards then `search/index.json`; remove shards that neither this index nor the last one names
    (a viewer holding the last index for a minute still finds its shards). Only shards are removed: other files
    under `search/` are someone else's."""
    conferences = [
        IndexedConference(
            slug=entry.slug,
            title=entry.title,
            page=entry.page,
            date=entry.date.isoformat(),
            lang=records[entry.slug].lang,
            passages=records[entry.slug].passages,
            chunks=records[entry.slug].chunks,
        )
        for entry in catalog.conferences
        if entry.slug in records
    ]
    files = build_search(conferences, {slug: record.terms for slug, record in records.items()})
    new_shards = [(key, data) for key, data in files.shards.items() if key not in previous_shards]  # same key: there
    in_parallel(lambda item: storage.put_bytes(item[0], item[1], content_type_for(item[0])), new_shards)
    storage.put_bytes(SEARCH_INDEX, files.index.to_json(), content_type_for(SEARCH_INDEX))
    keep = set(files.shards) | previous_shards | {SEARCH_INDEX}
    stale = [key for key in storage.list_keys(f"{SHARD_FOLDER}/") if key not in keep and is_shard_key(key)]
    if stale:
        storage.delete_keys(stale)


# What build_search names a shard: search/<name>.<content tag>.json, nothing deeper.
_SHARD_KEY = re.compile(rf"{re.escape(SHARD_FOLDER)}/[a-z0-9_]+\.[0-9a-f]{{{CONTENT_TAG_CHARS}}}\.json")


def is_shard_key(key: str) -> bool:
    """Whether a key under `search/` is a shard confcast wrote (the only files of `search/` it ever deletes)."""
    return _SHARD_KEY.fullmatch(key) is not None


def write_catalog(
    storage: Storage,
    site: SiteInfo,
    change: Callable[[Catalog], Catalog],
    search: Mapping[str, SearchRecord | None] | None = None,
    *,
    replace_search: bool = False,
) -> Catalog:
    """Apply a change to the catalog, then write catalog.json, index.html, feed.xml and the search data.

    `search` adds (a record) or removes (None) conferences from the search index; with `replace_search` the
    published index is ignored and rebuilt from `search` alone.
    """
    catalog = change(read_catalog(storage))
    manifests = {entry.slug: read_manifest(storage, entry.slug) for entry in catalog.conferences}
    present = {slug: manifest for slug, manifest in manifests.items() if manifest is not None}
    records, previous_shards = read_search_records(storage)
    if replace_search:
        records = {}
    for slug, record in (search or {}).items():
        if record is None:
            records.pop(slug, None)
        else:
            records[slug] = record
    storage.put_bytes(CATALOG_JSON, catalog.to_json().encode("utf-8"), content_type_for(CATALOG_JSON))
    storage.put_bytes(CATALOG_PAGE, render_catalog_page(catalog, site).encode("utf-8"), content_type_for(PAGE))
    storage.put_bytes(FEED, render_feed(catalog, present, site).encode("utf-8"), content_type_for(FEED))
    write_search(storage, catalog, records, previous_shards)
    return catalog


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
    record = put_passages(storage, manifest, segments)
    page = render_conference_page(manifest, segments, site)
    storage.put_bytes(f"{prefix}/{PAGE}", page.encode("utf-8"), content_type_for(PAGE))
    storage.put_bytes(f"{prefix}/{MANIFEST}", manifest.to_json().encode("utf-8"), content_type_for(MANIFEST))
    write_catalog(
        storage, site, lambda catalog: upsert_entry(catalog, catalog_entry(manifest)), {manifest.slug: record}
    )
    remove_stale_passages(storage, manifest.slug, keep=record.passages)
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

    The previous generation stays: a viewer whose page is a minute old still plays it. Search passages are
    handled by `remove_stale_passages`."""
    keep = manifest_units(manifest) | (manifest_units(previous) if previous is not None else set())
    passages = f"{conference_prefix(manifest.slug)}/{PASSAGES_NAME}."
    stale = [
        key
        for key in storage.list_keys(f"{conference_prefix(manifest.slug)}/")
        if not key.startswith(passages) and (unit := content_tagged_unit(key)) is not None and unit not in keep
    ]
    if stale:
        storage.delete_keys(stale)


def remove_stale_passages(storage: Storage, slug: str, keep: str) -> None:
    """Older passage chunks of a conference, once the search index names the new ones."""
    prefix = f"{conference_prefix(slug)}/{PASSAGES_NAME}."
    stale = [key for key in storage.list_keys(prefix) if not key.startswith(f"{keep}/")]
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
    catalog = Catalog()
    records: dict[str, SearchRecord] = {}
    done, skipped = [], []
    for folder in sorted(conference_folders(storage)):
        try:
            manifest, segments = load_published(storage, folder)
        except NotAConference as error:
            skipped.append(f"{folder}: {error}")
            continue
        slug = manifest.slug
        records[slug] = put_passages(storage, manifest, segments)
        page = render_conference_page(manifest, segments, site)
        storage.put_bytes(f"{conference_prefix(slug)}/{PAGE}", page.encode("utf-8"), content_type_for(PAGE))
        catalog = upsert_entry(catalog, catalog_entry(manifest))
        done.append(slug)
        if on_page is not None:
            on_page(slug)
    write_catalog(storage, site, lambda _old: catalog, records, replace_search=True)
    for slug, record in records.items():
        remove_stale_passages(storage, slug, keep=record.passages)
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
    write_catalog(storage, site, lambda catalog: remove_entry(catalog, slug), {slug: None})
    manifest_key = f"{prefix}/{MANIFEST}"
    first = [key for key in (manifest_key, f"{prefix}/{PAGE}") if key in keys]
    if first:
        storage.delete_keys(first)  # the manifest first: a script never finds a manifest whose files are gone
    rest = [key for key in keys if key not in first]
    if rest:
        storage.delete_keys(rest)
    return len(keys)
