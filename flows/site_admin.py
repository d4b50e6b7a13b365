"""Site administration flows: `rebuild-site` (every page, catalog, feed and search from storage alone) and
`unpublish` (remove one conference and update catalog, feed and search)."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from confcast.config.settings import Settings, load_settings
from confcast.flows.concurrency import one_writer_per_site
from confcast.flows.targets import resolve_target
from confcast.tasks.site import publish
from confcast.tasks.site.corrections import replace_captions
from confcast.tasks.site.layout import Manifest
from confcast.tasks.site.publish import RebuildReport, site_info
from confcast.tasks.storage.base import Storage


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
def replace_caption_files(slug: str, text: str, source_name: str, lang: str | None, settings: Settings) -> Manifest:
    storage, site = open_site(settings)
    with one_writer_per_site(storage, settings, create=False) as locked:
        return replace_captions(locked, site, slug, text, source_name=source_name, lang=lang)


@flow(name="replace-captions", validate_parameters=False)
def replace_captions_flow(
    slug: str, text: str, source_name: str, lang: str | None = None, settings: Settings | None = None
) -> str:
    """Publish reviewed captions for a conference (no Whisper); returns the caption file's path in the manifest."""
    settings = settings or load_settings()
    manifest = replace_caption_files(slug, text, source_name, lang, settings)
    reviewed = [track.path for track in manifest.captions if track.status == "reviewed"]
    get_run_logger().info("Reviewed captions of %s published: %s", slug, ", ".join(reviewed))
    return ", ".join(reviewed)
