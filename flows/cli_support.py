"""The plumbing every `confcast` command shares (flows/cli.py and flows/bench.py): options, settings, one-line
errors, and Prefect's environment set before Prefect starts.

Prefect reads its environment when first imported, so `prepare_prefect` sets it (flows/prefect_env.py) and only
then imports Prefect; that is the one import here inside a function.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from confcast.config.settings import Settings, load_settings
from confcast.flows.prefect_env import configure_prefect
from confcast.tasks.errors import ConfcastError, ConfigError
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.metadata import build_meta
from confcast.tasks.storage.base import check_public_scope, parse_storage_url
from confcast.tasks.storage.folder import work_folder_problem

ConfigOption = Annotated[
    Optional[Path],
    typer.Option(
        "--config",
        help="YAML settings file (default: $CONFCAST_CONFIG or ~/.config/confcast/config.yaml).",
    ),
]
ToOption = Annotated[
    Optional[str],
    typer.Option(
        "--to",
        help="Where to publish: s3://bucket/prefix or file:///dir. Default: the embedded local S3 server.",
    ),
]
EndpointOption = Annotated[
    Optional[str],
    typer.Option("--endpoint-url", help="S3 endpoint URL (else CONFCAST_S3_ENDPOINT_URL or AWS_ENDPOINT_URL)."),
]
WorkDirOption = Annotated[
    Optional[Path],
    typer.Option(
        "--work-dir",
        help="Work folder for intermediate files and caches (default ~/.cache/confcast).",
    ),
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs and full tracebacks.")]


def fail(message: str) -> None:
    typer.echo(f"confcast: error: {message}", err=True)
    raise typer.Exit(1)


def quiet_prefect_console() -> None:
    """Keep Prefect's console logs (and their tracebacks) off the terminal; they still reach the Prefect API."""
    import prefect.main  # noqa: F401 - sets up Prefect's logging, whose console handler is quieted here
    from prefect.logging.handlers import PrefectConsoleHandler

    for logger in [logging.getLogger(), *(logging.getLogger(name) for name in logging.root.manager.loggerDict)]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.CRITICAL + 1)


def prepare_prefect(settings: Settings, verbose: bool) -> None:
    """Prefect's environment first (before Prefect is imported), then its console logs off unless asked for."""
    configure_prefect(settings.work_path)
    if not verbose:
        quiet_prefect_console()


def check_before_flow(settings: Settings, parameters: dict) -> None:
    """Refuse a bad storage URL, bad metadata or an unreadable recording at once, before Prefect's start-up."""
    if settings.storage_url:  # e.g. a site at a bucket's root, which would make the whole bucket public
        check_public_scope(parse_storage_url(settings.storage_url), settings.public_whole_bucket)
    problem = work_folder_problem(settings.work_path, settings.storage_url)
    if problem:
        raise ConfigError(problem)
    source = Path(str(parameters["source"])).expanduser()
    meta_options = {
        key: parameters.get(key) for key in ("title", "date", "speakers", "description", "language", "slug")
    }
    build_meta(source, default_language=settings.language, **meta_options)
    probe_recording(source)  # a recording without sound is published too, without a transcript


def settings_or_fail(config: Path | None, **options: object) -> Settings:
    try:
        return load_settings(config, **options)
    except ConfcastError as error:
        fail(str(error))
        raise AssertionError("unreachable") from None


def guarded(verbose: bool, action):  # a tiny wrapper around any command body, untyped on purpose
    try:
        return action()
    except ConfcastError as error:
        fail(str(error))
    except KeyboardInterrupt:
        fail("interrupted; nothing more was published")
    except Exception as error:  # an unexpected failure still gets one line, unless asked for details
        if verbose:
            raise
        fail(f"unexpected {type(error).__name__}: {error}; run again with --verbose for details")
