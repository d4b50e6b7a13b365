"""A site under s3://bucket/prefix through boto3 (`S3Storage`), and what its errors mean: how they are described,
which are worth retrying (`is_transient`).

This is the only module of confcast that imports boto3 or botocore (tasks.storage.seaweedfs checks its server
with the standard library; the tests use boto3 on their own to check what was stored).

Endpoint from the argument, else boto3's own (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS); credentials only from
the standard AWS chain (environment, profile, ...). Path-style addressing, an explicit Content-Type on every
upload. Reads (`get_bytes`, `list_keys`) treat a missing bucket as empty; writes to it fail until `prepare()`
creates it. Retries: boto3's standard mode (a few quick ones), then, with `retry_seconds`, transient errors only
(server unreachable, timeouts, 5xx, throttling) with exponential backoff for that long; refused credentials,
denied access or a bad request fail at once. `prepare()` makes the site prefix (only it) publicly readable with a
bucket policy; object ACLs are not used.

Errors from botocore come out as one-line PublishError messages that never contain credentials.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import boto3
import botocore.exceptions
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from confcast.tasks.errors import ConfigError, PublishError
from confcast.tasks.storage.base import (
    StorageTarget,
    cache_control_for,
    check_key,
    check_list_prefix,
    check_public_scope,
    content_type_for,
    cors_rules,
    join_url,
    parse_storage_url,
)

DEFAULT_REGION = "us-east-1"
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
POLICY_SID_PREFIX = "ConfcastPublicRead"
# Transient S3 errors are retried for `retry_seconds` (settings: s3_retry_seconds), waiting 1, 2, 4, 8, 15, 15, ... s.
RETRY_FIRST_DELAY_S = 1.0
RETRY_MAX_DELAY_S = 15.0
COPY_MULTIPART_THRESHOLD = 4 * 1024**3  # server-side copies in one request below this (S3 allows up to 5 GiB)

T = TypeVar("T")
logger = logging.getLogger(__name__)

_CONNECTION_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)
_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
    "InvalidSecurity",
}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
# Error codes worth repeating later (botocore's transient and throttling codes, plus S3's own 5xx names).
_TRANSIENT_CODES = {
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "BandwidthLimitExceeded",
}
_BOTO_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, S3UploadFailedError)


class S3Storage:
    """A site under s3://bucket/prefix, through boto3 with the standard credential chain."""

    def __init__(
        self,
        target: StorageTarget | str,
        *,
        endpoint_url: str | None = None,
        public_base_url: str | None = None,
        public_read: bool = True,
        max_attempts: int = 5,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        transfer_config: TransferConfig | None = None,
        cors_origins: Sequence[str] | None = None,
        retry_seconds: float = 0.0,
        on_retry: Callable[[str], None] | None = None,
        public_whole_bucket: bool = False,
    ) -> None:
        """`public_read=False` leaves the bucket policy alone (a CDN serves the site); with it, `prepare()` refuses
        a site at the root of a bucket unless `public_whole_bucket` (the policy would make all of the bucket public).
        Each request gets boto3's own quick retries (standard mode, `max_attempts`: under a second in all for an
        unreachable server); with `retry_seconds`, transient errors (unreachable server, timeouts, 5xx, throttling)
        are then retried with exponential backoff for that long, each retry told to `on_retry` (default: this
        module's logger). `cors_origins` (e.g. ["*"]) sets the bucket's CORS rule in `prepare()`; None leaves CORS
        alone."""
        self.target = parse_storage_url(target) if isinstance(target, str) else target
        if self.target.scheme != "s3":
            raise ConfigError(f"S3Storage needs an s3:// URL, not {self.target.url}")
        self.url = self.target.url
        self.bucket = self.target.bucket
        self.prefix = self.target.prefix
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.public_read = public_read
        self.public_whole_bucket = public_whole_bucket
        self.cors_origins = tuple(cors_origins) if cors_origins is not None else None
        self.retry_seconds = max(0.0, float(retry_seconds))
        self._on_retry = on_retry or logger.warning
        self._retry_lock = threading.Lock()
        self._last_retry_report = -1e9
        self._copy_transfer = TransferConfig(
            multipart_threshold=COPY_MULTIPART_THRESHOLD, multipart_chunksize=512 * 1024 * 1024, max_concurrency=4
        )
        self._transfer = transfer_config or TransferConfig(
            multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
        )
        self._session = boto3.session.Session()
        config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        try:
            self._client = self._session.client(
                "s3",
                endpoint_url=endpoint_url or None,
                region_name=self._session.region_name or DEFAULT_REGION,
                config=config,
            )
        except (ValueError, botocore.exceptions.BotoCoreError) as error:
            raise PublishError(
                f"cannot set up S3 for {self.url}: {error}; check the endpoint URL "
                "(--endpoint-url, CONFCAST_S3_ENDPOINT_URL or AWS_ENDPOINT_URL)"
            ) from None

    # -- keys and URLs

    @property
    def endpoint_url(self) -> str:
        return str(self._client.meta.endpoint_url).rstrip("/")

    def object_key(self, key: str) -> str:
        """The full S3 key of a site key."""
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def public_url(self, key: str) -> str:
        if self.public_base_url:
            return join_url(self.public_base_url, check_key(key))
        return join_url(f"{self.endpoint_url}/{self.bucket}", self.object_key(key))

    # -- errors and retries

    def _redact(self, text: str) -> str:
        with contextlib.suppress(Exception):
            credentials = self._session.get_credentials()
            if credentials is not None:
                frozen = credentials.get_frozen_credentials()
                for secret in (frozen.secret_key, frozen.token, frozen.access_key):
                    if secret:
                        text = text.replace(secret, "***")
        return text

    def _where(self, key: str | None) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}" if key else self.url

    def _describe(self, error: BaseException) -> tuple[str, str]:
        """What happened and what to do, for a botocore (or local file) error."""
        cause = _cause(error)
        if isinstance(cause, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
            return "no AWS credentials were found", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        if isinstance(cause, _CONNECTION_ERRORS):
            return (
                f"cannot reach the S3 endpoint {self.endpoint_url} ({type(cause).__name__})",
                "check --endpoint-url / CONFCAST_S3_ENDPOINT_URL / AWS_ENDPOINT_URL and that the server is running",
            )
        if isinstance(cause, botocore.exceptions.ClientError):
            details = cause.response.get("Error", {})
            code = str(details.get("Code") or cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?"))
            message = str(details.get("Message") or "").strip()
            said = f"{code}: {message}" if message else code
            if code in _AUTH_CODES:
                return (
                    f"the server rejected the credentials ({said})",
                    "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile in use",
                )
            if code in _DENIED_CODES:
                return (
                    f"access denied ({said})",
                    "check the credentials in use (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the AWS profile) "
                    "and their permissions on this bucket",
                )
            if code in ("NoSuchBucket",):
                return (
                    f"the bucket {self.bucket} does not exist ({said})",
                    "create it, or publish once with permission to create buckets",
                )
            return f"the server answered {said}", "check the bucket, the endpoint and the server's logs"
        if isinstance(cause, OSError):
            where = f" ({cause.filename})" if cause.filename else ""
            return f"{cause.strerror or cause}{where}", "check the local file"
        return f"{type(cause).__name__}: {cause}", "check the endpoint, the bucket and the credentials"

    def _error(
        self, error: BaseException, action: str, key: str | None = None, retried_s: float | None = None
    ) -> PublishError:
        """One line: where, what happened, what to do; never the credentials."""
        what, todo = self._describe(error)
        if retried_s is not None:
            what += f", still after {retried_s:.0f} s of retries (s3_retry_seconds: {self.retry_seconds:g})"
            todo += "; then run the same command again (finished work is reused)"
        failure = PublishError(self._redact(f"S3 {action} failed for {self._where(key)}: {what}; {todo}"))
        failure.transient = is_transient(error)  # read by the inbox: an outage leaves the recording for a later scan
        return failure

    def _report_retry(self, message: str) -> None:
        """Tell the operator about a retry, at most once a second (parallel requests fail together)."""
        now = time.monotonic()
        with self._retry_lock:
            if now - self._last_retry_report < 1.0:
                return
            self._last_retry_report = now
        self._on_retry(self._redact(message))

    def _call(self, action: str, key: str | None, request: Callable[[], T]) -> T:
        """Run one request (a function of botocore calls, safe to repeat); transient errors (unreachable server,
        timeouts, 5xx, throttling) are retried with exponential backoff for `retry_seconds` after the first one,
        anything else fails at once. Errors come out as one-line PublishErrors."""
        first_failure: float | None = None
        delay = RETRY_FIRST_DELAY_S
        while True:
            try:
                return request()
            except _BOTO_ERRORS as error:
                now = time.monotonic()
                if first_failure is None:
                    first_failure = now
                left = first_failure + self.retry_seconds - now
                if not is_transient(error) or self.retry_seconds <= 0:
                    raise self._error(error, action, key) from None
                if left <= 0:
                    raise self._error(error, action, key, retried_s=now - first_failure) from None
                wait = min(delay, left)
                delay = min(delay * 2, RETRY_MAX_DELAY_S)
                what, _todo = self._describe(error)
                self._report_retry(
                    f"S3 {action} of {self._where(key)}: {what}; retrying in {wait:.1f} s "
                    f"(gives up in {left:.1f} s)"
                )
                time.sleep(wait)

    # -- the interface

    def prepare(self) -> None:
        """Create the bucket if missing and make the site prefix (only it) publicly readable."""
        if self.public_read:
            check_public_scope(self.target, self.public_whole_bucket)

        def bucket_exists() -> bool:
            try:
                self._client.head_bucket(Bucket=self.bucket)
                return True
            except botocore.exceptions.ClientError as error:
                if _code(error) not in ("404", "NoSuchBucket", "NotFound"):
                    raise
                return False

        def create_bucket() -> None:
            region = self._client.meta.region_name
            extra = {} if region in (None, "", DEFAULT_REGION, "aws-global") else {
                "CreateBucketConfiguration": {"LocationConstraint": region}
            }
            try:
                self._client.create_bucket(Bucket=self.bucket, **extra)
            except botocore.exceptions.ClientError as error:
                if _code(error) != "BucketAlreadyOwnedByYou":
                    raise

        if not self._call("bucket check", None, bucket_exists):
            self._call("bucket creation", None, create_bucket)
        if self.public_read:
            self._ensure_public_read()
        if self.cors_origins is not None:
            self._ensure_cors(self.cors_origins)

    def _ensure_cors(self, origins: Sequence[str]) -> None:
        """Set the bucket's CORS rules to ours (CORS is per bucket); an empty list removes them."""
        wanted = cors_rules(origins) if origins else []

        def read() -> list[dict]:
            try:
                return self._client.get_bucket_cors(Bucket=self.bucket).get("CORSRules", [])
            except botocore.exceptions.ClientError as error:
                if _code(error) not in ("NoSuchCORSConfiguration", "404"):
                    raise
                return []

        if _same_cors(self._call("bucket CORS read", None, read), wanted):
            return
        if wanted:
            self._call(
                "bucket CORS update",
                None,
                lambda: self._client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": wanted}),
            )
        else:
            self._call("bucket CORS update", None, lambda: self._client.delete_bucket_cors(Bucket=self.bucket))

    def public_read_statement(self) -> dict:
        """The bucket-policy statement that lets anyone GET objects under the site prefix."""
        resource = f"arn:aws:s3:::{self.bucket}/{self.prefix}/*" if self.prefix else f"arn:aws:s3:::{self.bucket}/*"
        sid = POLICY_SID_PREFIX + hashlib.sha256(self.prefix.encode()).hexdigest()[:12]
        return {"Sid": sid, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": resource}

    def _bucket_policy(self, *, denied_is_none: bool = False) -> dict:
        """The bucket policy as a mapping ({} when there is none or it is not JSON; also when reading it is denied
        and `denied_is_none`)."""

        def read() -> dict:
            try:
                text = self._client.get_bucket_policy(Bucket=self.bucket)["Policy"]
            except botocore.exceptions.ClientError as error:
                if _code(error) in _DENIED_CODES and denied_is_none:
                    return {}
                if _code(error) not in ("NoSuchBucketPolicy", "NoSuchBucket", "404"):
                    raise
                return {}
            try:
                policy = json.loads(text) if text else {}
            except ValueError:
                return {}
            return policy if isinstance(policy, dict) else {}

        return self._call("bucket policy read", None, read)

    def _ensure_public_read(self) -> None:
        statement = self.public_read_statement()
        policy = self._bucket_policy()
        statements = policy.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        for existing in statements:
            same_resource = _as_list(existing.get("Resource")) == [statement["Resource"]]
            if existing.get("Sid") == statement["Sid"] and same_resource:
                return  # already public, nothing to write
        kept = [existing for existing in statements if existing.get("Sid") != statement["Sid"]]
        new_policy = {**policy, "Version": policy.get("Version", "2012-10-17"), "Statement": [*kept, statement]}

        def write() -> None:
            try:
                self._client.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(new_policy))
            except botocore.exceptions.ClientError as error:
                if _code(error) in _DENIED_CODES:
                    raise PublishError(
                        self._redact(
                            f"cannot make {self.url} publicly readable: the bucket policy was refused "
                            f"({_code(error)}); allow s3:PutBucketPolicy and turn off Block Public Access for this "
                            "bucket, or serve the site through a CDN (public_base_url) without public read"
                        )
                    ) from None
                raise

        self._call("bucket policy update", None, write)

    def public_statement_for(self, key: str) -> str | None:
        """The Sid (or "a statement") of a bucket-policy statement that lets anyone read this key; None if none
        (or if these credentials may not read the policy: then nothing can be said)."""
        arn = f"arn:aws:s3:::{self.bucket}/{self.object_key(key)}"
        statements = self._bucket_policy(denied_is_none=True).get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if isinstance(statement, dict) and _grants_public_read(statement, arn):
                return str(statement.get("Sid") or "a statement")
        return None

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        full = self.object_key(key)
        if not Path(path).is_file():
            raise PublishError(f"cannot upload {path} to s3://{self.bucket}/{full}: the file does not exist")
        extra = {"ContentType": content_type or content_type_for(key), "CacheControl": cache_control_for(key)}

        def upload() -> None:
            try:
                self._client.upload_file(str(path), self.bucket, full, ExtraArgs=extra, Config=self._transfer)
            except OSError as error:
                raise self._error(error, "upload", key) from None

        self._call("upload", key, upload)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        full = self.object_key(key)
        extra = {"ContentType": content_type or content_type_for(key), "CacheControl": cache_control_for(key)}
        data = bytes(data)
        self._call(
            "upload",
            key,
            lambda: self._client.upload_fileobj(
                io.BytesIO(data), self.bucket, full, ExtraArgs=extra, Config=self._transfer
            ),
        )

    def put_bytes_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        """Write an object only if no object has this key (a conditional PUT, `If-None-Match: *`): True when this
        call created it, False when one was there. Atomic on the server: of several writers, one wins."""
        return self._conditional_put(key, data, content_type, {"IfNoneMatch": "*"}) is not None

    def put_bytes_if_match(self, key: str, data: bytes, etag: str, content_type: str | None = None) -> bool:
        """Replace an object only if it is still the version with this ETag (a conditional PUT, `If-Match`): True
        when this call replaced it, False when it had changed or gone. Atomic on the server: of several writers, one
        wins."""
        return self._conditional_put(key, data, content_type, {"IfMatch": etag}) is not None

    def put_bytes_conditionally(
        self, key: str, data: bytes, *, if_match: str | None = None, content_type: str | None = None
    ) -> str | None:
        """`put_bytes_if_match` with `if_match`, else `put_bytes_if_absent`; returns the new object's ETag (what a
        later `if_match` names), None when the condition failed (tasks.storage.lease renews its lease this way)."""
        condition = {"IfMatch": if_match} if if_match is not None else {"IfNoneMatch": "*"}
        return self._conditional_put(key, data, content_type, condition)

    def _conditional_put(
        self, key: str, data: bytes, content_type: str | None, condition: dict[str, str]
    ) -> str | None:
        """The new ETag when written ("" if the server sent none), None when the condition failed."""
        full = self.object_key(key)

        def put() -> str | None:
            try:
                response = self._client.put_object(
                    Bucket=self.bucket,
                    Key=full,
                    Body=bytes(data),
                    ContentType=content_type or content_type_for(key),
                    **condition,
                )
                return str(response.get("ETag") or "")
            except botocore.exceptions.ClientError as error:
                if _code(error) in _PRECONDITION_CODES or ("IfMatch" in condition and _code(error) in _MISSING_CODES):
                    return None
                raise

        return self._call("conditional upload", key, put)

    def get_with_etag(self, key: str) -> tuple[bytes, str, dt.datetime] | None:
        """An object's content, ETag and last-modified time; None when it does not exist."""
        full = self.object_key(key)

        def read() -> tuple[bytes, str, dt.datetime] | None:
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=full)
            except botocore.exceptions.ClientError as error:
                if _code(error) in _MISSING_CODES:
                    return None
                raise
            return response["Body"].read(), str(response["ETag"]), response["LastModified"]

        return self._call("download", key, read)

    def etag_of(self, key: str) -> str | None:
        """An object's ETag (which changes with its content); None when it does not exist."""
        full = self.object_key(key)

        def head() -> str | None:
            try:
                return str(self._client.head_object(Bucket=self.bucket, Key=full)["ETag"])
            except botocore.exceptions.ClientError as error:
                if _code(error) in _MISSING_CODES:
                    return None
                raise

        return self._call("metadata read", key, head)

    def get_bytes(self, key: str) -> bytes | None:
        full = self.object_key(key)

        def read() -> bytes | None:
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=full)
            except botocore.exceptions.ClientError as error:
                if _code(error) in _MISSING_CODES or _code(error) == "NoSuchBucket":
                    return None  # a missing bucket holds nothing yet (prepare() creates it)
                raise
            return response["Body"].read()

        return self._call("download", key, read)

    def download_file(self, key: str, path: Path) -> bool:
        """Copy an object into a local file (written whole, then renamed); False when there is no such object."""
        full = self.object_key(key)
        path = Path(path)
        partial = path.with_name(path.name + ".partial")

        def download() -> bool:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._client.download_file(self.bucket, full, str(partial), Config=self._transfer)
                os.replace(partial, path)
                return True
            except botocore.exceptions.ClientError as error:
                if _code(error) in _MISSING_CODES:
                    return False
                raise
            except OSError as error:
                raise self._error(error, "download", key) from None

        return self._call("download", key, download)

    def copy_key(self, source: str, destination: str, *, if_match: str | None = None) -> bool:
        """Copy an object inside the bucket, on the server (multipart beyond 5 GB); False when the source is gone.
        With `if_match` (an ETag), only if the source is still that version (`CopySourceIfMatch`): False when not."""
        copy_source = {"Bucket": self.bucket, "Key": self.object_key(source)}
        full = self.object_key(destination)
        extra = {"CopySourceIfMatch": if_match} if if_match else None

        def copy() -> bool:
            try:
                self._client.copy(copy_source, self.bucket, full, ExtraArgs=extra, Config=self._copy_transfer)
            except botocore.exceptions.ClientError as error:
                if _code(error) in _MISSING_CODES or (if_match and _code(error) in _PRECONDITION_CODES):
                    return False
                raise
            return True

        return self._call("copy", destination, copy)

    def list_sizes(self, prefix: str = "", *, recursive: bool = True) -> dict[str, int]:
        """Keys under a prefix with their sizes in bytes; `recursive=False` lists only the prefix's own level
        (nothing inside sub-folders). A missing bucket is an error here."""
        check_list_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        extra = {} if recursive else {"Delimiter": "/"}

        def listing() -> dict[str, int]:
            sizes: dict[str, int] = {}
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix, **extra):
                for item in page.get("Contents", []):
                    sizes[item["Key"][len(base) :]] = int(item.get("Size", 0))
            return sizes

        return self._call("listing", None, listing)

    def list_keys(self, prefix: str = "") -> list[str]:
        check_list_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""

        def listing() -> list[str]:
            keys: list[str] = []
            paginator = self._client.get_paginator("list_objects_v2")
            try:
                for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                    keys.extend(item["Key"][len(base) :] for item in page.get("Contents", []))
            except botocore.exceptions.ClientError as error:
                if _code(error) != "NoSuchBucket":
                    raise
                return []  # a missing bucket holds nothing yet (prepare() creates it)
            return keys

        return sorted(self._call("listing", None, listing))

    def delete_keys(self, keys: Iterable[str]) -> None:
        full_keys = [self.object_key(key) for key in keys]
        for start in range(0, len(full_keys), DELETE_BATCH):
            batch = full_keys[start : start + DELETE_BATCH]
            response = self._call(
                "delete",
                None,
                lambda batch=batch: self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                ),
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise PublishError(
                    self._redact(
                        f"S3 delete failed for {len(errors)} of {len(batch)} objects in s3://{self.bucket}, first "
                        f"{first.get('Key')}: {first.get('Code')}: {first.get('Message')}; check permissions and retry"
                    )
                )


