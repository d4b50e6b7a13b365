"""The typed data that travels through a run. Every model is frozen: a stage returns a new copy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- what a person says about the talk -------------------------------------------------------------


class ConferenceMeta(Frozen):
    """Metadata typed by an operator (options or sidecar file), already validated."""

    title: str
    date: dt.date
    slug: str
    speakers: tuple[str, ...] = ()
    description: str = ""
    language: str = "auto"  # "auto" (detect) or an ISO 639-1 code such as "fr"


# --- what ffprobe says about the recording ---------------------------------------------------------


class SourceFile(Frozen):
    path: Path
    filename: str
    sha256: str
    bytes: int


class VideoStream(Frozen):
    index: int
    codec: str
    width: int  # as stored, before rotation
    height: int
    rotation: int = 0  # degrees clockwise that a player applies: 0, 90, 180 or 270
    fps: float | None = None  # average frames a second (a variable-rate source has an odd one)
    pix_fmt: str | None = None
    field_order: str | None = None  # ffprobe's: progressive, tt, bb, tb, bt (interlaced), or unknown
    duration_s: float | None = None  # the picture's own length, when the container says (audio may run longer)

    @property
    def interlaced(self) -> bool:
        return self.field_order in ("tt", "bb", "tb", "bt")

    @property
    def display_width(self) -> int:
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int:
        return self.width if self.rotation in (90, 270) else self.height


class AudioStream(Frozen):
    index: int
    codec: str
    channels: int
    sample_rate: int
    language: str | None = None
    default: bool = False


class Probe(Frozen):
    source: SourceFile
    duration_s: float
    format_name: str
    video: VideoStream | None
    audio: tuple[AudioStream, ...]

    @property
    def main_audio(self) -> AudioStream | None:
        """The audio track to publish and transcribe: the default one, else the first."""
        for stream in self.audio:
            if stream.default:
                return stream
        return self.audio[0] if self.audio else None


# --- what ffmpeg made -------------------------------------------------------------------------------


class Rendition(Frozen):
    width: int
    height: int
    path: Path
    bytes: int
    bandwidth: int = 0  # bits a second, peak over its HLS segments (0: not measured)


class HlsVariant(Frozen):
    """One rung of the HLS ladder; paths are relative to the ladder's folder."""

    name: str  # "720p"
    width: int
    height: int
    fps: float
    bandwidth: int  # bits a second, peak segment (what a player must sustain)
    average_bandwidth: int  # bits a second over the whole rendition
    codecs: str  # RFC 6381, e.g. avc1.64001f,mp4a.40.2
    playlist: str  # "720p/index.m3u8"
    files: tuple[str, ...]  # init segment and media segments, in order
    bytes: int


class HlsSubtitles(Frozen):
    lang: str
    name: str  # shown in a player's menu
    playlist: str  # "subtitles/fr.m3u8", relative to the ladder's folder
    vtt: str  # "subtitles/fr.vtt"


class HlsLadder(Frozen):
    """An HLS ladder on disk: `root/master.m3u8` and everything it references."""

    root: Path
    master: str = "master.m3u8"
    variants: tuple[HlsVariant, ...]
    subtitles: tuple[HlsSubtitles, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        """Every file, relative to root: segments before playlists, the master last (safe upload order)."""
        segments = [f for v in self.variants for f in v.files] + [s.vtt for s in self.subtitles]
        playlists = [v.playlist for v in self.variants] + [s.playlist for s in self.subtitles]
        return (*segments, *playlists, self.master)


class Thumbnails(Frozen):
    """Seek thumbnails: one sprite sheet and a WebVTT track whose cues point into it (`sprite.jpg#xywh=...`)."""

    sprite: Path
    vtt: Path
    interval_s: float
    count: int


class Media(Frozen):
    """Web media made from the recording, as local files in the run's work folder."""

    mp4: tuple[Rendition, ...]
    poster: Path
    audio: Path | None  # AAC in M4A, for listening and the podcast feed; None when the recording is silent
    speech: Path | None  # 16 kHz mono WAV, for Whisper; None when the recording is silent
    hls: HlsLadder | None = None
    thumb: Path | None = None  # small poster for the catalog
    thumbnails: Thumbnails | None = None  # None for audio-only recordings (a still card has nothing to seek)
    audio_track: AudioStream | None = None  # the source track published and transcribed


# --- what Whisper heard -----------------------------------------------------------------------------


class Word(Frozen):
    start: float
    end: float
    text: str  # as Whisper gives it, usually with a leading space
    probability: float = 1.0


class Segment(Frozen):
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None  # who speaks, when a person named them (a reviewed cue's voice, <v Alice>)


class Transcript(Frozen):
    language: str
    language_probability: float | None  # None when the language was forced
    duration_s: float
    segments: tuple[Segment, ...]
    engine: str
    model: str

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


class TranscriptFiles(Frozen):
    """Caption and transcript files written for one language."""

    lang: str
    vtt: Path
    srt: Path
    txt: Path
    json_: Path = Field(alias="json")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


# --- the run as a whole -----------------------------------------------------------------------------


class Conference(Frozen):
    """One conference on its way through a run; each stage fills in its part."""

    meta: ConferenceMeta
    probe: Probe | None = None
    media: Media | None = None
    transcript: Transcript | None = None
    transcript_files: TranscriptFiles | None = None
    translations: tuple[TranscriptFiles, ...] = ()  # machine-translated caption tracks (Whisper's translate task)
    page_url: str | None = None
