"""Every web output of one recording, gathered into the `Media` record that travels through a run.

The publish flow runs the stages itself, side by side (`make_picture_and_sound`: the video and the podcast audio;
`tasks.media.audio.extract_speech` and Whisper), and joins them with `media_record`; `make_media` runs them all for
the tests and a REPL.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from confcast.config.ladder import DEFAULT_LADDER, LadderPreset
from confcast.tasks.media.audio import (
    ListeningAudio,
    extract_speech,
    make_listening_audio,
    plan_listening,
)
from confcast.tasks.media.video import VideoOutputs, make_video
from confcast.tasks.models import Media, Probe, QuietPassage


def make_picture_and_sound(
    probe: Probe,
    out_dir: Path,
    on_progress: Callable[[float], None] | None = None,
    preset: LadderPreset = DEFAULT_LADDER,
    title: str | None = None,
    level: bool = False,
    threads: int | None = None,
    podcast_beside: bool = True,
) -> tuple[VideoOutputs, ListeningAudio | None]:
    """The video side (`make_video`) and, when there is sound, the listening audio (the podcast track), made beside
    the ladder: it reads only the audio and runs on one core, so made after the ladder it left the other cores idle
    (`confcast bench cores`). Levelled when asked: the sound is measured first, and the video's audio track
    levelled as the podcast is. `podcast_beside=False`: the podcast after the video, as before (for the bench)."""
    out_dir = Path(out_dir)
    if probe.main_audio is None:
        return make_video(probe, out_dir, on_progress, preset, title, None, threads=threads), None
    plan = plan_listening(probe, level)

    def picture() -> VideoOutputs:
        return make_video(probe, out_dir, on_progress, preset, title, plan.video_filter, threads=threads)

    if not podcast_beside:
        return picture(), make_listening_audio(probe, out_dir, level, plan)
    # An error in either waits for the other (a subprocess of its own) before it is raised.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="podcast") as beside:
        listening = beside.submit(make_listening_audio, probe, out_dir, level, plan)
        video = picture()
        return video, listening.result()


def make_media(
    probe: Probe,
    out_dir: Path,
    on_progress: Callable[[float], None] | None = None,
    preset: LadderPreset = DEFAULT_LADDER,
    title: str | None = None,
    level: bool = False,
) -> Media:
    """All web media for a recording in out_dir (video side with the podcast audio beside it, then the speech when
    there is sound); quiet voices levelled when asked (`tasks.media.levelling`)."""
    out_dir = Path(out_dir)
    video, listening = make_picture_and_sound(probe, out_dir, on_progress, preset, title, level)
    speech = extract_speech(probe, out_dir / "speech.wav", level) if probe.main_audio is not None else None
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
