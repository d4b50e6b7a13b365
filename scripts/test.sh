#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite (this is what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
# Lint first (pyflakes, import order, bugbear: pyproject.toml), then the suite.
.venv/bin/ruff check --quiet .
# Most tests keep one core busy (a flow, Whisper on its share of threads, a browser), so one worker per core, at
# most 4; each test file stays on one worker (its module fixtures are made once), and each worker starts its own
# Prefect and S3 servers.
workers=$(( $(nproc) < 4 ? $(nproc) : 4 ))
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile "$@"
