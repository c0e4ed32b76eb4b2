"""What an offer earns: incremental margin per segment × discount level, and the rule on it.

The outcome is the store's margin from each randomized customer in the window after
the send — every order's revenue actually paid (net of any discount redeemed) less
its goods cost, 0 for a customer who did not buy (``window_margin`` of
:func:`~workbench.analyses.discount.features.discount_units`).  Because the offer is
randomized, the difference of its mean between an arm and the 0% arm is the offer's
incremental margin, *everything counted*: the orders it caused at the discounted
price, the discount paid by customers who would have bought anyway, and a customer
who would have bought through another campaign adding nothing.  A model of P(buy)
with the economics added afterwards (:func:`.model.decide_discounts`) cannot see
the last two; this one measures them.

Model (PyMC), on sufficient statistics — per cell (segment ``s``, level ``d``) the
number of units ``n``, the mean margin ``ybar`` and the variance ``v`` of the margin per
customer (pooled within the segment over its levels) — so it costs the same at any
number of rows::

    ybar[s, d] ~ Normal(m0[s] + delta[s, d], sqrt(v[s, d] / n[s, d]))    (d = 0: delta = 0)
    delta[s, d] ~ Normal(theta[d] + X[s] @ gamma[:, d], tau)
    m0[s] ~ Normal(M, 5 (|M| + S))        theta[d] ~ Normal(0, 2 S)
    gamma ~ Normal(0, S)                  tau ~ HalfNormal(S)

``M`` is the mean margin of the 0% arm and ``S`` the typical standard error of a cell's
difference from it, so the priors are on the data's own scale.  The cell means are
normal by the central limit theorem (cells hold hundreds to thousands of customers;
the margin per customer is mostly 0 with a long tail, so a cell needs some 100
buyers for the normal limit — :func:`margin_cells` says so when one has fewer) with
the plug-in variance (the usual large-sample z-interval for a mean difference;
e.g. Imbens & Rubin 2015, *Causal Inference*, ch. 6).  ``delta`` is not given a shape
in ``d``: each tested level has its own effect, pooled across segments toward the
level's mean moved by the segment's flags (group-level predictors, Gelman & Hill
2007, sec. 12.6) — a segment with few customers borrows from segments like it, and
nothing is extrapolated beyond the tested levels.  Everything being normal, ``delta``
is integrated out for sampling and drawn afterwards from its exact conditional
(:meth:`MarginResponseModel._delta_draws`): sampling ``delta`` itself put ``tau`` in a
funnel (ESS 243 of 2,000 draws, or divergences, on stores the project never tuned on).
Diagnostics (R-hat, ESS, divergences, a posterior predictive check per cell) gate
``converged_`` as in :class:`.model.DiscountResponseModel`.

The decision (:func:`decide_on_margin`) maximizes the posterior mean of ``delta`` and
recommends a discount only where P(delta > 0) reaches ``min_prob``; the rule's
predicted effect on the store (:func:`rule_effect`) is the posterior of
``sum_s n_s delta[s, rule_s]`` against 0% for all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...results import Result
from ...sampling import SamplerSettings, configure_caches
from .model import Diagnostics, DiscountDecision, DiscountInputError, NutsEstimator

#: a cell whose customers include fewer buyers than this makes its mean's normal
#: approximation doubtful (the margin per customer is 0 or an order's margin)
MIN_BUYERS_PER_CELL = 30


def margin_cells(units: pd.DataFrame, outcome: str = "window_margin") -> pd.DataFrame:
    """Per segment × discount: ``n``, ``buyers``, ``mean`` and ``var`` of the margin per unit.

    ``units`` needs ``segment``, ``discount``, ``converted`` and the ``outcome`` column.
    Raises :class:`DiscountInputError` naming what is missing: a column, a 0% arm, an
    offered arm, or a segment absent from the 0% arm.
    """
    need = {"segment", "discount", "converted", outcome}
    missing = sorted(need - set(units.columns))
    if missing:
        raise DiscountInputError(f"discount units: missing columns {missing}")
    bad = units.index[units[outcome].isna()].tolist()
    if bad:
        raise DiscountInputError(f"discount units: column {outcome!r} is empty in rows "
                                 f"{bad[:10]}")
    g = units.groupby(["segment", "discount"])
    c = pd.DataFrame({"n": g.size(), "buyers": g.converted.sum(), "mean": g[outcome].mean(),
                      "var": g[outcome].var(ddof=1)}).reset_index()
    if not (c.discount == 0).any() or not (c.discount > 0).any():
        raise DiscountInputError("discount units: the margin model needs a 0% arm and at least "
                                 "one discounted arm")
    no_zero = sorted(set(c.segment) - set(c.segment[c.discount == 0]))
    if no_zero:
        raise DiscountInputError(f"discount units: segments {no_zero} have no customer in the "
                                 "0% arm, so their incremental margin cannot be measured")
    bought = units[outcome][units.converted == 1]
    if bought.empty:
        raise DiscountInputError("discount units: no customer bought in the window after a "
                                 "send, so no margin can be compared across offers")
    c["var"] = c["var"].fillna(0.0)
    c["few_buyers"] = c.buyers < MIN_BUYERS_PER_CELL
    # the margin's spread per customer is the segment's, whatever the offer (an offer moves
    # the mean by a few percent of it): pooled within the segment over its levels (the
    # ANOVA within-group variance), it is stable where a cell has a handful of buyers and
    # its own sample variance is mostly noise; a segment without spread at all gets one
    # buyer's worth, E[margin^2 | bought] / n
    dof = (c.n - 1).clip(lower=0)
    pooled = (c["var"] * dof).groupby(c.segment).transform("sum") / dof.groupby(
        c.segment).transform("sum").clip(lower=1)
    one_buyer = float((bought**2).mean())
    c["var"] = np.maximum(pooled, one_buyer / c.n.clip(lower=1))
    return c


#: compiled margin models by shape (cells, segments, levels, flags), this process's
_COMPILED: dict = {}


def _margin_model(data: dict, n_seg: int, n_lev: int):
    """The PyMC model of the module doc, every input a ``pm.Data`` (see ``_sample``).

    The cells' columns travel as one matrix and the scales as one vector: numba compiles
    nutpie's callbacks per shared array, and eight of them took twice as long as three.
    """
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model() as model:
        cells = pm.Data("cells", data["cells"])  # ybar, se, on, segment, level
        scale = pm.Data("scale", data["scale"])  # M, S
        M, S = scale[0], scale[1]
        ybar, se, on = cells[:, 0], cells[:, 1], cells[:, 2]
        s_idx = pt.cast(cells[:, 3], "int64")
        d_idx = pt.cast(cells[:, 4], "int64")
        m0 = pm.Normal("m0", M, 5 * (abs(M) + S), shape=n_seg)
        theta = pm.Normal("theta", 0.0, 2 * S, shape=n_lev)
        tau = pm.HalfNormal("tau", S)
        mean_d = theta[None, :] + pm.math.zeros((n_seg, 1))
        if "X" in data:
            X = pm.Data("X", data["X"])
            gamma = pm.Normal("gamma", 0.0, S, shape=(data["X"].shape[1], n_lev))
            mean_d = mean_d + pm.math.dot(X, gamma)
        mean_d = pm.Deterministic("level_mean", mean_d)
        # delta integrated out: ybar ~ N(m0 + mean_d, se^2 + tau^2) (no funnel to sample)
        mu = m0[s_idx] + on * mean_d[s_idx, d_idx]
        sd = pm.math.sqrt(se**2 + on * tau**2)
        pm.Normal("ybar", mu, sd, observed=ybar)
    return model


class MarginResponseModel(NutsEstimator):
    """Hierarchical model of incremental margin per segment × level (see the module doc).

    scikit-learn style: settings here, data in :meth:`fit`, learned values end in ``_``.
    """

    def __init__(self, draws: int = 1000, tune: int = 1000, chains: int = 2,
                 sampler: str = "nutpie", target_accept: float | None = 0.95,
                 random_seed: int | None = 0, rhat_max: float = 1.01, ess_min: float = 400,
                 max_divergences: int = 0, ppc_max_outside: float = 0.1):
        super().__init__(draws, tune, chains, sampler, target_accept, random_seed, rhat_max,
                         ess_min, max_divergences, ppc_max_outside)

    def fit(self, cells: pd.DataFrame,
            segment_features: pd.DataFrame | None = None) -> MarginResponseModel:
        """Fit on :func:`margin_cells` output; ``segment_features`` as in the P(buy) model."""
        settings = SamplerSettings.of(self).check(DiscountInputError)
        configure_caches()
        c = cells.sort_values(["segment", "discount"]).reset_index(drop=True)
        segs = sorted(c.segment.unique())
        levels = sorted(float(d) for d in c.discount.unique() if d > 0)
        s_idx = c.segment.map({s: i for i, s in enumerate(segs)}).to_numpy()
        d_idx = c.discount.map({d: j for j, d in enumerate(levels)}).fillna(-1).to_numpy(int)
        se = np.sqrt(c["var"].to_numpy() / c.n.to_numpy())
        zero = c[c.discount == 0]
        M = float(np.average(zero["mean"], weights=zero.n))
        S = float(np.median(np.hypot(se[d_idx >= 0], np.median(se[d_idx < 0]))))
        S = max(S, 1e-9)
        X = None
        if segment_features is not None:
            missing = [s for s in segs if s not in segment_features.index]
            if missing:
                raise DiscountInputError(f"segment_features: no row for segments {missing}")
            Xf = segment_features.loc[segs].astype(float)
            X = (Xf - Xf.mean()).to_numpy()
        on = d_idx >= 0
        data = {"cells": np.column_stack([c["mean"].to_numpy(float), se, on.astype(float),
                                          s_idx.astype(float),
                                          np.maximum(d_idx, 0).astype(float)]),
                "scale": np.array([M, S])}
        if X is not None:
            data["X"] = X
        idata = self._sample(settings, data, len(segs), len(levels))
        post = idata.posterior
        self._label_dims(post, segs, levels)

        def draws(name):
            return post[name].stack(sample=("chain", "draw")).transpose("sample", ...).values

        self.m0_ = draws("m0")
        self.delta_ = self._delta_draws(draws("level_mean"), draws("tau"), self.m0_,
                                        c, s_idx, d_idx, se, len(segs), len(levels))
        self.segments_, self.levels_, self.cells_, self.idata_ = segs, levels, c, idata
        self.counts_ = c  # the sufficient statistics, hashed into an exported config
        self.scale_ = {"M": M, "S": S}
        names = ["m0", "theta", "tau"] + (["gamma"] if X is not None else [])
        import arviz as az

        summ = az.summary(idata, var_names=names, kind="diagnostics", round_to="none")
        divergences = int(idata.sample_stats["diverging"].sum())
        self.diagnostics_ = Diagnostics(
            summ[["r_hat", "ess_bulk", "ess_tail"]], divergences, self._ppc(s_idx, d_idx, se),
            {"rhat_max": self.rhat_max, "ess_min": self.ess_min,
             "max_divergences": self.max_divergences, "ppc_max_outside": self.ppc_max_outside})
        self.converged_ = self.diagnostics_.ok
        return self

    def _sample(self, settings, data: dict, n_seg: int, n_lev: int):
        """Sample the model on ``data``; with nutpie, compiled once per shape and process.

        The model's inputs are all ``pm.Data``, so a second fit of the same shape (the
        cross-fit's halves, a study's next store) swaps them into the compiled model
        instead of compiling again (about 5 of a fit's 8-10 seconds here).
        """
        from ...sampling import compile_nutpie, sample_compiled

        key = (len(data["cells"]), n_seg, n_lev,
               None if "X" not in data else data["X"].shape[1])
        if settings.available_sampler() != "nutpie":
            with _margin_model(data, n_seg, n_lev):
                idata, self.sampler_used_ = settings.sample(
                    target_accept=self.target_accept, fallback=False)
            return idata
        compiled = _COMPILED.pop(key, None)
        compiled = (compile_nutpie(_margin_model(data, n_seg, n_lev)) if compiled is None
                    else compiled.with_data(**data))
        _COMPILED[key] = compiled
        while len(_COMPILED) > 4:
            _COMPILED.pop(next(iter(_COMPILED)))
        self.sampler_used_ = "nutpie"
        return sample_compiled(compiled, settings, self.target_accept)

    @staticmethod
    def _label_dims(post, segs, levels) -> None:
        """Name the posterior's positional dimensions by segment and level, in place."""
        for var, names in (("m0", [segs]), ("theta", [levels]), ("level_mean", [segs, levels]),
                           ("gamma", [None, levels])):
            if var not in post:
                continue
            dims = post[var].dims[2:]
            for dim, labels in zip(dims, names, strict=True):
                if labels is not None:
                    post.coords[dim] = list(labels)

    def _delta_draws(self, level_mean, tau, m0, c, s_idx, d_idx, se, n_seg, n_lev):
        """Each draw's ``delta`` from its exact conditional given the sampled parameters.

        Normal prior ``N(level_mean, tau^2)`` and normal likelihood ``ybar - m0 ~
        N(delta, se^2)`` give ``N((level_mean / tau^2 + (ybar - m0) / se^2) / prec,
        1 / prec)``, ``prec = 1 / tau^2 + 1 / se^2`` (Gelman et al., *Bayesian Data
        Analysis*, 3rd ed., eq. 5.17): the model samples only the hyperparameters and
        ``m0`` (the centred/non-centred funnel of ``delta`` never arises) and ``delta`` is
        drawn after, which is exact.  A segment × level that was not tested draws from
        its prior.
        """
        rng = np.random.default_rng(None if self.random_seed is None
                                    else self.random_seed + 7919)
        n = len(tau)
        prior_var = np.maximum(tau, 1e-12)[:, None, None] ** 2 * np.ones((1, n_seg, n_lev))
        mean = level_mean.copy()
        var = prior_var.copy()
        ybar = c["mean"].to_numpy()
        for k in np.flatnonzero(d_idx >= 0):
            s, j = s_idx[k], d_idx[k]
            prec = 1 / prior_var[:, s, j] + 1 / se[k] ** 2
            mean[:, s, j] = (level_mean[:, s, j] / prior_var[:, s, j]
                             + (ybar[k] - m0[:, s]) / se[k] ** 2) / prec
            var[:, s, j] = 1 / prec
        return mean + np.sqrt(var) * rng.standard_normal((n, n_seg, n_lev))

    def _ppc(self, s_idx, d_idx, se) -> pd.DataFrame:
        """Per cell: the observed mean inside its 99% posterior predictive interval."""
        rng = np.random.default_rng(self.random_seed)
        mu = self.m0_[:, s_idx] + np.where(d_idx >= 0, self.delta_[:, s_idx, np.maximum(d_idx, 0)],
                                           0.0)
        sims = mu + rng.standard_normal(mu.shape) * se
        lo, hi = np.quantile(sims, [0.005, 0.995], axis=0)
        obs = self.cells_["mean"].to_numpy()
        return self.cells_.assign(predicted=mu.mean(axis=0), pred_low=lo, pred_high=hi,
                                  inside=(obs >= lo) & (obs <= hi))

    def incremental_draws(self, segment: str) -> np.ndarray:
        """Posterior draws of the incremental margin per customer at every level.

        Shape ``(samples, 1 + len(levels_))``, 0% (all zeros) first.
        """
        if segment not in self.segments_:
            raise DiscountInputError(f"unknown segment {segment!r}; fitted: {self.segments_}")
        d = self.delta_[:, self.segments_.index(segment), :]
        return np.column_stack([np.zeros(len(d)), d])

    def table(self) -> pd.DataFrame:
        """Per segment × level: the incremental margin per customer, posterior and observed.

        Posterior mean, 90% interval and P(> 0), with the observed difference from the 0%
        arm and the arm's customers.
        """
        rows = []
        c = self.cells_.set_index(["segment", "discount"])
        for s in self.segments_:
            dr = self.incremental_draws(s)
            lo, hi = np.quantile(dr, [0.05, 0.95], axis=0)
            base = c.loc[(s, 0.0)]
            for j, d in enumerate([0.0, *self.levels_]):
                cell = c.loc[(s, d)] if (s, d) in c.index else None
                rows.append({"segment": s, "discount": d, "incremental_margin": dr[:, j].mean(),
                             "low_90": lo[j], "high_90": hi[j],
                             "prob_beats_zero": float((dr[:, j] > 0).mean()),
                             "observed": (cell["mean"] - base["mean"]) if cell is not None
                             else np.nan,
                             "n": int(cell["n"]) if cell is not None else 0,
                             "buyers": int(cell["buyers"]) if cell is not None else 0})
        return pd.DataFrame(rows)


    def chart(self):
        """Altair: incremental margin per customer by level, per segment.

        The posterior mean and 90% band, and the observed difference from the 0% arm.
        """
        import altair as alt

        d = self.table()
        base = alt.Chart(d).encode(x=alt.X("discount:Q", axis=alt.Axis(format="%"),
                                           title="discount offered"))
        band = base.mark_area(opacity=0.25).encode(
            y=alt.Y("low_90:Q", title="incremental margin per customer"), y2="high_90:Q")
        line = base.mark_line().encode(y="incremental_margin:Q")
        pts = base.mark_point(filled=True, color="black").encode(
            y="observed:Q", tooltip=["segment", "discount", "observed", "n",
                                     "incremental_margin", "prob_beats_zero"])
        zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color="gray").encode(y="y:Q")
        return (band + line + pts + zero).properties(width=160, height=120).facet(
            facet=alt.Facet("segment:N", title=None), columns=4, data=d).properties(
            title="Incremental margin per customer against 0%: mean, 90% band, observed")


