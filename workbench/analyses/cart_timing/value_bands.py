"""Is a cart reminder worth sending for a small cart?  Efficiency by cart-value band.

The cart test randomizes every cart in it to a reminder or to no message, so within a
band of cart value (the cart's items at the prices they were added at, what a
platform's "started checkout" value reads) the difference in net margin per cart —
``recovered_margin - message_cost``, the outcome the timing decision maximizes —
between reminded and held-out carts is the reminder's incremental margin for carts
of that size.  Reminded carts pool the test's messaged arms (the reminder as the test
sent it).  Each band's interval is Welch's and P(the reminder loses money) the normal
posterior of the difference (:func:`workbench.experiments.welch_difference`).

Beside it the last-click view a platform reports: the share of reminded carts whose
reminder was clicked and the cart then bought, and revenue per reminder.  A band can
convert well by last click and still lose money: the holdout shows how many of those
customers would have come back anyway, and a discount in the reminder is paid to them
too.

The suggested rule: carts under the top of the lowest bands, taken from the bottom
while each loses money with probability at least ``min_prob``, get no reminder
(``campaigns.abandoned_cart.min_cart_value``).  On a simulated store each band is set
beside the simulator's truth (the margin each reminder caused, less subsidies and its
cost, per reminded cart) and the rule is replayed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: default band edges (currency units): under 25, 25-50, 50-100, 100-200, 200 and more
EDGES = (25.0, 50.0, 100.0, 200.0)


def band_of(values, edges=EDGES) -> pd.Series:
    """Each cart value's band label (``"under 25"``, ``"25–50"``, ``"200 or more"``)."""
    edges = [float(e) for e in edges]
    if any(b <= a for a, b in zip(edges, edges[1:], strict=False)) or not edges or edges[0] <= 0:
        raise ValueError(f"band edges must be positive and increasing, got {edges}")
    labels = [f"under {edges[0]:g}"] + [f"{a:g}–{b:g}" for a, b in zip(
        edges, edges[1:], strict=False)] + [f"{edges[-1]:g} or more"]
    idx = np.searchsorted(edges, np.asarray(values, dtype=float), side="right")
    return pd.Series(pd.Categorical.from_codes(idx, labels, ordered=True),
                     index=getattr(values, "index", None))


def cart_value_bands(episodes: pd.DataFrame, edges=EDGES, holdout: str = "holdout",
                truth: pd.Series | None = None) -> pd.DataFrame:
    """Per cart-value band: reminded against held-out carts of the test, and last click.

    ``episodes``: :func:`~workbench.analyses.cart_timing.features.abandonment_episodes`,
    executed (the test's carts are those with an ``arm``).  ``truth``: per cart
    ``session_id``, the margin its reminder caused net of subsidy and cost (simulated
    stores; :func:`true_reminder_margin`).

    Columns: ``band, low, high, reminded, held_out, recovered_reminded,
    recovered_held_out, last_click_conversion, revenue_per_reminder, cost_per_reminder,
    incremental_margin, ci_low, ci_high, prob_loses`` and, with ``truth``,
    ``true_incremental_margin``.
    """
    from ...experiments import welch_difference

    ep = episodes[episodes.arm.notna()]
    edges = [float(e) for e in edges]
    band = band_of(ep.cart_value.to_numpy(), edges)
    band.index = ep.index
    reminded = (ep.arm != holdout) & (ep.n_messages.fillna(0) > 0)
    held = ep.arm == holdout
    net = ep.recovered_margin - ep.message_cost.fillna(0.0)
    bought_after_click = ep.clicked.fillna(False).astype(bool) & ep.recovered.astype(bool)
    lows, highs = [0.0, *edges], [*edges, np.inf]
    rows = []
    for i, label in enumerate(band.cat.categories):
        inb = band == label
        t, c = net[inb & reminded], net[inb & held]
        row = {"band": label, "low": lows[i], "high": highs[i], "reminded": int(len(t)),
               "held_out": int(len(c)),
               "recovered_reminded": float(ep.recovered[inb & reminded].mean())
               if len(t) else np.nan,
               "recovered_held_out": float(ep.recovered[inb & held].mean())
               if len(c) else np.nan,
               "last_click_conversion": float(bought_after_click[inb & reminded].mean())
               if len(t) else np.nan,
               "revenue_per_reminder": float(ep.recovered_revenue[inb & reminded & (
                   bought_after_click)].sum() / len(t)) if len(t) else np.nan,
               "cost_per_reminder": float(ep.message_cost[inb & reminded].mean())
               if len(t) else np.nan}
        w = welch_difference(t, c)
        row.update(incremental_margin=w["difference"], ci_low=w["low"], ci_high=w["high"],
                   prob_loses=w["prob_below_zero"])
        if truth is not None:
            ids = ep.session_id[inb & reminded]
            row["true_incremental_margin"] = float(truth.reindex(ids).fillna(0.0).mean()) \
                if len(ids) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def suggest_min_cart_value(bands: pd.DataFrame, min_prob: float = 0.9,
                           min_held_out: int = 30) -> float:
    """The cart value under which a reminder is not sent (0: remind every cart).

    The top of the lowest bands, taken from the bottom while each band's reminder
    loses money with probability at least ``min_prob``: a rule "no reminder for carts
    under X" stops at the first band that is not shown to lose.  A band with fewer than
    ``min_held_out`` held-out carts is not shown to lose whatever its probability: with
    a handful of carts the normal posterior of the difference is not to be trusted.
    """
    cut = 0.0
    for r in bands.sort_values("low").itertuples():
        if not (np.isfinite(r.prob_loses) and r.prob_loses >= min_prob and np.isfinite(r.high)
                and getattr(r, "held_out", min_held_out) >= min_held_out):
            break
        cut = float(r.high)
    return cut


