"""The `scan-inbox` flow: take complete recordings from an inbox and publish each one, then file it away."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

from prefect import flow, get_run_logger

from config.settings import Settings, load_settings
from flows.publish import publish_conference
from flows.targets import report_retry, resolve_target
from tasks.errors import ConfcastError, ConfigError
from tasks.inbox import FolderInbox, Inbox, S3Inbox, ScanMemory, ready_entries
from tasks.storage import S3Storage, parse_storage_url


def open_inbox(url: str, settings: Settings | None = None) -> Inbox:
    """A folder path, a file:// URL, or s3://bucket/prefix (same endpoint and credentials as the storage target)."""
    if url.startswith("s3://"):
        return open_s3_inbox(url, settings or load_settings())
    if url.startswith("file://"):
        return FolderInbox(Path(unquote(urlsplit(url).path)))
    if "://" in url:
        raise ConfigError(f"inbox {url!r}: give a folder path, a file:// URL or s3://bucket/prefix")
    return FolderInbox(Path(url))


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


@flow(name="scan-inbox", validate_parameters=False)
def scan_inbox(inbox: str | None = None, settings: Settings | None = None) -> list[str]:
    """Publish every complete recording of the inbox; returns the page URLs published by this scan."""
    settings = settings or load_settings()
    inbox = inbox or settings.inbox_url
    if not inbox:
        raise ConfigError("no inbox to scan: give one, or set inbox_url (CONFCAST_INBOX_URL)")
    box = open_inbox(inbox, settings)
    logger = get_run_logger()
    memory = scan_memory(settings, box.url)
    entries = box.entries()
    ready = ready_entries(entries, memory.load())
    memory.save(entries)
    logger.info("Inbox %s: %d recording(s), %d ready", box.url, len(entries), len(ready))

    published = []
    for entry in ready:
        try:
            claimed = box.claim(entry)
        except ConfcastError as error:  # e.g. the download failed: the claim is released, the next scan retries
            logger.error("%s could not be taken: %s", entry.name, error)
            continue
        if claimed is None:
            logger.info("%s was claimed by another scanner", entry.name)
            continue
        try:
            url = publish_conference(source=str(claimed.path), settings=settings)
        except ConfcastError as error:
            box.finish(claimed, ok=False, detail=str(error))
            logger.error("%s failed: %s", entry.name, error)
            continue
        except Exception as error:  # keep scanning: one broken recording must not block the others
            box.finish(claimed, ok=False, detail=f"unexpected {type(error).__name__}: {error}")
            logger.exception("%s failed unexpectedly", entry.name)
            continue
        box.finish(claimed, ok=True, detail=url)
        published.append(url)
    return published
