"""`confcast bench cores`: the transcode and Whisper side by side, as a publication runs them, under several thread
splits and x264 settings; each row its time over the talk's length and the SSIM of each rung against the source.

The talk is made once per size and length (cached in the work folder): slides (text changing every ``SLIDE_S`` seconds
on a plain background) with a "speaker" inset (a moving test picture with temporal camera-like noise) in a corner, and
real French speech (the FLEURS utterances, looped). Each variant runs in its own child process (`python -m
confcast.tasks.bench.cores ...`): probe, then two threads as in the publish flow: one makes the video (the single-decode
HLS ladder, MP4, poster, thumbnails) with the podcast audio beside it (or after it), the other extracts the speech and
runs Whisper (model loaded beforehand, outside the timing). The row's time is the pair's: spawn of both threads to the
end of the later. Afterwards, not timed, one ffmpeg run decodes the source once and computes the SSIM (ffmpeg's ssim
filter, "All" = luma and chroma) of every rung against the source scaled to that rung with the ladder's scaler.

No Prefect: this measures the two heavy stages and how they share the cores, not the orchestration around them
(`confcast bench pipeline` does that).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from confcast.config.ladder import DEFAULT_LADDER, LadderPreset
from confcast.config.threads import default_shares
from confcast.tasks.bench.whisper import word_error_rate
from confcast.tasks.demo.sample import join_with_pauses
from confcast.tasks.demo.speech import fleurs_french
from confcast.tasks.media import audio as media_audio
from confcast.tasks.media import ffmpeg
from confcast.tasks.media.drawtext import FONT_FILE, filter_value
from confcast.tasks.media.hls import parse_media_playlist
from confcast.tasks.media.outputs import make_picture_and_sound
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.transcription.engine import Decoding
from confcast.tasks.transcription.transcribe import load_engine, transcribe_audio

SLIDE_S = 20.0  # a new slide every so many seconds
FPS = 25
SPEECH_RATE = 48_000
SLIDES = (
    "Conférence OpenLab\nCompte rendu des travaux",
    "1. Contexte\nPME et laboratoires du réseau",
    "2. Méthode\nMesures sur banc d'essai",
    "3. Résultats\nTableaux et graphiques",
    "4. Perspectives\nProchaines étapes",
    "Questions ?",
)


@dataclass(frozen=True)
class Variant:
    label: str
    transcode_threads: int | None  # None: ffmpeg sizes its threads itself (what confcast did before the split)
    whisper_threads: int
    preset: LadderPreset = DEFAULT_LADDER
    batch_size: int = 0  # Whisper's BatchedInferencePipeline
    podcast_beside: bool = True  # the podcast audio made beside the ladder; False: after it (as before)


def variants(cores: int) -> tuple[Variant, ...]:
    """The compared rows: the old behaviour first (each side sized itself for the whole machine, x264 veryfast, each
    rung scaled from the source), then explicit splits, then the default (the measured split, x264 superfast, each
    rung scaled from the one above) and its variations: a longer keyframe interval, x264's still-image tuning,
    batched Whisper, no B-frames, every rung scaled from the source, the podcast audio after the ladder."""
    share = default_shares(cores)
    split = f"ffmpeg {share.transcode} + Whisper {share.whisper}"
    # The ladder as it was before the cores were shared: x264 veryfast, every rung scaled from the source, the
    # podcast audio after the ladder
    old_ladder = dataclasses.replace(DEFAULT_LADDER, x264_preset="veryfast", scale_from_rung_above=False)
    after = {"podcast_beside": False}
    return (
        Variant(f"ffmpeg automatic + Whisper {cores}, veryfast (before)", None, cores, old_ladder, **after),
        Variant(f"ffmpeg {cores} + Whisper {cores}, veryfast", cores, cores, old_ladder, **after),
        Variant(f"{split}, veryfast", share.transcode, share.whisper, old_ladder, **after),
        Variant("ffmpeg 1 + Whisper 1, veryfast", 1, 1, old_ladder, **after),
        Variant(f"{split}, {DEFAULT_LADDER.x264_preset} (default)", share.transcode, share.whisper),
        Variant(f"{split}, {DEFAULT_LADDER.x264_preset}, keyint 4 s", share.transcode, share.whisper,
                dataclasses.replace(DEFAULT_LADDER, gop_s=4.0)),
        Variant(f"{split}, {DEFAULT_LADDER.x264_preset}, tune stillimage", share.transcode, share.whisper,
                dataclasses.replace(DEFAULT_LADDER, x264_tune="stillimage")),
        Variant(f"{split}, {DEFAULT_LADDER.x264_preset}, Whisper batched ×8", share.transcode, share.whisper,
                batch_size=8),
        Variant(f"{split}, {DEFAULT_LADDER.x264_preset}, no B-frames", share.transcode, share.whisper,
                dataclasses.replace(DEFAULT_LADDER, x264_params="bframes=0")),
        Variant(f"{split}, {DEFAULT_LADDER.x264_preset}, every rung scaled from the source", share.transcode,
                share.whisper, dataclasses.replace(DEFAULT_LADDER, scale_from_rung_above=False)),
        Variant(f"{split}, {DEFAULT_LADDER.x264_preset}, podcast audio after the ladder", share.transcode,
                share.whisper, **after),
    )  # fmt: skip


# --- the talk ---------------------------------------------------------------------------------------------------


def build_talk_args(speech: Path, slide_files: Sequence[Path], output: Path, duration_s: float,
                    width: int, height: int) -> list[str]:  # fmt: skip
    """ffmpeg arguments: slides on a plain background, a moving, noisy "speaker" inset in the lower right corner,
    the speech; H.264 (CRF 18, a good source) and AAC. Pure."""
    size = max(12, min(height // 16, width // 28))
    texts = []
    for i, text_file in enumerate(slide_files):
        start, end = i * SLIDE_S, (i + 1) * SLIDE_S if i < len(slide_files) - 1 else duration_s + 1
        texts.append(
            "drawtext=" + ":".join([
                f"fontfile={filter_value(str(FONT_FILE))}", f"textfile={filter_value(str(text_file))}",
                "expansion=none", "fontcolor=0x1d3557", f"fontsize={size}", f"line_spacing={size // 2}",
                "x=w/12", "y=h/6", f"enable={filter_value(f'between(t,{start:.3f},{end:.3f})')}",
            ])  # fmt: skip
        )
    inset_w, inset_h = (width // 3) // 2 * 2, (height // 3) // 2 * 2
    graph = (
        f"color=c=0xf1f1ee:s={width}x{height}:r={FPS}:d={duration_s:.3f},"
        f"drawbox=x=0:y=0:w=iw:h=ih/9:color=0x1d3557:t=fill,{','.join(texts)}[slides];"
        f"testsrc2=s={inset_w}x{inset_h}:r={FPS}:d={duration_s:.3f},noise=alls=10:allf=t[speaker];"
        f"[slides][speaker]overlay=x=W-w-W/40:y=H-h-H/20,format=yuv420p[v]"
    )
    return [
        *ffmpeg.QUIET, "-y", "-filter_complex", graph, "-i", str(speech),
        "-map", "[v]", "-map", "0:a", "-t", f"{duration_s:.3f}",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", str(2 * FPS),
        "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", str(output),
    ]  # fmt: skip


def make_talk(folder: Path, seconds: float, size: tuple[int, int]) -> tuple[Path, str]:
    """The slides-and-speaker talk (made once, kept in ``folder``) and what is said in it."""
    utterances = fleurs_french()
    folder.mkdir(parents=True, exist_ok=True)
    speech = folder / "fleurs-fr-48k.wav"
    if not speech.is_file():
        join_with_pauses([u.audio for u in utterances], speech, pause_s=1.0, rate=SPEECH_RATE, channels=1)
    once = _wav_seconds(speech)
    loops = int(seconds // once) + 1
    reference = " ".join([" ".join(u.text for u in utterances)] * loops)
    width, height = size
    key = hashlib.sha256(f"{seconds}:{width}x{height}:{SLIDES}".encode()).hexdigest()[:10]
    talk = folder / f"talk-{seconds:g}s-{width}x{height}-{key}.mp4"
    if not talk.is_file():
        looped = folder / f"speech-{seconds:g}s.wav"
        join_with_pauses([speech] * loops, looped, pause_s=0.0, rate=SPEECH_RATE, channels=1)
        slide_files = []
        for i, text in enumerate(SLIDES[: max(1, int(seconds // SLIDE_S) + 1)]):
            path = folder / f"slide-{i}.txt"
            path.write_text(text, encoding="utf-8")
            slide_files.append(path)
        partial = talk.with_suffix(".partial.mp4")
        returncode, stderr = ffmpeg.run(build_talk_args(looped, slide_files, partial, seconds, width, height))
        if returncode != 0:
            raise RuntimeError(f"could not make the bench talk: {stderr.decode(errors='replace').strip()[-500:]}")
        partial.replace(talk)
    spoken = min(1.0, seconds / (once * loops))  # the reference is cut to the share of it the talk holds
    words = reference.split()
    return talk, " ".join(words[: int(len(words) * spoken)])


def _wav_seconds(path: Path) -> float:
    import wave

    with wave.open(str(path)) as fh:
        return fh.getnframes() / fh.getframerate()


# --- one variant in a child process ------------------------------------------------------------------------------


def _child(source: str, out_dir: str, cache_dir: str, spec_json: str) -> None:
    """Runs in the child: the two stages side by side, one JSON line of times."""
    spec = json.loads(spec_json)
    preset = LadderPreset(**{**dataclasses.asdict(DEFAULT_LADDER), **spec["preset"], "rungs": DEFAULT_LADDER.rungs})
    out, cache = Path(out_dir), Path(cache_dir)
    probe = probe_recording(Path(source))
    load_engine("faster-whisper", "base", cache_dir=cache, device="cpu", compute_type="auto",
                threads=spec["whisper_threads"])  # fmt: skip
    times: dict[str, float] = {}
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def transcode() -> None:
        started = time.perf_counter()
        make_picture_and_sound(probe, out, preset=preset, threads=spec["transcode_threads"],
                               podcast_beside=spec["podcast_beside"])  # fmt: skip
        times["transcode_s"] = time.perf_counter() - started

    def transcribe() -> None:
        started = time.perf_counter()
        speech = media_audio.extract_speech(probe, out / "speech.wav")
        transcript = transcribe_audio(
            speech, cache_dir=cache, language="fr", device="cpu", threads=spec["whisper_threads"],
            decoding=Decoding(batch_size=spec["batch_size"]),
        )  # fmt: skip
        results["text"] = transcript.text
        times["whisper_s"] = time.perf_counter() - started

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported by the parent
                errors.append(exc)

        return run

    started, cpu = time.perf_counter(), _cpu_seconds()
    threads = [threading.Thread(target=guarded(work)) for work in (transcode, transcribe)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times["pair_s"], times["cpu_s"] = time.perf_counter() - started, _cpu_seconds() - cpu
    if errors:
        raise errors[0]
    print(json.dumps({**times, "text": results["text"], "duration_s": probe.duration_s}))


def _cpu_seconds() -> float:
    """User + system time of this process's threads and of its finished children (ffmpeg)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def spec(variant: Variant) -> dict:
    preset = {k: v for k, v in dataclasses.asdict(variant.preset).items() if k != "rungs"}
    return {"transcode_threads": variant.transcode_threads, "whisper_threads": variant.whisper_threads,
            "preset": preset, "batch_size": variant.batch_size, "podcast_beside": variant.podcast_beside}  # fmt: skip


