"""Gamma-Gamma spend model (FHL 2005b; Fader & Hardie 2013): likelihood and spend.

Fitting, summaries and input checks are inherited from :mod:`workbench.clv.base`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import digamma, gammaln

from .base import CLVInputError, _Fitter, _unique_rows, _x_groups, check_rfm


def _gg_groups(x, m, w):
    G = _x_groups(x, w)
    G.update(lm=np.log(m), xm=x * m, wxlm=float(w @ (x * np.log(m))), wlm=float(w @ np.log(m)))
    return G


def _gg_loglik(logp, x, m, w, k=None, groups=None, grad=True):
    """Log-likelihood of the mean spend m_x of x purchases and its analytic gradient.

    Fader & Hardie 2013 note; terms in x alone are computed once per distinct x.
    """
    G = groups if groups is not None else _gg_groups(x, m, w)
    ux, wx = G["ux"], G["wx"]
    theta = np.exp(logp)
    p, q, g = theta
    pu = p * ux
    lgm = np.log(g + G["xm"])
    Cu = gammaln(pu + q) - gammaln(pu) - gammaln(q) + q * np.log(g) + pu * np.log(ux)
    ll = float(wx @ Cu + p * G["wxlm"] - G["wlm"] - (p * (w * x) + q * w) @ lgm)
    if not grad:
        return ll
    pqx = digamma(pu + q)
    d_p = wx @ (ux * (pqx - digamma(pu) + np.log(ux))) + G["wxlm"] - (w * x) @ lgm
    d_q = wx @ (pqx - digamma(q) + np.log(g)) - w @ lgm
    d_g = wx.sum() * q / g - w @ ((p * x + q) / (g + G["xm"]))
    return ll, np.array([d_p, d_q, d_g]) * theta


def _gg_rows(rfm, weights, compress: bool):
    """Repeat buyers' (frequency, spend, weight) rows for Gamma-Gamma, compressed."""
    d = check_rfm(rfm, monetary=True, weights=weights)
    keep = d["x"] > 0
    if keep.sum() < 3:
        raise CLVInputError("rfm: Gamma-Gamma needs at least 3 customers with repeat "
                            f"purchases (frequency > 0); got {int(keep.sum())}")
    x, m, w = d["x"][keep], d["m"][keep], d["w"][keep]
    n_customers = w.sum()
    if compress:
        (x, m), inv = _unique_rows(x, m)
        w = np.bincount(inv, weights=w, minlength=len(x))
    return x, m, w, n_customers


class GammaGammaModel(_Fitter):
    """Gamma-Gamma model of the average spend per purchase (FHL 2005b; Fader & Hardie 2013).

    Fitted on customers with ``frequency > 0`` (their ``monetary_value`` is the mean of
    ``frequency`` purchases).  Parameters p, q, gamma; the population mean spend is
    ``p gamma / (q - 1)`` (needs q > 1).  Assumes spend is independent of the purchase
    process: check ``corr(frequency, monetary_value)`` is near 0.

    >>> from workbench.clv import simulate_bg_nbd, simulate_gamma_gamma
    >>> rfm = simulate_gamma_gamma(simulate_bg_nbd(3000, T=52, r=0.25, alpha=4.0, a=0.8,
    ...                                            b=2.5, seed=2), p=6, q=4, gamma=15, seed=3)
    >>> gg = GammaGammaModel().fit(rfm)
    >>> bool(gg.converged_)
    True
    """

    PARAMS = ("p", "q", "gamma")
    NAME = "Gamma-Gamma"

    def _loglik(self, logp, x, m, w, k, groups=None, grad=True):
        return _gg_loglik(logp, x, m, w, groups=groups, grad=grad)

    def fit(self, rfm: pd.DataFrame, weights=None) -> GammaGammaModel:
        """Fit on the customers with repeat purchases; ``weights`` count identical rows."""
        x, m, w, n_customers = _gg_rows(rfm, weights, self.compress)
        self.data_ = pd.DataFrame({"frequency": x, "monetary_value": m, "weight": w})
        mean_m = np.average(m, weights=w)
        x0 = np.log([1.0, 2.0, mean_m])
        return self._finish_fit(x0, (x, m, w, 0, _gg_groups(x, m, w)), w.sum(), n_customers)

    def set_params(self, **params) -> GammaGammaModel:
        """Use given parameter values (e.g. published ones) instead of fitting."""
        return super().set_params(**params)

    def population_mean_spend(self) -> float:
        """E[M] = p gamma / (q - 1) for a new customer (inf when q <= 1)."""
        p, q, g = self._theta()
        return p * g / (q - 1) if q > 1 else np.inf

    def expected_spend(self, rfm: pd.DataFrame) -> np.ndarray:
        """E[M | m_x, x]: expected spend per future purchase (FHL 2005b).

        Customers with no repeat purchase get the population mean.
        """
        self._check_fitted()
        d = check_rfm(rfm, monetary=True)
        return self._spend(self._theta(), d["x"], d["m"])

    @staticmethod
    def _spend(theta, x, m):
        p, q, g = theta
        mm = np.where(x > 0, m, 0.0)
        return p * (g + x * mm) / (p * x + q - 1)

    def spend_density(self, values, frequency) -> np.ndarray:
        """Density of a customer's mean spend m_x given x = frequency purchases (FH 2013 note)."""
        self._check_fitted()
        m = np.asarray(values, dtype=float)
        x = np.asarray(frequency, dtype=float)
        p, q, g = self._theta()
        px = p * x
        return np.exp(gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g)
                      + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(g + m * x))

    def chart(self, bins: int = 40):
        """Altair: histogram of observed mean spend vs the model's density of m_x."""
        import altair as alt

        self._check_fitted()
        d = self.data_
        m, w = d["monetary_value"].to_numpy(), d["weight"].to_numpy()
        hi = float(np.quantile(np.repeat(m, 1) if len(m) < 2 else m, 0.99))
        edges = np.linspace(0, hi, bins + 1)
        dens, _ = np.histogram(m, bins=edges, weights=w, density=True)
        mid = 0.5 * (edges[1:] + edges[:-1])
        ux, inv = np.unique(d["frequency"].to_numpy(), return_inverse=True)
        wx = np.bincount(inv, weights=w)
        grid = np.linspace(hi / 400, hi, 200)
        model = (self.spend_density(grid[:, None], ux[None, :]) * wx).sum(1) / wx.sum()
        obs = pd.DataFrame({"spend": mid, "density": dens, "source": "observed"})
        mod = pd.DataFrame({"spend": grid, "density": model, "source": "model"})
        bars = alt.Chart(obs).mark_bar(opacity=0.5).encode(
            x=alt.X("spend:Q", title="mean spend per repeat purchase"), y="density:Q")
        line = alt.Chart(mod).mark_line(color="black").encode(x="spend:Q", y="density:Q")
        return (bars + line).properties(width=360, height=220,
                                        title="Gamma-Gamma: observed mean spend vs model")
