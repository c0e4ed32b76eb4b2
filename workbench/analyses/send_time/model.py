"""Each customer's reading hour, weekday and weekend: a hierarchical circular model.

The data are the hours (0-24, the store's clock) at which a customer engaged with an
email: a human open or a click, one per message (:mod:`.features`).  Some of those
happen at the customer's habitual reading hour; others only follow the send (a
notification read at once), so they say when the email arrived, not when this reader
reads.  The model, per customer ``c`` and event ``i`` on a day of type ``w`` (weekday
or weekend):

    x_ci ~ π · WN(μ_cw, σ) + (1 − π) · U(0, 24)          (robust mixture)
    μ_c,weekday ~ WN(m_s, τ)                               (pooled toward segment s)
    μ_c,weekend − μ_c,weekday ~ WN(Δ, τ_Δ)                 (the weekend shift)
    m_s ~ WN(m, τ_s)                                       (segments toward the store)

with WN the wrapped normal on the 24-hour circle (Mardia & Jupp 2000, *Directional
Statistics*, sec. 3.5.7: ``WN(x; μ, σ) = Σ_k φ((x − μ + 24k) / σ) / σ``) and the
uniform component the "outlier" part of a contaminated model (Aitkin & Wilson 1980,
*Technometrics* 22:325, eq. 1).  The posterior of ``(μ_weekday, μ_weekend)`` is
computed exactly on a grid of :data:`GRID` points around the clock: the weekday
marginal is ``p(μ) ∝ prior(μ) L_wd(μ) Σ_ν K(ν − μ) L_we(ν)`` — a circular convolution
— and the weekend marginal the same the other way round, so nothing is sampled.
The hyperparameters ``(m, τ, Δ, τ_Δ, π, σ)`` are set by maximizing the marginal
likelihood over customers (empirical Bayes; Carlin & Louis 2000, *Bayes and Empirical
Bayes Methods for Data Analysis*, sec. 3.1), ``m_s`` by the same on each segment's
customers with ``τ_s`` from the segments' marginal likelihood (a parametric
empirical-Bayes plug-in: the intervals do not carry the hyperparameters' own
uncertainty, which is small next to a customer's with a store's thousands of events).

A customer with no events gets their segment's prior; with two events a posterior
between the prior and their hours; with many, their own hour.  Thompson sampling
(Thompson 1933, *Biometrika* 25:285; Russo et al. 2018, *A Tutorial on Thompson
Sampling*, alg. 1) draws each customer's hours from that posterior: the draws send
near the best hour where it is known and spread where it is not, so each cycle's
engagement narrows the next cycle's posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special

GRID = 96  # posterior grid points around the clock: every 15 minutes
HOURS = np.arange(GRID) * 24.0 / GRID
_WRAPS = np.arange(-2, 3) * 24.0


class SendTimeInputError(ValueError):
    """Events the send-time model cannot use; the message names the column."""


def wrapped_normal(d: np.ndarray, sd: float) -> np.ndarray:
    """Wrapped normal density at circular differences ``d`` (hours), per hour.

    ``Σ_k φ((d + 24k) / sd) / sd`` over five wraps of ``d`` brought into [-12, 12)
    (the terms left out are below 1e-16 of the sum for ``sd`` up to 8 hours; Mardia &
    Jupp 2000, eq. 3.5.62).
    """
    d = (np.asarray(d, dtype=float) + 12.0) % 24.0 - 12.0
    d = d[..., None] + _WRAPS
    return np.exp(-0.5 * (d / sd) ** 2).sum(-1) / (sd * np.sqrt(2 * np.pi))


def _kernel(shift: float, sd: float) -> np.ndarray:
    """``K[x, y] = WN(y − x − shift; sd)`` on the grid, rows summing to one."""
    k = wrapped_normal(HOURS[None, :] - HOURS[:, None] - shift, sd)
    return k / k.sum(1, keepdims=True)


def _prior(centre: np.ndarray, sd: float) -> np.ndarray:
    """Rows of ``WN(grid; centre, sd)`` normalized on the grid (one row per centre)."""
    u, back = np.unique(np.asarray(centre, float), return_inverse=True)
    p = wrapped_normal(HOURS[None, :] - u[:, None], sd)
    return (p / p.sum(1, keepdims=True))[back.ravel()]


def circular_mean(hours: np.ndarray, weights: np.ndarray | None = None, axis=-1):
    """Mean direction of hours on the 24-hour clock (Mardia & Jupp 2000, eq. 2.2.4)."""
    a = np.asarray(hours, float) * 2 * np.pi / 24
    w = np.ones_like(a) if weights is None else np.asarray(weights, float)
    return (np.arctan2((w * np.sin(a)).sum(axis), (w * np.cos(a)).sum(axis))
            * 24 / (2 * np.pi)) % 24


def hour_distance(a, b) -> np.ndarray:
    """Distance in hours between hours of the day, around the clock."""
    d = np.abs(np.asarray(a, float) - np.asarray(b, float)) % 24.0
    return np.minimum(d, 24.0 - d)


def inside_arc(x, lo, hi) -> np.ndarray:
    """Whether hours ``x`` lie on the arcs from ``lo`` to ``hi`` (which may wrap midnight)."""
    x, lo, hi = (np.asarray(v, float) for v in (x, lo, hi))
    # an arc cannot be empty (one grid cell at least), so equal ends are the whole clock
    return np.where(lo == hi, True,
                    np.where(lo <= hi, (x >= lo) & (x <= hi), (x >= lo) | (x <= hi)))


@dataclass
class _Events:
    """Events as counts per customer and :data:`BINS` hour bins, weekday and weekend."""

    customers: np.ndarray  # customer ids, one per row
    weekday: sparse.csr_matrix  # customers × BINS counts
    weekend: sparse.csr_matrix

    def subset(self, rows: np.ndarray) -> _Events:
        return _Events(self.customers[rows], self.weekday[rows], self.weekend[rows])


BINS = 288  # events are binned every 5 minutes (the likelihood is computed per bin)
BIN_HOURS = (np.arange(BINS) + 0.5) * 24.0 / BINS


def _events(events: pd.DataFrame) -> _Events:
    for col in ("customer_id", "hour", "weekend"):
        if col not in events.columns:
            raise SendTimeInputError(f"engagement events lack column {col!r} (need "
                                     "customer_id, hour, weekend)")
    h = events["hour"].to_numpy(float)
    bad = ~((h >= 0) & (h < 24))
    if bad.any():
        raise SendTimeInputError(f"engagement events: column 'hour' must be in [0, 24); "
                                 f"{int(bad.sum())} rows are not (first: row "
                                 f"{int(np.flatnonzero(bad)[0])})")
    cust, row = np.unique(events["customer_id"].to_numpy(), return_inverse=True)
    b = np.minimum((h / 24.0 * BINS).astype(int), BINS - 1)
    we = events["weekend"].to_numpy(bool)

    def counts(mask):
        return sparse.csr_matrix((np.ones(mask.sum()), (row[mask], b[mask])),
                                 shape=(cust.size, BINS))

    return _Events(cust, counts(~we), counts(we))


@dataclass
class Hyper:
    """The store-level hyperparameters (hours; ``pi`` the share of habitual events)."""

    mean: float  # m: the store's weekday reading hour
    sd: float  # τ: customer-to-customer spread of weekday hours
    weekend_shift: float  # Δ
    weekend_sd: float  # τ_Δ
    pi: float
    event_sd: float  # σ: spread of habitual events around the customer's hour

    @classmethod
    def from_vector(cls, v) -> Hyper:
        return cls(float(v[0]) % 24, float(np.exp(v[1])), float(v[2]), float(np.exp(v[3])),
                   float(special.expit(v[4])), float(np.exp(v[5])))

    def vector(self) -> np.ndarray:
        return np.array([self.mean, np.log(self.sd), self.weekend_shift, np.log(self.weekend_sd),
                         special.logit(self.pi), np.log(self.event_sd)])


def _log_lik(ev: _Events, h: Hyper) -> tuple[np.ndarray, np.ndarray]:
    """Per customer, the log likelihood of their weekday and weekend events on the grid."""
    dens = np.log(h.pi * wrapped_normal(BIN_HOURS[:, None] - HOURS[None, :], h.event_sd)
                  + (1 - h.pi) / 24.0)  # bins × grid
    return np.asarray(ev.weekday @ dens), np.asarray(ev.weekend @ dens)


def _posterior_terms(ll_wd, ll_we, prior, h: Hyper):
    """``A = prior·L_wd`` and ``B = L_we`` (scaled) with the log scale of each row."""
    a_max, b_max = ll_wd.max(1, keepdims=True), ll_we.max(1, keepdims=True)
    A = prior * np.exp(ll_wd - a_max)
    B = np.exp(ll_we - b_max)
    return A, B, a_max[:, 0] + b_max[:, 0]


def _marginal_loglik(ll_wd, ll_we, centre, h: Hyper) -> np.ndarray:
    """Per customer, log p(events | hyperparameters) (up to the grid's constant)."""
    A, B, scale = _posterior_terms(ll_wd, ll_we, _prior(centre, h.sd), h)
    C = B @ _kernel(h.weekend_shift, h.weekend_sd).T  # C[c, x] = Σ_y K[x, y] B[c, y]
    return np.log(np.maximum((A * C).sum(1), 1e-300)) + scale


def fit_hyper(ev: _Events, max_customers: int = 2500, seed: int = 0) -> Hyper:
    """Empirical-Bayes hyperparameters: maximize the marginal likelihood (L-BFGS-B, bounded).

    On at most ``max_customers`` customers with events (a random subset; the
    hyperparameters are store-level and need no more).
    """
    rng = np.random.default_rng(seed)
    n = ev.customers.size
    keep = np.sort(rng.choice(n, max_customers, replace=False)) if n > max_customers else \
        np.arange(n)
    sub = ev.subset(keep)
    n_wd = np.asarray(sub.weekday.sum(0)).ravel()
    n_we = np.asarray(sub.weekend.sum(0)).ravel()
    m_wd = circular_mean(BIN_HOURS, n_wd) if n_wd.sum() else 12.0
    m_we = circular_mean(BIN_HOURS, n_we) if n_we.sum() else m_wd
    start = Hyper(m_wd, 3.0, float((m_we - m_wd + 12) % 24 - 12), 1.5, 0.5, 1.5)

    lo = [-48, np.log(0.25), -12, np.log(0.1), -6, np.log(0.25)]
    hi = [72, np.log(12), 12, np.log(8), 6, np.log(8)]
    n_ev = max(float(sub.weekday.sum() + sub.weekend.sum()), 1.0)

    def neg(v):  # per event, so the optimizer's tolerances do not depend on the store's size
        h = Hyper.from_vector(v)
        ll_wd, ll_we = _log_lik(sub, h)
        return -_marginal_loglik(ll_wd, ll_we, np.full(sub.customers.size, h.mean),
                                 h).sum() / n_ev

    x0 = np.clip(start.vector(), lo, hi)
    res = optimize.minimize(neg, x0, method="L-BFGS-B", bounds=list(zip(lo, hi, strict=True)))
    v = res.x
    return Hyper.from_vector(v)


def _segment_means(ll_wd, ll_we, seg_code, n_seg, h: Hyper):
    """Each segment's weekday centre ``m_s`` (posterior mean) and ``τ_s`` (EB).

    ``ml[s, μ]``: the log marginal likelihood of segment ``s``'s customers if their
    centre were grid hour ``μ``; ``τ_s`` maximizes ``Σ_s log Σ_μ WN(μ; m, τ_s)
    exp(ml[s, μ])`` and ``m_s`` is the circular mean of that posterior.
    """
    K = _kernel(h.weekend_shift, h.weekend_sd)
    ml = np.zeros((n_seg, GRID))
    A0 = np.exp(ll_wd - ll_wd.max(1, keepdims=True))
    B = np.exp(ll_we - ll_we.max(1, keepdims=True))
    M = A0 * (B @ K.T)  # per customer and weekday hour x: the likelihood (scaled)
    W = _prior(HOURS, h.sd).T  # W[x, μ] = WN(x; μ, τ)
    per = np.log(np.maximum(M @ W, 1e-300))  # customers × centre
    for s in range(n_seg):
        ml[s] = per[seg_code == s].sum(0)
    ml -= ml.max(1, keepdims=True)

    def seg_post(tau_s):
        p = _prior(np.full(n_seg, h.mean), tau_s) * np.exp(ml)
        return p, np.log(p.sum(1)).sum()

    taus = np.exp(np.linspace(np.log(0.05), np.log(8.0), 40))
    best = taus[int(np.argmax([seg_post(t)[1] for t in taus]))]
    p, _ = seg_post(best)
    return circular_mean(HOURS, p / p.sum(1, keepdims=True)), float(best)


@dataclass
class SendTimePosterior:
    """Every customer's posterior over their weekday and weekend reading hours."""

    customers: np.ndarray
    weekday: np.ndarray  # customers × GRID, rows summing to one
    weekend: np.ndarray
    n_weekday: np.ndarray  # events per customer
    n_weekend: np.ndarray
    hyper: Hyper
    segment_sd: float
    segment_mean: pd.Series  # segment -> weekday centre

    #: the hours of the posterior's grid (the columns of ``weekday`` and ``weekend``)
    grid_hours = HOURS

    def summary_frame(self, level: float = 0.8) -> pd.DataFrame:
        """Per customer: the best hours (posterior modes) with ``level`` intervals.

        The interval is the shortest arc holding ``level`` of the posterior (its
        ends may wrap past midnight: low 22.5, high 1.0 is 22:30 to 01:00).
        """
        out = {"customer_id": self.customers, "engagement_events": self.n_weekday
               + self.n_weekend}
        for name, p in (("weekday", self.weekday), ("weekend", self.weekend)):
            best = HOURS[p.argmax(1)]
            lo, hi, width = _shortest_arc(p, level)
            out[f"best_send_hour_{name}"] = best
            out[f"best_send_hour_{name}_low"] = lo
            out[f"best_send_hour_{name}_high"] = hi
            out[f"send_hour_{name}_width"] = width
        return pd.DataFrame(out)

    def thompson(self, seed: int = 0) -> pd.DataFrame:
        """One Thompson draw of each customer's (weekday, weekend) hours.

        The weekday hour from its marginal, the weekend hour from its conditional
        given that draw (exact joint draws on the grid), each jittered uniformly
        within its 15-minute cell.
        """
        rng = np.random.default_rng(seed)
        wd = _draw_rows(self.weekday, rng)
        K = _kernel(self.hyper.weekend_shift, self.hyper.weekend_sd)
        cond = self._weekend_lik * K[wd]
        cond /= cond.sum(1, keepdims=True)
        we = _draw_rows(cond, rng)
        step = 24.0 / GRID  # grid points are cell centres: jitter within ±half a cell
        return pd.DataFrame({
            "customer_id": self.customers,
            "weekday_hour": (HOURS[wd] + (rng.random(wd.size) - 0.5) * step) % 24,
            "weekend_hour": (HOURS[we] + (rng.random(we.size) - 0.5) * step) % 24})

    _weekend_lik: np.ndarray | None = None


def _draw_rows(p: np.ndarray, rng) -> np.ndarray:
    """One grid index per row of probabilities ``p`` (inverse CDF)."""
    c = np.cumsum(p, axis=1)
    u = rng.random(p.shape[0])[:, None] * c[:, -1:]
    return np.minimum((c < u).sum(1), p.shape[1] - 1)


def _shortest_arc(p: np.ndarray, level: float):
    """Per row, the shortest arc of grid cells holding ``level`` of ``p``: (low, high, hours)."""
    n = p.shape[1]
    step = 24.0 / n
    c = np.concatenate([np.zeros((p.shape[0], 1)), np.cumsum(np.c_[p, p], axis=1)], axis=1)
    best_len = np.full(p.shape[0], n)
    best_start = np.zeros(p.shape[0], dtype=int)
    for length in range(1, n + 1):  # the shortest length whose best window holds enough
        mass = c[:, length:length + n] - c[:, :n]
        start = mass.argmax(1)
        ok = (mass[np.arange(p.shape[0]), start] >= level - 1e-12) & (best_len == n)
        best_len[ok], best_start[ok] = length, start[ok]
        if (best_len < n).all():
            break
    low = HOURS[best_start] - step / 2
    return low % 24, (low + best_len * step) % 24, best_len * step


def fit_send_times(events: pd.DataFrame, customers: pd.DataFrame | None = None,
                   segment: str | None = None, max_customers: int = 2500,
                   seed: int = 0) -> SendTimePosterior:
    """The posterior of every customer's reading hours.

    ``events``: ``customer_id, hour, weekend`` (one row per engagement, hours in the
    store's clock; :func:`~.features.engagement_events`).  ``customers``: every
    customer to score (``customer_id`` and the ``segment`` column); those without
    events get their segment's prior.  Without ``customers``, the customers with events.
    """
    ev = _events(events)
    if ev.customers.size == 0:
        raise SendTimeInputError("no engagement events: the send-time model needs human "
                                 "opens or clicks of emails (messages.opened_at, clicked_at)")
    h = fit_hyper(ev, max_customers=max_customers, seed=seed)
    ids = ev.customers if customers is None else np.union1d(
        customers["customer_id"].to_numpy(), ev.customers)
    ll_wd = np.zeros((ids.size, GRID))
    ll_we = np.zeros((ids.size, GRID))
    at = np.searchsorted(ids, ev.customers)
    a, b = _log_lik(ev, h)
    ll_wd[at], ll_we[at] = a, b
    n_wd = np.zeros(ids.size, int)
    n_we = np.zeros(ids.size, int)
    n_wd[at] = np.asarray(ev.weekday.sum(1)).ravel()
    n_we[at] = np.asarray(ev.weekend.sum(1)).ravel()
    # segment centres (pooled toward the store) or the store's centre
    seg_mean = pd.Series(dtype=float)
    seg_sd = 0.0
    centre = np.full(ids.size, h.mean)
    if segment is not None and customers is not None and segment in customers.columns:
        labels = (customers.set_index("customer_id")[segment].reindex(ids)
                  .astype("string").fillna("(none)").to_numpy())
        names, code = np.unique(labels, return_inverse=True)
        if names.size > 1:
            m, seg_sd = _segment_means(ll_wd, ll_we, code, names.size, h)
            seg_mean = pd.Series(m, index=names)
            centre = m[code]
    # τ was fitted around the store's centre, so it holds the segments' spread too: around
    # a segment's centre the customers spread sqrt(τ² − τ_s²) (kept at least half an hour)
    within = float(np.sqrt(max(h.sd**2 - seg_sd**2, 0.25)))
    prior = _prior(centre, within)
    A, B, _ = _posterior_terms(ll_wd, ll_we, prior, h)
    K = _kernel(h.weekend_shift, h.weekend_sd)
    wd = A * (B @ K.T)
    wd /= wd.sum(1, keepdims=True)
    we = B * (A @ K)
    we /= we.sum(1, keepdims=True)
    post = SendTimePosterior(ids, wd, we, n_wd, n_we, h, seg_sd, seg_mean)
    post._weekend_lik = B / B.max(1, keepdims=True)
    return post
