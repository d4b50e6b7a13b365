"""What decides a publication's content, as short keys: pure functions, no Prefect, so that the CLI can tell an
unchanged re-run before starting anything.
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


def run_fingerprint(meta: ConferenceMeta, source_sha256: str, settings: Settings) -> str:
    """Everything that decides what a publication holds; equal fingerprints mean an unchanged conference."""
    output_settings = settings.model_dump(
        include={"whisper_engine", "whisper_model", "whisper_compute_type", "translate", "site_title", "site_language"}
    )
    return stage_key(source_sha256, meta, output_settings, DEFAULT_LADDER, package_version("confcast"))
