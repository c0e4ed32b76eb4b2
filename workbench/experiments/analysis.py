"""Analysis of any randomized A/B/n experiment table.

One call, :func:`analyze_experiment`, on a plain DataFrame with an arm column
and an outcome column (binary or continuous, e.g. revenue), optionally a
pre-period covariate, a segment column, and a duration/event pair.  Per arm
against a named control it reports:

* rates with Wilson score intervals (Wilson 1927, JASA 22(158)); means with
  t intervals;
* absolute lift with Newcombe's hybrid score interval (Newcombe 1998, Stat.
  Med. 17(8), method 10) and relative lift with the log-adjusted ratio interval
  (statsmodels ``confint_proportions_2indep``); for means, Welch's interval
  (Welch 1947, Biometrika 34) and a delta-method interval for the ratio;
* p-values: two-proportion z-test (pooled) or Welch's t-test, an omnibus
  chi-square (binary) or Welch's heteroscedastic ANOVA (Welch 1951,
  Biometrika 38) across all arms, and Holm's step-down correction across arms
  (Holm 1979, Scand. J. Stat. 6(2));
* a sample-ratio-mismatch check (chi-square goodness of fit, flagged at
  p < 0.001; Fabijan et al. 2019, KDD, "Diagnosing sample ratio mismatch");
* CUPED (Deng, Xu, Kohavi & Walker 2013, WSDM, eq. 3-4): ``Y* = Y - θ (X - E X)``
  with ``θ = cov(Y, X) / var(X)``; the variance reduction ``1 - var(Y*)/var(Y)``
  (= ``ρ²``) is reported;
* Bayesian chance to beat control, chance to be best and expected loss from
  conjugate posteriors (:mod:`.bayes`);
* anytime-valid confidence sequences (:mod:`.sequential`);
* power: the minimum detectable effect at the observed sample and the sample
  needed for the observed effect (:mod:`.power`);
* heterogeneous effects by segment, with a likelihood-ratio test of the
  arm × segment interaction in a binomial GLM (binary) or an F-test in OLS
  (continuous), both statsmodels;
* Kaplan-Meier curves of time to event per arm (statsmodels ``SurvfuncRight``;
  Kaplan & Meier 1958, JASA 53(282)), with Greenwood intervals.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field

import altair as alt
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.oneway import anova_oneway
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from ..results import Result
from . import bayes, power, sequential

SRM_THRESHOLD = 0.001


class ExperimentInputError(ValueError):
    """Bad experiment input; the message names the table, column and rows."""


# ----------------------------------------------------------------------------- input checks
def _first_labels(mask: pd.Series, k: int = 5) -> list:
    return [x.item() if hasattr(x, "item") else x for x in mask[mask].index[:k]]


def _check_input(df, arm, outcome, control, kind, covariate, segment, duration, event, name):
    if not isinstance(df, pd.DataFrame):
        raise ExperimentInputError(f"{name}: expected a pandas DataFrame, got "
                                   f"{type(df).__name__}")
    cols = [c for c in (arm, outcome, covariate, segment, duration, event) if c is not None]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ExperimentInputError(f"{name}: column(s) {missing} not found; columns are "
                                   f"{list(df.columns)}")
    if len(df) == 0:
        raise ExperimentInputError(f"{name}: the table is empty")
    for c in cols:
        na = df[c].isna()
        if na.any():
            raise ExperimentInputError(
                f"{name}: column {c!r} has {int(na.sum())} missing value(s) (rows "
                f"{_first_labels(na)}); drop or fill them before the analysis")
    arms = pd.unique(df[arm].astype(str))
    if len(arms) < 2:
        raise ExperimentInputError(f"{name}: column {arm!r} has only one arm ({list(arms)}); "
                                   "an experiment needs a control and at least one treatment")
    if str(control) not in set(arms):
        raise ExperimentInputError(f"{name}: control arm {control!r} not found in column "
                                   f"{arm!r}; arms are {sorted(arms)}")
    y = df[outcome]
    if not (pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y)):
        raise ExperimentInputError(f"{name}: outcome column {outcome!r} must be numeric or "
                                   f"boolean, found {y.dtype}")
    values = pd.unique(y.astype(float))
    is_binary = set(values) <= {0.0, 1.0}
    if kind == "binary" and not is_binary:
        bad = ~y.astype(float).isin([0.0, 1.0])
        raise ExperimentInputError(
            f"{name}: outcome {outcome!r} is called binary but has values other than 0/1, e.g. "
            f"{sorted(pd.unique(y[bad]))[:5]} (rows {_first_labels(bad)})")
    if kind not in ("auto", "binary", "continuous"):
        raise ExperimentInputError(f"kind must be 'auto', 'binary' or 'continuous', not {kind!r}")
    if covariate is not None and not pd.api.types.is_numeric_dtype(df[covariate]):
        raise ExperimentInputError(f"{name}: covariate {covariate!r} must be numeric")
    if (duration is None) != (event is None):
        raise ExperimentInputError("give duration and event together (time to event and "
                                   "whether it happened; 0 = censored)")
    if duration is not None and (df[duration] < 0).any():
        bad = df[duration] < 0
        raise ExperimentInputError(f"{name}: duration {duration!r} has negative values (rows "
                                   f"{_first_labels(bad)})")
    resolved = ("binary" if is_binary else "continuous") if kind == "auto" else kind
    order = [str(control)] + sorted(a for a in arms if a != str(control))
    return resolved, order


# ----------------------------------------------------------------------------- result
@dataclass
class ExperimentResult(Result):
    """Everything :func:`analyze_experiment` found, as tidy tables and prose."""

    _html_table = "arms"

    arms: pd.DataFrame
    kind: str
    control: str
    outcome: str
    alpha: float
    omnibus: dict
    srm: dict
    sequential: dict
    cuped: dict | None = None
    segments: pd.DataFrame | None = None
    heterogeneity: dict | None = None
    survival: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Plain-language summary: the answer first, the caveats after."""
        a = self.arms.set_index("arm")
        c = a.loc[self.control]
        unit = "rate" if self.kind == "binary" else "mean"
        fmt = (lambda v: f"{v:.2%}") if self.kind == "binary" else (lambda v: f"{v:,.3f}")
        lines = [f"Outcome {self.outcome!r} ({self.kind}); control {self.control!r} "
                 f"{unit} {fmt(c['estimate'])} (n={int(c['n']):,})."]
        for name, r in a.drop(index=self.control).iterrows():
            sig = "significant" if r["significant"] else "not significant"
            lines.append(
                f"{name}: {fmt(r['estimate'])}, lift {fmt(r['abs_lift'])} "
                f"[{fmt(r['abs_lift_low'])}, {fmt(r['abs_lift_high'])}] "
                f"({r['rel_lift']:+.1%}); Holm-adjusted p={r['p_holm']:.3g} ({sig}); "
                f"P(beats control)={r['prob_beat_control']:.1%}, P(best)={r['prob_best']:.1%}.")
        if self.srm["flag"]:
            lines.append(f"WARNING: sample ratio mismatch (p={self.srm['p_value']:.2g}): the "
                         "assignment is broken; do not trust the effects until it is explained.")
        if self.cuped:
            lines.append(f"CUPED on {self.cuped['covariate']!r} cut the outcome variance by "
                         f"{self.cuped['variance_reduction']:.1%}.")
        if self.heterogeneity:
            h = self.heterogeneity
            lines.append(f"Effect differs by {h['segment']!r}: {h['test']} p={h['p_value']:.3g}.")
        return "\n".join(lines + self.notes)


    def to_dict(self) -> dict:
        def frame(df):
            return None if df is None else json.loads(df.to_json(orient="records"))

        return {"kind": self.kind, "control": self.control, "outcome": self.outcome,
                "alpha": self.alpha, "arms": frame(self.arms), "omnibus": self.omnibus,
                "srm": self.srm, "sequential": self.sequential, "cuped": self.cuped,
                "segments": frame(self.segments), "heterogeneity": self.heterogeneity,
                "survival_summary": frame(self.survival_summary()), "notes": self.notes}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default)

    def survival_summary(self, horizons=(1, 4, 24, 72)) -> pd.DataFrame | None:
        """Share with the event by each horizon (in the duration's units), per arm."""
        if self.survival is None:
            return None
        rows = []
        for arm, g in self.survival.groupby("arm", sort=False):
            g = g.sort_values("time")
            for h in horizons:
                s = g.loc[g.time <= h, "survival"]
                rows.append({"arm": arm, "horizon": h,
                             "share_with_event": 1 - (s.iloc[-1] if len(s) else 1.0)})
        return pd.DataFrame(rows)

    def chart(self) -> alt.Chart:
        """Forest plot of lifts: fixed-n interval (dark) and anytime-valid interval (light)."""
        d = self.arms[self.arms.arm != self.control]
        base = alt.Chart(d).encode(y=alt.Y("arm:N", title=None))
        seq = base.mark_rule(color="#9ecae1", size=6).encode(
            x=alt.X("seq_low:Q", title=f"lift in {self.outcome} vs {self.control}"),
            x2="seq_high:Q")
        ci = base.mark_rule(color="#08519c", size=2).encode(x="abs_lift_low:Q",
                                                            x2="abs_lift_high:Q")
        pt = base.mark_point(filled=True, color="#08519c", size=60).encode(
            x="abs_lift:Q", tooltip=["arm", "abs_lift", "abs_lift_low", "abs_lift_high",
                                     "p_holm", "prob_beat_control"])
        zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
        return (seq + ci + pt + zero).properties(
            title="Lift vs control: 95% interval (dark), anytime-valid (light)", width=460)

    def survival_chart(self, time_title: str = "time since assignment") -> alt.Chart | None:
        """Kaplan-Meier curves as the share with the event over time, per arm."""
        if self.survival is None:
            return None
        d = self.survival.assign(share=1 - self.survival["survival"])
        return alt.Chart(d).mark_line(interpolate="step-after").encode(
            x=alt.X("time:Q", title=time_title),
            y=alt.Y("share:Q", title="share with the event", axis=alt.Axis(format="%")),
            color="arm:N", tooltip=["arm", "time", alt.Tooltip("share:Q", format=".1%")],
        ).properties(title="Kaplan-Meier: time to event by arm", width=460, height=220)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


