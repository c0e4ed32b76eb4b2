"""Re-order intervals: each purchase of a consumable and when the customer bought it again.

One row per (customer, consumable product, order): the quantity, the catalog's days of
supply for that quantity (``supply_days x quantity``), the days until the customer's
next order of the same product — or, for their latest, the days until the data's end
(censored).  The engine computes the next purchase with a window function; only the
consumables' purchase lines reach pandas.

Which products are consumables: those whose ``supply_days`` the products table gives.
An imported catalog rarely has them (Shopify and GA4 exports do not); then the products
customers re-buy are used — at least ``min_intervals`` same-customer re-purchases — and
a unit's supply is the product's median interval per unit (``supply_source`` says
which).  Add ``supply_days`` to the products table to use the catalog's own.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from ...store import require_tables
from .model import ReplenishmentInputError

MIN_GAP_DAYS = 0.25  # a re-purchase within hours is the same need (a split order)
MIN_INTERVALS = 20  # re-purchases a product needs to infer its supply from the data


def reorder_intervals(con, min_intervals: int = MIN_INTERVALS) -> pd.DataFrame:
    """Every purchase of a consumable and the days until it was bought again (or not).

    Columns ``customer_id, product_id, category, placed_at, next_at, quantity,
    unit_supply_days, supply_source, catalog_days, gap_days, reordered, end``; ``gap_days``
    (days) is to the
    next order of the product (``next_at``, ``reordered``) or to the data's end
    (censored); ``catalog_days = unit_supply_days x quantity``.
    """
    require_tables(con, "replenishment", {
        "orders": ("order_id", "customer_id", "placed_at"),
        "order_items": ("order_id", "product_id", "quantity"),
        "products": ("product_id", "category")})
    o, oi, p = con.table("orders"), con.table("order_items"), con.table("products")
    end = o.placed_at.max().execute()
    lines = oi.group_by(["order_id", "product_id"]).aggregate(quantity=oi.quantity.sum())
    lines = lines.join(o.select("order_id", "customer_id", "placed_at"), "order_id")
    has_supply = "supply_days" in p.columns and bool(
        p.supply_days.notnull().sum().execute())
    if has_supply:
        cons = p.filter(p.supply_days.notnull() & (p.supply_days > 0)).select(
            "product_id", "category", unit_supply_days=p.supply_days.cast("float64"))
        lines = lines.join(cons, "product_id")
    else:
        lines = lines.join(p.select("product_id", "category"), "product_id")
    w = ibis.window(group_by=[lines.customer_id, lines.product_id], order_by=lines.placed_at)
    lines = lines.mutate(next_at=lines.placed_at.lead().over(w))
    if not has_supply:  # products bought again by the same customer often enough
        again = lines.filter(lines.next_at.notnull()).group_by("product_id").aggregate(
            n=ibis._.count())
        keep = again.filter(again.n >= min_intervals).select("product_id")
        lines = lines.semi_join(keep, "product_id")
    d = lines.select("customer_id", "product_id", "category", "placed_at", "next_at",
                     "quantity", *(["unit_supply_days"] if has_supply else [])).execute()
    if d.empty:
        raise ReplenishmentInputError(
            "no consumables: the products table gives no supply_days and no product was "
            f"bought again by the same customer at least {min_intervals} times; add "
            "supply_days (days one unit lasts) to the products table")
    d["placed_at"] = pd.to_datetime(d.placed_at, utc=True)
    nxt = pd.to_datetime(d["next_at"], utc=True)
    d["next_at"] = nxt  # kept: a time split compares times, not rebuilt float gaps
    d["reordered"] = nxt.notna().to_numpy()
    end = pd.Timestamp(end)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    stop = nxt.fillna(end)
    d["gap_days"] = ((stop - d.placed_at).dt.total_seconds() / 86400).clip(lower=MIN_GAP_DAYS)
    d["quantity"] = d.quantity.astype(float).clip(lower=1.0)
    if has_supply:
        d["supply_source"] = "catalog"
    else:
        per_unit = (d.gap_days / d.quantity)[d.reordered].groupby(d.product_id[d.reordered])
        d["unit_supply_days"] = d.product_id.map(per_unit.median()).to_numpy(dtype=float)
        d["supply_source"] = "median re-purchase interval"
    d["catalog_days"] = d.unit_supply_days * d.quantity
    d["end"] = end
    d = d.sort_values(["customer_id", "product_id", "placed_at"], kind="stable")
    return d.reset_index(drop=True).assign(customer_id=lambda x: x.customer_id.astype(str),
                                           product_id=lambda x: x.product_id.astype(str))


def log_ratio(d: pd.DataFrame) -> np.ndarray:
    """``log(gap_days / catalog_days)``: how long the supply lasted against the catalog."""
    return np.log(d.gap_days.to_numpy(float) / d.catalog_days.to_numpy(float))
