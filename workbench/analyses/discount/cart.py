"""The abandoned-cart offer: a simple reminder, or the least discount that closes the sale.

The product brief: "a customer who has never needed a discount gets a simple reminder;
a customer who consistently converts only with incentives gets the minimum discount that
will likely close the sale."  Measured, not assumed: the cart reminder's discount is
randomized (0% included) over the carts of the cart-reminder test
(``abandoned_cart.discount_arms_pct`` in the simulator and the config; experiment
``abandoned_cart_discount``, one unit per cart), and the margin model
(:mod:`.margin`) gives each observable segment's incremental margin per cart at each
level.  The rule offers a segment the level that earns the most — which is the least
discount that pays, since a higher one gives more margin away — only where it beats a
plain reminder with probability ``min_prob``; it is exported into the abandoned-cart
campaign and, on a simulated store, replayed with an interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd
from ibis import _

from ...experiments import plan_test
from ...report import Kpi, Section
from ...results import Result
from ..base import Analysis, Context, Skipped
from .export import ExportsDiscountRule
from .features import cart_discount_units
from .margin import MarginFit
from .model import DiscountDecision
from .replay import RuleReplay, replay_rules

TITLE, ANCHOR = "Abandoned-cart discount", "cart-discount"
INTRO = ("Should a cart reminder carry a discount, and how much, for which customers? The "
         "reminder's discount was randomized (0% included) over the carts of the reminder "
         "test; a hierarchical model estimates what each level earns per cart — the margin "
         "of every order in the week after the abandonment, net of the discount — and a "
         "segment gets the level that earns most, only where it likely beats a plain "
         "reminder.")
LEVELS = ("0%", "5%", "10%", "15%")
CART_DISCOUNT_TEST = ("a randomized discount in the cart reminder: among the carts that get "
                      "a reminder, 0%, 5%, 10% or 15% off at random, recorded in the "
                      "assignments table as experiment 'abandoned_cart_discount', unit_type "
                      "'cart' (the simulator: campaigns.abandoned_cart.discount_arms_pct)")
REPLAY_CUSTOMERS = 5000


def abandoned_carts(con, window_days: float = 7.0, weeks: int = 12) -> dict:
    """Abandoned carts a week and how often their customer buys within ``window_days``.

    A cart is a session with an ``add_to_cart`` event and no order; over the last ``weeks``
    weeks of events.  The share is the no-discount arm's rate a cart discount test is
    measured against.
    """
    e, o = con.table("events"), con.table("orders")
    last = e.ts.max().execute()
    start = last - pd.Timedelta(weeks=weeks)
    recent = e.filter(e.ts > start)
    carts = (recent.filter(recent.event_name == "add_to_cart")
             .group_by("session_id", "customer_id").aggregate(t=_.ts.max()))
    carts = carts.anti_join(o.filter(o.session_id.notnull()).select("session_id"),
                            "session_id")
    window = ibis.interval(seconds=int(window_days * 86400))
    od = o.select(oc="customer_id", placed="placed_at")
    bought = carts.join(od, (carts.customer_id == od.oc) & (od.placed > carts.t)
                        & (od.placed <= carts.t + window))
    n = int(carts.count().execute())
    k = int(bought.select("session_id").distinct().count().execute())
    return {"carts_per_week": n / weeks, "baseline": k / n if n else float("nan"),
            "window_days": window_days}


class CartDiscount(ExportsDiscountRule, Analysis):
    """Per-segment discount of the cart reminder, on margin, from a randomized test."""

    config_file, part_key, unit = "cart_discount.json", "cart_discount", "cart"
    name, title, anchor, intro = "cart_discount", TITLE, ANCHOR, INTRO
    needs = {"assignments": (), "orders": (), "order_items": (), "customers": (),
             "events": ("session_id", "event_name", "ts")}
    recommendation = "abandoned-cart discount by segment"
    test_to_run = CART_DISCOUNT_TEST

    def run(self, ctx: Context):
        units = cart_discount_units(ctx.con).execute()
        fit = self.fit_or_skip(ctx, units, "the dataset has no randomized cart-reminder discount")
        if isinstance(fit, Skipped):
            return fit
        decision = fit.decide()
        replayed = None
        rule = decision.rule
        if ctx.simulated and any(d > 0 for d in rule.values()):
            replayed = replay_rules(ctx.path, fit, {"recommended": rule}, replications=3,
                                    n_customers=REPLAY_CUSTOMERS, campaign="abandoned_cart")
        return CartDiscountOutcome(fit, decision, replayed)

    def sized_test(self, ctx: Context) -> str:
        """The cart discount test, sized at this store's carts and their recovery rate."""
        aud = abandoned_carts(ctx.con)
        if not aud["carts_per_week"] or not 0 < aud["baseline"] < 1:
            return CART_DISCOUNT_TEST + " (this store's carts are too few to size it)"
        plan = plan_test(LEVELS, "0%", aud["baseline"], aud["carts_per_week"], period="week")
        return (f"{CART_DISCOUNT_TEST}. {plan.sentence('carts')}; the baseline is the share "
                f"of abandoned carts whose customer buys within {aud['window_days']:g} days")

    def section(self, result) -> Section:
        d = result.decision
        status = ("The fit passed its diagnostics." if d.converged else
                  "The fit FAILED its diagnostics: " + "; ".join(d.diagnostics)
                  + ". No rule was exported.")
        paragraphs = [INTRO, status, *d.summary().split("\n")]
        kpis = [Kpi(f"cart-disc-{r.segment}", r.segment,
                    f"{r.discount:.0%}" if r.discount > 0 else "plain reminder",
                    f"P(beats 0%) {r.prob_beats_zero:.0%}")
                for r in d.recommendations.itertuples()]
        tables = [("Recommendation per segment (margin per cart)", d.recommendations)]
        if result.replayed is not None:
            r = result.replayed.table.iloc[0]
            paragraphs.append(
                f"Replayed in the simulator (every cart reminder under the rule against no "
                f"discount for all, {result.replayed.settings['customers']:,} customers × "
                f"{result.replayed.settings['replications']} replications): "
                f"{r.replayed:+,.0f} margin [{r.low:+,.0f}, {r.high:+,.0f}] (95% interval).")
        return Section(title=TITLE, anchor=ANCHOR, paragraphs=paragraphs, kpis=kpis,
                       charts={"margin": result.fit.model.chart()}, tables=tables)


@dataclass
class CartDiscountOutcome(Result):
    """The cart discount's margin fit, its rule and (simulated data) the rule replayed."""

    fit: MarginFit
    decision: DiscountDecision
    replayed: RuleReplay | None = None
    _skip_in_dict = ("fit",)

    def summary(self) -> str:
        return self.decision.summary()
