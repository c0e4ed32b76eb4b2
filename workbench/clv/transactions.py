"""Predictions shared by the purchase models (BG/NBD, MBG/NBD, Pareto/NBD).

``_TransactionModel`` fits on ``(frequency, recency, T)`` and turns each model's kernels
(``_posterior``, ``_mean``, ``_survive``, ``_pmf``, ``_p_ever``) into the public
predictions.

One construction covers every conditional prediction.  Given a history the customer is
alive at ``T`` with probability ``P_alive``; if alive, the latent traits have the updated
distributions — BG/NBD: ``lambda ~ Gamma(r + x, alpha + T)``, ``p ~ Beta(a, b + x)``
(MBG/NBD: ``Beta(a, b + x + 1)``, one more survived drop-out opportunity); Pareto/NBD:
``lambda ~ Gamma(r + x, alpha + T)``, ``mu ~ Gamma(s, beta + T)``, independent — and the
future from ``T`` on is the model itself started at those parameters.  Hence:

* ``E[Y(t) | hist] = P_alive * E'[X(t)]``, with E' the unconditional expectation at the
  updated parameters (this reproduces the FHL 2005a and SMC/FH closed forms);
* ``P(N(T, T+t] = n | hist) = P_alive * P'(X(t) = n) + (1 - P_alive) * 1{n = 0}``
  (FHL 2005a's P(X(t) = x) at the updated parameters);
* ``P(alive at T + t | hist) = P_alive * P'(alive at t)``.  BG/NBD: given (lambda, p) a
  live customer survives each of the Poisson(lambda t) purchases in the window with
  probability 1 - p, so ``P(alive at t | lambda, p) = exp(-lambda p t)``; integrating
  lambda gives ``(alpha'/(alpha' + p t))^r'`` and integrating p (Euler's integral, then
  Pfaff's transform) gives ``(alpha'/(alpha'+t))^r' 2F1(r', b'; a + b'; t/(alpha'+t))``.
  Pareto/NBD: ``E[exp(-mu t)] = (beta'/(beta' + t))^s`` under the updated gamma for mu;
* time to the next purchase: BG/NBD cannot drop out before it buys again, so given alive
  ``P(tau > u) = (alpha'/(alpha'+u))^r'`` (a Lomax law) and
  ``P(no purchase ever) = 1 - P_alive``.  Pareto/NBD: purchase or death first, computed by
  quadrature over the death time; ``P(no purchase ever) = 1 - P_alive * P'(buys again)``;
* a new customer is the history ``x = t_x = T = 0``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

from .base import (
    CLVInputError,
    _compress,
    _duration,
    _Fitter,
    _unique_rows,
    _x_groups,
    check_rfm,
)


def _nb_logpmf(n, r_, log_p, log_q):
    """Log P(N = n), N ~ NegBin(r', p) = Poisson-gamma count: p = al/(al+t), q = 1 - p."""
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        nlq = np.where(n > 0, n * log_q, 0.0)
    return gammaln(r_ + n) - gammaln(r_) - gammaln(n + 1) + r_ * log_p + nlq


class _TransactionModel(_Fitter):
    """Predictions shared by BG/NBD, MBG/NBD and Pareto/NBD (see the module docstring)."""

    _K = 0

    def fit(self, rfm: pd.DataFrame, weights=None) -> _TransactionModel:
        """Fit on an RFM summary; ``weights`` are counts of identical customers (optional).

        Rows with the same ``(frequency, recency, T)`` are merged into one weighted row
        first (``compress=True``): the log-likelihood and the estimates are unchanged.
        """
        d = check_rfm(rfm, weights=weights)
        x, tx, T, w = d["x"], d["tx"], d["T"], d["w"]
        if self.compress:
            x, tx, T, w = _compress(x, tx, T, w)
        self.data_ = pd.DataFrame({"frequency": x, "recency": tx, "T": T, "weight": w})
        return self._finish_fit(self._start(x, tx, T, w),
                                (x, tx, T, w, self._K, _x_groups(x, w)), w.sum(), d["w"].sum())

    def log_likelihood(self, rfm: pd.DataFrame, weights=None) -> float:
        """Log-likelihood of an RFM summary at the current parameters."""
        self._check_fitted()
        d = check_rfm(rfm, weights=weights)
        return float(self._loglik(self.log_params_, d["x"], d["tx"], d["T"], d["w"], self._K,
                                  grad=False))

    # model kernels: posterior (log P_alive and the updated parameters) and the future of
    # a customer alive at 0 with those parameters
    def _posterior(self, theta, x, tx, T):
        raise NotImplementedError

    def _xs(self, rfm):
        d = check_rfm(rfm)
        return d["x"], d["tx"], d["T"]

    # -- public predictions ------------------------------------------------------------
    def prob_alive(self, rfm: pd.DataFrame, t: float = 0.0) -> np.ndarray:
        """P(alive at T + t | history); ``t`` in the model's time unit (0: now)."""
        self._check_fitted()
        t = _duration("t", t)
        lpa, *post = self._posterior(self._theta(), *self._xs(rfm))
        return np.exp(lpa) * self._survive(*post, t)

    def expected_purchases(self, rfm: pd.DataFrame, t: float) -> np.ndarray:
        """Expected purchases in (T, T + t] given each history; ``t`` in the model's unit."""
        self._check_fitted()
        t = _duration("t", t)
        lpa, *post = self._posterior(self._theta(), *self._xs(rfm))
        return np.exp(lpa) * self._mean(*post, t)

    def expected_purchases_between(self, rfm: pd.DataFrame, t1: float, t2: float) -> np.ndarray:
        """Expected purchases in (T + t1, T + t2] given each history (model time unit)."""
        t1, t2 = _duration("t1", t1), _duration("t2", t2)
        if np.any(t2 < t1):
            raise CLVInputError(f"need t1 <= t2, got t1={t1}, t2={t2}")
        return self.expected_purchases(rfm, t2) - self.expected_purchases(rfm, t1)

    def expected_purchases_new_customer(self, t) -> np.ndarray:
        """E[X(t)]: expected repeat purchases of a new customer in (0, t] (FHL 2005a)."""
        self._check_fitted()
        t = _duration("t", t)
        lpa, *post = self._posterior(self._theta(), 0.0, 0.0, 0.0)
        return np.exp(lpa) * self._mean(*post, t)

    def prob_purchases(self, rfm: pd.DataFrame, n, t: float) -> np.ndarray:
        """P(exactly n purchases in (T, T + t] | history); ``n`` scalar, ``t`` in model units."""
        self._check_fitted()
        t = _duration("t", t)
        n = self._count(n)
        lpa, *post = self._posterior(self._theta(), *self._xs(rfm))
        pa = np.exp(lpa)
        return pa * self._pmf(*post, n, t) + (1 - pa) * (n == 0)

    def prob_purchases_new_customer(self, n, t) -> np.ndarray:
        """P(X(t) = n) for a new customer (FHL 2005a); ``t`` in the model's unit."""
        self._check_fitted()
        t = _duration("t", t)
        n = self._count(n)
        lpa, *post = self._posterior(self._theta(), 0.0, 0.0, 0.0)
        pa = np.exp(lpa)
        return pa * self._pmf(*post, n, t) + (1 - pa) * (n == 0)

    def time_to_next_purchase(self, rfm: pd.DataFrame,
                              quantiles=(0.1, 0.5, 0.9)) -> pd.DataFrame:
        """Distribution of the time from T to the next purchase, in the model's time unit.

        Returns ``p_no_next_purchase`` (the customer never buys again: dead now, or dies
        before buying) and, for each q, the q-quantile of the waiting time *given that
        there is a next purchase* (columns ``q10``, ``q50`` ...).
        """
        self._check_fitted()
        qs = np.asarray(quantiles, dtype=float)
        if np.any((qs <= 0) | (qs >= 1)):
            raise CLVInputError(f"quantiles must lie in (0, 1), got {quantiles!r}")
        x, tx, T = self._xs(rfm)
        (ux, utx, uT), inv = _unique_rows(x, tx, T)
        lpa, *post = self._posterior(self._theta(), ux, utx, uT)
        ever = self._p_ever(*post)
        out = {"p_no_next_purchase": (1 - np.exp(lpa) * ever)[inv]}
        for q in qs:
            out[f"q{100 * q:g}"] = self._next_quantile(post, ever, q)[inv]
        return pd.DataFrame(out, index=rfm.index)

    def _pmf_sequence(self, post, t, max_n):
        """P(X(t) = 0), P(X(t) = 1), ... for customers alive at 0 with parameters ``post``."""
        for n in range(max_n):
            yield self._pmf(*post, float(n), t)

    @staticmethod
    def _count(n):
        n = np.asarray(n, dtype=float)
        if n.ndim or n < 0 or n != np.floor(n):
            raise CLVInputError(f"n must be a whole number >= 0, got {n!r}")
        return float(n)

    def _next_quantile(self, post, ever, q):
        """Quantile of the waiting time given a next purchase, by bisection on log u."""
        target = q * ever
        scale = np.asarray(post[1], dtype=float)  # alpha': the time scale
        lo = np.log(scale) - 30
        hi = np.log(scale) + 30
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            cdf = 1 - self._pmf(*post, 0.0, np.exp(mid))
            lo = np.where(cdf < target, mid, lo)
            hi = np.where(cdf < target, hi, mid)
        return np.exp(0.5 * (lo + hi))

    # -- chart -------------------------------------------------------------------------
    def period_transactions(self, max_n: int = 7) -> pd.DataFrame:
        """Customers with 0, 1, ..., ``max_n``+ repeat purchases: observed vs model.

        The model's count is sum_i P(X(T_i) = n), the classic calibration check
        (FHL 2005a, fig. 2).
        """
        self._check_fitted()
        d = self.data_
        uT, inv = np.unique(d["T"].to_numpy(), return_inverse=True)
        wT = np.bincount(inv, weights=d["weight"].to_numpy())
        exp_ = []
        for n in range(max_n):
            exp_.append(float(np.sum(wT * self.prob_purchases_new_customer(n, uT))))
        exp_.append(float(wT.sum() - sum(exp_)))
        obs = np.bincount(np.minimum(d["frequency"].to_numpy(), max_n).astype(int),
                          weights=d["weight"].to_numpy(), minlength=max_n + 1)
        labels = [str(n) for n in range(max_n)] + [f"{max_n}+"]
        return pd.DataFrame({"repeat_purchases": labels, "observed": obs, "model": exp_})

    def chart(self, max_n: int = 7):
        """Altair: observed vs expected number of customers by repeat purchases."""
        import altair as alt

        t = self.period_transactions(max_n).melt("repeat_purchases", var_name="source",
                                                 value_name="customers")
        order = [str(n) for n in range(max_n)] + [f"{max_n}+"]
        return alt.Chart(t).mark_bar().encode(
            x=alt.X("repeat_purchases:N", sort=order, title="repeat purchases in calibration"),
            xOffset="source:N", y=alt.Y("customers:Q", title="customers"),
            color=alt.Color("source:N", title=None),
            tooltip=["repeat_purchases", "source", alt.Tooltip("customers:Q", format=",.0f")],
        ).properties(width=360, height=220,
                     title=f"{self.NAME}: observed vs model, repeat purchases per customer")
