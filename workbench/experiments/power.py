"""Power: minimum detectable effect for a sample, sample size for an effect.

Proportions use Cohen's arcsine effect size ``h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1))``
(Cohen 1988, *Statistical Power Analysis*, ch. 6) with statsmodels'
``NormalIndPower``; means use the standardized difference ``d = Δ / sd``
(Cohen 1988, ch. 2).  All tests are two-sided at level ``alpha``; with ``k``
treatment arms compared to one control, ``bonferroni=True`` divides ``alpha`` by
``k`` (a conservative stand-in for the Holm correction applied in analysis).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from statsmodels.stats.power import NormalIndPower

_POWER = NormalIndPower()


def _solve_n(effect: float, alpha: float, power: float, ratio: float) -> int:
    """Units in the first arm for a standardized ``effect``, two-sided at ``alpha``.

    statsmodels' root finder, which keeps both rejection tails; where it fails (a very
    large effect, under ~2 units) the normal closed form it converges to,
    ``n = (1 + 1/ratio) (z_{1-alpha/2} + z_power)^2 / effect^2`` (Chow, Shao & Wang
    2008, *Sample Size Calculations in Clinical Research*, 2nd ed., sec. 3.2.1).
    """
    with warnings.catch_warnings():  # a failed root search is handled below
        warnings.simplefilter("ignore")
        n = _POWER.solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio)
    if n is None or not np.isfinite(n):
        z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
        n = (1 + 1 / ratio) * z ** 2 / effect ** 2
    return max(1, int(np.ceil(n)))


def mde_proportion(baseline: float, n_per_arm: float, alpha: float = 0.05,
                   power: float = 0.8, ratio: float = 1.0) -> float:
    """Smallest absolute lift over ``baseline`` detectable with ``n_per_arm`` per arm.

    Examples
    --------
    >>> round(mde_proportion(0.10, 10_000), 4)
    0.0122
    """
    if not 0 < baseline < 1:
        raise ValueError(f"baseline rate must be in (0, 1), got {baseline}")
    h = _POWER.solve_power(nobs1=n_per_arm, alpha=alpha, power=power, ratio=ratio)
    p2 = np.sin(np.arcsin(np.sqrt(baseline)) + h / 2) ** 2
    return float(p2 - baseline)


def sample_size_proportion(baseline: float, lift: float, alpha: float = 0.05,
                           power: float = 0.8, ratio: float = 1.0) -> int:
    """Units per arm to detect an absolute ``lift`` over ``baseline``.

    Examples
    --------
    >>> sample_size_proportion(0.10, 0.02)
    3835
    """
    p2 = baseline + lift
    if not (0 < baseline < 1 and 0 < p2 < 1) or lift == 0:
        raise ValueError(f"need 0 < baseline, baseline + lift < 1 and lift != 0; got "
                         f"{baseline}, {lift}")
    h = abs(2 * np.arcsin(np.sqrt(p2)) - 2 * np.arcsin(np.sqrt(baseline)))
    return _solve_n(h, alpha, power, ratio)


def mde_mean(sd: float, n_per_arm: float, alpha: float = 0.05, power: float = 0.8,
             ratio: float = 1.0) -> float:
    """Smallest difference in means detectable with ``n_per_arm`` per arm (same units as sd)."""
    d = _POWER.solve_power(nobs1=n_per_arm, alpha=alpha, power=power, ratio=ratio)
    return float(d * sd)


def sample_size_mean(sd: float, lift: float, alpha: float = 0.05, power: float = 0.8,
                     ratio: float = 1.0) -> int:
    """Units per arm to detect a difference in means ``lift``.

    Examples
    --------
    >>> sample_size_mean(10.0, 1.0)  # d = 0.1: the textbook 1,570 per arm
    1570
    >>> sample_size_mean(0.01, 5.0)  # an effect of 500 sd: one unit (the solver gives up)
    1
    """
    if lift == 0 or sd <= 0:
        raise ValueError("need lift != 0 and sd > 0")
    return _solve_n(abs(lift) / sd, alpha, power, ratio)
