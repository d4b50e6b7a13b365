"""Every web output of one recording, gathered into the `Media` record that travels through a run.

The publish flow runs the stages itself, side by side (`tasks.media.video.make_video`, then
`tasks.media.audio.make_podcast_audio`, and `tasks.media.audio.extract_speech`), and joins them with `media_record`;
`make_media` runs them one after the other, for the tests and a REPL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from confcast.config.ladder import DEFAULT_LADDER, LadderPreset
from confcast.tasks.media.audio import extract_speech, make_podcast_audio
from confcast.tasks.media.video import VideoOutputs, make_video
from confcast.tasks.models import Media, Probe


def make_media(
    probe: Probe,
    out_dir: Path,
    on_progress: Callable[[float], None] | None = None,
    preset: LadderPreset = DEFAULT_LADDER,
    title: str | None = None,
) -> Media:
    """All web media for a recording in out_dir (video side, then podcast audio and speech when there is sound)."""
    out_dir = Path(out_dir)
    video = make_video(probe, out_dir, on_progress, preset, title)
    audio = speech = None
    if probe.main_audio is not None:
        audio = make_podcast_audio(probe, out_dir / "audio.m4a")
        speech = extract_speech(probe, out_dir / "speech.wav")
    return media_record(probe, video, audio, speech)


def media_record(probe: Probe, video: VideoOutputs, audio: Path | None, speech: Path | None) -> Media:
    """The `Media` of a run from what the stages made (audio and speech are None for a silent recording). Pure."""
    return Media(
        mp4=(video.mp4,),
        poster=video.poster,
        audio=audio,
        speech=speech,
        hls=video.ladder,
        thumb=video.thumb,
        thumbnails=video.thumbnails,
        audio_track=probe.main_audio,
    )
