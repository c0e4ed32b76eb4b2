"""The CLV section of the report."""

from __future__ import annotations

from ...report import Kpi, Section

TITLE, ANCHOR = "Customer lifetime value and churn risk", "clv"
#: the question the section answers
INTRO = ("Which customers will keep buying, what are they worth, and which acquisition "
         "channels bring customers who last? A BG/NBD purchase model and a Gamma-Gamma "
         "spend model are fitted on the order history up to a calibration date and "
         "checked against what happened after it, then refitted on all of it to score "
         "every customer as of the last order.")


def clv_section(analysis=None, reason: str = "") -> Section:
    """The CLV section from a :class:`~workbench.analyses.clv.analysis.CLVAnalysis`."""
    title, anchor, intro = TITLE, ANCHOR, INTRO
    if analysis is None:
        return Section(title=title, anchor=anchor, paragraphs=[intro, reason])
    m, s = analysis.metrics, analysis.settings
    kpis = [Kpi("clv-holdout", "holdout purchases, predicted vs actual",
                f"{m['total_error_pct']:+.1f}%",
                f"{m['predicted_total']:,.0f} vs {m['actual_total']:,.0f}"),
            Kpi("clv-mean", f"mean {s['horizon_days']:.0f}-day CLV per customer",
                f"{analysis.scorecard.predicted_clv.mean():,.2f}",
                f"margin {s['margin']:.0%}, returns {s['returns_rate']:.1%} off"),
            Kpi("clv-at-risk", "valuable customers at risk",
                f"{int((analysis.flags.flag == 'at_risk').sum()):,}",
                f"P(alive) < {s['alive_threshold']:.0%}")]
    tables = [("Holdout validation by repeat purchases in calibration", analysis.validation),
              ("Value by acquisition channel (95% intervals)", analysis.by_channel)]
    bc = analysis.by_campaign
    if bc is not None and (bc.acquisition_campaign != "no campaign").any():
        tables.append(("Value by acquisition campaign (the campaign whose message the first "
                       "order carried): what a customer is worth on average (clv_low/high) "
                       "and what these customers will bring (value_low/high, predictive), "
                       "95%", bc))
    if analysis.truth is not None:
        tables.append(("P(alive) by decile against the simulator's truth", analysis.truth))
        tables.append(("Holdout purchases per acquisition channel: predicted, the truth's "
                       "expected organic purchases (rate × days alive) and what happened "
                       "(campaign-caused orders included)", s["truth_by_channel"]))
    top = analysis.flags[analysis.flags.flag == "at_risk"].head(10)
    tables.append(("Most valuable customers at risk (top 10)", top))
    return Section(title=title, anchor=anchor, paragraphs=[intro, analysis.summary()],
                   kpis=kpis, charts={"validation": analysis.chart(),
                                      "channels": analysis.channel_chart(),
                                      "cohorts": analysis.cohort_chart()}, tables=tables)
