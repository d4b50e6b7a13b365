"""tasks.storage: the pure helpers of base exactly, S3Storage (s3) against a real SeaweedFS, FileStorage (folder) on a
real folder, open_storage (factory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

from confcast.tasks.errors import ConfigError, PublishError
from confcast.tasks.storage.base import (
    Storage,
    StorageTarget,
    check_key,
    check_public_scope,
    content_type_for,
    parse_storage_url,
)
from confcast.tasks.storage.factory import open_storage
from confcast.tasks.storage.folder import FileStorage, work_folder_problem
from confcast.tasks.storage.s3 import S3Storage
from confcast.tasks.storage.seaweedfs import LocalS3Server, find_free_port

CONFCAST = str(Path(sys.executable).with_name("confcast"))

# --- pure ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://confcast/site", StorageTarget("s3", bucket="confcast", prefix="site")),
        ("s3://confcast", StorageTarget("s3", bucket="confcast", prefix="")),
        ("s3://confcast/", StorageTarget("s3", bucket="confcast", prefix="")),
        ("s3://my.bucket-1//a/b/", StorageTarget("s3", bucket="my.bucket-1", prefix="a/b")),
        ("  s3://abc/openlab/conferences  ", StorageTarget("s3", bucket="abc", prefix="openlab/conferences")),
        ("file:///srv/site", StorageTarget("file", root=Path("/srv/site"))),
        ("file:///srv/site/", StorageTarget("file", root=Path("/srv/site"))),
        ("file://localhost/srv/site", StorageTarget("file", root=Path("/srv/site"))),
        ("file:///srv/my%20site", StorageTarget("file", root=Path("/srv/my site"))),
    ],
)
def test_parse_storage_url_accepts(url: str, expected: StorageTarget) -> None:
    assert parse_storage_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/srv/site",
        "site",
        "http://example.org/site",
        "S3://bucket/x",
        "s3://",
        "s3:///prefix",
        "s3://ab/x",  # too short
        "s3://Bucket/x",  # upper case
        "s3://my_bucket/x",
        "s3://-bucket/x",
        "s3://bucket-/x",
        "s3://my..bucket/x",
        "s3://192.168.1.10/x",
        "s3://" + "a" * 64 + "/x",
        "s3://bucket/../x",
        "s3://bucket/a/../../x",
        "s3://bucket/a//b",
        "s3://bucket/./a",
        "s3://bucket/a\\b",
        "s3://bucket/a\nb",
        "s3://bucket/a?x=1",
        "file://relative/dir",
        "file:/srv/site",
        "file:///srv/../etc",
    ],
)
def test_parse_storage_url_rejects(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_storage_url(url)
    message = str(caught.value)
    assert "\n" not in message
    assert "s3://bucket/prefix" in message and "file:///" in message


def test_storage_target_url_round_trips() -> None:
    for url in ("s3://confcast/site", "s3://confcast", "file:///srv/site"):
        assert parse_storage_url(url).url == url


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("catalog.json", "application/json; charset=utf-8"),
        ("feed.xml", "application/rss+xml; charset=utf-8"),
        ("conferences/x/feed.xml", "application/rss+xml; charset=utf-8"),
        ("sitemap.xml", "application/xml; charset=utf-8"),
        ("captions/fr.vtt", "text/vtt; charset=utf-8"),
        ("transcript.srt", "application/x-subrip; charset=utf-8"),
        ("transcript.txt", "text/plain; charset=utf-8"),
        ("static/site.css", "text/css; charset=utf-8"),
        ("static/player.js", "text/javascript; charset=utf-8"),
        ("video-720.mp4", "video/mp4"),
        ("VIDEO.MP4", "video/mp4"),
        ("audio.m4a", "audio/mp4"),
        ("hls/720/seg_001.m4s", "video/iso.segment"),
        ("hls/master.m3u8", "application/vnd.apple.mpegurl"),
        ("poster.jpg", "image/jpeg"),
        ("poster.jpeg", "image/jpeg"),
        ("poster.png", "image/png"),
        ("poster.webp", "image/webp"),
        ("audio.wav", "audio/wav"),
        ("hls/720/init.mp4", "video/mp4"),
        ("data.bin", "application/octet-stream"),
        ("README", "application/octet-stream"),
    ],
)
def test_content_type_for(key: str, expected: str) -> None:
    assert content_type_for(key) == expected


@pytest.mark.parametrize("key", ["index.html", "conferences/a-b/captions/fr.vtt", "a b/é.txt", ".well-known/x"])
def test_check_key_accepts(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "../x", "a/../../x", "/abs", "a//b", "a/", "./a", "a\\b", "a\nb", "a\x00b", "a\tb", "x" * 1025]
)
def test_check_key_rejects(key: str) -> None:
    with pytest.raises(PublishError) as caught:
        check_key(key)
    assert "\n" not in str(caught.value)


# --- S3Storage against SeaweedFS -------------------------------------------------------------------


def raw_client(server: LocalS3Server):  # a boto3 client, for checking what storage did
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
    )


def anonymous_get(url: str) -> tuple[int, str, bytes]:
    """GET without credentials and without any proxy: (status, content type, body)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def test_prepare_creates_bucket_and_public_read_policy(s3_env: LocalS3Server, bucket_name: str) -> None:
    storage = S3Storage(f"s3://{bucket_name}/site")
    storage.prepare()
    client = raw_client(s3_env)
    client.head_bucket(Bucket=bucket_name)
    policy = json.loads(client.get_bucket_policy(Bucket=bucket_name)["Policy"])
    statements = policy["Statement"]
    assert len(statements) == 1
    statement = statements[0]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] in ("arn:aws:s3:::%s/site/*" % bucket_name, ["arn:aws:s3:::%s/site/*" % bucket_name])
    assert statement["Action"] in ("s3:GetObject", ["s3:GetObject"])
    storage.prepare()  # idempotent
    assert len(json.loads(client.get_bucket_policy(Bucket=bucket_name)["Policy"])["Statement"]) == 1


