"""One writer per site across hosts: the site lock lives in the storage itself (tasks/storage/lease.py).

The lease's rules as pure functions; the lease against the real SeaweedFS (waiting, renewal, takeover of an expired
lease, a lost lease stops the writes); the folder lock released by the kernel when its holder is killed; two
"hosts" (separate processes, work folders and Prefect servers) publishing six talks to one bucket at once; a
publication killed with -9 while it holds the lock, and the next run that takes the lock over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import feedparser
import pytest
from child_env import child_env
from search_checks import indexed

from confcast.tasks.demo.sample import SampleConference, make_sample_conference
from confcast.tasks.errors import PublishError
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.storage.lease import (
    LOCK_KEY,
    SIGNING_TOLERANCE_S,
    LeaseRecord,
    SiteLock,
    expiry_reason,
)
from confcast.tasks.storage.processes import Machine, machine_id, process_start
from confcast.tasks.storage.s3 import S3Storage

CONFCAST = str(Path(sys.executable).with_name("confcast"))
REPO = Path(__file__).resolve().parents[1]
UTC = dt.timezone.utc


class Said:
    """Collects what a lock tells the operator."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, message: str) -> None:
        self.lines.append(message)

    def having(self, text: str) -> list[str]:
        return [line for line in self.lines if text in line]


# --- the lease's rules ------------------------------------------------------------------------------------------


def test_a_lease_expires_when_unchanged_for_its_duration_or_far_older_than_any_clock_skew() -> None:
    live = LeaseRecord.mine(30, host="host-a", now=dt.datetime(2026, 6, 1, 12, 0, 5, 123, tzinfo=UTC))
    assert LeaseRecord.from_json(live.to_json()) == live and live.since.microsecond == 0
    assert live.describe() == f"host-a pid {os.getpid()} (since 2026-06-01 12:00:05 UTC)"
    assert expiry_reason(live, unchanged_s=29.9, age_s=29.9, default_s=5) is None, "its own lease, not the waiter's"
    assert expiry_reason(live, unchanged_s=30, age_s=30, default_s=5) == "not renewed for 30 s, past its 30 s lease"
    # The server says it was written long ago: only past its lease plus S3's signing tolerance is that believed.
    assert expiry_reason(live, unchanged_s=0, age_s=SIGNING_TOLERANCE_S + 29, default_s=5) is None
    assert expiry_reason(live, unchanged_s=0, age_s=SIGNING_TOLERANCE_S + 31, default_s=5) == (
        "last renewed 16 min ago, past its 30 s lease"
    )
    assert expiry_reason(live.freed(), unchanged_s=0, age_s=0, default_s=5) == "released"
    assert live.renewed().to_json() != live.to_json(), "a renewal changes the object, so waiters see it alive"
    # An unreadable lease (another program's object, a torn write) lasts the waiter's own lease.
    for garbage in (b"", b"{", b'{"lease": "x"}', b"[]", b'{"lease": 1, "host": 2, "pid": "x", "since": 3}'):
        assert LeaseRecord.from_json(garbage) is None
    assert expiry_reason(None, unchanged_s=4.9, age_s=None, default_s=5) is None
    assert expiry_reason(None, unchanged_s=5, age_s=None, default_s=5) is not None
    assert LeaseRecord.mine(0.1).seconds == 2, "a lease never shorter than two seconds"


def test_a_lease_of_a_process_gone_from_this_machine_is_free_at_once() -> None:
    """A run that ended holding its lease (killed, or failed while S3 was unreachable) does not make the next run
    on the same machine wait out its lease; on another machine (or an unknown one) only the lease's expiry counts."""
    mine = LeaseRecord.mine(120, host="host-a")
    here = machine_id(Machine.current())
    assert mine.machine == here and here and mine.started == process_start(os.getpid())
    assert LeaseRecord.from_json(mine.to_json()) == mine
    rules = {"unchanged_s": 0, "age_s": 0, "default_s": 5, "here": here}
    assert expiry_reason(mine, **rules) is None, "its process runs: it may still be writing"
    assert expiry_reason(mine, **rules, alive=lambda pid: None) == f"its process {mine.pid} on this machine has ended"
    assert "another process's" in expiry_reason(mine, **rules, alive=lambda pid: mine.started + 1)
    assert expiry_reason(mine, **{**rules, "here": "another-machine"}, alive=lambda pid: None) is None
    assert expiry_reason(dataclasses.replace(mine, machine=None), **rules, alive=lambda pid: None) is None


