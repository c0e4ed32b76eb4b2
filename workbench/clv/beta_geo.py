"""BG/NBD (Fader, Hardie & Lee 2005a): likelihood, posterior, E[X(t)], P(X(t) = n).

The kernels take ``k``, the number of extra drop-out opportunities (0: BG/NBD, 1: MBG/NBD),
so :mod:`workbench.clv.modified_beta_geo` reuses them; fitting, input checks and the
predictions come from :mod:`workbench.clv.base` and :mod:`workbench.clv.transactions`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import betaln, digamma, gammaln, hyp2f1

from .base import _x_groups
from .transactions import _nb_logpmf, _TransactionModel


def _lomax_quantile(r_, al_, q):
    """U with 1 - (al/(al+u))^r = q."""
    return al_ * np.expm1(-np.log1p(-q) / r_)


def _bg_terms(theta, x, tx, T, k):
    """Log-likelihood pieces: ll = C + logaddexp(l1, l2); l1 is 'alive at T'."""
    r, al, a, b = theta
    s = x + k
    has2 = s > 0
    s2 = np.where(has2, s, 1.0)
    bab = betaln(a, b)
    C = gammaln(r + x) - gammaln(r) + r * np.log(al)
    l1 = betaln(a, b + s) - bab - (r + x) * np.log(al + T)
    l2 = np.where(has2, betaln(a + 1, b + s2 - 1) - bab - (r + x) * np.log(al + tx), -np.inf)
    return C, l1, l2, s, s2


def _bg_loglik(logp, x, tx, T, w, k, groups=None, grad=True):
    """Weighted log-likelihood and its analytic gradient in log-parameters.

    FHL 2005a eq. 6 (k = 0); MBG/NBD, Batislam et al. 2007 (k = 1).
    """
    G = groups if groups is not None else _x_groups(x, w)
    ux, xi, wx = G["ux"], G["xi"], G["wx"]
    theta = np.exp(logp)
    r, al, a, b = theta
    us = ux + k
    has2 = us > 0
    us2 = np.where(has2, us, 1.0)
    bab = betaln(a, b)
    B1 = betaln(a, b + us) - bab
    B2 = np.where(has2, betaln(a + 1, b + us2 - 1) - bab, -np.inf)
    rx = r + x
    lT, ltx = np.log(al + T), np.log(al + tx)
    l1 = B1[xi] - rx * lT
    l2 = B2[xi] - rx * ltx
    lse = np.logaddexp(l1, l2)
    Cu = gammaln(r + ux) - gammaln(r) + r * np.log(al)
    ll = float(wx @ Cu + w @ lse)
    if not grad:
        return ll
    w1 = np.exp(l1 - lse)
    w2 = np.where(has2[xi], 1 - w1, 0.0)
    ww1, ww2 = w * w1, w * w2
    psi_ab = digamma(a + b)
    d_r = wx @ (digamma(r + ux) - digamma(r) + np.log(al)) - ww1 @ lT - ww2 @ ltx
    d_al = wx.sum() * r / al - ww1 @ (rx / (al + T)) - ww2 @ (rx / (al + tx))
    s1 = np.bincount(xi, weights=ww1, minlength=len(ux))
    s2 = np.bincount(xi, weights=ww2, minlength=len(ux))
    d_a = s1 @ (psi_ab - digamma(a + b + us)) + s2 @ (
        digamma(a + 1) - digamma(a) + psi_ab - digamma(a + b + us2))
    d_b = (s1 @ (digamma(b + us) - digamma(a + b + us)) + s2 @ (
        digamma(b + us2 - 1) - digamma(a + b + us2)) + wx.sum() * (psi_ab - digamma(b)))
    return ll, np.array([d_r, d_al, d_a, d_b]) * theta


def _bg_posterior(theta, x, tx, T, k):
    """Log P(alive at T | hist) and the updated parameters (r', alpha', a, b')."""
    r, al, a, b = theta
    _, l1, l2, s, _ = _bg_terms(theta, x, tx, T, k)
    return l1 - np.logaddexp(l1, l2), r + x, al + T, a, b + s


def _bg_mean_raw(r_, al_, a, b_, t):
    # (1-z)^r' 2F1(r', b'; c; z) = (1-z)^(a-1) 2F1(c - r', a - 1; c; z) (Euler's transform):
    # the left side overflows for heavy buyers over long horizons, the right side does not
    z = t / (al_ + t)
    c = a + b_ - 1
    return c / (a - 1) * (1 - np.exp((a - 1) * np.log1p(-z)) * hyp2f1(c - r_, a - 1, c, z))


def _bg_mean(r_, al_, a, b_, t):
    """E[X(t)] of a BG/NBD customer alive at 0 (FHL 2005a).

    The closed form has a removable singularity at a = 1; there it is the average of
    a = 1 ± 1e-5.
    """
    t = np.asarray(t, dtype=float)
    if abs(a - 1) < 1e-5:
        return 0.5 * (_bg_mean_raw(r_, al_, 1 - 1e-5, b_, t) + _bg_mean_raw(r_, al_, 1 + 1e-5,
                                                                            b_, t))
    with np.errstate(invalid="ignore"):
        return np.where(t > 0, _bg_mean_raw(r_, al_, a, b_, t), 0.0)


def _bg_survive(r_, al_, a, b_, t):
    """P(still alive at t | alive at 0) = E[exp(-lambda p t)].

    Derivation in the docstring of :mod:`workbench.clv.transactions`.
    """
    t = np.asarray(t, dtype=float)
    z = t / (al_ + t)
    # Euler's transform, as in _bg_mean_raw
    return np.where(t > 0, np.exp(a * np.log1p(-z)) * hyp2f1(a + b_ - r_, a, a + b_, z), 1.0)


def _bg_logpmf(r_, al_, a, b_, n, t):
    """Log P(X(t) = n) of a BG/NBD customer alive at 0 (FHL 2005a)."""
    n = np.asarray(n, dtype=float)
    t = np.asarray(t, dtype=float)
    log_p = np.log(al_) - np.log(al_ + t)
    with np.errstate(divide="ignore"):
        log_q = np.log(t) - np.log(al_ + t)
    first = betaln(a, b_ + n) - betaln(a, b_) + _nb_logpmf(n, r_, log_p, log_q)
    n2 = np.maximum(n, 1.0)
    # P(NB >= n), from the regularized incomplete beta: no cancellation
    sf = stats.nbinom.logsf(n2 - 1, r_, np.exp(log_p))
    second = np.where(n > 0, betaln(a + 1, b_ + n2 - 1) - betaln(a, b_) + sf, -np.inf)
    return np.logaddexp(first, second)


class BetaGeoModel(_TransactionModel):
    """BG/NBD (Fader, Hardie & Lee 2005a) by maximum likelihood.

    Parameters
    ----------
    time_unit
        Unit of ``recency``, ``T`` and of every duration passed to or returned by the
        model: "hours", "days", "weeks", "months", "years" or a number of days.
    compress
        Merge identical ``(frequency, recency, T)`` rows into weighted rows before fitting.
    tol, maxiter
        L-BFGS-B relative tolerance on the mean log-likelihood and iteration cap.

    Learned: ``params_`` (r, alpha, a, b), ``se_``, ``cov_log_`` (covariance of the log
    parameters), ``log_likelihood_``, ``converged_``, ``data_`` (the compressed rows).

    >>> import pandas as pd
    >>> rfm = pd.DataFrame({"customer_id": [1], "frequency": [2], "recency": [30.43],
    ...                     "T": [38.86]})
    >>> bg = BetaGeoModel(time_unit="weeks").set_params(r=0.243, alpha=4.414, a=0.793,
    ...                                                  b=2.426)
    >>> round(float(bg.expected_purchases(rfm, 39)[0]), 3)  # FHL 2005a, CDNOW customer 1
    1.226
    """

    PARAMS = ("r", "alpha", "a", "b")
    NAME = "BG/NBD"
    _K = 0

    def _loglik(self, logp, x, tx, T, w, k, groups=None, grad=True):
        return _bg_loglik(logp, x, tx, T, w, k, groups, grad)

    @staticmethod
    def _start(x, tx, T, w):
        rate = max(np.average(x, weights=w) / max(np.average(T, weights=w), 1e-12), 1e-6)
        return np.log([1.0, 1.0 / rate, 1.0, 1.0])

    def _posterior(self, theta, x, tx, T):
        return _bg_posterior(theta, x, tx, T, self._K)

    @staticmethod
    def _mean(r_, al_, a, b_, t):
        return _bg_mean(r_, al_, a, b_, t)

    @staticmethod
    def _survive(r_, al_, a, b_, t):
        return _bg_survive(r_, al_, a, b_, t)

    @staticmethod
    def _pmf(r_, al_, a, b_, n, t):
        return np.exp(_bg_logpmf(r_, al_, a, b_, n, t))

    @staticmethod
    def _p_ever(r_, al_, a, b_):
        return np.ones_like(np.asarray(r_, dtype=float))  # no drop-out before a purchase

    def _pmf_sequence(self, post, t, max_n):
        """FHL 2005a's P(X(t) = n) for n = 0, 1, ... by recursion.

        The NB pmf by its ratio, the NB tail by a running sum.
        """
        r_, al_, a, b_ = post
        r_, al_, b_ = (np.asarray(v, dtype=float) for v in (r_, al_, b_))
        p = al_ / (al_ + t)
        nb = np.exp(r_ * np.log(p))  # NB pmf at 0
        tail = np.ones_like(nb)  # P(NB >= n)
        for n in range(max_n):
            first = np.exp(betaln(a, b_ + n) - betaln(a, b_)) * nb
            second = (np.exp(betaln(a + 1, b_ + n - 1) - betaln(a, b_)) * np.maximum(tail, 0)
                      if n > 0 else 0.0)
            yield first + second
            tail = tail - nb
            nb = nb * (r_ + n) / (n + 1) * (1 - p)

    def _next_quantile(self, post, ever, q):
        return _lomax_quantile(post[0], post[1], q)
