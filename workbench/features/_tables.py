"""Checks shared by the feature builders."""

from __future__ import annotations

from ..store import DatasetError


def require_tables(con, feature: str, tables: dict[str, tuple[str, ...]]) -> None:
    """Raise a clear error naming the table or column a feature needs and the dataset lacks."""
    have = set(con.list_tables())
    for name, cols in tables.items():
        if name not in have:
            raise DatasetError(f"{feature}: the dataset has no {name!r} table")
        missing = [c for c in cols if c not in con.table(name).columns]
        if missing:
            raise DatasetError(f"{feature}: table {name!r} lacks column(s) {missing}")
