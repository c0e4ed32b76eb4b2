"""What the operational layer expects of the next send cycle, and what came.

Logged per campaign × channel as of the latest cycle's end (:mod:`workbench.history`):
``operations.open_rate`` (email) and ``operations.click_rate`` — the mean rate over the
latest cycle and the ``k`` before it (the band's baseline, :func:`.operations.message_funnel`),
with a 95% band of ``1.96 × sd``, ``sd`` the larger of the cycles' spread and the binomial
standard error at the latest cycle's size.  A later run scores each against the cycle
that followed: its rate, and whether it fell in the band.  This is the expectation the
operational layer compares a cycle with, where a run was logged at the cycle's start.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ibis import _

from ...engines import epoch_s
from ...history import prediction_rows

RATES = {"open_rate": ("opened", "delivered"), "click_rate": ("clicked", "delivered")}
Z_FUNNEL = 3.0  # the funnel's band is mean ± 3 sd


def engagement_predictions(funnel: pd.DataFrame) -> pd.DataFrame | None:
    """The prediction rows of the latest cycle's funnel (:func:`.operations.message_funnel`)."""
    end = funnel.attrs.get("cycle_end")
    if end is None or funnel.empty:
        return None
    days = float(funnel.attrs.get("cycle_days", 7.0))
    frames = []
    for rate, (_num, den) in RATES.items():
        f = funnel[funnel[rate].notna()] if rate in funnel else funnel.iloc[:0]
        if f.empty:
            continue
        k = f.baseline_cycles.astype(float)
        mu = f[f"{rate}_expected"]
        pred = np.where(mu.notna() & (k > 0), (mu * k + f[rate]) / (k + 1), f[rate])
        spread = ((f[f"{rate}_high"] - f[f"{rate}_low"]) / (2 * Z_FUNNEL)).fillna(0.0)
        n = f[den].astype(float)
        binom = np.sqrt(pred * (1 - pred) / n.where(n > 0))
        sd = np.fmax(spread.to_numpy(), binom.fillna(0).to_numpy())
        frames.append(prediction_rows(
            f"operations.{rate}", f.campaign + "|" + f.channel, end, days, pred,
            np.clip(pred - 1.96 * sd, 0, 1), np.clip(pred + 1.96 * sd, 0, 1), 0.95, n))
    return pd.concat(frames, ignore_index=True) if frames else None


def engagement_outcomes(con, logged: pd.DataFrame) -> pd.DataFrame:
    """The logged rows whose cycle has ended in this data, with ``actual`` and ``inside``."""
    m = con.table("messages")
    end = pd.Timestamp(m.sent_at.max().execute())
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    out = []
    for (as_of, h), g in logged.groupby(["as_of", "horizon_days"]):
        stop = as_of + pd.Timedelta(days=float(h))
        if stop > end:
            continue
        t = m.filter((epoch_s(m.sent_at) > as_of.timestamp())
                     & (epoch_s(m.sent_at) <= stop.timestamp()))
        c = t.group_by("campaign", "channel").aggregate(
            delivered=_.delivered.cast("int64").sum(),
            opened=_.opened_at.notnull().cast("int64").sum(),
            clicked=_.clicked_at.notnull().cast("int64").sum()).execute()
        c.index = c.campaign + "|" + c.channel
        for rate, (num, den) in RATES.items():
            r = g[g.kind == f"operations.{rate}"]
            if r.empty:
                continue
            d = c[den].where(c[den] > 0)
            r = r.assign(actual=r.key.map(c[num] / d).astype(float),
                         n_actual=r.key.map(c[den]).astype(float))
            r = r[r.actual.notna()]
            r["inside"] = ((r.actual >= r.low) & (r.actual <= r.high)).astype(float)
            out.append(r)
    return pd.concat(out, ignore_index=True) if out else logged.iloc[:0].assign(
        actual=pd.Series(dtype=float), inside=pd.Series(dtype=float))


def with_expectation(funnel: pd.DataFrame, history, tolerance_days: float = 1.0
                     ) -> pd.DataFrame:
    """The latest cycle's funnel with what the run logged at its start expected of it.

    ``history``: the prediction log's folder.  A logged prediction is this cycle's when
    its ``as_of`` is within ``tolerance_days`` of the cycle's start and its horizon is the
    cycle's length; the newest such run is used.  Adds ``<rate>_predicted``,
    ``<rate>_pred_low`` and ``<rate>_pred_high`` per campaign × channel, and
    ``vs_prediction`` naming the rates outside their predicted band; the run's ``as_of``
    goes to ``funnel.attrs["predicted_as_of"]``.  Unchanged without such a prediction.
    """
    from ...history import PredictionLog

    end, days = funnel.attrs.get("cycle_end"), float(funnel.attrs.get("cycle_days", 7.0))
    if history is None or end is None or funnel.empty:
        return funnel
    log = PredictionLog(history).read(kinds=[f"operations.{r}" for r in RATES])
    if log.empty:
        return funnel
    start = end - pd.Timedelta(days=days)
    mine = log[((log.as_of - start).abs() <= pd.Timedelta(days=tolerance_days))
               & (log.horizon_days == days)]
    if mine.empty:
        return funnel
    mine = mine[mine.made_at == mine.made_at.max()]
    out = funnel.copy()
    key = out.campaign + "|" + out.channel
    flags = [[] for _ in range(len(out))]
    for rate in RATES:
        p = mine[mine.kind == f"operations.{rate}"].set_index("key")
        for col, src in (("predicted", "predicted"), ("pred_low", "low"), ("pred_high", "high")):
            out[f"{rate}_{col}"] = key.map(p[src]).to_numpy()
        outside = (out[rate] < out[f"{rate}_pred_low"]) | (out[rate] > out[f"{rate}_pred_high"])
        for i in np.flatnonzero(outside.fillna(False).to_numpy()):
            r = out.iloc[i]
            flags[i].append(f"{rate.replace('_', ' ')} {r[rate]:.1%} outside the predicted "
                            f"[{r[f'{rate}_pred_low']:.1%}, {r[f'{rate}_pred_high']:.1%}]")
    out["vs_prediction"] = ["; ".join(f) for f in flags]
    out.attrs = {**funnel.attrs, "predicted_as_of": mine.as_of.max()}
    return out


__all__ = ["engagement_outcomes", "engagement_predictions", "with_expectation"]
