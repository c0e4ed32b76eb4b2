"""GA4's BigQuery export: the importer on a hand-written export, the exporter, the round trip.

``tests/fixtures/ga4/events_20240101.json`` is written by hand from Google's
documented schema (see the README there) with every quirk a real export has;
the expected orders, revenue and buyers are computed here from the raw JSON
with the ``json`` module, independently of the importer's SQL.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.exporters.ga4 import export
from workbench.importers import IMPORTERS, ImportInputError
from workbench.importers.ga4 import JSON_COLUMNS, REASONS, GA4Importer, import_ga4
from workbench.pipeline import run_all
from workbench.simulate import scenario, simulate
from workbench.store import load_manifest, read_table, save_simulation, validate

FIXTURE = Path(__file__).parent / "fixtures" / "ga4" / "events_20240101.json"
TABLES = ("customers", "products", "sessions", "events", "orders", "order_items", "returns")


def raw_events() -> list[dict]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def expected_orders(events: list[dict]) -> dict[str, dict]:
    """The orders the module docstring's rules give, computed with plain Python."""
    seen: dict[str, dict] = {}
    for e in sorted((e for e in events if e.get("event_name") == "purchase"
                     and e.get("event_timestamp") and e.get("user_pseudo_id")),
                    key=lambda e: int(e["event_timestamp"])):
        ec = e.get("ecommerce") or {}
        params = {p["key"]: p["value"] for p in e["event_params"]}
        txn = ec.get("transaction_id") or params.get("transaction_id", {}).get("string_value")
        items = e.get("items") or []
        qty = [int(i["quantity"]) if i.get("quantity") is not None else 1 for i in items]
        prices = [i["price"] if i.get("price") is not None else i["item_revenue"] / q
                  for i, q in zip(items, qty, strict=True)]
        if txn in (None, "", "(not set)") or not items or min(qty) < 1 or txn in seen:
            continue
        gross = sum(q * p for q, p in zip(qty, prices, strict=True))
        rev = ec.get("purchase_revenue")
        extra = (ec.get("shipping_value") or 0) + (ec.get("tax_value") or 0)
        if rev > gross + 0.005:
            rev = rev - extra if rev - extra <= gross + 0.005 else gross
        seen[txn] = {"customer": e.get("user_id") or e["user_pseudo_id"], "revenue": rev,
                     "discount": round(gross - rev, 2), "lines": len(items)}
    return seen


@pytest.fixture(scope="module")
def fixture_import(tmp_path_factory):
    out = tmp_path_factory.mktemp("ga4") / "shop"
    res = import_ga4([FIXTURE.parent], out)
    return res, {t: read_table(out, t) for t in TABLES}


def test_the_fixture_gives_the_orders_revenue_and_buyers_of_the_raw_json(fixture_import):
    res, t = fixture_import
    want = expected_orders(raw_events())
    o = t["orders"].set_index("order_id")
    assert sorted(o.index) == sorted(want) == ["T1001", "T1002", "T1006"]
    assert o.revenue.sum() == pytest.approx(sum(w["revenue"] for w in want.values()))
    assert o.discount_amount.sum() == pytest.approx(sum(w["discount"] for w in want.values()))
    assert o.customer_id.nunique() == len({w["customer"] for w in want.values()}) == 3
    assert len(t["order_items"]) == sum(w["lines"] for w in want.values())
    assert res.report.ok and IMPORTERS["ga4"] is GA4Importer
    # the events' one currency is the dataset's (the report's amounts say EUR)
    assert load_manifest(res.path)["currency"] == "EUR"
    # T1001: items 2 x 20 + 10 = 50, purchase_revenue 45 -> 5 of discount;
    # T1002: revenue 60 includes 10 of shipping -> 50 = its items, no discount
    assert o.loc["T1001", ["revenue", "discount_amount"]].tolist() == [45.0, 5.0]
    assert o.loc["T1002", ["revenue", "discount_amount"]].tolist() == [50.0, 0.0]
    assert pd.isna(o.loc["T1006", "session_id"])  # a purchase without ga_session_id
    r = t["returns"]
    assert r[["order_id", "product_id", "amount"]].values.tolist() == [["T1001", "SKU-A1", 20.0]]


