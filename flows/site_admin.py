"""Site administration flows: `rebuild-site` (every page, catalog, feed and search from storage alone),
`unpublish` (remove one conference and update catalog, feed and search), `replace-captions`; and `edit_talk`
(new metadata or slug for a published talk), a plain function: an edit costs seconds, a Prefect start more."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from confcast.config.settings import Settings, load_settings
from confcast.flows.concurrency import one_writer_per_site
from confcast.flows.targets import resolve_target
from confcast.tasks.chapters.inputs import chapter_inputs
from confcast.tasks.errors import MetadataError
from confcast.tasks.fingerprint import fingerprint_of, run_keys, settings_key
from confcast.tasks.models import ConferenceMeta, Probe
from confcast.tasks.site import publish
from confcast.tasks.site.corrections import replace_captions
from confcast.tasks.site.edit import (
    MetaChanges,
    apply_meta,
    edited_meta,
    find_by_source,
    slug_given,
    write_edit,
)
from confcast.tasks.site.layout import Manifest
from confcast.tasks.site.new_chapters import publish_new_chapters
from confcast.tasks.site.new_slides import frames_problem
from confcast.tasks.site.publish import RebuildReport, read_manifest, read_published, site_info
from confcast.tasks.site.republish import chapters_to_write, media_still_published, plan_republish
from confcast.tasks.storage.base import Storage
from confcast.tasks.transcription.alignment import alignment_model


def open_site(settings: Settings) -> tuple[Storage, publish.SiteInfo]:
    storage = resolve_target(settings).open()
    return storage, site_info(storage, title=settings.site_title, language=settings.site_language)


@task(name="rebuild-site-files", cache_policy=NO_CACHE)
def rebuild_site_files(settings: Settings) -> RebuildReport:
    storage, site = open_site(settings)
    logger = get_run_logger()
    with one_writer_per_site(storage, settings) as locked:
        return publish.rebuild_site(locked, site, on_page=lambda slug: logger.info("Rewrote the page of %s", slug))


@task(name="unpublish-conference-files", cache_policy=NO_CACHE)
def unpublish_conference_files(slug: str, settings: Settings) -> int:
    storage, site = open_site(settings)
    with one_writer_per_site(storage, settings, create=False) as locked:
        return publish.unpublish(locked, site, slug)


@flow(name="rebuild-site", validate_parameters=False)
def rebuild_site(settings: Settings | None = None) -> RebuildReport:
    """Regenerate every conference page, the catalog, the feed and the search data from the manifests in storage."""
    settings = settings or load_settings()
    report = rebuild_site_files(settings)
    logger = get_run_logger()
    for problem in report.skipped:
        logger.warning("Left out %s", problem)
    logger.info("Rebuilt %d conference pages, the catalog, the feed and the search data", len(report.pages))
    return report


@flow(name="unpublish", validate_parameters=False)
def unpublish(slug: str, settings: Settings | None = None) -> int:
    """Remove a conference: catalog, feed and search forget it first, then its files are deleted."""
    settings = settings or load_settings()
    deleted = unpublish_conference_files(slug, settings)
    get_run_logger().info("Unpublished %s (%d files deleted)", slug, deleted)
    return deleted


@task(name="replace-caption-files", cache_policy=NO_CACHE)
def replace_caption_files(
    slug: str, text: str, source_name: str, lang: str | None, settings: Settings, add: bool = False
) -> Manifest:
    storage, site = open_site(settings)
    with one_writer_per_site(storage, settings, create=False) as locked:
        return replace_captions(
            locked, site, slug, text, source_name=source_name, lang=lang, add=add, alignment=alignment_model(settings)
        )


@flow(name="replace-captions", validate_parameters=False)
def replace_captions_flow(
    slug: str,
    text: str,
    source_name: str,
    lang: str | None = None,
    settings: Settings | None = None,
    add: bool = False,
) -> str:
    """Publish reviewed captions for a conference, or add a track in a new language (`add`), without transcribing
    again (Whisper only times the corrected words); returns the reviewed caption files' paths in the manifest."""
    settings = settings or load_settings()
    manifest = replace_caption_files(slug, text, source_name, lang, settings, add)
    reviewed = [track.path for track in manifest.captions if track.status == "reviewed"]
    get_run_logger().info("Reviewed captions of %s published: %s", slug, ", ".join(reviewed))
    return ", ".join(reviewed)


