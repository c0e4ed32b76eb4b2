"""Replenishment timing per customer: when each customer's consumable runs out.

The catalog says how long a unit lasts (``supply_days``); customers use it at their own
pace.  From every customer's own re-order intervals — and the purchases not yet
re-ordered, which say the supply lasted at least that long — a hierarchical renewal
model (:mod:`.model`) estimates each customer's pace as a multiple of the catalog's,
pooled toward the store so one interval gives a cautious answer.  Per open purchase
(each customer's latest order of each consumable) it gives the date the supply runs
out (``next_replenishment_at``, with an 80% interval), the probability the customer has
already run out without re-ordering here (``p_overdue``) and the reminder day
(``reminder_at``, ``lead_days`` before).  The campaign config's replenishment reminder
takes each customer's multiplier; on a simulated store the dates are scored against
the simulator's truth (each customer's true use rate) next to the catalog rule's, and
the per-customer timing is replayed against the catalog rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from ...report import Kpi, Section
from ...results import Result
from ..base import Analysis, Context, band_labels, replayed
from .features import log_ratio, reorder_intervals
from .model import (
    RenewalHyper,
    RenewalPosterior,
    ReplenishmentInputError,
    fit_renewal,
    need_cdf,
    renewal_posterior,
)
from .validation import holdout_check

TITLE, ANCHOR = "Replenishment timing per customer", "replenishment"
INTRO = ("When does each customer's consumable run out? The catalog says how long a unit "
         "lasts; each customer's own re-order intervals say how fast they use it, pooled "
         "toward the store so a single interval gives a cautious answer. The reminder goes "
         "a few days before each customer's own date, not the catalog's.")
BANDS = ((0, 0, "0"), (1, 1, "1"), (2, 3, "2-3"), (4, 10**9, "4+"))
LEAD_DAYS = 3.0
MIN_CHECKED = 30  # customers whose held-out re-order the time split predicts
FOLLOWS_SUPPLY = 1.5  # one supply varying more than this (x, one sd): not a use cycle


def _band(n: np.ndarray) -> np.ndarray:
    return band_labels(n, BANDS)


@dataclass
class ReplenishmentTimes(Result):
    """Each customer's pace, each open purchase's run-out date, and (simulated) the score."""

    _html_table = "bands"
    _skip_in_dict = ("posterior", "scorecard", "purchases")

    posterior: RenewalPosterior
    scorecard: pd.DataFrame  # one row per customer with a consumable purchase
    purchases: pd.DataFrame  # one row per customer x consumable: the latest purchase
    bands: pd.DataFrame  # per band of re-orders seen: customers (and the score)
    check: dict = field(default_factory=dict)  # held-out re-orders: model against catalog
    settings: dict = field(default_factory=dict)
    replay: pd.DataFrame | None = None  # against the catalog rule (simulated stores)

    @property
    def hyper(self) -> RenewalHyper:
        return self.posterior.hyper

    @property
    def supported(self) -> bool:
        """Whether customers' own paces beat the catalog and the store's pace, held out.

        At least :data:`MIN_CHECKED` customers checked, and both paired 95% intervals of
        the error differences below zero (:func:`.validation.holdout_check`), and one
        supply varying by at most :data:`FOLLOWS_SUPPLY` times around a customer's pace
        (one sd): a store whose customers all run at one pace other than the catalog's
        gains from a corrected ``supply_days``, not from per-customer timing.
        """
        c = self.check
        return (c.get("customers", 0) >= MIN_CHECKED and c["high"] < 0
                and c["store_high"] < 0 and self.hyper.sigma <= np.log(FOLLOWS_SUPPLY))

    @property
    def cycle_multipliers(self) -> dict[str, float]:
        """Customer id: their use cycle as a multiple of the catalog's (posterior median).

        Empty when the time split does not support per-customer timing (:attr:`supported`).
        """
        if not self.supported:
            return {}
        c = self.scorecard
        return {str(k): round(float(v), 4) for k, v in zip(
            c.customer_id, c.cycle_multiplier, strict=True)}

    def chart(self):
        """Altair: each customer's pace with its 80% interval, by re-orders seen (shrinkage)."""
        import altair as alt

        c = self.scorecard.assign(reorders_seen=self.scorecard.reorders.clip(upper=6))
        c = c.sample(frac=1.0, random_state=0).groupby("reorders_seen").head(40)
        c = c.sort_values(["reorders_seen", "cycle_multiplier"]).reset_index(drop=True)
        c["customer"] = np.arange(len(c))
        base = alt.Chart(c).encode(x=alt.X("customer:Q", axis=None))
        return (base.mark_rule(opacity=0.5).encode(
            y=alt.Y("cycle_multiplier_low:Q", title="pace (x the catalog's supply)",
                    scale=alt.Scale(type="log")), y2="cycle_multiplier_high:Q",
            color=alt.Color("reorders_seen:O", title="re-orders seen (6: 6+)"))
            + base.mark_point(filled=True, size=12).encode(
                y="cycle_multiplier:Q", color="reorders_seen:O")).properties(
            width=460, height=200,
            title="Each customer's pace narrows with their own re-orders (40 per count)")

    def summary(self) -> str:
        h, card, c = self.hyper, self.scorecard, self.check
        own = int((card.reorders > 0).sum())
        fit = (f"customers use a consumable at {np.exp(h.mu):.2f}x the catalog's pace on "
               f"average, and differ by a factor of {np.exp(h.tau):.2f} (one sd); one supply "
               f"varies by {np.exp(h.sigma):.2f}x around a customer's own pace; {h.pi:.0%} of "
               f"purchases are re-ordered here (the rest buy elsewhere or stop) and "
               f"{h.eps:.0%} of re-purchases come for another reason than running out. "
               f"{own:,} of {len(card):,} customers have re-ordered at least once.")
        n = c.get("customers", 0)
        check = (f"mean relative error {c['model_error']:.2f} against "
                 f"{c['catalog_error']:.2f}, difference {c['difference']:+.3f} "
                 f"[{c['low']:+.3f}, {c['high']:+.3f}], {n:,} customers" if n else "")
        if self.supported:
            lines = [f"The store's {fit}", f"Held out, each customer's latest re-order: the "
                     f"model predicts it better than the catalog ({check}); each customer's "
                     f"own pace against the store's pace for everyone "
                     f"{c['against_store']:+.3f} [{c['store_low']:+.3f}, "
                     f"{c['store_high']:+.3f}]."]
        else:
            if not n:
                why = "no customer has re-ordered yet"
            elif n < MIN_CHECKED:
                why = f"only {n} customers have re-ordered, too few to check it ({check})"
            elif c["high"] >= 0:
                why = (f"held out, each customer's latest re-order is not predicted better by "
                       f"the model than by the catalog ({check}): re-purchases here do not "
                       f"follow the catalog's supply — check supply_days, or the products "
                       f"are not bought as they run out")
            elif h.sigma > np.log(FOLLOWS_SUPPLY):
                why = (f"one supply varies by {np.exp(h.sigma):.2f}x around a customer's "
                       f"own pace, so re-purchases here do not follow a use cycle a reminder "
                       f"could be timed by (held out: {check})")
            else:
                why = (f"held out, each customer's latest re-order is predicted better than "
                       f"by the catalog ({check}), but no better by each customer's own pace "
                       f"than by the store's for everyone ({c['against_store']:+.3f} "
                       f"[{c['store_low']:+.3f}, {c['store_high']:+.3f}]): the store's "
                       f"customers run at {np.exp(h.mu):.2f}x the catalog's supply — correct "
                       f"supply_days rather than time each customer")
            lines = [f"The reminders keep the catalog rule: {why}.",
                     f"The model's fit, for the record: {fit}"]
        if "mae_days" in self.bands:
            b = self.bands.set_index("reorders_seen")
            tot = b.loc["all"]
            lines.append(f"Against the simulator's truth, the run-out dates of the open "
                         f"purchases are off by {tot.mae_days:.1f} days on average against "
                         f"{tot.catalog_mae_days:.1f} for the catalog rule; for customers with "
                         f"2-3 re-orders seen, {b.loc['2-3'].mae_days:.1f} against "
                         f"{b.loc['2-3'].catalog_mae_days:.1f}. The 80% intervals of the pace "
                         f"hold the truth for {tot.coverage_80:.0%}."
                         if "2-3" in b.index else "")
        if self.replay is not None:
            r = self.replay.set_index("metric")
            lines.append(replayed("Replayed on the store's own customers, per-customer "
                                  "timing", "the catalog rule", r.loc["margin"]) + ".")
        return " ".join(x for x in lines if x)


