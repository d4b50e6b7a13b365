"""Webhook notifications: a JSON message when a conference is published or fails.

A failing webhook is retried a few times and then only logged: it never fails the publication. The URL is a secret
(chat services put their token in its path or query): only its scheme and host are ever written anywhere.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from typing import Literal

from confcast.tasks.models import ConferenceMeta

RETRY_DELAYS_S = (1.0, 3.0, 9.0)
TIMEOUT_S = 10.0
SCHEMES = ("http", "https")  # urllib also opens file: and ftp: URLs, which a webhook never is


@dataclass(frozen=True)
class Notice:
    event: Literal["published", "failed"]
    source: str  # the recording's file name
    slug: str | None = None
    title: str | None = None
    page_url: str | None = None
    error: str | None = None

    def to_json(self) -> bytes:
        return json.dumps({"confcast": 1, **asdict(self)}, ensure_ascii=False).encode("utf-8")


def run_notice(
    source: str, meta: ConferenceMeta | None, *, page_url: str | None = None, error: str | None = None
) -> Notice:
    """A run's notice: `published` with its page URL, else `failed` with its error (and no page URL). Slug and
    title are the built metadata's, when it could be built."""
    slug, title = (meta.slug, meta.title) if meta is not None else (None, None)
    if error is None and page_url is not None:  # the slug published, where a run may continue a talk's earlier one
        slug = slug_of_page(page_url) or slug
        return Notice(event="published", source=source, slug=slug, title=title, page_url=page_url)
    return Notice(event="failed", source=source, slug=slug, title=title, error=error or "failed")


PAGE_IN_URL = re.compile(r"/conferences/([a-z0-9][a-z0-9_-]*)/[^/]*$")  # tasks/site/layout.py: conference_prefix


def slug_of_page(page_url: str) -> str | None:
    """The slug in a conference page's URL (`.../conferences/<slug>/index.html`), None in any other URL."""
    found = PAGE_IN_URL.search(urllib.parse.urlsplit(page_url).path)
    return found.group(1) if found else None


def send_webhook(url: str, notice: Notice, *, delays: tuple[float, ...] = RETRY_DELAYS_S) -> str | None:
    """POST the notice; returns None on success, else the last problem (one line, the URL redacted), after
    retries. Never raises."""
    where = redact_url(url)
    try:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        request = urllib.request.Request(
            url, data=notice.to_json(), headers={"Content-Type": "application/json; charset=utf-8"}, method="POST"
        )
    except ValueError:
        return f"webhook {where}: not a valid URL; set webhook_url to an http:// or https:// URL"
    if scheme not in SCHEMES:
        return f"webhook {where}: only http:// and https:// URLs are called; fix webhook_url"
    problem, attempts = None, 0
    for delay in (0.0, *delays):
        attempts += 1
        time.sleep(delay)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                if 200 <= response.status < 300:
                    return None
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            problem = f"HTTP {error.code}"
            if 400 <= error.code < 500 and error.code != 429:
                break  # the receiver refuses this message: retrying will not help
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)  # only the cause's kind: an error's text may quote the URL
            detail = reason.strerror if isinstance(reason, OSError) and reason.strerror else type(reason).__name__
            problem = f"{type(error).__name__}: {detail}"
        except (ValueError, http.client.HTTPException) as error:  # a malformed URL or a broken response
            problem = type(error).__name__
    return f"webhook {where} failed after {attempts} attempts: {problem}"


def redact_url(url: str) -> str:
    """The webhook URL as it may be shown: scheme and host only (the path and query often hold a token)."""
    try:
        parsed = urllib.parse.urlsplit(url)
        host = parsed.hostname or ""
        port = f":{parsed.port}" if parsed.port else ""
    except ValueError:
        return "(an invalid URL)"
    return f"{parsed.scheme}://{host}{port}/…"
