"""Corrections by operators: a reviewed WebVTT file replaces a conference's caption track (or adds a track in a new
language), without transcribing again.

The file is checked first (syntax, cues in order, no overlap, inside the recording, not absurdly many), each
problem named by its line. The caption track, and the transcript files when the track is in the transcript's
language, are rewritten from the reviewed cues: voice tags (`<v Alice>`) become the segments' speakers, and the
words get their times by forced alignment on the published audio (tasks.transcription.alignment). The manifest
marks the track `reviewed`. All or nothing, as a viewer sees it: the new files first
(content-tagged keys, so nothing a cache holds is overwritten), then the search passages and the page, then the
manifest; a failure before the manifest removes what was written and puts the page back, so the conference stays
as it was. After the manifest come the catalog, feed and search index, and the removal of the replaced files.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from confcast.tasks.errors import ConfcastError, MetadataError, PublishError
from confcast.tasks.models import Segment, Transcript
from confcast.tasks.site.layout import (
    MANIFEST,
    PAGE,
    CaptionTrack,
    Manifest,
    TranscriptInfo,
    caption_path,
    catalog_entry,
    conference_prefix,
    transcript_path,
    upsert_entry,
)
from confcast.tasks.site.pages import SiteInfo, render_conference_page
from confcast.tasks.site.publish import (
    read_published,
    read_segments,
    transcript_lang,
    write_catalog,
)
from confcast.tasks.site.tracks import hls_with_captions, text_writer
from confcast.tasks.storage.base import Storage, content_type_for
from confcast.tasks.transcription.alignment import AlignedCues, AlignmentModel, align_on_recording, spread_all
from confcast.tasks.transcription.captions import (
    Cue,
    parse_vtt,
    srt_text,
    transcript_json,
    transcript_txt,
    vtt_text,
    vtt_timestamp,
)

REVIEWED_NOTE = "Captions reviewed by a person (corrected after the automatic transcription)."
ADDED_NOTE = "Captions written by a person (a human track added to the conference)."
END_TOLERANCE_S = 1.0  # a reviewed cue may end a little after the recording, not long after
OVERLAP_TOLERANCE_S = 0.1  # a cue may start this much before the one above ends (it is then ended there)
MAX_CUES = 20_000  # about a cue every 1.3 s for 7 hours: more is not a talk's captions
MAX_CUES_PER_S = 3.0  # on average over the recording; a person reads a cue in a second at the very least
MIN_CUE_ALLOWANCE = 10  # a very short recording may still have this many cues

# A language tag as BCP 47 writes them, simplified: `de`, `pt-BR`, `zh-Hant`, `gsw`. It becomes a file name.
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}")

logger = logging.getLogger("confcast")


def caption_language(lang: str) -> str:
    """A caption track's language code in its usual case (`pt-br` -> `pt-BR`), or MetadataError saying what a
    language code looks like; what this returns is safe in a file name and a URL."""
    if not _LANGUAGE.fullmatch(lang):
        raise MetadataError(
            f"--lang {lang[:40]!r} is not a language code; give an ISO 639-1 code such as de or en, "
            "optionally with a region or script (pt-BR, zh-Hant)"
        )
    primary, *rest = lang.split("-")
    return "-".join(
        [primary.lower()]
        + [part.upper() if len(part) == 2 else part.title() if len(part) == 4 else part.lower() for part in rest]
    )


def reviewed_cues(text: str, source_name: str, duration_s: float) -> list[Cue]:
    """The cues of a reviewed file, or MetadataError in one line saying what is wrong with it and on which line:
    not WebVTT, no cue, cues out of order or overlapping, a cue outside the recording, absurdly many cues. Cues
    overlapping by at most OVERLAP_TOLERANCE_S are kept, the earlier one ended where the next starts."""
    try:
        cues = parse_vtt(text)
    except ValueError as error:
        raise MetadataError(f"{source_name} is not valid WebVTT: {error}; fix the file and run again") from None
    if not cues:
        raise MetadataError(f"{source_name} holds no cue; give the corrected captions, not an empty file")
    return check_cues(cues, source_name, duration_s)


def check_cues(cues: Sequence[Cue], source_name: str, duration_s: float) -> list[Cue]:
    """The checks of `reviewed_cues` on parsed cues (pure)."""
    allowed = MAX_CUES if duration_s == float("inf") else max(MIN_CUE_ALLOWANCE, int(MAX_CUES_PER_S * duration_s))
    allowed = min(allowed, MAX_CUES)
    if len(cues) > allowed:
        raise MetadataError(
            f"{source_name}, line {cues[allowed].line}: cue {allowed + 1} is one too many: at most {allowed} cues "
            f"for a recording of {duration_s:.0f} s; is it the captions of this conference?"
        )
    checked: list[Cue] = []
    for cue in cues:
        where = f"{source_name}, line {cue.line}"
        if cue.start >= duration_s or cue.end > duration_s + END_TOLERANCE_S:
            edge = "starts" if cue.start >= duration_s else "ends"
            at = cue.start if cue.start >= duration_s else cue.end
            raise MetadataError(
                f"{where}: the cue {edge} at {vtt_timestamp(at)}, after the end of the recording "
                f"({vtt_timestamp(duration_s)}); is it the file of another conference?"
            )
        if checked:
            above = checked[-1]
            if cue.start < above.start:
                raise MetadataError(
                    f"{where}: the cue starts at {vtt_timestamp(cue.start)}, before the cue above it (line "
                    f"{above.line}, {vtt_timestamp(above.start)}); put the cues in time order"
                )
            if cue.start < above.end - OVERLAP_TOLERANCE_S or cue.start <= above.start:
                raise MetadataError(
                    f"{where}: the cue starts at {vtt_timestamp(cue.start)}, before the cue above it (line "
                    f"{above.line}) ends at {vtt_timestamp(above.end)}; cues may not overlap: end that one earlier "
                    "or start this one later"
                )
            if cue.start < above.end:
                checked[-1] = Cue(above.start, cue.start, above.lines, above.speaker, line=above.line)
        checked.append(cue)
    return checked


def replace_captions(
    storage: Storage,
    site: SiteInfo,
    slug: str,
    text: str,
    *,
    source_name: str,
    lang: str | None = None,
    add: bool = False,
    alignment: AlignmentModel | None = None,
) -> Manifest:
    """Publish reviewed captions for one conference, replacing its track in ``lang`` (or, with ``add``, as a new
    track in a language it has none in); returns its new manifest. The words of a track in the transcript's
    language are timed by forced alignment with ``alignment``'s Whisper model (spread over their cue without)."""
    prefix = conference_prefix(slug)
    manifest = read_published(storage, slug)
    if add and lang is None:
        raise MetadataError("--add needs the track's language: give --lang, for example --lang de")
    lang = caption_language(lang) if lang is not None else transcript_lang(manifest)
    present = ", ".join(track.lang for track in manifest.captions) or "none"
    has_track = any(track.lang == lang for track in manifest.captions)
    if add and has_track:
        raise MetadataError(f"{slug} already has a caption track in {lang!r}; correct it with --replace instead")
    if not add and not has_track:
        raise MetadataError(
            f"{slug} has no caption track in {lang!r} (it has: {present}); choose one with --lang, "
            "or add a track in a new language with --add"
        )
    cues = reviewed_cues(text, source_name, manifest.duration_s)
    present = set(storage.list_keys(f"{prefix}/"))  # what a failure before the manifest leaves, page included
    old_page = storage.get_bytes(f"{prefix}/{PAGE}")

    put = text_writer(storage, prefix)

    page_written = False
    try:
        aligned = _word_times(storage, prefix, manifest, lang, cues, alignment)
        updated, replaced_hls, reviewed = _reviewed_manifest(
            storage, prefix, manifest, lang, cues, put, add=add, aligned=aligned, model=alignment
        )
        segments = reviewed if reviewed is not None else read_segments(storage, manifest)
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
        write_catalog(storage, site, lambda catalog: upsert_entry(catalog, catalog_entry(updated)))
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


