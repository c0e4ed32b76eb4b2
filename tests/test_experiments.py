"""The experiment engine against reference values, coverage and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from workbench.experiments import (
    ExperimentInputError,
    analyze_experiment,
    bayes,
    mde_proportion,
    sample_size_proportion,
    sequential,
)
from workbench.experiments.analysis import _binary_arms


def two_arm(s_a, n_a, s_b, n_b, names=("a", "b")):
    return pd.DataFrame({"arm": [names[0]] * n_a + [names[1]] * n_b,
                         "y": [1] * s_a + [0] * (n_a - s_a) + [1] * s_b + [0] * (n_b - s_b)})


# ----------------------------------------------------------------------------- references
def test_wilson_interval_reference():
    """81/263: Wilson score interval 0.2553-0.3662 (Newcombe 1998, Stat Med 17:857, Table I)."""
    r = analyze_experiment(two_arm(81, 263, 90, 263), "arm", "y", "a")
    a = r.arms.set_index("arm").loc["a"]
    assert a.ci_low == pytest.approx(0.2553, abs=1e-4)
    assert a.ci_high == pytest.approx(0.3662, abs=1e-4)


def test_newcombe_difference_reference():
    """56/70 - 48/80: hybrid score interval 0.0524-0.3339 (Newcombe 1998, Stat Med 17:873,
    Table II, example (a), method 10)."""
    r = analyze_experiment(two_arm(48, 80, 56, 70, names=("c", "t")), "arm", "y", "c")
    t = r.arms.set_index("arm").loc["t"]
    assert t.abs_lift == pytest.approx(0.2, abs=1e-12)
    assert t.abs_lift_low == pytest.approx(0.0524, abs=1e-4)
    assert t.abs_lift_high == pytest.approx(0.3339, abs=1e-4)


def test_z_test_matches_hand_formula_and_chi_square():
    s1, n1, s2, n2 = 120, 1000, 150, 1000
    r = analyze_experiment(two_arm(s1, n1, s2, n2), "arm", "y", "a")
    p1, p2, p = s1 / n1, s2 / n2, (s1 + s2) / (n1 + n2)
    z = (p2 - p1) / np.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    assert r.arms.p_value.iloc[1] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-10)
    # with two arms the omnibus chi-square is z^2
    assert r.omnibus["statistic"] == pytest.approx(z**2, rel=1e-10)


def test_welch_matches_hand_formula():
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 2, 40), rng.normal(11, 4, 60)
    df = pd.DataFrame({"arm": ["a"] * 40 + ["b"] * 60, "y": np.r_[a, b]})
    r = analyze_experiment(df, "arm", "y", "a")
    va, vb = a.var(ddof=1) / 40, b.var(ddof=1) / 60
    dof = (va + vb) ** 2 / (va**2 / 39 + vb**2 / 59)  # Welch-Satterthwaite
    t = (b.mean() - a.mean()) / np.sqrt(va + vb)
    row = r.arms.iloc[1]
    assert row.p_value == pytest.approx(2 * stats.t.sf(abs(t), dof), rel=1e-9)
    half = stats.t.ppf(0.975, dof) * np.sqrt(va + vb)
    assert row.abs_lift_low == pytest.approx(b.mean() - a.mean() - half, rel=1e-9)
    assert r.kind == "continuous"


def test_holm_correction_by_hand():
    # three treatments with known raw p-values -> Holm: sorted p * (m - rank), cumulative max
    df = pd.concat([two_arm(100, 1000, 100, 1000, ("c", "t1")),
                    two_arm(0, 0, 130, 1000, ("c", "t2")),
                    two_arm(0, 0, 112, 1000, ("c", "t3"))])
    r = analyze_experiment(df, "arm", "y", "c")
    a = r.arms.set_index("arm").drop(index="c")
    p = a.p_value.sort_values()
    m = len(p)
    holm = np.maximum.accumulate(np.minimum(1, p.to_numpy() * (m - np.arange(m))))
    np.testing.assert_allclose(a.loc[p.index, "p_holm"], holm)


def test_beta_prob_beat_control_matches_closed_form():
    """P(B > A) for Beta posteriors: Evan Miller's exact sum (Miller 2015, "Formulas for
    Bayesian A/B testing"), equivalent to Cook (2005)."""
    sa, na, sb, nb = 40, 400, 55, 410
    aa, ba, ab, bb = 1 + sa, 1 + na - sa, 1 + sb, 1 + nb - sb
    i = np.arange(ab)
    exact = np.sum(np.exp(special.betaln(aa + i, ba + bb) - np.log(bb + i)
                          - special.betaln(1 + i, bb) - special.betaln(aa, ba)))
    r = bayes.beta_summary([sa, sb], [na, nb])
    assert r["prob_beat_control"][1] == pytest.approx(exact, abs=2e-5)
    assert r["prob_best"][1] == pytest.approx(exact, abs=2e-5)


