"""A dataset's messages as Klaviyo-style metric events (``klaviyo_events.csv``).

One row per event, the columns :mod:`workbench.importers.messages` reads:
``Event ID``, ``Timestamp`` (ISO 8601 in UTC with its ``+00:00`` offset, to the
microsecond), ``Metric``, ``Email``, ``Phone Number``, ``External ID``, ``$message``,
``$flow``, ``Campaign Name``, ``Flow Name``, ``Apple Privacy Open``.

For each message:

* ``Received Email`` / ``Received SMS`` at ``sent_at`` when delivered, otherwise
  ``Bounced Email`` / ``Failed to Deliver SMS`` at ``sent_at``;
* ``Opened Email`` at ``opened_at`` (email only);
* ``Clicked Email`` / ``Clicked SMS`` at ``clicked_at``;
* ``Unsubscribed`` / ``Unsubscribed from SMS`` at ``unsubscribed_at``.

For each order that carries a message (``orders.message_id``, last click): ``Placed
Order`` at ``placed_at`` with ``$attributed_message`` the message, ``Order Name``
``#<order_id>`` (the Shopify exporter's ``Name``) and ``$value`` the revenue — how
Klaviyo credits an order to the message a recipient engaged with, so an import
restores the attribution.

The profile is synthetic: ``Email`` is ``customer<id>@example.com`` -- the address
scheme of the Shopify exporter, so a Shopify export and a Klaviyo export of one
store link up on import (both pseudonymize that address with the dataset's salt) --
``Phone Number`` a ``+1555...`` number derived from the id (SMS events only), and
``External ID`` the canonical ``customer_id``.  ``$message`` is the canonical
``message_id`` (one send to one profile; Klaviyo's own ``$message`` names a campaign
or flow message sent to many), ``Event ID`` is ``<message_id>-<metric code>``,
``$flow`` the canonical campaign and ``Campaign Name`` / ``Flow Name`` its label
(:data:`~workbench.vocab.CAMPAIGN_LABELS`; another campaign's name as it is).

What the format cannot carry: experiment and arm, discount_pct, cost, product_ids,
trigger_id, an SMS open (Klaviyo has no such metric), whether an open was a machine
open (``Apple Privacy Open`` is left empty: the canonical ``opened_at`` does not say),
and every other table (orders only as the attribution above).  The file is written
through DuckDB from the Parquet files, so a large messages table is never loaded into
memory; it is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from ..importers import Progress, quiet
from ..store import DatasetError, load_manifest, table_path
from ..vocab import CAMPAIGN_LABELS

EVENTS_FILE = "klaviyo_events.csv"
COLUMNS = ("Event ID", "Timestamp", "Metric", "Email", "Phone Number", "External ID",
           "$message", "$flow", "Campaign Name", "Flow Name", "Apple Privacy Open",
           "$attributed_message", "Order Name", "$value")

#: (metric code, metric name by channel, timestamp column, condition)
_EVENTS = (
    ("r", {"email": "Received Email", "sms": "Received SMS"}, "sent_at", "delivered"),
    ("b", {"email": "Bounced Email", "sms": "Failed to Deliver SMS"}, "sent_at",
     "NOT delivered"),
    ("o", {"email": "Opened Email"}, "opened_at", "opened_at IS NOT NULL"),
    ("c", {"email": "Clicked Email", "sms": "Clicked SMS"}, "clicked_at",
     "clicked_at IS NOT NULL"),
    ("u", {"email": "Unsubscribed", "sms": "Unsubscribed from SMS"}, "unsubscribed_at",
     "unsubscribed_at IS NOT NULL"),
)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _query(parquet: Path, orders: Path | None = None) -> str:
    label = " ".join(f"WHEN {_sql_str(k)} THEN {_sql_str(v)}" for k, v in
                     CAMPAIGN_LABELS.items())
    name = f"CASE campaign {label} ELSE campaign END"
    parts = []
    for code, metric, col, cond in _EVENTS:
        m = " ".join(f"WHEN {_sql_str(ch)} THEN {_sql_str(v)}" for ch, v in metric.items())
        parts.append(f"""
        SELECT CAST(message_id AS VARCHAR) || '-{code}' AS "Event ID",
               strftime({col}, '%Y-%m-%dT%H:%M:%S.%f+00:00') AS "Timestamp",
               CASE channel {m} END AS "Metric",
               'customer' || CAST(customer_id AS VARCHAR) || '@example.com' AS "Email",
               CASE WHEN channel = 'sms' THEN '+1555' || lpad(CAST(
                   hash(CAST(customer_id AS VARCHAR)) % 10000000 AS VARCHAR), 7, '0')
                   END AS "Phone Number",
               CAST(customer_id AS VARCHAR) AS "External ID",
               CAST(message_id AS VARCHAR) AS "$message",
               campaign AS "$flow", {name} AS "Campaign Name", {name} AS "Flow Name",
               CAST(NULL AS VARCHAR) AS "Apple Privacy Open",
               CAST(NULL AS VARCHAR) AS "$attributed_message",
               CAST(NULL AS VARCHAR) AS "Order Name", CAST(NULL AS DOUBLE) AS "$value",
               {col} AS _ts, {code!r} AS _code
        FROM read_parquet({_sql_str(str(parquet))})
        WHERE ({cond}) AND channel IN ({', '.join(_sql_str(c) for c in metric)})""")
    if orders is not None:
        oid = "CAST(order_id AS VARCHAR)"
        parts.append(f"""
        SELECT 'order-' || {oid} AS "Event ID",
               strftime(placed_at, '%Y-%m-%dT%H:%M:%S.%f+00:00') AS "Timestamp",
               'Placed Order' AS "Metric",
               'customer' || CAST(customer_id AS VARCHAR) || '@example.com' AS "Email",
               CAST(NULL AS VARCHAR) AS "Phone Number",
               CAST(customer_id AS VARCHAR) AS "External ID",
               CAST(NULL AS VARCHAR) AS "$message", CAST(NULL AS VARCHAR) AS "$flow",
               CAST(NULL AS VARCHAR) AS "Campaign Name", CAST(NULL AS VARCHAR) AS "Flow Name",
               CAST(NULL AS VARCHAR) AS "Apple Privacy Open",
               CAST(message_id AS VARCHAR) AS "$attributed_message",
               CASE WHEN starts_with({oid}, '#') THEN {oid} ELSE '#' || {oid} END
                   AS "Order Name",
               revenue AS "$value", placed_at AS _ts, 'p' AS _code
        FROM read_parquet({_sql_str(str(orders))})
        WHERE message_id IS NOT NULL""")
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    return f"SELECT {cols} FROM ({' UNION ALL '.join(parts)}) ORDER BY _ts, \"$message\", _code"


def export(dataset: Path, out: Path, *, progress: Progress = quiet, **options) -> list[Path]:
    """Write ``dataset``'s messages as ``out/klaviyo_events.csv``; the files written.

    Other formats' options (``layout``, ``file_format``) are accepted and ignored.

    Raises
    ------
    workbench.store.DatasetError
        ``dataset`` is not a dataset, or has no messages table.
    """
    dataset, out = Path(dataset), Path(out)
    files = load_manifest(dataset).get("files", {})
    if "messages" not in files:
        raise DatasetError(f"{dataset}: the dataset has no messages table to export")
    out.mkdir(parents=True, exist_ok=True)
    target = out / EVENTS_FILE
    part = out / (EVENTS_FILE + ".part")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        orders = table_path(dataset, "orders") if "orders" in files else None
        con.execute(f"COPY ({_query(table_path(dataset, 'messages'), orders)}) TO "
                    f"{_sql_str(str(part))} (HEADER, DELIMITER ',')")
        n = con.execute(f"SELECT count(*) FROM read_csv({_sql_str(str(part))}, "
                        "all_varchar = true)").fetchone()[0]
    finally:
        con.close()
    os.replace(part, target)
    progress(f"wrote {n:,} events to {target}")
    return [target]


__all__ = ["COLUMNS", "EVENTS_FILE", "export"]
