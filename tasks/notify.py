"""Webhook notifications: a JSON message when a conference is published or fails.

A failing webhook is retried a few times and then only logged: it never fails the publication.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from typing import Literal

RETRY_DELAYS_S = (1.0, 3.0, 9.0)
TIMEOUT_S = 10.0


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


def send_webhook(url: str, notice: Notice, *, delays: tuple[float, ...] = RETRY_DELAYS_S) -> str | None:
    """POST the notice; returns None on success, else the last problem (one line), after retries."""
    request = urllib.request.Request(
        url, data=notice.to_json(), headers={"Content-Type": "application/json; charset=utf-8"}, method="POST"
    )
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
            problem = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
    return f"webhook {redact_url(url)} failed after {attempts} attempts: {problem}"


def redact_url(url: str) -> str:
    """The webhook URL without its query or credentials, which often hold a token."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"
