"""Malformed datasets each produce one clear report naming the right table and column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.schema import TABLES
from workbench.store import validate


def _copy(tables):
    return {k: v.copy() for k, v in tables.items()}


def first_where(df, mask):
    idx = np.flatnonzero(np.asarray(mask))
    assert idx.size, "fixture lacks a row to corrupt"
    return df.index[idx[0]]


# Each case: (id, mutate(tables) -> None, table, column, rule fragment)
def drop_column(t):
    t["orders"] = t["orders"].drop(columns=["revenue"])


def wrong_type(t):
    t["products"]["price"] = t["products"]["price"].astype(str)


def duplicate_key(t):
    t["customers"] = pd.concat([t["customers"], t["customers"].iloc[[3]]], ignore_index=True)


def orphan_session_customer(t):
    t["sessions"].loc[t["sessions"].index[5], "customer_id"] = 10_000_000


def orphan_order_item_product(t):
    t["order_items"].loc[t["order_items"].index[2], "product_id"] = 999_999


def click_before_open(t):
    m = t["messages"]
    i = first_where(m, m["clicked_at"].notna() & (m["channel"] == "email"))
    m.loc[i, "clicked_at"] = m.loc[i, "opened_at"] - pd.Timedelta(minutes=5)


def open_without_delivery(t):
    m = t["messages"]
    i = first_where(m, m["opened_at"].notna())
    m.loc[i, "delivered"] = False


def purchase_before_session(t):
    o = t["orders"]
    s = t["sessions"].set_index("session_id")["started_at"]
    i = o.index[0]
    o.loc[i, "placed_at"] = s[o.loc[i, "session_id"]] - pd.Timedelta(hours=1)


def event_before_session(t):
    e = t["events"]
    s = t["sessions"].set_index("session_id")["started_at"]
    i = e.index[7]
    e.loc[i, "ts"] = s[e.loc[i, "session_id"]] - pd.Timedelta(minutes=1)


def return_before_order(t):
    r, o = t["returns"], t["orders"].set_index("order_id")["placed_at"]
    i = r.index[0]
    r.loc[i, "returned_at"] = o[r.loc[i, "order_id"]] - pd.Timedelta(days=1)


def return_exceeds_order(t):
    r, o = t["returns"], t["orders"].set_index("order_id")["revenue"]
    i = r.index[0]
    r.loc[i, "amount"] = o[r.loc[i, "order_id"]] + 50.0


def naive_timestamps(t):
    t["events"]["ts"] = t["events"]["ts"].dt.tz_localize(None)


def non_utc_timestamps(t):
    # an instant in another zone is converted, not rejected: stored UTC in Parquet
    t["customers"]["signup_at"] = t["customers"]["signup_at"].dt.tz_convert("Europe/Berlin")


def negative_price(t):
    t["products"].loc[t["products"].index[4], "price"] = -3.0


def cost_above_price(t):
    p = t["products"]
    p.loc[p.index[6], "unit_cost"] = p.loc[p.index[6], "price"] + 1


def empty_table(t):
    t["events"] = t["events"].iloc[0:0]


def missing_table(t):
    del t["orders"]


def bad_enum(t):
    t["events"].loc[t["events"].index[0], "event_name"] = "addToCart"


def null_key(t):
    t["orders"]["customer_id"] = t["orders"]["customer_id"].astype("Int64")
    t["orders"].loc[t["orders"].index[1], "customer_id"] = pd.NA


def revenue_mismatch(t):
    t["orders"].loc[t["orders"].index[3], "revenue"] += 10.0


def session_customer_mismatch(t):
    e = t["events"]
    e.loc[e.index[0], "customer_id"] = e["customer_id"].max() if (
        e.loc[e.index[0], "customer_id"] != e["customer_id"].max()) else 1


def discount_too_large(t):
    t["messages"].loc[t["messages"].index[0], "discount_pct"] = 100.0


def unsubscribe_before_send(t):
    m = t["messages"]
    i = first_where(m, m["unsubscribed_at"].notna())
    m.loc[i, "unsubscribed_at"] = m.loc[i, "sent_at"] - pd.Timedelta(hours=2)


def click_session_before_click(t):
    s = t["sessions"]
    i = first_where(s, s["message_id"].notna())
    s.loc[i, "started_at"] = s.loc[i, "started_at"] - pd.Timedelta(days=1)


def consumable_without_supply(t):
    p = t["products"]
    i = first_where(p, p["purchase_type"] == "consumable")
    p.loc[i, "supply_days"] = np.nan


CASES = [
    ("missing column", drop_column, "orders", "revenue", "required column is missing"),
    ("wrong type", wrong_type, "products", "price", "must be floating-point number"),
    ("duplicate key", duplicate_key, "customers", "customer_id", "key must be unique"),
    ("orphan foreign key", orphan_session_customer, "sessions", "customer_id",
     "references a missing customers.customer_id"),
    ("orphan product", orphan_order_item_product, "order_items", "product_id",
     "references a missing products.product_id"),
    ("click before open", click_before_open, "messages", "clicked_at",
     "must not precede opened_at"),
    ("open without delivery", open_without_delivery, "messages", "opened_at",
     "requires a delivered message"),
    ("purchase before session", purchase_before_session, "orders", "placed_at",
     "purchase must follow the start of its session"),
    ("event before session", event_before_session, "events", "ts",
     "must not precede its session's started_at"),
    ("return before order", return_before_order, "returns", "returned_at",
     "return must follow its order"),
    ("return exceeds order", return_exceeds_order, "returns", "amount",
     "exceed its revenue"),
    ("naive timestamps", naive_timestamps, "events", "ts", "timezone-aware UTC"),
    ("negative price", negative_price, "products", "price", "must be > 0"),
    ("cost above price", cost_above_price, "products", "unit_cost", "must be below price"),
    ("empty table", empty_table, "events", "*", "table is empty"),
    ("missing table", missing_table, "orders", "*", "table is missing"),
    ("unknown event name", bad_enum, "events", "event_name", "must be one of"),
    ("null foreign key", null_key, "orders", "customer_id", "must not be null"),
    ("revenue mismatch", revenue_mismatch, "orders", "revenue",
     "must equal sum(quantity * unit_price) - discount_amount"),
    ("event customer mismatch", session_customer_mismatch, "events", "customer_id",
     "must match its session's customer_id"),
    ("discount of 100%", discount_too_large, "messages", "discount_pct", "must be < 100"),
    ("unsubscribe before send", unsubscribe_before_send, "messages", "unsubscribed_at",
     "must not precede sent_at"),
    ("click session before click", click_session_before_click, "sessions", "started_at",
     "must not precede its message's clicked_at"),
    ("consumable without supply days", consumable_without_supply, "products", "supply_days",
     "required for consumables"),
]


def test_simulated_tables_are_valid(small_tables):
    report = validate(small_tables)
    assert report.ok, report.summary()
    assert report.row_counts["customers"] == 2000


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_dataset_is_reported(small_tables, case):
    _, mutate, table, column, fragment = case
    tables = _copy(small_tables)
    mutate(tables)
    report = validate(tables)
    assert not report.ok
    hits = [v for v in report.violations
            if v.table == table and v.column == column and fragment in v.rule]
    assert hits, f"expected {table}.{column} '{fragment}', got:\n{report.summary()}"
    text = report.summary()
    assert table in text and column in text
    # row-level rules name how many rows and which keys
    v = hits[0]
    if v.n_rows:
        assert v.examples, v
        assert v.n_rows >= 1


def test_row_level_violation_names_offending_keys(small_tables):
    tables = _copy(small_tables)
    p = tables["products"]
    p.loc[p.index[[4, 9]], "price"] = -1.0
    report = validate(tables)
    (v,) = [v for v in report.violations if v.column == "price" and "> 0" in v.rule]
    assert v.n_rows == 2
    assert list(v.examples) == sorted(p.loc[p.index[[4, 9]], "product_id"].tolist())


def test_every_violation_in_one_report(small_tables):
    """Several independent faults are reported together, not one per run."""
    tables = _copy(small_tables)
    negative_price(tables)
    duplicate_key(tables)
    click_before_open(tables)
    return_before_order(tables)
    report = validate(tables)
    found = {(v.table, v.column) for v in report.violations}
    assert {("products", "price"), ("customers", "customer_id"), ("messages", "clicked_at"),
            ("returns", "returned_at")} <= found


@pytest.mark.parametrize("way", ["one query", "the one query fails"])
def test_every_rule_in_one_query_finds_the_same_violations(small_tables, monkeypatch, way):
    """Spark and BigQuery count every rule in one query (a round trip each is slow there);
    the report is the one DuckDB's query per table gives, and when the combined query
    cannot run, the tables' own queries take over."""
    from workbench import schema

    tables = _copy(small_tables)
    for mutate in (negative_price, duplicate_key, click_before_open, return_before_order,
                   orphan_session_customer, revenue_mismatch, event_before_session):
        mutate(tables)
    want = validate(tables)
    real, sizes = schema._one_row, []

    def one_row(aggregates):
        sizes.append(len(aggregates))
        return None if way != "one query" and len(aggregates) > 1 else real(aggregates)

    monkeypatch.setattr(schema, "_one_query", lambda con: True)
    monkeypatch.setattr(schema, "_one_row", one_row)
    got = validate(tables)
    assert max(sizes) > 20  # the rules of every table and join went together
    assert got.violations == want.violations and len(want.violations) >= 7
    assert got.row_counts == want.row_counts


def test_non_utc_zone_is_accepted_as_instant(small_tables):
    tables = _copy(small_tables)
    non_utc_timestamps(tables)
    assert validate(tables).ok


def test_report_serialises(small_tables):
    tables = _copy(small_tables)
    negative_price(tables)
    d = validate(tables).to_dict()
    assert d["ok"] is False
    assert d["violations"][0]["table"] == "products"
    assert "<table" in validate(tables)._repr_html_()


def test_schema_lists_design_tables():
    assert set(TABLES) == {"customers", "products", "sessions", "events", "orders",
                           "order_items", "returns", "messages", "assignments"}


def test_validate_rejects_unknown_source():
    with pytest.raises(TypeError, match="dataset folder or a mapping"):
        validate(42)
