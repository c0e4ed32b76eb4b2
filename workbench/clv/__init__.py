"""Customer lifetime value: BG/NBD, MBG/NBD and Pareto/NBD purchases, Gamma-Gamma spend.

Fitted by maximum likelihood (numpy/scipy, L-BFGS-B on log-parameters) on an RFM summary
with one row per customer: ``customer_id``, ``frequency`` (repeat purchases: purchase
periods after the first), ``recency`` (time from the first to the last purchase), ``T``
(time from the first purchase to the end of the calibration period) and, for spend,
``monetary_value`` (mean value of the repeat purchases).  Identical ``(frequency,
recency, T)`` rows are compressed to one weighted row before fitting (``compress=True``),
which makes a 1M-customer fit cost what its distinct histories cost.

**Time unit.**  The models work in whatever unit the RFM summary is in.  The fitter
records the ``time_unit`` it was given ("days", "weeks", ...); every duration a method
takes (``t``, ``horizon``, ``period``) or returns is in that unit, and the scorecard
converts to calendar dates with it.

Models and the equations they use
---------------------------------
* **BG/NBD** — Fader, Hardie & Lee (2005a), "Counting your customers the easy way: an
  alternative to the Pareto/NBD model", *Marketing Science* 24(2): likelihood eq. (6);
  P(alive), E[X(t)], P(X(t) = x) and the conditional expectation as derived there (and
  in Fader & Hardie's note "Deriving an expression for P(X(t) = x) under the BG/NBD").
* **MBG/NBD** — Batislam, Denizel & Filiztekin (2007), *IJRM* 24(3): the customer may
  also drop out right after the first purchase; likelihood as lifetimes'
  ``ModifiedBetaGeoFitter``.
* **Pareto/NBD** — Schmittlein, Morrison & Colombo (1987), *Management Science* 33(1);
  likelihood and P(alive) as in Fader & Hardie (2005), "A note on deriving the Pareto/NBD
  model and related expressions" (the ``A_0`` term with the 2F1 chosen by
  alpha >= beta), with the Gauss hypergeometric evaluated after an Euler transform so
  that it cannot overflow; E[Y(t) | history] as in SMC 1987 / that note.
* **Gamma-Gamma** — Fader, Hardie & Lee (2005b), "RFM and CLV: using iso-value curves
  for customer base analysis", *JMR* 42(4); Fader & Hardie (2013), "The Gamma-Gamma model
  of monetary value": likelihood of the mean spend m_x given x; conditional expected
  spend ``E[M | m_x, x] = p (gamma + x m_x) / (p x + q - 1)`` (FHL 2005b).

Uncertainty: ``se_`` and ``confidence_intervals()`` come from the observed information
(numerical Hessian of the log-likelihood at the optimum, in log-parameter space; the
intervals are exp(log estimate ± z se), so they stay positive).  Intervals on
predictions (:func:`clv_scorecard`) propagate the same covariance by the delta method on
the log (or logit, for probabilities) scale: they express parameter uncertainty, not
the spread of one customer's future (that one is ``orders_predictive_*``).  The Bayesian
variants (:class:`BayesianBetaGeoModel`, :class:`BayesianGammaGammaModel`) use the same
likelihoods in PyMC and propagate their posterior draws instead.

Layout
------
``base`` (input checks, MLE fitter, summaries), ``transactions`` (predictions shared by
the purchase models), one module per model (``beta_geo``, ``modified_beta_geo``,
``pareto_nbd``, ``gamma_gamma``), ``value`` (CLV and the scorecard), ``simulate`` and
``bayes`` (PyMC variants, imported lazily).

Example
-------
>>> rfm = simulate_bg_nbd(2000, T=52, r=0.25, alpha=4.0, a=0.8, b=2.5, seed=1)
>>> bg = BetaGeoModel(time_unit="weeks").fit(rfm)
>>> bool(bg.converged_), round(float(bg.params_["r"]), 2)
(True, 0.23)
"""

from .base import TIME_UNITS_IN_DAYS, CLVInputError, check_rfm, compress_rfm
from .bayes import BayesianBetaGeoModel, BayesianGammaGammaModel
from .beta_geo import BetaGeoModel
from .gamma_gamma import GammaGammaModel
from .modified_beta_geo import ModifiedBetaGeoModel
from .pareto_nbd import ParetoNBDModel
from .simulate import simulate_bg_nbd, simulate_gamma_gamma, simulate_mbg_nbd, simulate_pareto_nbd
from .value import (
    CLVScorecard,
    clv_scorecard,
    customer_lifetime_value,
    purchases_predictive_range,
)

__all__ = [
    "BayesianBetaGeoModel", "BayesianGammaGammaModel", "BetaGeoModel", "CLVInputError",
    "CLVScorecard", "GammaGammaModel", "ModifiedBetaGeoModel", "ParetoNBDModel",
    "TIME_UNITS_IN_DAYS", "check_rfm", "clv_scorecard", "compress_rfm",
    "customer_lifetime_value", "purchases_predictive_range", "simulate_bg_nbd",
    "simulate_gamma_gamma", "simulate_mbg_nbd",
    "simulate_pareto_nbd",
]
