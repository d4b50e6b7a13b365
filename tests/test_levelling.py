"""Levelling (issue 16): a question from the room, far quieter than the speaker, is transcribed and heard.

Real speech only: FLEURS French clips (tasks.demo.speech), one passage lowered by 40 dB, with silence and pink noise
between the passages. The media are made once for the module with real ffmpeg; Whisper is the packaged base model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from confcast.config.settings import Settings
from confcast.tasks.bench.levelling import (
    NOISE,
    Talk,
    loudness,
    make_mixed_talk,
    make_talk,
    mixed_row,
    question_words,
    words_between,
)
from confcast.tasks.fingerprint import media_key, settings_key, transcript_key
from confcast.tasks.media import audio as media_audio
from confcast.tasks.media import hls, levelling
from confcast.tasks.media.ladder import plan_ladder
from confcast.tasks.media.outputs import make_media
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.models import Conference, ConferenceMeta, Media, QuietPassage, Segment, Transcript, TranscriptFiles
from confcast.tasks.site.layout import AudioInfo, Generator, Manifest, QuietPassageInfo, build_manifest
from confcast.tasks.site.pages import SiteInfo, render_conference_page
from confcast.tasks.transcription.transcribe import summary_markdown, transcribe_audio


def question_wer(transcript: Transcript, talk: Talk) -> float:
    return question_words(transcript, talk)[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("levelling")


@pytest.fixture(scope="module")
def quiet_talk(folder: Path) -> Talk:
    return make_talk(folder, 40)


@pytest.fixture(scope="module")
def levelled(quiet_talk: Talk, folder: Path) -> Media:
    """Every medium of the talk with levelling on: podcast, original mix, video (title card), levelled speech."""
    return make_media(probe_recording(quiet_talk.path), folder / "out", level=True)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


# --- pure ----------------------------------------------------------------------------------------------------


def test_gain_profile_is_levelled_over_raw_rms_and_nan_on_silence() -> None:
    rate = 16_000
    t = np.arange(3 * rate) / rate
    raw = 0.01 * np.sin(2 * np.pi * 220 * t)
    raw[2 * rate:] = 0.0
    gains = levelling.gain_profile(raw, raw * 10, rate)
    assert gains.shape == (3,) and gains[0] == pytest.approx(20.0) and gains[1] == pytest.approx(20.0)
    assert math.isnan(gains[2])


def test_quiet_passages_are_transcribed_speech_raised_past_20_db_merged_when_close() -> None:
    gains = [0.0] * 10 + [35.0] * 10 + [None] * 3 + [30.0] * 5 + [40.0] * 10 + [2.0] * 5
    segments = (
        Segment(start=1.0, end=9.0, text=" le speaker"),
        Segment(start=10.5, end=19.5, text=" une question"),
        Segment(start=23.2, end=27.8, text=" la suite de la question"),  # 3.7 s later: the same passage
        Segment(start=38.5, end=42.0, text=" le speaker"),
    )
    passages = levelling.quiet_passages(gains, segments)
    assert passages == (QuietPassage(start=10.5, end=27.8, gain_db=35),)
    assert levelling.quiet_passages(gains, segments, threshold_db=40.0) == ()
    assert levelling.quiet_passages([], segments) == ()  # not levelled: nothing to say
    line = levelling.passage_line(QuietPassage(start=750.2, end=785.9, gain_db=34))
    assert line == "quiet speech at 12:30–13:05, levelled (+34 dB)"
    assert levelling.clock(3725) == "1:02:05"


def test_filters_and_commands_carry_the_leveller_only_when_on() -> None:
    assert levelling.leveller(False, 60.0) is None and levelling.leveller(True, 60.0) == levelling.LEVELLER
    assert levelling.leveller(True, 0.3) is None  # under one of dynaudnorm's frames: left as it is
    measured = {"input_i": -30.0, "input_tp": -5.0, "input_lra": 12.0, "input_thresh": -40.0, "target_offset": 0.5}
    chain = media_audio.listening_filter({"gain_db": 17.456}, levelling.LEVELLER)
    assert chain == (
        "dynaudnorm=f=500:g=31:m=100:p=0.5,volume=17.46dB,"
        "alimiter=limit=0.6683:attack=5:release=50:level=0:latency=1,aresample=48000"
    )
    assert media_audio.listening_filter(None, levelling.LEVELLER) == f"{levelling.LEVELLER},aresample=48000"  # silence
    # Off: today's two-pass loudnorm, byte for byte (the published files of talks made without levelling stay).
    assert media_audio.listening_filter(measured) == (
        "loudnorm=I=-16:TP=-1.5:LRA=11:measured_I=-30.00:measured_TP=-5.00:measured_LRA=12.00:measured_thresh=-40.00"
        ":offset=0.50:linear=true:print_format=summary,aresample=48000"
    )

    rung = plan_ladder(1280, 720, 25)[0]
    job = hls.LadderJob(source=Path("/r/talk.mp4"), source_format="mov,mp4,m4a,3gp,3g2,mj2", duration_s=10,
                        rungs=(rung,), video_input="0:0", audio_input="0:1", audio_filter=chain)
    assert f"aformat=channel_layouts=stereo,{chain},asplit=1[a0]" in hls.build_filter_graph(job)
    plain = hls.build_filter_graph(dataclasses.replace(job, audio_filter=None))
    assert "aformat=channel_layouts=stereo,asplit=1[a0]" in plain and "dynaudnorm" not in plain


def test_the_gain_to_16_lufs_is_interpolated_between_the_gains_tried_through_the_limiter() -> None:
    tried = [(6.0, -24.8), (9.0, -22.0), (12.0, -19.4), (15.0, -17.4), (18.0, -15.7), (21.0, -14.4), (24.0, -13.5)]
    assert levelling.listening_gain(tried, -16.0) == pytest.approx(15 + 3 * 1.4 / 1.7, abs=0.01)
    assert levelling.listening_gain(tried, -26.0) == pytest.approx(4.8)  # under the limiter: dB for dB
    assert levelling.listening_gain(tried, -10.0) == 24.0  # never past the largest gain tried
    summary = "".join(
        f"[ebur128@d{n} @ 0x55d] Summary:\n\n  Integrated loudness:\n    I:         {i:.1f} LUFS\n    Threshold: -30\n"
        for n, (_, i) in reversed(list(enumerate(tried)))  # ffmpeg prints them in any order
    )
    assert media_audio.parse_drives(summary) == {"gain_db": levelling.listening_gain(tried, -16.0)}
    assert media_audio.parse_drives(summary.replace("-13.5 LUFS", "nan LUFS")) is None
    silent = re.sub(r"I:\s+\S+ LUFS", "I:         -70.0 LUFS", summary)
    assert media_audio.parse_drives(silent) is None and media_audio.parse_drives("") is None


def test_keys_follow_the_setting() -> None:
    on, off = Settings(), Settings(level_audio=False)
    assert on.level_audio is True  # on by default
    assert media_key("ab" * 32, None, True) != media_key("ab" * 32, None, False)
    assert transcript_key("ab" * 32, "fr", on) != transcript_key("ab" * 32, "fr", off)
    assert settings_key(on) != settings_key(off)
    assert transcript_key("ab" * 32, "fr", on) == transcript_key("ab" * 32, "fr", Settings())  # stable


def test_run_summary_names_the_passages_as_text() -> None:
    transcript = Transcript(language="fr", language_probability=None, duration_s=60.0, segments=(),
                            engine="faster-whisper", model="base")
    line = levelling.passage_line(QuietPassage(start=750, end=785, gain_db=34))
    summary = summary_markdown(transcript, None, "http://x/talk/", [line])
    assert "To check:\n\n- quiet speech at 12:30–13:05, levelled \\(\\+34 dB\\)\n" in summary  # text, not markup


# --- real speech --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_quiet_question_is_transcribed_like_at_level_and_noise_stays_silent(
    quiet_talk: Talk, levelled: Media, folder: Path, cache_dir: Path
) -> None:
    at_level = make_talk(folder, 0)
    plain = probe_recording(at_level.path)
    reference = transcribe_audio(media_audio.extract_speech(plain, folder / "level.wav"), cache_dir=cache_dir,
                                 language="fr")
    unlevelled = transcribe_audio(
        media_audio.extract_speech(probe_recording(quiet_talk.path), folder / "quiet-raw.wav"),
        cache_dir=cache_dir, language="fr",
    )
    assert levelled.speech is not None
    transcript = transcribe_audio(levelled.speech, cache_dir=cache_dir, language="fr")

    at_level_wer, quiet_wer = question_wer(reference, at_level), question_wer(transcript, quiet_talk)
    unlevelled_wer = question_wer(unlevelled, quiet_talk)
    assert quiet_wer <= at_level_wer + 0.12, (quiet_wer, at_level_wer, unlevelled_wer)
    assert unlevelled_wer >= quiet_wer + 0.2, (quiet_wer, unlevelled_wer)  # without levelling it is (mostly) lost
    for start, end in quiet_talk.gaps:  # silence and raised pink noise: no words
        assert words_between(transcript, start + 0.4, end - 0.4) == "", (start, end)

    # The operator is told where quiet speech was levelled: the question, not the speaker.
    passages = levelling.quiet_passages(media_audio.read_gain_profile(levelled.speech), transcript.segments)
    assert len(passages) == 1, passages
    passage = passages[0]
    assert passage.start < quiet_talk.question[0] + 3 and passage.end > quiet_talk.question[1] - 3
    assert passage.gain_db > 30


@pytest.mark.slow
def test_noise_and_silence_alone_stay_silent_once_levelled(folder: Path, cache_dir: Path) -> None:
    """Levelling raises room noise by up to 40 dB (past its first seconds, which dynaudnorm leaves as they are):
    Whisper must still hear nothing in it."""
    path = folder / "room.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-t", "4", "-i",
                    "anullsrc=r=48000:cl=mono", "-f", "lavfi", "-t", "30", "-i", f"{NOISE}:s=3", "-filter_complex",
                    "[0:a]aformat=sample_fmts=s16:channel_layouts=mono[a];[1:a]aformat=sample_fmts=s16:channel_layouts=mono[b];"
                    "[a][b]concat=n=2:v=0:a=1[out]", "-map", "[out]", "-c:a", "pcm_s16le", str(path)],
                   check=True, timeout=60)
    speech = media_audio.extract_speech(probe_recording(path), folder / "room-speech.wav", level=True)
    gains = [g for g in media_audio.read_gain_profile(speech) if g is not None]
    assert max(gains) > 20  # the noise was raised a lot
    for language in ("fr", "auto"):
        assert transcribe_audio(speech, cache_dir=cache_dir, language=language).segments == ()


def test_listeners_hear_the_question_within_6_lu_and_the_original_stays(quiet_talk: Talk, levelled: Media) -> None:
    start, end = quiet_talk.question
    speaker = (0.0, quiet_talk.gaps[0][0])
    assert levelled.audio is not None and levelled.audio_original is not None and levelled.levelling
    video = levelled.mp4[0].path
    for heard in (levelled.audio, video):  # the podcast and the video's audio track alike
        whole_i, whole_lra, whole_tp = loudness(heard, 0, quiet_talk.duration)
        question_i = loudness(heard, start + 1, end - 1)[0]
        speaker_i = loudness(heard, *speaker)[0]
        assert abs(question_i - speaker_i) <= 6, (heard.name, question_i, speaker_i)
        assert whole_tp <= -1.5 and abs(whole_i + 16) <= 1 and whole_lra <= 15, (heard.name, whole_i, whole_tp)
    # The original mix is published untouched: its question is still far below the speaker.
    original = levelled.audio_original
    assert loudness(original, *speaker)[0] - loudness(original, start + 1, end - 1)[0] > 20


def test_music_and_applause_are_not_pumped(folder: Path) -> None:
    """Between speech, a pulsing chord and applause keep their momentary loudness steady once levelled (the leveller's
    gain drifts slowly; nothing rises and falls within a second), at -16 LUFS under the true-peak ceiling."""
    talk = make_mixed_talk(folder)
    podcast = media_audio.make_listening_audio(probe_recording(talk.path), folder / "mixed", level=True).podcast
    recorded, levelled = mixed_row("as recorded", talk.path, talk), mixed_row("levelling on", podcast, talk)
    assert levelled.music_sd <= recorded.music_sd + 0.3 and levelled.applause_sd <= recorded.applause_sd + 0.3, (
        recorded, levelled)
    assert abs(levelled.integrated + 16) <= 1 and levelled.true_peak <= -1.5, levelled


def test_manifest_records_the_levelling_and_the_page_offers_the_original(levelled: Media, quiet_talk: Talk) -> None:
    text = quiet_talk.path.parent / "text"
    text.mkdir(exist_ok=True)
    files = {ext: text / f"fr.{ext}" for ext in ("vtt", "srt", "txt", "json")}
    for path in files.values():
        path.write_text("x", encoding="utf-8")
    passage = QuietPassage(start=quiet_talk.question[0], end=quiet_talk.question[1], gain_db=38)
    media = levelled.model_copy(update={"quiet_passages": (passage,)})
    probe = probe_recording(quiet_talk.path)
    conference = Conference(
        meta=ConferenceMeta(title="Questions", date=dt.date(2026, 11, 30), slug="2026-11-30-questions",
                            language="fr"),
        probe=probe, media=media,
        transcript=Transcript(language="fr", language_probability=None, duration_s=probe.duration_s, segments=(),
                              engine="faster-whisper", model="base"),
        transcript_files=TranscriptFiles(lang="fr", vtt=files["vtt"], srt=files["srt"], txt=files["txt"],
                                         json=files["json"]),
    )
    manifest = build_manifest(conference, published_at=dt.datetime.now(dt.timezone.utc),
                              generator=Generator(version="0", engine="faster-whisper", model="base"))
    audio = json.loads(manifest.to_json())["audio"]
    assert audio["levelling"] == levelling.DESCRIPTION and "dynaudnorm" in audio["levelling"]
    assert re.fullmatch(r"audio-original\.[0-9a-f]{12}\.m4a", audio["original"])
    assert audio["original_bytes"] == levelled.audio_original.stat().st_size  # type: ignore[union-attr]
    assert audio["quiet_passages"] == [{"start": passage.start, "end": passage.end, "gain_db": 38}]
    page = render_conference_page(manifest, (), SiteInfo(title="Talks", language="en", base_url="http://x/"))
    assert f'<a href="{audio["original"]}" download>Original audio, voices not levelled (M4A)</a>' in page


def test_bench_table_sets_levelling_against_no_levelling() -> None:
    from confcast.tasks.bench.levelling import MixedRow, Row, mixed_table, table

    rows = [Row(40, False, 0.0, 1.0, 1, -23.3, -16.2, 26.0, -1.4), Row(40, True, 0.65, 0.423, 0, 1.2, -17.1, 9.9, -2.1)]
    costs = {"off": {"audio": 2.0, "video": 6.0, "whisper": 4.0}, "on": {"audio": 2.5, "video": 6.5, "whisper": 5.0}}
    text = table(rows, costs, "1280x720")
    assert "| 40 dB | off | 0% | 100.0% | 1 | -23.3 | -16.2 | 26.0 | -1.4 |" in text
    assert "| 40 dB | on | 65% | 42.3% | 0 | +1.2 | -17.1 | 9.9 | -2.1 |" in text
    assert "| all | 12.0 | 14.0 | +2.0 |" in text and "+1.0 s CPU, 8.3% of this talk's work (a 1280x720" in text
    mixed = mixed_table([MixedRow("levelling on", -16.04, 10.02, -2.81, 0.234, 4.26, 0.3, 1.71)])
    assert "| levelling on | -16.0 | 10.0 | -2.8 | 0.23 | 4.3 | 0.30 | 1.7 |" in mixed


def test_a_kept_transcript_keeps_the_published_quiet_passages_when_levelled_alike(tmp_path: Path) -> None:
    from confcast.flows.publish import kept_quiet_passages

    passage = QuietPassageInfo(start=10.5, end=27.8, gain_db=35)
    audio = AudioInfo(path="audio.m4a", bytes=1, levelling=levelling.DESCRIPTION, quiet_passages=(passage,))
    published = Manifest.model_construct(audio=audio)
    heard = media_audio.ListeningAudio(podcast=tmp_path / "audio.m4a", levelling=levelling.DESCRIPTION)
    assert kept_quiet_passages(published, heard, None) == (QuietPassage(start=10.5, end=27.8, gain_db=35),)
    assert kept_quiet_passages(published, heard, tmp_path / "speech.wav") == ()  # new speech: measured afresh
    other = dataclasses.replace(heard, levelling="another leveller")
    assert kept_quiet_passages(published, other, None) == ()  # levelled otherwise: not the same passages
    assert kept_quiet_passages(published, dataclasses.replace(heard, levelling=None), None) == ()
    assert kept_quiet_passages(None, heard, None) == ()
