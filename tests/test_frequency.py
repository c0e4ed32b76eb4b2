"""Messages per week per customer: shrinkage, the fatigue fit, the caps, the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.frequency import (
    analyze_frequency,
    fit_fatigue,
    replay_frequency,
    shrunk_click_rates,
)


def test_shrinkage_recovers_the_prior_and_beats_raw_rates():
    """Beta(2, 38) rates (mean 5%, a + b = 40), 3 to 30 messages each: the method of
    moments finds a + b near 40 and the shrunk rates are closer to the truth."""
    rng = np.random.default_rng(0)
    true = rng.beta(2, 38, 20000)
    n = rng.integers(3, 31, true.size)
    k = rng.binomial(n, true)
    shrunk, p = shrunk_click_rates(n, k)
    assert abs(p - 0.05) < 4 * np.sqrt(0.05 * 0.95 / n.sum())
    strength = (shrunk[0] * n[0] - k[0]) / (p - shrunk[0]) if shrunk[0] != p else np.inf
    # a + b = 40: over five seeds the estimator gives 39-43 (a variance correction biased
    # low, as an earlier version had, gave 48)
    assert 35 < strength < 46
    assert np.mean((shrunk - true) ** 2) < 0.7 * np.mean((k / n - true) ** 2)


def test_the_fatigue_fit_recovers_known_coefficients():
    rng = np.random.default_rng(1)
    n = 400_000
    recent = rng.poisson(1.0, n)
    e = rng.normal(0, 0.5, n)
    beta = np.array([-5.0, 0.6, -1.0, 0.0])
    v = np.log1p(recent)
    p = 1 / (1 + np.exp(-(beta[0] + beta[1] * v + beta[2] * e + beta[3] * v * e)))
    d = pd.DataFrame({"channel": "email", "recent": recent, "engagement": e,
                      "unsubscribed": rng.random(n) < p})
    f = fit_fatigue(d)["email"]
    assert f["engagement_used"]
    assert (np.abs(f["params"] - beta) < 4 * f["bse"]).all(), (f["params"], f["bse"])


def test_too_few_unsubscribes_are_refused_with_the_column():
    from workbench.analyses.frequency import FrequencyInputError

    d = pd.DataFrame({"channel": ["email"] * 50, "recent": 0, "engagement": 0.0,
                      "unsubscribed": [True] * 3 + [False] * 47})
    with pytest.raises(FrequencyInputError, match="unsubscribed_at"):
        fit_fatigue(d)


@pytest.fixture(scope="module")
def tired(tmp_path_factory):
    """A store whose customers unsubscribe five times as often, the less engaged sooner."""
    return wb.save_simulation(wb.simulate(wb.scenario("fatigued", n_customers=8000), seed=8),
                              tmp_path_factory.mktemp("t") / "s")


@pytest.fixture(scope="module")
def tired_result(tired):
    return analyze_frequency(wb.open_dataset(tired), dataset=tired)


def test_fatigue_is_found_where_the_simulator_put_it(tired_result):
    f = tired_result.fatigue.set_index("channel")
    # email: the less engaged unsubscribe more (the truth: slope 2 on responsiveness)
    assert f.loc["email", "engagement"] < -2 * f.loc["email", "engagement_se"]
    assert f.loc["email", "volume"] > 0  # more in the week, likelier (8,000 customers: ~2 SE)
    t = tired_result.truth
    assert t["correlation"] > 0.3
    assert abs(t["predicted_mean"] - t["true_mean"]) < 0.15 * t["true_mean"]


def test_the_less_engaged_get_the_lower_caps(tired_result):
    c = tired_result.scorecard.dropna(subset=["email_engagement"])
    low = c.email_per_week < 5
    assert 0 < low.sum() < len(c)
    assert c.email_engagement[low].mean() < c.email_engagement[~low].mean()
    # caps never exceed the store's and never fall below one message a week
    assert tired_result.scorecard.email_per_week.between(1, 5).all()
    assert tired_result.scorecard.sms_per_week.between(1, 2).all()
    caps = tired_result.per_customer
    assert caps and all(e <= 5 and s <= 2 and (e < 5 or s < 2) for e, s in caps.values())


def test_the_default_fatigue_keeps_the_store_caps(tmp_path):
    """The default store's unsubscribes are rare: no message risks a future one."""
    ds = wb.save_simulation(wb.simulate(wb.scenario("default", n_customers=8000), seed=8),
                            tmp_path / "plain")
    res = analyze_frequency(wb.open_dataset(ds), dataset=ds)
    assert res.per_customer == {}
    assert "0 of" in res.summary() and "than the store's (5 emails, 2 SMS" in res.summary()


