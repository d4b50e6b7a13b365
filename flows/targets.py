"""Where a run publishes: the storage URL from settings, or the embedded local S3 server when none is set."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

from prefect import get_run_logger

from confcast.config.settings import Settings
from confcast.tasks.errors import ConfigError
from confcast.tasks.storage.base import Storage
from confcast.tasks.storage.factory import open_storage
from confcast.tasks.storage.folder import work_folder_problem
from confcast.tasks.storage.seaweedfs import EMBEDDED_STORAGE_URL, ensure_local_s3, with_local_credentials


@dataclass(frozen=True)
class Target:
    storage_url: str
    endpoint_url: str | None
    public_base_url: str | None
    cors_origins: tuple[str, ...] | None = None
    retry_seconds: float = 0.0  # how long S3 requests retry transient errors (settings: s3_retry_seconds)
    public_whole_bucket: bool = False  # the operator's explicit choice of a public site at a bucket's root

    def open(self) -> Storage:
        return open_storage(
            self.storage_url,
            endpoint_url=self.endpoint_url,
            public_base_url=self.public_base_url,
            cors_origins=self.cors_origins,
            retry_seconds=self.retry_seconds,
            on_retry=report_retry,
            public_whole_bucket=self.public_whole_bucket,
        )


def report_retry(message: str) -> None:
    """A retried S3 request: a warning on standard error (the operator sees the run is waiting, not stuck) and
    in the flow run's logs."""
    print(f"confcast: warning: {message}", file=sys.stderr, flush=True)
    try:
        get_run_logger().warning(message)
    except Exception:  # outside a flow run (or in a thread without its context): the plain logger
        logging.getLogger("confcast").warning(message)


def resolve_target(settings: Settings) -> Target:
    """The configured target; with none configured, start (or reuse) the embedded SeaweedFS and use it.

    The embedded server's keys go into this process's environment so that boto3 finds them through the
    standard credential chain, as it would any operator's keys.
    """
    problem = work_folder_problem(settings.work_path, settings.storage_url)
    if problem:  # recordings, speech and transcripts in progress must never be served
        raise ConfigError(problem)
    if settings.storage_url:
        return Target(
            settings.storage_url,
            settings.s3_endpoint_url,
            settings.public_base_url,
            tuple(settings.cors_origins),
            settings.s3_retry_seconds,
            settings.public_whole_bucket,
        )
    server = ensure_local_s3(settings.work_path / "seaweedfs", settings.local_s3_port)
    for name, value in with_local_credentials(server).items():
        os.environ[name] = value
    return Target(
        EMBEDDED_STORAGE_URL,
        server.endpoint_url,
        settings.public_base_url,
        tuple(settings.cors_origins),
        settings.s3_retry_seconds,
    )
