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
from confcast.tasks.media import hls
from confcast.tasks.media.audio import (
    build_levelled_speech_args,
    build_loudness_args,
    build_podcast_args,
    build_speech_args,
    extract_speech,
    make_listening_audio,
    make_podcast_audio,
    parse_loudnorm,
)
from confcast.tasks.media.ffmpeg import RECORDING_FORMATS, format_refused, parse_progress
from confcast.tasks.media.probe import probe_recording, refusal, stream_rotation
from confcast.tasks.media.video import build_remux_args, build_thumb_args, make_video, plan_ladder_job
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


# --- recordings that are not self-contained ---------------------------------------------------------

SECRET_S = "3.7"  # the other file's length: it must never show in an error (a second try would need it)
RECORDING_INPUT = ["-f", "mov", "-protocol_whitelist", "file", "-i", "file:/rec/talk.mp4"]


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """Another local recording, next to where a playlist posing as a recording is written."""
    path = tmp_path / "secret.ts"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=160x120:r=10:d={SECRET_S}", "-f", "lavfi", "-i", f"sine=f=1000:d={SECRET_S}",
        *X264_FAST, "-c:a", "aac", "-f", "mpegts", str(path),
    )  # fmt: skip
    return path


def hls_playlist(segment: str) -> str:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:{SECRET_S},\n{segment}\n#EXT-X-ENDLIST\n"


def assert_reveals_nothing(message: str) -> None:
    assert "secret" not in message and SECRET_S not in message and "3.70" not in message, message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (hls_playlist("secret.ts"), "talk.mp4: is an HLS playlist, not a recording"),
        (hls_playlist("../elsewhere/../secret.ts"), "talk.mp4: is an HLS playlist, not a recording"),
        ("ffconcat version 1.0\nfile secret.ts\n", "talk.mp4: the 'concat' format can read other files"),
        (
            "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=talk\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 96\n",
            "talk.mp4: the 'sdp' format can read other files or URLs",
        ),
    ],
    ids=["hls", "hls-elsewhere", "ffconcat", "sdp"],
)
def test_probe_refuses_what_reads_other_files(text: str, expected: str, secret: Path) -> None:
    path = secret.with_name("talk.mp4")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProbeError) as error:
        probe_recording(path)
    assert_one_line_naming(error, "talk.mp4")
    assert expected in str(error.value)
    assert_reveals_nothing(str(error.value))


def test_every_run_on_the_recording_is_forced_to_its_demuxer_and_to_files() -> None:
    """The demuxer ffprobe found, the file protocol only, the path as a file: URL: a recording swapped after the
    probe cannot become a playlist, and a name like `concat:a|b` or `http:x.mp4` is never a URL."""
    probe = fake_probe()  # format "mov"
    card = fake_probe(video=None)
    runs = {
        "speech": build_speech_args(probe, Path("/out/speech.wav")),
        "levelled speech": build_levelled_speech_args(probe, Path("/out/speech.wav"), Path("/out/raw.wav")),
        "loudness": build_loudness_args(probe),
        "levelled loudness": build_loudness_args(probe, "dynaudnorm"),
        "podcast": build_podcast_args(probe, Path("/out/audio.m4a"), None),
        "ladder": hls.build_ladder_args(plan_ladder_job(probe), Path("/work")),
        "card ladder": hls.build_ladder_args(plan_ladder_job(card), Path("/work")),
    }
    for name, args in runs.items():
        at = args.index("-i")
        assert args[at - 4 : at + 2] == RECORDING_INPUT, name
        assert args.count("file:/rec/talk.mp4") == 1 and "/rec/talk.mp4" not in args, name


def test_a_recording_swapped_for_a_playlist_after_the_probe_reads_nothing_else(
    clips: dict[str, Path], secret: Path, tmp_path: Path
) -> None:
    source = secret.with_name("talk.mp4")
    shutil.copy(clips["hd720"], source)  # streams as in the other file: 0 video, 1 audio
    probe = probe_recording(source)
    source.write_text(hls_playlist("secret.ts"), encoding="utf-8")  # replaced between probe and transcode
    out = tmp_path / "out"
    runs = {
        "speech": lambda: extract_speech(probe, out / "speech.wav"),
        "levelled speech": lambda: extract_speech(probe, out / "speech.wav", level=True),
        "podcast": lambda: make_podcast_audio(probe, out / "audio.m4a"),
        "levelled audio": lambda: make_listening_audio(probe, out, level=True),
        "video": lambda: make_video(probe, out / "video"),
    }
    for name, make in runs.items():
        with pytest.raises(TranscodeError) as error:
            make()
        assert "\n" not in str(error.value), name
        assert_reveals_nothing(str(error.value))
    assert not [p for p in out.rglob("*") if p.is_file()]  # nothing of the other file came out


