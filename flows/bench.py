"""`confcast bench`: measurements printed as tables, every compared variant measured side by side in one run."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="Measure speed, memory and accuracy; prints a table with ratios (see README, Performance).")


@bench_app.command("search")
def bench_search(
    talks: int = typer.Option(100, help="Talks on the synthetic site."),
    minutes: int = typer.Option(120, help="Length of each talk, in minutes."),
    query: list[str] = typer.Option(None, "--query", help="Words to search (default: a frequent, a middling, a rare one)."),
) -> None:
    """What a viewer's browser loads for a first search: one file vs a term map vs confcast's shards."""
    from tasks.search_bench import measure, table

    rows, figures = measure(talks, minutes, tuple(query or ()))
    typer.echo(table(rows, figures))


@bench_app.command("transcode")
def bench_transcode(
    seconds: float = typer.Option(120.0, help="Length of the generated 1080p source, in seconds."),
    work_dir: str = typer.Option(None, help="Keep the source and outputs in this folder (default: a temporary one)."),
) -> None:
    """The single-decode HLS ladder vs the same ladder as one ffmpeg process per rendition (equal settings)."""
    from pathlib import Path

    from tasks.bench_media import measure, table

    typer.echo(f"confcast: making a {seconds:g} s 1080p source, then encoding the ladder three ways", err=True)
    rows, probe = measure(seconds, Path(work_dir) if work_dir else None)
    typer.echo(table(rows, probe))


@bench_app.command("transcribe")
def bench_transcribe(
    english_repeat: int = typer.Option(3, min=1, help="Times the LibriVox clips (18 s with pauses) are joined over."),
    talk_minutes: float = typer.Option(1.5, min=0.2, help="Length of the French talk every variant runs on."),
    long_minutes: float = typer.Option(
        8.0, min=0.0, help="Length of the long French talk for faster-whisper int8 (memory as it grows); 0 skips."
    ),
    work_dir: str = typer.Option(None, help="Model cache folder (default: ~/.cache/confcast)."),
) -> None:
    """faster-whisper int8 and float32 vs openai-whisper fp32 on the same weights and audio: speed, memory, WER."""
    from pathlib import Path

    from tasks.bench_whisper import run_bench, table

    cache = Path(work_dir or "~/.cache/confcast").expanduser()
    measures = run_bench(
        english_repeat=english_repeat,
        talk_minutes=talk_minutes,
        long_minutes=long_minutes,
        cache_dir=cache,
        echo=lambda line: typer.echo(line, err=True),
    )
    typer.echo(table(measures))