def _word_times(
    storage: Storage, prefix: str, manifest: Manifest, lang: str, cues: Sequence[Cue], model: AlignmentModel | None
) -> AlignedCues | None:
    """The words of the cues timed on the published audio, when the track is the transcript's (None otherwise: a
    track in another language has no transcript, and its words are not the ones spoken)."""
    if manifest.transcript is None or manifest.transcript.lang != lang:
        return None
    if manifest.audio is None or model is None:
        aligned = spread_all(cues, "the recording has no audio" if model is not None else "no Whisper model given")
    else:
        audio = storage.get_bytes(f"{prefix}/{manifest.audio.path}")
        if audio is None:
            aligned = spread_all(cues, f"{manifest.audio.path} is missing from {storage.url}")
        else:
            with tempfile.TemporaryDirectory(prefix="confcast-correction-") as folder:
                local = Path(folder) / "audio.m4a"
                local.write_bytes(audio)
                aligned = align_on_recording(cues, local, lang, model)
    logger.info(
        "Word times of %s: %s (%.1f s)",
        prefix,
        aligned.note(cues, model.model if model else ""),
        aligned.seconds,
    )
    return aligned


def _reviewed_manifest(
    storage: Storage,
    prefix: str,
    manifest: Manifest,
    lang: str,
    cues: Sequence[Cue],
    put: Callable[[str, str], str],
    *,
    add: bool = False,
    aligned: AlignedCues | None = None,
    model: AlignmentModel | None = None,
) -> tuple[Manifest, set[str], tuple[Segment, ...] | None]:
    """Write the reviewed caption track (and the transcript files, in the transcript's language, and the HLS
    subtitle rendition); returns the manifest that points at them, the HLS paths it no longer uses, and the
    transcript's new segments (None: the transcript is another language's, unchanged)."""
    vtt_body = vtt_text(cues, lang, note=ADDED_NOTE if add else REVIEWED_NOTE)
    vtt_key = put(caption_path(lang), vtt_body)
    video, replaced_hls = hls_with_captions(storage, prefix, manifest, lang, vtt_body, put)
    # Only the default track of the language (its first): an automatic one kept beside a reviewed one
    # (--retranscribe) stays as it is.
    default = next((i for i, track in enumerate(manifest.captions) if track.lang == lang), None)
    captions = tuple(
        track.model_copy(update={"path": vtt_key, "status": "reviewed"}) if i == default else track
        for i, track in enumerate(manifest.captions)
    )
    if add:  # subtitles: a language other than the one spoken
        kind = "captions" if lang == manifest.language else "subtitles"
        captions += (CaptionTrack(lang=lang, path=vtt_key, kind=kind, status="reviewed"),)
    transcript_info, segments = manifest.transcript, None
    if manifest.transcript is not None and manifest.transcript.lang == lang:
        aligned = aligned if aligned is not None else spread_all(cues, "no Whisper model given")
        transcript = Transcript(
            language=lang,
            language_probability=manifest.language_probability,
            duration_s=manifest.duration_s,
            segments=aligned.segments(cues),
            engine=manifest.generator.engine,
            model=manifest.generator.model,
        )
        segments = transcript.segments
        timing = aligned.note(cues, model.model if model is not None else "")
        transcript_info = TranscriptInfo(
            lang=lang,
            srt=put(transcript_path(lang, "srt"), srt_text(cues)),
            txt=put(transcript_path(lang, "txt"), transcript_txt(transcript)),
            json=put(transcript_path(lang, "json"), transcript_json(transcript, word_timing=timing)),
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
