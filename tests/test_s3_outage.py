"""The S3 server goes down during the upload: transient errors are retried with backoff (and only they), the run
then fails with one clear line; once the server is back, a re-run publishes exactly what a run without an outage
publishes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from boto3.exceptions import S3UploadFailedError

from confcast.tasks.errors import PublishError
from confcast.tasks.storage.base import content_tagged_unit
from confcast.tasks.storage.lease import LOCK_KEY
from confcast.tasks.storage.s3 import S3Storage, is_transient
from confcast.tasks.storage.seaweedfs import LocalS3Server, find_free_port, start_local_s3, stop_local_s3

CONFCAST = str(Path(sys.executable).with_name("confcast"))

# Runs `confcast` with a hook: the first conference file to upload waits until the test has stopped the server.
PAUSE_AT_FIRST_UPLOAD = '''
import os, sys, time
from pathlib import Path
import confcast.tasks.storage.s3 as storage_s3

signals = Path(os.environ["OUTAGE_SIGNALS"])
upload = storage_s3.S3Storage.put_file

def put_file(self, key, path, content_type=None):
    if not (signals / "upload-started").exists():
        (signals / "upload-started").touch()
        deadline = time.monotonic() + 120
        while not (signals / "server-stopped").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return upload(self, key, path, content_type)

storage_s3.S3Storage.put_file = put_file
from confcast.flows.cli import main
sys.argv = ["confcast", *sys.argv[1:]]
main()
'''


def client_error(status: int, code: str) -> botocore.exceptions.ClientError:
    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "PutObject")


def upload_failed(cause: BaseException) -> S3UploadFailedError:
    try:
        raise cause
    except BaseException:
        try:
            raise S3UploadFailedError("Failed to upload")
        except S3UploadFailedError as wrapped:
            return wrapped


def test_only_transient_errors_are_retried() -> None:
    transient = [
        botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"),
        botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x"),
        botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"),
        botocore.exceptions.ConnectionClosedError(endpoint_url="http://x"),
        client_error(500, "InternalError"),
        client_error(503, "SlowDown"),
        client_error(503, "ServiceUnavailable"),
        client_error(429, "TooManyRequests"),
        client_error(400, "RequestTimeout"),
        client_error(400, "Throttling"),
        upload_failed(client_error(503, "SlowDown")),
    ]
    permanent = [
        client_error(403, "AccessDenied"),
        client_error(403, "SignatureDoesNotMatch"),
        client_error(403, "InvalidAccessKeyId"),
        client_error(404, "NoSuchKey"),
        client_error(404, "NoSuchBucket"),
        client_error(400, "InvalidArgument"),
        client_error(412, "PreconditionFailed"),
        client_error(501, "NotImplemented"),
        upload_failed(client_error(403, "AccessDenied")),
        botocore.exceptions.NoCredentialsError(),
        botocore.exceptions.SSLError(endpoint_url="https://x", error="certificate verify failed"),
    ]
    assert [is_transient(e) for e in transient] == [True] * len(transient)
    assert [is_transient(e) for e in permanent] == [False] * len(permanent)


def test_an_unreachable_server_is_retried_with_backoff_then_one_line(s3_env: LocalS3Server, bucket_name: str) -> None:
    dead = f"http://127.0.0.1:{find_free_port()}"
    retries: list[str] = []
    storage = S3Storage(f"s3://{bucket_name}/site", endpoint_url=dead, retry_seconds=4, on_retry=retries.append)
    started = time.monotonic()
    with pytest.raises(PublishError) as caught:
        storage.put_bytes("index.html", b"x")
    took = time.monotonic() - started
    assert 4 <= took < 12, took
    assert len(retries) >= 2 and all("retrying in" in line and dead in line for line in retries), retries
    message = str(caught.value)
    assert "\n" not in message and dead in message and "s of retries (s3_retry_seconds: 4)" in message
    assert "server is running" in message and s3_env.secret_key not in message


def test_refused_credentials_fail_at_once_despite_the_retry_budget(
    s3_env: LocalS3Server, bucket_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    S3Storage(f"s3://{bucket_name}/site").prepare()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-" + s3_env.secret_key)
    retries: list[str] = []
    storage = S3Storage(f"s3://{bucket_name}/site", retry_seconds=60, on_retry=retries.append)
    for request in (lambda: storage.put_bytes("index.html", b"x"), storage.list_keys, storage.prepare):
        started = time.monotonic()
        with pytest.raises(PublishError, match="rejected the credentials|access denied"):
            request()
        assert time.monotonic() - started < 5
    assert retries == []


def test_requests_ride_out_a_server_down_for_a_while(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_local_s3(tmp_path / "s3", find_free_port())
    restarted: list[LocalS3Server] = []
    try:
        for name, value in server_env(server, tmp_path).items():
            if name.startswith("AWS_"):
                monkeypatch.setenv(name, value)
        retries: list[str] = []
        storage = S3Storage("s3://outage-test/site", retry_seconds=60, on_retry=retries.append)
        storage.prepare()
        storage.put_bytes("before.txt", b"written before the outage")
        stop_local_s3(server)
        down_at = time.monotonic()

        def come_back() -> None:
            time.sleep(5)
            restarted.append(start_local_s3(tmp_path / "s3", server.port, access_key=server.access_key,
                                            secret_key=server.secret_key))

        thread = threading.Thread(target=come_back)
        thread.start()
        storage.put_bytes("during.txt", b"written once the server is back")
        took = time.monotonic() - down_at
        thread.join()
        # Waits of 1, 2, 4 s, ...: the server is back after 5 s and its start, during the second or third wait.
        assert took >= 5 and len(retries) >= 2, (took, retries)
        assert "retrying in 1.0 s" in retries[0] and "retrying in 2.0 s" in retries[1], retries
        assert storage.get_bytes("before.txt") == b"written before the outage"
        assert storage.get_bytes("during.txt") == b"written once the server is back"
    finally:
        for running in [server, *restarted]:
            stop_local_s3(running)


def server_env(server: LocalS3Server, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CONFCAST_", "AWS_"))}
    return {
        **env,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": server.endpoint_url,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


def published(server: LocalS3Server, bucket: str) -> dict[str, tuple[bytes, str, str]]:
    """Every object of a bucket: its bytes, content type and cache control."""
    client = boto3.client(
        "s3", endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name="us-east-1",
    )
    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            got = client.get_object(Bucket=bucket, Key=item["Key"])
            objects[item["Key"]] = (got["Body"].read(), got.get("ContentType", ""), got.get("CacheControl", ""))
    return objects


def without_publication_time(data: bytes) -> bytes:
    """Fields that legitimately differ between two publications of the same conference: the publication time."""
    import re

    text = data.decode("utf-8")
    text = re.sub(r'"published_at": ?"[^"]*"', '"published_at": "-"', text)
    text = re.sub(r"<(pubDate|lastBuildDate)>[^<]*</\1>", r"<\1>-</\1>", text)
    return text.encode("utf-8")


@pytest.mark.slow
def test_an_outage_during_upload_fails_clearly_and_a_rerun_publishes_the_same(
    prefect_server, short_sample, bucket_name: str, tmp_path: Path
) -> None:
    port = find_free_port()
    server = start_local_s3(tmp_path / "s3", port)
    signals = tmp_path / "signals"
    signals.mkdir()
    hook = tmp_path / "pause_at_first_upload.py"
    hook.write_text(PAUSE_AT_FIRST_UPLOAD, encoding="utf-8")
    work = tmp_path / "work"
    reference_bucket, bucket = f"{bucket_name}-r", f"{bucket_name}-o"
    talk = [str(short_sample.path), "--title", "Panne de courant", "--date", "2026-07-01", "--language", "fr",
            "--work-dir", str(work)]
    try:
        # A publication without an outage (its work folder kept: the later runs reuse its encodes and transcript).
        env = server_env(server, tmp_path, CONFCAST_KEEP_WORK="true", CONFCAST_S3_RETRY_SECONDS="6")
        reference = subprocess.run([CONFCAST, "publish", *talk, "--to", f"s3://{reference_bucket}/site"],
                                   capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL)
        assert reference.returncode == 0, reference.stderr

        # The server stops as the first conference file is about to be uploaded.
        env["OUTAGE_SIGNALS"] = str(signals)
        run = subprocess.Popen([sys.executable, str(hook), "publish", *talk, "--to", f"s3://{bucket}/site"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while not (signals / "upload-started").exists():
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.05)
        stop_local_s3(server)
        (signals / "server-stopped").touch()
        stopped_at = time.monotonic()
        stdout, stderr = run.communicate(timeout=300)
        failed_after = time.monotonic() - stopped_at

        assert run.returncode != 0
        assert stdout.strip() == "", "no page URL: nothing was published"
        errors = [line for line in stderr.splitlines() if line.startswith("confcast: error:")]
        assert len(errors) == 1, stderr
        (error,) = errors
        assert server.endpoint_url in error and "s of retries (s3_retry_seconds: 6)" in error
        assert "server is running" in error
        assert "run the same command again" in error
        retries = [line for line in stderr.splitlines() if line.startswith("confcast: warning:") and "retrying" in line]
        assert len(retries) >= 2, stderr  # waits of 1, 2, then what is left of the 6 s
        assert 6 <= failed_after < 60, failed_after
        assert "Traceback" not in stderr and server.secret_key not in stderr and server.access_key not in stderr

        # Back on the same port with the same data: the same command completes.
        server = start_local_s3(tmp_path / "s3", port, access_key=server.access_key, secret_key=server.secret_key)
        rerun = subprocess.run([CONFCAST, "publish", *talk, "--to", f"s3://{bucket}/site"],
                               capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL)
        assert rerun.returncode == 0, rerun.stderr
        page = f"{server.endpoint_url}/{bucket}/site/conferences/2026-07-01-panne-de-courant/index.html"
        assert rerun.stdout.strip().splitlines()[-1] == page

        expected = published(server, reference_bucket)
        got = published(server, bucket)
        assert sorted(got) == sorted(expected), "the same objects"
        media = [key for key in expected if content_tagged_unit(key) is not None]
        assert any(key.endswith(".mp4") for key in media) and any(".m4s" in key for key in media)
        for key, (data, content_type, cache_control) in expected.items():
            if key == f"site/{LOCK_KEY}":  # the site lock's lease names its last holder: released by both runs
                assert json.loads(got[key][0])["released"] and json.loads(data)["released"]
            elif key in media or key.startswith("site/search/"):  # the search: Pagefind's index of the same talk
                assert got[key] == (data, content_type, cache_control), key
            else:  # pages, manifest, catalog, feed: they name their bucket and the time of publication
                same = without_publication_time(data.replace(reference_bucket.encode(), bucket.encode()))
                assert without_publication_time(got[key][0]) == same, key
                assert got[key][1:] == (content_type, cache_control), key
    finally:
        stop_local_s3(server)
