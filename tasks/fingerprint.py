"""What decides a publication's content, as short keys: pure functions, no Prefect, so that the CLI can tell an
unchanged re-run before starting anything.

Three keys, from the widest to the narrowest:
- the run's fingerprint: everything (recording, metadata, settings); equal means nothing to do at all;
- the media key: what shapes the video, audio and poster (never the metadata, except the title of an audio-only
  recording, whose video is a title card);
- the transcript key: what shapes Whisper's transcript and its machine translation.
A re-publish whose media and transcript keys match the published ones only rewrites pages (tasks/site/edit.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata as package_metadata

from confcast.config.ladder import DEFAULT_LADDER
from confcast.config.settings import Settings
from confcast.tasks.models import ConferenceMeta, Cut
from confcast.tasks.stagecache import stage_key
from confcast.tasks.transcription.vocabulary import talk_prompt


def package_version(name: str) -> str:
    try:
        return package_metadata.version(name)
    except package_metadata.PackageNotFoundError:
        return "unknown"


def settings_key(settings: Settings) -> str:
    """The settings that shape a publication (Whisper's, the translation, the site's title and language), as a key
    the manifest keeps: `confcast edit` recomputes the fingerprint with the settings the talk was made with, not
    with those of the process that edits it."""
    return stage_key(
        settings.model_dump(
            include={
                "whisper_engine",
                "whisper_model",
                "whisper_compute_type",
                "whisper_temperature_fallback",
                "translate",
                "level_audio",
                "site_title",
                "site_language",
            }
        )
    )


def whisper_prompt(meta: ConferenceMeta, settings: Settings) -> str | None:
    """What Whisper is given as a prompt for this talk: its vocabulary, then the site's (docs/transcription.md says
    why neither the title nor the speakers go in); None when there is none."""
    return talk_prompt(meta.vocabulary, settings.vocabulary)


def prompt_key(prompt: str | None) -> str | None:
    """The prompt as a short key the manifest keeps (it tells that a vocabulary was used, not its words)."""
    return stage_key("prompt", prompt) if prompt else None


def chapters_key(chapters: tuple[object, ...]) -> str | None:
    """The sidecar's chapters and slides PDF (tasks/chapters/inputs.py, `key_parts`) as a short key the manifest
    keeps; None when the sidecar names none."""
    return stage_key("chapters", chapters) if chapters else None


def fingerprint_of(
    meta: ConferenceMeta,
    source_sha256: str,
    settings_part: str,
    prompt_part: str | None = None,
    chapters_part: str | None = None,
) -> str:
    """The fingerprint from its parts: the recording, the metadata, the settings' key (`settings_key`), the
    prompt's (`prompt_key`) and the sidecar chapters' (`chapters_key`). The vocabulary and the chapters count
    through their keys, which the manifest keeps: an edit from storage alone computes the same fingerprint as a
    publish. Without a prompt or chapters, the fingerprint is what it was before they existed."""
    # None fields (no cut, no event) left out: a talk published before they existed keeps its fingerprint
    described = meta.model_dump(mode="json", exclude_none=True, exclude={"vocabulary"})
    parts = (source_sha256, described, settings_part, DEFAULT_LADDER, package_version("confcast"))
    fingerprint = stage_key(*parts, prompt_part) if prompt_part else stage_key(*parts)
    return stage_key(fingerprint, chapters_part) if chapters_part else fingerprint


def run_fingerprint(
    meta: ConferenceMeta, source_sha256: str, settings: Settings, chapters: tuple[object, ...] = ()
) -> str:
    """Everything that decides what a publication holds; equal fingerprints mean an unchanged conference.
    `chapters`: the sidecar's chapters and slides PDF (tasks/chapters/inputs.py, `key_parts`), when it has any."""
    prompt_part = prompt_key(whisper_prompt(meta, settings))
    return fingerprint_of(meta, source_sha256, settings_key(settings), prompt_part, chapters_key(chapters))


def picture_parts(chapters: tuple[object, ...]) -> tuple[object, ...]:
    """The sidecar chapters' parts (`ChapterInputs.key_parts`: marks, PDF) as they shape what only a transcode makes:
    the slides PDF (matched to the slide frames) and whether the sidecar gives the chapters at all (else they come
    from the slide frames), not which chapters it gives: those a publication can rewrite from storage alone."""
    if not chapters:
        return ()
    marks, pdf_sha256 = chapters
    return (bool(marks), pdf_sha256)


