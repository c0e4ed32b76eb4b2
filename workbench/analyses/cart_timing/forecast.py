"""What the cart test predicts for the next carts, and what happened to them.

Logged per arm as of the last abandoned cart (:mod:`workbench.history`):
``cart_timing.recovery`` — the share of the arm's carts bought within the recovery
window, over the test's carts whose window has ended, with its 95% Wilson interval
(Wilson 1927), for the carts abandoned in the next ``horizon_days``.

A later run scores each arm on the carts abandoned in that horizon: their recovered
share, and whether it fell in the predictive interval of a new sample's share,
``p ± 1.96 sqrt(p (1 - p) (1/n + 1/m))`` (the variance of the difference of two
independent binomial shares, the old ``n`` carts' and the new ``m``'s).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...history import prediction_rows
from .features import abandonment_episodes

HORIZON_DAYS = 30.0


def recovery_predictions(study, horizon_days: float = HORIZON_DAYS) -> pd.DataFrame | None:
    """The prediction rows of a :class:`~workbench.analyses.cart_timing.CartTimingStudy`."""
    ep = study.experiment_episodes
    if ep.empty:
        return None
    window = pd.Timedelta(days=study.settings["window_days"])
    as_of = study.episodes.abandoned_at.max()
    done = ep[ep.abandoned_at <= as_of - window]
    g = done.groupby("arm").recovered.agg(["mean", "size"])
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(done.groupby("arm").recovered.sum().to_numpy(),
                                g["size"].to_numpy(), alpha=0.05, method="wilson")
    return prediction_rows("cart_timing.recovery", g.index, as_of, horizon_days, g["mean"],
                           lo, hi, 0.95, g["size"].to_numpy())


def recovery_outcomes(con, logged: pd.DataFrame, window_days: float = 7.0,
                      episodes: pd.DataFrame | None = None) -> pd.DataFrame:
    """The logged rows whose carts' windows have all ended, with ``actual`` and ``inside``."""
    ep = abandonment_episodes(con, window_days=window_days).execute() \
        if episodes is None else episodes
    end = ep.abandoned_at.max()
    out = []
    for (as_of, h), g in logged.groupby(["as_of", "horizon_days"]):
        stop = as_of + pd.Timedelta(days=float(h))
        if stop + pd.Timedelta(days=window_days) > end:
            continue
        new = ep[(ep.abandoned_at > as_of) & (ep.abandoned_at <= stop) & ep.arm.notna()]
        per = new.groupby("arm").recovered.agg(["mean", "size"])
        g = g.assign(actual=g.key.map(per["mean"]).astype(float),
                     n_actual=g.key.map(per["size"]).astype(float))
        g = g[g.n_actual > 0]
        half = 1.96 * np.sqrt(g.predicted * (1 - g.predicted) * (1 / g.n + 1 / g.n_actual))
        g["inside"] = ((g.actual - g.predicted).abs() <= half).astype(float)
        out.append(g)
    return pd.concat(out, ignore_index=True) if out else logged.iloc[:0].assign(
        actual=pd.Series(dtype=float), inside=pd.Series(dtype=float))


__all__ = ["HORIZON_DAYS", "recovery_outcomes", "recovery_predictions"]