def test_an_imported_store_is_told_which_caps_were_assumed(tired):
    """Without a simulated dataset or the store's caps, the workbench's defaults are used,
    and the summary says so and how to give the store's own."""
    res = analyze_frequency(wb.open_dataset(tired, truth=False))
    assert "the workbench's default caps" in res.summary() and not res.truth
    own = analyze_frequency(wb.open_dataset(tired, truth=False),
                            store_caps={"email": 3, "sms": 1})
    assert (own.scorecard.email_per_week <= 3).all() and (own.scorecard.sms_per_week == 1).all()


def test_a_store_without_enough_unsubscribes_is_skipped_with_the_test_to_run(small_dataset):
    from workbench.analyses import Context
    from workbench.analyses.frequency import Frequency

    out = Frequency()(Context.open(small_dataset, echo=lambda s: None))
    assert isinstance(out, wb.Skipped) and "unsubscribes" in out.reason
    assert "randomized frequency cap" in out.test_to_run


def test_the_replay_sends_fewer_messages_to_the_capped(tired, tired_result):
    rep = replay_frequency(tired, tired_result, replications=1).set_index("metric")
    # the caps bind: fewer messages, and no more than the capped customers were sent
    assert rep.loc["messages_sent", "difference"] < 0
    assert set(rep.index) == {"margin", "unsubscribes", "messages_sent", "revenue"}


# ------------------------------------------------------------- the randomized cap test
@pytest.fixture(scope="module")
def cap_store(tmp_path_factory):
    return wb.save_simulation(wb.simulate(wb.scenario("cap_test", n_customers=8000),
                                          seed=2), tmp_path_factory.mktemp("cap") / "d")


def test_the_cap_test_measures_what_lower_caps_do_to_its_customers(cap_store, tmp_path):
    """The same store (seed) with the store's caps for everyone and with lower caps for
    everyone gives each customer's two outcomes: the test's estimate is exactly the lower
    arm's outcomes under lower caps less the store arm's under the store's (no customer's
    caps touch another's), and its interval is as wide as the design's (Neyman) standard
    error says."""
    import shutil

    from workbench.analyses.frequency.cap_test import cap_test_units

    res = wb.analyze_frequency(wb.open_dataset(cap_store), dataset=cap_store)
    e = res.cap_test.set_index("metric")
    assert e.customers.iloc[0] == 8000  # everyone in the test, assigned at sign-up
    assert e.high["messages"] < 0  # the lower arm gets fewer messages
    assert "randomized cap test" in res.summary()
    units = cap_test_units(wb.open_dataset(cap_store)).set_index("customer_id")
    cfg = wb.scenario("cap_test", n_customers=8000).model_dump()
    cfg["campaigns"]["caps"]["test"] = None
    outcome = {}
    for arm, (email, sms) in (("store_caps", (5, 2)), ("lower_caps", (2, 1))):
        cfg["campaigns"]["caps"].update(email_per_week=email, sms_per_week=sms)
        ds = wb.save_simulation(wb.simulate(type(wb.scenario("tiny")).model_validate(cfg),
                                            seed=2), tmp_path / arm)
        shutil.copy(cap_store / "assignments.parquet", ds / "assignments.parquet")
        outcome[arm] = cap_test_units(wb.open_dataset(ds)).set_index("customer_id")
    lower = units.arm == "lower_caps"
    for k in ("messages", "unsubscribes", "margin"):
        composed = (outcome["lower_caps"][k][lower].mean()
                    - outcome["store_caps"][k][~lower].mean())
        assert e.difference[k] == pytest.approx(composed, abs=1e-9)
        neyman = np.sqrt(outcome["lower_caps"][k].var() / lower.sum()
                         + outcome["store_caps"][k].var() / (~lower).sum())
        assert (e.high[k] - e.low[k]) / (2 * 1.96) == pytest.approx(neyman, rel=0.15)


def test_a_store_without_the_test_is_told_how_to_run_it(tired):
    res = wb.analyze_frequency(wb.open_dataset(tired), dataset=tired)
    assert res.cap_test is None
    from workbench.analyses.frequency import Frequency

    sec = Frequency().section(res)
    assert any("frequency_cap_test" in p for p in sec.paragraphs)


def test_a_cap_test_with_other_arm_names_is_named_not_silently_skipped():
    from workbench.analyses.frequency.cap_test import arms_problem

    units = pd.DataFrame({"arm": ["control", "fewer", "control"]})
    msg = arms_problem(units)
    assert "frequency_cap_test" in msg and "['control', 'fewer']" in msg
    assert "store_caps" in msg and "--arm" in msg
    assert arms_problem(pd.DataFrame({"arm": ["store_caps", "lower_caps"]})) is None
