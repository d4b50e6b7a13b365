"""The inbox: complete-file detection, atomic claims, done/failed with reasons, stale claims taken back (from a
scanner killed mid-publication, a dead process, another machine long ago; one winner among racing scanners), an
S3 outage that releases the recording instead of failing it, webhooks; the scan-inbox flow. Hostile and careless
entries: symbolic links (filed, never followed), two recordings with one name (nothing overwritten), names too long
or not UTF-8, files vanishing mid-scan, an inbox inside a file:// site, a sidecar that arrives before its
recording is copied."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import itertools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from chapter_samples import make_slides_pdf
from claim_race import race_take_back
from event_media import make_beep_recording

from confcast.config.settings import Settings
from confcast.tasks.errors import ConfigError, ProbeError, PublishError
from confcast.tasks.metadata import build_meta
from confcast.tasks.notify import Notice, send_webhook
from confcast.tasks.storage.base import check_key
from confcast.tasks.storage.inbox import (
    ClaimOwner,
    FolderInbox,
    InboxEntry,
    Machine,
    S3Inbox,
    ScanMemory,
    is_outage,
    is_recording,
    process_start,
    ready_entries,
    sidecar_names,
    stale_reason,
)
from confcast.tasks.storage.s3 import S3Storage

REPO = Path(__file__).resolve().parents[1]
UTC = dt.timezone.utc
# A scanner that claims the only recording of a folder inbox, says so, then "publishes" for a minute (until killed).
SCANNER = """
import sys, time
from pathlib import Path
from confcast.tasks.storage.inbox import FolderInbox
box = FolderInbox(Path(sys.argv[1]))
(entry,) = box.entries()
assert box.claim(entry) is not None
print("claimed", flush=True)
time.sleep(60)
"""


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

    def do_POST(self) -> None:  # http.server's name
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
    from confcast.flows.inbox import scan_inbox

    url, handler = webhook
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(short_sample.path, inbox / "atelier.mp4")
    (inbox / "atelier.mp4.yaml").write_text("title: Atelier\ndate: 2026-06-05\nlanguage: fr\nslides: diapos.pdf\n",
                                            encoding="utf-8")  # fmt: skip
    pdf = make_slides_pdf(inbox / "diapos.pdf")  # stays in the inbox: the sidecar, moved to processing/, names it
    claim_as(inbox, "atelier.mp4", dead_owner())  # its scanner died mid-publication
    (inbox / "atelier.mp4.yaml").rename(inbox / "processing" / "atelier.mp4.yaml")
    shutil.copy(bad_inputs["text file"], inbox / "broken.mp4")
    (inbox / "broken.yaml").write_text("title: Broken\n", encoding="utf-8")
    shutil.copy(bad_inputs["random bytes"], inbox / "copying.mp4")  # no sidecar: waits for a second scan
    (inbox / "linked.mp4").symlink_to(short_sample.path)  # a link: filed as it is, never published
    site = tmp_path / "site"
    settings = Settings(storage_url=site.as_uri(), work_dir=tmp_path / "work", webhook_url=url)

    published = scan_inbox(inbox=str(inbox), settings=settings)

    page = site / "conferences" / "2026-06-05-atelier" / "index.html"
    assert published == [page.as_uri()]
    assert page.exists()
    assert (inbox / "done" / "atelier.mp4").exists() and (inbox / "done" / "atelier.mp4.yaml").exists()
    assert page.as_uri() in (inbox / "done" / "atelier.mp4.txt").read_text(encoding="utf-8")
    slides = json.loads((page.parent / "manifest.json").read_text(encoding="utf-8"))["slides"]
    assert (page.parent / slides["pdf"]).read_bytes() == pdf.read_bytes() and pdf.exists()
    assert (inbox / "copying.mp4").exists(), "a file without sidecar waits until its size is stable"
    assert (inbox / "broken.mp4").exists(), "with its sidecar too: a folder's file may still be being copied"
    events = sorted((m["event"], m["source"]) for m in handler.received)
    assert ("published", "atelier.mp4") in events

    assert scan_inbox(inbox=str(inbox), settings=settings) == []
    assert (inbox / "failed" / "copying.mp4.txt").exists()
    assert "broken.mp4" in (inbox / "failed" / "broken.mp4.txt").read_text(encoding="utf-8")
    assert (inbox / "failed" / "linked.mp4").is_symlink()
    assert "is a symbolic link" in (inbox / "failed" / "linked.mp4.txt").read_text(encoding="utf-8")
    assert sorted(p.name for p in (site / "conferences").iterdir()) == ["2026-06-05-atelier"], "nothing else"
    assert [p.name for p in (inbox / "processing").iterdir()] in ([], [".takeover.lock"]), "no claim left behind"


EVENING = """
event: {title: Soirée OpenLab, date: 2026-06-12}
talks:
  - {title: Premier exposé, speakers: [Alice Martin], start: 0, end: 4}
  - {title: Second exposé, speakers: [Bob Durand], start: "0:04", slug: second-expose}
