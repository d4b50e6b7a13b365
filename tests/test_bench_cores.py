"""`confcast bench cores`: the SSIM command and its parsing (pure), the table, and the command end to end on a tiny
slides-and-speaker talk (real ffmpeg, real Whisper)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from confcast.tasks.bench import cores
from confcast.tasks.bench.cores import CoresMeasure


def test_ssim_command_decodes_the_source_once_for_every_rung() -> None:
    args = cores.build_ssim_args(Path("/s.mp4"), [(Path("/h/720p/index.m3u8"), 1280, 720),
                                                  (Path("/h/360p/index.m3u8"), 640, 360)])  # fmt: skip
    inputs = [b for a, b in zip(args, args[1:], strict=False) if a == "-i"]
    assert inputs == ["/s.mp4", "/h/720p/index.m3u8", "/h/360p/index.m3u8"]
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:v]fps=25,split=2[r0][r1];[r0]scale=1280:720:flags=bicubic")
    assert "[1:v]setsar=1,format=yuv420p[enc0];[enc0][ref0]ssim[ssim0]" in graph
    assert "[2:v]setsar=1,format=yuv420p[enc1];[enc1][ref1]ssim[ssim1]" in graph


def test_ssim_scores_are_read_in_the_graph_order() -> None:
    stderr = (
        "[Parsed_ssim_9 @ 0x55] SSIM Y:0.990000 (20.0) U:0.99 (21) V:0.99 (21) All:0.981234 (17.3)\n"
        "[Parsed_ssim_4 @ 0x56] SSIM Y:0.995 (23.0) U:0.99 (21) V:0.99 (21) All:0.993000 (21.5)\n"
    )
    assert cores.parse_ssim(stderr, 2) == [0.993, 0.981234]
    with pytest.raises(RuntimeError, match="expected 3 SSIM scores"):
        cores.parse_ssim(stderr, 3)


def test_table_has_the_time_over_the_length_and_ssim_per_rung() -> None:
    a = CoresMeasure("before", 300.0, 258.0, 250.0, 60.0, 500.0, 0.3, {"1080p": 0.981, "360p": 0.99},
                     {"1080p": 2**20 * 50})  # fmt: skip
    b = CoresMeasure("split", 300.0, 180.0, 178.0, 90.0, 330.0, 0.3, {"1080p": 0.98, "360p": 0.991},
                     {"1080p": 2**20 * 49})  # fmt: skip
    lines = cores.table([a, b], "setup line").splitlines()
    assert lines[0] == ("| variant | run ÷ talk | vs first | transcode s | Whisper s | CPU ÷ talk | WER % | SSIM 1080p "
                        "| SSIM 360p | MB 1080p | MB 360p |")  # fmt: skip
    assert lines[3] == "| split | 0.60 | 0.70 | 178.0 | 90.0 | 1.10 | 30.0 | 0.9800 | 0.9910 | 49.0 | 0.0 |"
    assert "- setup line" in lines


def test_the_variants_start_with_the_old_behaviour_and_name_the_default() -> None:
    rows = cores.variants(2)
    assert rows[0].transcode_threads is None and rows[0].whisper_threads == 2  # ffmpeg automatic, Whisper every core
    assert rows[0].preset.x264_preset == "veryfast"  # as before the measured choice
    assert [row.label for row in rows if "(default)" in row.label] == ["ffmpeg 2 + Whisper 1, superfast (default)"]
    assert len({row.label for row in rows}) == len(rows)


def test_bench_cores_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "confcast.flows.cli", "bench", "cores", "--seconds", "8", "--size", "640x360",
         "--only", "4", "--work-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "bench: cores: ffmpeg 1 + Whisper 1, veryfast" in result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:7] == ["variant", "run ÷ talk", "vs first", "transcode s", "Whisper s", "CPU ÷ talk", "WER %"]
    assert "SSIM 360p" in header and len(lines) == 2  # the header and one row
    cells = dict(zip(header, (cell.strip() for cell in lines[1].strip("|").split("|")), strict=True))
    assert cells["variant"] == "ffmpeg 1 + Whisper 1, veryfast" and cells["vs first"] == "1.00"
    assert float(cells["run ÷ talk"]) > 0 and float(cells["transcode s"]) > 0 and float(cells["Whisper s"]) > 0
    assert 0.9 < float(cells["SSIM 360p"]) <= 1.0  # slides and a test picture at 0.7 Mb/s: close to the source
    assert "command: `confcast bench cores --seconds 8 --size 640x360 --only 4`" in result.stdout


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    for options, message in ((["--size", "641x360"], "video size"), (["--only", "99"], "--only")):
        result = subprocess.run(
            [sys.executable, "-m", "confcast.flows.cli", "bench", "cores", *options, "--work-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert result.returncode != 0 and message in result.stderr
        assert result.stderr.startswith("confcast: error:") and result.stderr.count("\n") == 1
