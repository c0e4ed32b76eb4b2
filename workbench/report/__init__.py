"""Self-contained HTML reports built from analysis result objects.

A report is a list of :class:`Section` objects rendered with Jinja2 into ONE
HTML file.  The Vega/Vega-Lite/vega-embed runtime comes from
``vl-convert-python``'s bundle and is inlined, so the file opens offline and
makes no network request; each chart is an Altair spec embedded as JSON.
"""

from __future__ import annotations

import functools
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import altair as alt
import jinja2
import markupsafe
import pandas as pd

from .. import __version__

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("workbench.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


@functools.lru_cache(maxsize=1)
def _vega_bundle() -> str:
    import vl_convert as vlc
    from altair.utils._importers import vl_version_for_vl_convert

    return vlc.javascript_bundle(vl_version=vl_version_for_vl_convert())


@dataclass
class Kpi:
    """A headline number with its label and an optional note (interval, comparison)."""

    key: str
    label: str
    value: str
    note: str = ""


@dataclass
class Section:
    """One section of a report: prose first, then numbers, charts and tables."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    kpis: list[Kpi] = field(default_factory=list)
    charts: dict[str, alt.TopLevelMixin] = field(default_factory=dict)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    anchor: str = ""

    def __post_init__(self):
        if not self.anchor:
            self.anchor = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def _table_html(caption: str, df: pd.DataFrame) -> str:
    fmt = df.copy()
    for col in fmt.columns:
        if pd.api.types.is_float_dtype(fmt[col]):
            is_rate = (col.endswith(("rate", "share", "conversion")) or "share_of" in col
                       or "_rate_" in col)
            fmt[col] = fmt[col].map(lambda v, r=is_rate: "" if pd.isna(v) else
                                    (f"{v:.1%}" if r else f"{v:,.2f}"))
        elif pd.api.types.is_datetime64_any_dtype(fmt[col]):
            fmt[col] = fmt[col].dt.strftime("%Y-%m-%d")
    html = fmt.to_html(index=False, border=0, escape=True, classes="data")
    head, rest = html.split(">", 1)
    return f"{head}><caption>{markupsafe.escape(caption)}</caption>{rest}"


@dataclass
class Report:
    """A self-contained HTML report."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def to_html(self) -> str:
        specs, views = {}, []
        for s in self.sections:
            charts = []
            for name, chart in s.charts.items():
                div = f"chart-{s.anchor}-{name}-{uuid.uuid4().hex[:6]}"
                specs[div] = chart.to_dict()
                charts.append({"div": div, "name": f"{s.anchor}/{name}"})
            views.append({"title": s.title, "anchor": s.anchor, "paragraphs": s.paragraphs,
                          "kpis": s.kpis, "charts": charts,
                          "tables": [_table_html(c, df) for c, df in s.tables]})
        # JSON inside <script>: escape "</" so no data can close the tag
        spec_json = json.dumps(specs, default=str).replace("</", "<\\/")
        return _ENV.get_template("report.html").render(
            title=self.title, subtitle=self.subtitle, sections=views, specs=spec_json,
            bundle=_vega_bundle(), vega_note=alt.SCHEMA_VERSION,
            generator=f"workbench {__version__}",
            footer=f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by workbench "
                   f"{__version__}. Opens offline: no external resources.",
        )

    def save(self, path: str | Path) -> Path:
        """Write the report atomically (a failed write leaves the old file intact)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_text(self.to_html(), encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path


def overview_section(ov) -> Section:
    """The store-overview section from a :class:`~workbench.features.StoreOverview`."""
    k = ov.kpis
    cur = ov.currency
    ab = ov.abandonment
    ab_rate = ab["abandoned"].sum() / ab["cart_sessions"].sum() if len(ab) else float("nan")
    kpis = [
        Kpi("customers", "customers", f"{k['customers']:,}"),
        Kpi("orders", "orders", f"{k['orders']:,}"),
        Kpi("revenue", f"revenue ({cur})", f"{k['revenue']:,.0f}",
            f"{k['discounts']:,.0f} in discounts"),
        Kpi("aov", f"average order ({cur})", f"{k['average_order_value']:,.2f}"),
        Kpi("repeat", "buyers who came back", f"{k['repeat_buyer_share']:.0%}"),
        Kpi("abandonment", "cart abandonment", f"{ab_rate:.0%}",
            "cart sessions without purchase"),
        Kpi("messages", "messages sent", f"{k['messages_sent']:,}"),
        Kpi("returns", "returned share of revenue", f"{k['return_share_of_revenue']:.1%}"),
    ]
    msg_cols = ["campaign", "channel", "sent", "delivered", "opened", "clicked", "unsubscribed",
                "delivery_rate", "open_rate", "click_rate", "unsubscribe_rate", "orders",
                "order_revenue"]
    return Section(
        title="Store overview",
        anchor="overview",
        paragraphs=ov.summary().split("\n") + [
            "Open rates include machine opens (Apple Mail privacy protection opens every "
            "delivered email for its users), so they overstate attention; clicks do not."],
        kpis=kpis,
        charts=ov.charts(),
        tables=[("Funnel", ov.funnel), ("Messages by campaign and channel",
                                         ov.messages[msg_cols])],
    )


def cart_timing_section(study) -> Section:
    """The abandoned-cart timing section from a ``CartTimingStudy``."""
    title, anchor = "Abandoned-cart timing", "cart-timing"
    intro = ("Which reminder earns margin that would not have come anyway? Every abandoned "
             "cart in the test was randomized to a delay and channel, or to no message at all; "
             "the no-message arm shows how many customers come back on their own.")
    if study.decision is None:
        return Section(title=title, anchor=anchor, paragraphs=[
            intro, "There is not enough data to decide yet: " + study.reason])
    d, holdout = study.decision, study.settings["holdout"]
    exp = study.experiment_episodes
    natural = exp.loc[exp.arm == holdout, "recovered"].mean()
    kpis = [Kpi("carts", "carts in the experiment", f"{len(exp):,}"),
            Kpi("natural", "recovered with no message", f"{natural:.1%}",
                "the holdout arm: what comes back anyway")]
    for r in d.recommendations.itertuples():
        val = f"{r.channel} after {r.delay_hours:g} h" if r.send else "send nothing"
        kpis.append(Kpi(f"rec-{r.purchase_type}", f"{r.purchase_type} carts", val,
                        f"+{r.incremental_margin:.2f} per cart [{r.ci_low:.2f}, {r.ci_high:.2f}]"))
    charts = {"decision": d.chart()}
    sc = study.recovery.survival_chart(time_title="hours since the cart was abandoned")
    if sc is not None:
        charts["recovery"] = sc.properties(title="Share of carts recovered over time, by arm")
    rec_cols = ["purchase_type", "arm", "send", "channel", "delay_hours", "incremental_margin",
                "ci_low", "ci_high", "prob_beats_holdout", "prob_best", "n"]
    tables = [("Recommendation per purchase type", d.recommendations[rec_cols])]
    if d.truth is not None:
        tables.append(("Against the simulator's truth", d.truth))
    srm = study.recovery.srm
    paragraphs = [intro, *d.summary().split("\n"),
                  ("Sample ratio check: " + ("MISMATCH — the split is broken, investigate "
                                             "before acting" if srm["flag"] else
                                             f"balanced (p = {srm['p_value']:.2f})") + ".")]
    return Section(title=title, anchor=anchor, paragraphs=paragraphs, kpis=kpis,
                   charts=charts, tables=tables)


def discount_section(model=None, decision=None, reason: str = "", exported: bool = False,
                     score=None) -> Section:
    """The discount-calibration section from a fitted model and its decision."""
    title, anchor = "Discount calibration", "discount"
    intro = ("Which discount, if any, should each kind of customer get? Customers were "
             "randomized to 0-20% off in seasonal sends; a hierarchical Bayesian model "
             "estimates each segment's response, and a discount is recommended only where it "
             "is likely to earn more margin than no discount.")
    if decision is None:
        return Section(title=title, anchor=anchor, paragraphs=[intro, reason])
    status = ("The fit passed its diagnostics (R-hat, effective sample sizes, divergences, "
              "posterior predictive check)." if decision.converged else
              "The fit FAILED its diagnostics: " + "; ".join(decision.diagnostics)
              + ". No discount config was exported; refit with more draws before acting.")
    paragraphs = [intro, status, *decision.summary().split("\n")]
    if exported:
        paragraphs.append("The recommendation is exported as the discount part of the "
                          "campaign config (discount.json).")
    kpis = [Kpi(f"disc-{r.segment}", r.segment,
                f"{r.discount:.0%}" if r.discount > 0 else "no discount",
                f"P(beats 0%) {r.prob_beats_zero:.0%}")
            for r in decision.recommendations.itertuples()]
    tables = [("Recommendation per segment", decision.recommendations)]
    if score is not None:
        tables.append(("Against the simulator's truth", score))
    return Section(title=title, anchor=anchor, paragraphs=paragraphs, kpis=kpis,
                   charts={"curves": model.chart()}, tables=tables)


def attribution_section(analysis=None, sweep=None, reason: str = "",
                        weekly=None) -> Section:
    """The attribution section from an attribution analysis and a window sweep.

    Every model side by side, the shift away from last click, the truth scoring and
    the window sweep (:class:`~workbench.attribution.analysis.AttributionAnalysis`).
    """
    title, anchor = "Attribution: which campaigns really earned the revenue", "attribution"
    intro = ("Which campaigns and channels earned the revenue, and how much does the answer "
             "depend on the model? Each customer's touches before each order (and before "
             "journeys that ended without one) are credited by eight models, each with a "
             "95% bootstrap interval over journeys.")
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
        sh = (analysis.shift.pivot_table(index="channel", columns="model",
                                         values="shift_value_pct", sort=False)
              .reindex(columns=[m for m in analysis.comparison.results if m != "last_click"])
              .reset_index())
        tables.append(("Credit moved from last click to each model, % of last click's credit "
                       "(+ gains, − loses)", sh))
    if analysis.score is not None:
        tables.append(("Each model against the true incremental revenue (ranked)",
                       analysis.score))
    charts = {"campaigns": analysis.chart()}
    if sweep is not None:
        from ..attribution.analysis import window_sweep_chart

        charts["windows"] = window_sweep_chart(sweep)
        lo, hi = sweep.credited_revenue.min(), sweep.credited_revenue.max()
        paragraphs.append(f"The attribution window alone moves the revenue last click credits "
                          f"to email and SMS from {lo:,.0f} to {hi:,.0f}; counting opens "
                          f"adds more.")
        tables.append(("Attribution-window sweep", sweep))
    if weekly is not None and len(weekly):
        from ..attribution.analysis import weekly_attribution_chart

        charts["weekly"] = weekly_attribution_chart(weekly)
        paragraphs.append("Week by week, the gap between last click and the multi-touch view "
                          "is shown per campaign (each week attributed on its own journeys).")
    return Section(title=title, anchor=anchor, paragraphs=paragraphs, kpis=kpis,
                   charts=charts, tables=tables)


def clv_section(analysis=None, reason: str = "") -> Section:
    """The CLV section from a :class:`~workbench.models.clv_analysis.CLVAnalysis`."""
    title, anchor = "Customer lifetime value and churn risk", "clv"
    intro = ("Which customers will keep buying, what are they worth, and which acquisition "
             "channels bring customers who last? A BG/NBD purchase model and a Gamma-Gamma "
             "spend model are fitted on the order history up to a calibration date and "
             "checked against what happened after it.")
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


def change_section(changes: list[str], replay=None, reason: str = "",
                   parts: dict | None = None) -> Section:
    """What the recommended config changes, and its effect replayed in the simulator.

    ``parts``: each recommendation replayed alone (name → ReplayResult), so a change
    that does not pay is seen even when the whole config does.
    """
    title, anchor = "What changes: the recommended campaign config", "changes"
    intro = ("The analyses below recommend settings; together they make the campaign config "
             "in campaign_config.json. Before anyone deploys it, the same store is "
             "re-simulated under the current and the recommended config with the same random "
             "numbers, so the difference is the change's effect.")
    paragraphs = [intro]
    paragraphs += (["Changes: " + "; ".join(changes) + "."] if changes else
                   ["The recommended config is the same as the current one."])
    if reason:
        paragraphs.append(reason)
    if replay is None:
        return Section(title=title, anchor=anchor, paragraphs=paragraphs)
    t = replay.table.set_index("metric")
    kpis = [Kpi(f"chg-{k}", f"{k.replace('_', ' ')} (replayed)",
                f"{t.loc[k, 'difference']:+,.0f}",
                f"95% [{t.loc[k, 'low']:+,.0f}, {t.loc[k, 'high']:+,.0f}]")
            for k in ("margin", "revenue", "recovered_carts", "unsubscribes")]
    paragraphs.append(f"Replayed in the simulator; the 95% intervals are over "
                      f"{replay.basis}.")
    paragraphs += replay.notes
    tables = [("Replayed effect per metric", replay.table)]
    if parts:
        rows = []
        for name, r in parts.items():
            e = r.table.set_index("metric")
            rows.append({"recommendation": name, **{
                f"{k} {c}": e.loc[k, col] for k in ("margin", "revenue", "discount_cost")
                for c, col in (("change", "difference"), ("low", "low"), ("high", "high"))}})
            lo, hi = e.loc["margin", "low"], e.loc["margin", "high"]
            verdict = ("pays" if lo > 0 else "costs margin" if hi < 0 else
                       "is not shown to pay yet (its interval spans zero)")
            paragraphs.append(f"The {name} alone {verdict}: margin "
                              f"{e.loc['margin', 'difference']:+,.0f} (95% {lo:+,.0f} to "
                              f"{hi:+,.0f}).")
        tables.append(("Each recommendation replayed alone", pd.DataFrame(rows)))
    return Section(title=title, anchor=anchor, paragraphs=paragraphs, kpis=kpis,
                   charts={"replay": replay.chart()}, tables=tables)


def operations_section(funnel: pd.DataFrame, weekly: pd.DataFrame) -> Section:
    """The operational layer (latest cycle, anomalies) and the weekly efficiency layer."""
    title, anchor = "This week: messages and efficiency", "operations"
    end = funnel.attrs.get("cycle_end")
    days = funnel.attrs.get("cycle_days", 7)
    anomalies = funnel[funnel.anomaly.astype(bool)]
    paragraphs = [
        f"Messages in the {days:g} days to {end:%Y-%m-%d}, per campaign and channel, against "
        "the band each rate kept over the previous cycles." if end is not None else
        "Messages in the latest cycle, per campaign and channel.",
        ("No delivery, open or click rate left its expected band." if anomalies.empty else
         "Outside the expected band: " + "; ".join(
             f"{r.campaign} {r.channel}: {r.anomaly}" for r in anomalies.itertuples()) + ".")]
    last = weekly.iloc[-1] if len(weekly) else None
    kpis = []
    if last is not None:
        for k, label, fmt in (("revenue", "revenue last week", "{:,.0f}"),
                              ("revenue_per_email", "revenue per email", "{:,.2f}"),
                              ("revenue_per_sms", "revenue per SMS", "{:,.2f}"),
                              ("cost_per_conversion", "message cost per conversion", "{:,.2f}"),
                              ("marketing_cost_share", "marketing cost / revenue", "{:.2%}")):
            v, t4, ly = last[k], last[f"{k}_trailing_4w"], last[f"{k}_last_year"]
            note = (f"4-week avg {fmt.format(t4)}" if pd.notna(t4) else "") + (
                f" · last year {fmt.format(ly)}" if pd.notna(ly) else " · no week last year")
            kpis.append(Kpi(f"ops-{k}", label, fmt.format(v) if pd.notna(v) else "—", note))
    long = weekly.melt(id_vars=["week"], value_vars=["revenue_per_email", "revenue_per_sms"],
                       var_name="metric", value_name="value")
    chart = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("week:T", title="week"), y=alt.Y("value:Q", title="revenue per message"),
        color=alt.Color("metric:N", title=None),
        tooltip=["week:T", "metric", alt.Tooltip("value:Q", format=",.2f")]).properties(
        width=520, height=200, title="Revenue per message, by week (last click)")
    cols = ["campaign", "channel", "sent", "delivered", "opened", "clicked", "delivery_rate",
            "open_rate", "open_rate_expected", "click_rate", "click_rate_expected", "anomaly"]
    return Section(title=title, anchor=anchor, paragraphs=paragraphs, kpis=kpis,
                   charts={"weekly": chart},
                   tables=[("Latest cycle per campaign and channel", funnel[cols])])


__all__ = ["Kpi", "Report", "Section", "cart_timing_section", "discount_section",
           "operations_section",
           "change_section",
           "clv_section",
           "attribution_section",
           "overview_section"]
