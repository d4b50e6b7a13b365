"""How a publication shares the machine's cores between the transcode (ffmpeg) and Whisper, which run side by side.

Left to themselves both size their threads for the whole machine (ffmpeg's automatic threads: about 1.5 per core for
each x264 encoder of the ladder, plus the decoder's; Whisper's: one per core), so on a small host they oversubscribe
it. `thread_shares` gives each an explicit count: the operator's (settings `transcode_threads`, `whisper_threads`)
where given, else the split chosen with `confcast bench cores` (docs/performance.md, "Sharing the cores": every split
costs the same CPU; this one keeps the long stage busiest). Pure: the caller gives the number of cores.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThreadShares:
    transcode: int  # ffmpeg: decoder, filter graph and each encoder of the ladder
    whisper: int  # CTranslate2 (or torch) threads


def default_shares(cores: int) -> ThreadShares:
    """The measured split: the transcode is the long stage (several times Whisper's time on a 1080p talk), so it
    keeps every core; Whisper takes half of them (one on a two-core host) and finishes well before the transcode."""
    cores = max(1, cores)
    return ThreadShares(transcode=cores, whisper=max(1, cores // 2))


def thread_shares(cores: int, transcode_threads: int = 0, whisper_threads: int = 0) -> ThreadShares:
    """Each side's threads: the given count where it is above 0, else its share of ``cores``."""
    default = default_shares(cores)
    return ThreadShares(
        transcode=transcode_threads if transcode_threads > 0 else default.transcode,
        whisper=whisper_threads if whisper_threads > 0 else default.whisper,
    )
