"""The project's errors: each says which file or value was wrong and what to do about it."""


class ConfcastError(Exception):
    """Base of every error confcast reports to a person. The message is one line."""

    def __init__(self, message: str) -> None:
        # Keep messages to one line: the CLI prints them as they are.
        super().__init__(" ".join(str(message).split()))


class MetadataError(ConfcastError):
    """Metadata typed by a person (title, date, slug, sidecar file) is not acceptable."""


class ProbeError(ConfcastError):
    """The recording cannot be read as media, or lacks what a conference needs."""


class TranscodeError(ConfcastError):
    """ffmpeg failed to make a web rendition."""


class TranscriptionError(ConfcastError):
    """Whisper could not be loaded or failed on the audio."""


class PublishError(ConfcastError):
    """Files could not be written to the storage target."""


class ConfigError(ConfcastError):
    """Settings are missing or contradictory."""


def stderr_tail(stderr: bytes | str | None, lines: int = 3) -> str:
    """The last meaningful lines of a program's stderr, joined on one line for an error message."""
    if not stderr:
        return ""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])
