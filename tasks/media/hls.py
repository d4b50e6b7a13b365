"""The single-decode ladder command and HLS playlists, as pure functions; plus reading playlists back from disk
and adding the caption files as a subtitle rendition (`add_subtitles`).

One ffmpeg process decodes the recording once; a filter graph splits the picture to the top rung's scaler (each
smaller rung is scaled from the one above it), to the seek-thumbnail sprite and to the poster candidates, and splits
the audio to every rung. ffmpeg's HLS muxer writes fMP4 (CMAF) segments with aligned keyframes (fixed GOP, no
scene-cut keyframes). The master playlist is written here rather than by ffmpeg: BANDWIDTH is the measured peak
segment bit rate, and the captions join as a WebVTT subtitle rendition once transcription has finished.
`tasks.media.video` runs the command (through `tasks.media.ffmpeg`) and `tasks.media.checks` reads the playlists back
with the functions here.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from confcast.config.ladder import DEFAULT_LADDER, LadderPreset
from confcast.tasks.errors import TranscodeError
from confcast.tasks.media.drawtext import title_filter
from confcast.tasks.media.ffmpeg import recording_input
from confcast.tasks.media.ladder import Rung
from confcast.tasks.media.thumbnails import SpritePlan
from confcast.tasks.models import Cut, HlsLadder, HlsSubtitles, HlsVariant

MASTER = "master.m3u8"
FFMPEG_MASTER = "ffmpeg-master.m3u8"  # what ffmpeg writes; only its CODECS are kept
VARIANT_PLAYLIST = "index.m3u8"
INIT_SEGMENT = "init.mp4"  # ffmpeg names it init_<n>.mp4, n the variant's number
SUBTITLES_DIR = "subtitles"
SUBTITLE_GROUP = "subs"
HLS_VERSION = 7  # fMP4 segments need 6+ (EXT-X-MAP in a playlist without I-frames only)

VIDEO_CODEC = "libx264"
VIDEO_PROFILE = "high"
VIDEO_PIX_FMT = "yuv420p"
AUDIO_CODEC = "aac"
THUMB_QUALITY = 5  # mjpeg -q:v, 2 (best) .. 31
CANDIDATE_QUALITY = 3


@dataclass(frozen=True)
class LadderJob:
    """What one ffmpeg run makes from a recording."""

    source: Path
    source_format: str  # ffprobe's format_name of the source: ffmpeg is forced to that demuxer
    duration_s: float
    rungs: tuple[Rung, ...]  # tallest first
    video_input: str  # "0:3" (a stream of the source) or "1:0" (the title card input)
    card: str | None = None  # lavfi source of a still card, for audio-only recordings
    card_text: Path | None = None  # a file holding the title drawn on the card (a file: the title is never parsed)
    deinterlace: bool = False
    video_duration_s: float | None = None  # the picture's own length (segments follow it, not a longer audio)
    audio_input: str | None = None  # "0:1"; None for a silent recording
    audio_channels: int = 2  # 1 keeps mono mono; more channels are downmixed to 2
    audio_filter: str | None = None  # what listeners hear: leveller and loudnorm (tasks.media.audio.listening_filter)
    sprite: SpritePlan | None = None
    poster_every_s: float | None = None  # one candidate frame every so many seconds
    preset: LadderPreset = DEFAULT_LADDER
    cut: Cut | None = None  # only this part of the source is decoded (a talk of a longer recording)
    slide_scan: SlideScan | None = None  # small frames for slide-change detection (tasks/chapters)
    threads: int | None = None  # ffmpeg's decoder, filter graph and encoders; None: ffmpeg sizes them itself


@dataclass(frozen=True)
class SlideScan:
    """What the decode keeps for slide-change detection: a small grey copy (raw) and a larger frame a second."""

    grey_width: int
    grey_height: int
    grey_rate: float
    frame_width: int  # the kept frames' size (slide images, read by OCR)
    frame_height: int


SLIDES_DIR = "slides"  # under the decode's work folder: grey.raw and frames/NNNNN.jpg
SLIDE_GREY = "grey.raw"
SLIDE_FRAME_QUALITY = 4


def fps_text(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"


def build_filter_graph(job: LadderJob) -> str:
    """The filter graph: picture normalised once (deinterlace, constant rate), then split to every consumer."""
    fps = job.rungs[0].fps
    cascade = job.preset.scale_from_rung_above  # then only the top rung is scaled from the source
    outputs = ["[s0]"] if cascade else [f"[s{i}]" for i in range(len(job.rungs))]
    if job.sprite is not None:
        outputs.append("[ts]")
    if job.poster_every_s is not None:
        outputs.append("[ps]")
    if job.slide_scan is not None:
        outputs.append("[ss]")
    head = "bwdif=mode=send_frame:parity=auto:deint=interlaced," if job.deinterlace else ""
    if job.card_text is not None:
        head = title_filter(job.card_text, job.rungs[0].height) + ","
    # A cut starts at 0 on both sides: the first frame and the first sample at or after the cut's start (ffmpeg
    # shifts by the file's start, which an audio priming delay makes negative: the picture would slip a frame).
    zero, azero = ("setpts=PTS-STARTPTS,", "asetpts=PTS-STARTPTS,") if job.cut is not None else ("", "")
    chains = [f"[{job.video_input}]{zero}{head}fps={fps_text(fps)},split={len(outputs)}{''.join(outputs)}"]
    for i, rung in enumerate(job.rungs):
        scaled = f"scale={rung.width}:{rung.height}:flags=bicubic,setsar=1,format={VIDEO_PIX_FMT}"
        source = f"[c{i - 1}]" if cascade and i > 0 else f"[s{i}]"
        below = cascade and i < len(job.rungs) - 1  # the next rung is scaled from this one
        chains.append(f"{source}{scaled}" + (f",split=2[v{i}][c{i}]" if below else f"[v{i}]"))
    # eof_action=pass: the frame due at the end still comes out, so a clip shorter than one interval has one.
    if job.sprite is not None:
        s = job.sprite
        chains.append(
            f"[ts]fps=1/{s.interval_s:g}:eof_action=pass,scale={s.tile_width}:{s.tile_height},setsar=1[thumbs]"
        )
    if job.poster_every_s is not None:
        top = job.rungs[0]
        width, height = _poster_size(top)
        chains.append(f"[ps]fps=1/{job.poster_every_s:.3f}:eof_action=pass,scale={width}:{height},setsar=1[poster]")
    if job.slide_scan is not None:  # few frames, small: a small share of the ladder's cost (confcast bench transcode)
        chains.append(slide_scan_chain(job.slide_scan, "[ss]"))
    if job.audio_input is not None:
        layout = "mono" if job.audio_channels == 1 else "stereo"
        labels = "".join(f"[a{i}]" for i in range(len(job.rungs)))
        # async resampling keeps audio on the video's clock when the source's timestamps jump (variable rate).
        chains.append(
            f"[{job.audio_input}]{azero}aresample=async=1:first_pts=0,aformat=channel_layouts={layout},"
            + (f"{job.audio_filter}," if job.audio_filter else "")
            + f"asplit={len(job.rungs)}{labels}"
        )
    return ";".join(chains)


POSTER_MAX_HEIGHT = 720


def _poster_size(top: Rung) -> tuple[int, int]:
    if top.height <= POSTER_MAX_HEIGHT:
        return top.width, top.height
    width = round(top.width * POSTER_MAX_HEIGHT / top.height / 2) * 2
    return width, POSTER_MAX_HEIGHT


def poster_size(job: LadderJob) -> tuple[int, int]:
    return _poster_size(job.rungs[0])


def build_ladder_args(job: LadderJob, work: Path) -> list[str]:
    """ffmpeg arguments (without the program name) writing work/hls/<rung>/..., work/thumbs/NNNNN.jpg and
    work/candidates/NNN.jpg in one decode; progress on standard output.

    Thumbnails come out one file each and are tiled afterwards from those small files: a `tile` filter here would
    hold its output until the end, and ffmpeg then stops reporting progress.
    """
    preset = job.preset
    args = ["-hide_banner", "-nostdin", "-loglevel", "error", "-progress", "pipe:1", "-nostats", "-y"]
    threads = [] if job.threads is None else ["-threads", str(job.threads)]  # an input, then an output option
    if job.threads is not None:
        args += ["-filter_complex_threads", str(job.threads)]
    args += threads + recording_input(job.source, job.source_format, job.cut)  # its probed demuxer, files only
    if job.card is not None:
        args += ["-f", "lavfi", "-i", job.card]
    args += ["-filter_complex", build_filter_graph(job)]
    streams = []
    for i, rung in enumerate(job.rungs):
        args += ["-map", f"[v{i}]"]
        entry = f"v:{i}"
        if job.audio_input is not None:
            args += ["-map", f"[a{i}]"]
            entry += f",a:{i}"
        streams.append(f"{entry},name:{rung.name}")
    gop = str(job.rungs[0].gop)
    args += ["-c:v", VIDEO_CODEC, "-preset", preset.x264_preset, "-profile:v", VIDEO_PROFILE]
    args += ["-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-flags", "+cgop"]
    if job.card is not None:
        args += ["-tune", "stillimage", "-shortest"]
    elif preset.x264_tune:
        args += ["-tune", preset.x264_tune]
    if preset.x264_params:
        args += ["-x264-params", preset.x264_params]
    args += threads
    for i, rung in enumerate(job.rungs):
        args += [f"-b:v:{i}", str(rung.video_bitrate), f"-maxrate:v:{i}", str(rung.maxrate)]
        args += [f"-bufsize:v:{i}", str(rung.bufsize)]
    if job.audio_input is not None:
        args += ["-c:a", AUDIO_CODEC, "-b:a", str(preset.audio_bitrate)]
    hls = work / "hls"
    args += ["-map_metadata", "-1", "-map_chapters", "-1"]
    args += [
        "-f", "hls",
        "-hls_time", f"{preset.segment_s:g}",
        "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4",
        "-hls_flags", "independent_segments",
        "-hls_fmp4_init_filename", INIT_SEGMENT,
        "-hls_segment_filename", str(hls / "%v" / "seg_%05d.m4s"),
        "-master_pl_name", FFMPEG_MASTER,
        "-var_stream_map", " ".join(streams),
        str(hls / "%v" / VARIANT_PLAYLIST),
    ]  # fmt: skip
    if job.sprite is not None:
        args += ["-map", "[thumbs]", "-c:v", "mjpeg", "-q:v", str(THUMB_QUALITY), *threads]
        args += ["-f", "image2", str(work / "thumbs" / "%05d.jpg")]
    if job.poster_every_s is not None:
        args += ["-map", "[poster]", "-c:v", "mjpeg", "-q:v", str(CANDIDATE_QUALITY), *threads]
        args += ["-f", "image2", str(work / "candidates" / "%03d.jpg")]
    if job.slide_scan is not None:
        args += slide_scan_outputs(work)
    return args


def slide_scan_chain(scan: SlideScan, source: str) -> str:
    """The filter chains from `source` (a label of the normalised picture) to [slidegrey] and [slideframe]."""
    return (
        f"{source}fps={scan.grey_rate:g},split=2[sg][sk];"
        f"[sg]scale={scan.grey_width}:{scan.grey_height}:flags=area,format=gray[slidegrey];"
        f"[sk]fps=1:eof_action=pass,scale={scan.frame_width}:{scan.frame_height}:flags=bicubic,setsar=1[slideframe]"
    )


def slide_scan_outputs(work: Path) -> list[str]:
    """The outputs of the slide scan: work/slides/grey.raw (raw grey frames) and work/slides/frames/NNNNN.jpg."""
    slides = work / SLIDES_DIR
    return [
        "-map", "[slidegrey]", "-c:v", "rawvideo", "-pix_fmt", "gray", "-f", "rawvideo", str(slides / SLIDE_GREY),
        "-map", "[slideframe]", "-c:v", "mjpeg", "-q:v", str(SLIDE_FRAME_QUALITY),
        "-start_number", "0", "-f", "image2", str(slides / "frames" / "%05d.jpg"),
    ]  # fmt: skip


def build_sprite_args(thumbs: Path, columns: int, rows: int, output: Path) -> list[str]:
    """ffmpeg arguments tiling the small thumbnail JPEGs (not the recording) into one sprite sheet."""
    return [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-framerate", "1", "-start_number", "1", "-i", str(thumbs / "%05d.jpg"),
        "-frames:v", "1", "-vf", f"tile={columns}x{rows}", "-c:v", "mjpeg", "-q:v", str(THUMB_QUALITY),
        "-update", "1", "-f", "image2", str(output),
    ]  # fmt: skip


# --- playlists -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaPlaylist:
    target_duration: int
    init: str | None  # EXT-X-MAP URI
    segments: tuple[tuple[float, str], ...]  # (duration, URI)
    ended: bool

    @property
    def duration_s(self) -> float:
        return sum(duration for duration, _ in self.segments)


def parse_media_playlist(text: str) -> MediaPlaylist:
    """A VOD media playlist's segments; ValueError if it is not one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not an M3U8 playlist (no #EXTM3U first line)")
    target, init, pending, segments, ended = None, None, None, [], False
    for line in lines[1:]:
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MAP:"):
            match = re.search(r'URI="([^"]+)"', line)
            init = match.group(1) if match else None
        elif line.startswith("#EXTINF:"):
            pending = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif not line.startswith("#"):
            if pending is None:
                raise ValueError(f"segment {line} has no #EXTINF duration")
            segments.append((pending, line))
            pending = None
    if target is None:
        raise ValueError("no #EXT-X-TARGETDURATION")
    return MediaPlaylist(target_duration=target, init=init, segments=tuple(segments), ended=ended)