def edit_talk(slug: str, changes: MetaChanges, settings: Settings) -> str:
    """New metadata (or a new slug) for a published talk, from storage alone, under the site lock; returns its page
    URL. Not a flow: it runs in seconds, without waiting for a Prefect server to start."""
    storage, site = open_site(settings)
    if changes.is_empty():
        raise MetadataError("nothing to change: give --title, --date, --speaker, --description or --slug")
    with one_writer_per_site(storage, settings, create=False) as locked:
        before = read_published(locked, slug)
        meta = edited_meta(before, changes)
        # The fingerprint with the settings the talk was made with (those of this process may differ); unknown for
        # a manifest older than the settings key: the next publish then decides what to redo.
        made_with = before.generator.settings_key
        prompt_part = before.generator.prompt_key
        chapters_part = before.generator.chapters_key
        fingerprint = (
            fingerprint_of(meta, before.source.sha256, made_with, prompt_part, chapters_part) if made_with else None
        )
        after = apply_meta(before, meta, fingerprint)
        return write_edit(locked, site, before, after)


@dataclass(frozen=True)
class QuickPublish:
    """What `publish_metadata_only` did: the page URL, and what was rewritten, for the terminal."""

    page_url: str
    notice: str = "only the metadata changed, pages rewritten (no encode, no media upload)"


def publish_metadata_only(
    quick: Storage, settings: Settings, meta: ConferenceMeta, probe: Probe, *, slug: str | None, retranscribe: bool
) -> QuickPublish | None:
    """`confcast publish` of a published recording whose media and transcript keys match, done as `confcast edit`
    does, without the flow (whose Prefect server takes 10-17 s to start); also when only the sidecar's chapters or
    slides PDF changed (their files, a new HLS master, pages: no encode). None when the run has more to do, or
    something to refuse or report: the flow then decides, with its own errors. `quick` reads the published state (short
    timeouts); the edit itself goes through the configured storage, under the site lock."""
    sha256 = probe.source.sha256
    try:  # reading the published state: any problem leaves the decision to the flow
        published = read_manifest(quick, meta.slug)
        if published is None or published.source.sha256 != sha256:
            earlier = None if slug_given(Path(probe.source.path), slug) else find_by_source(quick, sha256, meta.cut)
            if earlier is None:
                return None
            meta, published = meta.model_copy(update={"slug": earlier.slug}), earlier
    except Exception:
        return None
    try:
        inputs = chapter_inputs(Path(probe.source.path))
    except Exception:  # the flow reports it
        return None
    fingerprint, keys = run_keys(meta, sha256, settings, inputs.key_parts(), probe.video is not None)
    plan = plan_republish(published, sha256, fingerprint, keys.media, keys.transcript, retranscribe, keys.picture,
                          keys.frames, bool(inputs.marks))  # fmt: skip
    if plan.action not in ("edit", "chapters"):
        return None
    new = chapters_to_write(plan, inputs, probe.duration_s)
    try:  # a new PDF that cannot use the published slide text: the flow says why, and reads the frames anew
        if plan.new_slides and frames_problem(quick, published) is not None:
            return None
    except Exception:
        return None
    storage, site = open_site(settings)
    with one_writer_per_site(storage, settings, create=False) as locked:
        before = read_manifest(locked, meta.slug)
        if before is None or before.source.sha256 != sha256 or not media_still_published(before.generator, keys, new):
            return None  # changed meanwhile: the flow sorts it out
        after = apply_meta(before, meta, fingerprint, settings_key(settings), keys.prompt, keys.chapters)
        if new is None:
            return QuickPublish(write_edit(locked, site, before, after))
        return QuickPublish(publish_new_chapters(locked, site, before, after, new, keys), new.notice())
