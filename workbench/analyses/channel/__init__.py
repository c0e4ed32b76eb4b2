"""Email or SMS per customer: engagement pooled across the store, valued by the cart test.

Each customer's engagement on each channel — clicks per delivered message, as a
multiplier of the store's — from a bivariate Poisson-lognormal model with empirical-Bayes
hyperparameters and an exact grid posterior (:mod:`.model`), so three SMS and no click
pull a customer toward the store instead of marking them unresponsive.  What a channel
is worth comes from the randomized abandoned-cart test: each channel's arms against the
no-message arm, in margin per cart over 7 days net of the message cost.  A customer's
expected value of a reminder on a channel is that lift times their engagement multiplier
on it (relative to the test's customers), less the unsubscribe risk times what the
channel's reminders would earn from them over a year; the recommended channel is the
better of those they can be reached on.  Exported as the cart reminder's per-customer
channels and, on a simulated store, replayed against one channel for everyone.

The assumption to keep in view: persuasion on a channel moves with the customer's clicks
on it (engagement as a proxy of responsiveness).  The simulator draws both from one
per-customer responsiveness, so the replay checks the whole chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from ...report import Kpi, Section
from ...results import Result
from ...vocab import CHANNELS
from ..base import Analysis, Context, replayed
from ..orders import orders_with_goods
from .features import engagement_counts
from .model import ChannelInputError, EngagementHyper, engagement_posterior, fit_engagement

TITLE, ANCHOR = "Email or SMS per customer", "channel"
INTRO = ("Which channel should each customer's cart reminder use? Every customer's clicks "
         "on email and on SMS, pooled across the store so a handful of messages gives a "
         "cautious answer; the randomized cart test says what a reminder on each channel "
         "earns; together, each customer's expected value on each channel, net of the "
         "unsubscribe risk.")
CART_EXPERIMENT = "abandoned_cart_timing"


def channel_lift(con, window_days: float = 7.0, experiment: str = CART_EXPERIMENT
                 ) -> pd.DataFrame:
    """Per channel: margin per cart over the window, its arms pooled against no message.

    ``channel, carts, holdout_carts, lift, low, high`` (Welch 95%), the cart's
    customer's orders' revenue less goods cost in ``[assigned_at, + window_days)`` less
    the reminder's cost.
    """
    a = con.table("assignments")
    a = a.filter((a.experiment == experiment) & (a.unit_type == "cart"))
    units = a.select("unit_id", "customer_id", "arm", "assigned_at").execute()
    if units.empty:
        raise ChannelInputError(f"no randomized carts (experiment {experiment!r} in the "
                                "assignments table): the value of each channel comes from "
                                "the cart test's arms against its no-message arm")
    m = con.table("messages")
    msg = m.filter(m.experiment == experiment).select("trigger_id", "channel", "cost").execute()
    ch = msg.groupby("trigger_id").channel.first()
    cost = msg.groupby("trigger_id").cost.sum()
    units["channel"] = units.unit_id.map(ch)
    units["cost"] = units.unit_id.map(cost).fillna(0.0)
    # the arm's channel where its reminder was sent (arms are named for no message or a
    # reminder; a cart whose reminder was never sent keeps its arm's channel)
    arm_ch = units.dropna(subset=["channel"]).groupby("arm").channel.agg(
        lambda s: s.mode().iloc[0])
    units["channel"] = units.arm.map(arm_ch)
    o = orders_with_goods(con)
    orders = o.select("customer_id", "placed_at", margin=o.revenue - o.goods).execute()
    # carts whose window runs past the data's end cannot show what followed them
    units = units[units.assigned_at + pd.Timedelta(days=window_days)
                  <= orders.placed_at.max()].copy()
    j = units[["unit_id", "customer_id", "assigned_at"]].merge(orders, on="customer_id")
    j = j[(j.placed_at >= j.assigned_at)
          & (j.placed_at < j.assigned_at + pd.Timedelta(days=window_days))]
    units["net"] = units.unit_id.map(j.groupby("unit_id").margin.sum()).fillna(0.0) \
        - units.cost
    hold = units[units.channel.isna()].net.to_numpy()
    if hold.size < 2:
        raise ChannelInputError(f"the cart test {experiment!r} has no no-message arm to "
                                "measure a channel's reminder against")
    rows = []
    for c in CHANNELS:
        x = units[units.channel == c].net.to_numpy()
        if x.size < 2:
            continue
        res = stats.ttest_ind(x, hold, equal_var=False)
        ci = res.confidence_interval()
        rows.append({"channel": c, "carts": int(x.size), "holdout_carts": int(hold.size),
                     "lift": float(x.mean() - hold.mean()), "low": float(ci.low),
                     "high": float(ci.high)})
    return pd.DataFrame(rows)


@dataclass
class ChannelChoice(Result):
    """Per customer: engagement on each channel, each channel's value and the choice."""

    _html_table = "lift"
    _skip_in_dict = ("scorecard",)

    scorecard: pd.DataFrame
    lift: pd.DataFrame
    hyper: EngagementHyper
    settings: dict = field(default_factory=dict)
    replay: pd.DataFrame | None = None
    truth: dict = field(default_factory=dict)

    @property
    def channels(self) -> dict[str, str]:
        """Customer id: recommended channel (customers reachable on one at least)."""
        c = self.scorecard.dropna(subset=["best_channel"])
        return {str(k): v for k, v in zip(c.customer_id, c.best_channel, strict=True)}

    def summary(self) -> str:
        lift = self.lift.set_index("channel")
        h = self.hyper
        parts = [f"{c}: {r.lift:+.2f} margin per cart [{r.low:+.2f}, {r.high:+.2f}]"
                 for c, r in lift.iterrows()]
        sc = self.scorecard.dropna(subset=["best_channel"])
        share = (sc.best_channel == "sms").mean() if len(sc) else np.nan
        lines = ["What a cart reminder earns, from the randomized test: " + "; ".join(parts)
                 + ".",
                 f"Customers' engagement spreads by a factor of {np.exp(h.s['email']):.2f} "
                 f"(one sd) on email and {np.exp(h.s['sms']):.2f} on SMS (correlation "
                 f"{h.rho:+.2f}); {share:.0%} of reachable customers are better sent SMS."]
        if h.s["sms"] <= 0.06:
            lines.append("The store sends too few SMS per customer to tell customers apart "
                         "on SMS: their SMS engagement is the store's, and the choice rests "
                         "on the channels' lifts and their email engagement.")
        if self.truth:
            lines.append(f"Against the simulator's truth, estimated email engagement ranks "
                         f"customers (3 or more emails) with Spearman "
                         f"{self.truth['email_spearman']:.2f} against their true "
                         f"responsiveness.")
        if self.replay is not None:
            r = self.replay.set_index("against")
            for name, row in r.iterrows():
                lines.append(replayed("Replayed, the per-customer channels", name, row) + ".")
        return " ".join(lines)


