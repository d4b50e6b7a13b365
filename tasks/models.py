"""The typed data that travels through a run. Every model is frozen: a stage returns a new copy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- what a person says about the talk -------------------------------------------------------------


class Cut(Frozen):
    """The part of a recording that is one talk: from `start_s` to `end_s`, seconds of the recording (`end_s` None:
    to the end of the recording, until the probe says where that is: `tasks.media.cut.cut_probe`)."""

    start_s: float = Field(ge=0)
    end_s: float | None = None

    @property
    def duration_s(self) -> float:
        if self.end_s is None:
            raise ValueError("the cut's end is not known before the recording is probed")
        return self.end_s - self.start_s


class EventRef(Frozen):
    """The event (an evening of several talks) a talk belongs to, as its sidecar describes it."""

    slug: str
    title: str
    date: dt.date
    place: str = ""
    description: str = ""


class ConferenceMeta(Frozen):
    """Metadata typed by an operator (options or sidecar file), already validated."""

    title: str
    date: dt.date
    slug: str
    speakers: tuple[str, ...] = ()
    description: str = ""
    language: str = "auto"  # "auto" (detect) or an ISO 639-1 code such as "fr"
    cut: Cut | None = None  # a talk cut from a longer recording (--start/--end, or one of an event's talks)
    event: EventRef | None = None  # the event it belongs to
    # Words the talk is likely to use (proper nouns: labs, places, people), given to Whisper as a prompt; never
    # published, and left out of the run's fingerprint (the prompt's own key stands for it: tasks/fingerprint.py).
    vocabulary: tuple[str, ...] = ()


class ChapterMark(Frozen):
    """A chapter as a person or the recording gives it: where it starts and its title."""

    start: float  # seconds from the start of the recording
    title: str



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
    cut: Cut | None = None  # only this part of the recording is read (duration_s is then the cut's length)
    chapters: tuple[ChapterMark, ...] = ()  # the recording's own chapters (ffprobe's), titled

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
    chapters: str | None = None  # chapters JSON the master names (EXT-X-SESSION-DATA com.apple.hls.chapters)

    @property
    def files(self) -> tuple[str, ...]:
        """Every file, relative to root: segments before playlists, the master last (safe upload order)."""
        segments = [f for v in self.variants for f in v.files] + [s.vtt for s in self.subtitles]
        segments += [self.chapters] if self.chapters else []
        playlists = [v.playlist for v in self.variants] + [s.playlist for s in self.subtitles]
        return (*segments, *playlists, self.master)


class Thumbnails(Frozen):
    """Seek thumbnails: one sprite sheet and a WebVTT track whose cues point into it (`sprite.jpg#xywh=...`)."""

    sprite: Path
    vtt: Path
    interval_s: float
    count: int


class QuietPassage(Frozen):
    """Speech the leveller raised by more than ~20 dB (a question from the room): worth an operator's check."""

    start: float  # seconds
    end: float
    gain_db: int


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
    audio_original: Path | None = None  # the mix as recorded (AAC, not levelled nor normalised), when levelled
    levelling: str | None = None  # what levelled the speech and the audio heard (tasks.media.levelling); None: off
    quiet_passages: tuple[QuietPassage, ...] = ()  # speech levelled by more than ~20 dB


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


# --- chapters and slides (tasks/chapters) -----------------------------------------------------------


class SlideFrames(Frozen):
    """What the ladder's decode kept for slide-change detection: a small grey copy of the picture (raw bytes,
    `width` x `height`, `rate` frames a second) and one larger frame a second (JPEG files, frame k at k seconds)."""

    grey: Path
    width: int
    height: int
    rate: float
    frames: tuple[Path, ...]


class Chapter(Frozen):
    start: float
    title: str
    image: Path | None = None  # the slide's frame (detected chapters only)


class SlideText(Frozen):
    """Text shown in the talk: a detected slide (its start) or a page of the slides PDF (the start of the slide
    frame it matches, else None)."""

    start: float | None
    text: str
    page: int | None = None  # the PDF page number (1-based) for a page of the slides PDF


class ChapterSet(Frozen):
    """Chapters and slide text of a conference, and the files that publish them (local, in the run's folder)."""

    source: str  # "sidecar", "recording" (the source's own chapters) or "slides" (detected)
    chapters: tuple[Chapter, ...]
    slides: tuple[SlideText, ...] = ()
    vtt: Path | None = None  # WebVTT chapters track (None when there are no chapters)
    json_: Path | None = Field(None, alias="json")  # Podcasting 2.0 chapters JSON
    slides_json: Path | None = None  # {"slides": [{"start", "text"}]}
    pdf: Path | None = None  # the slides PDF, published for download
    pdf_pages: int = 0

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
    chapters: ChapterSet | None = None  # chapters, slide text and the slides PDF (tasks/chapters)
    page_url: str | None = None
