"""The single-decode ladder against the real ffmpeg: HLS playlists and segments, aligned keyframes, the master,
the download MP4 from the same encode, poster choice, seek thumbnails, progress and the subtitle rendition."""

from __future__ import annotations

import re
import subprocess
from itertools import pairwise
from pathlib import Path

import pytest
from media_checks import X264_FAST, check_web_mp4, ffmpeg, jpeg_size, streams_of

from confcast.tasks.media import hls
from confcast.tasks.media.outputs import make_media
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.models import HlsSubtitles, HlsVariant, Media, Probe

DURATION = 9.0


@pytest.fixture(scope="module")
def ladder_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Probe, Media, list[float]]:
    """854x480, 9 s: one black second, then a test pattern; stereo tone. Made into media once for the module."""
    d = tmp_path_factory.mktemp("ladder")
    source = d / "talk.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:s=854x480:r=25:d=1",
        "-f", "lavfi", "-i", "testsrc2=s=854x480:r=25:d=8",
        "-f", "lavfi", "-i", f"sine=f=440:d={DURATION}",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-map", "2:a",
        *X264_FAST, "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", str(source),
    )  # fmt: skip
    probe = probe_recording(source)
    seen: list[float] = []
    made = make_media(probe, d / "out", on_progress=seen.append)
    return probe, made, seen


