"""Any recording becomes web media: each kind of awkward source is generated as a tiny clip and run through the
real ladder (tasks.media.outputs.make_media), then its outputs are read back with ffprobe."""

from __future__ import annotations

import re
import subprocess
from itertools import pairwise
from pathlib import Path

import pytest
from media_checks import X264_FAST, check_web_mp4, ffmpeg, ffmpeg_stderr, jpeg_size, stream_duration, streams_of

from confcast.tasks.media import hls
from confcast.tasks.media.outputs import make_media
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.media.video import make_video, plan_ladder_job
from confcast.tasks.models import Media


def make(source: Path, out: Path) -> Media:
    return make_media(probe_recording(source), out)


def only_mp4(made: Media):
    (mp4,) = made.mp4
    return mp4


def rung_sizes(made: Media) -> list[tuple[int, int]]:
    assert made.hls is not None
    return [(v.width, v.height) for v in made.hls.variants]


def test_odd_dimensions_become_even(tmp_path: Path) -> None:
    source = tmp_path / "odd.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=321x241:r=25:d=2", "-f", "lavfi", "-i", "sine=d=2",
        *X264_FAST, "-pix_fmt", "yuv444p", "-c:a", "aac", "-shortest", str(source),
    )  # fmt: skip  (odd sizes need 4:4:4 to be H.264 at all)
    made = make(source, tmp_path / "out")
    assert rung_sizes(made) == [(320, 240)]  # down to even, never up
    check_web_mp4(only_mp4(made).path, 320, 240)  # 4:4:4 became yuv420p High
    assert jpeg_size(made.poster) == (320, 240)


def test_rotated_phone_video_comes_out_upright(tmp_path: Path) -> None:
    upright = tmp_path / "upright.mp4"
    # A red top-left corner on blue, then marked with rotation metadata: shows which way it turns.
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=blue:s=320x240:r=25:d=2,drawbox=x=0:y=0:w=80:h=60:c=red:t=fill",
        "-f", "lavfi", "-i", "sine=d=2", *X264_FAST, "-c:a", "aac", "-shortest", str(upright),
    )  # fmt: skip
    source = tmp_path / "portrait.mp4"
    ffmpeg("-i", str(upright), "-c", "copy", "-metadata:s:v", "rotate=90", str(source))
    probe = probe_recording(source)
    assert probe.video is not None and probe.video.rotation in (90, 270)
    made = make_media(probe, tmp_path / "out")
    assert rung_sizes(made) == [(240, 320)]
    mp4 = only_mp4(made).path
    check_web_mp4(mp4, 240, 320)
    assert probe_recording(mp4).video.rotation == 0  # upright pixels, no matrix left
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(mp4), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    ).stdout
    assert len(raw) == 240 * 320 * 3

    def red(x: int, y: int) -> bool:
        r, g, b = raw[(y * 240 + x) * 3 : (y * 240 + x) * 3 + 3]
        return r > 200 and b < 60

    corners = {0: (5, 5), 90: (234, 5), 180: (234, 314), 270: (5, 314)}
    assert [angle for angle, xy in corners.items() if red(*xy)] == [probe.video.rotation]
    assert jpeg_size(made.poster) == (240, 320) and made.thumbnails is not None
    assert (made.thumbnails.interval_s, jpeg_size(made.thumbnails.sprite)[1]) == (1.0, 90)  # tiles 68x90


def test_variable_frame_rate_becomes_constant_and_stays_in_sync(tmp_path: Path) -> None:
    source = tmp_path / "vfr.mp4"
    # 30 fps, but two frames in three dropped between 1 s and 2.5 s: variable rate, 22.5 fps on average.
    ffmpeg(
        "-f", "lavfi", "-i", r"testsrc2=s=320x240:r=30:d=4,select='not(between(t\,1\,2.5)*mod(n\,3))'",
        "-f", "lavfi", "-i", "sine=d=4", *X264_FAST, "-fps_mode", "vfr", "-c:a", "aac", str(source),
    )  # fmt: skip
    (video,) = streams_of(source, "video")
    assert video["avg_frame_rate"] != video["r_frame_rate"]  # really variable
    made = make(source, tmp_path / "out")
    mp4 = only_mp4(made).path
    (out,) = streams_of(mp4, "video")
    assert out["avg_frame_rate"] == out["r_frame_rate"] == "24000/1001"  # constant output
    times = packet_times(mp4)
    gaps = {round(b - a, 4) for a, b in pairwise(times)}
    assert gaps == {round(1001 / 24000, 4)}, gaps  # every frame the same length apart
    assert abs(stream_duration(mp4, "video") - stream_duration(mp4, "audio")) <= 0.1  # in sync
    assert stream_duration(mp4, "video") == pytest.approx(4.0, abs=0.1)


def packet_times(path: Path) -> list[float]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0",
         str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return sorted(float(t) for t in done.stdout.split())


def test_surround_is_downmixed_to_stereo(tmp_path: Path) -> None:
    source = tmp_path / "surround.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=2", "-f", "lavfi", "-i", "sine=d=2",
        *X264_FAST, "-c:a", "aac", "-ac", "6", "-shortest", str(source),
    )  # fmt: skip
    made = make(source, tmp_path / "out")
    assert made.audio_track is not None and made.audio_track.channels == 6
    for path in (only_mp4(made).path, made.audio):
        (audio,) = streams_of(path, "audio")
        assert (audio["codec_name"], audio["channels"]) == ("aac", 2)
    rung = made.hls.root / made.hls.variants[0].playlist
    (audio,) = streams_of(rung, "audio")
    assert audio["channels"] == 2


