"""What each campaign earns, measured against its holdout.

A campaign with a holdout (customers who never get its messages, recorded in the
assignments table as experiment ``<campaign>_holdout`` with arms ``messaged`` and
``holdout`` — what a platform's holdout group is) is a randomized experiment: the
difference in margin per customer over the ``window_days`` after each customer's
first qualifying trigger is the campaign's incremental margin, whatever the
attribution says.  The comparison is Welch's, variance-reduced by the customer's
margin in the ``pre_days`` before the trigger (CUPED: Deng, Xu, Kohavi & Walker 2013,
eq. 3-4; :func:`workbench.experiments.analyze_experiment`).  A campaign without a
holdout gets the test to run, sized at this store's traffic.  On a simulated store
each estimate is set beside the truth: the incremental margin the campaign's messages
caused for the messaged customers in the same window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...engines import fetch_frame
from ...experiments import analyze_experiment, sample_size_mean, welch_difference
from ...report import Kpi, Section
from ...results import Result
from ...vocab import CAMPAIGN_LABELS, CAMPAIGNS
from ..base import Analysis, Context
from ..orders import orders_with_goods
from ..truth import caused_margin
from ..units import HOLDOUT_SUFFIX, holdout_units
from .efficiency import by_stage, last_click, side_by_side, stage_of

TITLE, ANCHOR = "Campaign efficiency and incrementality (holdouts)", "holdouts"
INTRO = ("What does each campaign earn that the store would not have earned anyway? A "
         "campaign's holdout — customers who never get its messages, chosen at random — "
         "answers it directly: margin per customer in the weeks after each customer "
         "first qualified, messaged against held out. Attribution cannot: it credits "
         "orders that would have happened without the message.")


def order_units(con, campaign: str = "post_purchase", window_days: float = 30.0
                ) -> pd.DataFrame:
    """One row per order of a customer in an order-triggered campaign's holdout test.

    ``customer_id, arm, order_id, placed_at, order_value, first_order, margin_after``:
    the margin (revenue less goods cost where known) of the customer's *later* orders in
    the ``window_days`` after this one — what a follow-up of this order can add.  Every
    order of an assigned customer counts (the holdout is per customer, so an order of a
    held-out customer is a control order whatever its number).
    """
    a = con.table("assignments")
    a = a.filter((a.experiment == campaign + HOLDOUT_SUFFIX) & (a.unit_type == "customer"))
    arms = fetch_frame(a.select("customer_id", "arm")).drop_duplicates("customer_id")
    if arms.empty:
        return pd.DataFrame()
    orders = orders_with_goods(con)
    # the data's end, not the test's customers' (orders alone: no need for the goods' join)
    end = pd.Timestamp(con.table("orders").placed_at.max().execute())
    ids = a.select(aid="customer_id").distinct()
    # the test's customers' orders only, filtered in the engine and fetched in batches
    o = fetch_frame(orders.semi_join(ids, orders.customer_id == ids.aid))
    o = o.sort_values(["customer_id", "placed_at"]).reset_index(drop=True)
    o["first_order"] = ~o.customer_id.duplicated()
    o = o.merge(arms, on="customer_id")
    # margin of the same customer's later orders within the window (a self-join)
    j = o[["order_id", "customer_id", "placed_at"]].merge(
        o[["customer_id", "placed_at", "revenue", "goods"]], on="customer_id",
        suffixes=("", "_later"))
    j = j[(j.placed_at_later > j.placed_at)
          & (j.placed_at_later <= j.placed_at + pd.Timedelta(days=window_days))]
    later = (j.revenue - j.goods).groupby(j.order_id).sum()
    o["margin_after"] = o.order_id.map(later).fillna(0.0)
    o = o[o.placed_at + pd.Timedelta(days=window_days) <= end]  # whole window observed
    return o.rename(columns={"revenue": "order_value"})[
        ["customer_id", "arm", "order_id", "placed_at", "order_value", "first_order",
         "margin_after"]].reset_index(drop=True)


def by_buyer(units: pd.DataFrame) -> pd.DataFrame:
    """A campaign's incremental margin per customer by buyer and order value at assignment.

    ``units``: one campaign's rows of :func:`holdout_units`.  Segments are what was known
    when the customer entered the test — a first-time buyer (one order before) or a
    repeat buyer, and whether their latest order was at or above the median — so the
    messages cannot move a customer between segments.  Messaged against held-out
    customers of each segment, Welch 95% intervals.
    """
    if units.empty:
        return pd.DataFrame()
    median = float(units.last_order_value.median())
    seg = pd.DataFrame({
        "buyer": np.where(units.prior_orders <= 1, "first-time buyer", "repeat buyer"),
        "order_value": np.where(units.last_order_value >= median,
                                f"{median:,.0f} or more", f"under {median:,.0f}")},
        index=units.index)
    rows = []
    for (b, v), g in units.groupby([seg.buyer, seg.order_value]):
        w = welch_difference(g.margin[g.arm == "messaged"], g.margin[g.arm == "holdout"])
        if not np.isfinite(w["difference"]):
            continue
        rows.append({"buyer": b, "order_value": v, "messaged": w["n_treated"],
                     "held_out": w["n_control"], "incremental_margin": w["difference"],
                     "ci_low": w["low"], "ci_high": w["high"]})
    return pd.DataFrame(rows)


def true_incremental_margin(dataset, units: pd.DataFrame, window_days: float) -> pd.Series:
    """Per campaign, the truth: caused margin per messaged customer in their window.

    :func:`~workbench.analyses.truth.caused_margin` of each messaged customer from their
    assignment, averaged over the messaged customers of each campaign.
    """
    u = units[units.arm == "messaged"].reset_index(drop=True)
    return pd.Series(caused_margin(dataset, u, window_days)).groupby(u.campaign).mean()


class CampaignHoldouts(Analysis):
    """Each campaign's incremental margin against its holdout; the holdouts still to run.

    Beside it, efficiency by last click and per message (:mod:`.efficiency`).
    """

    name, title, anchor, intro = "holdouts", TITLE, ANCHOR, INTRO
    needs = {"orders": ("customer_id", "placed_at", "revenue"),
             "messages": ("customer_id", "campaign", "sent_at", "cost", "experiment")}

    recommendation = "no messages to the customer stages a campaign loses money on"

    def run(self, ctx: Context):
        if not ctx.has_table("messages", nonempty=True):
            return self.skip("the dataset has no messages: a campaign's incrementality is "
                             "measured on the customers it messaged against its holdout")
        if not ctx.has_table("orders", nonempty=True):
            return self.skip("the dataset has no orders to measure margin on")
        res = analyze_holdouts(ctx.con, dataset=ctx.path if ctx.has_truth(
            "truth/messages") else None)
        if ctx.simulated and res.stage_rule:
            ctx.echo("holdouts: replaying no messages to the stages that lose money")
            res.stage_replay = replay_stage_rule(ctx.path, res.stage_rule)
        return res

    def config_part(self, result: Holdouts, files):
        return {"skip_stages": result.stage_rule} if result.stage_rule else {}

    def export(self, result: Holdouts, out, ctx: Context):
        files = {}
        for label, frame in (("campaign_efficiency", result.last_click),
                             ("campaign_incrementality", result.efficiency),
                             ("campaign_stages", result.stages)):
            if frame is not None and len(frame):
                files.update(self.write_csv(out, label, frame, 4))
        return files

    def section(self, result: Holdouts) -> Section:
        t = result.table
        kpis = [Kpi(f"holdout-{r.campaign}", CAMPAIGN_LABELS.get(r.campaign, r.campaign),
                    f"{r.incremental_margin:+.2f}",
                    f"per messaged customer, [{r.ci_low:+.2f}, {r.ci_high:+.2f}]")
                for r in t.itertuples()]
        tables = []
        if len(t):
            tables.append((f"Margin per customer in the {result.settings['window_days']:g} days "
                           "after their first qualifying trigger, messaged against held out "
                           "(CUPED-adjusted difference, 95% interval)", t.round(3)))
        pp = result.post_purchase_by_buyer
        if pp is not None and len(pp):
            tables.append(("Post-purchase emails by buyer at entry to the test: margin per "
                           f"customer in the {result.settings['window_days']:g} days after, "
                           "messaged against held out (95% interval)", pp.round(3)))
        tables += efficiency_tables(result)
        if len(result.to_run):
            tables.append(("The holdouts to set up (customers held out, and weeks at this "
                           "store's traffic, to detect an incremental margin of a fifth of a "
                           "customer's revenue in the window)", result.to_run))
        chart = result.efficiency_chart()
        return Section(title=TITLE, anchor=ANCHOR, kpis=kpis, tables=tables,
                       paragraphs=[INTRO, result.summary()],
                       charts={"efficiency": chart} if chart is not None else {})


def efficiency_tables(result: Holdouts) -> list:
    """The efficiency tables of the section: last click, and beside incrementality."""
    out = []
    cols = ["sent", "cost", "orders", "revenue", "conversion_per_message",
            "revenue_per_message", "cost_per_conversion", "marketing_cost_share",
            "net_margin_per_message"]
    if result.efficiency is not None and len(result.efficiency):
        out.append(("Per message: last click against the holdout's incremental margin (95% "
                    "interval), incremental orders per 1,000 messages and the cost per "
                    "incremental conversion", result.efficiency.round(4)))
    if result.last_click is not None and len(result.last_click):
        out.append(("Last click per campaign and channel (what a platform reports: orders "
                    "carrying the message's link or code)",
                    result.last_click[["campaign", "channel", *cols]].round(4)))
    if result.stages is not None and len(result.stages):
        out.append(("Per customer stage at entry to the holdout: incremental margin per "
                    "customer (95% interval) and P(the campaign loses money there)",
                    result.stages.round(3)))
    if result.last_click_by_stage is not None and len(result.last_click_by_stage):
        out.append(("Last click per campaign, channel and customer stage at the send",
                    result.last_click_by_stage[["campaign", "channel", "stage", *cols]]
                    .round(4)))
    return out


@dataclass
class Holdouts(Result):
    """Per campaign: incremental margin per customer against its holdout, or the test to run."""

    _html_table = "table"

    table: pd.DataFrame
    to_run: pd.DataFrame  # campaigns without a holdout: the holdout to set up
    settings: dict = field(default_factory=dict)
    post_purchase_by_buyer: pd.DataFrame | None = None  # first/repeat buyer × order value
    #: last click per campaign × channel, and per campaign × customer stage at the send
    #: (:func:`.efficiency.last_click`)
    last_click: pd.DataFrame | None = None
    last_click_by_stage: pd.DataFrame | None = None
    #: per campaign with a holdout: last click beside incrementality, per message
    efficiency: pd.DataFrame | None = None
    #: per campaign × customer stage at assignment: incremental margin, loses money?
    stages: pd.DataFrame | None = None
    #: campaign → the stages it loses money on (exported as ``skip_stages``)
    stage_rule: dict = field(default_factory=dict)
    #: that rule replayed against the current config (simulated stores): margin
    stage_replay: dict | None = None

    def summary(self) -> str:
        lines = []
        for r in self.table.itertuples():
            sig = ("pays" if r.ci_low > 0 else "loses money" if r.ci_high < 0 else
                   "is not shown to pay or to lose")
            name = CAMPAIGN_LABELS.get(r.campaign, r.campaign)
            days = self.settings["window_days"]
            line = (f"{name}: {r.incremental_margin:+.2f} margin per messaged customer in "
                    f"{days:g} days "
                    f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}] over {r.messaged:,} messaged and "
                    f"{r.held_out:,} held out — it {sig}")
            if "true_incremental_margin" in self.table and np.isfinite(
                    r.true_incremental_margin):
                line += f" (truth {r.true_incremental_margin:+.2f})"
            lines.append(line + ".")
        if len(self.to_run):
            lines.append("No holdout yet for: " + ", ".join(
                CAMPAIGN_LABELS.get(c, c) for c in self.to_run.campaign) + ".")
        e = self.efficiency
        for r in ([] if e is None else e.itertuples()):
            name = CAMPAIGN_LABELS.get(r.campaign, r.campaign)
            lines.append(f"Per message, {name} earns {r.incremental_margin_per_message:+.3f} "
                         f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}] by its holdout against "
                         f"{r.last_click_margin_per_message:+.3f} by last click.")
        st = self.stages
        for r in ([] if st is None or st.empty else st[st.loses_money].itertuples()):
            lines.append(f"{CAMPAIGN_LABELS.get(r.campaign, r.campaign).capitalize()} loses "
                         f"money on {r.stage}s: {r.incremental_margin:+.2f} per customer "
                         f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}], P(loss) {r.prob_loses:.0%} — "
                         "the config stops sending it to them (skip_stages).")
        rp = self.stage_replay
        if rp is not None:
            lines.append(f"Replayed on {rp['customers']:,} customers × {rp['replications']}: "
                         f"margin {rp['difference']:+,.0f} [{rp['low']:+,.0f}, "
                         f"{rp['high']:+,.0f}] against sending to every stage.")
        return " ".join(lines) or "No campaign has a holdout."

    def efficiency_chart(self):
        """Altair: per campaign, margin per message by holdout and by last click.

        The holdout's with its 95% interval; None without a campaign with a holdout.
        """
        import altair as alt

        e = self.efficiency
        if e is None or e.empty:
            return None
        long = pd.concat([
            e.assign(measure="holdout (incremental)", value=e.incremental_margin_per_message),
            e.assign(measure="last click", value=e.last_click_margin_per_message)])
        points = alt.Chart(long).mark_point(filled=True, size=80).encode(
            x=alt.X("value:Q", title="margin per message"), y=alt.Y("campaign:N", title=None),
            color=alt.Color("measure:N", title=None),
            tooltip=["campaign", "measure", alt.Tooltip("value:Q", format="+.3f")])
        rules = alt.Chart(e).mark_rule().encode(x="ci_low:Q", x2="ci_high:Q", y="campaign:N")
        return (rules + points).properties(width=460, height=160,
                                           title="Per message: last click against the holdout")


def analyze_holdouts(con, window_days: float = 30.0, pre_days: float = 90.0,
                     dataset=None, holdout_share: float = 0.1,
                     detectable_share: float = 0.2, min_prob: float = 0.9) -> Holdouts:
    """Every campaign's incremental margin against its holdout (CUPED-adjusted Welch).

    Beside it the efficiency a marketer acts on (:mod:`.efficiency`): last click per
    campaign × channel and per customer stage, the holdout's incrementality per message
    next to last click's, and per campaign × stage the incremental margin with
    ``prob_loses`` (a stage is flagged at P ≥ ``min_prob``).

    ``dataset``: a simulated dataset's path, to set the truth beside each estimate.
    Campaigns that sent messages but have no holdout get the holdout to run:
    ``holdout_share`` of customers, sized (80% power, 5% two-sided) to detect an
    incremental margin of ``detectable_share`` of a customer's mean revenue in the
    window, in weeks of this store's qualifying customers.
    """
    units = holdout_units(con, window_days, pre_days) if "assignments" in \
        con.list_tables() else pd.DataFrame(columns=["campaign"])
    rows = []
    for camp, g in units.groupby("campaign", sort=True):
        arms = set(g.arm)
        if arms != {"messaged", "holdout"} or g.arm.value_counts().min() < 2:
            continue
        res = analyze_experiment(g, "arm", "margin", "holdout", kind="continuous",
                                 covariate="pre_margin", name=f"{camp} holdout")
        r = res.arms.set_index("arm").loc["messaged"]
        pre = "cuped_" if res.cuped else ""
        rows.append({"campaign": camp, "messaged": int((g.arm == "messaged").sum()),
                     "held_out": int((g.arm == "holdout").sum()),
                     "margin_per_customer_holdout": float(
                         g.margin[g.arm == "holdout"].mean()),
                     "margin_per_customer_messaged": float(
                         g.margin[g.arm == "messaged"].mean()),
                     "incremental_margin": float(r[pre + "abs_lift"]),
                     "ci_low": float(r[pre + "abs_lift_low"]),
                     "ci_high": float(r[pre + "abs_lift_high"]),
                     "cuped_variance_reduction": float(res.cuped["variance_reduction"])
                     if res.cuped else 0.0})
    table = pd.DataFrame(rows, columns=["campaign", "messaged", "held_out",
                                        "margin_per_customer_holdout",
                                        "margin_per_customer_messaged", "incremental_margin",
                                        "ci_low", "ci_high", "cuped_variance_reduction"])
    if dataset is not None and len(table):
        truth = true_incremental_margin(dataset, units, window_days)
        table["true_incremental_margin"] = table.campaign.map(truth).astype(float)
    to_run = _holdouts_to_run(con, set(table.campaign), window_days, holdout_share,
                              detectable_share)
    pp = by_buyer(units[units.campaign == "post_purchase"]) \
        if "post_purchase" in set(table.campaign) else None
    lc = last_click(con)
    held = units[units.campaign.isin(set(table.campaign))] if len(table) else units.iloc[:0]
    stages = by_stage(held, min_prob)
    if dataset is not None and len(stages):
        msg = held[held.arm == "messaged"].reset_index(drop=True)
        caused = pd.Series(caused_margin(dataset, msg, window_days))
        truth = caused.groupby([msg.campaign, stage_of(msg.prior_orders)]).mean()
        stages["true_incremental_margin"] = [truth.get((r.campaign, r.stage), np.nan)
                                             for r in stages.itertuples()]
    rule = {} if stages.empty else {
        c: sorted(g.stage) for c, g in stages[stages.loses_money].groupby("campaign")}
    return Holdouts(table=table, to_run=to_run, post_purchase_by_buyer=pp,
                    settings={"window_days": window_days, "pre_days": pre_days},
                    last_click=lc, last_click_by_stage=last_click(con, by_stage=True),
                    efficiency=side_by_side(lc, units, table), stages=stages,
                    stage_rule=rule)


def replay_stage_rule(dataset, rule: dict, replications: int = 3,
                      n_customers: int | None = 3000) -> dict:
    """Replay "``campaign`` no longer messages these stages" against the current config.

    Common random numbers, per-customer paired intervals
    (:class:`~workbench.campaigns.replay.Replayer`); the margin difference over the run.
    """
    from ...campaigns.config import baseline_from_dataset, with_recommendations
    from ...campaigns.replay import Replayer
    from ...store import load_manifest

    base = baseline_from_dataset(dataset)
    n_store = int(load_manifest(dataset)["config"]["n_customers"])
    n = min(n_store, int(n_customers)) if n_customers else n_store
    rp = Replayer.from_dataset(dataset, base, replications=replications, n_customers=n)
    row = rp.run(with_recommendations(base, skip_stages=rule)).table.set_index(
        "metric").loc["margin"]
    return {"customers": n, "replications": replications, "difference": float(
        row.difference), "low": float(row.low), "high": float(row.high)}


def _holdouts_to_run(con, have: set[str], window_days: float, share: float,
                     detectable_share: float) -> pd.DataFrame:
    """For each campaign that messaged customers without a holdout: the holdout to set up."""
    if "messages" not in con.list_tables():
        return pd.DataFrame(columns=["campaign"])
    m = con.table("messages")
    first = m.group_by(["campaign", "customer_id"]).aggregate(first=m.sent_at.min()).execute()
    if first.empty:
        return pd.DataFrame(columns=["campaign"])
    span_weeks = max((first["first"].max() - first["first"].min()).total_seconds()
                     / (7 * 86400), 1.0)
    o = con.table("orders")
    per_cust = o.group_by("customer_id").aggregate(rev=o.revenue.sum()).execute()
    days = max((o.placed_at.max().execute() - o.placed_at.min().execute()).total_seconds()
               / 86400, 1.0)
    # a campaign whose own experiment has a no-message arm is measured there (the
    # abandoned-cart timing test's holdout)
    if "assignments" in con.list_tables():
        a = con.table("assignments")
        with_holdout = set(a.filter(a.arm == "holdout").select("experiment").distinct()
                           .execute().experiment)
        sent = m.filter(m.experiment.notnull()).select("campaign", "experiment").distinct()
        sent = sent.execute()
        have = have | set(sent.campaign[sent.experiment.isin(with_holdout)])
    rows = []
    ratio = (1 - share) / share  # messaged per held-out customer
    for camp, g in first.groupby("campaign"):
        if camp in have or camp not in CAMPAIGNS:
            continue
        per_week = len(g) / span_weeks
        # the campaign's customers' revenue over a window (non-buyers count as zero)
        rev = per_cust.set_index("customer_id").rev.reindex(g.customer_id).fillna(0.0) \
            * window_days / days
        effect, sd = detectable_share * float(rev.mean()), float(rev.std())
        n_hold = (sample_size_mean(sd, effect, ratio=ratio)
                  if np.isfinite(sd) and sd > 0 and effect > 0 else np.nan)
        weeks = n_hold / (share * per_week) if per_week > 0 else np.inf
        rows.append({"campaign": camp, "customers_per_week": round(per_week, 1),
                     "holdout_share": share, "held_out_needed": n_hold,
                     "weeks_needed": round(weeks, 1)})
    return pd.DataFrame(rows, columns=["campaign", "customers_per_week", "holdout_share",
                                       "held_out_needed", "weeks_needed"])


__all__ = ["CampaignHoldouts", "Holdouts", "analyze_holdouts", "by_buyer", "holdout_units",
           "order_units", "replay_stage_rule", "true_incremental_margin"]