def stream_codecs(master_text: str) -> dict[str, str]:
    """CODECS of each variant of a master playlist, by its URI."""
    codecs: dict[str, str] = {}
    pending = None
    for line in (line.strip() for line in master_text.splitlines()):
        if line.startswith("#EXT-X-STREAM-INF:"):
            match = re.search(r'CODECS="([^"]+)"', line)
            pending = match.group(1) if match else ""
        elif line and not line.startswith("#") and pending is not None:
            codecs[line] = pending
            pending = None
    return codecs


def check_variant(root: Path, playlist: str, expected_s: float, tolerance_s: float) -> MediaPlaylist:
    """Read a variant's playlist and check it: ended, every file there and non-empty, durations add up."""
    path = root / playlist
    what = f"HLS playlist {playlist}"
    try:
        parsed = parse_media_playlist(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TranscodeError(f"{what} is missing or unreadable ({exc}); re-run, and report it if it persists") from exc
    folder = path.parent
    names = ([parsed.init] if parsed.init else []) + [uri for _, uri in parsed.segments]
    missing = [name for name in names if not (folder / name).is_file() or (folder / name).stat().st_size == 0]
    problems = []
    if not parsed.ended:
        problems.append("no #EXT-X-ENDLIST")
    if not parsed.init:
        problems.append("no init segment (#EXT-X-MAP)")
    if missing:
        problems.append(f"missing or empty: {', '.join(missing[:3])}")
    if not parsed.segments or abs(parsed.duration_s - expected_s) > tolerance_s:
        problems.append(f"segments add up to {parsed.duration_s:.3f} s instead of {expected_s:.3f} s")
    longest = max((d for d, _ in parsed.segments), default=0.0)
    if math.ceil(longest - 0.001) > parsed.target_duration + 1:
        problems.append(f"a segment of {longest:.3f} s exceeds the target duration {parsed.target_duration} s")
    if problems:
        raise TranscodeError(f"{what} is wrong: {'; '.join(problems)}; report this with the recording's ffprobe output")
    return parsed


def measure_variant(
    root: Path, name: str, playlist: str, parsed: MediaPlaylist, width: int, height: int, fps: float, codecs: str
) -> HlsVariant:
    """A variant with its measured peak and average bit rates (what HLS's BANDWIDTH means)."""
    folder = (root / playlist).parent
    prefix = str(Path(playlist).parent)
    sizes = [(duration, (folder / uri).stat().st_size) for duration, uri in parsed.segments]
    init_bytes = (folder / parsed.init).stat().st_size if parsed.init else 0
    total = sum(size for _, size in sizes) + init_bytes
    peak = max(size * 8 / max(duration, 0.001) for duration, size in sizes)
    files = ([f"{prefix}/{parsed.init}"] if parsed.init else []) + [f"{prefix}/{uri}" for _, uri in parsed.segments]
    return HlsVariant(
        name=name,
        width=width,
        height=height,
        fps=fps,
        bandwidth=int(math.ceil(peak)),
        average_bandwidth=int(math.ceil(total * 8 / max(parsed.duration_s, 0.001))),
        codecs=codecs,
        playlist=playlist,
        files=tuple(files),
        bytes=total,
    )


def render_master(variants: tuple[HlsVariant, ...], subtitles: tuple[HlsSubtitles, ...] = ()) -> str:
    """The master playlist: every variant, tallest first, each referencing the subtitle group when there is one."""
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{HLS_VERSION}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for i, track in enumerate(subtitles):
        lines.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLE_GROUP}",NAME="{_quoted(track.name)}",'
            f'LANGUAGE="{language_tag(track.lang)}",DEFAULT={"YES" if i == 0 else "NO"},AUTOSELECT=YES,'
            f'FORCED=NO,URI="{_quoted(track.playlist)}"'
        )
    for v in sorted(variants, key=lambda v: v.height, reverse=True):
        attributes = [
            f"BANDWIDTH={v.bandwidth}",
            f"AVERAGE-BANDWIDTH={v.average_bandwidth}",
            f"RESOLUTION={v.width}x{v.height}",
            f"FRAME-RATE={v.fps:.3f}",
            f'CODECS="{_quoted(v.codecs)}"',
        ]
        if subtitles:
            attributes.append(f'SUBTITLES="{SUBTITLE_GROUP}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attributes), v.playlist]
    return "\n".join(lines) + "\n"


def render_subtitle_playlist(duration_s: float, vtt: str) -> str:
    """A one-segment WebVTT playlist: the whole captions file, times from the start of the recording."""
    return "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{max(1, math.ceil(duration_s))}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            f"#EXTINF:{duration_s:.3f},",
            vtt,
            "#EXT-X-ENDLIST",
            "",
        ]
    )


