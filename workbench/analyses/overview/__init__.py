"""The store overview and this week's operations: what happened, before any decision.

Features (:mod:`.features`, :mod:`.operations`) are Ibis expressions on the
canonical tables; the sections (:mod:`.section`) read their results.
"""

from __future__ import annotations

from ...files import atomic_write_json
from ..base import Analysis, Context
from .features import StoreOverview, store_overview
from .operations import message_funnel, weekly_efficiency
from .section import operations_section, overview_section


class Overview(Analysis):
    """Headline numbers, the funnel, abandonment and message engagement."""

    name, title = "overview", "Store overview"
    needs = {"customers": (), "orders": ()}

    def run(self, ctx: Context) -> StoreOverview:
        return store_overview(ctx.con, currency=ctx.currency)

    def section(self, result: StoreOverview):
        return overview_section(result)

    def export(self, result: StoreOverview, out, ctx: Context):
        summary = {"dataset": str(ctx.path), "dataset_hash": ctx.dataset_hash,
                   "kpis": result.kpis, "funnel": result.funnel.to_dict(orient="records"),
                   "messages": result.messages.to_dict(orient="records")}
        return {"numbers": atomic_write_json(out / "overview.json", summary)}


class Operations(Analysis):
    """The latest send cycle per campaign x channel against its bands, and weekly efficiency."""

    name, title = "operations", "This week: messages and efficiency"
    needs = {"messages": ("sent_at", "delivered", "opened_at", "clicked_at")}

    def run(self, ctx: Context):
        if not ctx.has_table("messages", nonempty=True):
            return self.skip("the dataset has no messages (import the email/SMS platform's "
                             "send log to see delivery, opens and clicks per cycle)")
        return message_funnel(ctx.con), weekly_efficiency(ctx.con)

    def section(self, result):
        return operations_section(*result)


__all__ = ["Operations", "Overview", "StoreOverview", "message_funnel", "operations_section",
           "overview_section", "store_overview", "weekly_efficiency"]
