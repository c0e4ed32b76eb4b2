"""What a discount test can see on margin, and the test to run, sized on margin.

The margin decision (:func:`.margin.decide_on_margin`) offers a level where P(it beats
0%) reaches ``min_prob``.  With a flat prior the posterior of a level's difference from
the 0% arm is about ``N(observed, se^2)``, ``se = sd * sqrt(2 / n)`` per arm of ``n``,
so the level is offered when the observed difference exceeds ``z_{min_prob} * se``, and
a true gain ``delta`` is offered with probability ``power`` when
``delta >= (z_{min_prob} + z_{power}) * se`` — the one-sided minimum detectable effect
at level ``1 - min_prob`` (Chow, Shao & Wang 2008, *Sample Size Calculations in
Clinical Research*, 2nd ed., sec. 3.2.1; computed by
:func:`workbench.experiments.power.mde_mean` at the two-sided level ``2 (1 - min_prob)``,
whose second tail is negligible).  A store's margin per customer-week is mostly zeros
and a few orders, so its standard deviation is several times its mean: a gain worth
having can need far more customers than a conversion lift does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...experiments.power import mde_mean, sample_size_mean
from .model import DiscountInputError


@dataclass(frozen=True)
class MarginPower:
    """A discount test's sensitivity on margin per unit (customer-send or cart)."""

    n_per_arm: float  # units per arm (the test's median arm, or a plan's)
    sd: float  # within-arm standard deviation of the margin per unit
    baseline: float  # mean margin per unit at 0%
    segments: int = 1  # segments a rule by segment splits each arm into
    min_prob: float = 0.9
    power: float = 0.8
    unit: str = "customer-send"

    @property
    def _alpha(self) -> float:
        return 2 * (1 - self.min_prob)

    @property
    def mde_rule(self) -> float:
        """The least gain per unit a uniform rule needs to be offered ``power`` of the time."""
        return mde_mean(self.sd, self.n_per_arm, alpha=self._alpha, power=self.power)

    @property
    def mde_segment(self) -> float:
        """The same for one segment's own offer (its share of each arm)."""
        return mde_mean(self.sd, self.n_per_arm / self.segments, alpha=self._alpha,
                        power=self.power)

    def n_for(self, gain: float) -> int:
        """Units per arm for a true ``gain`` per unit to be offered ``power`` of the time."""
        return sample_size_mean(self.sd, gain, alpha=self._alpha, power=self.power)

    def sentence(self, relative: float = 0.1) -> str:
        """What the test could see, and what seeing ``relative`` of the baseline takes."""
        u, base = self.unit, self.baseline
        share = f" ({self.mde_rule / base:.0%} of the 0% arm's margin)" if base > 0 else ""
        need = ""
        if base > 0:
            need = (f" Seeing a gain of {relative:.0%} of the 0% arm's margin "
                    f"({relative * base:.2f} per {u}) takes {self.n_for(relative * base):,} "
                    f"{u}s per arm.")
        seg = ("" if self.segments <= 1 else
               f"; one segment's own offer (about {self.n_per_arm / self.segments:,.0f} per "
               f"arm) at least {self.mde_segment:.2f}")
        return (f"What this test can see: with about {self.n_per_arm:,.0f} {u}s per arm and "
                f"a margin standard deviation of {self.sd:.2f} per {u} (the 0% arm earns "
                f"{base:.2f}), a uniform offer reaches P(beats 0%) {self.min_prob:.0%} "
                f"{self.power:.0%} of the time only if it adds at least {self.mde_rule:.2f} per "
                f"{u}{share}{seg}; smaller true gains mostly stay at 0%.{need}")


def margin_power(units: pd.DataFrame, segments: int = 1, min_prob: float = 0.9,
                 power: float = 0.8, outcome: str = "window_margin",
                 unit: str = "customer-send") -> MarginPower:
    """The sensitivity of the randomized test in ``units`` (:func:`.features.discount_units`).

    ``n_per_arm`` is the median arm; ``sd`` the pooled within-arm standard deviation of
    ``outcome``, ``sqrt(sum_a (n_a - 1) s_a^2 / (N - k))``; ``baseline`` the 0% arm's mean.
    """
    if not 0.5 < min_prob < 1:
        raise DiscountInputError(f"min_prob must be in (0.5, 1), got {min_prob}")
    missing = sorted({"discount", outcome} - set(units.columns))
    if missing:
        raise DiscountInputError(f"discount units: missing columns {missing}")
    g = units.groupby("discount")[outcome].agg(["size", "var", "mean"])
    if 0.0 not in g.index or len(g) < 2:
        raise DiscountInputError(f"discount units: need a 0% arm and an offered arm; arms "
                                 f"{sorted(g.index)}")
    dof = (g["size"] - 1).clip(lower=0)
    sd = float(np.sqrt((g["var"].fillna(0) * dof).sum() / max(dof.sum(), 1)))
    if not sd > 0:
        raise DiscountInputError(f"discount units: {outcome} does not vary within arms")
    return MarginPower(float(g["size"].median()), sd, float(g.loc[0.0, "mean"]), segments,
                       min_prob, power, unit)


def margin_plan(audience: dict, arms: int, relative: float = 0.1, min_prob: float = 0.9,
                power: float = 0.8) -> str:
    """A sentence: the discount test sized on margin at a store's audience (a plan).

    ``audience`` is :func:`.features.offer_audience` output (customers, the margin per
    customer-window's mean and standard deviation); the gain worth seeing is ``relative``
    of the mean; ``arms`` share the audience of each send.  Empty when the store's
    orders cannot size it.
    """
    n, mean, sd = audience["customers"], audience["margin_mean"], audience["margin_sd"]
    if not (n and mean > 0 and sd > 0):
        return ""
    plan = MarginPower(n / arms, sd, mean, min_prob=min_prob, power=power)
    need = plan.n_for(relative * mean)
    what = ("revenue less goods cost" if audience.get("costs_known", True) else
            "revenue: the export has no goods costs, so the margin is overstated")
    return (f" On margin, which the decision uses: a gain of {relative:.0%} of the "
            f"{mean:.2f} an active customer brings in {audience['window_days']:g} days "
            f"({what}; standard deviation {sd:.2f}) is recommended {power:.0%} of the time "
            f"at {need:,} customers per arm — about {arms * need / n:,.1f} sends to this "
            f"store's {n:,} customers.")
