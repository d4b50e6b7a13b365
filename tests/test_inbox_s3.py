"""The S3 inbox (s3://bucket/prefix) on the real SeaweedFS: entries, conditional-write claims (one winner among
several scanners), stale claims taken back (If-Match on the stale claim: one winner), an outage that releases the
recording, done/ and failed/ with reason files, privacy, and a scan through the CLI that publishes. Careless and
hostile entries: two recordings with one name (nothing overwritten, not even by a new upload during publication),
keys confcast cannot address (skipped, reported once), names too long for a local file (filed)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from chapter_samples import make_slides_pdf
from child_env import child_env
from claim_race import race_take_back

from confcast.config.settings import Settings
from confcast.tasks.errors import ConfigError
from confcast.tasks.storage.inbox import ClaimOwner, InboxEntry, S3Inbox, ScanMemory, ready_entries
from confcast.tasks.storage.s3 import S3Storage
from confcast.tasks.storage.seaweedfs import LocalS3Server

CONFCAST = str(Path(sys.executable).with_name("confcast"))


HOUR = dt.timedelta(hours=1)


def make_bucket(bucket: str) -> None:
    S3Storage(f"s3://{bucket}", public_read=False).prepare()


def put(bucket: str, key: str, data: bytes) -> None:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=data)


def keys(bucket: str, prefix: str) -> set[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"][len(prefix) :] for item in listed}


def read(bucket: str, key: str) -> bytes:
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def anonymous_status(endpoint: str, bucket: str, key: str) -> int:
    try:
        with urllib.request.urlopen(f"{endpoint}/{bucket}/{key}", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def s3_inbox(bucket: str, downloads: Path) -> S3Inbox:
    return S3Inbox(S3Storage(f"s3://{bucket}/inbox", public_read=False, max_attempts=2), downloads)


def test_s3_inbox_claims_once_and_files_with_a_reason(s3_env: LocalS3Server, bucket_name: str, tmp_path: Path) -> None:
    make_bucket(bucket_name)
    put(bucket_name, "inbox/talk.mp4", b"x" * 10)
    put(bucket_name, "inbox/talk.mp4.yaml", b"title: T\n")
    put(bucket_name, "inbox/notes.txt", b"not a recording")
    put(bucket_name, "inbox/done/old.mp4", b"published before")
    put(bucket_name, "inbox/failed/bad.mp4", b"refused before")
    put(bucket_name, "inbox/sub/deep.mp4", b"not at the top")
    put(bucket_name, "elsewhere.mp4", b"outside the prefix")
    first, second = s3_inbox(bucket_name, tmp_path / "a"), s3_inbox(bucket_name, tmp_path / "b")

    (entry,) = first.entries()
    assert entry == InboxEntry("talk.mp4", 10, True)
    claimed = first.claim(entry)
    assert claimed is not None and claimed.path.read_bytes() == b"x" * 10
    assert (claimed.path.parent / "talk.mp4.yaml").read_text() == "title: T\n"  # beside it, for the metadata
    assert second.claim(entry) is None, "another scanner loses the race"
    assert second.entries() == [], "a claimed recording is not offered again"
    assert keys(bucket_name, "inbox/processing/") == {"talk.mp4.claim"}

    reason = first.finish(claimed, ok=False, detail=f"{claimed.path}: not a media file")
    assert reason == f"s3://{bucket_name}/inbox/failed/talk.mp4.txt"
    text = read(bucket_name, "inbox/failed/talk.mp4.txt").decode()
    assert text.startswith("failed at ")
    assert text.splitlines()[1] == f"s3://{bucket_name}/inbox/talk.mp4: not a media file"
    assert keys(bucket_name, "inbox/failed/") == {"talk.mp4", "talk.mp4.yaml", "talk.mp4.txt", "bad.mp4"}
    assert read(bucket_name, "inbox/failed/talk.mp4") == b"x" * 10
    assert keys(bucket_name, "inbox/processing/") == set()
    assert "talk.mp4" not in keys(bucket_name, "inbox/") and "talk.mp4.yaml" not in keys(bucket_name, "inbox/")
    assert not claimed.path.parent.exists(), "the download is removed once filed"
    assert first.entries() == []


def test_a_recording_still_growing_waits(s3_env: LocalS3Server, bucket_name: str, tmp_path: Path) -> None:
    make_bucket(bucket_name)
    box = s3_inbox(bucket_name, tmp_path)
    put(bucket_name, "inbox/growing.mp4", b"x" * 100)
    seen = box.entries()
    assert ready_entries(seen, {}) == [], "unknown before: wait for a second scan"
    put(bucket_name, "inbox/growing.mp4", b"x" * 200)
    memory = {e.name: e.size for e in seen}
    assert ready_entries(box.entries(), memory) == [], "its size changed since the last scan"
    memory = {e.name: e.size for e in box.entries()}
    assert [e.name for e in ready_entries(box.entries(), memory)] == ["growing.mp4"], "stable: taken"


def test_two_scanners_take_each_recording_exactly_once(
    s3_env: LocalS3Server, bucket_name: str, tmp_path: Path
) -> None:
    make_bucket(bucket_name)
    names = [f"talk-{n}.mp4" for n in range(8)]
    for name in names:
        put(bucket_name, f"inbox/{name}", name.encode())
    scanners = [s3_inbox(bucket_name, tmp_path / f"scanner-{n}") for n in range(2)]
    listings = [scanner.entries() for scanner in scanners]  # both see everything before anyone claims
    assert all(len(listing) == len(names) for listing in listings)
    won: dict[int, list[str]] = {0: [], 1: []}
    start = threading.Barrier(2)

    def scan(index: int) -> None:
        start.wait()
        for entry in listings[index]:  # the same order: both go for the same recording each time
            claimed = scanners[index].claim(entry)
            if claimed is not None:
                assert claimed.path.read_bytes() == entry.name.encode()
                won[index].append(entry.name)
                scanners[index].finish(claimed, ok=True, detail=f"published by scanner {index}")

    threads = [threading.Thread(target=scan, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(won[0] + won[1]) == sorted(names), f"each recording taken exactly once: {won}"
    done = keys(bucket_name, "inbox/done/")
    assert done == {*names, *(f"{name}.txt" for name in names)}
    assert keys(bucket_name, "inbox/processing/") == set()
    for name in names:
        winner = 0 if name in won[0] else 1
        assert f"published by scanner {winner}" in read(bucket_name, f"inbox/done/{name}.txt").decode()


def test_the_inbox_must_stay_private(s3_env: LocalS3Server, bucket_name: str, tmp_path: Path) -> None:
    from confcast.flows.inbox import open_inbox

    work = tmp_path / "work"
    site = Settings(storage_url=f"s3://{bucket_name}/site", work_dir=work)
    with pytest.raises(ConfigError, match="inside the published site"):
        open_inbox(f"s3://{bucket_name}/site/inbox", site)
    with pytest.raises(ConfigError, match="use another bucket"):
        open_inbox(f"s3://{bucket_name}/inbox", Settings(storage_url=f"s3://{bucket_name}", work_dir=work))
    with pytest.raises(ConfigError, match="inbox"):
        open_inbox("s3://Bad_Bucket/inbox", site)

    S3Storage(f"s3://{bucket_name}/site").prepare()  # the site prefix made public by its bucket policy
    put(bucket_name, "inbox/talk.mp4", b"secret talk")
    put(bucket_name, "site/index.html", b"public page")
    box = open_inbox(f"s3://{bucket_name}/inbox", site)
    assert [e.name for e in box.entries()] == ["talk.mp4"]
    assert anonymous_status(s3_env.endpoint_url, bucket_name, "site/index.html") == 200
    assert anonymous_status(s3_env.endpoint_url, bucket_name, "inbox/talk.mp4") == 403

    S3Storage(f"s3://{bucket_name}/inbox").prepare()  # someone made the inbox prefix public as well
    with pytest.raises(ConfigError, match="publicly readable"):
        open_inbox(f"s3://{bucket_name}/inbox", site).entries()


@pytest.mark.slow
def test_scan_an_s3_inbox_with_the_cli(
    prefect_server, s3_env: LocalS3Server, bucket_name: str, short_sample, bad_inputs, tmp_path: Path
) -> None:
    from confcast.flows.inbox import scan_memory

    make_bucket(bucket_name)
    inbox_url, site_url, work = f"s3://{bucket_name}/inbox", f"s3://{bucket_name}/site", tmp_path / "work"
    put(bucket_name, "inbox/atelier.mp4", short_sample.path.read_bytes())
    put(bucket_name, "inbox/atelier.mp4.yaml", b"title: Atelier\ndate: 2026-06-05\nlanguage: fr\nslides: pdf/a.pdf\n")
    pdf = make_slides_pdf(tmp_path / "a.pdf").read_bytes()
    put(bucket_name, "inbox/pdf/a.pdf", pdf)  # downloaded beside the sidecar, where the flow reads it
    put(bucket_name, "inbox/broken.mp4", bad_inputs["random bytes"].read_bytes())
    put(bucket_name, "inbox/broken.yaml", b"title: Broken\n")
    put(bucket_name, "inbox/growing.mp4", b"y" * 2000)  # no sidecar, and 1000 bytes at the previous scan
    scan_memory(Settings(work_dir=work), inbox_url).save([InboxEntry("growing.mp4", 1000, False)])
    env = child_env()

    result = subprocess.run(
        [CONFCAST, "scan-inbox", inbox_url, "--to", site_url, "--work-dir", str(work)],
        capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL,
    )

    assert result.returncode == 0, result.stderr
    page_key = "site/conferences/2026-06-05-atelier/index.html"
    assert result.stdout.strip().splitlines() == [f"{s3_env.endpoint_url}/{bucket_name}/{page_key}"]
    assert anonymous_status(s3_env.endpoint_url, bucket_name, page_key) == 200
    assert keys(bucket_name, "inbox/done/") == {"atelier.mp4", "atelier.mp4.yaml", "atelier.mp4.txt"}
    assert read(bucket_name, "inbox/done/atelier.mp4") == short_sample.path.read_bytes()
    assert f"{bucket_name}/{page_key}" in read(bucket_name, "inbox/done/atelier.mp4.txt").decode()
    assert anonymous_status(s3_env.endpoint_url, bucket_name, "inbox/done/atelier.mp4") == 403
    slides = json.loads(read(bucket_name, "site/conferences/2026-06-05-atelier/manifest.json"))["slides"]
    assert read(bucket_name, f"site/conferences/2026-06-05-atelier/{slides['pdf']}") == pdf
    assert read(bucket_name, "inbox/pdf/a.pdf") == pdf, "the PDF stays in the inbox (several talks may share one)"

    assert keys(bucket_name, "inbox/failed/") == {"broken.mp4", "broken.yaml", "broken.mp4.txt"}
    reason = read(bucket_name, "inbox/failed/broken.mp4.txt").decode().splitlines()
    assert len(reason) == 2 and reason[0].startswith("failed at ")
    assert f"{inbox_url}/broken.mp4" in reason[1] and str(work) not in reason[1], reason

    assert {k for k in keys(bucket_name, "inbox/") if "/" not in k} == {"growing.mp4"}, "a growing file is left alone"
    assert keys(bucket_name, "inbox/processing/") == set()
    assert not any((work / "inbox-downloads").iterdir())


def test_serve_schedules_a_scan_of_an_s3_inbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from confcast.flows.serve import SETTINGS_TO_EXPORT, deployments, export_settings

    for name in SETTINGS_TO_EXPORT:  # export_settings writes os.environ: restore every variable afterwards
        monkeypatch.setenv(f"CONFCAST_{name.upper()}", "")
        monkeypatch.delenv(f"CONFCAST_{name.upper()}")
    settings = Settings(storage_url="s3://talks/site", inbox_url="s3://talks/inbox", s3_retry_seconds=30,
                        work_dir=tmp_path)
    (scan,) = [d for d in deployments(settings) if d.name == "scan-inbox"]
    assert scan.parameters == {"inbox": "s3://talks/inbox"}
    export_settings(settings)  # what served runs (child processes) read back
    assert os.environ["CONFCAST_INBOX_URL"] == "s3://talks/inbox"
    assert Settings().s3_retry_seconds == 30 and Settings().inbox_url == "s3://talks/inbox"


# --- stale claims ---------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
UTC = dt.timezone.utc
SCANNER = """
import sys, time
from pathlib import Path
from confcast.tasks.storage.inbox import S3Inbox
from confcast.tasks.storage.s3 import S3Storage
box = S3Inbox(S3Storage(sys.argv[1], public_read=False), Path(sys.argv[2]))
(entry,) = box.entries()
assert box.claim(entry) is not None
print("claimed", flush=True)
time.sleep(60)
"""


def quiet_logger(name: str) -> tuple[logging.Logger, list[str]]:
    """A logger of our own whose messages the test reads (Prefect's logging setup replaces pytest's handlers)."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger(name)
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.DEBUG)
    return logger, lines


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_claim_of_a_killed_scanner_is_taken_back_and_published(
    s3_env: LocalS3Server, bucket_name: str, tmp_path: Path
) -> None:
    from confcast.flows.inbox import publish_claimed, take_back_stale_claims

    make_bucket(bucket_name)
    put(bucket_name, "inbox/talk.mp4", b"x" * 10)
    put(bucket_name, "inbox/talk.mp4.yaml", b"title: T\n")
    scanner = subprocess.Popen(
        [sys.executable, "-c", SCANNER, f"s3://{bucket_name}/inbox", str(tmp_path / "killed")],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )
    box = s3_inbox(bucket_name, tmp_path / "downloads")
    try:
        assert scanner.stdout is not None and scanner.stdout.readline().strip() == "claimed"
        assert box.entries() == [] and box.stale_claims() == [], "its scanner is alive: the claim is left alone"
    finally:
        scanner.send_signal(signal.SIGKILL)
        scanner.wait()

    (stale,) = box.stale_claims()
    assert stale.why == f"process {scanner.pid} is gone" and not stale.orphan
    logger, lines = quiet_logger("test-inbox-s3-killed")
    (claimed,) = take_back_stale_claims(box, dt.timedelta(hours=12), logger)
    assert [line for line in lines if "took back" in line] == [f"talk.mp4: took back a claim from {stale.describe()}"]
    assert f"{socket.gethostname()} pid {scanner.pid}" in lines[0]
    assert claimed.path.read_bytes() == b"x" * 10 and (claimed.path.parent / "talk.mp4.yaml").exists()
    assert ClaimOwner.from_json(read(bucket_name, "inbox/processing/talk.mp4.claim")).claim == claimed.claim_id
    assert box.stale_claims() == [] and box.entries() == []

    page = "http://site.example/talk/"
    assert publish_claimed(box, claimed, lambda source, slides_folder: page, logger) == page
    assert keys(bucket_name, "inbox/done/") == {"talk.mp4", "talk.mp4.yaml", "talk.mp4.txt"}
    assert keys(bucket_name, "inbox/processing/") == set()


