"""Customer value: :func:`customer_lifetime_value` and the :func:`clv_scorecard`.

Combines a fitted purchase model with a fitted Gamma-Gamma model; owns the intervals on
predictions (delta method or posterior draws) and the customer-level predictive range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from ..results import Result
from ..threads import one_blas_thread
from .base import (
    CLVInputError,
    _days_per_unit,
    _duration,
    _unique_rows,
    check_rfm,
)
from .gamma_gamma import GammaGammaModel
from .transactions import _TransactionModel


def _check_value_args(horizon, period, discount_rate, margin, returns_rate):
    _duration("horizon", horizon, allow_zero=False)
    _duration("period", period, allow_zero=False)
    if not (np.isfinite(discount_rate) and discount_rate > -1):
        raise CLVInputError(f"discount_rate is a rate per period (0.01 = 1%), > -1; got "
                            f"{discount_rate!r}")
    if not 0 <= margin <= 1:
        raise CLVInputError(f"margin is a fraction of net revenue in [0, 1], got {margin!r}")
    if not 0 <= returns_rate < 1:
        raise CLVInputError(f"returns_rate is the returned fraction of revenue in [0, 1), got "
                            f"{returns_rate!r}")


def _discounted_purchases(model, theta, x, tx, T, horizon, period, discount_rate):
    """sum_i [E Y(t_i) - E Y(t_{i-1})] / (1 + d)^i over periods of length ``period``."""
    lpa, *post = model._posterior(theta, x, tx, T)
    n = int(np.ceil(horizon / period - 1e-9))
    edges = np.minimum(np.arange(n + 1) * period, horizon)
    cum = np.stack([model._mean(*post, e) for e in edges], axis=-1)
    disc = (1 + discount_rate) ** -np.arange(1, n + 1)
    return np.exp(lpa) * (np.diff(cum, axis=-1) @ disc), np.exp(lpa) * cum[..., -1], lpa


def customer_lifetime_value(transactions: _TransactionModel, spend: GammaGammaModel,
                            rfm: pd.DataFrame, horizon: float, *, period: float = 1.0,
                            discount_rate: float = 0.0, margin: float = 1.0,
                            returns_rate: float = 0.0) -> np.ndarray:
    """Discounted expected margin over ``horizon`` per customer (a DERT-like sum).

    ``CLV = margin (1 - returns_rate) E[M | hist] sum_{i=1..n} E[purchases in period i |
    hist] / (1 + discount_rate)^i`` (cf. FHL 2005b, lifetimes' ``customer_lifetime_value``),
    with periods of length ``period`` and ``horizon`` both in the transaction model's time
    unit, ``discount_rate`` per period, ``margin`` the gross margin on net revenue and
    ``returns_rate`` the share of revenue returned (pass 0 when ``monetary_value`` is
    already net of returns).  E[M | hist] is the Gamma-Gamma conditional expected spend.
    """
    transactions._check_fitted()
    spend._check_fitted()
    _check_value_args(horizon, period, discount_rate, margin, returns_rate)
    d = check_rfm(rfm, monetary=True)
    dp, _, _ = _discounted_purchases(transactions, transactions._theta(), d["x"], d["tx"],
                                     d["T"], horizon, period, discount_rate)
    return margin * (1 - returns_rate) * spend._spend(spend._theta(), d["x"], d["m"]) * dp


def _delta_interval(fn, model, level, scale):
    """(low, high) of fn(theta) from the model's parameter uncertainty.

    MLE: delta method on the ``scale`` ("log" or "logit") with the gradient of fn in
    log-parameter space by central differences and ``cov_log_``.  Bayesian: quantiles of
    fn over posterior draws.
    """
    lo_q, hi_q = 0.5 - level / 2, 0.5 + level / 2
    draws = getattr(model, "draws_", None)
    if draws is not None:
        if len(draws) > 200:  # 200 evenly spaced posterior draws are plenty for 80-95%
            draws = draws[np.linspace(0, len(draws) - 1, 200).astype(int)]
        vals = np.stack([fn(tuple(th)) for th in draws])
        return np.quantile(vals, lo_q, axis=0), np.quantile(vals, hi_q, axis=0)
    fwd, back = (np.log, np.exp) if scale == "log" else (logit, expit)
    lp = model.log_params_
    with np.errstate(divide="ignore"):
        center = fwd(fn(tuple(np.exp(lp))))
    h = 1e-5
    grads = []
    for i in range(len(lp)):
        e = np.zeros(len(lp))
        e[i] = h
        with np.errstate(divide="ignore", invalid="ignore"):
            grads.append((fwd(fn(tuple(np.exp(lp + e)))) - fwd(fn(tuple(np.exp(lp - e)))))
                         / (2 * h))
    G = np.stack(grads, axis=-1)
    sd = np.sqrt(np.einsum("...i,ij,...j->...", G, model.cov_log_, G))
    z = stats.norm.ppf(hi_q)
    value = fn(tuple(np.exp(lp)))
    lo, hi = back(center - z * sd), back(center + z * sd)
    # a value on the edge of its scale (P(alive) = 1 with no repeat purchase, BG/NBD) has
    # no parameter uncertainty
    edge = ~np.isfinite(center)
    return np.where(edge, value, np.minimum(lo, value)), np.where(edge, value,
                                                                   np.maximum(hi, value))


def purchases_predictive_range(model, rfm: pd.DataFrame, t: float, level: float = 0.9
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Per customer, the central ``level`` predictive interval of purchases in (T, T + t].

    The quantiles of the count's distribution given the history: the mixture of "dead"
    (no purchase, with probability 1 - P(alive)) and the alive customer's count
    distribution (Fader, Hardie & Lee 2005a, eq. 8 for the BG/NBD's P(X(t) = x); the
    model's own count pmf for the others).  ``t`` in the model's time unit.
    """
    model._check_fitted()
    x, tx, T = model._xs(rfm)
    return _predictive_range(model, model._theta(), x, tx, T, float(t), level)


def _predictive_range(model, theta, x, tx, T, t, level, max_n=5000):
    """Customer-level predictive interval of the number of purchases in (T, T + t]."""
    lo, hi, _, _ = _count_distribution(model, theta, x, tx, T, t, level, max_n)
    return lo, hi


def _count_distribution(model, theta, x, tx, T, t, level, max_n=5000, tail=1e-3):
    """Predictive quantiles and first two moments of purchases in (T, T + t].

    The count given the history is the mixture of "dead" (0 with probability
    1 - P(alive)) and the alive customer's count pmf (FHL 2005a, eq. 8 for the BG/NBD):
    returns the ``level`` interval's bounds and E[N], E[N^2].  The pmf is summed until
    the interval is found and less than ``tail`` of the alive mass is left; E[N] is the
    model's closed form, and the tail's part of E[N^2] the least it can be given its
    mass tau and its part d of the mean, d^2 / tau (Cauchy-Schwarz), so the moments cost
    no more terms than the interval.
    """
    lpa, *post = model._posterior(theta, x, tx, T)
    pa = np.exp(lpa)
    lo_q, hi_q = 0.5 - level / 2, 0.5 + level / 2
    lo = np.full(len(x), -1.0)
    hi = np.full(len(x), -1.0)
    mass, m1, m2 = (np.zeros(len(x)) for _ in range(3))
    for n, pmf in enumerate(model._pmf_sequence(post, t, max_n)):
        mass, m1, m2 = mass + pmf, m1 + n * pmf, m2 + n * n * pmf
        cdf = 1 - pa + pa * mass  # the dead buy nothing
        lo = np.where((lo < 0) & (cdf >= lo_q - 1e-12), n, lo)
        hi = np.where((hi < 0) & (cdf >= hi_q - 1e-12), n, hi)
        if np.all(hi >= 0) and np.all(1 - mass < tail):
            break
    mean = np.asarray(model._mean(*post, t), dtype=float) * np.ones(len(x))
    left, short = np.maximum(1 - mass, 0.0), np.maximum(mean - m1, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        m2 = m2 + np.where(left > 0, short ** 2 / left, 0.0)
    return lo, np.where(hi < 0, np.inf, hi), pa * mean, pa * m2


def _spend_inverse_moments(spend: GammaGammaModel, theta, x, m):
    """E[1/nu] and E[1/nu^2] under the Gamma-Gamma posterior of a customer's nu.

    nu | x, m_x ~ Gamma(shape p x + q, rate gamma + x m_x) (Fader, Hardie & Lee 2005b,
    eq. 4), so E[nu^-1] = rate / (shape - 1) and E[nu^-2] = rate^2 / ((shape - 1)(shape
    - 2)); infinite where the shape is not above 2.
    """
    p, q, g = theta
    mm = np.where(x > 0, m, 0.0)
    shape, rate = p * x + q, g + x * mm
    with np.errstate(divide="ignore", invalid="ignore"):
        inv1 = np.where(shape > 1, rate / (shape - 1), np.inf)
        inv2 = np.where(shape > 2, rate ** 2 / ((shape - 1) * (shape - 2)), np.inf)
    return inv1, inv2


def _value_variance(en, en2, p, inv1, inv2):
    """Var of S = z_1 + ... + z_N, the spend over N future purchases.

    z_k | nu ~ Gamma(p, rate nu) independently, N independent of nu given the history
    (the BG/NBD-Gamma-Gamma independence of FHL 2005b): E[S] = p E[N] E[1/nu] and
    E[S^2] = p E[N] E[1/nu^2] + p^2 E[N^2] E[1/nu^2].
    """
    with np.errstate(invalid="ignore"):
        return p * en * inv2 + p * p * en2 * inv2 - (p * en * inv1) ** 2


@dataclass
class CLVScorecard(Result):
    """Per-customer value, churn and timing, with the settings that produced them."""

    table: pd.DataFrame
    settings: dict
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        t, s = self.table, self.settings
        unit = s["time_unit"]
        tot = t.predicted_clv.sum()
        top = t.predicted_clv.sort_values(ascending=False)
        k = max(1, int(np.ceil(0.1 * len(t))))
        share = top.iloc[:k].sum() / tot if tot > 0 else np.nan
        lines = [
            f"{len(t):,} customers; predicted value over the next {s['horizon']:g} {unit} "
            f"(margin {s['margin']:.0%}, returns {s['returns_rate']:.0%}, discount "
            f"{s['discount_rate']:.2%} per {s['period']:g} {unit}): {tot:,.2f} in total, "
            f"{t.predicted_clv.mean():,.2f} per customer.",
            f"The top 10% of customers hold {share:.0%} of it.",
            f"{(t.churn_probability > 0.5).mean():.0%} of customers have probably churned "
            f"(P(churned) > 50%); {t.predicted_number_of_orders.sum():,.0f} orders expected.",
        ]
        return "\n".join(lines + self.notes)

    def _repr_html_(self) -> str:
        body = "".join(f"<p>{line}</p>" for line in self.summary().splitlines())
        return body + self.table.head(20).to_html(float_format="%.3g")

    def chart(self, max_points: int = 5000):
        """Altair: P(churned) vs predicted CLV per customer (a sample of ``max_points``)."""
        import altair as alt

        t = self.table
        if len(t) > max_points:
            t = t.sample(max_points, random_state=0)
        t = t[["customer_id", "churn_probability", "predicted_clv", "frequency",
               "historic_clv"]].assign(customer_id=lambda d: d.customer_id.astype(str))
        return alt.Chart(t).mark_circle(opacity=0.5).encode(
            x=alt.X("churn_probability:Q", title="P(churned)", axis=alt.Axis(format="%")),
            y=alt.Y("predicted_clv:Q", title=f"predicted CLV, next "
                    f"{self.settings['horizon']:g} {self.settings['time_unit']}"),
            color=alt.Color("frequency:Q", title="repeat purchases"),
            tooltip=["customer_id", "frequency", "historic_clv", "predicted_clv",
                     "churn_probability"],
        ).properties(width=420, height=280, title="Who is worth keeping: value vs churn risk")


def clv_scorecard(transactions: _TransactionModel, spend: GammaGammaModel, rfm: pd.DataFrame,
                  *, calibration_end, horizon: float, period: float = 1.0,
                  discount_rate: float = 0.0, margin: float = 1.0, returns_rate: float = 0.0,
                  interval: float = 0.8) -> CLVScorecard:
    """One row per customer: value, orders, churn and next-order date, with intervals.

    ``calibration_end`` (a date) is where every customer's ``T`` ends: waiting times are
    added to it with the transaction model's ``time_unit``.  ``horizon`` and ``period``
    are in that unit, ``discount_rate`` is per period.  Columns:

    * ``historic_clv``: margin × (1 − returns_rate) × past revenue — the ``historic_revenue``
      column when the summary has one (all orders), else ``frequency × monetary_value``
      (the repeat orders: the RFM summary does not carry the first order's value);
    * ``predicted_number_of_orders`` in (T, T + horizon], ``predicted_clv`` (see
      :func:`customer_lifetime_value`), ``total_clv`` = historic + predicted;
    * ``average_days_between_orders``: recency / frequency in days (NaN without a repeat
      order); ``average_order_value``: Gamma-Gamma conditional expected spend;
    * ``churn_probability`` = 1 − P(alive now);
    * ``p_no_next_order`` and ``expected_date_of_next_order``: the median waiting time to
      the next order *given that there is one*, as a date, with
      ``next_order_date_low``/``_high`` its ``interval`` quantiles;
    * ``*_low`` / ``*_high``: ``interval`` bounds from the parameter uncertainty (delta
      method for MLE fits, posterior draws for Bayesian fits); ``orders_predictive_low`` /
      ``_high``: the customer-level predictive interval of the count itself;
    * ``predicted_clv_sd``: the predictive standard deviation of the value the customer
      will bring (purchases and spend both random, at the fitted parameters; see
      :func:`_value_variance`), for intervals on what a group of customers will bring.
    """
    transactions._check_fitted()
    spend._check_fitted()
    _check_value_args(horizon, period, discount_rate, margin, returns_rate)
    if not 0 < interval < 1:
        raise CLVInputError(f"interval must lie in (0, 1), got {interval!r}")
    try:
        end = pd.Timestamp(calibration_end)
    except (TypeError, ValueError) as e:
        raise CLVInputError(f"calibration_end must be a date, got {calibration_end!r}") from e
    if pd.isna(end):
        raise CLVInputError("calibration_end must be a date, got a missing value")
    with one_blas_thread():
        return _scorecard(transactions, spend, rfm, end, horizon, period, discount_rate,
                          margin, returns_rate, interval)


def _scorecard(transactions, spend, rfm, end, horizon, period, discount_rate, margin,
               returns_rate, interval):
    d = check_rfm(rfm, monetary=True)
    dpu = _days_per_unit(transactions.time_unit)
    x, tx, T, m = d["x"], d["tx"], d["T"], d["m"]
    net = margin * (1 - returns_rate)
    (ux, utx, uT), inv = _unique_rows(x, tx, T)

    def orders(theta):  # [discounted, undiscounted] expected orders in the horizon
        dp, total, _ = _discounted_purchases(transactions, theta, ux, utx, uT, horizon, period,
                                             discount_rate)
        return np.stack([dp, total])

    def alive(theta):
        return np.exp(transactions._posterior(theta, ux, utx, uT)[0])

    def aov(theta):
        return spend._spend(theta, x, m)

    th_t, th_s = transactions._theta(), spend._theta()
    (dorders, n_orders) = orders(th_t)
    (do_lo, n_lo), (do_hi, n_hi) = _delta_interval(orders, transactions, interval, "log")
    n_orders, n_lo, n_hi = n_orders[inv], n_lo[inv], n_hi[inv]
    spend_hat = aov(th_s)
    s_lo, s_hi = _delta_interval(aov, spend, interval, "log")
    p_alive = alive(th_t)
    a_lo, a_hi = _delta_interval(alive, transactions, interval, "logit")
    clv = net * spend_hat * dorders[inv]
    # the two fits are independent: on the log scale the half-widths add in quadrature
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.hypot(np.log(do_hi / do_lo)[inv], np.log(s_hi / s_lo)) / 2
    clv_lo, clv_hi = clv * np.exp(-half), clv * np.exp(half)
    if "historic_revenue" in rfm.columns:
        hist = net * rfm["historic_revenue"].to_numpy(dtype=float)
    else:
        hist = net * x * np.nan_to_num(m)
    nxt = transactions.time_to_next_purchase(rfm, (0.5 - interval / 2, 0.5, 0.5 + interval / 2))
    qcols = [c for c in nxt.columns if c.startswith("q")]

    def to_date(u):
        days = np.asarray(u, dtype=float) * dpu
        days = np.where(np.isfinite(days) & (days < 1e6), days, np.nan)  # ~2,700 years: none
        return end + pd.to_timedelta(days, unit="D")

    olo, ohi, en, en2 = _count_distribution(transactions, th_t, ux, utx, uT, horizon,
                                            interval)
    inv1, inv2 = _spend_inverse_moments(spend, th_s, x, m)
    # the predictive sd of the value itself (what the customer will bring, not its
    # expectation): undiscounted, then scaled by the discounting of the expected orders
    with np.errstate(divide="ignore", invalid="ignore"):
        disc_share = np.where(n_orders > 0, dorders[inv] / n_orders, 1.0)
    value_sd = net * disc_share * np.sqrt(np.maximum(
        _value_variance(en[inv], en2[inv], th_s[0], inv1, inv2), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(x > 0, tx / np.where(x > 0, x, 1) * dpu, np.nan)
    table = pd.DataFrame({
        "customer_id": rfm["customer_id"].to_numpy(),
        "frequency": x, "recency": tx, "T": T,
        "historic_clv": hist,
        "predicted_number_of_orders": n_orders,
        "predicted_number_of_orders_low": n_lo, "predicted_number_of_orders_high": n_hi,
        "orders_predictive_low": olo[inv], "orders_predictive_high": ohi[inv],
        "average_days_between_orders": gap,
        "average_order_value": spend_hat,
        "average_order_value_low": s_lo, "average_order_value_high": s_hi,
        "churn_probability": 1 - p_alive[inv],
        "churn_probability_low": 1 - a_hi[inv], "churn_probability_high": 1 - a_lo[inv],
        "predicted_clv": clv, "predicted_clv_low": clv_lo, "predicted_clv_high": clv_hi,
        "predicted_clv_sd": value_sd,
        "total_clv": hist + clv,
        "p_no_next_order": nxt["p_no_next_purchase"].to_numpy(),
        "expected_date_of_next_order": to_date(nxt[qcols[1]].to_numpy()),
        "next_order_date_low": to_date(nxt[qcols[0]].to_numpy()),
        "next_order_date_high": to_date(nxt[qcols[2]].to_numpy()),
    })
    settings = {"horizon": horizon, "period": period, "discount_rate": discount_rate,
                "margin": margin, "returns_rate": returns_rate, "interval": interval,
                "calibration_end": end, "time_unit": transactions.time_unit,
                "transactions": transactions.NAME, "spend": spend.NAME}
    notes = []
    if not (transactions.converged_ and spend.converged_):
        notes.append("WARNING: a model did not converge; treat these numbers with care.")
    return CLVScorecard(table=table, settings=settings, notes=notes)
