"""Anytime-valid confidence intervals for a difference of means (safe under peeking).

Method: the mixture sequential probability ratio test (mSPRT) with a normal
mixing distribution ``N(0, tau^2)`` on the effect, as used for always-valid
inference in online experiments by Johari, Koomen, Pekelis & Walsh (2022),
"Always valid inference: continuous monitoring of A/B tests", Operations
Research 70(3), sec. 4 (Robbins 1970's normal mixture).  For an estimate
``d`` of the difference with variance ``V``, the likelihood ratio against
``θ`` is

    Λ(θ) = sqrt(V / (V + tau²)) · exp( tau² (d - θ)² / (2 V (V + tau²)) ),

and the set ``{θ : Λ(θ) < 1/α}`` is a (1 - α) confidence sequence:

    d ± sqrt( 2 V (V + tau²) / tau² · log( sqrt((V + tau²) / V) / α ) ).

Its coverage holds simultaneously over every sample size at which it is
looked at, which a fixed-n interval does not.  ``tau`` should be fixed before
the test; by default it is set so that the interval is narrowest at a planned
variance ``V_plan`` (``tau² = r* V_plan``, with ``r*`` minimizing the width),
and :func:`analyze_experiment` uses the final sample as the plan when none is
given, which it states in the result.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

METHOD = "mSPRT normal-mixture confidence sequence (Johari et al. 2022)"


def _width_sq(r: float, alpha: float) -> float:
    # half-width² / V as a function of r = tau² / V
    return 2 * (1 + 1 / r) * (0.5 * np.log1p(r) - np.log(alpha))


def optimal_ratio(alpha: float) -> float:
    """``r* = tau² / V`` giving the narrowest interval at variance ``V``."""
    res = optimize.minimize_scalar(lambda lr: _width_sq(np.exp(lr), alpha),
                                   bounds=(-5, 15), method="bounded")
    return float(np.exp(res.x))


def tau_for_plan(v_plan: float, alpha: float = 0.05) -> float:
    """Mixing scale ``tau`` that makes the sequence tightest at planned variance ``v_plan``."""
    return float(np.sqrt(optimal_ratio(alpha) * v_plan))


def confidence_sequence(d, v, tau: float, alpha: float = 0.05):
    """Lower and upper bounds of the (1 - alpha) mSPRT confidence sequence.

    Examples
    --------
    >>> lo, hi = confidence_sequence(0.02, 1e-4, tau=0.02)
    >>> bool(lo < 0.02 < hi)
    True
    """
    d = np.asarray(d, dtype=float)
    v = np.asarray(v, dtype=float)
    t2 = tau**2
    half = np.sqrt(2 * v * (v + t2) / t2 * np.log(np.sqrt((v + t2) / v) / alpha))
    return d - half, d + half


def always_valid_p(d, v, tau: float):
    """Always-valid p-value ``min(1, 1/Λ(0))`` (Johari et al. 2022, eq. 8, at the last look)."""
    d = np.asarray(d, dtype=float)
    v = np.asarray(v, dtype=float)
    t2 = tau**2
    lam = np.sqrt(v / (v + t2)) * np.exp(t2 * d**2 / (2 * v * (v + t2)))
    return np.minimum(1.0, 1.0 / lam)
