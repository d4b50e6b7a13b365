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

from importlib import metadata as package_metadata

from confcast.config.ladder import DEFAULT_LADDER
from confcast.config.settings import Settings
from confcast.tasks.models import ConferenceMeta
from confcast.tasks.stagecache import stage_key


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
                "site_title",
                "site_language",
            }
        )
    )


def fingerprint_of(meta: ConferenceMeta, source_sha256: str, settings_part: str) -> str:
    """The fingerprint from its parts: the recording, the metadata and the settings' key (`settings_key`)."""
    return stage_key(source_sha256, meta, settings_part, DEFAULT_LADDER, package_version("confcast"))


def run_fingerprint(meta: ConferenceMeta, source_sha256: str, settings: Settings) -> str:
    """Everything that decides what a publication holds; equal fingerprints mean an unchanged conference."""
    return fingerprint_of(meta, source_sha256, settings_key(settings))


def card_title(title: str | None, has_video: bool) -> str | None:
    """The title as the media sees it: drawn on the title card of an audio-only recording, absent from a video."""
    return None if has_video else title


def media_key(source_sha256: str, title_card: str | None) -> str:
    """What shapes the published media: the recording, the ladder, confcast's version (its encoder settings) and the
    title card of an audio-only recording (`card_title`). Also the transcode stage's cache key."""
    return stage_key(source_sha256, DEFAULT_LADDER, package_version("confcast"), title_card)


def transcript_key(source_sha256: str, language: str, settings: Settings) -> str:
    """What shapes the automatic transcript and its translation: the recording, the language asked (auto or a code)
    and the Whisper settings that change its words. Not confcast's version: an upgrade keeps the transcript."""
    whisper = (
        settings.whisper_engine,
        settings.whisper_model,
        settings.whisper_compute_type,
        settings.whisper_temperature_fallback,
        settings.translate,
    )
    return stage_key(source_sha256, language, whisper)
