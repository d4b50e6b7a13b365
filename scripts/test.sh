#!/usr/bin/env bash
# Installs what the tests need and runs the whole suite (this is what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
# Lint first (pyflakes, import order, bugbear: pyproject.toml), then the suite.
.venv/bin/ruff check --quiet .
exec .venv/bin/python -m pytest "$@"