# ----------------------------------------------------------------------------- pieces
def _binary_arms(g: pd.DataFrame, control: str, alpha: float) -> pd.DataFrame:
    s, n = g["sum"].to_numpy(), g["n"].to_numpy()
    rate = s / n
    lo, hi = proportion_confint(s, n, alpha=alpha, method="wilson")
    c = 0
    out = pd.DataFrame({"arm": g.index, "n": n, "successes": s, "estimate": rate,
                        "ci_low": lo, "ci_high": hi})
    cols = {k: np.full(len(g), np.nan) for k in ("abs_lift", "abs_lift_low", "abs_lift_high",
                                                  "rel_lift", "rel_lift_low", "rel_lift_high",
                                                  "p_value")}
    for i in range(1, len(g)):
        dl, dh = confint_proportions_2indep(s[i], n[i], s[c], n[c], method="newcomb",
                                            compare="diff", alpha=alpha)
        cols["abs_lift"][i] = rate[i] - rate[c]
        cols["abs_lift_low"][i], cols["abs_lift_high"][i] = dl, dh
        if s[c] > 0:
            rl, rh = confint_proportions_2indep(s[i], n[i], s[c], n[c], method="log-adjusted",
                                                compare="ratio", alpha=alpha)
            cols["rel_lift"][i] = rate[i] / rate[c] - 1
            cols["rel_lift_low"][i], cols["rel_lift_high"][i] = rl - 1, rh - 1
        if s[i] + s[c] in (0, n[i] + n[c]):
            cols["p_value"][i] = 1.0  # no variation at all: no evidence of a difference
        else:
            cols["p_value"][i] = proportions_ztest([s[i], s[c]], [n[i], n[c]])[1]
    return out.assign(**cols)


