"""Randomized units shared by the analyses (which never import each other).

A campaign's holdout test, unit by unit: what the holdouts analysis measures each
campaign's incrementality on, and what the deployments analysis measures a config
change's effect with, before and after the change.
"""

from __future__ import annotations

import pandas as pd

from .orders import orders_with_goods

#: a campaign's holdout experiment is ``<campaign>_holdout`` in the assignments table
HOLDOUT_SUFFIX = "_holdout"


def holdout_units(con, window_days: float = 30.0, pre_days: float = 90.0) -> pd.DataFrame:
    """One row per customer in a campaign holdout experiment whose window has ended.

    ``campaign, customer_id, arm, assigned_at, margin, revenue, orders, messages,
    message_cost, pre_margin``: the customer's orders' revenue less goods cost (revenue
    where costs are unknown) and less the campaign's message cost, in ``[assigned_at,
    assigned_at + window_days)``, the orders and the campaign's messages there;
    ``pre_margin`` the same before it (orders only); ``prior_orders`` and
    ``last_order_value``: the customer's orders before it and the value of the latest
    (what a first-time or repeat buyer, a small or large order, is read from).
    """
    import ibis

    a = con.table("assignments")
    a = a.filter(a.experiment.endswith(HOLDOUT_SUFFIX) & (a.unit_type == "customer"))
    o = con.table("orders")
    end = o.placed_at.max().as_scalar()
    win = ibis.interval(seconds=int(window_days * 86400))
    pre = ibis.interval(seconds=int(pre_days * 86400))
    a = a.filter(a.assigned_at + win <= end).select(
        "experiment", "customer_id", "arm", "assigned_at")
    orders = orders_with_goods(con).select("customer_id", "placed_at", "revenue", "goods")
    j = a.left_join(orders, "customer_id")
    after = (j.placed_at >= j.assigned_at) & (j.placed_at < j.assigned_at + win)
    before = (j.placed_at < j.assigned_at) & (j.placed_at >= j.assigned_at - pre)
    earlier = j.placed_at < j.assigned_at
    units = j.group_by(["experiment", "customer_id", "arm", "assigned_at"]).aggregate(
        revenue=ibis.ifelse(after, j.revenue, 0.0).sum().fill_null(0.0),
        goods=ibis.ifelse(after, j.goods, 0.0).sum().fill_null(0.0),
        pre_margin=ibis.ifelse(before, j.revenue - j.goods, 0.0).sum().fill_null(0.0),
        orders=ibis.ifelse(after, 1, 0).sum().fill_null(0),
        prior_orders=ibis.ifelse(earlier, 1, 0).sum().fill_null(0),
        last_order_value=j.revenue.argmax(ibis.ifelse(earlier, j.placed_at, None)))
    df = units.execute()
    if df.empty:
        return df.assign(campaign=pd.Series(dtype=str), margin=pd.Series(dtype=float))
    df["campaign"] = df.experiment.str.removesuffix(HOLDOUT_SUFFIX)
    # the campaign's own message cost in the window (messaged customers pay it)
    # (messages has an ``experiment`` column too: the assignment's is renamed, or the
    # filter below would compare the message's own experiment and match nothing)
    m = con.table("messages").select("customer_id", "campaign", "sent_at", "cost")
    ax = a.select(aexp=a.experiment, acid=a.customer_id, at=a.assigned_at)
    mc = (m.join(ax, m.customer_id == ax.acid)
          .filter((m.sent_at >= ax.at) & (m.sent_at < ax.at + win)
                  & (m.campaign + HOLDOUT_SUFFIX == ax.aexp))
          .group_by(experiment=ax.aexp, customer_id=m.customer_id)
          .aggregate(message_cost=m.cost.sum(), messages=m.cost.count())
          .execute())
    df = df.merge(mc, on=["experiment", "customer_id"], how="left").fillna(
        {"message_cost": 0.0, "messages": 0})
    df["margin"] = df.revenue - df.goods - df.message_cost
    return df[["campaign", "customer_id", "arm", "assigned_at", "margin", "revenue",
               "orders", "messages", "message_cost", "pre_margin", "prior_orders",
               "last_order_value"]]


__all__ = ["HOLDOUT_SUFFIX", "holdout_units"]
