"""Prefect state hooks of the publish flow: tell the configured webhook how a run ended.

The webhook URL is a secret and is never among the parameters Prefect stores (Settings excludes it), so the hook
takes it from the Settings object the run was given in this very process (a CLI or inbox run), else from this
process's own environment and config file (a served or deployed run: `confcast serve` exports its settings).

The slug and title are those of the built metadata (options, sidecar file, file name, as the flow builds them),
never the bare parameters: an inbox run gives none, and a title typed with a typo is not the slug published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect.context import FlowRunContext
from prefect.logging.loggers import flow_run_logger

from confcast.config.settings import Settings, load_settings
from confcast.tasks.metadata import build_meta
from confcast.tasks.models import ConferenceMeta
from confcast.tasks.notify import run_notice, send_webhook

META_PARAMETERS = ("title", "date", "speakers", "description", "language", "slug", "vocabulary")


def run_settings(flow_run: Any) -> Settings:
    """The settings of this run, secrets included."""
    context = FlowRunContext.get()  # hooks run inside their flow run's context, which holds the objects given
    if context is not None and context.flow_run is not None and context.flow_run.id == flow_run.id:
        given = (context.parameters or {}).get("settings")
        if isinstance(given, Settings):
            return given
    stored = (flow_run.parameters or {}).get("settings")
    if isinstance(stored, dict):  # what the server stored: everything but the secrets, which come from here
        return load_settings(**stored)
    return load_settings()


def run_meta(parameters: dict[str, Any], settings: Settings) -> ConferenceMeta | None:
    """The run's metadata built as the flow builds it; None when it cannot be (the failure being reported may be
    exactly that: a bad date, an unreadable sidecar)."""
    source = parameters.get("source")
    if not source:
        return None
    try:
        return build_meta(
            Path(str(source)).expanduser(),
            **{name: parameters.get(name) for name in META_PARAMETERS},
            default_language=settings.language,
        )
    except Exception:  # a webhook never fails a publication: a notice without slug and title still goes out
        return None


def notify_webhook(flow: Any, flow_run: Any, state: Any) -> None:
    """Send `published` or `failed` to settings.webhook_url; never raises (a webhook never fails a publication)."""
    parameters = dict(flow_run.parameters or {})
    try:
        settings = run_settings(flow_run)
    except Exception:  # settings were good enough to run the flow; if not, there is nobody to tell
        return
    if settings.webhook_url is None:
        return
    source = Path(str(parameters.get("source", ""))).name
    meta = run_meta(parameters, settings)
    outcome = state.result(raise_on_failure=False)
    if state.is_completed():
        notice = run_notice(source, meta, page_url=str(outcome))
    else:
        notice = run_notice(source, meta, error=" ".join(str(outcome).split()) or state.message)
    problem = send_webhook(settings.webhook_url.get_secret_value(), notice)
    if problem:  # in the run's own logs (the URL redacted), where the operator looks for what happened
        flow_run_logger(flow_run, flow).warning(problem)
