"""Prefect state hooks of the publish flow: tell the configured webhook how a run ended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.logging import get_logger

from confcast.config.settings import Settings, load_settings
from confcast.tasks.notify import Notice, send_webhook


def run_settings(parameters: dict[str, Any]) -> Settings:
    given = parameters.get("settings")
    if isinstance(given, Settings):
        return given
    if isinstance(given, dict):
        return Settings(**given)
    return load_settings()


def notify_webhook(flow: Any, flow_run: Any, state: Any) -> None:
    """Send `published` or `failed` to settings.webhook_url; never raises (a webhook never fails a publication)."""
    parameters = dict(flow_run.parameters or {})
    try:
        settings = run_settings(parameters)
    except Exception:  # settings were good enough to run the flow; if not, there is nobody to tell
        return
    if not settings.webhook_url:
        return
    source = Path(str(parameters.get("source", ""))).name
    outcome = state.result(raise_on_failure=False)
    if state.is_completed():
        notice = Notice(event="published", source=source, slug=parameters.get("slug"), title=parameters.get("title"),
                        page_url=str(outcome))
    else:
        notice = Notice(event="failed", source=source, slug=parameters.get("slug"), title=parameters.get("title"),
                        error=" ".join(str(outcome).split()) or state.message)
    problem = send_webhook(settings.webhook_url, notice)
    if problem:
        get_logger("confcast.notify").warning(problem)
