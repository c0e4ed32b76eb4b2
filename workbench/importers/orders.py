"""Any table of orders or order lines (CSV or Parquet) into a dataset, by a column map.

``workbench import orders FILE --map order_id=Name,customer_id=Email,placed_at=Created at,...``
names, for each canonical field, the source column that holds it:

* always: ``order_id``, ``customer_id``, ``placed_at``;
* an **order-level** file (one row per order): ``revenue`` (what the customer paid
  for the goods, after discount), optionally ``discount_amount``;
* an **order-line** file (one row per line, order fields repeated or only on an
  order's first line, as Shopify exports them): ``product_id``, ``quantity``,
  ``unit_price``, optionally ``unit_cost``, ``category`` and ``discount_amount``
  (per order);
  Revenue is then the lines' value less the discount: totals that include shipping
  and taxes are not revenue here;
* either: optionally ``currency`` — one currency for the whole file (a file that mixes
  currencies is refused, naming the rows), recorded in the manifest.

Staging reads the file through Arrow, renames the mapped columns and types them;
the canonical step keeps what it can and rejects the rest with a reason (an
unparseable time, a missing id, a non-positive price or quantity, a repeated
order row).  An order-level file gets one line per order of product ``unknown``
(cost unknown).  Customers are the distinct buyers, acquired at their first order;
a customer id that is an email address or a phone number is never written in
clear: it is replaced by a salted SHA-256 pseudonym (the salt is kept in the
dataset's manifest, so later imports into the same dataset link to the same
customers).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from . import (
    IMPORTERS,
    Importer,
    ImportInputError,
    ImportResult,
    Progress,
    RowRules,
    dataset_salt,
    import_dataset,
    one_currency,
    quiet,
    read_text_table,
)

REQUIRED = ("order_id", "customer_id", "placed_at")
LINE_FIELDS = ("product_id", "quantity", "unit_price")
FIELDS = (*REQUIRED, "revenue", "discount_amount", *LINE_FIELDS, "unit_cost", "category",
          "currency")
UNKNOWN_PRODUCT = "unknown"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,}$")


def parse_map(text: str) -> dict[str, str]:
    """``order_id=Name,customer_id=Email`` -> ``{"order_id": "Name", ...}``.

    Examples
    --------
    >>> parse_map("order_id=Name, placed_at=Created at")
    {'order_id': 'Name', 'placed_at': 'Created at'}
    """
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise ImportInputError(f"--map: {part!r} is not FIELD=COLUMN")
        k, v = (x.strip() for x in part.split("=", 1))
        out[k] = v
    return out


def read_map_file(path: str | Path) -> dict[str, str]:
    """A TOML file with a ``[map]`` table of ``field = "source column"``."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    if not isinstance(data.get("map"), dict):
        raise ImportInputError(f"{path}: no [map] table (field = \"source column\")")
    return {str(k): str(v) for k, v in data["map"].items()}


def is_personal(value: str) -> bool:
    """Whether an id is an email address or a phone number (never written in clear)."""
    return bool(_EMAIL.match(value) or _PHONE.match(value))


def pseudonym(value: str, salt: str) -> str:
    """A stable, salted pseudonym for an email or phone (never the value itself)."""
    norm = value.strip().lower()
    if _PHONE.match(norm):
        norm = re.sub(r"[^\d+]", "", norm)
    return "cust_" + hashlib.sha256((salt + norm).encode()).hexdigest()[:16]