def analyze_replenishment(con, lead_days: float = LEAD_DAYS, truth: pd.DataFrame | None = None
                          ) -> ReplenishmentTimes:
    """Fit the renewal model, and every customer's pace and open purchases' dates.

    ``truth`` (simulated stores): ``customer_id, replenishment_cycle_multiplier``.
    """
    d = reorder_intervals(con)
    h = fit_renewal(d)
    post = renewal_posterior(d, h)
    q10, q50, q90 = (post.quantile(q) for q in (0.1, 0.5, 0.9))
    per = d.groupby("customer_id", sort=False).agg(consumable_orders=("reordered", "size"),
                                                   reorders=("reordered", "sum"))
    card = pd.DataFrame({"customer_id": post.customers,
                         "cycle_multiplier": np.exp(q50),
                         "cycle_multiplier_low": np.exp(q10),
                         "cycle_multiplier_high": np.exp(q90)})
    card = card.merge(per.reset_index(), on="customer_id")
    purchases = _open_purchases(d, post, lead_days)
    bands = score_replenishment(card, purchases, truth)
    return ReplenishmentTimes(post, card, purchases, bands, holdout_check(d, h),
                              settings={"lead_days": lead_days, "hyper": h.as_dict(),
                                        "supply_source": str(d.supply_source.iloc[0]),
                                        "intervals": int(d.reordered.sum()),
                                        "open_purchases": int((~d.reordered).sum())})


