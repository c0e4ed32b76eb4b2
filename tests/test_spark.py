"""The same validation and feature tables on Spark as on DuckDB (issue 20).

A local Spark session (``local[2]``, started by the test; Java 17 and ``pyspark`` from the
package index) reads a simulated dataset's Parquet files; every rule of the schema and
every feature table the analyses start from is computed there by the same Ibis
expressions and compared with DuckDB's, row for row.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.skipif(shutil.which("java") is None,
                                reason="Spark needs Java 17 (on every CI machine)")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from workbench.simulate import scenario, simulate
    from workbench.store import save_simulation

    path = tmp_path_factory.mktemp("spark") / "store"
    # the default store (campaigns, the seasonal test, holdouts, messages) whose cart
    # reminders also randomize a discount: every feature has rows to compute
    cfg = scenario("cart_discounts", n_customers=800, days=120)
    return save_simulation(simulate(cfg, seed=5), path)


@pytest.fixture(scope="module", autouse=True)
def small_queries():
    """Spark compiles each query's plan to Java (whole-stage codegen), which pays on big
    data; on a test's thousands of rows it is most of a query's time (measured: -20%
    without it). A runtime setting of the one local session every test here uses."""
    from workbench.engines import local_spark_session

    local_spark_session().conf.set("spark.sql.codegen.wholeStage", "false")


@pytest.fixture(scope="module")
def engines(dataset):
    from workbench.store import open_dataset

    return open_dataset(dataset), open_dataset(dataset, backend="pyspark")


def _frame(x) -> pd.DataFrame:
    """A result as a frame in a canonical row order, times in one unit."""
    if hasattr(x, "execute"):
        x = x.execute()
    if isinstance(x, pd.Series):
        x = x.to_frame()
    named = x.index.name is not None or isinstance(x.index, pd.MultiIndex)
    x = x.reset_index(drop=not named)
    for c in x.columns:
        if isinstance(x[c].dtype, pd.DatetimeTZDtype):
            x[c] = x[c].astype("datetime64[ns, UTC]")
        elif str(x[c].dtype).startswith("datetime64"):
            x[c] = x[c].astype("datetime64[ns]")
    return x.sort_values(list(x.columns)).reset_index(drop=True)


def _same(a, b, where: str) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif hasattr(a, "__dataclass_fields__"):
        _same({k: getattr(a, k) for k in a.__dataclass_fields__},
              {k: getattr(b, k) for k in b.__dataclass_fields__}, where)
    elif isinstance(a, pd.DataFrame | pd.Series) or hasattr(a, "execute"):
        fa, fb = _frame(a), _frame(b)
        assert len(fa) > 0, f"{where}: no rows to compare"
        # sums over a few thousand rows in another order: equal to rounding
        pd.testing.assert_frame_equal(fa, fb, check_dtype=False, rtol=1e-9, atol=1e-9,
                                      obj=where)
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12, nan_ok=True), where
    else:
        assert a == b, where


#: where the CLV features that take a date cut the test store's 120 days
CAL = pd.Timestamp("2025-03-01", tz="UTC")


def _features():
    from workbench.analyses.attribution.journeys import journeys
    from workbench.analyses.browse_intent.features import browse_sessions
    from workbench.analyses.cart_timing.features import abandonment_episodes
    from workbench.analyses.clv.features import (
        cohort_triangles,
        holdout_purchase_days,
        returns_rate,
        rfm_summary,
    )
    from workbench.analyses.discount.features import cart_discount_units, discount_units
    from workbench.analyses.overview.features import store_overview
    from workbench.analyses.overview.operations import message_funnel, weekly_efficiency

    return {"abandonment episodes": abandonment_episodes, "discount units": discount_units,
            "cart discount units": cart_discount_units, "journeys": journeys,
            "RFM summary": rfm_summary, "cohorts": cohort_triangles,
            "returns rate": lambda con: returns_rate(con, CAL),
            "holdout purchase days": lambda con: holdout_purchase_days(
                con, CAL, CAL + pd.Timedelta(days=60)),
            "store overview": store_overview, "message funnel": message_funnel,
            "weekly efficiency": weekly_efficiency, "browse sessions": browse_sessions}


def test_every_feature_table_is_the_same_on_spark(engines):
    """One test for all (each Spark start costs seconds; xdist would start one per worker
    for tests split across them); every mismatch is named."""
    duck, spark = engines
    wrong = {}
    for name, feature in _features().items():
        try:
            _same(feature(duck), feature(spark), name)
        except AssertionError as exc:
            wrong[name] = str(exc)[:400]
    assert not wrong, wrong


@pytest.mark.slow
def test_a_whole_run_on_spark_writes_what_duckdb_writes(dataset, tmp_path):
    """``workbench run --backend pyspark``: every analysis, same files; numbers equal to
    the rounding of sums taken in another order (the CLV fits start from them)."""
    from workbench.pipeline import run_all

    outs = {}
    for backend in ("duckdb", "pyspark"):
        outs[backend] = tmp_path / backend
        run_all(dataset, outs[backend], echo=lambda s: None, apps=False, backend=backend)
    files = sorted(p.name for p in outs["duckdb"].glob("*.csv"))
    assert files == sorted(p.name for p in outs["pyspark"].glob("*.csv")) and files
    for name in files:
        a, b = (pd.read_csv(outs[k] / name) for k in ("duckdb", "pyspark"))
        pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-8, obj=name)


def test_the_schema_passes_the_same_dataset_on_spark(dataset):
    from workbench.engines import backend_name
    from workbench.store import open_dataset, validate

    on_duck, on_spark = validate(dataset), validate(dataset, backend="pyspark")
    assert on_duck.ok and on_spark.ok, on_spark.summary()
    assert on_spark.row_counts == on_duck.row_counts and on_duck.row_counts["events"] > 10_000
    # the canonical timestamp type on Spark: an instant (TIMESTAMP), read as UTC
    spark = open_dataset(dataset, backend="pyspark")
    assert backend_name(spark) == "pyspark"
    assert spark.table("orders").schema()["placed_at"].timezone == "UTC"


@pytest.mark.slow  # every rule's query already runs on Spark in the test above (0 rows)
def test_spark_finds_the_same_violations(dataset, tmp_path):
    """A dataset with broken rows: both engines name the same table, column, rule and rows."""
    from workbench.store import validate

    bad = tmp_path / "bad"
    shutil.copytree(dataset, bad)
    orders = pq.read_table(bad / "orders.parquet").to_pandas()
    orders.loc[orders.index[:3], "revenue"] = -1.0  # negative money
    orders.loc[orders.index[3], "customer_id"] = 10**9  # an order of nobody
    pq.write_table(pa.Table.from_pandas(orders, preserve_index=False), bad / "orders.parquet")
    msgs = pq.read_table(bad / "messages.parquet").to_pandas()
    opened = msgs.index[msgs.opened_at.notna()][:2]
    msgs.loc[opened, "opened_at"] = msgs.loc[opened, "sent_at"] - pd.Timedelta(seconds=6)
    pq.write_table(pa.Table.from_pandas(msgs, preserve_index=False), bad / "messages.parquet")

    def found(report):
        return sorted((v.table, v.column, v.rule, v.n_rows, tuple(map(str, v.examples)))
                      for v in report.violations)

    on_duck, on_spark = validate(bad), validate(bad, backend="pyspark")
    assert not on_duck.ok
    assert found(on_spark) == found(on_duck)
    columns = {(v.table, v.column) for v in on_duck.violations}
    assert {("orders", "revenue"), ("messages", "opened_at")} <= columns


def test_a_connection_with_the_tables_is_used_as_it_is(dataset):
    """A Spark catalog (or BigQuery dataset) that has the canonical tables: open_dataset
    takes the connection itself and adds empty stand-ins only for what it lacks."""
    from workbench.engines import connect
    from workbench.store import open_dataset

    con = connect("pyspark")
    for name in ("customers", "orders", "order_items", "products"):
        con.read_parquet(dataset / f"{name}.parquet", table_name=name)
    con.raw_sql("DROP VIEW IF EXISTS messages")
    opened = open_dataset(con)
    assert opened is con
    assert int(con.table("messages").count().execute()) == 0
    assert "message_id" in con.table("messages").columns
    n = int(con.table("orders").count().execute())
    assert n == pq.read_metadata(dataset / "orders.parquet").num_rows
    assert np.isfinite(float(con.table("orders").revenue.sum().execute()))


def test_an_engine_that_cannot_start_says_what_it_needs(dataset, monkeypatch):
    """Without Java, `--backend pyspark` fails with one line naming Java 17 and the
    fallback, exit code 1 as any refused dataset, not a JVM traceback; a non-connection is
    refused by name."""
    from click.testing import CliRunner

    from workbench import engines
    from workbench.cli import main
    from workbench.store import open_dataset

    monkeypatch.setattr(engines.shutil, "which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(engines, "local_spark_session",
                        engines.local_spark_session.__wrapped__)  # not the cached session
    res = CliRunner().invoke(main, ["validate", str(dataset), "--backend", "pyspark"])
    assert res.exit_code == 1 and "needs Java 17" in res.output and "duckdb" in res.output
    assert "Traceback" not in res.output
    with pytest.raises(engines.EngineError, match="not dict"):
        open_dataset({"orders": None})
    with pytest.raises(engines.EngineError, match="backend must be one of"):
        open_dataset(dataset, backend="bigquery")