def analyze_channels(con, window_days: float = 7.0, truth: pd.DataFrame | None = None
                     ) -> ChannelChoice:
    """Engagement per customer and channel, each channel's lift, and the choice."""
    counts = engagement_counts(con)
    h = fit_engagement(counts)
    post = engagement_posterior(counts, h)
    lift = channel_lift(con, window_days).set_index("channel")
    for c in CHANNELS:
        if c not in lift.index:
            raise ChannelInputError(f"the cart test has no {c} arm: both channels' reminders "
                                    "are needed to choose between them")
    m = con.table("messages")
    per = m.group_by("channel").aggregate(
        delivered=m.delivered.cast("int64").sum(),
        unsub=m.unsubscribed_at.notnull().cast("int64").sum()).execute().set_index("channel")
    u_rate = (per.unsub / per.delivered.clip(lower=1)).reindex(list(CHANNELS)).fillna(0.0)
    cart = m.filter(m.campaign == "abandoned_cart")
    span = m.sent_at.max().execute() - m.sent_at.min().execute()
    years = max(span.total_seconds() / (365.25 * 86400), 1 / 52)
    n_cust = max(int(counts.customer_id.nunique()), 1)
    per_year = float(cart.count().execute()) / n_cust / years  # cart reminders a year
    cust = con.table("customers").select("customer_id", "email_opt_in",
                                         "sms_opt_in").execute()
    card = post.merge(cust, on="customer_id", how="left")
    # the multipliers relative to the customers the cart test measured
    tested = con.table("assignments").filter(
        ibis._.experiment == CART_EXPERIMENT).customer_id.execute().unique()
    in_test = card.customer_id.isin(tested)
    for c in CHANNELS:
        rel = card[f"{c}_engagement"] / card.loc[in_test, f"{c}_engagement"].mean()
        per_msg = lift.loc[c, "lift"] * rel
        # an unsubscribe loses the channel's reminders to them for a year
        card[f"value_{c}"] = per_msg - u_rate[c] * per_msg.clip(lower=0) * per_year
    ok_e = card.email_opt_in.fillna(False).astype(bool)
    ok_s = card.sms_opt_in.fillna(False).astype(bool)
    best = np.where(ok_s & (~ok_e | (card.value_sms > card.value_email)), "sms",
                    np.where(ok_e, "email", None))
    card["best_channel"] = best
    card["channel_affinity"] = card.pop("p_sms_relatively_higher")
    out_truth = {}
    if truth is not None:
        j = card.merge(truth, on="customer_id")
        j = j[j.email_messages >= 3]
        if len(j) > 10:
            out_truth["email_spearman"] = float(stats.spearmanr(
                j.email_engagement, j.email_responsiveness).statistic)
    return ChannelChoice(scorecard=card, lift=lift.reset_index(), hyper=h,
                         settings={"window_days": window_days, "unsubscribe_rate":
                                   u_rate.to_dict(), "cart_reminders_per_year": per_year},
                         truth=out_truth)


