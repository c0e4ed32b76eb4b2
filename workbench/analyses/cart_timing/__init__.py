"""Abandoned-cart timing: which reminder (delay x channel), if any, per purchase type.

Features (:mod:`.features`: abandonment episodes), the study and decision
(:mod:`.study`), the smallest cart worth reminding (:mod:`.value_bands`), the config
part (:mod:`.export`) and the report section (:mod:`.section`).
"""

from __future__ import annotations

from ...experiments import ExperimentInputError, plan_test
from ...files import atomic_write_json
from ..base import Analysis, Context
from .export import (
    AbandonedCartSection,
    TypePolicy,
    abandoned_cart_schema,
    load_abandoned_cart,
    save_abandoned_cart,
    section_from_study,
)
from .features import abandonment_episodes
from .forecast import recovery_outcomes, recovery_predictions
from .section import ANCHOR, INTRO, TITLE, cart_timing_section
from .study import CartTimingDecision, CartTimingStudy, decide_cart_timing, run_cart_timing
from .value_bands import cart_value_bands, replay_min_cart_value, suggest_min_cart_value

#: the test a store runs to decide the cart reminder
CART_TEST = ("a randomized abandoned-cart test: each abandoned cart assigned to a reminder "
             "(delay x channel) or to a no-message holdout, recorded in the assignments table with "
             "unit_type 'cart'")


class CartTiming(Analysis):
    """Recovered margin per arm against the no-message holdout, per purchase type."""

    name, title, anchor, intro = "cart_timing", TITLE, ANCHOR, INTRO
    needs = {"events": (), "products": ("purchase_type",), "orders": (), "assignments": ()}
    recommendation = "abandoned-cart timing policy"
    test_to_run = CART_TEST

    def run(self, ctx: Context):
        if not ctx.has_table("events", nonempty=True):
            return self.skip("the dataset has no events: abandoned carts are read from "
                             "add_to_cart and purchase events (a GA4 export has them)")
        try:
            study = run_cart_timing(ctx.con, dataset_hash=ctx.dataset_hash, dataset=(
                ctx.path if ctx.has_truth("truth/messages") else None))
        except ExperimentInputError as exc:
            return self.skip(str(exc), self.sized_test(ctx))
        if ctx.simulated and study.min_cart_value > 0:
            ctx.echo(f"cart_timing: replaying no reminder for carts under "
                     f"{study.min_cart_value:g}")
            study.rule_replay = replay_min_cart_value(ctx.path, study.min_cart_value,
                                                      study.bands, study.episodes)
        return study

    #: the arms a first timing test compares (the config's channels and a short and a
    #: long delay), against no message
    ARMS = ("no message", "email after 1 h", "email after 24 h", "sms after 1 h")

    def sized_test(self, ctx: Context, window_days: float = 7.0) -> str:
        """The cart test, sized at this store's abandoned carts and natural recovery."""
        ep = abandonment_episodes(ctx.con, window_days=window_days).execute()
        if len(ep) < 2:
            return CART_TEST + " (this store has too few abandoned carts to size it)"
        span = (ep.abandoned_at.max() - ep.abandoned_at.min()).total_seconds() / (7 * 86400)
        per_week = len(ep) / max(span, 1.0)
        quiet = ep[ep.n_messages.fillna(0) == 0]  # carts no reminder reached
        basis = quiet if len(quiet) >= 30 else ep
        baseline = float(basis.recovered.mean())
        if not 0 < baseline < 1:
            return CART_TEST
        plan = plan_test(self.ARMS, "no message", baseline, per_week, period="week")
        which = ("abandoned carts no reminder reached" if basis is quiet else
                 "all abandoned carts, reminded or not (too few were left alone to measure "
                 "the rate without one)")
        return (f"{CART_TEST}. {plan.sentence('carts')}; the baseline is the share of "
                f"{which} that were bought within {window_days:g} days")

    def section(self, result: CartTimingStudy):
        return cart_timing_section(result)

    def export(self, result: CartTimingStudy, out, ctx: Context):
        if result.decision is None:
            ctx.echo(f"cart timing: not enough data to decide ({result.reason}); "
                     "no config exported")
            return {}
        files = {} if result.bands is None else self.write_csv(
            out, "cart_value_bands", result.bands, 4)
        return {**files, "abandoned_cart_config": save_abandoned_cart(section_from_study(result),
                                                             out / "abandoned_cart.json"),
                "abandoned_cart_schema": atomic_write_json(out / "abandoned_cart.schema.json",
                                                           abandoned_cart_schema())}

    def predictions(self, result: CartTimingStudy, ctx: Context):
        return recovery_predictions(result)

    def outcomes(self, logged, ctx: Context, result=None):
        if not ctx.has_table("events", nonempty=True):
            return None
        return recovery_outcomes(ctx.con, logged, episodes=None if result is None
                                 else result.episodes)

    def config_part(self, result, files):
        if "abandoned_cart_config" not in files:
            return {}
        return {"abandoned_cart": load_abandoned_cart(files["abandoned_cart_config"])}


__all__ = ["AbandonedCartSection", "CartTiming", "CartTimingDecision", "CartTimingStudy",
           "TypePolicy", "abandoned_cart_schema", "abandonment_episodes", "cart_timing_section",
           "decide_cart_timing", "load_abandoned_cart", "replay_min_cart_value", "run_cart_timing",
           "save_abandoned_cart", "suggest_min_cart_value", "cart_value_bands",
           "section_from_study"]
