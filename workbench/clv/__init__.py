"""Customer lifetime value models (moved here from ``workbench.models.clv``)."""

from .base import (
    TIME_UNITS_IN_DAYS,
    BayesianBetaGeoModel,
    BayesianGammaGammaModel,
    BetaGeoModel,
    CLVInputError,
    CLVScorecard,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    check_rfm,
    clv_scorecard,
    compress_rfm,
    customer_lifetime_value,
    simulate_bg_nbd,
    simulate_gamma_gamma,
    simulate_mbg_nbd,
    simulate_pareto_nbd,
)

__all__ = [
    "BayesianBetaGeoModel", "BayesianGammaGammaModel", "BetaGeoModel", "CLVInputError",
    "CLVScorecard", "GammaGammaModel", "ModifiedBetaGeoModel", "ParetoNBDModel",
    "TIME_UNITS_IN_DAYS", "check_rfm", "clv_scorecard", "compress_rfm",
    "customer_lifetime_value", "simulate_bg_nbd", "simulate_gamma_gamma", "simulate_mbg_nbd",
    "simulate_pareto_nbd",
]
