"""CLV models: published values, independent numerics, recovery, gradients, inputs, scorecard.

Independent reference computations used below:

* "quadrature": the individual-level model integrated over its prior by Gauss rules that
  carry the prior as their weight (generalized Gauss-Laguerre for gamma, Gauss-Jacobi for
  beta; 200 nodes each), times the individual likelihood of the history — Bayes' rule
  from first principles, no hypergeometric function involved;
* "Monte Carlo": the simulators (which draw the latent traits and the purchase process),
  with tolerances of 4 Monte Carlo standard errors;
* "finite differences": central differences of the log-likelihood.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import betaln, gammaln, roots_genlaguerre, roots_jacobi

from workbench import clv
from workbench.clv import (
    BetaGeoModel,
    CLVInputError,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    beta_geo,
    check_rfm,
    clv_scorecard,
    compress_rfm,
    customer_lifetime_value,
    gamma_gamma,
    pareto_nbd,
    simulate_bg_nbd,
    simulate_gamma_gamma,
    simulate_mbg_nbd,
    simulate_pareto_nbd,
    value,
)

# CDNOW estimates, weeks (Fader, Hardie & Lee 2005a, "Counting your customers the easy way",
# Marketing Science 24(2): BG/NBD r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4)
CDNOW_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# Pareto/NBD on CDNOW (Fader & Hardie 2005 note "A note on deriving the Pareto/NBD model
# and related expressions"; also reported in FHL 2005a): LL=-9595.0
CDNOW_PNBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
# Gamma-Gamma on CDNOW's 946 repeat buyers (Fader, Hardie & Lee 2005b, "RFM and CLV: using
# iso-value curves", JMR 42(4); Fader & Hardie 2013, "The Gamma-Gamma model of monetary value")
CDNOW_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def one(x, tx, T, m=None):
    d = {"customer_id": [1], "frequency": [x], "recency": [float(tx)], "T": [float(T)]}
    if m is not None:
        d["monetary_value"] = [m]
    return pd.DataFrame(d)


# --------------------------------------------------------------------- reference numerics


def gamma_nodes(shape, rate, n=200):
    y, w = roots_genlaguerre(n, shape - 1)
    return y / rate, w / np.exp(gammaln(shape))


def beta_nodes(a, b, n=200):
    xi, w = roots_jacobi(n, b - 1, a - 1)
    return (1 + xi) / 2, w / 2 ** (a + b - 1) / np.exp(betaln(a, b))


def bg_quadrature(f, th, x, tx, T, k):
    """E[f | history] for BG/NBD (k=0) or MBG/NBD (k=1) from prior x individual likelihood.

    f(lam, p, L_alive, L_dead) integrates the alive and dead parts of the likelihood
    (alive: survived x + k drop-out chances; dead: dropped at the last one).
    """
    lam, wl = gamma_nodes(th["r"], th["alpha"])
    p, wp = beta_nodes(th["a"], th["b"])
    L, P = np.meshgrid(lam, p, indexing="ij")
    W = np.outer(wl, wp)
    alive = (1 - P) ** (x + k) * L ** x * np.exp(-L * T)
    dead = P * (1 - P) ** (x + k - 1) * L ** x * np.exp(-L * tx) if x + k > 0 else 0 * L
    return np.sum(W * f(L, P, alive, dead)) / np.sum(W * (alive + dead))


def pnbd_quadrature(f, th, x, tx, T):
    lam, wl = gamma_nodes(th["r"], th["alpha"])
    mu, wm = gamma_nodes(th["s"], th["beta"])
    L, M = np.meshgrid(lam, mu, indexing="ij")
    W = np.outer(wl, wm)
    alive = L ** x * np.exp(-(L + M) * T)
    dead = L ** x * M / (L + M) * (np.exp(-(L + M) * tx) - np.exp(-(L + M) * T))
    return np.sum(W * f(L, M, alive, dead)) / np.sum(W * (alive + dead))


def poisson_pmf(n, mean):
    return np.exp(n * np.log(mean) - mean - gammaln(n + 1))


# --------------------------------------------------------------------- published values


def test_cdnow_refit_reproduces_published_estimates():
    """Refit on the CDNOW sample shipped in workbench/data (2,357 customers, weeks)."""
    from workbench.datasets import load_cdnow_summary

    c = load_cdnow_summary()
    assert len(c) == 2357
    bg = BetaGeoModel(time_unit="weeks").fit(c)
    np.testing.assert_allclose(bg.params_[list(CDNOW_BG)], list(CDNOW_BG.values()), rtol=2e-3)
    assert bg.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)  # FHL 2005a
    pn = ParetoNBDModel(time_unit="weeks").fit(c)
    np.testing.assert_allclose(pn.params_[list(CDNOW_PNBD)], list(CDNOW_PNBD.values()),
                               rtol=2e-3)
    assert pn.log_likelihood_ == pytest.approx(-9595.0, abs=0.05)  # FH 2005 note
    gg = GammaGammaModel().fit(c[c.frequency > 0])
    assert gg.n_customers_ == 946
    np.testing.assert_allclose(gg.params_[list(CDNOW_GG)], list(CDNOW_GG.values()), rtol=2e-3)


def test_bgnbd_cdnow_customer_1_expected_purchases():
    """CDNOW customer 1 (x=2, t_x=30.43, T=38.86 weeks) at the published parameters.

    1.226 purchases expected in the next 39 weeks: the worked example of FHL 2005a, also
    in FHL's note "Implementing the BG/NBD model for customer base analysis in Excel"
    (quoted from memory), so re-derived here by quadrature of the individual-level model:
    E[(1 - exp(-lambda p t)) / p, alive | history].
    """
    bg = BetaGeoModel(time_unit="weeks").set_params(**CDNOW_BG)
    got = bg.expected_purchases(one(2, 30.43, 38.86), 39)[0]
    ref = bg_quadrature(lambda L, P, A, D: A * (1 - np.exp(-L * P * 39)) / P, CDNOW_BG,
                        2, 30.43, 38.86, 0)
    assert got == pytest.approx(ref, rel=1e-10)
    assert round(got, 3) == 1.226


def test_gamma_gamma_conditional_spend_against_integration():
    """E[M | m_x, x] = p (gamma + x m_x) / (p x + q - 1) (FHL 2005b) at the CDNOW
    estimates, against integration over nu of the posterior given the x spends' mean;
    population mean p gamma / (q - 1) = 35.22 at those estimates."""
    gg = GammaGammaModel().set_params(**CDNOW_GG)
    p, q, g = CDNOW_GG.values()
    assert gg.population_mean_spend() == pytest.approx(35.22, abs=0.005)
    for x, mx in ((1, 10.0), (2, 22.35), (10, 80.0)):
        # x * m_x | nu ~ Gamma(p x, nu); nu ~ Gamma(q, gamma); E[M | nu] = p / nu
        def like(nu, x=x, mx=mx):
            return (stats.gamma.pdf(x * mx, p * x, scale=1 / nu)
                    * stats.gamma.pdf(nu, q, scale=1 / g))

        num = integrate.quad(lambda nu, like=like: p / nu * like(nu), 0, np.inf,
                             epsrel=1e-11)[0]
        den = integrate.quad(like, 0, np.inf, epsrel=1e-11)[0]
        got = gg.expected_spend(one(x, 1.0, 2.0, mx))[0]
        assert got == pytest.approx(num / den, rel=1e-7)
    assert gg.expected_spend(one(0, 0, 2.0, np.nan))[0] == pytest.approx(p * g / (q - 1))


# --------------------------------------------------------------------- conditional numerics

HISTORIES = [(2, 30.43, 38.86), (0, 0.0, 38.86), (7, 35.0, 38.0), (1, 2.0, 38.0),
             (25, 37.5, 38.9)]


@pytest.mark.parametrize("cls,k", [(BetaGeoModel, 0), (ModifiedBetaGeoModel, 1)])
@pytest.mark.parametrize("hist", HISTORIES)
def test_bg_family_predictions_match_quadrature(cls, k, hist):
    x, tx, T = hist
    m = cls(time_unit="weeks").set_params(**CDNOW_BG)
    rfm = one(x, tx, T)

    def ref(f):
        return bg_quadrature(f, CDNOW_BG, x, tx, T, k)

    assert m.prob_alive(rfm)[0] == pytest.approx(ref(lambda L, P, A, D: A), rel=1e-9)
    assert m.expected_purchases(rfm, 39)[0] == pytest.approx(
        ref(lambda L, P, A, D: A * (1 - np.exp(-L * P * 39)) / P), rel=1e-9)
    assert m.expected_purchases_between(rfm, 10, 52)[0] == pytest.approx(
        ref(lambda L, P, A, D: A * (np.exp(-L * P * 10) - np.exp(-L * P * 52)) / P), rel=1e-9)
    # alive at T + 20: survive each of the Poisson(lambda 20) purchases: exp(-lambda p 20)
    assert m.prob_alive(rfm, 20)[0] == pytest.approx(
        ref(lambda L, P, A, D: A * np.exp(-L * P * 20)), rel=1e-9)
    # P(n purchases in (T, T+10]): alive and n Poisson events survived, or the n-th fatal
    for n in (0, 1, 3):
        def pn(L, P, A, D, n=n):
            surv = poisson_pmf(n, L * 10) * (1 - P) ** n
            fatal = (P * (1 - P) ** (n - 1) * stats.poisson.sf(n - 1, L * 10)) if n else 0
            return A * (surv + fatal) + D * (n == 0)
        assert m.prob_purchases(rfm, n, 10)[0] == pytest.approx(ref(pn), rel=1e-8, abs=1e-14)
    # time to next purchase: its quantiles invert P(no purchase in (T, T+u]) correctly
    nxt = m.time_to_next_purchase(rfm, (0.25, 0.5))
    pa = m.prob_alive(rfm)[0]
    assert nxt.p_no_next_purchase[0] == pytest.approx(1 - pa, rel=1e-12)
    # given alive, the next purchase comes at rate lambda (no drop-out before it), so
    # P(bought within u | alive) = E[1 - exp(-lambda u)] under lambda's posterior; the
    # quantiles can lie far out (u >> T), so adaptive quadrature over lambda here
    g = stats.gamma(CDNOW_BG["r"], scale=1 / CDNOW_BG["alpha"])

    def lam_int(h):
        with warnings.catch_warnings():  # lambda^(r-1) at 0 when x = 0: quad copes, warns
            warnings.simplefilter("ignore", integrate.IntegrationWarning)
            return integrate.quad(lambda lam: h(lam) * lam ** x * np.exp(-lam * T) * g.pdf(lam),
                                  0, np.inf, epsabs=0, epsrel=1e-11, limit=400)[0]

    norm = lam_int(np.ones_like)
    for q, col in ((0.25, "q25"), (0.5, "q50")):
        u = nxt[col][0]
        bought = lam_int(lambda lam, u=u: -np.expm1(-lam * u)) / norm
        assert bought == pytest.approx(q, rel=1e-7)


@pytest.mark.parametrize("th", [CDNOW_PNBD, {"r": 0.553, "alpha": 10.58, "s": 1.606,
                                             "beta": 1.67}, {"r": 2.0, "alpha": 3.0, "s": 1.0,
                                                             "beta": 30.0}])
@pytest.mark.parametrize("hist", HISTORIES[:4])
def test_pareto_nbd_predictions_match_quadrature(th, hist):
    x, tx, T = hist
    m = ParetoNBDModel(time_unit="weeks").set_params(**th)
    rfm = one(x, tx, T)

    def ref(f):
        return pnbd_quadrature(f, th, x, tx, T)

    assert m.prob_alive(rfm)[0] == pytest.approx(ref(lambda L, M, A, D: A), rel=1e-9)
    # E[Y(t) | lambda, mu, alive] = lambda / mu (1 - exp(-mu t)); the 1/mu factor makes the
    # Laguerre rule converge more slowly when s is near 1: 1e-6
    assert m.expected_purchases(rfm, 39)[0] == pytest.approx(
        ref(lambda L, M, A, D: A * L / M * (1 - np.exp(-M * 39))), rel=1e-6)
    assert m.prob_alive(rfm, 20)[0] == pytest.approx(
        ref(lambda L, M, A, D: A * np.exp(-M * 20)), rel=1e-7)
    # no purchase in (T, T+10]: alive and neither buys nor... or dies before buying
    p0 = ref(lambda L, M, A, D: A * (np.exp(-(L + M) * 10)
                                     + M / (L + M) * (1 - np.exp(-(L + M) * 10))) + D)
    assert m.prob_purchases(rfm, 0, 10)[0] == pytest.approx(p0, rel=1e-7)


def test_pareto_nbd_probability_of_no_next_purchase_against_quadrature():
    """P(never buys again | alive) = E[mu / (lambda + mu)] under the updated gammas,
    by adaptive quadrature over a beta variable (the model integrates over death time)."""
    th = CDNOW_PNBD
    m = ParetoNBDModel(time_unit="weeks").set_params(**th)
    x, tx, T = 2, 30.43, 38.86
    pa = m.prob_alive(one(x, tx, T))[0]
    r_, al_, s, be_ = th["r"] + x, th["alpha"] + T, th["s"], th["beta"] + T
    # lambda = X / al', mu = Y / be' with X ~ Gamma(r'), Y ~ Gamma(s): B = Y / (X + Y) is
    # Beta(s, r') and mu / (lambda + mu) = al' B / (al' B + be' (1 - B))
    never = integrate.quad(lambda u: stats.beta.pdf(u, s, r_) * al_ * u
                           / (al_ * u + be_ * (1 - u)), 0, 1, epsabs=0, epsrel=1e-12,
                           limit=400)[0]
    got = m.time_to_next_purchase(one(x, tx, T)).p_no_next_purchase[0]
    assert got == pytest.approx(1 - pa + pa * never, rel=1e-7)


def test_pareto_likelihood_matches_direct_integral():
    """The 2F1 form (both branches alpha >= beta and alpha < beta) against
    L = C [ (al+T)^-(r+x) (be+T)^-s + s int_tx^T (al+tau)^-(r+x) (be+tau)^-(s+1) dtau ]."""
    rows = [(0, 0.0, 40.0), (3, 12.0, 40.0), (40, 39.0, 40.0), (2, 39.99, 40.0)]
    for th in ({"r": 0.55, "alpha": 10.6, "s": 0.6, "beta": 11.7},
               {"r": 0.55, "alpha": 30.0, "s": 2.6, "beta": 1.7}):
        r, al, s, be = th.values()
        for x, tx, T in rows:
            def f(t, r=r, al=al, s=s, be=be, x=x):
                return (al + t) ** -(r + x) * (be + t) ** -(s + 1)

            integral = integrate.quad(f, tx, T, epsrel=1e-12)[0]
            ref = (gammaln(r + x) - gammaln(r) + r * np.log(al) + s * np.log(be)
                   + np.log((al + T) ** -(r + x) * (be + T) ** -s + s * integral))
            got = pareto_nbd._pnbd_loglik(np.log(list(th.values())), np.array([x], float),
                                   np.array([tx]), np.array([T]), np.ones(1), grad=False)
            assert got == pytest.approx(ref, rel=1e-11, abs=1e-11)


def test_heavy_buyers_over_long_horizons_stay_finite():
    """x = 400 over 10 years: the naive (1-z)^r' 2F1(...) overflows; the Euler-transformed
    form agrees with quadrature over p."""
    th = {"r": 0.6, "alpha": 40.0, "a": 0.8, "b": 3.0}
    m = BetaGeoModel().set_params(**th)
    rfm = one(400, 364.0, 365.0)
    got = m.expected_purchases(rfm, 3650)[0]
    surv = m.prob_alive(rfm, 3650)[0]
    pa = m.prob_alive(rfm)[0]
    p, w = beta_nodes(th["a"], th["b"] + 400, n=400)
    r_, al_ = th["r"] + 400, th["alpha"] + 365
    ref_mean = pa * np.sum(w * (1 - (al_ / (al_ + p * 3650)) ** r_) / p)
    ref_surv = pa * np.sum(w * (al_ / (al_ + p * 3650)) ** r_)
    assert np.isfinite([got, surv]).all()
    assert got == pytest.approx(ref_mean, rel=1e-8)
    assert surv == pytest.approx(ref_surv, rel=1e-7)


def test_expectation_is_continuous_through_a_equal_1():
    vals = [BetaGeoModel().set_params(r=0.5, alpha=20, a=a, b=2.0).expected_purchases(
        one(3, 50.0, 80.0), 100)[0] for a in (1 - 1e-3, 1 - 1e-6, 1.0, 1 + 1e-6, 1 + 1e-3)]
    assert np.all(np.isfinite(vals))
    assert np.ptp(vals[1:4]) < 1e-6 * vals[2]
    assert abs(vals[0] - vals[4]) < 1e-2 * vals[2]


# --------------------------------------------------------------------- unconditional, MC


@pytest.mark.parametrize("cls,sim,th", [
    (BetaGeoModel, simulate_bg_nbd, {"r": 0.6, "alpha": 5.0, "a": 0.8, "b": 2.5}),
    (ModifiedBetaGeoModel, simulate_mbg_nbd, {"r": 0.6, "alpha": 5.0, "a": 0.8, "b": 2.5}),
    (ParetoNBDModel, simulate_pareto_nbd, {"r": 0.6, "alpha": 5.0, "s": 0.7, "beta": 12.0}),
])
def test_new_customer_distribution_against_monte_carlo(cls, sim, th):
    n, t = 400_000, 30.0
    m = cls().set_params(**th)
    d = sim(n, t, **th, seed=11)
    x = d.frequency.to_numpy()
    se = x.std() / np.sqrt(n)
    assert m.expected_purchases_new_customer(t) == pytest.approx(x.mean(), abs=4 * se)
    probs = np.array([m.prob_purchases_new_customer(k, t) for k in range(60)])
    assert probs.sum() == pytest.approx(1, abs=1e-3)
    for k in range(5):
        f = (x == k).mean()
        assert probs[k] == pytest.approx(f, abs=4 * np.sqrt(f * (1 - f) / n))
    alive = d.alive.mean()
    assert m.prob_alive(one(0, 0, 0), t)[0] == pytest.approx(
        alive, abs=4 * np.sqrt(alive * (1 - alive) / n))


# --------------------------------------------------------------------- recovery


@pytest.mark.parametrize("cls,sim,th,n", [
    (BetaGeoModel, simulate_bg_nbd, {"r": 0.4, "alpha": 6.0, "a": 0.9, "b": 3.0}, 20_000),
    (ModifiedBetaGeoModel, simulate_mbg_nbd, {"r": 0.4, "alpha": 6.0, "a": 0.9, "b": 3.0},
     20_000),
    (ParetoNBDModel, simulate_pareto_nbd, {"r": 0.5, "alpha": 8.0, "s": 0.8, "beta": 15.0},
     4_000),
])
def test_parameter_recovery_within_four_standard_errors(cls, sim, th, n):
    rng = np.random.default_rng(21)
    T = rng.integers(26, 53, n).astype(float)  # weekly cohorts: rows compress
    d = sim(n, T, **th, seed=22)
    m = cls(time_unit="weeks").fit(d)
    assert m.converged_
    z = (m.log_params_ - np.log(list(th.values()))) / m.se_log_.to_numpy()
    assert np.all(np.abs(z) < 4), dict(zip(th, z, strict=True))
    ci = m.confidence_intervals(0.95)
    assert (ci.low < m.params_).all() and (m.params_ < ci.high).all()


def test_gamma_gamma_recovery_within_four_standard_errors():
    th = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    d = simulate_gamma_gamma(simulate_bg_nbd(20_000, 52.0, r=0.5, alpha=4.0, a=0.8, b=2.5,
                                             seed=5), **th, seed=6)
    gg = GammaGammaModel().fit(d)
    assert gg.converged_
    z = (gg.log_params_ - np.log(list(th.values()))) / gg.se_log_.to_numpy()
    assert np.all(np.abs(z) < 4), dict(zip(th, z, strict=True))


# --------------------------------------------------------------------- gradients


@pytest.mark.parametrize("k", [0, 1])
def test_bg_gradient_matches_finite_differences(k):
    d = simulate_bg_nbd(500, 39.0, r=0.4, alpha=6.0, a=0.9, b=3.0, seed=3)
    x, tx, T = (d[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    w = np.random.default_rng(0).integers(1, 4, len(x)).astype(float)
    for lp in (np.log([0.4, 6.0, 0.9, 3.0]), np.log([2.0, 0.5, 0.3, 9.0])):
        _, g = beta_geo._bg_loglik(lp, x, tx, T, w, k)
        fd = [(beta_geo._bg_loglik(lp + e, x, tx, T, w, k, grad=False)
               - beta_geo._bg_loglik(lp - e, x, tx, T, w, k, grad=False)) / 2e-6
              for e in np.eye(4) * 1e-6]
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-4)


def test_gamma_gamma_gradient_matches_finite_differences():
    d = simulate_gamma_gamma(simulate_bg_nbd(800, 39.0, r=0.4, alpha=6.0, a=0.9, b=3.0,
                                             seed=3), p=6, q=4, gamma=15, seed=4)
    d = d[d.frequency > 0]
    x, m = d.frequency.to_numpy(dtype=float), d.monetary_value.to_numpy()
    w = np.ones(len(x))
    for lp in (np.log([6.0, 4.0, 15.0]), np.log([0.5, 1.5, 200.0])):
        _, g = gamma_gamma._gg_loglik(lp, x, m, w)
        fd = [(gamma_gamma._gg_loglik(lp + e, x, m, w, grad=False)
               - gamma_gamma._gg_loglik(lp - e, x, m, w, grad=False)) / 2e-6
              for e in np.eye(3) * 1e-6]
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-4)


def test_pareto_gradient_is_consistent():
    d = simulate_pareto_nbd(400, 39.0, r=0.5, alpha=8.0, s=0.8, beta=15.0, seed=3)
    x, tx, T = (d[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    lp = np.log([0.5, 8.0, 0.8, 15.0])
    _, g = pareto_nbd._pnbd_loglik(lp, x, tx, T, np.ones(len(x)))
    fd = [(pareto_nbd._pnbd_loglik(lp + e, x, tx, T, np.ones(len(x)), grad=False)
           - pareto_nbd._pnbd_loglik(lp - e, x, tx, T, np.ones(len(x)), grad=False)) / 2e-4
          for e in np.eye(4) * 1e-4]
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-4)



# ------------------------------------------------ one likelihood: PyTensor (Bayesian) = numpy (MLE)


def pytensor_loglik(build, theta, args):
    """The Bayesian variants' ``pm.Potential("loglik", ...)`` graph, compiled at fixed theta."""
    pytensor = pytest.importorskip("pytensor")
    pt = pytest.importorskip("pytensor.tensor")
    v = pt.dvector("theta")
    f = pytensor.function([v], build(pt, [v[i] for i in range(len(theta))], *args))
    return float(f(np.asarray(theta, dtype=float)))


