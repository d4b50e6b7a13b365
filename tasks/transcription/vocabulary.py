"""What a talk is about, as a prompt for Whisper: its title, its speakers' names and a vocabulary list.

Whisper writes what it hears, and proper nouns it has rarely seen (a lab's name, "OpenLab", a speaker's surname)
come out misspelt. A prompt of the words the talk is likely to use, given to every 30 s window (faster-whisper's
hotwords, openai-whisper's carried initial prompt), makes them likelier. Pure: the engines receive the text.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_PROMPT_CHARS = 400  # Whisper keeps at most 223 prompt tokens; French text runs about 3 to 4 characters a token


def vocabulary_prompt(title: str = "", speakers: Iterable[str] = (), vocabulary: Iterable[str] = ()) -> str | None:
    """"Title. Speaker, Speaker. Term, Term." with each term once (case ignored), the last terms left out when it
    would not fit Whisper's prompt; None when there is nothing to say."""
    seen: set[str] = set()

    def unique(items: Iterable[str]) -> list[str]:
        kept = []
        for item in items:
            text = " ".join(str(item).split()).rstrip(".")
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                kept.append(text)
        return kept

    def render(groups: list[list[str]]) -> str:
        return " ".join(", ".join(group) + "." for group in groups)

    groups = [group for group in (unique([title]), unique(speakers), unique(vocabulary)) if group]
    while groups and len(render(groups)) > MAX_PROMPT_CHARS:
        groups[-1].pop()
        if not groups[-1]:
            groups.pop()
    return render(groups) or None


def talk_prompt(vocabulary: Iterable[str] = (), site_vocabulary: Iterable[str] = ()) -> str | None:
    """The prompt a publication gives Whisper: the talk's vocabulary, then the site's (each term once; the site's
    are the first left out when the prompt is full). None without a vocabulary: Whisper then gets no prompt at all
    (measured in docs/transcription.md: the title and the speakers' names cost more words than they bring back)."""
    return vocabulary_prompt(vocabulary=[*vocabulary, *site_vocabulary])