"""


def test_an_evening_dropped_in_the_inbox_publishes_each_talk_and_its_event_page(prefect_server, tmp_path: Path) -> None:
    from confcast.flows.inbox import scan_inbox

    inbox, site = tmp_path / "inbox", tmp_path / "site"
    inbox.mkdir()
    make_beep_recording(inbox / "soiree.mp4", seconds=8.0, beep_at=5.0)
    (inbox / "soiree.mp4.yaml").write_text(EVENING, encoding="utf-8")
    settings = Settings(storage_url=site.as_uri(), work_dir=tmp_path / "work", language="fr")

    assert scan_inbox(inbox=str(inbox), settings=settings) == []  # a folder's file: its size must hold a scan
    published = scan_inbox(inbox=str(inbox), settings=settings)

    event_page = site / "events" / "2026-06-12-soiree-openlab" / "index.html"
    assert published == [event_page.as_uri()]
    slugs = sorted(p.name for p in (site / "conferences").iterdir())
    assert slugs == ["2026-06-12-premier-expose", "second-expose"], "each talk its own conference, never one"
    for slug, (start, end) in zip(slugs, ((0.0, 4.0), (4.0, 8.0)), strict=True):  # the second: to the end
        manifest = json.loads((site / "conferences" / slug / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["cut"]["start_s"] == start and abs(manifest["cut"]["end_s"] - end) < 0.1, manifest["cut"]
        assert manifest["event"]["slug"] == "2026-06-12-soiree-openlab"
        assert f"../../conferences/{slug}/index.html" in event_page.read_text(encoding="utf-8")
    assert (inbox / "done" / "soiree.mp4").exists() and (inbox / "done" / "soiree.mp4.yaml").exists()
    assert event_page.as_uri() in (inbox / "done" / "soiree.mp4.txt").read_text(encoding="utf-8")


# --- stale claims: the pure rules -------------------------------------------------------------------------------

NOW = dt.datetime(2026, 6, 5, 12, 0, tzinfo=UTC)
HERE = Machine("lab-1", boot="boot-a", pidns="pid:[4026531836]")


def owner(**changes: object) -> ClaimOwner:
    fields = {"claim": "c1", "host": "lab-1", "pid": 4242, "at": NOW - dt.timedelta(hours=1), "started": 1000,
              "boot": "boot-a", "pidns": "pid:[4026531836]", **changes}
    return ClaimOwner(**fields)  # type: ignore[arg-type]


def test_a_claim_is_stale_only_when_its_owner_is_provably_gone() -> None:
    running = {4242: 1000}.get  # pid -> start time of the processes running on this machine
    hours = dt.timedelta(hours=1)

    def why(claim: ClaimOwner | None, alive=running, **kw: object) -> str | None:
        return stale_reason(claim, now=NOW, here=HERE, alive=alive, max_age=12 * hours, **kw)  # type: ignore[arg-type]

    assert why(owner()) is None, "its process runs: left alone"
    assert why(owner(at=NOW - 48 * hours)) is None, "a live owner on this machine is never judged by its age"
    assert why(owner(), alive=lambda pid: None) == "process 4242 is gone"
    assert why(owner(), alive=lambda pid: 2000) == "pid 4242 is now another process"
    assert why(owner(started=None), alive=lambda pid: 2000) is None, "no start time recorded: the pid alone"
    assert why(owner(), alive=lambda pid: -1) is None, "running, start time unknown"
    assert why(owner(boot="boot-b")) == "the machine has restarted since"
    assert why(owner(boot=None)) is None, "an owner without boot id: the process decides"

    elsewhere = owner(host="lab-2")
    assert why(elsewhere, alive=lambda pid: None) is None, "another machine's pids mean nothing here"
    assert why(owner(host="lab-2", at=NOW - 11 * hours)) is None
    assert why(owner(host="lab-2", at=NOW - 12 * hours)) == (
        "held by another machine for 12 h, more than inbox_claim_hours (12 h)"
    )
    container = owner(pidns="pid:[4026532000]")  # same host name, another pid namespace: judged by age
    assert why(container, alive=lambda pid: None) is None
    assert why(owner(pidns="pid:[4026532000]", at=NOW - 13 * hours)) is not None

    assert why(None, seen_at=NOW - dt.timedelta(minutes=5)) is None, "ownerless but fresh: maybe being claimed"
    assert why(None, seen_at=NOW - dt.timedelta(minutes=11)) == (
        "no owner recorded and untouched for more than 10 min"
    )
    assert why(None) is not None


def dead_pid() -> int:
    """The pid of a process that has come and gone."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_owner_records_and_process_probes() -> None:
    mine = ClaimOwner.mine()
    assert mine.pid == os.getpid() and mine.host == socket.gethostname()
    assert mine.started == process_start(os.getpid()) and mine.started and mine.started > 0
    assert mine.boot == Machine.current().boot and mine.boot
    assert ClaimOwner.from_json(mine.to_json()) == mine
    assert process_start(dead_pid()) is None
    legacy = json.dumps({"claim": "x", "host": "h", "pid": 7, "at": "2026-06-05T12:00:00+00:00"}).encode()
    assert ClaimOwner.from_json(legacy) == ClaimOwner("x", "h", 7, NOW), "claims written before owners had more"
    assert ClaimOwner.from_json(b"not json") is None and ClaimOwner.from_json(b'{"claim": 1}') is None
    assert stale_reason(mine, now=NOW, here=Machine.current()) is None


# --- stale claims in a folder inbox ---------------------------------------------------------------------------


