"""What a re-publish of a published recording keeps from the published state, and what it makes again.

The published state is the truth: a reviewed caption track is never replaced by a re-run (only --retranscribe
makes Whisper's track again, published beside it), and an automatic transcript whose key is unchanged comes back
from storage instead of being made again. `plan_republish` decides (pure); `restore_transcript` brings published
tracks back into a run; `write_tracks` publishes new tracks onto published media (no encode).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from confcast.tasks.chapters.inputs import ChapterInputs
from confcast.tasks.chapters.marks import sidecar_chapter_list
from confcast.tasks.errors import PublishError
from confcast.tasks.fingerprint import ContentKeys
from confcast.tasks.models import Transcript, TranscriptFiles
from confcast.tasks.site.layout import (
    MANIFEST,
    PAGE,
    CaptionTrack,
    Generator,
    Manifest,
    TranscriptInfo,
    caption_path,
    catalog_entry,
    conference_prefix,
    transcript_path,
    upsert_entry,
)
from confcast.tasks.site.new_chapters import SIDECAR, NewChapters, with_new_chapters
from confcast.tasks.site.pages import SiteInfo, render_conference_page
from confcast.tasks.site.publish import (
    read_segments,
    remove_stale_media,
    segments_from_transcript_json,
    transcript_lang,
    write_catalog,
)
from confcast.tasks.site.tracks import hls_with_captions, text_writer
from confcast.tasks.storage.base import Storage, content_type_for

# --- the published transcript, back into a run ----------------------------------------------------------------------


@dataclass(frozen=True)
class RestoredTranscript:
    """A published transcript as local files: what the run would have made, byte for byte, so nothing re-uploads."""

    transcript: Transcript
    files: TranscriptFiles
    translations: tuple[TranscriptFiles, ...]
    reviewed: tuple[str, ...]  # languages whose caption track a person reviewed
    beside: tuple[tuple[str, Path], ...] = ()  # automatic tracks published beside a reviewed one of their language
    human: tuple[str, ...] = ()  # other languages' tracks a person wrote (captions --add), not machine translations


def reviewed_languages(manifest: Manifest) -> tuple[str, ...]:
    return tuple(track.lang for track in manifest.captions if track.status == "reviewed")


def _download(storage: Storage, prefix: str, path: str, local: Path) -> Path:
    data = storage.get_bytes(f"{prefix}/{path}")
    if data is None:
        raise PublishError(
            f"{storage.url}/{prefix}/{path} is missing although the manifest names it; "
            "publish with --retranscribe to make the transcript again"
        )
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    return local


def restore_transcript(storage: Storage, manifest: Manifest, folder: Path) -> RestoredTranscript | None:
    """Download the published caption tracks and transcript files into `folder`; None when there is no transcript
    (a silent recording). Segments are read with the published JSON's own reader."""
    if manifest.transcript is None:
        return None
    prefix = conference_prefix(manifest.slug)
    info = manifest.transcript
    main = next((track for track in manifest.captions if track.lang == info.lang), None)  # the default one
    if main is None:
        raise PublishError(f"{manifest.slug}'s manifest has a transcript in {info.lang!r} but no caption track in it")
    json_file = _download(storage, prefix, info.json_, folder / "transcript" / f"{info.lang}.json")
    files = TranscriptFiles(
        lang=info.lang,
        vtt=_download(storage, prefix, main.path, folder / "captions" / f"{info.lang}.vtt"),
        srt=_download(storage, prefix, info.srt, folder / "transcript" / f"{info.lang}.srt"),
        txt=_download(storage, prefix, info.txt, folder / "transcript" / f"{info.lang}.txt"),
        json=json_file,
    )
    raw = json_file.read_bytes()
    segments = segments_from_transcript_json(raw, f"{storage.url}/{prefix}/{info.json_}")
    try:
        recorded = json.loads(raw)
    except ValueError:
        recorded = {}
    transcript = Transcript(
        language=info.lang,
        language_probability=manifest.language_probability,
        duration_s=manifest.duration_s,
        segments=segments,
        engine=str(recorded.get("engine") or manifest.generator.engine),
        model=str(recorded.get("model") or manifest.generator.model),
    )
    translations, beside = [], []
    for number, track in enumerate(manifest.captions):
        if track is main:
            continue
        vtt = _download(storage, prefix, track.path, folder / "tracks" / f"{number}-{track.lang}.vtt")
        if track.lang == info.lang:  # the automatic track kept beside a reviewed one (--retranscribe)
            beside.append((track.lang, vtt))
        else:  # only a translation's caption track is published: its other files are never read
            translations.append(TranscriptFiles(lang=track.lang, vtt=vtt, srt=vtt, txt=vtt, json=vtt))
    return RestoredTranscript(
        transcript=transcript,
        files=files,
        translations=tuple(translations),
        reviewed=reviewed_languages(manifest),
        beside=tuple(beside),
        human=tuple(t.lang for t in manifest.captions if t.lang != info.lang and not t.machine_translated),
    )


