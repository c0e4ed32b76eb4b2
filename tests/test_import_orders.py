"""The generic orders importer: any orders or order-lines file, by a column map.

The source files are written from a simulated store in a shop's own column names
(Shopify's order export headers), so every count and amount can be checked
against the store they came from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.importers import import_dataset
from workbench.importers.orders import ImportInputError, OrdersImporter, parse_map
from workbench.pipeline import run_all
from workbench.simulate import scenario, simulate
from workbench.store import load_manifest, read_table

LINES_MAP = ("order_id=Name,customer_id=Email,placed_at=Created at,product_id=Lineitem sku,"
             "quantity=Lineitem quantity,unit_price=Lineitem price,"
             "discount_amount=Discount Amount,unit_cost=Cost")


@pytest.fixture(scope="module")
def store():
    return simulate(scenario("small"), seed=6)


def shop_lines(store) -> pd.DataFrame:
    """One row per order line; order fields only on an order's first line, as Shopify."""
    o, i = store.to_pandas("orders"), store.to_pandas("order_items")
    d = i.merge(o, on="order_id")
    first = ~d.order_id.duplicated()
    return pd.DataFrame({
        "Name": "#" + d.order_id.astype(str),
        "Email": np.where(first, "buyer" + d.customer_id.astype(str) + "@example.com", ""),
        "Created at": np.where(first, d.placed_at.dt.tz_convert("America/New_York").dt.strftime(
            "%Y-%m-%d %H:%M:%S %z"), ""),
        "Discount Amount": np.where(first, d.discount_amount.round(2).astype(str), ""),
        "Lineitem sku": "SKU-" + d.product_id.astype(str),
        "Lineitem quantity": d.quantity, "Lineitem price": d.unit_price, "Cost": d.unit_cost})


def test_order_lines_import_matches_the_store_they_came_from(store, tmp_path):
    src = tmp_path / "orders_export.csv"
    shop_lines(store).to_csv(src, index=False)
    imp = OrdersImporter(parse_map(LINES_MAP))
    res = import_dataset(imp, imp.read(src), tmp_path / "shop")
    assert res.report.ok and len(res.rejects) == 0
    o, ref = read_table(res.path, "orders"), store.to_pandas("orders")
    assert len(o) == len(ref)
    assert o.revenue.sum() == pytest.approx(ref.revenue.sum(), abs=0.01 * len(ref))
    assert o.discount_amount.sum() == pytest.approx(ref.discount_amount.sum(), abs=0.01)
    assert o.customer_id.nunique() == ref.customer_id.nunique()
    # the export writes local times with their UTC offset, to the second: the same instants
    got = o.set_index("order_id").placed_at.sort_index()
    want = (ref.assign(order_id="#" + ref.order_id.astype(str)).set_index("order_id")
            .placed_at.dt.floor("s").sort_index())
    assert got.index.equals(want.index) and (got == want).all()
    # emails never in clear
    c = read_table(res.path, "customers")
    assert not c.customer_id.str.contains("@").any()
    assert c.customer_id.str.startswith("cust_").all()


def test_bad_rows_are_rejected_with_their_reason_and_the_rest_kept(store, tmp_path):
    d = shop_lines(store)
    first = d.index[d.Email != ""]
    d.loc[first[0], "Created at"] = "yesterday-ish"
    d.loc[d.index[5], "Lineitem price"] = -3
    src = tmp_path / "orders_export.csv"
    d.to_csv(src, index=False)
    imp = OrdersImporter(parse_map(LINES_MAP))
    res = import_dataset(imp, imp.read(src), tmp_path / "shop")
    reasons = set(res.rejects.reason)
    assert "placed_at is not a date and time" in reasons
    assert "unit_price is not a number above 0" in reasons
    rejected_order = d.loc[first[0], "Name"]
    assert rejected_order not in set(read_table(res.path, "orders").order_id)
    written = pd.read_csv(res.path / "rejects.csv")
    assert len(written) == len(res.rejects) and load_manifest(res.path)["rejected_rows"] == len(
        written)


def test_a_map_naming_a_column_the_file_lacks_names_both(store, tmp_path):
    src = tmp_path / "orders_export.csv"
    shop_lines(store).head(20).to_csv(src, index=False)
    imp = OrdersImporter(parse_map(LINES_MAP.replace("Lineitem sku", "SKU")))
    with pytest.raises(ImportInputError, match=r"orders_export.csv.*\['SKU'\]"):
        imp.read(src)
    with pytest.raises(ImportInputError, match="unknown field"):
        OrdersImporter({"order_id": "a", "customer_id": "b", "placed_at": "c", "total": "d"})
    with pytest.raises(ImportInputError, match="revenue"):
        OrdersImporter({"order_id": "a", "customer_id": "b", "placed_at": "c"})


