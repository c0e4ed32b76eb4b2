"""The margin model of discounts (issue 16): cells, the truth it is scored against, the fit.

* The truth of every unit's incremental margin (:func:`discount_margin_truth`) is checked
  against what randomization measures: on a store whose seasonal offers persuade, the
  difference in mean window margin between each arm and the 0% arm equals the mean of
  the units' true incremental margins within 3 standard errors.
* The model is checked on cells drawn from known effects: a cell measured precisely is
  left at its data, a cell measured poorly is pulled to its level's mean (the exact
  conditional draw of ``delta``), intervals cover the known effects, the decision picks
  the level a large effect makes best and refuses a level whose effect is unsure, and the
  rule's predicted effect is the weighted sum of its draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.discount import (
    DiscountInputError,
    MarginResponseModel,
    decide_on_margin,
    discount_units,
    margin_cells,
    rule_effect,
)
from workbench.simulate import scenario, simulate
from workbench.simulate.truth import discount_margin_truth
from workbench.store import open_dataset, save_simulation

LEVELS = (0.05, 0.10, 0.15, 0.20)


def _units(n_per_cell: int, segs, effects, seed=0, sd=6.0, base=1.0):
    """Units with margin ~ base + effect + Normal(0, sd), per segment × level."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in segs:
        for d in (0.0, *LEVELS):
            eff = 0.0 if d == 0 else effects[s][d]
            y = base + eff + sd * rng.standard_normal(n_per_cell[s])
            rows.append(pd.DataFrame({"segment": s, "discount": d, "window_margin": y,
                                      "converted": (rng.random(n_per_cell[s]) < 0.3)
                                      .astype(int)}))
    out = pd.concat(rows, ignore_index=True)
    return out.assign(customer_id=np.arange(len(out)))


def test_cells_are_the_units_sufficient_statistics_and_errors_name_what_is_missing():
    u = _units({"a": 50, "b": 40}, ["a", "b"], {s: dict.fromkeys(LEVELS, 0.0) for s in "ab"})
    c = margin_cells(u)
    g = u.groupby(["segment", "discount"]).window_margin
    assert len(c) == 10 and c.n.sum() == len(u)
    np.testing.assert_allclose(c["mean"], g.mean().to_numpy())
    # the variance is the segment's, pooled over its levels (within-group variance)
    pooled = u.groupby("segment").apply(
        lambda x: (x.groupby("discount").window_margin.var() * (x.groupby("discount").size()
                                                                 - 1)).sum()
        / (len(x) - x.discount.nunique()))
    np.testing.assert_allclose(c["var"], c.segment.map(pooled).to_numpy())
    with pytest.raises(DiscountInputError, match="window_margin"):
        margin_cells(u.drop(columns="window_margin"))
    with pytest.raises(DiscountInputError, match="0% arm"):
        margin_cells(u[u.discount > 0])
    with pytest.raises(DiscountInputError, match=r"\['b'\] have no customer in the 0% arm"):
        margin_cells(u[~((u.segment == "b") & (u.discount == 0))])
    bad = u.copy()
    bad.loc[7, "window_margin"] = np.nan
    with pytest.raises(DiscountInputError, match="rows \\[7\\]"):
        margin_cells(bad)


@pytest.fixture(scope="module")
def known():
    """Six segments, one with a clear best level (15%), one tiny; effects known."""
    segs = ["big_best15", "flat1", "flat2", "neg", "tiny", "mid"]
    eff = {"big_best15": {0.05: 0.5, 0.10: 1.5, 0.15: 3.0, 0.20: 2.0},
           "flat1": dict.fromkeys(LEVELS, 0.0), "flat2": dict.fromkeys(LEVELS, 0.0),
           "neg": {0.05: -0.3, 0.10: -0.6, 0.15: -0.9, 0.20: -1.2},
           "tiny": {0.05: 0.0, 0.10: 0.0, 0.15: 0.0, 0.20: 0.0},
           "mid": {0.05: 0.2, 0.10: 0.4, 0.15: 0.6, 0.20: 0.8}}
    n = {"big_best15": 20_000, "flat1": 4_000, "flat2": 4_000, "neg": 6_000, "tiny": 30,
         "mid": 4_000}
    u = _units(n, segs, eff, seed=3)
    cells = margin_cells(u)
    model = MarginResponseModel(draws=2000, tune=1000, random_seed=1).fit(cells)
    return model, eff, n, cells


