"""tasks.media: pure builders exactly, runners against the real ffmpeg on small generated clips."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from tasks import media
from tasks.errors import ProbeError, TranscodeError
from tasks.models import AudioStream, Probe, SourceFile, VideoStream

# --- helpers ----------------------------------------------------------------------------------------


def ffmpeg(*args: str) -> None:
    """Run ffmpeg to make test media; a missing ffmpeg fails loudly."""
    assert shutil.which("ffmpeg"), "ffmpeg is missing: apt-get install ffmpeg"
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def ffprobe(path: Path) -> dict:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    )
    return json.loads(done.stdout)


def streams_of(path: Path, kind: str) -> list[dict]:
    return [s for s in ffprobe(path)["streams"] if s["codec_type"] == kind]


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


def assert_one_line_naming(error: pytest.ExceptionInfo, name: str) -> None:
    message = str(error.value)
    assert name in message
    assert "\n" not in message


def fake_probe(
    video: VideoStream | None = VideoStream(index=0, codec="h264", width=1920, height=1080, fps=25.0),
    audio: tuple[AudioStream, ...] = (AudioStream(index=1, codec="aac", channels=2, sample_rate=48000),),
    duration_s: float = 10.0,
) -> Probe:
    source = SourceFile(path=Path("/rec/talk.mp4"), filename="talk.mp4", sha256="0" * 64, bytes=1)
    return Probe(source=source, duration_s=duration_s, format_name="mov", video=video, audio=audio)


def pairs(args: list[str]) -> set[tuple[str, str]]:
    return set(zip(args, args[1:]))


def values_of(args: list[str], flag: str) -> list[str]:
    return [b for a, b in zip(args, args[1:]) if a == flag]


# --- fixtures: small clips, made once ---------------------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    x264 = ["-c:v", "libx264", "-preset", "ultrafast"]
    out = {name: d / f"{name}.mp4" for name in ("small", "hd720", "hd1080", "quad", "odd", "surround", "mute")}
    # 320x240, 2 s; audio 0: stereo 440 Hz English; audio 1: mono 880 Hz French, the default track.
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
        "-f", "lavfi", "-i", "sine=f=440:d=2",
        "-f", "lavfi", "-i", "sine=f=880:d=2",
        "-map", "0:v", "-map", "1:a", "-map", "2:a", *x264, "-c:a", "aac",
        "-ac:a:0", "2", "-ac:a:1", "1",
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
        "-disposition:a:0", "0", "-disposition:a:1", "default",
        str(out["small"]),
    )  # fmt: skip
    for name, size in (("hd720", "1280x720"), ("hd1080", "1920x1080")):
        ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1",
            *x264, "-c:a", "aac", "-ac", "2", "-shortest", str(out[name]),
        )  # fmt: skip
    # A red top-left corner on blue, then marked with rotation metadata: shows which way it turns.
    upright = d / "upright.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=blue:s=320x240:r=25:d=1,drawbox=x=0:y=0:w=80:h=60:c=red:t=fill",
        "-f", "lavfi", "-i", "sine=d=1", *x264, "-c:a", "aac", "-shortest", str(upright),
    )  # fmt: skip
    ffmpeg("-i", str(upright), "-c", "copy", "-metadata:s:v", "rotate=90", str(out["quad"]))
    # Odd sizes need 4:4:4 to be H.264 at all.
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=321x241:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1",
        *x264, "-pix_fmt", "yuv444p", "-c:a", "aac", "-shortest", str(out["odd"]),
    )  # fmt: skip
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1",
        *x264, "-c:a", "aac", "-ac", "6", "-shortest", str(out["surround"]),
    )  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=1", *x264, str(out["mute"]))
    # Audio only, with cover art (an attached picture is not video).
    cover = d / "cover.jpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x64:d=1", "-frames:v", "1", str(cover))
    out["podcast"] = d / "podcast.m4a"
    ffmpeg(
        "-f", "lavfi", "-i", "sine=f=440:d=2", "-i", str(cover), "-map", "0", "-map", "1",
        "-c:a", "aac", "-c:v", "copy", "-disposition:v", "attached_pic", str(out["podcast"]),
    )  # fmt: skip
    out["wav"] = d / "speech.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=d=1.5", "-ac", "1", str(out["wav"]))
    # A long enough encode (about a second here) for several progress reports.
    out["long"] = d / "long.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=8", "-f", "lavfi", "-i", "sine=d=8",
        *x264, "-c:a", "aac", "-shortest", str(out["long"]),
    )  # fmt: skip
    out["cover"] = cover
    return out


@pytest.fixture(scope="module")
def small_media(clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    probe = media.probe_recording(clips["small"])
    return probe, media.make_media(probe, tmp_path_factory.mktemp("small-media"))


# --- pure: scaled_size ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "max_height", "expected"),
    [
        ((320, 240), 720, (320, 240)),  # never upscale
        ((1280, 720), 720, (1280, 720)),
        ((1920, 1080), 720, (1280, 720)),
        ((3840, 2160), 720, (1280, 720)),
        ((1366, 768), 720, (1280, 720)),
        ((1440, 1080), 720, (960, 720)),
        ((1920, 800), 720, (1728, 720)),
        ((1920, 1080), 360, (640, 360)),
        ((321, 241), 720, (320, 240)),  # odd: down to even, never up
        ((1080, 1920), 720, (406, 720)),  # portrait: 405 rounds to the nearest even
        ((240, 320), 720, (240, 320)),
        ((720, 1280), 720, (406, 720)),
        ((1, 1), 720, (2, 2)),  # at least 2
    ],
)
def test_scaled_size(size: tuple[int, int], max_height: int, expected: tuple[int, int]) -> None:
    assert media.scaled_size(*size, max_height=max_height) == expected


def test_scaled_size_invariants() -> None:
    for width in range(2, 4000, 97):
        for height in range(2, 3000, 89):
            w, h = media.scaled_size(width, height)
            assert w % 2 == 0 and h % 2 == 0
            assert h <= max(720, 2) and h <= max(height, 2) and w <= max(width, 2)
            if w > 20 and h > 20:
                assert abs(w / h - width / height) / (width / height) < 0.1


def test_scaled_size_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        media.scaled_size(0, 720)


# --- pure: parse_progress ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "duration", "expected"),
    [
        ("out_time_us=1000000", 2.0, 0.5),
        ("out_time_us=1000000\n", 2.0, 0.5),
        ("out_time_ms=1500000", 2.0, 0.75),  # also microseconds
        ("out_time_us=5000000", 2.0, 1.0),  # clamped
        ("out_time_us=-23220", 2.0, 0.0),
        ("out_time_us=N/A", 2.0, None),
        ("out_time_us=1000000", 0.0, None),
        ("progress=end", 2.0, 1.0),
        ("progress=end", 0.0, 1.0),
        ("progress=continue", 2.0, None),
        ("out_time=00:00:01.000000", 2.0, None),
        ("frame=12", 2.0, None),
        ("", 2.0, None),
        ("garbage", 2.0, None),
    ],
)
def test_parse_progress(line: str, duration: float, expected: float | None) -> None:
    assert media.parse_progress(line, duration) == expected


# --- pure: argument lists ---------------------------------------------------------------------------


def test_transcode_args_1080p_surround() -> None:
    surround = AudioStream(index=1, codec="ac3", channels=6, sample_rate=48000)
    args = media.build_transcode_args(fake_probe(audio=(surround,)), Path("/out/720p.mp4"))
    assert {
        ("-c:v", "libx264"),
        ("-preset", "veryfast"),
        ("-crf", "23"),
        ("-profile:v", "high"),
        ("-pix_fmt", "yuv420p"),
        ("-movflags", "+faststart"),
        ("-c:a", "aac"),
        ("-b:a", "128k"),
        ("-ac", "2"),
        ("-progress", "pipe:1"),
        ("-i", "/rec/talk.mp4"),
    } <= pairs(args)
    assert "-nostats" in args and "-y" in args
    (graph,) = values_of(args, "-filter_complex")
    assert graph.startswith("[0:0]scale=1280:720")
    video_map, audio_map = values_of(args, "-map")
    assert graph.endswith(video_map) and video_map.startswith("[")
    assert audio_map == "0:1"
    assert args.index("-progress") < args.index("-i")
    assert "/out/720p.mp4" in args


def test_transcode_args_keep_stereo_and_mono() -> None:
    for channels in (1, 2):
        audio = (AudioStream(index=1, codec="aac", channels=channels, sample_rate=48000),)
        args = media.build_transcode_args(fake_probe(audio=audio), Path("/out/a.mp4"))
        assert "-ac" not in args


def test_transcode_args_map_default_audio_track() -> None:
    audio = (
        AudioStream(index=1, codec="aac", channels=2, sample_rate=48000, language="eng"),
        AudioStream(index=2, codec="aac", channels=2, sample_rate=48000, language="fra", default=True),
    )
    args = media.build_transcode_args(fake_probe(audio=audio), Path("/out/a.mp4"))
    assert values_of(args, "-map")[1] == "0:2"


def test_transcode_args_rotated_use_display_size() -> None:
    video = VideoStream(index=0, codec="h264", width=1920, height=1080, rotation=90)
    args = media.build_transcode_args(fake_probe(video=video), Path("/out/a.mp4"))
    (graph,) = values_of(args, "-filter_complex")
    assert graph.startswith("[0:0]scale=406:720")
    assert "-noautorotate" not in args


def test_transcode_args_audio_only_card() -> None:
    audio = (AudioStream(index=0, codec="mp3", channels=2, sample_rate=44100),)
    args = media.build_transcode_args(fake_probe(video=None, audio=audio, duration_s=61.3), Path("/out/a.mp4"))
    assert ("-f", "lavfi") in pairs(args)
    card = values_of(args, "-i")[0]
    assert card.startswith("color=") and "s=1280x720" in card and "d=61.400" in card
    assert values_of(args, "-i")[1] == "/rec/talk.mp4"
    assert values_of(args, "-map") == ["0", "1:0"]
    assert "-shortest" in args
    assert {("-c:v", "libx264"), ("-pix_fmt", "yuv420p"), ("-movflags", "+faststart")} <= pairs(args)


def test_speech_and_audio_args() -> None:
    mono = (AudioStream(index=1, codec="aac", channels=1, sample_rate=44100),)
    speech = media.build_speech_args(fake_probe(audio=mono), Path("/out/speech.wav"))
    assert {("-ar", "16000"), ("-ac", "1"), ("-acodec", "pcm_s16le"), ("-map", "0:1"), ("-f", "wav")} <= pairs(speech)
    listen = media.build_audio_args(fake_probe(audio=mono), Path("/out/audio.m4a"))
    assert {("-acodec", "aac"), ("-b:a", "96k"), ("-ac", "1"), ("-movflags", "+faststart")} <= pairs(listen)
    stereo = media.build_audio_args(fake_probe(), Path("/out/audio.m4a"))
    assert ("-ac", "2") in pairs(stereo)


def test_poster_args_seek_before_input() -> None:
    args = media.build_poster_args(fake_probe(duration_s=50.0), Path("/out/poster.jpg"))
    assert args.index("-ss") < args.index("-i")
    assert values_of(args, "-ss") == ["5.0"]
    assert ("-frames:v", "1") in pairs(args)
    assert values_of(args, "-filter_complex")[0].startswith("[0:0]scale=1280:720")


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ({}, 0),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}, 90),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 90}]}, 270),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 180}]}, 180),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -180}]}, 180),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 0}]}, 0),
        ({"tags": {"rotate": "90"}}, 90),
        ({"tags": {"rotate": "270"}}, 270),
        ({"tags": {"rotate": "-90"}}, 270),
        (
            {
                "side_data_list": [
                    {
                        "side_data_type": "Display Matrix",
                        "displaymatrix": "\n00000000:            0      -65536           0\n"
                        "00000001:        65536           0           0\n"
                        "00000002:            0           0  1073741824\n",
                    }
                ]
            },
            270,
        ),
    ],
)
def test_stream_rotation(stream: dict, expected: int) -> None:
    assert media.stream_rotation(stream) == expected


# --- probe against ffprobe --------------------------------------------------------------------------


def test_probe_small_clip(clips: dict[str, Path]) -> None:
    path = clips["small"]
    probe = media.probe_recording(path)
    assert probe.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert probe.source.bytes == path.stat().st_size
    assert probe.source.filename == "small.mp4"
    assert probe.source.path == path.resolve()
    assert probe.duration_s == pytest.approx(2.0, abs=0.1)
    assert "mp4" in probe.format_name
    assert probe.video is not None
    assert (probe.video.codec, probe.video.width, probe.video.height) == ("h264", 320, 240)
    assert probe.video.rotation == 0 and probe.video.fps == pytest.approx(25.0)
    assert [(a.index, a.channels, a.language, a.default) for a in probe.audio] == [
        (1, 2, "eng", False),
        (2, 1, "fra", True),
    ]
    assert probe.audio[0].sample_rate == 44100
    assert probe.main_audio == probe.audio[1]


def test_probe_audio_with_cover_art(clips: dict[str, Path]) -> None:
    probe = media.probe_recording(clips["podcast"])
    assert probe.video is None  # the cover is an attached picture, not video
    assert len(probe.audio) == 1 and probe.duration_s == pytest.approx(2.0, abs=0.1)


def test_probe_rotated(clips: dict[str, Path]) -> None:
    probe = media.probe_recording(clips["quad"])
    assert probe.video is not None and probe.video.rotation in (90, 270)
    assert (probe.video.display_width, probe.video.display_height) == (240, 320)


@pytest.mark.parametrize("kind", ["missing", "empty", "directory", "random", "text", "image"])
def test_probe_rejects_bad_input(kind: str, tmp_path: Path, clips: dict[str, Path]) -> None:
    path = {
        "missing": tmp_path / "nothing.mp4",
        "empty": tmp_path / "empty.mp4",
        "directory": tmp_path / "folder.mp4",
        "random": tmp_path / "random.mp4",
        "text": tmp_path / "notes.txt",
        "image": tmp_path / "still.jpg",
    }[kind]
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "random":
        path.write_bytes(bytes(range(256)) * 40 + hashlib.sha256(b"x").digest() * 100)
    elif kind == "text":
        path.write_text("Notes de la conférence\n" * 200, encoding="utf-8")
    elif kind == "image":
        shutil.copy(clips["cover"], path)
    with pytest.raises(ProbeError) as error:
        media.probe_recording(path)
    assert_one_line_naming(error, path.name)


def test_video_without_audio_is_refused(clips: dict[str, Path], tmp_path: Path) -> None:
    probe = media.probe_recording(clips["mute"])
    assert probe.video is not None and probe.audio == ()
    with pytest.raises(ProbeError, match="has no audio stream: confcast needs speech to transcribe") as error:
        media.require_audio(probe)
    assert_one_line_naming(error, "mute.mp4")
    with pytest.raises(ProbeError):
        media.make_media(probe, tmp_path)
    assert not any(tmp_path.iterdir())


# --- transcode against ffmpeg -----------------------------------------------------------------------


def check_web_mp4(path: Path, width: int, height: int) -> dict:
    (video,) = streams_of(path, "video")
    assert (video["codec_name"], video["pix_fmt"], video["profile"]) == ("h264", "yuv420p", "High")
    assert (video["width"], video["height"]) == (width, height)
    assert width % 2 == 0 and height % 2 == 0
    boxes = top_level_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    return video


def test_make_media_small(small_media, clips: dict[str, Path]) -> None:
    probe, made = small_media
    (rendition,) = made.mp4
    assert rendition.path.name == "240p.mp4" and rendition.path.parent.name == "video"
    assert (rendition.width, rendition.height) == (320, 240)  # not upscaled
    assert rendition.bytes == rendition.path.stat().st_size > 0
    check_web_mp4(rendition.path, 320, 240)
    (audio,) = streams_of(rendition.path, "audio")  # only the default track
    assert (audio["codec_name"], audio["channels"]) == ("aac", 1)  # mono stays mono
    assert not [p for p in rendition.path.parent.iterdir() if p.name.startswith(".")]  # no partial left


def test_poster_is_a_jpeg_of_the_video_size(small_media) -> None:
    _, made = small_media
    assert made.poster.name == "poster.jpg"
    assert made.poster.read_bytes()[:3] == b"\xff\xd8\xff"
    (picture,) = streams_of(made.poster, "video")
    assert (picture["codec_name"], picture["width"], picture["height"]) == ("mjpeg", 320, 240)


def test_speech_wav_for_whisper(small_media) -> None:
    probe, made = small_media
    with wave.open(str(made.speech)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert wav.getnframes() / 16000 == pytest.approx(probe.duration_s, abs=0.1)


def test_listening_audio_is_aac_m4a(small_media) -> None:
    _, made = small_media
    assert made.audio.name == "audio.m4a"
    (audio,) = streams_of(made.audio, "audio")
    assert (audio["codec_name"], audio["channels"]) == ("aac", 1)
    assert int(audio["bit_rate"]) <= 110_000
    assert not streams_of(made.audio, "video")
    boxes = top_level_boxes(made.audio)
    assert boxes.index("moov") < boxes.index("mdat"), boxes


@pytest.mark.parametrize(("clip", "expected"), [("hd720", (1280, 720)), ("hd1080", (1280, 720)), ("odd", (320, 240))])
def test_transcode_sizes(clip: str, expected: tuple[int, int], clips: dict[str, Path], tmp_path: Path) -> None:
    probe = media.probe_recording(clips[clip])
    rendition = media.transcode_mp4(probe, tmp_path / "out.mp4")
    assert (rendition.width, rendition.height) == expected
    check_web_mp4(rendition.path, *expected)
    (audio,) = streams_of(rendition.path, "audio")
    assert audio["channels"] == (2 if clip != "odd" else 1)


def test_transcode_downmixes_surround(clips: dict[str, Path], tmp_path: Path) -> None:
    probe = media.probe_recording(clips["surround"])
    assert probe.audio[0].channels == 6
    rendition = media.transcode_mp4(probe, tmp_path / "out.mp4")
    (audio,) = streams_of(rendition.path, "audio")
    assert (audio["codec_name"], audio["channels"]) == ("aac", 2)


def test_transcode_applies_rotation(clips: dict[str, Path], tmp_path: Path) -> None:
    probe = media.probe_recording(clips["quad"])
    rendition = media.transcode_mp4(probe, tmp_path / "out.mp4")
    assert (rendition.width, rendition.height) == (240, 320)
    check_web_mp4(rendition.path, 240, 320)
    out = media.probe_recording(rendition.path)
    assert out.video is not None and out.video.rotation == 0  # upright pixels, no matrix left
    # The red top-left corner lands where the probed clockwise rotation says a player puts it.
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(rendition.path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    ).stdout
    assert len(raw) == 240 * 320 * 3

    def red(x: int, y: int) -> bool:
        r, g, b = raw[(y * 240 + x) * 3 : (y * 240 + x) * 3 + 3]
        return r > 200 and b < 60

    corners = {0: (5, 5), 90: (234, 5), 180: (234, 314), 270: (5, 314)}
    assert red(*corners[probe.video.rotation])
    assert [angle for angle, xy in corners.items() if red(*xy)] == [probe.video.rotation]


def test_transcode_progress(clips: dict[str, Path], tmp_path: Path) -> None:
    probe = media.probe_recording(clips["long"])
    seen: list[float] = []
    rendition = media.transcode_mp4(probe, tmp_path / "out.mp4", on_progress=seen.append)
    check_web_mp4(rendition.path, 640, 360)
    assert seen[-1] == 1.0 and seen.count(1.0) == 1
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert all(b - a >= 0.0099 for a, b in zip(seen, seen[1:])), seen  # increasing, steps of ~1% or more
    assert len(seen) >= 2 and all(f < 1.0 for f in seen[:-1]), seen  # reports while running, then 1.0


def test_audio_only_gets_a_card(clips: dict[str, Path], tmp_path: Path) -> None:
    probe = media.probe_recording(clips["podcast"])
    made = media.make_media(probe, tmp_path)
    (rendition,) = made.mp4
    assert rendition.path.name == "720p.mp4"
    check_web_mp4(rendition.path, 1280, 720)
    assert media.probe_recording(rendition.path).duration_s == pytest.approx(probe.duration_s, abs=0.25)
    (poster,) = streams_of(made.poster, "video")
    assert (poster["width"], poster["height"]) == (1280, 720)
    with wave.open(str(made.speech)) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (16000, 1)


def test_speech_from_plain_wav(clips: dict[str, Path], tmp_path: Path) -> None:
    probe = media.probe_recording(clips["wav"])
    assert probe.video is None and probe.format_name == "wav"
    speech = media.extract_speech(probe, tmp_path / "speech.wav")
    with wave.open(str(speech)) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (16000, 1)
        assert wav.getnframes() == pytest.approx(1.5 * 16000, abs=160)


def test_transcode_error_carries_ffmpeg_stderr(clips: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "changed.mp4"
    shutil.copy(clips["hd720"], source)
    probe = media.probe_recording(source)
    source.write_bytes(b"\x00" * 4096)  # the file changed after it was probed
    with pytest.raises(TranscodeError) as error:
        media.transcode_mp4(probe, tmp_path / "out" / "720p.mp4")
    message = str(error.value)
    assert "changed.mp4" in message and "\n" not in message
    assert "Invalid data" in message or "moov" in message  # ffmpeg's own words
    assert not list((tmp_path / "out").iterdir())  # no partial file left behind
