"""The work of a confcast run: plain functions, one module per concern, usable without Prefect."""
