"""The attribution section of the report."""

from __future__ import annotations

from ...report import Kpi, Section
from .analysis import weekly_attribution_chart, window_sweep_chart

TITLE, ANCHOR = "Attribution: which campaigns really earned the revenue", "attribution"
#: the question the section answers
INTRO = ("Which campaigns and channels earned the revenue, and how much does the answer "
         "depend on the model? Each customer's touches before each order (and before "
         "journeys that ended without one) are credited by eight models, each with a "
         "95% bootstrap interval over journeys.")


def attribution_section(analysis=None, sweep=None, reason: str = "",
                        weekly=None) -> Section:
    """The attribution section from an attribution analysis and a window sweep.

    Every model side by side, the shift away from last click, the truth scoring and
    the window sweep (:class:`~workbench.analyses.attribution.analysis.AttributionAnalysis`).
    """
    title, anchor, intro = TITLE, ANCHOR, INTRO
    if analysis is None:
        return Section(title=title, anchor=anchor, paragraphs=[intro, reason])
    paragraphs = [intro, analysis.summary()]
    wide = analysis.campaign_table("value").reset_index()
    kpis = []
    msg = analysis.by_campaign[analysis.by_campaign.is_campaign]
    tot = msg.groupby("model").value.sum()
    for m in ("last_click", "markov", "shapley"):
        if m in tot:
            kpis.append(Kpi(f"attr-{m}", f"campaign revenue, {m.replace('_', ' ')}",
                            f"{tot[m]:,.0f}"))
    if analysis.truth is not None:
        kpis.append(Kpi("attr-truth", "campaign revenue, true incremental",
                        f"{analysis.truth.sum():,.0f}", "simulator ground truth"))
    tables = [("Revenue credited per campaign and source, by model", wide)]
    if len(analysis.shift):
        sh = analysis.shift_wide().reset_index()
        tables.append(("Credit moved from last click to each model, % of last click's credit "
                       "(+ gains, − loses)", sh))
    if analysis.score is not None:
        tables.append(("Each model against the true incremental revenue (ranked)",
                       analysis.score))
    charts = {"campaigns": analysis.chart()}
    if sweep is not None:
        charts["windows"] = window_sweep_chart(sweep)
        lo, hi = sweep.credited_revenue.min(), sweep.credited_revenue.max()
        paragraphs.append(f"The attribution window alone moves the revenue last click credits "
                          f"to email and SMS from {lo:,.0f} to {hi:,.0f}; counting opens "
                          f"adds more.")
        tables.append(("Attribution-window sweep", sweep))
    if weekly is not None and len(weekly):
        charts["weekly"] = weekly_attribution_chart(weekly)
        paragraphs.append("Week by week, the gap between last click and the multi-touch view "
                          "is shown per campaign (each week attributed on its own journeys).")
    return Section(title=title, anchor=anchor, paragraphs=paragraphs, kpis=kpis,
                   charts=charts, tables=tables)