@dataclass
class MarginFit:
    """The margin model fitted on an experiment's units, as the pipeline runs it."""

    segmentation: object  # workbench.segments.Segmentation, the order-value split pinned
    units: pd.DataFrame  # the experiment's units with their ``segment``
    model: MarginResponseModel
    pooled: bool = True  # segments pooled on their flags
    crossfitted: CrossFitted | None = None  # set by decide(honest=True)
    unit: str = "customer-send"  # what a unit is, in the report's sentences ("cart")

    def decide(self, min_prob: float = 0.9, honest: bool = False) -> DiscountDecision:
        """The rule (:func:`decide_on_margin`), with what the test could see (``power``).

        ``honest``: also its predicted effect cross-fitted (:func:`crossfit`, two more
        fits), in the decision's ``honest_effect`` — when the rule offers a discount at
        all (a rule of 0% for everyone selected nothing and predicts exactly 0).
        """
        from .power import margin_power

        dec = decide_on_margin(self.model, min_prob=min_prob)
        dec.power = margin_power(self.units, segments=len(self.model.segments_),
                                 min_prob=min_prob, unit=self.unit).sentence()
        # nothing offered, nothing selected: the prediction is exactly 0 either way
        if honest and (dec.recommendations.discount > 0).any():
            # the halves' prediction needs a mean and a 95% interval, not the full fit's
            # diagnostics margin: 1,000 draws each (ESS ~1,000 of the summed effect)
            kw = self.model.get_params()
            kw.update(draws=min(kw["draws"], 1000), tune=min(kw["tune"], 1000))
            cf = crossfit(self.units, min_prob, pool_on_features=self.pooled, **kw)
            self.crossfitted = cf
            if cf is not None:
                dec.honest_effect = cf.effect(self.units.segment.value_counts())
        return dec


