"""The `publish-conference` flow: probe, transcode and transcribe side by side, write captions, publish.

Each step is a thin Prefect task around a plain function of `tasks/`; the flow itself only composes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from importlib import metadata as package_metadata
from pathlib import Path

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from confcast.config.settings import Settings, load_settings
from confcast.flows.concurrency import one_transcription_per_host, one_writer_per_site
from confcast.flows.hooks import notify_webhook
from confcast.flows.targets import Target, resolve_target
from confcast.tasks.transcription import captions
from confcast.tasks.media import hls
from confcast.tasks.media import transcode as media
from confcast.tasks.transcription import transcribe
from confcast.config.ladder import DEFAULT_LADDER
from confcast.tasks.media.diskspace import check_free_space, estimate_work_bytes
from confcast.tasks.site.layout import Generator, build_manifest, conference_prefix
from confcast.tasks.site.layout import file_tag as media_file_tag
from confcast.tasks.metadata import build_meta
from confcast.tasks.models import Conference, ConferenceMeta, HlsLadder, Probe, Transcript, TranscriptFiles
from confcast.tasks.site.publish import publish_conference_files, read_manifest
from confcast.tasks.stagecache import FolderClaim, StageCache, remove_if_unused, run_once, stage_key
from confcast.tasks.storage.objects import Storage

ENGINE_PACKAGES = {"faster-whisper": ("faster-whisper", "ctranslate2"), "openai-whisper": ("openai-whisper", "torch")}


@dataclasses.dataclass
class RunReport:
    """Where a run's time went and what it uploaded: filled while `recording_run()` is active (`confcast bench`).

    `stages` maps a stage to its (start, end) intervals in epoch seconds (a stage may run twice: translate);
    stages run side by side (transcode with speech and transcribe), so intervals may overlap.
    """

    stages: dict[str, list[tuple[float, float]]] = dataclasses.field(default_factory=dict)
    uploaded_bytes: int = 0
    uploads: int = 0

    def add_stage(self, stage: str, start: float, end: float) -> None:
        self.stages.setdefault(stage, []).append((start, end))

    def add_upload(self, size: int) -> None:
        self.uploaded_bytes += size
        self.uploads += 1


# The report being recorded, if any; Prefect's task threads run in a copy of the caller's context, so they see it.
_RUN_REPORT: ContextVar[RunReport | None] = ContextVar("confcast_run_report", default=None)


@contextlib.contextmanager
def recording_run() -> Iterator[RunReport]:
    """Record stage times and uploaded bytes of the flow runs started inside this block."""
    report = RunReport()
    token = _RUN_REPORT.set(report)
    try:
        yield report
    finally:
        _RUN_REPORT.reset(token)


@contextlib.contextmanager
def timed_stage(stage: str) -> Iterator[None]:
    """Adds this block's wall time to the report being recorded (nothing when none is)."""
    start = time.time()
    try:
        yield
    finally:
        report = _RUN_REPORT.get()
        if report is not None:
            report.add_stage(stage, start, time.time())


class CountedUploads:
    """A storage that adds every upload's size to a run report, then passes it on."""

    def __init__(self, storage: Storage, report: RunReport) -> None:
        self._storage = storage
        self._report = report

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        self._storage.put_file(key, path, content_type)
        self._report.add_upload(Path(path).stat().st_size)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._storage.put_bytes(key, data, content_type)
        self._report.add_upload(len(data))

    def __getattr__(self, name: str) -> object:
        return getattr(self._storage, name)


def counted(storage: Storage) -> Storage:
    report = _RUN_REPORT.get()
    return storage if report is None else CountedUploads(storage, report)  # type: ignore[return-value]