def _open_purchases(d: pd.DataFrame, post: RenewalPosterior, lead_days: float
                    ) -> pd.DataFrame:
    """Each customer's latest purchase of each consumable: run-out date, overdue, reminder.

    The run-out date's quantiles mix the customer's pace posterior with one supply's
    spread (``sigma``): ``P(run out by x) = sum_g w_g Phi((log x - theta_g) / sigma)``.
    ``p_overdue`` is the posterior probability the supply ran out before the data's end
    ``c`` although the customer has not re-ordered here (bought elsewhere or lapsed).
    Given ``theta``, with ``F`` the run-out CDF and ``F_e`` the other-reason purchases'::

        [(1 - pi) F + pi eps F (1 - F_e)] / [(1 - pi) + pi ((1 - eps)(1 - F) + eps (1 - F_e))]

    (a run-out re-order before ``c`` would have been seen), averaged over the posterior,
    which is already conditioned on no re-order by ``c``.  ``reminder_at`` is
    ``lead_days`` before the run-out date, never before the day after the order nor
    before the data's end (a reminder whose day has passed goes now).
    """
    h = post.hyper
    o = d[~d.reordered].copy()
    row = pd.Index(post.customers).get_indexer(o.customer_id)
    w = post.weights[row]
    cat = o.catalog_days.to_numpy(float)
    # the run-out quantiles (log, against the catalog) depend on the customer only
    who, inv = np.unique(row, return_inverse=True)
    quant = {q: _mixture_quantile(post.weights[who], post.grid, h.sigma, q)[inv]
             for q in (0.1, 0.5, 0.9)}
    day = pd.to_timedelta(1, unit="D")
    out = o[["customer_id", "product_id", "category", "placed_at", "quantity",
             "catalog_days"]].rename(columns={"placed_at": "last_ordered_at"})
    for q, name in ((0.5, "next_replenishment_at"), (0.1, "next_replenishment_at_low"),
                    (0.9, "next_replenishment_at_high")):
        out[name] = out.last_ordered_at + day * (cat * np.exp(quant[q]))
    out["catalog_replenishment_at"] = out.last_ordered_at + day * cat
    # P(ran out before the end | no re-order yet), the posterior already conditioned on it
    y_c = log_ratio(o)
    f = special.ndtr((y_c[:, None] - post.grid[None, :]) / h.sigma)
    f_e = special.ndtr((y_c - h.mu_e) / h.s_e)[:, None]
    ran_out = (1 - h.pi) * f + h.pi * h.eps * f * (1 - f_e)
    none_yet = (1 - h.pi) + h.pi * ((1 - h.eps) * (1 - f) + h.eps * (1 - f_e))
    out["p_overdue"] = (w * ran_out / none_yet).sum(1).clip(0.0, 1.0)
    end = pd.Timestamp(o["end"].iloc[0]) if len(o) else None
    out["reminder_at"] = np.maximum(out.next_replenishment_at - day * lead_days,
                                    out.last_ordered_at + day)
    if end is not None:
        out["reminder_at"] = out.reminder_at.where(out.reminder_at >= end, end)
    return out.reset_index(drop=True)