@dataclass(frozen=True)
class CoresMeasure:
    variant: str
    duration_s: float
    pair_s: float  # the two stages side by side, start to the end of the later
    transcode_s: float
    whisper_s: float
    cpu_s: float  # CPU time of both stages, all threads and ffmpeg children
    wer: float
    ssim: dict[str, float]  # rung name (e.g. "1080p") -> SSIM All against the scaled source
    bytes: dict[str, int]  # rung name -> its segments' bytes

    @property
    def ratio(self) -> float:
        """The pair's time over the talk's length (below 1: faster than real time)."""
        return self.pair_s / self.duration_s


def run_variant(variant: Variant, source: Path, reference: str, out: Path, cache_dir: Path) -> CoresMeasure:
    args = [sys.executable, "-m", "confcast.tasks.bench.cores", str(source), str(out), str(cache_dir),
            json.dumps(spec(variant))]  # fmt: skip
    result = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"{variant.label} failed: {result.stderr.strip()[-800:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    ssim = rung_ssim(source, out / "hls")
    sizes = {rung: sum(f.stat().st_size for f in (out / "hls" / rung).glob("*.m4s")) for rung in ssim}
    return CoresMeasure(
        variant=variant.label, duration_s=data["duration_s"], pair_s=data["pair_s"],
        transcode_s=data["transcode_s"], whisper_s=data["whisper_s"], cpu_s=data["cpu_s"],
        wer=word_error_rate(reference, data["text"]), ssim=ssim, bytes=sizes,
    )  # fmt: skip


