"""Send time per customer: when each one reads, weekday and weekend, chosen by Thompson sampling.

Features (:mod:`.features`: the hours of human opens and clicks), the hierarchical
circular model (:mod:`.model`), the scorecard fields (``best_send_hour_weekday`` with
its interval, the weekend's, the engagement they rest on), the per-customer send-hour
policy in the campaign config (a Thompson draw per customer, so the store keeps
learning), its replay, and, on a simulated store, the estimate scored against each
customer's true hours (:func:`score_send_times`).

It needs no minimum list size: the store-level part of the model is estimated from
every customer's events together, so a store of 500 subscribers gets each customer's
hour with an honest interval (wide where they have engaged once or twice) instead of
the 12,000-recipient floor of platforms' send-time optimization.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...engines import fetch_frame
from ...report import Kpi, Section
from ...results import Result
from ...simulate.config import SendTimePolicy
from ...store import read_table
from ..base import Analysis, Context, band_labels
from .features import MIN_DELAY_MINUTES, engagement_events, hour_counts
from .model import (
    SendTimeInputError,
    SendTimePosterior,
    circular_mean,
    fit_send_times,
    hour_distance,
    inside_arc,
)

TITLE, ANCHOR = "Send time per customer", "send-time"
INTRO = ("When does each customer read? Every human open and click (machine opens left "
         "out) is an hour of the day; a model pooled across the store puts each customer's "
         "weekday and weekend reading hour between the store's and their own, with an "
         "interval that narrows as they engage. The campaigns that can wait (post-purchase "
         "and replenishment) then go out at a Thompson draw from each customer's "
         "hours: near the best hour where it is known, spread where it is not, so every "
         "cycle teaches the next.")

#: engagement bands of the scorecard and of the scoring table
BANDS = ((0, 0, "none"), (1, 2, "1-2"), (3, 5, "3-5"), (6, 10**9, "6 or more"))


def _band(n: np.ndarray) -> np.ndarray:
    return band_labels(n, BANDS)


@dataclass
class SendTimes(Result):
    """Every customer's reading hours, the policy drawn from them and (simulated) the score."""

    _html_table = "bands"
    _skip_in_dict = ("posterior", "scorecard")

    posterior: SendTimePosterior
    scorecard: pd.DataFrame  # one row per customer: the send-time fields
    bands: pd.DataFrame  # per engagement band: customers, interval width (and the score)
    policy: SendTimePolicy
    settings: dict = field(default_factory=dict)
    replay: pd.DataFrame | None = None  # against one hour for everyone (simulated stores)

    def posterior_curves(self, events: tuple[int, ...] = (0, 2)) -> pd.DataFrame:
        """A few customers' weekday posteriors (``hour, posterior, customer``).

        One customer with each count in ``events`` (where there is one) and the most
        engaged one: how evidence narrows the hour.
        """
        card = self.scorecard
        pick = [card.index[card.engagement_events == k][0] for k in events
                if (card.engagement_events == k).any()]
        pick.append(int(card.engagement_events.idxmax()))
        return pd.concat([pd.DataFrame({
            "hour": self.posterior.grid_hours, "posterior": self.posterior.weekday[i],
            "customer": f"{card.customer_id[i]} ({card.engagement_events[i]} events)"})
            for i in pick], ignore_index=True)

    def summary(self) -> str:
        h = self.posterior.hyper
        own = int((self.scorecard.engagement_events > 0).sum())
        lines = [f"The store reads at {_clock(h.mean)} on weekdays and "
                 f"{_clock(h.mean + h.weekend_shift)} at weekends; customers' own hours "
                 f"spread {h.sd:.1f} h around that. "
                 f"{own:,} of {len(self.scorecard):,} customers have engaged at least once "
                 f"(a habitual share of {h.pi:.0%} of their events, {h.event_sd:.1f} h around "
                 "their hour)."]
        if "within_2h" in self.bands:
            b = self.bands.set_index("engagement")
            few = b.loc["3-5"] if "3-5" in b.index else None
            if few is not None:
                lines.append(f"Against the simulator's truth, customers with 3-5 events: "
                             f"{few.within_2h:.0%} within two hours of their true hour, against "
                             f"{few.store_hour_within_2h:.0%} for the store's hour; the 80% "
                             f"intervals hold the truth for {few.coverage_80:.0%}.")
        if self.replay is not None:
            r = self.replay.set_index(["policy", "metric"])
            c = r.loc[("this cycle's Thompson draws", "email_clicks")]
            b = r.loc[("each customer's best hour", "email_clicks")]
            verdict = "beats" if c.low > 0 else "does not beat"
            lines.append(f"Replayed on the store's own customers, this cycle's draws "
                         f"{verdict} one hour for everyone: {c.difference:+,.0f} email clicks "
                         f"[{c.low:+,.0f}, {c.high:+,.0f}] "
                         f"({c.difference / max(c.one_hour_for_everyone, 1):+.1%}); "
                         f"each customer's best hour, where the draws converge, "
                         f"{b.difference:+,.0f} [{b.low:+,.0f}, {b.high:+,.0f}].")
        return " ".join(lines)


