"""Shared fitting machinery of the CLV models: input checks and the MLE fitter base.

Owns the RFM input checks (:func:`check_rfm`, :class:`CLVInputError`, :func:`compress_rfm`
and the row-compression helpers), durations and time units (from :mod:`workbench.vocab`),
the maximum-likelihood engine (L-BFGS-B on log-parameters, numerical Hessian) and
``_Fitter``: settings, ``set_params``, standard errors, ``confidence_intervals``,
``summary`` and the text/HTML representations every model inherits.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..threads import one_blas_thread
from ..vocab import TIME_UNITS

#: days per time unit — one table for the RFM features and the models
TIME_UNITS_IN_DAYS = TIME_UNITS
_LOG_BOUND = 25.0  # log-parameters live in [-25, 25]; reaching it means "not identified"
#: beyond exp(±13.8) = 1e6 (or 1e-6) a parameter is taken as running off to the edge: the
#: published fits (CDNOW, Fader, Hardie & Lee 2005) sit well inside, r = 0.24 .. b = 2.57
_EDGE_LOG = 13.8
#: scale parameters carry the data's units (time, money): only shape parameters are tested
_SCALE_PARAMS = frozenset({"alpha", "beta", "v"})


class CLVInputError(ValueError):
    """Bad input for a CLV model; the message names the column and the rows."""


def _rows(df: pd.DataFrame, mask, limit: int = 5) -> str:
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    idx = df.index[mask][:limit].tolist()
    more = ", ..." if n > limit else ""
    ids = ""
    if "customer_id" in df.columns:
        ids = f"; customer_id {df['customer_id'].to_numpy()[mask][:limit].tolist()}{more}"
    return f"{n} row(s) (index {idx}{more}{ids})"


def check_rfm(rfm: pd.DataFrame, monetary: bool = False, weights=None) -> dict:
    """Validate an RFM summary; return float arrays ``x, tx, T, w`` (and ``m``).

    Raises :class:`CLVInputError` naming the column and the offending rows for: a
    missing column, missing or infinite values, a non-numeric column, negative or
    non-integer ``frequency``, negative ``recency`` or ``T``, ``recency > T``, a customer
    with no repeat purchase but positive ``recency``, duplicated ``customer_id``, bad
    ``weights`` and (``monetary=True``) a missing or non-positive ``monetary_value`` for
    a customer with repeat purchases.

    >>> check_rfm(pd.DataFrame({"customer_id": [1], "frequency": [0], "recency": [2.0],
    ...                         "T": [5.0]}))
    Traceback (most recent call last):
    ...
    workbench.clv.base.CLVInputError: rfm: 'recency' must be 0 when 'frequency' is 0 \