@pytest.mark.parametrize("k", [0, 1])
def test_pytensor_bg_likelihood_is_the_numpy_one(k):
    """bayes._pt_bg_ll (PyMC) and beta_geo._bg_loglik (MLE) are the same function.

    On CDNOW, compressed and weighted as both fits see it, at the published estimates and
    at a point far from them; no constant separates them (both are the full eq. 6).
    """
    from workbench.clv import bayes
    from workbench.clv.base import _compress, _x_groups
    from workbench.datasets import load_cdnow_summary

    d = check_rfm(load_cdnow_summary())
    x, tx, T, w = _compress(d["x"], d["tx"], d["T"], d["w"])
    args = (x, tx, T, w, k, _x_groups(x, w))
    for th in (list(CDNOW_BG.values()), [1.3, 0.7, 2.2, 0.4]):
        ll = beta_geo._bg_loglik(np.log(th), *args, grad=False)
        assert pytensor_loglik(bayes._pt_bg_ll, th, args) == pytest.approx(ll, rel=1e-8, abs=0)


def test_pytensor_gamma_gamma_likelihood_is_the_numpy_one():
    """bayes._pt_gg_ll and gamma_gamma._gg_loglik agree on CDNOW's 946 repeat buyers."""
    from workbench.clv import bayes
    from workbench.datasets import load_cdnow_summary

    x, m, w, _ = gamma_gamma._gg_rows(load_cdnow_summary(), None, True)
    args = (x, m, w, 0, gamma_gamma._gg_groups(x, m, w))
    for th in (list(CDNOW_GG.values()), [0.8, 12.0, 2.5]):
        ll = gamma_gamma._gg_loglik(np.log(th), *args, grad=False)
        assert pytensor_loglik(bayes._pt_gg_ll, th, args) == pytest.approx(ll, rel=1e-8, abs=0)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("k", [0, 1])
