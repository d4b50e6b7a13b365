"""The published layout: object keys, the manifest and the catalog, as pure functions over typed data.

Paths in a manifest are relative to the conference folder; paths in the catalog are relative to the site root.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from confcast.tasks.metadata import validate_slug
from confcast.tasks.models import Conference, Cut, EventRef, Media

MANIFEST_SCHEMA = 1
CATALOG_SCHEMA = 1

CATALOG_PAGE = "index.html"
CATALOG_JSON = "catalog.json"
FEED = "feed.xml"
PAGE = "index.html"
MANIFEST = "manifest.json"
POSTER = "poster.jpg"
THUMB = "thumb.jpg"  # the catalog's small poster
AUDIO = "audio.m4a"
AUDIO_ORIGINAL = "audio-original.m4a"  # the mix as recorded (encoded only), beside a levelled podcast track
HLS_DIR = "hls"  # published as hls.<tag>/: playlists point at their segments by relative paths, so the folder is
THUMBNAILS_DIR = "thumbnails"  # tagged as a whole, like thumbnails.<tag>/ (the track points into sprite.jpg)
THUMBNAILS_TRACK = "thumbnails.vtt"
SPRITE = "sprite.jpg"
REDIRECT_MARK = '<meta name="generator" content="confcast moved-talk">'  # in the page a moved talk leaves behind
NO_AUDIO_NOTICE = "no-audio: the recording has no sound, so there is no transcript, captions nor podcast audio"


CONTENT_TAG_CHARS = 12  # hex digits of SHA-256; storage gives such keys a long, immutable Cache-Control


def content_tag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:CONTENT_TAG_CHARS]


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content, in hex, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=256)
def _file_tag(path: Path, size: int, mtime_ns: int) -> str:
    return file_sha256(path)[:CONTENT_TAG_CHARS]


def file_tag(path: Path) -> str:
    """The content tag of a local file (cached while its size and modification time stay the same)."""
    stat = Path(path).stat()
    return _file_tag(Path(path), stat.st_size, stat.st_mtime_ns)


def tagged(path: str, tag: str) -> str:
    """`video/720p.mp4` -> `video/720p.<tag>.mp4`: the key changes whenever the content does."""
    pure = PurePosixPath(path)
    return str(pure.with_name(f"{pure.stem}.{tag}{pure.suffix}"))


def conference_prefix(slug: str) -> str:
    return f"conferences/{validate_slug(slug)}"


def event_prefix(slug: str) -> str:
    """An event's page folder: `events/<slug>`, beside `conferences/` (the slug validated like a talk's)."""
    return f"events/{validate_slug(slug)}"


def event_page(slug: str) -> str:
    return f"{event_prefix(slug)}/{PAGE}"


def manifest_key(slug: str) -> str:
    return f"{conference_prefix(slug)}/{MANIFEST}"


def mp4_path(height: int) -> str:
    return f"video/{height}p.mp4"


def caption_path(lang: str) -> str:
    return f"captions/{lang}.vtt"


def transcript_path(lang: str, extension: Literal["srt", "txt", "json"]) -> str:
    return f"transcript/{lang}.{extension}"


class Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SourceInfo(Document):
    sha256: str
    bytes: int
    filename: str
    audio_track: AudioTrackInfo | None = None  # None: the recording has no sound


class Mp4File(Document):
    height: int
    width: int
    path: str
    bytes: int
    bandwidth: int = 0  # bits a second, peak (0 in manifests older than the HLS ladder)


class HlsRenditionInfo(Document):
    height: int
    width: int
    bandwidth: int  # bits a second, peak segment, as in the master playlist
    average_bandwidth: int
    codecs: str
    path: str  # the rendition's media playlist
    bytes: int


class VideoInfo(Document):
    mp4: tuple[Mp4File, ...]
    hls: str | None = None  # the master playlist
    renditions: tuple[HlsRenditionInfo, ...] = ()  # the HLS ladder, tallest first
    poster: str
    thumbnail: str | None = None  # small poster for the catalog
    thumbnails: str | None = None  # WebVTT seek-thumbnails track (cues point into a sprite sheet beside it)


class AudioTrackInfo(Document):
    """Which track of the recording was published and transcribed (the default one, else the first)."""

    index: int  # the stream's index in the source file, as ffprobe counts
    channels: int  # in the source; more than 2 are downmixed to stereo
    language: str | None
    of_tracks: int  # audio tracks in the source


class QuietPassageInfo(Document):
    """Speech the leveller raised by more than ~20 dB (a question from the room), for an operator to check."""

    start: float
    end: float
    gain_db: int


class AudioInfo(Document):
    path: str
    bytes: int
    # Levelling (tasks/media/levelling.py): what was applied to the podcast, the video's sound and Whisper's input,
    # None when off (and in manifests older than it); the original mix beside; where quiet speech was raised.
    levelling: str | None = None
    original: str | None = None
    original_bytes: int | None = None
    quiet_passages: tuple[QuietPassageInfo, ...] = ()


class CaptionTrack(Document):
    lang: str
    path: str
    kind: Literal["captions", "subtitles"] = "captions"
    status: Literal["auto", "reviewed"] = "auto"
    machine_translated: bool = False  # made by Whisper's translate task from the spoken language


class TranscriptInfo(Document):
    lang: str
    txt: str
    srt: str
    json_: str = Field(alias="json")


class Generator(Document):
    name: str = "confcast"
    version: str
    engine: str
    model: str
    versions: dict[str, str] = Field(default_factory=dict)
    fingerprint: str | None = None  # the recording's hash, metadata and settings that made this: same => unchanged
    # What made the media and the transcript (tasks/fingerprint.py), never the metadata: a re-publish whose keys
    # match rewrites pages only. None in manifests older than these keys.
    media_key: str | None = None
    transcript_key: str | None = None
    language_asked: str | None = None  # auto or a code, as the operator asked (the manifest's language is the result)
    settings_key: str | None = None  # the settings that shaped it (tasks/fingerprint.py), for an edit's fingerprint
    # The key of the vocabulary prompt the run's metadata and settings give Whisper (tasks/fingerprint.py prompt_key;
    # not its words): None when Whisper had no prompt. Part of an edit's fingerprint, as settings_key is.
    prompt_key: str | None = None
    # The key of the sidecar's chapters and slides PDF (tasks/fingerprint.py chapters_key): None when it names none.
    # Part of an edit's fingerprint, as prompt_key is.
    chapters_key: str | None = None
    # The media key without the sidecar chapters' titles and times (tasks/fingerprint.py picture_parts): a run whose
    # media key differs but whose picture key is this one changes chapters only. None in older manifests.
    picture_key: str | None = None
    # The media key without the sidecar's chapters and PDF (tasks/fingerprint.py ContentKeys.frames): a run whose
    # frames key is this one can take a new slides PDF, or chapters the sidecar now gives, from the published slide
    # text. None in older manifests.
    frames_key: str | None = None


class ChapterInfo(Document):
    start: float  # seconds
    title: str
    image: str | None = None  # the slide's frame (chapters from slide changes)


class ChaptersInfo(Document):
    """Chapters: a WebVTT chapters track, Podcasting 2.0 JSON, and the list itself (for pages and feeds)."""

    source: str  # sidecar, recording (the source's own) or slides (detected slide changes)
    vtt: str
    json_: str = Field(alias="json")
    items: tuple[ChapterInfo, ...]


class SlidesInfo(Document):
    """The text shown in the talk (slides.json: detected slides and the PDF's pages) and the slides PDF."""

    json_: str = Field(alias="json")  # {"slides": [{"start": seconds or null, "text": ...}]}
    pdf: str | None = None
    pdf_bytes: int | None = None
    pages: int = 0


class Manifest(Document):
    schema_: int = Field(MANIFEST_SCHEMA, alias="schema")
    slug: str
    title: str
    date: dt.date
    speakers: tuple[str, ...]
    description: str
    language: str
    language_probability: float | None
    duration_s: float
    source: SourceInfo
    video: VideoInfo
    audio: AudioInfo | None  # None for a recording without sound (see notices)
    captions: tuple[CaptionTrack, ...]
    transcript: TranscriptInfo | None
    notices: tuple[str, ...] = ()  # "code: what a viewer should know", e.g. no-audio
    chapters: ChaptersInfo | None = None
    slides: SlidesInfo | None = None
    page: str
    published_at: dt.datetime
    generator: Generator
    cut: Cut | None = None  # a talk cut from a longer recording: its part of the source, seconds of the source
    event: EventRef | None = None  # the event (an evening of talks) it belongs to; its page: event_page(event.slug)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


class StagedFile(BaseModel):
    """A local file and where it goes, relative to the conference folder."""

    model_config = ConfigDict(frozen=True)

    path: str
    local: Path


def conference_files(conference: Conference) -> list[StagedFile]:
    """Every media, caption and transcript file of a conference (not the page nor the manifest).

    Each path carries the file's content tag (`video/720p.<tag>.mp4`), so caches can keep it forever.
    """
    tagged_files = [
        StagedFile(path=tagged(path, file_tag(local)), local=local) for path, local in _logical_files(conference)
    ]
    return tagged_files + [StagedFile(path=path, local=local) for path, local in _folder_files(conference)]


def _logical_files(conference: Conference) -> list[tuple[str, Path]]:
    """(path without content tag, local file) of every file `conference_files` publishes."""
    media, files = conference.media, conference.transcript_files
    if media is None or (files is None and media.audio is not None):
        raise ValueError("conference has no media or transcript files yet")
    staged = [(mp4_path(r.height), r.path) for r in media.mp4]
    staged.append((POSTER, media.poster))
    staged += [(THUMB, media.thumb)] if media.thumb is not None else []
    staged += [(AUDIO, media.audio)] if media.audio is not None else []
    staged += [(AUDIO_ORIGINAL, media.audio_original)] if media.audio_original is not None else []
    if files is not None:
        staged.append((caption_path(files.lang), files.vtt))
        for extension, local in (("srt", files.srt), ("txt", files.txt), ("json", files.json_)):
            staged.append((transcript_path(files.lang, extension), local))
        staged += [(caption_path(t.lang), t.vtt) for t in conference.translations if t.lang != files.lang]
    return staged + _chapter_files(conference)


CHAPTERS_TRACK = "chapters.vtt"
CHAPTERS_JSON = "chapters.json"
SLIDES_JSON = "slides.json"
SLIDES_PDF = "slides.pdf"


def slide_image_path(number: int) -> str:
    return f"slides/{number:03d}.jpg"


def _chapter_files(conference: Conference) -> list[tuple[str, Path]]:
    """(path without content tag, local file) of the chapters track and JSON, slide text, slide images and PDF."""
    chapters = conference.chapters
    if chapters is None:
        return []
    staged = [(CHAPTERS_TRACK, chapters.vtt), (CHAPTERS_JSON, chapters.json_), (SLIDES_JSON, chapters.slides_json),
              (SLIDES_PDF, chapters.pdf)]
    staged += [(slide_image_path(n), c.image) for n, c in enumerate(chapters.chapters, 1)]
    return [(path, local) for path, local in staged if local is not None]


def _folder_files(conference: Conference) -> list[tuple[str, Path]]:
    """(path, local file) of the HLS ladder and the seek thumbnails: each folder is tagged as a whole
    (`hls.<tag>/720p/seg_00000.m4s`), since its files refer to each other by relative paths. The HLS master comes
    last, after everything it points to."""
    media = conference.media
    if media is None:
        return []
    staged: list[tuple[str, Path]] = []
    if media.thumbnails is not None:
        folder = tagged_folder(
            THUMBNAILS_DIR, [(SPRITE, media.thumbnails.sprite), (THUMBNAILS_TRACK, media.thumbnails.vtt)]
        )
        staged += [
            (f"{folder}/{SPRITE}", media.thumbnails.sprite),
            (f"{folder}/{THUMBNAILS_TRACK}", media.thumbnails.vtt),
        ]
    if media.hls is not None:
        ladder = media.hls
        folder = tagged_folder(HLS_DIR, [(relative, ladder.root / relative) for relative in ladder.files])
        staged += [(f"{folder}/{relative}", ladder.root / relative) for relative in ladder.files]
    return staged


def tagged_folder(name: str, files: list[tuple[str, Path]]) -> str:
    """`hls` -> `hls.<tag>`, the tag covering every file's relative path and content."""
    listing = "\n".join(f"{relative} {file_tag(local)}" for relative, local in sorted(files))
    return f"{name}.{content_tag(listing.encode('utf-8'))}"


def audio_info(media: Media, published: Callable[[str], str]) -> AudioInfo:
    """The podcast track, and with levelling the original mix, what was applied and the quiet passages raised."""
    assert media.audio is not None
    original = media.audio_original
    return AudioInfo(
        path=published(AUDIO),
        bytes=media.audio.stat().st_size,
        levelling=media.levelling,
        original=published(AUDIO_ORIGINAL) if original is not None else None,
        original_bytes=original.stat().st_size if original is not None else None,
        quiet_passages=tuple(QuietPassageInfo(**p.model_dump()) for p in media.quiet_passages),
    )


def build_manifest(conference: Conference, *, published_at: dt.datetime, generator: Generator) -> Manifest:
    meta, probe, media, transcript, files = (
        conference.meta,
        conference.probe,
        conference.media,
        conference.transcript,
        conference.transcript_files,
    )
    silent = media is not None and media.audio is None  # nothing to transcribe: published without a transcript
    if probe is None or media is None or (not silent and (transcript is None or files is None)):
        raise ValueError("conference is not complete: probe, media and transcript are needed for a manifest")
    tags = {path: file_tag(local) for path, local in _logical_files(conference)}
    folders = [path for path, _ in _folder_files(conference)]

    def in_folder(name: str, relative: str) -> str | None:
        """The published path of a file inside a tagged folder (`hls.<tag>/master.m3u8`)."""
        return next((path for path in folders if path.startswith(f"{name}.") and path.endswith(f"/{relative}")), None)

    hls_folder = in_folder(HLS_DIR, media.hls.master).rsplit("/", 1)[0] if media.hls is not None else None

    def published(path: str) -> str:
        """The content-tagged path of a file (`poster.jpg` -> `poster.<tag>.jpg`)."""
        return tagged(path, tags[path])

    return Manifest(
        slug=meta.slug,
        title=meta.title,
        date=meta.date,
        speakers=meta.speakers,
        description=meta.description,
        language=transcript.language if transcript else ("und" if meta.language == "auto" else meta.language),
        language_probability=transcript.language_probability if transcript else None,
        duration_s=round(probe.duration_s, 3),
        source=SourceInfo(
            sha256=probe.source.sha256,
            bytes=probe.source.bytes,
            filename=probe.source.filename,
            audio_track=AudioTrackInfo(
                index=media.audio_track.index,
                channels=media.audio_track.channels,
                language=media.audio_track.language,
                of_tracks=len(probe.audio),
            )
            if media.audio_track is not None
            else None,
        ),
        video=VideoInfo(
            mp4=tuple(
                Mp4File(
                    height=r.height,
                    width=r.width,
                    path=published(mp4_path(r.height)),
                    bytes=r.bytes,
                    bandwidth=r.bandwidth,
                )
                for r in media.mp4
            ),
            hls=f"{hls_folder}/{media.hls.master}" if media.hls is not None else None,
            renditions=tuple(
                HlsRenditionInfo(
                    height=v.height,
                    width=v.width,
                    bandwidth=v.bandwidth,
                    average_bandwidth=v.average_bandwidth,
                    codecs=v.codecs,
                    path=f"{hls_folder}/{v.playlist}",
                    bytes=v.bytes,
                )
                for v in (media.hls.variants if media.hls is not None else ())
            ),
            poster=published(POSTER),
            thumbnail=published(THUMB) if media.thumb is not None else None,
            thumbnails=in_folder(THUMBNAILS_DIR, THUMBNAILS_TRACK),
        ),
        audio=audio_info(media, published) if media.audio else None,
        notices=(NO_AUDIO_NOTICE,) if silent else (),
        chapters=_chapters_info(conference, published),
        slides=_slides_info(conference, published),
        captions=() if files is None else (
            CaptionTrack(lang=files.lang, path=published(caption_path(files.lang))),
            *(
                # A translation is subtitles (for those who do not understand the language), not captions.
                CaptionTrack(
                    lang=t.lang, path=published(caption_path(t.lang)), kind="subtitles", machine_translated=True
                )
                for t in conference.translations
                if t.lang != files.lang
            ),
        ),
        transcript=None if files is None else TranscriptInfo(
            lang=files.lang,
            txt=published(transcript_path(files.lang, "txt")),
            srt=published(transcript_path(files.lang, "srt")),
            json=published(transcript_path(files.lang, "json")),
        ),
        page=PAGE,
        published_at=published_at,
        generator=generator,
        cut=meta.cut,
        event=meta.event,
    )


def _chapters_info(conference: Conference, published: Callable[[str], str]) -> ChaptersInfo | None:
    chapters = conference.chapters
    if chapters is None or not chapters.chapters:
        return None
    return ChaptersInfo(
        source=chapters.source,
        vtt=published(CHAPTERS_TRACK),
        json=published(CHAPTERS_JSON),
        items=tuple(
            ChapterInfo(start=c.start, title=c.title, image=published(slide_image_path(n)) if c.image else None)
            for n, c in enumerate(chapters.chapters, 1)
        ),
    )


def _slides_info(conference: Conference, published: Callable[[str], str]) -> SlidesInfo | None:
    chapters = conference.chapters
    if chapters is None or chapters.slides_json is None:
        return None
    pdf = chapters.pdf
    return SlidesInfo(
        json=published(SLIDES_JSON),
        pdf=published(SLIDES_PDF) if pdf is not None else None,
        pdf_bytes=pdf.stat().st_size if pdf is not None else None,
        pages=chapters.pdf_pages,
    )


# --- the catalog -------------------------------------------------------------------------------------


class CatalogEntry(Document):
    slug: str
    title: str
    date: dt.date
    speakers: tuple[str, ...]
    language: str
    duration_s: float
    page: str
    manifest: str
    poster: str
    published_at: dt.datetime
    thumbnail: str | None = None  # small poster (entries older than the HLS ladder have none)
    source_sha256: str | None = None  # the recording's hash: a re-publish under a new title finds its talk by it
    event: str | None = None  # the slug of the event it belongs to (its page: event_page(event))
    event_title: str | None = None
    start_s: float | None = None  # where the talk starts in the event's recording
    end_s: float | None = None


class Catalog(Document):
    schema_: int = Field(CATALOG_SCHEMA, alias="schema")
    conferences: tuple[CatalogEntry, ...] = ()

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


def catalog_entry(manifest: Manifest) -> CatalogEntry:
    prefix = conference_prefix(manifest.slug)
    return CatalogEntry(
        slug=manifest.slug,
        title=manifest.title,
        date=manifest.date,
        speakers=manifest.speakers,
        language=manifest.language,
        duration_s=manifest.duration_s,
        page=f"{prefix}/{manifest.page}",
        manifest=f"{prefix}/{MANIFEST}",
        poster=f"{prefix}/{manifest.video.poster}",
        published_at=manifest.published_at,
        thumbnail=f"{prefix}/{manifest.video.thumbnail}" if manifest.video.thumbnail else None,
        source_sha256=manifest.source.sha256,
        event=manifest.event.slug if manifest.event else None,
        event_title=manifest.event.title if manifest.event else None,
        start_s=manifest.cut.start_s if manifest.cut else None,
        end_s=manifest.cut.end_s if manifest.cut else None,
    )


def upsert_entry(catalog: Catalog, entry: CatalogEntry) -> Catalog:
    """The catalog with this conference added or replaced, newest date first (then newest publication)."""
    others = [existing for existing in catalog.conferences if existing.slug != entry.slug]
    ordered = sorted([*others, entry], key=lambda e: (e.date, e.published_at, e.slug), reverse=True)
    return catalog.model_copy(update={"conferences": tuple(ordered)})


def remove_entry(catalog: Catalog, slug: str) -> Catalog:
    return catalog.model_copy(update={"conferences": tuple(e for e in catalog.conferences if e.slug != slug)})