def welch_difference(treated, control, alpha: float = 0.05) -> dict:
    """Difference of two means with Welch's interval, and P(the difference < 0).

    ``difference = mean(treated) - mean(control)``, its standard error
    ``sqrt(s_t^2/n_t + s_c^2/n_c)``, the ``1 - alpha`` interval with Welch's degrees of
    freedom (Welch 1947, eq. 9) and ``prob_below_zero``, the normal posterior of the
    difference under a flat prior, ``Phi(-d / se)`` (Gelman et al., *BDA3*, sec. 2.5).
    Fewer than two units in an arm: every figure NaN (sizes still given).

    >>> r = welch_difference([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    >>> round(r["difference"], 6), round(r["se"], 6), round(r["prob_below_zero"], 4)
    (1.0, 0.816497, 0.1103)
    """
    t = np.asarray(treated, dtype=float)
    c = np.asarray(control, dtype=float)
    out = {"n_treated": len(t), "n_control": len(c)}
    if len(t) < 2 or len(c) < 2:
        return {**out, **dict.fromkeys(("difference", "se", "low", "high",
                                        "prob_below_zero"), np.nan)}
    d = float(t.mean() - c.mean())
    se = float(np.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c)))
    ci = stats.ttest_ind(t, c, equal_var=False).confidence_interval(confidence_level=1 - alpha)
    p = float(stats.norm.cdf(-d / se)) if se > 0 else float(d < 0)
    return {**out, "difference": d, "se": se, "low": float(ci.low), "high": float(ci.high),
            "prob_below_zero": p}