def fit_margins(units: pd.DataFrame, segmentation=None, pool_on_features: bool = True,
                unit: str = "customer-send", **model_kwargs) -> MarginFit:
    """Segment the units and fit :class:`MarginResponseModel` on their cells.

    ``segmentation`` is a :class:`~workbench.segments.Segmentation` (default deal × value ×
    recency), its order-value split pinned to the units' median; segments are pooled
    toward segments with the same flags unless ``pool_on_features`` is false; ``unit``
    names a unit in the decision's sentences.
    """
    from ...segments import Segmentation
    from .features import segment_features, segment_units

    seg = segmentation or Segmentation()
    missing = sorted({*seg.needs(), "discount", "converted", "window_margin", "prior_aov"}
                     - set(units.columns))
    if missing:
        raise DiscountInputError(f"discount units: missing columns {missing}")
    seg = seg.resolved(units["prior_aov"])
    u = units.assign(segment=segment_units(units, segmentation=seg))
    model = MarginResponseModel(**model_kwargs).fit(
        margin_cells(u), segment_features(u.segment) if pool_on_features else None)
    return MarginFit(segmentation=seg, units=u, model=model, pooled=pool_on_features,
                     unit=unit)


def decide_on_margin(model: MarginResponseModel, min_prob: float = 0.9,
                     uniform: bool = True) -> DiscountDecision:
    """The discount rule on margin: per segment, the best tested level if it is likely enough.

    The level with the highest expected incremental margin per customer, recommended
    only where P(it beats 0%) reaches ``min_prob`` (else 0%).  The margin is measured,
    not assembled: it already nets the discount paid by those who would have bought
    anyway and the orders that would have come through another route.

    ``uniform``: the same level for every segment is a candidate rule too.  Small gains
    spread over every segment may reach ``min_prob`` for the store when no segment's
    own posterior does (each segment has an eighth of the data); so among the rule by
    segment and each uniform rule, the one with the highest posterior mean effect
    (:func:`rule_effect`, at the experiment's segment shares) whose P(beats 0% for all)
    reaches ``min_prob`` is recommended — a Bayes decision under a probability
    constraint on the store's total, the quantity the store earns.  The rule-level
    probability is an aggregate over segments, so several candidates can be compared
    without the per-cell winner's curse growing much (five candidates, not forty cells).
    Measured over 20 untuned stores (README, issue 16): the rule's true margin rose from
    9% to 13% of the truth-optimal gain on average — the test is the limit, see
    :func:`margin_power`.

    Returns a :class:`.model.DiscountDecision` (the P(buy) decision's tables), whose
    ``rule_effect`` is :func:`rule_effect` at the segments' shares of the experiment and
    whose ``basis`` says why a uniform rule was chosen.
    """
    table = model.table()
    recs = []
    levels = np.array([0.0, *model.levels_])
    for s in model.segments_:
        t = table[table.segment == s].reset_index(drop=True)
        j = int(np.argmax(t.incremental_margin.to_numpy()))
        send = j > 0 and t.prob_beats_zero[j] >= min_prob
        recs.append({"segment": s, "best_level": levels[j],
                     "discount": levels[j] if send else 0.0,
                     "incremental_margin": t.incremental_margin[j] if send else 0.0,
                     "low_90": t.low_90[j] if send else 0.0,
                     "high_90": t.high_90[j] if send else 0.0,
                     "prob_beats_zero": float(t.prob_beats_zero[j])})
    recs = pd.DataFrame(recs)
    weights = model.cells_.groupby("segment").n.sum()
    basis = None
    if uniform:
        best = _best_uniform(model, dict(zip(recs.segment, recs.discount, strict=True)),
                             weights, min_prob)
        if best is not None:
            d, p = best
            at = table[np.isclose(table.discount, d)].set_index("segment").loc[recs.segment]
            recs = recs.assign(discount=d, incremental_margin=at.incremental_margin.to_numpy(),
                               low_90=at.low_90.to_numpy(), high_90=at.high_90.to_numpy(),
                               prob_beats_zero=at.prob_beats_zero.to_numpy())
            basis = (f"{d:.0%} for all: P(the rule beats 0% for all) is {p:.0%} over the "
                     f"experiment's customers, ≥ {min_prob:.0%}, and its expected margin is "
                     f"the highest of the rules that reach it (a segment's own "
                     f"P(beats 0%), below, need not)")
    effect = rule_effect(model, dict(zip(recs.segment, recs.discount, strict=True)), weights)
    return DiscountDecision(table=table, recommendations=recs, min_prob=min_prob,
                            converged=bool(model.converged_),
                            diagnostics=model.diagnostics_.failures, rule_effect=effect,
                            per="customer", basis=basis)


