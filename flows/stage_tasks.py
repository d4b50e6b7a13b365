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
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from confcast.config.settings import Settings
from confcast.config.threads import ThreadShares, thread_shares
from confcast.flows.concurrency import one_transcription_per_host, one_writer_per_site
from confcast.flows.targets import Target
from confcast.tasks.chapters.inputs import ChapterInputs
from confcast.tasks.chapters.make import make_chapters
from confcast.tasks.errors import MetadataError, PublishError
from confcast.tasks.fingerprint import (
    ContentKeys,
    card_title,
    cut_part,
    level_part,
    media_key,
    package_version,
    settings_key,
)
from confcast.tasks.media import audio as media_audio
from confcast.tasks.media import hls
from confcast.tasks.media import probe as media_probe
from confcast.tasks.media.outputs import make_picture_and_sound
from confcast.tasks.media.video import VideoOutputs
from confcast.tasks.metadata import slug_conflict
from confcast.tasks.models import (
    ChapterSet,
    Conference,
    ConferenceMeta,
    Cut,
    HlsLadder,
    Probe,
    SlideFrames,
    Transcript,
    TranscriptFiles,
)
from confcast.tasks.site.edit import apply_meta, find_by_source, write_edit
from confcast.tasks.site.layout import (
    CaptionTrack,
    Generator,
    Manifest,
    build_manifest,
    conference_prefix,
    manifest_key,
    tagged,
)
from confcast.tasks.site.layout import file_tag as media_file_tag
from confcast.tasks.site.new_chapters import NewChapters, publish_new_chapters
from confcast.tasks.site.publish import parse_manifest, publish_conference_files, read_manifest, site_info
from confcast.tasks.site.republish import (
    NewTracks,
    RestoredTranscript,
    auto_path,
    media_still_published,
    restore_transcript,
    write_tracks,
)
from confcast.tasks.stagecache import StageCache, run_once, stage_key
from confcast.tasks.storage.base import Storage, content_type_for
from confcast.tasks.transcription import captions, transcribe
from confcast.tasks.transcription.engine import pick_threads

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


def run_folder(work_path: Path, source_sha256: str, cut: Cut | None = None) -> Path:
    """A recording's work folder: named by its content (and the cut of a talk taken from it), so that a re-run of the
    same recording finds it."""
    name = source_sha256[:16] if cut is None else f"{source_sha256[:16]}-{stage_key(cut)[:8]}"
    return work_path / "runs" / name


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


def shares_beside_transcode(settings: Settings) -> ThreadShares:
    """Each side's threads while the transcode and Whisper run side by side: the settings' counts, else the measured
    split of this process's cores (config/threads.py)."""
    return thread_shares(pick_threads(0), settings.transcode_threads, settings.whisper_threads)


# --- media ----------------------------------------------------------------------------------------------------


@task(name="probe-recording", cache_policy=NO_CACHE)
def probe_recording(source: Path) -> Probe:
    return media_probe.probe_recording(source)


@task(name="transcode-video", cache_policy=NO_CACHE)
def transcode_video(
    probe: Probe,
    run_dir: Path,
    show_progress: bool,
    title: str | None = None,
    level: bool = False,
    threads: int | None = None,
) -> tuple[VideoOutputs, media_audio.ListeningAudio | None]:
    """The HLS ladder, download MP4, poster and thumbnails in one decode, with the podcast audio (if any sound) made
    beside it (`tasks.media.outputs.make_picture_and_sound`). Levelled when asked. An audio-only recording gets a
    title card (so the title is part of the stage's key)."""

    def make() -> tuple[VideoOutputs, media_audio.ListeningAudio | None]:
        progress = StageProgress("transcode", show_progress)
        return make_picture_and_sound(probe, run_dir, progress, title=title_card, level=level, threads=threads)

    title_card = card_title(title, probe.video is not None)
    key = media_key(probe.source.sha256, title_card, level, probe.cut)
    result_type = tuple[VideoOutputs, media_audio.ListeningAudio | None]
    outputs, reused = run_once(StageCache(run_dir / "stages"), "transcode", key, result_type, make)
    report_reuse("transcode", reused, show_progress)
    return outputs


