"""Caption tracks added to a published HLS ladder: a new subtitle file, its playlist and a new master beside the
old ones, since the ladder's folder is content-tagged and cached as immutable (nothing in it is rewritten).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from confcast.tasks.errors import PublishError
from confcast.tasks.media import hls
from confcast.tasks.site.layout import Manifest, VideoInfo, content_tag, tagged
from confcast.tasks.storage.base import Storage, content_type_for


def file_writer(storage: Storage, prefix: str) -> Callable[[str, bytes], str]:
    """A writer of files into a conference folder under content-tagged names (`slides.<tag>.pdf`): it returns the
    tagged path; caches may keep such a file forever, since new content gets a new name."""

    def put(path: str, data: bytes) -> str:
        key = tagged(path, content_tag(data))
        storage.put_bytes(f"{prefix}/{key}", data, content_type_for(key))
        return key

    return put


def text_writer(storage: Storage, prefix: str) -> Callable[[str, str], str]:
    """`file_writer` for text (`captions/fr.<tag>.vtt`), written as UTF-8."""
    put_file = file_writer(storage, prefix)
    return lambda path, body: put_file(path, body.encode("utf-8"))


def hls_with_captions(
    storage: Storage, prefix: str, manifest: Manifest, lang: str, vtt_body: str, put: Callable[[str, str], str]
) -> tuple[VideoInfo, set[str]]:
    """The HLS ladder's subtitle rendition in ``lang`` replaced by these captions, or added when the ladder has none
    in ``lang`` (a track in a new language).

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
    replaced = {str(master_path)}
    if old_playlist is not None:
        old_playlist_path = folder / old_playlist
        old_playlist_body = storage.get_bytes(f"{prefix}/{old_playlist_path}")
        if old_playlist_body is not None:
            replaced |= {
                str(old_playlist_path.parent / uri)
                for _, uri in hls.parse_media_playlist(old_playlist_body.decode()).segments
            }
        replaced.add(str(old_playlist_path))
    subtitles = folder / hls.SUBTITLES_DIR
    tag = hls.language_tag(lang)
    vtt_key = put(str(subtitles / f"{tag}.vtt"), vtt_body)
    playlist_key = put(
        str(subtitles / f"{tag}.m3u8"), hls.render_subtitle_playlist(manifest.duration_s, PurePosixPath(vtt_key).name)
    )
    new_uri = str(PurePosixPath(playlist_key).relative_to(folder))
    if old_playlist is None:
        name = hls.LANGUAGE_ENDONYMS.get(tag, tag)
        new_master = hls.with_added_subtitles(master_text, lang, name, new_uri)
    else:
        new_master = hls.with_subtitle_uri(master_text, lang, new_uri)
    master_key = put(str(folder / hls.MASTER), new_master)
    return manifest.video.model_copy(update={"hls": master_key}), replaced - {master_key, playlist_key, vtt_key}