# --- SSIM --------------------------------------------------------------------------------------------------------

_SSIM_LINE = re.compile(r"\[Parsed_ssim_(\d+) @ [^\]]+\] SSIM .*All:([0-9.]+)")


def rungs_of(hls_dir: Path) -> list[tuple[str, int, int]]:
    """(name, width, height) of each rung folder of a ladder, tallest first, from its first segment's probe."""
    found = []
    for folder in sorted(p for p in hls_dir.iterdir() if p.is_dir() and (p / "index.m3u8").is_file()):
        init = parse_media_playlist((folder / "index.m3u8").read_text(encoding="utf-8")).init or "init.mp4"
        data = ffmpeg.probe_json(folder / init, f"probing {folder.name}")
        video = next(s for s in data["streams"] if s.get("codec_type") == "video")
        found.append((folder.name, int(video["width"]), int(video["height"])))
    return sorted(found, key=lambda r: -r[2])


def build_ssim_args(source: Path, rungs: Sequence[tuple[Path, int, int]], fps: int = FPS) -> list[str]:
    """One ffmpeg run: the source decoded once, split and scaled (bicubic, as the ladder) to each rung, each rung's
    playlist compared with its scaled source by the ssim filter. Pure; the scores come out on stderr (info level)."""
    args = ["-hide_banner", "-nostdin", "-loglevel", "info", "-nostats", "-i", str(source)]
    for playlist, _w, _h in rungs:
        args += ["-i", str(playlist)]
    labels = "".join(f"[r{i}]" for i in range(len(rungs)))
    chains = [f"[0:v]fps={fps},split={len(rungs)}{labels}"]
    for i, (_playlist, width, height) in enumerate(rungs):
        chains.append(f"[r{i}]scale={width}:{height}:flags=bicubic,setsar=1,format=yuv420p[ref{i}]")
        chains.append(f"[{i + 1}:v]setsar=1,format=yuv420p[enc{i}];[enc{i}][ref{i}]ssim[ssim{i}]")
    args += ["-filter_complex", ";".join(chains)]
    for i in range(len(rungs)):
        args += ["-map", f"[ssim{i}]", "-f", "null", "-"]
    return args