def test_expected_loss_matches_monte_carlo():
    rng = np.random.default_rng(7)
    s, n = np.array([30, 38, 35]), np.array([500, 500, 500])
    r = bayes.beta_summary(s, n)
    draws = rng.beta(1 + s, 1 + n - s, size=(400_000, 3))
    best = draws.max(axis=1)
    for i in range(3):
        others = np.delete(draws, i, axis=1).max(axis=1)
        mc = np.maximum(others - draws[:, i], 0)
        assert r["expected_loss"][i] == pytest.approx(mc.mean(), abs=4 * mc.std() / 632 + 1e-5)
        p_best = (draws[:, i] == best).mean()
        assert r["prob_best"][i] == pytest.approx(p_best, abs=4 * np.sqrt(0.25 / 400_000))


def test_normal_summary_matches_closed_form():
    r = bayes.normal_summary([1.0, 1.1, 0.9], [0.05, 0.06, 0.04])
    assert r["prob_beat_control"][1] == pytest.approx(stats.norm.cdf(0.1 / np.hypot(.05, .06)))
    assert r["prob_best"].sum() == pytest.approx(1.0)


def test_power_against_fleiss_formula():
    """Sample size for 10% -> 12%: Fleiss, Levin & Paik (2003), eq. 4.14 without continuity
    correction gives 3,841 per arm; the arcsine method agrees within 1%."""
    p1, p2 = 0.10, 0.12
    pbar = (p1 + p2) / 2
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    fleiss = (za * np.sqrt(2 * pbar * (1 - pbar)) + zb * np.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
              ) ** 2 / (p2 - p1) ** 2
    n = sample_size_proportion(p1, p2 - p1)
    assert abs(n / fleiss - 1) < 0.01
    # and the MDE at that n is the lift we asked for
    assert mde_proportion(p1, n) == pytest.approx(0.02, rel=0.01)


def test_kaplan_meier_small_case_by_hand():
    df = pd.DataFrame({"arm": ["a"] * 5 + ["b"] * 5, "y": [1, 1, 0, 1, 0] * 2,
                       "t": [1, 2, 2, 3, 4] * 2, "e": [1, 1, 0, 1, 0] * 2})
    r = analyze_experiment(df, "arm", "y", "a", duration="t", event="e")
    s = r.survival[r.survival.arm == "a"].set_index("time").survival
    # S(1) = 4/5; S(2) = 4/5 * 3/4; S(3) = 0.6 * 1/2
    assert s[1] == pytest.approx(0.8)
    assert s[2] == pytest.approx(0.6)
    assert s[3] == pytest.approx(0.3)


# ----------------------------------------------------------------------------- properties
def test_wilson_and_newcombe_coverage():
    """95% intervals cover the true lift in 93-97% of 400 replications (n=300 per arm)."""
    rng = np.random.default_rng(2024)
    p_c, p_t, n = 0.10, 0.14, 300
    cover_diff = cover_seq = 0
    for _ in range(400):
        s = np.array([rng.binomial(n, p_c), rng.binomial(n, p_t)])
        g = pd.DataFrame({"sum": s, "n": [n, n]}, index=["c", "t"])
        a = _binary_arms(g, "c", 0.05).iloc[1]
        cover_diff += a.abs_lift_low <= p_t - p_c <= a.abs_lift_high
        v = (s / n * (1 - s / n) / n).sum()
        lo, hi = sequential.confidence_sequence(a.abs_lift, v, tau=0.03)
        cover_seq += lo <= p_t - p_c <= hi
    assert 0.93 <= cover_diff / 400 <= 0.97
    assert cover_seq / 400 >= 0.95  # a confidence sequence is conservative at any one look


def test_confidence_sequence_survives_peeking():
    """Looking after every 100 units of an A/A test, the mSPRT sequence excludes 0 at some
    look in fewer than alpha of 300 experiments; the fixed-n interval does far more often."""
    rng = np.random.default_rng(5)
    seq_err = naive_err = 0
    looks = np.arange(100, 3001, 100)
    tau = sequential.tau_for_plan(2 * 0.1 * 0.9 / 1500)
    for _ in range(300):
        a, b = rng.random(3000) < 0.1, rng.random(3000) < 0.1
        ca, cb = np.cumsum(a)[looks - 1], np.cumsum(b)[looks - 1]
        d = cb / looks - ca / looks
        pa, pb = np.clip(ca / looks, 1e-3, 1), np.clip(cb / looks, 1e-3, 1)
        v = pa * (1 - pa) / looks + pb * (1 - pb) / looks
        lo, hi = sequential.confidence_sequence(d, v, tau)
        seq_err += bool(((lo > 0) | (hi < 0)).any())
        naive_err += bool((np.abs(d) > 1.96 * np.sqrt(v)).any())
    assert seq_err / 300 < 0.05
    assert naive_err / 300 > 0.15