def test_fused_bg_likelihood_is_the_numpy_one(k, compiled):
    """kernels.BGLoglik (what nutpie samples) = beta_geo._bg_loglik, value and gradient.

    On CDNOW (compressed, weighted) at the published estimates and far from them; the
    compiled (numba) loop and its numpy reference both.
    """
    from workbench.clv import kernels
    from workbench.clv.base import _compress, _x_groups
    from workbench.datasets import load_cdnow_summary

    d = check_rfm(load_cdnow_summary())
    x, tx, T, w = _compress(d["x"], d["tx"], d["T"], d["w"])
    f = kernels.BGLoglik(x, tx, T, w, k, compiled=compiled)
    for th in (list(CDNOW_BG.values()), [1.3, 0.7, 2.2, 0.4], [0.05, 90.0, 0.3, 12.0]):
        ll, g = beta_geo._bg_loglik(np.log(th), x, tx, T, w, k, _x_groups(x, w))
        ll2, g2 = f(np.log(th))
        assert ll2 == pytest.approx(ll, rel=1e-12, abs=0)
        np.testing.assert_allclose(g2, g, rtol=1e-9, atol=1e-9 * np.abs(g).max())


@pytest.mark.parametrize("compiled", [True, False])
def test_fused_gamma_gamma_likelihood_is_the_numpy_one(compiled):
    from workbench.clv import kernels
    from workbench.datasets import load_cdnow_summary

    x, m, w, _ = gamma_gamma._gg_rows(load_cdnow_summary(), None, True)
    f = kernels.GGLoglik(x, m, w, compiled=compiled)
    for th in (list(CDNOW_GG.values()), [0.8, 12.0, 2.5]):
        ll, g = gamma_gamma._gg_loglik(np.log(th), x, m, w, 0, gamma_gamma._gg_groups(x, m, w))
        ll2, g2 = f(np.log(th))
        assert ll2 == pytest.approx(ll, rel=1e-12, abs=0)
        np.testing.assert_allclose(g2, g, rtol=1e-9, atol=1e-9 * np.abs(g).max())