def parse_ssim(stderr: str, count: int) -> list[float]:
    """The ssim filters' "All" scores, in the order of the filters in the graph."""
    scores = sorted((int(index), float(value)) for index, value in _SSIM_LINE.findall(stderr))
    if len(scores) != count:
        raise RuntimeError(f"expected {count} SSIM scores from ffmpeg, found {len(scores)}: {stderr.strip()[-400:]}")
    return [value for _index, value in scores]


def rung_ssim(source: Path, hls_dir: Path) -> dict[str, float]:
    rungs = rungs_of(hls_dir)
    returncode, raw = ffmpeg.run(build_ssim_args(source, [(hls_dir / n / "index.m3u8", w, h) for n, w, h in rungs]))
    stderr = raw.decode(errors="replace")
    if returncode != 0:
        raise RuntimeError(f"the SSIM run failed: {stderr.strip()[-500:]}")
    return dict(zip((name for name, _w, _h in rungs), parse_ssim(stderr, len(rungs)), strict=True))


# --- the table ---------------------------------------------------------------------------------------------------


def table(measures: Sequence[CoresMeasure], setup: str) -> str:
    """A row a variant: time over the talk's length, each stage's time, Whisper's WER, each rung's SSIM and size."""
    if not measures:
        return ""
    rungs = list(measures[0].ssim)
    columns = ["variant", "run ÷ talk", "vs first", "transcode s", "Whisper s", "CPU ÷ talk", "WER %",
               *(f"SSIM {rung}" for rung in rungs), *(f"MB {rung}" for rung in rungs)]  # fmt: skip
    lines = ["| " + " | ".join(columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]
    first = measures[0]
    for m in measures:
        cells = [m.variant, f"{m.ratio:.2f}", f"{m.pair_s / first.pair_s:.2f}", f"{m.transcode_s:.1f}",
                 f"{m.whisper_s:.1f}", f"{m.cpu_s / m.duration_s:.2f}", f"{m.wer * 100:.1f}",
                 *(f"{m.ssim.get(r, float('nan')):.4f}" for r in rungs),
                 *(f"{m.bytes.get(r, 0) / 2**20:.1f}" for r in rungs)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"- {setup}",
        "- run ÷ talk: the transcode (ladder, MP4, poster, thumbnails, podcast audio) and Whisper (speech extraction "
        "and transcription, model loaded beforehand) side by side, start to the end of the later, over the talk's "
        "length; vs first: that time over the first row's, measured in the same run; CPU ÷ talk: the CPU time both "
        "stages used (every thread, ffmpeg included) over the talk's length, which other work on the machine moves "
        "far less than the wall time.",
        "- SSIM: ffmpeg's ssim filter (All), each rung against the source scaled to it with the ladder's scaler; "
        "MB: the rung's segments.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # the child process of `run_variant`
    _child(*sys.argv[1:5])