# --- pure: what a re-publish of a published recording has to redo --------------------------------------------------


@dataclass(frozen=True)
class Republish:
    """What a `confcast publish` of a recording does, given what is published under its slug."""

    # tracks: new caption tracks onto published media; chapters: new sidecar chapters onto them (and new metadata)
    action: Literal["publish", "unchanged", "edit", "tracks", "chapters"]
    keep_transcript: bool = False  # the published transcript comes back into the run: Whisper does not run
    keep_reviewed: bool = False  # reviewed tracks come back; with --retranscribe Whisper's new ones go beside them
    # chapters, tracks: the sidecar's chapters changed (tracks: with the words), and its chapters are written
    new_chapters: bool = False
    # chapters, tracks: the slides PDF changed too (or the sidecar's chapters now replace the slide frames'): the
    # slides are written again from the published slide text (tasks/site/new_slides.py)
    new_slides: bool = False


def plan_republish(
    published: Manifest | None,
    source_sha256: str,
    fingerprint: str,
    media_key: str,
    transcript_key: str,
    retranscribe: bool = False,
    picture_key: str | None = None,
    frames_key: str | None = None,
    sidecar_chapters: bool = False,
) -> Republish:
    """Unchanged: nothing to do. Same media and transcript keys (or a reviewed transcript, which only
    --retranscribe replaces): an edit, pages only. The same but for the sidecar's chapters (same `picture_key`,
    tasks/fingerprint.py `picture_parts`): new chapters, from storage alone. The same slide frames (`frames_key`)
    with a new slides PDF, or chapters the sidecar now gives (`sidecar_chapters`): new slides and chapters, from
    storage alone too; not when the sidecar stops giving chapters, which then come from the slide frames again.
    New words on any of these: new tracks, Whisper without an encode. Otherwise a run, which brings back the
    published transcript when it is still the right one (same key, or reviewed) instead of running Whisper."""
    if published is None or published.source.sha256 != source_sha256:
        return Republish("publish")
    generator = published.generator
    if generator.fingerprint == fingerprint and not retranscribe:
        return Republish("unchanged")
    reviewed = bool(reviewed_languages(published))  # any track a person wrote or reviewed, added ones included
    transcript_reviewed = transcript_lang(published) in reviewed_languages(published)  # the one Whisper would redo
    same_transcript = generator.transcript_key is not None and generator.transcript_key == transcript_key
    keep_transcript = published.transcript is not None and not retranscribe and (same_transcript or transcript_reviewed)
    same_media = generator.media_key is not None and generator.media_key == media_key
    same_words = keep_transcript or (published.transcript is None and not published.captions)
    if same_media and same_words:
        return Republish("edit")
    same_picture = generator.media_key is not None and picture_key is not None and generator.picture_key == picture_key
    if same_words and same_picture:
        return Republish("chapters", new_chapters=True)
    same_frames = generator.media_key is not None and frames_key is not None and generator.frames_key == frames_key
    # Chapters the sidecar gives, or those published from the frames or the recording: none needs the frames again.
    # No chapters published tells that the frames made none only when the sidecar named nothing (no chapters key):
    # a sidecar's chapters all past the end of the talk also publish none.
    from_frames = (published.chapters.source != SIDECAR if published.chapters is not None
                   else generator.chapters_key is None)  # fmt: skip
    chapters_known = sidecar_chapters or from_frames
    same_slides = same_frames and chapters_known and not same_picture
    if same_words and same_slides:
        return Republish("chapters", new_chapters=True, new_slides=True)
    if (same_media or same_picture or same_slides) and published.transcript is not None:  # Whisper again, onto them
        return Republish("tracks", keep_reviewed=reviewed, new_chapters=not same_media, new_slides=same_slides)
    return Republish("publish", keep_transcript=keep_transcript, keep_reviewed=reviewed)


def without_published_frames(plan: Republish, published: Manifest) -> Republish:
    """The plan when a new PDF cannot use the published slide text (tasks/site/new_slides.py `frames_problem`):
    a publication, which reads the frames anew, keeping the published transcript when the words are the same, and
    reviewed tracks, as any publication does."""
    if not plan.new_slides:
        return plan
    same_words = plan.action == "chapters"
    return Republish("publish", keep_transcript=same_words and published.transcript is not None,
                     keep_reviewed=bool(reviewed_languages(published)))  # fmt: skip