def test_each_quirk_is_rejected_or_counted_with_its_reason(fixture_import):
    res, t = fixture_import
    got = sorted(zip(res.rejects.source_row, res.rejects.reason, strict=True))
    assert got == [(7, REASONS["dup"]), (13, REASONS["no_txn"]), (14, REASONS["no_items"]),
                   (15, REASONS["neg_qty"]), (16, REASONS["ev_no_sid"]), (17, REASONS["ev_qty"]),
                   (21, REASONS["no_ts"]), (22, REASONS["no_user"])]
    assert set(res.rejects.table) == {FIXTURE.name}
    c = res.counts
    names = Counter(e.get("event_name") for e in raw_events())
    assert c["events_read"] == 22 and c["events_by_name"] == dict(names)
    assert c["merged_duplicate_purchases"] == 1 and c["orders"] == 3
    assert c["not_ecommerce_events"] == names["page_view"] + names["session_start"] + 1
    assert c["events_without_session"] == 2  # the add_to_cart of row 16 and purchase T1006
    assert c["fixed"] == {
        "e-commerce event without items or item_id: no product": 1,  # view_item, no items
        "item quantity missing: taken as 1": 1,
        "purchase item price missing: item_revenue / quantity": 1,
        "purchase item without item_id: product unknown": 1,
        "purchase_revenue above the items' value less shipping and tax taken as revenue": 1,
        "user_id pseudonymized (email or phone)": 2}
    assert "1 duplicate purchases merged" in res.summary()
    # one canonical event per item: view 1 + 1 without product, carts 2 + 1, checkout 2,
    # purchases = the order lines that have a session (T1001: 2, T1002: 2)
    assert t["events"].event_name.value_counts().to_dict() == {
        "add_to_cart": 3, "purchase": 4, "view_item": 2, "begin_checkout": 2}
    # emails and phones never in clear, anywhere in the dataset
    for df in t.values():
        text = df.astype(str).to_string()
        assert "alice@example.com" not in text and "555" not in text


def test_sessions_and_customers_follow_the_mapping(fixture_import):
    _, t = fixture_import
    s = t["sessions"].set_index("session_id")
    assert s.source.to_dict() == {
        "1111111111.1703900000-1704103200": "email",  # utm medium email
        "2222222222.1704114000-1704114000": "paid_search",  # cpc + gclid
        "3333333333.1704121200-1704121200": "social",  # facebook.com / referral
        "4444444444.1700000000-1704128400": "direct"}  # no traffic information
    assert s.message_id.isna().all()
    c = t["customers"].set_index("customer_id")
    assert c.loc["2222222222.1704114000", "acquisition_channel"] == "paid_search"
    assert pd.isna(c.loc["2222222222.1704114000", "region"])  # geo.region "(not set)"
    assert c.loc["cust-42", "signup_at"] == pd.Timestamp(1_700_000_000, unit="s", tz="UTC")
    assert not c.email_opt_in.any() and not c.sms_opt_in.any()


def test_a_reimport_into_the_same_folder_keeps_the_pseudonyms(fixture_import, tmp_path):
    res, t = fixture_import
    again = import_ga4([FIXTURE], res.path)  # the manifest's id_salt is reused
    assert again.counts["fixed"]["user_id pseudonymized (email or phone)"] == 2
    assert sorted(read_table(res.path, "customers").customer_id) == sorted(
        t["customers"].customer_id)
    other = import_ga4([FIXTURE], tmp_path / "elsewhere")  # a new folder, a new salt
    assert set(read_table(other.path, "customers").customer_id) != set(
        t["customers"].customer_id)