def drop(inbox: Path, name: str = "talk.mp4", sidecar: bool = True) -> None:
    (inbox / name).write_bytes(name.encode())
    if sidecar:
        (inbox / f"{name}.yaml").write_text("title: T\n", encoding="utf-8")


def claim_as(inbox: Path, name: str, claim: ClaimOwner | None) -> None:
    """Leave `name` in processing/ as claimed by `claim` (None: no owner file, as older scanners left them)."""
    (inbox / "processing").mkdir(exist_ok=True)
    os.rename(inbox / name, inbox / "processing" / name)
    if claim is not None:
        (inbox / "processing" / f"{name}.claim").write_bytes(claim.to_json())


def _with(base: ClaimOwner, **changes: object) -> ClaimOwner:
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def dead_owner(**changes: object) -> ClaimOwner:
    """An owner on this machine whose process has exited."""
    return _with(ClaimOwner.mine(), pid=dead_pid(), **changes)


class Lines(logging.Handler):
    """The messages of a logger of our own (Prefect's logging setup replaces the root handlers pytest captures)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.logger = logging.getLogger(name)
        self.logger.handlers = [self]
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def publisher(published: list[str]):
    """Stands in for publish-conference here (the slow flow test runs the real one): reads what it publishes."""

    def publish(source: str, slides_folder: Path | None = None) -> str:
        assert Path(source).read_bytes()
        published.append(Path(source).name)
        return f"http://site.example/{Path(source).stem}/"

    return publish


def test_a_scanner_killed_mid_publication_is_taken_back_and_its_recording_published(tmp_path: Path) -> None:
    from confcast.flows.inbox import publish_claimed, take_back_stale_claims

    drop(tmp_path)
    scanner = subprocess.Popen([sys.executable, "-c", SCANNER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                               text=True)
    try:
        assert scanner.stdout is not None and scanner.stdout.readline().strip() == "claimed"
        box = FolderInbox(tmp_path)
        assert box.entries() == [] and (tmp_path / "processing" / "talk.mp4").exists()
        assert box.stale_claims() == [], "its scanner is alive: the claim is left alone"
    finally:
        scanner.send_signal(signal.SIGKILL)
        scanner.wait()

    (stale,) = box.stale_claims()
    assert stale.name == "talk.mp4" and stale.why == f"process {scanner.pid} is gone"
    log = Lines("test-inbox-killed")
    (claimed,) = take_back_stale_claims(box, dt.timedelta(hours=12), log.logger)
    (line,) = [line for line in log.lines if "took back" in line]
    assert line.startswith(f"talk.mp4: took back a claim from {socket.gethostname()} pid {scanner.pid} (claimed at ")
    assert line.endswith(f"process {scanner.pid} is gone")
    owner_now = ClaimOwner.from_json((tmp_path / "processing" / "talk.mp4.claim").read_bytes())
    assert owner_now is not None and owner_now.pid == os.getpid() and owner_now.claim == claimed.claim_id
    assert box.stale_claims() == [], "now ours, and we are alive"

    published: list[str] = []
    assert publish_claimed(box, claimed, publisher(published), log.logger) == "http://site.example/talk/"
    assert published == ["talk.mp4"]
    assert {p.name for p in (tmp_path / "done").iterdir()} == {"talk.mp4", "talk.mp4.yaml", "talk.mp4.txt"}
    assert [p.name for p in (tmp_path / "processing").iterdir()] == [".takeover.lock"], "no claim left behind"


def test_claims_by_live_owners_and_fresh_ownerless_claims_are_left_alone(tmp_path: Path) -> None:
    for name in ("mine.mp4", "other-host.mp4", "ownerless.mp4", "interrupted.mp4", "being-renamed.mp4"):
        drop(tmp_path, name, sidecar=False)
    me = ClaimOwner.mine()
    claim_as(tmp_path, "mine.mp4", me)
    claim_as(tmp_path, "other-host.mp4", _with(me, host="lab-far-away", pid=dead_pid(),
                                               at=dt.datetime.now(UTC) - dt.timedelta(hours=11)))
    claim_as(tmp_path, "ownerless.mp4", None)  # left by an older confcast
    # Crashes between the rename and the owner file: the owner is in the pending file written before the rename.
    claim_as(tmp_path, "interrupted.mp4", None)
    (tmp_path / "processing" / ".interrupted.mp4.abc.claim-pending").write_bytes(dead_owner().to_json())
    claim_as(tmp_path, "being-renamed.mp4", None)
    (tmp_path / "processing" / ".being-renamed.mp4.def.claim-pending").write_bytes(me.to_json())
    box = FolderInbox(tmp_path)

    assert [(s.name, s.why) for s in box.stale_claims()] == [("interrupted.mp4", f"process {_pid(tmp_path)} is gone")]
    later = dt.datetime.now(UTC) + dt.timedelta(minutes=11)
    assert [s.name for s in box.stale_claims(now=later)] == ["interrupted.mp4", "ownerless.mp4"]
    assert [s.name for s in box.stale_claims(now=later + dt.timedelta(hours=1))] == [
        "interrupted.mp4", "other-host.mp4", "ownerless.mp4"], "12 h after another machine's claim"
    assert [s.name for s in box.stale_claims(max_age=dt.timedelta(hours=10))] == ["interrupted.mp4", "other-host.mp4"]

    (interrupted,) = [s for s in box.stale_claims() if s.name == "interrupted.mp4"]
    claimed = box.take_back(interrupted)
    assert claimed is not None and claimed.path == tmp_path / "processing" / "interrupted.mp4"
    assert not (tmp_path / "processing" / ".interrupted.mp4.abc.claim-pending").exists(), "the dead owner's pending"
    assert (tmp_path / "processing" / ".being-renamed.mp4.def.claim-pending").exists(), "a live owner's stays"


def _pid(inbox: Path) -> int:
    return json.loads((inbox / "processing" / ".interrupted.mp4.abc.claim-pending").read_bytes())["pid"]


def test_an_expired_claim_from_another_machine_is_taken_back(tmp_path: Path) -> None:
    drop(tmp_path)
    long_ago = dt.datetime.now(UTC) - dt.timedelta(hours=13)
    claim_as(tmp_path, "talk.mp4", ClaimOwner("old", "lab-far-away", 4242, long_ago))
    (tmp_path / "talk.mp4.yaml").rename(tmp_path / "processing" / "talk.mp4.yaml")
    box = FolderInbox(tmp_path)
    (stale,) = box.stale_claims()
    assert stale.why.startswith("held by another machine for 13 h") and "lab-far-away pid 4242" in stale.describe()
    claimed = box.take_back(stale)
    assert claimed is not None
    assert box.take_back(stale) is None, "taken once: the same stale claim cannot be taken twice"
    reason = box.finish(claimed, ok=True, detail="http://site.example/talk/")
    assert reason == tmp_path / "done" / "talk.mp4.txt" and (tmp_path / "done" / "talk.mp4.yaml").exists()


def test_two_scanners_racing_for_stale_claims_win_each_once(tmp_path: Path) -> None:
    names = sorted(f"talk-{n}.mp4" for n in range(12))
    gone = dead_owner()
    for name in names:
        drop(tmp_path, name, sidecar=False)
        claim_as(tmp_path, name, _with(gone, claim=f"old-{name}"))
    scanners = [FolderInbox(tmp_path) for _ in range(2)]
    seen = [scanner.stale_claims() for scanner in scanners]  # both see every stale claim before anyone takes one
    assert all([s.name for s in stale] == names for stale in seen)
    won = race_take_back(scanners, seen, timeout_s=30)
    assert sorted(c.name for c in won) == names, f"each taken back exactly once: {won}"
    for claimed in won:
        owner_now = ClaimOwner.from_json((tmp_path / "processing" / f"{claimed.name}.claim").read_bytes())
        assert owner_now is not None and owner_now.claim == claimed.claim_id, "the winner's claim is the one there"
    assert scanners[0].stale_claims() == []


def unreachable_s3_error(monkeypatch: pytest.MonkeyPatch) -> Exception:
    """The error a publication raises when the S3 server does not answer, from a real S3Storage on a closed port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    storage = S3Storage("s3://talks/site", endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1,
                        retry_seconds=0.5, on_retry=lambda message: None)
    with pytest.raises(Exception) as raised:
        storage.put_bytes("index.html", b"<p>")
    return raised.value