def _continuous_arms(y: pd.Series, arm: pd.Series, order, alpha: float) -> pd.DataFrame:
    groups = [y[arm == a].to_numpy(dtype=float) for a in order]
    rows = []
    c = groups[0]
    mc, vc, nc = c.mean(), c.var(ddof=1), len(c)
    for a, x in zip(order, groups, strict=True):
        m, v, n = x.mean(), x.var(ddof=1), len(x)
        se = np.sqrt(v / n)
        t = stats.t.ppf(1 - alpha / 2, n - 1)
        row = {"arm": a, "n": n, "successes": np.nan, "estimate": m, "ci_low": m - t * se,
               "ci_high": m + t * se, "sd": np.sqrt(v)}
        if a != order[0]:
            res = stats.ttest_ind(x, c, equal_var=False)
            ci = res.confidence_interval(confidence_level=1 - alpha)
            d = m - mc
            row.update(abs_lift=d, abs_lift_low=ci.low, abs_lift_high=ci.high,
                       p_value=res.pvalue)
            if mc != 0:
                # delta method for the ratio m/mc (Casella & Berger 2002, sec. 5.5.4)
                r = m / mc
                se_r = np.sqrt(v / n / mc**2 + m**2 * vc / nc / mc**4)
                z = stats.norm.ppf(1 - alpha / 2)
                row.update(rel_lift=r - 1, rel_lift_low=r - 1 - z * se_r,
                           rel_lift_high=r - 1 + z * se_r)
        rows.append(row)
    return pd.DataFrame(rows)


def _cuped(df, arm, outcome, covariate, order, alpha):
    y = df[outcome].astype(float).to_numpy()
    x = df[covariate].astype(float).to_numpy()
    vx = x.var(ddof=1)
    if vx == 0:
        return None, None
    theta = np.cov(y, x, ddof=1)[0, 1] / vx
    y_adj = y - theta * (x - x.mean())
    vr = 1 - y_adj.var(ddof=1) / y.var(ddof=1)
    adj = _continuous_arms(pd.Series(y_adj), pd.Series(df[arm].astype(str).to_numpy()), order,
                           alpha)
    return {"covariate": covariate, "theta": float(theta), "variance_reduction": float(vr),
            "reference": "Deng, Xu, Kohavi & Walker (2013), WSDM, eq. 3-4"}, adj