def test_whitened_log_posterior_is_likelihood_plus_prior_with_its_gradient():
    """What nutpie samples: log-likelihood + normal prior at log(theta) = mode + L z.

    The value is checked against the two terms computed directly; the gradient in z
    against central differences; outside the numbers' range it is -inf (a divergence).
    """
    from workbench.clv import kernels
    from workbench.clv.base import _compress, _x_groups
    from workbench.datasets import load_cdnow_summary

    d = check_rfm(load_cdnow_summary())
    x, tx, T, w = _compress(d["x"], d["tx"], d["T"], d["w"])
    model = clv.BayesianBetaGeoModel(time_unit="weeks", prior_sd=2.0)
    mode = np.log(list(CDNOW_BG.values()))
    L = np.linalg.cholesky(np.array([[0.02, 0.01, 0, 0], [0.01, 0.03, 0, 0],
                                     [0, 0, 0.05, 0.04], [0, 0, 0.04, 0.06]]))
    centres = np.array([0.0, 1.0, 0.0, 0.0])
    logp = model._log_posterior(kernels.BGLoglik(x, tx, T, w, 0), mode, L, centres)
    for z in (np.zeros(4), np.array([0.7, -1.2, 1.5, -0.4])):
        lv = mode + L @ z
        ll = beta_geo._bg_loglik(lv, x, tx, T, w, 0, _x_groups(x, w), grad=False)
        val, grad = logp(z)
        assert val == pytest.approx(ll - 0.5 * np.sum((lv - centres) ** 2) / 4.0, rel=1e-12)
        fd = [(logp(z + e)[0] - logp(z - e)[0]) / 2e-5 for e in np.eye(4) * 1e-5]
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-4)
    assert logp(np.array([0.0, 0.0, 0.0, 1e5]))[0] == -np.inf

