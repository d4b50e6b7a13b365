"""tasks.media.probe, tasks.media.audio and the ffmpeg adapter (tasks.media.ffmpeg): probing, speech and podcast
audio, the ffmpeg-python argument lists of the thumbnail and the remux (pure builders exactly, runners against the
real ffmpeg).

The ladder itself is tested in tests/test_hls.py (one decode, playlists, MP4) and tests/test_any_recording.py
(sizes, rotation, frame rates, audio layouts, interlacing, audio-only and silent recordings).
"""

from __future__ import annotations

import hashlib
import shutil
import wave
from itertools import pairwise
from pathlib import Path

import pytest
from media_checks import X264_FAST, ffmpeg, integrated_loudness, streams_of, top_level_boxes

from confcast.tasks.errors import ProbeError, TranscodeError
from confcast.tasks.media.audio import (
    build_loudness_args,
    build_podcast_args,
    build_speech_args,
    extract_speech,
    make_podcast_audio,
    parse_loudnorm,
)
from confcast.tasks.media.ffmpeg import parse_progress
from confcast.tasks.media.probe import probe_recording, stream_rotation
from confcast.tasks.media.video import build_remux_args, build_thumb_args, make_video
from confcast.tasks.models import AudioStream, Probe, SourceFile, VideoStream

# --- helpers ----------------------------------------------------------------------------------------


def assert_one_line_naming(error: pytest.ExceptionInfo, name: str) -> None:
    message = str(error.value)
    assert name in message
    assert "\n" not in message


FULL_HD = VideoStream(index=0, codec="h264", width=1920, height=1080, fps=25.0)


def fake_probe(
    video: VideoStream | None = FULL_HD,
    audio: tuple[AudioStream, ...] = (AudioStream(index=1, codec="aac", channels=2, sample_rate=48000),),
    duration_s: float = 10.0,
) -> Probe:
    source = SourceFile(path=Path("/rec/talk.mp4"), filename="talk.mp4", sha256="0" * 64, bytes=1)
    return Probe(source=source, duration_s=duration_s, format_name="mov", video=video, audio=audio)


def pairs(args: list[str]) -> set[tuple[str, str]]:
    return set(pairwise(args))


# --- fixtures: small clips, made once ---------------------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    x264 = X264_FAST
    out = {name: d / f"{name}.mp4" for name in ("small", "quad", "hd720")}
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
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1",
        *x264, "-c:a", "aac", "-ac", "2", "-shortest", str(out["hd720"]),
    )  # fmt: skip
    upright = d / "upright.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=blue:s=320x240:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1",
        *x264, "-c:a", "aac", "-shortest", str(upright),
    )  # fmt: skip
    ffmpeg("-i", str(upright), "-c", "copy", "-metadata:s:v", "rotate=90", str(out["quad"]))
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
    # Quiet speech-like audio (-35 LUFS or so) to normalise: a tone with a slow tremolo, then silence.
    out["quiet"] = d / "quiet.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=f=300:d=6,volume=0.02,tremolo=f=2:d=0.6", "-ac", "1", str(out["quiet"]))
    out["silence"] = d / "silence.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo:d=3", str(out["silence"]))
    out["cover"] = cover
    return out


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
    assert parse_progress(line, duration) == expected


# --- pure: audio argument lists ---------------------------------------------------------------------


def test_speech_args() -> None:
    mono = (AudioStream(index=1, codec="aac", channels=1, sample_rate=44100),)
    speech = build_speech_args(fake_probe(audio=mono), Path("/out/speech.wav"))
    assert {("-ar", "16000"), ("-ac", "1"), ("-acodec", "pcm_s16le"), ("-map", "0:1"), ("-f", "wav")} <= pairs(speech)


