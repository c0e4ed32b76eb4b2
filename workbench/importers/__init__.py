"""A store's own exports into a canonical dataset: the importers' home and contract.

Every importer follows dbt's staging convention: the source is read as it is,
renamed and typed in a *staging* step, then mapped to the canonical tables
(:mod:`workbench.schema`).  Rows that cannot be mapped are never dropped
silently: each becomes a row of the *rejects* table with its source, row
number and reason.  :func:`import_dataset` then validates the canonical tables
(every violation in one report) and writes the dataset atomically with its
rejects and an import summary — a failed import leaves an earlier dataset at
the same path intact.

One module per source format (GA4's BigQuery export, Shopify's CSV exports,
an email/SMS platform's event export, any CSV) subclasses :class:`Importer`
and adds one line to :data:`IMPORTERS`.

Examples
--------
>>> import pandas as pd
>>> class Orders(Importer):
...     name = "orders-csv"
...     def stage(self, sources):
...         return {"orders": sources["orders"].rename(columns={"id": "order_id"})}
...     def canonical(self, staged):
...         o = staged["orders"]
...         bad = o.order_id.isna()
...         return {"orders": o[~bad]}, [reject("orders", o.index[bad], "no order id")]
>>> tables, rejects = Orders().tables({"orders": pd.DataFrame({"id": [1, None]})})
>>> len(tables["orders"]), list(rejects.reason)
(1, ['no order id'])
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pandas as pd

from ..results import Result
from ..schema import DatasetValidationError, ValidationReport
from ..store import validate, write_dataset

#: the columns of the rejects table written with every imported dataset
REJECT_COLUMNS = ("table", "source_row", "reason")

#: the file beside the tables holding each order's discount code(s): ``order_id, code``
CODES_FILE = "order_discount_codes.csv"

#: a progress callback: one short line per step ("read 2,000,000 events from events_1.json.gz")
Progress = Callable[[str], None]


class ImportInputError(ValueError):
    """A file, a column map or a column that cannot be imported; the message names it."""


def quiet(_msg: str) -> None:
    """The default :data:`Progress`: say nothing."""


def read_text_table(path: str | Path) -> pd.DataFrame:
    """A CSV (every column as text) or Parquet file as exported; rows numbered from 1.

    CSV goes through Arrow's strict parser, so a truncated file or a broken quote is an
    error naming the file and the line, not a silently shorter table; text keeps ids as
    written (a leading zero survives).  The index is the data row number a user finds
    in the file (1 = the row after the header), the number rejects report.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise ImportInputError(f"{path}: no such file")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        if parquet:
            df = pq.read_table(path).to_pandas()
        else:
            names = pacsv.open_csv(path).schema.names
            df = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()))).to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportInputError(f"{path}: cannot be read as {'Parquet' if parquet else 'CSV'}"
                               f": {str(exc).splitlines()[0][:300]}") from exc
    return df.set_axis(pd.RangeIndex(1, len(df) + 1))


def one_currency(values: pd.Series, source: str, column: str) -> str | None:
    """The one currency of ``values`` (None when all are empty), or a clear error.

    Amounts in two currencies cannot be added up: the error names the file, the column,
    each currency's row count and the first rows (numbered from 1) of the rarer ones.
    """
    v = values.astype("string").str.strip().str.upper()
    v = v[v.notna() & (v != "")]
    counts = v.value_counts()
    if len(counts) <= 1:
        return None if counts.empty else str(counts.index[0])
    main = counts.index[0]
    rows = [int(i) for i in v.index[v != main][:5]]  # the index numbers data rows from 1
    raise ImportInputError(
        f"{source}: column {column!r} mixes currencies "
        f"({', '.join(f'{c} {n:,} rows' for c, n in counts.items())}); amounts in different "
        f"currencies cannot be summed: convert them or import each currency as its own "
        f"dataset (first rows not in {main}: {rows})")


def dataset_salt(out: str | Path) -> str | None:
    """The pseudonym salt of the dataset already at ``out`` (None when there is none).

    A re-import into the same folder, or messages imported into an existing dataset,
    reuse it, so the same email maps to the same customer id.
    """
    manifest = Path(out) / "manifest.json"
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text()).get("id_salt")


def rejects_frame(rejects: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """The rejects tables as one (:data:`REJECT_COLUMNS`; empty when none)."""
    frames = [r for r in rejects if len(r)]
    return (pd.concat(frames, ignore_index=True) if frames else
            pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS}))


def reject(table: str, rows: Iterable, reason: str) -> pd.DataFrame:
    """Rejects for ``rows`` (source row numbers) of ``table``, all for ``reason``."""
    rows = list(rows)
    return pd.DataFrame({"table": [table] * len(rows), "source_row": rows,
                         "reason": [reason] * len(rows)}, columns=list(REJECT_COLUMNS))


class RowRules:
    """Rules applied in turn to a source table: a row is rejected by the first it breaks.

    ``rule(mask, reason)`` rejects the rows of ``mask`` not rejected yet, with ``reason``;
    ``bad`` marks every rejected row and ``rejects`` holds them (source row = the index,
    which numbers data rows from 1).

    >>> rule = RowRules("orders.csv", pd.RangeIndex(1, 4))
    >>> rule(pd.Series([True, True, False], index=rule.bad.index), "no order id")
    >>> rule(pd.Series([False, True, True], index=rule.bad.index), "no customer id")
    >>> pd.concat(rule.rejects).source_row.tolist(), int(rule.bad.sum())
    ([1, 2, 3], 3)
    """

    def __init__(self, source: str, index: pd.Index):
        self.source = source
        self.bad = pd.Series(False, index=index)
        self.rejects: list[pd.DataFrame] = []

    def __call__(self, mask: pd.Series, reason: str) -> None:
        mask = mask & ~self.bad
        if mask.any():
            self.rejects.append(reject(self.source, mask.index[mask], reason))
            self.bad = self.bad | mask


