"""The abandoned-cart timing decision: delay and channel per purchase type.

The decision maximizes INCREMENTAL recovered margin against the no-message
holdout, not attributed recoveries: for every randomized cart the outcome is
``recovered_margin - message_cost`` (margin of the recovering order within the
window, whoever caused it, less what the reminder cost), and each arm is
compared with the holdout arm of the same purchase type by
:func:`~workbench.experiments.analyze_experiment` (Welch interval, normal
posterior for P(best)).  Natural returns appear in every arm and cancel in the
difference, which is exactly why the holdout is needed.

An arm is recommended for a purchase type only when the posterior probability
that it beats the holdout reaches ``min_prob``; otherwise the recommendation is
to send nothing for that type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import altair as alt
import numpy as np
import pandas as pd

from ...experiments.analysis import ExperimentInputError, ExperimentResult, analyze_experiment
from ...results import Result
from ...store import has_truth
from .features import abandonment_episodes
from .value_bands import EDGES, cart_value_bands, suggest_min_cart_value, true_reminder_margin


@dataclass
class CartTimingDecision(Result):
    """Per purchase type: the arms' incremental margins and the recommendation."""

    _html_table = "recommendations"

    table: pd.DataFrame  # purchase_type x arm
    recommendations: pd.DataFrame  # one row per purchase type
    results: dict[str, ExperimentResult]
    min_prob: float
    truth: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = []
        for r in self.recommendations.itertuples():
            if r.send:
                lines.append(
                    f"{r.purchase_type}: send {r.channel} after {r.delay_hours:g} h — "
                    f"+{r.incremental_margin:.2f} margin per abandoned cart vs no message "
                    f"[{r.ci_low:.2f}, {r.ci_high:.2f}], P(beats no message) "
                    f"{r.prob_beats_holdout:.0%}, P(best arm) {r.prob_best:.0%}.")
            else:
                lines.append(
                    f"{r.purchase_type}: send nothing — the best arm ({r.arm}) beats no message "
                    f"with probability {r.prob_beats_holdout:.0%} < {self.min_prob:.0%}.")
        if self.truth is not None:
            for r in self.truth.itertuples():
                verdict = "matches" if r.matches_truth else "differs from"
                lines.append(f"{r.purchase_type}: recommendation {verdict} the simulator's true "
                             f"best ({r.true_channel} after {r.true_delay_hours:g} h); regret "
                             f"{r.regret_per_cart:.3f} margin per cart.")
        return "\n".join(lines + self.notes)


    def chart(self) -> alt.Chart:
        d = self.table[self.table.arm != self.table.holdout]
        base = alt.Chart().encode(y=alt.Y("arm:N", title=None))  # data comes with the facet
        ci = base.mark_rule(size=2).encode(
            x=alt.X("ci_low:Q", title="incremental margin per abandoned cart vs no message"),
            x2="ci_high:Q", color=alt.Color("channel:N"))
        pt = base.mark_point(filled=True, size=60).encode(
            x="incremental_margin:Q", color="channel:N",
            tooltip=["purchase_type", "arm", "incremental_margin", "ci_low", "ci_high",
                     "prob_beats_holdout", "prob_best", "n"])
        zero = alt.Chart().mark_rule(strokeDash=[4, 4]).encode(x=alt.datum(0))
        return alt.layer(ci, pt, zero, data=d).facet(
            row=alt.Row("purchase_type:N", title=None)).properties(
            title="Incremental margin per abandoned cart, by arm (95% intervals)")

    def to_policy(self) -> dict:
        """The ``abandoned_cart.policy`` section: per purchase type what to send and when."""
        out = {}
        for r in self.recommendations.itertuples():
            out[r.purchase_type] = ({"send": True, "channel": r.channel,
                                     "delay_hours": float(r.delay_hours), "discount_pct": 0.0}
                                    if r.send else {"send": False})
            out[r.purchase_type]["evidence"] = {
                "arm": r.arm, "incremental_margin_per_cart": float(r.incremental_margin),
                "ci_95": [float(r.ci_low), float(r.ci_high)],
                "prob_beats_no_message": float(r.prob_beats_holdout),
                "prob_best_arm": float(r.prob_best), "n_carts": int(r.n)}
        return out


