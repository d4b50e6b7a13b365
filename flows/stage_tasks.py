"""The Prefect tasks of a publication: each a thin wrapper around a plain function of `tasks/`, with what they share.

publish-conference (flows/publish.py) composes them; transcribe-recording (flows/transcription.py) runs the same
`transcribe_speech` on a transcription pool's worker. Task names (probe-recording, transcode-video, ...) are what
the Prefect UI shows and what `confcast bench pipeline` reads back from the task runs; renaming one is a change
the bench must follow (tasks/bench/pipeline.py, STAGES).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from confcast.config.ladder import DEFAULT_LADDER
from confcast.config.settings import Settings
from confcast.flows.concurrency import one_transcription_per_host, one_writer_per_site
from confcast.flows.targets import Target
from confcast.tasks.errors import MetadataError
from confcast.tasks.fingerprint import package_version
from confcast.tasks.media import audio as media_audio
from confcast.tasks.media import hls
from confcast.tasks.media import probe as media_probe
from confcast.tasks.media.video import VideoOutputs, make_video
from confcast.tasks.metadata import slug_conflict
from confcast.tasks.models import Conference, HlsLadder, Probe, Transcript, TranscriptFiles
from confcast.tasks.site.layout import Generator, Manifest, build_manifest, conference_prefix, manifest_key
from confcast.tasks.site.layout import file_tag as media_file_tag
from confcast.tasks.site.publish import parse_manifest, publish_conference_files
from confcast.tasks.stagecache import StageCache, run_once, stage_key
from confcast.tasks.storage.base import Storage
from confcast.tasks.transcription import captions, transcribe

ENGINE_PACKAGES = {"faster-whisper": ("faster-whisper", "ctranslate2"), "openai-whisper": ("openai-whisper", "torch")}


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


# --- small shared helpers -------------------------------------------------------------------------------------


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


def wants_translation(transcript: Transcript, target: str | None) -> bool:
    """A translated track is worth making when asked for, into another language, and there is speech."""
    wanted = bool(target) and transcript.language not in (target, transcribe.UNDETERMINED)
    return wanted and bool(transcript.segments)


def whisper_temperatures(settings: Settings) -> tuple[float, ...]:
    """Whisper's temperature fallback, or one pass at temperature 0 when the operator turned it off."""
    return transcribe.TEMPERATURES if settings.whisper_temperature_fallback else (0.0,)


# --- media ----------------------------------------------------------------------------------------------------


@task(name="probe-recording", cache_policy=NO_CACHE)
def probe_recording(source: Path) -> Probe:
    return media_probe.probe_recording(source)


@task(name="transcode-video", cache_policy=NO_CACHE)
def transcode_video(
    probe: Probe, run_dir: Path, show_progress: bool, title: str | None = None
) -> tuple[VideoOutputs, Path | None]:
    """The HLS ladder, download MP4, poster and thumbnails in one decode; then the podcast audio (if any sound).
    An audio-only recording gets a title card (so the title is part of the stage's key)."""

    def make() -> tuple[VideoOutputs, Path | None]:
        progress = StageProgress("transcode", show_progress)
        video = make_video(probe, run_dir, progress, title=card_title)
        audio = media_audio.make_podcast_audio(probe, run_dir / "audio.m4a") if probe.main_audio is not None else None
        return video, audio

    card_title = title if probe.video is None else None
    key = stage_key(probe.source.sha256, DEFAULT_LADDER, package_version("confcast"), card_title)
    result_type = tuple[VideoOutputs, Path | None]
    outputs, reused = run_once(StageCache(run_dir / "stages"), "transcode", key, result_type, make)
    report_reuse("transcode", reused, show_progress)
    return outputs


@task(name="add-hls-subtitles", cache_policy=NO_CACHE)
def add_hls_subtitles(ladder: HlsLadder, tracks: list[TranscriptFiles], duration_s: float) -> HlsLadder:
    return hls.add_subtitles(ladder, [(files.lang, files.vtt) for files in tracks], duration_s)


@task(name="extract-speech", cache_policy=NO_CACHE)
def extract_speech(probe: Probe, run_dir: Path) -> Path:
    key = stage_key(probe.source.sha256, package_version("confcast"))
    speech, _ = run_once(
        StageCache(run_dir / "stages"), "speech", key, Path,
        lambda: media_audio.extract_speech(probe, run_dir / "speech.wav"),
    )
    return speech


# --- transcription --------------------------------------------------------------------------------------------


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
    if translated_from is None:
        return captions.write_transcript_files(transcript, run_dir / "text")
    note = captions.translation_note(translated_from)
    return captions.write_transcript_files(transcript, run_dir / "translation", note=note)


# --- publishing -----------------------------------------------------------------------------------------------


def refuse_slug_taken(storage: Storage, slug: str, sha256: str, replace: bool) -> Manifest | None:
    """The manifest published under `slug`, unless it is another talk's (another recording): refused then, unless
    the operator asked to replace it."""
    raw = storage.get_bytes(manifest_key(slug))
    manifest = None if raw is None else parse_manifest(raw)
    problem = slug_conflict(slug, manifest, sha256, replace)
    if problem is None and raw is not None and manifest is None and not replace:
        problem = (
            f"slug {slug!r} holds a manifest.json that confcast cannot read (damaged, or another program's); "
            "publish under another slug (--slug another-slug), or give --replace to replace what is there"
        )
    if problem is not None:
        raise MetadataError(problem)
    return manifest


@task(name="check-published", cache_policy=NO_CACHE)
def published_unchanged(target: Target, slug: str, sha256: str, fingerprint: str, replace: bool = False) -> str | None:
    """The page URL when this very conference is already published from the same recording and settings. A slug
    that holds another talk is refused here, right after probing, before anything is encoded."""
    storage = target.open()
    manifest = refuse_slug_taken(storage, slug, sha256, replace)
    if manifest is None or manifest.source.sha256 != sha256 or manifest.generator.fingerprint != fingerprint:
        return None
    return storage.public_url(f"{conference_prefix(slug)}/{manifest.page}")


@task(name="publish-files", cache_policy=NO_CACHE)
def publish_files(
    conference: Conference, target: Target, settings: Settings, fingerprint: str, replace: bool = False
) -> str:
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
    storage = target.open()
    # One writer at a time per site (any host): two runs of one conference never mix, and two conferences
    # published at once never lose each other's catalog, feed or search entries.
    with one_writer_per_site(storage, settings) as site:
        # Again under the lock: another run may have taken the slug while this one was encoding.
        refuse_slug_taken(site, conference.meta.slug, conference.probe.source.sha256, replace)
        return publish_conference_files(
            site,
            conference,
            manifest,
            site_title=settings.site_title,
            site_language=settings.site_language,
        )