def test_scanners_racing_for_stale_claims_win_each_once(
    s3_env: LocalS3Server, bucket_name: str, tmp_path: Path
) -> None:
    make_bucket(bucket_name)
    names = sorted(f"talk-{n}.mp4" for n in range(8))
    gone = ClaimOwner.mine()
    long_ago = dt.datetime.now(UTC) - dt.timedelta(hours=13)
    for index, name in enumerate(names):
        put(bucket_name, f"inbox/{name}", name.encode())
        owner = ClaimOwner(f"old-{index}", "lab-far-away", 4242, long_ago) if index % 2 else (
            ClaimOwner(f"old-{index}", gone.host, dead_pid(), gone.at, boot=gone.boot, pidns=gone.pidns))
        put(bucket_name, f"inbox/processing/{name}.claim", owner.to_json())
    scanners = [s3_inbox(bucket_name, tmp_path / f"scanner-{n}") for n in range(2)]
    seen = [scanner.stale_claims() for scanner in scanners]
    assert all([s.name for s in stale] == names for stale in seen)
    won = race_take_back(scanners, seen, timeout_s=60)
    assert sorted(c.name for c in won) == names, f"each taken back exactly once: {won}"
    for claimed in won:
        owner = ClaimOwner.from_json(read(bucket_name, f"inbox/processing/{claimed.name}.claim"))
        assert owner is not None and owner.claim == claimed.claim_id, "the winner's claim is the one there"
        assert claimed.path.read_bytes() == claimed.name.encode()
    assert not any(scanner.stale_claims() for scanner in scanners)


