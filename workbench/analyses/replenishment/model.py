"""A hierarchical renewal model of re-order intervals, with censoring and a cure fraction.

Each customer ``c`` uses a consumable at their own pace: the supply of an order lasts
``catalog_days x exp(theta_c)``, with ``theta_c ~ N(mu, tau^2)`` across the store's
customers (the catalog rule is ``theta = 0``).  After an order, the customer re-orders
the product with probability ``pi`` (the rest buy it elsewhere, stop, or leave: a cure
fraction, Berkson & Gage 1952; Maller & Zhou 1996, *Survival Analysis with Long-Term
Survivors*, eq. 1.1).  A re-order's log interval against the catalog,
``y = log(gap / catalog_days)``, is

    f(y | theta) = (1 - eps) N(y; theta, sigma^2) + eps N(y; mu_e, s_e^2)

— the run-out re-order, or (share ``eps``) a purchase of the product for another
reason (a gift, a second pack bought with something else), whose timing says nothing
of the customer's pace (a contaminated normal, Tukey 1960).  A purchase not followed
by another up to the data's end is censored at ``y_c``:

    P(no re-order by y_c | theta) = (1 - pi) + pi (1 - F(y_c | theta))

(the mixture-cure likelihood, Maller & Zhou eq. 2.1 with a log-normal latency: a
renewal process with log-normal interarrival times, Cox 1962, *Renewal Theory*, ch. 1).

The hyperparameters ``mu, tau, sigma, pi, eps, mu_e, s_e`` maximize the marginal
likelihood, each customer's ``theta_c`` integrated out on a grid (empirical Bayes,
Robbins 1956; Efron 2010, *Large-Scale Inference*, ch. 1); each customer's posterior
is then computed exactly on that grid — no sampling.  A customer with no re-order yet
stays near the store's pace ``mu``; a customer whose supply outlasted the catalog's
(censored long) moves toward slower use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

GRID_HALF_WIDTH, GRID_POINTS = 1.5, 121  # theta grid: the store's pace +- 1.5 (x0.22 to x4.5)
FIT_GRID_POINTS = 41  # a coarser grid for the marginal likelihood (step 0.075 = sigma / 2)
FIT_CUSTOMERS = 2500  # customers the hyperparameters are fitted on (a random subset)
LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


class ReplenishmentInputError(ValueError):
    """Too few re-orders to estimate customers' paces."""


@dataclass(frozen=True)
class RenewalHyper:
    """The store-level parameters (log scale against the catalog's supply)."""

    mu: float  # the store's mean log pace
    tau: float  # sd of customers' log paces around it
    sigma: float  # sd of one interval around the customer's pace
    pi: float  # probability an order is re-ordered here at all
    eps: float  # share of re-purchases unrelated to running out
    mu_e: float  # their mean log interval
    s_e: float  # and sd

    def as_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in asdict(self).items()}


def _norm_logpdf(y, m, s):
    return -0.5 * ((y - m) / s) ** 2 - np.log(s) - LOG_SQRT_2PI


def row_loglik(y: np.ndarray, observed: np.ndarray, grid: np.ndarray, h: RenewalHyper
               ) -> np.ndarray:
    """Log-likelihood of each interval (rows) at each pace ``theta`` of the grid (columns).

    Observed: ``log pi + log f(y | theta)``; censored: ``log((1 - pi) + pi S(y | theta))``.
    """
    y = y[:, None]
    out = np.empty((y.shape[0], grid.size))
    o = observed
    if o.any():
        a = np.log1p(-h.eps) + _norm_logpdf(y[o], grid[None, :], h.sigma)
        b = np.log(h.eps) + _norm_logpdf(y[o], h.mu_e, h.s_e)
        out[o] = np.log(h.pi) + np.logaddexp(a, b)
    c = ~o
    if c.any():
        surv = ((1 - h.eps) * special.ndtr((grid[None, :] - y[c]) / h.sigma)
                + h.eps * special.ndtr((h.mu_e - y[c]) / h.s_e))
        out[c] = np.log((1 - h.pi) + h.pi * surv)
    return out


def customer_loglik(y, observed, cust_start: np.ndarray, grid, h: RenewalHyper) -> np.ndarray:
    """Summed log-likelihood per customer (rows sorted by customer, ``cust_start`` bounds)."""
    return np.add.reduceat(row_loglik(y, observed, grid, h), cust_start, axis=0)


def _log_prior(grid, h: RenewalHyper) -> np.ndarray:
    lp = _norm_logpdf(grid, h.mu, h.tau)
    return lp - special.logsumexp(lp)


def marginal_loglik(ll: np.ndarray, grid, h: RenewalHyper) -> float:
    """Sum over customers of ``log sum_g prior_g exp(ll_cg)``."""
    return float(special.logsumexp(ll + _log_prior(grid, h)[None, :], axis=1).sum())


def _unpack(x, centre: float) -> RenewalHyper:
    return RenewalHyper(mu=float(x[0]), tau=float(np.exp(x[1])), sigma=float(np.exp(x[2])),
                        pi=float(special.expit(x[3])), eps=float(special.expit(x[4])),
                        mu_e=float(x[5]), s_e=float(np.exp(x[6])))


