"""The engines a dataset's Ibis expressions run on: DuckDB here, Spark or BigQuery at scale.

Every validation rule and feature table is an Ibis expression over the canonical tables,
so the same code runs wherever Ibis can compile it; what changes is the connection.

* ``"duckdb"`` (default): embedded, in-process; the dataset's Parquet files are views.
* ``"pyspark"``: a Spark session — by default a local one (``local[N]``, started here,
  Java 17 and the ``pyspark`` package needed), or the caller's own session on a cluster
  (``session=spark``).  The Parquet files are read by Spark, so on a cluster the dataset
  folder must be on a mount the driver and every executor read; for HDFS or S3, register
  the canonical tables in the session's catalog and pass ``ibis.pyspark.connect(spark)``.
* BigQuery (or any other Ibis backend): connect with Ibis yourself, with the canonical
  tables in one dataset, and hand the connection to :func:`workbench.open_dataset`::

      con = ibis.bigquery.connect(project_id="my-project", dataset_id="store")
      con = workbench.open_dataset(con)

Only aggregates come back to Python: the engine computes the features and the models
fit on their sufficient statistics (see the README's "Beyond one machine").
"""

from __future__ import annotations

import functools
import os
import shutil
import sys

import ibis
import ibis.expr.datatypes as dt

BACKENDS = ("duckdb", "pyspark")


class EngineError(RuntimeError):
    """An engine cannot be started here (what is missing, and how to get it)."""

#: cores a local Spark session uses (``local[N]``)
SPARK_LOCAL_CORES = 2


@functools.cache
def local_spark_session(cores: int = SPARK_LOCAL_CORES, memory: str = "2g"):
    """A local Spark session for this process (started once; Spark keeps one per JVM).

    Clock in UTC (as the DuckDB connection: dates truncate in UTC everywhere), no web UI,
    few shuffle partitions (a laptop's data is small for Spark's default 200), and
    Arrow for moving results to pandas.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - in the lock
        raise EngineError("backend 'pyspark' needs the pyspark package: "
                          "pip install 'ecom-workbench[spark]'") from exc
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and os.path.exists(
            os.path.join(java_home, "bin", "java"))):
        raise EngineError("backend 'pyspark' needs Java 17: no `java` on PATH and no "
                          "JAVA_HOME (on Debian: apt-get install openjdk-17-jre-headless); "
                          "or run on the default backend, duckdb")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter
    spark = (SparkSession.builder.master(f"local[{cores}]").appName("workbench")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", str(max(2, 2 * cores)))
             .config("spark.driver.memory", memory)
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def connect(backend: str = "duckdb", *, session=None):
    """A fresh Ibis connection on ``backend`` (``"duckdb"`` or ``"pyspark"``).

    ``session``: for ``"pyspark"``, the Spark session to use (a cluster's); a local one
    otherwise (:func:`local_spark_session`).
    """
    if backend == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")  # date truncation happens in UTC, everywhere
        return con
    if backend == "pyspark":
        spark = session if session is not None else local_spark_session()
        if spark.conf.get("spark.sql.session.timeZone") != "UTC":
            raise EngineError("the Spark session's spark.sql.session.timeZone must be 'UTC' "
                             "(dates truncate in UTC, as on DuckDB); got "
                             f"{spark.conf.get('spark.sql.session.timeZone')!r}")
        _spark_timestamps_are_utc()
        return ibis.pyspark.connect(spark)
    raise EngineError(f"backend must be one of {BACKENDS}, got {backend!r}")


def _spark_timestamps_are_utc() -> None:
    """Map Spark's ``TIMESTAMP`` to Ibis's ``timestamp('UTC')``, the canonical type.

    Spark's ``TIMESTAMP`` is an instant (stored in UTC, shown in the session's zone), so
    with the session in UTC it is exactly the canonical schema's type.  Ibis 12 maps it
    to a naive timestamp (as it does ``TIMESTAMP_NTZ``), which would make the schema
    refuse every Spark dataset and hand naive times to the models; the mapping is
    corrected here, for the Spark backend only (``TIMESTAMP_NTZ`` stays naive).
    """
    from ibis.backends.pyspark import datatypes as sdt
    from pyspark.sql import types as pt

    def utc(nullable: bool = True):
        return ibis.expr.datatypes.Timestamp(timezone="UTC", nullable=nullable)

    sdt._from_pyspark_dtypes[pt.TimestampType] = utc


@ibis.udf.scalar.builtin(name="unix_micros")
def _unix_micros(ts) -> dt.int64:  # pragma: no cover - compiled to SQL, never called
    """Microseconds since the epoch.

    sqlglot writes DuckDB's ``epoch_us``; Spark and BigQuery have ``unix_micros``.
    """


def epoch_s(ts):
    """Seconds since the epoch, with their microseconds, on every engine.

    Ibis's ``epoch_seconds()`` is DuckDB's ``EPOCH`` (fractional) but Spark's
    ``unix_timestamp`` (whole seconds), so durations and orderings within a second would
    differ between engines; microseconds are exact on all (2^53 us is year 2255).
    """
    return _unix_micros(ts) / 1_000_000


def backend_name(con) -> str:
    """The Ibis backend's name of a connection (``"duckdb"``, ``"pyspark"``, ...)."""
    from ibis.backends import BaseBackend

    if not isinstance(con, BaseBackend):
        raise EngineError("expected a dataset folder or an Ibis connection (ibis.duckdb."
                          "connect(), ibis.pyspark.connect(spark), ibis.bigquery.connect(...)),"
                          f" not {type(con).__name__}")
    return con.name


#: rows per Arrow record batch when a per-unit table is fetched (:func:`fetch_frame`)
FETCH_BATCH_ROWS = 1_000_000


def fetch_frame(expr, batch_rows: int = FETCH_BATCH_ROWS):
    """``expr.execute()`` for a table of one row per unit (a customer, a send), in batches.

    The engine streams Arrow record batches of ``batch_rows`` rows (DuckDB as it reads;
    Ibis's Spark backend collects them first), kept as Arrow, and the pandas frame is
    built a column at a time, each Arrow column freed once converted: the peak is the
    result once plus one column, where ``execute()`` holds the whole Arrow result beside
    its pandas copy (issue 20: rows a model needs come in batches).  Row order and dtypes
    are as ``execute()`` gives them for these tables (integers, floats, strings, UTC
    timestamps; tested equal).
    """
    import pandas as pd
    import pyarrow as pa

    reader = expr.to_pyarrow_batches(chunk_size=batch_rows)
    schema = reader.schema  # Ibis's; DuckDB's batches may carry a literal as a decimal
    batches = [b if b.schema == schema else b.cast(schema) for b in reader]
    table = pa.Table.from_batches(batches, schema=schema)
    del reader, batches
    columns = {}
    for name in list(table.column_names):
        columns[name] = table.column(name).to_pandas()
        table = table.drop_columns([name])  # its buffers go with the last reference
    return pd.DataFrame(columns, copy=False)
