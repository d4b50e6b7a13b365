"""The `scan-inbox` flow: take complete recordings from an inbox and publish each one, then file it away."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from prefect import flow, get_run_logger

from confcast.config.settings import Settings, load_settings
from confcast.flows.event import publish_event
from confcast.flows.publish import publish_conference
from confcast.flows.targets import report_retry, resolve_target
from confcast.tasks.errors import ConfcastError, ConfigError
from confcast.tasks.event import describes_event
from confcast.tasks.storage.base import parse_storage_url
from confcast.tasks.storage.inbox import (
    Claimed,
    FolderInbox,
    Inbox,
    InboxEntry,
    S3Inbox,
    ScanMemory,
    is_outage,
    ready_entries,
    site_overlap,
    span_text,
)
from confcast.tasks.storage.inbox_names import shown
from confcast.tasks.storage.s3 import S3Storage


def open_inbox(url: str, settings: Settings | None = None) -> Inbox:
    """A folder path, a file:// URL, or s3://bucket/prefix (same endpoint and credentials as the storage target)."""
    if url.startswith("s3://"):
        return open_s3_inbox(url, settings or load_settings())
    if url.startswith("file://"):
        return open_folder_inbox(Path(unquote(urlsplit(url).path)), settings or load_settings())
    if "://" in url:
        raise ConfigError(f"inbox {url!r}: give a folder path, a file:// URL or s3://bucket/prefix")
    return open_folder_inbox(Path(url), settings or load_settings())


def open_folder_inbox(path: Path, settings: Settings) -> FolderInbox:
    """A folder inbox; refused (before anything is made in it) inside a file:// site, or around one."""
    site = parse_storage_url(settings.storage_url).root if settings.storage_url else None  # a file:// site
    if site is not None:
        problem = site_overlap(Path(os.path.realpath(path.expanduser())), Path(os.path.realpath(site)))
        if problem:
            raise ConfigError(problem)
    return FolderInbox(path)


def inside_prefix(prefix: str, parent: str) -> bool:
    """Whether keys under `prefix` are also under `parent` ("" is the whole bucket)."""
    return not parent or prefix == parent or prefix.startswith(parent + "/")


def open_s3_inbox(url: str, settings: Settings) -> S3Inbox:
    """An S3 inbox on the storage target's endpoint; refused inside the published (public) site prefix."""
    try:
        inbox = parse_storage_url(url)
    except ConfigError as error:
        raise ConfigError(f"inbox: {error}") from None
    target = resolve_target(settings)
    site = parse_storage_url(target.storage_url)
    if site.scheme == "s3" and site.bucket == inbox.bucket and inside_prefix(inbox.prefix, site.prefix):
        todo = f"use a prefix outside it (e.g. s3://{inbox.bucket}/inbox)" if site.prefix else "use another bucket"
        raise ConfigError(
            f"inbox {inbox.url} lies inside the published site {site.url}, which anyone can read: recordings "
            f"waiting there would be public; {todo}"
        )
    storage = S3Storage(
        inbox,
        endpoint_url=target.endpoint_url,
        public_read=False,
        retry_seconds=target.retry_seconds,
        on_retry=report_retry,
    )
    return S3Inbox(storage, settings.work_path / "inbox-downloads")


def scan_memory(settings: Settings, inbox_url: str) -> ScanMemory:
    digest = hashlib.sha256(inbox_url.encode("utf-8")).hexdigest()[:16]
    return ScanMemory(settings.work_path / "inbox-scans" / f"{digest}.json")


def publish_claimed(
    box: Inbox,
    claimed: Claimed,
    publish: Callable[[str, Path | None], str],
    logger: logging.Logger | logging.LoggerAdapter,
) -> str | None:
    """Publish one claimed recording and file it: done/ with its page URL, failed/ with the reason; returns the page
    URL (`publish` is given the recording and where its sidecar's slides PDF lies). A publication that failed only
    because the S3 storage was unreachable is not the recording's fault: the claim is released and the recording
    left in place for the next scan. A claim with a `problem` (a link, a name the inbox cannot handle) is filed
    under failed/ unread."""
    name = shown(claimed.name)
    if claimed.problem:
        box.finish(claimed, ok=False, detail=claimed.problem)
        logger.error("%s refused: %s", name, claimed.problem)
        return None
    try:
        url = publish(str(claimed.path), claimed.slides_folder)
    except ConfcastError as error:
        if is_outage(error):
            try:
                box.release(claimed)
            except ConfcastError as problem:  # the inbox is on the unreachable server too: the claim stays
                logger.error("%s: could not release its claim (%s); the first scan after this process ends takes "
                             "it back", name, problem)
                return None
            logger.warning("%s not filed under failed/: the storage was unreachable (%s); released, the next scan "
                           "tries again", name, error)
            return None
        box.finish(claimed, ok=False, detail=str(error))
        logger.error("%s failed: %s", name, error)
        return None
    except Exception as error:  # keep scanning: one broken recording must not block the others
        box.finish(claimed, ok=False, detail=f"unexpected {type(error).__name__}: {error}")
        logger.exception("%s failed unexpectedly", name)
        return None
    if box.finish(claimed, ok=True, detail=url) is None:
        logger.warning("%s was published, but its claim was taken back meanwhile: the new owner files it", name)
    return url