@task(name="make-chapters", cache_policy=NO_CACHE)
def make_chapter_files(
    probe: Probe,
    frames: SlideFrames | None,
    inputs: ChapterInputs,
    transcript: Transcript | None,
    language: str,
    run_dir: Path,
    show_progress: bool,
) -> ChapterSet | None:
    """Chapters (sidecar, the recording's own, else slide changes titled by OCR or speech), slide text, slides PDF.
    OCR reads the talk's language (the one detected when asked to detect)."""

    def warn(message: str) -> None:
        get_run_logger().warning(message)
        if show_progress:
            print(f"confcast: warning: {message}", file=sys.stderr, flush=True)

    spoken = transcript.language if transcript is not None else None
    segments = transcript.segments if transcript is not None else ()
    return make_chapters(probe, frames, inputs, segments, spoken if language == "auto" else language, run_dir, warn)


@task(name="add-hls-chapters", cache_policy=NO_CACHE)
def add_hls_chapters(
    ladder: HlsLadder, chapters: ChapterSet, duration_s: float, transcript: Transcript | None, language: str
) -> HlsLadder:
    lang = transcript.language if transcript is not None and language == "auto" else language
    lang = "und" if lang == "auto" else lang
    return hls.add_chapters(ladder, [(c.start, c.title) for c in chapters.chapters], duration_s, lang)


@task(name="add-hls-subtitles", cache_policy=NO_CACHE)
def add_hls_subtitles(ladder: HlsLadder, tracks: list[TranscriptFiles], duration_s: float) -> HlsLadder:
    return hls.add_subtitles(ladder, [(files.lang, files.vtt) for files in tracks], duration_s)


@task(name="extract-speech", cache_policy=NO_CACHE)
def extract_speech(probe: Probe, run_dir: Path, level: bool = False) -> Path:
    """Whisper's 16 kHz speech, levelled when asked (the gain applied kept beside it)."""
    key = stage_key(probe.source.sha256, package_version("confcast"), *level_part(level), *cut_part(probe.cut))
    speech, _ = run_once(
        StageCache(run_dir / "stages"), "speech", key, Path,
        # its own file when levelled: a remembered result of one setting never names the other's content
        lambda: media_audio.extract_speech(probe, run_dir / ("speech-levelled.wav" if level else "speech.wav"), level),
    )
    return speech


# --- transcription --------------------------------------------------------------------------------------------


@task(name="transcribe-speech", cache_policy=NO_CACHE)
def transcribe_speech(
    speech: Path,
    language: str,
    settings: Settings,
    show_progress: bool,
    task: str = "transcribe",
    prompt: str | None = None,
) -> Transcript:
    """Whisper on the speech (task "translate": English from any language), one transcription per host; `prompt`:
    the talk's vocabulary (tasks/fingerprint.py whisper_prompt), part of the stage's key."""
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
                prompt=prompt,
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
    parts = (file_digest(speech), language, task, whisper_settings, package_version("confcast"))
    key = stage_key(*parts, prompt) if prompt else stage_key(*parts)  # without a prompt: the key it always had
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


@dataclass(frozen=True)
class PublishedState:
    """What is published for a recording about to be published: the manifest under its slug (or, for a slug made
    from the title, under the slug it was first published with), and the slug this run publishes to."""

    slug: str
    manifest: Manifest | None
    continued: bool = False  # found by the recording's hash under another slug than the title gives


@task(name="check-published", cache_policy=NO_CACHE)
def check_published(
    target: Target, slug: str, sha256: str, replace: bool, slug_given: bool, cut: Cut | None = None
) -> PublishedState:
    """What is published under `slug`, refused right after probing, before anything is encoded, when it is another
    talk. A slug made from the title (none given) continues the talk already published from this recording: a title
    fixed after publication does not make a second talk."""
    storage = target.open()
    if not slug_given and not replace:
        here = read_manifest(storage, slug)
        earlier = find_by_source(storage, sha256, cut) if here is None or here.source.sha256 != sha256 else None
        if earlier is not None:
            get_run_logger().info(
                "This recording is published as %s: updating that talk rather than publishing a second one under "
                "%s (give --slug to publish a copy; `confcast edit %s --slug %s` moves it)",
                earlier.slug, slug, earlier.slug, slug,
            )
            return PublishedState(slug=earlier.slug, manifest=earlier, continued=True)
    return PublishedState(slug=slug, manifest=refuse_slug_taken(storage, slug, sha256, replace))