def test_prepare_keeps_other_policy_statements(s3_env: LocalS3Server, bucket_name: str) -> None:
    client = raw_client(s3_env)
    client.create_bucket(Bucket=bucket_name)
    other = {
        "Sid": "SomeoneElse",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket_name}/shared/*",
    }
    client.put_bucket_policy(Bucket=bucket_name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]}))
    S3Storage(f"s3://{bucket_name}/site").prepare()
    S3Storage(f"s3://{bucket_name}/other-site").prepare()
    sids = [s["Sid"] for s in json.loads(client.get_bucket_policy(Bucket=bucket_name)["Policy"])["Statement"]]
    assert sids[0] == "SomeoneElse" and len(sids) == 3 and len(set(sids)) == 3


def test_s3_round_trip_with_content_types(s3_env: LocalS3Server, bucket_name: str, tmp_path: Path) -> None:
    storage = open_storage(f"s3://{bucket_name}/openlab")
    assert isinstance(storage, S3Storage) and isinstance(storage, Storage)
    storage.prepare()
    video = tmp_path / "video.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    storage.put_bytes("index.html", "<h1>Conférences</h1>".encode())
    storage.put_bytes("feed.xml", b"<rss/>")
    storage.put_file("conferences/talk/video-360.mp4", video)
    storage.put_bytes("conferences/talk/captions/fr.vtt", b"WEBVTT\n")
    storage.put_bytes("conferences/talk/blob", b"x", content_type="application/x-custom")

    assert storage.get_bytes("index.html") == "<h1>Conférences</h1>".encode()
    assert storage.get_bytes("conferences/talk/video-360.mp4") == video.read_bytes()
    assert storage.get_bytes("missing.html") is None
    assert storage.list_keys() == [
        "conferences/talk/blob",
        "conferences/talk/captions/fr.vtt",
        "conferences/talk/video-360.mp4",
        "feed.xml",
        "index.html",
    ]
    assert storage.list_keys("conferences/talk/captions/") == ["conferences/talk/captions/fr.vtt"]

    client = raw_client(s3_env)
    def content_type(key: str) -> str:
        return client.head_object(Bucket=bucket_name, Key=f"openlab/{key}")["ContentType"]

    assert content_type("index.html") == "text/html; charset=utf-8"
    assert content_type("feed.xml") == "application/rss+xml; charset=utf-8"
    assert content_type("conferences/talk/video-360.mp4") == "video/mp4"
    assert content_type("conferences/talk/captions/fr.vtt") == "text/vtt; charset=utf-8"
    assert content_type("conferences/talk/blob") == "application/x-custom"

    storage.delete_keys(["index.html", "conferences/talk/blob", "never-there.txt"])
    assert storage.list_keys() == ["conferences/talk/captions/fr.vtt", "conferences/talk/video-360.mp4", "feed.xml"]
    storage.delete_keys(storage.list_keys())
    assert storage.list_keys() == []


def test_s3_multipart_upload(s3_env: LocalS3Server, bucket_name: str, tmp_path: Path) -> None:
    mib = 1024 * 1024
    small_parts = TransferConfig(multipart_threshold=5 * mib, multipart_chunksize=5 * mib, max_concurrency=2)
    storage = S3Storage(f"s3://{bucket_name}/site", transfer_config=small_parts)
    storage.prepare()
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(11 * mib))
    storage.put_file("conferences/big/video-1080.mp4", big)
    assert storage.get_bytes("conferences/big/video-1080.mp4") == big.read_bytes()
    head = raw_client(s3_env).head_object(Bucket=bucket_name, Key="site/conferences/big/video-1080.mp4")
    assert head["ContentType"] == "video/mp4"
    assert "-" in head["ETag"]  # a multipart ETag


def test_only_the_site_prefix_is_public(s3_env: LocalS3Server, bucket_name: str) -> None:
    storage = S3Storage(f"s3://{bucket_name}/site")
    storage.prepare()
    storage.put_bytes("conferences/talk/index.html", b"<p>hello</p>")
    raw_client(s3_env).put_object(Bucket=bucket_name, Key="private/notes.txt", Body=b"secret notes")

    url = storage.public_url("conferences/talk/index.html")
    assert url == f"{s3_env.endpoint_url}/{bucket_name}/site/conferences/talk/index.html"
    status, content_type, body = anonymous_get(url)
    assert (status, content_type, body) == (200, "text/html; charset=utf-8", b"<p>hello</p>")

    status, _, body = anonymous_get(f"{s3_env.endpoint_url}/{bucket_name}/private/notes.txt")
    assert status == 403 and b"secret notes" not in body
    status, _, _ = anonymous_get(f"{s3_env.endpoint_url}/{bucket_name}/sitex/notes.txt")  # prefix is a folder
    assert status in (403, 404)


def test_public_url_forms(s3_env: LocalS3Server) -> None:
    assert (
        S3Storage("s3://bucket/site", public_base_url="https://cdn.example.org/talks/").public_url("a b/index.html")
        == "https://cdn.example.org/talks/a%20b/index.html"
    )
    assert S3Storage("s3://bucket").public_url("index.html") == f"{s3_env.endpoint_url}/bucket/index.html"
    explicit = S3Storage("s3://bucket/p", endpoint_url="http://127.0.0.1:9/")
    assert explicit.public_url("x.json") == "http://127.0.0.1:9/bucket/p/x.json"
    with pytest.raises(PublishError):
        explicit.public_url("../x.json")


def test_s3_rejects_unsafe_keys(s3_env: LocalS3Server, bucket_name: str) -> None:
    storage = S3Storage(f"s3://{bucket_name}/site")
    for bad in ("../escape.html", "/abs.html", "a//b"):
        with pytest.raises(PublishError):
            storage.put_bytes(bad, b"x")
    with pytest.raises(PublishError):
        storage.list_keys("../")


def test_wrong_credentials_give_one_line_without_the_secret(
    s3_env: LocalS3Server, bucket_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong_secret = "wrongSecret0123456789abcdefWRONG"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong_secret)
    storage = S3Storage(f"s3://{bucket_name}/site", max_attempts=1)
    for attempt in (lambda: storage.put_bytes("index.html", b"x"), storage.prepare, storage.list_keys):
        with pytest.raises(PublishError) as caught:
            attempt()
        message = str(caught.value)
        assert "\n" not in message
        assert wrong_secret not in message and s3_env.secret_key not in message
        assert bucket_name in message


def test_missing_credentials_say_what_to_set(
    s3_env: LocalS3Server, bucket_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(PublishError, match="AWS_ACCESS_KEY_ID"):
        S3Storage(f"s3://{bucket_name}/site", max_attempts=1).put_bytes("index.html", b"x")


def test_unreachable_endpoint_fails_fast(s3_env: LocalS3Server, bucket_name: str) -> None:
    dead = f"http://127.0.0.1:{find_free_port()}"
    storage = S3Storage(f"s3://{bucket_name}/site", endpoint_url=dead, max_attempts=2, connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(PublishError) as caught:
        storage.put_bytes("index.html", b"x")
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert dead in message and "\n" not in message and s3_env.secret_key not in message


def test_endpoint_argument_overrides_environment(
    s3_env: LocalS3Server, bucket_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{find_free_port()}")
    storage = open_storage(f"s3://{bucket_name}/site", endpoint_url=s3_env.endpoint_url)
    storage.prepare()
    storage.put_bytes("index.html", b"ok")
    assert storage.get_bytes("index.html") == b"ok"


# --- FileStorage -----------------------------------------------------------------------------------


def test_file_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "site"
    storage = open_storage(root.as_uri())
    assert isinstance(storage, FileStorage) and isinstance(storage, Storage)
    storage.prepare()
    source = tmp_path / "video.mp4"
    source.write_bytes(b"video bytes" * 1000)
    storage.put_bytes("index.html", b"<h1>hi</h1>")
    storage.put_file("conferences/talk/video-360.mp4", source)
    storage.put_bytes("conferences/talk/captions/fr.vtt", b"WEBVTT\n", content_type="text/vtt; charset=utf-8")
    assert storage.get_bytes("index.html") == b"<h1>hi</h1>"
    assert (root / "conferences/talk/video-360.mp4").read_bytes() == source.read_bytes()
    assert storage.get_bytes("nope.html") is None
    assert storage.get_bytes("conferences") is None  # a folder is not an object
    assert storage.list_keys() == ["conferences/talk/captions/fr.vtt", "conferences/talk/video-360.mp4", "index.html"]
    assert storage.list_keys("conferences/talk/c") == ["conferences/talk/captions/fr.vtt"]
    assert storage.public_url("conferences/talk/a b.html") == (root / "conferences/talk/a b.html").as_uri()
    assert (
        FileStorage(root, public_base_url="http://localhost:8000/").public_url("index.html")
        == "http://localhost:8000/index.html"
    )
    storage.delete_keys(["conferences/talk/captions/fr.vtt", "conferences/talk/video-360.mp4", "gone.txt"])
    assert storage.list_keys() == ["index.html"]
    assert not (root / "conferences").exists()  # emptied folders are pruned
    assert root.is_dir()


def test_file_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = FileStorage(tmp_path / "site")
    storage.prepare()
    storage.put_bytes("catalog.json", b"old")
    target = tmp_path / "site" / "catalog.json"
    with open(target, "rb") as reader:  # a reader holding the old file keeps reading the old content
        storage.put_bytes("catalog.json", b"new")
        assert reader.read() == b"old"
    assert target.read_bytes() == b"new"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)

    def failing_replace(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(PublishError, match="No space left"):
        storage.put_bytes("catalog.json", b"half-written")
    monkeypatch.undo()
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["catalog.json"]  # no temporary file left
    assert storage.list_keys() == ["catalog.json"]


def test_file_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    root = tmp_path / "site"
    storage = FileStorage(root)
    storage.prepare()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside)
    for bad in ("../escape.html", "a/../../escape.html", "/etc/passwd", "link/x.html", "a\\..\\x"):
        with pytest.raises(PublishError):
            storage.put_bytes(bad, b"x")
    with pytest.raises(PublishError):
        storage.get_bytes("../outside/anything")
    with pytest.raises(PublishError):
        storage.delete_keys(["../outside"])
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escape.html").exists()


def test_file_put_file_missing_source(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "site")
    with pytest.raises(PublishError, match="does not exist"):
        storage.put_file("a.mp4", tmp_path / "missing.mp4")


def test_missing_bucket_is_reported_until_prepare(s3_env: LocalS3Server, bucket_name: str) -> None:
    storage = S3Storage(f"s3://{bucket_name}/site", max_attempts=1)
    with pytest.raises(PublishError, match=f"bucket {bucket_name} does not exist"):
        storage.put_bytes("index.html", b"x")
    assert storage.get_bytes("index.html") is None  # reads see a missing bucket as empty
    assert storage.list_keys() == []
    storage.prepare()
    storage.put_bytes("index.html", b"x")
    assert storage.list_keys() == ["index.html"]


# --- what a site makes public ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["s3://bucket/pre*fix", "s3://bucket/*", "s3://bucket/site/a?b", "s3://bucket/s$x",
                                 "s3://bucket/${aws:username}", "s3://bucket/a/b*"])
def test_a_prefix_that_a_bucket_policy_would_widen_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_storage_url(url)
    message = str(caught.value)
    assert "\n" not in message and ("wildcard" in message or "'?'" in message)


def test_a_public_site_at_a_bucket_root_needs_an_explicit_choice() -> None:
    for url in ("s3://bucket", "s3://bucket/"):
        with pytest.raises(ConfigError) as caught:
            check_public_scope(parse_storage_url(url), public_whole_bucket=False)
        message = str(caught.value)
        assert "\n" not in message and "s3://bucket/site" in message and "public_whole_bucket: true" in message
        check_public_scope(parse_storage_url(url), public_whole_bucket=True)
    check_public_scope(parse_storage_url("s3://bucket/site"), public_whole_bucket=False)
    check_public_scope(parse_storage_url("file:///srv/site"), public_whole_bucket=False)


def test_a_bucket_root_site_is_refused_before_anything_is_made_public(
    s3_env: LocalS3Server, bucket_name: str
) -> None:
    with pytest.raises(ConfigError, match="public_whole_bucket"):
        open_storage(f"s3://{bucket_name}")
    with pytest.raises(ConfigError, match="public_whole_bucket"):
        S3Storage(f"s3://{bucket_name}").prepare()
    client = raw_client(s3_env)
    assert bucket_name not in [b["Name"] for b in client.list_buckets()["Buckets"]], "nothing was created"

    chosen = open_storage(f"s3://{bucket_name}", public_whole_bucket=True)  # the operator's explicit choice
    chosen.prepare()
    client.put_object(Bucket=bucket_name, Key="elsewhere/notes.txt", Body=b"in the bucket")
    status, _, body = anonymous_get(f"{s3_env.endpoint_url}/{bucket_name}/elsewhere/notes.txt")
    assert (status, body) == (200, b"in the bucket"), "what the choice means: the whole bucket is public"
    assert S3Storage(f"s3://{bucket_name}", public_read=False).list_keys() == ["elsewhere/notes.txt"]


def test_the_cli_refuses_a_bucket_root_site_in_one_line(
    s3_env: LocalS3Server, bucket_name: str, short_sample, tmp_path: Path
) -> None:
    result = subprocess.run(
        [CONFCAST, "publish", str(short_sample.path), "--to", f"s3://{bucket_name}", "--work-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("confcast: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "public_whole_bucket" in result.stderr
    assert bucket_name not in [b["Name"] for b in raw_client(s3_env).list_buckets()["Buckets"]]


def test_a_work_folder_inside_a_file_site_is_refused(tmp_path: Path) -> None:
    """Recordings, speech and transcripts in progress never lie where the site is served; links are followed."""
    site = tmp_path / "site"
    (site / "cache").mkdir(parents=True)
    (tmp_path / "linked").symlink_to(site / "cache")
    for work in (site, site / "cache" / "confcast", tmp_path / "linked"):
        problem = work_folder_problem(work, site.as_uri())
        assert problem and "lies inside the published site" in problem and "choose a work folder outside" in problem
    assert work_folder_problem(tmp_path / "work", site.as_uri()) is None
    assert work_folder_problem(site / "cache", "s3://bucket/site") is None
    assert work_folder_problem(site, None) is None


def test_the_cli_refuses_a_work_folder_inside_the_file_site(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    recording = tmp_path / "talk.mp4"
    recording.write_bytes(b"not even read")
    done = subprocess.run(
        [CONFCAST, "publish", str(recording), "--to", site.as_uri(), "--work-dir", str(site / "work")],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "the work folder" in done.stderr and "inside the published site" in done.stderr
    assert list(site.iterdir()) == [], "nothing made in the site"
