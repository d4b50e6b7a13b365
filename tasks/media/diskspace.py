"""Enough room to work: an estimate of what a run writes, checked against the free space before encoding."""

from __future__ import annotations

import shutil
from pathlib import Path

from confcast.tasks.errors import TranscodeError

SPEECH_BYTES_PER_S = 32_000  # 16 kHz mono 16-bit WAV for Whisper
HEADROOM = 1.5  # VBV peaks, container overhead, thumbnails and captions
MARGIN_BYTES = 200 * 1024**2  # the model cache and Prefect's database also grow


def estimate_work_bytes(duration_s: float, video_bitrates: list[int], audio_bitrate: int) -> int:
    """Bytes a run writes: every HLS rung, the top rung again as the MP4 download, podcast audio, speech."""
    top = max(video_bitrates, default=0)
    stream_bits_per_s = sum(video_bitrates) + top + audio_bitrate * (len(video_bitrates) + 2)
    return int(duration_s * (stream_bits_per_s / 8 * HEADROOM + SPEECH_BYTES_PER_S)) + MARGIN_BYTES


def check_free_space(folder: Path, needed_bytes: int, what: str) -> None:
    """TranscodeError before any work starts when the folder's file system lacks the room."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise TranscodeError(
            f"not enough disk space for {what}: about {needed_bytes / 1024**3:.1f} GiB needed in {folder}, "
            f"{free / 1024**3:.1f} GiB free; free some space or set work_dir (CONFCAST_WORK_DIR) to a bigger disk"
        )
