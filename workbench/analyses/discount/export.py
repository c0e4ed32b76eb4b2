"""The discount part of the campaign config, exported only from a converged fit."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ... import __version__
from ...campaigns.sections import SECTION_VERSION, load_section, save_section
from ...segments import Segmentation


class UnconvergedFitError(RuntimeError):
    """The fit failed its diagnostics; export needs an explicit, recorded override."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentDiscount(_Strict):
    discount_pct: float = Field(ge=0, lt=100)
    incremental_margin_per_message: float
    interval_90: tuple[float, float]
    prob_beats_no_discount: float = Field(ge=0, le=1)
    best_level_pct: float = Field(ge=0, lt=100)


class FitIdentity(_Strict):
    data_hash: str
    model: str = "workbench.analyses.discount.model.DiscountResponseModel"
    settings: dict
    package_version: str = __version__
    converged: bool
    diagnostic_failures: list[str]
    override: bool = Field(False, description="exported despite failed diagnostics")


class DiscountSection(_Strict):
    config_version: str = SECTION_VERSION
    min_prob: float = Field(ge=0, le=1)
    segments: dict[str, SegmentDiscount]
    segmentation: Segmentation | None = Field(
        None, description="how the segments were cut (the order value split as a number), "
        "so the rule can be applied to customers at send time and replayed")
    fit: FitIdentity


def counts_hash(counts: pd.DataFrame) -> str:
    """A stable hash of the sufficient statistics the model was fitted on (every column)."""
    c = counts.sort_values(["segment", "discount"])
    return hashlib.sha256(c.to_csv(index=False).encode()).hexdigest()[:16]


def section_from_decision(decision, model, *, segmentation: Segmentation | None = None,
                          override: bool = False) -> DiscountSection:
    """Build the section; refuse an unconverged fit unless ``override`` (then recorded).

    ``segmentation`` is the definition the segments were labelled with (give it
    resolved, :meth:`~workbench.segments.Segmentation.resolved`); without it the
    section cannot become a replayable discount rule.
    """
    if segmentation is not None and "value" in segmentation.by and \
            segmentation.aov_split is None:
        raise ValueError("segmentation.aov_split is None: pin the median to a number with "
                         "Segmentation.resolved(units.prior_aov) before exporting")
    if not decision.converged and not override:
        raise UnconvergedFitError(
            "refusing to export discounts from a fit that failed its diagnostics ("
            + "; ".join(decision.diagnostics) + "); refit with more draws or pass "
            "override=True, which is recorded in the config")
    segs = {r.segment: SegmentDiscount(
        discount_pct=100 * r.discount, incremental_margin_per_message=r.incremental_margin,
        interval_90=(r.low_90, r.high_90), prob_beats_no_discount=r.prob_beats_zero,
        best_level_pct=100 * r.best_level) for r in decision.recommendations.itertuples()}
    return DiscountSection(
        min_prob=decision.min_prob, segments=segs, segmentation=segmentation,
        fit=FitIdentity(data_hash=counts_hash(model.counts_), settings=model.get_params(),
                        model=f"{type(model).__module__}.{type(model).__qualname__}",
                        converged=decision.converged,
                        diagnostic_failures=list(decision.diagnostics),
                        override=bool(override and not decision.converged)))


def save_discount(section: DiscountSection, path) -> Path:
    """Validate and write the section as JSON (atomically)."""
    return save_section(path, "discount", section)


def load_discount(path) -> DiscountSection:
    """Load and validate; the error names the field that is wrong."""
    return load_section(path, "discount", DiscountSection)


class ExportsDiscountRule:
    """``export`` and ``config_part`` of an analysis whose result holds a discount rule.

    The result has ``decision`` and ``fit`` (``model``, ``segmentation``); the section is
    written to ``config_file`` only from a converged fit, and becomes the
    :func:`~workbench.campaigns.config.with_recommendations` argument ``part_key``.
    """

    config_file: str = "discount.json"
    part_key: str = "discount"
    unit: str = "customer-send"  # a unit of the experiment, in the report's sentences

    def fit_or_skip(self, ctx, units: pd.DataFrame, no_test: str):
        """The margin fit of an experiment's ``units``, or the :class:`Skipped` saying why not.

        ``no_test`` is the reason when there are no units (with the test sized for the
        store); too little data to fit says so.
        """
        from .margin import fit_margins
        from .model import DiscountInputError

        if units.empty:
            return self.skip(no_test, self.sized_test(ctx))
        try:
            # 2,000 draws: the per-level scales of ~8 segments need them for ESS > 400
            return fit_margins(units, draws=2000, tune=1500, random_seed=0, unit=self.unit)
        except DiscountInputError as exc:
            return self.skip(f"there is not enough data to fit the model yet: {exc}",
                             test_to_run="")

    def export(self, result, out, ctx):
        if not result.decision.converged:
            ctx.echo(f"{self.name}: the fit failed its diagnostics; no config exported")
            return {}
        section = section_from_decision(result.decision, result.fit.model,
                                        segmentation=result.fit.segmentation)
        return {f"{self.part_key}_config": save_discount(section, out / self.config_file)}

    def config_part(self, result, files):
        if f"{self.part_key}_config" not in files:
            return {}
        return {self.part_key: load_discount(files[f"{self.part_key}_config"])}
