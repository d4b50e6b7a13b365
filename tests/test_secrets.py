"""Credentials never leak: a full run with keys in the environment, then every output searched for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from confcast.tasks.storage.seaweedfs import LocalS3Server

CONFCAST = str(Path(sys.executable).with_name("confcast"))

pytestmark = pytest.mark.slow


def prefect_outputs(flow_run_name_hint: str) -> list[str]:
    """Logs and artifacts of the newest publish-conference flow run, from the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowFilter,
        FlowFilterName,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_run_name_hint])),
                                       sort=FlowRunSort.START_TIME_DESC, limit=1)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
    assert logs, "the run left logs on the Prefect server"
    return [log.message for log in logs] + [str(a.data) + str(a.description) for a in artifacts] + [
        str(run.parameters)]


def test_no_output_of_a_full_run_holds_the_credentials(
    prefect_server, s3_env: LocalS3Server, bucket_name: str, short_sample, tmp_path: Path
) -> None:
    secrets = [s3_env.secret_key, s3_env.access_key]
    work = tmp_path / "work"
    env = {**os.environ, "CONFCAST_KEEP_WORK": "true"}
    result = subprocess.run(
        [CONFCAST, "publish", str(short_sample.path), "--title", "Secrets", "--language", "fr", "--verbose",
         "--to", f"s3://{bucket_name}/site", "--work-dir", str(work)],
        capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    outputs = {"stdout": result.stdout, "stderr": result.stderr}

    client = boto3.client("s3")
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket_name):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=bucket_name, Key=item["Key"])["Body"].read()
            outputs[f"s3://{item['Key']}"] = body.decode("latin-1")
    for path in work.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000 and "models" not in path.parts:
            outputs[str(path)] = path.read_bytes().decode("latin-1")
    for index, text in enumerate(prefect_outputs("publish-conference")):
        outputs[f"prefect #{index}"] = text
    assert len(outputs) > 20
    for secret in secrets:
        leaks = [name for name, text in outputs.items() if secret in text]
        assert not leaks, f"a credential appears in {leaks}"

    failed = subprocess.run(
        [CONFCAST, "publish", str(short_sample.path), "--to", f"s3://{bucket_name}/other", "--work-dir", str(work)],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        env={**os.environ, "AWS_SECRET_ACCESS_KEY": "wrong-" + s3_env.secret_key},
    )
    assert failed.returncode != 0
    assert s3_env.secret_key not in failed.stderr and "wrong-" not in failed.stderr
    assert len([line for line in failed.stderr.splitlines() if line.startswith("confcast: error:")]) == 1
