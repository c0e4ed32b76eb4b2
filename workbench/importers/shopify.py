"""The Shopify admin's CSV exports (orders, customers, products) into a dataset.

``workbench import shopify --orders orders_export.csv [--customers customers_export.csv]
[--products products_export.csv] --out DIR``.  Column names are the admin's, as
documented by Shopify's help centre and the export apps that mirror it (the sources
are named in ``tests/fixtures/shopify/README.md``).

Reading
-------
Each file goes through the generic orders importer's strict Arrow CSV reader (every
column as text, so ids keep their leading zeros and a broken quote is an error naming
the line).  A Shopify export is at most a few hundred MB, so the typed columns are
then handled in pandas.  A file that is not the export it is given as (a customers
export passed as ``--orders``) is an :class:`ImportInputError` naming the file and
the missing columns.

Layouts
-------
The layout of each file is read from its header and reported in the summary:

* orders: *current* when ``Lineitem discount`` or ``Payment ID`` is present (the
  columns added later: ``Lineitem discount``, ``Receipt Number``, ``Duties``,
  ``Billing/Shipping Province Name``, ``Payment ID``, ``Payment Terms Name``,
  ``Next Payment Due At``, ``Payment References``), *legacy* otherwise.  Only columns
  both layouts have are read; ``Lineitem discount`` is not needed (the order's
  ``Discount Amount`` already includes it).
* customers: *current* has ``Customer ID``, ``Accepts Email Marketing``, ``Accepts
  SMS Marketing`` and ``Default Address ...`` columns; *legacy* has ``Accepts
  Marketing`` (email only) and ``Province Code`` / ``Country Code``.
* products: *current* has ``Product Category`` and ``Status``; *legacy* has neither.

Orders (one line per line item; order fields only on an order's first line)
--------------------------------------------------------------------------------
* ``order_id`` = ``Name`` ("#1001"); order fields are carried from the first line
  to the others.  A Name used by two different ``Id`` values is rejected.
* ``placed_at`` = ``Created at``, an offset-aware local time ("2024-03-05 14:02:11
  -0500") converted to UTC (a time without an offset is read as UTC).  An order whose
  time cannot be read is rejected; when no order can be read it is an error.
* ``Financial Status``: ``paid``, ``partially_paid``, ``authorized`` and ``pending``
  are orders.  *Pending* (a manual payment not yet captured: bank transfer, cash on
  delivery) counts as a sale at its creation time, like a paid one (one that is never
  paid is voided or cancelled in a later export: re-import); the summary counts them.
  ``refunded`` / ``partially_refunded`` are orders whose refund becomes returns
  (below).  ``voided`` orders and orders with ``Cancelled at`` set are not sales: every
  line is rejected with reason "voided" / "cancelled".  Any other status (``expired``,
  an empty one) is rejected with the status named.
* ``Currency``: one currency per dataset; several is an error naming the column and
  the rows of the minority currencies.
* order lines: ``product_id`` = ``Lineitem sku``, or when empty the product whose
  ``Title`` (or "Title - Option") equals ``Lineitem name``, else the name itself.
  ``unit_price`` = ``Lineitem price`` (before discounts); a line of price 0 (a free
  gift) or a quantity that is not a whole number is rejected.  Two lines of one
  product in an order are merged (quantity summed, value-weighted price).
* a negative ``Lineitem quantity`` is a returned item: it becomes a return of
  ``|quantity| * price`` when the product is an item of the same order and the order
  has no ``Refunded Amount`` (which would already hold the refund); otherwise the
  line is rejected with the reason.
* ``discount_amount`` = ``Discount Amount``; ``revenue`` = sum(quantity * Lineitem
  price) - Discount Amount.  ``Shipping`` and ``Taxes`` are not revenue (they pass
  through to the carrier and the tax office); ``Subtotal`` (items after discounts,
  before shipping and taxes) is the same amount and is not read.  A discount above the items' value
  (a shipping discount) is capped at it (a fixed row).
* ``Discount Code`` has no canonical column: the codes (split on commas) are returned
  as ``result.discount_codes`` and written as ``order_discount_codes.csv`` (order_id,
  code) beside the tables once :func:`import_dataset` takes ``extra_files``.
* refunds: ``Refunded Amount`` of a kept order (any status) becomes ``returns`` rows,
  allocated across the order's lines pro rata to line value (quantity * price),
  rounded to the cent with the remainder on the largest line.  A refund above the
  revenue (shipping or taxes refunded too) is capped at the revenue; a ``refunded``
  order without an amount is taken as fully refunded.  The export has no refund date:
  ``returned_at`` = the order's ``placed_at`` (weekly return figures fall in the
  order's week).
* ``session_id`` and ``message_id`` are null: the export has no sessions or messages.

Customers
---------
* ``customer_id`` = :func:`~workbench.importers.orders.pseudonym` of the ``Email``
  (else the order's ``Phone``; an Email that is not an address counts as none) with
  the dataset's salt (kept in the manifest as ``id_salt``; a re-import into the same
  folder reuses it).  Emails and phones are never written in clear.  A customers-export
  row with neither is keyed "shopify-<Customer ID>" (current layout) or rejected.
* an order without email or phone gets a guest customer of its own, ``guest-<Name>``:
  guests cannot be linked across orders (each looks like a one-time buyer).
* the customers export adds customers who never ordered (newsletter sign-ups) and
  the consents: ``Accepts Email Marketing`` / ``Accepts SMS Marketing`` (legacy:
  ``Accepts Marketing`` -> email; SMS consent false) -> ``email_opt_in`` /
  ``sms_opt_in``.  A buyer absent from it takes ``email_opt_in`` from the orders'
  ``Accepts Marketing`` (latest order) and ``sms_opt_in`` false.
* ``signup_at``: neither export has a creation date.  A buyer signs up at the first
  order; a customer without an order at the latest order time of the orders export
  (the end of the period it covers).  CLV ignores customers without a purchase.
* ``acquisition_channel`` = "unknown"; ``region`` = "<country code>-<province code>"
  (ISO 3166-2 style, e.g. "US-NY") from the customers export's default address, else
  the latest order's billing (then shipping) address; the country alone when the
  province is missing; null when neither is there.

Products
--------
* one product per variant: ``product_id`` = ``Variant SKU``, else the ``Handle``;
  ``category`` = ``Type`` ("unknown" when empty); ``price`` = ``Variant Price``
  (else the median price of its order lines); ``unit_cost`` = ``Cost per item``
  (null when empty, or not below the price).  Product fields are carried from a
  handle's first row; rows without a variant (extra images) are merged into it.
* products seen only in the orders: category "unknown", price = median line price,
  cost unknown.  ``order_items.unit_cost`` is the product's current cost (null when
  not below the line's price).
* ``purchase_type`` = "unknown" and ``supply_days`` null: tags such as "subscription"
  or "refill" hint at consumables, but the schema requires supply days for those and
  no export carries them.  ``Tags`` have no canonical column (a product attributes
  table would hold them); they are not imported.

What the exports cannot carry (lost in a round trip)
-----------------------------------------------------
Sessions, events, messages and experiments (analyses that need them are skipped);
which message or campaign an order came from; signup dates and acquisition channels;
refund dates and which product a refund was for (allocated pro rata); SMS consent in
the legacy customers layout; purchase types and supply days; costs as they were when
an order was placed (the product's current cost is used).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import (
    CODES_FILE,
    IMPORTERS,
    ImportInputError,
    ImportResult,
    Progress,
    dataset_salt,
    import_dataset,
    one_currency,
    quiet,
    reject,
)
from .orders import _EMAIL, OrdersImporter, pseudonym
from .shopify_columns import (
    CUSTOMERS_COLUMNS,
    ORDERS_COLUMNS,
    PRODUCTS_COLUMNS,
    REQUIRED,
    layout_of,
)

#: statuses that are sales (refunds are read from Refunded Amount)
SALE_STATUSES = ("paid", "partially_paid", "authorized", "pending", "partially_refunded",
                 "refunded")
_ORDER_FIELDS = ("Email", "Phone", "Financial Status", "Currency", "Discount Code",
                 "Discount Amount", "Created at", "Cancelled at", "Refunded Amount",
                 "Accepts Marketing", "Id", "Billing Province", "Billing Country",
                 "Shipping Province", "Shipping Country")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"
_YES = {"yes", "true", "1", "y", "subscribed", "confirmed_opt_in", "single_opt_in"}


def parse_times(s: pd.Series) -> pd.Series:
    """Shopify's "2024-03-05 14:02:11 -0500" (or ISO 8601) as UTC; NaT where unreadable.

    Examples
    --------
    >>> parse_times(pd.Series(["2024-03-05 14:02:11 -0500", "soon"])).tolist()[0]
    Timestamp('2024-03-05 19:02:11+0000', tz='UTC')
    """
    out = pd.to_datetime(s, format=_TIME_FORMAT, errors="coerce", utc=True)
    retry = out.isna() & s.notna()
    if retry.any():  # ISO 8601 ("2024-03-05T14:02:11-05:00") and other forms, row by row
        out[retry] = pd.to_datetime(s[retry], format="mixed", errors="coerce", utc=True)
    return out


def _yes(s: pd.Series) -> pd.Series:
    return s.fillna("").str.strip().str.lower().isin(_YES)


def _region(df: pd.DataFrame, prefix: str) -> pd.Series:
    """Region "US-NY" from ``<prefix>Country [Code]`` and ``<prefix>Province [Code]``.

    The code, else the name; the country alone without a province; None without one.
    """

    def col(name):  # the code, else the name
        out = pd.Series(None, index=df.index, dtype=object)
        for c in (f"{prefix}{name} Code", f"{prefix}{name}"):
            if c in df:
                out = out.fillna(df[c].astype(object))
        return out
    country, province = col("Country"), col("Province")
    both = country.notna() & province.notna()
    return country.where(~both, country + "-" + province).where(country.notna(), None)


class ShopifyImporter(OrdersImporter):
    """The orders, customers and products exports (see the module docstring).

    It reuses the generic orders importer's strict CSV reader and pseudonyms; the
    column handling is its own.
    """

    name = "shopify"

    def __init__(self, salt: str | None = None):
        super().__init__({"order_id": "Name", "customer_id": "Email",
                          "placed_at": "Created at", "revenue": "Subtotal"}, salt=salt)
        self.mapping = {}  # the reader checks Shopify's columns itself (per file kind)
        self.files: dict[str, str] = {}
        self.layouts: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.fixed: dict[str, int] = {}
        self.discount_codes = pd.DataFrame({"order_id": [], "code": []}, dtype="object")

    # ------------------------------------------------------------------ reading
    def read_export(self, kind: str, path: str | Path) -> pd.DataFrame:
        """One export file as text columns, after checking it is that export."""
        path = Path(path)
        df = OrdersImporter.read(self, path)["orders"]
        missing = [c for c in REQUIRED[kind] if c not in df.columns]
        if missing:
            looks = [k for k in REQUIRED if k != kind
                     and all(c in df.columns for c in REQUIRED[k])]
            hint = (f"; it looks like a Shopify {looks[0]} export (pass it as --{looks[0]})"
                    if looks else "")
            raise ImportInputError(f"{path.name}: not a Shopify {kind} export: missing "
                                   f"column(s) {missing}{hint}")
        self.files[kind] = path.name
        self.layouts[kind] = layout_of(kind, df.columns)
        df = df.apply(lambda s: s.str.strip()).replace("", None)
        return df  # its index numbers data rows from 1, as rejects report them

    def read_files(self, orders: Path, customers: Path | None = None,
                   products: Path | None = None, progress: Progress = quiet
                   ) -> dict[str, pd.DataFrame]:
        """The exports given, by kind."""
        out = {}
        for kind, path in (("orders", orders), ("customers", customers),
                           ("products", products)):
            if path is not None:
                out[kind] = self.read_export(kind, path)
                progress(f"read {len(out[kind]):,} rows from {Path(path).name} "
                         f"({self.layouts[kind]} {kind} layout)")
        return out

    def extra_files(self) -> dict[str, str]:
        """The discount code of each order: no canonical table has a column for it."""
        return {CODES_FILE: self.discount_codes.to_csv(index=False)}

    def manifest_fields(self) -> dict:
        return {**super().manifest_fields(),
                "shopify": {"layouts": self.layouts, "counts": self.counts,
                            "fixed": self.fixed}}

    # ------------------------------------------------------------------ staging
    def stage(self, sources):
        # before order fields are carried down: only first lines carry a currency
        o = sources["orders"]
        self.currency = (one_currency(o.Currency, self.files["orders"], "Currency")
                         if "Currency" in o else None)
        o = sources["orders"].copy()
        first = o.groupby("Name", sort=False, dropna=False)
        o["ids"] = first.Id.transform("nunique") if "Id" in o else 1
        for f in (f for f in _ORDER_FIELDS if f in o):
            o[f] = first[f].transform("first")
        o["placed_at"] = parse_times(o["Created at"])
        for f in ("Lineitem quantity", "Lineitem price", "Discount Amount", "Refunded Amount"):
            num = pd.to_numeric(o[f], errors="coerce")
            o[f"{f} unreadable"] = o[f].notna() & num.isna()
            o[f] = num
        o["status"] = o["Financial Status"].str.lower()
        staged = {"orders": o}
        if "products" in sources:
            p = sources["products"].copy()
            for f in ("Title", "Type", "Tags"):
                p[f] = p.groupby("Handle", sort=False)[f].transform("first")
            p["price"] = pd.to_numeric(p["Variant Price"], errors="coerce")
            p["cost"] = (pd.to_numeric(p["Cost per item"], errors="coerce")
                         if "Cost per item" in p else np.nan)
            staged["products"] = p
        if "customers" in sources:
            staged["customers"] = sources["customers"]
        return staged

    # ------------------------------------------------------------------ canonical
    def canonical(self, staged):
        self.counts, self.fixed = {}, {}
        rejects: list[pd.DataFrame] = []
        o = staged["orders"]
        lines, returned = self._order_lines(o, rejects)
        products, pid_of = self._products(staged.get("products"), rejects)
        for d in (lines, returned):  # the SKU, else the catalog's product of that name
            name = d["Lineitem name"].astype(object)
            d["product_id"] = d["Lineitem sku"].astype(object).fillna(
                name.map(pid_of)).fillna(name)
        items = self._items(lines)
        orders = self._orders(lines, items)
        items, products = self._costs(items, products, rejects)
        returns = self._returns(orders, items, lines, returned, rejects)
        customers = self._customers(staged.get("customers"), lines, orders, rejects)
        codes = lines.drop_duplicates("Name")[["Name", "Discount Code"]].dropna()
        codes = codes.assign(code=codes["Discount Code"].str.split(",")).explode("code")
        codes["code"] = codes.code.str.strip()
        self.discount_codes = (codes[codes.code != ""].rename(columns={"Name": "order_id"})
                               [["order_id", "code"]].reset_index(drop=True))
        tables = {"customers": customers, "products": products, "orders": orders,
                  "order_items": items[["order_id", "product_id", "quantity", "unit_price",
                                        "unit_cost"]]}
        if len(returns):
            tables["returns"] = returns
        statuses = lines.drop_duplicates("Name").status
        self.counts.update({
            "orders_kept": len(orders), "pending_orders": int((statuses == "pending").sum()),
            "returns_rows": len(returns), "discount_codes": len(self.discount_codes),
            "fixed_rows": sum(self.fixed.values())})
        return tables, rejects

    def _reject(self, rejects, kind, rows, reason) -> None:
        rows = list(rows)
        if rows:
            rejects.append(reject(self.files[kind], rows, reason))

    def _order_lines(self, o: pd.DataFrame, rejects) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Kept sale lines and the negative (returned) lines turned into returns."""
        bad = pd.Series(False, index=o.index)
        counted: dict[str, int] = {}

        def rule(mask, reason, whole_order=True, count=None):
            nonlocal bad
            mask = mask.fillna(False) & ~bad
            if whole_order and mask.any():
                mask = o.Name.isin(o.Name[mask]) & ~bad
            if mask.any():
                self._reject(rejects, "orders", o.index[mask], reason)
                bad |= mask
                if count:
                    counted[count] = counted.get(count, 0) + int(o.Name[mask].nunique())

        rule(o.Name.isna(), "no order Name", whole_order=False)
        rule(o.ids > 1, "the order Name is used by more than one order Id")
        unreadable = o["Created at"].notna() & o.placed_at.isna()
        if o.placed_at.isna().all():
            rows = ", ".join(map(str, o.index[:5]))
            raise ImportInputError(f"{self.files['orders']}: column 'Created at' has no "
                                   f"readable date and time (rows {rows}...); expected e.g. "
                                   "'2024-03-05 14:02:11 -0500'")
        rule(unreadable | o["Created at"].isna(), "Created at is not a date and time")
        rule(o["Cancelled at"].notna(), "cancelled", count="cancelled_orders")
        rule(o.status == "voided", "voided", count="voided_orders")
        for s in sorted(set(o.status[~bad].dropna()) - set(SALE_STATUSES)):
            rule(o.status == s, f"Financial Status {s!r} is not a sale",
                 count="other_status_orders")
        rule(o.status.isna(), "no Financial Status", count="other_status_orders")
        for f in ("Discount Amount", "Refunded Amount"):
            rule(o[f"{f} unreadable"] | (o[f] < 0), f"{f} is not a number >= 0")
        q, price = o["Lineitem quantity"], o["Lineitem price"]
        rule(q.isna() | (q != np.floor(q)), "Lineitem quantity is not a whole number",
             whole_order=False)
        rule(q == 0, "Lineitem quantity is 0", whole_order=False)
        rule(~(price > 0), "Lineitem price is not a number above 0 (a free line has no "
             "unit price to keep)", whole_order=False)
        neg = (q < 0) & ~bad
        sale = o[~bad & ~neg]
        ret = o[neg]
        bought = set(zip(sale.Name, sale["Lineitem sku"].fillna(sale["Lineitem name"]),
                         strict=True))
        key = list(zip(ret.Name, ret["Lineitem sku"].fillna(ret["Lineitem name"]),
                       strict=True))
        not_bought = pd.Series([k not in bought for k in key], index=ret.index, dtype=bool)
        has_refund = ret["Refunded Amount"].fillna(0) > 0
        self._reject(rejects, "orders", ret.index[not_bought],
                     "negative Lineitem quantity for a product the order did not buy")
        self._reject(rejects, "orders", ret.index[~not_bought & has_refund],
                     "negative Lineitem quantity in an order whose Refunded Amount already "
                     "holds the refund")
        ret = ret[~not_bought & ~has_refund]
        self.counts.update(counted)
        self.counts.setdefault("cancelled_orders", 0)
        self.counts.setdefault("voided_orders", 0)
        self.counts["negative_lines_to_returns"] = len(ret)
        return sale.copy(), ret.copy()

    def _items(self, lines: pd.DataFrame) -> pd.DataFrame:
        d = lines.assign(value=lines["Lineitem quantity"] * lines["Lineitem price"])
        items = (d.groupby(["Name", "product_id"], sort=False)
                 .agg(quantity=("Lineitem quantity", "sum"), value=("value", "sum"),
                      n=("value", "size"))
                 .reset_index().rename(columns={"Name": "order_id"}))
        merged = int((items.n - 1).sum())
        if merged:
            self.fixed["lines of one product in an order merged"] = merged
        items["unit_price"] = items.value / items.quantity
        items["quantity"] = items.quantity.astype("int64")
        return items

    def _orders(self, lines: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
        o = lines.drop_duplicates("Name").set_index("Name")
        value = items.groupby("order_id").value.sum()
        disc = o["Discount Amount"].fillna(0.0)
        over = disc > value.reindex(o.index) + 0.005
        if over.any():
            self.fixed["Discount Amount above the items' value, capped at it"] = int(over.sum())
        disc = disc.where(~over, value.reindex(o.index)).round(2)
        orders = pd.DataFrame({
            "order_id": o.index, "customer_id": None, "session_id": None,
            "placed_at": o.placed_at.array,
            "revenue": (value.reindex(o.index) - disc).clip(lower=0).round(2).values,
            "discount_amount": disc.values, "message_id": None})
        for c in ("session_id", "message_id"):
            orders[c] = pd.array([None] * len(orders), dtype="string")
        return orders

    def _products(self, p: pd.DataFrame | None, rejects
                  ) -> tuple[pd.DataFrame, dict[str, str]]:
        """The catalog from the products export, and Lineitem name -> product_id."""
        cols = ["product_id", "category", "price", "unit_cost", "row"]
        if p is None:
            return pd.DataFrame(columns=cols), {}
        variant = p["Variant SKU"].notna() | p["Variant Price"].notna()
        self.counts["product_rows_merged"] = int((~variant).sum())  # image-only rows
        p = p[variant].assign(product_id=p["Variant SKU"].fillna(p.Handle))
        dup = p.product_id.duplicated()
        self._reject(rejects, "products", p.index[dup],
                     "the Variant SKU appears again (first row kept)")
        p = p[~dup]
        opts = [c for c in ("Option1 Value", "Option2 Value", "Option3 Value") if c in p]
        pid_of = dict(zip(p.Title, p.product_id, strict=True))
        if opts:
            named = p[opts].apply(lambda r: " / ".join(v for v in r if isinstance(v, str)
                                                       and v != "Default Title"), axis=1)
            for t, n, pid in zip(p.Title, named, p.product_id, strict=True):
                if n:
                    pid_of[f"{t} - {n}"] = pid
        out = pd.DataFrame({"product_id": p.product_id, "category": p.Type.fillna("unknown"),
                            "price": p.price, "unit_cost": p.cost, "row": p.index})
        return out.reset_index(drop=True), pid_of

    def _costs(self, items: pd.DataFrame, products: pd.DataFrame, rejects
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
        med = items.groupby("product_id").unit_price.median()
        products = products.set_index("product_id")
        no_price = ~(products.price > 0)
        from_orders = no_price & products.index.isin(med.index)
        if from_orders.any():
            self.fixed["Variant Price missing: the median price of its order lines"] = int(
                from_orders.sum())
        products.loc[no_price, "price"] = med.reindex(products.index[no_price]).values
        unpriced = products.price.isna()
        self._reject(rejects, "products", products.row[unpriced],
                     "no Variant Price above 0 and no order line to price it")
        products = products[~unpriced]
        only = med.index.difference(products.index)
        self.counts["products_only_in_orders"] = len(only)
        products = pd.concat([products, pd.DataFrame(
            {"category": "unknown", "price": med.reindex(only).values, "unit_cost": np.nan},
            index=only)])
        high = products.unit_cost >= products.price
        if high.any():
            self.fixed["Cost per item not below Variant Price: cost unknown"] = int(high.sum())
        products["unit_cost"] = products.unit_cost.where(~high).astype(float)
        products.index.name = "product_id"
        products = products.reset_index()
        products["purchase_type"] = "unknown"
        products["supply_days"] = np.nan
        cost = items.product_id.map(products.set_index("product_id").unit_cost)
        high = cost >= items.unit_price
        if high.any():
            self.fixed["product cost not below a line's price: line cost unknown"] = int(
                high.sum())
        items = items.assign(unit_cost=cost.where(~high).astype(float))
        return items, products[["product_id", "category", "price", "unit_cost",
                                "purchase_type", "supply_days"]]

    def _returns(self, orders, items, lines, returned, rejects) -> pd.DataFrame:
        first = lines.drop_duplicates("Name").set_index("Name")
        o = orders.set_index("order_id")
        refund = first["Refunded Amount"].fillna(0.0).reindex(o.index)
        full = (first.status.reindex(o.index) == "refunded") & (refund <= 0)
        if full.any():
            self.fixed["refunded order without a Refunded Amount: fully refunded"] = int(
                full.sum())
        refund = refund.where(~full, o.revenue)
        over = refund > o.revenue + 0.005
        if over.any():
            self.fixed["Refunded Amount above the revenue (shipping or taxes refunded), "
                       "capped at it"] = int(over.sum())
        refund = refund.clip(upper=o.revenue).round(2)
        refund = refund[refund > 0]
        it = items[items.order_id.isin(refund.index)].copy()
        share = it.value / it.groupby("order_id").value.transform("sum")
        it["amount"] = (share * it.order_id.map(refund)).round(2)
        # the rounding remainder goes to each order's largest line
        rest = (refund - it.groupby("order_id").amount.sum()).round(2)
        top = it.sort_values("value", ascending=False).drop_duplicates("order_id").index
        it.loc[top, "amount"] += it.loc[top, "order_id"].map(rest).values
        neg = returned.assign(amount=-returned["Lineitem quantity"] * returned["Lineitem price"])
        r = pd.concat([it[["order_id", "product_id", "amount"]],
                       neg.rename(columns={"Name": "order_id"})[
                           ["order_id", "product_id", "amount"]]])
        r = r.groupby(["order_id", "product_id"], sort=False).amount.sum().reset_index()
        # a returned line cannot give back more than the order's revenue
        cap = r.order_id.map(o.revenue) / r.groupby("order_id").amount.transform("sum")
        r["amount"] = (r.amount * cap.clip(upper=1.0)).round(2)
        r = r[r.amount > 0]
        r["returned_at"] = r.order_id.map(o.placed_at)
        from_refund = r.order_id[r.order_id.isin(refund.index)]
        self.counts["refunded_orders_to_returns"] = int(from_refund.nunique())
        return r[["order_id", "product_id", "returned_at", "amount"]].reset_index(drop=True)

    def _key(self, email: pd.Series, phone: pd.Series) -> pd.Series:
        """Pseudonymous customer keys from an email, else a phone; None when neither."""
        e = email.where(email.fillna("").str.match(_EMAIL))
        v = e.fillna(phone)
        return v.map(lambda x: pseudonym(x, self.salt) if isinstance(x, str) else None)

    def _customers(self, c: pd.DataFrame | None, lines, orders, rejects) -> pd.DataFrame:
        first = lines.drop_duplicates("Name").set_index("Name").sort_values("placed_at")
        phone = first.Phone if "Phone" in first else pd.Series(None, index=first.index)
        key = self._key(first.Email, phone)
        guest = key.isna()
        key = key.where(~guest, "guest-" + key.index.to_series())
        orders["customer_id"] = orders.order_id.map(key).astype("string")
        bill, ship = _region(first, "Billing "), _region(first, "Shipping ")
        byer = pd.DataFrame({"customer_id": key, "placed_at": first.placed_at,
                             "region": bill.fillna(ship),
                             "email_opt_in": _yes(first["Accepts Marketing"]) if
                             "Accepts Marketing" in first else False})
        buyers = byer.groupby("customer_id").agg(
            signup_at=("placed_at", "min"), region=("region", "last"),
            email_opt_in=("email_opt_in", "last"))
        buyers["sms_opt_in"] = False
        self.counts.update({"buyers": len(buyers), "guest_customers": int(guest.sum()),
                            "signups_without_orders": 0})
        if c is not None:
            cur = self.layouts["customers"] == "current"
            ckey = self._key(c.Email, c.Phone)
            if cur and "Customer ID" in c:
                ckey = ckey.fillna("shopify-" + c["Customer ID"])
            self._reject(rejects, "customers", c.index[ckey.isna()],
                         "no Email, Phone or Customer ID to identify the customer")
            dup = ckey.notna() & ckey.duplicated()
            self._reject(rejects, "customers", c.index[dup],
                         "the customer appears again (first row kept)")
            c = c[ckey.notna() & ~dup].set_axis(ckey[ckey.notna() & ~dup])
            pre = "Default Address " if cur else ""
            region = _region(c, pre)
            info = pd.DataFrame({
                "region": region,
                "email_opt_in": _yes(c["Accepts Email Marketing" if cur else
                                       "Accepts Marketing"]),
                "sms_opt_in": _yes(c["Accepts SMS Marketing"]) if cur else False})
            known = buyers.index.intersection(info.index)
            self.counts["customers_merged"] = len(known)
            buyers.loc[known, "email_opt_in"] = info.loc[known, "email_opt_in"]
            buyers.loc[known, "sms_opt_in"] = info.loc[known, "sms_opt_in"]
            buyers.loc[known, "region"] = info.loc[known, "region"].fillna(
                buyers.loc[known, "region"])
            new = info.loc[info.index.difference(buyers.index)]
            new = new.assign(signup_at=orders.placed_at.max())
            self.counts["signups_without_orders"] = len(new)
            buyers = pd.concat([buyers, new[buyers.columns]])
        buyers.index.name = "customer_id"
        out = buyers.reset_index()
        out["acquisition_channel"] = "unknown"
        out["region"] = out.region.astype("string")
        out["email_opt_in"] = out.email_opt_in.astype(bool)
        out["sms_opt_in"] = out.sms_opt_in.astype(bool)
        out["customer_id"] = out.customer_id.astype("string")
        return out[["customer_id", "signup_at", "acquisition_channel", "region",
                    "email_opt_in", "sms_opt_in"]]


@dataclass
class ShopifyImportResult(ImportResult):
    """An import's result with the Shopify counts, layouts and discount codes."""

    _skip_in_dict = ("rejects", "discount_codes")

    layouts: dict[str, str]
    counts: dict[str, int]
    fixed: dict[str, int]
    discount_codes: pd.DataFrame

    def summary(self) -> str:
        c = self.counts
        lay = ", ".join(f"{k} {v}" for k, v in self.layouts.items())
        fixed = "; ".join(f"{n} {r}" for r, n in self.fixed.items()) or "none"
        return (f"{super().summary()} Shopify exports ({lay} layout): "
                f"{c['orders_kept']:,} orders kept ({c['pending_orders']:,} pending), "
                f"{c['buyers']:,} buyers of whom {c['guest_customers']:,} guests (one per "
                f"order: not linked across orders), {c['signups_without_orders']:,} "
                f"customers without an order; {c['cancelled_orders']:,} cancelled and "
                f"{c['voided_orders']:,} voided orders rejected; "
                f"{c['refunded_orders_to_returns']:,} orders' Refunded Amount and "
                f"{c['negative_lines_to_returns']:,} negative-quantity lines turned into "
                f"{c['returns_rows']:,} returns rows; {c.get('product_rows_merged', 0):,} "
                f"product rows without a variant (extra images) merged; "
                f"{c['discount_codes']:,} discount codes; fixed rows: {fixed}.")


def import_shopify(orders: Path, out: Path, *, customers: Path | None = None,
                   products: Path | None = None, progress: Progress = quiet
                   ) -> ShopifyImportResult:
    """The Shopify admin's exports into a dataset at ``out`` (see the module docstring).

    Parameters
    ----------
    orders
        ``orders_export.csv`` (current or legacy layout).
    out
        The dataset folder; replaced only when the import succeeds.  A dataset already
        there lends its pseudonym salt, so customers keep their ids.
    customers, products
        ``customers_export.csv`` (sign-ups without orders, consents) and
        ``products_export.csv`` (product type, cost).
    progress
        Called with one line per step.

    Returns
    -------
    ShopifyImportResult
        Row counts, rejects and validation report, plus the Shopify counts (orders
        kept, guests, sign-ups, cancelled and voided orders, refunds turned into
        returns, fixed rows) and the orders' discount codes.

    Raises
    ------
    ImportInputError
        A file that is not the export it is given as, several currencies, no readable
        order time.
    """
    importer = ShopifyImporter(salt=dataset_salt(out))
    sources = importer.read_files(orders, customers, products, progress)
    names = [Path(p).name for p in (orders, customers, products) if p is not None]
    res = import_dataset(importer, sources, out, progress=progress,
                         manifest={"source_files": names, "id_salt": importer.salt})
    progress(f"wrote {res.path}")
    return ShopifyImportResult(res.path, res.row_counts, res.rejects, res.report,
                               dict(importer.layouts), dict(importer.counts),
                               dict(importer.fixed), importer.discount_codes)


IMPORTERS["shopify"] = ShopifyImporter

__all__ = ["CUSTOMERS_COLUMNS", "ORDERS_COLUMNS", "PRODUCTS_COLUMNS", "REQUIRED",
           "SALE_STATUSES", "ShopifyImportResult", "ShopifyImporter", "import_shopify",
           "parse_times"]