def test_the_fit_converges_and_its_intervals_cover_the_known_effects(known):
    model, eff, _, _ = known
    assert model.converged_, model.diagnostics_.failures
    t = model.table()
    t = t[t.discount > 0]
    truth = np.array([eff[r.segment][r.discount] for r in t.itertuples()])
    covered = (t.low_90 <= truth) & (truth <= t.high_90)
    # 24 cells at 90%: fewer than 18 covered has binomial probability < 0.5%
    assert covered.sum() >= 18, t.assign(truth=truth)


def test_a_precise_cell_keeps_its_data_and_a_vague_one_is_pooled(known):
    model, _, _, cells = known
    t = model.table().set_index(["segment", "discount"])
    # 20,000 customers per arm: se of the difference ~0.06; the posterior follows the data
    big = t.loc[("big_best15", 0.15)]
    assert abs(big.incremental_margin - big.observed) < 0.05
    # 30 customers per arm (se ~1.5): the estimate is pulled toward the level's mean,
    # i.e. its posterior mean lies between the raw difference and the other segments'
    tiny = t.loc[("tiny", 0.20)]
    others = t.xs(0.20, level="discount").drop(index="tiny").incremental_margin.mean()
    lo, hi = sorted([tiny.observed, others])
    assert lo - 0.05 <= tiny.incremental_margin <= hi + 0.05
    assert tiny.high_90 - tiny.low_90 < 2 * 1.645 * np.sqrt(2 * 36 / 30)


def test_the_decision_picks_a_clear_best_and_refuses_an_unsure_one(known):
    model, _, n, _ = known
    dec = decide_on_margin(model, min_prob=0.9)
    rec = dec.recommendations.set_index("segment")
    assert rec.loc["big_best15", "discount"] == pytest.approx(0.15)
    assert rec.loc["neg", "discount"] == 0.0
    assert rec.loc["tiny", "discount"] == 0.0  # no level is sure to beat 0% on 30 customers
    # the rule's predicted effect: sum over segments of customers x the chosen delta
    e = dec.rule_effect
    want = sum(model.cells_[model.cells_.segment == s].n.sum()
               * model.incremental_draws(s)[:, [0, *model.levels_].index(
                   rec.loc[s, "discount"])].mean() for s in model.segments_)
    assert e["total"] == pytest.approx(want, rel=1e-9)
    assert e["low"] < e["total"] < e["high"]
    # 5 arms x 20,000 customers at +3.0 each in the 15% arm's segment
    assert e["total"] == pytest.approx(3.0 * 5 * n["big_best15"], rel=0.1)


def _posterior(means: dict, sd: float, n: int = 1000, draws: int = 20_000, seed=0):
    """A margin model whose posterior is given: independent normal draws per cell."""
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    segs = sorted(means)
    m = MarginResponseModel()
    m.segments_, m.levels_ = segs, list(LEVELS)
    m.delta_ = np.stack([[means[s][d] + sd * rng.standard_normal(draws) for d in LEVELS]
                         for s in segs]).transpose(2, 0, 1)
    m.cells_ = pd.DataFrame([{"segment": s, "discount": d, "mean": 1.0, "n": n, "buyers": 9}
                             for s in segs for d in (0.0, *LEVELS)])
    m.converged_, m.diagnostics_ = True, SimpleNamespace(failures=[])
    return m


