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
    offer = u.price_segment.map({k: v["offer"] for k, v in params.items()}).to_numpy()
    slope = u.price_segment.map({k: v["slope_per_unit_discount"]
                                 for k, v in params.items()}).to_numpy()
    live = (u.delivered.fillna(False) & u.alive_at_send.fillna(False)).to_numpy(dtype=float)
    out = units.copy()
    anyway = u.groupby(["experiment", "customer_id"], sort=False).would_buy_anyway.max()
    anyway |= _other_order_in_window(dataset, units, m, window_days).reindex(
        anyway.index, fill_value=False)
    for d in levels:
        p = live * expit(u.persuasion_logit_without_discount.to_numpy()
                         + np.where(d > 0, offer, 0.0) + slope * d)
        miss = pd.Series(np.log1p(-np.nan_to_num(p)), index=u.index)
        p_any = 1 - np.exp(miss.groupby([u.experiment, u.customer_id], sort=False).sum())
        a = anyway.reindex(p_any.index).fillna(False).astype(float)
        prob = a + (1 - a) * p_any
        out[f"p_buy_{round(100 * d):d}"] = prob.reindex(
            pd.MultiIndex.from_frame(units[["experiment", "customer_id"]])).to_numpy()
    return out


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