def test_an_s3_outage_releases_the_recording_and_bad_input_still_fails_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confcast.flows.inbox import publish_claimed

    outage = unreachable_s3_error(monkeypatch)
    assert is_outage(outage), outage
    assert is_outage(PublishError(str(outage))), "told by its message alone (as after a trip through Prefect)"
    flagged = PublishError("S3 upload failed: the server answered 503")
    flagged.transient = True  # type: ignore[attr-defined]  # an explicit flag wins
    assert is_outage(flagged)
    with pytest.raises(Exception) as bad_key:
        check_key("../escape.html")
    refused = [bad_key.value, ProbeError("talk.mp4: not a media file")]
    assert not any(is_outage(error) for error in refused)

    def failing(error: Exception):
        def publish(source: str, slides_folder: Path | None = None) -> str:
            raise error

        return publish

    drop(tmp_path)
    box = FolderInbox(tmp_path)
    log = Lines("test-inbox-outage")
    claimed = box.claim(box.entries()[0])
    assert claimed is not None
    assert publish_claimed(box, claimed, failing(outage), log.logger) is None
    assert {p.name for p in tmp_path.iterdir() if p.is_file()} == {"talk.mp4", "talk.mp4.yaml"}, "back in place"
    assert list((tmp_path / "failed").iterdir()) == [] and not (tmp_path / "processing" / "talk.mp4.claim").exists()
    (line,) = [line for line in log.lines if "not filed" in line]
    assert line.startswith("talk.mp4 not filed under failed/: the storage was unreachable (S3 upload failed")
    assert line.endswith("released, the next scan tries again")

    claimed = box.claim(box.entries()[0])
    assert claimed is not None
    assert publish_claimed(box, claimed, failing(ProbeError("talk.mp4: not a media file")), log.logger) is None
    assert "not a media file" in (tmp_path / "failed" / "talk.mp4.txt").read_text(encoding="utf-8")


# --- hostile and careless entries (issue 12) -----------------------------------------------------------------


