"""Ground-truth quantities derived from a simulated dataset's truth tables.

These answer "what would have happened" questions that no analysis can observe,
for scoring estimates: e.g. each randomized customer's probability of buying
within the window at *every* discount level, not only the one they were shown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from ..store import read_table, read_truth_params


def discount_conversion_truth(dataset, units: pd.DataFrame,
                              levels=(0.0, 0.05, 0.10, 0.15, 0.20),
                              window_days: float = 7.0) -> pd.DataFrame:
    """True P(buy within the window | discount) for each unit of the discount experiment.

    For a customer sent seasonal messages at one send (one per channel), with
    latent price segment ``s``::

        P(buy | d) = A + (1 - A) * (1 - Π_m (1 - delivered_m · alive · σ(l_m + a_s 1{d>0} + b_s d)))

    where ``A`` is 1 when the customer places some order in the unit's window
    (``window_days``, as in ``discount_units``) that this send did not cause — an
    organic order or one caused by another campaign's message; with common random
    numbers those happen whatever the discount — ``l_m`` is each message's
    persuasion logit without the discount and ``a_s, b_s`` the segment's discount
    terms (truth/params.json).  ``units`` is
    :func:`workbench.analyses.discount.features.discount_units` output.  Returns ``units``
    with one column ``p_buy_<pct>`` per level.
    """
    params = read_truth_params(dataset)["discount_terms"]
    m = read_table(dataset, "messages")
    tm = read_table(dataset, "truth/messages")
    tc = read_table(dataset, "truth/customers")[["customer_id", "price_segment"]]
    m = m[m.campaign == "seasonal"].merge(tm, on="message_id").merge(tc, on="customer_id")
    key = ["customer_id", "sent_at"]
    u = units[["experiment", "customer_id", "sent_at"]].merge(
        m[key + ["delivered", "alive_at_send", "would_buy_anyway",
                 "persuasion_logit_without_discount", "price_segment"]], on=key, how="left")
    out = units.copy()
    anyway = u.groupby(["experiment", "customer_id"], sort=False).would_buy_anyway.max()
    anyway |= _other_order_in_window(dataset, units, m, window_days).reindex(
        anyway.index, fill_value=False)
    P = _persuaded_by_level(u, params, levels)
    for d in levels:
        p_any = P[d]
        a = anyway.reindex(p_any.index).fillna(False).astype(float)
        prob = a + (1 - a) * p_any
        out[f"p_buy_{round(100 * d):d}"] = prob.reindex(
            pd.MultiIndex.from_frame(units[["experiment", "customer_id"]])).to_numpy()
    return out


def discount_margin_truth(dataset, units: pd.DataFrame,
                          levels=(0.0, 0.05, 0.10, 0.15, 0.20)) -> pd.DataFrame:
    """True expected incremental margin of each unit of the discount experiment, per level.

    What the store earns from offering ``d`` instead of nothing to one customer in one
    seasonal send (the messages' cost is the same at every level and left out).  With
    common random numbers the simulator settles each message so (see
    :mod:`workbench.simulate.messaging`): a customer with an organic order in the
    send's conversion window (``W = 1``, ``truth/messages.would_buy_anyway``) places it
    whatever the offer, and pays the discount on it only if they saw the message before
    ordering (a human open or a click before the order: ``R = 1``); otherwise each of
    the unit's messages persuades with probability ``sigma(l_m + a_s 1{d>0} + b_s d)``
    (as in :func:`discount_conversion_truth`) and a persuaded customer places an order
    the offer caused, of expected value ``E[V]`` at the discounted price::

        E[margin | d] - E[margin | 0] =
            (1 - W) E[V] [P(d) (1 - d - k) - P(0) (1 - k)] - W R d V_anyway

    ``P(d) = 1 - prod_m (1 - delivered_m alive sigma(...))``; ``E[V]`` is the customer's
    expected order value (``truth/customers.expected_order_value``, the Gamma-Gamma mean
    ``p / nu`` the simulator draws the basket's value around); ``k`` the store's goods
    cost per unit of order value (goods cost over order value before discount, over all
    orders; the catalog's margins vary by product, so a caused basket's cost share is
    this in expectation, not exactly); ``V_anyway`` the value before discount of the
    customer's first organic order after the send.  Follow-up orders a caused order
    brings later are not counted (nor are they by the observed window margin).

    ``units`` is :func:`workbench.analyses.discount.features.discount_units` output;
    returns it with one column ``incremental_margin_<pct>`` per level (0 at 0%) and
    ``would_buy_anyway``, ``redeems`` and ``expected_order_value``.
    """
    levels = sorted({0.0, *levels})
    params = read_truth_params(dataset)["discount_terms"]
    m = read_table(dataset, "messages")
    tm = read_table(dataset, "truth/messages")
    tc = read_table(dataset, "truth/customers")[["customer_id", "price_segment",
                                                 "expected_order_value"]]
    orders = read_table(dataset, "orders")
    origin = read_table(dataset, "truth/orders")[["order_id", "origin"]]
    items = read_table(dataset, "order_items")
    kappa = float((items.quantity * items.unit_cost).sum()
                  / (orders.revenue + orders.discount_amount).sum())
    m = m[m.campaign == "seasonal"].merge(tm, on="message_id").merge(tc, on="customer_id")
    key = ["customer_id", "sent_at"]
    u = units[["experiment", "customer_id", "sent_at"]].merge(
        m[key + ["delivered", "alive_at_send", "would_buy_anyway", "opened_at", "clicked_at",
                 "machine_open", "persuasion_logit_without_discount", "price_segment",
                 "expected_order_value"]], on=key, how="left")
    # the unit's first organic order after the send (the anyway order, if W)
    org = orders.merge(origin, on="order_id")
    org = org[org.origin == "organic"]
    j = units[["experiment", "customer_id", "sent_at"]].merge(
        org[["customer_id", "placed_at", "revenue", "discount_amount"]], on="customer_id")
    j = j[j.placed_at > j.sent_at].sort_values("placed_at").drop_duplicates(
        ["experiment", "customer_id"])
    nxt = u[["experiment", "customer_id"]].merge(
        j[["experiment", "customer_id", "placed_at", "revenue", "discount_amount"]],
        on=["experiment", "customer_id"], how="left")
    placed = nxt.placed_at.to_numpy()
    human = u.opened_at.notna().to_numpy() & ~u.machine_open.fillna(False).to_numpy(bool)
    saw = ((human & (u.opened_at.to_numpy() < placed))
           | (u.clicked_at.notna().to_numpy() & (u.clicked_at.to_numpy() < placed)))
    g = [u.experiment, u.customer_id]
    unit_ix = pd.MultiIndex.from_frame(units[["experiment", "customer_id"]])
    per_unit = pd.DataFrame({
        "W": u.would_buy_anyway.fillna(False).astype(bool).to_numpy(),
        "R": saw,
        "V": (nxt.revenue + nxt.discount_amount).fillna(0.0).to_numpy(),
        "EV": u.expected_order_value.to_numpy(dtype=float),
    }).groupby(g, sort=False).agg({"W": "max", "R": "max", "V": "first", "EV": "first"})
    per_unit = per_unit.reindex(unit_ix)
    W = per_unit.W.fillna(False).to_numpy(dtype=float)
    R = per_unit.R.fillna(False).to_numpy(dtype=float)
    V = per_unit.V.fillna(0.0).to_numpy()
    EV = per_unit.EV.fillna(0.0).to_numpy()
    P = _persuaded_by_level(u, params, levels).reindex(unit_ix).fillna(0.0)
    out = units.copy()
    p0 = P[0.0].to_numpy()
    for d in levels:
        inc = ((1 - W) * EV * (P[d].to_numpy() * (1 - d - kappa) - p0 * (1 - kappa))
               - W * R * d * V)
        out[f"incremental_margin_{round(100 * d):d}"] = inc
    out["would_buy_anyway"], out["redeems"] = W.astype(bool), R.astype(bool)
    out["expected_order_value"] = EV
    return out


def _persuaded_by_level(u: pd.DataFrame, params: dict, levels) -> pd.DataFrame:
    """Per unit (experiment, customer): P(some message of the send persuades | d), per level."""
    offer = u.price_segment.map({k: v["offer"] for k, v in params.items()}).to_numpy()
    slope = u.price_segment.map({k: v["slope_per_unit_discount"]
                                 for k, v in params.items()}).to_numpy()
    live = (u.delivered.fillna(False) & u.alive_at_send.fillna(False)).to_numpy(dtype=float)
    cols = {}
    for d in levels:
        p = live * expit(u.persuasion_logit_without_discount.to_numpy()
                         + np.where(d > 0, offer, 0.0) + slope * d)
        miss = pd.Series(np.log1p(-np.nan_to_num(p)), index=u.index)
        cols[d] = 1 - np.exp(miss.groupby([u.experiment, u.customer_id], sort=False).sum())
    return pd.DataFrame(cols)


def _other_order_in_window(dataset, units: pd.DataFrame, seasonal: pd.DataFrame,
                           window_days: float) -> pd.Series:
    """Per unit: an order in ``(sent, sent + window]`` that the unit's own send did not cause.

    ``seasonal`` is the seasonal messages joined with their truth (``caused_order_id``).
    """
    orders = read_table(dataset, "orders")[["order_id", "customer_id", "placed_at"]]
    own = seasonal.dropna(subset=["caused_order_id"])[["customer_id", "sent_at",
                                                         "caused_order_id"]]
    u = units[["experiment", "customer_id", "sent_at"]]
    j = u.merge(orders, on="customer_id")
    j = j[(j.placed_at > j.sent_at)
          & (j.placed_at <= j.sent_at + pd.Timedelta(days=window_days))]
    caused_here = j.merge(own, left_on=["customer_id", "sent_at", "order_id"],
                          right_on=["customer_id", "sent_at", "caused_order_id"],
                          how="left", indicator=True)["_merge"].eq("both").to_numpy()
    j = j[~caused_here]
    return pd.Series(True, index=pd.MultiIndex.from_frame(
        j[["experiment", "customer_id"]].drop_duplicates()))


def campaign_incremental_revenue(dataset, label: str = "campaign_channel") -> pd.Series:
    """True incremental revenue per campaign label: what each campaign's messages caused.

    The sum over messages of ``truth/messages.incremental_revenue`` — revenue of the
    orders a message caused that would not have happened without it — labelled as
    :func:`workbench.analyses.attribution.journeys.journeys` labels touches
    (``abandoned_cart_email``, ``email`` or ``abandoned_cart``), so attribution credit can
    be scored against it.
    Visits from other sources have no causal truth here and are not in the result.
    """
    m = read_table(dataset, "messages")[["message_id", "campaign", "channel"]]
    tm = read_table(dataset, "truth/messages")[["message_id", "incremental_revenue"]]
    j = m.merge(tm, on="message_id")
    key = {"campaign_channel": j.campaign + "_" + j.channel, "channel": j.channel,
           "campaign": j.campaign}
    if label not in key:
        raise ValueError(f"label must be one of {sorted(key)}, not {label!r}")
    return j.groupby(key[label]).incremental_revenue.sum().rename("true_incremental_revenue")
