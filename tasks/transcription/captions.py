"""Caption cues from word timestamps, and the caption and transcript files (WebVTT, SRT, text, JSON).

Everything here is pure except :func:`write_transcript_files`, which only writes what the builders return.

Cue layout follows broadcast practice (BBC, Netflix, EBU guidelines): at most 42 characters a line and 2 lines a
cue, a cue on screen between 5/6 s and 7 s, about 17 characters a second at most (a cue stays on into the
following silence rather than flashing by), breaks at sentence ends, clauses and pauses, never inside a word.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from confcast.tasks.errors import TranscriptionError
from confcast.tasks.models import Segment, Transcript, TranscriptFiles, Word

# --- layout rules (units in the names) -------------------------------------------------------------------------

MAX_CHARS = 42  # characters a line
MAX_LINES = 2  # lines a cue
MIN_DURATION_S = 5 / 6  # seconds a cue stays on screen at least (20 frames at 24 fps)
MAX_DURATION_S = 7.0  # seconds a cue stays on screen at most
MAX_CPS = 17.0  # characters a second, spaces included
FORCE_BREAK_GAP_S = 1.5  # a pause this long always ends a cue: nobody should read text over silence
PAUSE_FULL_SCORE_S = 0.8  # a pause this long is as good a break as a sentence end

_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”»)\]]*$")
_OPENING = "«(“‘[{¿¡\"'-"  # punctuation that opens: belongs to the next word
_CLAUSE_END = re.compile(r"[,;:—–、，；：][\"'”»)\]]*$")


@dataclass(frozen=True)
class Cue:
    """One caption on screen: from ``start`` to ``end`` seconds, one to ``max_lines`` lines of text, and who speaks
    (a WebVTT voice, ``<v Alice>``; None when the cue names nobody)."""

    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None
    line: int = field(default=0, compare=False)  # the timing line's number in the file it was read from (0: none)

    @property
    def text(self) -> str:
        return " ".join(self.lines)


@dataclass(frozen=True)
class _Token:
    text: str  # no surrounding whitespace, never empty
    start: float
    end: float
    space_before: bool  # joined to the previous token with a space
    segment_start: bool  # first word of a Whisper segment


# --- from segments to timed words --------------------------------------------------------------------------------


def _spread_text(segment: Segment) -> list[tuple[str, float, float]]:
    """A segment without word times: its words spread over the segment in proportion to their length."""
    parts = segment.text.split()
    if not parts:
        return []
    span = max(segment.end - segment.start, 0.0)
    weights = [len(p) + 1 for p in parts]
    total = sum(weights)
    out, t = [], segment.start
    for part, weight in zip(parts, weights, strict=True):
        step = span * weight / total
        out.append((part, t, t + step))
        t += step
    return out


def spread_words(segment: Segment) -> tuple[Word, ...]:
    """Words for a segment known only as text and times (a cue whose words could not be aligned on the audio): its
    words spread over it in proportion to their length, each with a leading space as Whisper gives words."""
    return tuple(Word(start=start, end=end, text=f" {text}") for text, start, end in _spread_text(segment))


def _glues(prev: str, nxt: str) -> bool:
    """Whether a word given without a leading space belongs to the previous one (``ill`` + ``-disposed``,
    ``l'`` + ``homme``, a word + ``?``), rather than being a separate word of a language written without spaces."""
    return not (prev[-1].isalnum() and nxt[0].isalnum())


def _is_closing_punctuation(text: str) -> bool:
    """Punctuation standing alone as a word (French " ?", " !", " :", " »"), which stays with the word before."""
    return not any(ch.isalnum() for ch in text) and text[0] not in _OPENING


def _tokens(segments: Sequence[Segment]) -> list[_Token]:
    tokens: list[_Token] = []
    last_start = 0.0
    for segment in segments:
        if segment.words:
            raw = [(w.text, w.start, w.end) for w in segment.words]
        else:
            raw = [(f" {text}", start, end) for text, start, end in _spread_text(segment)]
        first = True
        for word, start, end in raw:
            text = " ".join(word.split())
            if not text:
                continue
            # Keep order; never let time run backwards (Whisper's word times can overlap a little).
            start = max(float(start), last_start)
            end = max(float(end), start)
            space = word[:1].isspace() or first
            if tokens and not first and (
                (not space and _glues(tokens[-1].text, text)) or (_is_closing_punctuation(text))
            ):
                # Never break a line before "-disposed", "'homme" or a French " ?": one token on screen.
                prev = tokens[-1]
                joined = prev.text + (" " if space else "") + text
                tokens[-1] = _Token(joined, prev.start, max(prev.end, end), prev.space_before, prev.segment_start)
            else:
                tokens.append(_Token(text, start, end, space, first))
            last_start = start
            first = False
    return tokens


# --- lines ----------------------------------------------------------------------------------------------------


def _join(tokens: Sequence[_Token]) -> str:
    out = []
    for i, tok in enumerate(tokens):
        if i and tok.space_before:
            out.append(" ")
        out.append(tok.text)
    return "".join(out)


def _greedy_line_count(tokens: Sequence[_Token], max_chars: int) -> int:
    """Fewest lines these tokens fit on (greedy filling is optimal); an over-long word takes a line alone."""
    lines, width = 0, 0
    for tok in tokens:
        add = len(tok.text) + (1 if tok.space_before else 0)
        if lines == 0 or width + add > max_chars:
            lines += 1
            width = len(tok.text)
        else:
            width += add
    return lines


def _wrap(tokens: Sequence[_Token], max_chars: int, max_lines: int) -> tuple[str, ...]:
    """Lines for one cue: one line when it fits, else balanced lines, preferring breaks after punctuation."""
    n = len(tokens)
    whole = _join(tokens)
    if len(whole) <= max_chars or n == 1:
        return (whole,)
    # Dynamic programme over break positions: cost = sum of squared slack, a bonus for breaking after punctuation.
    inf = float("inf")
    best: dict[tuple[int, int], tuple[float, list[int]]] = {}

    def line_cost(i: int, j: int) -> float:
        text = _join(tokens[i:j])
        if len(text) > max_chars and j - i > 1:
            return inf
        cost = (max_chars - min(len(text), max_chars)) ** 2
        if j < n:
            last = tokens[j - 1].text
            if _SENTENCE_END.search(last):
                cost -= 400
            elif _CLAUSE_END.search(last):
                cost -= 200
        return cost

    def solve(i: int, lines_left: int) -> tuple[float, list[int]]:
        if i == n:
            return 0.0, []
        if lines_left == 0:
            return inf, []
        key = (i, lines_left)
        if key not in best:
            result: tuple[float, list[int]] = (inf, [])
            for j in range(i + 1, n + 1):
                cost = line_cost(i, j)
                if cost == inf:
                    break
                rest, cuts = solve(j, lines_left - 1)
                if rest + cost < result[0]:
                    result = (rest + cost, [j, *cuts])
            best[key] = result
        return best[key]

    # Balanced: use the fewest lines possible, then spread the words evenly over them.
    needed = _greedy_line_count(tokens, max_chars)
    _, cuts = solve(0, max(needed, 1))
    if not cuts:  # cannot happen when the tokens fit max_lines, kept as a safety net
        cuts = [n]
    lines, i = [], 0
    for j in cuts:
        lines.append(_join(tokens[i:j]))
        i = j
    return tuple(lines)


# --- cues -----------------------------------------------------------------------------------------------------


def _break_score(tokens: Sequence[_Token], i: int, k: int, capacity: int) -> float:
    """How good it is to end the cue tokens[i:k] there (higher is better)."""
    last = tokens[k - 1].text
    score = 0.0
    if k == len(tokens):
        score += 2.5
    elif _SENTENCE_END.search(last):
        score += 2.5
    elif _CLAUSE_END.search(last):
        score += 1.2
    gap = 0.0
    if k < len(tokens):
        gap = tokens[k].start - tokens[k - 1].end
        score += 2.5 * min(max(gap, 0.0), PAUSE_FULL_SCORE_S) / PAUSE_FULL_SCORE_S
        if tokens[k].segment_start:
            score += 0.5
    fill = len(_join(tokens[i:k])) / capacity
    score += 3.0 * fill
    if fill < 0.25 and gap < PAUSE_FULL_SCORE_S and k < len(tokens):
        score -= 1.5  # a tiny cue flashes by: only worth it at a real pause
    return score


def layout_cues(
    segments: Sequence[Segment],
    *,
    max_chars: int = MAX_CHARS,
    max_lines: int = MAX_LINES,
    min_duration: float = MIN_DURATION_S,
    max_duration: float = MAX_DURATION_S,
    max_cps: float = MAX_CPS,
) -> list[Cue]:
    """Group the words of ``segments`` into caption cues (pure).

    Every word appears once, in order, never split. A cue holds at most ``max_lines`` lines of at most
    ``max_chars`` characters (a single longer word sits alone on its line) and spans at most ``max_duration``
    seconds. A cue's end is extended into the following silence, up to the next cue, so that it stays at least
    ``min_duration`` on screen and is read at no more than ``max_cps`` characters a second where the pauses allow.
    Cues never overlap and their times strictly increase.
    """
    if max_chars < 1 or max_lines < 1 or max_duration <= 0 or max_cps <= 0:
        raise ValueError("layout_cues needs max_chars, max_lines, max_duration and max_cps above zero")
    tokens = _tokens(segments)
    capacity = max_chars * max_lines
    groups: list[tuple[int, int]] = []
    i, n = 0, len(tokens)
    while i < n:
        # The longest run of words from i that fits the lines and the duration, stopping at a long pause.
        k_max = i + 1
        for k in range(i + 2, n + 1):
            if tokens[k - 1].start - tokens[k - 2].end >= FORCE_BREAK_GAP_S:
                break
            if tokens[k - 1].end - tokens[i].start > max_duration:
                break
            if _greedy_line_count(tokens[i:k], max_chars) > max_lines:
                break
            k_max = k
        k = max(range(i + 1, k_max + 1), key=lambda kk: (_break_score(tokens, i, kk, capacity), kk))
        groups.append((i, k))
        i = k

    return _timed_cues(tokens, groups, max_chars, max_lines, min_duration, max_duration, max_cps)


def _timed_cues(
    tokens: Sequence[_Token],
    groups: Sequence[tuple[int, int]],
    max_chars: int,
    max_lines: int,
    min_duration: float,
    max_duration: float,
    max_cps: float,
) -> list[Cue]:
    """Cue times in whole milliseconds: from the first word, kept on into the following silence (up to the next
    cue) long enough to be read, never longer than ``max_duration``, never overlapping, strictly increasing."""
    cues: list[Cue] = []
    longest = max(math.floor(max_duration * 1000 + 1e-6), 1)
    prev_end = 0
    for idx, (i, k) in enumerate(groups):
        lines = _wrap(tokens[i:k], max_chars, max_lines)
        start = max(round(tokens[i].start * 1000), prev_end)
        words_end = max(round(tokens[k - 1].end * 1000), start + 1)
        chars = sum(len(line) for line in lines) + len(lines) - 1
        wanted = start + math.ceil(max(min_duration, chars / max_cps) * 1000 - 1e-6)
        limit = start + longest
        if idx + 1 < len(groups):
            limit = min(limit, round(tokens[groups[idx + 1][0]].start * 1000))
        end = max(min(max(words_end, min(wanted, limit)), start + longest), start + 1)
        cues.append(Cue(start / 1000, end / 1000, lines))
        prev_end = end
    return cues


# --- timestamps -------------------------------------------------------------------------------------------------


def _timestamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def vtt_timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm``"""
    return _timestamp(seconds, ".")


def srt_timestamp(seconds: float) -> str:
    """``HH:MM:SS,mmm``"""
    return _timestamp(seconds, ",")


# --- WebVTT -------------------------------------------------------------------------------------------------------

VTT_NOTE = (
    "Automatic captions: machine transcription (speech recognition), not reviewed by a person; "
    "they may contain errors."
)


def vtt_escape(text: str) -> str:
    """Text as WebVTT cue text: ``&``, ``<`` and ``>`` become character references."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clean_line(line: str) -> str:
    """A caption line on one line: line breaks and runs of spaces become one space."""
    return " ".join(line.split())


def translation_note(source_lang: str) -> str:
    """The NOTE of a machine-translated track: where it comes from."""
    return (
        f"Machine translation: speech in {_clean_line(source_lang)} translated into English by Whisper's translate "
        f"task, not reviewed by a person; it may contain errors."
    )


def vtt_text(cues: Sequence[Cue], lang: str, note: str = VTT_NOTE) -> str:
    """A WebVTT file: header with the language, a note that the captions are automatic, then the cues."""
    note = _clean_line(note).replace("-->", "->")  # a NOTE block may hold anything but "-->" and blank lines
    out = ["WEBVTT", f"Language: {_clean_line(lang)}", "", "NOTE", note, ""]
    for cue in cues:
        lines = [vtt_escape(c) for c in (_clean_line(line) for line in cue.lines) if c]
        speaker = vtt_escape(_clean_line(cue.speaker or ""))
        if speaker:  # a voice span over the whole cue: its closing tag may be left out (WebVTT 4.2.2)
            lines[:1] = [f"<v {speaker}>{lines[0] if lines else ''}"]
        out.append(f"{vtt_timestamp(cue.start)} --> {vtt_timestamp(cue.end)}")
        out.extend(lines)
        out.append("")
    return "\n".join(out)


_VTT_TIME = r"(?:([0-9]{2,}):)?([0-5][0-9]):([0-5][0-9])\.([0-9]{3})"
_VTT_TIMING = re.compile(rf"^{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t]+(.*))?$")
_VTT_TAG = re.compile(r"<[^<>]*>")
_VTT_VOICE = re.compile(r"<v(?:\.[^\s<>]*)?(?:[ \t]+([^<>]*))?>")  # <v Name>, <v.loud Name>: classes ignored


def _seconds(groups: Sequence[str | None]) -> float:
    hours, minutes, secs, ms = groups
    return (((int(hours or 0) * 60 + int(minutes)) * 60 + int(secs)) * 1000 + int(ms)) / 1000


def _cue_speaker(payload: Sequence[str], first_lineno: int) -> str | None:
    """The name of a cue's voice span(s) (``<v Alice>``), None when it has none; ValueError for two voices in one
    cue (a segment of the transcript has one speaker)."""
    speaker = None
    for n, line in enumerate(payload):
        for match in _VTT_VOICE.finditer(line):
            name = " ".join(html.unescape(match.group(1) or "").split()) or None
            if name is None:
                continue
            if speaker is not None and name != speaker:
                raise ValueError(
                    f"line {first_lineno + n}: two speakers in one cue ({speaker!r} and {name!r}); "
                    "split it into one cue per speaker"
                )
            speaker = name
    return speaker


def _payload_line(line: str, lineno: int) -> str:
    """Cue text as plain text: markup tags (<i>, <v Name>, <00:01.000>) removed, references decoded."""
    if "-->" in line:
        raise ValueError(f"line {lineno}: '-->' inside cue text (a blank line is missing before a cue timing?)")
    plain = _VTT_TAG.sub("", line)
    if "<" in plain or ">" in plain:
        raise ValueError(f"line {lineno}: unbalanced '<' or '>' in cue text; write &lt; and &gt; for the signs")
    return html.unescape(plain)  # WebVTT takes HTML character references


def parse_vtt(text: str) -> list[Cue]:
    """Cues of a WebVTT file, with cue text as plain text (tags removed, character references decoded) and the
    name of the cue's voice span (``<v Alice>``) as its speaker.

    Strict where a mistake would lose or misplace a caption: raises ValueError naming the line for a missing
    ``WEBVTT`` header, a malformed timing line, an end not after its start, stray ``-->`` or ``<``, or two speakers
    in one cue.
    NOTE, STYLE and REGION blocks are skipped.
    """
    if not isinstance(text, str):
        raise ValueError("line 1: WebVTT text must be a string")
    lines = re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))
    for number, line in enumerate(lines, start=1):
        if "\x00" in line:
            raise ValueError(f"line {number}: NUL character in a WebVTT file")
    first = lines[0]
    if not (first == "WEBVTT" or first.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise ValueError("line 1: a WebVTT file starts with 'WEBVTT'")
    if "-->" in first:
        raise ValueError("line 1: '-->' in the WEBVTT header line")
    i = 1
    # Header lines run to the first blank line.
    while i < len(lines) and lines[i] != "":
        if "-->" in lines[i]:
            raise ValueError(f"line {i + 1}: a cue timing in the header: put a blank line after the header")
        i += 1
    cues: list[Cue] = []
    while i < len(lines):
        if lines[i] == "":
            i += 1
            continue
        block_start = i
        block = []
        while i < len(lines) and lines[i] != "":
            block.append(lines[i])
            i += 1
        head = block[0]
        if head == "NOTE" or head.startswith(("NOTE ", "NOTE\t")):
            continue  # comments may hold anything but "-->"
        if head in ("STYLE", "REGION") and "-->" not in "".join(block):
            if cues:
                raise ValueError(f"line {block_start + 1}: {head} block after the first cue")
            continue
        timing_at = 0
        if "-->" not in head:
            timing_at = 1  # a cue identifier first
            if len(block) < 2:
                raise ValueError(f"line {block_start + 1}: text without a cue timing line ({head[:40]!r})")
        timing = block[timing_at]
        lineno = block_start + timing_at + 1
        match = _VTT_TIMING.match(timing)
        if match is None:
            raise ValueError(
                f"line {lineno}: malformed cue timing {timing[:60]!r}; expected HH:MM:SS.mmm --> HH:MM:SS.mmm"
            )
        start, end = _seconds(match.groups()[0:4]), _seconds(match.groups()[4:8])
        if end <= start:
            raise ValueError(f"line {lineno}: the cue ends ({end:.3f} s) before it starts or as it starts")
        raw_payload = block[timing_at + 1 :]
        payload = tuple(_payload_line(line, lineno + 1 + n) for n, line in enumerate(raw_payload))
        cues.append(Cue(start, end, payload, _cue_speaker(raw_payload, lineno + 1), line=lineno))
    return cues


# --- SRT, text, JSON ----------------------------------------------------------------------------------------------


def srt_text(cues: Sequence[Cue]) -> str:
    """A SubRip file: numbered cues, ``HH:MM:SS,mmm`` times; the text as it is (SRT has no escaping)."""
    out = []
    for number, cue in enumerate(cues, start=1):
        out.append(str(number))
        out.append(f"{srt_timestamp(cue.start)} --> {srt_timestamp(cue.end)}")
        out.extend(c for c in (_clean_line(line) for line in cue.lines) if c)
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


PARAGRAPH_GAP_S = 2.0  # a pause this long between segments starts a new paragraph
PARAGRAPH_CHARS = 600  # past this length, a paragraph ends at the next sentence end


def speaker_label(speaker: str, language: str) -> str:
    """`Alice : ` in French (a space before the colon), `Alice: ` elsewhere: what starts a speaker's paragraph."""
    return f"{' '.join(speaker.split())}{' :' if language == 'fr' else ':'} "


def transcript_txt(transcript: Transcript) -> str:
    """The transcript as readable paragraphs, separated by blank lines; a new speaker (a segment naming one other
    than the last named) starts a paragraph with the speaker's name."""
    paragraphs: list[list[str]] = []
    current: list[str] = []
    size = 0
    prev_end: float | None = None
    speaker: str | None = None  # the last speaker named: segments naming nobody go on with them
    for segment in transcript.segments:
        text = " ".join(segment.text.split())
        if not text:
            continue
        turn = segment.speaker is not None and segment.speaker != speaker
        if current and (
            turn
            or (prev_end is not None and segment.start - prev_end >= PARAGRAPH_GAP_S)
            or (size >= PARAGRAPH_CHARS and _SENTENCE_END.search(current[-1]))
        ):
            paragraphs.append(current)
            current, size = [], 0
        if turn:
            speaker = segment.speaker
            text = speaker_label(segment.speaker, transcript.language) + text
        current.append(text)
        size += len(text) + 1
        prev_end = segment.end
    if current:
        paragraphs.append(current)
    return "".join(" ".join(p) + "\n\n" for p in paragraphs).removesuffix("\n")


def transcript_json(transcript: Transcript, *, word_timing: str | None = None) -> str:
    """The transcript as JSON: language, engine, model, duration and segments with their speaker (when named) and
    their words; ``word_timing`` says how the word times were made when not by the transcription itself."""
    data: dict[str, object] = {
        "language": transcript.language,
        "language_probability": transcript.language_probability,
        "duration_s": transcript.duration_s,
        "engine": transcript.engine,
        "model": transcript.model,
    }
    if word_timing is not None:
        data["word_timing"] = word_timing
    data["segments"] = [
        {
            "start": round(s.start, 3),
            "end": round(s.end, 3),
            "text": s.text.strip(),
            **({"speaker": s.speaker} if s.speaker is not None else {}),
            "words": [
                {
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "text": w.text.strip(),
                    "probability": round(w.probability, 4),
                }
                for w in s.words
            ],
        }
        for s in transcript.segments
    ]
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


# --- files -----------------------------------------------------------------------------------------------------

_LANG_CODE = re.compile(r"[a-z]{2,3}")


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_transcript_files(transcript: Transcript, out_dir: Path, *, note: str = VTT_NOTE) -> TranscriptFiles:
    """Write ``captions/<lang>.vtt`` and ``transcript/<lang>.srt|.txt|.json`` under ``out_dir`` (UTF-8).

    ``note`` is the WebVTT NOTE saying how the captions were made (automatic by default; see
    :func:`translation_note`)."""
    lang = transcript.language
    if not _LANG_CODE.fullmatch(lang):
        raise TranscriptionError(
            f"transcript language {lang!r} is not a short language code (two or three lower-case letters "
            f"such as fr or en); set the conference language"
        )
    out_dir = Path(out_dir)
    cues = layout_cues(transcript.segments)
    files = TranscriptFiles(
        lang=lang,
        vtt=out_dir / "captions" / f"{lang}.vtt",
        srt=out_dir / "transcript" / f"{lang}.srt",
        txt=out_dir / "transcript" / f"{lang}.txt",
        json=out_dir / "transcript" / f"{lang}.json",
    )
    try:
        _write_text(files.vtt, vtt_text(cues, lang, note))
        _write_text(files.srt, srt_text(cues))
        _write_text(files.txt, transcript_txt(transcript))
        _write_text(files.json_, transcript_json(transcript))
    except OSError as exc:
        raise TranscriptionError(
            f"cannot write the caption and transcript files under {out_dir}: {exc.strerror or exc}; "
            f"check that the folder is writable and the disk has space"
        ) from None
    return files
