"""Text drawn on a picture with ffmpeg's drawtext filter, as pure functions: the font, the escaping of filter option
values, line wrapping, and the centred title of an audio-only recording's card.

Titles always reach drawtext through a file (`textfile=`, `expansion=none`): a title is text, never filter syntax
nor a template. The demo's sample conference (`tasks.demo.sample`) draws its title card with the same font and
escaping.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

FONT_FILE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")  # Debian: fonts-dejavu-core


def filter_value(value: str) -> str:
    """Escape a value for a filter option inside a filtergraph (both of ffmpeg's escaping levels)."""
    level1 = "".join("\\" + c if c in "\\':" else c for c in value)  # the option parser
    return "".join("\\" + c if c in "\\'[],;" else c for c in level1)  # the filtergraph parser


def wrap_lines(text: str, width: int, max_lines: int | None = None) -> str:
    """The text on lines of at most `width` characters; whitespace runs become single spaces. With `max_lines`,
    the lines beyond are dropped and the last kept one ends with an ellipsis."""
    lines = textwrap.wrap(" ".join(text.split()), width=width, break_long_words=True) or [" "]
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 1] + "…"
    return "\n".join(lines)


def title_filter(text_file: Path, height: int) -> str:
    """drawtext centring the title read from a file (no expansion: a title is text, never a template)."""
    size = max(12, height // 14)
    options = [
        f"fontfile={filter_value(str(FONT_FILE))}",
        f"textfile={filter_value(str(text_file))}",
        "expansion=none",
        "fontcolor=white",
        f"fontsize={size}",
        f"line_spacing={size // 3}",
        "x=(w-text_w)/2",
        "y=(h-text_h)/2",
    ]
    return "drawtext=" + ":".join(options)
