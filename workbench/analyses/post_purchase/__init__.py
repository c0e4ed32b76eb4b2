"""Post-purchase content by buyer, each measured against no email in a randomized test.

Welcome, a thank-you with early access, a loyalty invitation or the usual cross-sell.  The
test (:mod:`.features`) assigns customers at an order to a content at random; each
segment (first-time or repeat buyer at that order, its value below or above the store's
median) compares the margin of the customer's later orders in the window, less message
costs, across arms.  The comparison is variance-reduced by the entering order's value
(CUPED: Deng, Xu, Kohavi & Walker 2013, eq. 3-4, one ``theta`` per segment pooled over
arms, so every arm's mean is shifted by the same covariate regression) with Welch
intervals (Welch 1947, Satterthwaite degrees of freedom).  Per segment, a content
replaces the store's default (cross-sell) only where ``P(it beats the default) >=
confidence`` under the normal approximation of the difference (a flat prior); ``none``
is a candidate too, so a segment whose emails lose margin stops getting them.  Exported
as ``campaigns.post_purchase.sequences``, replayed on a simulated store against
cross-sell for everyone, and set beside the simulator's truth of every message.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from ...experiments import sample_size_mean
from ...report import Kpi, Section
from ...results import Result
from ...simulate.campaign_settings import POST_PURCHASE_CONTENTS, PostPurchaseSequence
from ..base import Analysis, Context, replayed
from ..truth import caused_margin
from .features import CAMPAIGN, FIRST, order_outcomes, sequence_units

TITLE, ANCHOR = "Post-purchase content by buyer", "post-purchase"
INTRO = ("What should the emails after an order say — a welcome for a first order, early "
         "access for a big one, a loyalty invitation for a returning customer, or the "
         "usual cross-sell? Each content is measured against no email, in a randomized "
         "test, by the margin of the customer's next orders.")
DEFAULT, CONTROL = "cross_sell", "none"
LABELS = {"cross_sell": "cross-sell", "welcome": "welcome", "early_access":
          "thank-you with early access", "loyalty": "loyalty invitation", "none": "no email"}
MIN_UNITS = 30  # per arm and segment, to compare it


class SequenceInputError(ValueError):
    """No post-purchase content test in the dataset (or too little of it) to decide on."""


def segments(units: pd.DataFrame, split: float) -> pd.Series:
    """``first_time, under 80`` etc.: buyer type at the entering order, value band."""
    band = np.where(units.order_value >= split, f"{split:,.0f} or more", f"under {split:,.0f}")
    return units.buyer.str.replace("_", "-") + ", " + pd.Series(band, index=units.index)


def content_effects(units: pd.DataFrame, split: float, control: str = CONTROL,
                    default: str = DEFAULT, covariate: str = "order_value") -> pd.DataFrame:
    """Per segment and arm: units, margin, its difference from no email and from the default.

    ``margin`` is the arm's CUPED-adjusted mean of ``margin_after``; ``incremental`` the
    difference from ``control`` with its 95% Welch interval; ``vs_default`` the
    difference from ``default`` with ``p_beats_default`` (normal approximation).
    """
    u = units.assign(segment=segments(units, split))
    rows = []
    for seg, g in u.groupby("segment", sort=True):
        x, y = g[covariate].to_numpy(float), g.margin_after.to_numpy(float)
        var = x.var(ddof=1) if len(x) > 1 else 0.0
        theta = np.cov(x, y, ddof=1)[0, 1] / var if var > 0 else 0.0
        adj = y - theta * (x - x.mean())  # Deng et al. 2013, eq. 3-4
        arms = {a: adj[(g.arm == a).to_numpy()] for a in sorted(set(g.arm))}
        if control not in arms or min(len(v) for v in arms.values()) < MIN_UNITS:
            continue

        def diff(a, b, arms=arms):
            va, vb = arms[a], arms[b]
            sa, sb = va.var(ddof=1) / len(va), vb.var(ddof=1) / len(vb)
            se = np.sqrt(sa + sb)
            df = (sa + sb) ** 2 / (sa**2 / (len(va) - 1) + sb**2 / (len(vb) - 1)) \
                if se > 0 else np.inf
            return va.mean() - vb.mean(), se, df

        for a, v in arms.items():
            d, se, df = diff(a, control)
            h = stats.t.ppf(0.975, df) * se if se > 0 else 0.0
            row = {"segment": seg, "content": a, "customers": len(v), "margin": v.mean(),
                   "incremental": d, "ci_low": d - h, "ci_high": d + h}
            if default in arms:
                dd, sd, _ = diff(a, default)
                row["vs_default"] = dd
                row["p_beats_default"] = (0.5 if a == default else
                                          float(stats.norm.cdf(dd / sd)) if sd > 0 else 0.5)
            rows.append(row)
    return pd.DataFrame(rows)


def decide(effects: pd.DataFrame, confidence: float = 0.9,
           default: str = DEFAULT) -> pd.DataFrame:
    """Per segment, the content to send.

    The best (highest margin) of those beating the default with ``P >= confidence``, else
    the default.
    """
    rows = []
    for seg, g in effects.groupby("segment", sort=True):
        g = g.set_index("content")
        base = default if default in g.index else CONTROL
        sure = g[(g.index != base) & (g.get("p_beats_default", 0.0) >= confidence)]
        pick = sure.margin.idxmax() if len(sure) else base
        best = g.margin.idxmax()  # the highest estimate, shown to win or not
        r = g.loc[pick]
        rows.append({"segment": seg, "content": pick, "best_estimate": best,
                     "gain_vs_default": float(r.get("vs_default", 0.0)),
                     "p_beats_default": float(g.loc[best].get("p_beats_default", np.nan)),
                     "incremental": float(r.incremental), "ci_low": float(r.ci_low),
                     "ci_high": float(r.ci_high)})
    return pd.DataFrame(rows)


def size_test(con, window_days: float = 30.0, arms: int = len(POST_PURCHASE_CONTENTS) + 1,
              detectable: float = 0.5) -> pd.DataFrame:
    """The content test to run, per buyer type, sized at this store's orders.

    Customers per arm to detect a difference of ``detectable`` in margin per customer
    over the window (80% power, 5% two-sided; the sd of the store's later margin after
    such orders), and the weeks of that buyer's orders it takes with ``arms`` arms.
    """
    o = order_outcomes(con, window_days)
    if o.empty:
        return pd.DataFrame()
    weeks = max((o.placed_at.max() - o.placed_at.min()).total_seconds() / (7 * 86400), 1.0)
    rows = []
    for buyer, g in o.groupby("buyer"):
        sd = float(g.margin_after.std())
        n = sample_size_mean(sd, detectable) if np.isfinite(sd) and sd > 0 else np.nan
        per_week = len(g) / weeks
        rows.append({"buyer": buyer, "orders_per_week": round(per_week, 1),
                     "margin_after_sd": round(sd, 2), "customers_per_arm": n,
                     "arms": arms, "weeks_needed": round(n * arms / per_week, 1)
                     if per_week > 0 else np.inf})
    return pd.DataFrame(rows)


@dataclass
class PostPurchaseSequences(Result):
    """Per segment and content: the measured effect; per segment: the content chosen."""

    _html_table = "decision"

    effects: pd.DataFrame
    decision: pd.DataFrame
    settings: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)
    replay: pd.DataFrame | None = None

    @property
    def sequences(self) -> list[PostPurchaseSequence]:
        """The segments whose content changes from the default, as the campaign's sequences."""
        split, out = self.settings["split"], []
        picks = {tuple(r.segment.split(", ")): r.content for r in self.decision.itertuples()}
        for (buyer, band), content in picks.items():
            if content == DEFAULT:
                continue
            low = band.startswith("under")
            other = [c for (b, v), c in picks.items() if b == buyer and v != band]
            if other == [content]:  # both bands alike: one sequence for the buyer
                if low:
                    out.append(PostPurchaseSequence(content=content,
                                                    buyers=buyer.replace("-", "_")))
                continue
            out.append(PostPurchaseSequence(
                content=content, buyers=buyer.replace("-", "_"),
                min_order_value=0.0 if low else split,
                max_order_value=split if low else None))
        return out

    def summary(self) -> str:
        days, lines = self.settings["window_days"], []
        for r in self.decision.itertuples():
            line = (f"{r.segment}: {LABELS[r.content]}" + (
                " (the default)" if r.content == DEFAULT else
                f", {r.gain_vs_default:+.2f} margin per customer over cross-sell") +
                f"; against no email {r.incremental:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}] "
                f"in {days:g} days")
            if r.best_estimate != r.content:
                line += (f" — {LABELS[r.best_estimate]} estimates higher but is not shown "
                         f"to beat {LABELS[DEFAULT]} (P {r.p_beats_default:.3f} < "
                         f"{self.settings['confidence']:g})")
            lines.append(line + ".")
        if self.truth:
            lines.append(f"Against the simulator's truth, {self.truth['covered']} of "
                         f"{self.truth['cells']} segment × content effects lie in their 95% "
                         "intervals.")
        if self.replay is not None:
            lines.append(replayed("Replayed, the content by buyer", "cross-sell for everyone",
                                  self.replay.set_index("metric").loc["margin"]) + ".")
        return " ".join(lines)