def with_parts(key: str, parts: tuple[object, ...]) -> str:
    """`key` itself when there are no parts (keys made before chapters stay as they were), else a key of both."""
    return stage_key(key, parts) if parts else key


def card_title(title: str | None, has_video: bool) -> str | None:
    """The title as the media sees it: drawn on the title card of an audio-only recording, absent from a video."""
    return None if has_video else title


def cut_part(cut: Cut | None) -> tuple[object, ...]:
    """The cut as a key part: nothing for a whole recording (its keys stay as they were before cuts existed)."""
    return () if cut is None else (("cut", cut.start_s, cut.end_s),)


def level_part(level: bool) -> tuple[object, ...]:
    """Levelling as a key part: nothing when off (keys stay as they were before levelling existed)."""
    return ("levelled",) if level else ()


def media_key(
    source_sha256: str,
    title_card: str | None,
    level: bool,
    cut: Cut | None = None,
    chapters: tuple[object, ...] = (),
) -> str:
    """What shapes the published media: the recording, the ladder, confcast's version (its encoder settings), the
    title card of an audio-only recording (`card_title`), levelling (`level_audio`) and the cut of a talk taken from
    a longer recording; also the transcode stage's cache key (without `chapters`). With `chapters` (the sidecar's
    chapters and slides PDF), the key of the published media and chapters together."""
    parts = (source_sha256, DEFAULT_LADDER, package_version("confcast"), title_card)
    return with_parts(stage_key(*parts, *level_part(level), *cut_part(cut)), chapters)


def transcript_key(
    source_sha256: str, language: str, settings: Settings, cut: Cut | None = None, prompt: str | None = None
) -> str:
    """What shapes the automatic transcript and its translation: the recording, the language asked (auto or a code),
    the Whisper settings that change its words, levelling (what Whisper hears), the cut and the prompt
    (`whisper_prompt`: a new vocabulary transcribes again). Not confcast's version: an upgrade keeps the transcript."""
    whisper = (
        settings.whisper_engine,
        settings.whisper_model,
        settings.whisper_compute_type,
        settings.whisper_temperature_fallback,
        settings.translate,
    )
    prompted = (prompt,) if prompt else ()
    return stage_key(source_sha256, language, whisper, *level_part(settings.level_audio), *prompted, *cut_part(cut))


@dataclass(frozen=True)
class ContentKeys:
    """What the manifest's generator records about a run besides its fingerprint."""

    media: str
    transcript: str
    language_asked: str
    prompt: str | None = None  # the prompt's key (`prompt_key`): None when Whisper had none
    chapters: str | None = None  # the sidecar chapters' key (`chapters_key`): None when none
    # The media key without the sidecar chapters' titles and times (`picture_parts`): equal to the published one,
    # a change of the media key is one of chapters alone, which a publication rewrites without a transcode
    picture: str | None = None
    # The media key without any of the sidecar's chapters or PDF: the ladder and the slide frames it was decoded with
    # (the transcode's cache key). Equal to the published one, a new slides PDF, or chapters now given by the
    # sidecar, are rewritten from the published slide text (tasks/site/new_slides.py) without a transcode.
    frames: str | None = None


def run_keys(
    meta: ConferenceMeta, source_sha256: str, settings: Settings, chapters: tuple[object, ...], has_video: bool
) -> tuple[str, ContentKeys]:
    """A publication's fingerprint and content keys, as the publish flow and its metadata-only shortcut (the CLI's)
    both compute them: `chapters` as in `run_fingerprint`; `has_video` False for an audio-only recording."""
    prompt = whisper_prompt(meta, settings)
    title_card = card_title(meta.title, has_video)
    keys = ContentKeys(
        media=media_key(source_sha256, title_card, settings.level_audio, meta.cut, chapters),
        transcript=transcript_key(source_sha256, meta.language, settings, meta.cut, prompt),
        language_asked=meta.language,
        prompt=prompt_key(prompt),
        chapters=chapters_key(chapters),
        picture=media_key(source_sha256, title_card, settings.level_audio, meta.cut, picture_parts(chapters)),
        frames=media_key(source_sha256, title_card, settings.level_audio, meta.cut),
    )
    return run_fingerprint(meta, source_sha256, settings, chapters), keys
