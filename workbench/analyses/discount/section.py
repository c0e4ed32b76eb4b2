"""The discount-calibration section of the report."""

from __future__ import annotations

from ...report import Kpi, Section

TITLE, ANCHOR = "Discount calibration", "discount"
#: the question the section answers
INTRO = ("Which discount, if any, should each kind of customer get? Customers were "
         "randomized to 0-20% off in seasonal sends; a hierarchical Bayesian model "
         "estimates what each offer earns the store per customer — the margin of every "
         "order in the week after the send, net of the discount paid, against the 0% arm — "
         "and a discount is recommended only where it is likely to earn more than none.")


def discount_section(model=None, decision=None, reason: str = "", exported: bool = False,
                     score=None, replayed=None) -> Section:
    """The discount-calibration section from a fitted model and its decision."""
    title, anchor, intro = TITLE, ANCHOR, INTRO
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
    if score is not None and hasattr(score, "rule"):
        r = score.rule
        paragraphs.append(
            f"Against the simulator's truth: the 90% intervals cover the true incremental "
            f"margin in {score.coverage.covered.mean():.0%} of {len(score.coverage)} segment × "
            f"level cells; the rule's true effect against 0% for all is {r['true']:+,.2f} "
            f"(predicted {r['predicted']:+,.2f} [{r['low']:+,.2f}, {r['high']:+,.2f}]), and the "
            f"truth-optimal rule's {r['true_optimal']:+,.2f}.")
        tables.append(("Against the simulator's truth, per segment", score.segments))
    elif score is not None:
        tables.append(("Against the simulator's truth", score))
    if replayed is not None:
        paragraphs.append(
            "What the model predicts, replayed: the store run again in the simulator under "
            "each rule and under no discount for all, with the same random numbers. The "
            "replay counts every order over the whole period (a caused order's customer "
            "comes back later); the model counts the week after each send.")
        tables.append(("Each rule's margin against 0% for all: predicted and replayed "
                       f"({replayed.settings['customers']:,} customers × "
                       f"{replayed.settings['replications']} replications, 95% intervals)",
                       replayed.table))
    return Section(title=title, anchor=anchor, paragraphs=paragraphs, kpis=kpis,
                   charts={"curves": model.chart()}, tables=tables)
