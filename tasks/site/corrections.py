"""Corrections by operators: a reviewed WebVTT file replaces a conference's caption track, without Whisper.

The caption track, and the transcript files when the track is in the transcript's language, are rewritten from the
reviewed cues; the manifest marks the track `reviewed`; then the page, catalog, feed and search data are rebuilt
from storage. Keys are content-tagged, so new files never overwrite what caches hold; the old ones are removed last.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from confcast.tasks.errors import MetadataError, PublishError
from confcast.tasks.media import hls
from confcast.tasks.models import Segment, Transcript
from confcast.tasks.site.layout import (
    MANIFEST,
    Manifest,
    TranscriptInfo,
    VideoInfo,
    caption_path,
    conference_prefix,
    content_tag,
    tagged,
    transcript_path,
)
from confcast.tasks.site.pages import SiteInfo
from confcast.tasks.site.publish import read_manifest, rebuild_site, transcript_lang
from confcast.tasks.storage.base import Storage, content_type_for
from confcast.tasks.transcription.captions import parse_vtt, srt_text, transcript_json, transcript_txt, vtt_text

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

    def put(path: str, body: str) -> str:
        data = body.encode("utf-8")
        key = tagged(path, content_tag(data))
        storage.put_bytes(f"{prefix}/{key}", data, content_type_for(key))
        return key

    vtt_body = vtt_text(cues, lang, note=REVIEWED_NOTE)
    vtt_key = put(caption_path(lang), vtt_body)
    video, replaced_hls = _hls_with_captions(storage, prefix, manifest, lang, vtt_body, put)
    captions = tuple(
        track.model_copy(update={"path": vtt_key, "status": "reviewed"}) if track.lang == lang else track
        for track in manifest.captions
    )
    transcript_info = manifest.transcript
    if manifest.transcript is not None and manifest.transcript.lang == lang:
        transcript = Transcript(
            language=lang,
            language_probability=manifest.language_probability,
            duration_s=manifest.duration_s,
            segments=tuple(Segment(start=c.start, end=c.end, text=" ".join(c.lines)) for c in cues),
            engine=manifest.generator.engine,
            model=manifest.generator.model,
        )
        transcript_info = TranscriptInfo(
            lang=lang,
            srt=put(transcript_path(lang, "srt"), srt_text(cues)),
            txt=put(transcript_path(lang, "txt"), transcript_txt(transcript)),
            json=put(transcript_path(lang, "json"), transcript_json(transcript)),
        )
    updated = manifest.model_copy(update={"captions": captions, "transcript": transcript_info, "video": video})
    storage.put_bytes(f"{prefix}/{MANIFEST}", updated.to_json().encode("utf-8"), content_type_for(MANIFEST))
    rebuild_site(storage, site)  # page, search data, catalog and feed, from what storage now holds

    still_used = {track.path for track in updated.captions}
    if updated.transcript is not None:
        still_used |= {updated.transcript.srt, updated.transcript.txt, updated.transcript.json_}
    replaced = {track.path for track in manifest.captions}
    if manifest.transcript is not None:
        replaced |= {manifest.transcript.srt, manifest.transcript.txt, manifest.transcript.json_}
    storage.delete_keys(f"{prefix}/{path}" for path in sorted((replaced | replaced_hls) - still_used))
    return updated


def _hls_with_captions(
    storage: Storage, prefix: str, manifest: Manifest, lang: str, vtt_body: str, put: Callable[[str, str], str]
) -> tuple[VideoInfo, set[str]]:
    """The HLS ladder's subtitle rendition in ``lang`` replaced by the reviewed captions.

    The ladder's folder is content-tagged and cached as immutable, so nothing in it is rewritten: a new subtitle
    file, its playlist and a new master (pointing at them) are added beside the old ones, under tagged names.
    Returns the video part of the manifest, pointing at the new master, and the paths it no longer uses.
    """
    if manifest.video.hls is None:
        return manifest.video, set()
    master_path = PurePosixPath(manifest.video.hls)
    folder = master_path.parent
    master = storage.get_bytes(f"{prefix}/{master_path}")
    if master is None:
        raise PublishError(f"{prefix}/{master_path} is missing from {storage.url}; republish the conference first")
    master_text = master.decode("utf-8")
    old_playlist = hls.subtitle_uri(master_text, lang)
    if old_playlist is None:  # a ladder published without captions in this language
        return manifest.video, set()
    old_playlist_path = folder / old_playlist
    old_playlist_body = storage.get_bytes(f"{prefix}/{old_playlist_path}")
    old_vtts = (
        [
            str(old_playlist_path.parent / uri)
            for _, uri in hls.parse_media_playlist(old_playlist_body.decode()).segments
        ]
        if old_playlist_body is not None
        else []
    )
    subtitles = folder / hls.SUBTITLES_DIR
    vtt_key = put(str(subtitles / f"{hls.language_tag(lang)}.vtt"), vtt_body)
    playlist_key = put(
        str(subtitles / f"{hls.language_tag(lang)}.m3u8"),
        hls.render_subtitle_playlist(manifest.duration_s, PurePosixPath(vtt_key).name),
    )
    new_uri = str(PurePosixPath(playlist_key).relative_to(folder))
    master_key = put(str(folder / hls.MASTER), hls.with_subtitle_uri(master_text, lang, new_uri))
    replaced = {str(master_path), str(old_playlist_path), *old_vtts}
    return manifest.video.model_copy(update={"hls": master_key}), replaced - {master_key, playlist_key, vtt_key}
