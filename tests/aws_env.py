"""The standard AWS variables pointed at a test's S3 server, isolated from ~/.aws and instance metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

from confcast.tasks.storage.seaweedfs import LocalS3Server


def point_aws_at(env: pytest.MonkeyPatch, server: LocalS3Server, folder: Path) -> None:
    """Credentials and region of `server` in the environment; no profile, config file or metadata service."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION"):
        env.delenv(name, raising=False)
    env.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    env.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))
    env.setenv("AWS_EC2_METADATA_DISABLED", "true")