def analyze_post_purchase(con, window_days: float = 30.0, confidence: float = 0.9,
                          dataset=None) -> PostPurchaseSequences:
    """Each content's effect per segment from the store's content test, and the decision.

    ``dataset``: a simulated dataset's path, to set the truth beside each estimate.
    Raises :class:`SequenceInputError` when the store has not run the test.
    """
    units = sequence_units(con, window_days)
    if units.empty:
        raise SequenceInputError(
            "no post-purchase content test in the assignments table (experiment "
            "'post_purchase_sequence', one arm per content) whose customers' "
            f"{window_days:g}-day windows have ended")
    split = round(float(units.order_value.median()), 2)
    effects = content_effects(units, split)
    if effects.empty:
        raise SequenceInputError(f"the content test has fewer than {MIN_UNITS} customers "
                                 "per arm in every segment, or no 'none' arm to measure "
                                 "against")
    truth = {}
    if dataset is not None:
        t = units.assign(campaign=CAMPAIGN, segment=segments(units, split),
                         caused=caused_margin(dataset, units.assign(campaign=CAMPAIGN),
                                              window_days, start="placed_at"))
        cell = t.groupby(["segment", "arm"]).caused.mean().rename("true_incremental")
        effects = effects.join(cell, on=["segment", "content"])
        ok = effects.content != CONTROL
        e = effects[ok]
        truth = {"cells": int(ok.sum()), "covered": int(
            ((e.ci_low <= e.true_incremental) & (e.true_incremental <= e.ci_high)).sum())}
    return PostPurchaseSequences(
        effects=effects, decision=decide(effects, confidence), truth=truth,
        settings={"window_days": window_days, "confidence": confidence, "split": split,
                  "customers": len(units), "first_time_share": float(
                      (units.buyer == FIRST).mean())})


