"""The review editor's data and the captions it saves, as pure functions (the server is flows/review.py).

The editor gets the published cues of one caption track, each with the words Whisper heard in it (from the published
transcript JSON, with their probabilities: the doubtful ones are highlighted), and posts the edited cues back as JSON.
`review_vtt` turns them into a WebVTT file, speakers as voice tags, which then goes through the same validation and
republication as `confcast captions --replace`.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Sequence
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from confcast.tasks.errors import MetadataError
from confcast.tasks.site.corrections import reviewed_cues
from confcast.tasks.site.layout import Manifest
from confcast.tasks.site.pages import environment
from confcast.tasks.transcription.captions import Cue, parse_vtt, vtt_escape, vtt_timestamp

DOUBT_BELOW = 0.5  # a word Whisper gave a lower probability is highlighted for the reviewer
MAX_CUES = 50_000  # about 14 hours of speech; anything above is not an edit of a talk
MAX_CUE_CHARS = 2_000
MAX_SPEAKER_CHARS = 100


class TimedWord(BaseModel):
    """A word as Whisper heard it: its time, text and probability."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    text: str
    probability: float


class EditorCue(BaseModel):
    """One cue as the editor shows it: text lines joined by newlines, its speaker ("" when none), its words."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    text: str
    speaker: str = ""
    words: tuple[TimedWord, ...] = ()


class EditedCue(BaseModel):
    """One cue as the editor posts it back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: float = Field(ge=0, allow_inf_nan=False)
    end: float = Field(gt=0, allow_inf_nan=False)
    text: str = Field(max_length=MAX_CUE_CHARS)
    speaker: str = Field("", max_length=MAX_SPEAKER_CHARS)


class EditedCaptions(BaseModel):
    """What Save posts: every cue of the track, in order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cues: tuple[EditedCue, ...] = Field(max_length=MAX_CUES)


# --- reading what is published -------------------------------------------------------------------------------------

def transcript_words(raw: bytes | None) -> list[TimedWord]:
    """The words of a published transcript JSON (`segments[].words[]`), in time order; [] when it has none or
    cannot be read (an older or foreign file: the editor then highlights nothing, it still edits)."""
    if raw is None:
        return []
    try:
        segments = json.loads(raw)["segments"]
        words = [
            TimedWord(
                start=float(w["start"]), end=float(w["end"]), text=str(w["text"]).strip(),
                probability=float(w.get("probability", 1.0)),
            )
            for s in segments
            for w in s.get("words", ())
        ]
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError):
        return []
    return sorted((w for w in words if w.text), key=lambda w: (w.start, w.end))


def words_by_cue(cues: Sequence[Cue], words: Sequence[TimedWord]) -> list[list[TimedWord]]:
    """Each word given to the cue that holds its middle; a word between cues goes to the nearer one."""
    out: list[list[TimedWord]] = [[] for _ in cues]
    if not cues:
        return out
    starts = [cue.start for cue in cues]
    for word in words:
        middle = (word.start + word.end) / 2
        i = max(bisect.bisect_right(starts, middle) - 1, 0)
        if middle >= cues[i].end and i + 1 < len(cues) and cues[i + 1].start - middle < middle - cues[i].end:
            i += 1
        out[i].append(word)
    return out


def editor_cues(vtt: str, transcript_json: bytes | None) -> list[EditorCue]:
    """The cues of a published track for the editor, each with its speaker and the words Whisper heard in it."""
    cues = parse_vtt(vtt)
    words = words_by_cue(cues, transcript_words(transcript_json))
    return [
        EditorCue(
            start=cue.start, end=cue.end, text="\n".join(cue.lines), speaker=cue.speaker or "", words=tuple(heard)
        )
        for cue, heard in zip(cues, words, strict=True)
    ]


class EditorMedia(BaseModel):
    model_config = ConfigDict(frozen=True)

    src: str  # the MP4 the editor plays
    poster: str | None = None


class EditorData(BaseModel):
    """What the editor page loads (`data.json`): the track, its cues and the media to play them with."""

    model_config = ConfigDict(frozen=True)

    slug: str
    lang: str
    status: str  # the track's: auto or reviewed
    duration_s: float
    doubt_below: float = DOUBT_BELOW
    speakers: tuple[str, ...] = ()  # the talk's speakers, offered when naming a cue's speaker
    video: EditorMedia
    cues: tuple[EditorCue, ...]


def editor_data(
    manifest: Manifest, lang: str, vtt: str, transcript_json: bytes | None, video: EditorMedia
) -> EditorData:
    """The editor's data for one caption track of a published conference. `transcript_json` is the published
    transcript JSON when it is in this track's language (None otherwise: a translation has no word probabilities)."""
    status = next((track.status for track in manifest.captions if track.lang == lang), "auto")
    return EditorData(
        slug=manifest.slug,
        lang=lang,
        status=status,
        duration_s=manifest.duration_s,
        speakers=manifest.speakers,
        video=video,
        cues=tuple(editor_cues(vtt, transcript_json)),
    )