@dataclass(frozen=True)
class KeptTracks:
    """Published caption states a run carries over: reviewed languages, automatic tracks beside reviewed ones."""

    reviewed: tuple[str, ...] = ()
    beside: tuple[tuple[str, Path], ...] = ()
    human: tuple[str, ...] = ()  # tracks in other languages that a person added: no machine translation


def published_transcript_key(manifest: Manifest | None, fallback: str) -> str:
    """The key of the transcript a run keeps: the one it was made with (a reviewed one may predate new settings)."""
    return manifest.generator.transcript_key if manifest and manifest.generator.transcript_key else fallback


def keep_reviewed_tracks(
    restored: RestoredTranscript,
    transcript: Transcript,
    files: TranscriptFiles,
    translations: tuple[TranscriptFiles, ...],
) -> tuple[Transcript, TranscriptFiles, tuple[TranscriptFiles, ...], KeptTracks]:
    """After --retranscribe: each reviewed track stays (the default of its language, and the transcript when in
    the transcript's language); Whisper's new track of that language is published beside it, labelled automatic."""
    reviewed = set(restored.reviewed)
    beside: list[tuple[str, Path]] = []
    if restored.files.lang in reviewed:
        if files.lang == restored.files.lang:
            beside.append((files.lang, files.vtt))
        transcript, files = restored.transcript, restored.files
    kept_translations = {t.lang: t for t in restored.translations if t.lang in reviewed}
    for new in translations:
        if new.lang in kept_translations:
            beside.append((new.lang, new.vtt))
    others = tuple(t for t in translations if t.lang not in kept_translations)
    kept = KeptTracks(tuple(reviewed), tuple(beside), restored.human)
    return transcript, files, (*kept_translations.values(), *others), kept


def page_url_of(target: Target, manifest: Manifest) -> str:
    return target.open().public_url(f"{conference_prefix(manifest.slug)}/{manifest.page}")


@task(name="edit-published", cache_policy=NO_CACHE)
def edit_published(
    target: Target,
    settings: Settings,
    meta: ConferenceMeta,
    sha256: str,
    fingerprint: str,
    keys: ContentKeys,
    new: NewChapters | None = None,
) -> str:
    """New metadata for a published recording whose media and transcript stay: pages, manifest and the site's
    lists, from storage alone (the same code as `confcast edit`); with `new`, new sidecar chapters or slides PDF too
    (tasks/site/new_chapters.py: their files and a new HLS master, no encode)."""
    storage = target.open()
    site = site_info(storage, title=settings.site_title, language=settings.site_language)
    with one_writer_per_site(storage, settings) as locked:
        before = read_manifest(locked, meta.slug)
        if before is None or before.source.sha256 != sha256 or not media_still_published(before.generator, keys, new):
            raise PublishError(f"{meta.slug} changed on {storage.url} during this run; publish again")
        after = apply_meta(before, meta, fingerprint, settings_key(settings), keys.prompt, keys.chapters)
        if new is None:
            return write_edit(locked, site, before, after)
        return publish_new_chapters(locked, site, before, after, new, keys)


@task(name="publish-tracks", cache_policy=NO_CACHE)
def publish_tracks(
    target: Target,
    settings: Settings,
    meta: ConferenceMeta,
    sha256: str,
    fingerprint: str,
    keys: ContentKeys,
    tracks: NewTracks,
    keep_reviewed: bool,
    new: NewChapters | None = None,
) -> str:
    """Whisper's new tracks onto the published media (same media key; or the same picture or frames key, with the
    `new` chapters or slides written beside them): no encode, no media upload."""
    storage = target.open()
    site = site_info(storage, title=settings.site_title, language=settings.site_language)
    with one_writer_per_site(storage, settings) as locked:
        before = read_manifest(locked, meta.slug)
        if before is None or before.source.sha256 != sha256 or not media_still_published(before.generator, keys, new):
            raise PublishError(f"{meta.slug} changed on {storage.url} during this run; publish again")
        generator = before.generator.model_copy(update={
            "transcript_key": keys.transcript,
            "media_key": keys.media,
            "picture_key": keys.picture,
            "frames_key": keys.frames,
            "engine": tracks.transcript.engine,
            "model": tracks.transcript.model,
            "versions": engine_versions(settings),
        })
        with_generator = before.model_copy(update={"generator": generator})
        edited = apply_meta(with_generator, meta, fingerprint, settings_key(settings), keys.prompt, keys.chapters)
        after = write_tracks(locked, site, before, edited, tracks, keep_reviewed, new)
        return locked.public_url(f"{conference_prefix(after.slug)}/{after.page}")


