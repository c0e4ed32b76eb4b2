"""Shopify's admin CSV exports: import, export, round trip.

The hand-written exports in ``tests/fixtures/shopify/`` (one per layout; see the
README there) are read back with the csv module and every expected count and amount
is computed from the raw rows here, independently of the importer.  The round trip
goes simulate -> dataset -> export -> import and compares with the simulated store.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.exporters.shopify import export
from workbench.importers import IMPORTERS, ImportInputError
from workbench.importers.orders import pseudonym
from workbench.importers.shopify import ShopifyImporter, import_shopify, parse_times
from workbench.pipeline import run_all
from workbench.simulate import scenario, simulate
from workbench.store import load_manifest, read_table, save_simulation, validate

FIX = Path(__file__).parent / "fixtures" / "shopify"
LAYOUTS = ("current", "legacy")
PHONES = ("+1 (555) 201-3344", "+44 7700 900123", "+1 555 777 0199")


def files(layout: str) -> dict[str, Path]:
    return {k: FIX / f"{k}_export_{layout}.csv" for k in ("orders", "customers", "products")}


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def expected(layout: str) -> dict:
    """What the import must give, computed from the raw CSV rows."""
    lines = rows(files(layout)["orders"])
    first: dict[str, dict] = {}
    by_order = defaultdict(list)
    for r in lines:
        first.setdefault(r["Name"], r)
        by_order[r["Name"]].append(r)
    sale = {"paid", "partially_paid", "authorized", "pending", "partially_refunded", "refunded"}
    kept = [n for n, f in first.items()
            if not f["Cancelled at"] and f["Financial Status"] in sale]
    revenue, refunds, buyers, guests = {}, 0.0, set(), 0
    for n in kept:
        f = first[n]
        goods = sum(int(r["Lineitem quantity"]) * float(r["Lineitem price"])
                    for r in by_order[n] if int(r["Lineitem quantity"]) > 0)
        revenue[n] = goods - float(f["Discount Amount"] or 0)
        refunds += min(float(f["Refunded Amount"] or 0), revenue[n])
        refunds += sum(-int(r["Lineitem quantity"]) * float(r["Lineitem price"])
                       for r in by_order[n] if int(r["Lineitem quantity"]) < 0)
        who = f["Email"].lower() or re.sub(r"[^\d+]", "", f["Phone"])
        guests += not who
        buyers.add(who or f"guest-{n}")
    customers = rows(files(layout)["customers"])
    signups = {c["Email"].lower() for c in customers} - buyers
    codes = sorted((n, c.strip()) for n in kept for c in first[n]["Discount Code"].split(",")
                   if c.strip())
    rejected = {reason: [i + 1 for i, r in enumerate(lines) if test(first[r["Name"]])]
                for reason, test in (
                    ("cancelled", lambda f: bool(f["Cancelled at"])),
                    ("voided", lambda f: not f["Cancelled at"]
                     and f["Financial Status"] == "voided"))}
    return {"orders": len(kept), "revenue": revenue, "refunds": refunds, "buyers": len(buyers),
            "guests": guests, "signups": len(signups), "codes": codes, "rejected": rejected,
            "discount": sum(float(first[n]["Discount Amount"] or 0) for n in kept)}


@pytest.fixture(scope="module", params=LAYOUTS)
def fixture_import(request, tmp_path_factory):
    layout = request.param
    f = files(layout)
    res = import_shopify(f["orders"], tmp_path_factory.mktemp(layout) / "shop",
                         customers=f["customers"], products=f["products"])
    return layout, res


def test_the_import_gives_what_the_raw_csv_holds(fixture_import):
    layout, res = fixture_import
    want = expected(layout)
    assert res.report.ok and validate(res.path).ok
    o = read_table(res.path, "orders").set_index("order_id")
    assert len(o) == want["orders"] == res.counts["orders_kept"]
    got = o.revenue.to_dict()
    assert got.keys() == want["revenue"].keys()
    assert all(abs(got[n] - want["revenue"][n]) < 0.005 for n in got)
    assert o.discount_amount.sum() == pytest.approx(want["discount"], abs=0.005)
    assert read_table(res.path, "returns").amount.sum() == pytest.approx(want["refunds"],
                                                                         abs=0.005)
    assert o.customer_id.nunique() == want["buyers"] == res.counts["buyers"]
    assert res.counts["guest_customers"] == want["guests"]
    assert res.counts["signups_without_orders"] == want["signups"]
    assert len(read_table(res.path, "customers")) == want["buyers"] + want["signups"]
    got_codes = sorted(res.discount_codes.itertuples(index=False, name=None))
    assert got_codes == want["codes"]
    # cancelled and voided orders: every line rejected, with its reason
    for reason, lines in want["rejected"].items():
        assert sorted(res.rejects.source_row[res.rejects.reason == reason]) == lines
    assert res.counts["cancelled_orders"] == 1 and res.counts["voided_orders"] == 1
    assert "1 cancelled and 1 voided orders rejected" in res.summary()


def test_times_offsets_customers_and_products_follow_the_documented_mapping(fixture_import):
    layout, res = fixture_import
    o = read_table(res.path, "orders").set_index("order_id")
    # "2024-03-08 23:30:00 +0530" is 18:00 UTC the same day
    assert o.placed_at["#1007"] == pd.Timestamp("2024-03-08 18:00:00", tz="UTC")
    salt = load_manifest(res.path)["id_salt"]
    c = read_table(res.path, "customers").set_index("customer_id")
    alice = pseudonym("alice@example.com", salt)
    # "Alice@Example.com" on #1011 is the same customer as alice@example.com
    assert (o.customer_id == alice).sum() == 3
    assert o.customer_id["#1002"] == "guest-#1002"
    assert o.customer_id["#1009"] == pseudonym("+44 7700 900123", salt)
    assert c.region[alice] == "US-NY" and c.email_opt_in[alice]
    # SMS consent exists only in the current customers layout
    assert bool(c.sms_opt_in[alice]) == (layout == "current")
    henry = pseudonym("henry@example.com", salt)
    assert c.signup_at[henry] == o.placed_at.max() and c.region[henry] == "CA-ON"
    p = read_table(res.path, "products").set_index("product_id")
    items = read_table(res.path, "order_items")
    # a line without a SKU is matched by its name; a SKU not in the catalog is unknown
    assert items.product_id[items.order_id == "#1009"].tolist() == ["wool-beanie"]
    assert p.category["wool-beanie"] == "Accessories" and p.category["SKU-E"] == "unknown"
    assert p.unit_cost["SKU-D"] == 9.5 and (p.purchase_type == "unknown").all()
    assert res.counts["product_rows_merged"] == 1
    # the refund of #1004 (12.50) is split pro rata to line value: 30 / 55 and 25 / 55
    r = read_table(res.path, "returns").set_index(["order_id", "product_id"]).amount
    assert r["#1004", "SKU-B"] == 6.82 and r["#1004", "SKU-D"] == 5.68


def test_no_email_or_phone_is_written_in_clear(fixture_import):
    _, res = fixture_import
    texts = [f.read_text() for f in res.path.rglob("*") if f.suffix in (".csv", ".json")]
    texts += [pq.read_table(f).to_pandas().astype(str).to_csv()
              for f in res.path.rglob("*.parquet")]
    assert len(texts) >= 7
    digits = [re.sub(r"\D", "", p) for p in PHONES]
    for text in texts:
        assert "@" not in text
        cells = {re.sub(r"\D", "", cell) for cell in re.split(r"[,\n\"]", text)}
        assert not cells & set(digits)


def test_a_file_that_is_not_that_export_is_an_error_naming_it_and_the_columns(tmp_path):
    f = files("current")
    with pytest.raises(ImportInputError, match=r"customers_export_current\.csv: not a Shopify "
                       r"orders export: missing column\(s\) \['Name', .*'Lineitem sku'\]; "
                       r"it looks like a Shopify customers export \(pass it as --customers\)"):
        import_shopify(f["customers"], tmp_path / "shop")
    with pytest.raises(ImportInputError, match=r"orders_export_current\.csv: not a Shopify "
                       r"products export: missing column\(s\) \['Handle', 'Title', 'Type', "
                       r"'Variant SKU', 'Variant Price'\]"):
        import_shopify(f["orders"], tmp_path / "shop", products=f["orders"])
    res = CliRunner().invoke(main, ["import", "shopify", "--orders", str(f["products"]),
                                    "--out", str(tmp_path / "shop")])
    assert res.exit_code == 2 and "not a Shopify orders export" in res.output
    assert not (tmp_path / "shop").exists()


def test_mixed_currencies_are_an_error_naming_the_column_and_rows(tmp_path):
    src = rows(files("legacy")["orders"])
    euro = {"#1004", "#1010"}
    for r in src:
        if r["Name"] in euro and r["Currency"]:
            r["Currency"] = "EUR"
    bad = tmp_path / "orders_export.csv"
    with open(bad, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(src[0]))
        w.writeheader()
        w.writerows(src)
    # the first line of each EUR order, as data rows counted from 1
    want = [i + 1 for i, r in enumerate(src) if r["Currency"] == "EUR"]
    assert len(want) == 2
    with pytest.raises(ImportInputError, match=(
            rf"orders_export\.csv: column 'Currency' mixes currencies \(USD \d+ rows, EUR 2 "
            rf"rows\).*first rows not in USD: \[{want[0]}, {want[1]}\]")):
        import_shopify(bad, tmp_path / "shop")


def test_unreadable_times_reject_their_order_and_none_readable_is_an_error(tmp_path):
    src = rows(files("current")["orders"])
    src[0]["Created at"] = "last Tuesday"  # the first line of #1001, three lines
    path = tmp_path / "orders_export.csv"

    def write():
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, list(src[0]))
            w.writeheader()
            w.writerows(src)
    write()
    res = import_shopify(path, tmp_path / "shop")
    bad = res.rejects[res.rejects.reason == "Created at is not a date and time"]
    assert sorted(bad.source_row) == [i + 1 for i, r in enumerate(src) if r["Name"] == "#1001"]
    assert "#1001" not in set(read_table(res.path, "orders").order_id)
    for r in src:
        r["Created at"] = "soon" if r["Created at"] else ""
    write()
    with pytest.raises(ImportInputError, match="column 'Created at' has no readable date"):
        import_shopify(path, tmp_path / "shop2")
    assert parse_times(pd.Series(["2024-03-05T14:02:11-05:00"]))[0] == pd.Timestamp(
        "2024-03-05 19:02:11", tz="UTC")


def test_each_bad_line_or_order_is_rejected_or_fixed_with_its_reason(tmp_path):
    src = rows(files("current")["orders"])
    head = {k: v for k, v in src[0].items() if k in (
        "Email", "Financial Status", "Currency", "Created at")}

    def order(name, lines, **fields):
        out = []
        for k, (sku, q, price) in enumerate(lines):
            r = dict.fromkeys(src[0], "")
            r.update({"Name": name, "Lineitem sku": sku, "Lineitem name": sku,
                      "Lineitem quantity": str(q), "Lineitem price": price})
            if k == 0:
                r.update({**head, "Discount Amount": "0.00", "Refunded Amount": "0.00",
                          "Id": name[1:], **fields})
            out.append(r)
        return out
    extra = [*order("#2001", [("SKU-A", 1, "20.00")], **{"Financial Status": "expired"}),
             *order("#2002", [("SKU-A", 1, "20.00"), ("SKU-GIFT", 1, "0.00")]),
             *order("#2003", [("SKU-A", 1, "20.00"), ("SKU-B", -1, "15.00")]),
             *order("#2004", [("SKU-A", 2, "20.00"), ("SKU-A", -1, "20.00")],
                    **{"Refunded Amount": "10.00"}),
             *order("#2005", [("SKU-A", 1, "20.00")], **{"Refunded Amount": "24.95"}),
             *order("#2006", [("SKU-A", 1, "20.00")], **{"Discount Amount": "ten"}),
             *order("#2007", [("SKU-A", 1, "20.00")]),
             *order("#2007", [("SKU-B", 1, "15.00")], Id="9999"),
             *order("#2008", [("SKU-A", 1, "20.00")], **{"Discount Amount": "24.95"})]
    path = tmp_path / "orders_export.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, list(src[0]))
        w.writeheader()
        w.writerows([*src, *extra])
    res = import_shopify(path, tmp_path / "shop", products=files("current")["products"])
    assert res.report.ok

    def at(name, sku=None):  # data rows (from 1) of an order, or of one of its lines
        return [len(src) + i + 1 for i, r in enumerate(extra)
                if r["Name"] == name and sku in (None, r["Lineitem sku"])]
    got = {reason: sorted(g.source_row) for reason, g in res.rejects.groupby("reason")}
    assert got["Financial Status 'expired' is not a sale"] == at("#2001")
    assert got["Lineitem price is not a number above 0 (a free line has no unit price to "
               "keep)"] == at("#2002", "SKU-GIFT")
    assert got["negative Lineitem quantity for a product the order did not buy"] == at(
        "#2003", "SKU-B")
    assert got["negative Lineitem quantity in an order whose Refunded Amount already holds "
               "the refund"] == [at("#2004")[1]]
    assert got["Discount Amount is not a number >= 0"] == at("#2006")
    assert got["the order Name is used by more than one order Id"] == at("#2007")
    o = read_table(res.path, "orders").set_index("order_id")
    assert {"#2002", "#2003", "#2004", "#2005", "#2008"} <= set(o.index)
    assert not {"#2001", "#2006", "#2007"} & set(o.index)
    assert o.revenue["#2002"] == 20.0 and o.revenue["#2008"] == 0.0
    r = read_table(res.path, "returns").groupby("order_id").amount.sum()
    assert r["#2004"] == 10.0 and r["#2005"] == 20.0  # 24.95 refunded, 20.00 of it goods
    assert res.fixed == {
        "Discount Amount above the items' value, capped at it": 1,
        "Refunded Amount above the revenue (shipping or taxes refunded), capped at it": 1}
    assert "Financial Status 'expired' is not a sale" in res.summary()


def test_a_reimport_keeps_the_pseudonyms_and_the_importer_is_registered(tmp_path):
    f = files("current")
    a = import_shopify(f["orders"], tmp_path / "shop")
    ids = set(read_table(a.path, "customers").customer_id)
    b = import_shopify(f["orders"], tmp_path / "shop")
    assert set(read_table(b.path, "customers").customer_id) == ids
    assert IMPORTERS["shopify"] is ShopifyImporter


def test_discount_codes_are_written_beside_the_tables_and_described(tmp_path):
    from workbench.analyses import Context, Skipped, get

    res = import_shopify(files("current")["orders"], tmp_path / "shop")
    codes = pd.read_csv(res.path / "order_discount_codes.csv")
    assert sorted(codes.itertuples(index=False, name=None)) == expected("current")["codes"]
    assert load_manifest(res.path)["currency"] == "USD"
    # the discount section describes them: every coded order under its code(s)
    out = get("discount")(Context.open(res.path, echo=lambda s: None))
    assert isinstance(out, Skipped)
    table = out.tables[0][1]
    per_order = codes.groupby("order_id").code.agg(lambda c: " + ".join(sorted(set(c))))
    want = per_order.value_counts()
    got = table.set_index("code").orders
    assert all(got[c] == n for c, n in want.items())


# ----------------------------------------------------------------------------- round trip
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    store = simulate(scenario("tiny"), seed=3)
    return store, save_simulation(store, tmp_path_factory.mktemp("sim") / "tiny")


@pytest.fixture(scope="module", params=LAYOUTS)
def round_trip(request, simulated, tmp_path_factory, shopify_round_trip):
    """simulate -> dataset -> `workbench export shopify` -> `workbench import shopify`."""
    _, ds = simulated
    layout, tmp = request.param, tmp_path_factory.mktemp(f"rt-{request.param}")
    exp, shop = shopify_round_trip(ds, tmp, layout)
    return layout, exp, shop


def test_the_export_is_written_as_the_admin_writes_it(round_trip, simulated):
    layout, exp, _ = round_trip
    store, _ = simulated
    lines = rows(exp / "orders_export.csv")
    o = store.to_pandas("orders")
    assert len(lines) == len(store.to_pandas("order_items"))
    heads = [r for r in lines if r["Financial Status"]]
    assert len(heads) == len(o) == len({r["Name"] for r in lines})
    # order fields only on an order's first line, times with their UTC offset
    seen = set()
    for r in lines:
        assert bool(r["Created at"]) == (r["Name"] not in seen)
        seen.add(r["Name"])
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [-+]\d{4}", r["Created at"])
               for r in heads)
    assert sum(bool(r["Discount Code"]) for r in heads) == int((o.discount_amount > 0).sum())
    refunded = store.to_pandas("returns").order_id.nunique()
    assert sum(r["Financial Status"] != "paid" for r in heads) == refunded
    customers = rows(exp / "customers_export.csv")
    assert len(customers) == len(store.to_pandas("customers"))
    assert ("Accepts SMS Marketing" in customers[0]) == (layout == "current")
    assert ("Accepts Marketing" in customers[0]) == (layout == "legacy")
    assert ("Lineitem discount" in lines[0]) == (layout == "current")


def test_the_round_trip_keeps_orders_revenue_discounts_refunds_and_buyers(round_trip,
                                                                          simulated):
    layout, _, shop = round_trip
    store, _ = simulated
    assert validate(shop).ok
    o, ref = read_table(shop, "orders"), store.to_pandas("orders")
    assert len(o) == len(ref)
    assert o.revenue.sum() == pytest.approx(ref.revenue.sum(), abs=0.01)
    assert o.discount_amount.sum() == pytest.approx(ref.discount_amount.sum(), abs=0.01)
    assert read_table(shop, "returns").amount.sum() == pytest.approx(
        store.to_pandas("returns").amount.sum(), abs=0.01)
    assert o.customer_id.nunique() == ref.customer_id.nunique()
    c, cref = read_table(shop, "customers"), store.to_pandas("customers")
    assert len(c) == len(cref) and c.email_opt_in.sum() == cref.email_opt_in.sum()
    assert c.sms_opt_in.sum() == (cref.sms_opt_in.sum() if layout == "current" else 0)
    p, pref = read_table(shop, "products"), store.to_pandas("products")
    assert p.price.sum() == pytest.approx(pref.price.sum(), abs=0.01)
    assert (p.category.value_counts().sort_index().tolist()
            == pref.category.value_counts().sort_index().tolist())


def test_the_report_runs_on_an_imported_store_and_says_what_it_skipped(simulated, tmp_path):
    _, ds = simulated
    exp = export(ds, tmp_path / "export", layout="legacy")
    shop = import_shopify(exp[0], tmp_path / "shop", customers=exp[1], products=exp[2]).path
    said: list[str] = []
    written = run_all(shop, tmp_path / "reports", echo=said.append)
    assert "report" in written and "numbers" in written
    skipped = {s.split(":")[0]: s for s in said if ": skipped (" in s}
    assert "sessions" in skipped["attribution"] and "messages" in skipped["operations"]
    assert "events" in skipped["cart_timing"]


def test_an_imported_store_exports_and_imports_again_to_the_same_numbers(fixture_import,
                                                                         tmp_path):
    layout, res = fixture_import
    exp = export(res.path, tmp_path / "export", layout=layout)
    again = import_shopify(exp[0], tmp_path / "shop", customers=exp[1], products=exp[2])
    o, o2 = (read_table(p, "orders").set_index("order_id") for p in (res.path, again.path))
    assert o2.index.sort_values().tolist() == o.index.sort_values().tolist()  # "#1001"
    assert o2.revenue.sum() == pytest.approx(o.revenue.sum(), abs=0.005)
    assert o2.discount_amount.sum() == pytest.approx(o.discount_amount.sum(), abs=0.005)
    assert read_table(again.path, "returns").amount.sum() == pytest.approx(
        read_table(res.path, "returns").amount.sum(), abs=0.005)
    c, c2 = read_table(res.path, "customers"), read_table(again.path, "customers")
    assert len(c2) == len(c) and sorted(c2.region.dropna()) == sorted(c.region.dropna())


def test_an_export_of_an_unknown_layout_is_refused(simulated, tmp_path):
    _, ds = simulated
    with pytest.raises(ValueError, match="layout must be one of"):
        export(ds, tmp_path / "export", layout="2019")
    assert not (tmp_path / "export").exists()
