"""Engagement counts for the channel model: messages delivered and clicked, per channel.

One row per customer: ``n_email, k_email, n_sms, k_sms`` — delivered messages and
the ones clicked, every campaign together (clicks, not opens: machine opens make email
opens unreadable, and an SMS has no open).  Customers who got nothing on a channel
have ``n = 0`` there; ``customers`` adds those who got nothing at all.
"""

from __future__ import annotations

import pandas as pd

from ...store import require_tables, ts_literal
from ...vocab import CHANNELS


def engagement_counts(con, as_of=None, exclude_experiment: str | None = None) -> pd.DataFrame:
    """``customer_id, n_email, k_email, n_sms, k_sms`` (pandas; the engine aggregates).

    ``exclude_experiment``: leave out the messages of that experiment (so engagement
    measured outside it can split its randomized arms without using their outcome).
    """
    require_tables(con, "channel engagement", {"messages": (
        "customer_id", "channel", "sent_at", "delivered", "clicked_at")})
    m = con.table("messages")
    m = m.filter(m.delivered)
    if as_of is not None:
        m = m.filter(m.sent_at <= ts_literal(as_of, m, "sent_at"))
    if exclude_experiment is not None and "experiment" in m.columns:
        m = m.filter(m.experiment.isnull() | (m.experiment != exclude_experiment))
    agg = {}
    for ch in CHANNELS:
        on = m.channel == ch
        agg[f"n_{ch}"] = on.cast("int64").sum()
        agg[f"k_{ch}"] = (on & m.clicked_at.notnull()).cast("int64").sum()
    out = m.group_by("customer_id").aggregate(**agg).execute()
    cols = [f"{p}_{ch}" for ch in CHANNELS for p in ("n", "k")]
    if "customers" in con.list_tables():
        ids = con.table("customers").select("customer_id").execute()
        out = ids.merge(out, on="customer_id", how="left")
    return out.fillna({c: 0 for c in cols}).astype({c: "int64" for c in cols})[
        ["customer_id", *cols]]
