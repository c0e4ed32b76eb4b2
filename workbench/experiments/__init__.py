"""A/B/n experiment analysis: frequentist, Bayesian, sequential, power, HTE, survival."""

from .analysis import ExperimentInputError, ExperimentResult, analyze_experiment
from .power import mde_mean, mde_proportion, sample_size_mean, sample_size_proportion

__all__ = ["ExperimentInputError", "ExperimentResult", "analyze_experiment", "mde_mean",
           "mde_proportion", "sample_size_mean", "sample_size_proportion"]
