"""What the CLV analysis predicts for the next 30 and 90 days, and what happened.

Logged per customer as of the data's last order (:mod:`workbench.history`):

* ``clv.purchases``: expected purchases in the next ``h`` days with the central 90%
  predictive interval of the count (:func:`~workbench.clv.purchases_predictive_range`);
* ``clv.any_purchase``: P(at least one purchase in the next ``h`` days),
  ``1 - P(X = 0)`` (Fader, Hardie & Lee 2005a, eq. 8 for the BG/NBD);
* ``clv.p_alive``: P(alive) now (scored only against a simulator's truth: aliveness is
  not observed).

A purchase is counted the way the models count them: a day with at least one order
(UTC), as in the RFM summary.  A later run scores the rows whose horizon has passed on
its data: the actual count per customer, whether it fell in the interval, and for
P(alive) the simulator's dropout times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ibis import _

from ...history import prediction_rows
from ...vocab import TIME_UNITS
from .fits import SegmentedFit

HORIZONS_DAYS = (30.0, 90.0)
LEVEL = 0.9


def clv_predictions(result, horizons=HORIZONS_DAYS, level: float = LEVEL) -> pd.DataFrame:
    """The prediction rows of a :class:`~workbench.analyses.clv.CLVAnalysis`."""
    sc, s = result.scorecard, result.settings
    # the models that scored each customer (per segment, else pooled)
    model = result.fits if result.fits is not None else SegmentedFit((result.model, None))
    unit = TIME_UNITS[s["time_unit"]]
    as_of, ids = s["scored_as_of"], sc.customer_id
    frames = [prediction_rows("clv.p_alive", ids, as_of, 0.0, sc.p_alive)]
    for h in horizons:
        t = h / unit
        lo, hi = model.predictive_range(sc, t, level)
        frames.append(prediction_rows("clv.purchases", ids, as_of, h,
                                      model.expected_purchases(sc, t), lo, hi, level))
        # what each interval claims: the model's mass on [lo, hi] (>= level: counts are
        # discrete), the level its coverage is scored against
        frames[-1]["level"] = _mass(model, sc, t, lo, hi)
        frames.append(prediction_rows("clv.any_purchase", ids, as_of, h,
                                      1 - model.prob_purchases(sc, 0, t)))
    return pd.concat(frames, ignore_index=True)


def _mass(model, rfm: pd.DataFrame, t: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """P(lo <= X <= hi) under the model, per customer (X: purchases in the horizon)."""
    top = int(np.nanmax(np.where(np.isfinite(hi), hi, 0))) if len(hi) else 0
    mass = np.zeros(len(rfm))
    for n in range(top + 1):
        inside = (lo <= n) & (n <= hi)
        if inside.any():
            mass += np.where(inside, model.prob_purchases(rfm, n, t), 0.0)
    return mass


def clv_outcomes(con, logged: pd.DataFrame, truth_customers: pd.DataFrame | None = None
                 ) -> pd.DataFrame:
    """The logged CLV rows whose horizon has passed, with ``actual`` and ``inside``.

    ``truth_customers``: a simulated store's ``truth/customers`` (``customer_id,
    dropped_out_at``), to score P(alive); without it those rows are not scored.
    """
    o = con.table("orders")
    end = pd.Timestamp(o.placed_at.max().execute())
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    out = []
    counted = logged[logged.kind.isin(["clv.purchases", "clv.any_purchase"])]
    for (as_of, h), g in counted.groupby(["as_of", "horizon_days"]):
        stop = as_of + pd.Timedelta(days=float(h))
        if stop > end:
            continue  # not due yet
        w = o.filter((o.placed_at > as_of) & (o.placed_at <= stop))
        days = (w.mutate(day=w.placed_at.truncate("D")).select("customer_id", "day")
                .distinct().group_by("customer_id").aggregate(n=_.count())
                .execute())
        n = days.set_index(days.customer_id.astype(str)).n
        actual = g.key.map(n).fillna(0).astype(float)
        g = g.assign(actual=np.where(g.kind == "clv.any_purchase", (actual > 0) * 1.0,
                                     actual))
        g["inside"] = np.where(g.low.notna(), (g.actual >= g.low) & (g.actual <= g.high),
                               np.nan)
        out.append(g)
    alive = logged[logged.kind == "clv.p_alive"]
    if truth_customers is not None and len(alive):
        drop = pd.to_datetime(truth_customers.set_index(
            truth_customers.customer_id.astype(str)).dropped_out_at, utc=True)
        d = drop.reindex(alive.key)
        out.append(alive.assign(actual=(d.isna() | (d.to_numpy() > alive.as_of.to_numpy()))
                                .to_numpy().astype(float), inside=np.nan))
    return pd.concat(out, ignore_index=True) if out else logged.iloc[:0].assign(
        actual=pd.Series(dtype=float), inside=pd.Series(dtype=float))


__all__ = ["HORIZONS_DAYS", "clv_outcomes", "clv_predictions"]