def pick_video(manifest: Manifest, tallest: int = 720) -> str:
    """The MP4 the editor plays: the tallest up to `tallest` lines (slides stay readable, seeking stays quick),
    else the smallest."""
    files = sorted(manifest.video.mp4, key=lambda f: f.height)
    fitting = [f for f in files if f.height <= tallest]
    return (fitting[-1] if fitting else files[0]).path


# --- writing what the editor saves ---------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return " ".join(text.split())


def edited_captions(raw: bytes) -> EditedCaptions:
    """The posted cues, or MetadataError in one line naming the cue and the field."""
    try:
        return EditedCaptions.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = list(first["loc"])
        if len(where) >= 2 and where[0] == "cues" and isinstance(where[1], int):
            where = [f"cue {where[1] + 1}", *where[2:]]
        message = " ".join(str(first["msg"]).split())
        place = " ".join(str(part) for part in where) or "the request"
        raise MetadataError(f"{place}: {message}; the editor posted what Save cannot take, reload it") from None


def review_vtt(captions: EditedCaptions) -> tuple[str, list[int]]:
    """The WebVTT file of the edited cues, and the line number of each cue's timing line (to name the cue in an error).

    Text is escaped (`&`, `<`, `>`), each line of a cue kept on its own line (blank lines would end the cue), the
    speaker written as a voice tag `<v Name>` before the text. A cue left without text is dropped: emptying a cue
    in the editor deletes it.
    """
    out = ["WEBVTT", ""]
    timing_lines = []
    for cue in captions.cues:
        lines = [vtt_escape(c) for c in (_clean(line) for line in cue.text.splitlines()) if c]
        if not lines:
            continue
        speaker = vtt_escape(_clean(cue.speaker))
        if speaker:
            lines[0] = f"<v {speaker}>{lines[0]}"
        timing_lines.append(len(out) + 1)
        out.append(f"{vtt_timestamp(cue.start)} --> {vtt_timestamp(cue.end)}")
        out.extend(lines)
        out.append("")
    return "\n".join(out), timing_lines


_LINE = re.compile(r"\bline (\d+)")


def name_cues(message: str, timing_lines: Sequence[int]) -> str:
    """An error about the saved WebVTT with each `line N` naming the editor's cue too (`line N (cue K)`)."""

    def cue_of(match: re.Match[str]) -> str:
        k = bisect.bisect_right(timing_lines, int(match.group(1)))
        return f"{match.group(0)} (cue {k})" if k else match.group(0)

    return _LINE.sub(cue_of, message)


EDITOR_FILES = {"review.js": "text/javascript; charset=utf-8", "review.css": "text/css; charset=utf-8"}


def editor_file(name: str) -> bytes:
    """The editor's script or style sheet, from static/ beside this module."""
    if name not in EDITOR_FILES:
        raise KeyError(name)
    return resources.files(__package__).joinpath("static", name).read_bytes()


def saved_vtt(body: bytes, source_name: str, duration_s: float) -> tuple[str, list[int]]:
    """The WebVTT file of what Save posted, checked as `captions --replace` checks a file, and its cues' timing
    lines; MetadataError in one line naming the editor's cue."""
    text, timing_lines = review_vtt(edited_captions(body))
    try:
        reviewed_cues(text, source_name, duration_s)
    except MetadataError as error:
        raise MetadataError(name_cues(str(error), timing_lines)) from None
    return text, timing_lines


def render_review_page(manifest: Manifest, lang: str) -> str:
    """The editor's HTML page (its script and styles are served beside it; the cues come from data.json)."""
    status = next((track.status for track in manifest.captions if track.lang == lang), "auto")
    return environment().get_template("review.html").render(m=manifest, lang=lang, status=status)
