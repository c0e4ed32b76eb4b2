"""The attribution summary carried in the campaign config's report metadata.

Attribution decides nothing by itself, but a marketer reading a config should see
which campaigns the evidence says earned revenue, under which models, and how
far the models disagree; the config's reader gets it from here.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ... import __version__
from ...campaigns.sections import load_section, save_section
from .analysis import campaign_totals


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignCredit(_Strict):
    revenue_by_model: dict[str, float] = Field(
        description="revenue each model credits to the campaign (store currency)")
    interval_95_by_model: dict[str, tuple[float, float]] = Field(
        description="bootstrap 95% interval of that credit")
    true_incremental_revenue: float | None = Field(
        None, description="simulated data only: what the campaign's messages caused")


class AttributionSummary(_Strict):
    dataset_hash: str | None
    package_version: str = __version__
    models: list[str]
    journey_options: dict
    n_boot: int = Field(ge=0)
    journeys: int = Field(ge=0)
    converting_journeys: int = Field(ge=0)
    campaigns: dict[str, CampaignCredit]
    ranking_against_truth: list[str] | None = Field(
        None, description="models, closest to the true incremental revenue first")


def summary_from_analysis(analysis, dataset_hash: str | None = None) -> AttributionSummary:
    """The summary of an :class:`~workbench.analyses.attribution.analysis.AttributionAnalysis`."""
    b = analysis.by_campaign[analysis.by_campaign.is_campaign]
    truth = None
    if analysis.truth is not None:
        truth = campaign_totals(analysis.truth)
    camps = {}
    for c, g in b.groupby("campaign"):
        camps[str(c)] = CampaignCredit(
            revenue_by_model={r.model: float(r.value) for r in g.itertuples()},
            interval_95_by_model={r.model: (float(r.value_low), float(r.value_high))
                                  for r in g.itertuples()},
            true_incremental_revenue=None if truth is None or c not in truth else float(
                truth[c]))
    return AttributionSummary(
        dataset_hash=dataset_hash, models=list(analysis.comparison.results),
        journey_options=analysis.options.get("journeys", {}),
        n_boot=int(analysis.options.get("n_boot", 0)), journeys=analysis.journeys["journeys"],
        converting_journeys=analysis.journeys["converting"], campaigns=camps,
        ranking_against_truth=None if analysis.score is None else list(analysis.score.model))


def save_attribution(summary: AttributionSummary, path) -> Path:
    """Validate and write the summary as JSON (atomically)."""
    return save_section(path, "attribution", summary)


def load_attribution(path) -> AttributionSummary:
    """Load and validate; the error names the field that is wrong."""
    return load_section(path, "attribution", AttributionSummary)