# --- the S3 lease on the real server ------------------------------------------------------------------------------


def hold_in_thread(lock: SiteLock, release: threading.Event, entered: list[float]) -> threading.Thread:
    def run() -> None:
        with lock:
            entered.append(time.monotonic())
            release.wait(30)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_s3_lease_waits_for_a_live_holder_and_takes_over_an_expired_one(s3_env, bucket_name: str) -> None:
    storage = S3Storage(f"s3://{bucket_name}/site", public_read=False)
    said = Said()
    first_in, second_in, release, release_second = [], [], threading.Event(), threading.Event()
    first = hold_in_thread(SiteLock(storage, seconds=2, host="host-one"), release, first_in)
    while not first_in:
        time.sleep(0.05)
    second = hold_in_thread(SiteLock(storage, seconds=2, host="host-two", on_wait=said), release_second, second_in)
    time.sleep(4)  # twice the lease: the holder renews it, so it is never taken from it
    assert second_in == []
    (waiting,) = said.lines
    assert waiting.startswith(f"waiting for the site lock s3://{bucket_name}/site/{LOCK_KEY}: held by host-one pid "
                              f"{os.getpid()} (since ")
    release.set()
    first.join(10)
    deadline = time.monotonic() + 10
    while not second_in and time.monotonic() < deadline:
        time.sleep(0.05)
    release_second.set()
    second.join(10)
    assert second_in and said.lines[-1].startswith(f"got the site lock s3://{bucket_name}/site/{LOCK_KEY} after ")
    assert said.having("took over") == [], "a released lease is free, not taken over"
    assert LeaseRecord.from_json(storage.get_bytes(LOCK_KEY)).released

    # A holder killed without releasing: its lease stays until unchanged for its duration, then is taken over, by
    # one of two waiters (a conditional write: one wins); the other waits for the winner.
    crashed = LeaseRecord(lease="dead", host="crashed-host", pid=999999, since=dt.datetime.now(UTC), seconds=2)
    storage.put_bytes(LOCK_KEY, crashed.to_json())
    said, held, start = Said(), [], threading.Barrier(2)

    def writer(name: str) -> None:
        start.wait()
        with SiteLock(storage, seconds=60, host=name, on_wait=said):
            entered = time.monotonic()
            assert LeaseRecord.from_json(storage.get_bytes(LOCK_KEY)).host == name
            time.sleep(0.5)
            held.append((entered, time.monotonic()))

    started = time.monotonic()
    threads = [threading.Thread(target=writer, args=(name,)) for name in ("host-three", "host-four")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    (took,) = said.having("took over")
    assert took.startswith(f"took over the site lock s3://{bucket_name}/site/{LOCK_KEY} from crashed-host pid 999999 "
                           "(since ")
    assert ": not renewed for 2 s, past its 2 s lease; that run presumably crashed" in took
    (first_hold, second_hold) = sorted(held)
    assert first_hold[1] <= second_hold[0], "never two writers at once"
    assert 2 <= first_hold[0] - started < 8


def test_a_lost_s3_lease_stops_the_late_holders_writes(s3_env, bucket_name: str) -> None:
    storage = S3Storage(f"s3://{bucket_name}/site", public_read=False)
    said = Said()
    lock = SiteLock(storage, seconds=2, host="slow-host", on_wait=said)
    with pytest.raises(PublishError, match=r"taken over by thief pid 1 .* run `confcast rebuild-site`"):
        with lock as site:
            site.put_bytes("catalog.json", b"{}")
            # What a waiter does to a lease it judged expired (this holder stalled): replaced with its own.
            thief = LeaseRecord(lease="thief", host="thief", pid=1, since=dt.datetime.now(UTC), seconds=60)
            storage.put_bytes(LOCK_KEY, thief.to_json())
            deadline = time.monotonic() + 5
            while lock.lost is None and time.monotonic() < deadline:
                time.sleep(0.1)
            with pytest.raises(PublishError, match="taken over by thief"):
                site.put_bytes("catalog.json", b'{"lost": true}')
    assert storage.get_bytes("catalog.json") == b"{}", "nothing written once the lease was lost"
    assert LeaseRecord.from_json(storage.get_bytes(LOCK_KEY)).host == "thief", "the successor's lease is left alone"


# --- the folder lock ---------------------------------------------------------------------------------------------

# Holds a folder site's lock, says so, then "publishes" for a minute (until killed).
FOLDER_HOLDER = """
import sys, time
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.storage.lease import SiteLock
with SiteLock(FileStorage(sys.argv[1]), host="holder-host"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_folder_lock_is_freed_by_the_kernel_when_its_holder_is_killed(tmp_path: Path) -> None:
    site = tmp_path / "site"
    holder = subprocess.Popen([sys.executable, "-c", FOLDER_HOLDER, site.as_uri()], cwd=REPO,
                              stdout=subprocess.PIPE, text=True, env=child_env())
    said, entered = Said(), []
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        waiter = hold_in_thread(SiteLock(FileStorage(site), host="next", on_wait=said), threading.Event(), entered)
        time.sleep(1.5)
        assert entered == [], "the holder is alive"
        assert said.lines[0].startswith(f"waiting for the site lock {site / LOCK_KEY}: held by holder-host pid "
                                        f"{holder.pid} (since ")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    waiter.join(5)
    assert entered, "the kernel released the killed holder's lock"
    (took,) = said.having("took over")
    assert f"from holder-host pid {holder.pid} " in took and "ended without releasing it" in took
    assert FileStorage(site).list_keys("conferences/") == []
    with pytest.raises(PublishError, match=r"^no site at .*/nowhere \(the folder does not exist\); check the storage"):
        SiteLock(FileStorage(tmp_path / "nowhere"), create=False).__enter__()
    assert not (tmp_path / "nowhere").exists(), "unpublish and captions create no site"


# --- whole publications ------------------------------------------------------------------------------------------

DATE = "2026-06-12"
HOSTS = {"alpha": ("un", "deux", "trois"), "beta": ("quatre", "cinq", "six")}

# One host: its own process, work folder and Prefect server. Once its server answers it says "ready", waits for
# the test's "go" (both hosts then publish at the same moment), and publishes its talks one after the other. The
# talks of a host share one recording, so that only the first is transcoded and transcribed (the work folder is
# kept and its stages reused): the time goes to publishing, where the hosts compete for the site.
HOST = """
import sys
from prefect import flow
from confcast.config.settings import Settings
from confcast.flows.cli_support import prepare_prefect
settings = Settings(storage_url=sys.argv[1], work_dir=sys.argv[2], keep_work=True)
prepare_prefect(settings, False)
from confcast.flows.publish import publish_conference
flow(name="warm-up")(lambda: None)()
print("ready", flush=True)
sys.stdin.readline()
for title in sys.argv[4:]:  # one clip, several talks: each its own slug (else a re-publish updates the one talk)
    slug = "%s-expose-" + title.split()[-1]
    print(publish_conference(source=sys.argv[3], title=title, date="%s", language="fr", slug=slug, settings=settings),
          flush=True)
""" % (DATE, DATE)


def clip(folder: Path, word: str) -> SampleConference:
    """About two seconds of French: tiny media, a real transcript."""
    return make_sample_conference(folder, text=f"Voici l'exposé {word}.", title=word, width=320, height=180)


@pytest.mark.slow
def test_two_hosts_with_their_own_prefect_servers_lose_no_talk(
    s3_env, prefect_server, bucket_name: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket_name}/site"
    hosts = []
    for host, words in HOSTS.items():
        work = tmp_path / host
        env = {**child_env(), "PREFECT_HOME": str(work / "prefect"), "CONFCAST_HOST_NAME": host}
        if host == "beta":  # alpha uses the suite's server; beta starts a temporary one of its own
            env.pop("PREFECT_API_URL", None)
        source = clip(tmp_path / "clips", host).path
        hosts.append(subprocess.Popen(
            [sys.executable, "-c", HOST, url, str(work), str(source), *(f"Exposé {word}" for word in words)],
            env=env, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    for process in hosts:
        lines = iter(process.stdout.readline, "")
        assert "ready\n" in lines, process.stderr.read()[-3000:]  # whatever else its start-up printed
    for process in hosts:
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in hosts:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        assert len(out.split()) == 3

    storage = S3Storage(url)
    words = [word for host_words in HOSTS.values() for word in host_words]
    expected = {f"{DATE}-expose-{word}" for word in words}
    catalog = json.loads(storage.get_bytes("catalog.json"))
    assert {entry["slug"] for entry in catalog["conferences"]} == expected
    feed = feedparser.parse(storage.get_bytes("feed.xml"))
    assert not feed.bozo and {entry.title for entry in feed.entries} == {f"Exposé {word}" for word in words}
    assert set(indexed(storage)) == expected  # the search holds every talk too
    page = storage.get_bytes("index.html").decode("utf-8")
    assert all(f"Exposé {word}" in page for word in words)
    assert LeaseRecord.from_json(storage.get_bytes(LOCK_KEY)).released, "the last writer released the lock"


@pytest.mark.slow
def test_a_publication_killed_while_holding_the_site_lock_does_not_lock_the_site(
    s3_env, prefect_server, bucket_name: str, tmp_path: Path
) -> None:
    url = f"s3://{bucket_name}/site"
    storage = S3Storage(url)
    source = clip(tmp_path / "clips", "interrompu").path
    args = [CONFCAST, "publish", str(source), "--title", "Exposé interrompu", "--date", DATE, "--language", "fr",
            "--to", url, "--work-dir", str(tmp_path / "work")]
    env = {**child_env(), "CONFCAST_SITE_LOCK_SECONDS": "3"}

    # The test holds the lock, so that the publication waits for it; released, the publication takes it and is
    # killed at once, mid-upload.
    blocker = SiteLock(storage, seconds=3, host="test-holder")
    blocker.__enter__()
    publication = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                   text=True, start_new_session=True, env=env)
    seen: list[str] = []
    for line in publication.stderr:
        seen.append(line)
        if "waiting for the site lock" in line:
            blocker.__exit__(None, None, None)
        if "got the site lock" in line:
            os.killpg(publication.pid, signal.SIGKILL)
            break
    publication.wait(timeout=60)
    waiting = [line for line in seen if "waiting for the site lock" in line]
    assert waiting and f"held by test-holder pid {os.getpid()} (since " in waiting[0], "".join(seen)[-3000:]
    left = LeaseRecord.from_json(storage.get_bytes(LOCK_KEY))
    assert left.pid == publication.pid and not left.released, "killed while it held the lock"
    assert storage.get_bytes(f"conferences/{DATE}-expose-interrompu/manifest.json") is None

    started = time.monotonic()
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, env=env)
    assert resumed.returncode == 0, resumed.stderr
    took = [line for line in resumed.stderr.splitlines() if "took over the site lock" in line]
    assert len(took) == 1 and f"from {socket.gethostname()} pid {publication.pid} (since " in took[0]
    assert time.monotonic() - started < 120
    catalog = json.loads(storage.get_bytes("catalog.json"))
    assert [entry["slug"] for entry in catalog["conferences"]] == [f"{DATE}-expose-interrompu"]
    assert LeaseRecord.from_json(storage.get_bytes(LOCK_KEY)).released
