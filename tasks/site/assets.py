"""Files every site publishes beside its pages: hls.js, the player library for browsers without native HLS.

scripts/install.sh fetches hls.js from the npm registry (pinned, its sha512 checked) into static/vendor/ (gitignored);
a site publishes it under `assets/` (its own copy: no third-party CDN), the script's name tagged with its content,
and hls.js's licence beside it. The conference page loads it only where the browser has no native HLS.
"""

from __future__ import annotations

import functools
from importlib import resources

from confcast.tasks.errors import PublishError
from confcast.tasks.site.layout import content_tag, tagged

ASSETS = "assets"
HLSJS = "hls.light.min.js"  # the build without subtitle and DRM code: the page's <track> elements carry captions
HLSJS_LICENSE = "hls.js-LICENSE.txt"
HLSJS_VERSION = "hls.js.version"
VENDOR_PACKAGE = "confcast.tasks.site.static.vendor"


@functools.lru_cache(maxsize=1)
def hlsjs() -> tuple[str, bytes, bytes]:
    """hls.js as installed: (version, script, licence); a PublishError that says what to run when it is missing."""
    try:
        folder = resources.files(VENDOR_PACKAGE)
        script = folder.joinpath(HLSJS).read_bytes()
        licence = folder.joinpath(HLSJS_LICENSE).read_bytes()
        version = folder.joinpath(HLSJS_VERSION).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, ModuleNotFoundError, NotADirectoryError):
        raise PublishError(
            "hls.js is missing (confcast/tasks/site/static/vendor/hls.light.min.js, for browsers without native HLS); "
            "run scripts/install.sh, which fetches it from the npm registry"
        ) from None
    return version, script, licence


def site_assets() -> dict[str, bytes]:
    """`key -> bytes` of the files under assets/: the content-tagged hls.js and its licence."""
    _version, script, licence = hlsjs()
    return {hlsjs_key(): script, f"{ASSETS}/{HLSJS_LICENSE}": licence}


def hlsjs_key() -> str:
    """assets/hls.light.min.<tag>.js: a new hls.js gets a new name, so caches may keep each for a year."""
    return tagged(f"{ASSETS}/{HLSJS}", content_tag(hlsjs()[1]))