def _best_uniform(model: MarginResponseModel, by_segment: dict, weights: pd.Series,
                  min_prob: float) -> tuple[float, float] | None:
    """The uniform level that beats the rule by segment (see :func:`decide_on_margin`).

    ``(level, P(beats 0% for all))`` when a uniform rule reaching ``min_prob`` has a higher
    posterior mean effect than ``by_segment`` (if that reaches ``min_prob`` itself); else
    None.
    """
    own = _rule_draws(model, by_segment, weights)
    best_mean = own.mean() if (own > 0).mean() >= min_prob else -np.inf
    best = None
    for d in model.levels_:
        tot = _rule_draws(model, dict.fromkeys(model.segments_, d), weights)
        p = float((tot > 0).mean())
        if p >= min_prob and tot.mean() > best_mean:
            best_mean, best = tot.mean(), (float(d), p)
    return best


def _rule_draws(model: MarginResponseModel, rule: dict, weights: pd.Series) -> np.ndarray:
    """Posterior draws of ``sum_s w_s delta[s, rule_s]`` (see :func:`rule_effect`)."""
    levels = [0.0, *model.levels_]
    total = np.zeros(model.delta_.shape[0])
    for s in model.segments_:
        d = float(rule.get(s, 0.0))
        hit = [j for j, x in enumerate(levels) if np.isclose(x, d)]
        if not hit:
            raise DiscountInputError(f"rule: {d:.0%} for segment {s!r} was not tested "
                                     f"(levels {levels})")
        total += float(weights.get(s, 0)) * model.incremental_draws(s)[:, hit[0]]
    return total


