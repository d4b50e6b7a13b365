"""Text inside Markdown (the Prefect artifacts a run leaves): user text stays text, never markup or a link.

Pure. A title like `<img src=x onerror=...>` or `[x](javascript:...)` must show as typed in the Prefect UI, which
renders artifacts as Markdown.
"""

from __future__ import annotations

import html
import re

# CommonMark's backslash-escapable punctuation that can start markup (emphasis, links, code, headings, lists,
# tables, strikethrough); < > & become HTML entities instead (quotes are harmless once no tag can open).
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def escape_markdown(text: str) -> str:
    """One line of plain text for Markdown: punctuation that means markup backslashed, HTML characters as
    entities, line breaks as spaces (a newline could start a heading, a list or a table row)."""
    line = " ".join(str(text).split())
    return html.escape(_MARKDOWN_SPECIALS.sub(r"\\\1", line), quote=False)
