"""The fitted CLV models: identified at their limits, and one pair per segment.

:func:`identified` takes a fit that ran off to the edge of the parameter space to the
limiting model its data point to.  :class:`SegmentedFit` holds a purchase model and a
Gamma-Gamma spend model per segment (by default the acquisition channel), the pooled
pair where a segment is too small or its own fit is not identified, and predicts each
customer with their segment's pair.

Why per segment: one BG/NBD fitted over every channel gives a customer with one order
the pooled prior, so a channel whose customers buy less often, drop out sooner or spend
less is over-valued as a whole (on a simulated store, discount-promo customers were
predicted 6.87 per customer over 90 days and brought 5.02; fitted per channel, 5.08).
Fitting the models separately per segment is the standard remedy when the mixing
distributions differ by a known covariate (Fader, Hardie & Lee 2005a, sec. 6; Fader &
Hardie 2007, "Incorporating time-invariant covariates into the Pareto/NBD and BG/NBD
models", whose covariate models nest per-segment heterogeneity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...clv import (
    BetaGeoModel,
    CLVInputError,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    clv_scorecard,
    purchases_predictive_range,
)

MODELS = {"bgnbd": BetaGeoModel, "mbgnbd": ModifiedBetaGeoModel, "paretonbd": ParetoNBDModel}
#: a segment gets its own models with at least this many customers and repeat buyers
MIN_SEGMENT_CUSTOMERS = 500
MIN_SEGMENT_REPEAT_BUYERS = 100
#: the ``model_fit`` of customers scored by the pooled models
POOLED = "pooled"


#: (shape, scale) pairs of a Gamma heterogeneity that may run off to +infinity together
_RATE_PAIRS = (("r", "alpha"), ("s", "beta"))
#: where such a pair is evaluated, largest first: the likelihood is flat out there
#: (within 0.001 of the limit's at 1e4 on simulated stores), while the hypergeometric
#: terms overflow beyond 1e4-1e5; the largest shape whose likelihood is within 0.05 of
#: the limit's and whose predictions are finite is used
_LIMIT_SHAPES = (1e4, 3e3, 1e3, 3e2)
_LARGE_SHAPE = 100.0  # a shape beyond this whose predictions overflow is taken at its limit
_SHAPE_FREE = frozenset({"alpha", "beta", "v"})  # scale parameters: never a limit


def finite_predictions(model, rfm: pd.DataFrame, horizon: float = 0.0) -> bool:
    """Whether ``model`` predicts finite values for ``rfm``.

    Over as long a horizon as the data span or the predictions reach (``horizon``, in
    the model's unit: the hypergeometric terms of a large shape overflow sooner the
    longer the horizon), and over one unit.
    """
    if not hasattr(model, "expected_purchases"):
        return bool(np.all(np.isfinite(model.expected_spend(rfm[rfm.frequency > 0]))))
    return all(np.all(np.isfinite(model.expected_purchases(rfm, t)))
               for t in (max(float(rfm["T"].max()), horizon), 1.0))


def identified(fitted, period: str, rfm: pd.DataFrame, notes: list[str],
                horizon: float = 0.0):
    """The fitted model — at the limit its data point to when a fit ran off to the edge.

    A fit at the edge of the parameter space is the MLE of a limiting model, and says so
    in ``notes``: a Gamma shape r (or s) running off to infinity with its scale is the
    limit where every customer has the same rate; it is evaluated at the largest shape in
    :data:`_LIMIT_SHAPES` with the rate r/alpha kept whose log-likelihood is within 0.05
    of the limit's and whose predictions are finite (the hypergeometric terms overflow
    beyond).  The dropout shape b alone running off to infinity is the limit where nobody
    drops out (the NBD), evaluated the same way at a large b with a kept; a and b both
    running off is one dropout probability ``a / (a + b)`` for everyone, evaluated at a
    large ``a + b`` with that probability kept.  Both to 0 (customers either stop after
    their first order or never) gives finite predictions as it is.  Raises
    :class:`~workbench.clv.CLVInputError` when the predictions are still not finite.
    """
    if not fitted.boundary_:
        if finite_predictions(fitted, rfm, horizon):
            return fitted
        # shapes large enough that the hypergeometric terms overflow, though short of
        # the edge the optimizer flags (a = 1.1e5, b = 2.8e5 was seen on a small store
        # whose history shows no dropout yet): the limit they approach
        edge = [p for p in fitted.PARAMS
                if p not in _SHAPE_FREE and fitted.params_[p] > _LARGE_SHAPE]
    else:
        edge = list(fitted.boundary_)
    pairs = [(a, b) for a, b in _RATE_PAIRS if a in edge and fitted.params_.get(a, 0) > 1]
    # dropout shapes running off to infinity: b alone, nobody drops out (the NBD limit);
    # a and b together, one dropout probability a / (a + b) for everyone
    a_, b_ = fitted.params_.get("a", 0.0), fitted.params_.get("b", 0.0)
    dropout = None
    if {"a", "b"} & set(edge):
        dropout = "both" if min(a_, b_) > 100 else "b" if "b" in edge and b_ > 1 else None
    limits = bool(pairs or dropout)
    candidates = [fitted] if not limits else []
    for shape_at in _LIMIT_SHAPES if limits else ():
        p = fitted.params_.copy()
        for shape, scale in pairs:
            p[scale], p[shape] = p[scale] * shape_at / p[shape], shape_at
        if dropout == "both":
            p["a"], p["b"] = shape_at * a_ / (a_ + b_), shape_at * b_ / (a_ + b_)
        elif dropout == "b":
            p["b"] = shape_at
        lim = type(fitted)(time_unit=fitted.time_unit).set_params(**p.to_dict())
        lim.boundary_, lim.converged_ = edge, False
        if abs(lim.log_likelihood(rfm) - fitted.log_likelihood_) < 0.05:
            candidates.append(lim)
    for cand in candidates:
        if finite_predictions(cand, rfm, horizon):
            fitted = cand
            break
    else:
        where = (f"{edge} ran off to the edge of the parameter space and its predictions "
                 "are not finite" if edge else "its predictions are not finite")
        raise CLVInputError(
            f"the {fitted.NAME} fit on {period} is not identified: {where}. It needs a "
            "longer order history, with gaps long enough to show who stopped.")
    what = ("how customers' purchase rates differ (every customer is taken to buy at "
            "the same rate)" if set(edge) & {"r", "s"} else
            "that customers stop buying (nobody is taken to drop out)" if dropout == "b" else
            "how customers' dropout differs" if set(edge) <= {"a", "b"} else
            "how customers' spend differs")
    notes.append(f"On {period}, the {fitted.NAME} fit sits at the edge of the parameter "
                 f"space ({', '.join(edge)}): the order history does not identify {what}, "
                 "so the model is its limiting case there and its intervals understate "
                 "the uncertainty.")
    return fitted



@dataclass
class SegmentedFit:
    """A purchase and a spend model per segment of ``by``; the pooled pair elsewhere."""

    pooled: tuple  # (purchase model, spend model) fitted on every customer
    by: str | None = None
    fits: dict = field(default_factory=dict)  # segment -> (purchase model, spend model)

    @property
    def NAME(self) -> str:  # noqa: N802 - the models' own attribute name
        return self.pooled[0].NAME

    def describe(self) -> str:
        """Which segments have their own models, in words."""
        if not self.fits:
            return ""
        own = ", ".join(str(k) for k in self.fits)
        return (f"The models are fitted per {self.by.replace('_', ' ')} where there are "
                f"enough customers ({own}); the others use the pooled fit.")

    def _groups(self, rfm: pd.DataFrame):
        """(segment or ``POOLED``, purchase model, spend model, positions) in ``rfm``.

        Customers of a segment without its own models, of a segment the fits never saw
        and with no segment at all are scored by the pooled pair.
        """
        if not self.fits or self.by not in rfm.columns:
            yield (POOLED, *self.pooled, np.arange(len(rfm)))
            return
        key = pd.Series(rfm[self.by].to_numpy(), dtype=object)
        own = np.zeros(len(rfm), bool)
        for k in self.fits:
            hit = key.eq(k).fillna(False).to_numpy(dtype=bool)
            own |= hit
            if hit.any():
                yield (k, *self.fits[k], np.flatnonzero(hit))
        if (~own).any():
            yield (POOLED, *self.pooled, np.flatnonzero(~own))

    def _each(self, fn, rfm: pd.DataFrame) -> np.ndarray:
        out = np.empty(len(rfm))
        for _, tm, sm, pos in self._groups(rfm):
            out[pos] = fn(tm, sm, rfm.iloc[pos])
        return out

    def expected_purchases(self, rfm: pd.DataFrame, t: float) -> np.ndarray:
        return self._each(lambda tm, sm, d: tm.expected_purchases(d, t), rfm)

    def prob_purchases(self, rfm: pd.DataFrame, n: int, t: float) -> np.ndarray:
        return self._each(lambda tm, sm, d: tm.prob_purchases(d, n, t), rfm)

    def predictive_range(self, rfm: pd.DataFrame, t: float, level: float):
        """Per customer, :func:`~workbench.clv.purchases_predictive_range` of their model."""
        lo, hi = np.empty(len(rfm)), np.empty(len(rfm))
        for _, tm, _, pos in self._groups(rfm):
            lo[pos], hi[pos] = purchases_predictive_range(tm, rfm.iloc[pos], t, level)
        return lo, hi

    def scorecard(self, rfm: pd.DataFrame, **kwargs) -> pd.DataFrame:
        """:func:`~workbench.clv.clv_scorecard` per segment, rows in ``rfm``'s order.

        With a ``model_fit`` column: the segment whose models scored the row, or
        :data:`POOLED` (customers scored by one fit share its parameter errors).
        """
        if self.pooled[1] is None:
            raise CLVInputError("these fits have no spend model (fitted with spend=False): "
                                "a scorecard needs one")
        parts = []
        for k, tm, sm, pos in self._groups(rfm):
            parts.append(clv_scorecard(tm, sm, rfm.iloc[pos], **kwargs).table.set_axis(pos)
                         .assign(model_fit=str(k)))
        return pd.concat(parts).sort_index().reset_index(drop=True)


def fit_segmented(rfm: pd.DataFrame, model: str, time_unit: str, period: str,
                  notes: list[str], horizon: float = 0.0, by: str | None = None,
                  min_customers: int = MIN_SEGMENT_CUSTOMERS,
                  min_repeat: int = MIN_SEGMENT_REPEAT_BUYERS, spend: bool = True
                  ) -> SegmentedFit:
    """The pooled models, and per segment of ``by`` with enough customers its own.

    A segment gets its own pair when it has ``min_customers`` customers and
    ``min_repeat`` of them with a repeat purchase, and both its fits converged or sit at
    a limit that predicts (:func:`identified`); elsewhere the segment keeps the pooled
    pair, which its customers inform.  ``notes`` gets the edge notes of the fits that
    score (a segment's prefixed with it).  Without ``spend`` only the purchase models are
    fitted (the pairs' spend model is None).
    """
    def spend_fit(d, into):
        return identified(GammaGammaModel(time_unit=time_unit).fit(d[d.frequency > 0]),
                          period, d, into) if spend else None

    pooled = (identified(MODELS[model](time_unit=time_unit).fit(rfm), period, rfm, notes,
                         horizon), spend_fit(rfm, notes))
    fits, seg_notes = {}, {}
    if by is not None and by in rfm.columns:
        for key, g in rfm.groupby(by, sort=True):
            if len(g) < min_customers or (g.frequency > 0).sum() < min_repeat:
                continue
            own_notes: list[str] = []
            try:
                pair = (identified(MODELS[model](time_unit=time_unit).fit(g), period, g,
                                   own_notes, horizon), spend_fit(g, own_notes))
            except CLVInputError:
                continue
            # a fit at its limit is the MLE of the limiting model (``identified``); one
            # whose optimizer stopped short of an optimum is not used
            if all(m.converged_ or getattr(m, "boundary_", None) for m in pair
                   if m is not None):
                fits[key] = pair
                for n in own_notes:  # one sentence per finding, naming its segments
                    seg_notes.setdefault(n, []).append(str(key))
    for n, keys in seg_notes.items():
        names = keys[0] if len(keys) == 1 else ", ".join(keys[:-1]) + " and " + keys[-1]
        notes.append(n.replace("On ", f"For {names}, on ", 1))
    return SegmentedFit(pooled=pooled, by=by, fits=fits)


__all__ = ["MIN_SEGMENT_CUSTOMERS", "MIN_SEGMENT_REPEAT_BUYERS", "MODELS", "POOLED",
           "SegmentedFit", "fit_segmented", "identified"]