def rule_effect(model: MarginResponseModel, rule: dict, weights: pd.Series,
                ci: float = 0.95) -> dict:
    """The posterior of a rule's margin effect against 0% for all, per customer and in total.

    ``rule`` maps segment to level (a level the experiment tested, or 0); ``weights`` the
    customers per segment the rule is applied to (e.g. the experiment's, or one send's).
    ``sum_s w_s delta[s, rule_s]`` per draw: mean and central ``ci`` interval, in total and
    per customer.
    """
    total = _rule_draws(model, rule, weights)
    n = float(sum(float(weights.get(s, 0)) for s in model.segments_))
    lo, hi = np.quantile(total, [(1 - ci) / 2, (1 + ci) / 2])
    return {"customers": n, "total": float(total.mean()), "low": float(lo), "high": float(hi),
            "per_customer": float(total.mean() / n) if n else 0.0, "ci": ci,
            "prob_positive": float((total > 0).mean())}


@dataclass
class CrossFitted:
    """Per segment, draws of the incremental margin per customer of the rule the data pick.

    Each judged by the half of the customers that did not choose it (:func:`crossfit`).
    """

    draws: dict  # segment -> (samples,) draws, the folds averaged draw by draw
    converged: bool

    def effect(self, weights: pd.Series, ci: float = 0.95) -> dict:
        """The honest prediction for ``weights`` customers per segment: mean, interval."""
        n = float(sum(float(weights.get(s, 0)) for s in self.draws))
        m = min(len(d) for d in self.draws.values())
        total = sum(float(weights.get(s, 0)) * d[:m] for s, d in self.draws.items())
        lo, hi = np.quantile(total, [(1 - ci) / 2, (1 + ci) / 2])
        return {"customers": n, "total": float(np.mean(total)), "low": float(lo),
                "high": float(hi), "per_customer": float(np.mean(total) / n) if n else 0.0,
                "ci": ci, "honest": True}