def test_multi_track_uses_the_default_track_and_says_which(tmp_path: Path) -> None:
    source = tmp_path / "tracks.mp4"
    # Track 1: stereo English; track 2: mono French, the default one.
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2",
        "-f", "lavfi", "-i", "sine=f=440:d=2", "-f", "lavfi", "-i", "sine=f=880:d=2",
        "-map", "0:v", "-map", "1:a", "-map", "2:a", *X264_FAST, "-c:a", "aac", "-ac:a:0", "2", "-ac:a:1", "1",
        "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
        "-disposition:a:0", "0", "-disposition:a:1", "default", str(source),
    )  # fmt: skip
    made = make(source, tmp_path / "out")
    assert made.audio_track is not None
    assert (made.audio_track.index, made.audio_track.language, made.audio_track.channels) == (2, "fra", 1)
    (audio,) = streams_of(only_mp4(made).path, "audio")  # only the default track, mono kept mono
    assert audio["channels"] == 1


def idet_counts(path: Path) -> dict[str, int]:
    text = ffmpeg_stderr("-i", str(path), "-map", "0:v:0", "-vf", "idet", "-f", "null", "-")
    line = next(line for line in text.splitlines() if "Multi frame detection" in line)
    return {key: int(value) for key, value in re.findall(r"(TFF|BFF|Progressive|Undetermined):\s*(\d+)", line)}


def test_interlaced_source_is_deinterlaced(tmp_path: Path) -> None:
    source = tmp_path / "interlaced.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=50:d=3,tinterlace=interleave_top,setfield=tff",
        "-f", "lavfi", "-i", "sine=d=3", *X264_FAST, "-flags", "+ildct+ilme", "-x264opts", "tff=1",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(source),
    )  # fmt: skip
    probe = probe_recording(source)
    assert probe.video is not None and probe.video.interlaced and probe.video.field_order == "tt"
    assert "bwdif=" in hls.build_filter_graph(plan_ladder_job(probe))
    before = idet_counts(source)
    assert before["TFF"] > before["Progressive"]  # the clip really is interlaced
    made = make_media(probe, tmp_path / "out")
    mp4 = only_mp4(made).path
    (video,) = streams_of(mp4, "video")
    assert video.get("field_order", "progressive") == "progressive"
    after = idet_counts(mp4)
    # idet mistakes some frames of a sharp test pattern for interlaced ones, more or fewer with the encoder's thread
    # count (9 of 75 on a 2-core machine, 16 on a larger one); the source was interlaced throughout (75 of 75).
    interlaced_before, interlaced_after = before["TFF"] + before["BFF"], after["TFF"] + after["BFF"]
    assert interlaced_after < interlaced_before / 3 and after["Progressive"] > 2 * interlaced_after, (before, after)


def test_audio_only_gets_a_card_video(tmp_path: Path) -> None:
    cover = tmp_path / "cover.jpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x64:d=1", "-frames:v", "1", str(cover))
    source = tmp_path / "podcast.m4a"
    ffmpeg(
        "-f", "lavfi", "-i", "sine=f=440:d=3", "-i", str(cover), "-map", "0", "-map", "1",
        "-c:a", "aac", "-c:v", "copy", "-disposition:v", "attached_pic", str(source),
    )  # fmt: skip
    probe = probe_recording(source)
    assert probe.video is None
    title = "L'atelier: [ouvert], 100% libre; %{pts} \\ « fin »"  # filter-graph and drawtext syntax stays text
    made = make_media(probe, tmp_path / "out", title=title)
    assert rung_sizes(made) == [(1280, 720)]  # one rung: a still title card needs no ladder
    mp4 = only_mp4(made).path
    check_web_mp4(mp4, 1280, 720)
    assert stream_duration(mp4, "video") == pytest.approx(probe.duration_s, abs=0.25)
    assert jpeg_size(made.poster) == (1280, 720) and made.thumbnails is None
    assert made.audio is not None and made.speech is not None
    gray = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(made.poster), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    assert max(gray) > 200 and min(gray) < 60  # white title on the dark card
    untitled = make_video(probe, tmp_path / "untitled")
    assert untitled.poster.stat().st_size < made.poster.stat().st_size / 2  # a plain card without a title


def test_video_without_audio_is_published_without_sound(tmp_path: Path) -> None:
    source = tmp_path / "silent-film.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2", *X264_FAST, str(source))
    probe = probe_recording(source)
    assert probe.audio == () and probe.main_audio is None
    made = make_media(probe, tmp_path / "out")
    assert (made.audio, made.speech, made.audio_track) == (None, None, None)
    assert [v.codecs.split(",")[1:] for v in made.hls.variants] == [[]]  # video only: no mp4a in CODECS
    mp4 = only_mp4(made).path
    check_web_mp4(mp4, 320, 240)
    assert streams_of(mp4, "audio") == []
    assert made.thumbnails is not None and made.poster.is_file()


def test_audio_longer_than_the_picture(tmp_path: Path) -> None:
    """Screen recorders often stop the picture before the sound: segments follow the picture, nothing fails."""
    source = tmp_path / "longer-audio.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2", "-f", "lavfi", "-i", "sine=d=4",
        *X264_FAST, "-c:a", "aac", str(source),
    )  # fmt: skip
    probe = probe_recording(source)
    assert probe.video.duration_s == pytest.approx(2.0, abs=0.05) and probe.duration_s > 3.9
    made = make_media(probe, tmp_path / "out")
    parsed = hls.parse_media_playlist((made.hls.root / made.hls.variants[0].playlist).read_text())
    assert parsed.duration_s == pytest.approx(2.0, abs=0.3)
    assert stream_duration(only_mp4(made).path, "audio") == pytest.approx(4.0, abs=0.1)  # no sound is cut