def test_gzip_plain_and_parquet_give_identical_datasets(tmp_path):
    gz = tmp_path / "gz" / "events_20240101.json.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    pq = tmp_path / "pq" / "events_20240101.parquet"
    pq.parent.mkdir()
    cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in JSON_COLUMNS.items()) + "}"
    ints = ("event_timestamp", "user_first_touch_timestamp")  # INT64 columns as Parquet has
    cast = ", ".join(f"TRY_CAST({c} AS BIGINT) AS {c}" for c in ints)
    # without collected_traffic_source, as exports before mid-2023 (the event parameters
    # carry the same source and medium here, so the dataset is the same)
    duckdb.sql(f"COPY (SELECT * EXCLUDE (collected_traffic_source) REPLACE ({cast}) "
               f"FROM read_json('{FIXTURE}', format='newline_delimited', columns={cols})) "
               f"TO '{pq}' (FORMAT PARQUET)")
    got = {}
    for name, src in {"plain": FIXTURE, "gz": gz, "parquet": pq}.items():
        GA4Importer(salt="s").run([src], tmp_path / name)
        got[name] = {t: read_table(tmp_path / name, t) for t in TABLES}
    for t in TABLES:
        pd.testing.assert_frame_equal(got["gz"][t], got["plain"][t])
        pd.testing.assert_frame_equal(got["parquet"][t], got["plain"][t])


