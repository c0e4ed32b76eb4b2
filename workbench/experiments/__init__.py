"""A/B/n experiment analysis: frequentist, Bayesian, sequential, power, HTE, survival."""

from .analysis import ExperimentInputError, ExperimentResult, analyze_experiment, welch_difference
from .power import (
    ExperimentPlan,
    mde_mean,
    mde_proportion,
    plan_test,
    sample_size_mean,
    sample_size_proportion,
)

__all__ = ["ExperimentInputError", "ExperimentPlan", "ExperimentResult", "analyze_experiment",
           "welch_difference",
           "mde_mean", "mde_proportion", "plan_test", "sample_size_mean", "sample_size_proportion"]
