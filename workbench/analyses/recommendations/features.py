"""A store's tables as the recommender's input: order lines, the catalog, recent sends.

Ibis expressions over the dataset (the engine joins and filters; only order lines —
one row per product per order — come back), then the plain tables of
:mod:`workbench.recommend`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ibis import _

from ...recommend import Catalog, Interactions
from ...store import require_tables, ts_literal


def order_lines(con, as_of=None):
    """Order lines with their order's customer and time, up to ``as_of`` (default: all)."""
    require_tables(con, "recommendations", {
        "orders": ("order_id", "customer_id", "placed_at"),
        "order_items": ("order_id", "product_id", "quantity")})
    o, oi = con.table("orders"), con.table("order_items")
    if as_of is not None:
        o = o.filter(o.placed_at <= ts_literal(as_of, o, "placed_at"))
    return (oi.join(o, "order_id")
            .select("customer_id", "order_id", "placed_at", "product_id", "quantity"))


def store_inputs(con, as_of=None, in_stock=None) -> tuple[Interactions, Catalog]:
    """The order lines and the catalog as codes, every catalog product coded.

    :class:`~workbench.recommend.Interactions` and :class:`~workbench.recommend.Catalog`.
    """
    require_tables(con, "recommendations", {"products": ("product_id", "category", "price")})
    lines = order_lines(con, as_of).execute()
    products = con.table("products").execute()
    sold = pd.Index(lines.product_id.unique())
    ids = np.sort(pd.Index(products.product_id).union(sold).to_numpy())
    catalog = Catalog.from_products(products, product_ids=ids, in_stock=in_stock)
    return Interactions.from_lines(lines, product_ids=ids), catalog


def recent_sends(con, days: float = 7.0, as_of=None) -> pd.DataFrame:
    """Products shown in messages in the last ``days``: what must not be repeated.

    ``customer_id, product_id, channel``, up to ``as_of`` (default: the last send).
    """
    if "messages" not in con.list_tables():
        return pd.DataFrame(columns=["customer_id", "product_id", "channel"])
    m = con.table("messages")
    if "product_ids" not in m.columns:
        return pd.DataFrame(columns=["customer_id", "product_id", "channel"])
    end = ts_literal(as_of, m, "sent_at") if as_of is not None else m.sent_at.max()
    start = end - _days(days)
    recent = m.filter((m.sent_at > start) & (m.sent_at <= end) & m.product_ids.notnull())
    out = recent.select("customer_id", "channel", product_id=_.product_ids.unnest())
    return out.execute()


def _days(days: float):
    import ibis

    return ibis.interval(seconds=int(days * 86400))
