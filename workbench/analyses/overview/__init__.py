"""The store overview and this week's operations: what happened, before any decision.

Features (:mod:`.features`, :mod:`.operations`) are Ibis expressions on the
canonical tables; the sections (:mod:`.section`) read their results.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ...files import atomic_write_json
from ...results import Result
from ..base import Analysis, Context
from .benchmarks import against_benchmarks, overview_metrics
from .features import StoreOverview, store_overview
from .forecast import engagement_outcomes, engagement_predictions, with_expectation
from .operations import message_funnel, weekly_efficiency
from .section import (
    OPERATIONS_ANCHOR,
    OPERATIONS_TITLE,
    OVERVIEW_ANCHOR,
    OVERVIEW_TITLE,
    operations_section,
    overview_section,
)


class Overview(Analysis):
    """Headline numbers, the funnel, abandonment and message engagement."""

    name, title, anchor = "overview", OVERVIEW_TITLE, OVERVIEW_ANCHOR
    needs = {"customers": (), "orders": ()}

    #: what each optional table adds to the overview, and where a store gets it
    WITHOUT = {"events": "the funnel and cart abandonment need add_to_cart / purchase "
                         "events (a GA4 export has them)",
               "messages": "messages sent, opened and clicked need the email/SMS "
                           "platform's message events",
               "returns": "returns are counted as none"}

    def run(self, ctx: Context) -> StoreOverview:
        ov = store_overview(ctx.con, currency=ctx.currency)
        ov.benchmarks = against_benchmarks(
            overview_metrics(ov.messages, ov.abandonment, ov.kpis))
        ov.notes += [f"The dataset has no {t} table: {self.WITHOUT[t]}." for t in ctx.absent
                     if t in self.WITHOUT]
        return ov

    def section(self, result: StoreOverview):
        return overview_section(result)

    def export(self, result: StoreOverview, out, ctx: Context):
        summary = {"dataset": str(ctx.path), "dataset_hash": ctx.dataset_hash,
                   "kpis": result.kpis, "funnel": result.funnel.to_dict(orient="records"),
                   "messages": result.messages.to_dict(orient="records"),
                   "benchmarks": ([] if result.benchmarks is None else
                                  result.benchmarks.to_dict(orient="records"))}
        return {"numbers": atomic_write_json(out / "overview.json", summary)}


@dataclass
class ThisWeek(Result):
    """The latest send cycle per campaign x channel, and weekly efficiency."""

    funnel: pd.DataFrame
    weekly: pd.DataFrame
    _html_table = "funnel"

    def summary(self) -> str:
        flagged = self.funnel[self.funnel.anomaly.astype(bool)]
        return (f"{len(self.funnel)} campaign x channel rows in the latest cycle; "
                + ("no rate left its expected band." if flagged.empty else
                   f"{len(flagged)} outside their expected band.")
                + f" {len(self.weekly)} weeks of efficiency.")


class Operations(Analysis):
    """The latest send cycle per campaign x channel against its bands, and weekly efficiency."""

    name, title, anchor = "operations", OPERATIONS_TITLE, OPERATIONS_ANCHOR
    needs = {"messages": ("sent_at", "delivered", "opened_at", "clicked_at")}

    def run(self, ctx: Context):
        if not ctx.has_table("messages", nonempty=True):
            return self.skip("the dataset has no messages (import the email/SMS platform's "
                             "send log to see delivery, opens and clicks per cycle)")
        funnel = with_expectation(message_funnel(ctx.con), ctx.options.get("history"))
        return ThisWeek(funnel, weekly_efficiency(ctx.con))

    def section(self, result: ThisWeek):
        return operations_section(result.funnel, result.weekly)

    def predictions(self, result: ThisWeek, ctx: Context):
        return engagement_predictions(result.funnel)

    def outcomes(self, logged, ctx: Context, result=None):
        if not ctx.has_table("messages", nonempty=True):
            return None
        return engagement_outcomes(ctx.con, logged)


__all__ = ["Operations", "Overview", "StoreOverview", "ThisWeek", "message_funnel",
           "operations_section", "overview_section", "store_overview", "weekly_efficiency"]