def crossfit(units: pd.DataFrame, min_prob: float = 0.9, pool_on_features: bool = True,
             **model_kwargs) -> CrossFitted | None:
    """An honest prediction of what the rule the data pick will earn: cross-fitted.

    The rule keeps the segment × level whose estimate came out high, so the same fit's
    posterior of the rule's effect is optimistic — the winner's curse of selecting on
    noisy estimates (measured over 20 stores the project never tuned on: wherever a
    discount was offered, the in-sample prediction exceeded the rule's true effect, by
    5 to 100 times).  So the units are split by customer into two halves (a fixed hash);
    each half's model decides a rule (:func:`decide_on_margin`) and the *other* half's
    model, whose data played no part in choosing it, estimates its effect — sample
    splitting as in honest estimation (Athey & Imbens 2016, PNAS 113(27)) and
    cross-fitting (Chernozhukov et al. 2018, *Econometrics Journal* 21(1), def. 3.1).
    The two judgements are averaged draw by draw (independent halves).  ``units`` carry
    a ``segment`` column.  Two fits, each on half the data; None when a half lacks a 0%
    or an offered arm.
    """
    from .features import segment_features

    missing = sorted({"customer_id", "segment"} - set(units.columns))
    if missing:
        raise DiscountInputError(f"discount units: missing columns {missing} (the halves are "
                                 "split by customer)")
    fold = pd.util.hash_array(units.customer_id.to_numpy()) % 2
    models = []
    for k in range(2):
        part = units[fold == k]
        try:
            cells = margin_cells(part)
        except DiscountInputError:
            return None
        models.append(MarginResponseModel(**model_kwargs).fit(
            cells, segment_features(part.segment) if pool_on_features else None))
    per_fold = []
    for k in range(2):
        chooser, judge = models[1 - k], models[k]
        rec = decide_on_margin(chooser, min_prob).recommendations
        levels = [0.0, *judge.levels_]
        out = {}
        for s, d in zip(rec.segment, rec.discount, strict=True):
            j = next((i for i, x in enumerate(levels) if np.isclose(x, d)), None)
            if s in judge.segments_ and j is not None:
                out[s] = judge.incremental_draws(s)[:, j]
        per_fold.append(out)
    segs = sorted(set(per_fold[0]) & set(per_fold[1]))
    m = min(len(next(iter(f.values()))) for f in per_fold)
    return CrossFitted(draws={s: (per_fold[0][s][:m] + per_fold[1][s][:m]) / 2 for s in segs},
                       converged=all(bool(mm.converged_) for mm in models))