def test_srm_fires_on_skew_and_not_on_balance():
    rng = np.random.default_rng(3)
    balanced = pd.DataFrame({"arm": rng.choice(["a", "b", "c"], 30_000),
                             "y": rng.integers(0, 2, 30_000)})
    assert not analyze_experiment(balanced, "arm", "y", "a").srm["flag"]
    skewed = pd.DataFrame({"arm": rng.choice(["a", "b"], 20_000, p=[0.52, 0.48]),
                           "y": rng.integers(0, 2, 20_000)})
    r = analyze_experiment(skewed, "arm", "y", "a")
    assert r.srm["flag"] and "sample ratio mismatch" in r.summary()
    # designed unequal shares are not a mismatch
    uneq = pd.DataFrame({"arm": rng.choice(["a", "b"], 20_000, p=[0.8, 0.2]),
                         "y": rng.integers(0, 2, 20_000)})
    assert not analyze_experiment(uneq, "arm", "y", "a",
                                  expected_shares={"a": 0.8, "b": 0.2}).srm["flag"]


def test_cuped_variance_reduction_is_rho_squared():
    rng = np.random.default_rng(11)
    n, rho = 40_000, 0.6
    x = rng.normal(0, 1, n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(0, 1, n)
    arm = rng.choice(["c", "t"], n)
    y = y + 0.05 * (arm == "t")
    r = analyze_experiment(pd.DataFrame({"arm": arm, "y": y, "x": x}), "arm", "y", "c",
                           covariate="x")
    assert r.cuped["variance_reduction"] == pytest.approx(rho**2, abs=0.02)
    t = r.arms.iloc[1]
    width = t.abs_lift_high - t.abs_lift_low
    cwidth = t.cuped_abs_lift_high - t.cuped_abs_lift_low
    assert cwidth / width == pytest.approx(np.sqrt(1 - rho**2), abs=0.03)


def test_heterogeneity_detected_only_when_planted():
    rng = np.random.default_rng(4)
    n = 40_000
    seg = rng.choice(["impulse", "considered"], n)
    arm = rng.choice(["holdout", "email"], n)
    base = 0.05
    planted = np.where((arm == "email") & (seg == "considered"), 0.04, 0.0)
    y = (rng.random(n) < base + planted).astype(int)
    df = pd.DataFrame({"arm": arm, "y": y, "seg": seg})
    het = analyze_experiment(df, "arm", "y", "holdout", segment="seg").heterogeneity
    assert het["p_value"] < 1e-6
    y0 = (rng.random(n) < base + 0.02 * (arm == "email")).astype(int)
    het0 = analyze_experiment(df.assign(y=y0), "arm", "y", "holdout",
                              segment="seg").heterogeneity
    assert het0["p_value"] > 0.001


def test_result_serialises_and_charts():
    r = analyze_experiment(two_arm(50, 500, 70, 500), "arm", "y", "a")
    d = r.to_dict()
    assert d["arms"][1]["arm"] == "b" and d["srm"]["flag"] is False
    assert r.to_json().startswith("{")
    assert r.chart().to_dict()["layer"]
    assert "<table" in r._repr_html_()


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, match", [
    (lambda df: df.assign(arm="a"), "only one arm"),
    (lambda df: df, "control arm 'zzz' not found"),
    (lambda df: df.assign(y=df.y * 3.5), "called binary but has values"),
    (lambda df: df.assign(y=df.y.where(df.index != 3)),
     r"'y' has 1 missing value\(s\) \(rows \[3\]"),
    (lambda df: df.drop(columns=["y"]), r"column\(s\) \['y'\] not found"),
    (lambda df: df.iloc[0:0], "empty"),
    (lambda df: df.assign(y=df.y.map({0: "no", 1: "yes"})), "must be numeric or boolean"),
])
def test_bad_input_is_named(make, match):
    df = two_arm(10, 100, 20, 100)
    control = "zzz" if "zzz" in match else "a"
    kind = "binary" if "binary" in match else "auto"
    with pytest.raises(ExperimentInputError, match=match):
        analyze_experiment(make(df), "arm", "y", control, kind=kind)
