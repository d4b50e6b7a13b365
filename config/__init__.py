"""Settings and default presets. Nothing here reads the environment at import time."""

from confcast.config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