def test_names_that_are_taken_move_with_their_family_and_bad_names_are_told_apart() -> None:
    from confcast.tasks.storage.inbox_names import (
        candidate_names,
        family_taken,
        fit_name,
        key_problem,
        name_problem,
        renamed_sidecars,
        shown,
    )

    first = list(itertools.islice(candidate_names("talk.mp4", 207), 3))
    assert first == ["talk.mp4", "talk (2).mp4", "talk (3).mp4"]
    assert list(itertools.islice(candidate_names("talk (2).mp4", 207), 3)) == ["talk (2).mp4", "talk (3).mp4",
                                                                             "talk (4).mp4"]
    assert ("talk.yaml", "talk (2).yaml") in renamed_sidecars("talk.mp4", "talk (2).mp4")
    assert ("talk.mp4.json", "talk (2).mp4.json") in renamed_sidecars("talk.mp4", "talk (2).mp4")
    for present in (["talk.mp4"], ["talk.mp4.txt"], ["talk.yaml"], ["talk.mkv"], ["talk.mp4.claim"]):
        assert family_taken("talk.mp4", present), present
    assert not family_taken("talk.mp4", ["talk (2).mp4", "talking.mp4", ".talk.mp4.abc.claim-pending"])

    long = "conférence-" * 20 + ".mp4"  # 244 bytes: fits a file system, not the inbox's own names made from it
    short = fit_name(long, 207)
    assert len(short.encode()) <= 207 and short.endswith(".mp4") and short.startswith("conférence-")
    assert fit_name(long.replace("-", "_"), 207) != short, "different names stay different"
    assert all(len(name.encode()) <= 207 for name in itertools.islice(candidate_names(long, 207), 3))
    assert name_problem(long, 207) is not None and "244 bytes long" in name_problem(long, 207)
    assert name_problem(os.fsdecode(b"conf\xe9rence.mp4"), 207).startswith("the file name is not valid UTF-8")
    assert name_problem("talk.mp4", 207) is None
    assert "backslash" in key_problem("a\\b.mp4") and "control character" in key_problem("a\x01b.mp4")
    assert "too long" in key_problem("x" * 1010 + ".mp4") and key_problem("talk (2).mp4") is None
    assert shown("bell\x07.mp4") == "bell\\x07.mp4" and shown(os.fsdecode(b"conf\xe9.mp4")) == "conf\ufffd.mp4"


def test_file_operations_never_follow_a_link_and_never_replace_a_file(tmp_path: Path) -> None:
    from confcast.tasks.storage.safe_fs import (
        LinkedFolder,
        link_noreplace,
        open_folder,
        read_file,
        rename_noreplace,
        write_new,
    )

    (tmp_path / "real").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(LinkedFolder):
        open_folder(str(tmp_path / "linked"))
    folder = open_folder(str(tmp_path / "real"))
    try:
        write_new(folder, "a", b"first")
        with pytest.raises(FileExistsError):
            write_new(folder, "a", b"second")
        (tmp_path / "real" / "link").symlink_to(tmp_path / "real" / "a")
        with pytest.raises(FileExistsError):
            write_new(folder, "link", b"through the link")
        assert read_file(folder, "link") == b"" and read_file(folder, "a") == b"first" and not read_file(folder, "b")
        for move in (rename_noreplace, link_noreplace):  # link_noreplace: where renameat2 has no flags
            write_new(folder, "b", b"b")
            assert move(folder, "b", folder, "a") is False, "a taken name is never replaced"
            assert move(folder, "b", folder, "c") is True and read_file(folder, "c") == b"b"
            assert move(folder, "link", folder, "moved-link") is True, "a link moves as a link"
            assert (tmp_path / "real" / "moved-link").is_symlink()
            with pytest.raises(FileNotFoundError):
                move(folder, "b", folder, "d")
            os.rename(tmp_path / "real" / "moved-link", tmp_path / "real" / "link")
            os.unlink(tmp_path / "real" / "c")
        assert (tmp_path / "real" / "a").read_bytes() == b"first" and list((tmp_path / "elsewhere").iterdir()) == []
    finally:
        os.close(folder)