class StageProgress:
    """Reports a stage's progress: a Prefect progress artifact, and lines on stderr when asked."""

    ARTIFACT_EVERY_S = 10.0  # a few updates a minute
    TERMINAL_STEP = 10  # percent

    def __init__(self, stage: str, terminal: bool) -> None:
        self.stage = stage
        self.terminal = terminal
        self.artifact_id = create_progress_artifact(0.0, description=f"{stage}: progress in percent")
        self.last_artifact = time.monotonic()
        self.last_printed = -self.TERMINAL_STEP

    def __call__(self, fraction: float) -> None:
        percent = max(0.0, min(100.0, fraction * 100))
        now = time.monotonic()
        if percent >= 100 or now - self.last_artifact >= self.ARTIFACT_EVERY_S:
            update_progress_artifact(self.artifact_id, percent)
            self.last_artifact = now
        if self.terminal and (percent >= self.last_printed + self.TERMINAL_STEP or percent >= 100 > self.last_printed):
            self.last_printed = int(percent // self.TERMINAL_STEP * self.TERMINAL_STEP)
            print(f"confcast: {self.stage} {percent:5.1f}%", file=sys.stderr, flush=True)


@task(name="probe-recording", cache_policy=NO_CACHE)
def probe_recording(source: Path) -> Probe:
    with timed_stage("probe"):
        return media.probe_recording(source)


@task(name="transcode-video", cache_policy=NO_CACHE)
def transcode_video(
    probe: Probe, run_dir: Path, show_progress: bool, title: str | None = None
) -> tuple[media.VideoOutputs, Path | None]:
    """The HLS ladder, download MP4, poster and thumbnails in one decode; then the podcast audio (if any sound).
    An audio-only recording gets a title card (so the title is part of the stage's key)."""

    def make() -> tuple[media.VideoOutputs, Path | None]:
        progress = StageProgress("transcode", show_progress)
        video = media.make_video(probe, run_dir, progress, title=card_title)
        audio = media.make_podcast_audio(probe, run_dir / "audio.m4a") if probe.main_audio is not None else None
        return video, audio

    card_title = title if probe.video is None else None
    key = stage_key(probe.source.sha256, DEFAULT_LADDER, package_version("confcast"), card_title)
    result_type = tuple[media.VideoOutputs, Path | None]
    with timed_stage("transcode"):
        outputs, reused = run_once(StageCache(run_dir / "stages"), "transcode", key, result_type, make)
    report_reuse("transcode", reused, show_progress)
    return outputs


@task(name="add-hls-subtitles", cache_policy=NO_CACHE)
def add_hls_subtitles(ladder: HlsLadder, tracks: list[TranscriptFiles], duration_s: float) -> HlsLadder:
    with timed_stage("subtitles"):
        return hls.add_subtitles(ladder, [(files.lang, files.vtt) for files in tracks], duration_s)


@task(name="extract-speech", cache_policy=NO_CACHE)
def extract_speech(probe: Probe, run_dir: Path) -> Path:
    key = stage_key(probe.source.sha256, package_version("confcast"))
    with timed_stage("speech"):
        speech, _ = run_once(
            StageCache(run_dir / "stages"), "speech", key, Path, lambda: media.extract_speech(probe, run_dir / "speech.wav")
        )
    return speech


def whisper_temperatures(settings: Settings) -> tuple[float, ...]:
    """Whisper's temperature fallback, or one pass at temperature 0 when the operator turned it off."""
    return transcribe.TEMPERATURES if settings.whisper_temperature_fallback else (0.0,)


@task(name="transcribe-speech", cache_policy=NO_CACHE)
def transcribe_speech(
    speech: Path, language: str, settings: Settings, show_progress: bool, task: str = "transcribe"
) -> Transcript:
    """Whisper on the speech (task "translate": English from any language), one transcription per host."""
    stage = "translate" if task == "translate" else "transcribe"

    def run_whisper() -> Transcript:
        with one_transcription_per_host(settings.host_name):
            progress = StageProgress(stage, show_progress)
            transcript = transcribe.transcribe_audio(
                speech,
                engine=settings.whisper_engine,
                model=settings.whisper_model,
                cache_dir=settings.work_path,
                language=language,
                task=task,
                device=settings.whisper_device,
                compute_type=settings.whisper_compute_type,
                threads=settings.whisper_threads,
                temperatures=whisper_temperatures(settings),
                on_progress=progress,
            )
            progress(1.0)
        return transcript

    whisper_settings = (
        settings.whisper_engine,
        settings.whisper_model,
        settings.whisper_compute_type,
        settings.whisper_temperature_fallback,
    )
    key = stage_key(file_digest(speech), language, task, whisper_settings, package_version("confcast"))
    return transcript_stage(stage, key, speech, run_whisper, show_progress)


def transcript_stage(
    stage: str, key: str, speech: Path, make: Callable[[], Transcript], show_progress: bool
) -> Transcript:
    """A transcription stage run once (or its earlier result reused), then a doubtful language detection flagged."""
    with timed_stage(stage):
        transcript, reused = run_once(StageCache(speech.parent / "stages"), stage, key, Transcript, make)
    report_reuse(stage, reused, show_progress)
    warning = transcribe.language_warning(transcript)
    if warning:
        get_run_logger().warning(warning)
        if show_progress:
            print(f"confcast: warning: {warning}", file=sys.stderr, flush=True)
    return transcript


@task(name="write-captions", cache_policy=NO_CACHE)
def write_captions(transcript: Transcript, run_dir: Path, translated_from: str | None = None) -> TranscriptFiles:
    with timed_stage("captions"):
        if translated_from is None:
            return captions.write_transcript_files(transcript, run_dir / "text")
        note = captions.translation_note(translated_from)
        return captions.write_transcript_files(transcript, run_dir / "translation", note=note)


def transcription_task(settings: Settings, storage_url: str) -> Task:
    """transcribe_speech, or with `transcription_deployment` set the task that hands over to that deployment's pool
    (flows/transcription.py, loaded only then: it imports this module)."""
    if not settings.transcription_deployment:
        return transcribe_speech
    from confcast.flows.transcription import transcription_task as remote_transcription_task

    return remote_transcription_task(settings, storage_url)


def report_reuse(stage: str, reused: bool, show_progress: bool) -> None:
    if reused:
        get_run_logger().info("%s: reused the finished result of an earlier run", stage)
        if show_progress:
            print(f"confcast: {stage} already done, reused", file=sys.stderr, flush=True)


def run_folder(work_path: Path, source_sha256: str) -> Path:
    """A recording's work folder: named by its content, so that a re-run of the same recording finds it."""
    return work_path / "runs" / source_sha256[:16]


def file_digest(path: Path) -> str:
    """The speech's own hash: a transcript depends on the audio it heard, whatever recording it came from."""
    return media_file_tag(path)


def run_fingerprint(meta: ConferenceMeta, probe: Probe, settings: Settings) -> str:
    """Everything that decides what a publication holds; equal fingerprints mean an unchanged conference."""
    output_settings = settings.model_dump(
        include={"whisper_engine", "whisper_model", "whisper_compute_type", "translate", "site_title", "site_language"}
    )
    return stage_key(probe.source.sha256, meta, output_settings, DEFAULT_LADDER, package_version("confcast"))


@task(name="check-published", cache_policy=NO_CACHE)
def published_unchanged(target: Target, slug: str, sha256: str, fingerprint: str) -> str | None:
    """The page URL when this very conference is already published from the same recording and settings."""
    with timed_stage("check"):
        storage = target.open()
        manifest = read_manifest(storage, slug)
    if manifest is None or manifest.source.sha256 != sha256 or manifest.generator.fingerprint != fingerprint:
        return None
    return storage.public_url(f"{conference_prefix(slug)}/{manifest.page}")


def wants_translation(transcript: Transcript, target: str | None) -> bool:
    """A translated track is worth making when asked for, into another language, and there is speech."""
    wanted = bool(target) and transcript.language not in (target, transcribe.UNDETERMINED)
    return wanted and bool(transcript.segments)


@task(name="publish-files", cache_policy=NO_CACHE)
def publish_files(conference: Conference, target: Target, settings: Settings, fingerprint: str) -> str:
    generator = Generator(
        fingerprint=fingerprint,
        version=package_version("confcast"),
        engine=conference.transcript.engine if conference.transcript else "",
        model=conference.transcript.model if conference.transcript else "",
        versions={
            name: package_version(name) for name in (*ENGINE_PACKAGES[settings.whisper_engine], "prefect", "boto3")
        },
    )
    manifest = build_manifest(conference, published_at=dt.datetime.now(dt.timezone.utc), generator=generator)
    storage = counted(target.open())
    # One writer at a time per site (any host): two runs of one conference never mix, and two conferences
    # published at once never lose each other's catalog, feed or search entries.
    with timed_stage("publish"), one_writer_per_site(storage.url):
        return publish_conference_files(
            storage,
            conference,
            manifest,
            site_title=settings.site_title,
            site_language=settings.site_language,
        )


def package_version(name: str) -> str:
    try:
        return package_metadata.version(name)
    except package_metadata.PackageNotFoundError:
        return "unknown"


@flow(
    name="publish-conference",
    task_runner=ThreadPoolTaskRunner(max_workers=3),
    validate_parameters=False,
    on_completion=[notify_webhook],
    on_failure=[notify_webhook],
)
def publish_conference(
    source: str,
    title: str | None = None,
    date: str | None = None,
    speakers: list[str] | None = None,
    description: str | None = None,
    language: str | None = None,
    slug: str | None = None,
    settings: Settings | None = None,
    show_progress: bool = False,
) -> str:
    """Publish one recording; returns the public URL of its page."""
    settings = settings or load_settings()
    source_path = Path(source).expanduser()
    meta: ConferenceMeta = build_meta(
        source_path,
        title=title,
        date=date,
        speakers=speakers,
        description=description,
        language=language,
        slug=slug,
        default_language=settings.language,
    )
    probe = probe_recording(source_path)
    target = resolve_target(settings)
    transcriber = transcription_task(settings, target.storage_url)
    fingerprint = run_fingerprint(meta, probe, settings)
    unchanged_url = published_unchanged(target, meta.slug, probe.source.sha256, fingerprint)
    if unchanged_url is not None:  # a re-run of a published, unchanged conference costs nothing
        get_run_logger().info("Unchanged since its publication: nothing to encode or upload (%s)", unchanged_url)
        if show_progress:
            print("confcast: unchanged since its publication, nothing to do", file=sys.stderr, flush=True)
        return unchanged_url
    run_dir = run_folder(settings.work_path, probe.source.sha256)
    claim = FolderClaim(run_dir)  # kept on failure, for a retry that resumes; removed once published
    rungs = media.plan_ladder_job(probe).rungs
    needed = estimate_work_bytes(probe.duration_s, [r.video_bitrate for r in rungs], DEFAULT_LADDER.audio_bitrate)
    check_free_space(run_dir, needed, probe.source.filename)

    # Transcoding and transcription share only the probed input: run them side by side.
    video_future = transcode_video.submit(probe, run_dir, show_progress, meta.title)
    speech, transcript, files, translation, translations = None, None, None, None, ()
    if probe.main_audio is not None:  # a silent recording is published without captions, with a notice
        speech_future = extract_speech.submit(probe, run_dir)
        transcript_future = transcriber.submit(speech_future, meta.language, settings, show_progress)
        transcript = transcript_future.result()
        files = write_captions(transcript, run_dir)
        speech = speech_future.result()
        if wants_translation(transcript, settings.translate):  # the source language, detected or forced, is known
            translation = transcriber(speech, transcript.language, settings, show_progress, "translate")
            translations = (write_captions(translation, run_dir, translated_from=transcript.language),)
    video, audio = video_future.result()
    if files is not None:  # captions join the HLS master as a subtitle rendition once both sides are done
        ladder = add_hls_subtitles(video.ladder, [files, *translations], probe.duration_s)
        video = dataclasses.replace(video, ladder=ladder)

    conference = Conference(
        meta=meta,
        probe=probe,
        media=media.media_record(probe, video, audio, speech),
        transcript=transcript,
        transcript_files=files,
        translations=translations,
    )
    page_url = publish_files(conference, target, settings, fingerprint)
    if settings.transcription_deployment:
        from confcast.flows.transcription import remove_handover

        remove_handover(speech, settings)
    claim.release()
    if not settings.keep_work:
        remove_if_unused(run_dir)
    create_link_artifact(page_url, link_text=meta.title, description="Published conference page")
    if transcript is not None:
        create_markdown_artifact(
            transcribe.summary_markdown(transcript, translation, page_url), description="Run summary"
        )
    get_run_logger().info("Published %s", page_url)
    return page_url
