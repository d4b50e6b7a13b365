"""Prefect's environment, set by the project before Prefect is imported, so a first run never tries the internet."""

from __future__ import annotations

import os
from pathlib import Path


def configure_prefect(work_dir: Path) -> None:
    """Analytics off, Prefect's home under the work folder unless already set, a patient temporary server."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    home = Path(os.environ.setdefault("PREFECT_HOME", str(work_dir / "prefect"))).expanduser()
    home.mkdir(parents=True, exist_ok=True)  # Prefect itself does not create missing parents
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

