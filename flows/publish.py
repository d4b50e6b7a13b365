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
    KeptTracks,
    add_hls_chapters,
    add_hls_subtitles,
    check_published,
    edit_published,
    extract_speech,
    keep_reviewed_tracks,
    make_chapter_files,
    page_url_of,
    probe_recording,
    publish_files,
    publish_tracks,
    published_transcript_key,
    restore_published_transcript,
    run_folder,
    shares_beside_transcode,
    transcode_video,
    wants_translation,
    write_captions,
)
from confcast.flows.targets import resolve_target
from confcast.flows.transcription import remove_handover, transcription_task
from confcast.tasks.chapters.inputs import chapter_inputs
from confcast.tasks.fingerprint import run_keys, whisper_prompt
from confcast.tasks.markdown import escape_markdown
from confcast.tasks.media import audio as media_audio
from confcast.tasks.media import levelling
from confcast.tasks.media.cut import apply_cut
from confcast.tasks.media.diskspace import check_free_space, estimate_work_bytes
from confcast.tasks.media.outputs import media_record
from confcast.tasks.media.video import plan_ladder_job
from confcast.tasks.metadata import build_meta
from confcast.tasks.models import Conference, ConferenceMeta, EventRef, QuietPassage, Transcript, TranscriptFiles
from confcast.tasks.site.edit import slug_given
from confcast.tasks.site.layout import Manifest
from confcast.tasks.site.new_slides import frames_problem
from confcast.tasks.site.republish import NewTracks, chapters_to_write, plan_republish, without_published_frames
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
    vocabulary: list[str] | None = None,
    replace: bool = False,
    retranscribe: bool = False,
    start: float | str | None = None,
    end: float | str | None = None,
    event: EventRef | None = None,
    slides_folder: str | None = None,
) -> str:
    """Publish one recording; returns the public URL of its page. A slug that holds another recording's talk is
    refused unless `replace` (the operator replaces that talk on purpose).

    A recording already published: unchanged, nothing is done; only its metadata changed, only pages are rewritten
    (no encode, no Whisper, no work folder); otherwise what changed is made again, and the published transcript
    comes back into the run when it is still right (same settings, or reviewed by a person: only `retranscribe`
    runs Whisper again, and then the reviewed track stays the default, the new automatic one beside it).

    `start`/`end` publish only that part of the recording (seconds or H:MM:SS.s); `event`: the event the talk
    belongs to (flows/event.py publishes an event's talks with this flow, one run each); `slides_folder`: where the
    sidecar's `slides:` PDF lies when not beside the sidecar (a folder inbox leaves it in the inbox)."""
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
        vocabulary=vocabulary,
        default_language=settings.language,
        start=start,
        end=end,
        event=EventRef.model_validate(event) if isinstance(event, dict) else event,
    )
    # Bad chapters, a missing or broken PDF: stop before anything is made
    chapters_in = chapter_inputs(source_path, Path(slides_folder) if slides_folder else None)
    meta, probe = apply_cut(meta, probe_recording(source_path))  # a cut talk: only its part is read
    target = resolve_target(settings)
    transcriber = transcription_task(settings, target.storage_url)
    sha256 = probe.source.sha256
    published = check_published(target, meta.slug, sha256, replace, slug_given(source_path, slug), meta.cut)
    meta = meta.model_copy(update={"slug": published.slug})  # a fixed title continues its talk
    fingerprint, keys = run_keys(meta, sha256, settings, chapters_in.key_parts(), probe.video is not None)
    plan = plan_republish(published.manifest, sha256, fingerprint, keys.media, keys.transcript, retranscribe,
                          keys.picture, keys.frames, bool(chapters_in.marks))  # fmt: skip
    if plan.action == "unchanged" and published.manifest is not None:  # a re-run of an unchanged conference
        unchanged_url = page_url_of(target, published.manifest)
        say("Unchanged since its publication, nothing to do", show_progress)
        return unchanged_url
    if published.continued:
        say(f"this recording is published as {meta.slug}: updating that talk (give --slug for a copy)", show_progress)
    if plan.action == "edit":  # new metadata for published media and transcript: pages, not media
        page_url = edit_published(target, settings, meta, sha256, fingerprint, keys)
        say("Only the metadata changed: pages rewritten, no encode, no media upload", show_progress)
        create_link_artifact(page_url, link_text=escape_markdown(meta.title), description="Published conference page")
        return page_url
    if plan.new_slides and published.manifest is not None:
        problem = frames_problem(target.open(), published.manifest)
        if problem is not None:  # a new PDF cannot use the published slide text: the frames are read anew
            say(f"{problem}: publishing again from the recording to read its slide frames", show_progress)
            plan = without_published_frames(plan, published.manifest)
    new_chapters = chapters_to_write(plan, chapters_in, probe.duration_s)
    if plan.action == "chapters" and new_chapters is not None:  # for published media and transcript: no encode
        page_url = edit_published(target, settings, meta, sha256, fingerprint, keys, new_chapters)
        notice = new_chapters.notice()
        say(f"{notice[:1].upper()}{notice[1:]}", show_progress)
        create_link_artifact(page_url, link_text=escape_markdown(meta.title), description="Published conference page")
        return page_url
    run_dir = run_folder(settings.work_path, sha256, meta.cut)
    claim = FolderClaim(run_dir)  # kept on failure, for a retry that resumes; removed once published
    if plan.action == "tracks":  # the media stay: Whisper's new tracks go onto them, nothing is encoded
        say("The media are unchanged: transcribing again" + (f", new {new_chapters.names}" if new_chapters else "")
            + ", no encode", show_progress)
        made = transcribe_all(probe, run_dir, meta, settings, transcriber, show_progress)
        tracks = NewTracks(transcript=made.transcript, files=made.files, translations=made.translations)
        page_url = publish_tracks(
            target, settings, meta, sha256, fingerprint, keys, tracks, plan.keep_reviewed, new_chapters
        )
        return finish(page_url, meta, made.speech, made.transcript, made.translation, claim, run_dir, settings)
    rungs = plan_ladder_job(probe).rungs
    needed = estimate_work_bytes(probe.duration_s, [r.video_bitrate for r in rungs], DEFAULT_LADDER.audio_bitrate)
    check_free_space(run_dir, needed, probe.source.filename)

    # Transcoding and transcription share only the probed input: run them side by side.
    shares = shares_beside_transcode(settings)  # each its share of the cores, not each all of them
    video_future = transcode_video.submit(
        probe, run_dir, show_progress, meta.title, settings.level_audio, shares.transcode
    )
    made = Transcribed()
    restored = (
        restore_published_transcript(target, published.manifest, run_dir)
        if published.manifest is not None and (plan.keep_transcript or plan.keep_reviewed)
        else None
    )
    kept = KeptTracks()
    if probe.main_audio is not None and plan.keep_transcript and restored is not None:
        # The published transcript is still the right one (reviewed by a person, or made with these settings).
        made = Transcribed(transcript=restored.transcript, files=restored.files, translations=restored.translations)
        kept = KeptTracks(reviewed=restored.reviewed, beside=restored.beside, human=restored.human)
        keys = dataclasses.replace(keys, transcript=published_transcript_key(published.manifest, keys.transcript))
        say("Kept the published transcript and captions: Whisper does not run", show_progress)
    elif probe.main_audio is not None:  # a silent recording is published without captions, with a notice
        beside = settings.model_copy(update={"whisper_threads": shares.whisper})
        made = transcribe_all(probe, run_dir, meta, beside, transcriber, show_progress)
        if restored is not None and restored.reviewed:  # --retranscribe: the reviewed tracks stay the default
            transcript, files, translations, kept = keep_reviewed_tracks(
                restored, made.transcript, made.files, made.translations
            )
            made = dataclasses.replace(made, transcript=transcript, files=files, translations=translations)
            say("Reviewed captions kept as the default track; Whisper's new ones published beside", show_progress)
    speech, transcript, files, translation, translations = (
        made.speech, made.transcript, made.files, made.translation, made.translations
    )
    video, audio = video_future.result()
    chapters = make_chapter_files(probe, video.slides, chapters_in, transcript, meta.language, run_dir, show_progress)
    quiet = levelled_passages(speech, transcript) or kept_quiet_passages(published.manifest, audio, speech)
    report_levelled(quiet, show_progress)
    if files is not None:  # captions join the HLS master as a subtitle rendition once both sides are done
        ladder = add_hls_subtitles(video.ladder, [files, *translations], probe.duration_s)
        video = dataclasses.replace(video, ladder=ladder)
    if chapters is not None and chapters.chapters:  # after the subtitles, which rewrite the master
        ladder = add_hls_chapters(video.ladder, chapters, probe.duration_s, transcript, meta.language)
        video = dataclasses.replace(video, ladder=ladder)

    conference = Conference(
        meta=meta,
        probe=probe,
        media=media_record(probe, video, audio, speech, quiet),
        transcript=transcript,
        transcript_files=files,
        translations=translations,
        chapters=chapters,
    )
    page_url = publish_files(conference, target, settings, fingerprint, replace, keys, kept)
    notes = tuple(levelling.passage_line(passage) for passage in quiet)
    return finish(page_url, meta, speech, transcript, translation, claim, run_dir, settings, notes)


