"""Metadata edits of a published talk, from storage alone: new title, date, speakers, description or slug cost a
page, a manifest and the site's lists, never media.

`confcast edit` and a re-publish whose media and transcript keys match the published ones (flows/publish.py) both
end here. Pure functions build the edited metadata and manifest; `write_edit` writes, in the order of publication:
the page, then `manifest.json`, then the catalog, feed and search index. A move (`--slug NEW`) copies the talk's
current files to the new folder first and leaves at the old address a page that sends viewers on.

"""

from __future__ import annotations

import contextlib
import html
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.errors import ConfcastError, MetadataError, PublishError
from confcast.tasks.metadata import (
    MAX_DESCRIPTION_CHARS,
    MAX_SPEAKER_CHARS,
    MAX_TITLE_CHARS,
    clean_text,
    find_sidecar,
    load_sidecar,
    parse_date,
    validate_slug,
)
from confcast.tasks.models import ConferenceMeta, Cut
from confcast.tasks.site.layout import (
    MANIFEST,
    PAGE,
    REDIRECT_MARK,
    Manifest,
    catalog_entry,
    conference_prefix,
    manifest_key,
    remove_entry,
    upsert_entry,
)
from confcast.tasks.site.pages import SiteInfo, render_conference_page
from confcast.tasks.site.publish import (
    manifest_units,
    read_catalog,
    read_manifest,
    read_segments,
    write_catalog,
)
from confcast.tasks.storage.base import Storage, content_tagged_unit, content_type_for


@dataclass(frozen=True)
class MetaChanges:
    """What an operator changes; None keeps the published value."""

    title: str | None = None
    date: str | None = None
    speakers: tuple[str, ...] | None = None
    description: str | None = None
    slug: str | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in (self.title, self.date, self.speakers, self.description, self.slug))


# --- pure: the edited metadata and manifest ----------------------------------------------------------------------


def published_meta(manifest: Manifest) -> ConferenceMeta:
    """The metadata a publication was made from, as `build_meta` would give it again."""
    return ConferenceMeta(
        title=manifest.title,
        date=manifest.date,
        slug=manifest.slug,
        speakers=manifest.speakers,
        description=manifest.description,
        language=manifest.generator.language_asked or manifest.language,
        cut=manifest.cut,
        event=manifest.event,
    )


def edited_meta(manifest: Manifest, changes: MetaChanges) -> ConferenceMeta:
    """The published metadata with the changes applied, each checked as `build_meta` checks a sidecar's."""
    meta = published_meta(manifest)
    update: dict[str, object] = {}
    if changes.title is not None:
        title = clean_text(changes.title, field="title", max_chars=MAX_TITLE_CHARS)
        if not title:
            raise MetadataError("the title is empty: give a title with at least one visible character")
        update["title"] = title
    if changes.date is not None:
        update["date"] = parse_date(changes.date.strip() or changes.date)
    if changes.speakers is not None:
        update["speakers"] = tuple(
            clean_text(name, field="speaker", max_chars=MAX_SPEAKER_CHARS) for name in changes.speakers if name.strip()
        )
    if changes.description is not None:
        update["description"] = clean_text(changes.description, field="description", max_chars=MAX_DESCRIPTION_CHARS)
    if changes.slug is not None:
        update["slug"] = validate_slug(changes.slug)
    return meta.model_copy(update=update)


def apply_meta(
    manifest: Manifest,
    meta: ConferenceMeta,
    fingerprint: str | None,
    settings_part: str | None = None,
    prompt_part: str | None = None,
    chapters_part: str | None = None,
) -> Manifest:
    """The manifest with new metadata; its fingerprint is the one a `confcast publish` of the same recording with
    this metadata and the same settings computes, so that such a re-run is recognised as unchanged (None: not
    known, the next run decides). Media paths stay: they are relative to the conference folder, which a move
    copies as it is. `settings_part`: a run's settings key, when the run applies its own settings, and then
    `prompt_part` its prompt's key and `chapters_part` its sidecar chapters' (None: none)."""
    update = {"fingerprint": fingerprint, "language_asked": meta.language}
    if settings_part is not None:
        update["settings_key"] = settings_part
        update["prompt_key"] = prompt_part
        update["chapters_key"] = chapters_part
    generator = manifest.generator.model_copy(update=update)
    return manifest.model_copy(
        update={
            "slug": meta.slug,
            "title": meta.title,
            "date": meta.date,
            "speakers": meta.speakers,
            "description": meta.description,
            "event": meta.event,
            "generator": generator,
        }
    )


REDIRECT_TEXT = {
    "fr": ("Cette conférence a changé d'adresse", "Elle se trouve désormais ici :"),
    "en": ("This talk has moved", "It is now here:"),
}


def redirect_page(new_url: str, title: str, interface: str) -> str:
    """The page left at a moved talk's old address: a meta refresh, a plain link and rel=canonical. The URL and the
    title are escaped: neither can become markup."""
    heading, lead = REDIRECT_TEXT.get(interface, REDIRECT_TEXT["en"])
    url = html.escape(new_url, quote=True)
    name = html.escape(title, quote=True)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html.escape(interface, quote=True)}">\n<head>\n<meta charset="utf-8">\n'
        f"{REDIRECT_MARK}\n"
        f"<title>{heading} – {name}</title>\n"
        f'<link rel="canonical" href="{url}">\n'
        f'<meta http-equiv="refresh" content="0; url={url}">\n'
        '<meta name="robots" content="noindex">\n</head>\n<body>\n'
        f'<p>{heading}. {lead} <a href="{url}">{name}</a></p>\n</body>\n</html>\n'
    )


