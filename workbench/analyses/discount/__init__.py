"""Discount calibration: which discount, if any, each observable segment should get.

Features (:mod:`.features`: the experiment's units and their segments), the
hierarchical model of incremental margin and the rule on it (:mod:`.margin`, what the
pipeline decides with), the hierarchical Bayesian price-response model and its
P(buy)-based decision (:mod:`.model`),
its check over repeated simulated stores (:mod:`.study`), the model tuner's
helpers (:mod:`.tuning`), the config part (:mod:`.export`) and the report
section (:mod:`.section`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...experiments import plan_test
from ...results import Result
from ...simulate.truth import discount_margin_truth
from ..base import Analysis, Context, Skipped
from .cart import CartDiscount, CartDiscountOutcome, abandoned_carts
from .codes import codes_sentence, describe_codes, read_codes
from .export import (
    DiscountSection,
    ExportsDiscountRule,
    UnconvergedFitError,
    load_discount,
    save_discount,
    section_from_decision,
)
from .features import (
    cart_discount_units,
    discount_counts,
    discount_units,
    offer_audience,
    offer_redemption,
    segment_economics,
    segment_features,
    segment_units,
)
from .margin import (
    CrossFitted,
    MarginFit,
    MarginResponseModel,
    MarginScore,
    crossfit,
    decide_on_margin,
    fit_margins,
    margin_cells,
    rule_effect,
    score_margin_decision,
)
from .model import (
    MESSAGE_COST,
    DiscountDecision,
    DiscountFit,
    DiscountInputError,
    DiscountResponseModel,
    coverage_against_truth,
    decide_discounts,
    expected_margin,
    fit_discounts,
    score_against_truth,
)
from .power import MarginPower, margin_plan, margin_power
from .replay import RuleReplay, replay_rules, rule_config, uniform_rules
from .section import ANCHOR, INTRO, TITLE, discount_section
from .study import DiscountCalibrationStudy, study_discount_calibration
from .tuning import fit_checks, parameter_forms

DISCOUNT_TEST = ("a randomized discount test: customers in a seasonal send assigned at "
                 "random to 0%, 5%, 10%, 15% or 20% off, recorded in the assignments table with "
                 "experiment 'seasonal_discount…' and unit_type 'customer'")


#: the rule is replayed on at most this many customers (x 3 replications; 13 s at 5,000)
REPLAY_CUSTOMERS = 3000


class DiscountCalibration(ExportsDiscountRule, Analysis):
    """Per-segment discount response (PyMC), the margin decision, the score against truth."""

    name, title, anchor, intro = "discount", TITLE, ANCHOR, INTRO
    needs = {"assignments": (), "orders": (), "order_items": (), "customers": ()}
    recommendation = "discount rule by segment"
    test_to_run = DISCOUNT_TEST

    def __call__(self, ctx: Context):
        """The calibration, or — without a randomized test — the codes described."""
        out = super().__call__(ctx)
        if isinstance(out, Skipped) and ctx.has_table("orders") and ctx.has_table(
                "order_items"):
            table = describe_codes(ctx.con, read_codes(ctx.path))
            out = replace(out, described=codes_sentence(table, f" {ctx.currency}".rstrip()),
                          tables=(("Discounts in the orders, by code (descriptive: who "
                                   "used a code was not randomized)", table),))
        return out

    def run(self, ctx: Context):
        units = discount_units(ctx.con).execute()
        fit = self.fit_or_skip(ctx, units, "the dataset has no randomized discount experiment")
        if isinstance(fit, Skipped):
            return fit
        # the rule's predicted effect cross-fitted (two more fits on halves): honest
        decision = fit.decide(honest=True)
        score = None
        if ctx.has_truth("discount_response"):
            try:
                truth = discount_margin_truth(ctx.path, fit.units).assign(
                    segment=fit.units.segment)
                score = score_margin_decision(fit.model, decision, truth)
            except KeyError as exc:  # a dataset simulated before this truth was recorded
                ctx.echo(f"discount calibration: no per-level truth in this dataset ({exc}); "
                         "re-simulate to score the decision")
        replayed = None
        rule = decision.rule
        if ctx.simulated and any(d > 0 for d in rule.values()):
            # the uniform rules beside it: notebook 02, benchmarks/study_discount_margin.py
            replayed = replay_rules(ctx.path, fit, {"recommended": rule}, replications=3,
                                    n_customers=REPLAY_CUSTOMERS)
        return DiscountOutcome(fit, decision, score, replayed)

    def sized_test(self, ctx: Context) -> str:
        """The discount test, sized at this store's audience and purchase rate."""
        aud = offer_audience(ctx.con)
        if not aud["customers"] or not 0 < aud["baseline"] < 1:
            return DISCOUNT_TEST + " (this store's orders are too few to size it)"
        plan = plan_test(("0%", "5%", "10%", "15%", "20%"), "0%", aud["baseline"],
                         aud["customers"], period="send")
        consent = ("" if aud.get("consent_known", True) else
                   " (this dataset does not record email consent, so every active customer "
                   "is counted: only those who opted in can be sent the offer)")
        return (f"{DISCOUNT_TEST}. {plan.sentence('customers')}; the baseline is the "
                f"share of active customers who buy within {aud['window_days']:g} days "
                f"without an offer{consent}.{margin_plan(aud, len(plan.arms))}")

    def section(self, result):
        return discount_section(result.fit.model, result.decision,
                                exported=result.decision.converged, score=result.score,
                                replayed=result.replayed)



@dataclass
class DiscountOutcome(Result):
    """The margin fit, its decision and (on simulated data) the score against the truth."""

    fit: MarginFit
    decision: DiscountDecision
    score: MarginScore | None = None
    replayed: RuleReplay | None = None
    _skip_in_dict = ("fit",)  # the posterior draws and the experiment's units

    def summary(self) -> str:
        return self.decision.summary()

    def _repr_html_(self) -> str:
        return self.decision._repr_html_()


__all__ = ["MESSAGE_COST", "CartDiscount", "CartDiscountOutcome", "abandoned_carts",
           "cart_discount_units",
           "DiscountCalibration", "DiscountCalibrationStudy", "DiscountDecision",
           "DiscountFit", "DiscountInputError", "DiscountResponseModel", "DiscountSection",
           "CrossFitted", "MarginFit", "MarginResponseModel", "MarginScore", "crossfit",
           "decide_on_margin", "fit_margins",
           "margin_cells", "MarginPower", "margin_plan", "margin_power", "rule_effect",
           "score_margin_decision", "RuleReplay", "replay_rules",
           "rule_config", "uniform_rules",
           "UnconvergedFitError", "coverage_against_truth", "decide_discounts", "discount_counts",
           "describe_codes", "discount_section", "discount_units", "expected_margin",
           "fit_checks", "fit_discounts",
           "load_discount", "offer_redemption", "parameter_forms", "save_discount",
           "score_against_truth", "section_from_decision", "segment_economics", "segment_features",
           "segment_units", "study_discount_calibration"]
