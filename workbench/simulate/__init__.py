"""Store simulator with ground truth."""

from .config import SCENARIOS, SimulationConfig, load_config, scenario
from .engine import SimulatedStore, simulate

__all__ = ["SCENARIOS", "SimulatedStore", "SimulationConfig", "load_config", "scenario", "simulate"]