def test_a_linked_recording_or_sidecar_is_filed_unread(tmp_path: Path) -> None:
    from confcast.flows.inbox import publish_claimed

    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.mp4"
    secret.write_bytes(b"SECRET RECORDING")
    (outside / "secret.yaml").write_text("title: [SECRET-CONTENT\n", encoding="utf-8")  # its parse error quotes it
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "linked.mp4").symlink_to(secret)
    (inbox / "talk.mp4").write_bytes(b"talk")
    (inbox / "talk.mp4.yaml").symlink_to(outside / "secret.yaml")
    box = FolderInbox(inbox)
    log = Lines("test-inbox-links")
    read: list[bytes] = []

    # Reads what it publishes, and its metadata as publish-conference does
    def publish(source: str, slides_folder: Path | None = None) -> str:
        read.append(Path(source).read_bytes())
        build_meta(Path(source))
        return "http://site.example/"

    assert [entry.name for entry in box.entries()] == ["linked.mp4", "talk.mp4"]
    for entry in box.entries():
        claimed = box.claim(entry)
        assert claimed is not None
        assert publish_claimed(box, claimed, publish, log.logger) is None
    (inbox / "swapped.mp4").write_bytes(b"a file when listed")
    (entry,) = box.entries()
    (inbox / "swapped.mp4").unlink()
    (inbox / "swapped.mp4").symlink_to(secret)  # swapped for a link between the listing and the claim
    claimed = box.claim(entry)
    assert claimed is not None and claimed.problem.startswith("swapped.mp4 is a symbolic link")
    assert publish_claimed(box, claimed, publish, log.logger) is None
    assert read == [], "nothing read, nothing published"
    failed = inbox / "failed"
    assert (failed / "swapped.mp4").is_symlink()
    assert (failed / "linked.mp4").is_symlink() and os.readlink(failed / "linked.mp4") == str(secret), "the link"
    reason = (failed / "linked.mp4.txt").read_text(encoding="utf-8")
    assert "linked.mp4 is a symbolic link; confcast takes only files inside the inbox" in reason
    assert (failed / "talk.mp4").read_bytes() == b"talk" and (failed / "talk.mp4.yaml").is_symlink()
    reason = (failed / "talk.mp4.txt").read_text(encoding="utf-8")
    assert "its sidecar talk.mp4.yaml is a symbolic link" in reason and "SECRET" not in reason
    assert "SECRET" not in "\n".join(log.lines)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.mp4", "secret.yaml"]
    assert secret.read_bytes() == b"SECRET RECORDING"
    assert [p.name for p in (inbox / "processing").iterdir()] == [], "no claim left behind"


def test_a_linked_special_folder_stops_the_scan_with_one_line(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "failed").symlink_to(outside)
    with pytest.raises(ConfigError) as raised:
        FolderInbox(inbox)
    assert str(raised.value) == (
        f"inbox {inbox}: failed/ is a symbolic link (to {outside}); confcast reads and writes only inside the inbox: "
        "replace each with a real folder (or remove it: the next scan makes it)"
    )

    (inbox / "failed").unlink()  # a real folder again; then done/ is swapped for a link while a recording is out
    drop(inbox)
    box = FolderInbox(inbox)
    claimed = box.claim(box.entries()[0])
    assert claimed is not None and not claimed.problem
    (inbox / "done").rmdir()
    (inbox / "done").symlink_to(outside)
    with pytest.raises(ConfigError, match=r"done/ is a symbolic link \(to "):
        box.finish(claimed, ok=True, detail="http://site.example/talk/")
    with pytest.raises(ConfigError, match="done/ is a symbolic link"):
        box.entries()
    assert list(outside.iterdir()) == [], "nothing written outside the inbox"
    assert (inbox / "processing" / "talk.mp4").read_bytes() == b"talk.mp4", "the recording waits in processing/"


def test_two_recordings_with_one_name_never_overwrite_each_other(tmp_path: Path) -> None:
    first, second = FolderInbox(tmp_path), FolderInbox(tmp_path)
    (tmp_path / "talk.mp4").write_bytes(b"first talk")
    one = first.claim(first.entries()[0])
    assert one is not None and one.name == "talk.mp4"
    # A second talk.mp4 arrives while the first is being published; another scanner claims it.
    (tmp_path / "talk.mp4").write_bytes(b"second talk")
    (tmp_path / "talk.mp4.yaml").write_text("title: Second\n", encoding="utf-8")
    two = second.claim(second.entries()[0])
    assert two is not None and two.name == "talk (2).mp4"
    assert one.path.read_bytes() == b"first talk", "the recording being published is untouched"
    assert two.path.read_bytes() == b"second talk"
    assert (tmp_path / "processing" / "talk (2).mp4.yaml").read_text(encoding="utf-8") == "title: Second\n"
    for claimed in (one, two):
        owner_now = ClaimOwner.from_json((tmp_path / "processing" / f"{claimed.name}.claim").read_bytes())
        assert owner_now is not None and owner_now.claim == claimed.claim_id and owner_now.name == "talk.mp4"

    assert first.finish(one, ok=True, detail="http://site.example/first/") == tmp_path / "done" / "talk.mp4.txt"
    assert second.finish(two, ok=True, detail="http://site.example/second/") == tmp_path / "done" / "talk (2).mp4.txt"
    (tmp_path / "talk.mp4").write_bytes(b"third talk")
    three = first.claim(first.entries()[0])
    assert three is not None and three.name == "talk.mp4", "free again in processing/"
    assert first.finish(three, ok=True, detail="http://site.example/third/") == tmp_path / "done" / "talk (3).mp4.txt"
    done = tmp_path / "done"
    assert {p.name for p in done.iterdir()} == {"talk.mp4", "talk.mp4.txt", "talk (2).mp4", "talk (2).mp4.yaml",
                                               "talk (2).mp4.txt", "talk (3).mp4", "talk (3).mp4.txt"}
    for name, content, page in (("talk.mp4", b"first talk", "first"), ("talk (2).mp4", b"second talk", "second"),
                                ("talk (3).mp4", b"third talk", "third")):
        assert (done / name).read_bytes() == content
        assert f"http://site.example/{page}/" in (done / f"{name}.txt").read_text(encoding="utf-8")

    for content in (b"bad one", b"bad two"):  # failed/ the same
        (tmp_path / "bad.mp4").write_bytes(content)
        claimed = first.claim(first.entries()[0])
        assert claimed is not None
        first.finish(claimed, ok=False, detail=f"{content.decode()}: not a media file")
    failed = tmp_path / "failed"
    assert (failed / "bad.mp4").read_bytes() == b"bad one" and (failed / "bad (2).mp4").read_bytes() == b"bad two"
    assert "bad two" in (failed / "bad (2).mp4.txt").read_text(encoding="utf-8")

    (tmp_path / "again.mp4").write_bytes(b"given back")  # given back while another of that name waits
    claimed = first.claim(first.entries()[0])
    assert claimed is not None
    (tmp_path / "again.mp4").write_bytes(b"newer")
    first.release(claimed)
    assert (tmp_path / "again.mp4").read_bytes() == b"newer"
    assert (tmp_path / "again (2).mp4").read_bytes() == b"given back"