@dataclass
class MarginScore(Result):
    """The margin decision scored against the simulator's truth of every unit."""

    coverage: pd.DataFrame  # segment, discount, incremental_margin, low_90, high_90, truth
    segments: pd.DataFrame  # segment, n, recommended, true_best, true margins
    rule: dict  # predicted and true effects of the rule, and the truth-optimal rule's

    def summary(self) -> str:
        r = self.rule
        return (f"90% intervals covered the true incremental margin in "
                f"{self.coverage.covered.mean():.0%} of {len(self.coverage)} segment × level "
                f"cells. The rule's true effect against 0% for all: {r['true']:+,.0f} "
                f"(predicted {r['predicted']:+,.0f} [{r['low']:+,.0f}, {r['high']:+,.0f}]); "
                f"the truth-optimal rule's: {r['true_optimal']:+,.0f}.")


def score_margin_decision(model: MarginResponseModel, decision: DiscountDecision,
                          truth_units: pd.DataFrame) -> MarginScore:
    """Coverage of each segment × level interval and the rule's true margin.

    ``truth_units``: :func:`workbench.simulate.truth.discount_margin_truth` output with a
    ``segment`` column.  The truth of a segment × level is the mean over the segment's
    units of their expected incremental margin; the rule's true effect is the sum over
    units of their truth at their segment's level, next to the truth-optimal rule (each
    segment at its truly best tested level, or 0%) and the prediction.
    """
    cols = {d: f"incremental_margin_{round(100 * d):d}" for d in [0.0, *model.levels_]}
    missing = [c for c in [*cols.values(), "segment"] if c not in truth_units.columns]
    if missing:
        raise DiscountInputError(f"truth units: missing columns {missing}")
    truth = truth_units.groupby("segment")[list(cols.values())].mean()
    n = truth_units.groupby("segment").size()
    cov = model.table()
    cov["truth"] = [truth.loc[r.segment, cols[r.discount]] for r in cov.itertuples()]
    cov = cov[cov.discount > 0].reset_index(drop=True)
    cov["covered"] = (cov.low_90 <= cov.truth) & (cov.truth <= cov.high_90)
    rec = decision.recommendations.set_index("segment").discount
    rows = []
    for s in model.segments_:
        t = truth.loc[s].rename(index={v: k for k, v in cols.items()})
        best = float(t.idxmax()) if t.max() > 0 else 0.0
        rows.append({"segment": s, "n": int(n.get(s, 0)), "recommended": float(rec[s]),
                     "true_best": best, "true_margin_of_recommended": float(t[rec[s]]),
                     "true_best_margin": float(t[best])})
    seg = pd.DataFrame(rows)
    weights = n.reindex(model.segments_).fillna(0)
    pred = rule_effect(model, rec.to_dict(), weights)
    rule = {"predicted": pred["total"], "low": pred["low"], "high": pred["high"],
            "true": float((seg.n * seg.true_margin_of_recommended).sum()),
            "true_optimal": float((seg.n * seg.true_best_margin).sum()),
            "customers": float(seg.n.sum())}
    rule["covers_true"] = bool(pred["low"] <= rule["true"] <= pred["high"])
    rule["covers_optimal"] = bool(pred["low"] <= rule["true_optimal"] <= pred["high"])
    h = decision.honest_effect
    if h is not None:  # the cross-fitted prediction, for the same customers
        rule.update(honest=h["total"], honest_low=h["low"], honest_high=h["high"],
                    honest_covers_true=bool(h["low"] <= rule["true"] <= h["high"]))
    return MarginScore(coverage=cov, segments=seg, rule=rule)