def take_back_stale_claims(
    box: Inbox, max_age: dt.timedelta, logger: logging.Logger | logging.LoggerAdapter
) -> Iterator[Claimed]:
    """Claims left behind by scanners that are gone (crashed, killed, their machine rebooted), taken back one at a
    time, as the caller asks for the next (so that one scanner does not hold them all while it publishes one)."""
    for stale in box.stale_claims(max_age=max_age):
        try:
            claimed = box.take_back(stale)
        except ConfigError:
            raise  # the inbox itself is wrong (a special folder is a link): the scan stops, with one line
        except (ConfcastError, OSError) as error:  # e.g. its download failed: released, the next scan retries
            logger.error("%s: could not take back the claim from %s: %s", shown(stale.name), stale.describe(), error)
            continue
        if claimed is None:
            if not stale.orphan:
                logger.info("%s: its stale claim was taken back by another scanner", shown(stale.name))
            continue
        logger.warning("%s: took back a claim from %s", shown(stale.name), stale.describe())
        yield claimed


@dataclass(frozen=True)
class SlidesWait:
    slides: str  # the inbox key of the PDF the sidecar names
    since: dt.datetime  # when a scan first saw the recording ready but the PDF missing


def slides_waits(
    box: Inbox, ready: list[InboxEntry], waited_since: dict[str, dt.datetime], now: dt.datetime
) -> dict[str, SlidesWait]:
    """The ready recordings whose sidecar names a slides PDF not in the inbox yet (copied after the recording and
    its sidecar, or not at all), each with since when it has waited: `now` for one seen waiting the first time."""
    waits = {}
    for entry in ready:
        try:
            slides = box.missing_slides(entry)
        except (ConfcastError, OSError):  # its sidecar cannot be read now: the claim meets the problem and says it
            continue
        if slides is not None:
            waits[entry.name] = SlidesWait(slides, waited_since.get(entry.name, now))
    return waits


def run_scan(
    box: Inbox,
    memory: ScanMemory,
    publish: Callable[[str, Path | None], str],
    logger: logging.Logger | logging.LoggerAdapter,
    max_age: dt.timedelta,
    *,
    slides_wait: dt.timedelta,
) -> list[str]:
    """One scan (what the scan-inbox flow runs, without Prefect): stale claims taken back and published, then
    every complete recording claimed, published and filed; one whose sidecar names a slides PDF not in the inbox
    yet waits for it, up to `slides_wait`. One bad entry never stops the others: an entry the inbox cannot take is
    reported once and left in place, one that vanished or cannot be claimed is logged and skipped; only an inbox
    that is itself wrong stops the scan. Returns the page URLs published."""
    published = []
    for claimed in take_back_stale_claims(box, max_age, logger):
        url = publish_claimed(box, claimed, publish, logger)
        if url is not None:
            published.append(url)

    entries = box.entries()
    reported = memory.reported()
    for entry in entries:
        if entry.skip and entry.name not in reported:
            logger.warning("%s left in the inbox: %s", shown(entry.name), entry.skip)
    ready = ready_entries(entries, memory.load(), sidecar_means_complete=box.sidecar_means_complete)
    now = dt.datetime.now(dt.timezone.utc)
    waits = slides_waits(box, ready, memory.waiting(), now)
    memory.save(entries, reported={entry.name for entry in entries if entry.skip},
                waiting={name: wait.since for name, wait in waits.items()})
    take = [entry for entry in ready if entry.name not in waits or now - waits[entry.name].since >= slides_wait]
    logger.info("Inbox %s: %d recording(s), %d ready", box.url, len(entries), len(take))
    for name, wait in waits.items():
        if now - wait.since < slides_wait:
            logger.info("%s waits for its slides %s (named by its sidecar, not in the inbox yet): taken once they "
                        "are, or after %s", shown(name), shown(wait.slides), span_text(slides_wait))
        else:
            logger.warning("%s: its slides %s are still not in the inbox after %s: taken, and filed under failed/ if "
                           "they cannot be read", shown(name), shown(wait.slides), span_text(slides_wait))

    for entry in take:
        try:
            claimed = box.claim(entry)
        except ConfigError:
            raise
        except (ConfcastError, OSError) as error:  # e.g. its download failed: released, the next scan retries
            logger.error("%s could not be taken: %s", shown(entry.name), error)
            continue
        if claimed is None:
            logger.info("%s was claimed by another scanner", shown(entry.name))
            continue
        url = publish_claimed(box, claimed, publish, logger)
        if url is not None:
            published.append(url)
    return published


@flow(name="scan-inbox", validate_parameters=False)
def scan_inbox(inbox: str | None = None, settings: Settings | None = None) -> list[str]:
    """Publish every complete recording of the inbox, and those whose scanner died; returns the page URLs
    published by this scan."""
    settings = settings or load_settings()
    inbox = inbox or settings.inbox_url
    if not inbox:
        raise ConfigError("no inbox to scan: give one, or set inbox_url (CONFCAST_INBOX_URL)")
    box = open_inbox(inbox, settings)
    logger = get_run_logger()

    def publish(source: str, slides_folder: Path | None) -> str:
        if describes_event(Path(source)):  # an evening: each talk, then its event page (the URL filed)
            return publish_event(source=source, settings=settings)[-1]
        folder = str(slides_folder) if slides_folder else None
        return publish_conference(source=source, settings=settings, slides_folder=folder)

    max_age = dt.timedelta(hours=settings.inbox_claim_hours)
    slides_wait = dt.timedelta(minutes=settings.inbox_slides_wait_minutes)
    return run_scan(box, scan_memory(settings, box.url), publish, logger, max_age, slides_wait=slides_wait)