# --------------------------------------------------------------------- inputs


GOOD = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "frequency": [0, 2, 1, 3],
                     "recency": [0.0, 5.0, 2.0, 9.0], "T": [10.0, 10.0, 10.0, 10.0],
                     "monetary_value": [np.nan, 20.0, 15.0, 30.0]})


@pytest.mark.parametrize("change,match", [
    (lambda d: d.drop(columns="T"), r"missing columns \['T'\]"),
    (lambda d: d.assign(frequency=[0, -1, 1, 3]), r"negative values in column 'frequency'.*'b'"),
    (lambda d: d.assign(frequency=[0, 2.5, 1, 3]), r"'frequency' must hold whole.*'b'"),
    (lambda d: d.assign(recency=[0.0, 5.0, 12.0, 9.0]), r"'recency' is greater than 'T'.*"
                                                        r"index \[2\].*'c'"),
    (lambda d: d.assign(recency=[1.0, 5.0, 2.0, 9.0]), r"'recency' must be 0 when 'frequency' "
                                                       r"is 0.*'a'"),
    (lambda d: d.assign(T=[10.0, np.nan, 10.0, 10.0]), r"missing or infinite values in column "
                                                       r"'T'.*'b'"),
    (lambda d: d.assign(recency=["0", "5", "2", "9"]), r"column 'recency' must be numeric"),
    (lambda d: d.assign(customer_id=["a", "a", "c", "d"]), r"duplicated 'customer_id'.*'a'"),
])
def test_bad_rfm_names_column_and_rows(change, match):
    with pytest.raises(CLVInputError, match=match):
        BetaGeoModel().fit(change(GOOD.copy()))


@pytest.mark.parametrize("value", [0.0, -5.0, np.nan])
def test_gamma_gamma_rejects_bad_monetary_value_of_repeat_buyers(value):
    bad = GOOD.assign(monetary_value=[np.nan, 20.0, value, 30.0])
    with pytest.raises(CLVInputError, match=r"'monetary_value' must be a positive.*index \[2\]"
                                            r".*'c'"):
        GammaGammaModel().fit(bad)
    # a customer with no repeat purchase may carry any monetary value: it is not used
    check_rfm(GOOD.assign(monetary_value=[-1.0, 20.0, 15.0, 30.0]), monetary=True)


def test_bad_settings_and_arguments():
    with pytest.raises(CLVInputError, match="weights: must be positive"):
        BetaGeoModel().fit(GOOD, weights=[1, 0, 1, 1])
    with pytest.raises(CLVInputError, match="time_unit must be one of"):
        BetaGeoModel(time_unit="fortnights").fit(GOOD)
    m = BetaGeoModel().set_params(**CDNOW_BG)
    with pytest.raises(CLVInputError, match="t must be a finite duration"):
        m.expected_purchases(GOOD, -1)
    with pytest.raises(CLVInputError, match="n must be a whole number"):
        m.prob_purchases(GOOD, 1.5, 10)
    with pytest.raises(RuntimeError, match="not fitted"):
        BetaGeoModel().prob_alive(GOOD)
    gg = GammaGammaModel().set_params(**CDNOW_GG)
    with pytest.raises(CLVInputError, match="discount_rate"):
        customer_lifetime_value(m, gg, GOOD, 52, discount_rate=-2)
    with pytest.raises(CLVInputError, match="calibration_end must be a date"):
        clv_scorecard(m, gg, GOOD, calibration_end="not a date", horizon=52)


# --------------------------------------------------------------------- compression


