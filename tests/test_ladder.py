"""Pure parts of the ladder: rung choice and bitrates, frame rates, thumbnails plan and track, HLS command and
playlists, the title card's drawtext (escaping, wrapping). Exact values; no ffmpeg run here (tests/test_hls.py runs
it)."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import pytest

from confcast.config.ladder import DEFAULT_LADDER, LadderPreset, RungPreset
from confcast.tasks.media import drawtext, hls, ladder, thumbnails
from confcast.tasks.models import HlsSubtitles, HlsVariant

# --- sizes ------------------------------------------------------------------------------------------


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
        ((1920, 1080), 480, (854, 480)),
        ((321, 241), 720, (320, 240)),  # odd: down to even, never up
        ((1080, 1920), 720, (406, 720)),  # portrait: 405 rounds to the nearest even
        ((240, 320), 720, (240, 320)),
        ((1, 1), 720, (2, 2)),  # at least 2
    ],
)
def test_scaled_size(size: tuple[int, int], max_height: int, expected: tuple[int, int]) -> None:
    assert ladder.scaled_size(*size, max_height=max_height) == expected


def test_scaled_size_invariants() -> None:
    for width in range(2, 4000, 97):
        for height in range(2, 3000, 89):
            w, h = ladder.scaled_size(width, height, 720)
            assert w % 2 == 0 and h % 2 == 0
            assert h <= max(720, 2) and h <= max(height, 2) and w <= max(width, 2)
            if w > 20 and h > 20:
                assert abs(w / h - width / height) / (width / height) < 0.1


def test_scaled_size_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        ladder.scaled_size(0, 720, 720)


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1920, 1080), (160, 90)), ((240, 320), (68, 90)), ((100, 50), (100, 50)), ((1280, 720), (160, 90))],
)
def test_fit_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert ladder.fit_size(*size, 160, 90) == expected


# --- frame rate -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (25.0, Fraction(25)),
        (29.97002997, Fraction(30000, 1001)),
        (30.0, Fraction(30)),
        (23.976, Fraction(24000, 1001)),
        (50.0, Fraction(25)),  # halved to the preset's 30 at most
        (59.94, Fraction(30000, 1001)),
        (60.0, Fraction(30)),
        (120.0, Fraction(30)),
        (22.5, Fraction(24000, 1001)),  # variable rate: up to the next standard, no motion lost
        (27.3, Fraction(30000, 1001)),
        (5.0, Fraction(5)),
        (None, Fraction(25)),
        (0.0, Fraction(25)),
    ],
)
def test_output_fps(source: float | None, expected: Fraction) -> None:
    assert ladder.output_fps(source) == expected


# --- the ladder -------------------------------------------------------------------------------------


def heights(rungs: tuple[ladder.Rung, ...]) -> list[int]:
    return [r.height for r in rungs]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1920, 1080), [1080, 720, 480, 360]),
        ((3840, 2160), [1080, 720, 480, 360]),
        ((1280, 720), [720, 480, 360]),
        ((1024, 576), [576, 480, 360]),  # the source's height is a rung when it falls between
        ((640, 360), [360]),
        ((320, 240), [240]),  # below the lowest rung: the source alone, never upscaled
        ((321, 241), [240]),  # odd: even, never above the source
        ((1080, 1920), [1080, 720, 480, 360]),  # portrait (display size): heights as for landscape
    ],
)
def test_plan_ladder_rungs(size: tuple[int, int], expected: list[int]) -> None:
    assert heights(ladder.plan_ladder(*size, 25.0)) == expected


def test_plan_ladder_bitrates_follow_bits_per_pixel() -> None:
    rungs = ladder.plan_ladder(1920, 1080, 30.0)
    top, r720, r480, r360 = rungs
    assert (top.width, top.height, top.name) == (1920, 1080, "1080p")
    assert top.video_bitrate == round(1920 * 1080 * 30 * 0.060, -3) == 3_732_000
    assert r720.video_bitrate == round(1280 * 720 * 30 * 0.075, -3)
    assert (r480.width, r360.width) == (854, 640)
    assert [r.video_bitrate for r in rungs] == sorted((r.video_bitrate for r in rungs), reverse=True)
    for r in rungs:
        assert r.maxrate == int(r.video_bitrate * 1.5) and r.bufsize == int(r.video_bitrate * 2.0)
        assert r.gop == 60 and r.fps == 30  # 2 s keyframe interval at 30 fps, the same on every rung


def test_plan_ladder_source_rung_interpolates_bits_per_pixel() -> None:
    top = ladder.plan_ladder(1024, 576, 25.0)[0]
    bpp = 0.075 + (0.090 - 0.075) * (576 - 720) / (480 - 720)
    assert ladder.bits_per_pixel(576) == pytest.approx(bpp)
    assert top.video_bitrate == round(1024 * 576 * 25 * bpp, -3)
    assert ladder.bits_per_pixel(2160) == 0.060 and ladder.bits_per_pixel(240) == 0.100


def test_plan_ladder_custom_preset_and_floor() -> None:
    preset = LadderPreset(rungs=(RungPreset(240, 0.01), RungPreset(120, 0.01)), max_fps=25, gop_s=1)
    rungs = ladder.plan_ladder(320, 240, 50.0, preset)
    assert heights(rungs) == [240, 120]
    assert all(r.video_bitrate == preset.min_video_bitrate for r in rungs)  # tiny pictures get the floor
    assert rungs[0].fps == 25 and rungs[0].gop == 25


def test_plan_ladder_invariants() -> None:
    for width in range(100, 4000, 173):
        for height in range(100, 2400, 151):
            rungs = ladder.plan_ladder(width, height, 29.97)
            assert rungs and rungs[0].height <= height and rungs[0].width <= width
            assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in rungs)
            assert heights(rungs) == sorted(set(heights(rungs)), reverse=True)
            assert len({r.gop for r in rungs}) == 1


# --- thumbnails -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "interval"),
    [(3.0, 1.0), (10.0, 1.0), (45.0, 5.0), (100.0, 10.0), (3600.0, 10.0), (3 * 3600.0, 18.0)],
)
def test_plan_sprite_interval(duration: float, interval: float) -> None:
    plan = thumbnails.plan_sprite(duration, 1920, 1080)
    assert plan.interval_s == interval and (plan.tile_width, plan.tile_height) == (160, 90)


def test_sprite_grid() -> None:
    assert thumbnails.sprite_grid(1) == (1, 1)
    assert thumbnails.sprite_grid(10) == (10, 1)
    assert thumbnails.sprite_grid(11) == (10, 2)
    assert thumbnails.sprite_grid(360) == (10, 36)


def test_thumbnails_vtt_exact() -> None:
    plan = thumbnails.SpritePlan(interval_s=10.0, tile_width=160, tile_height=90)
    assert thumbnails.cue_count(plan, 13, 125.5) == 13
    assert thumbnails.cue_count(plan, 14, 125.5) == 13  # a frame sampled after the end gets no cue
    text = thumbnails.thumbnails_vtt(plan, 13, 125.5)
    assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:10.000\nsprite.jpg#xywh=0,0,160,90\n")
    assert "00:01:40.000 --> 00:01:50.000\nsprite.jpg#xywh=0,90,160,90\n" in text  # 11th: second row
    assert text.rstrip().endswith("00:02:00.000 --> 00:02:05.500\nsprite.jpg#xywh=320,90,160,90")
    assert text.count(" --> ") == 13


def test_choose_poster_prefers_detail(tmp_path: Path) -> None:
    files = []
    for name, size in (("001.jpg", 500), ("002.jpg", 9000), ("003.jpg", 9000), ("004.jpg", 20)):
        path = tmp_path / name
        path.write_bytes(b"x" * size)
        files.append(path)
    assert thumbnails.choose_poster(files) == files[1]  # largest, earliest of a tie
    with pytest.raises(ValueError):
        thumbnails.choose_poster([])


# --- the single-decode command ----------------------------------------------------------------------


def job(**changes) -> hls.LadderJob:
    rungs = ladder.plan_ladder(1920, 1080, 25.0)
    base = dict(
        source=Path("/rec/talk.mp4"),
        source_format="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=100.0,
        rungs=rungs,
        video_input="0:0",
        audio_input="0:1",
        sprite=thumbnails.plan_sprite(100.0, 1920, 1080),
        poster_every_s=12.5,
    )
    return hls.LadderJob(**{**base, **changes})


def values_of(args: list[str], flag: str) -> list[str]:
    return [b for a, b in pairwise(args) if a == flag]


def test_filter_graph_one_decode_feeds_everything() -> None:
    graph = hls.build_filter_graph(job())
    assert graph.split(";") == [
        "[0:0]fps=25,split=3[s0][ts][ps]",
        "[s0]scale=1920:1080:flags=bicubic,setsar=1,format=yuv420p,split=2[v0][c0]",
        "[c0]scale=1280:720:flags=bicubic,setsar=1,format=yuv420p,split=2[v1][c1]",
        "[c1]scale=854:480:flags=bicubic,setsar=1,format=yuv420p,split=2[v2][c2]",
        "[c2]scale=640:360:flags=bicubic,setsar=1,format=yuv420p[v3]",
        "[ts]fps=1/10:eof_action=pass,scale=160:90,setsar=1[thumbs]",
        "[ps]fps=1/12.500:eof_action=pass,scale=1280:720,setsar=1[poster]",
        "[0:1]aresample=async=1:first_pts=0,aformat=channel_layouts=stereo,asplit=4[a0][a1][a2][a3]",
    ]


def test_filter_graph_can_scale_every_rung_from_the_source() -> None:
    """What the ladder did before each rung was scaled from the one above (the bench's side-by-side row)."""
    preset = dataclasses.replace(DEFAULT_LADDER, scale_from_rung_above=False)
    graph = hls.build_filter_graph(job(preset=preset))
    assert graph.split(";")[:3] == [
        "[0:0]fps=25,split=6[s0][s1][s2][s3][ts][ps]",
        "[s0]scale=1920:1080:flags=bicubic,setsar=1,format=yuv420p[v0]",
        "[s1]scale=1280:720:flags=bicubic,setsar=1,format=yuv420p[v1]",
    ]
    one_rung = hls.build_filter_graph(job(rungs=job().rungs[:1]))
    assert "[s0]scale=1920:1080:flags=bicubic,setsar=1,format=yuv420p[v0]" in one_rung and "[c0]" not in one_rung


def test_filter_graph_deinterlace_mono_silent() -> None:
    assert hls.build_filter_graph(job(deinterlace=True)).startswith(
        "[0:0]bwdif=mode=send_frame:parity=auto:deint=interlaced,fps=25,split="
    )
    assert "channel_layouts=mono" in hls.build_filter_graph(job(audio_channels=1))
    silent = hls.build_filter_graph(job(audio_input=None))
    assert "aresample" not in silent and "[a0]" not in silent


def test_ladder_args() -> None:
    args = hls.build_ladder_args(job(), Path("/work"))
    assert values_of(args, "-i") == ["file:/rec/talk.mp4"]
    assert values_of(args, "-map") == [
        "[v0]", "[a0]", "[v1]", "[a1]", "[v2]", "[a2]", "[v3]", "[a3]", "[thumbs]", "[poster]"
    ]
    assert values_of(args, "-var_stream_map") == [
        "v:0,a:0,name:1080p v:1,a:1,name:720p v:2,a:2,name:480p v:3,a:3,name:360p"
    ]
    pairs = set(pairwise(args))
    assert {
        ("-c:v", "libx264"), ("-preset", "superfast"), ("-profile:v", "high"), ("-g", "50"), ("-keyint_min", "50"),
        ("-sc_threshold", "0"), ("-hls_segment_type", "fmp4"), ("-hls_time", "4"), ("-hls_playlist_type", "vod"),
        ("-c:a", "aac"), ("-b:a", "128000"), ("-progress", "pipe:1"), ("-b:v:0", "3110000"), ("-b:v:3", "576000"),
        ("-maxrate:v:1", str(int(1728000 * 1.5))),
    } <= pairs  # fmt: skip
    assert args[-1] == "/work/candidates/%03d.jpg" and "/work/thumbs/%05d.jpg" in args
    assert "/work/hls/%v/index.m3u8" in args and "/work/hls/%v/seg_%05d.m4s" in args
    assert args.index("-progress") < args.index("-i")


def test_title_card_filter_reads_the_title_from_a_file() -> None:
    graph = hls.build_filter_graph(
        job(video_input="1:0", card="color=c=black:s=1280x720:r=5:d=3.000", card_text=Path("/w/it's:[x].txt"),
            sprite=None, poster_every_s=3.0)
    )  # fmt: skip
    assert graph.startswith(
        "[1:0]drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf:"
        r"textfile=/w/it\\\'s\\:\[x\].txt:expansion=none:fontcolor=white:fontsize=77:line_spacing=25:"
    )
    assert ",fps=25,split=2[s0][ps]" in graph


def test_filter_value_escapes_both_levels() -> None:
    assert drawtext.filter_value("/usr/share/a.ttf") == "/usr/share/a.ttf"
    assert drawtext.filter_value("lt(t,4)") == "lt(t\\,4)"
    assert drawtext.filter_value("a:b") == "a\\\\:b"
    assert drawtext.filter_value("l'a") == "l\\\\\\'a"
    assert drawtext.filter_value("[x];") == "\\[x\\]\\;"


def test_wrap_lines_caps_the_card_title() -> None:
    assert drawtext.wrap_lines("  Court   titre ", 32) == "Court titre"
    assert drawtext.wrap_lines("", 32) == " "  # drawtext needs some text
    long = "Le matériel libre dans les laboratoires de Clermont-Ferrand, " * 4
    lines = drawtext.wrap_lines(long, 32, 4).split("\n")
    assert len(lines) == 4 and all(len(line) <= 32 for line in lines) and lines[-1].endswith("…")
    assert drawtext.wrap_lines(long, 32).count("\n") > 4  # no cap unless asked


def test_ladder_args_audio_only_card_and_silent() -> None:
    card = hls.build_ladder_args(
        job(video_input="1:0", card="color=c=black:s=1280x720:r=5:d=3.000", sprite=None, poster_every_s=None),
        Path("/work"),
    )
    assert values_of(card, "-i") == ["file:/rec/talk.mp4", "color=c=black:s=1280x720:r=5:d=3.000"]
    assert ("-f", "lavfi") in set(pairwise(card)) and "-shortest" in card
    assert "[thumbs]" not in card and "[poster]" not in card
    silent = hls.build_ladder_args(job(audio_input=None), Path("/work"))
    assert values_of(silent, "-var_stream_map")[0].startswith("v:0,name:1080p v:1,name:720p")
    assert "-c:a" not in silent


# --- playlists --------------------------------------------------------------------------------------

VARIANT = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init_0.mp4"
#EXTINF:4.000000,
seg_00000.m4s
#EXTINF:2.500000,
seg_00001.m4s
#EXT-X-ENDLIST
"""


def test_parse_media_playlist() -> None:
    parsed = hls.parse_media_playlist(VARIANT)
    assert parsed.target_duration == 4 and parsed.init == "init_0.mp4" and parsed.ended
    assert parsed.segments == ((4.0, "seg_00000.m4s"), (2.5, "seg_00001.m4s"))
    assert parsed.duration_s == 6.5
    with pytest.raises(ValueError):
        hls.parse_media_playlist("not a playlist")


def test_check_variant(tmp_path: Path) -> None:
    folder = tmp_path / "360p"
    folder.mkdir()
    (folder / "index.m3u8").write_text(VARIANT)
    for name in ("init_0.mp4", "seg_00000.m4s"):
        (folder / name).write_bytes(b"data")
    with pytest.raises(Exception, match="missing or empty: seg_00001.m4s"):
        hls.check_variant(tmp_path, "360p/index.m3u8", 6.5, 0.5)
    (folder / "seg_00001.m4s").write_bytes(b"data")
    assert hls.check_variant(tmp_path, "360p/index.m3u8", 6.5, 0.5).duration_s == 6.5
    with pytest.raises(Exception, match=r"add up to 6.500 s instead of 8.000 s"):
        hls.check_variant(tmp_path, "360p/index.m3u8", 8.0, 0.5)


def test_stream_codecs() -> None:
    master = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=2x2,CODECS="avc1.64001f,mp4a.40.2"\n720p/index.m3u8\n\n'
    assert hls.stream_codecs(master) == {"720p/index.m3u8": "avc1.64001f,mp4a.40.2"}


def variant(name: str, height: int) -> HlsVariant:
    return HlsVariant(
        name=name, width=height * 16 // 9, height=height, fps=25.0, bandwidth=height * 1000,
        average_bandwidth=height * 900, codecs="avc1.64001f,mp4a.40.2", playlist=f"{name}/index.m3u8",
        files=(f"{name}/init_0.mp4",), bytes=1,
    )  # fmt: skip


def test_render_master_with_subtitles() -> None:
    subs = (HlsSubtitles(lang="fr", name='Français "auto"', playlist="subtitles/fr.m3u8", vtt="subtitles/fr.vtt"),)
    text = hls.render_master((variant("360p", 360), variant("720p", 720)), subs)
    assert text.splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Français auto",LANGUAGE="fr",DEFAULT=YES,AUTOSELECT=YES,'
        'FORCED=NO,URI="subtitles/fr.m3u8"',
        '#EXT-X-STREAM-INF:BANDWIDTH=720000,AVERAGE-BANDWIDTH=648000,RESOLUTION=1280x720,FRAME-RATE=25.000,'
        'CODECS="avc1.64001f,mp4a.40.2",SUBTITLES="subs"',
        "720p/index.m3u8",
        '#EXT-X-STREAM-INF:BANDWIDTH=360000,AVERAGE-BANDWIDTH=324000,RESOLUTION=640x360,FRAME-RATE=25.000,'
        'CODECS="avc1.64001f,mp4a.40.2",SUBTITLES="subs"',
        "360p/index.m3u8",
    ]
    assert "SUBTITLES" not in hls.render_master((variant("360p", 360),))


def test_subtitle_playlist() -> None:
    text = hls.render_subtitle_playlist(12.34, "fr.vtt")
    parsed = hls.parse_media_playlist(text)
    assert parsed.segments == ((12.34, "fr.vtt"),) and parsed.target_duration == 13 and parsed.ended


def test_default_preset_is_sane() -> None:
    assert DEFAULT_LADDER.segment_s % DEFAULT_LADDER.gop_s == 0  # segments cut on keyframes
    assert 4 <= DEFAULT_LADDER.segment_s <= 6


def test_bench_table_compares_side_by_side() -> None:
    from confcast.tasks.bench import media as bench_media
    from confcast.tasks.models import AudioStream, Probe, SourceFile, VideoStream

    probe = Probe(
        source=SourceFile(path=Path("/b/src.mp4"), filename="src.mp4", sha256="0" * 64, bytes=250_000_000),
        duration_s=120.0,
        format_name="mov",
        video=VideoStream(index=0, codec="h264", width=1920, height=1080, fps=25.0),
        audio=(AudioStream(index=1, codec="aac", channels=2, sample_rate=48000),),
    )
    rows = [
        bench_media.Row("single decode: whole ladder", 1, 100.0, 180.0, 10_000_000),
        bench_media.Row("single decode: ladder + thumbnails + poster", 1, 102.0, 183.0, 10_400_000),
        bench_media.Row("one process per rendition", 4, 150.0, 240.0, 10_000_000),
    ]
    text = bench_media.table(rows, probe)
    assert "1920x1080 25 fps H.264 at 17 Mb/s, 120 s; ladder 1080p/720p/480p/360p, x264 superfast" in text
    assert "one process per rendition                              4    150.0        0.80x    240.0       10.0" in text
    assert text.endswith("1.50x faster (wall), 1.33x less CPU (target: 1.3x or more)")
