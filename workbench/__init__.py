"""E-commerce marketing workbench: import or simulate, validate, analyse, decide, report.

The flow, one direction, each layer importing only the layers below it (checked
by ``tests/test_architecture.py`` with import-linter)::

    import (importers/) ─┐
                         ├─► dataset ──► analyses/ (one package ──► campaign ──► report
    simulate (simulate/) ┘   (store)     per decision)             config        (report/)
                               ▲                                    │
                               └──────── replay in the simulator ◄──┘

Everything a notebook, app or script needs is importable from here
(``import workbench as wb``; ``wb.simulate(...)``, ``wb.run_cart_timing(con)``);
names load lazily, so ``workbench --help`` stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_GROUPS = {
    # vocabularies
    "workbench.vocab": ["ACQUISITION_CHANNELS", "CAMPAIGNS", "CHANNELS", "EVENT_NAMES",
                        "PURCHASE_TYPES", "SOURCES", "TIME_UNITS"],
    # the canonical tables and datasets on disk
    "workbench.schema": ["SCHEMA_VERSION", "TABLES", "DatasetValidationError",
                         "ValidationReport", "Violation", "schema_json"],
    "workbench.store": ["DatasetError", "dataset_as_of", "has_truth", "load_manifest",
                        "open_dataset",
                        "read_table", "read_truth_params", "save_simulation", "validate",
                        "write_dataset"],
    "workbench.importers": ["IMPORTERS", "Importer", "ImportResult", "import_dataset"],
    # the simulator and its truth
    "workbench.simulate": ["SCENARIOS", "SimulatedStore", "SimulationConfig",
                           "load_simulation_config", "scenario", "simulate"],
    "workbench.simulate.truth": ["campaign_incremental_revenue", "discount_conversion_truth",
                                 "discount_margin_truth"],
    "workbench.datasets": ["default_store", "load_cdnow_summary"],
    "workbench.segments": ["SEGMENT_DIMENSIONS", "SegmentDiscountRule", "Segmentation"],
    # model libraries
    "workbench.experiments": ["ExperimentInputError", "analyze_experiment", "mde_proportion",
                              "mde_mean", "sample_size_proportion", "sample_size_mean"],
    "workbench.clv": ["BetaGeoModel", "CLVInputError", "GammaGammaModel", "ModifiedBetaGeoModel",
                      "ParetoNBDModel", "clv_scorecard"],
    "workbench.attribution": ["AttributionInputError", "attribute", "compare",
                              "paths_from_journeys", "read_paths"],
    "workbench.recommend": ["BoughtNext", "CoPurchase", "Popularity", "ImplicitALS",
                            "RecommendInputError", "Rerank", "evaluate", "customer_lists",
                            "complements", "cross_sell_lists", "sweep"],
    # the analyses: protocol, registry and each decision's entry points
    "workbench.analyses": ["ANALYSES", "Analysis", "Context", "Skipped"],
    "workbench.analyses.overview": ["Overview", "Operations", "StoreOverview",
                                    "overview_section", "store_overview"],
    "workbench.analyses.cart_timing": ["CartTiming", "run_cart_timing", "decide_cart_timing",
                                       "abandonment_episodes"],
    "workbench.analyses.discount": ["CartDiscount", "DiscountCalibration",
                                    "DiscountResponseModel", "MarginResponseModel",
                                    "discount_units", "fit_discounts", "fit_margins"],
    "workbench.analyses.attribution": ["Attribution", "analyze_attribution", "journeys_frame",
                                       "window_sweep"],
    "workbench.analyses.clv": ["CLV", "analyze_clv", "rfm_summary", "cohort_triangles"],
    "workbench.analyses.recommendations": ["GENERATORS", "Recommendations",
                                           "analyze_recommendations", "post_purchase_picks",
                                           "replay_recommenders", "store_inputs"],
    "workbench.analyses.browse_intent": ["BrowseIntentAnalysis", "analyze_browse_intent",
                                         "browse_sessions", "replay_browse_targeting"],
    "workbench.analyses.channel": ["ChannelAnalysis", "analyze_channels", "channel_lift",
                                   "replay_channels"],
    "workbench.analyses.replenishment": ["ReplenishmentTiming", "analyze_replenishment",
                                         "reorder_intervals", "replay_replenishment"],
    "workbench.analyses.frequency": ["Frequency", "analyze_frequency", "replay_frequency"],
    "workbench.analyses.post_purchase": ["PostPurchaseContent", "analyze_post_purchase",
                                        "replay_sequences", "size_test"],
    "workbench.analyses.holdouts": ["CampaignHoldouts", "analyze_holdouts", "holdout_units"],
    "workbench.analyses.accuracy": ["Accuracy", "coverage_chart"],
    "workbench.analyses.deployments": ["Deployments", "deployments", "holdout_change"],
    "workbench.history": ["ConfigHistory", "PredictionLog"],
    "workbench.analyses.send_time": ["SendTime", "analyze_send_times", "engagement_events",
                                     "fit_send_times", "hour_counts", "replay_send_time",
                                     "score_send_times"],
    # decisions into configs, and the closed loop
    "workbench.campaigns": ["CampaignConfig", "ConfigError", "diff_configs",
                            "load_campaign_config", "with_recommendations", "with_settings"],
    "workbench.campaigns.replay": ["Replayer", "replay"],
    # reports and the whole run
    "workbench.report": ["Kpi", "Report", "Section"],
    "workbench.pipeline": ["run_all"],
}
_EXPORTS = {name: module for module, names in _GROUPS.items() for name in names}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