class OrdersImporter(Importer):
    """Orders or order lines under any column names (see the module docstring)."""

    name = "orders"

    def __init__(self, mapping: Mapping[str, str], salt: str | None = None):
        unknown = sorted(set(mapping) - set(FIELDS))
        if unknown:
            raise ImportInputError(f"--map: unknown field(s) {unknown}; fields are {list(FIELDS)}")
        missing = [f for f in REQUIRED if f not in mapping]
        if missing:
            raise ImportInputError(f"--map: the required field(s) {missing} are not mapped")
        self.lines = any(f in mapping for f in LINE_FIELDS)
        if self.lines and not all(f in mapping for f in LINE_FIELDS):
            raise ImportInputError(f"--map: an order-line file needs all of {list(LINE_FIELDS)}"
                                   f"; mapped {[f for f in LINE_FIELDS if f in mapping]}")
        if not self.lines and "revenue" not in mapping:
            raise ImportInputError("--map: map revenue (an order-level file) or product_id, "
                                   "quantity and unit_price (an order-line file)")
        self.mapping = dict(mapping)
        self.salt = salt or secrets.token_hex(16)
        self.source = "orders"
        self.currency: str | None = None

    def read(self, path: str | Path) -> dict[str, pd.DataFrame]:
        """The file as it is: CSV (every column as text, strictly parsed) or Parquet."""
        path = Path(path)
        self.source = path.name
        df = read_text_table(path)
        absent = [c for c in self.mapping.values() if c not in df.columns]
        if absent:
            raise ImportInputError(f"{path.name}: mapped column(s) {absent} not in the file; "
                                   f"it has {list(df.columns)}")
        return {"orders": df}

    def manifest_fields(self) -> dict:
        return {"currency": self.currency} if self.currency else {}

    def stage(self, sources):
        src = sources["orders"]
        self.currency = (one_currency(src[self.mapping["currency"]], self.source,
                                      self.mapping["currency"])
                         if "currency" in self.mapping else None)
        out = pd.DataFrame(index=src.index)
        for field, col in self.mapping.items():
            out[field] = src[col]
        for f in ("order_id", "customer_id", "product_id", "category"):
            if f in out:
                s = out[f].astype("string").str.strip()
                out[f] = s.mask(s == "")
        if self.lines:  # order fields only on an order's first line: carry them down
            for f in ("customer_id", "placed_at", "discount_amount"):
                if f in out:
                    out[f] = out.groupby(out.order_id, sort=False, dropna=False)[f].transform(
                        "first")
        out["placed_at"] = pd.to_datetime(out["placed_at"], errors="coerce", utc=True,
                                          format="mixed")
        for f in ("revenue", "discount_amount", "unit_price", "unit_cost"):
            if f in out:
                out[f] = pd.to_numeric(out[f], errors="coerce")
        if "quantity" in out:
            out["quantity"] = pd.to_numeric(out["quantity"], errors="coerce")
        return {"orders": out}

    def canonical(self, staged):
        o = staged["orders"]
        rule = RowRules(self.source, o.index)
        rejects = rule.rejects

        rule(o.order_id.isna(), "no order id")
        rule(o.customer_id.isna(), "no customer id")
        rule(o.placed_at.isna(), "placed_at is not a date and time")
        if "discount_amount" in o:
            o = o.assign(discount_amount=o.discount_amount.fillna(0.0))
            rule(o.discount_amount < 0, "negative discount")
        if self.lines:
            rule(~(o.quantity > 0) | (o.quantity != np.floor(o.quantity)),
                 "quantity is not a whole number above 0 (returns are not read from lines)")
            rule(~(o.unit_price > 0), "unit_price is not a number above 0")
            if "unit_cost" in o:
                rule(o.unit_cost < 0, "negative unit_cost")
        else:
            rule(~(o.revenue >= 0), "revenue is not a number >= 0")
            rule(o.duplicated("order_id"), "the order id appears again (first row kept)")
        kept = o[~rule.bad]
        if "discount_amount" not in kept:
            kept = kept.assign(discount_amount=0.0)
        ids = kept.customer_id.astype(str)
        personal = ids.str.match(_EMAIL) | ids.str.match(_PHONE)
        kept = kept.assign(customer_id=ids.where(~personal, ids.map(
            lambda v: pseudonym(v, self.salt))))
        tables = self._tables(kept)
        # an order whose lines leave nothing to pay is not an order
        return tables, rejects

    def _tables(self, k: pd.DataFrame) -> dict[str, pd.DataFrame]:
        if self.lines:
            items = (k.assign(value=k.quantity * k.unit_price)
                     .groupby(["order_id", "product_id"], sort=False)
                     .agg(quantity=("quantity", "sum"), value=("value", "sum"),
                          unit_cost=("unit_cost", "mean") if "unit_cost" in k else
                          ("quantity", lambda s: np.nan))
                     .reset_index())
            items["unit_price"] = items.value / items.quantity
        else:
            items = pd.DataFrame({"order_id": k.order_id, "product_id": UNKNOWN_PRODUCT,
                                  "quantity": 1, "unit_price": k.revenue + k.discount_amount,
                                  "unit_cost": np.nan})
            items = items[items.unit_price > 0]
        orders = (k.groupby("order_id", sort=False)
                  .agg(customer_id=("customer_id", "first"), placed_at=("placed_at", "min"),
                       discount_amount=("discount_amount", "max"),
                       **({} if self.lines else {"revenue": ("revenue", "first")}))
                  .reset_index())
        if self.lines:
            value = items.assign(v=items.unit_price * items.quantity).groupby(
                "order_id").v.sum()
            orders["revenue"] = (orders.order_id.map(value) - orders.discount_amount).clip(
                lower=0.0).round(2)
        orders = orders[orders.order_id.isin(items.order_id)]
        orders["session_id"] = pd.array([None] * len(orders), dtype="string")
        orders["message_id"] = pd.array([None] * len(orders), dtype="string")
        cat = (k.groupby("product_id").category.first() if "category" in k else None)
        products = (items.groupby("product_id")
                    .agg(price=("unit_price", "median"), unit_cost=("unit_cost", "median"))
                    .reset_index())
        products["category"] = (products.product_id.map(cat).fillna("unknown")
                                if cat is not None else "unknown")
        products["purchase_type"] = "unknown"
        products["supply_days"] = np.nan
        customers = (orders.groupby("customer_id").placed_at.min().rename("signup_at")
                     .reset_index())
        customers["acquisition_channel"] = "unknown"
        customers["region"] = pd.array([None] * len(customers), dtype="string")
        customers["email_opt_in"] = False
        customers["sms_opt_in"] = False
        items = items[["order_id", "product_id", "quantity", "unit_price", "unit_cost"]]
        items = items.assign(quantity=items.quantity.astype("int64"))
        return {"customers": customers, "products": products[
                    ["product_id", "category", "price", "unit_cost", "purchase_type",
                     "supply_days"]],
                "orders": orders[["order_id", "customer_id", "session_id", "placed_at",
                                  "revenue", "discount_amount", "message_id"]],
                "order_items": items}


def import_orders(file: str | Path, out: str | Path, mapping: Mapping[str, str], *,
                  progress: Progress = quiet) -> ImportResult:
    """``workbench import orders``: ``file`` mapped by ``mapping`` into a dataset at ``out``.

    A re-import into the same folder keeps its pseudonym salt, so the same email stays
    the same customer.
    """
    importer = OrdersImporter(mapping, salt=dataset_salt(out))
    sources = importer.read(file)
    progress(f"orders: read {len(sources['orders']):,} rows from {file}")
    return import_dataset(importer, sources, Path(out), progress=progress,
                          manifest={"source_files": [Path(file).name], "id_salt": importer.salt})


IMPORTERS["orders"] = OrdersImporter

__all__ = ["FIELDS", "ImportInputError", "OrdersImporter", "import_orders", "is_personal",
           "parse_map", "pseudonym", "read_map_file"]
