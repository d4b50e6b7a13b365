"""`confcast bench`: measurements printed as tables, every compared variant measured side by side in one run."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="Measure speed, memory and accuracy; prints a table with ratios (see README, Performance).")