def _clock(hour: float) -> str:
    h = float(hour) % 24
    return f"{int(h):02d}:{int(round((h % 1) * 60)) % 60:02d}"


def score_send_times(scorecard: pd.DataFrame, truth: pd.DataFrame, store_hours: tuple[float, float]
                     ) -> pd.DataFrame:
    """Per engagement band: how close the estimated hours come to each customer's truth.

    ``truth``: ``customer_id, preferred_send_hour, preferred_send_hour_weekend``
    (``truth/customers``).  Columns: customers, the share within two hours of the true
    weekday hour (the estimate and the store's one hour for everyone), the same for the
    weekend, and the share of 80% intervals that hold the true weekday hour.
    """
    s = scorecard.merge(truth, on="customer_id", how="inner")
    err = hour_distance(s.best_send_hour_weekday, s.preferred_send_hour)
    err_we = hour_distance(s.best_send_hour_weekend, s.preferred_send_hour_weekend)
    base = hour_distance(store_hours[0], s.preferred_send_hour)
    base_we = hour_distance(store_hours[1], s.preferred_send_hour_weekend)
    cov = inside_arc(s.preferred_send_hour, s.best_send_hour_weekday_low,
                  s.best_send_hour_weekday_high)
    d = pd.DataFrame({"engagement": _band(s.engagement_events.to_numpy()),
                      "within_2h": err <= 2, "store_hour_within_2h": base <= 2,
                      "weekend_within_2h": err_we <= 2,
                      "store_weekend_within_2h": base_we <= 2, "coverage_80": cov})
    return d.groupby("engagement", sort=False).agg(
        customers=("within_2h", "size"), within_2h=("within_2h", "mean"),
        store_hour_within_2h=("store_hour_within_2h", "mean"),
        weekend_within_2h=("weekend_within_2h", "mean"),
        store_weekend_within_2h=("store_weekend_within_2h", "mean"),
        coverage_80=("coverage_80", "mean")).reset_index()


