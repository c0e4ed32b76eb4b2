"""What every command shares: one-line errors and dates from the command line."""

from __future__ import annotations

import sys

import click


def _fail(msg: str, code: int = 1):
    """Print ``error: msg`` to stderr and exit with ``code`` (never a traceback)."""
    click.echo(f"error: {msg}", err=True)
    sys.exit(code)


def _as_of(value, option: str = "--as-of"):
    """A date option as a timestamp (None stays None); a bad date exits with code 2."""
    if value is None:
        return None
    import pandas as pd

    try:
        return pd.Timestamp(value)
    except ValueError:
        _fail(f"{option}: {value!r} is not a date (e.g. 2025-12-01)", 2)
