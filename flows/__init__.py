"""Prefect flows composing the tasks, and the `confcast` command line."""
