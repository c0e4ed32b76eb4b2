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

from .model import RenewalHyper, renewal_posterior


def holdout_check(d: pd.DataFrame, h: RenewalHyper) -> dict:
    """``customers, model_error, catalog_error, difference, low, high`` (log scale).

    ``difference`` is the model's mean absolute log error minus the catalog rule's
    (negative: the model predicts better), with its 95% paired t interval.
    """
    obs = d[d.reordered]
    if obs.empty:
        return {"customers": 0}
    last = obs.loc[obs.groupby("customer_id").placed_at.idxmax()]
    cut = d.customer_id.map(last.set_index("customer_id").placed_at)
    before = d[cut.notna() & (d.placed_at < cut)].copy()
    c = cut[before.index]
    done = before.placed_at + pd.to_timedelta(before.gap_days, unit="D")
    still_open = ~before.reordered | (done > c)
    before.loc[still_open, "gap_days"] = ((c - before.placed_at).dt.total_seconds()
                                          / 86400)[still_open].clip(lower=1e-3)
    before["reordered"] = ~still_open
    theta = pd.Series(h.mu, index=last.customer_id.to_numpy())
    if len(before):
        post = renewal_posterior(before, h)
        theta[post.customers] = post.quantile(0.5)
    y = np.log(last.gap_days.to_numpy(float) / last.catalog_days.to_numpy(float))
    e_model = np.abs(y - theta[last.customer_id].to_numpy())
    e_cat = np.abs(y)
    diff = e_model - e_cat
    n = diff.size
    half = (stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    return {"customers": int(n), "model_error": float(e_model.mean()),
            "catalog_error": float(e_cat.mean()), "difference": float(diff.mean()),
            "low": float(diff.mean() - half), "high": float(diff.mean() + half)}
