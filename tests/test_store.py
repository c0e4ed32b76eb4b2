"""Datasets are written atomically, described by their manifest, and open through Ibis."""

from __future__ import annotations

import json
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from workbench import store as store_mod
from workbench.schema import SCHEMA_VERSION
from workbench.store import (
    DatasetError,
    load_manifest,
    open_dataset,
    read_table,
    read_truth_params,
    save_simulation,
    validate,
    write_dataset,
)


def test_roundtrip_preserves_tables(tiny_store, tmp_path):
    path = save_simulation(tiny_store, tmp_path / "ds", "tiny")
    for name, table in tiny_store.tables.items():
        back = pq.read_table(path / f"{name}.parquet")
        assert back.equals(table), name
    assert read_table(path, "orders").shape[0] == tiny_store.tables["orders"].num_rows
    assert read_truth_params(path)["time_unit"] == "days"


def test_manifest_describes_the_dataset(tiny_store, tmp_path):
    path = save_simulation(tiny_store, tmp_path / "ds", "tiny")
    m = load_manifest(path)
    assert m["schema_version"] == SCHEMA_VERSION
    assert m["seed"] == tiny_store.seed
    assert m["config_hash"] == tiny_store.config.config_hash()
    assert m["scenario"] == "tiny"
    assert m["row_counts"] == {k: v.num_rows for k, v in tiny_store.tables.items()}
    assert m["created_at"].endswith("+00:00")
    assert m["generator"].startswith("workbench.simulate")


def test_dataset_hash_depends_on_content_only(tiny_store, tmp_path):
    a = load_manifest(save_simulation(tiny_store, tmp_path / "a"))["dataset_hash"]
    b = load_manifest(save_simulation(tiny_store, tmp_path / "b"))["dataset_hash"]
    assert a == b
    tables = dict(tiny_store.tables)
    tables["orders"] = tables["orders"].slice(1)
    c = load_manifest(write_dataset(tmp_path / "c", tables))["dataset_hash"]
    assert c != a


def test_open_dataset_registers_every_table(small_dataset):
    con = open_dataset(small_dataset)
    names = set(con.list_tables())
    assert {"customers", "orders", "events", "messages", "truth_carts",
            "truth_messages"} <= names
    orders = con.table("orders")
    m = load_manifest(small_dataset)
    assert int(orders.count().execute()) == m["row_counts"]["orders"]
    assert "truth_carts" not in open_dataset(small_dataset, truth=False).list_tables()


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_previous_dataset_intact(tiny_store, tmp_path, monkeypatch, exc):
    path = save_simulation(tiny_store, tmp_path / "ds")
    before = load_manifest(path)
    real = pq.write_table
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(store_mod.pq, "write_table", flaky)
    tables = dict(tiny_store.tables)
    tables["orders"] = tables["orders"].slice(5)
    with pytest.raises(type(exc)):
        write_dataset(path, tables)
    assert load_manifest(path) == before
    assert validate(path).ok
    leftovers = [p for p in os.listdir(tmp_path) if p != "ds"]
    assert leftovers == []  # no temporary folders left behind


def test_folder_without_manifest_is_refused(tiny_store, tmp_path):
    path = save_simulation(tiny_store, tmp_path / "ds")
    (path / "manifest.json").unlink()
    with pytest.raises(DatasetError, match="no manifest.json"):
        open_dataset(path)
    report = validate(path)
    assert any("manifest" in v.rule for v in report.violations)


def test_missing_table_file_is_reported(tiny_store, tmp_path):
    path = save_simulation(tiny_store, tmp_path / "ds")
    (path / "events.parquet").unlink()
    report = validate(path)
    assert any(v.table == "events" and "missing" in v.rule for v in report.violations)
    with pytest.raises(DatasetError, match="events"):
        open_dataset(path)


def test_corrupt_manifest_is_a_clear_error(tiny_store, tmp_path):
    path = save_simulation(tiny_store, tmp_path / "ds")
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_manifest(path)


def test_overwrite_can_be_refused(tiny_store, tmp_path):
    path = save_simulation(tiny_store, tmp_path / "ds")
    with pytest.raises(DatasetError, match="exists"):
        write_dataset(path, tiny_store.tables, overwrite=False)


def test_manifest_is_json_with_file_hashes(tiny_store, tmp_path):
    path = save_simulation(tiny_store, tmp_path / "ds")
    m = json.loads((path / "manifest.json").read_text())
    assert set(m["files"]) >= {"orders", "truth/carts"}
    assert all(len(f["sha256"]) == 64 for f in m["files"].values())


@pytest.mark.parametrize("batch_rows", [97, 1_000_000])
def test_a_per_unit_table_fetched_in_batches_equals_execute(small_dataset, batch_rows):
    """``fetch_frame`` streams a table of one row per unit in Arrow batches (the RFM
    summary, the send-time model's engagements): the same frame as ``execute()``,
    dtypes included — nullable integers, UTC timestamps, a literal DuckDB types as a
    decimal — and an empty result keeps its columns."""
    from workbench.analyses.clv.features import rfm_summary_expr, transactions
    from workbench.engines import fetch_frame

    con = open_dataset(small_dataset)
    o = con.table("orders").select("order_id", "customer_id", "placed_at", "revenue",
                                   "message_id").order_by("order_id")
    rfm = rfm_summary_expr(transactions(con), "2025-03-01", "2025-04-01")
    for expr in (o, rfm, o.filter(o.revenue < 0)):
        want = expr.execute()
        got = fetch_frame(expr, batch_rows=batch_rows)
        pd.testing.assert_frame_equal(got, want)
    assert len(rfm.execute()) > 97 and o.message_id.isnull().any().execute()