def _mixture_quantile(w: np.ndarray, grid: np.ndarray, sigma: float, q: float,
                      iterations: int = 16) -> np.ndarray:
    """Per row, the ``q`` quantile of ``sum_g w_g N(theta_g, sigma^2)``.

    Bisection on the mixture's CDF: 16 halvings of the grid's span plus 12 sd leave
    under 0.001 on the log scale (a tenth of a percent of the date's distance).
    """
    lo = np.full(w.shape[0], grid[0] - 6 * sigma)
    hi = np.full(w.shape[0], grid[-1] + 6 * sigma)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        below = need_cdf(mid, w, grid, sigma) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def score_replenishment(card: pd.DataFrame, purchases: pd.DataFrame,
                        truth: pd.DataFrame | None) -> pd.DataFrame:
    """Per band of re-orders seen: customers, and against the truth the dates' errors.

    The true run-out date of an open purchase is ``last order + catalog_days x`` the
    customer's true use rate (``truth/customers.replenishment_cycle_multiplier``, the
    median of the simulator's run-out time).  Columns: ``mae_days`` (the estimate's
    mean absolute error in days), ``catalog_mae_days`` (the catalog rule's),
    ``closer_share`` (purchases whose estimate is closer than the catalog's) and
    ``coverage_80`` (customers whose 80% pace interval holds their true rate).
    """
    card = card.assign(reorders_seen=_band(card.reorders.to_numpy()))
    out = card.groupby("reorders_seen").agg(customers=("customer_id", "size"))
    if truth is None:
        return out.reindex([b[2] for b in BANDS]).dropna().reset_index()
    t = truth.assign(customer_id=truth.customer_id.astype(str)).set_index("customer_id")
    c = card.assign(true=card.customer_id.map(t.replenishment_cycle_multiplier))
    c["covered"] = (c.cycle_multiplier_low <= c.true) & (c.true <= c.cycle_multiplier_high)
    p = purchases.merge(c[["customer_id", "true", "reorders_seen"]], on="customer_id")
    true_days = p.catalog_days * p.true
    est_days = (p.next_replenishment_at - p.last_ordered_at).dt.total_seconds() / 86400
    p["err"], p["cat_err"] = (est_days - true_days).abs(), (p.catalog_days - true_days).abs()
    p["closer"] = p.err < p.cat_err
    rows = []
    for name, cc, pp in [*((b, c[c.reorders_seen == b], p[p.reorders_seen == b])
                           for _, _, b in BANDS), ("all", c, p)]:
        if len(cc) == 0:
            continue
        rows.append({"reorders_seen": name, "customers": len(cc),
                     "open_purchases": len(pp), "mae_days": pp.err.mean(),
                     "catalog_mae_days": pp.cat_err.mean(), "closer_share": pp.closer.mean(),
                     "coverage_80": cc.covered.mean()})
    return pd.DataFrame(rows)