def _cause(error: BaseException) -> BaseException:
    """The botocore error behind boto3's S3UploadFailedError (which wraps a ClientError)."""
    if isinstance(error, S3UploadFailedError) and isinstance(
        error.__context__, (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
    ):
        return error.__context__
    return error


def is_transient(error: BaseException) -> bool:
    """Whether a failed S3 request may succeed if repeated later: the server unreachable or timing out, a 5xx
    answer, throttling. Refused credentials, denied access, missing objects, bad requests are not."""
    cause = _cause(error)
    if isinstance(cause, botocore.exceptions.SSLError):
        return False  # a certificate problem does not go away by waiting
    if isinstance(cause, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return True
    if isinstance(cause, botocore.exceptions.ClientError):
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if _code(cause) in _TRANSIENT_CODES or status == 429:
            return True
        return isinstance(status, int) and status >= 500 and status != 501  # 501: not implemented, for good
    return False


def _grants_public_read(statement: dict, arn: str) -> bool:
    """Whether a bucket-policy statement lets anyone (Principal *) GET the object of this ARN."""
    if statement.get("Effect") != "Allow" or statement.get("Condition"):
        return False
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        principal = principal.get("AWS")
    if "*" not in _as_list(principal):
        return False
    actions = [str(action).lower() for action in _as_list(statement.get("Action"))]
    if not any(action in ("*", "s3:*", "s3:get*", "s3:getobject") for action in actions):
        return False
    return any(_arn_matches(str(pattern), arn) for pattern in _as_list(statement.get("Resource")))


def _arn_matches(pattern: str, arn: str) -> bool:
    """IAM resource matching: `*` is any run of characters, `?` any one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn, flags=re.DOTALL) is not None


def _code(error: botocore.exceptions.ClientError) -> str:
    response = error.response
    return str(response.get("Error", {}).get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def _same_cors(current: list[dict], wanted: list[dict]) -> bool:
    """Whether the bucket's CORS rules already say what we want (servers add or drop empty fields)."""
    fields = ("AllowedOrigins", "AllowedMethods", "AllowedHeaders", "ExposeHeaders")

    def shape(rules: list[dict]) -> list[tuple]:
        return [tuple(sorted(rule.get(name) or []) for name in fields) for rule in rules]

    return shape(current) == shape(wanted)


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]
