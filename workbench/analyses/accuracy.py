"""The AI's prediction accuracy over time: earlier runs' predictions against what happened.

Each ``workbench run`` logs what its analyses predict (:meth:`Analysis.predictions
<workbench.analyses.base.Analysis.predictions>`, :mod:`workbench.history`); a later run
on newer data has each analysis score the rows of its kinds whose horizon has passed
(:meth:`Analysis.outcomes <workbench.analyses.base.Analysis.outcomes>`), and this module
summarizes them per earlier run and kind:

* ``predicted_total`` / ``actual_total`` and ``error_pct``: the forecast of the total
  (customers' purchases) against what came, ``100 (predicted / actual - 1)``;
* ``mae`` and ``mse`` per row — for a probability (``clv.any_purchase``,
  ``clv.p_alive``) the mean squared error is the Brier score (Brier 1950, eq. 1);
* ``coverage``: the share of rows whose interval held the outcome, against the mean
  of the rows' ``level`` — the probability each interval claims (Gneiting & Raftery
  2007, sec. 6: a calibrated interval covers at its level).  A count's interval
  claims the model's probability mass on it, which for a discrete count is at least
  the nominal level (a "90%" interval of 0-1 purchases may hold 97%).

It is shared by the pipeline (which collects the outcomes) and the report; it imports
no analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import altair as alt
import numpy as np
import pandas as pd

from ..report import Kpi, Section
from ..results import Result

TITLE, ANCHOR = "The AI's accuracy over time", "accuracy"
INTRO = ("Every run records what it predicts — each customer's purchases in the next 30 "
         "and 90 days and their chance of buying at all, each cart-test arm's recovery "
         "rate, each campaign's open and click rates next cycle — and a later run on newer "
         "data scores them against what happened. Intervals that hold the outcome as often "
         "as they claim are what make the other numbers in this report worth trusting.")
KIND_LABELS = {"clv.purchases": "purchases per customer", "clv.any_purchase":
               "P(any purchase)", "clv.p_alive": "P(alive) (simulator's truth)",
               "cart_timing.recovery": "cart recovery rate per arm",
               "operations.open_rate": "open rate next cycle",
               "operations.click_rate": "click rate next cycle"}


def accuracy_table(scored: pd.DataFrame) -> pd.DataFrame:
    """Per earlier run × kind × horizon: totals, errors and interval coverage."""
    if scored.empty:
        return pd.DataFrame()
    d = scored.assign(err=scored.predicted - scored.actual)
    g = d.groupby(["run_id", "as_of", "kind", "horizon_days"], sort=True)
    t = g.agg(rows=("key", "size"), predicted_total=("predicted", "sum"),
              actual_total=("actual", "sum"), mean_error=("err", "mean"),
              mae=("err", lambda e: float(np.abs(e).mean())),
              mse=("err", lambda e: float((e ** 2).mean())),
              coverage=("inside", "mean"), level=("level", "mean")).reset_index()
    t["error_pct"] = 100 * (t.predicted_total / t.actual_total.where(t.actual_total > 0) - 1)
    t["label"] = t.kind.map(KIND_LABELS).fillna(t.kind)
    return t.sort_values(["as_of", "kind", "horizon_days"], ignore_index=True)


@dataclass
class Accuracy(Result):
    """Earlier runs' predictions scored on this data."""

    _html_table = "table"
    _skip_in_dict = ("scored",)

    table: pd.DataFrame
    scored: pd.DataFrame  # one row per scored prediction
    runs: pd.DataFrame  # the log's runs
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.table.empty:
            return " ".join(self.notes) or "No logged prediction has come due yet."
        lines = [f"{self.runs.run_id.nunique()} earlier run(s) in the log; "
                 f"{len(self.scored):,} of their predictions have come due and are scored."]
        for r in self.table[self.table.as_of == self.table.as_of.max()].itertuples():
            line = f"{r.label} ({r.horizon_days:g} days) from {r.as_of:%Y-%m-%d}: "
            if r.kind == "clv.purchases":
                line += (f"{r.predicted_total:,.0f} predicted, {r.actual_total:,.0f} "
                         f"happened ({r.error_pct:+.1f}%)")
            else:
                line += f"mean error {r.mean_error:+.4f}, MSE {r.mse:.4f}"
            if np.isfinite(r.coverage):
                line += f"; {r.coverage:.0%} inside the {r.level:.0%} intervals"
            lines.append(line + ".")
        return " ".join(lines + self.notes)

    def chart(self) -> alt.Chart | None:
        """Interval coverage by run (:func:`coverage_chart`)."""
        return coverage_chart(self.table)


