"""A time split: whether customers' own paces predict their next re-orders better.

A time split on the store's own data, with no truth needed: for every customer with a
re-order, their latest observed re-order interval is held out, their pace is estimated
from what they did before it started (intervals complete by then; purchases still open
then, censored at it), and the held-out interval is predicted by the posterior median
pace — against the catalog rule (pace 1).  The score is the absolute error on the log
scale (a relative error), paired per customer, with a t interval on the mean
difference.  Per-customer timing is exported only when it wins here: on a store whose
re-purchases do not follow the supply (bought on a whim, or the catalog's supply days
wrong), the catalog rule stays and the report says why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .model import RenewalHyper, ReplenishmentInputError, fit_renewal, renewal_posterior


def holdout_check(d: pd.DataFrame, h: RenewalHyper) -> dict:
    """``customers, model_error, catalog_error, store_error, difference, low, high``.

    Errors are mean absolute log errors; ``difference`` is the model's minus the catalog
    rule's (negative: the model predicts better), with its 95% paired t interval;
    ``against_store`` (with ``store_low``, ``store_high``) the model's minus the store's
    pace for everyone (``theta = mu``): what each customer's own pace adds to the shift.
    The hyperparameters are refitted on what came before each cut (``h`` where that is
    too little), so no held-out interval informs its own prediction.
    """
    obs = d[d.reordered]
    if obs.empty:
        return {"customers": 0}
    last = obs.loc[obs.groupby("customer_id").placed_at.idxmax()]
    cut = d.customer_id.map(last.set_index("customer_id").placed_at)
    before = d[cut.notna() & (d.placed_at < cut)].copy()
    c = cut[before.index]
    still_open = ~before.reordered | (before.next_at > c)  # times, not rebuilt gaps
    before.loc[still_open, "gap_days"] = ((c - before.placed_at).dt.total_seconds()
                                          / 86400)[still_open].clip(lower=1e-3)
    before["reordered"] = ~still_open
    try:
        h = fit_renewal(before)
    except ReplenishmentInputError:
        pass  # too few earlier re-orders: the full fit's store-level numbers
    theta = pd.Series(h.mu, index=last.customer_id.to_numpy())
    if len(before):
        post = renewal_posterior(before, h)
        theta[post.customers] = post.quantile(0.5)
    y = np.log(last.gap_days.to_numpy(float) / last.catalog_days.to_numpy(float))
    e_model = np.abs(y - theta[last.customer_id].to_numpy())
    out = {"customers": int(y.size), "model_error": float(e_model.mean())}
    for name, e in (("catalog", np.abs(y)), ("store", np.abs(y - h.mu))):
        diff = e_model - e
        n = diff.size
        half = (stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n)) if n > 1 \
            else np.nan
        key = "difference" if name == "catalog" else "against_store"
        lo, hi = ("low", "high") if name == "catalog" else ("store_low", "store_high")
        out.update({f"{name}_error": float(e.mean()), key: float(diff.mean()),
                    lo: float(diff.mean() - half), hi: float(diff.mean() + half)})
    return out
