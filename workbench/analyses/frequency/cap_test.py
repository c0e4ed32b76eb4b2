"""A randomized frequency-cap test read from the store's tables: what lower caps do.

Customers assigned at random (experiment ``frequency_cap_test`` in the assignments table,
arms ``store_caps`` and ``lower_caps``) are compared per customer from their assignment
to the data's end: messages received, channels unsubscribed from, and margin (orders'
revenue less goods cost where known, less the messages' cost).  The difference of means
with Welch's 95% interval (Welch 1947) is the causal effect of the lower caps — what the
observational fatigue curve of :mod:`workbench.analyses.frequency` can only approximate,
since the volume a customer gets follows their own behaviour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..orders import orders_with_goods

EXPERIMENT = "frequency_cap_test"
ARMS = ("store_caps", "lower_caps")
METRICS = ("messages", "unsubscribes", "margin")


def cap_test_units(con) -> pd.DataFrame:
    """One row per customer of the cap test: ``arm`` and the :data:`METRICS` after it."""
    if "assignments" not in con.list_tables():
        return pd.DataFrame()
    a = con.table("assignments")
    a = a.filter((a.experiment == EXPERIMENT) & (a.unit_type == "customer")).select(
        "customer_id", "arm", "assigned_at")
    out = a.execute().drop_duplicates("customer_id").set_index("customer_id")
    if out.empty:
        return pd.DataFrame()
    m = con.table("messages")
    mj = m.join(a, "customer_id").filter(lambda t: t.sent_at >= t.assigned_at)
    msg = mj.group_by("customer_id").aggregate(
        messages=mj.count(), unsubscribes=mj.unsubscribed_at.notnull().cast("int64").sum(),
        message_cost=mj.cost.sum()).execute().set_index("customer_id")
    o = orders_with_goods(con)
    oj = o.join(a, "customer_id").filter(lambda t: t.placed_at >= t.assigned_at)
    orders = oj.group_by("customer_id").aggregate(
        gross=(oj.revenue - oj.goods).sum()).execute().set_index("customer_id")
    out = out.join(msg).join(orders).fillna({"messages": 0, "unsubscribes": 0,
                                             "message_cost": 0.0, "gross": 0.0})
    out["margin"] = out.gross - out.message_cost
    return out.reset_index()[["customer_id", "arm", *METRICS]]


def arms_problem(units: pd.DataFrame) -> str | None:
    """What is wrong with the test's arms for this comparison (None: nothing)."""
    found = sorted(set(units.arm))
    if set(ARMS) <= set(found):
        return None
    return (f"the assignments table's experiment '{EXPERIMENT}' has arms {found}; the "
            f"comparison needs {list(ARMS)} (name them so when importing: workbench "
            "import assignments --arm)")


def cap_test_effect(units: pd.DataFrame) -> pd.DataFrame:
    """Per metric: each arm's mean per customer, lower less store, Welch 95% interval."""
    rows = []
    for k in METRICS:
        s, lo = (units[k][units.arm == a].to_numpy(float) for a in ARMS)
        if s.size < 2 or lo.size < 2:
            continue
        ci = stats.ttest_ind(lo, s, equal_var=False).confidence_interval()
        rows.append({"metric": k, "store_caps": s.mean(), "lower_caps": lo.mean(),
                     "difference": lo.mean() - s.mean(), "low": ci.low, "high": ci.high,
                     "customers": s.size + lo.size})
    return pd.DataFrame(rows)


def cap_test_sentence(effect: pd.DataFrame) -> str:
    """The test's result in one sentence (what lowering every customer's caps does)."""
    e = effect.set_index("metric")
    parts = [f"{k} per customer {e.difference[k]:+.3g} [{e.low[k]:+.3g}, {e.high[k]:+.3g}]"
             for k in METRICS if k in e.index]
    verdict = ("pays" if e.low.get("margin", -np.inf) > 0 else "loses margin" if
               e.high.get("margin", np.inf) < 0 else "is not shown to pay or to lose")
    return (f"The randomized cap test ({int(e.customers.iloc[0]):,} customers): lower caps "
            f"against the store's — {'; '.join(parts)}: lowering every customer's caps "
            f"{verdict}.")


__all__ = ["ARMS", "EXPERIMENT", "arms_problem", "cap_test_effect", "cap_test_sentence",
           "cap_test_units"]
