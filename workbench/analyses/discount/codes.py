"""Discount codes in a store's own orders, described — not a causal estimate.

A store that has not run a randomized discount test still has discounted orders:
Shopify writes the code of each (the importer keeps them in the dataset's
``order_discount_codes.csv``), and orders credited to a message carry that
message's offer.  :func:`describe_codes` tabulates, per code, how often it was
used, by how many customers, the revenue, the discount given, the margin where
the catalog has costs, and how many of its orders were a customer's first.

None of this says what a code *caused*: customers who use codes differ from those
who do not (deal seekers find codes; a loyal customer's order would often have
come anyway), so the revenue of coded orders is not revenue a code earned.  The
decision needs the randomized test the discount section sizes for the store.

Examples
--------
>>> from workbench.simulate import scenario, simulate
>>> from workbench.store import write_dataset, open_dataset
>>> import tempfile
>>> path = write_dataset(tempfile.mkdtemp() + "/s", simulate(scenario("tiny"), seed=1).tables)
>>> t = describe_codes(open_dataset(path))
>>> int(t.orders.sum()) == int(open_dataset(path).table("orders").count().execute())
True
"""

from __future__ import annotations

from pathlib import Path

import ibis
import pandas as pd

from ...importers import CODES_FILE

NO_DISCOUNT = "(no discount)"
NO_CODE = "(discount, no code recorded)"


def read_codes(path: str | Path | None) -> pd.DataFrame | None:
    """The dataset's discount code per order (``order_id``, ``code``), or None."""
    f = Path(path) / CODES_FILE if path is not None else None
    if f is None or not f.exists():
        return None
    codes = pd.read_csv(f, dtype=str, keep_default_na=False)
    if not {"order_id", "code"} <= set(codes.columns):
        raise ValueError(f"{f}: needs columns order_id and code, has {list(codes.columns)}")
    codes = codes[codes.code.str.strip() != ""]
    # an order with several codes is listed under all of them, joined
    return (codes.groupby("order_id").code.agg(lambda c: " + ".join(sorted(set(c))))
            .reset_index())


def describe_codes(con, codes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per discount code: use, revenue, discount, margin and first orders (no causal claim).

    Parameters
    ----------
    con
        An open dataset (:func:`workbench.store.open_dataset`).
    codes
        ``order_id`` → ``code`` (:func:`read_codes`); without it, a discounted order
        credited to a message is labelled with the message's campaign and offer, and
        any other discounted order as having no code recorded.

    Returns
    -------
    One row per code plus ``(no discount)`` for comparison: ``orders``, ``customers``,
    ``revenue`` (paid, after the discount), ``discount``, ``discount_rate`` (discount
    over the pre-discount value), ``avg_order_value``, ``margin`` (revenue less the
    cost of goods; NaN where any line's cost is unknown), ``first_order_share``
    (share of the code's orders that were the customer's first order).
    """
    o = con.table("orders")
    first = o.group_by("customer_id").aggregate(first_at=o.placed_at.min())
    o = o.join(first, "customer_id").mutate(is_first=lambda t: t.placed_at == t.first_at)
    label = ibis.ifelse(o.discount_amount > 0, ibis.literal(NO_CODE), ibis.literal(NO_DISCOUNT))
    if "messages" in con.list_tables() and codes is None:
        m = con.table("messages").select("message_id", "campaign", "discount_pct")
        o = o.left_join(m, o.message_id == m.message_id)
        offer = (o.campaign + " " + o.discount_pct.round(0).cast("int64").cast("string")
                 + "% (message offer)")
        label = ibis.ifelse((o.discount_amount > 0) & o.campaign.notnull()
                            & (o.discount_pct > 0), offer, label)
    o = o.mutate(code=label)
    if codes is not None and len(codes):
        cm = ibis.memtable(codes.assign(order_id=codes.order_id.astype(str))
                           [["order_id", "code"]].rename(columns={"code": "given_code"}))
        o = o.mutate(_oid=o.order_id.cast("string"))
        cm = cm.rename(_cid="order_id")
        o = o.left_join(cm, o._oid == cm._cid)
        o = o.mutate(code=o.given_code.fill_null(o.code)).drop("_oid", "_cid", "given_code")
    i = con.table("order_items")
    cost = i.group_by("order_id").aggregate(
        cogs=(i.quantity * i.unit_cost).sum(), cost_unknown=i.unit_cost.isnull().any())
    cost = cost.rename(_coid="order_id")
    o = o.left_join(cost, o.order_id == cost._coid)
    out = o.group_by("code").aggregate(
        orders=o.count(), customers=o.customer_id.nunique(), revenue=o.revenue.sum(),
        discount=o.discount_amount.sum(), cogs=o.cogs.sum(),
        cost_unknown=o.cost_unknown.any(), first_orders=o.is_first.sum()).execute()
    out["discount_rate"] = out.discount / (out.revenue + out.discount)
    out["avg_order_value"] = out.revenue / out.orders
    out["margin"] = (out.revenue - out.cogs).where(~out.cost_unknown.astype(bool))
    out["first_order_share"] = out.first_orders / out.orders
    cols = ["code", "orders", "customers", "revenue", "discount", "discount_rate",
            "avg_order_value", "margin", "first_order_share"]
    return out[cols].sort_values("orders", ascending=False, ignore_index=True)


def codes_sentence(table: pd.DataFrame, currency: str = "") -> str:
    """One paragraph describing the codes, saying what it cannot tell."""
    coded = table[table.code != NO_DISCOUNT]
    if coded.empty:
        return "No order in this dataset carries a discount."
    total = table.orders.sum()
    top = coded.iloc[0]
    return (f"{coded.orders.sum():,} of {total:,} orders carried a discount "
            f"({coded.discount.sum():,.2f}{currency} given on {coded.revenue.sum():,.2f}"
            f"{currency} of revenue); the most used was {top.code} ({top.orders:,} orders, "
            f"{top.customers:,} customers, {top.first_order_share:.0%} of them first "
            "orders). These are descriptions, not effects: who uses a code is not a random "
            "draw of customers, so the revenue of coded orders is not revenue the codes "
            "earned; the randomized test below measures that.")


__all__ = ["CODES_FILE", "codes_sentence", "describe_codes", "read_codes"]