def _segments(df, arm, outcome, segment, order, kind, control, alpha):
    """Per segment x arm effects and the interaction test."""
    rows = []
    for seg, g in df.groupby(segment, sort=True, observed=True):
        gy, ga = g[outcome].astype(float), g[arm].astype(str)
        present = [a for a in order if (ga == a).any()]
        if control not in present or len(present) < 2:
            continue
        if kind == "binary":
            agg = gy.groupby(ga).agg(["sum", "count"]).rename(columns={"count": "n"})
            sub = _binary_arms(agg.loc[present], control, alpha)
        else:
            sub = _continuous_arms(gy, ga, present, alpha)
        rows.append(sub.assign(segment=seg))
    seg_df = pd.concat(rows, ignore_index=True) if rows else None
    het = None
    try:
        with warnings.catch_warnings():
            # the full model is saturated on aggregated counts; statsmodels warns by design
            warnings.simplefilter("ignore")
            het = _interaction_test(df, arm, outcome, segment, kind, control)
    except Exception as exc:  # a degenerate segment should not sink the whole analysis
        het = {"segment": segment, "test": "not estimable", "statistic": float("nan"),
               "dof": 0, "p_value": float("nan"), "reason": str(exc)[:200]}
    return seg_df, het


def _interaction_test(df, arm, outcome, segment, kind, control) -> dict:
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    d = pd.DataFrame({"y": df[outcome].astype(float), "arm": df[arm].astype(str),
                      "seg": df[segment].astype(str)})
    arm_term = f"C(arm, Treatment({control!r}))"
    if kind == "binary":
        # sufficient statistics: one binomial row per arm x segment
        agg = d.groupby(["arm", "seg"]).y.agg(["sum", "count"]).reset_index()
        agg["fail"] = agg["count"] - agg["sum"]
        full = smf.glm(f"sum + fail ~ {arm_term} * C(seg)", agg,
                       family=sm.families.Binomial()).fit()
        red = smf.glm(f"sum + fail ~ {arm_term} + C(seg)", agg,
                      family=sm.families.Binomial()).fit()
        lr = 2 * (full.llf - red.llf)
        dof = full.df_model - red.df_model
        het = {"segment": segment, "test": "likelihood-ratio (binomial GLM, arm x segment)",
               "statistic": float(lr), "dof": int(dof),
               "p_value": float(stats.chi2.sf(lr, dof))}
    else:
        full = smf.ols(f"y ~ {arm_term} * C(seg)", d).fit()
        red = smf.ols(f"y ~ {arm_term} + C(seg)", d).fit()
        f, p, dof = full.compare_f_test(red)
        het = {"segment": segment, "test": "F-test (OLS, arm x segment)",
               "statistic": float(f), "dof": int(dof), "p_value": float(p)}
    return het


