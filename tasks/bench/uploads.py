"""What a publication run uploaded, seen from outside: the site listed before and after the run, compared.

An object counts when it is new or when its listing entry changed: size and ETag in S3, size and modification time
in a local folder (the folder storage replaces a file on every write). Only what is left in the site counts: an
object written twice counts once, one written then deleted not at all, one rewritten with the same bytes (the
same ETag) not at all.

S3 is listed with boto3 directly, on the storage's bucket, prefix and endpoint: S3Storage lists keys and sizes but
not ETags, and this module only measures.
"""

from __future__ import annotations

from collections.abc import Mapping

import boto3
import botocore.exceptions
from botocore.config import Config

from confcast.tasks.storage.base import Storage
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.storage.s3 import DEFAULT_REGION, S3Storage

# key -> (size in bytes, what tells a rewrite: the ETag in S3, the modification time in ns in a folder)
Listing = Mapping[str, tuple[int, str]]


def site_listing(storage: Storage) -> dict[str, tuple[int, str]]:
    """Every object of the site with its size and change marker (an empty dict for a bucket not created yet)."""
    if isinstance(storage, FileStorage):
        return folder_listing(storage)
    if isinstance(storage, S3Storage):
        return s3_listing(storage)
    raise TypeError(f"cannot list {type(storage).__name__}: the bench knows S3Storage and FileStorage")


def folder_listing(storage: FileStorage) -> dict[str, tuple[int, str]]:
    listing = {}
    for key in storage.list_keys():
        try:
            stat = storage.path_for(key).stat()
        except FileNotFoundError:  # removed between the listing and now
            continue
        listing[key] = (stat.st_size, str(stat.st_mtime_ns))
    return listing


def s3_listing(storage: S3Storage) -> dict[str, tuple[int, str]]:
    session = boto3.session.Session()
    client = session.client(
        "s3",
        endpoint_url=storage.endpoint_url,
        region_name=session.region_name or DEFAULT_REGION,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),  # as S3Storage's client
    )
    base = f"{storage.prefix}/" if storage.prefix else ""
    listing = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket, Prefix=base):
            for item in page.get("Contents", []):
                listing[item["Key"][len(base) :]] = (int(item["Size"]), str(item["ETag"]))
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise
        return {}  # the first run creates the bucket
    return listing


def changes(before: Listing, after: Listing) -> tuple[int, int]:
    """(bytes, objects) new or changed from `before` to `after`; the bytes are the objects' sizes after."""
    changed = [entry for key, entry in after.items() if before.get(key) != entry]
    return sum(size for size, _marker in changed), len(changed)
