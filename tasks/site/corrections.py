"""Corrections by operators: a reviewed WebVTT file replaces a conference's caption track, without Whisper.

The caption track, and the transcript files when the track is in the transcript's language, are rewritten from the
reviewed cues; the manifest marks the track `reviewed`. All or nothing, as a viewer sees it: the new files first
(content-tagged keys, so nothing a cache holds is overwritten), then the search passages and the page, then the
manifest; a failure before the manifest removes what was written and puts the page back, so the conference stays
as it was. After the manifest come the catalog, feed and search index, and the removal of the replaced files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from confcast.tasks.errors import ConfcastError, MetadataError, PublishError
from confcast.tasks.models import Segment, Transcript
from confcast.tasks.site.layout import (
    MANIFEST,
    PAGE,
    Manifest,
    TranscriptInfo,
    caption_path,
    catalog_entry,
    conference_prefix,
    content_tag,
    tagged,
    transcript_path,
    upsert_entry,
)
from confcast.tasks.site.pages import SiteInfo, render_conference_page
from confcast.tasks.site.publish import (
    put_passages,
    read_manifest,
    read_segments,
    remove_stale_passages,
    transcript_lang,
    write_catalog,
)
from confcast.tasks.site.tracks import hls_with_captions
from confcast.tasks.storage.base import Storage, content_type_for
from confcast.tasks.transcription.captions import Cue, parse_vtt, srt_text, transcript_json, transcript_txt, vtt_text

REVIEWED_NOTE = "Captions reviewed by a person (corrected after the automatic transcription)."
END_TOLERANCE_S = 1.0  # a reviewed cue may end a little after the recording, not long after


def reviewed_cues(text: str, source_name: str, duration_s: float):
    """The cues of a reviewed file, or MetadataError saying what is wrong with it (line number included)."""
    try:
        cues = parse_vtt(text)
    except ValueError as error:
        raise MetadataError(f"{source_name} is not valid WebVTT: {error}; fix the file and run again") from None
    if not cues:
        raise MetadataError(f"{source_name} holds no cue; give the corrected captions, not an empty file")
    if cues[-1].end > duration_s + END_TOLERANCE_S:
        raise MetadataError(
            f"{source_name}: the last cue ends at {cues[-1].end:.1f} s, after the recording ({duration_s:.1f} s); "
            "is it the file of another conference?"
        )
    return cues


def replace_captions(
    storage: Storage, site: SiteInfo, slug: str, text: str, *, source_name: str, lang: str | None = None
) -> Manifest:
    """Publish reviewed captions for one conference; returns its new manifest."""
    prefix = conference_prefix(slug)
    manifest = read_manifest(storage, slug)
    if manifest is None:
        raise PublishError(f"no published conference {slug!r} at {storage.url}; check the slug in its page URL")
    lang = lang or transcript_lang(manifest)
    if not any(track.lang == lang for track in manifest.captions):
        present = ", ".join(track.lang for track in manifest.captions) or "none"
        raise MetadataError(f"{slug} has no caption track in {lang!r} (it has: {present}); choose one with --lang")
    cues = reviewed_cues(text, source_name, manifest.duration_s)
    present = set(storage.list_keys(f"{prefix}/"))  # what a failure before the manifest leaves, page included
    old_page = storage.get_bytes(f"{prefix}/{PAGE}")

    def put(path: str, body: str) -> str:
        data = body.encode("utf-8")
        key = tagged(path, content_tag(data))
        storage.put_bytes(f"{prefix}/{key}", data, content_type_for(key))
        return key

    page_written = False
    try:
        updated, replaced_hls, reviewed = _reviewed_manifest(storage, prefix, manifest, lang, cues, put)
        segments = reviewed if reviewed is not None else read_segments(storage, manifest)
        record = put_passages(storage, slug, transcript_lang(updated), segments)
        page = render_conference_page(updated, segments, site)
        page_written = True
        storage.put_bytes(f"{prefix}/{PAGE}", page.encode("utf-8"), content_type_for(PAGE))
        storage.put_bytes(f"{prefix}/{MANIFEST}", updated.to_json().encode("utf-8"), content_type_for(MANIFEST))
    except Exception as error:
        undone = _undo(storage, prefix, present, old_page if page_written else None)
        if not isinstance(error, ConfcastError):
            raise
        raise PublishError(
            f"the captions of {slug} were not replaced (the published conference is as it was{undone}): {error}"
        ) from None

    try:  # the manifest is written: the reviewed captions are published; the rest follows them
        write_catalog(storage, site, lambda catalog: upsert_entry(catalog, catalog_entry(updated)), {slug: record})
        remove_stale_passages(storage, slug, keep=record.passages)
        still_used = {track.path for track in updated.captions}
        if updated.transcript is not None:
            still_used |= {updated.transcript.srt, updated.transcript.txt, updated.transcript.json_}
        old = {track.path for track in manifest.captions}
        if manifest.transcript is not None:
            old |= {manifest.transcript.srt, manifest.transcript.txt, manifest.transcript.json_}
        storage.delete_keys(f"{prefix}/{path}" for path in sorted((old | replaced_hls) - still_used))
    except ConfcastError as error:
        raise PublishError(
            f"the reviewed captions of {slug} are published, but the site could not be updated after them: {error}; "
            "run `confcast rebuild-site` to update the catalog, feed and search"
        ) from None
    return updated


def _reviewed_manifest(
    storage: Storage, prefix: str, manifest: Manifest, lang: str, cues: Sequence[Cue], put: Callable[[str, str], str]
) -> tuple[Manifest, set[str], tuple[Segment, ...] | None]:
    """Write the reviewed caption track (and the transcript files, in the transcript's language, and the HLS
    subtitle rendition); returns the manifest that points at them, the HLS paths it no longer uses, and the
    transcript's new segments (None: the transcript is another language's, unchanged)."""
    vtt_body = vtt_text(cues, lang, note=REVIEWED_NOTE)
    vtt_key = put(caption_path(lang), vtt_body)
    video, replaced_hls = hls_with_captions(storage, prefix, manifest, lang, vtt_body, put)
    captions = tuple(
        track.model_copy(update={"path": vtt_key, "status": "reviewed"}) if track.lang == lang else track
        for track in manifest.captions
    )
    transcript_info, segments = manifest.transcript, None
    if manifest.transcript is not None and manifest.transcript.lang == lang:
        transcript = Transcript(
            language=lang,
            language_probability=manifest.language_probability,
            duration_s=manifest.duration_s,
            segments=tuple(Segment(start=c.start, end=c.end, text=" ".join(c.lines)) for c in cues),
            engine=manifest.generator.engine,
            model=manifest.generator.model,
        )
        segments = transcript.segments
        transcript_info = TranscriptInfo(
            lang=lang,
            srt=put(transcript_path(lang, "srt"), srt_text(cues)),
            txt=put(transcript_path(lang, "txt"), transcript_txt(transcript)),
            json=put(transcript_path(lang, "json"), transcript_json(transcript)),
        )
    updated = manifest.model_copy(update={"captions": captions, "transcript": transcript_info, "video": video})
    return updated, replaced_hls, segments


def _undo(storage: Storage, prefix: str, present: set[str], old_page: bytes | None) -> str:
    """Put the page back and remove the files a failed replacement wrote (those of the conference's folder that
    were not `present`: under the site lock, no one else writes there); what could not be undone, as a clause of
    the error message ("" when everything was)."""
    left = ""
    if old_page is not None:
        try:
            storage.put_bytes(f"{prefix}/{PAGE}", old_page, content_type_for(PAGE))
        except ConfcastError:
            left = ", except its page: run `confcast rebuild-site` to restore it"
    with contextlib.suppress(ConfcastError):  # unused content-tagged files, harmless if they stay
        storage.delete_keys([key for key in storage.list_keys(f"{prefix}/") if key not in present])
    return left