def test_small_gains_in_every_segment_become_one_uniform_offer():
    """Eight segments each +0.1 at 20% with posterior sd 0.1 (P(beats 0%) 84% each, below
    0.9): the store's total is +0.8 n with sd 0.28 n (P 99.8%), so 20% for all is the
    rule; a segment with a sure large gain and others losing keeps the rule by segment."""
    from scipy import stats

    small = {f"s{i}": {0.05: 0.0, 0.10: 0.02, 0.15: 0.05, 0.20: 0.1} for i in range(8)}
    dec = decide_on_margin(_posterior(small, 0.1), min_prob=0.9)
    assert (dec.recommendations.discount == 0.20).all()
    assert dec.basis.startswith("20% for all")
    p = 1 - stats.norm.cdf(0, 0.8, 0.1 * np.sqrt(8))
    assert dec.rule_effect["prob_positive"] == pytest.approx(p, abs=0.003)
    assert f"is {p:.0%}" in dec.basis and "The rule: 20% for all" in dec.summary()
    assert (dec.recommendations.prob_beats_zero < 0.9).all()  # no segment on its own
    assert not decide_on_margin(_posterior(small, 0.1), uniform=False).rule_effect["total"]
    mixed = {"big": {0.05: 0.5, 0.10: 1.0, 0.15: 2.0, 0.20: 3.0},
             **{f"neg{i}": dict.fromkeys(LEVELS, -0.3) for i in range(3)}}
    dec = decide_on_margin(_posterior(mixed, 0.1), min_prob=0.9)
    assert dec.basis is None and dec.rule == {"big": 0.2, "neg0": 0.0, "neg1": 0.0,
                                               "neg2": 0.0}


def test_the_tests_power_on_margin_is_the_textbook_minimum_detectable_effect():
    """MDE = (z_0.9 + z_0.8) sd sqrt(2 / n) (Chow, Shao & Wang 2008, sec. 3.2.1): with
    sd 6 and 5,000 per arm, 0.253; a segment's (an eighth of each arm) sqrt(8) times it."""
    from scipy import stats

    from workbench.analyses.discount import margin_power

    u = _units({"a": 2500, "b": 2500}, ["a", "b"], {s: dict.fromkeys(LEVELS, 0.0)
                                                    for s in "ab"}, sd=6.0, base=2.0)
    mp = margin_power(u, segments=8)
    assert mp.n_per_arm == 5000 and mp.sd == pytest.approx(6.0, rel=0.02)
    z = stats.norm.ppf(0.9) + stats.norm.ppf(0.8)
    assert mp.mde_rule == pytest.approx(z * mp.sd * np.sqrt(2 / 5000), rel=0.01)
    assert mp.mde_segment == pytest.approx(mp.mde_rule * np.sqrt(8), rel=0.01)
    # what 10% of the 0% arm's margin needs: the same formula solved for n
    need = mp.n_for(0.1 * mp.baseline)
    assert need == pytest.approx(2 * (z * mp.sd / (0.1 * mp.baseline)) ** 2, rel=0.01)
    assert f"takes {need:,} customer-sends per arm" in mp.sentence()
    with pytest.raises(DiscountInputError, match="need a 0% arm"):
        margin_power(u[u.discount > 0])
    with pytest.raises(DiscountInputError, match=r"missing columns \['window_margin'\]"):
        margin_power(u.drop(columns="window_margin"))


def test_a_rule_at_an_untested_level_is_refused(known):
    model = known[0]
    with pytest.raises(DiscountInputError, match="12% for segment 'flat1' was not tested"):
        rule_effect(model, {"flat1": 0.12}, pd.Series({"flat1": 10}))
    # the decision's rule is its recommendations, segment by segment
    dec = decide_on_margin(model)
    assert dec.rule == dict(zip(dec.recommendations.segment,
                                dec.recommendations.discount.astype(float), strict=True))