def _arm_settings(ep: pd.DataFrame, holdout: str) -> pd.DataFrame:
    """Channel and delay of each arm, read from the messages actually sent."""
    rows = []
    for arm, g in ep.groupby("arm"):
        sent = g[g.n_messages > 0]
        if arm == holdout or sent.empty:
            rows.append({"arm": arm, "channel": None, "delay_hours": np.nan})
        else:
            rows.append({"arm": arm, "channel": sent.message_channel.mode().iloc[0],
                         "delay_hours": float(np.round(sent.message_delay_hours.median(), 1))})
    return pd.DataFrame(rows)


def decide_cart_timing(episodes: pd.DataFrame, holdout: str = "holdout",
                       min_prob: float = 0.9, alpha: float = 0.05,
                       truth: pd.DataFrame | None = None) -> CartTimingDecision:
    """Recommend delay and channel per purchase type from abandonment episodes.

    Parameters
    ----------
    episodes
        :func:`~workbench.analyses.cart_timing.features.abandonment_episodes`, executed.
    holdout
        Name of the no-message arm.
    min_prob
        Minimum posterior probability that the chosen arm beats no message.
    truth
        ``truth/delay_response`` of a simulated store, to score the recommendation.
    """
    need = {"arm", "purchase_type", "recovered_margin", "message_cost", "n_messages",
            "message_channel", "message_delay_hours"}
    missing = need - set(episodes.columns)
    if missing:
        raise ExperimentInputError(f"episodes: missing columns {sorted(missing)}")
    ep = episodes[episodes.arm.notna()].copy()
    if ep.empty:
        raise ExperimentInputError("episodes: no cart belongs to an experiment arm")
    if holdout not in set(ep.arm):
        raise ExperimentInputError(f"episodes: holdout arm {holdout!r} not found; arms are "
                                   f"{sorted(ep.arm.unique())}")
    ep["net_margin"] = ep.recovered_margin - ep.message_cost
    settings = _arm_settings(ep, holdout).set_index("arm")
    rows, recs, results, notes = [], [], {}, []
    for ptype, g in ep.groupby("purchase_type"):
        if holdout not in set(g.arm) or g.arm.nunique() < 2:
            notes.append(f"{ptype}: not analysed — needs carts in the holdout and in at least "
                         f"one messaged arm (has {sorted(g.arm.unique())}).")
            continue
        res = analyze_experiment(g, "arm", "net_margin", holdout, kind="continuous",
                                 alpha=alpha, name=f"episodes[{ptype}]")
        results[ptype] = res
        a = res.arms.assign(purchase_type=ptype, holdout=holdout)
        a["channel"] = a.arm.map(settings["channel"])
        a["delay_hours"] = a.arm.map(settings["delay_hours"])
        a = a.rename(columns={"ci_low": "mean_ci_low", "ci_high": "mean_ci_high",
                              "abs_lift": "incremental_margin", "abs_lift_low": "ci_low",
                              "abs_lift_high": "ci_high",
                              "prob_beat_control": "prob_beats_holdout"})
        rows.append(a)
        t = a[a.arm != holdout]
        best = t.loc[t.incremental_margin.idxmax()]
        recs.append({"purchase_type": ptype, "arm": best.arm,
                     "send": bool(best.prob_beats_holdout >= min_prob),
                     "channel": best.channel, "delay_hours": best.delay_hours,
                     "incremental_margin": best.incremental_margin, "ci_low": best.ci_low,
                     "ci_high": best.ci_high, "prob_beats_holdout": best.prob_beats_holdout,
                     "prob_best": best.prob_best, "n": int(best.n)})
    if not rows:
        raise ExperimentInputError("episodes: no purchase type has both holdout and messaged "
                                   "carts; " + " ".join(notes))
    table = pd.concat(rows, ignore_index=True)
    rec = pd.DataFrame(recs)
    scored = _score(rec, truth) if truth is not None else None
    return CartTimingDecision(table=table, recommendations=rec, results=results,
                              min_prob=min_prob, truth=scored, notes=notes)


