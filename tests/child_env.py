"""The environment of the confcast and Prefect processes a test starts: none of the caller's CONFCAST_* settings,
except those the whole suite sets (tests/conftest.py)."""

from __future__ import annotations

import os

SUITE_SETTINGS = ("CONFCAST_WHISPER_TEMPERATURE_FALLBACK",)


def child_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items()
            if not key.startswith("CONFCAST_") or key in SUITE_SETTINGS}
