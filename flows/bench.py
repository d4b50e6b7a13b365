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
