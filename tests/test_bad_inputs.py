"""A corpus of bad and odd inputs, each held to one of two outcomes through the real `confcast publish`:

- published correctly: exit 0, the page URL last on stdout, the manifest and page in place;
- refused: a non-zero exit, one line on stderr naming the file and the problem, nothing under the target,
  no traceback, no temporary files left behind.

docs/robustness.md lists what each case produces; keep the two in step.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

CONFCAST = str(Path(sys.executable).with_name("confcast"))
PUBLISHED, REFUSED = "published", "refused"

pytestmark = pytest.mark.slow


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, stdin=subprocess.DEVNULL)


def tiny_av(out: Path, *extra: str, size: str = "160x120", seconds: str = "1.5") -> None:
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", *extra, str(out))


@dataclass(frozen=True)
class Case:
    name: str
    expected: str
    make: Callable[[Path], tuple[Path, list[str]]]  # folder -> (recording, extra options)
    problem: str = ""  # a fragment of the one-line error, when refused
    hidden: str = ""  # text that must show nowhere: what another file holds


def plain(name: str, writer: Callable[[Path], None], *options: str) -> Callable[[Path], tuple[Path, list[str]]]:
    def make(folder: Path) -> tuple[Path, list[str]]:
        path = folder / name
        writer(path)
        return path, list(options)

    return make


def with_sidecar(text: str) -> Callable[[Path], tuple[Path, list[str]]]:
    def make(folder: Path) -> tuple[Path, list[str]]:
        path = folder / "talk.mp4"
        tiny_av(path, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac")
        (folder / "talk.mp4.yaml").write_text(text, encoding="utf-8")
        return path, []

    return make


def good_mp4(path: Path) -> None:
    tiny_av(path, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac")


def half_mp4(path: Path) -> None:
    whole = path.with_name("whole.mp4")
    tiny_av(whole, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", seconds="3")
    data = whole.read_bytes()
    whole.unlink()
    path.write_bytes(data[: len(data) // 2])  # moov is at the end: the first half has none


def secret_recording(path: Path) -> None:
    """Another local recording: what a playlist posing as a recording would pull into the published talk."""
    path.parent.mkdir(exist_ok=True)
    tiny_av(path, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts", seconds="3.7")


def hls_posing_as_mp4(path: Path) -> None:
    secret_recording(path.parent.parent / "private" / "secret.ts")
    path.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:3.7,\n../private/secret.ts\n#EXT-X-ENDLIST\n")


def ffconcat_script(path: Path) -> None:
    secret_recording(path.with_name("secret.ts"))
    path.write_text("ffconcat version 1.0\nfile secret.ts\n")


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n" \
             "speakers: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"

CASES = [
    Case("empty file", REFUSED, plain("empty.mp4", lambda p: p.write_bytes(b"")), "empty"),
    # Seeded: ffprobe reads some random bytes as a lyrics (lrc) file, also refused, with another line
    Case("random bytes named .mp4", REFUSED,
         plain("random.mp4", lambda p: p.write_bytes(random.Random(2026).randbytes(4096))), "not a media file"),
    Case("text file", REFUSED, plain("notes.txt", lambda p: p.write_text("bonjour\n" * 50)), "notes.txt"),
    Case("still image", REFUSED,
         plain("photo.jpg", lambda p: ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", str(p))),
         "still image"),
    Case("MP4 cut in half (no moov)", REFUSED, plain("cut.mp4", half_mp4), "cut.mp4"),
    Case("HLS playlist named .mp4", REFUSED, plain("talk.mp4", hls_posing_as_mp4),
         "talk.mp4: is an HLS playlist, not a recording", hidden="3.7"),
    Case("ffconcat script", REFUSED, plain("talk.mkv", ffconcat_script),
         "talk.mkv: the 'concat' format can read other files", hidden="3.7"),
    Case("0.3-second clip", PUBLISHED, plain("short.mp4", lambda p: tiny_av(p, "-c:v", "libx264", "-pix_fmt",
                                                                             "yuv420p", seconds="0.3"))),
    Case("audio is pure silence", PUBLISHED, plain("silence.mp4", lambda p: ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=2", "-f", "lavfi", "-i",
        "anullsrc=r=48000:cl=stereo", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(p)))),
    Case("no audio", PUBLISHED, plain("mute.mp4", lambda p: ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=2", "-c:v", "libx264", "-pix_fmt",
        "yuv420p", str(p)))),
    Case("audio only", PUBLISHED, plain("podcast.m4a", lambda p: ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=300:duration=2", "-c:a", "aac", str(p)))),
    Case("8K frame size", PUBLISHED, plain("huge.mp4", lambda p: tiny_av(
        p, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", size="7680x4320", seconds="0.5"))),
    Case("VP9/Opus in WebM", PUBLISHED, plain("talk.webm", lambda p: tiny_av(
        p, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"))),
    Case("ProRes in MOV", PUBLISHED, plain("talk.mov", lambda p: tiny_av(p, "-c:v", "prores_ks", "-c:a", "pcm_s16le"))),
    Case("MKV with two audio tracks and subtitles", PUBLISHED, plain("multi.mkv", lambda p: ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=2", "-f", "lavfi", "-i",
        "sine=frequency=440:duration=2", "-f", "lavfi", "-i", "sine=frequency=880:duration=2",
        "-f", "srt", "-i", str(srt_file(p)), "-map", "0", "-map", "1", "-map", "2", "-map", "3",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", "srt", str(p)))),
    Case("file name with spaces and quotes", PUBLISHED, plain("my \"best\" talk's take.mp4", good_mp4)),
    Case("file name with ; and $(...)", PUBLISHED, plain("talk; $(touch pwned).mp4", good_mp4)),
    Case("file name with a leading -", PUBLISHED, plain("-rf talk.mp4", good_mp4)),
    Case("file name with non-UTF-8 bytes", REFUSED, plain(os.fsdecode(b"conf\xe9rence.mp4"), good_mp4), "rename"),
    Case("sidecar with wrong types", REFUSED, with_sidecar("title: [1, 2]\ndate: 12\n"), "talk.mp4.yaml"),
    Case("sidecar with an alias bomb", REFUSED, with_sidecar(ALIAS_BOMB), "talk.mp4.yaml"),
    Case("sidecar with unknown keys", REFUSED, with_sidecar("title: T\nvenue: Clermont\n"), "venue"),
    Case("title of 10,000 characters", REFUSED, lambda f: (make_good(f), ["--title", "é" * 10_000]), "title"),
    Case("title with emoji and right-to-left text", PUBLISHED,
         lambda f: (make_good(f), ["--title", "Matériel libre 🔧 مرحبا بالعالم"])),
    Case("slug with ../", REFUSED, lambda f: (make_good(f), ["--slug", "../../etc"]), "invalid slug"),
    Case("slug with /", REFUSED, lambda f: (make_good(f), ["--slug", "a/b"]), "invalid slug"),
    Case("slug %2e%2e", REFUSED, lambda f: (make_good(f), ["--slug", "%2e%2e"]), "invalid slug"),
    Case("slug with a leading dot", REFUSED, lambda f: (make_good(f), ["--slug", ".well-known"]), "invalid slug"),
]


def srt_file(near: Path) -> Path:
    path = near.with_name("subs.srt")
    path.write_text("1\n00:00:00,000 --> 00:00:01,000\nBonjour\n", encoding="utf-8")
    return path


def make_good(folder: Path) -> Path:
    path = folder / "talk.mp4"
    good_mp4(path)
    return path


def leftovers(folder: Path) -> list[Path]:
    """Temporary files that a run must not leave behind."""
    return [p for p in folder.rglob("*") if ".partial" in p.name or p.name.endswith((".tmp", ".part"))]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_and_odd_inputs(case: Case, prefect_server, tmp_path: Path) -> None:
    folder, site, work = tmp_path / "in", tmp_path / "site", tmp_path / "work"
    folder.mkdir()
    recording, options = case.make(folder)
    result = subprocess.run(
        [CONFCAST, "publish", "--to", site.as_uri(), "--work-dir", str(work), "--language", "en", *options,
         "--", str(recording)],
        capture_output=True, text=True, timeout=600, cwd=folder, stdin=subprocess.DEVNULL,
        errors="surrogateescape",
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert not leftovers(tmp_path), leftovers(tmp_path)
    assert not (folder / "pwned").exists() and not Path("pwned").exists()
    if case.hidden:
        assert case.hidden not in result.stderr + result.stdout and "secret" not in result.stderr + result.stdout
    if case.expected == REFUSED:
        assert result.returncode != 0, result.stdout
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("confcast: error: "), result.stderr
        assert case.problem in lines[0], lines[0]
        assert not site.exists() or not any(site.rglob("*")), "a refused recording publishes nothing"
    else:
        assert result.returncode == 0, result.stderr
        page_url = result.stdout.strip().splitlines()[-1]
        page = Path(page_url.removeprefix("file://"))
        manifest = json.loads((page.parent / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["source"]["bytes"] == recording.stat().st_size
        catalog = json.loads((site / "catalog.json").read_text(encoding="utf-8"))
        assert [entry["slug"] for entry in catalog["conferences"]] == [manifest["slug"]]
        if "--title" in options:
            assert options[options.index("--title") + 1] in page.read_text(encoding="utf-8")
