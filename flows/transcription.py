"""Transcription on its own work pool: the `transcribe-recording` flow, and the publishing side that hands over to it.

A publish-conference run with `transcription_deployment` set does not run Whisper itself. It uploads the speech
(16 kHz WAV) to the private handover location under its SHA-256, starts the transcription deployment (a subflow
in the UI) with S3 URIs only, waits, and reads the transcript JSON back. Any worker of the transcription pool (a
GPU host) can take the run: it downloads the speech into its own work folder and runs the same task as an
in-process publication (`transcribe_speech`: stage cache, one transcription per host), with its own engine, device
and compute type; the publishing run decides language, task and model.

Handover layout under `handover_url` (s3://bucket/prefix, private, never inside the published site):
    <speech sha256>/speech.wav
    <speech sha256>/transcript-<key>.json     key: language, task, model, confcast version (and the prompt)
Both sides look the transcript up first: a re-run after a finished remote transcription does not redo it. The
publishing run removes `<speech sha256>/` once the conference is published (kept with `keep_work`, and on failure,
for the retry).
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path

from prefect import Task, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import MissingContextError

from confcast.config.settings import Settings, load_settings
from confcast.flows.stage_tasks import transcribe_speech, transcript_stage
from confcast.flows.targets import report_retry, resolve_target
from confcast.tasks.errors import ConfcastError, ConfigError, TranscriptionError
from confcast.tasks.fingerprint import package_version
from confcast.tasks.models import Transcript
from confcast.tasks.site.layout import file_sha256
from confcast.tasks.stagecache import FolderClaim, remove_if_unused, stage_key
from confcast.tasks.storage.base import Storage, StorageTarget, parse_storage_url
from confcast.tasks.storage.folder import FileStorage
from confcast.tasks.storage.s3 import S3Storage

TRANSCRIPTION_DEPLOYMENT = "transcribe-recording/transcribe-recording"
DEFAULT_HANDOVER_PREFIX = "handover"
SPEECH_NAME = "speech.wav"
POLL_S = 2.0


# --- the handover location (pure) -------------------------------------------------------------------


def _inside(prefix: str, parent: str) -> bool:
    """Whether keys under `prefix` are also under `parent` ("" is the whole bucket)."""
    return not parent or prefix == parent or prefix.startswith(parent + "/")


def handover_location(handover_url: str | None, storage_url: str) -> StorageTarget:
    """The private handover location: `handover_url`, or `<bucket>/handover` beside an s3:// site prefix.

    Refused (ConfigError, one line) inside the published site, which anyone can read; required when it cannot be
    derived safely (a site on a whole bucket, a file:// site, or a site prefix named `handover`)."""
    site = parse_storage_url(storage_url)
    if not handover_url:
        if site.scheme == "s3" and site.prefix and not _inside(DEFAULT_HANDOVER_PREFIX, site.prefix):
            derived = f"s3://{site.bucket}/{DEFAULT_HANDOVER_PREFIX}"
            if not _inside(site.prefix, DEFAULT_HANDOVER_PREFIX):
                return parse_storage_url(derived)
        raise ConfigError(
            f"transcription on another work pool needs handover_url (CONFCAST_HANDOVER_URL), a private "
            f"s3://bucket/prefix outside the published site {site.url}, where both pools hand over the speech"
        )
    try:
        handover = parse_storage_url(handover_url)
    except ConfigError as error:
        raise ConfigError(f"handover_url: {error}") from None
    if handover.scheme == "s3" and site.scheme == "s3" and handover.bucket == site.bucket:
        if _inside(handover.prefix, site.prefix):
            todo = (
                f"use a prefix outside it (e.g. s3://{site.bucket}/{DEFAULT_HANDOVER_PREFIX})" if site.prefix
                else "use another bucket"
            )
            raise ConfigError(
                f"handover_url {handover.url} lies inside the published site {site.url}, which anyone can read: "
                f"the speech handed over there would be public; {todo}"
            )
    if handover.scheme == "file" and site.scheme == "file":
        assert handover.root is not None and site.root is not None
        if handover.root == site.root or handover.root.is_relative_to(site.root):
            raise ConfigError(
                f"handover_url {handover.url} lies inside the published site {site.url}: the speech handed over "
                "there would be public; use a folder outside it"
            )
    return handover


def object_uri(location: StorageTarget, key: str) -> str:
    """`s3://bucket/prefix/key` (or `file:///dir/key`) of a key under a location."""
    return f"{location.url.rstrip('/')}/{key}"


def speech_key(speech_sha256: str) -> str:
    return f"{speech_sha256}/{SPEECH_NAME}"


def transcript_key(
    speech_sha256: str, language: str, task: str, model: str, version: str, prompt: str | None = None
) -> str:
    """Content-addressed: the same speech, language, task, model, confcast version and prompt give the same key."""
    parts = (speech_sha256, language, task, model, version)
    key = stage_key(*parts, prompt) if prompt else stage_key(*parts)
    return f"{speech_sha256}/transcript-{key}.json"


def split_object_uri(uri: str) -> tuple[StorageTarget, str]:
    """`s3://bucket/some/key.json` -> (the location s3://bucket/some, "key.json"); file:// alike."""
    folder, _, name = str(uri).rpartition("/")
    if not name or "://" not in folder:
        raise ConfigError(f"{uri!r} is not an object URI; use s3://bucket/key or file:///dir/name")
    if folder.endswith(":/") or folder.endswith("://"):  # s3://bucket-only forms have no key
        raise ConfigError(f"{uri!r} names no object; use s3://bucket/key or file:///dir/name")
    return parse_storage_url(folder), name


# --- reading and writing handover objects ------------------------------------------------------------


def open_location(location: StorageTarget, settings: Settings) -> Storage:
    """A private storage on the handover location (the target's endpoint and S3 retry budget)."""
    if location.scheme == "file":
        return FileStorage(location)
    return S3Storage(
        location,
        endpoint_url=settings.s3_endpoint_url,
        public_read=False,
        retry_seconds=settings.s3_retry_seconds,
        on_retry=report_retry,
    )


def fetch_object(uri: str, path: Path, settings: Settings) -> None:
    """Copy the object at `uri` into a local file; a missing object is a TranscriptionError naming it."""
    location, name = split_object_uri(uri)
    storage = open_location(location, settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(storage, S3Storage):
        found = storage.download_file(name, path)
    else:
        source = storage.path_for(name)
        found = source.is_file()
        if found:
            partial = path.with_name(path.name + ".partial")
            shutil.copyfile(source, partial)
            partial.replace(path)
    if not found:
        raise TranscriptionError(
            f"no speech at {uri}: the publishing run removed it or never uploaded it; run it again"
        )


def read_transcript(uri: str, settings: Settings) -> Transcript | None:
    location, name = split_object_uri(uri)
    data = open_location(location, settings).get_bytes(name)
    if data is None:
        return None
    try:
        return Transcript.model_validate_json(data)
    except ValueError:
        return None  # unreadable (an older format): transcribe again


def write_transcript(uri: str, transcript: Transcript, settings: Settings) -> None:
    location, name = split_object_uri(uri)
    data = transcript.model_dump_json().encode("utf-8")
    open_location(location, settings).put_bytes(name, data, "application/json; charset=utf-8")


# --- the transcribe-recording flow (on the transcription pool's workers) ---------------------------------


@flow(name="transcribe-recording", validate_parameters=False)
def transcribe_recording(
    speech_uri: str,
    result_uri: str,
    language: str = "auto",
    task: str = "transcribe",
    model: str | None = None,
    settings: Settings | None = None,
    prompt: str | None = None,
) -> str:
    """Transcribe the speech WAV at `speech_uri` (s3:// or file://) and write the Transcript JSON to `result_uri`;
    returns `result_uri`. Engine, device, compute type and threads are this worker's settings; `model` (default:
    this worker's) and `prompt` (the talk's vocabulary) are the publishing run's choice."""
    settings = settings or load_settings()
    if model:
        settings = settings.model_copy(update={"whisper_model": model})
    logger = get_run_logger()
    if read_transcript(result_uri, settings) is not None:
        logger.info("Transcript already at %s: nothing to do", result_uri)
        return result_uri
    work = settings.work_path / "transcriptions" / stage_key(speech_uri)
    claim = FolderClaim(work)  # another run of the same speech on this host keeps the folder until both are done
    speech = work / SPEECH_NAME
    if not speech.is_file():
        fetch_object(speech_uri, speech, settings)
    transcript = transcribe_speech(speech, language, settings, False, task, prompt)
    write_transcript(result_uri, transcript, settings)
    logger.info("Transcript of %s (%s, %s) written to %s", speech_uri, transcript.language, task, result_uri)
    claim.release()
    if not settings.keep_work:
        remove_if_unused(work)
    return result_uri


# --- the publishing side ---------------------------------------------------------------------------


def handover_storage(settings: Settings) -> tuple[StorageTarget, Storage]:
    """The checked handover location and a private storage on it (bucket created if missing, policy checked)."""
    location = handover_location(settings.handover_url, resolve_target(settings).storage_url)
    storage = open_location(location, settings)
    if isinstance(storage, S3Storage):
        storage.prepare()  # creates the bucket if missing; public_read=False leaves the policy alone
        statement = storage.public_statement_for(speech_key("0" * 64))
        if statement is not None:
            raise ConfigError(
                f"handover_url {location.url} is publicly readable (bucket policy statement {statement}): the "
                "speech handed over there would be public; use a private prefix or another bucket"
            )
    return location, storage


@task(name="transcribe-on-pool", cache_policy=NO_CACHE)
def transcribe_on_pool(
    speech: Path,
    language: str,
    settings: Settings,
    show_progress: bool,
    task: str = "transcribe",
    prompt: str | None = None,
) -> Transcript:
    """Hand the speech over to the `transcription_deployment` and wait for its transcript (see the module)."""
    deployment = settings.transcription_deployment or TRANSCRIPTION_DEPLOYMENT
    stage = "translate" if task == "translate" else "transcribe"
    sha = file_sha256(speech)
    parts = (sha, language, task, settings.whisper_model, package_version("confcast"), "remote")
    key = stage_key(*parts, prompt) if prompt else stage_key(*parts)

    def run_remotely() -> Transcript:
        location, storage = handover_storage(settings)
        result_uri = object_uri(location, transcript_key(sha, language, task, settings.whisper_model,
                                                         package_version("confcast"), prompt))
        found = read_transcript(result_uri, settings)
        if found is not None:
            get_run_logger().info("%s: transcript already handed back at %s", stage, result_uri)
            return found
        speech_uri = object_uri(location, speech_key(sha))
        if speech_key(sha) not in storage.list_keys(f"{sha}/"):  # a translation follows its transcription
            storage.put_file(speech_key(sha), speech, "audio/wav")
        if show_progress:
            print(f"confcast: {stage} on {deployment}, waiting for a worker", file=sys.stderr, flush=True)
        parameters = {"speech_uri": speech_uri, "result_uri": result_uri, "language": language, "task": task,
                      "model": settings.whisper_model}
        if prompt:  # older workers know no prompt parameter: sent only when there is one
            parameters["prompt"] = prompt
        return wait_for_remote(deployment, parameters, result_uri, settings)

    return transcript_stage(stage, key, speech, run_remotely, show_progress)


def wait_for_remote(deployment: str, parameters: dict[str, str], result_uri: str, settings: Settings) -> Transcript:
    """Run the deployment as a subflow, wait for it, read its transcript; one clear line when it fails."""
    try:
        run = run_deployment(deployment, parameters=parameters, timeout=0, as_subflow=True)
    except Exception as error:  # the server or the deployment is missing
        raise TranscriptionError(
            f"could not start transcription deployment {deployment} ({' '.join(str(error).split())}); deploy it "
            "from prefect.yaml (prefect deploy --name transcribe-recording) or unset transcription_deployment"
        ) from None
    run_logger().info(
        "Transcription run %s of %s started; waiting for a worker of work pool %s",
        run.name, deployment, run.work_pool_name or "(none)",
    )
    deadline = time.monotonic() + settings.transcription_wait_hours * 3600
    with get_client(sync_client=True) as client:
        while not (run.state is not None and run.state.is_final()) and time.monotonic() < deadline:
            time.sleep(POLL_S)
            run = client.read_flow_run(run.id)
    state = run.state
    if state is None or not state.is_final():
        raise TranscriptionError(
            f"transcription run {run.name} ({run.id}) of deployment {deployment} not finished after "
            f"{settings.transcription_wait_hours:g} h (state {state.name if state else 'none'}); is a worker "
            f"polling its work pool {run.work_pool_name or ''}?"
        )
    if not state.is_completed():
        message = " ".join(str(state.message or "").split())
        raise TranscriptionError(
            f"transcription run {run.name} ({run.id}) of deployment {deployment} ended {state.name}: {message}"
        )
    transcript = read_transcript(result_uri, settings)
    if transcript is None:
        raise TranscriptionError(
            f"transcription run {run.name} ({run.id}) of deployment {deployment} completed but left no transcript "
            f"at {result_uri}"
        )
    return transcript


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The flow run's logger, or confcast's plain one outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("confcast")


def remove_handover(speech: Path | None, settings: Settings) -> None:
    """Remove the speech and transcripts handed over for this run, once published (kept with keep_work). The page
    is out by then: a failure here is a warning, the objects are left for `confcast`'s next run to reuse."""
    if speech is None or settings.keep_work or not settings.transcription_deployment or not speech.is_file():
        return
    try:
        _, storage = handover_storage(settings)
        sha = file_sha256(speech)
        storage.delete_keys(storage.list_keys(f"{sha}/"))
    except ConfcastError as error:
        run_logger().warning("handover objects left in place: %s", error)


def transcription_task(settings: Settings, storage_url: str) -> Task:
    """The task that transcribes for publish-conference: here (transcribe_speech), or on the transcription pool
    when `transcription_deployment` is set (then the handover location is checked now, before any work)."""
    if not settings.transcription_deployment:
        return transcribe_speech
    handover_location(settings.handover_url, storage_url)
    return transcribe_on_pool
