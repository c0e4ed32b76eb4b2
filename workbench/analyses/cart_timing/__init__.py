"""Abandoned-cart timing: which reminder (delay x channel), if any, per purchase type.

Features (:mod:`.features`: abandonment episodes), the study and decision
(:mod:`.study`), the config part (:mod:`.export`) and the report section
(:mod:`.section`).
"""

from __future__ import annotations

from ...experiments import ExperimentInputError
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
from .section import ANCHOR, INTRO, TITLE, cart_timing_section
from .study import CartTimingDecision, CartTimingStudy, decide_cart_timing, run_cart_timing

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
            return run_cart_timing(ctx.con, dataset_hash=ctx.dataset_hash)
        except ExperimentInputError as exc:
            return self.skip(str(exc))

    def section(self, result: CartTimingStudy):
        return cart_timing_section(result)

    def export(self, result: CartTimingStudy, out, ctx: Context):
        if result.decision is None:
            ctx.echo(f"cart timing: not enough data to decide ({result.reason}); "
                     "no config exported")
            return {}
        return {"abandoned_cart_config": save_abandoned_cart(section_from_study(result),
                                                             out / "abandoned_cart.json"),
                "abandoned_cart_schema": atomic_write_json(out / "abandoned_cart.schema.json",
                                                           abandoned_cart_schema())}

    def config_part(self, result, files):
        if "abandoned_cart_config" not in files:
            return {}
        return {"abandoned_cart": load_abandoned_cart(files["abandoned_cart_config"])}


__all__ = ["AbandonedCartSection", "CartTiming", "CartTimingDecision", "CartTimingStudy",
           "TypePolicy", "abandoned_cart_schema", "abandonment_episodes", "cart_timing_section",
           "decide_cart_timing", "load_abandoned_cart", "run_cart_timing", "save_abandoned_cart",
           "section_from_study"]