@dataclass
class _Data:
    y: np.ndarray
    observed: np.ndarray
    start: np.ndarray  # first row of each customer
    customers: np.ndarray  # customer id per block


def _data(d: pd.DataFrame) -> _Data:
    cust = d.customer_id.to_numpy()
    start = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]]) if cust.size else \
        np.zeros(0, dtype=np.int64)
    return _Data(np.log(d.gap_days.to_numpy(float) / d.catalog_days.to_numpy(float)),
                 d.reordered.to_numpy(bool), start, cust[start])


def grid_for(centre: float, points: int = GRID_POINTS, half_width: float = GRID_HALF_WIDTH
             ) -> np.ndarray:
    """The ``theta`` grid around ``centre``."""
    return np.linspace(centre - half_width, centre + half_width, points)


def fit_renewal(d: pd.DataFrame, fit_customers: int = FIT_CUSTOMERS, seed: int = 0
                ) -> RenewalHyper:
    """Empirical-Bayes hyperparameters from intervals ``d`` sorted by customer.

    Fitted on at most ``fit_customers`` customers drawn at random (the marginal
    likelihood of a few thousand customers pins seven numbers), on a grid of step
    0.075; where the fitted ``sigma`` or ``tau`` is under twice that, the fit is
    finished on the posterior's finer grid.
    """
    data = _data(d)
    if data.observed.sum() < 10:
        raise ReplenishmentInputError(
            f"only {int(data.observed.sum())} re-orders of the same product by the same "
            "customer (orders.customer_id ordering an order_items.product_id again): at "
            "least 10 are needed to tell customers' paces apart")
    n_c = data.start.size
    if n_c > fit_customers:
        pick = np.sort(np.random.default_rng(seed).choice(n_c, fit_customers, replace=False))
        bounds = np.r_[data.start, data.y.size]
        rows = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in pick])
        sizes = bounds[pick + 1] - bounds[pick]
        data = _Data(data.y[rows], data.observed[rows], np.r_[0, np.cumsum(sizes)[:-1]],
                     data.customers[pick])
    yo = data.y[data.observed]
    centre = float(np.median(yo))

    def nll(x, grid):
        h = _unpack(x, centre)
        return -marginal_loglik(customer_loglik(data.y, data.observed, data.start, grid, h),
                                grid, h)

    x0 = np.array([centre, np.log(0.15), np.log(0.15), 0.0, special.logit(0.1),
                   centre - 1.0, np.log(1.0)])
    bounds = [(centre - 1.0, centre + 1.0), (np.log(0.01), np.log(1.0)),
              (np.log(0.02), np.log(1.0)), (-6, 6), (-7, 0), (centre - 4, centre + 1),
              (np.log(0.2), np.log(3.0))]
    coarse = grid_for(centre, FIT_GRID_POINTS)
    res = optimize.minimize(nll, x0, (coarse,), method="L-BFGS-B", bounds=bounds)
    h = _unpack(res.x, centre)
    step = coarse[1] - coarse[0]
    if min(h.sigma, h.tau) < 2 * step:  # too narrow for the coarse grid: finish on the fine
        res = optimize.minimize(nll, res.x, (grid_for(centre),), method="L-BFGS-B",
                                bounds=bounds)
        h = _unpack(res.x, centre)
    return h


@dataclass
class RenewalPosterior:
    """Each customer's posterior over their log pace, on the grid."""

    customers: np.ndarray
    grid: np.ndarray
    weights: np.ndarray  # (customers, grid), rows sum to 1
    hyper: RenewalHyper

    def quantile(self, q: float) -> np.ndarray:
        """Per customer, the ``q`` quantile of ``theta`` (a grid point).

        The first grid point where the posterior's CDF reaches ``q``: a step of 0.025 on
        the log scale at the default grid.
        """
        cdf = np.cumsum(self.weights, axis=1)
        idx = (cdf < q).sum(axis=1).clip(max=self.grid.size - 1)
        return self.grid[idx]

    def mean(self) -> np.ndarray:
        return self.weights @ self.grid


def renewal_posterior(d: pd.DataFrame, h: RenewalHyper) -> RenewalPosterior:
    """Every customer's exact grid posterior under hyperparameters ``h``."""
    data = _data(d)
    # the prior's +- 5 sd at least, so no customer's pace is cut at the grid's edge
    grid = grid_for(h.mu, half_width=max(GRID_HALF_WIDTH, 5 * h.tau))
    ll = customer_loglik(data.y, data.observed, data.start, grid, h) + _log_prior(grid, h)
    w = np.exp(ll - special.logsumexp(ll, axis=1, keepdims=True))
    return RenewalPosterior(data.customers, grid, w, h)


def need_cdf(log_ratio: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float
             ) -> np.ndarray:
    """P(the supply has run out by ``log_ratio``) per row, ``theta`` integrated out.

    ``sum_g w_g Phi((log_ratio - theta_g) / sigma)``; ``weights`` one row per row.
    """
    return (weights * stats.norm.cdf((log_ratio[:, None] - grid[None, :]) / sigma)).sum(1)
