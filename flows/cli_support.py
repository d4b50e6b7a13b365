"""The plumbing every `confcast` command shares (flows/cli.py and flows/bench.py): options, settings, one-line
errors, and Prefect's environment set before Prefect starts.

Prefect reads its environment when first imported, so `prepare_prefect` sets it (flows/prefect_env.py) and only
then imports Prefect; that is the one import here inside a function.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from confcast.config.settings import Settings, load_settings
from confcast.flows.prefect_env import configure_prefect
from confcast.tasks.chapters.inputs import chapter_inputs
from confcast.tasks.errors import ConfcastError, ConfigError
from confcast.tasks.fingerprint import run_fingerprint
from confcast.tasks.media.cut import apply_cut
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.metadata import build_meta
from confcast.tasks.models import ConferenceMeta, Probe
from confcast.tasks.site.freshness import unchanged_page_url
from confcast.tasks.storage.base import Storage, check_public_scope, parse_storage_url
from confcast.tasks.storage.factory import open_storage
from confcast.tasks.storage.folder import work_folder_problem
from confcast.tasks.storage.s3 import S3Storage
from confcast.tasks.storage.seaweedfs import EMBEDDED_STORAGE_URL, running_local_s3, with_local_credentials

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


def start_prefect_beside(settings: Settings, verbose: bool) -> Callable[[], None]:
    """With no Prefect server configured, the first flow run starts a temporary one, which on a new database (a
    first run) takes 20 to 30 s to migrate; start it now, in the background, beside other work, and return what
    waits until it answers. With a server configured there is nothing to start or wait for."""
    prepare_prefect(settings, verbose)
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return lambda: None

    def start() -> None:
        from prefect.server.api.server import SubprocessASGIServer

        try:
            SubprocessASGIServer().start()  # the one the flow run's client then finds running
        except Exception:  # the flow run's client tries again, and says what is wrong
            logging.getLogger(__name__).debug("the temporary Prefect server did not start early", exc_info=True)

    early = threading.Thread(target=start, name="prefect-temporary-server", daemon=True)
    early.start()
    return early.join


def check_settings(settings: Settings) -> None:
    """Refuse a bad storage URL or work folder at once."""
    if settings.storage_url:  # e.g. a site at a bucket's root, which would make the whole bucket public
        check_public_scope(parse_storage_url(settings.storage_url), settings.public_whole_bucket)
    problem = work_folder_problem(settings.work_path, settings.storage_url)
    if problem:
        raise ConfigError(problem)


def check_before_flow(settings: Settings, parameters: dict) -> tuple[ConferenceMeta, Probe]:
    """Refuse a bad storage URL, bad metadata or an unreadable recording at once, before Prefect's start-up;
    returns the metadata and the probe (with the recording's hash) as the flow will make them."""
    check_settings(settings)
    source = Path(str(parameters["source"])).expanduser()
    meta_options = {
        key: parameters.get(key)
        for key in ("title", "date", "speakers", "description", "language", "slug", "start", "end", "vocabulary")
    }
    meta = build_meta(source, default_language=settings.language, **meta_options)
    chapter_inputs(source)  # bad chapters or a missing or broken slides PDF: one line, before Prefect starts
    probe = probe_recording(source)  # a recording without sound is published too, without a transcript
    return apply_cut(meta, probe)  # a talk trimmed out of the recording: its times checked against it


def unchanged_publication(settings: Settings, meta: ConferenceMeta, probe: Probe) -> str | None:
    """The page URL when this recording is published under its slug with the same metadata and settings (the
    flow's own unchanged check, done without Prefect: its temporary server takes 10-17 s to start). None for anything
    else, storage problems included: the run then decides, with its own retries and errors."""
    try:
        storage = quick_storage(settings)
        if storage is None:
            return None
        chapters = chapter_inputs(Path(probe.source.path)).key_parts()
        fingerprint = run_fingerprint(meta, probe.source.sha256, settings, chapters)
        return unchanged_page_url(storage, meta.slug, probe.source.sha256, fingerprint)
    except Exception:  # whatever it is, the run meets it again and says it properly
        return None


QUICK_TIMEOUT_S = 3.0  # an S3 endpoint that does not answer at once leaves the question to the run


def quick_storage(settings: Settings) -> Storage | None:
    """The configured storage with short timeouts and no retries, or the embedded local S3 server when it is
    already running (never started here: a run that needs it starts it); None when there is nothing to read."""
    if settings.storage_url:
        url, endpoint = settings.storage_url, settings.s3_endpoint_url
    else:
        server = running_local_s3(settings.work_path / "seaweedfs", settings.local_s3_port)
        if server is None:
            return None
        os.environ.update(with_local_credentials(server))  # as the run does (flows/targets.py): boto3's chain
        url, endpoint = EMBEDDED_STORAGE_URL, server.endpoint_url
    target = parse_storage_url(url)
    if target.scheme != "s3":
        return open_storage(url, public_base_url=settings.public_base_url)
    return S3Storage(
        target,
        endpoint_url=endpoint,
        public_base_url=settings.public_base_url,
        max_attempts=1,
        connect_timeout=QUICK_TIMEOUT_S,
        read_timeout=QUICK_TIMEOUT_S,
        public_whole_bucket=settings.public_whole_bucket,
    )


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