def _score(rec: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Compare recommendations with the simulator's true incremental margins."""
    rows = []
    for r in rec.itertuples():
        t = truth[truth.purchase_type == r.purchase_type]
        best = t.loc[t.incremental_margin_per_cart.idxmax()]
        if r.send:
            chosen = t[(t.channel == r.channel) & np.isclose(t.delay_hours, r.delay_hours,
                                                            atol=0.25)]
            value = float(chosen.incremental_margin_per_cart.iloc[0]) if len(chosen) else np.nan
        else:
            value = 0.0
        rows.append({"purchase_type": r.purchase_type, "true_channel": best.channel,
                     "true_delay_hours": float(best.delay_hours),
                     "true_best_margin_per_cart": float(best.incremental_margin_per_cart),
                     "recommended_true_margin_per_cart": value,
                     "regret_per_cart": float(best.incremental_margin_per_cart) - value,
                     "matches_truth": bool(r.send and r.channel == best.channel
                                           and np.isclose(r.delay_hours, best.delay_hours,
                                                          atol=0.25))})
    return pd.DataFrame(rows)


@dataclass
class CartTimingStudy(Result):
    """The whole abandoned-cart timing analysis of one dataset."""

    _skip_in_dict = ("episodes",)  # one row per abandoned cart

    episodes: pd.DataFrame
    decision: CartTimingDecision | None
    recovery: ExperimentResult | None
    settings: dict
    dataset_hash: str | None
    reason: str = ""  # why there is no decision, when there is none
    #: per cart-value band: reminded against held-out carts, last click beside it
    #: (:func:`~workbench.analyses.cart_timing.value_bands.cart_value_bands`)
    bands: pd.DataFrame | None = None
    #: carts worth less than this get no reminder (0: every cart is reminded)
    min_cart_value: float = 0.0
    #: that rule replayed in the simulator next to its prediction (simulated stores)
    rule_replay: dict | None = None

    @property
    def experiment_episodes(self) -> pd.DataFrame:
        return self.episodes[self.episodes.arm.notna()]

    def summary(self) -> str:
        if self.decision is None:
            return f"No decision: {self.reason}"
        return self.decision.summary()



def run_cart_timing(con, window_days: float = 7.0, holdout: str = "holdout",
                    min_prob: float = 0.9, alpha: float = 0.05,
                    dataset_hash: str | None = None, band_edges=EDGES,
                    dataset=None) -> CartTimingStudy:
    """Episodes, recovery curves and the decision for a dataset with a cart experiment.

    ``con`` is a connection from :func:`workbench.store.open_dataset`; when the
    dataset is simulated (``truth_delay_response`` registered) the decision is
    scored against the truth.  The reminder's incremental margin per cart-value band
    (``band_edges``, currency units) gives the smallest cart worth reminding
    (:mod:`.value_bands`); ``dataset``, a simulated dataset's path, sets each band
    beside the simulator's truth.  Raises :class:`ExperimentInputError` when the
    dataset has no randomized carts; returns a study without a decision (and
    its reason) when there are too few to decide.
    """
    settings = {"window_days": window_days, "holdout": holdout, "min_prob": min_prob,
                "alpha": alpha}
    ep = abandonment_episodes(con, window_days=window_days).execute()
    exp = ep[ep.arm.notna()]
    if exp.empty:
        raise ExperimentInputError("no abandoned cart belongs to a randomized experiment arm "
                                   "(assignments with unit_type = 'cart')")
    truth = (con.table("truth_delay_response").execute()
             if has_truth(con, "delay_response") else None)
    try:
        decision = decide_cart_timing(ep, holdout=holdout, min_prob=min_prob, alpha=alpha,
                                      truth=truth)
        recovery = analyze_experiment(exp, "arm", "recovered", holdout, kind="binary",
                                      segment="purchase_type", duration="duration_hours",
                                      event="event", alpha=alpha, name="abandoned carts")
    except ExperimentInputError as exc:
        return CartTimingStudy(ep, None, None, settings, dataset_hash, reason=str(exc))
    bands = cart_value_bands(ep, edges=band_edges, holdout=holdout, truth=(
        true_reminder_margin(dataset) if dataset is not None else None))
    settings["band_edges"] = [float(e) for e in band_edges]
    return CartTimingStudy(ep, decision, recovery, settings, dataset_hash, bands=bands,
                           min_cart_value=suggest_min_cart_value(bands, min_prob))
