"""What a recommender fits on: order lines as integer codes, and the catalog beside them.

:class:`Interactions` holds every order line as (customer, product, order, day) codes —
the shape implicit, LightFM and every item-to-item method start from — and builds the
sparse matrices the models multiply.  :class:`Catalog` aligns each product code with
what re-ranking and constraints need: category, price band, unit margin, whether it is
bought again (consumable) and whether it is in stock.  Both are plain tables in, arrays
out: they know nothing of datasets (``workbench.analyses.recommendations`` reads those).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

LINE_COLUMNS = ("customer_id", "order_id", "placed_at", "product_id", "quantity")


class RecommendInputError(ValueError):
    """Order lines or a catalog the recommender cannot use (names the column and rows)."""


@dataclass
class Catalog:
    """Per product code: category, price band, unit margin, repeatable, in stock."""

    product_ids: np.ndarray  # the ids, in code order
    category: np.ndarray  # category code per product
    categories: tuple[str, ...]
    price: np.ndarray
    margin: np.ndarray  # unit margin: price less unit cost (price where the cost is unknown)
    repeatable: np.ndarray  # bool: consumables may be recommended again
    in_stock: np.ndarray  # bool
    price_band: np.ndarray = field(default=None)  # quintile of price within the category
    costs_known: bool = True

    def __post_init__(self):
        if self.price_band is None:
            self.price_band = _bands(self.category, self.price)

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    @classmethod
    def from_products(cls, products: pd.DataFrame, product_ids=None,
                      in_stock=None) -> Catalog:
        """From the ``products`` table (product_id, category, price, unit_cost, purchase_type).

        ``product_ids``: the code order (default: the table's, sorted); a product sold
        but missing from the table is an error (its category and price are unknown).
        ``in_stock``: ids of products that can be recommended (default: all).
        """
        need = ["product_id", "category", "price"]
        missing = [c for c in need if c not in products.columns]
        if missing:
            raise RecommendInputError(f"products: missing columns {missing}")
        p = products.drop_duplicates("product_id").set_index("product_id")
        ids = np.sort(p.index.to_numpy()) if product_ids is None else np.asarray(product_ids)
        absent = pd.Index(ids).difference(p.index)
        if len(absent):
            raise RecommendInputError(
                f"products: {len(absent)} products sold in the orders are not in the catalog "
                f"(e.g. {list(absent[:3])}); export the full catalog")
        p = p.loc[ids]
        bad = p.index[~(p.price > 0)]
        if len(bad):
            raise RecommendInputError(f"products: column 'price' must be > 0; rows with "
                                      f"product_id {list(bad[:5])}")
        cats = tuple(sorted(p.category.astype(str).unique()))
        cat = pd.Categorical(p.category.astype(str), categories=cats).codes.astype(np.int32)
        price = p.price.to_numpy(float)
        cost = p.unit_cost.to_numpy(float) if "unit_cost" in p else np.full(len(p), np.nan)
        known = bool(np.isfinite(cost).any())
        margin = np.where(np.isfinite(cost), price - cost, price)
        repeat = (p.purchase_type.astype(str).eq("consumable").to_numpy()
                  if "purchase_type" in p else np.zeros(len(p), bool))
        stock = (np.ones(len(p), bool) if in_stock is None
                 else pd.Index(ids).isin(pd.Index(in_stock)))
        return cls(ids, cat, cats, price, margin, repeat, stock, costs_known=known)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """How alike products ``a`` and ``b`` are (elementwise, broadcast).

        Half for the same category, half for the same price band within it — what "four
        near-identical items" share.  1 for the same product.
        """
        same_cat = self.category[a] == self.category[b]
        return 0.5 * same_cat + 0.5 * (same_cat & (self.price_band[a] == self.price_band[b]))


def _bands(category: np.ndarray, price: np.ndarray, n: int = 5) -> np.ndarray:
    """Price quintile of each product within its category (0 = cheapest)."""
    out = np.zeros(len(price), dtype=np.int8)
    for c in np.unique(category):
        idx = np.flatnonzero(category == c)
        rank = pd.Series(price[idx]).rank(method="first").to_numpy() - 1
        out[idx] = np.minimum((rank * n / len(idx)).astype(int), n - 1)
    return out


@dataclass
class Interactions:
    """Order lines as codes, sorted by time: ``cust``, ``prod``, ``order``, ``day``, ``qty``.

    ``day`` is days since ``origin`` (float); ``order`` numbers orders by time, so an
    order's lines are contiguous.  Customer and product ids map to codes through
    ``customer_ids`` and ``product_ids`` (sorted).
    """

    customer_ids: np.ndarray
    product_ids: np.ndarray
    cust: np.ndarray
    prod: np.ndarray
    order: np.ndarray
    day: np.ndarray
    qty: np.ndarray
    origin: pd.Timestamp

    @classmethod
    def from_lines(cls, lines: pd.DataFrame, product_ids=None, customer_ids=None,
                   table: str = "order lines") -> Interactions:
        """From order lines (:data:`LINE_COLUMNS`).

        ``product_ids`` / ``customer_ids`` fix the code order (e.g. the whole catalog, so
        unsold products have a code too).
        """
        missing = [c for c in LINE_COLUMNS if c not in lines.columns]
        if missing:
            raise RecommendInputError(f"{table}: missing columns {missing}")
        for col in ("customer_id", "order_id", "product_id", "placed_at"):
            bad = np.flatnonzero(lines[col].isna().to_numpy())
            if len(bad):
                raise RecommendInputError(f"{table}: column {col!r} is empty in {len(bad)} "
                                          f"rows (first: {bad[:5].tolist()})")
        t = pd.to_datetime(lines.placed_at, utc=True)
        origin = t.min() if len(t) else pd.Timestamp(0, tz="UTC")
        day = ((t - origin).dt.total_seconds() / 86400.0).to_numpy()
        pids = (np.sort(lines.product_id.unique()) if product_ids is None
                else np.asarray(product_ids))
        cids = (np.sort(lines.customer_id.unique()) if customer_ids is None
                else np.asarray(customer_ids))
        prod = pd.Index(pids).get_indexer(lines.product_id)
        cust = pd.Index(cids).get_indexer(lines.customer_id)
        for name, codes in (("product_id", prod), ("customer_id", cust)):
            if (codes < 0).any():
                bad = np.flatnonzero(codes < 0)
                raise RecommendInputError(f"{table}: column {name!r} has ids outside the "
                                          f"given list in {len(bad)} rows (first: "
                                          f"{bad[:5].tolist()})")
        # orders numbered by (time, order id): an order's lines contiguous, in time order
        key = pd.DataFrame({"day": day, "oid": lines.order_id.to_numpy()})
        first = key.groupby("oid", sort=False).day.transform("min").to_numpy()
        oid_code = pd.factorize(key.oid)[0]
        srt = np.lexsort((prod, oid_code, first))
        oid_sorted = oid_code[srt]
        order = np.cumsum(np.r_[True, oid_sorted[1:] != oid_sorted[:-1]]) - 1
        qty = lines.quantity.to_numpy()[srt].astype(float)
        return cls(cids, pids, cust[srt].astype(np.int32), prod[srt].astype(np.int32),
                   order.astype(np.int64), first[srt], qty, origin)

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    @property
    def end(self) -> float:
        """The day of the last line (the data's end, in days since ``origin``)."""
        return float(self.day.max()) if len(self.day) else 0.0

    def subset(self, mask: np.ndarray) -> Interactions:
        """The lines where ``mask`` holds, codes unchanged."""
        return Interactions(self.customer_ids, self.product_ids, self.cust[mask],
                            self.prod[mask], self.order[mask], self.day[mask], self.qty[mask],
                            self.origin)

    def to_day(self, when) -> float:
        """A timestamp (naive: UTC) as days since ``origin``."""
        ts = pd.Timestamp(when)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return (ts - self.origin).total_seconds() / 86400.0

    def history(self, half_life_days: float | None = 90.0, binary: bool = True):
        """Customers × products (CSR): what each customer bought, recent purchases up.

        Weights ``0.5 ** (age / half_life_days)`` at the data's end (None: no decay).
        """
        import scipy.sparse as sp

        w = np.ones(len(self.cust)) if binary else self.qty.astype(float)
        if half_life_days:
            w = w * 0.5 ** ((self.end - self.day) / half_life_days)
        m = sp.csr_matrix((w, (self.cust, self.prod)),
                          shape=(self.n_customers, self.n_products))
        if binary and half_life_days is None:
            m.data[:] = 1.0
        return m

    def baskets(self):
        """Orders × products (CSR, 1 where the order has the product)."""
        import scipy.sparse as sp

        n_orders = int(self.order.max()) + 1 if len(self.order) else 0
        m = sp.csr_matrix((np.ones(len(self.order)), (self.order, self.prod)),
                          shape=(n_orders, self.n_products))
        m.data[:] = 1.0
        return m

    def order_customer(self) -> tuple[np.ndarray, np.ndarray]:
        """Per order (code order): its customer and its day."""
        n_orders = int(self.order.max()) + 1 if len(self.order) else 0
        cust = np.zeros(n_orders, dtype=np.int32)
        day = np.zeros(n_orders)
        cust[self.order] = self.cust
        day[self.order] = self.day
        return cust, day
