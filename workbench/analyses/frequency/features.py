"""Every delivered message with the volume before it and the customer's engagement.

One row per delivered message: its channel, how many messages the customer got on that
channel in the 7 days before it (``recent``; the engine counts them with a range
window), whether it was unsubscribed from, and the customer's engagement on the channel
— their clicks per delivered message shrunk toward the store's by a beta-binomial
empirical-Bayes prior (method of moments; Kleinman 1973, *JASA* 68:46, eq. 2.3), as a
log multiple of the store's rate (``engagement``: 0 is the store's, -1 a third of it).
Only messages-sized rows reach pandas.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from ...store import require_tables

WINDOW_DAYS = 7  # the frequency caps' window


def shrunk_click_rates(n: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, float]:
    """Each customer's clicks per delivered message, shrunk; and the store's rate.

    Beta-binomial method of moments (Kleinman 1973, eq. 2.3): with ``N = sum n``, ``m``
    customers, the pooled rate ``p`` and ``S = sum n_i (r_i - p)^2``, the between-customer
    variance of rates is ``v = (S - p (1 - p) (m - 1)) / (N - sum n_i^2 / N - (m - 1))``
    (under the beta-binomial ``Var r_i = v + (p (1 - p) - v) / n_i``); the Beta prior has
    ``a + b = p (1 - p) / v - 1`` and the posterior mean is ``(k + a) / (n + a + b)``.
    """
    n, k = np.asarray(n, float), np.asarray(k, float)
    has = n > 0
    p = k[has].sum() / max(n[has].sum(), 1.0)
    if p <= 0 or p >= 1 or has.sum() < 2:
        return np.full(n.size, p), p
    r = k[has] / n[has]
    w = n[has]
    N, m = w.sum(), w.size
    S = float((w * (r - p) ** 2).sum())
    var = (S - p * (1 - p) * (m - 1)) / max(N - (w**2).sum() / N - (m - 1), 1e-12)
    strength = p * (1 - p) / var - 1 if var > 0 else 1e6  # a + b
    strength = float(np.clip(strength, 1e-3, 1e6))
    return (k + strength * p) / (n + strength), p


def message_volume(con) -> pd.DataFrame:
    """Every delivered message with the week's volume before it and the engagement.

    Columns ``customer_id, channel, sent_at, recent, unsubscribed, engagement``;
    ``recent`` counts the same-channel messages to the customer in the 7 days before.
    """
    require_tables(con, "frequency", {"messages": (
        "message_id", "customer_id", "channel", "sent_at", "delivered", "clicked_at",
        "unsubscribed_at")})
    # every message sent counts toward the week's volume (the caps count sends), delivered
    # or not; the rows kept are the delivered ones (only they can be unsubscribed from)
    m = con.table("messages")
    w = ibis.range_window(preceding=ibis.interval(days=WINDOW_DAYS), following=0,
                          group_by=[m.customer_id, m.channel], order_by=m.sent_at)
    m = m.mutate(recent=m.message_id.count().over(w) - 1).filter(ibis._.delivered)
    d = m.select("customer_id", "channel", "sent_at", "recent",
                 unsubscribed=m.unsubscribed_at.notnull(),
                 clicked=m.clicked_at.notnull()).execute()
    d["customer_id"] = d.customer_id.astype(str)
    d["engagement"] = 0.0
    for _, g in d.groupby("channel"):
        per = g.groupby("customer_id").clicked.agg(["size", "sum"])
        rate, p = shrunk_click_rates(per["size"].to_numpy(), per["sum"].to_numpy())
        if p > 0:
            e = pd.Series(np.log(rate / p), index=per.index)
            d.loc[g.index, "engagement"] = g.customer_id.map(e).to_numpy()
    return d.drop(columns="clicked")