def analyze_send_times(con, segment: str | None = "region", timezone: str = "UTC",
                       campaigns: tuple[str, ...] | None = None, seed: int = 0,
                       truth: pd.DataFrame | None = None, as_of=None) -> SendTimes:
    """Fit the send-time model on a store's messages and draw this cycle's policy.

    ``segment``: a ``customers`` column customers are pooled toward before the store
    (a timezone or region; ``None`` for the store alone); ``timezone``: the store's
    clock (IANA name), in which the hours are read and the policy is set; ``seed``:
    the Thompson draw's; ``truth`` (``truth/customers``): score the estimate.
    """
    ev = engagement_events(con, timezone=timezone, as_of=as_of)
    cust = None
    if "customers" in con.list_tables():  # the ids, and the segment column if it has one
        c = con.table("customers")
        cust = fetch_frame(c.select(*dict.fromkeys(
            ["customer_id", *([segment] if segment in c.columns else [])])))
    use_seg = segment if cust is not None and segment in (cust.columns if cust is not None
                                                          else ()) else None
    post = fit_send_times(ev, cust, segment=use_seg, seed=seed)
    card = post.summary_frame()
    draw = post.thompson(seed)
    # to the minute's hundredth of an hour, around the clock (23.999 is 00:00, not 24)
    card["send_hour_weekday_this_cycle"] = draw.weekday_hour.round(2).to_numpy() % 24
    card["send_hour_weekend_this_cycle"] = draw.weekend_hour.round(2).to_numpy() % 24
    card["engagement"] = _band(card.engagement_events.to_numpy())
    h = post.hyper
    bands = card.groupby("engagement", sort=False).agg(
        customers=("customer_id", "size"),
        median_interval_hours=("send_hour_weekday_width", "median")).reset_index()
    order = [b[2] for b in BANDS]
    if truth is not None:
        sc = score_send_times(card, truth, (h.mean, (h.mean + h.weekend_shift) % 24))
        bands = bands.merge(sc.drop(columns="customers"), on="engagement", how="left")
    bands = bands.set_index("engagement").reindex([b for b in order if b in set(
        bands.engagement)]).reset_index()
    kw = {} if campaigns is None else {"campaigns": list(campaigns)}
    policy = SendTimePolicy(
        hours={str(c): (float(a), float(b)) for c, a, b in zip(
            card.customer_id, card.send_hour_weekday_this_cycle,
            card.send_hour_weekend_this_cycle, strict=True)},
        made_by={"model": "hierarchical wrapped-normal mixture, Thompson draw",
                 "seed": int(seed), "timezone": timezone, "segment": use_seg,
                 "store_weekday_hour": round(h.mean, 2),
                 "store_weekend_hour": round((h.mean + h.weekend_shift) % 24, 2),
                 "engagement_events": int(card.engagement_events.sum())},
        timezone=timezone, **kw)
    return SendTimes(posterior=post, scorecard=card, bands=bands, policy=policy,
                     settings={"segment": use_seg, "timezone": timezone, "seed": seed,
                               "min_delay_minutes": MIN_DELAY_MINUTES,
                               "events": int(card.engagement_events.sum())})


def replay_send_time(dataset, result: SendTimes, replications: int = 1) -> pd.DataFrame:
    """Replay the policy against one hour for everyone (the store's), on the store's customers.

    Three configs differ only in the send-time policy, on the dataset's own customers
    (full size; common random numbers, paired per customer — see
    :mod:`workbench.campaigns.replay`): the store's weekday and weekend hour for
    everyone (what a store without per-customer data would pick), this cycle's Thompson
    draws, and each customer's best hour (what the draws converge to).  Rows: the
    per-customer configs' differences from the store's hour in email clicks and margin,
    with 95% intervals.
    """
    from ...campaigns.config import CampaignConfig, baseline_from_dataset, with_recommendations
    from ...campaigns.replay import Replayer

    h = result.posterior.hyper
    one = (round(h.mean % 24, 2) % 24, round((h.mean + h.weekend_shift) % 24, 2) % 24)
    pol = result.policy
    store = pol.model_copy(update={"hours": {k: one for k in pol.hours}})
    card = result.scorecard
    best = pol.model_copy(update={"hours": {str(c): (float(a), float(b)) for c, a, b in zip(
        card.customer_id, card.best_send_hour_weekday, card.best_send_hour_weekend,
        strict=True)}})
    base: CampaignConfig = with_recommendations(baseline_from_dataset(dataset), send_time=store)
    rp = Replayer.from_dataset(dataset, baseline=base, replications=replications)
    rows = []
    for name, p in (("this cycle's Thompson draws", pol), ("each customer's best hour", best)):
        t = rp.run(with_recommendations(base, send_time=p)).table.set_index("metric")
        for metric in ("email_clicks", "margin"):
            r = t.loc[metric]
            rows.append({"policy": name, "metric": metric, "one_hour_for_everyone": r.baseline,
                         "policy_value": r.new, "difference": r.difference, "low": r.low,
                         "high": r.high})
    return pd.DataFrame(rows)


