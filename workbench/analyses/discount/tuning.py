"""Small summaries for tuning the discount model interactively (the model tuner reads these).

Two read-outs that the fitted objects hold only in pieces:

* :func:`fit_checks` — the numbers behind a discount fit's ``converged_``: the worst
  R-hat and effective sample size with the parameter they belong to, divergent
  transitions and the posterior predictive check, next to the thresholds they are
  judged against (:class:`workbench.analyses.discount.model.Diagnostics`);
* :func:`parameter_forms` — which form (centred or non-centred) the fit used per
  parameter family, i.e. what ``parameterization="auto"`` chose.
"""

from __future__ import annotations

from .model import FAMILIES


def fit_checks(diagnostics) -> dict:
    """The convergence numbers of a discount fit, worst case first.

    Parameters
    ----------
    diagnostics
        :class:`workbench.analyses.discount.model.Diagnostics` (``model.diagnostics_``): a
        ``table`` of ``r_hat, ess_bulk, ess_tail`` per parameter, ``divergences``,
        a ``ppc`` table with an ``inside`` column and the ``thresholds``.

    Returns
    -------
    dict
        ``r_hat_max`` and ``r_hat_worst`` (its parameter), ``ess_min`` (the smaller of
        bulk and tail) and ``ess_worst``, ``ess_bulk_min``, ``ess_tail_min``,
        ``divergences``, ``ppc_outside`` (cells outside their 99% predictive interval)
        and ``ppc_cells``, ``failures`` (the list that decides convergence, empty when
        converged) and the ``thresholds``.

    Examples
    --------
    >>> import pandas as pd
    >>> from workbench.analyses.discount.model import Diagnostics
    >>> table = pd.DataFrame({"r_hat": [1.002, 1.02], "ess_bulk": [900.0, 310.0],
    ...                       "ess_tail": [700.0, 350.0]}, index=["mu_alpha", "sigma_alpha"])
    >>> d = Diagnostics(table, divergences=0, ppc=pd.DataFrame({"inside": [True, False]}),
    ...                 thresholds={"rhat_max": 1.01, "ess_min": 400, "max_divergences": 0,
    ...                             "ppc_max_outside": 0.5})
    >>> c = fit_checks(d)
    >>> c["r_hat_max"], c["r_hat_worst"], c["ess_min"], c["ess_worst"], c["ppc_outside"]
    (1.02, 'sigma_alpha', 310.0, 'sigma_alpha', 1)
    >>> len(c["failures"])
    2
    """
    t = diagnostics.table
    ess = t[["ess_bulk", "ess_tail"]].min(axis=1)
    inside = diagnostics.ppc["inside"].astype(bool)
    return {
        "r_hat_max": float(t.r_hat.max()), "r_hat_worst": str(t.r_hat.idxmax()),
        "ess_min": float(ess.min()), "ess_worst": str(ess.idxmin()),
        "ess_bulk_min": float(t.ess_bulk.min()), "ess_tail_min": float(t.ess_tail.min()),
        "divergences": int(diagnostics.divergences),
        "ppc_outside": int((~inside).sum()), "ppc_cells": int(len(inside)),
        "failures": list(diagnostics.failures), "thresholds": dict(diagnostics.thresholds),
    }


def parameter_forms(model) -> dict[str, str]:
    """The form each parameter family was sampled in: ``"centred"`` or ``"non_centred"``.

    Read from the posterior of a fitted
    :class:`workbench.analyses.discount.model.DiscountResponseModel`: a non-centred family
    ``f`` is sampled through its standardized ``z_f`` (``f = mu + sigma * z_f``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> fitted = SimpleNamespace(idata_=SimpleNamespace(
    ...     posterior={"alpha": 0, "z_offer": 0, "offer": 0, "beta": 0}))
    >>> parameter_forms(fitted)
    {'alpha': 'centred', 'offer': 'non_centred', 'beta': 'centred'}
    """
    post = model.idata_.posterior
    return {f: "non_centred" if f"z_{f}" in post else "centred" for f in FAMILIES}