@pytest.mark.parametrize("cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_compressed_and_weighted_fits_equal_the_full_fit(cls):
    rng = np.random.default_rng(3)
    n = 3000 if cls is not ParetoNBDModel else 1200  # Pareto: finite-difference gradient
    d = simulate_bg_nbd(n, rng.integers(20, 40, n).astype(float), r=0.5, alpha=5.0, a=0.9,
                        b=3.0, seed=4)
    d["recency"] = np.floor(d.recency)  # whole weeks: many ties
    full = cls(compress=False).fit(d)
    comp = cls().fit(d)
    c = compress_rfm(d)
    weighted = cls(compress=False).fit(c, weights=c.weight)
    assert comp.n_rows_fitted_ < 0.6 * n and weighted.n_customers_ == n
    for other in (comp, weighted):
        assert other.log_likelihood_ == pytest.approx(full.log_likelihood_, rel=1e-12)
        np.testing.assert_allclose(other.params_, full.params_, rtol=1e-5)
        np.testing.assert_allclose(other.se_, full.se_, rtol=1e-3)


def test_gamma_gamma_weights_equal_duplicated_rows():
    base = simulate_gamma_gamma(simulate_bg_nbd(600, 39.0, r=0.5, alpha=4.0, a=0.8, b=2.5,
                                                seed=8), p=6, q=4, gamma=15, seed=9)
    w = np.random.default_rng(1).integers(1, 4, len(base))
    dup = base.loc[base.index.repeat(w)].reset_index(drop=True).assign(
        customer_id=lambda d: np.arange(len(d)))
    a = GammaGammaModel().fit(dup)
    b = GammaGammaModel().fit(base, weights=w)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-12)
    np.testing.assert_allclose(a.params_, b.params_, rtol=1e-6)


# --------------------------------------------------------------------- value & units


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(30)
    n = 3000
    d = simulate_bg_nbd(n, rng.integers(60, 365, n).astype(float), r=0.6, alpha=40.0, a=0.8,
                        b=3.0, seed=31)
    d["recency"] = np.floor(d.recency)
    d = simulate_gamma_gamma(d, p=6, q=4, gamma=60, seed=32)
    return d, BetaGeoModel(time_unit="days").fit(d), GammaGammaModel().fit(d)


def test_clv_is_margin_times_spend_times_discounted_purchases(fitted):
    d, bg, gg = fitted
    sub = d.head(50)
    flat = customer_lifetime_value(bg, gg, sub, 365, period=365, margin=0.4, returns_rate=0.1)
    ref = 0.4 * 0.9 * gg.expected_spend(sub) * bg.expected_purchases(sub, 365)
    np.testing.assert_allclose(flat, ref, rtol=1e-12)
    fine = customer_lifetime_value(bg, gg, sub, 365, period=30, margin=0.4, returns_rate=0.1)
    np.testing.assert_allclose(fine, ref, rtol=1e-12)  # no discounting: periods don't matter
    disc = customer_lifetime_value(bg, gg, sub, 365, period=30, discount_rate=0.01,
                                   margin=0.4, returns_rate=0.1)
    assert np.all(disc < fine) and np.all(disc > fine / 1.01 ** 13)
    # by hand: the DERT sum over 13 periods (12 of 30 days and one of 5)
    edges = np.minimum(np.arange(14) * 30, 365)
    cum = np.stack([bg.expected_purchases(sub, e) for e in edges], axis=1)
    hand = 0.36 * gg.expected_spend(sub) * (np.diff(cum, axis=1) / 1.01 ** np.arange(1, 14)
                                            ).sum(1)
    np.testing.assert_allclose(disc, hand, rtol=1e-12)


def test_time_unit_changes_units_not_answers(fitted):
    d, bg_days, gg = fitted
    w = d.assign(recency=d.recency / 7, T=d["T"] / 7)
    bg_weeks = BetaGeoModel(time_unit="weeks").fit(w)
    np.testing.assert_allclose(bg_weeks.params_[["r", "a", "b"]],
                               bg_days.params_[["r", "a", "b"]], rtol=1e-5)
    assert bg_weeks.params_["alpha"] * 7 == pytest.approx(bg_days.params_["alpha"], rel=1e-5)
    kw = {"calibration_end": "2025-12-31", "margin": 0.3}
    a = clv_scorecard(bg_days, gg, d.head(200), horizon=364, period=28, discount_rate=0.01,
                      **kw).table
    b = clv_scorecard(bg_weeks, gg, w.head(200), horizon=52, period=4, discount_rate=0.01,
                      **kw).table
    np.testing.assert_allclose(a.predicted_clv, b.predicted_clv, rtol=1e-4)
    np.testing.assert_allclose(a.average_days_between_orders, b.average_days_between_orders,
                               rtol=1e-9)
    gap = (a.expected_date_of_next_order - b.expected_date_of_next_order).abs()
    assert gap.max() < pd.Timedelta(minutes=30)


def test_scorecard_columns_intervals_and_presentation(fitted):
    d, bg, gg = fitted
    sc = clv_scorecard(bg, gg, d.head(500), calibration_end=pd.Timestamp("2025-12-31"),
                       horizon=365, period=30, discount_rate=0.01, margin=0.3,
                       returns_rate=0.05, interval=0.8)
    t = sc.table
    need = ["historic_clv", "predicted_clv", "total_clv", "predicted_number_of_orders",
            "average_days_between_orders", "average_order_value", "churn_probability",
            "expected_date_of_next_order", "p_no_next_order", "orders_predictive_low",
            "orders_predictive_high"]
    assert set(need) <= set(t.columns) and len(t) == 500
    for col in ("predicted_clv", "predicted_number_of_orders", "average_order_value",
                "churn_probability"):
        assert (t[f"{col}_low"] <= t[col] + 1e-12).all()
        assert (t[col] <= t[f"{col}_high"] + 1e-12).all()
    # the predictive interval of the count: P(N <= high) >= 90% > P(N <= high - 1)
    for i in (0, 1, 7):
        row, hi = d.iloc[[i]], int(t.orders_predictive_high[i])
        cdf = np.cumsum([bg.prob_purchases(row, n, 365)[0] for n in range(hi + 1)])
        assert cdf[-1] >= 0.9 - 1e-12 and (hi == 0 or cdf[-2] < 0.9)
    np.testing.assert_allclose(t.total_clv, t.historic_clv + t.predicted_clv)
    np.testing.assert_allclose(t.historic_clv, 0.3 * 0.95 * d.head(500).frequency
                               * d.head(500).monetary_value.fillna(0))
    np.testing.assert_allclose(t.p_no_next_order, t.churn_probability)  # BG: no death first
    assert (t.next_order_date_low <= t.expected_date_of_next_order).all()
    assert (t.expected_date_of_next_order > pd.Timestamp("2025-12-31")).all()
    assert t.average_days_between_orders.isna().equals(d.head(500).frequency.eq(0))
    assert "customers" in sc.summary() and "<table" in sc._repr_html_()
    assert sc.chart().to_dict()["mark"]["type"] == "circle"