def chapters_to_write(plan: Republish, inputs: ChapterInputs, duration_s: float) -> NewChapters | None:
    """What of the chapters and slides a run that keeps the published media writes: None when they stay."""
    if not plan.new_chapters:
        return None
    chapters = sidecar_chapter_list(inputs.marks, duration_s) if inputs.marks else None  # None: from the frames
    return NewChapters(chapters=chapters, slides=inputs if plan.new_slides else None)


def media_still_published(generator: Generator, keys: ContentKeys, new: NewChapters | None) -> bool:
    """Under the site lock, before writing onto the published media: are they still those the plan saw (the same
    media, or picture with new chapters, or frames with new slides)?"""
    if new is None:
        return generator.media_key == keys.media
    published, wanted = (generator.picture_key, keys.picture) if new.slides is None else (
        generator.frames_key, keys.frames)
    return published is not None and published == wanted


# --- thin: new caption tracks onto published media ------------------------------------------------------------------


@dataclass(frozen=True)
class NewTracks:
    """What Whisper made in this run (local files), to publish onto the published media."""

    transcript: Transcript
    files: TranscriptFiles
    translations: tuple[TranscriptFiles, ...] = ()


def auto_path(lang: str) -> str:
    """Where an automatic track kept beside a reviewed one of its language goes (before its content tag)."""
    return f"captions/{lang}-auto.vtt"


def write_tracks(storage: Storage, site: SiteInfo, before: Manifest, edited: Manifest, tracks: NewTracks,
                 keep_reviewed: bool, new: NewChapters | None = None) -> Manifest:
    """Publish Whisper's new tracks for a talk whose media stay (`edited`: its manifest with this run's metadata and
    generator): caption and transcript files, the HLS subtitle renditions (a new master beside the immutable
    ladder), with `new` chapters and slides their files too (tasks/site/new_chapters.py), search passages, page,
    manifest, then the site's lists. A reviewed track stays, the default of its language, with the new automatic
    one beside it. Call it under the site lock."""
    prefix = conference_prefix(edited.slug)
    reviewed = {t.lang: t for t in edited.captions if t.status == "reviewed"} if keep_reviewed else {}

    put = text_writer(storage, prefix)

    manifest, captions = edited, []
    made = [(tracks.files, False), *((t, True) for t in tracks.translations)]
    for files, translated in made:
        kind = "subtitles" if translated else "captions"
        body = files.vtt.read_text(encoding="utf-8")
        if files.lang in reviewed:
            captions += [reviewed[files.lang], CaptionTrack(lang=files.lang, path=put(auto_path(files.lang), body),
                                                            kind=kind, machine_translated=translated)]
            continue
        captions.append(CaptionTrack(lang=files.lang, path=put(caption_path(files.lang), body), kind=kind,
                                     machine_translated=translated))
        video, _replaced = hls_with_captions(storage, prefix, manifest, files.lang, body, put)
        manifest = manifest.model_copy(update={"video": video})
    if new is not None:  # after the subtitles: the chapters' master is made from theirs
        manifest = with_new_chapters(storage, manifest, new)
    languages = {files.lang for files, _ in made}
    captions += [track for lang, track in reviewed.items() if lang not in languages]  # reviewed, not made again
    main = tracks.files
    if main.lang in reviewed:  # the transcript stays the reviewed one
        segments = read_segments(storage, edited)
        update: dict[str, object] = {}
    else:
        segments = tracks.transcript.segments
        update = {
            "language": tracks.transcript.language,
            "language_probability": tracks.transcript.language_probability,
            "transcript": TranscriptInfo(
                lang=main.lang,
                txt=put(transcript_path(main.lang, "txt"), main.txt.read_text(encoding="utf-8")),
                srt=put(transcript_path(main.lang, "srt"), main.srt.read_text(encoding="utf-8")),
                json=put(transcript_path(main.lang, "json"), main.json_.read_text(encoding="utf-8")),
            ),
        }
    after = manifest.model_copy(update={**update, "captions": tuple(captions)})
    storage.put_bytes(f"{prefix}/{PAGE}", render_conference_page(after, segments, site).encode("utf-8"),
                      content_type_for(PAGE))
    storage.put_bytes(f"{prefix}/{MANIFEST}", after.to_json().encode("utf-8"), content_type_for(MANIFEST))
    write_catalog(storage, site, lambda catalog: upsert_entry(catalog, catalog_entry(after)))
    remove_stale_media(storage, after, before)  # the previous generation stays, for pages a minute old
    return after