def test_bad_arguments_name_what_is_wrong(known):
    from workbench.analyses.discount import crossfit
    from workbench.analyses.discount.replay import rule_config
    from workbench.campaigns import CampaignConfig

    with pytest.raises(DiscountInputError, match=r"missing columns \['customer_id'\]"):
        crossfit(known[3].assign(customer_id=0).drop(columns="customer_id"))
    with pytest.raises(ValueError, match="not 'browse_abandonment'"):
        rule_config(CampaignConfig(), None, {}, campaign="browse_abandonment")


def test_the_margin_truth_matches_what_randomization_measures(tmp_path):
    """A store whose seasonal offers persuade (base logit -4 instead of -7.2), 20k customers."""
    cfg = scenario("default", n_customers=20_000)
    resp = cfg.response.model_copy(update={"campaign_base_logit": {
        **cfg.response.campaign_base_logit, "seasonal": -4.0}})
    path = save_simulation(simulate(cfg.model_copy(update={"response": resp}), seed=31),
                           tmp_path / "store")
    u = discount_units(open_dataset(path)).execute()
    truth = discount_margin_truth(path, u)
    g = u.groupby("discount").window_margin
    zero_mean, zero_se = g.mean()[0.0], g.sem()[0.0]
    assert (truth["incremental_margin_0"] == 0).all()
    for d in LEVELS:
        observed = g.mean()[d] - zero_mean
        se = np.hypot(g.sem()[d], zero_se)
        true = truth[f"incremental_margin_{round(100 * d)}"].mean()
        assert abs(observed - true) < 3 * se, (d, observed, true, se)
    # and the offers do something here: the truth at 20% is several standard errors from 0
    assert truth["incremental_margin_20"].mean() > 2 * se


@pytest.fixture(scope="module")
def cart_store(tmp_path_factory):
    cfg = scenario("small", n_customers=3000, days=150).model_dump()
    cfg["campaigns"]["abandoned_cart"]["discount_arms_pct"] = [0.0, 5.0, 10.0, 15.0]
    from workbench.simulate import SimulationConfig

    store = simulate(SimulationConfig.model_validate(cfg), seed=5)
    return save_simulation(store, tmp_path_factory.mktemp("cart") / "store")


def test_the_cart_discount_is_randomized_independently_of_the_timing_arm(cart_store):
    from scipy import stats

    from workbench.analyses.discount import cart_discount_units
    from workbench.store import read_table

    a = read_table(cart_store, "assignments")
    disc = a[a.experiment == "abandoned_cart_discount"]
    timing = a[a.experiment == "abandoned_cart_timing"]
    assert (disc.unit_type == "cart").all() and len(disc) > 400
    # only carts that get a reminder are in the discount test: no holdout cart
    arm = disc.merge(timing[["unit_id", "arm"]], on="unit_id", suffixes=("", "_timing"))
    assert len(arm) == len(disc) and (arm.arm_timing != "holdout").all()
    # levels uniform, and independent of the timing arm (chi-square tests, alpha 0.001)
    counts = disc.arm.value_counts()
    assert set(counts.index) == {"0%", "5%", "10%", "15%"}
    assert stats.chisquare(counts.to_numpy()).pvalue > 1e-3
    assert stats.chi2_contingency(pd.crosstab(arm.arm, arm.arm_timing)).pvalue > 1e-3
    # one unit per randomized cart, its discount the arm's, the margin of its window
    u = cart_discount_units(open_dataset(cart_store)).execute()
    assert len(u) == len(disc)
    np.testing.assert_allclose(np.sort(u.discount.unique()), [0.0, 0.05, 0.10, 0.15])
    m = read_table(cart_store, "messages")
    sent = m[m.campaign == "abandoned_cart"].discount_pct
    assert {0.0, 5.0, 10.0, 15.0} <= set(sent.round(6))