def test_thumb_and_remux_args_exact() -> None:
    # Compiled by ffmpeg-python (tasks.media.ffmpeg.compile_args): the poster is scaled, the remux copies.
    assert build_thumb_args(Path("/w/poster.jpg"), 480, 270, Path("/w/thumb.jpg")) == [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-i", "/w/poster.jpg",
        "-filter_complex", "[0]scale=480:270[s0];[s0]setsar=1[s1]", "-map", "[s1]",
        "-f", "image2", "-c:v", "mjpeg", "-frames:v", "1", "-q:v", "3", "-update", "1", "/w/thumb.jpg", "-y",
    ]  # fmt: skip
    assert build_remux_args(Path("/w/top.fragmented.mp4"), Path("/w/top.mp4")) == [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-i", "/w/top.fragmented.mp4",
        "-f", "mp4", "-c", "copy", "-map_metadata", "-1", "-movflags", "+faststart", "/w/top.mp4", "-y",
    ]  # fmt: skip


def test_loudness_args_read_audio_only() -> None:
    args = build_loudness_args(fake_probe())
    assert {("-map", "0:1"), ("-f", "null"), ("-loglevel", "info")} <= pairs(args)
    assert "-vn" in args  # the picture is never decoded for the podcast track
    assert ("-af", "aformat=channel_layouts=stereo,loudnorm=I=-16:TP=-1.5:LRA=11:print_format=json") in pairs(args)


def test_podcast_args_apply_measurements() -> None:
    measured = {"input_i": -30.1, "input_tp": -12.0, "input_lra": 3.2, "input_thresh": -40.5, "target_offset": 0.4}
    surround = (AudioStream(index=2, codec="ac3", channels=6, sample_rate=48000),)
    args = build_podcast_args(fake_probe(audio=surround), Path("/out/audio.m4a"), measured)
    (chain,) = [b for a, b in pairwise(args) if a == "-af"]
    assert chain == (
        "aformat=channel_layouts=stereo,loudnorm=I=-16:TP=-1.5:LRA=11:measured_I=-30.10:measured_TP=-12.00:measured_LRA=3.20"
        ":measured_thresh=-40.50:offset=0.40:linear=true:print_format=summary,aresample=48000"
    )
    assert {("-ac", "2"), ("-map", "0:2"), ("-c:a", "aac"), ("-b:a", "96k"), ("-movflags", "+faststart")} <= pairs(args)
    mono = (AudioStream(index=1, codec="aac", channels=1, sample_rate=44100),)
    plain = build_podcast_args(fake_probe(audio=mono), Path("/out/audio.m4a"), None)
    assert ("-af", "aformat=channel_layouts=mono,aresample=48000") in pairs(plain) and ("-ac", "1") in pairs(plain)


def test_parse_loudnorm() -> None:
    stderr = """[Parsed_loudnorm_0 @ 0x1]
{
	"input_i" : "-27.61",
	"input_tp" : "-4.47",
	"input_lra" : "18.06",
	"input_thresh" : "-39.20",
	"output_i" : "-16.58",
	"output_tp" : "-1.50",
	"output_lra" : "14.78",
	"output_thresh" : "-27.71",
	"normalization_type" : "dynamic",
	"target_offset" : "0.58"
}
"""
    measured = parse_loudnorm(stderr)
    assert measured is not None and measured["input_i"] == -27.61 and measured["target_offset"] == 0.58
    assert parse_loudnorm(stderr.replace('"-27.61"', '"-inf"')) is None  # silence: nothing to normalise
    assert parse_loudnorm(stderr.replace('"-27.61"', '"-80.00"')) is None
    assert parse_loudnorm("no json here") is None


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
    assert stream_rotation(stream) == expected


# --- probe against ffprobe --------------------------------------------------------------------------