def predicted_rule_effect(bands: pd.DataFrame, episodes: pd.DataFrame, cut: float,
                          keep_experiment_share: float, customers_ratio: float) -> dict:
    """What not reminding carts under ``cut`` should earn over the data's period.

    Per band under the cut: minus its incremental margin per reminded cart, times the
    carts of that band the rule reaches — the carts a reminder could reach (those that
    got one, and the test's held-out carts), less the ``keep_experiment_share`` of the
    test's carts that stay in the test — times ``customers_ratio`` (a replayed store's
    customers over the dataset's).  ``episodes``: every abandoned cart, in the test or
    not.  The bands' estimates are independent, so their variances add: a 95% normal
    interval.
    """
    b = bands[bands.high <= cut]
    edges = [x for x in bands.high if np.isfinite(x)]
    in_test = episodes.arm.notna()
    reach = in_test | (episodes.n_messages.fillna(0) > 0)
    band = band_of(episodes.cart_value.to_numpy(), edges)
    n_reach = band[reach.to_numpy()].value_counts()
    n_test = band[in_test.to_numpy()].value_counts()
    n = (b.band.map(n_reach).astype(float)
         - keep_experiment_share * b.band.map(n_test).astype(float)) * customers_ratio
    total = float(-(b.incremental_margin * n).sum())
    se_band = (b.ci_high - b.ci_low) / (2 * 1.96)
    se = float(np.sqrt(((se_band * n) ** 2).sum()))
    return {"total": total, "low": total - 1.96 * se, "high": total + 1.96 * se,
            "carts": float(n.sum())}


def replay_min_cart_value(dataset, cut: float, bands: pd.DataFrame,
                          episodes: pd.DataFrame, keep_experiment_share: float = 0.1,
                          replications: int = 3, n_customers: int | None = 3000,
                          echo=None) -> dict:
    """Replay "no reminder for carts under ``cut``" in the simulator, next to its prediction.

    Both configs are the dataset's campaigns with ``keep_experiment_share`` of carts left
    in the test (as an exported config leaves them); the new one adds
    ``min_cart_value = cut``.  Common random numbers, paired per-customer intervals
    (:class:`~workbench.campaigns.replay.Replayer`).  Returns the replayed margin
    difference with its 95% interval and the predicted one
    (:func:`predicted_rule_effect`; ``episodes``: every abandoned cart), both over the
    replayed store.
    """
    from ...campaigns.config import CampaignConfig, baseline_from_dataset
    from ...campaigns.replay import Replayer
    from ...store import load_manifest

    base = baseline_from_dataset(dataset)
    data = base.model_dump(mode="json")
    data["campaigns"]["abandoned_cart"]["experiment_share"] = keep_experiment_share
    base = CampaignConfig.model_validate(data)
    data["campaigns"]["abandoned_cart"]["min_cart_value"] = float(cut)
    new = CampaignConfig.model_validate(data)
    n_store = int(load_manifest(dataset)["config"]["n_customers"])
    n = min(n_store, int(n_customers)) if n_customers else n_store
    rp = Replayer.from_dataset(dataset, base, replications=replications, n_customers=n)
    res = rp.run(new, echo=echo).table.set_index("metric")
    pred = predicted_rule_effect(bands, episodes, cut, keep_experiment_share, n / n_store)
    row = res.loc["margin"]
    return {"cut": float(cut), "customers": n, "replications": replications,
            "replayed": float(row.difference), "low": float(row.low),
            "high": float(row.high), "predicted": pred["total"],
            "pred_low": pred["low"], "pred_high": pred["high"],
            "messages_saved": float(-res.loc["messages_sent"].difference),
            "agree": bool(pred["low"] <= row.high and row.low <= pred["high"])}


def true_reminder_margin(dataset, campaign: str = "abandoned_cart") -> pd.Series:
    """Per cart (``session_id``): the margin its reminders caused, less subsidy and cost.

    The sum of ``truth/messages.incremental_margin`` of the campaign's messages whose
    ``trigger_id`` is the cart's session (a simulated store's truth).
    """
    from ...store import read_table

    m = read_table(dataset, "messages")[["message_id", "campaign", "trigger_id"]]
    m = m[m.campaign == campaign]
    t = read_table(dataset, "truth/messages")[["message_id", "incremental_margin"]]
    j = m.merge(t, on="message_id")
    return j.groupby("trigger_id").incremental_margin.sum()


__all__ = ["EDGES", "band_of", "cart_value_bands", "predicted_rule_effect",
           "replay_min_cart_value", "suggest_min_cart_value",
           "true_reminder_margin"]
