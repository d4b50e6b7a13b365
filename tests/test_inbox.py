"""The inbox: complete-file detection, atomic claims, done/failed with reasons, webhooks; the scan-inbox flow."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from tasks.inbox import FolderInbox, InboxEntry, is_recording, ready_entries, sidecar_names
from tasks.notify import Notice, send_webhook


def test_is_recording_and_sidecars() -> None:
    assert is_recording("talk.MP4") and is_recording("podcast.m4a")
    assert not is_recording("talk.mp4.yaml") and not is_recording(".hidden.mp4") and not is_recording("notes.txt")
    assert sidecar_names("talk.mp4")[:2] == ["talk.mp4.yaml", "talk.mp4.yml"]
    assert "talk.json" in sidecar_names("talk.mp4")


def test_ready_entries_wait_for_a_stable_size_unless_a_sidecar_is_there() -> None:
    entries = [InboxEntry("a.mp4", 100, False), InboxEntry("b.mp4", 50, False), InboxEntry("c.mp4", 10, True),
               InboxEntry("empty.mp4", 0, True)]
    assert [e.name for e in ready_entries(entries, {})] == ["c.mp4"]
    assert [e.name for e in ready_entries(entries, {"a.mp4": 100, "b.mp4": 40})] == ["a.mp4", "c.mp4"]


def test_a_recording_is_claimed_once_and_filed_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "talk.mp4").write_bytes(b"x" * 10)
    (tmp_path / "talk.mp4.yaml").write_text("title: T\n", encoding="utf-8")
    first, second = FolderInbox(tmp_path), FolderInbox(tmp_path)
    (entry,) = first.entries()
    assert entry == InboxEntry("talk.mp4", 10, True)
    claimed = first.claim(entry)
    assert claimed is not None and claimed.path == tmp_path / "processing" / "talk.mp4"
    assert second.claim(entry) is None  # another scanner loses the race
    assert (tmp_path / "processing" / "talk.mp4.yaml").exists()
    reason = first.finish(claimed, ok=False, detail="talk.mp4: not a media file")
    assert reason == tmp_path / "failed" / "talk.mp4.txt"
    assert "not a media file" in reason.read_text(encoding="utf-8")
    assert (tmp_path / "failed" / "talk.mp4").exists() and (tmp_path / "failed" / "talk.mp4.yaml").exists()
    assert first.entries() == []


class Receiver(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("Handler", (Receiver,), {"received": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook?token=s3cret", handler
    server.shutdown()


def test_webhook_retries_then_reports_without_the_token(webhook) -> None:
    url, handler = webhook
    handler.status = 503
    problem = send_webhook(url, Notice(event="failed", source="x.mp4", error="boom"), delays=(0.01, 0.01))
    assert problem is not None and "HTTP 503" in problem and "3 attempts" in problem
    assert "s3cret" not in problem
    assert len(handler.received) == 3
    handler.status = 200
    assert send_webhook(url, Notice(event="published", source="x.mp4", page_url="http://x/")) is None
    assert handler.received[-1] == {"confcast": 1, "event": "published", "source": "x.mp4", "slug": None,
                                    "title": None, "page_url": "http://x/", "error": None}


@pytest.mark.slow
def test_scan_inbox_publishes_complete_recordings_and_files_them(
    prefect_server, short_sample, bad_inputs, webhook, tmp_path: Path
) -> None:
    from flows.inbox import scan_inbox

    url, handler = webhook
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(short_sample.path, inbox / "atelier.mp4")
    (inbox / "atelier.mp4.yaml").write_text("title: Atelier\ndate: 2026-06-05\nlanguage: fr\n", encoding="utf-8")
    shutil.copy(bad_inputs["text file"], inbox / "broken.mp4")
    (inbox / "broken.yaml").write_text("title: Broken\n", encoding="utf-8")
    shutil.copy(bad_inputs["random bytes"], inbox / "copying.mp4")  # no sidecar: waits for a second scan
    site = tmp_path / "site"
    settings = Settings(storage_url=site.as_uri(), work_dir=tmp_path / "work", webhook_url=url)

    published = scan_inbox(inbox=str(inbox), settings=settings)

    page = site / "conferences" / "2026-06-05-atelier" / "index.html"
    assert published == [page.as_uri()]
    assert page.exists()
    assert (inbox / "done" / "atelier.mp4").exists() and (inbox / "done" / "atelier.mp4.yaml").exists()
    assert page.as_uri() in (inbox / "done" / "atelier.mp4.txt").read_text(encoding="utf-8")
    assert "broken.mp4" in (inbox / "failed" / "broken.mp4.txt").read_text(encoding="utf-8")
    assert (inbox / "copying.mp4").exists(), "a file without sidecar waits until its size is stable"
    events = sorted((m["event"], m["source"]) for m in handler.received)
    assert ("published", "atelier.mp4") in events

    assert scan_inbox(inbox=str(inbox), settings=settings) == []
    assert (inbox / "failed" / "copying.mp4.txt").exists()
    assert not any(p.is_file() for p in (inbox / "processing").iterdir())
