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
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ExperimentPlan:
    """A randomized test sized for a store: arms, units per arm and how long it takes.

    ``units_per_period`` is how many units (customers, carts) the store can randomize
    per ``period`` (a week, a send); the treatment arms are each compared with the
    control at ``alpha`` split over the comparisons (Bonferroni, conservative next to
    the Holm correction the analysis applies).
    """

    arms: tuple[str, ...]
    control: str
    baseline: float
    lift: float
    n_per_arm: int
    units_per_period: float
    period: str = "week"
    alpha: float = 0.05
    power: float = 0.8

    @property
    def total(self) -> int:
        return self.n_per_arm * len(self.arms)

    @property
    def periods(self) -> float:
        """How many periods (weeks, sends) the test needs at the store's traffic."""
        return self.total / self.units_per_period if self.units_per_period > 0 else float("inf")

    def sentence(self, unit: str = "customers") -> str:
        """The plan in one sentence, for a report."""
        return (f"{len(self.arms)} arms ({', '.join(self.arms)}); detecting a lift of "
                f"{100 * self.lift:.2f} percentage points ({self.lift / self.baseline:.0%} of "
                f"this store's baseline of {self.baseline:.2%}) against "
                f"{self.control} needs {self.n_per_arm:,} {unit} per arm, {self.total:,} in "
                f"all ({self.power:.0%} power, α = {self.alpha:g} over "
                f"{len(self.arms) - 1} comparisons): about {self.periods:,.1f} "
                f"{self.period}s at this store's {self.units_per_period:,.0f} {unit} a "
                f"{self.period}")


def plan_test(arms, control: str, baseline: float, units_per_period: float,
              period: str = "week", relative_lift: float = 0.2, alpha: float = 0.05,
              power: float = 0.8) -> ExperimentPlan:
    """Size a test of ``arms`` against ``control`` at a store's own baseline and traffic.

    The effect worth detecting is ``relative_lift`` of the baseline (20% by default);
    each of the ``len(arms) - 1`` comparisons runs at ``alpha / (len(arms) - 1)``
    (:func:`sample_size_proportion`, Cohen's h).

    Examples
    --------
    >>> p = plan_test(("0%", "10%"), "0%", baseline=0.10, units_per_period=1000)
    >>> p.n_per_arm, round(p.periods, 1)
    (3835, 7.7)
    """
    arms = tuple(arms)
    if control not in arms or len(arms) < 2:
        raise ValueError(f"need at least two arms including the control {control!r}: {arms}")
    if not 0 < baseline < 1:
        raise ValueError(f"the store's baseline rate must be in (0, 1), got {baseline}")
    lift = baseline * relative_lift
    k = len(arms) - 1
    n = sample_size_proportion(baseline, lift, alpha=alpha / k, power=power)
    return ExperimentPlan(arms, control, baseline, lift, n, float(units_per_period), period,
                          alpha, power)