class SendTime(Analysis):
    """Each customer's reading hours, their scorecard fields and the send-hour policy."""

    name, title, anchor, intro = "send_time", TITLE, ANCHOR, INTRO
    recommendation = "send hour per customer"
    needs = {"messages": ("customer_id", "channel", "sent_at", "delivered", "opened_at",
                          "clicked_at")}

    def run(self, ctx: Context):
        if not ctx.has_table("messages", nonempty=True):
            return self.skip("the dataset has no messages: the send-time model reads the "
                             "opens and clicks of emails (an email platform's export)")
        truth = None
        if ctx.has_truth("truth/customers"):
            t = read_table(ctx.path, "truth/customers")
            cols = ["customer_id", "preferred_send_hour", "preferred_send_hour_weekend"]
            truth = t[cols] if set(cols) <= set(t.columns) else None  # older stores lack one
        try:
            tz = ctx.options.get("timezone", "UTC")
            if ctx.simulated and tz != "UTC":
                ctx.echo(f"send time: a simulated store's clock is UTC; timezone {tz!r} is "
                         "not used")
                tz = "UTC"
            res = analyze_send_times(ctx.con, timezone=tz, truth=truth)
        except SendTimeInputError as exc:
            return self.skip(str(exc))
        if ctx.simulated:
            ctx.echo("send time: replaying the policy against one hour for everyone")
            res.replay = replay_send_time(ctx.path, res)
        return res

    def section(self, result: SendTimes) -> Section:
        h = result.posterior.hyper
        card = result.scorecard
        own = card[card.engagement_events > 0]
        kpis = [Kpi("st-weekday", "store's weekday hour", _clock(h.mean),
                    f"customers spread ±{h.sd:.1f} h"),
                Kpi("st-weekend", "store's weekend hour", _clock(h.mean + h.weekend_shift),
                    f"shift {h.weekend_shift:+.1f} h"),
                Kpi("st-customers", "customers with their own evidence", f"{len(own):,}",
                    f"of {len(card):,}; send_time.csv")]
        notes = [INTRO, result.summary(),
                 "The campaign config sends post-purchase and replenishment messages at "
                 "each customer's hour for this cycle (a draw from their posterior; the next "
                 "run, on newer engagement, draws again). Customers who "
                 "never engaged get draws around the store's hour, which is how the store "
                 "learns theirs."]
        sample = card[card.engagement_events > 0].head(10)[[
            "customer_id", "engagement_events", "best_send_hour_weekday",
            "best_send_hour_weekday_low", "best_send_hour_weekday_high",
            "best_send_hour_weekend", "send_hour_weekday_this_cycle"]].round(2)
        return Section(title=TITLE, anchor=ANCHOR, paragraphs=notes, kpis=kpis,
                       tables=[("By engagement: customers and the width of their 80% "
                                "weekday interval (hours)"
                                + (", scored against the simulator's truth"
                                   if "within_2h" in result.bands else ""),
                                result.bands.round(3)),
                               ("The first customers with evidence (send_time.csv has "
                                "everyone)", sample)]
                       + ([] if result.replay is None else [
                           ("Replayed against one hour for everyone (the store's), on the "
                            "store's customers: difference with its 95% interval",
                            result.replay.round(1))]))

    def export(self, result: SendTimes, out, ctx: Context):
        return self.write_csv(out, "send_time", result.scorecard, 3)

    def config_part(self, result: SendTimes, files):
        return {"send_time": result.policy}


__all__ = ["SendTime", "SendTimeInputError", "SendTimes", "analyze_send_times",
           "circular_mean", "engagement_events", "fit_send_times", "hour_counts",
           "hour_distance",
           "inside_arc", "replay_send_time", "score_send_times"]