def test_delta_method_interval_covers_simulated_refits():
    """The asymptotic interval of P(alive) for one customer against the spread of the MLE
    across 30 data sets simulated at the estimates (a small parametric bootstrap)."""
    th = {"r": 0.4, "alpha": 6.0, "a": 0.9, "b": 3.0}
    who = one(3, 20.0, 39.0)
    est = []
    for seed in range(30):
        d = simulate_bg_nbd(1500, 39.0, **th, seed=100 + seed)
        est.append(BetaGeoModel(time_unit="weeks").fit(d).prob_alive(who)[0])
    m = BetaGeoModel(time_unit="weeks").fit(simulate_bg_nbd(1500, 39.0, **th, seed=99))
    lo, hi = value._delta_interval(
        lambda t: np.exp(m._posterior(t, np.array([3.0]), np.array([20.0]),
                                      np.array([39.0]))[0]), m, 0.9, "logit")
    half = (hi - lo)[0] / 2
    boot = 1.645 * np.std(est, ddof=1)
    assert 0.5 < half / boot < 2


# --------------------------------------------------------------------- presentation


@pytest.mark.parametrize("cls,sim,th", [
    (BetaGeoModel, simulate_bg_nbd, {"r": 0.4, "alpha": 6.0, "a": 0.9, "b": 3.0}),
    (ModifiedBetaGeoModel, simulate_mbg_nbd, {"r": 0.4, "alpha": 6.0, "a": 0.9, "b": 3.0}),
    (ParetoNBDModel, simulate_pareto_nbd, {"r": 0.5, "alpha": 8.0, "s": 0.8, "beta": 15.0}),
])
def test_transaction_models_summarize_and_chart(cls, sim, th):
    d = sim(1500, 39.0, **th, seed=12)
    m = cls(time_unit="weeks").fit(d)
    s = m.summary()
    assert list(s.columns) == ["estimate", "se", "low_95", "high_95"]
    assert m.NAME in m._repr_html_() and "weeks" in repr(m)
    pt = m.period_transactions()
    assert pt.observed.sum() == pytest.approx(1500) and pt.model.sum() == pytest.approx(1500)
    assert np.all(np.abs(pt.observed - pt.model) < 5 * np.sqrt(pt.model) + 5)
    assert m.chart().to_dict()["mark"]["type"] == "bar"
    assert "BetaGeoModel(time_unit='days'" in repr(BetaGeoModel())


def test_gamma_gamma_summarizes_and_charts():
    d = simulate_gamma_gamma(simulate_bg_nbd(2000, 39.0, r=0.5, alpha=4.0, a=0.8, b=2.5,
                                             seed=8), p=6, q=4, gamma=15, seed=9)
    gg = GammaGammaModel().fit(d)
    assert set(gg.summary().index) == {"p", "q", "gamma"}
    spec = gg.chart().to_dict()
    assert len(spec["layer"]) == 2
    # the model density of m_x integrates to one for each x
    for x in (1, 5):
        tot = integrate.quad(lambda v, x=x: gg.spend_density(v, x), 0, np.inf)[0]
        assert tot == pytest.approx(1, abs=1e-6)