(no repeat purchase); 1 row(s) (index [0]; customer_id [1])
    """
    if not isinstance(rfm, pd.DataFrame):
        raise CLVInputError(f"rfm: expected a pandas DataFrame, got {type(rfm).__name__}")
    need = ["customer_id", "frequency", "recency", "T"] + (["monetary_value"] if monetary
                                                           else [])
    missing = [c for c in need if c not in rfm.columns]
    if missing:
        raise CLVInputError(f"rfm: missing columns {missing}; need {need}")
    if len(rfm) == 0:
        raise CLVInputError("rfm: no rows")
    ids = rfm["customer_id"]
    if ids.isna().any():
        raise CLVInputError(f"rfm: missing values in column 'customer_id': "
                            f"{_rows(rfm, ids.isna())}")
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        raise CLVInputError(f"rfm: duplicated 'customer_id' (one row per customer): "
                            f"{_rows(rfm, dup)}")
    out = {}
    for col, key in (("frequency", "x"), ("recency", "tx"), ("T", "T")):
        s = rfm[col]
        if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
            raise CLVInputError(f"rfm: column {col!r} must be numeric, not {s.dtype}")
        v = s.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(v)
        if bad.any():
            raise CLVInputError(f"rfm: missing or infinite values in column {col!r}: "
                                f"{_rows(rfm, bad)}")
        neg = v < 0
        if neg.any():
            raise CLVInputError(f"rfm: negative values in column {col!r}: {_rows(rfm, neg)}")
        out[key] = v
    x, tx, T = out["x"], out["tx"], out["T"]
    frac = x != np.floor(x)
    if frac.any():
        raise CLVInputError(f"rfm: column 'frequency' must hold whole numbers (repeat "
                            f"purchases): {_rows(rfm, frac)}")
    late = tx > T * (1 + 1e-12) + 1e-12
    if late.any():
        raise CLVInputError(f"rfm: 'recency' is greater than 'T' (the last purchase cannot "
                            f"follow the end of the period): {_rows(rfm, late)}")
    orphan = (x == 0) & (tx > 0)
    if orphan.any():
        raise CLVInputError(f"rfm: 'recency' must be 0 when 'frequency' is 0 (no repeat "
                            f"purchase); {_rows(rfm, orphan)}")
    out["tx"] = np.minimum(tx, T)
    if monetary:
        s = rfm["monetary_value"]
        if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
            raise CLVInputError(f"rfm: column 'monetary_value' must be numeric, not {s.dtype}")
        m = s.to_numpy(dtype=float, na_value=np.nan)
        bad = (x > 0) & ~(np.isfinite(m) & (m > 0))
        if bad.any():
            raise CLVInputError(
                "rfm: 'monetary_value' must be a positive finite amount for customers with "
                f"repeat purchases (frequency > 0): {_rows(rfm, bad)}")
        out["m"] = np.where(x > 0, m, np.nan)
    if weights is None:
        out["w"] = np.ones(len(rfm))
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(rfm),):
            raise CLVInputError(f"weights: expected {len(rfm)} values (one per row), got "
                                f"shape {w.shape}")
        bad = ~np.isfinite(w) | (w <= 0)
        if bad.any():
            raise CLVInputError(f"weights: must be positive and finite: {_rows(rfm, bad)}")
        out["w"] = w
    return out


def compress_rfm(rfm: pd.DataFrame, weights=None) -> pd.DataFrame:
    """Identical ``(frequency, recency, T)`` rows as one row with a ``weight`` (their count).

    The BG/NBD, MBG/NBD and Pareto/NBD likelihoods depend on a customer only through
    ``(frequency, recency, T)``, so fitting the compressed table with its weights gives
    the same log-likelihood and the same estimates as fitting every row.

    >>> rfm = pd.DataFrame({"customer_id": [1, 2, 3], "frequency": [0, 0, 2],
    ...                     "recency": [0.0, 0.0, 3.0], "T": [9.0, 9.0, 9.0]})
    >>> compress_rfm(rfm)[["frequency", "recency", "T", "weight"]].to_dict("list")
    {'frequency': [0.0, 2.0], 'recency': [0.0, 3.0], 'T': [9.0, 9.0], 'weight': [2.0, 1.0]}
    """
    d = check_rfm(rfm, weights=weights)
    x, tx, T, w = _compress(d["x"], d["tx"], d["T"], d["w"])
    return pd.DataFrame({"customer_id": np.arange(len(x)), "frequency": x, "recency": tx,
                         "T": T, "weight": w})


def _group_codes(*cols):
    """Row -> distinct-row code and each code's first row.

    Hashing (pandas.factorize), in first-seen order: much faster than sorting rows
    (numpy.unique(axis=0)) at a million rows.
    """
    codes = None
    for c in cols:
        cc, uniq = pd.factorize(np.asarray(c))
        codes = cc if codes is None else pd.factorize(codes * len(uniq) + cc)[0]
    n_groups = int(codes.max()) + 1
    first = np.empty(n_groups, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes))[::-1]
    return codes, first


def _compress(x, tx, T, w):
    codes, first = _group_codes(x, tx, T)
    wsum = np.bincount(codes, weights=w, minlength=len(first))
    return x[first], tx[first], T[first], wsum


def _unique_rows(*cols):
    codes, first = _group_codes(*cols)
    return [np.asarray(c, dtype=float)[first] for c in cols], codes


def _x_groups(x, w):
    """Distinct frequencies, each row's index into them and their total weight.

    The gamma/digamma terms depend on a row only through x: computed once per x.
    """
    ux, xi = np.unique(x, return_inverse=True)
    return {"ux": ux, "xi": xi.ravel(), "wx": np.bincount(xi.ravel(), weights=w,
                                                           minlength=len(ux))}


def _days_per_unit(time_unit) -> float:
    if isinstance(time_unit, int | float) and time_unit > 0:
        return float(time_unit)
    if time_unit not in TIME_UNITS_IN_DAYS:
        raise CLVInputError(f"time_unit must be one of {sorted(TIME_UNITS_IN_DAYS)} or a "
                            f"positive number of days, not {time_unit!r}")
    return TIME_UNITS_IN_DAYS[time_unit]


def _duration(name: str, t, allow_zero: bool = True) -> np.ndarray:
    a = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(a)) or np.any(a < 0) or (not allow_zero and np.any(a == 0)):
        raise CLVInputError(f"{name} must be a finite duration >= 0 in the model's time unit, "
                            f"got {t!r}")
    return a


def _fit_mle(loglik, x0, args, total_w, tol, maxiter):
    """Maximize the weighted log-likelihood with L-BFGS-B on log-parameters.

    The objective is the mean log-likelihood (per unit weight), so tolerances do not
    depend on the number of customers.
    """
    def f(lp):
        ll, g = loglik(lp, *args)
        if not np.isfinite(ll):
            return 1e10, np.zeros_like(lp)
        return -ll / total_w, -g / total_w

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(x0)
    res = optimize.minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": maxiter, "ftol": tol, "gtol": 1e-9,
                                     "maxcor": 30})
    # L-BFGS-B reports line-search failures at machine precision as failures; a small
    # projected gradient is what convergence means here.
    g = f(res.x)[1]
    free = np.abs(np.abs(res.x) - _LOG_BOUND) > 1e-6
    converged = bool(np.all(np.abs(g[free]) < 1e-5) and np.isfinite(res.fun))
    return res, converged


def _hessian(loglik, lp, args, h=1e-4):
    """Hessian of the log-likelihood in log-parameters.

    Central differences of the gradient, symmetrized.
    """
    k = len(lp)
    H = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (loglik(lp + e, *args)[1] - loglik(lp - e, *args)[1]) / (2 * h)
    return 0.5 * (H + H.T)


def _hessian_from_ll(loglik, lp, args, h=1e-3):
    """Hessian by second differences of the log-likelihood itself.

    For models whose gradient is already a finite difference: differencing it again
    would amplify rounding.
    """
    k = len(lp)
    f = lambda v: loglik(v, *args, grad=False)  # noqa: E731
    f0 = f(lp)
    E = np.eye(k) * h
    H = np.empty((k, k))
    for i in range(k):
        H[i, i] = (f(lp + E[i]) - 2 * f0 + f(lp - E[i])) / h**2
        for j in range(i):
            H[i, j] = H[j, i] = (f(lp + E[i] + E[j]) - f(lp + E[i] - E[j])
                                 - f(lp - E[i] + E[j]) + f(lp - E[i] - E[j])) / (4 * h**2)
    return H


class _Fitter:
    """Shared machinery: settings, fit, standard errors, summary, HTML."""

    PARAMS: tuple[str, ...] = ()
    NAME = ""
    _ANALYTIC_GRADIENT = True

    def __init__(self, time_unit: str = "days", compress: bool = True, tol: float = 1e-13,
                 maxiter: int = 2000):
        self.time_unit = time_unit
        self.compress = compress
        self.tol = tol
        self.maxiter = maxiter

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in ("time_unit", "compress", "tol", "maxiter")}

    def set_params(self, **params) -> _Fitter:
        """Use given parameter values (e.g. published ones) instead of fitting.

        They are taken as known: no standard errors, and intervals on predictions
        collapse to the point value.
        """
        missing = [k for k in self.PARAMS if k not in params]
        if missing:
            raise CLVInputError(f"{self.NAME}: missing parameters {missing}")
        theta = [float(params[k]) for k in self.PARAMS]
        if not all(np.isfinite(v) and v > 0 for v in theta):
            raise CLVInputError(f"{self.NAME}: parameters must be positive, got {params}")
        k = len(theta)
        self.log_params_ = np.log(theta)
        self.params_ = pd.Series(theta, index=list(self.PARAMS), name=self.NAME)
        self.days_per_unit_ = _days_per_unit(self.time_unit)
        self.cov_log_ = np.zeros((k, k))
        self.se_log_ = pd.Series(np.nan, index=list(self.PARAMS))
        self.se_ = self.se_log_.copy()
        self.log_likelihood_ = np.nan
        self.n_customers_ = self.n_rows_fitted_ = 0
        self.converged_ = True
        self.boundary_ = []
        return self

    # filled by subclasses
    def _loglik(self, logp, *args, grad=True):
        raise NotImplementedError

    def _finish_fit(self, x0, args, total_w, n_customers):
        self.days_per_unit_ = _days_per_unit(self.time_unit)
        with one_blas_thread():
            res, ok = _fit_mle(self._loglik, np.asarray(x0, dtype=float), args, total_w,
                               self.tol, self.maxiter)
            self._set_estimates(res.x, args, n_customers, ok, res.message)
        return self

    def _set_estimates(self, lp, args, n_customers, ok, message=""):
        self.log_params_ = lp
        self.params_ = pd.Series(np.exp(lp), index=list(self.PARAMS), name=self.NAME)
        self.log_likelihood_ = float(self._loglik(lp, *args, grad=False))
        self.n_customers_ = int(n_customers)
        self.n_rows_fitted_ = len(args[0])
        at_bound = np.abs(np.abs(lp) - _LOG_BOUND) < 1e-6
        # a parameter running off towards infinity (r = 1.3e6 was seen on a store where no
        # customer has visibly dropped out yet) is the edge of the parameter space even
        # before it reaches the optimizer's bound: the model is not identified there
        shape = np.array([p not in _SCALE_PARAMS for p in self.PARAMS])
        edge = at_bound | ((np.abs(lp) > _EDGE_LOG) & shape)
        self.boundary_ = [str(p) for p in np.array(self.PARAMS)[edge]]
        self.converged_ = bool(ok and not edge.any())
        H = (_hessian(self._loglik, lp, args) if self._ANALYTIC_GRADIENT
             else _hessian_from_ll(self._loglik, lp, args))
        try:
            cov = np.linalg.inv(-H)
            bad = not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0)
        except np.linalg.LinAlgError:
            bad = True
        if bad:
            cov = np.full_like(H, np.nan)
            warnings.warn(f"{self.NAME}: the information matrix is not positive definite; "
                          "standard errors are undefined (parameters not identified?)",
                          RuntimeWarning, stacklevel=3)
        self.cov_log_ = cov
        self.hessian_log_ = H
        se_log = np.sqrt(np.diag(cov))
        self.se_log_ = pd.Series(se_log, index=list(self.PARAMS))
        self.se_ = pd.Series(np.exp(lp) * se_log, index=list(self.PARAMS))  # delta method
        if edge.any():
            warnings.warn(f"{self.NAME}: {self.boundary_} ran off to the edge of the parameter "
                          f"space (beyond exp(±{_EDGE_LOG:g})): not identified by these data",
                          RuntimeWarning, stacklevel=3)
        elif not ok:
            warnings.warn(f"{self.NAME}: the optimizer did not converge ({message})",
                          RuntimeWarning, stacklevel=3)

    def confidence_intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals on the log scale, exp(log estimate ± z se_log): always positive."""
        z = stats.norm.ppf(0.5 + level / 2)
        lp = pd.Series(self.log_params_, index=list(self.PARAMS))
        return pd.DataFrame({"low": np.exp(lp - z * self.se_log_),
                             "high": np.exp(lp + z * self.se_log_)})

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Estimate, standard error and ``level`` interval of each parameter."""
        ci = self.confidence_intervals(level)
        pct = f"{100 * level:g}"
        return pd.DataFrame({"estimate": self.params_, "se": self.se_,
                             f"low_{pct}": ci["low"], f"high_{pct}": ci["high"]})

    def _header(self) -> str:
        return (f"{self.NAME} fitted on {self.n_customers_:,} customers "
                f"({self.n_rows_fitted_:,} distinct rows), time unit: {self.time_unit}; "
                f"log-likelihood {self.log_likelihood_:,.2f}; converged: {self.converged_}")

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"
        return self._header() + "\n" + self.summary().to_string(float_format="%.4g")

    def _repr_html_(self) -> str:
        if not hasattr(self, "params_"):
            return f"<pre>{self!r}</pre>"
        return (f"<p><b>{self.NAME}</b> — {self._header()}</p>"
                + self.summary().to_html(float_format="%.4g"))

    def _check_fitted(self):
        if not hasattr(self, "params_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit() first")

    # parameter uncertainty for predictions: delta method (MLE) or draws (Bayesian)
    def _theta(self):
        return tuple(float(v) for v in self.params_)