def _survival(df, arm, duration, event, order, alpha):
    from statsmodels.duration.survfunc import SurvfuncRight

    parts = []
    for a in order:
        g = df[df[arm].astype(str) == a]
        sf = SurvfuncRight(g[duration].to_numpy(dtype=float), g[event].to_numpy(dtype=float))
        se = sf.surv_prob_se  # Greenwood's formula
        z = stats.norm.ppf(1 - alpha / 2)
        parts.append(pd.DataFrame({"arm": a, "time": sf.surv_times, "survival": sf.surv_prob,
                                   "ci_low": np.clip(sf.surv_prob - z * se, 0, 1),
                                   "ci_high": np.clip(sf.surv_prob + z * se, 0, 1),
                                   "at_risk": sf.n_risk}))
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- entry point
def analyze_experiment(
    data: pd.DataFrame,
    arm: str,
    outcome: str,
    control: str,
    *,
    kind: str = "auto",
    covariate: str | None = None,
    segment: str | None = None,
    duration: str | None = None,
    event: str | None = None,
    alpha: float = 0.05,
    expected_shares: dict[str, float] | None = None,
    prior: tuple[float, float] = (1.0, 1.0),
    sequential_tau: float | None = None,
    power_target: float = 0.8,
    name: str = "experiment table",
) -> ExperimentResult:
    """Analyze a randomized experiment; see the module docstring for the methods.

    Parameters
    ----------
    data
        One row per randomized unit.
    arm, outcome, control
        Arm column, outcome column (0/1, bool or numeric) and the control arm's name.
    kind
        ``"auto"`` (binary if the outcome only takes 0/1), ``"binary"`` or ``"continuous"``.
    covariate
        A pre-period numeric covariate for CUPED.
    segment
        A column to estimate effects per segment and test heterogeneity.
    duration, event
        Time to event and its indicator (0 = censored) for Kaplan-Meier curves.
    expected_shares
        Designed share of units per arm for the SRM check (default: equal).
    prior
        Beta prior for binary outcomes.
    sequential_tau
        Mixing scale of the anytime-valid interval, fixed in advance; by default
        it is tuned to the observed sample (stated in the result).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["a"] * 200 + ["b"] * 200,
    ...                    "y": [1] * 20 + [0] * 180 + [1] * 40 + [0] * 160})
    >>> r = analyze_experiment(df, "arm", "y", control="a")
    >>> round(float(r.arms.set_index("arm").loc["b", "abs_lift"]), 2)
    0.1
    """
    kind, order = _check_input(data, arm, outcome, control, kind, covariate, segment,
                               duration, event, name)
    control = str(control)
    arm_s = data[arm].astype(str)
    y = data[outcome].astype(float)
    notes: list[str] = []
    if kind == "binary":
        agg = y.groupby(arm_s).agg(["sum", "count"]).rename(columns={"count": "n"}).loc[order]
        arms = _binary_arms(agg, control, alpha)
        table = np.array([agg["sum"], agg["n"] - agg["sum"]])
        if (table.sum(axis=1) == 0).any():
            omnibus = {"test": "chi-square (arms x outcome)", "statistic": 0.0, "dof": 0,
                       "p_value": 1.0}
        else:
            chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
            omnibus = {"test": "chi-square (arms x outcome)", "statistic": float(chi2),
                       "dof": int(dof), "p_value": float(p)}
        b = bayes.beta_summary(agg["sum"].to_numpy(), agg["n"].to_numpy(), prior=prior)
        var = arms.estimate * (1 - arms.estimate) / arms.n
    else:
        with warnings.catch_warnings():
            # an arm without variation makes Welch's weights infinite: the result is NaN,
            # reported as such (and noted below), not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            arms = _continuous_arms(y, arm_s, order, alpha)
            res = anova_oneway([y[arm_s == a].to_numpy() for a in order], use_var="unequal")
        omnibus = {"test": "Welch's ANOVA (arms)", "statistic": float(res.statistic),
                   "dof": float(res.df[0]), "p_value": float(res.pvalue)}
        se = (arms["sd"] / np.sqrt(arms["n"])).fillna(0.0).to_numpy()
        if (se == 0).any():
            # an arm with no variation (e.g. no recoveries yet): borrow the pooled spread so
            # its posterior is not a point mass; with no variation anywhere, a tiny floor
            pooled = float(y.std(ddof=1)) if len(y) > 1 else 0.0
            floor = pooled / np.sqrt(arms["n"].to_numpy()) if pooled > 0 else 1e-12
            se = np.where(se == 0, floor, se)
            notes.append("Some arm had no variation in the outcome; its posterior uses the "
                         "pooled standard deviation.")
        b = bayes.normal_summary(arms.estimate.to_numpy(), se)
        var = arms["sd"] ** 2 / arms.n
    # Holm across the treatment-vs-control comparisons
    t_idx = arms.index[arms.arm != control]
    arms["p_holm"] = np.nan
    arms["significant"] = False
    if len(t_idx):
        rej, p_adj, _, _ = multipletests(arms.loc[t_idx, "p_value"], alpha=alpha, method="holm")
        arms.loc[t_idx, "p_holm"] = p_adj
        arms.loc[t_idx, "significant"] = rej
    arms["prob_beat_control"] = b["prob_beat_control"]
    arms["prob_best"] = b["prob_best"]
    arms["expected_loss"] = b["expected_loss"]
    # anytime-valid intervals on the difference
    v_diff = (var + var.iloc[0]).to_numpy()
    taus = (np.full(len(arms), sequential_tau) if sequential_tau else
            np.array([sequential.tau_for_plan(v, alpha) if v > 0 else np.nan for v in v_diff]))
    lo, hi = sequential.confidence_sequence(arms.abs_lift.fillna(0).to_numpy(), v_diff, taus,
                                            alpha)
    is_c = (arms.arm == control).to_numpy()
    arms["seq_low"] = np.where(is_c, np.nan, lo)
    arms["seq_high"] = np.where(is_c, np.nan, hi)
    arms["always_valid_p"] = np.where(is_c, np.nan, sequential.always_valid_p(
        arms.abs_lift.fillna(0).to_numpy(), v_diff, taus))
    seq = {"method": sequential.METHOD, "alpha": alpha,
           "tau": None if sequential_tau is None else sequential_tau,
           "tau_rule": ("given in advance" if sequential_tau else
                        "tuned to the observed sample size; fix it from the planned size "
                        "before peeking (sequential_tau=)")}
    # power at the observed sample
    n_c = float(arms.n.iloc[0])
    mde, need = [], []
    for _, r in arms.iterrows():
        if r.arm == control:
            mde.append(np.nan)
            need.append(np.nan)
            continue
        ratio = r.n / n_c
        if kind == "binary":
            base = arms.estimate.iloc[0]
            ok = 0 < base < 1
            mde.append(power.mde_proportion(base, n_c, alpha, power_target, ratio) if ok
                       else np.nan)
            lift = r.abs_lift
            need.append(power.sample_size_proportion(base, lift, alpha, power_target)
                        if ok and lift and 0 < base + lift < 1 else np.nan)
        else:
            sd = float(arms["sd"].iloc[0])
            mde.append(power.mde_mean(sd, n_c, alpha, power_target, ratio) if sd > 0 else np.nan)
            need.append(power.sample_size_mean(sd, r.abs_lift, alpha, power_target)
                        if sd > 0 and r.abs_lift else np.nan)
    arms["mde"] = mde
    arms["n_needed_for_observed_lift"] = need
    # sample ratio mismatch
    counts = arms.n.to_numpy(dtype=float)
    shares = (np.array([expected_shares[a] for a in order], dtype=float)
              if expected_shares else np.ones(len(order)))
    expected = shares / shares.sum() * counts.sum()
    chi2, p_srm = stats.chisquare(counts, expected)
    srm = {"test": "chi-square goodness of fit", "statistic": float(chi2),
           "p_value": float(p_srm), "flag": bool(p_srm < SRM_THRESHOLD),
           "threshold": SRM_THRESHOLD, "counts": dict(zip(order, counts.astype(int).tolist(),
                                                          strict=True)),
           "expected": dict(zip(order, expected.tolist(), strict=True))}
    cuped = None
    if covariate is not None:
        cuped, adj = _cuped(data, arm, outcome, covariate, order, alpha)
        if cuped is None:
            notes.append(f"CUPED skipped: covariate {covariate!r} is constant.")
        else:
            adj = adj.set_index("arm")
            for col in ("abs_lift", "abs_lift_low", "abs_lift_high", "p_value"):
                arms["cuped_" + col] = arms.arm.map(adj[col])
    segments = het = None
    if segment is not None:
        segments, het = _segments(data, arm, outcome, segment, order, kind, control, alpha)
    surv = None
    if duration is not None:
        surv = _survival(data, arm, duration, event, order, alpha)
    return ExperimentResult(arms=arms, kind=kind, control=control, outcome=outcome, alpha=alpha,
                            omnibus=omnibus, srm=srm, sequential=seq, cuped=cuped,
                            segments=segments, heterogeneity=het, survival=surv, notes=notes)
