"""Every web output of one recording, gathered into the `Media` record that travels through a run.

The publish flow runs the stages itself, side by side (`tasks.media.video.make_video`, then
`tasks.media.audio.make_podcast_audio`, and `tasks.media.audio.extract_speech`), and joins them with `media_record`;
`make_media` runs them one after the other, for the tests and a REPL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from confcast.config.ladder import DEFAULT_LADDER, LadderPreset
from confcast.tasks.media.audio import (
    ListeningAudio,
    ListeningPlan,
    extract_speech,
    make_listening_audio,
    plan_listening,
)
from confcast.tasks.media.video import VideoOutputs, make_video
from confcast.tasks.models import Media, Probe, QuietPassage


def make_media(
    probe: Probe,
    out_dir: Path,
    on_progress: Callable[[float], None] | None = None,
    preset: LadderPreset = DEFAULT_LADDER,
    title: str | None = None,
    level: bool = False,
) -> Media:
    """All web media for a recording in out_dir (video side, then podcast audio and speech when there is sound);
    quiet voices levelled when asked (`tasks.media.levelling`)."""
    out_dir = Path(out_dir)
    listening = speech = None
    plan = plan_listening(probe, level) if probe.main_audio is not None else ListeningPlan()
    video = make_video(probe, out_dir, on_progress, preset, title, plan.video_filter)
    if probe.main_audio is not None:
        listening = make_listening_audio(probe, out_dir, level, plan)
        speech = extract_speech(probe, out_dir / "speech.wav", level)
    return media_record(probe, video, listening, speech)


def media_record(
    probe: Probe,
    video: VideoOutputs,
    audio: ListeningAudio | Path | None,
    speech: Path | None,
    quiet_passages: tuple[QuietPassage, ...] = (),
) -> Media:
    """The `Media` of a run from what the stages made (audio and speech are None for a silent recording): the
    podcast track alone, or the listening audio with the original mix and the levelling applied. Pure."""
    listening = audio if isinstance(audio, ListeningAudio) else None
    return Media(
        mp4=(video.mp4,),
        poster=video.poster,
        audio=listening.podcast if listening is not None else audio,
        speech=speech,
        hls=video.ladder,
        thumb=video.thumb,
        thumbnails=video.thumbnails,
        audio_track=probe.main_audio,
        audio_original=listening.original if listening is not None else None,
        levelling=listening.levelling if listening is not None else None,
        quiet_passages=quiet_passages,
    )
