"""The simulator's truth of what a campaign's messages caused, per unit of an analysis.

Shared by the analyses that set a randomized comparison beside the truth (a campaign's
holdout, the post-purchase content test): both count what the estimate counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..store import read_table


def caused_margin(dataset, units: pd.DataFrame, window_days: float,
                  start: str = "assigned_at") -> np.ndarray:
    """Per row of ``units``: the margin its customer's messages of its campaign caused.

    ``units``: ``campaign, customer_id`` and ``start`` (a timestamp).  The sum of
    ``truth/messages.incremental_margin`` (margin caused, less subsidies and the message's
    cost) of the campaign's messages to the customer sent in ``[start, start +
    window_days)``; a message whose caused order came after that window counts as nothing
    (its small cost with it), as a comparison of margin within the window counts it.
    """
    if units.empty:
        return np.zeros(0)
    m = read_table(dataset, "messages")[["message_id", "customer_id", "campaign", "sent_at"]]
    m = m[m.campaign.isin(set(units.campaign))]
    t = read_table(dataset, "truth/messages")[["message_id", "incremental_margin",
                                               "caused_order_id"]]
    placed = read_table(dataset, "orders").set_index("order_id").placed_at
    m = m.merge(t, on="message_id")
    m["caused_at"] = m.caused_order_id.map(placed)
    u = units[["campaign", "customer_id", start]].rename(columns={start: "_start"})
    u = u.assign(_row=np.arange(len(u)))
    j = m.merge(u, on=["campaign", "customer_id"])
    end = j._start + pd.Timedelta(days=window_days)
    j = j[(j.sent_at >= j._start) & (j.sent_at < end)]
    late = j.caused_at.notna() & (j.caused_at >= end[j.index])
    caused = j.incremental_margin.where(~late, 0.0)
    return caused.groupby(j._row).sum().reindex(np.arange(len(u)), fill_value=0.0).to_numpy()


__all__ = ["caused_margin"]
