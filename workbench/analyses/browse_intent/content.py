"""What a browse email should show, by intent decile: the products viewed, or a collection.

A store that randomizes its browse emails' content (experiment ``browse_content``: arm
``reminder``, the viewed category's products, or ``collection``, a curated collection of
it) beside the campaign's holdout measures each content against no email in each intent
decile: customers' sessions of the decile averaged into one unit per customer (the unit
randomized), margin in the window less the message cost, Welch 95% intervals.  The
collection replaces the reminder in the lowest deciles ``1..k`` whose summed difference
(collection less reminder, independent deciles: variances add) is positive with
probability ``confidence`` or more under the normal approximation, ``k`` the one with the
largest sum — softer content where a session shows less intent, only where the test says
it earns more.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

CONTENTS = ("reminder", "collection")


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """Difference of means, its standard error, and the Welch 95% interval."""
    sa, sb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = float(np.sqrt(sa + sb))
    d = float(a.mean() - b.mean())
    if se == 0:
        return d, 0.0, d, d
    df = (sa + sb) ** 2 / (sa**2 / (a.size - 1) + sb**2 / (b.size - 1))
    h = float(stats.t.ppf(0.975, df)) * se
    return d, se, d - h, d + h


def content_by_decile(df: pd.DataFrame, decile: np.ndarray,
                      truth: pd.Series | None = None) -> pd.DataFrame:
    """Per intent decile: each content against the holdout, and collection against reminder.

    ``df``: browse sessions with ``customer_id``, ``arm`` (``holdout`` or ``messaged``),
    ``content`` (the messaged customer's content arm), ``margin`` and ``message_cost``;
    ``decile``: each session's intent decile; ``truth``: each session's caused margin (the
    simulator's), set beside the estimates.
    """
    group = np.where(df.arm.to_numpy(dtype=object) == "holdout", "holdout",
                     df.content.to_numpy(dtype=object))
    g = pd.DataFrame({"decile": decile, "customer_id": df.customer_id.to_numpy(),
                      "group": group,
                      "net": (df.margin - df.message_cost).to_numpy(float),
                      "caused": (truth.reindex(df.index).fillna(0.0).to_numpy(float)
                                 if truth is not None else np.nan)})
    g = g[g.group.isin(("holdout", *CONTENTS))]
    g = g.groupby(["decile", "customer_id", "group"], as_index=False)[["net", "caused"]].mean()
    rows = []
    for k, gd in g.groupby("decile"):
        y = {c: gd.net[gd.group == c].to_numpy() for c in ("holdout", *CONTENTS)}
        if min(v.size for v in y.values()) < 2:
            continue
        row = {"decile": int(k), "holdout": y["holdout"].size}
        for c in CONTENTS:
            d, _, lo, hi = _welch(y[c], y["holdout"])
            row.update({c: y[c].size, f"{c}_incremental": d, f"{c}_low": lo,
                        f"{c}_high": hi})
            if truth is not None:
                row[f"{c}_truth"] = float(gd.caused[gd.group == c].mean())
        d, se, _, _ = _welch(y["collection"], y["reminder"])
        row.update({"collection_vs_reminder": d, "collection_vs_reminder_se": se,
                    "p_collection_better": float(stats.norm.cdf(d / se)) if se > 0 else 0.5})
        rows.append(row)
    return pd.DataFrame(rows)


def collection_deciles(table: pd.DataFrame, confidence: float = 0.9) -> int:
    """``k``: the collection goes to intent deciles ``1..k`` (0: nowhere); see the module."""
    if table.empty or table.decile.iloc[0] != 1:
        return 0
    t = table.sort_values("decile")
    run = (t.decile.diff().fillna(1) == 1).cumprod().astype(bool)  # deciles 1, 2, ... in a row
    t = t[run.to_numpy()]
    m = t.collection_vs_reminder.cumsum().to_numpy()
    se = np.sqrt((t.collection_vs_reminder_se ** 2).cumsum().to_numpy())
    p = stats.norm.cdf(m / np.where(se > 0, se, np.inf))
    pays = t.collection_incremental.cumsum().to_numpy() > 0
    ok = (p >= confidence) & pays
    return int(t.decile.to_numpy()[ok][np.argmax(m[ok])]) if ok.any() else 0


__all__ = ["CONTENTS", "collection_deciles", "content_by_decile"]