def test_an_expired_claim_from_another_machine_is_taken_back_and_a_recent_one_kept(
    s3_env: LocalS3Server, bucket_name: str, tmp_path: Path
) -> None:
    make_bucket(bucket_name)
    now = dt.datetime.now(UTC)
    for name, hours in (("old.mp4", 13), ("recent.mp4", 1)):
        put(bucket_name, f"inbox/{name}", name.encode())
        owner = ClaimOwner(f"c-{name}", "lab-far-away", 4242, now - dt.timedelta(hours=hours))
        put(bucket_name, f"inbox/processing/{name}.claim", owner.to_json())
    put(bucket_name, "inbox/processing/gone.mp4.claim",  # its scanner filed the recording, then died
        ClaimOwner("c-gone", "lab-far-away", 4242, now - dt.timedelta(hours=20)).to_json())
    box = s3_inbox(bucket_name, tmp_path)

    assert [(s.name, s.orphan) for s in box.stale_claims()] == [("gone.mp4", True), ("old.mp4", False)]
    assert [s.name for s in box.stale_claims(max_age=dt.timedelta(minutes=30))] == ["gone.mp4", "old.mp4", "recent.mp4"]
    orphan, old = box.stale_claims()
    assert old.why == "held by another machine for 13 h, more than inbox_claim_hours (12 h)"
    assert box.take_back(orphan) is None and "gone.mp4.claim" not in keys(bucket_name, "inbox/processing/")
    claimed = box.take_back(old)
    assert claimed is not None and claimed.path.read_bytes() == b"old.mp4"
    assert box.take_back(old) is None, "its ETag has changed: nobody takes it twice"
    reason = box.finish(claimed, ok=True, detail="http://site.example/old/")
    assert reason == f"s3://{bucket_name}/inbox/done/old.mp4.txt"
    assert keys(bucket_name, "inbox/processing/") == {"recent.mp4.claim"}


