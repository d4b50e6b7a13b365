"""The transcode and Whisper each get their share of the cores: the split (pure), the ffmpeg command that carries
it, the real ffmpeg that accepts it, and a real publication whose two stages receive it."""

from __future__ import annotations

import dataclasses
import time
from itertools import pairwise
from pathlib import Path

import pytest

from confcast.config.ladder import DEFAULT_LADDER
from confcast.config.settings import Settings
from confcast.config.threads import ThreadShares, default_shares, thread_shares
from confcast.tasks.media import hls, ladder, outputs, thumbnails
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.media.video import make_video
from confcast.tasks.transcription.engine import pick_threads


def test_split_gives_each_side_its_share() -> None:
    assert default_shares(2) == ThreadShares(transcode=2, whisper=1)
    assert default_shares(8) == ThreadShares(transcode=8, whisper=4)
    assert default_shares(1) == ThreadShares(transcode=1, whisper=1)
    assert default_shares(0) == ThreadShares(transcode=1, whisper=1)  # never zero threads
    assert thread_shares(2) == default_shares(2)
    assert thread_shares(2, transcode_threads=3) == ThreadShares(transcode=3, whisper=1)  # the operator's wins
    assert thread_shares(16, whisper_threads=2) == ThreadShares(transcode=16, whisper=2)


def test_settings_take_the_threads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFCAST_TRANSCODE_THREADS", "3")
    assert Settings().transcode_threads == 3 and Settings().whisper_threads == 0
    monkeypatch.setenv("CONFCAST_TRANSCODE_THREADS", "-1")
    with pytest.raises(ValueError):
        Settings()


def _job(**changes) -> hls.LadderJob:
    base = dict(
        source=Path("/rec/talk.mp4"), source_format="mov,mp4,m4a,3gp,3g2,mj2", duration_s=100.0,
        rungs=ladder.plan_ladder(1920, 1080, 25.0), video_input="0:0", audio_input="0:1",
        sprite=thumbnails.plan_sprite(100.0, 1920, 1080), poster_every_s=12.5,
    )  # fmt: skip
    return hls.LadderJob(**{**base, **changes})


def test_the_ladder_command_carries_its_threads() -> None:
    args = hls.build_ladder_args(_job(threads=2), Path("/work"))
    pairs = list(pairwise(args))
    assert ("-filter_complex_threads", "2") in pairs
    threads = [i for i, (a, b) in enumerate(pairs) if (a, b) == ("-threads", "2")]
    assert threads[0] < args.index("-i")  # the decoder's
    hls_output = args.index("/work/hls/%v/index.m3u8")
    assert any(args.index("-i") < i < hls_output for i in threads)  # every x264 encoder of the ladder
    assert len(threads) == 4  # and the thumbnails' and the poster candidates' encoders
    plain = hls.build_ladder_args(_job(), Path("/work"))
    assert "-threads" not in plain and "-filter_complex_threads" not in plain  # None: ffmpeg sizes them


def test_x264_tune_and_params_come_from_the_preset() -> None:
    preset = dataclasses.replace(DEFAULT_LADDER, x264_tune="stillimage", x264_params="rc-lookahead=20")
    pairs = set(pairwise(hls.build_ladder_args(_job(preset=preset), Path("/work"))))
    assert {("-tune", "stillimage"), ("-x264-params", "rc-lookahead=20")} <= pairs
    assert "-tune" not in hls.build_ladder_args(_job(), Path("/work"))


def test_real_ffmpeg_makes_the_ladder_on_one_thread(short_sample, tmp_path: Path) -> None:
    probe = probe_recording(short_sample.path)
    made = make_video(probe, tmp_path / "out", threads=1)
    assert made.ladder.variants and made.mp4.bytes > 0 and made.poster.stat().st_size > 0


@pytest.mark.parametrize("beside", [True, False])
def test_the_podcast_audio_is_made_beside_the_ladder(short_sample, tmp_path: Path, beside: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Real ffmpeg for both; the two functions are wrapped only to see when each ran."""
    times: dict[str, tuple[float, float]] = {}

    def timed(name: str, work):
        def run(*args, **kwargs):
            started = time.monotonic()
            try:
                return work(*args, **kwargs)
            finally:
                times[name] = (started, time.monotonic())

        return run

    monkeypatch.setattr(outputs, "make_video", timed("video", outputs.make_video))
    monkeypatch.setattr(outputs, "make_listening_audio", timed("podcast", outputs.make_listening_audio))
    probe = probe_recording(short_sample.path)
    video, listening = outputs.make_picture_and_sound(probe, tmp_path / "out", threads=1, podcast_beside=beside)
    assert video.mp4.bytes > 0 and listening is not None and listening.podcast.stat().st_size > 0
    podcast_started, video_ended = times["podcast"][0], times["video"][1]
    assert (podcast_started < video_ended) is beside  # beside: while the ladder runs; else after it


@pytest.mark.slow
def test_a_publication_hands_each_stage_its_share(prefect_server, short_sample, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The real flow, real ffmpeg and Whisper; the two stage functions are wrapped only to see what they get."""
    from confcast.flows.publish import publish_conference
    from confcast.tasks.transcription import transcribe

    seen: dict[str, object] = {}
    real_make_video, real_transcribe = outputs.make_video, transcribe.transcribe_audio

    def make_video_seen(*args, **kwargs):
        seen["ffmpeg"] = kwargs.get("threads")
        return real_make_video(*args, **kwargs)

    def transcribe_seen(*args, **kwargs):
        seen["whisper"] = kwargs.get("threads")
        return real_transcribe(*args, **kwargs)

    monkeypatch.setattr(outputs, "make_video", make_video_seen)
    monkeypatch.setattr(transcribe, "transcribe_audio", transcribe_seen)
    settings = Settings(storage_url=(tmp_path / "site").as_uri(), work_dir=tmp_path / "work", transcode_threads=1)
    publish_conference(source=str(short_sample.path), title="Partage des cœurs", date="2026-04-04",
                       language="fr", settings=settings)  # fmt: skip
    assert seen == {"ffmpeg": 1, "whisper": default_shares(pick_threads(0)).whisper}