def scan(
    box: FolderInbox | S3Inbox,
    memory: ScanMemory,
    published: list[str],
    log: Lines,
    slides_wait: dt.timedelta = dt.timedelta(hours=1),
) -> list[str]:
    from confcast.flows.inbox import run_scan

    return run_scan(box, memory, publisher(published), log.logger, dt.timedelta(hours=12), slides_wait=slides_wait)


def test_a_recording_waits_for_the_slides_its_sidecar_names(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "talk.mp4").write_bytes(b"talk")
    (inbox / "talk.mp4.yaml").write_text("title: T\nslides: diapos/talk.pdf\n", encoding="utf-8")
    drop(inbox, "other.mp4")  # no slides: not held up
    (inbox / "outside.mp4").write_bytes(b"outside")  # slides outside the inbox: no wait, the flow refuses it
    (inbox / "outside.mp4.yaml").write_text("title: O\nslides: ../talk.pdf\n", encoding="utf-8")
    box = FolderInbox(inbox)
    memory, published, log = ScanMemory(tmp_path / "memory.json"), [], Lines("test-inbox-slides")
    assert scan(box, memory, published, log) == [], "sizes not yet known to be stable"
    assert scan(box, memory, published, log) == ["http://site.example/other/", "http://site.example/outside/"]
    assert (inbox / "talk.mp4").exists() and (inbox / "talk.mp4.yaml").exists()
    assert "talk.mp4 waits for its slides diapos/talk.pdf (named by its sidecar, not in the inbox yet): taken once " \
           "they are, or after 1 h" in log.lines, log.lines
    since = memory.waiting()["talk.mp4"]
    assert scan(box, memory, published, log) == [] and memory.waiting() == {"talk.mp4": since}, "waits from then on"

    (inbox / "diapos").mkdir()
    (inbox / "diapos" / "talk.pdf").write_bytes(b"%PDF-1.4 copied after the recording")
    assert scan(box, memory, published, log) == ["http://site.example/talk/"]
    assert memory.waiting() == {} and (inbox / "diapos" / "talk.pdf").exists()
    assert published == ["other.mp4", "outside.mp4", "talk.mp4"]

    # A PDF never copied: once the wait is over (counted from the first scan that saw it missing), the recording is
    # taken anyway, and the flow files it under failed/ with its own reason.
    (inbox / "late.mp4").write_bytes(b"late")
    (inbox / "late.mp4.yaml").write_text("title: L\nslides: late.pdf\n", encoding="utf-8")
    assert scan(box, memory, published, log) == [] and scan(box, memory, published, log) == []
    assert set(memory.waiting()) == {"late.mp4"}
    two_hours_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    memory.save(box.entries(), waiting={"late.mp4": two_hours_ago})
    assert scan(box, memory, published, log) == ["http://site.example/late/"]
    assert "late.mp4: its slides late.pdf are still not in the inbox after 1 h: taken, and filed under failed/ if " \
           "they cannot be read" in log.lines, log.lines
    assert scan(box, memory, published, log, slides_wait=dt.timedelta(0)) == [] and memory.waiting() == {}