def replay_channels(dataset, result: ChannelChoice, replications: int = 1) -> pd.DataFrame:
    """Per-customer channels against one store-wide rule for everyone, replayed.

    The rules: email for everyone, and SMS wherever the customer opted in to it (email
    otherwise) — the one the test's lifts suggest.  All three outside the experiment (its
    share cut to 10% so the policies reach most carts), on the store's own customers.
    Rows: the store-wide alternative, and the per-customer config's margin difference
    from it with its 95% interval.
    """
    from ...campaigns.config import CampaignConfig, baseline_from_dataset
    from ...campaigns.replay import Replayer

    base = baseline_from_dataset(dataset).model_dump(mode="json")
    ac = base["campaigns"]["abandoned_cart"]
    ac["experiment_share"] = 0.1

    def with_channels(channels, policy_channel=None):
        d = {**base, "campaigns": {**base["campaigns"], "abandoned_cart": {
            **ac, "channels": channels,
            "policy": {k: {**v, "channel": policy_channel or v["channel"]}
                       for k, v in ac["policy"].items()}}}}
        return CampaignConfig.model_validate(d)

    own = with_channels(result.channels)
    sc = result.scorecard
    sms_first = {str(c): ("sms" if s_ else "email") for c, s_ in zip(
        sc.customer_id, sc.sms_opt_in.fillna(False).astype(bool), strict=True)}
    # one replayer whose baseline is the per-customer config: its runs are simulated once
    rp = Replayer.from_dataset(dataset, baseline=own, replications=replications)
    rows = []
    for name, alt in (("email for everyone", with_channels({}, "email")),
                      ("SMS where reachable, else email", with_channels(sms_first))):
        t = rp.run(alt).table.set_index("metric").loc["margin"]  # alternative − own
        rows.append({"against": name, "baseline": t.new, "per_customer": t.baseline,
                     "difference": -t.difference, "low": -t.high, "high": -t.low})
    return pd.DataFrame(rows)


class ChannelAnalysis(Analysis):
    """Each customer's engagement on email and SMS, and their cart reminder's channel."""

    name, title, anchor, intro = "channel", TITLE, ANCHOR, INTRO
    recommendation = "cart reminder channel per customer"
    needs = {"messages": ("customer_id", "channel", "sent_at", "delivered", "clicked_at",
                          "unsubscribed_at", "experiment", "trigger_id", "cost"),
             "assignments": ("experiment", "unit_type", "unit_id", "arm"),
             "customers": ("customer_id", "email_opt_in", "sms_opt_in")}
    test_to_run = ("a randomized abandoned-cart test with an email arm, an SMS arm and a "
                   "no-message arm (assignments with unit_type 'cart')")

    def run(self, ctx: Context):
        if not ctx.has_table("messages", nonempty=True):
            return self.skip("the dataset has no messages: engagement is read from the "
                             "clicks of emails and SMS")
        truth = None
        if ctx.has_truth("truth/customers"):
            from ...store import read_table

            truth = read_table(ctx.path, "truth/customers")[[
                "customer_id", "email_responsiveness", "sms_responsiveness"]]
        try:
            res = analyze_channels(ctx.con, truth=truth)
        except ChannelInputError as exc:
            return self.skip(str(exc))
        if ctx.simulated:
            ctx.echo("channel: replaying per-customer channels against one for everyone")
            res.replay = replay_channels(ctx.path, res)
        return res

    def section(self, result: ChannelChoice) -> Section:
        sc = result.scorecard.dropna(subset=["best_channel"])
        kpis = [Kpi("ch-sms", "customers better sent SMS",
                    f"{(sc.best_channel == 'sms').mean():.0%}", f"of {len(sc):,} reachable")]
        tables = [("What a cart reminder earns per channel (randomized test, margin per cart "
                   "over 7 days net of the message, 95% interval)", result.lift.round(3)),
                  ("The first customers (channel.csv has everyone)", result.scorecard.head(
                      10).round(3))]
        if result.replay is not None:
            tables.append(("Per-customer channels replayed against one channel for "
                           "everyone (margin)", result.replay.round(1)))
        return Section(title=TITLE, anchor=ANCHOR, kpis=kpis, tables=tables,
                       paragraphs=[INTRO, result.summary()])

    def export(self, result: ChannelChoice, out, ctx: Context):
        return self.write_csv(out, "channel", result.scorecard, 4)

    def config_part(self, result: ChannelChoice, files):
        return {"cart_channels": result.channels}


__all__ = ["ChannelAnalysis", "ChannelChoice", "analyze_channels", "channel_lift",
           "engagement_counts", "replay_channels"]
