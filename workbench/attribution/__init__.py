"""Attribution: which channels get credit for conversions, under eight models.

Input is :class:`Paths` (from :func:`read_paths` for aggregated paths in
``ChannelAttribution``'s format, or :func:`paths_from_journeys` for touch-level
journeys with times). Every model returns an :class:`AttributionResult` whose
credit sums to the observed conversions and value, with bootstrap intervals:

================  =========================================================
name              model
================  =========================================================
first_touch       :class:`FirstTouch`
last_click        :class:`LastClick`
last_non_direct   :class:`LastNonDirectClick` (``direct=`` names the direct channel)
linear            :class:`Linear`
position          :class:`PositionBased` (40/20/40)
time_decay        :class:`TimeDecay` (half-life on real touch times)
markov            :class:`MarkovChain` (order k, exact removal effects)
shapley           :class:`Shapley` (exact over channel coalitions)
================  =========================================================

:func:`attribute` runs one by name, :func:`compare` several side by side,
:func:`shift_table` shows the credit each moves away from last click and
:func:`score_against_truth` scores them against the simulator's truth.

Pure numpy/scipy: no attribution package is needed at run time.
"""

from .base import AttributionModel, AttributionResult
from .comparison import (
    MODELS,
    Comparison,
    attribute,
    compare,
    make_model,
    score_against_truth,
    shift_table,
)
from .markov import MarkovChain, removal_effects
from .paths import AttributionInputError, Paths, paths_from_journeys
from .reading import read_paths
from .rules import FirstTouch, LastClick, LastNonDirectClick, Linear, PositionBased, TimeDecay
from .shapley import Shapley, coalition_values, shapley_values

__all__ = [
    "MODELS",
    "AttributionInputError",
    "AttributionModel",
    "AttributionResult",
    "Comparison",
    "FirstTouch",
    "LastClick",
    "LastNonDirectClick",
    "Linear",
    "MarkovChain",
    "Paths",
    "PositionBased",
    "Shapley",
    "TimeDecay",
    "attribute",
    "coalition_values",
    "compare",
    "make_model",
    "paths_from_journeys",
    "read_paths",
    "removal_effects",
    "score_against_truth",
    "shapley_values",
    "shift_table",
]