def test_wrong_files_are_errors_naming_the_file_and_nothing_is_written(tmp_path):
    shop = tmp_path / "orders_export.csv"
    shop.write_text("Name,Email,Financial Status,Total\n#1001,a@b.co,paid,12.50\n")
    trunc = tmp_path / "events_20240102.json.gz"
    trunc.write_bytes(gzip.compress(FIXTURE.read_bytes() * 50)[:3000])
    other = tmp_path / "other.json"
    other.write_text('{"id": 1, "total": 3}\n{"id": 2, "total": 4}\n')
    notpq = tmp_path / "events_20240103.parquet"
    notpq.write_bytes(FIXTURE.read_bytes())
    for path, match in [(shop, r"orders_export\.csv: cannot be read as a GA4 export.*line"),
                        (notpq, r"events_20240103\.parquet: cannot be read .*\(Parquet\)"),
                        (trunc, r"events_20240102\.json\.gz: cannot be read .*line \d+"),
                        (other, r"other\.json: not a GA4 export")]:
        with pytest.raises(ImportInputError, match=match):
            import_ga4([path], tmp_path / "out")
        assert not (tmp_path / "out").exists()
    res = CliRunner().invoke(main, ["import", "ga4", str(shop), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "orders_export.csv" in res.output


def test_more_than_one_currency_is_an_error_naming_column_and_rows(tmp_path):
    lines = FIXTURE.read_text().splitlines()
    lines[18] = lines[18].replace('"EUR"', '"USD"')  # row 19: the purchase T1006
    f = tmp_path / "events_20240101.json"
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportInputError, match=r"event_params\.currency.*events_20240101\.json "
                                               r"rows \[19\].*in USD"):
        import_ga4([f], tmp_path / "out")


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    root = tmp_path_factory.mktemp("rt")
    store = simulate(scenario("tiny"), seed=3)
    ds = save_simulation(store, root / "canonical", "tiny")
    res = CliRunner().invoke(main, ["export", "ga4", str(ds), "--out", str(root / "ga4")])
    assert res.exit_code == 0, res.output
    imported = import_ga4([root / "ga4"], root / "imported")
    return store, root, imported


def test_the_exporter_writes_one_file_per_day_in_googles_layout(round_trip):
    store, root, _ = round_trip
    files = sorted((root / "ga4").iterdir())
    days = store.to_pandas("sessions").started_at.dt.strftime("%Y%m%d")
    assert {f.name for f in files} >= {f"events_{d}.json.gz" for d in days}
    first = json.loads(gzip.decompress(files[0].read_bytes()).splitlines()[0])
    assert isinstance(first["event_timestamp"], str)  # INT64 as a JSON string, as bq writes
    assert first["event_date"] == files[0].name[7:15]
    assert {p["key"] for p in first["event_params"]} >= {"ga_session_id", "ga_session_number"}


def test_round_trip_agrees_with_the_canonical_store(round_trip):
    """simulate -> export ga4 -> import: what GA4 carries comes back.

    Amounts pass through float64 unchanged (JSON writes the shortest repr that reads
    back to the same double); the importer rounds each discount to the cent, so the
    discount total may differ by at most 0.005 per order.
    """
    store, root, res = round_trip
    assert validate(root / "imported").ok
    o, io = store.to_pandas("orders"), read_table(root / "imported", "orders")
    assert len(io) == len(o) and res.counts["merged_duplicate_purchases"] == 0
    assert io.revenue.sum() == pytest.approx(o.revenue.sum(), abs=1e-6)
    assert abs(io.discount_amount.sum() - o.discount_amount.sum()) <= 0.005 * len(o)
    assert io.customer_id.nunique() == o.customer_id.nunique()
    e, ie = store.to_pandas("events"), read_table(root / "imported", "events")
    assert (ie.event_name.value_counts().to_dict() == e.event_name.value_counts().to_dict())
    r, ir = store.to_pandas("returns"), read_table(root / "imported", "returns")
    assert len(ir) == len(r) and ir.amount.sum() == pytest.approx(r.amount.sum(), abs=1e-6)
    s, is_ = store.to_pandas("sessions"), read_table(root / "imported", "sessions")
    assert is_.source.value_counts().to_dict() == s.source.value_counts().to_dict()
    c, ic = store.to_pandas("customers"), read_table(root / "imported", "customers")
    visitors = c[c.customer_id.isin(s.customer_id)]
    assert len(ic) == len(visitors)
    assert len(res.rejects) == 0
    assert load_manifest(root / "imported")["id_salt"]


def test_a_stores_own_size_check_events_become_check_variant(round_trip, tmp_path):
    """GA4 has no standard size or stock check: stores name their own. The usual names,
    in any case, import as canonical ``check_variant`` (one per item, as view_item)."""
    store, root, _ = round_trip
    names = iter(["select_size", "Size_Guide", "check_availability"])
    (tmp_path / "ga4").mkdir()
    for f in sorted((root / "ga4").iterdir()):
        lines = []
        for line in gzip.decompress(f.read_bytes()).splitlines():
            ev = json.loads(line)
            if ev["event_name"] == "check_variant":
                ev["event_name"] = next(names, "select_size")
            lines.append(json.dumps(ev))
        (tmp_path / "ga4" / f.name).write_bytes(gzip.compress("\n".join(lines).encode()))
    import_ga4([tmp_path / "ga4"], tmp_path / "imported")
    e = store.to_pandas("events")
    ie = read_table(tmp_path / "imported", "events")
    n = int((e.event_name == "check_variant").sum())
    assert n > 10 and int((ie.event_name == "check_variant").sum()) == n


def test_a_parquet_export_imports_to_the_same_dataset_as_json_lines(round_trip, tmp_path):
    """The simulated ids are no emails or phones, so the salt plays no part here."""
    _, root, _ = round_trip
    files = export(root / "canonical", tmp_path / "pq", file_format="parquet", layout="ignored")
    assert all(f.name.endswith(".parquet") for f in files)
    schema = pq.read_schema(files[0])  # Parquet keeps INT64 as integers, records nested
    assert schema.field("event_timestamp").type == pa.int64()
    assert pa.types.is_struct(schema.field("items").type.value_type)
    import_ga4([tmp_path / "pq"], tmp_path / "ds")
    for t in TABLES:
        pd.testing.assert_frame_equal(read_table(tmp_path / "ds", t),
                                      read_table(root / "imported", t))


def test_the_pipeline_runs_on_an_imported_ga4_store(round_trip):
    _, root, _ = round_trip
    said: list[str] = []
    written = run_all(root / "imported", root / "reports", echo=said.append)
    assert "report" in written
    assert "attribution_summary" in written, said  # journeys from the sessions' sources