def _is_subtitles_in(line: str, lang: str) -> bool:
    return line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES") and f'LANGUAGE="{language_tag(lang)}"' in line


def subtitle_uri(master: str, lang: str) -> str | None:
    """The URI of the master's subtitle rendition in ``lang`` (relative to the master), None when there is none."""
    for line in master.splitlines():
        found = re.search(r'URI="([^"]*)"', line) if _is_subtitles_in(line, lang) else None
        if found:
            return found.group(1)
    return None


def with_subtitle_uri(master: str, lang: str, uri: str) -> str:
    """The master playlist with the subtitle rendition in ``lang`` pointing at ``uri``; the rest unchanged. Pure."""
    return "".join(
        re.sub(r'URI="[^"]*"', f'URI="{_quoted(uri)}"', line) if _is_subtitles_in(line, lang) else line
        for line in master.splitlines(keepends=True)
    )


def with_added_subtitles(master: str, lang: str, name: str, uri: str) -> str:
    """The master playlist with a new subtitle rendition in ``lang`` (a language it has none in) pointing at ``uri``:
    after the other subtitle renditions, in their group, and every variant referencing the group. Pure."""
    lines = master.splitlines()
    media = [i for i, line in enumerate(lines) if line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")]
    group = SUBTITLE_GROUP
    if media:
        found = re.search(r'GROUP-ID="([^"]*)"', lines[media[0]])
        group = found.group(1) if found else SUBTITLE_GROUP
    at = media[-1] + 1 if media else next(
        (i for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")), len(lines)
    )
    rendition = (
        f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{_quoted(group)}",NAME="{_quoted(name)}",'
        f'LANGUAGE="{language_tag(lang)}",DEFAULT={"NO" if media else "YES"},AUTOSELECT=YES,FORCED=NO,'
        f'URI="{_quoted(uri)}"'
    )
    lines.insert(at, rendition)
    lines = [
        f'{line},SUBTITLES="{_quoted(group)}"'
        if line.startswith("#EXT-X-STREAM-INF:") and "SUBTITLES=" not in line
        else line
        for line in lines
    ]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """A quoted-string attribute may not hold a double quote nor a line break (RFC 8216, 4.2)."""
    return re.sub(r'["\r\n]', "", text)


def language_tag(lang: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "", lang) or "und"


# Names in a player's subtitle menu: each language in its own words (the page's interface language is not known here).
LANGUAGE_ENDONYMS = {"fr": "Français", "en": "English", "de": "Deutsch", "es": "Español", "it": "Italiano"}


def add_subtitles(ladder: HlsLadder, tracks: list[tuple[str, Path]], duration_s: float) -> HlsLadder:
    """Add caption files as the master's WebVTT subtitle rendition (group "subs", referenced by every variant).

    Each file is copied into the ladder's folder with a one-segment playlist, so the ladder stays self-contained
    wherever it is published; the master is rewritten with LANGUAGE and NAME.
    """
    folder = ladder.root / SUBTITLES_DIR
    folder.mkdir(exist_ok=True)
    subtitles = []
    for lang, vtt in tracks:
        tag = language_tag(lang)
        shutil.copyfile(vtt, folder / f"{tag}.vtt")
        (folder / f"{tag}.m3u8").write_text(render_subtitle_playlist(duration_s, f"{tag}.vtt"), encoding="utf-8")
        subtitles.append(
            HlsSubtitles(
                lang=tag,
                name=LANGUAGE_ENDONYMS.get(tag, tag),
                playlist=f"{SUBTITLES_DIR}/{tag}.m3u8",
                vtt=f"{SUBTITLES_DIR}/{tag}.vtt",
            )
        )
    updated = ladder.model_copy(update={"subtitles": tuple(subtitles)})
    (ladder.root / ladder.master).write_text(render_master(updated.variants, updated.subtitles), encoding="utf-8")
    return updated


# --- chapters in the master playlist -------------------------------------------------------------------------------

CHAPTERS_JSON = "chapters.json"
CHAPTERS_DATA_ID = "com.apple.hls.chapters"  # Apple's HLS chapters: session data naming a JSON list of chapters


def render_hls_chapters(chapters: list[tuple[float, str]], duration_s: float, lang: str) -> str:
    """The chapters (start, title) as Apple's HLS chapters JSON (chapter, start-time, duration, titles). Pure."""
    items = []
    for number, (start, title) in enumerate(chapters):
        end = chapters[number + 1][0] if number + 1 < len(chapters) else duration_s
        items.append({
            "chapter": number + 1,
            "start-time": round(start, 3),
            "duration": round(max(end - start, 0.001), 3),
            "titles": [{"language": language_tag(lang), "title": title}],
        })
    return json.dumps(items, ensure_ascii=False, indent=1) + "\n"


def without_session_chapters(master: str) -> str:
    """The master playlist naming no chapters JSON. Pure."""
    return "\n".join(line for line in master.splitlines() if CHAPTERS_DATA_ID not in line) + "\n"


def with_session_chapters(master: str, uri: str) -> str:
    """The master playlist naming a chapters JSON (EXT-X-SESSION-DATA), before its renditions; once. Pure."""
    lines = without_session_chapters(master).splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith(("#EXT-X-MEDIA:", "#EXT-X-STREAM-INF:"))),
              len(lines))
    lines.insert(at, f'#EXT-X-SESSION-DATA:DATA-ID="{CHAPTERS_DATA_ID}",URI="{_quoted(uri)}"')
    return "\n".join(lines) + "\n"


def add_chapters(ladder: HlsLadder, chapters: list[tuple[float, str]], duration_s: float, lang: str) -> HlsLadder:
    """Write the chapters JSON into the ladder's folder and name it in the master playlist."""
    (ladder.root / CHAPTERS_JSON).write_text(render_hls_chapters(chapters, duration_s, lang), encoding="utf-8")
    master = ladder.root / ladder.master
    master.write_text(with_session_chapters(master.read_text(encoding="utf-8"), CHAPTERS_JSON), encoding="utf-8")
    return ladder.model_copy(update={"chapters": CHAPTERS_JSON})
