"""What every storage shares: the storage URL, safe object keys, how published files are served, and the
`Storage` interface that tasks.storage.s3 (S3Storage) and tasks.storage.folder (FileStorage) implement.

Pure: no boto3, no I/O. Keys are relative to the site prefix (`conferences/<slug>/index.html`) and are checked by
`check_key`, so no key can climb out of its prefix or folder. A storage URL is `s3://bucket/prefix` or
`file:///abs/dir` (`parse_storage_url`); tasks.storage.factory.open_storage opens the storage behind one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import quote, unquote

from confcast.tasks.errors import ConfigError, PublishError

ACCEPTED_FORMS = "s3://bucket/prefix (prefix may be empty) or file:///absolute/dir"
# In a bucket policy's Resource, * and ? are wildcards and ${...} a variable: none may come from a site prefix.
POLICY_SPECIALS = "*?$"
MAX_KEY_BYTES = 1024  # S3's limit for a whole object key

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".m4s": "video/iso.segment",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".wav": "audio/wav",
}
FEED_CONTENT_TYPE = "application/rss+xml; charset=utf-8"
DEFAULT_CONTENT_TYPE = "application/octet-stream"

# Files whose key carries a content tag (`720p.0123456789ab.mp4`, or a folder `hls.0123456789ab/`) never change
# under that key: caches may keep them for a year. Everything else (pages, manifest, catalog, feed) is rewritten in
# place and must be revalidated soon.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
SHORT_CACHE_CONTROL = "public, max-age=60"
_CONTENT_TAG_RE = re.compile(r"(^|/)[^/]+\.[0-9a-f]{12}(\.[^/]+)?(/|$)")
CORS_MAX_AGE_S = 3600


@dataclass(frozen=True)
class StorageTarget:
    """A parsed storage URL: an S3 bucket and prefix, or a local root folder."""

    scheme: Literal["s3", "file"]
    bucket: str = ""
    prefix: str = ""  # no leading or trailing slash; "" for the bucket root
    root: Path | None = None  # file: the absolute folder

    @property
    def url(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        assert self.root is not None
        return self.root.as_uri()


def _bad_url(url: str, why: str) -> ConfigError:
    return ConfigError(f"invalid storage URL {url!r}: {why}; use {ACCEPTED_FORMS}")


def _path_problem(path: str) -> str | None:
    """Why a slash-separated relative path is unsafe, or None."""
    if "\\" in path:
        return "it contains a backslash"
    if _CONTROL_RE.search(path):
        return "it contains a control character"
    if path.startswith("/"):
        return "it is absolute (starts with /)"
    segments = path.split("/")
    if any(segment in ("..", ".") for segment in segments):
        return "it has a '.' or '..' segment"
    if any(segment == "" for segment in segments):
        return "it has an empty segment (// or a trailing /)"
    return None


def parse_storage_url(url: str) -> StorageTarget:
    """Parse `s3://bucket/prefix` or `file:///abs/dir`; anything else is a ConfigError naming the accepted forms."""
    if not isinstance(url, str) or not url.strip():
        raise _bad_url(str(url), "it is empty")
    url = url.strip()
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise _bad_url(url, "the bucket name is empty")
        if not _BUCKET_RE.match(bucket) or ".." in bucket or _IPV4_RE.match(bucket) or bucket.startswith("xn--"):
            raise _bad_url(
                url,
                f"{bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, dots and hyphens, "
                "starting and ending with a letter or digit)",
            )
        if "?" in prefix or "#" in prefix:
            raise _bad_url(url, "the prefix contains '?' or '#'")
        if set(POLICY_SPECIALS) & set(prefix):
            raise _bad_url(
                url,
                "the prefix contains '*', '?' or '$', which the bucket policy that makes the site public would "
                "read as a wildcard or a variable (making more than the site public)",
            )
        prefix = prefix.strip("/")
        if prefix:
            problem = _path_problem(prefix)
            if problem:
                raise _bad_url(url, f"the prefix {prefix!r} is unsafe: {problem}")
        return StorageTarget(scheme="s3", bucket=bucket, prefix=prefix)
    if url.startswith("file://"):
        rest = url[len("file://") :]
        host, slash, path = rest.partition("/")
        if host not in ("", "localhost") or not slash:
            raise _bad_url(url, "a file URL needs an absolute path, like file:///srv/site (three slashes)")
        if "?" in path or "#" in path:
            raise _bad_url(url, "the path contains '?' or '#'")
        path = "/" + unquote(path)
        if "\\" in path or _CONTROL_RE.search(path):
            raise _bad_url(url, "the path contains a backslash or a control character")
        if any(segment in ("..", ".") for segment in path.split("/")):
            raise _bad_url(url, "the path has a '.' or '..' segment")
        root = Path(os.path.normpath(path))
        return StorageTarget(scheme="file", root=root)
    raise _bad_url(url, "unknown scheme")


def check_public_scope(target: StorageTarget, public_whole_bucket: bool) -> None:
    """Refuse a public site at the root of a bucket unless the operator chose it (setting public_whole_bucket): its
    bucket policy would make every object of the bucket public, whatever else the bucket holds."""
    if target.scheme == "s3" and not target.prefix and not public_whole_bucket:
        raise ConfigError(
            f"the site {target.url} has no prefix, so making it public would make EVERY object of the bucket "
            f"public; publish under a prefix (e.g. s3://{target.bucket}/site), or set public_whole_bucket: true "
            "(CONFCAST_PUBLIC_WHOLE_BUCKET=true) if the whole bucket is the site"
        )


def content_tagged_unit(key: str) -> str | None:
    """The part of a key up to its first content-tagged name (`conferences/t/hls.<tag>` for a segment of a tagged
    folder, the whole key for a tagged file), or None when the key carries no tag: its content may change."""
    match = _CONTENT_TAG_RE.search(key)
    return key[: match.end()].rstrip("/") if match else None


def cache_control_for(key: str) -> str:
    """Long and immutable for a key with a content tag in a file or folder name; short for everything else."""
    return IMMUTABLE_CACHE_CONTROL if _CONTENT_TAG_RE.search(key) else SHORT_CACHE_CONTROL


def cors_rules(origins: Sequence[str]) -> list[dict]:
    """The bucket CORS rule that lets players on these origins read the site (video ranges, captions, JSON)."""
    return [
        {
            "AllowedOrigins": list(origins),
            "AllowedMethods": ["GET", "HEAD"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["Content-Length", "Content-Range", "Content-Type", "ETag", "Accept-Ranges"],
            "MaxAgeSeconds": CORS_MAX_AGE_S,
        }
    ]


def content_type_for(key: str) -> str:
    """The Content-Type to serve a published file with (text types carry charset=utf-8)."""
    name = PurePosixPath(key).name.lower()
    if name == "feed.xml":
        return FEED_CONTENT_TYPE
    return _CONTENT_TYPES.get(PurePosixPath(name).suffix, DEFAULT_CONTENT_TYPE)


def check_key(key: str) -> str:
    """Return the key when it is a safe relative path (`a/b.html`); raise PublishError otherwise."""
    if not isinstance(key, str) or not key:
        raise PublishError(f"invalid object key {key!r}: it is empty; keys are relative paths like a/b.html")
    problem = _path_problem(key)
    if problem is None and len(key.encode("utf-8")) > MAX_KEY_BYTES:
        problem = f"it is longer than {MAX_KEY_BYTES} bytes"
    if problem:
        raise PublishError(f"invalid object key {key!r}: {problem}; keys are relative paths like a/b.html")
    return key


def check_list_prefix(prefix: str) -> str:
    """A listing prefix: '' or a relative path, possibly ending with '/'."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def join_url(base: str, key: str) -> str:
    """A key's URL under a base URL (the key's characters quoted, its slashes kept)."""
    return base.rstrip("/") + "/" + quote(key)


@runtime_checkable
class Storage(Protocol):
    """Where a site is published. Keys are relative to the site prefix or folder."""

    url: str

    def prepare(self) -> None: ...
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None: ...
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...
    def get_bytes(self, key: str) -> bytes | None: ...
    def list_keys(self, prefix: str = "") -> list[str]: ...
    def delete_keys(self, keys: Iterable[str]) -> None: ...
    def public_url(self, key: str) -> str: ...
