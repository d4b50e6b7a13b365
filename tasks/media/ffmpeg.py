"""The one adapter for the ffmpeg and ffprobe programs, and the only importer of ffmpeg-python.

Every ffmpeg and ffprobe run of the project's media code goes through here: `run` (stderr captured), `make` (a run
writing one file, checked non-empty), `run_with_progress` (`-progress pipe:1` read against the probed duration) and
`probe_json` (ffprobe's JSON). Their errors are one line with ffmpeg's stderr tail (`TranscodeError`, or
`ProbeError` for ffprobe). `compile_args` turns an ffmpeg-python graph into an argument list (the thumbnail, the
remux and the speech commands); the other commands are plain lists (the ladder and the sprite in `tasks.media.hls`,
the loudness passes in `tasks.media.audio`).

A recording is read only as a self-contained file: `probe_recording_json` lets detection choose among the
`RECORDING_FORMATS` demuxers only, and every ffmpeg run on it (`recording_input`, or `compile_args` with
`recording_format`) is forced to the demuxer the probe found, with the file protocol only and the path as a `file:`
URL. A playlist (HLS, ffconcat, ...) is never opened, so no other file or URL is ever read in its place.

The demo (`tasks.demo.sample`) and the transcode benchmark (`tasks.bench.media`) run ffmpeg through `run` too. Only
`tasks.bench.whisper` (test audio for the Whisper benchmark) and the tests' helpers call the programs themselves.

Argument lists exclude the program name: `run(args)` runs ``["ffmpeg", *args]``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ffmpeg  # ffmpeg-python (an absolute import: the library, never this module)

from confcast.tasks.errors import ProbeError, TranscodeError, stderr_tail
from confcast.tasks.models import Cut

FFPROBE_TIMEOUT_S = 120

# Options every ffmpeg run gets: no banner, no reading of stdin, errors only on stderr.
QUIET = ("-hide_banner", "-nostdin", "-loglevel", "error")
MISSING_FFMPEG = "ffmpeg is not installed: install the Debian package ffmpeg (apt-get install ffmpeg)"
MISSING_FFPROBE = "ffprobe is not installed: install the Debian package ffmpeg (apt-get install ffmpeg)"

# Demuxers of self-contained recordings, as ffprobe names them (`format_name`): what cameras, phones, screen
# recorders and editors write. A demuxer that opens further files or URLs (hls, concat, dash, imf, image2 sequences,
# sdp, ...) is left out: a "recording" it read would be transcoded with other files' content.
RECORDING_FORMATS = (
    "mov,mp4,m4a,3gp,3g2,mj2",  # MP4, MOV, M4A, 3GP: phones, cameras, QuickTime, most editors
    "matroska,webm",  # MKV, WebM, MKA: OBS, browsers
    "avi",
    "mpegts",  # TS, M2TS, MTS: AVCHD cameras, broadcast captures
    "mpeg",  # MPEG program stream: MPG, VOB
    "flv",
    "asf",  # WMV, WMA
    "mxf",
    "dv",
    "ogg",  # Ogg Vorbis, Opus, Theora
    "wav",  # WAV, RF64
    "w64",
    "aiff",
    "caf",
    "mp3",
    "flac",
    "aac",  # ADTS
)
_RECORDING_DEMUXERS = frozenset(name.split(",")[0] for name in RECORDING_FORMATS)
_NOT_ON_WHITELIST = re.compile(r"^\[([^\s@\]]+) @ 0x[0-9a-fA-F]+\] Format not on whitelist", re.M)


class FormatRefused(ProbeError):
    """ffprobe detected a demuxer outside `RECORDING_FORMATS` and stopped before it ran (nothing the file names was
    opened); `format_name` says which."""

    def __init__(self, what: str, format_name: str) -> None:
        super().__init__(f"{what}: the '{format_name}' format is not a recording format confcast accepts")
        self.format_name = format_name


# --- building ---------------------------------------------------------------------------------------


def compile_args(
    source: Path,
    output: Path,
    *,
    stream: str | None = None,
    filters: Sequence[tuple[Any, ...]] = (),
    recording_format: str | None = None,
    cut: Cut | None = None,
    **options: Any,
) -> list[str]:
    """Quiet ffmpeg arguments reading `source` (only its stream `stream` when given), applying `filters` in order
    (each ``(name, *arguments)``) and writing `output` with `options` (overwriting it). Pure.

    A recording is read as `recording_input` reads it: give its probed `recording_format` (and its `cut`)."""
    if recording_format is None:
        node = ffmpeg.input(str(source))
    else:
        demuxer, url = _recording(source, recording_format)
        seek = {} if cut is None else {"ss": seconds(cut.start_s), "t": seconds(cut.duration_s)}
        node = ffmpeg.input(url, format=demuxer, protocol_whitelist="file", **seek)
    if stream is not None:
        node = node[stream]
    for name, *arguments in filters:
        node = node.filter(name, *arguments)
    return [*QUIET, *node.output(str(output), **options).overwrite_output().get_args()]


def recording_input(path: Path, format_name: str, cut: Cut | None = None) -> list[str]:
    """ffmpeg's input options reading a recording: forced to the demuxer the probe found (the file cannot turn
    into a playlist between probe and transcode), the file protocol only, the absolute path as a `file:` URL (a name
    like `concat:a|b` or `http:x.mp4` is a file name). Pure.

    A `cut` reads only that part: `-ss` before the input seeks to the keyframe before it and decodes from there,
    dropping what comes before the start (ffmpeg's accurate seek: frame- and sample-exact), and `-t` stops reading
    at its end; timestamps then start at 0."""
    demuxer, url = _recording(path, format_name)
    seek = [] if cut is None else ["-ss", seconds(cut.start_s), "-t", seconds(cut.duration_s)]
    return [*seek, "-f", demuxer, "-protocol_whitelist", "file", "-i", url]


def seconds(value: float) -> str:
    """A time for ffmpeg's options, to the microsecond: `62.5` -> `62.500000`."""
    return f"{value:.6f}"


def _recording(path: Path, format_name: str) -> tuple[str, str]:
    """The demuxer and the URL of a recording; TranscodeError for a format that is not a recording's."""
    demuxer = format_name.split(",")[0]
    if demuxer not in _RECORDING_DEMUXERS:
        raise TranscodeError(
            f"{path}: the '{format_name}' format is not a recording format confcast accepts; publish a video or "
            "audio recording (MP4, MKV, WebM, MOV, WAV, ...)"
        )
    if not Path(path).is_absolute():
        raise ValueError(f"a recording's path must be absolute: {path}")
    return demuxer, f"file:{path}"


def format_refused(stderr: bytes | str) -> str | None:
    """The demuxer ffprobe detected but may not use (not on `-format_whitelist`), from its stderr; else None."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    found = _NOT_ON_WHITELIST.search(text)
    return found.group(1) if found else None


def parse_progress(line: str, duration_s: float) -> float | None:
    """Fraction done, in [0, 1], from one line of ffmpeg's `-progress` output; None for other lines."""
    key, sep, value = line.strip().partition("=")
    if not sep:
        return None
    if key == "progress":
        return 1.0 if value.strip() == "end" else None
    if key not in ("out_time_us", "out_time_ms"):  # both are microseconds
        return None
    if duration_s <= 0:
        return None
    try:
        micros = int(value.strip())
    except ValueError:  # "N/A" before the first frame
        return None
    return min(1.0, max(0.0, micros / 1_000_000 / duration_s))


def partial_path(output: Path) -> Path:
    """Where ffmpeg writes before the result is checked and moved into place (same folder, same suffix)."""
    return output.with_name(f".{output.stem}.partial{output.suffix}")


def non_empty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


# --- running ----------------------------------------------------------------------------------------


def run(args: list[str]) -> tuple[int, bytes]:
    """Run ffmpeg with stdout and stderr captured: its exit status and stderr. TranscodeError only if ffmpeg is
    missing; the caller judges the exit status (ffmpeg can exit 0 after decode errors)."""
    try:
        done = subprocess.run(["ffmpeg", *args], capture_output=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise TranscodeError(MISSING_FFMPEG) from exc
    return done.returncode, done.stderr


def make(args: list[str], partial: Path, what: str, final: Path | None = None) -> Path:
    """Run ffmpeg writing `partial`; check it is there; move it to `final` when given."""
    returncode, stderr = run(args)
    _check_made(partial, returncode, stderr, what)
    if final is None:
        return partial
    os.replace(partial, final)
    return final


def _check_made(partial: Path, returncode: int, stderr: bytes, what: str) -> None:
    if returncode != 0:
        partial.unlink(missing_ok=True)
        raise TranscodeError(
            f"{what} failed (ffmpeg exit {returncode}): {stderr_tail(stderr) or 'no message'}; "
            "check that the recording plays, or re-export it"
        )
    if not non_empty(partial):
        partial.unlink(missing_ok=True)
        raise TranscodeError(
            f"{what} made an empty file although ffmpeg exited 0: {stderr_tail(stderr) or 'no message'}; "
            "the recording may be damaged, re-export it"
        )


def run_with_progress(args: list[str], duration_s: float, report: Callable[[float], None], what: str) -> None:
    """Run ffmpeg with `-progress pipe:1` among `args`, reporting fractions below 1.0; TranscodeError on failure."""
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                ["ffmpeg", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, text=True
            )
        except FileNotFoundError as exc:
            raise TranscodeError(MISSING_FFMPEG) from exc
        try:
            assert process.stdout is not None
            for line in process.stdout:
                fraction = parse_progress(line, duration_s)
                if fraction is not None:
                    report(min(fraction, 0.99))  # 1.0 once the outputs are checked
            returncode = process.wait()
        finally:
            if process.poll() is None:  # interrupted, e.g. by on_progress raising
                process.kill()
                process.wait()
        errors.seek(0)
        stderr = errors.read()
    if returncode != 0:
        raise TranscodeError(
            f"{what} failed (ffmpeg exit {returncode}): {stderr_tail(stderr) or 'no message'}; "
            "check that the recording plays, or re-export it"
        )


def probe_recording_json(path: Path, what: str) -> dict[str, Any]:
    """ffprobe's format and streams of a recording, as JSON. Detection may choose only a demuxer of
    `RECORDING_FORMATS` (anything else is refused before it reads more than the file's first bytes: FormatRefused),
    and only the file protocol may be used."""
    formats = ",".join(RECORDING_FORMATS)
    options = ["-protocol_whitelist", "file", "-format_whitelist", formats]
    return _ffprobe([*options, f"file:{Path(path).absolute()}"], what)


def probe_json(path: Path, what: str) -> dict[str, Any]:
    """ffprobe's format and streams of a file (what ffmpeg made), as JSON; ProbeError naming `what` when it cannot
    be read."""
    return _ffprobe([str(path)], what)


def _ffprobe(source: list[str], what: str) -> dict[str, Any]:
    args = ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-of", "json", *source]
    try:
        done = subprocess.run(args, capture_output=True, timeout=FFPROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise ProbeError(MISSING_FFPROBE) from exc
    except subprocess.TimeoutExpired as exc:
        raise ProbeError(f"{what}: ffprobe took over {FFPROBE_TIMEOUT_S} s to read it; check the file") from exc
    if done.returncode != 0:
        refused = format_refused(done.stderr)
        if refused is not None:
            raise FormatRefused(what, refused)
        raise ProbeError(
            f"{what}: not a media file ffprobe can read ({stderr_tail(done.stderr, 1) or 'no details'}); "
            "give the path of a video or audio recording"
        )
    try:
        return json.loads(done.stdout or b"{}")
    except json.JSONDecodeError as exc:
        raise ProbeError(f"{what}: ffprobe gave unreadable output; check the file and ffprobe") from exc
