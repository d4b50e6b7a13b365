"""Generated recordings for the event tests: every frame carries its own number, and sound comes at known times."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

FPS = 25
STEP = 8  # luma levels between frame numbers: frame n shows Y = 16 + (n mod 28) * 8 (inside limited range 16..235)
WINDOW = 28


def numbered_video_filter(seconds: float, size: str = "320x180") -> str:
    """A lavfi source whose frame n is flat grey Y = 16 + (n mod 28) * 8: a frame names itself within 28 frames."""
    return f"color=c=black:s={size}:r={FPS}:d={seconds:g},geq=lum='16+mod(N\\,{WINDOW})*{STEP}':cb=128:cr=128"


def make_beep_recording(path: Path, seconds: float = 8.0, beep_at: float = 3.0) -> Path:
    """Numbered frames, silence with a 1 kHz beep from `beep_at` for 0.3 s; H.264 with one keyframe (a cut has to
    decode from the start), AAC."""
    tone = f"if(between(t\\,{beep_at:g}\\,{beep_at + 0.3:g})\\,0.5*sin(2*PI*1000*t)\\,0)"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", numbered_video_filter(seconds),
         "-f", "lavfi", "-i", f"aevalsrc='{tone}':s=48000:d={seconds:g}",
         "-c:v", "libx264", "-g", "1000", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )
    return path


def make_evening(path: Path, clips: list[tuple[Path, float]], seconds: float) -> Path:
    """Numbered frames for `seconds`, with each (speech clip, start time) heard from its start time."""
    inputs, chains = [], []
    for number, (clip, start) in enumerate(clips, 1):
        inputs += ["-i", str(clip)]
        delay = int(round(start * 1000))
        chains.append(f"[{number}:a]aresample=48000,aformat=channel_layouts=mono,adelay={delay}|{delay}[c{number}]")
    labels = "".join(f"[c{n}]" for n in range(1, len(clips) + 1))
    mix = f"{labels}amix=inputs={len(clips)}:duration=longest:normalize=0,apad=whole_dur={seconds:g}[a]"
    graph = ";".join([*chains, mix])
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", numbered_video_filter(seconds), *inputs,
         "-filter_complex", graph, "-map", "0:v", "-map", "[a]", "-t", f"{seconds:g}",
         "-c:v", "libx264", "-g", "250", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
        check=True,
    )
    return path


def frame_numbers(video: Path) -> tuple[list[int], list[float]]:
    """Each decoded frame's number modulo 28 (from its grey level) and its presentation time, as stored (no frame
    added or dropped by the decode: passthrough)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(video), "-map", "0:v:0", "-fps_mode", "passthrough",
         "-vf", "scale=8:8,format=gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout
    grey = np.frombuffer(raw, np.uint8).reshape(-1, 64).mean(axis=1)
    luma = grey * 219 / 255 + 16  # format=gray expands the limited range
    numbers = [int(round((value - 16) / STEP)) % WINDOW for value in luma]
    times = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0",
         str(video)],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    return numbers, [float(t.strip(",")) for t in times]


def sound_onset(media: Path, threshold: float = 0.2) -> float:
    """When the sound first rises above `threshold` of its peak, in seconds of the file's timeline."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(media), "-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"],
        capture_output=True, check=True,
    ).stdout
    samples = np.abs(np.frombuffer(raw, np.int16).astype(float))
    return float(np.argmax(samples > samples.max() * threshold)) / 48000


def envelope(media: Path, rate: int = 8000, per_s: int = 1000) -> np.ndarray:
    """The sound's loudness `per_s` times a second (mean absolute amplitude), from the first audio track."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(media), "-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"],
        capture_output=True, check=True,
    ).stdout
    samples = np.abs(np.frombuffer(raw, np.int16).astype(float))
    block = rate // per_s
    return samples[: len(samples) // block * block].reshape(-1, block).mean(axis=1)


def sound_lag(media: Path, reference: Path, max_lag_s: float = 0.5, per_s: int = 1000) -> float:
    """How late `reference`'s sound comes in `media` (seconds; negative: early), by cross-correlating the two
    envelopes over the reference's length. Gain that changes slowly (a leveller) leaves the envelope's shape, and so
    the lag, as it is."""
    heard, expected = envelope(media, per_s=per_s), envelope(reference, per_s=per_s)
    length = min(len(heard), len(expected))
    heard, expected = heard[:length] - heard[:length].mean(), expected[:length] - expected[:length].mean()
    correlation = np.correlate(heard, expected, mode="full")  # index length - 1 is a lag of 0
    most = int(max_lag_s * per_s)
    window = correlation[length - 1 - most : length + most]
    return (int(np.argmax(window)) - most) / per_s
