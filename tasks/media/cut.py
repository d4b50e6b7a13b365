"""A talk cut from a longer recording: the probe of only that part (pure).

The media code reads a cut probe as it reads a whole one: every ffmpeg command that reads the recording seeks to
the cut's start and stops at its end (`tasks.media.ffmpeg.recording_input`), and every length it checks against is
the cut's. The recording's hash stays the source's: the cut is part of each stage's key instead.
"""

from __future__ import annotations

from confcast.tasks.errors import MetadataError
from confcast.tasks.metadata import MIN_TALK_S, clock_text
from confcast.tasks.models import ChapterMark, ConferenceMeta, Cut, Probe

END_SLACK_S = 0.1  # an end given this much past the recording's probed length is its end (players round times)


def resolve_cut(cut: Cut, duration_s: float, name: str, where: str = "") -> Cut:
    """The cut with its end known (none given: the recording's end), checked against the recording's length."""
    end_s = duration_s if cut.end_s is None else cut.end_s
    if end_s > duration_s + END_SLACK_S:
        raise MetadataError(
            f"{where}end {clock_text(end_s)} is beyond the end of {name} ({clock_text(duration_s)}); check the times"
        )
    if cut.start_s >= duration_s:
        raise MetadataError(
            f"{where}start {clock_text(cut.start_s)} is beyond the end of {name} ({clock_text(duration_s)}); "
            "check the times"
        )
    end_s = min(end_s, duration_s)
    if end_s - cut.start_s < MIN_TALK_S:
        raise MetadataError(
            f"{where}start {clock_text(cut.start_s)} to end {clock_text(end_s)} of {name} is an empty talk "
            f"(under {MIN_TALK_S:g} s); check the times"
        )
    return Cut(start_s=cut.start_s, end_s=round(end_s, 6))


def cut_chapters(chapters: tuple[ChapterMark, ...], cut: Cut) -> tuple[ChapterMark, ...]:
    """The recording's own chapters in the cut's time: the one running at its start begins it, later ones inside
    it are moved back by its start, those outside it are left out."""
    running = [c for c in chapters if c.start <= cut.start_s]
    inside = [c for c in chapters if cut.start_s < c.start < cut.end_s]
    kept = [running[-1].model_copy(update={"start": 0.0})] if running else []
    return tuple(kept + [c.model_copy(update={"start": round(c.start - cut.start_s, 3)}) for c in inside])


def cut_probe(probe: Probe, cut: Cut) -> Probe:
    """The probe of the part of the recording `cut` (resolved) names: its length and chapters are the cut's."""
    video = probe.video
    if video is not None and video.duration_s is not None:
        picture = max(0.0, min(video.duration_s - cut.start_s, cut.duration_s))
        video = video.model_copy(update={"duration_s": picture or None})
    chapters = cut_chapters(probe.chapters, cut)
    return probe.model_copy(update={"cut": cut, "duration_s": cut.duration_s, "video": video, "chapters": chapters})


def apply_cut(meta: ConferenceMeta, probe: Probe) -> tuple[ConferenceMeta, Probe]:
    """The metadata with its cut resolved and the probe of that part; both unchanged for a whole recording."""
    if meta.cut is None:
        return meta, probe
    cut = resolve_cut(meta.cut, probe.duration_s, probe.source.filename)
    return meta.model_copy(update={"cut": cut}), cut_probe(probe, cut)
