"""Secrets stay in the process: a full run with keys and a webhook in the environment, then every output searched
for them (standard output and error, published objects, the work folder, the Prefect server's parameters, logs and
artifacts); the webhook is still called, and a failing one is logged without its secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from webhook_receiver import PATH_TOKEN, QUERY_TOKEN, webhook_receiver

from confcast.config.settings import Settings, load_settings
from confcast.tasks.errors import ConfigError
from confcast.tasks.markdown import escape_markdown
from confcast.tasks.notify import Notice, redact_url, send_webhook
from confcast.tasks.storage.seaweedfs import LocalS3Server

CONFCAST = str(Path(sys.executable).with_name("confcast"))
HOSTILE_TITLE = "Secrets <img src=x onerror=alert(1)> [link](javascript:alert(1))"
SLACK = f"https://hooks.slack.com/services/T000/B000/{PATH_TOKEN}"


# --- pure ------------------------------------------------------------------------------------------


def test_the_webhook_url_is_a_secret_no_serialisation_holds() -> None:
    from fastapi.encoders import jsonable_encoder  # what Prefect stores a flow parameter as

    from confcast.flows.publish import publish_conference

    settings = Settings(webhook_url=SLACK, work_dir=Path("/tmp/w"))
    assert settings.webhook_url is not None and settings.webhook_url.get_secret_value() == SLACK
    stored = publish_conference.serialize_parameters({"source": "talk.mp4", "settings": settings})
    for text in (str(stored), str(jsonable_encoder(settings)), settings.model_dump_json(), repr(settings),
                 str(settings)):
        assert PATH_TOKEN not in text
    assert stored["settings"]["work_dir"] == "/tmp/w", "the other settings still travel"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/hook", "javascript:alert(1)",
                                 "hooks.slack.com/services/x", "http://"])
def test_a_webhook_that_is_not_http_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(webhook_url=url)
    message = str(caught.value)
    assert "\n" not in message and "webhook_url" in message and "http" in message
    assert "passwd" not in message and "slack" not in message, "the refused URL (a secret) is not repeated"
    assert load_settings(webhook_url="https://chat.example.org/hook").webhook_url is not None
    assert load_settings(webhook_url="http://127.0.0.1:9/hook").webhook_url is not None


def test_the_cli_refuses_a_file_webhook_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("webhook_url: file:///etc/passwd\n", encoding="utf-8")
    result = subprocess.run([CONFCAST, "cleanup", "--config", str(config), "--work-dir", str(tmp_path / "w")],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert result.stderr.startswith("confcast: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "webhook_url" in result.stderr and "passwd" not in result.stderr


def test_send_webhook_never_raises_nor_reads_a_file(tmp_path: Path) -> None:
    local = tmp_path / "secret.txt"
    local.write_text("local file\n", encoding="utf-8")
    problem = send_webhook(local.as_uri(), Notice(event="failed", source="x.mp4"), delays=())
    assert problem is not None and "http" in problem and str(local) not in problem
    assert send_webhook("http://[::1", Notice(event="failed", source="x.mp4"), delays=()) is not None


def test_a_webhook_url_is_redacted_to_its_host() -> None:
    assert redact_url(SLACK) == "https://hooks.slack.com/…"
    assert redact_url(f"http://user:pw@127.0.0.1:8080/hook/{PATH_TOKEN}?t={QUERY_TOKEN}") == "http://127.0.0.1:8080/…"
    assert redact_url("https://chat.example.org") == "https://chat.example.org/…"


@pytest.mark.parametrize(
    "text", [HOSTILE_TITLE, "a](javascript:x) <script>x</script> *b* _c_ `d` # e | f ![g](h) <http://x> &amp;"]
)
def test_escape_markdown_leaves_text_as_text(text: str) -> None:
    escaped = escape_markdown(text)
    assert not {"<", ">", "\n"} & set(escaped), "HTML characters become entities"
    assert "](" not in escaped and "![" not in escaped, "no link or image can form"
    for special in "*_`|[]()#!":
        assert escaped.count(special) == escaped.count("\\" + special), f"every {special} is backslashed"
    assert escape_markdown("line one\n# heading\n") == "line one \\# heading"
    assert escape_markdown("Matériel libre") == "Matériel libre"


def test_the_run_summary_shows_what_whisper_and_the_settings_said_as_text() -> None:
    from confcast.tasks.models import Transcript
    from confcast.tasks.transcription.transcribe import summary_markdown

    hostile = Transcript(language="<b>fr</b>", language_probability=0.3, duration_s=1.0, segments=(),
                         engine="faster-whisper", model="[x](javascript:alert(1)) <img src=x onerror=alert(1)>")
    summary = summary_markdown(hostile, None, "https://example.org/conferences/x/index.html")
    assert "<img" not in summary and "<b>" not in summary and "](javascript" not in summary
    assert "| Page | <https://example.org/conferences/x/index.html> |" in summary


# --- a full run ------------------------------------------------------------------------------------


def prefect_outputs(flow_name: str) -> tuple[list[str], list[str], list[str]]:
    """Parameters, log lines and artifacts of the newest run of this flow, read back from the Prefect API."""
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
        (run,) = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                                       sort=FlowRunSort.START_TIME_DESC, limit=1)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
    assert logs, "the run left logs on the Prefect server"
    return [str(run.parameters)], [log.message for log in logs], [f"{a.data} {a.description}" for a in artifacts]


@pytest.mark.slow
def test_no_output_of_a_full_run_holds_the_credentials(
    prefect_server, s3_env: LocalS3Server, bucket_name: str, short_sample, tmp_path: Path
) -> None:
    secrets = [s3_env.secret_key, s3_env.access_key, PATH_TOKEN, QUERY_TOKEN]
    work = tmp_path / "work"
    with webhook_receiver() as receiver:
        env = {**os.environ, "CONFCAST_KEEP_WORK": "true", "CONFCAST_WEBHOOK_URL": receiver.url}
        result = subprocess.run(
            [CONFCAST, "publish", str(short_sample.path), "--title", HOSTILE_TITLE, "--language", "fr", "--verbose",
             "--to", f"s3://{bucket_name}/site", "--work-dir", str(work)],
            capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        assert receiver.events() == [("published", short_sample.path.name)], "a CLI run still calls the webhook"
        assert receiver.received[0]["title"] == HOSTILE_TITLE
        outputs = {"stdout": result.stdout, "stderr": result.stderr}

        client = boto3.client("s3")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket_name):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=bucket_name, Key=item["Key"])["Body"].read()
                outputs[f"s3://{item['Key']}"] = body.decode("latin-1")
        for path in work.rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000 and "models" not in path.parts:
                outputs[str(path)] = path.read_bytes().decode("latin-1")
        parameters, logs, artifacts = prefect_outputs("publish-conference")
        assert "Published" in " ".join(logs)
        for index, text in enumerate(parameters + logs + artifacts):
            outputs[f"prefect #{index}"] = text
        assert len(outputs) > 20
        for secret in secrets:
            leaks = [name for name, text in outputs.items() if secret in text]
            assert not leaks, f"a credential appears in {leaks}"
        assert "Secrets" in parameters[0], "the run's other parameters are stored"
        for artifact in artifacts:  # a title is text in the Prefect UI too: no markup of its own
            assert "<img" not in artifact and "](javascript" not in artifact, artifact
        assert any("Secrets" in artifact for artifact in artifacts)

        receiver.status = 404  # the receiver refuses: no retry, one warning in the run's logs, the token redacted
        failed = subprocess.run(
            [CONFCAST, "publish", str(short_sample.path), "--to", f"s3://{bucket_name}/other", "--work-dir",
             str(work)],
            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
            env={**env, "AWS_SECRET_ACCESS_KEY": "wrong-" + s3_env.secret_key},
        )
        assert failed.returncode != 0
        assert s3_env.secret_key not in failed.stderr and "wrong-" not in failed.stderr
        assert len([line for line in failed.stderr.splitlines() if line.startswith("confcast: error:")]) == 1
        assert receiver.events()[-1] == ("failed", short_sample.path.name)
        parameters, logs, artifacts = prefect_outputs("publish-conference")
        warning = [line for line in logs if "webhook" in line and "failed after" in line]
        assert warning and "/…" in warning[0] and "HTTP 404" in warning[0], logs
        for secret in secrets:
            assert not [text for text in parameters + logs + artifacts + [failed.stderr] if secret in text]
