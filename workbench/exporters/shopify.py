"""A dataset as the Shopify admin exports it: orders, customers and products CSVs.

``workbench export shopify DATASET --out DIR --layout current|legacy`` writes
``orders_export.csv``, ``customers_export.csv`` and ``products_export.csv`` with the
admin's columns (the layouts are defined once, in :mod:`workbench.importers.shopify`,
which reads them back).  The tables are read into pandas: this writes sample files
from simulated or imported datasets, not warehouse-sized ones.

Mapping (dataset -> export)
---------------------------
* orders: one row per order item, order fields only on an order's first row (as the
  admin writes them).  ``Name`` = "#<order_id>"; ``Email`` = a synthetic
  "customer<id>@example.com" (never a real address); ``Created at`` = ``Paid at`` =
  ``placed_at`` in the store's time zone (America/New_York) with its UTC offset, to
  the second; ``Currency`` = USD; ``Subtotal`` = revenue (items less discount);
  ``Shipping`` = a flat 4.95 below 50.00 of subtotal, else 0; ``Taxes`` = 0;
  ``Total`` = Subtotal + Shipping + Taxes; ``Discount Amount`` = discount_amount and,
  where it is above 0, ``Discount Code`` = the crediting message's campaign and
  percent ("ABANDONEDCART15") when the dataset has it, else "SAVE<percent>";
  ``Financial Status`` = paid, or refunded / partially_refunded where the order has
  returns, with ``Refunded Amount`` = their total; ``Lineitem sku`` = "SKU-<product_id>",
  ``Lineitem name`` = the product's title, ``Lineitem price`` = unit_price;
  ``Billing/Shipping Province`` and ``Country`` from the customer's region (the
  simulator's regions are written as one US state each: north MN, south TX, east NY,
  west CA, central KS; an "US-NY"-style region is split).  The current layout also
  writes ``Lineitem discount`` (the order discount pro rata to line value).
* customers: every customer, buyers or not; ``Accepts Email Marketing`` /
  ``Accepts SMS Marketing`` from the opt-ins (legacy: ``Accepts Marketing`` from the
  email opt-in only); a synthetic phone ("+1555" and seven digits) for SMS opt-ins;
  ``Total Spent`` (revenue less returns) and ``Total Orders``.
* products: one row per product, ``Handle`` = "product-<id>", ``Title`` =
  "<Category> <id>", ``Type`` = category, ``Tags`` = purchase_type, ``Variant SKU``,
  ``Variant Price`` = price, ``Cost per item`` = unit_cost.

What the exports cannot carry
-----------------------------
Sessions, events, messages and experiments; which message an order came from
(only a code naming its campaign); signup times and acquisition channels; which
product of an order was returned and when (only the order's Refunded Amount);
SMS consent in the legacy layout; supply days (purchase types only as a tag).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..importers import Progress, quiet
from ..importers.shopify_columns import CUSTOMERS_COLUMNS, ORDERS_COLUMNS, PRODUCTS_COLUMNS
from ..store import absent_tables, read_table

STORE_TZ = "America/New_York"
FLAT_SHIPPING, FREE_SHIPPING_FROM = 4.95, 50.0
#: the simulator's regions as US states (code, name)
REGION_STATES = {"north": ("MN", "Minnesota"), "south": ("TX", "Texas"),
                 "east": ("NY", "New York"), "west": ("CA", "California"),
                 "central": ("KS", "Kansas")}
_ISO = re.compile(r"^([A-Z]{2})(?:-(\w+))?$")
LAYOUTS = ("current", "legacy")


def _money(x) -> pd.Series:
    return pd.Series(x).map(lambda v: "" if pd.isna(v) else f"{v:.2f}")


def _address(region: pd.Series) -> pd.DataFrame:
    """Province code, province name, country code and name from a region."""
    def one(r):
        if not isinstance(r, str):
            return ("", "", "", "")
        if r in REGION_STATES:
            return (*REGION_STATES[r], "US", "United States")
        m = _ISO.match(r)
        if m:
            return (m.group(2) or "", "", m.group(1), "")
        return ("", r, "", "")
    return pd.DataFrame([one(r) for r in region], index=region.index,
                        columns=["province_code", "province", "country_code", "country"])


def _name(order_id: pd.Series) -> pd.Series:
    """"#<order_id>" (an id that already starts with "#", as imported ones do, is kept)."""
    s = order_id.astype(str)
    return s.where(s.str.startswith("#"), "#" + s)


def _frame(columns: tuple[str, ...], n: int, values: dict) -> pd.DataFrame:
    df = pd.DataFrame({c: [""] * n for c in columns})
    for k, v in values.items():
        if k in df:
            df[k] = v if np.isscalar(v) else np.asarray(v, dtype=object)
    return df


def _codes(orders: pd.DataFrame, gross: pd.Series, messages: pd.DataFrame | None
           ) -> pd.Series:
    pct = (100 * orders.discount_amount / gross.reindex(orders.order_id).values).round()
    code = "SAVE" + pct.fillna(0).astype(int).astype(str)
    if messages is not None and "message_id" in orders:
        m = messages.set_index("message_id")
        mid = orders.message_id
        camp = mid.map(m.campaign)
        mpct = mid.map(m.discount_pct)
        has = camp.notna() & (mpct > 0)
        code = code.where(~has, camp.str.upper().str.replace("_", "") +
                          mpct.round().astype("Int64").astype(str))
    return code.where(orders.discount_amount > 0, "")


def export(dataset: Path, out: Path, *, progress: Progress = quiet,
           layout: str = "current", **options) -> list[Path]:
    """Write ``dataset`` as Shopify's three CSV exports under ``out``.

    Parameters
    ----------
    dataset
        A dataset folder (simulated or imported).
    out
        The folder for ``orders_export.csv``, ``customers_export.csv`` and
        ``products_export.csv`` (created if needed).
    progress
        Called with one line per file written.
    layout
        "current" or "legacy": the admin's current or older column layout.
    **options
        Other formats' options (ignored).

    Returns
    -------
    list of Path
        The files written.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, not {layout!r}")
    dataset, out = Path(dataset), Path(out)
    absent = set(absent_tables(dataset))
    o, items = read_table(dataset, "orders"), read_table(dataset, "order_items")
    c, p = read_table(dataset, "customers"), read_table(dataset, "products")
    r = (read_table(dataset, "returns") if "returns" not in absent else
         pd.DataFrame({"order_id": [], "amount": []}))
    messages = read_table(dataset, "messages") if "messages" not in absent else None
    out.mkdir(parents=True, exist_ok=True)
    title = (p.category.astype(str).str.replace("_", " ").str.title() + " "
             + p.product_id.astype(str))
    title.index = p.product_id
    written = [_orders(o, items, c, r, messages, title, layout, out / "orders_export.csv"),
               _customers(c, o, r, layout, out / "customers_export.csv"),
               _products(p, title, layout, out / "products_export.csv")]
    for f in written:
        progress(f"wrote {f}")
    return written


