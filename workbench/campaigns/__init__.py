"""The campaign config and its closed loop.

:mod:`.config`: one typed, versioned config for every campaign (JSON Schema,
diff in words, ``with_settings`` edits by dotted path, ``with_recommendations``
applies the analyses' parts); :mod:`.replay`: a config re-simulated against a
baseline with common random numbers; :mod:`.lab`: the what-if lab's controls;
:mod:`.sections`: reading and writing the parts the analyses export;
:mod:`.section`: the report section of a change and its replay.
"""

from .config import (
    CampaignConfig,
    ConfigError,
    baseline_from_dataset,
    diff_configs,
    json_schema,
    load_config,
    save_config,
    with_recommendations,
    with_settings,
)
from .lab import (
    DEFAULT_SAMPLE,
    DELAY_STEPS_HOURS,
    DISCOUNT_STEPS_PCT,
    LAB_METRICS,
    Lab,
    PolicyControls,
    open_lab,
    steps_with,
)
from .replay import Replayer, ReplayResult, replay
from .section import change_section

__all__ = ["DEFAULT_SAMPLE", "DELAY_STEPS_HOURS", "DISCOUNT_STEPS_PCT", "LAB_METRICS",
           "CampaignConfig", "ConfigError", "Lab", "PolicyControls", "ReplayResult", "Replayer",
           "baseline_from_dataset", "change_section", "diff_configs", "json_schema", "load_config",
           "open_lab", "replay", "save_config", "steps_with", "with_recommendations",
           "with_settings"]
