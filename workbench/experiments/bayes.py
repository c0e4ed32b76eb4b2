"""Bayesian A/B/n summaries from conjugate posteriors, computed by quadrature.

Binary outcomes: ``Beta(a0 + successes, b0 + failures)`` posteriors (uniform
prior by default).  Continuous outcomes: the normal posterior of each arm's
mean, ``N(mean, sd^2 / n)``, which is the conjugate posterior under a flat
prior with the variance plugged in (Gelman et al., *Bayesian Data Analysis*,
3rd ed., sec. 3.2).

Every probability is an exact one-dimensional integral evaluated on a fine
grid (no Monte Carlo), so results are deterministic:

* ``P(arm i is best) = ∫ f_i(x) Π_{j≠i} F_j(x) dx``;
* ``P(arm i beats control) = ∫ f_i(x) F_c(x) dx``;
* expected loss of choosing ``i`` over ``j``, ``E[max(θ_j - θ_i, 0)]``
  = ``∫ f_j(x) [x F_i(x) - ∫_0^x y f_i(y) dy] dx``; for a Beta posterior the
  inner partial mean is ``μ_i · I_x(a_i + 1, b_i)`` (regularized incomplete
  beta); for normals the closed form ``m Φ(m/s) + s φ(m/s)`` is used.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import betainc

GRID = 4001


def _best_and_loss(x, pdf, cdf, shortfall) -> tuple[np.ndarray, np.ndarray]:
    """P(best) and expected loss per arm on grid ``x``.

    ``shortfall(i, y)`` is ``E[(y - θ_i)^+]``, the loss of arm ``i`` if the best
    other arm's value were ``y``; the loss integrates it against the density of
    the best of the others, ``d/dy Π_{j≠i} F_j(y)``.
    """
    k = len(pdf)
    best = np.array([np.trapezoid(pdf[i] * np.prod(np.delete(cdf, i, axis=0), axis=0), x)
                     for i in range(k)])
    loss = np.zeros(k)
    for i in range(k):
        pdf_max = np.gradient(np.prod(np.delete(cdf, i, axis=0), axis=0), x)
        loss[i] = np.trapezoid(pdf_max * shortfall(i, x), x)
    return best / best.sum(), np.maximum(loss, 0.0)


def _beta_grid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo = stats.beta.ppf(1e-9, a, b).min()
    hi = stats.beta.ppf(1 - 1e-9, a, b).max()
    return np.linspace(max(lo, 0.0), min(hi, 1.0), GRID)


def beta_summary(successes, n, prior=(1.0, 1.0), control: int = 0) -> dict[str, np.ndarray]:
    """Chance to beat control, chance to be best and expected loss per arm (Beta posteriors).

    Parameters
    ----------
    successes, n
        Per-arm counts.
    prior
        ``(a0, b0)`` of the Beta prior.
    control
        Index of the control arm.

    Returns
    -------
    dict with ``prob_beat_control``, ``prob_best``, ``expected_loss`` (vs the
    best other arm: the rate given up by choosing this arm), ``posterior_a`` and
    ``posterior_b``.

    Examples
    --------
    >>> r = beta_summary([10, 20], [100, 100])
    >>> round(float(r["prob_beat_control"][1]), 3)
    0.975
    """
    s = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    a = prior[0] + s
    b = prior[1] + n - s
    x = _beta_grid(a, b)
    pdf = np.array([stats.beta.pdf(x, ai, bi) for ai, bi in zip(a, b, strict=True)])
    cdf = np.array([stats.beta.cdf(x, ai, bi) for ai, bi in zip(a, b, strict=True)])
    beat = np.array([np.trapezoid(pdf[i] * cdf[control], x) if i != control else np.nan
                     for i in range(len(a))])
    mean = a / (a + b)
    # E[(y - θ_i)^+] = y F_i(y) - ∫_0^y t f_i(t) dt = y F_i(y) - μ_i I_y(a_i + 1, b_i)
    best, loss = _best_and_loss(
        x, pdf, cdf, lambda i, y: y * cdf[i] - mean[i] * betainc(a[i] + 1, b[i], y))
    return {"prob_beat_control": beat, "prob_best": best, "expected_loss": loss,
            "posterior_a": a, "posterior_b": b}


def normal_summary(mean, se, control: int = 0) -> dict[str, np.ndarray]:
    """The same summaries for normal posteriors of arm means ``N(mean, se^2)``.

    Examples
    --------
    >>> r = normal_summary([1.0, 1.1], [0.05, 0.05])
    >>> round(float(r["prob_beat_control"][1]), 3)
    0.921
    """
    m = np.asarray(mean, dtype=float)
    s = np.asarray(se, dtype=float)
    beat = np.array([stats.norm.cdf((m[i] - m[control]) / np.hypot(s[i], s[control]))
                     if i != control else np.nan for i in range(len(m))])
    x = np.linspace((m - 9 * s).min(), (m + 9 * s).max(), GRID)
    pdf = np.array([stats.norm.pdf(x, mi, si) for mi, si in zip(m, s, strict=True)])
    cdf = np.array([stats.norm.cdf(x, mi, si) for mi, si in zip(m, s, strict=True)])

    def shortfall(i, y):  # E[(y - θ_i)^+] for θ_i ~ N(m_i, s_i²), in closed form
        d = y - m[i]
        return d * stats.norm.cdf(d / s[i]) + s[i] * stats.norm.pdf(d / s[i])

    best, loss = _best_and_loss(x, pdf, cdf, shortfall)
    return {"prob_beat_control": beat, "prob_best": best, "expected_loss": loss}