def _orders(o, items, c, r, messages, title, layout, path: Path) -> Path:
    gross = (items.quantity * items.unit_price).groupby(items.order_id).sum()
    refunded = r.groupby("order_id").amount.sum().reindex(o.order_id).fillna(0.0).values
    status = np.where(refunded <= 0, "paid", np.where(
        refunded >= o.revenue.values - 0.005, "refunded", "partially_refunded"))
    shipping = np.where(o.revenue >= FREE_SHIPPING_FROM, 0.0, FLAT_SHIPPING)
    cust = c.set_index("customer_id")
    addr = _address(o.customer_id.map(cust.region))
    created = o.placed_at.dt.tz_convert(STORE_TZ).dt.strftime("%Y-%m-%d %H:%M:%S %z")
    head = pd.DataFrame({
        "order_id": o.order_id.values,
        "Name": _name(o.order_id).values,
        "Email": ("customer" + o.customer_id.astype(str) + "@example.com").values,
        "Financial Status": status, "Paid at": created.values,
        "Fulfillment Status": "fulfilled",
        "Accepts Marketing": np.where(o.customer_id.map(cust.email_opt_in).fillna(False)
                                      .astype(bool), "yes", "no"),
        "Currency": "USD", "Subtotal": _money(o.revenue.values).values,
        "Shipping": _money(shipping).values, "Taxes": "0.00",
        "Total": _money(o.revenue.values + shipping).values,
        "Discount Code": _codes(o, gross, messages).values,
        "Discount Amount": _money(o.discount_amount.values).values,
        "Shipping Method": "Standard", "Created at": created.values,
        "Billing Province": addr.province_code.values,
        "Billing Country": addr.country_code.values,
        "Shipping Province": addr.province_code.values,
        "Shipping Country": addr.country_code.values,
        "Refunded Amount": _money(refunded).values,
        "Outstanding Balance": "0.00", "Id": (5_000_000_000 + o.order_id.astype("int64")
                                              if pd.api.types.is_integer_dtype(o.order_id)
                                              else o.order_id).astype(str).values,
        "Risk Level": "Low", "Source": "web", "placed_at": o.placed_at.array})
    d = items.merge(head, on="order_id").sort_values(["placed_at", "Name", "product_id"],
                                                     kind="stable").reset_index(drop=True)
    first = ~d.order_id.duplicated()
    share = d.quantity * d.unit_price / d.order_id.map(gross)
    lines = {
        "Name": d.Name, "Lineitem quantity": d.quantity.astype(str),
        "Lineitem name": d.product_id.map(title).fillna(d.product_id.astype(str)),
        "Lineitem price": _money(d.unit_price.values).values,
        "Lineitem sku": "SKU-" + d.product_id.astype(str),
        "Lineitem requires shipping": "true", "Lineitem taxable": "true",
        "Lineitem fulfillment status": "fulfilled", "Vendor": "Workbench Demo",
        "Lineitem discount": _money(
            (share * d.order_id.map(o.set_index("order_id").discount_amount)).values).values}
    order_fields = [k for k in head if k not in ("order_id", "Name", "placed_at")]
    values = {k: d[k].where(first, "") for k in order_fields}
    df = _frame(ORDERS_COLUMNS[layout], len(d), {**values, **lines})
    df.to_csv(path, index=False)
    return path


