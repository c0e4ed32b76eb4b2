"""The store overview and this week's operations, as report sections."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from ...report import Kpi, Section

OVERVIEW_TITLE, OVERVIEW_ANCHOR = "Store overview", "overview"
OPERATIONS_TITLE, OPERATIONS_ANCHOR = "This week: messages and efficiency", "operations"


def overview_section(ov) -> Section:
    """The store-overview section from a :class:`~workbench.analyses.overview.StoreOverview`."""
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
        Kpi("abandonment", "cart abandonment", f"{ab_rate:.0%}" if ab_rate == ab_rate else "—",
            "cart sessions without purchase"),
        Kpi("messages", "messages sent", f"{k['messages_sent']:,}"),
        Kpi("returns", "returned share of revenue", f"{k['return_share_of_revenue']:.1%}"),
    ]
    msg_cols = ["campaign", "channel", "sent", "delivered", "opened", "clicked", "unsubscribed",
                "delivery_rate", "open_rate", "click_rate", "unsubscribe_rate", "orders",
                "order_revenue"]
    return Section(
        title=OVERVIEW_TITLE,
        anchor=OVERVIEW_ANCHOR,
        paragraphs=ov.summary().split("\n") + [
            "Open rates include machine opens (Apple Mail privacy protection opens every "
            "delivered email for its users), so they overstate attention; clicks do not."],
        kpis=kpis,
        charts=ov.charts(),
        tables=[("Funnel", ov.funnel), ("Messages by campaign and channel",
                                         ov.messages[msg_cols])] + _benchmark_table(ov),
    )


def _benchmark_table(ov) -> list:
    """The store's flows and funnel against what platforms publish for their stores."""
    b = ov.benchmarks
    if b is None or b.empty:
        return []
    shown = b.assign(
        verdict=np.where(b.inside, "inside", np.where(b.value < b.low, "below", "above")))
    return [("Against published benchmarks (per delivered message, as platforms count; "
             "sources in the README)",
             shown[["scope", "metric", "value", "low", "high", "verdict", "n", "source"]])]


def operations_section(funnel: pd.DataFrame, weekly: pd.DataFrame) -> Section:
    """The operational layer (latest cycle, anomalies) and the weekly efficiency layer."""
    title, anchor = OPERATIONS_TITLE, OPERATIONS_ANCHOR
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
    if "vs_prediction" in funnel:  # what the run at the cycle's start expected of it
        cols[-1:-1] = ["open_rate_predicted", "click_rate_predicted"]
        cols.append("vs_prediction")
        off = funnel[funnel.vs_prediction.astype(bool)]
        paragraphs.append(
            f"Against what the run of {funnel.attrs['predicted_as_of']:%Y-%m-%d} predicted "
            "for this cycle (95% bands): " + ("every rate inside its band." if off.empty else
                                               "; ".join(f"{r.campaign} {r.channel}: "
                                                         f"{r.vs_prediction}"
                                                         for r in off.itertuples()) + "."))
    return Section(title=title, anchor=anchor, paragraphs=paragraphs, kpis=kpis,
                   charts={"weekly": chart},
                   tables=[("Latest cycle per campaign and channel", funnel[cols])])