@dataclasses.dataclass(frozen=True)
class Transcribed:
    """What the transcription side of a run made (all None for a silent recording)."""

    speech: Path | None = None
    transcript: Transcript | None = None
    files: TranscriptFiles | None = None
    translation: Transcript | None = None
    translations: tuple[TranscriptFiles, ...] = ()


def transcribe_all(probe, run_dir: Path, meta: ConferenceMeta, settings: Settings, transcriber, show_progress: bool):
    """Speech, Whisper's transcript and captions, and the translation when asked (as tasks of the running flow)."""
    speech_future = extract_speech.submit(probe, run_dir, settings.level_audio)
    prompt = whisper_prompt(meta, settings)  # the talk's vocabulary; the translation gets none (it writes English)
    transcript_future = transcriber.submit(speech_future, meta.language, settings, show_progress, "transcribe", prompt)
    transcript = transcript_future.result()
    files = write_captions(transcript, run_dir)
    speech = speech_future.result()
    translation, translations = None, ()
    if wants_translation(transcript, settings.translate):  # the source language, detected or forced, is known
        translation = transcriber(speech, transcript.language, settings, show_progress, "translate")
        translations = (write_captions(translation, run_dir, translated_from=transcript.language),)
    return Transcribed(speech, transcript, files, translation, translations)


