"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987): likelihood, posterior and means.

Likelihood and P(alive) as in Fader & Hardie's 2005 note, the Gauss hypergeometric after
an Euler transform; P(X(t) = n) by tanh-sinh quadrature over the death time.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, gammaln, hyp2f1

from .beta_geo import BetaGeoModel
from .transactions import _nb_logpmf, _TransactionModel


def _log1mexp(d):
    """log(1 - exp(d)) for d <= 0, accurate on the whole range (Maechler 2012)."""
    d = np.minimum(d, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(d > -0.6931471805599453, np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


# tanh-sinh nodes on [0, 1] (Takahasi & Mori 1974): exact to ~1e-12 for integrands with
# algebraic end-point singularities, which is what the death-time integrals have.
_TS_H = 1 / 16
_TS_T = np.arange(-56, 57) * _TS_H
_TS_U = 0.5 * np.pi * np.sinh(_TS_T)
_TS_X = expit(2 * _TS_U)          # 0.5 (1 + tanh u)
_TS_CX = expit(-2 * _TS_U)        # 1 - x, without cancellation
_TS_W = _TS_H * 0.5 * np.pi * np.cosh(_TS_T) / (2 * np.cosh(_TS_U) ** 2)


def _pnbd_terms(theta, x, tx, T):
    """Log-likelihood pieces (Fader & Hardie 2005 note, eqs. 19-22): ll = C + logaddexp(l1, l2)."""
    r, al, s, be = theta
    rsx = r + s + x
    C = gammaln(r + x) - gammaln(r) + r * np.log(al) + s * np.log(be)
    l1 = -(r + x) * np.log(al + T) - s * np.log(be + T)
    if al >= be:
        m, lo, t_ = al, be, s + 1.0
    else:
        m, lo, t_ = be, al, r + x
    d = m - lo

    def log_f(y):
        # 2F1(rsx, t; rsx + 1; z) / (m + y)^rsx with z = d / (m + y), after Euler's
        # transform 2F1(A, B; C; z) = (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z)
        z = d / (m + y)
        log1mz = np.log(lo + y) - np.log(m + y)
        return ((1 - t_) * log1mz + np.log(hyp2f1(1.0, rsx + 1 - t_, rsx + 1, z))
                - rsx * np.log(m + y))

    f1, f2 = log_f(tx), log_f(T)
    with np.errstate(divide="ignore"):
        log_a0 = f1 + _log1mexp(f2 - f1)
    l2 = np.log(s) - np.log(rsx) + log_a0
    return C, l1, l2


def _pnbd_loglik(logp, x, tx, T, w, k=None, grad=True):
    theta = np.exp(logp)
    C, l1, l2 = _pnbd_terms(theta, x, tx, T)
    ll = float(np.sum(w * (C + np.logaddexp(l1, l2))))
    if not grad:
        return ll
    # central differences: no closed form for d 2F1 / d parameters (tested in the suite)
    h = 1e-6
    g = np.empty(4)
    for i in range(4):
        e = np.zeros(4)
        e[i] = h
        g[i] = (_pnbd_loglik(logp + e, x, tx, T, w, grad=False)
                - _pnbd_loglik(logp - e, x, tx, T, w, grad=False)) / (2 * h)
    return ll, g


def _pnbd_posterior(theta, x, tx, T):
    r, al, s, be = theta
    _, l1, l2 = _pnbd_terms(theta, x, tx, T)
    return l1 - np.logaddexp(l1, l2), r + x, al + T, s, be + T


def _pnbd_mean(r_, al_, s, be_, t):
    """E[X(t) | alive at 0] = E[lambda] E[(1 - exp(-mu t)) / mu] (SMC 1987; FH 2005 note).

    Stable through s = 1, where it becomes beta' log(1 + t / beta').
    """
    t = np.asarray(t, dtype=float)
    c = s - 1
    lq = np.log(be_) - np.log(be_ + t)
    g = be_ * (-lq if abs(c) < 1e-10 else -np.expm1(c * lq) / c)
    return r_ / al_ * g


def _pnbd_death_integral(r_, al_, s, be_, n, t):
    """P(X(t) = n | alive at 0) for Pareto/NBD: purchases before min(death, t).

    ``NB(n; r', al'/(al'+t)) P(death > t) + int_0^t NB(n; r', al'/(al'+tau)) dF(tau)``
    with F the Lomax law of the death time; the integral is taken over v = F(tau) by
    tanh-sinh quadrature.  ``t = inf`` gives the probability of n purchases ever.
    """
    r_, al_, be_, t = np.broadcast_arrays(*(np.asarray(v, dtype=float)
                                            for v in (r_, al_, be_, t)))
    n = float(n)
    fin = np.isfinite(t)
    tt = np.where(fin, t, 1.0)
    surv = np.where(fin, np.exp(s * (np.log(be_) - np.log(be_ + tt))), 0.0)  # 1 - F(t)
    at_end = np.where(fin, np.exp(_nb_logpmf(n, r_, np.log(al_) - np.log(al_ + tt),
                                             np.log(tt) - np.log(al_ + tt))), 0.0) * surv
    V = (1 - surv)[..., None]
    one_minus_v = surv[..., None] + V * _TS_CX  # 1 - V x, no cancellation near 1
    tau = be_[..., None] * np.expm1(-np.log(one_minus_v) / s)
    la = al_[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = _nb_logpmf(n, r_[..., None], np.log(la) - np.log(la + tau),
                        np.log(tau) - np.log(la + tau))
    return at_end + V[..., 0] * np.sum(_TS_W * np.exp(lp), axis=-1)


class ParetoNBDModel(BetaGeoModel):
    """Pareto/NBD (Schmittlein, Morrison & Colombo 1987) by maximum likelihood.

    Same settings and learned values as :class:`BetaGeoModel`; parameters r, alpha
    (purchase rate) and s, beta (exponential lifetime).  The gradient is by central
    differences of the closed-form likelihood (no closed form for the derivatives of
    the Gauss hypergeometric in its parameters).
    """

    PARAMS = ("r", "alpha", "s", "beta")
    NAME = "Pareto/NBD"
    _ANALYTIC_GRADIENT = False

    def _loglik(self, logp, x, tx, T, w, k, groups=None, grad=True):
        return _pnbd_loglik(logp, x, tx, T, w, grad=grad)

    @staticmethod
    def _start(x, tx, T, w):
        rate = max(np.average(x, weights=w) / max(np.average(T, weights=w), 1e-12), 1e-6)
        mT = max(np.average(T, weights=w), 1e-6)
        return np.log([1.0, 1.0 / rate, 1.0, mT])

    def _posterior(self, theta, x, tx, T):
        return _pnbd_posterior(theta, x, tx, T)

    @staticmethod
    def _mean(r_, al_, s, be_, t):
        return _pnbd_mean(r_, al_, s, be_, t)

    @staticmethod
    def _survive(r_, al_, s, be_, t):
        return np.exp(s * (np.log(be_) - np.log(be_ + np.asarray(t, dtype=float))))

    @staticmethod
    def _pmf(r_, al_, s, be_, n, t):
        return _pnbd_death_integral(r_, al_, s, be_, n, t)

    @staticmethod
    def _p_ever(r_, al_, s, be_):
        return 1 - _pnbd_death_integral(r_, al_, s, be_, 0, np.inf)

    def _next_quantile(self, post, ever, q):
        return _TransactionModel._next_quantile(self, post, ever, q)

    def _pmf_sequence(self, post, t, max_n):
        """P(X(t) = n), n = 0, 1, ..., from the Pareto/NBD pmf itself.

        The inherited BG/NBD recursion does not apply to Pareto/NBD parameters (it gave
        the scorecard's ``orders_predictive_*`` from the wrong distribution).
        """
        return _TransactionModel._pmf_sequence(self, post, t, max_n)