def test_a_store_without_the_cart_test_is_told_the_test_to_run(small_dataset):
    from workbench.analyses import get
    from workbench.analyses.base import Context, Skipped

    out = get("cart_discount")(Context.open(small_dataset, echo=lambda *_: None))
    assert isinstance(out, Skipped)
    assert "abandoned_cart_discount" in out.test_to_run and "carts per arm" in out.test_to_run


def test_a_cart_discount_section_becomes_the_cart_reminders_rule():
    from workbench.analyses.discount.export import (
        DiscountSection,
        FitIdentity,
        SegmentDiscount,
    )
    from workbench.campaigns import CampaignConfig, with_recommendations
    from workbench.segments import Segmentation

    seg = Segmentation(by=("deal",))
    sec = DiscountSection(min_prob=0.9, segmentation=seg, segments={
        "deal": SegmentDiscount(discount_pct=10, incremental_margin_per_message=0.5,
                                interval_90=(0.1, 0.9), prob_beats_no_discount=0.95,
                                best_level_pct=10),
        "full": SegmentDiscount(discount_pct=0, incremental_margin_per_message=0.0,
                                interval_90=(0.0, 0.0), prob_beats_no_discount=0.4,
                                best_level_pct=5)},
        fit=FitIdentity(data_hash="x" * 16, settings={}, converged=True,
                        diagnostic_failures=[]))
    new = with_recommendations(CampaignConfig(), cart_discount=sec)
    rule = new.campaigns.abandoned_cart.discount_rule
    assert rule.discount_pct == {"deal": 10.0, "full": 0.0}
    assert new.campaigns.abandoned_cart.experiment_share == pytest.approx(0.1)
    assert new.campaigns.seasonal.discount_rule is None  # the seasonal rule is its own
    assert "abandoned-cart discount" in new.provenance.analyses


def test_the_cart_discount_analysis_decides_and_exports(cart_store, tmp_path):
    from workbench.analyses import get
    from workbench.analyses.base import Context
    from workbench.analyses.discount import CartDiscountOutcome

    ctx = Context.open(cart_store, echo=lambda *_: None)
    analysis = get("cart_discount")
    out = analysis(ctx)
    assert isinstance(out, CartDiscountOutcome)
    rec = out.decision.recommendations
    assert set(rec.segment) == set(out.fit.units.segment)
    assert ((rec.discount == 0) | (rec.prob_beats_zero >= 0.9)).all()
    files = analysis.export(out, tmp_path, ctx)
    assert ("cart_discount_config" in files) == out.decision.converged
    if files:
        part = analysis.config_part(out, files)["cart_discount"]
        assert set(part.segments) == set(rec.segment)
    section = analysis.section(out)
    assert section.anchor == "cart-discount" and "margin" in section.charts


def test_the_cross_fitted_prediction_is_honest_where_the_in_sample_one_is_not():
    """No offer does anything here; a loose threshold picks whichever level came out high.
    The same fit then predicts a gain; the cross-fitted prediction (each half judging the
    other half's rule) is centred on the truth, 0, and its interval covers it."""
    from workbench.analyses.discount import crossfit

    segs = [f"s{i}" for i in range(8)]
    u = _units(dict.fromkeys(segs, 1500), segs,
               {s: dict.fromkeys(LEVELS, 0.0) for s in segs}, seed=11)
    kw = {"draws": 1000, "tune": 1000, "random_seed": 2}
    model = MarginResponseModel(**kw).fit(margin_cells(u))
    dec = decide_on_margin(model, min_prob=0.5)
    assert (dec.recommendations.discount > 0).any()
    weights = u.segment.value_counts()
    in_sample = dec.rule_effect
    cf = crossfit(u, min_prob=0.5, pool_on_features=False, **kw)
    honest = cf.effect(weights)
    assert honest["low"] <= 0.0 <= honest["high"]
    assert in_sample["total"] > honest["total"]
    # linear in the customers it is applied to
    assert cf.effect(2 * weights)["total"] == pytest.approx(2 * honest["total"])