def test_an_order_level_file_runs_the_report_end_to_end(store, tmp_path):
    o = store.to_pandas("orders")
    src = tmp_path / "orders.parquet"
    pd.DataFrame({"id": o.order_id, "buyer": o.customer_id, "at": o.placed_at,
                  "paid": o.revenue, "disc": o.discount_amount}).to_parquet(src)
    res = CliRunner().invoke(main, ["import", "orders", str(src), "--out",
                                    str(tmp_path / "shop"), "--map",
                                    "order_id=id,customer_id=buyer,placed_at=at,revenue=paid,"
                                    "discount_amount=disc"])
    assert res.exit_code == 0, res.output
    assert f"orders {len(o):,}" in res.output
    items = read_table(tmp_path / "shop", "order_items")
    assert set(items.product_id) == {"unknown"} and items.unit_cost.isna().all()
    written = run_all(tmp_path / "shop", tmp_path / "reports", echo=lambda s: None)
    assert "clv_scorecard" in written and "report" in written
    bad = CliRunner().invoke(main, ["import", "orders", str(src), "--out",
                                    str(tmp_path / "x"), "--map", "order_id=id"])
    assert bad.exit_code == 2 and "required field" in bad.output


def test_a_broken_csv_is_an_error_and_bad_rows_are_counted_from_one(tmp_path):
    """A truncated file or a broken quote must not import as a shorter table; rejected
    rows carry the data-row number a user finds in the file (1 = the row after the
    header)."""
    cols = "order_id=Name,customer_id=Email,placed_at=Created at,revenue=Total"
    broken = tmp_path / "broken.csv"
    broken.write_text('Name,Email,Created at,Total\n#1,a@b.co,2024-01-02 10:00:00 +0100,12.5\n'
                      '#2,"unterminated,2024-01-03,9\n')
    with pytest.raises(ImportInputError, match=r"broken.csv: cannot be read as CSV"):
        OrdersImporter(parse_map(cols)).read(broken)
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Email,Created at,Total\n#1,a@b.co,2024-01-02 10:00:00 +0100,12.5\n"
                   "#2,c@d.co,not a date,9\n#3,e@f.co,2024-01-04,-4\n#4,00123,2024-01-05,3\n")
    imp = OrdersImporter(parse_map(cols))
    res = import_dataset(imp, imp.read(bad), tmp_path / "shop")
    assert dict(zip(res.rejects.source_row, res.rejects.reason, strict=True)) == {
        2: "placed_at is not a date and time", 3: "revenue is not a number >= 0"}
    # ids are text as exported: a leading zero survives
    assert "00123" in set(read_table(res.path, "customers").customer_id)


def test_one_currency_is_recorded_and_a_mix_is_refused_naming_the_rows(tmp_path):
    cols = "order_id=Name,customer_id=Email,placed_at=Created at,revenue=Total,currency=Cur"
    one = tmp_path / "one.csv"
    one.write_text("Name,Email,Created at,Total,Cur\n#1,a@b.co,2024-01-02,12.5,eur\n"
                   "#2,c@d.co,2024-01-03,9,EUR\n")
    imp = OrdersImporter(parse_map(cols))
    res = import_dataset(imp, imp.read(one), tmp_path / "shop")
    assert load_manifest(res.path)["currency"] == "EUR"
    from workbench.analyses import Context
    assert Context.open(res.path, echo=lambda s: None).currency == "EUR"
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("Name,Email,Created at,Total,Cur\n#1,a@b.co,2024-01-02,12.5,EUR\n"
                     "#2,c@d.co,2024-01-03,9,USD\n#3,e@f.co,2024-01-04,3,EUR\n")
    imp = OrdersImporter(parse_map(cols))
    with pytest.raises(ImportInputError, match=r"mixed.csv: column 'Cur' mixes currencies "
                       r"\(EUR 2 rows, USD 1 rows\).*first rows not in EUR: \[2\]"):
        import_dataset(imp, imp.read(mixed), tmp_path / "shop2")
    assert not (tmp_path / "shop2").exists()