def test_probe_small_clip(clips: dict[str, Path]) -> None:
    path = clips["small"]
    probe = probe_recording(path)
    assert probe.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert probe.source.bytes == path.stat().st_size
    assert probe.source.filename == "small.mp4"
    assert probe.source.path == path.resolve()
    assert probe.duration_s == pytest.approx(2.0, abs=0.1)
    assert "mp4" in probe.format_name
    assert probe.video is not None
    assert (probe.video.codec, probe.video.width, probe.video.height) == ("h264", 320, 240)
    assert probe.video.rotation == 0 and probe.video.fps == pytest.approx(25.0)
    assert probe.video.field_order == "progressive" and not probe.video.interlaced
    assert [(a.index, a.channels, a.language, a.default) for a in probe.audio] == [
        (1, 2, "eng", False),
        (2, 1, "fra", True),
    ]
    assert probe.audio[0].sample_rate == 44100
    assert probe.main_audio == probe.audio[1]


def test_probe_audio_with_cover_art(clips: dict[str, Path]) -> None:
    probe = probe_recording(clips["podcast"])
    assert probe.video is None  # the cover is an attached picture, not video
    assert len(probe.audio) == 1 and probe.duration_s == pytest.approx(2.0, abs=0.1)


def test_probe_rotated(clips: dict[str, Path]) -> None:
    probe = probe_recording(clips["quad"])
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
        probe_recording(path)
    assert_one_line_naming(error, path.name)


# --- speech and podcast audio against ffmpeg --------------------------------------------------------


def test_speech_wav_for_whisper(clips: dict[str, Path], tmp_path: Path) -> None:
    probe = probe_recording(clips["small"])
    speech = extract_speech(probe, tmp_path / "speech.wav")
    with wave.open(str(speech)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        assert wav.getnframes() / 16000 == pytest.approx(probe.duration_s, abs=0.1)


def test_podcast_audio_is_normalised_to_minus_16_lufs(clips: dict[str, Path], tmp_path: Path) -> None:
    probe = probe_recording(clips["quiet"])
    assert integrated_loudness(clips["quiet"]) < -30
    audio = make_podcast_audio(probe, tmp_path / "audio.m4a")
    assert integrated_loudness(audio) == pytest.approx(-16.0, abs=1.0)
    (stream,) = streams_of(audio, "audio")
    assert (stream["codec_name"], stream["channels"], stream["sample_rate"]) == ("aac", 1, "48000")  # mono stays
    assert int(stream["bit_rate"]) <= 110_000 and not streams_of(audio, "video")
    boxes = top_level_boxes(audio)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial left


def test_podcast_audio_of_silence_and_default_track(clips: dict[str, Path], tmp_path: Path) -> None:
    silent = make_podcast_audio(probe_recording(clips["silence"]), tmp_path / "silent.m4a")
    (stream,) = streams_of(silent, "audio")
    assert stream["channels"] == 2 and float(stream["duration"]) == pytest.approx(3.0, abs=0.1)
    small = make_podcast_audio(probe_recording(clips["small"]), tmp_path / "small.m4a")
    (stream,) = streams_of(small, "audio")
    assert stream["channels"] == 1  # the default track (mono French), not the first (stereo English)


def test_speech_from_plain_wav(clips: dict[str, Path], tmp_path: Path) -> None:
    probe = probe_recording(clips["wav"])
    assert probe.video is None and probe.format_name == "wav"
    speech = extract_speech(probe, tmp_path / "speech.wav")
    with wave.open(str(speech)) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (16000, 1)
        assert wav.getnframes() == pytest.approx(1.5 * 16000, abs=160)


def test_transcode_error_carries_ffmpeg_stderr(clips: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "changed.mp4"
    shutil.copy(clips["hd720"], source)
    probe = probe_recording(source)
    source.write_bytes(b"\x00" * 4096)  # the file changed after it was probed
    out = tmp_path / "out"
    with pytest.raises(TranscodeError) as error:
        make_video(probe, out)
    message = str(error.value)
    assert "changed.mp4" in message and "\n" not in message
    assert "Invalid data" in message or "moov" in message  # ffmpeg's own words
    assert not list(out.iterdir())  # no partial output left behind
