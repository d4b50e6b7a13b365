"""Caption tracks added to a published HLS ladder: a new subtitle file, its playlist and a new master beside the
old ones, since the ladder's folder is content-tagged and cached as immutable (nothing in it is rewritten).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from confcast.tasks.errors import PublishError
from confcast.tasks.media import hls
from confcast.tasks.site.layout import Manifest, VideoInfo
from confcast.tasks.storage.base import Storage


def hls_with_captions(
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
