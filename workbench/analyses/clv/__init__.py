"""Customer lifetime value and churn risk, by acquisition channel and cohort.

RFM summaries and acquisition cohorts from the orders (:mod:`.features`), the
fit on a calibration period, holdout validation, the scorecard, value by
channel and churn flags (:mod:`.analysis`, over the model library
:mod:`workbench.clv`) and the report section (:mod:`.section`).
"""

from __future__ import annotations

from ...clv import CLVInputError
from ...files import atomic_path
from ...store import read_table
from ..base import Analysis, Context
from .analysis import CLVAnalysis, analyze_clv, cohort_value_chart
from .features import (
    cohort_triangles,
    rfm_from_transactions,
    rfm_summary,
    rfm_summary_expr,
    transactions,
)
from .forecast import clv_outcomes, clv_predictions
from .section import ANCHOR, INTRO, TITLE, clv_section


class CLV(Analysis):
    """BG/NBD + Gamma-Gamma fitted before a holdout, validated on it, every customer scored."""

    name, title, anchor, intro = "clv", TITLE, ANCHOR, INTRO
    needs = {"orders": ("order_id", "customer_id", "placed_at", "revenue")}

    def run(self, ctx: Context):
        try:
            return analyze_clv(ctx.con, dataset=ctx.path)
        except (CLVInputError, ValueError) as exc:
            return self.skip(f"not enough order history to fit the CLV models: {exc}")

    def section(self, result: CLVAnalysis):
        return clv_section(result)


    def predictions(self, result: CLVAnalysis, ctx: Context):
        return clv_predictions(result)

    def outcomes(self, logged, ctx: Context, result=None):
        truth = (read_table(ctx.path, "truth/customers")[["customer_id", "dropped_out_at"]]
                 if ctx.has_truth("truth/customers") else None)
        return clv_outcomes(ctx.con, logged, truth)

    def export(self, result: CLVAnalysis, out, ctx: Context):
        with atomic_path(out / "clv_scorecard.csv") as tmp:
            result.scorecard.to_csv(tmp, index=False)
        files = {"clv_scorecard": out / "clv_scorecard.csv"}
        # the audiences a platform imports: customer ids only (an importer pseudonymizes
        # emails and phones used as ids), with why each is on the list
        f = result.flags
        files.update(self.write_csv(out, "reengagement_audience", f[f.flag == "at_risk"]))
        files.update(self.write_csv(out, "high_value_new_customers",
                                    f[f.flag == "promising_new"]))
        if result.by_campaign is not None:
            files.update(self.write_csv(out, "clv_by_acquisition", result.by_campaign))
        return files


__all__ = ["CLV", "CLVAnalysis", "analyze_clv", "clv_section", "cohort_triangles",
           "cohort_value_chart", "rfm_from_transactions", "rfm_summary", "rfm_summary_expr",
           "transactions"]
