"""Datasets on disk: a folder of Parquet tables plus ``manifest.json``.

Layout::

    DIR/
      manifest.json          schema version, generator, seed, config hash,
                             row counts, file hashes, dataset hash, created_at
      customers.parquet ...  one file per canonical table
      truth/                 simulator ground truth (never needed by an analysis)

Writes are atomic: everything goes to a hidden sibling folder first and the
manifest is the last file written; only then is the folder swapped into place
with ``os.replace``.  A crash or Ctrl-C mid-write leaves the previous dataset
(if any) untouched and no folder that looks complete: a folder without a
manifest is refused by :func:`open_dataset`.

Examples
--------
>>> import tempfile
>>> from workbench.simulate import scenario, simulate
>>> store = simulate(scenario("tiny"), seed=2)
>>> path = write_dataset(tempfile.mkdtemp() + "/ds", store.tables, truth=store.truth)
>>> con = open_dataset(path)
>>> int(con.table("customers").count().execute())
300
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .files import fsync_dir
from .schema import SCHEMA_VERSION, TABLES, ValidationReport, Violation
from .schema import validate as validate_tables

MANIFEST = "manifest.json"
TRUTH_DIR = "truth"


class DatasetError(RuntimeError):
    """A dataset folder that cannot be used (missing, incomplete, corrupt)."""


def table_path(root: Path | str, name: str) -> Path:
    """Where table ``name`` (``"orders"`` or ``"truth/carts"``) lives under ``root``."""
    return Path(root) / f"{name}.parquet"


def _to_arrow(obj) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pd.DataFrame):
        return pa.Table.from_pandas(obj, preserve_index=False)
    raise TypeError(f"expected a pyarrow.Table or pandas.DataFrame, got {type(obj).__name__}")


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas keeping integer columns with nulls as integers (pandas ``Int64``)."""
    return table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(),
                                         pa.int32(): pd.Int32Dtype()}.get)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_dataset(
    path: str | Path,
    tables: Mapping[str, pa.Table | pd.DataFrame],
    truth: Mapping[str, pa.Table | pd.DataFrame] | None = None,
    *,
    extra_files: Mapping[str, str] | None = None,
    manifest: Mapping | None = None,
    overwrite: bool = True,
) -> Path:
    """Write a dataset atomically and return its path.

    Parameters
    ----------
    path
        Target folder.  An existing dataset there is replaced only after the new
        one is complete (``overwrite=True``), otherwise an error is raised.
    tables
        Canonical tables by name.
    truth
        Simulator ground truth by name, written under ``truth/``.
    extra_files
        Small text files (``{"truth/params.json": "..."}``) stored with the data.
    manifest
        Extra manifest fields (generator, seed, config hash, ...).
    """
    target = Path(path).resolve()
    if target.exists() and not overwrite:
        raise DatasetError(f"{target} exists; pass overwrite=True to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        files: dict[str, dict] = {}

        def put(name: str, obj) -> None:
            f = table_path(tmp, name)
            f.parent.mkdir(parents=True, exist_ok=True)
            table = _to_arrow(obj)
            pq.write_table(table, f, compression="zstd")
            files[name] = {"rows": table.num_rows, "sha256": _sha256(f)}

        for name, obj in tables.items():
            put(name, obj)
        for name, obj in (truth or {}).items():
            put(f"{TRUTH_DIR}/{name}", obj)
        for rel, text in (extra_files or {}).items():
            f = tmp / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text, encoding="utf-8")
        digest = hashlib.sha256()
        for name in sorted(files):
            if not name.startswith(TRUTH_DIR + "/"):
                digest.update(f"{name}:{files[name]['sha256']}\n".encode())
        info = {
            "schema_version": SCHEMA_VERSION,
            "workbench_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dataset_hash": digest.hexdigest()[:16],
            "row_counts": {n: f["rows"] for n, f in files.items()
                           if not n.startswith(TRUTH_DIR + "/")},
            "files": files,
            **(manifest or {}),
        }
        # the manifest is written last, through its own temporary file
        mtmp = tmp / (MANIFEST + ".part")
        mtmp.write_text(json.dumps(info, indent=2, sort_keys=True, default=str),
                        encoding="utf-8")
        with open(mtmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(mtmp, tmp / MANIFEST)
        fsync_dir(tmp)
        # swap into place
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(tmp, target)
        fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load_manifest(path: str | Path) -> dict:
    """Read a dataset's manifest; refuse folders without one (incomplete writes)."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder")
    f = root / MANIFEST
    if not f.exists():
        raise DatasetError(f"{root}: no {MANIFEST}; this is an incomplete write or not a "
                           "dataset (write datasets with workbench.store.write_dataset)")
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{f}: manifest is not valid JSON ({exc})") from exc


def open_dataset(path_or_connection, *, backend: str = "duckdb", session=None,
                 truth: bool = True, complete: bool = True):
    """Return an Ibis connection with every table of the dataset registered.

    Canonical tables are registered under their names (``con.table("orders")``),
    truth tables as ``truth_<name>``.  Tables are views over the Parquet files,
    so nothing is loaded until a query runs, and feature code written against
    this connection runs unchanged on any Ibis backend.

    ``path_or_connection``: a dataset folder, read by ``backend`` (``"duckdb"``, or
    ``"pyspark"`` on ``session`` or a local Spark session: :mod:`workbench.engines`);
    or an Ibis connection whose canonical tables are already there under their names
    (BigQuery, a Spark cluster's catalog), used as it is.

    ``complete``: an optional table the dataset does not have (a Shopify-only store
    has no sessions, events or messages) is registered empty with its canonical
    columns, so features see zero rows rather than a missing table;
    :func:`absent_tables` says which ones those are.
    """
    from .engines import connect

    if not isinstance(path_or_connection, str | os.PathLike):
        con = path_or_connection
        from .engines import backend_name

        backend_name(con)  # refuses what is not an Ibis connection, saying what is expected
        if complete:
            _register_absent(con, [n for n in TABLES if not TABLES[n].required])
        return con
    root = Path(path_or_connection)
    info = load_manifest(root)
    con = connect(backend, session=session)
    for name in info.get("files", {}):
        f = table_path(root, name)
        if not f.exists():
            raise DatasetError(f"{root}: manifest lists {name} but {f.name} is missing")
        if name.startswith(TRUTH_DIR + "/"):
            if truth:
                con.read_parquet(f, table_name="truth_" + name.split("/", 1)[1])
        else:
            con.read_parquet(f, table_name=name)
    if complete:
        _register_absent(con, [n for n in TABLES if not TABLES[n].required
                               and n not in info.get("files", {})])
    return con


def _register_absent(con, names) -> None:
    """Register each of ``names`` the connection lacks as an empty canonical table.

    As a temporary table, on the engines that have them per session (DuckDB, Spark);
    nothing is written into another engine's warehouse (BigQuery): a table it lacks
    stays missing, and each analysis says so.
    """
    from .engines import backend_name

    kind = backend_name(con)
    if kind not in ("duckdb", "pyspark"):
        return
    have = set(con.list_tables())
    ids = _id_types(con)
    for name in names:
        if name in have:
            continue
        if kind == "pyspark":  # Spark's Ibis backend makes temporary views, not tables
            con.create_view(name, ibis.memtable(_empty(TABLES[name], ids)), overwrite=True)
        else:
            con.create_table(name, _empty(TABLES[name], ids), temp=True)


def absent_tables(path: str | Path) -> list[str]:
    """The canonical tables a dataset does not have (registered empty by :func:`open_dataset`)."""
    files = load_manifest(path).get("files", {})
    return [n for n in TABLES if n not in files]


#: the table each id column's type is read from (ids keep one type across tables)
_ID_SOURCES = {"customer_id": ("customers", "orders"), "product_id": ("products", "order_items"),
               "order_id": ("orders", "order_items"), "session_id": ("sessions", "orders"),
               "message_id": ("messages", "orders"), "event_id": ("events",),
               "unit_id": ("assignments",), "trigger_id": ("messages",)}


def _id_types(con) -> dict[str, pa.DataType]:
    have = set(con.list_tables())
    out = {}
    for col, sources in _ID_SOURCES.items():
        out[col] = pa.int64()
        for t in sources:
            if t in have and col in con.table(t).columns:
                if con.table(t)[col].type().is_string():
                    out[col] = pa.string()
                break
    if "assignments" not in have:  # cart units are session ids (customer units join on
        out["unit_id"] = out["session_id"]  # assignments.customer_id)
    if "messages" not in have:
        out["trigger_id"] = out["session_id"]
    return out


def _empty(spec, ids: dict[str, pa.DataType]) -> pa.Table:
    """A zero-row Arrow table with ``spec``'s canonical columns."""
    kinds = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_(),
             "ts": pa.timestamp("us", tz="UTC")}
    fields = []
    for c in spec.columns:
        if c.kind == "id":
            t = ids.get(c.name, pa.int64())
        elif c.kind in ("list_int", "list_id"):
            t = pa.list_(ids.get("product_id", pa.int64()))
        else:
            t = kinds[c.kind]
        fields.append(pa.field(c.name, t))
    return pa.schema(fields).empty_table()


def read_table(path: str | Path, name: str) -> pd.DataFrame:
    """Read one table (``"orders"`` or ``"truth/carts"``) into pandas."""
    root = Path(path)
    load_manifest(root)
    f = table_path(root, name)
    if not f.exists():
        raise DatasetError(f"{root}: no table {name!r}")
    return arrow_to_pandas(pq.read_table(f))


def read_truth_params(path: str | Path) -> dict:
    """The simulator's structural parameters stored with a simulated dataset."""
    f = Path(path) / TRUTH_DIR / "params.json"
    if not f.exists():
        raise DatasetError(f"{path}: no truth/params.json (not a simulated dataset?)")
    return json.loads(f.read_text(encoding="utf-8"))


def save_simulation(store, path: str | Path, scenario: str | None = None) -> Path:
    """Write a :class:`~workbench.simulate.SimulatedStore` as a dataset."""
    meta = store.manifest_info()
    if scenario:
        meta["scenario"] = scenario
    return write_dataset(
        path, store.tables, truth=store.truth,
        extra_files={f"{TRUTH_DIR}/params.json": json.dumps(store.truth_params, indent=2,
                                                             sort_keys=True)},
        manifest=meta,
    )


#: the time column of each table that grows with time (a row is in the data once it is)
AS_OF_COLUMNS = {"customers": "signup_at", "sessions": "started_at", "events": "ts",
                 "orders": "placed_at", "returns": "returned_at", "messages": "sent_at",
                 "assignments": "assigned_at"}
#: later timestamps on a kept row: not known yet at the cut, so emptied
_LATER = {"messages": ("opened_at", "clicked_at", "unsubscribed_at")}
#: manifest fields written anew for the copy, not carried over
_COMPUTED = ("files", "row_counts", "dataset_hash", "created_at", "schema_version",
             "workbench_version")


def dataset_as_of(path: str | Path, end, out: str | Path) -> Path:
    """Write the dataset as the store would have exported it at ``end`` (UTC).

    Every row whose time column (:data:`AS_OF_COLUMNS`) is before ``end`` is kept, and
    nothing later: an order's lines go with it, and a kept message's open, click or
    unsubscribe after ``end`` is not known yet.  Products are kept whole; the simulator's
    truth, when there, is copied unchanged (it is the process, not the store's data, and
    scores what a run on the copy predicts).  The manifest records ``as_of`` and the
    source's hash.  So ``workbench run`` on a store's own history, cut at earlier dates,
    fills the prediction log that a run on the whole data then scores.
    """
    import pyarrow.compute as pc

    root = Path(path)
    info = load_manifest(root)
    end = pd.Timestamp(end)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    tables, truth = {}, {}
    for name in info.get("files", {}):
        t = pq.read_table(table_path(root, name))
        if name.startswith(TRUTH_DIR + "/"):
            truth[name.split("/", 1)[1]] = t
            continue
        col = AS_OF_COLUMNS.get(name)
        if col is not None:
            cut = pa.scalar(end.to_pydatetime(), type=t.schema.field(col).type)
            t = t.filter(pc.less(t[col], cut))
            for later in _LATER.get(name, ()):
                if later in t.column_names:
                    c = t[later]
                    t = t.set_column(t.column_names.index(later), later, pc.if_else(
                        pc.less(c, pa.scalar(end.to_pydatetime(), type=c.type)), c,
                        pa.nulls(len(t), c.type)))
        tables[name] = t
    if "order_items" in tables and "orders" in tables:
        kept = tables["orders"]["order_id"]
        tables["order_items"] = tables["order_items"].filter(
            pc.is_in(tables["order_items"]["order_id"], value_set=kept))
    if not len(tables.get("orders", [])):
        raise DatasetError(f"{root}: no order before {end:%Y-%m-%d %H:%M} UTC; choose a "
                           "later date for --as-of")
    extra = {}
    params = root / TRUTH_DIR / "params.json"
    if params.exists():
        extra[f"{TRUTH_DIR}/params.json"] = params.read_text(encoding="utf-8")
    meta = {k: v for k, v in info.items() if k not in _COMPUTED}
    meta.update(as_of=end.isoformat(), as_of_source_hash=info.get("dataset_hash"))
    return write_dataset(out, tables, truth=truth, extra_files=extra, manifest=meta)


def validate(source, n_examples: int = 5, *, backend: str = "duckdb",
             session=None) -> ValidationReport:
    """Check a dataset folder (or a mapping of tables) against the canonical schema.

    Reads each table's Parquet file lazily through DuckDB, so a ten-million-row
    event table is checked without loading it into pandas; a missing manifest, a
    missing required table or an unreadable file is reported as a violation, next
    to every broken rule (:func:`workbench.schema.validate` runs the rules).

    Parameters
    ----------
    source
        A dataset folder (Parquet tables + manifest.json) or a mapping of table
        name to pandas DataFrame or pyarrow Table.
    n_examples
        How many offending keys to list per violation.
    backend, session
        The engine the rules run on (:func:`workbench.engines.connect`): DuckDB, or
        Spark (a local session, or ``session``).
    """
    from .engines import connect

    if isinstance(source, Mapping):
        return validate_tables(source, n_examples)
    if not isinstance(source, str | Path):
        raise TypeError("validate() takes a dataset folder or a mapping of table name to "
                        f"DataFrame / pyarrow.Table, not {type(source).__name__}")
    root = Path(source)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder")
    con = connect(backend, session=session)
    problems, present, listed = [], {}, set()
    if not (root / MANIFEST).exists():
        problems.append(Violation("*", MANIFEST, "dataset has no manifest.json (an incomplete "
                                  "write, or not a dataset folder)", 0))
    else:
        try:
            listed = set(load_manifest(root).get("files", {}))
        except DatasetError as exc:
            problems.append(Violation("*", MANIFEST, str(exc), 0))
    for name, spec in TABLES.items():
        f = table_path(root, name)
        if not f.exists():
            if spec.required or name in listed:  # an optional table the manifest lists
                problems.append(Violation(name, "*", f"table file {f.name} is missing", 0))
            continue
        try:
            present[name] = con.read_parquet(f, table_name=name)
        except Exception as exc:
            problems.append(Violation(name, "*", f"cannot read {f.name}: "
                                      f"{str(exc).splitlines()[0][:200]}", 0))
    # a missing table was reported above: the schema only sees what is there
    return validate_tables(present, n_examples, con=con, source=str(root),
                           problems=problems, missing_reported=True)


def require_tables(con, feature: str, tables: dict[str, tuple[str, ...]]) -> None:
    """Raise a clear error naming the table or column a feature needs and the dataset lacks."""
    have = set(con.list_tables())
    for name, cols in tables.items():
        if name not in have:
            raise DatasetError(f"{feature}: the dataset has no {name!r} table")
        missing = [c for c in cols if c not in con.table(name).columns]
        if missing:
            raise DatasetError(f"{feature}: table {name!r} lacks column(s) {missing}")


def ts_literal(when, table, column: str):
    """``when`` as an Ibis literal comparable with ``table[column]`` (naive or UTC)."""
    ts = pd.Timestamp(when)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if table[column].type().timezone is None:
        ts = ts.tz_localize(None)
    return ibis.literal(ts)


def has_truth(source, table: str | None = None) -> bool:
    """Whether a dataset carries the simulator's truth (table ``table``, or any).

    The one way to ask it: ``source`` is an open connection
    (:func:`open_dataset` registers truth tables as ``truth_<name>``) or a dataset
    folder (its manifest lists ``truth/<name>``).  ``table`` is a truth table's name,
    with or without its ``truth/`` prefix.  Imported datasets have none.
    """
    if table is not None and table.startswith(TRUTH_DIR + "/"):
        table = table[len(TRUTH_DIR) + 1:]  # "truth/customers" names "customers" too
    if isinstance(source, str | Path):
        files = load_manifest(source).get("files", {})
        names = {n.split("/", 1)[1] for n in files if n.startswith(TRUTH_DIR + "/")}
    else:
        names = {n[len("truth_"):] for n in source.list_tables() if n.startswith("truth_")}
    return bool(names) if table is None else table in names
