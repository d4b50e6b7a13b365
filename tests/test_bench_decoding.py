"""`confcast bench transcribe`'s decoding rows: the table (pure) and two real rows on real French (FLEURS)."""

from __future__ import annotations

from pathlib import Path

from confcast.tasks.bench import decoding
from confcast.tasks.bench.decoding import COLUMNS, DecodingMeasure, format_row, merge, table
from confcast.tasks.bench.whisper import Audio


def _m(variant: str, wall: float, cpu: float, wer: float) -> DecodingMeasure:
    return DecodingMeasure(variant, 120.0, wall, cpu, wer, 400.0, 0.5, (wall,))


def test_rows_are_ratios_to_the_default() -> None:
    default, greedy = _m("default", 20.0, 36.0, 0.30), _m("beam 1", 10.0, 18.0, 0.33)
    assert format_row(greedy, default) == (
        "| beam 1 | 10.0 | 12.0 | 0.50 | 18.0 | 0.50 | 33.0 | +3.0 | 50 | 400 | 10.0 |"
    )
    text = table(Audio("French, FLEURS", Path("x.wav"), 120.0, "ref"), [default, greedy], 2, "2 cores")
    lines = text.splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |" and lines[2].startswith("| default | 20.0 | 6.0 | 1.00 |")
    assert "2 thread(s)" in text and "2 cores" in text


def test_rounds_keep_the_fastest_and_the_worse_wer() -> None:
    merged = merge(_m("a", 20.0, 30.0, 0.3), _m("a", 25.0, 28.0, 0.31))
    assert (merged.wall_s, merged.cpu_s, merged.wer, merged.walls) == (20.0, 28.0, 0.31, (20.0, 25.0))


def test_default_and_batched_rows_on_real_french(tmp_path: Path) -> None:
    lines: list[str] = []
    audio, rows = decoding.run_bench(
        cache_dir=tmp_path / "cache", folder=tmp_path, threads=2, count=1, rounds=1,
        variants=(decoding.DEFAULT, decoding.VARIANTS[-2]), echo=lines.append,
    )  # fmt: skip
    assert audio.duration_s > 5 and [r.variant for r in rows] == [decoding.DEFAULT.label, decoding.VARIANTS[-2].label]
    assert len(lines) == 2 and all(line.startswith("bench: decoding, round 1: | ") for line in lines)
    for row in rows:
        assert row.wall_s > 0 and row.cpu_s > 0
        assert row.wer < 0.6, row  # real speech, a native speaker: Whisper base gets most words right
