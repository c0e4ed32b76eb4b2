"""The discount model scored against the simulator, over repeated simulated stores.

One store says little about calibration: a 90% interval misses 10% of the time by
design.  :func:`study_discount_calibration` simulates ``len(seeds)`` stores from the
same scenario, runs the analysis a user would run on each (units → observable
segments → counts → hierarchical fit → decision), and scores every store against
its own truth:

* **coverage** — per store, segment and discount level, whether the posterior 90%
  band of P(buy | d) covers the segment's true mean P(buy | d) (the simulator knows
  every customer's probability at every level).  Over many cells the rate should be
  close to 0.90 — a simulation-based calibration in the sense of Cook, Gelman &
  Rubin (2006, JCGS 15(3)) and Talts et al. (2018, arXiv:1804.06788), with the
  store simulator, not the model, as the data-generating process;
* **margin** — the true expected margin per message of the recommended discounts
  against the true-best discounts, per segment and overall (weighted by the
  segment's share of messages).

The same function backs notebook 02, the slow tests and the README figures.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...results import Result
from ...segments import Segmentation
from ...simulate import scenario, simulate
from ...simulate.truth import discount_conversion_truth
from ...store import open_dataset, save_simulation
from .features import discount_units
from .model import coverage_against_truth, fit_discounts, score_against_truth


class _Coverage:
    """The share of 90% intervals covering the truth (a ``coverage.covered`` column)."""

    @property
    def coverage_rate(self) -> float:
        return float(self.coverage.covered.mean())

    @property
    def coverage_se(self) -> float:
        """Binomial standard error of the coverage rate at the nominal 0.90."""
        return float(np.sqrt(0.9 * 0.1 / len(self.coverage)))


@dataclass
class DiscountCalibrationStudy(_Coverage, Result):
    """Coverage and margin of the discount analysis over repeated simulated stores."""

    coverage: pd.DataFrame  # store, segment, discount, mean, low_90, high_90, truth, covered
    scores: pd.DataFrame  # store, segment, n, recommended, true_best, margins, shares
    converged: list[bool]
    settings: dict = field(default_factory=dict)

    def margin_share(self) -> pd.Series:
        """Per store: true margin of the recommendation / true-best margin, message-weighted."""
        s = self.scores
        return (s.assign(rec=s.n * s.true_margin_of_recommended, best=s.n * s.true_best_margin)
                .groupby("store")[["rec", "best"]].sum().pipe(lambda t: t.rec / t.best))

    def summary(self) -> str:
        share = self.margin_share()
        worst = self.scores.loc[self.scores.share_of_best_margin.idxmin()]
        return (f"{len(self.converged)} simulated stores ({sum(self.converged)} fits converged). "
                f"Posterior 90% bands of P(buy | discount) covered the truth in "
                f"{self.coverage_rate:.1%} of {len(self.coverage)} segment × level cells "
                f"(nominal 90%, binomial SE {self.coverage_se:.1%}). The recommended "
                f"discounts earned {share.min():.1%}–{share.max():.1%} of the true-best "
                f"margin per store (message-weighted); the worst single segment earned "
                f"{worst.share_of_best_margin:.1%} ({worst.segment}, store {worst.store}).")

    def _repr_html_(self) -> str:
        return f"<p>{self.summary()}</p>" + self.scores.round(3).to_html(index=False)

    def chart(self):
        """Altair: coverage per discount level with the nominal rate as a rule."""
        import altair as alt

        d = self.coverage.groupby("discount", as_index=False).covered.mean()
        bars = alt.Chart(d).mark_bar().encode(
            x=alt.X("discount:O", title="discount level"),
            y=alt.Y("covered:Q", title="share of 90% bands covering the truth",
                    axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])))
        rule = alt.Chart(pd.DataFrame({"nominal": [0.9]})).mark_rule(
            color="black", strokeDash=[4, 4]).encode(y="nominal:Q")
        return (bars + rule).properties(width=260, height=160,
                                        title="Calibration over repeated stores")


def study_discount_calibration(seeds=(1, 2, 3), scenario_name: str = "default",
                               n_customers: int = 20_000, model_kwargs: dict | None = None,
                               by=("deal", "value", "recency"), pool_on_features: bool = True,
                               message_cost: float = 0.004, min_prob: float = 0.9,
                               workdir=None, echo=None) -> DiscountCalibrationStudy:
    """Simulate one store per seed, fit and decide on each, and score against the truth.

    Parameters
    ----------
    seeds
        One simulated store per seed (same scenario, independent customers and draws).
    scenario_name, n_customers
        The simulator scenario and its size.
    model_kwargs
        Settings of :class:`~workbench.analyses.discount.model.DiscountResponseModel`.
    by, pool_on_features
        The segmentation (:func:`~workbench.analyses.discount.features.segment_units`) and whether
        segments are pooled toward segments like them (group-level predictors).
    message_cost, min_prob
        As in :func:`~workbench.analyses.discount.model.decide_discounts`.
    workdir
        Where the simulated datasets are written (a temporary folder by default).
    """
    import tempfile
    from pathlib import Path


    echo = echo or (lambda *_: None)
    kw = {"draws": 1000, "tune": 1000, **(model_kwargs or {})}
    covs, scores, conv = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp)
        for seed in seeds:
            path = save_simulation(simulate(scenario(scenario_name, n_customers=n_customers),
                                            seed=seed), root / f"store_{seed}")
            fit = fit_discounts(discount_units(open_dataset(path)).execute(),
                                Segmentation(by=tuple(by)), pool_on_features=pool_on_features,
                                random_seed=seed, **kw)
            u, model, econ = fit.units, fit.model, fit.economics
            dec = fit.decide(message_cost=message_cost, min_prob=min_prob)
            truth = discount_conversion_truth(path, u).assign(segment=u.segment)
            covs.append(coverage_against_truth(model, truth).assign(store=seed))
            sc = score_against_truth(dec, truth, econ, message_cost=message_cost)
            scores.append(sc.merge(u.segment.value_counts().rename("n"), left_on="segment",
                                   right_index=True).assign(store=seed))
            conv.append(bool(model.converged_))
            echo(f"store {seed}: converged={model.converged_}")
    return DiscountCalibrationStudy(
        coverage=pd.concat(covs, ignore_index=True), scores=pd.concat(scores, ignore_index=True),
        converged=conv, settings={"scenario": scenario_name, "n_customers": n_customers,
                                  "seeds": list(seeds), "model": kw, "by": list(by),
                                  "pool_on_features": pool_on_features,
                                  "message_cost": message_cost, "min_prob": min_prob})


@dataclass
class MarginCalibrationStudy(_Coverage, Result):
    """Coverage of incremental-margin intervals and the rule's true margin, over stores."""

    coverage: pd.DataFrame  # store, segment, discount, incremental_margin, low_90, high_90, truth
    rules: pd.DataFrame  # store: predicted, low, high, true, true_optimal, baseline, ...
    converged: list[bool]
    settings: dict = field(default_factory=dict)

    def summary(self) -> str:
        r = self.rules
        share = r.share_of_optimal
        honest = ("" if "honest_covers_true" not in r else
                  f" The cross-fitted prediction's 95% interval covered the rule's true effect "
                  f"in {r.honest_covers_true.mean():.0%} of stores.")
        return (f"{len(r)} simulated stores ({sum(self.converged)} fits converged). The 90% "
                f"intervals of per-segment incremental margin covered the truth in "
                f"{self.coverage_rate:.1%} of {len(self.coverage)} segment × level cells "
                f"(binomial SE {self.coverage_se:.1%}). The recommended rule's true margin was "
                f"{share.min():.1%}–{share.max():.1%} of the truth-optimal rule's (median "
                f"{share.median():.1%}); its predicted effect's 95% interval covered its true "
                f"effect in {r.covers_true.mean():.0%} of stores and the optimal rule's in "
                f"{r.covers_optimal.mean():.0%}." + honest + self._gains())

    def _gains(self) -> str:
        """The rule's true gain over 0% for all next to the best uniform rule's."""
        r = self.rules
        uni = sorted(c for c in r if c.startswith("true_uniform_"))
        if not uni or not (r.true_optimal > 0).any():
            return ""
        best = max(uni, key=lambda c: r[c].median())
        level = best.removeprefix("true_uniform_")
        gain = r.true / r.true_optimal
        return (f" Of the truth-optimal rule's gain over 0% for all, the recommended rule "
                f"earned {gain.mean():.0%} on average (median {gain.median():.0%}; "
                f"{(r.basis != 'by segment').sum()} stores chose a uniform rule); {level}% for "
                f"all would have earned {(r[best] / r.true_optimal).median():.0%} (median), "
                f"but the posterior gave it P(beats 0% for all) "
                f"{r['p_uniform_' + level].mean():.2f} on average — gains below what each "
                f"store's test can see.")

    def _repr_html_(self) -> str:
        return f"<p>{self.summary()}</p>" + self.rules.round(3).to_html(index=False)