def replay_replenishment(dataset, result: ReplenishmentTimes, replications: int = 3
                         ) -> pd.DataFrame:
    """Per-customer reminder timing against the catalog rule, replayed.

    Two configs differ only in the replenishment reminder's ``cycle_multipliers`` (none:
    the catalog rule), on the store's own customers at full size with common random
    numbers (the organic world is the same in both, so the margin difference is what
    the messages caused).  Rows: margin, revenue and messages sent, per-customer minus
    catalog rule, with 95% intervals over ``replications``.
    """
    from ...campaigns.config import baseline_from_dataset, with_recommendations
    from ...campaigns.replay import replay

    new = with_recommendations(baseline_from_dataset(dataset),
                               replenishment_timing=result.cycle_multipliers)
    t = replay(dataset, new, replications=replications).table.set_index("metric")
    return t.loc[["margin", "revenue", "messages_sent"]].rename(
        columns={"baseline": "catalog_rule", "new": "per_customer"}).reset_index()


class ReplenishmentTiming(Analysis):
    """Each customer's use pace, their consumables' run-out dates and reminder days."""

    name, title, anchor, intro = "replenishment", TITLE, ANCHOR, INTRO
    recommendation = "replenishment reminder timing per customer"
    needs = {"orders": ("order_id", "customer_id", "placed_at"),
             "order_items": ("order_id", "product_id", "quantity"),
             "products": ("product_id", "category")}

    def run(self, ctx: Context):
        truth = None
        if ctx.has_truth("truth/customers"):
            from ...store import read_table

            truth = read_table(ctx.path, "truth/customers")[
                ["customer_id", "replenishment_cycle_multiplier"]]
        try:
            res = analyze_replenishment(ctx.con, truth=truth)
        except ReplenishmentInputError as exc:
            return self.skip(str(exc))
        if ctx.simulated and res.supported:
            ctx.echo("replenishment: replaying per-customer timing against the catalog rule")
            res.replay = replay_replenishment(ctx.path, res)
        return res

    def section(self, result: ReplenishmentTimes) -> Section:
        h, card, pur = result.hyper, result.scorecard, result.purchases
        kpis = [Kpi("rp-pace", "store's pace against the catalog", f"{np.exp(h.mu):.2f}x",
                    f"customers spread x{np.exp(h.tau):.2f}"),
                Kpi("rp-customers", "customers with their own re-orders",
                    f"{int((card.reorders > 0).sum()):,}", f"of {len(card):,}"),
                Kpi("rp-overdue", "open purchases likely run out (p_overdue > 0.5)",
                    f"{int((pur.p_overdue > 0.5).sum()):,}", "a win-back audience")]
        notes = [INTRO, result.summary(),
                 f"Supply per unit comes from {result.settings['supply_source']}. The "
                 "campaign config's replenishment reminder uses each customer's multiplier "
                 "(the catalog's supply x quantity x multiplier, less the lead days)."]
        sample = pur.sort_values("p_overdue", ascending=False).head(10)[[
            "customer_id", "product_id", "last_ordered_at", "catalog_replenishment_at",
            "next_replenishment_at", "p_overdue", "reminder_at"]]
        dates = [c for c in sample if c.endswith("_at")]
        sample[dates] = sample[dates].apply(lambda s: s.dt.strftime("%Y-%m-%d"))
        tables = [("By re-orders seen per customer" + (
            ": the open purchases' run-out dates against the simulator's truth, the "
            "estimate's and the catalog rule's errors (days)" if "mae_days" in
            result.bands else ""), result.bands.round(3)),
                  ("The open purchases most likely run out (replenishment.csv has all)",
                   sample.round(3))]
        if result.replay is not None:
            tables.append(("Per-customer timing replayed against the catalog rule, on the "
                           "store's customers (difference with its 95% interval)",
                           result.replay.round(1)))
        return Section(title=TITLE, anchor=ANCHOR, kpis=kpis, tables=tables,
                       paragraphs=notes)

    def export(self, result: ReplenishmentTimes, out, ctx: Context):
        p = result.purchases.merge(result.scorecard, on="customer_id", how="left")
        return self.write_csv(out, "replenishment", p, 4)

    def config_part(self, result: ReplenishmentTimes, files):
        return {"replenishment_timing": result.cycle_multipliers} if result.supported else {}


__all__ = ["ReplenishmentInputError", "ReplenishmentTiming", "ReplenishmentTimes",
           "analyze_replenishment", "fit_renewal", "renewal_posterior", "reorder_intervals",
           "replay_replenishment", "score_replenishment"]