def test_one_bad_entry_never_blocks_the_inbox(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    long = "conférence-" * 20 + ".mp4"  # 244 bytes: the claim's own files would pass the file system's 255
    (inbox / long).write_bytes(b"long name")
    box = FolderInbox(inbox)
    (entry,) = box.entries()
    claimed = box.claim(entry)
    assert claimed is not None and claimed.problem.startswith(f"{long}: the file name is 244 bytes long")
    assert len(claimed.name.encode()) <= 207 and claimed.name.endswith(".mp4")
    assert claimed.path.read_bytes() == b"long name"
    reason = box.finish(claimed, ok=False, detail=claimed.problem)
    assert reason == inbox / "failed" / f"{claimed.name}.txt" and long in reason.read_text(encoding="utf-8")

    # In a scan, beside good recordings: the bad ones are filed, the good one published.
    (inbox / long).write_bytes(b"long name again")
    not_utf8 = os.fsdecode(b"conf\xe9rence.mp4")
    (inbox / not_utf8).write_bytes(b"latin-1 name")
    drop(inbox, "good.mp4")
    memory, published, log = ScanMemory(tmp_path / "memory.json"), [], Lines("test-inbox-bad-entries")
    assert scan(box, memory, published, log) == [], "sizes not yet known to be stable"
    assert scan(box, memory, published, log) == ["http://site.example/good/"]
    assert published == ["good.mp4"]
    failed = {p.name for p in (inbox / "failed").iterdir()}
    assert len(failed) == 6 and f"{not_utf8}.txt" in failed, failed
    assert "not valid UTF-8" in (inbox / "failed" / f"{not_utf8}.txt").read_text(encoding="utf-8")
    assert any(line.startswith("conf\ufffdrence.mp4 refused: ") for line in log.lines), log.lines
    assert [p.name for p in inbox.iterdir() if p.is_file()] == [], "nothing left waiting"


CHURN = """
import sys
from pathlib import Path
folder = Path(sys.argv[1])
print("churning", flush=True)
while True:
    made = [folder / f"churn-{n}.mp4" for n in range(100)]
    for path in made:
        path.write_bytes(b"x")
    for path in made:
        path.unlink()
"""


def test_files_vanishing_during_a_scan_are_skipped(tmp_path: Path) -> None:
    drop(tmp_path, "stays.mp4", sidecar=False)
    box = FolderInbox(tmp_path)
    # Another process (a scanner, an operator) taking files away as the scan lists them.
    churn = subprocess.Popen([sys.executable, "-c", CHURN, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert churn.stdout is not None and churn.stdout.readline().strip() == "churning"
        for _ in range(200):
            assert "stays.mp4" in [entry.name for entry in box.entries()]
    finally:
        churn.kill()
        churn.wait()
    assert box.claim(InboxEntry("churn-100.mp4", 1, False)) is None, "gone before its claim: not taken"
    assert [p.name for p in (tmp_path / "processing").iterdir()] == [], "no pending owner left behind"


def test_a_folder_inbox_inside_a_file_site_is_refused(tmp_path: Path) -> None:
    from confcast.flows.inbox import open_inbox

    site = tmp_path / "site"
    (site / "inbox").mkdir(parents=True)
    settings = Settings(storage_url=site.as_uri(), work_dir=tmp_path / "work")
    for url, inbox in ((str(site / "inbox"), site / "inbox"), ((site / "inbox").as_uri(), site / "inbox"),
                       (str(site), site)):
        with pytest.raises(ConfigError) as raised:
            open_inbox(url, settings)
        assert str(raised.value) == (
            f"inbox {inbox} lies inside the published site {site.as_uri()}, which is served to anyone: recordings "
            "waiting there (and done/, failed/) would be public; use a folder outside the site"
        )
    (tmp_path / "link").symlink_to(site)  # the same folder by another path
    with pytest.raises(ConfigError, match="lies inside the published site"):
        open_inbox(str(tmp_path / "link" / "inbox"), settings)
    with pytest.raises(ConfigError, match=f"the published site {site.as_uri()} lies inside the inbox {tmp_path}"):
        open_inbox(str(tmp_path), settings)
    assert not (site / "inbox" / "processing").exists() and not (tmp_path / "processing").exists(), "nothing made"
    (tmp_path / "elsewhere").mkdir()
    assert isinstance(open_inbox(str(tmp_path / "elsewhere"), settings), FolderInbox)


def test_a_folder_recording_waits_for_a_stable_size_even_with_its_sidecar(tmp_path: Path) -> None:
    entries = [InboxEntry("c.mp4", 10, True)]
    assert ready_entries(entries, {}, sidecar_means_complete=False) == []
    assert ready_entries(entries, {"c.mp4": 10}, sidecar_means_complete=False) == entries
    assert ready_entries(entries, {}) == entries, "an S3 object is listed only once whole: its sidecar says enough"
    assert not FolderInbox.sidecar_means_complete and S3Inbox.sidecar_means_complete

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "talk.mp4.yaml").write_text("title: T\n", encoding="utf-8")  # the sidecar arrived first
    (inbox / "talk.mp4").write_bytes(b"x" * 100)  # the recording is still being copied
    box = FolderInbox(inbox)
    memory, published, log = ScanMemory(tmp_path / "memory.json"), [], Lines("test-inbox-copying")
    assert scan(box, memory, published, log) == []
    with (inbox / "talk.mp4").open("ab") as copying:
        copying.write(b"x" * 100)
    assert scan(box, memory, published, log) == [], "still growing"
    assert scan(box, memory, published, log) == ["http://site.example/talk/"], "unchanged since the last scan"
    assert published == ["talk.mp4"] and (inbox / "done" / "talk.mp4.yaml").exists()


def test_the_slides_key_an_s3_claim_downloads_stays_inside_the_inbox(tmp_path: Path) -> None:
    from confcast.tasks.storage.inbox import slides_key

    recording = tmp_path / "talk.mp4"
    assert slides_key(recording) is None  # no sidecar
    for named, key in (
        ("diapos.pdf", "diapos.pdf"), ("pdf/a.pdf", "pdf/a.pdf"), ("pdf/../b.pdf", "b.pdf"), ("./c.pdf", "c.pdf"),
        ("../outside.pdf", None), ("/etc/passwd", None), ("pdf/../../x.pdf", None), ("..", None), ("a\\b.pdf", None),
    ):  # fmt: skip
        (tmp_path / "talk.mp4.yaml").write_text(json.dumps({"slides": named}), encoding="utf-8")
        assert slides_key(recording) == key, named
    (tmp_path / "talk.mp4.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    assert slides_key(recording) is None  # an unreadable sidecar: the flow says why