def levelled_passages(speech: Path | None, transcript: Transcript | None) -> tuple[QuietPassage, ...]:
    """Transcribed speech the leveller raised by more than ~20 dB (none when levelling is off or nothing was
    transcribed here: a kept transcript has no new speech to measure)."""
    if speech is None or transcript is None:
        return ()
    return levelling.quiet_passages(media_audio.read_gain_profile(speech), transcript.segments)


def kept_quiet_passages(
    manifest: Manifest | None, audio: media_audio.ListeningAudio | None, speech: Path | None
) -> tuple[QuietPassage, ...]:
    """With a kept transcript (no new speech), the published quiet passages, when the sound is levelled as it was
    then: the same speech and words make the same passages."""
    if speech is not None or manifest is None or manifest.audio is None or audio is None:
        return ()
    if audio.levelling is None or manifest.audio.levelling != audio.levelling:
        return ()
    return tuple(QuietPassage(**passage.model_dump()) for passage in manifest.audio.quiet_passages)


def report_levelled(quiet: tuple[QuietPassage, ...], show_progress: bool) -> None:
    """Each quiet passage in the run's log (and on the terminal), so that an operator can listen to it."""
    for passage in quiet:
        line = levelling.passage_line(passage)
        say(line[:1].upper() + line[1:], show_progress)


def say(message: str, show_progress: bool) -> None:
    """A line in the run's log, and on standard error for an operator at the terminal."""
    get_run_logger().info(message)
    if show_progress:
        print(f"confcast: {message[:1].lower()}{message[1:]}", file=sys.stderr, flush=True)


def finish(page_url, meta, speech, transcript, translation, claim, run_dir, settings, notes=()) -> str:
    """After publication: handover objects and the work folder go, artifacts and the log say what was published."""
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
            transcribe.summary_markdown(transcript, translation, page_url, notes), description="Run summary"
        )
    get_run_logger().info("Published %s", page_url)
    return page_url
