"""Simulators: RFM summaries drawn from the BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma.

Each draws the latent traits and the purchase process (numpy only), so the tests can
check the models against data whose truth is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _as_T(n, T, rng):
    T = np.asarray(T, dtype=float)
    return np.broadcast_to(T, (n,)).copy() if T.ndim == 0 else T.copy()


def _bg_sim(n, T, r, alpha, a, b, seed, k):
    rng = np.random.default_rng(seed)
    T = _as_T(n, T, rng)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    max_purchases = rng.geometric(p) - k  # purchases made before dropping out
    events = rng.poisson(lam * T)  # purchases that would happen in (0, T] if alive
    x = np.minimum(max_purchases, events)
    # the x-th of `events` uniform arrival times on (0, T]
    tx = np.where(x > 0, T * rng.beta(np.maximum(x, 1), np.maximum(events - x + 1, 1)), 0.0)
    alive = max_purchases > events
    return pd.DataFrame({"customer_id": np.arange(n), "frequency": x.astype(np.int64),
                         "recency": tx, "T": T, "alive": alive, "lambda_": lam, "p_": p})


def simulate_bg_nbd(n: int, T, r: float, alpha: float, a: float, b: float,
                    seed=None) -> pd.DataFrame:
    """RFM summary of ``n`` customers drawn from the BG/NBD process (FHL 2005a).

    ``T`` (scalar or one per customer) is each customer's observation time.  Extra
    columns: ``alive`` (at T), latent ``lambda_`` and ``p_``.
    """
    return _bg_sim(n, T, r, alpha, a, b, seed, 0)


def simulate_mbg_nbd(n: int, T, r: float, alpha: float, a: float, b: float,
                     seed=None) -> pd.DataFrame:
    """As :func:`simulate_bg_nbd` for the MBG/NBD (drop-out possible at the first purchase)."""
    return _bg_sim(n, T, r, alpha, a, b, seed, 1)


def simulate_pareto_nbd(n: int, T, r: float, alpha: float, s: float, beta: float,
                        seed=None) -> pd.DataFrame:
    """RFM summary drawn from the Pareto/NBD process (SMC 1987).

    Extra columns ``alive``, ``lambda_``, ``mu_``.
    """
    rng = np.random.default_rng(seed)
    T = _as_T(n, T, rng)
    lam = rng.gamma(r, 1 / alpha, n)
    mu = rng.gamma(s, 1 / beta, n)
    death = rng.exponential(1 / mu)
    end = np.minimum(death, T)
    x = rng.poisson(lam * end)
    tx = np.where(x > 0, end * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    return pd.DataFrame({"customer_id": np.arange(n), "frequency": x.astype(np.int64),
                         "recency": tx, "T": T, "alive": death > T, "lambda_": lam, "mu_": mu})


def simulate_gamma_gamma(rfm: pd.DataFrame, p: float, q: float, gamma: float,
                         seed=None) -> pd.DataFrame:
    """Add ``monetary_value`` drawn from the Gamma-Gamma model to an RFM summary.

    The mean of ``frequency`` Gamma(p, nu) spends, nu ~ Gamma(q, gamma); NaN for
    customers with no repeat purchase.  Extra column ``nu_``.
    """
    rng = np.random.default_rng(seed)
    x = rfm["frequency"].to_numpy(dtype=float)
    nu = rng.gamma(q, 1 / gamma, len(x))
    tot = rng.gamma(np.maximum(p * x, 1e-300), 1 / nu)
    return rfm.assign(monetary_value=np.where(x > 0, tot / np.maximum(x, 1), np.nan), nu_=nu)
