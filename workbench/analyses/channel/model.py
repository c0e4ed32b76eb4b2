"""Each customer's engagement on email and on SMS: a bivariate Poisson-lognormal model.

Per customer ``c`` and channel ``ch``, ``k`` clicks in ``n`` delivered messages:

    k_c,ch ~ Poisson(n_c,ch · q_ch · exp(s_ch z_c,ch))
    (z_c,email, z_c,sms) ~ N(0, [[1, ρ], [ρ, 1]])

``q_ch`` is the store's clicks per delivered message on the channel, ``exp(s_ch z)``
the customer's multiplier of it (lognormal across customers; the Poisson-lognormal of
Aitchison & Ho 1989, *Biometrika* 76:643, eq. 2.1, with a bivariate normal mixing
distribution, their sec. 3), and ``ρ`` how far engaging on one channel goes with
engaging on the other.  A customer opted in to one channel only has the other's
likelihood flat.  The hyperparameters are set by maximizing the marginal likelihood
(empirical Bayes; Carlin & Louis 2000, sec. 3.1), the integral over ``z`` computed on a
:data:`GRID` × :data:`GRID` grid of normal quantiles; each customer's posterior is the
same grid reweighted by their likelihood — exact up to the grid, no sampling — so a
customer with three SMS and no click is pulled toward the store, not called
"unresponsive" from a raw ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from ...vocab import CHANNELS

GRID = 41
Z = np.linspace(-4.0, 4.0, GRID)


class ChannelInputError(ValueError):
    """Counts the engagement model cannot use; the message names the column."""


@dataclass
class EngagementHyper:
    q: dict[str, float]  # clicks per delivered message, per channel (the store's median)
    s: dict[str, float]  # sd of the log multiplier across customers, per channel
    rho: float


def _prior_weights(rho: float) -> np.ndarray:
    """``P[i, j]``: bivariate normal mass at grid point ``(Z_i, Z_j)``, summing to one."""
    cov = np.array([[1.0, rho], [rho, 1.0]])
    zz = np.stack(np.meshgrid(Z, Z, indexing="ij"), -1)
    w = stats.multivariate_normal(np.zeros(2), cov).pdf(zz)
    return w / w.sum()


def _log_pois(k: np.ndarray, n: np.ndarray, q: float, s: float) -> np.ndarray:
    """``log Poisson(k; n q exp(s Z_g))`` per row and grid point (0 where ``n`` is 0)."""
    mu = n[:, None] * q * np.exp(s * Z[None, :])
    return np.where(n[:, None] > 0, k[:, None] * np.log(np.maximum(mu, 1e-300)) - mu
                    - special.gammaln(k[:, None] + 1), 0.0)


def _unpack(v) -> EngagementHyper:
    return EngagementHyper({"email": float(np.exp(v[0])), "sms": float(np.exp(v[2]))},
                           {"email": float(np.exp(v[1])), "sms": float(np.exp(v[3]))},
                           float(np.tanh(v[4])))


def _marginal(counts: pd.DataFrame, h: EngagementHyper, weight: np.ndarray) -> float:
    le = _log_pois(counts.k_email.to_numpy(), counts.n_email.to_numpy(), h.q["email"],
                   h.s["email"])
    ls = _log_pois(counts.k_sms.to_numpy(), counts.n_sms.to_numpy(), h.q["sms"], h.s["sms"])
    me, ms = le.max(1, keepdims=True), ls.max(1, keepdims=True)
    P = _prior_weights(h.rho)
    m = ((np.exp(le - me) @ P) * np.exp(ls - ms)).sum(1)
    return float((weight * (np.log(np.maximum(m, 1e-300)) + me[:, 0] + ms[:, 0])).sum())


def fit_engagement(counts: pd.DataFrame) -> EngagementHyper:
    """Empirical-Bayes hyperparameters from ``customer_id, n_email, k_email, n_sms, k_sms``.

    Customers with the same counts share one likelihood row, so the fit costs the
    number of distinct count patterns, not of customers.
    """
    need = ["n_email", "k_email", "n_sms", "k_sms"]
    lacking = [c for c in need if c not in counts.columns]
    if lacking:
        raise ChannelInputError(f"engagement counts lack column(s) {lacking}")
    bad = (counts[["k_email", "k_sms"]].to_numpy() > counts[["n_email", "n_sms"]].to_numpy())
    if bad.any():
        rows = np.flatnonzero(bad.any(1))
        raise ChannelInputError(f"engagement counts: clicks exceed delivered messages in "
                                f"{rows.size} rows (first: row {int(rows[0])})")
    pat = counts.groupby(need).size().rename("w").reset_index()
    rates = {}
    for ch in CHANNELS:
        n, k = counts[f"n_{ch}"].sum(), counts[f"k_{ch}"].sum()
        if n == 0:
            raise ChannelInputError(f"no delivered {ch} messages: the channel model compares "
                                    "email with SMS and needs both (messages.channel)")
        rates[ch] = max(k / n, 1e-4)
    x0 = np.array([np.log(rates["email"]), np.log(0.7), np.log(rates["sms"]), np.log(0.7),
                   0.0])
    w = pat.w.to_numpy(float)
    total = w.sum()
    res = optimize.minimize(lambda v: -_marginal(pat, _unpack(v), w) / total, x0,
                            method="L-BFGS-B",
                            bounds=[(-12, 0), (np.log(0.05), np.log(3)), (-12, 0),
                                    (np.log(0.05), np.log(3)), (-2.5, 2.5)])
    return _unpack(res.x)


def engagement_posterior(counts: pd.DataFrame, h: EngagementHyper, level: float = 0.8
                         ) -> pd.DataFrame:
    """Per customer: each channel's engagement multiplier (posterior mean, ``level`` interval).

    ``email_engagement`` = E[exp(s z_email)] (1: the store's typical customer; 2: twice
    their clicks per message), its interval from the posterior quantiles of ``z``, the
    same for SMS, and ``p_sms_relatively_higher`` = P(s_sms z_sms > s_email z_email):
    how sure we are the customer engages relatively more on SMS than on email.
    """
    need = ["n_email", "k_email", "n_sms", "k_sms"]
    pat, back = np.unique(counts[need].to_numpy(np.int64), axis=0, return_inverse=True)
    back = back.ravel()  # customers with the same counts share one posterior
    pat = pd.DataFrame(pat, columns=need)
    le = _log_pois(pat.k_email.to_numpy(), pat.n_email.to_numpy(), h.q["email"],
                   h.s["email"])
    ls = _log_pois(pat.k_sms.to_numpy(), pat.n_sms.to_numpy(), h.q["sms"], h.s["sms"])
    P = _prior_weights(h.rho)
    post = (np.exp(le - le.max(1, keepdims=True))[:, :, None] * P[None]
            * np.exp(ls - ls.max(1, keepdims=True))[:, None, :])
    post /= post.sum((1, 2), keepdims=True)
    out = {"customer_id": counts.customer_id.to_numpy()}
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2
    for ch, marg in (("email", post.sum(2)), ("sms", post.sum(1))):
        mult = np.exp(h.s[ch] * Z)
        out[f"{ch}_engagement"] = (marg @ mult)[back]
        c = np.cumsum(marg, 1)
        out[f"{ch}_engagement_low"] = mult[np.minimum((c < lo_q).sum(1), GRID - 1)][back]
        out[f"{ch}_engagement_high"] = mult[np.minimum((c < hi_q).sum(1), GRID - 1)][back]
        out[f"{ch}_messages"] = counts[f"n_{ch}"].to_numpy()
        out[f"{ch}_clicks"] = counts[f"k_{ch}"].to_numpy()
    higher = h.s["sms"] * Z[None, :] > h.s["email"] * Z[:, None]  # [email i, sms j]
    out["p_sms_relatively_higher"] = (post * higher[None]).sum((1, 2))[back]
    return pd.DataFrame(out)
