"""The `scan-inbox` flow: take complete recordings from an inbox and publish each one, then file it away."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import unquote, urlsplit

from prefect import flow, get_run_logger

from config.settings import Settings, load_settings
from flows.publish import publish_conference
from tasks.errors import ConfcastError, ConfigError
from tasks.inbox import FolderInbox, ScanMemory, ready_entries


def open_inbox(url: str) -> FolderInbox:
    """A folder path or a file:// URL."""
    if url.startswith("file://"):
        return FolderInbox(Path(unquote(urlsplit(url).path)))
    if "://" in url:
        raise ConfigError(f"inbox {url!r}: give a folder path or a file:// URL")
    return FolderInbox(Path(url))


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
    box = open_inbox(inbox)
    logger = get_run_logger()
    memory = scan_memory(settings, box.url)
    entries = box.entries()
    ready = ready_entries(entries, memory.load())
    memory.save(entries)
    logger.info("Inbox %s: %d recording(s), %d ready", box.url, len(entries), len(ready))

    published = []
    for entry in ready:
        claimed = box.claim(entry)
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