def video_packets(path: Path) -> list[tuple[float, int, bool]]:
    """(pts seconds, size, keyframe) of every video packet, in order (a playlist is read through HLS)."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,size,flags",
         "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    packets = []
    for line in done.stdout.split():
        pts, size, flags = line.split(",")[:3]
        packets.append((float(pts), int(size), "K" in flags))
    return packets


def test_ladder_rungs_and_master(ladder_run) -> None:
    _, made, _ = ladder_run
    assert made.hls is not None
    root = made.hls.root
    assert [(v.name, v.width, v.height) for v in made.hls.variants] == [("480p", 854, 480), ("360p", 640, 360)]
    master = (root / "master.m3u8").read_text(encoding="utf-8").splitlines()
    assert master[:2] == ["#EXTM3U", "#EXT-X-VERSION:7"]
    infos = [(line, uri) for line, uri in pairwise(master) if line.startswith("#EXT-X-STREAM-INF:")]
    assert [uri for _, uri in infos] == ["480p/index.m3u8", "360p/index.m3u8"]
    for (line, uri), variant in zip(infos, made.hls.variants, strict=True):
        assert f"RESOLUTION={variant.width}x{variant.height}" in line
        codecs = re.search(r'CODECS="([^"]+)"', line).group(1)
        assert re.fullmatch(r"avc1\.64[0-9a-f]{4},mp4a\.40\.2", codecs), codecs  # H.264 High, AAC-LC
        bandwidth = int(re.search(r"BANDWIDTH=(\d+)", line).group(1))
        folder = root / Path(uri).parent
        parsed = hls.parse_media_playlist((root / uri).read_text())
        peak = max(8 * (folder / name).stat().st_size / seconds for seconds, name in parsed.segments)
        assert bandwidth >= peak  # HLS: BANDWIDTH is at least the peak segment bit rate
    assert not (root / "ffmpeg-master.m3u8").exists()


def test_segments_exist_add_up_and_align(ladder_run) -> None:
    _, made, _ = ladder_run
    root = made.hls.root
    boundaries = []
    for variant in made.hls.variants:
        parsed = hls.parse_media_playlist((root / variant.playlist).read_text())
        folder = (root / variant.playlist).parent
        assert parsed.ended and parsed.init and (folder / parsed.init).stat().st_size > 0
        assert all((folder / name).stat().st_size > 0 for _, name in parsed.segments)
        assert parsed.duration_s == pytest.approx(DURATION, abs=0.1)
        assert [round(d, 3) for d, _ in parsed.segments] == [4.0, 4.0, 1.0]  # 4 s segments, two 2 s GOPs each
        assert sorted(variant.files) == sorted(
            [f"{variant.name}/{parsed.init}", *(f"{variant.name}/{name}" for _, name in parsed.segments)]
        )
        keyframes = [pts for pts, _, key in video_packets(root / variant.playlist) if key]
        boundaries.append(keyframes)
        # Fixed GOP, no scene cuts (times from the first frame: B-frames delay presentation a little).
        assert [k - keyframes[0] for k in keyframes] == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0], abs=0.01)
    assert boundaries[0] == boundaries[1]  # aligned across rungs: a player can switch at any segment


def test_download_mp4_is_the_top_rung_remuxed(ladder_run) -> None:
    probe, made, _ = ladder_run
    (mp4,) = made.mp4
    assert mp4.path.name == "480p.mp4" and mp4.path.parent.name == "video"
    assert (mp4.width, mp4.height, mp4.bytes) == (854, 480, mp4.path.stat().st_size)
    assert mp4.bandwidth == made.hls.variants[0].bandwidth
    check_web_mp4(mp4.path, 854, 480)
    (audio,) = streams_of(mp4.path, "audio")
    assert (audio["codec_name"], audio["channels"]) == ("aac", 2)
    assert float(streams_of(mp4.path, "video")[0]["duration"]) == pytest.approx(probe.duration_s, abs=0.1)
    # Same packets as the top rung's segments: one encode, remuxed, not a second encode.
    top = made.hls.root / made.hls.variants[0].playlist
    assert [size for _, size, _ in video_packets(mp4.path)] == [size for _, size, _ in video_packets(top)]


def gray_pixels(path: Path) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip


def test_poster_is_a_detailed_frame_and_thumb_is_small(ladder_run) -> None:
    _, made, _ = ladder_run
    assert made.poster.name == "poster.jpg" and jpeg_size(made.poster) == (854, 480)
    pixels = gray_pixels(made.poster)
    mean = sum(pixels) / len(pixels)
    spread = (sum((p - mean) ** 2 for p in pixels[::7]) / len(pixels[::7])) ** 0.5
    assert mean > 40 and spread > 30  # the test pattern, not the black opening frame
    assert made.thumb is not None and jpeg_size(made.thumb) == (480, 270)
    assert not list(made.poster.parent.glob(".ladder.partial.*"))  # scratch folder removed


def test_seek_thumbnails_sprite_and_track(ladder_run) -> None:
    _, made, _ = ladder_run
    track = made.thumbnails
    assert track is not None and track.interval_s == 1.0 and track.count == 9
    assert track.sprite.parent.name == "thumbnails" and jpeg_size(track.sprite) == (9 * 160, 90)
    text = track.vtt.read_text(encoding="utf-8")
    cues = re.findall(r"(\S+) --> (\S+)\n(\S+)", text)
    assert text.startswith("WEBVTT") and len(cues) == 9
    assert cues[0] == ("00:00:00.000", "00:00:01.000", "sprite.jpg#xywh=0,0,160,90")
    assert cues[-1] == ("00:00:08.000", f"00:00:{DURATION:06.3f}", "sprite.jpg#xywh=1280,0,160,90")


def test_progress_goes_up_to_one(ladder_run) -> None:
    _, _, seen = ladder_run
    assert seen[-1] == 1.0 and seen.count(1.0) == 1
    assert all(0.0 <= f <= 1.0 for f in seen)
    assert all(b - a >= 0.0099 for a, b in pairwise(seen)), seen  # increasing, steps of ~1% or more
    assert len(seen) >= 2 and all(f < 1.0 for f in seen[:-1]), seen


def test_podcast_and_speech_come_with_the_media(ladder_run) -> None:
    _, made, _ = ladder_run
    assert made.audio is not None and made.audio.name == "audio.m4a"
    assert made.speech is not None and made.speech.name == "speech.wav"
    assert made.audio_track is not None and made.audio_track.index == 1


def test_captions_join_as_a_subtitle_rendition(ladder_run, tmp_path: Path) -> None:
    _, made, _ = ladder_run
    vtt = tmp_path / "fr.vtt"
    vtt.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nBonjour à tous.\n", encoding="utf-8")
    ladder = hls.add_subtitles(made.hls, [("fr", vtt)], DURATION)
    root = ladder.root
    master = (root / "master.m3u8").read_text(encoding="utf-8")
    (media_line,) = [line for line in master.splitlines() if line.startswith("#EXT-X-MEDIA:")]
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",NAME="Français",LANGUAGE="fr",DEFAULT=YES' in media_line
    assert 'URI="subtitles/fr.m3u8"' in media_line
    streams = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF:")]
    assert len(streams) == 2 and all(line.endswith(',SUBTITLES="subs"') for line in streams)
    playlist = hls.parse_media_playlist((root / "subtitles" / "fr.m3u8").read_text())
    assert playlist.segments == ((DURATION, "fr.vtt"),)
    assert (root / "subtitles" / "fr.vtt").read_text(encoding="utf-8") == vtt.read_text(encoding="utf-8")
    assert ladder.files[-1] == "master.m3u8" and "subtitles/fr.vtt" in ladder.files
    assert all((root / name).is_file() for name in ladder.files)


def test_subtitle_uri_is_found_and_replaced_in_one_language_only() -> None:
    variant = HlsVariant(name="360p", width=640, height=360, fps=25.0, bandwidth=1, average_bandwidth=1,
                             codecs="avc1.64001e,mp4a.40.2", playlist="360p/index.m3u8", files=(), bytes=1)
    tracks = tuple(HlsSubtitles(lang=lang, name=lang, playlist=f"subtitles/{lang}.m3u8", vtt=f"subtitles/{lang}.vtt")
                   for lang in ("fr", "en"))
    master = hls.render_master((variant,), tracks)
    assert hls.subtitle_uri(master, "fr") == "subtitles/fr.m3u8" and hls.subtitle_uri(master, "de") is None
    changed = hls.with_subtitle_uri(master, "fr", 'subtitles/fr.0123456789ab.m3u8"')
    assert hls.subtitle_uri(changed, "fr") == "subtitles/fr.0123456789ab.m3u8"  # a quote cannot break out
    assert hls.subtitle_uri(changed, "en") == "subtitles/en.m3u8"
    assert changed.replace("fr.0123456789ab.m3u8", "fr.m3u8") == master