def _customers(c, o, r, layout, path: Path) -> Path:
    returned = (r.merge(o[["order_id", "customer_id"]], on="order_id")
                .groupby("customer_id").amount.sum())
    spent = (o.groupby("customer_id").revenue.sum().sub(returned, fill_value=0.0)
             .reindex(c.customer_id))
    n = o.groupby("customer_id").size().reindex(c.customer_id).fillna(0).astype(int)
    addr = _address(c.region)
    phone = ("+1555" + c.customer_id.astype(str).str.zfill(7)).where(c.sms_opt_in, "")
    yes = {True: "yes", False: "no"}
    values = {"Email": "customer" + c.customer_id.astype(str) + "@example.com",
              "Phone": phone, "Total Spent": _money(spent.fillna(0.0).values),
              "Total Orders": n.astype(str).values, "Tax Exempt": "no"}
    if layout == "current":
        values.update({
            "Customer ID": (7_000_000_000 + c.customer_id.astype("int64")).astype(str)
            if pd.api.types.is_integer_dtype(c.customer_id) else c.customer_id,
            "Accepts Email Marketing": c.email_opt_in.map(yes),
            "Accepts SMS Marketing": c.sms_opt_in.map(yes),
            "Default Address Province Code": addr.province_code,
            "Default Address Country Code": addr.country_code})
    else:
        values.update({"Accepts Marketing": c.email_opt_in.map(yes),
                       "Province": addr.province, "Province Code": addr.province_code,
                       "Country": addr.country, "Country Code": addr.country_code})
    values = {k: (v.values if isinstance(v, pd.Series) else v) for k, v in values.items()}
    _frame(CUSTOMERS_COLUMNS[layout], len(c), values).to_csv(path, index=False)
    return path


def _products(p, title, layout, path: Path) -> Path:
    values = {"Handle": "product-" + p.product_id.astype(str),
              "Title": title.values, "Vendor": "Workbench Demo", "Type": p.category,
              "Tags": p.purchase_type.where(p.purchase_type != "unknown", ""),
              "Published": "true", "Option1 Name": "Title", "Option1 Value": "Default Title",
              "Variant SKU": "SKU-" + p.product_id.astype(str), "Variant Grams": "0",
              "Variant Inventory Tracker": "shopify", "Variant Inventory Policy": "deny",
              "Variant Fulfillment Service": "manual",
              "Variant Price": _money(p.price.values).values,
              "Variant Requires Shipping": "true", "Variant Taxable": "true",
              "Gift Card": "false", "Variant Weight Unit": "kg",
              "Cost per item": _money(p.unit_cost.values).values, "Status": "active"}
    values = {k: (v.values if isinstance(v, pd.Series) else v) for k, v in values.items()}
    _frame(PRODUCTS_COLUMNS[layout], len(p), values).to_csv(path, index=False)
    return path


__all__ = ["FLAT_SHIPPING", "LAYOUTS", "REGION_STATES", "STORE_TZ", "export"]
