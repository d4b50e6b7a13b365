"""New sidecar chapters (titles and times) for a published talk, from storage alone: no transcode, no Whisper.

Sidecar chapters shape only small files: the WebVTT chapters track, the Podcasting 2.0 JSON, and the HLS chapters
JSON that the ladder's master names. The ladder's folder is content-tagged and cached as immutable, so a new chapters
JSON and a new master go beside the old ones under tagged names (as new caption tracks do, tasks/site/tracks.py).
What else the sidecar's chapters decide (the slides PDF, and whether chapters come from the sidecar or from the
slide frames) is in the picture key (tasks/fingerprint.py `picture_parts`): when it equals the published one, the
chapters are all that changed. When only the frames key does, a new slides PDF goes up with them
(tasks/site/new_slides.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from confcast.tasks.chapters import marks
from confcast.tasks.chapters.inputs import ChapterInputs
from confcast.tasks.errors import PublishError
from confcast.tasks.fingerprint import ContentKeys
from confcast.tasks.media import hls
from confcast.tasks.models import Chapter
from confcast.tasks.site.edit import write_edit
from confcast.tasks.site.layout import (
    CHAPTERS_JSON,
    CHAPTERS_TRACK,
    ChapterInfo,
    ChaptersInfo,
    Manifest,
    VideoInfo,
    conference_prefix,
)
from confcast.tasks.site.new_slides import published_frames, with_new_slides
from confcast.tasks.site.pages import SiteInfo
from confcast.tasks.site.publish import remove_stale_media
from confcast.tasks.site.tracks import text_writer
from confcast.tasks.storage.base import Storage

SIDECAR = "sidecar"  # ChaptersInfo.source of chapters a sidecar gives


@dataclass(frozen=True)
class NewChapters:
    """What a run rewrites of a published talk's chapters and slides, from storage alone."""

    chapters: list[Chapter] | None  # the sidecar's chapters; None: the published ones stay
    slides: ChapterInputs | None = None  # the slides PDF to offer now (`pdf` None: none); None: the slides stay

    @property
    def names(self) -> str:
        return "chapters" if self.slides is None else "slides and chapters"

    def notice(self) -> str:
        """What a run that rewrites them and the pages did, for its log and the terminal."""
        if self.slides is None:
            return "only the chapters changed: chapters and pages rewritten, no encode"
        return "only the slides PDF or the chapters changed: slides, chapters and pages rewritten, no encode"


def chapters_language(manifest: Manifest) -> str:
    """The language the HLS chapters' titles are tagged with: the talk's ("und" when it was never known)."""
    return manifest.language if manifest.language and manifest.language != "auto" else "und"


def hls_with_chapters(
    storage: Storage, prefix: str, manifest: Manifest, chapters: list[Chapter], put: Callable[[str, str], str]
) -> VideoInfo:
    """A new master beside the published one, naming a new HLS chapters JSON (none without chapters); the video
    part of the manifest pointing at it. Nothing in the ladder's folder is rewritten."""
    if manifest.video.hls is None:
        return manifest.video
    master_path = PurePosixPath(manifest.video.hls)
    folder = master_path.parent
    master = storage.get_bytes(f"{prefix}/{master_path}")
    if master is None:
        raise PublishError(f"{prefix}/{master_path} is missing from {storage.url}; republish the conference first")
    uri = None
    if chapters:
        body = hls.render_hls_chapters([(c.start, c.title) for c in chapters], manifest.duration_s,
                                       chapters_language(manifest))  # fmt: skip
        uri = str(PurePosixPath(put(str(folder / hls.CHAPTERS_JSON), body)).relative_to(folder))
    text = master.decode("utf-8")
    new_master = hls.with_session_chapters(text, uri) if uri else hls.without_session_chapters(text)
    master_key = put(str(folder / hls.MASTER), new_master)
    return manifest.video.model_copy(update={"hls": master_key})


def with_sidecar_chapters(storage: Storage, manifest: Manifest, chapters: list[Chapter]) -> Manifest:
    """Write the chapters' files into the talk's folder (tagged names) and return its manifest listing them; the
    caller writes the manifest and pages (tasks/site/edit.py `write_edit`), under the site lock."""
    prefix = conference_prefix(manifest.slug)
    put = text_writer(storage, prefix)
    video = hls_with_chapters(storage, prefix, manifest, chapters, put)
    info = None
    if chapters:
        info = ChaptersInfo(
            source=SIDECAR,
            vtt=put(CHAPTERS_TRACK, marks.chapters_vtt(chapters, manifest.duration_s)),
            json=put(CHAPTERS_JSON, marks.podcast_chapters(chapters)),
            items=tuple(ChapterInfo(start=c.start, title=c.title) for c in chapters),
        )
    return manifest.model_copy(update={"chapters": info, "video": video})


def publish_new_chapters(
    storage: Storage, site: SiteInfo, before: Manifest, after: Manifest, new: NewChapters, keys: ContentKeys
) -> str:
    """Publish `after` (the manifest `before` with this run's metadata and generator) with its `new` chapters and
    slides (tasks/site/new_slides.py) and the media keys they make: their files, a new master, then the page,
    manifest and the site's lists; returns the page URL. The previous chapters and slides stay one generation, for
    pages a minute old. Call it under the site lock."""
    generator = after.generator.model_copy(
        update={"media_key": keys.media, "picture_key": keys.picture, "frames_key": keys.frames}
    )
    after = with_new_chapters(storage, after.model_copy(update={"generator": generator}), new)
    page_url = write_edit(storage, site, before, after)
    remove_stale_media(storage, after, before)
    return page_url


def with_new_chapters(storage: Storage, manifest: Manifest, new: NewChapters) -> Manifest:
    """Write the `new` chapters' and slides' files into the talk's folder and return its manifest listing them."""
    try:  # read before anything is written
        frames = published_frames(storage, manifest) if new.slides is not None else ()
    except PublishError as error:  # gone since the run looked (`frames_problem`): the next run reads the frames anew
        raise PublishError(f"{error}; run the same command again: it publishes the talk anew") from None
    if new.chapters is not None:
        manifest = with_sidecar_chapters(storage, manifest, new.chapters)
    if new.slides is not None:  # after the chapters: a talk without chapters nor slide text lists no slides
        manifest = with_new_slides(storage, manifest, new.slides, frames)
    return manifest