def study_margin_calibration(seeds=tuple(range(1, 21)), scenario_name: str = "default",
                             n_customers: int = 20_000, model_kwargs: dict | None = None,
                             by=("deal", "value", "recency"), min_prob: float = 0.9,
                             workdir=None, echo=None) -> MarginCalibrationStudy:
    """Simulation-based calibration of the margin model over one store per seed.

    Each store is simulated, its experiment's units segmented, the margin model fitted
    and the rule decided, as the pipeline does; then scored against the store's truth
    (:func:`workbench.simulate.truth.discount_margin_truth`): whether each segment ×
    level 90% interval covers the segment's true mean incremental margin (Talts et al.
    2018, arXiv:1804.06788, with the simulator as the data-generating process), and the
    rule's true margin — the 0% arm's margin per customer (the baseline) plus the true
    incremental margin of the rule, over the experiment's customers — against the
    truth-optimal rule's.
    """
    import tempfile
    from pathlib import Path

    from ...simulate.truth import discount_margin_truth
    from .margin import fit_margins, rule_effect, score_margin_decision

    echo = echo or (lambda *_: None)
    kw = {"draws": 2000, "tune": 1000, **(model_kwargs or {})}  # as the pipeline: ESS of tau
    covs, rules, conv = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp)
        for seed in seeds:
            path = save_simulation(simulate(scenario(scenario_name, n_customers=n_customers),
                                            seed=seed), root / f"store_{seed}")
            fit = fit_margins(discount_units(open_dataset(path)).execute(),
                              segmentation=Segmentation(by=tuple(by)), random_seed=seed, **kw)
            u, model = fit.units, fit.model
            dec = fit.decide(min_prob=min_prob, honest=True)
            truth = discount_margin_truth(path, u).assign(segment=u.segment)
            score = score_margin_decision(model, dec, truth)
            covs.append(score.coverage.assign(store=seed))
            baseline = float(u.window_margin[u.discount == 0].mean()) * len(u)
            r = dict(score.rule, store=seed, baseline=baseline,
                     n_offered=int((dec.recommendations.discount > 0).sum()))
            r["share_of_optimal"] = ((baseline + r["true"]) / (baseline + r["true_optimal"])
                                     if baseline + r["true_optimal"] > 0 else np.nan)
            r["basis"] = dec.basis.split(":")[0] if dec.basis else "by segment"
            # each uniform rule: its true effect and the posterior's P(it beats 0% for all)
            w = u.segment.value_counts()
            for d in model.levels_:
                col = f"incremental_margin_{round(100 * d):d}"
                r[f"true_uniform_{round(100 * d):d}"] = float(truth[col].sum())
                r[f"p_uniform_{round(100 * d):d}"] = rule_effect(
                    model, dict.fromkeys(model.segments_, d), w)["prob_positive"]
            rules.append(r)
            conv.append(bool(model.converged_))
            shutil.rmtree(path, ignore_errors=True)
            echo(f"store {seed}: converged={model.converged_} "
                 f"covered={score.coverage.covered.mean():.0%} share={r['share_of_optimal']:.3f}")
    return MarginCalibrationStudy(
        coverage=pd.concat(covs, ignore_index=True), rules=pd.DataFrame(rules), converged=conv,
        settings={"scenario": scenario_name, "n_customers": n_customers, "seeds": list(seeds),
                  "model": kw, "by": list(by), "min_prob": min_prob})
