"""Attribution: which campaigns really earned the revenue, under every model.

Customer journeys from the event log (:mod:`.journeys`), the analysis over the
model library :mod:`workbench.attribution` with truth scoring, the window
sweep and the weekly view (:mod:`.analysis`), the summary carried in the
campaign config (:mod:`.export`) and the report section (:mod:`.section`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ...attribution import AttributionInputError
from ...results import Result
from ...simulate.truth import campaign_incremental_revenue
from ..base import Analysis, Context
from .analysis import (
    AttributionAnalysis,
    analyze_attribution,
    campaign_totals,
    message_credit,
    weekly_attribution,
    weekly_attribution_chart,
    window_sweep,
    window_sweep_chart,
)
from .export import AttributionSummary, load_attribution, save_attribution, summary_from_analysis
from .journeys import DEFAULT_LOOKBACK_DAYS, DEFAULT_WINDOWS, journeys_frame
from .section import ANCHOR, INTRO, TITLE, attribution_section


@dataclass
class AttributionOutcome(Result):
    """Every model on the store's journeys, the window sweep and the weekly view."""

    analysis: AttributionAnalysis
    sweep: pd.DataFrame
    weekly: pd.DataFrame
    _html_table = "sweep"

    def summary(self) -> str:
        return self.analysis.summary()


class Attribution(Analysis):
    """Eight models side by side with intervals; on simulated data, scored on the truth."""

    name, title, anchor, intro = "attribution", TITLE, ANCHOR, INTRO
    needs = {"messages": (), "sessions": (), "orders": ()}

    def run(self, ctx: Context):
        if not ctx.has_table("sessions", nonempty=True):
            return self.skip("the dataset has no sessions: journeys are the visits (with "
                             "their traffic source) and message clicks before each order "
                             "(a GA4 export has the visits)", test_to_run="")
        truth = None
        if ctx.has_truth("messages"):
            truth = campaign_incremental_revenue(ctx.path)
        try:
            # the window sweep is about message touches: a store without messages (a
            # GA4-only import) still gets every model over its visits' sources
            sweep = (window_sweep(ctx.con, truth=truth, windows=(1, 3, 5, 7, 14))
                     if ctx.has_table("messages", nonempty=True) else pd.DataFrame())
            return AttributionOutcome(
                analyze_attribution(ctx.con, truth=truth, n_boot=100), sweep,
                weekly_attribution(ctx.con))
        except AttributionInputError as exc:
            return self.skip(f"no journeys to attribute ({exc})")

    def section(self, result: AttributionOutcome):
        return attribution_section(result.analysis,
                                   result.sweep if len(result.sweep) else None,
                                   weekly=result.weekly)


    def export(self, result: AttributionOutcome, out, ctx: Context):
        summary = summary_from_analysis(result.analysis, ctx.dataset_hash)
        return {"attribution_summary": save_attribution(summary, out / "attribution.json")}

    def config_part(self, result, files):
        return {"attribution": load_attribution(files["attribution_summary"])}


__all__ = ["DEFAULT_LOOKBACK_DAYS", "DEFAULT_WINDOWS", "Attribution", "AttributionAnalysis",
           "AttributionOutcome", "AttributionSummary", "analyze_attribution", "attribution_section",
           "campaign_totals", "journeys_frame", "load_attribution", "message_credit",
           "save_attribution", "summary_from_analysis", "weekly_attribution",
           "weekly_attribution_chart", "window_sweep", "window_sweep_chart"]