def coverage_chart(table: pd.DataFrame) -> alt.Chart | None:
    """Interval coverage against the level claimed, per kind of prediction.

    ``table``: :func:`accuracy_table` (or ``prediction_accuracy.csv``).  One run: a bar
    per kind with the claimed level as a tick; several: a line per kind over the runs,
    the level dashed.  None when no interval has come due.
    """
    t = table[table.coverage.notna()]
    if t.empty:
        return None
    t = t.assign(what=t.label + " · " + t.horizon_days.map("{:g} d".format))
    share = alt.Axis(format="%")
    tip = ["what", "as_of:T", "rows", alt.Tooltip("coverage:Q", format=".1%"),
           alt.Tooltip("level:Q", format=".0%")]
    if t.as_of.nunique() == 1:
        x = alt.X("coverage:Q", scale=alt.Scale(domain=[0, 1]), axis=share,
                  title="share inside the interval (tick: level claimed)")
        bars = alt.Chart(t).mark_bar().encode(x=x, y=alt.Y("what:N", title=None), tooltip=tip)
        ticks = alt.Chart(t).mark_tick(color="black", size=18).encode(x="level:Q", y="what:N")
        return (bars + ticks).properties(width=460, title="Interval coverage")
    base = alt.Chart(t).encode(x=alt.X("as_of:T", title="run (data up to)"))
    lines = base.mark_line(point=True).encode(
        y=alt.Y("coverage:Q", title="share inside the interval", axis=share,
                scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("what:N", title=None), tooltip=tip)
    nominal = base.mark_line(strokeDash=[4, 4], color="gray").encode(y="level:Q")
    return (lines + nominal).properties(
        width=520, height=200, title="Interval coverage, run over run (dashed: nominal)")


def accuracy_section(result: Accuracy) -> Section:
    """The report section: per run and kind, and this cycle against its expectation."""
    kpis, tables, charts = [], [], {}
    t = result.table
    if len(t):
        last = t[t.as_of == t.as_of.max()]
        for r in last.itertuples():
            if np.isfinite(r.coverage):
                kpis.append(Kpi(f"acc-{r.kind}-{r.horizon_days:g}",
                                f"{r.label}, {r.horizon_days:g} d", f"{r.coverage:.0%}",
                                f"inside {r.level:.0%} intervals over {r.rows:,}"))
        cols = ["as_of", "label", "horizon_days", "rows", "predicted_total", "actual_total",
                "error_pct", "mean_error", "mae", "mse", "coverage", "level"]
        tables.append(("Per earlier run and prediction: totals, errors (MSE of a probability "
                       "is its Brier score) and interval coverage",
                       t[cols].round({c: 4 for c in cols[3:]})))
        ops = result.scored[result.scored.kind.str.startswith("operations.")]
        if len(ops):
            latest = ops[ops.as_of == ops.as_of.max()]
            tables.append((f"The cycle after {latest.as_of.max():%Y-%m-%d} against what the "
                           "run before it expected (95% band)",
                           latest[["kind", "key", "predicted", "low", "high", "actual",
                                   "inside"]].round(4)))  # no dates among them
        c = result.chart()
        if c is not None:
            charts["coverage"] = c
    return Section(title=TITLE, anchor=ANCHOR, paragraphs=[INTRO, result.summary()],
                   kpis=kpis, tables=tables, charts=charts)


__all__ = ["ANCHOR", "Accuracy", "INTRO", "KIND_LABELS", "TITLE", "accuracy_section",
           "accuracy_table", "coverage_chart"]