def test_unidentified_dropout_warns_and_reports_not_converged():
    """No one ever drops out (p = 0): a and b run to the bound; say so."""
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.poisson(rng.gamma(0.5, 1 / 4.0, n) * 39.0)
    tx = np.where(x > 0, 39.0 * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    d = pd.DataFrame({"customer_id": range(n), "frequency": x, "recency": tx, "T": 39.0})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = BetaGeoModel(time_unit="weeks").fit(d)
    if not m.converged_:
        assert any("not identified" in str(w.message) or "not converge" in str(w.message)
                   or "positive definite" in str(w.message) for w in caught)
    assert m.params_["a"] / (m.params_["a"] + m.params_["b"]) < 0.01  # E[p] ~ 0


# --------------------------------------------------------------------- Bayesian


@pytest.mark.slow
def test_bayesian_bg_nbd_small_real_sampling_run():
    """One real (tiny) PyMC run: the path works and agrees with the MLE.

    PyMC's own NUTS (nutpie's first numba compilation alone takes ~40 s here).  Marked
    slow: with cold compile caches it took ~27 s on an idle machine and 46 s on a busy
    one, over the 40 s allowed in the default suite.
    """
    t0 = time.perf_counter()
    d = simulate_bg_nbd(300, 39.0, r=0.4, alpha=6.0, a=0.9, b=3.0, seed=40)
    b = clv.BayesianBetaGeoModel(time_unit="weeks", draws=200, tune=200, chains=1,
                                 sampler="pymc", random_seed=1).fit(d)
    mle = BetaGeoModel(time_unit="weeks").fit(d)
    assert b.draws_.shape == (200, 4)
    # r and alpha are well identified with 300 customers: posterior mean within 3 sd of MLE
    for k in ("r", "alpha"):
        assert abs(b.params_[k] - mle.params_[k]) < 3 * b.se_[k]
    assert "r_hat" in b.summary().columns
    sc = clv_scorecard(b, GammaGammaModel().set_params(**CDNOW_GG),
                       simulate_gamma_gamma(d.head(20), 6, 4, 15, seed=1),
                       calibration_end="2025-01-01", horizon=26)
    assert (sc.table.predicted_clv_low <= sc.table.predicted_clv).all()
    assert time.perf_counter() - t0 < 120


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_bayesian_and_mle_agree(sampler):
    d = simulate_gamma_gamma(simulate_bg_nbd(5000, 52.0, r=0.4, alpha=6.0, a=0.9, b=3.0,
                                             seed=41), p=6, q=4, gamma=15, seed=42)
    for bcls, mcls in ((clv.BayesianBetaGeoModel, BetaGeoModel),
                       (clv.BayesianGammaGammaModel, GammaGammaModel)):
        b = bcls(time_unit="weeks", sampler=sampler, random_seed=2).fit(d)
        m = mcls(time_unit="weeks").fit(d)
        assert b.converged_, b.diagnostics_
        # large sample: posterior mean ~ MLE and posterior sd ~ Hessian standard error
        z = (b.params_ - m.params_) / m.se_
        assert (z.abs() < 0.5).all(), z
        np.testing.assert_allclose(b.se_, m.se_, rtol=0.25)


@pytest.mark.parametrize("cls, th", [
    (BetaGeoModel, CDNOW_BG),
    (ModifiedBetaGeoModel, CDNOW_BG),
    (ParetoNBDModel, CDNOW_PNBD),
])
def test_scorecard_order_interval_is_the_models_own_predictive_distribution(cls, th):
    """The scorecard's orders_predictive_low/high are quantiles of P(X(T, T+t] = n), which
    ``prob_purchases`` gives (checked against quadrature above).  Pareto/NBD once borrowed
    the BG/NBD recursion for this distribution: P(0) 0.227 where its own is 0.319."""
    m = cls(time_unit="weeks").set_params(**th)
    rfm = pd.DataFrame({"customer_id": [1, 2, 3, 4], "frequency": [0, 2, 7, 1],
                        "recency": [0.0, 30.43, 35.0, 5.0],
                        "T": [38.86, 38.86, 38.0, 60.0], "monetary_value": [0.0, 22.0, 40.0,
                                                                            15.0]})
    gg = GammaGammaModel().set_params(p=6.25, q=3.74, gamma=15.44)
    t, level = 52.0, 0.8
    sc = clv_scorecard(m, gg, rfm, calibration_end="1997-09-30", horizon=t,
                       interval=level).table
    cdf = np.cumsum([m.prob_purchases(rfm, n, t) for n in range(200)], axis=0)
    lo = (cdf >= 0.5 - level / 2 - 1e-12).argmax(axis=0)
    hi = (cdf >= 0.5 + level / 2 - 1e-12).argmax(axis=0)
    np.testing.assert_array_equal(sc.orders_predictive_low.to_numpy(), lo)
    np.testing.assert_array_equal(sc.orders_predictive_high.to_numpy(), hi)


def test_value_predictive_variance_is_the_compound_sums():
    """The scorecard's ``predicted_clv_sd``: the count's moments from its pmf agree with
    the closed-form E[X(t)] (FHL 2005a eq. 10), and the spend's compound variance
    (FHL 2005b: N and nu independent given the history) agrees with draws from the same
    distributions — N from the model's P(X(t) = n), nu from its Gamma posterior, each
    purchase's spend Gamma(p, nu) — within 4 Monte Carlo standard errors."""
    import pandas as pd

    from workbench.clv import BetaGeoModel, GammaGammaModel, clv_scorecard
    from workbench.clv.value import _count_distribution

    bg = BetaGeoModel(time_unit="days").set_params(r=0.5, alpha=40.0, a=0.8, b=3.0)
    gg = GammaGammaModel(time_unit="days").set_params(p=6.0, q=4.0, gamma=15.0)
    rfm = pd.DataFrame({"customer_id": [1, 2, 3], "frequency": [0, 2, 8],
                        "recency": [0.0, 50.0, 300.0], "T": [100.0, 200.0, 320.0],
                        "monetary_value": [0.0, 30.0, 55.0]})
    t = 90.0
    x, tx, T = bg._xs(rfm)
    _, _, en, en2 = _count_distribution(bg, bg._theta(), x, tx, T, t, 0.9)
    # the pmf summed to 1 - 1e-12 gives the closed-form mean, and the second moment the
    # tail-corrected one approaches from below (Cauchy-Schwarz: a lower bound)
    lpa, *post = bg._posterior(bg._theta(), x, tx, T)
    m1 = m2 = mass = 0.0
    for n, pmf in enumerate(bg._pmf_sequence(post, t, 5000)):
        m1, m2, mass = m1 + n * pmf, m2 + n * n * pmf, mass + pmf
        if np.all(1 - mass < 1e-12):
            break
    np.testing.assert_allclose(np.exp(lpa) * m1, bg.expected_purchases(rfm, t), rtol=1e-9)
    assert np.all(en2 <= np.exp(lpa) * m2 * (1 + 1e-9))
    np.testing.assert_allclose(en2, np.exp(lpa) * m2, rtol=0.02)
    sd = clv_scorecard(bg, gg, rfm, calibration_end="2025-06-01", horizon=t, period=t,
                       ).table.predicted_clv_sd.to_numpy()
    # discounted (1% a month over three months): between the undiscounted sd and that sd
    # discounted over the whole horizon
    disc = clv_scorecard(bg, gg, rfm, calibration_end="2025-06-01", horizon=t, period=30.0,
                         discount_rate=0.01).table.predicted_clv_sd.to_numpy()
    assert np.all((disc < sd) & (disc > sd / 1.01 ** 3))
    rng = np.random.default_rng(0)
    p, q, g = 6.0, 4.0, 15.0
    n_draws = 200_000
    for i, row in rfm.iterrows():
        pmf = np.array([bg.prob_purchases(rfm.iloc[[i]], n, t)[0] for n in range(60)])
        assert pmf.sum() > 1 - 1e-9
        n = rng.choice(60, n_draws, p=pmf / pmf.sum())
        xm = row.frequency * row.monetary_value
        nu = rng.gamma(p * row.frequency + q, 1 / (g + xm), n_draws)
        s = rng.gamma(np.maximum(p * n, 1e-300), 1 / nu) * (n > 0)  # sum of n Gamma(p, nu)
        mc_sd = s.std()
        # the sd of a sample sd: sqrt((kurtosis - 1) / (4 n)) of it, heavy tails included
        k = np.mean((s - s.mean()) ** 4) / s.var() ** 2
        assert abs(sd[i] - mc_sd) < 4 * mc_sd * np.sqrt((k - 1) / (4 * n_draws)), (i, sd[i],
                                                                                     mc_sd)


def test_a_spend_without_finite_variance_gives_no_value_interval():
    """With the Gamma-Gamma's q <= 2 a customer with no repeat purchase has a spend
    whose second moment is infinite (nu's posterior shape is q): their value has no
    finite predictive sd, and a group containing them gets no predictive interval."""
    import pandas as pd

    from workbench.analyses.clv.analysis import value_by
    from workbench.clv import BetaGeoModel, GammaGammaModel, clv_scorecard

    bg = BetaGeoModel(time_unit="days").set_params(r=0.5, alpha=40.0, a=0.8, b=3.0)
    gg = GammaGammaModel(time_unit="days").set_params(p=6.0, q=1.8, gamma=15.0)
    rfm = pd.DataFrame({"customer_id": [1, 2], "frequency": [0, 3], "recency": [0.0, 80.0],
                        "T": [100.0, 120.0], "monetary_value": [0.0, 30.0]})
    sc = clv_scorecard(bg, gg, rfm, calibration_end="2025-06-01", horizon=90.0).table
    assert np.isinf(sc.predicted_clv_sd.iloc[0]) and np.isfinite(sc.predicted_clv_sd.iloc[1])
    sc = sc.assign(p_alive=1 - sc.churn_probability, group=["a", "b"])
    by = value_by(sc, ["group"]).set_index("group")
    assert np.isnan(by.loc["a", "value_low"]) and np.isnan(by.loc["a", "value_high"])
    assert np.isfinite(by.loc["b", "value_high"])
    # without the column, no interval rather than one narrowed to the parameters' part
    by = value_by(sc.drop(columns="predicted_clv_sd"), ["group"])
    assert by.value_high.isna().all()
