"""The post-purchase content test's units: one per customer and buyer type, from the tables.

A customer of the test (experiment ``post_purchase_sequence`` in the assignments table,
unit the customer, arm the content) enters it at an order; every order from then on got
the arm's emails.  A unit is that order, with what was known when it was placed: whether
it was the customer's first (a first-time buyer) and its value.  (A later order is not a
unit: whether it happens is what the emails change, so its buyers would differ by arm.)
Its outcome is the margin
(revenue less goods cost where known) of the customer's later orders in the
``window_days`` after it, less the campaign's message costs in that window — what the
emails can add, whatever attribution says.
"""

from __future__ import annotations

import pandas as pd

from ...engines import fetch_frame
from ...simulate.campaign_settings import SEQUENCE_EXPERIMENT
from ..orders import orders_with_goods

CAMPAIGN = "post_purchase"
FIRST, REPEAT = "first_time", "repeat"


def buyer_orders(con):
    """Every order with ``prior_orders`` (the customer's orders before it) and ``buyer``."""
    import ibis

    o = orders_with_goods(con)
    w = ibis.window(group_by="customer_id", order_by=["placed_at", "order_id"])
    o = o.mutate(prior_orders=ibis.row_number().over(w))
    return o.mutate(buyer=ibis.ifelse(o.prior_orders == 0, FIRST, REPEAT))


def later_margin(con, units, window_days: float):
    """Per unit order: later orders' margin, their number, and the campaign's message costs.

    ``margin_later`` and ``orders_after`` over the ``window_days`` after the order;
    ``message_cost`` of the post-purchase messages sent in it.
    """
    import ibis

    win = ibis.interval(seconds=int(window_days * 86400))
    o = orders_with_goods(con)
    u = units.select("order_id", "customer_id", t0="placed_at")
    later = o.select(cid="customer_id", t1="placed_at", m1=o.revenue - o.goods)
    j = u.join(later, u.customer_id == later.cid).filter(
        lambda t: (t.t1 > t.t0) & (t.t1 <= t.t0 + win))
    after = j.group_by("order_id").aggregate(margin_later=j.m1.sum(), orders_after=j.count())
    out = u.left_join(after, "order_id").select(
        "order_id", margin_later=ibis.coalesce(after.margin_later, 0.0),
        orders_after=ibis.coalesce(after.orders_after, 0))
    if "messages" in con.list_tables():
        m = con.table("messages")
        m = m.filter(m.campaign == CAMPAIGN).select(mcid="customer_id", sent_at="sent_at",
                                                     cost="cost")
        jm = u.join(m, u.customer_id == m.mcid).filter(
            lambda t: (t.sent_at >= t.t0) & (t.sent_at < t.t0 + win))
        cost = jm.group_by("order_id").aggregate(message_cost=jm.cost.sum())
        out = out.left_join(cost, "order_id").select(
            "order_id", "margin_later", "orders_after",
            message_cost=ibis.coalesce(cost.message_cost, 0.0))
    else:
        out = out.mutate(message_cost=ibis.literal(0.0))
    return out


def sequence_units(con, window_days: float = 30.0,
                   experiment: str = SEQUENCE_EXPERIMENT) -> pd.DataFrame:
    """One row per customer of the content test whose window has ended.

    The row is the order that entered them in it:
    ``customer_id, arm, order_id, placed_at, buyer, order_value, margin_after,
    orders_after``.  Empty when the dataset has no such test.
    """
    import ibis

    if "assignments" not in con.list_tables():
        return pd.DataFrame()
    a = con.table("assignments")
    a = a.filter((a.experiment == experiment) & (a.unit_type == "customer"))
    a = a.group_by("customer_id").aggregate(arm=a.arm.argmin(a.assigned_at),
                                            assigned_at=a.assigned_at.min())
    o = buyer_orders(con)
    end = o.placed_at.max().as_scalar()
    u = o.join(a.rename(acid="customer_id"), o.customer_id == a.customer_id)
    # the order that assigned the customer is in the test (a minute's slack for rounding)
    u = u.filter(u.placed_at >= u.assigned_at - ibis.interval(seconds=60))
    w = ibis.window(group_by="customer_id", order_by=["placed_at", "order_id"])
    u = u.mutate(k=ibis.row_number().over(w))
    u = u.filter((u.k == 0) & (u.placed_at + ibis.interval(seconds=int(window_days * 86400))
                               <= end))
    u = u.select("customer_id", "arm", "order_id", "placed_at", "buyer",
                 order_value="revenue")
    df = fetch_frame(u.join(later_margin(con, u, window_days), "order_id"))
    df["margin_after"] = df.margin_later - df.message_cost
    return df[["customer_id", "arm", "order_id", "placed_at", "buyer", "order_value",
               "margin_after", "orders_after"]].sort_values(
        ["placed_at", "order_id"]).reset_index(drop=True)


def order_outcomes(con, window_days: float = 30.0) -> pd.DataFrame:
    """Every order whose window has ended, with its buyer, value and later margin.

    ``buyer``, ``order_value``, ``margin_after`` and ``placed_at``: what a test not yet
    run is sized from.
    """
    import ibis

    o = buyer_orders(con)
    end = o.placed_at.max().as_scalar()
    o = o.filter(o.placed_at + ibis.interval(seconds=int(window_days * 86400)) <= end)
    u = o.select("customer_id", "order_id", "placed_at", "buyer", order_value="revenue")
    df = fetch_frame(u.join(later_margin(con, u, window_days), "order_id"))
    df["margin_after"] = df.margin_later
    return df[["customer_id", "order_id", "placed_at", "buyer", "order_value",
               "margin_after"]].sort_values(["placed_at", "order_id"]).reset_index(drop=True)
