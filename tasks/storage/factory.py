"""Opens the storage behind a storage URL: S3Storage for s3://, FileStorage for file://."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from confcast.tasks.storage.base import Storage, check_public_scope, parse_storage_url
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.storage.s3 import S3Storage


def open_storage(
    url: str,
    *,
    endpoint_url: str | None = None,
    public_base_url: str | None = None,
    cors_origins: Sequence[str] | None = None,
    retry_seconds: float = 0.0,
    on_retry: Callable[[str], None] | None = None,
    public_whole_bucket: bool = False,
) -> Storage:
    """The storage behind a URL: S3Storage for s3://, FileStorage for file:// (endpoint_url, CORS and retries then
    ignored). A public site at a bucket's root is refused here, before any work, unless `public_whole_bucket`."""
    target = parse_storage_url(url)
    if target.scheme == "s3":
        check_public_scope(target, public_whole_bucket)
        return S3Storage(
            target,
            endpoint_url=endpoint_url,
            public_base_url=public_base_url,
            cors_origins=cors_origins,
            retry_seconds=retry_seconds,
            on_retry=on_retry,
            public_whole_bucket=public_whole_bucket,
        )
    return FileStorage(target, public_base_url=public_base_url)
