"""Helpers for the media tests: make clips with the real ffmpeg, read outputs back with the real ffprobe."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

X264_FAST = ["-c:v", "libx264", "-preset", "ultrafast"]


def ffmpeg(*args: str) -> None:
    """Run ffmpeg to make test media; a missing ffmpeg fails loudly."""
    assert shutil.which("ffmpeg"), "ffmpeg is missing: apt-get install ffmpeg"
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def ffmpeg_stderr(*args: str) -> str:
    """Run ffmpeg at log level info (for filters that report on stderr: ebur128, idet)."""
    done = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-nostats", *args], capture_output=True, check=True)
    return done.stderr.decode("utf-8", "replace")


def ffprobe(path: Path, *extra: str) -> dict:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", *extra, "-of", "json", str(path)],
        check=True,
        capture_output=True,
    )
    return json.loads(done.stdout)


def streams_of(path: Path, kind: str) -> list[dict]:
    return [s for s in ffprobe(path)["streams"] if s["codec_type"] == kind]


def stream_duration(path: Path, kind: str) -> float:
    """A stream's duration from its last packet's end (what a player sees), not from the header."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", kind[0], "-show_entries", "packet=pts_time,duration_time",
         "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    ends = []
    for line in done.stdout.split():
        pts, _, duration = line.partition(",")
        if pts not in ("", "N/A"):
            ends.append(float(pts) + (float(duration) if duration not in ("", "N/A") else 0.0))
    assert ends, f"no {kind} packets in {path}"
    return max(ends)


def top_level_boxes(path: Path) -> list[str]:
    """The types of an MP4's top-level boxes, in file order."""
    boxes = []
    data = path.read_bytes()
    offset = 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        elif size == 0:
            size = len(data) - offset
        assert size >= 8, f"bad box size at {offset}"
        boxes.append(kind)
        offset += size
    return boxes


def check_web_mp4(path: Path, width: int, height: int) -> dict:
    """H.264 High yuv420p of this size, moov before mdat; returns the video stream."""
    (video,) = streams_of(path, "video")
    assert (video["codec_name"], video["pix_fmt"], video["profile"]) == ("h264", "yuv420p", "High")
    assert (video["width"], video["height"]) == (width, height)
    assert width % 2 == 0 and height % 2 == 0
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    return video


def jpeg_size(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:3] == b"\xff\xd8\xff", f"{path} is not a JPEG"
    (picture,) = streams_of(path, "video")
    return picture["width"], picture["height"]


def integrated_loudness(path: Path) -> float:
    """EBU R128 integrated loudness (LUFS) measured by ffmpeg's ebur128 filter."""
    text = ffmpeg_stderr("-i", str(path), "-map", "0:a:0", "-af", "ebur128", "-f", "null", "-")
    summary = text[text.rindex("Summary:") :]
    line = next(line for line in summary.splitlines() if line.strip().startswith("I:"))
    return float(line.split()[1])