def replay_sequences(dataset, result: PostPurchaseSequences,
                     replications: int = 3) -> pd.DataFrame:
    """The content by buyer against cross-sell for everyone, replayed (no test in either)."""
    from ...campaigns.config import baseline_from_dataset, with_recommendations
    from ...campaigns.replay import replay

    base = baseline_from_dataset(dataset)
    data = base.model_dump(mode="json")
    data["campaigns"]["post_purchase"].update(sequence_test=None, sequences=[])
    base = type(base).model_validate(data)
    new = with_recommendations(base, post_purchase_sequences=result.sequences)
    t = replay(dataset, new, baseline=base, replications=replications).table
    return t.set_index("metric").loc[["margin", "revenue", "messages_sent"]].rename(
        columns={"baseline": "cross_sell", "new": "by_buyer"}).reset_index()


class PostPurchaseContent(Analysis):
    """Which post-purchase content each kind of buyer gets, from the store's content test."""

    name, title, anchor, intro = "post_purchase", TITLE, ANCHOR, INTRO
    recommendation = "post-purchase content by buyer"
    needs = {"orders": ("order_id", "customer_id", "placed_at", "revenue")}
    test_to_run = ("a post-purchase content test: customers assigned at an order, at random, "
                   "to no email, cross-sell, welcome, early access or loyalty content "
                   "(experiment 'post_purchase_sequence' in the assignments table, arm the "
                   "content), margin of their next orders compared")

    def run(self, ctx: Context):
        try:
            res = analyze_post_purchase(ctx.con, dataset=ctx.path if ctx.has_truth(
                "truth/messages") else None)
        except SequenceInputError as exc:
            sized = size_test(ctx.con)
            skip = self.skip(str(exc))
            if len(sized):
                skip = replace(skip, tables=(
                    ("The content test to run, sized at this store's orders (customers per "
                     "arm to detect 0.50 of margin per customer in 30 days, 80% power)",
                     sized),))
            return skip
        if ctx.simulated and res.sequences:
            ctx.echo("post_purchase: replaying content by buyer against cross-sell")
            res.replay = replay_sequences(ctx.path, res)
        return res

    def section(self, result: PostPurchaseSequences) -> Section:
        d = result.decision
        kpis = [Kpi(f"pp-{i}", r.segment, LABELS[r.content],
                    f"{r.gain_vs_default:+.2f} over cross-sell" if r.content != DEFAULT
                    else "default kept") for i, r in enumerate(d.itertuples())]
        tables = [("Per segment: the content chosen and its margin against no email "
                   f"(95% interval) over {result.settings['window_days']:g} days",
                   d.round(3)),
                  ("Every content per segment: margin per customer (CUPED-adjusted), against "
                   "no email and against cross-sell", result.effects.round(3))]
        if result.replay is not None:
            tables.append(("Content by buyer replayed against cross-sell for everyone "
                           "(difference with its 95% interval)", result.replay.round(1)))
        return Section(title=TITLE, anchor=ANCHOR, kpis=kpis, tables=tables,
                       paragraphs=[INTRO, result.summary()])

    def export(self, result: PostPurchaseSequences, out, ctx: Context):
        return self.write_csv(out, "post_purchase_content", result.effects, 4)

    def config_part(self, result: PostPurchaseSequences, files):
        return {"post_purchase_sequences": result.sequences} if result.sequences else {}


__all__ = ["PostPurchaseContent", "PostPurchaseSequences", "SequenceInputError",
           "analyze_post_purchase", "content_effects", "decide", "replay_sequences",
           "segments", "sequence_units", "size_test"]