class Importer:
    """One source format: :meth:`stage` (as-is -> typed staging) and :meth:`canonical`.

    ``name`` goes into the manifest's ``generator``; :meth:`read` turns the
    path a user gives (a file, or a folder of files) into source DataFrames by name.
    """

    name: ClassVar[str]

    def read(self, path: str | Path) -> dict[str, pd.DataFrame]:
        """Source DataFrames by name, as exported: a CSV file, or a folder of them by stem."""
        path = Path(path)
        files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise FileNotFoundError(f"{path}: no CSV file to import")
        return {f.stem: pd.read_csv(f) for f in files}

    def extra_files(self) -> dict[str, str]:
        """Small text files the format carries beyond the tables, after :meth:`tables`."""
        return {}

    def manifest_fields(self) -> dict:
        """What the import learned that the manifest keeps (``currency``), after :meth:`tables`."""
        return {}

    def stage(self, sources: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Rename and type the source columns (no rows dropped)."""
        raise NotImplementedError

    def canonical(self, staged: Mapping[str, pd.DataFrame]
                  ) -> tuple[dict[str, pd.DataFrame], list[pd.DataFrame]]:
        """Canonical tables, and the rejected rows with their reasons."""
        raise NotImplementedError

    def tables(self, sources: Mapping[str, pd.DataFrame]
               ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
        """Staging then canonical: the tables and one rejects table."""
        tables, rejects = self.canonical(self.stage(sources))
        return tables, rejects_frame(rejects)


@dataclass
class ImportResult(Result):
    """Where the dataset went, what was kept and rejected, and its validation report."""

    _skip_in_dict = ("rejects",)  # one row per rejected source row: rejects.csv has them

    path: Path
    row_counts: dict[str, int]
    rejects: pd.DataFrame
    report: ValidationReport

    def summary(self) -> str:
        kept = ", ".join(f"{n} {k:,}" for n, k in self.row_counts.items())
        by = self.rejects.groupby(["table", "reason"]).size() if len(self.rejects) else {}
        rej = "; ".join(f"{t}: {n:,} {r}" for (t, r), n in dict(by).items()) or "none"
        return f"imported into {self.path}: {kept}. Rejected rows: {rej}."


def import_dataset(importer: Importer, sources: Mapping[str, pd.DataFrame], out: str | Path,
                   manifest: Mapping | None = None,
                   extra_files: Mapping[str, str] | None = None,
                   progress: Progress = quiet) -> ImportResult:
    """Sources -> canonical tables -> validation -> an atomic dataset at ``out``.

    Raises :class:`~workbench.schema.DatasetValidationError` (listing every
    violation) when the canonical tables break the schema; nothing is written
    then, and an earlier dataset at ``out`` is left as it was.  The rejected
    rows are written with the dataset (``rejects.csv``, one row per source row
    with its reason) and counted in the manifest.  ``extra_files`` are small text
    files the format carries beyond the canonical tables (Shopify's discount codes
    per order), written with the dataset.
    """
    def counts(frames):
        return ", ".join(f"{k} {len(v):,}" for k, v in frames.items())

    progress(f"{importer.name}: mapping {counts(sources)} source rows")
    tables, rejects = importer.tables(sources)
    return write_import(importer, tables, rejects, out, sorted(map(str, sources)),
                        manifest=manifest, extra_files=extra_files, progress=progress)


def write_import(importer: Importer, tables: Mapping, rejects: pd.DataFrame, out: str | Path,
                 sources: list[str], *, manifest: Mapping | None = None,
                 extra_files: Mapping[str, str] | None = None,
                 progress: Progress = quiet) -> ImportResult:
    """Validate canonical ``tables`` (DataFrames or Arrow) and write them atomically.

    The last step of every importer (:func:`import_dataset`, or an importer that builds
    its tables in an engine, like GA4's in DuckDB): the manifest records the importer,
    the rejected-row count and :meth:`Importer.manifest_fields`; ``rejects.csv``,
    ``import.json`` and :meth:`Importer.extra_files` are written with the tables.
    """
    def n_rows(t):
        return t.num_rows if hasattr(t, "num_rows") else len(t)

    progress(f"{importer.name}: validating "
             + ", ".join(f"{k} {n_rows(v):,}" for k, v in tables.items()))
    report = validate(tables)
    if not report.ok:
        raise DatasetValidationError(report)
    progress(f"{importer.name}: writing {out}")
    info = {"generator": f"import:{importer.name}", "rejected_rows": int(len(rejects)),
            **importer.manifest_fields(), **(manifest or {})}
    path = write_dataset(out, tables, manifest=info,
                         extra_files={"rejects.csv": rejects.to_csv(index=False),
                                      "import.json": json.dumps(
                                          {"importer": importer.name, "sources": sources,
                                           **({"counts": info["import_counts"]}
                                              if "import_counts" in info else {})},
                                          indent=2),
                                      **importer.extra_files(), **(extra_files or {})})
    return ImportResult(path, {k: int(n_rows(v)) for k, v in tables.items()}, rejects, report)


#: the registered importers by name (filled by the importer modules)
IMPORTERS: dict[str, type[Importer]] = {}

__all__ = ["CODES_FILE", "IMPORTERS", "REJECT_COLUMNS", "ImportInputError", "ImportResult",
           "Importer", "Progress", "RowRules", "dataset_salt", "import_dataset", "one_currency",
           "quiet", "read_text_table", "reject", "write_import"]