def engine_versions(settings: Settings) -> dict[str, str]:
    return {name: package_version(name) for name in (*ENGINE_PACKAGES[settings.whisper_engine], "prefect", "boto3")}


@task(name="restore-transcript", cache_policy=NO_CACHE)
def restore_published_transcript(target: Target, manifest: Manifest, run_dir: Path) -> RestoredTranscript | None:
    """The published transcript and caption tracks, downloaded into the run (reviewed ones are the published
    state; an automatic one whose key is unchanged need not be made again)."""
    return restore_transcript(target.open(), manifest, run_dir / "published")


@task(name="publish-files", cache_policy=NO_CACHE)
def publish_files(
    conference: Conference,
    target: Target,
    settings: Settings,
    fingerprint: str,
    replace: bool = False,
    keys: ContentKeys | None = None,
    kept: KeptTracks | None = None,
) -> str:
    """`kept`: the published caption states this run carries over (reviewed tracks, automatic ones beside them,
    tracks a person added in other languages)."""
    kept = kept or KeptTracks()
    generator = Generator(
        fingerprint=fingerprint,
        version=package_version("confcast"),
        engine=conference.transcript.engine if conference.transcript else "",
        model=conference.transcript.model if conference.transcript else "",
        versions=engine_versions(settings),
        media_key=keys.media if keys else None,
        transcript_key=keys.transcript if keys else None,
        language_asked=keys.language_asked if keys else None,
        settings_key=settings_key(settings),
        prompt_key=keys.prompt if keys else None,
        chapters_key=keys.chapters if keys else None,
        picture_key=keys.picture if keys else None,
        frames_key=keys.frames if keys else None,
    )
    manifest = build_manifest(conference, published_at=dt.datetime.now(dt.timezone.utc), generator=generator)
    extra = [(lang, tagged(auto_path(lang), media_file_tag(local)), local) for lang, local in kept.beside]
    manifest = with_track_states(manifest, kept, [(lang, path) for lang, path, _ in extra])
    storage = target.open()
    # One writer at a time per site (any host): two runs of one conference never mix, and two conferences
    # published at once never lose each other's catalog, feed or search entries.
    with one_writer_per_site(storage, settings) as site:
        # Again under the lock: another run may have taken the slug while this one was encoding.
        refuse_slug_taken(site, conference.meta.slug, conference.probe.source.sha256, replace)
        prefix = conference_prefix(conference.meta.slug)
        for _lang, path, local in extra:  # before the page and manifest that name them
            site.put_file(f"{prefix}/{path}", local, content_type_for(path))
        return publish_conference_files(
            site,
            conference,
            manifest,
            site_title=settings.site_title,
            site_language=settings.site_language,
        )


def with_track_states(manifest: Manifest, kept: KeptTracks, beside: list[tuple[str, str]]) -> Manifest:
    """Reviewed tracks stay reviewed (and first of their language: the default), a track a person added stays a
    person's (not machine-translated); automatic ones kept beside reviewed ones follow, labelled automatic."""
    captions = [
        track.model_copy(
            update={
                "status": "reviewed" if track.lang in kept.reviewed else track.status,
                "machine_translated": track.machine_translated and track.lang not in kept.human,
            }
        )
        for track in manifest.captions
    ]
    for lang, path in beside:
        at = max((i for i, track in enumerate(captions) if track.lang == lang), default=len(captions) - 1) + 1
        captions.insert(at, CaptionTrack(lang=lang, path=path))
    return manifest.model_copy(update={"captions": tuple(captions)})