# --- thin: writing an edit ----------------------------------------------------------------------------------------


def write_edit(storage: Storage, site: SiteInfo, before: Manifest, after: Manifest) -> str:
    """Publish `after`, the edited manifest of `before` (same recording, same files); returns its page URL.
    Call it under the site lock."""
    segments = read_segments(storage, before)
    if after.slug != before.slug:
        return _move(storage, site, before, after, segments)
    prefix = conference_prefix(after.slug)
    old_page = storage.get_bytes(f"{prefix}/{PAGE}")
    storage.put_bytes(f"{prefix}/{PAGE}", render_conference_page(after, segments, site).encode("utf-8"),
                      content_type_for(PAGE))
    try:
        storage.put_bytes(f"{prefix}/{MANIFEST}", after.to_json().encode("utf-8"), content_type_for(MANIFEST))
    except ConfcastError as error:
        if old_page is not None:  # the page goes back with the manifest that matches it
            storage.put_bytes(f"{prefix}/{PAGE}", old_page, content_type_for(PAGE))
        raise PublishError(f"{after.slug} was not edited (it is as it was): {error}") from None
    _update_site(storage, site, after, lambda catalog: upsert_entry(catalog, catalog_entry(after)))
    return storage.public_url(f"{prefix}/{PAGE}")


def _update_site(storage: Storage, site: SiteInfo, after: Manifest, change) -> None:
    try:
        write_catalog(storage, site, change)
    except ConfcastError as error:
        raise PublishError(
            f"{after.slug} is edited, but the site could not be updated after it: {error}; "
            "run `confcast rebuild-site` to update the catalog, feed and search"
        ) from None


def slug_free(storage: Storage, slug: str) -> bool:
    """A slug is free when its folder is empty, or holds only the page a move left there (moving back is fine)."""
    keys = storage.list_keys(f"{conference_prefix(slug)}/")
    if not keys:
        return True
    if keys != [f"{conference_prefix(slug)}/{PAGE}"]:
        return False
    page = storage.get_bytes(keys[0]) or b""
    return REDIRECT_MARK.encode("utf-8") in page


def _move(storage: Storage, site: SiteInfo, before: Manifest, after: Manifest, segments) -> str:
    """Copy the talk's current files to its new folder, publish it there, then leave a redirect at the old one."""
    old, new = conference_prefix(before.slug), conference_prefix(after.slug)
    if not slug_free(storage, after.slug):
        raise MetadataError(
            f"slug {after.slug!r} is taken (its folder holds another talk or other files); choose another --slug"
        )
    units = manifest_units(before)  # this generation's files; the previous one stays behind and goes
    current = [key for key in storage.list_keys(f"{old}/") if content_tagged_unit(key) in units]
    new_url = storage.public_url(f"{new}/{PAGE}")
    left_there = storage.get_bytes(f"{new}/{PAGE}")  # an earlier move's redirect, put back on failure
    try:
        for key in current:  # one file in memory at a time
            data = storage.get_bytes(key)
            if data is None:
                raise PublishError(f"{storage.url}/{key} disappeared during the move; run the edit again")
            storage.put_bytes(f"{new}/{key[len(old) + 1:]}", data, content_type_for(key))
        page = render_conference_page(after, segments, site)
        storage.put_bytes(f"{new}/{PAGE}", page.encode("utf-8"), content_type_for(PAGE))
        storage.put_bytes(f"{new}/{MANIFEST}", after.to_json().encode("utf-8"), content_type_for(MANIFEST))
    except ConfcastError as error:
        with contextlib.suppress(ConfcastError):  # copies nobody points to: harmless if they stay
            storage.delete_keys(storage.list_keys(f"{new}/"))
            if left_there is not None:
                storage.put_bytes(f"{new}/{PAGE}", left_there, content_type_for(PAGE))
        raise PublishError(f"{before.slug} was not moved (it is as it was): {error}") from None

    def change(catalog):
        return upsert_entry(remove_entry(catalog, before.slug), catalog_entry(after))

    # The old folder gives way before the site's lists change, so that whatever happens next the talk has one
    # address (a failed update leaves a catalog that rebuild-site repairs, never two manifests of one talk): the
    # manifest first (a script never finds a manifest whose files are gone), then the redirect over the old page;
    # the rest once the search index no longer names its passages.
    storage.delete_keys([manifest_key(before.slug)])
    storage.put_bytes(f"{old}/{PAGE}", redirect_page(new_url, after.title, site.language).encode("utf-8"),
                      content_type_for(PAGE))
    try:
        _update_site(storage, site, after, change)
    finally:
        rest = [key for key in storage.list_keys(f"{old}/") if key != f"{old}/{PAGE}"]
        if rest:
            storage.delete_keys(rest)
    return new_url


def slug_given(source: Path, slug: str | None) -> bool:
    """Whether the operator chose the slug (option or sidecar), rather than confcast from the title and date."""
    if slug is not None:
        return True
    sidecar = find_sidecar(source)
    return sidecar is not None and load_sidecar(sidecar).slug is not None


def find_by_source(storage: Storage, source_sha256: str, cut: Cut | None = None) -> Manifest | None:
    """The talk published from this recording (and this cut of it: several talks of one evening share a
    recording), found through the catalog (entries that predate the recording's hash in the catalog are read from
    their manifests); the newest when there are several."""
    for entry in read_catalog(storage).conferences:
        if entry.source_sha256 is not None and entry.source_sha256 != source_sha256:
            continue
        manifest = read_manifest(storage, entry.slug)
        if (manifest is not None and manifest.source.sha256 == source_sha256 and manifest.slug == entry.slug
                and manifest.cut == cut):
            return manifest
    return None
