"""The `publish-conference` flow: probe, transcode and transcribe side by side, write captions, publish.

Each step is a thin Prefect task around a plain function of `tasks/` (flows/stage_tasks.py; transcription on
another work pool: flows/transcription.py); the flow itself only composes them.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from confcast.config.ladder import DEFAULT_LADDER
from confcast.config.settings import Settings, load_settings
from confcast.flows.hooks import notify_webhook
from confcast.flows.stage_tasks import (
    add_hls_subtitles,
    extract_speech,
    probe_recording,
    publish_files,
    published_unchanged,
    run_folder,
    transcode_video,
    wants_translation,
    write_captions,
)
from confcast.flows.targets import resolve_target
from confcast.flows.transcription import remove_handover, transcription_task
from confcast.tasks.fingerprint import run_fingerprint
from confcast.tasks.markdown import escape_markdown
from confcast.tasks.media.diskspace import check_free_space, estimate_work_bytes
from confcast.tasks.media.outputs import media_record
from confcast.tasks.media.video import plan_ladder_job
from confcast.tasks.metadata import build_meta
from confcast.tasks.models import Conference, ConferenceMeta
from confcast.tasks.stagecache import FolderClaim, remove_if_unused
from confcast.tasks.transcription import transcribe


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
    replace: bool = False,
) -> str:
    """Publish one recording; returns the public URL of its page. A slug that holds another recording's talk is
    refused unless `replace` (the operator replaces that talk on purpose)."""
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
    fingerprint = run_fingerprint(meta, probe.source.sha256, settings)
    unchanged_url = published_unchanged(target, meta.slug, probe.source.sha256, fingerprint, replace)
    if unchanged_url is not None:  # a re-run of a published, unchanged conference costs nothing
        get_run_logger().info("Unchanged since its publication: nothing to encode or upload (%s)", unchanged_url)
        if show_progress:
            print("confcast: unchanged since its publication, nothing to do", file=sys.stderr, flush=True)
        return unchanged_url
    run_dir = run_folder(settings.work_path, probe.source.sha256)
    claim = FolderClaim(run_dir)  # kept on failure, for a retry that resumes; removed once published
    rungs = plan_ladder_job(probe).rungs
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
        media=media_record(probe, video, audio, speech),
        transcript=transcript,
        transcript_files=files,
        translations=translations,
    )
    page_url = publish_files(conference, target, settings, fingerprint, replace)
    remove_handover(speech, settings)  # the handover objects, when another pool transcribed
    claim.release()
    if not settings.keep_work:
        remove_if_unused(run_dir)
    # the title is user text: escaped, it shows as typed in the Prefect UI and can form no markup or link
    create_link_artifact(
        page_url, link_text=escape_markdown(meta.title), description="Published conference page"
    )
    if transcript is not None:
        create_markdown_artifact(
            transcribe.summary_markdown(transcript, translation, page_url), description="Run summary"
        )
    get_run_logger().info("Published %s", page_url)
    return page_url
