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
    campaign_config_schema,
    diff_configs,
    load_campaign_config,
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
from .replay import Replayer, ReplayResult
from .section import change_section

__all__ = ["DEFAULT_SAMPLE", "DELAY_STEPS_HOURS", "DISCOUNT_STEPS_PCT", "LAB_METRICS",
           "CampaignConfig", "ConfigError", "Lab", "PolicyControls", "ReplayResult", "Replayer",
           "baseline_from_dataset", "campaign_config_schema", "change_section", "diff_configs",
           "load_campaign_config", "open_lab", "save_config", "steps_with", "with_recommendations",
           "with_settings"]