def test_an_outage_of_the_site_releases_the_s3_claim(
    s3_env: LocalS3Server, bucket_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confcast.flows.inbox import publish_claimed

    make_bucket(bucket_name)
    put(bucket_name, "inbox/talk.mp4", b"x" * 10)
    put(bucket_name, "inbox/talk.mp4.yaml", b"title: T\n")
    with socket.socket() as probe:  # a site on an S3 server that does not answer
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = S3Storage("s3://talks/site", endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1, retry_seconds=0.5,
                     on_retry=lambda message: None)

    def publish(source: str, slides_folder: Path | None = None) -> str:
        site.put_file("conferences/talk/video.mp4", Path(source))
        return "never"

    box = s3_inbox(bucket_name, tmp_path)
    claimed = box.claim(box.entries()[0])
    assert claimed is not None
    logger, lines = quiet_logger("test-inbox-s3-outage")
    assert publish_claimed(box, claimed, publish, logger) is None
    assert any(line.startswith("talk.mp4 not filed under failed/: the storage was unreachable") for line in lines)
    assert keys(bucket_name, "inbox/processing/") == set() and keys(bucket_name, "inbox/failed/") == set()
    assert {e.name for e in box.entries()} == {"talk.mp4"}, "offered again at the next scan"
    assert not claimed.path.parent.exists()


# --- careless and hostile entries (issue 12) -------------------------------------------------------------------


def test_two_recordings_with_one_name_never_overwrite_each_other(
    s3_env: LocalS3Server, bucket_name: str, tmp_path: Path
) -> None:
    make_bucket(bucket_name)
    box = s3_inbox(bucket_name, tmp_path)
    for content, page in ((b"first talk", "first"), (b"second talk", "second")):
        put(bucket_name, "inbox/talk.mp4", content)
        put(bucket_name, "inbox/talk.mp4.yaml", f"title: {page}\n".encode())
        claimed = box.claim(box.entries()[0])
        assert claimed is not None and claimed.path.read_bytes() == content
        box.finish(claimed, ok=True, detail=f"http://site.example/{page}/")
    assert keys(bucket_name, "inbox/done/") == {"talk.mp4", "talk.mp4.yaml", "talk.mp4.txt", "talk (2).mp4",
                                                 "talk (2).mp4.yaml", "talk (2).mp4.txt"}
    assert read(bucket_name, "inbox/done/talk.mp4") == b"first talk"
    assert read(bucket_name, "inbox/done/talk (2).mp4") == b"second talk"
    assert read(bucket_name, "inbox/done/talk (2).mp4.yaml") == b"title: second\n"
    assert "http://site.example/second/" in read(bucket_name, "inbox/done/talk (2).mp4.txt").decode()

    # A new upload under the same name while the recording is being published: what was published is filed (from
    # its download), the new upload waits for the next scan, with its sidecar.
    put(bucket_name, "inbox/talk.mp4", b"third talk")
    put(bucket_name, "inbox/talk.mp4.yaml", b"title: third\n")
    claimed = box.claim(box.entries()[0])
    assert claimed is not None and claimed.etag
    put(bucket_name, "inbox/talk.mp4", b"fourth talk")
    put(bucket_name, "inbox/talk.mp4.yaml", b"title: fourth\n")
    reason = box.finish(claimed, ok=False, detail=f"{claimed.path}: not a media file")
    assert reason == f"s3://{bucket_name}/inbox/failed/talk.mp4.txt"
    assert read(bucket_name, "inbox/failed/talk.mp4") == b"third talk"
    assert read(bucket_name, "inbox/failed/talk.mp4.yaml") == b"title: third\n"
    assert read(bucket_name, "inbox/talk.mp4") == b"fourth talk" and read(bucket_name, "inbox/talk.mp4.yaml") == (
        b"title: fourth\n")
    assert [e.name for e in box.entries()] == ["talk.mp4"] and keys(bucket_name, "inbox/processing/") == set()


def test_one_bad_key_never_blocks_the_s3_inbox(s3_env: LocalS3Server, bucket_name: str, tmp_path: Path) -> None:
    from confcast.flows.inbox import run_scan

    make_bucket(bucket_name)
    put(bucket_name, "inbox/bell\x07.mp4", b"control character")  # (SeaweedFS stores a backslash as a folder)
    long = "conférence-" * 20 + ".mp4"  # a fine key, but too long for a local file once downloaded
    put(bucket_name, f"inbox/{long}", b"long name")
    put(bucket_name, f"inbox/{long}.yaml", b"title: Long\n")
    put(bucket_name, "inbox/good.mp4", b"good")
    put(bucket_name, "inbox/good.mp4.yaml", b"title: Good\n")
    box = s3_inbox(bucket_name, tmp_path / "downloads")
    bad = [e for e in box.entries() if e.name == "bell\x07.mp4"]
    assert len(bad) == 1 and bad[0].skip.startswith("its name holds a control character")
    assert box.claim(bad[0]) is None, "never claimed: no key of its own can be written"

    logger, lines = quiet_logger("test-inbox-s3-bad-keys")
    memory, published = ScanMemory(tmp_path / "memory.json"), []

    def publish(source: str, slides_folder: Path | None = None) -> str:
        published.append(Path(source).read_bytes())
        return f"http://site.example/{Path(source).stem}/"

    assert run_scan(box, memory, publish, logger, dt.timedelta(hours=12), slides_wait=HOUR) == [
        "http://site.example/good/"]
    assert run_scan(box, memory, publish, logger, dt.timedelta(hours=12), slides_wait=HOUR) == []
    assert published == [b"good"]
    skipped = [line for line in lines if "left in the inbox" in line]
    assert skipped == ["bell\\x07.mp4 left in the inbox: its name holds a control character; copy it under a plain "
                       "name"], "reported once, not at every scan"
    assert keys(bucket_name, "inbox/failed/") == {long, f"{long}.yaml", f"{long}.txt"}
    reason = read(bucket_name, f"inbox/failed/{long}.txt").decode()
    assert "the file name is 244 bytes long" in reason and read(bucket_name, f"inbox/failed/{long}") == b"long name"
    assert {k for k in keys(bucket_name, "inbox/") if "/" not in k} == {"bell\x07.mp4"}, "only the bad key waits"
    assert keys(bucket_name, "inbox/processing/") == set()

    put(bucket_name, "inbox/gone.mp4", b"gone")  # removed between the listing and the claim
    (entry,) = [e for e in box.entries() if e.name == "gone.mp4"]
    boto3.client("s3").delete_object(Bucket=bucket_name, Key="inbox/gone.mp4")
    assert box.claim(entry) is None and keys(bucket_name, "inbox/processing/") == set()
    assert box.storage.copy_key("gone.mp4", "done/gone.mp4") is False, "a key gone since the listing is not filed"


def test_an_s3_recording_waits_for_the_slides_its_sidecar_names(
    s3_env: LocalS3Server, bucket_name: str, tmp_path: Path
) -> None:
    from confcast.flows.inbox import run_scan

    make_bucket(bucket_name)
    put(bucket_name, "inbox/talk.mp4", b"talk")
    put(bucket_name, "inbox/talk.mp4.yaml", b"title: T\nslides: pdf/talk.pdf\n")
    box = s3_inbox(bucket_name, tmp_path / "downloads")
    logger, lines = quiet_logger("test-inbox-s3-slides")
    memory, published = ScanMemory(tmp_path / "memory.json"), []

    def publish(source: str, slides_folder: Path | None = None) -> str:
        published.append((Path(source).read_bytes(), (Path(source).parent / "pdf" / "talk.pdf").read_bytes()))
        return f"http://site.example/{Path(source).stem}/"

    assert run_scan(box, memory, publish, logger, dt.timedelta(hours=12), slides_wait=HOUR) == []
    assert keys(bucket_name, "inbox/processing/") == set(), "not claimed while it waits"
    assert any(line.startswith("talk.mp4 waits for its slides pdf/talk.pdf") for line in lines), lines
    put(bucket_name, "inbox/pdf/talk.pdf", b"%PDF-1.4 uploaded last")
    assert run_scan(box, memory, publish, logger, dt.timedelta(hours=12), slides_wait=HOUR) == [
        "http://site.example/talk/"]
    assert published == [(b"talk", b"%PDF-1.4 uploaded last")]  # downloaded beside the recording
    assert keys(bucket_name, "inbox/done/") == {"talk.mp4", "talk.mp4.yaml", "talk.mp4.txt"}
    assert memory.waiting() == {}
