"""Abandonment episodes: one row per abandoned cart, as an Ibis expression.

A cart is *abandoned* when a session has ``add_to_cart`` events and no
``purchase`` event.  Its items are the net quantities added (adds minus
removes) and its value is priced at the add-to-cart price.  The cart is
*recovered* when the same customer buys any of its products within
``window_days`` after the abandonment (the last event of the session), in any
session: naturally, or after a message.  Durations are in hours and are
censored at the window or at the end of the data, whichever comes first, so
they feed Kaplan-Meier curves directly.

Messages are linked through ``messages.trigger_id`` (the abandoned session),
the way e-commerce messaging platforms record the event that triggered a flow;
experiment arms through ``assignments`` rows with ``unit_type = 'cart'``.
"""

from __future__ import annotations

import ibis
from ibis import _

from ...engines import epoch_s
from ...store import require_tables
from ...vocab import PURCHASE_TYPES


def abandonment_episodes(con, window_days: float = 7.0, campaign: str = "abandoned_cart"):
    """Return the episodes as an Ibis table expression (``.execute()`` for pandas).

    Parameters
    ----------
    con
        A connection from :func:`workbench.store.open_dataset`.
    window_days
        Recovery window after abandonment, in days.
    campaign
        The ``messages.campaign`` whose messages remind about carts.

    Columns: ``session_id, customer_id, abandoned_at, n_items, cart_value,
    value_<type>`` for each purchase type, ``purchase_type`` (the type holding
    most of the cart's value), ``prior_orders, prior_revenue, customer_age_days,
    experiment, arm, n_messages, message_channel, first_message_at,
    message_delay_hours, message_cost, discount_pct, clicked, recovered,
    recovered_at, hours_to_recovery, recovered_revenue, recovered_margin,
    duration_hours, event``.
    """
    require_tables(con, "abandonment episodes", {
        "events": ("session_id", "customer_id", "ts", "event_name", "product_id", "quantity",
                   "price"),
        "products": ("product_id", "purchase_type"),
        "orders": ("order_id", "customer_id", "placed_at", "revenue"),
        "order_items": ("order_id", "product_id", "quantity", "unit_cost"),
        "messages": ("campaign", "trigger_id", "sent_at", "channel", "cost", "discount_pct",
                     "clicked_at"),
        "assignments": ("unit_type", "unit_id", "experiment", "arm"),
        "customers": ("customer_id", "signup_at")})
    e, p = con.table("events"), con.table("products")
    o, oi, m, a = (con.table(n) for n in ("orders", "order_items", "messages", "assignments"))
    c = con.table("customers")
    window = ibis.interval(seconds=int(window_days * 86400))
    data_end = e.ts.max().as_scalar()  # the end of observation: the last event

    bought = e.filter(e.event_name == "purchase").select("session_id").distinct()
    cart_ev = e.filter(e.event_name.isin(["add_to_cart", "remove_from_cart"]))
    cart_ev = cart_ev.anti_join(bought, cart_ev.session_id == bought.session_id)
    signed = cart_ev.mutate(q=ibis.ifelse(cart_ev.event_name == "add_to_cart",
                                          cart_ev.quantity, -cart_ev.quantity))
    items = (signed.group_by("session_id", "customer_id", "product_id")
             .aggregate(quantity=_.q.sum(), price=_.price.max())
             .filter(_.quantity > 0))
    items = items.join(p.select("product_id", "purchase_type"), "product_id")
    last = e.group_by("session_id").aggregate(abandoned_at=_.ts.max())
    value_by_type = {f"value_{t}": ibis.ifelse(items.purchase_type == t,
                                               items.quantity * items.price, 0).sum()
                     for t in PURCHASE_TYPES}
    carts = (items.group_by("session_id", "customer_id")
             .aggregate(n_items=_.count(), cart_value=(_.quantity * _.price).sum(),
                        **value_by_type)
             .join(last, "session_id"))
    dominant = ibis.cases(
        *[((carts[f"value_{t}"] >= carts[f"value_{u}"]) & (carts[f"value_{t}"] >= carts[
            f"value_{w}"]), t) for t, u, w in (("considered", "impulse", "consumable"),
                                               ("impulse", "considered", "consumable"),
                                               ("consumable", "impulse", "considered"))],
        else_="consumable")
    carts = carts.mutate(purchase_type=dominant)

    # customer history before the abandonment
    ca = carts.select("session_id", cid="customer_id", at="abandoned_at")
    ho = o.select(hcid=o.customer_id, hplaced=o.placed_at, hrev=o.revenue)
    hist = (ca.join(ho, (ca.cid == ho.hcid) & (ho.hplaced < ca.at))
            .group_by("session_id").aggregate(prior_orders=_.count(), prior_revenue=_.hrev.sum()))

    # messages that reminded about this cart
    mm = m.filter((m.campaign == campaign) & m.trigger_id.notnull())
    msgs = (mm.group_by(session_id=mm.trigger_id)
            .aggregate(n_messages=_.count(), first_message_at=_.sent_at.min(),
                       message_channel=_.channel.argmin(_.sent_at),
                       message_cost=_.cost.sum(), discount_pct=_.discount_pct.max(),
                       clicked=_.clicked_at.notnull().any()))

    arms = (a.filter(a.unit_type == "cart")
            .select(session_id="unit_id", experiment="experiment", arm="arm"))

    # recovery: the first order by the same customer with one of the cart's products
    ci = items.join(carts.select("session_id", at="abandoned_at"), "session_id").select(
        "session_id", cid="customer_id", pid="product_id", at="at")
    oo = oi.join(o.select("order_id", ocid=o.customer_id, placed=o.placed_at, rev=o.revenue),
                 "order_id").select("order_id", "product_id", "ocid", "placed", "rev")
    hits = ci.join(oo, (ci.cid == oo.ocid) & (ci.pid == oo.product_id)
                   & (oo.placed > ci.at) & (oo.placed <= ci.at + window))
    first = hits.group_by("session_id").aggregate(
        recovered_at=_.placed.min(), recovery_order_id=_.order_id.argmin(_.placed))
    cost = (oi.group_by("order_id").aggregate(goods_cost=(_.quantity * _.unit_cost).sum())
            .join(o.select("order_id", "revenue"), "order_id"))
    first = first.join(cost, first.recovery_order_id == cost.order_id).select(
        "session_id", "recovered_at", "recovery_order_id",
        recovered_revenue=_.revenue, recovered_margin=_.revenue - _.goods_cost)

    cs = c.select(ccid="customer_id", signup_at="signup_at")
    out = (carts.left_join(hist, "session_id").left_join(msgs, "session_id")
           .left_join(arms, "session_id").left_join(first, "session_id"))
    out = out.join(cs, out.customer_id == cs.ccid)
    out = out.select(
        "session_id", "customer_id", "abandoned_at", "n_items", "cart_value",
        *[f"value_{t}" for t in PURCHASE_TYPES], "purchase_type",
        prior_orders=_.prior_orders.fill_null(0),
        prior_revenue=_.prior_revenue.fill_null(0.0),
        customer_age_days=(epoch_s(_.abandoned_at) - epoch_s(_.signup_at)) / 86400,
        experiment=_.experiment, arm=_.arm,
        n_messages=_.n_messages.fill_null(0), message_channel=_.message_channel,
        first_message_at=_.first_message_at,
        message_delay_hours=(epoch_s(_.first_message_at)
                             - epoch_s(_.abandoned_at)) / 3600,
        message_cost=_.message_cost.fill_null(0.0), discount_pct=_.discount_pct.fill_null(0.0),
        clicked=_.clicked.fill_null(False),
        recovered=_.recovered_at.notnull(), recovered_at=_.recovered_at,
        recovery_order_id=_.recovery_order_id,
        recovered_revenue=_.recovered_revenue.fill_null(0.0),
        recovered_margin=_.recovered_margin.fill_null(0.0),
    )
    horizon_h = window_days * 24.0
    to_end_h = (epoch_s(data_end) - epoch_s(out.abandoned_at)) / 3600
    hours = (epoch_s(out.recovered_at) - epoch_s(out.abandoned_at)) / 3600
    return out.mutate(
        hours_to_recovery=hours,
        duration_hours=ibis.ifelse(out.recovered, hours,
                                   ibis.greatest(ibis.least(ibis.literal(horizon_h), to_end_h),
                                                 ibis.literal(0.0))),
        event=out.recovered.cast("int8"),
    ).order_by("abandoned_at", "session_id")