@pytest.mark.parametrize("name", ["concat:talk.mp4|secret.ts", "http:talk.mp4", "file:talk.mp4"])
def test_a_name_like_a_url_is_a_file(
    name: str, clips: dict[str, Path], secret: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(clips["wav"], secret.with_name(name))
    shutil.copy(clips["wav"], secret.with_name("talk.mp4"))
    monkeypatch.chdir(secret.parent)  # the name as an operator would type it
    probe = probe_recording(Path(name))
    assert probe.format_name == "wav" and probe.source.path == secret.with_name(name)
    speech = extract_speech(probe, tmp_path / "speech.wav")
    with wave.open(str(speech)) as wav:
        assert wav.getnframes() == pytest.approx(1.5 * 16000, abs=160)  # the one file, nothing joined to it


TONE = ["-f", "lavfi", "-i", "sine=d=0.5:sample_rate=48000"]
PAL = ["-f", "lavfi", "-i", "testsrc2=s=720x576:r=25:d=0.5", *TONE]
SMALL = ["-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=0.5", *TONE]
RECORDINGS = {  # file: (how ffmpeg writes it, the format_name ffprobe reports)
    "phone.mp4": ([*SMALL, *X264_FAST, "-c:a", "aac"], "mov,mp4,m4a,3gp,3g2,mj2"),
    "camera.mov": ([*SMALL, "-c:v", "mjpeg", "-c:a", "pcm_s16le"], "mov,mp4,m4a,3gp,3g2,mj2"),
    "old-phone.3gp": ([*SMALL, *X264_FAST, "-c:a", "aac", "-ar", "16000", "-ac", "1"], "mov,mp4,m4a,3gp,3g2,mj2"),
    "memo.m4a": ([*TONE, "-c:a", "aac"], "mov,mp4,m4a,3gp,3g2,mj2"),
    "obs.mkv": ([*SMALL, *X264_FAST, "-c:a", "aac"], "matroska,webm"),
    "browser.webm": ([*SMALL, "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus"], "matroska,webm"),
    "capture.avi": ([*SMALL, "-c:v", "mjpeg", "-c:a", "pcm_s16le"], "avi"),
    "avchd.mts": ([*SMALL, *X264_FAST, "-c:a", "ac3", "-f", "mpegts"], "mpegts"),
    "dvd.mpg": ([*PAL, "-c:v", "mpeg2video", "-c:a", "mp2"], "mpeg"),
    "stream.flv": ([*SMALL, *X264_FAST, "-c:a", "aac"], "flv"),
    "lecture.wmv": ([*SMALL, "-c:v", "wmv2", "-c:a", "wmav2"], "asf"),
    "broadcast.mxf": ([*PAL, "-c:v", "mpeg2video", "-c:a", "pcm_s16le"], "mxf"),
    "tape.dv": ([*PAL, "-c:v", "dvvideo", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", "-ac", "2"], "dv"),
    "talk.ogg": ([*TONE, "-c:a", "libopus"], "ogg"),
    "recorder.wav": ([*TONE], "wav"),
    "editor.w64": ([*TONE], "w64"),
    "studio.aiff": ([*TONE], "aiff"),
    "logic.caf": ([*TONE], "caf"),
    "podcast.mp3": ([*TONE], "mp3"),
    "archive.flac": ([*TONE], "flac"),
    "radio.aac": ([*TONE, "-c:a", "aac"], "aac"),
}


@pytest.mark.parametrize("name", list(RECORDINGS))
def test_recordings_of_every_accepted_format_are_read(name: str, tmp_path: Path) -> None:
    """The allowlist holds ffprobe's real names (checked with files ffmpeg writes), and every run forced to that
    demuxer reads the recording."""
    args, format_name = RECORDINGS[name]
    source = tmp_path / name
    ffmpeg(*args, str(source))
    probe = probe_recording(source)
    assert probe.format_name == format_name and format_name in RECORDING_FORMATS
    speech = extract_speech(probe, tmp_path / "speech.wav")
    with wave.open(str(speech)) as wav:
        assert wav.getnframes() == pytest.approx(0.5 * 16000, abs=800)


def test_refusal_says_what_the_file_is() -> None:
    talk = Path("in/talk.mp4")
    assert "is a text file" in refusal(talk, "tty")
    assert "is a still image" in refusal(talk, "image2") and "is a still image" in refusal(talk, "png_pipe")
    assert refusal(talk, "hls").startswith("in/talk.mp4: is an HLS playlist, not a recording; only self-contained")
    assert "the 'sdp' format can read other files or URLs; only self-contained" in refusal(talk, "sdp")
    assert "the 'srt' format is not a recording format confcast accepts" in refusal(talk, "srt")
    stderr = b"[concat @ 0x55d1c0] Format not on whitelist 'mov,mp4'\nfile:/in/talk.mp4: Invalid argument\n"
    assert format_refused(stderr) == "concat" and format_refused(b"talk.mp4: Invalid data found") is None
