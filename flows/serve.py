"""Deployments: `confcast serve` runs them in one long-lived process; prefect.yaml defines the same for work pools.

A served flow run happens in a child process that inherits this process's environment, so the settings given to
`confcast serve` (options, environment, config file) travel to every run as CONFCAST_* variables.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from prefect import serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from pydantic import SecretStr

from confcast.config.settings import Settings
from confcast.flows.event import EVENT_LINKS_DESCRIPTION, publish_event
from confcast.flows.inbox import scan_inbox
from confcast.flows.publish import publish_conference
from confcast.flows.site_admin import rebuild_site
from confcast.tasks.errors import ConfcastError

PUBLISH_DEPLOYMENT = "publish-conference/publish-conference"
EVENT_DEPLOYMENT = "publish-event/publish-event"
SCAN_DEPLOYMENT = "scan-inbox/scan-inbox"
REBUILD_DEPLOYMENT = "rebuild-site/rebuild-site"
PAGE_LINK_DESCRIPTION = "Published conference page"
# Every setting reaches served runs: the config file in force (CONFCAST_CONFIG) and, above it, the value of each
# setting as this process resolved it (command-line options such as --to are in no file, and override it).
SETTINGS_TO_EXPORT = tuple(Settings.model_fields)


def exported_environment(settings: Settings) -> dict[str, str]:
    """The CONFCAST_* variables that give a child process these very settings (secrets included: the process
    environment, never the deployment's parameters, which Prefect stores and shows)."""
    env: dict[str, str] = {}
    config_file = settings.model_config.get("yaml_file")  # set by load_settings when a file is in force
    if isinstance(config_file, (str, Path)):
        env["CONFCAST_CONFIG"] = str(Path(config_file).expanduser().resolve())
    for name in SETTINGS_TO_EXPORT:
        value = settings.work_path if name == "work_dir" else getattr(settings, name)  # absolute: any cwd
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:  # None is "not set" in every source: nothing to override
            env[f"CONFCAST_{name.upper()}"] = environment_value(value)
    return env


def environment_value(value: object) -> str:
    """A setting as pydantic-settings reads it back from the environment: JSON for lists, true/false, text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def export_settings(settings: Settings) -> None:
    """Put these settings into this process's environment, which every served flow run (a child) inherits."""
    os.environ.update(exported_environment(settings))


def deployments(settings: Settings) -> list[Any]:
    served = [
        publish_conference.to_deployment(name="publish-conference", description="Publish one recording."),
        publish_event.to_deployment(
            name="publish-event", description="Publish each talk of an evening's recording, then the event page."
        ),
        rebuild_site.to_deployment(name="rebuild-site", description="Regenerate pages, catalog, feed and search."),
    ]
    if settings.inbox_url:
        served.append(
            scan_inbox.to_deployment(
                name="scan-inbox",
                cron=settings.inbox_cron,
                parameters={"inbox": settings.inbox_url},
                description="Publish complete recordings dropped in the inbox.",
            )
        )
    return served


def serve_deployments(settings: Settings) -> None:
    export_settings(settings)
    serve(*deployments(settings), limit=1)  # one flow run at a time on this host: Whisper and ffmpeg fill the CPU


def run_served(deployment: str, parameters: dict[str, Any], timeout_s: float | None = None) -> FlowRun:
    """Run a served deployment on the Prefect server and wait for it; its flow run, completed."""
    wanted = {key: value for key, value in parameters.items() if value is not None}
    try:
        flow_run = run_deployment(deployment, parameters=wanted, timeout=timeout_s)
    except Exception as error:  # the server or the deployment is missing
        raise ConfcastError(
            f"could not start {deployment} on the Prefect server ({' '.join(str(error).split())}); "
            "run `confcast serve` with PREFECT_API_URL set to that server"
        ) from None
    state = flow_run.state
    if state is None or not state.is_completed():
        raise ConfcastError(failure_line(flow_run.name, state.message if state else None))
    return flow_run


def failure_line(run_name: str, message: str | None) -> str:
    """One line for a served run that did not complete: the error itself, without Prefect's wrapping of it."""
    text = " ".join(str(message or "no state").split())
    text = re.sub(r"^Flow run encountered an exception: (\w+Error: )?", "", text)
    return f"flow run {run_name} did not complete: {text}"


def links_of(flow_run: FlowRun, description: str) -> list[str]:
    """The addresses the flow run's own markdown artifacts of this description link to ("[text](url)", a line
    each; a link artifact is one such line), in order."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]), type=ArtifactFilterType(any_=["markdown"])
            )
        )
    return [
        line.rsplit("](", 1)[-1].removesuffix(")")
        for artifact in artifacts
        if (artifact.description or "").startswith(description)
        for line in str(artifact.data).splitlines()
        if "](" in line
    ]


def publish_via_server(parameters: dict[str, Any], timeout_s: float | None = None) -> str:
    """Run publish-conference as a deployment run on the Prefect server; returns the page URL it published."""
    flow_run = run_served(PUBLISH_DEPLOYMENT, parameters, timeout_s)
    links = links_of(flow_run, PAGE_LINK_DESCRIPTION)
    if not links:
        raise ConfcastError(f"flow run {flow_run.name} completed but left no page link artifact")
    return links[0]


def publish_event_via_server(parameters: dict[str, Any], timeout_s: float | None = None) -> list[str]:
    """Run publish-event as a deployment run on the Prefect server (every talk's slug checked on the served site
    before the first is published); returns the talks' page URLs, then the event page's."""
    flow_run = run_served(EVENT_DEPLOYMENT, parameters, timeout_s)
    links = links_of(flow_run, EVENT_LINKS_DESCRIPTION)
    if not links:
        raise ConfcastError(f"flow run {flow_run.name} completed but left no event links artifact")
    return links
