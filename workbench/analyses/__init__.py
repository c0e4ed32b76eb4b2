"""One package per decision, one protocol, one registry.

Each package under ``workbench/analyses/`` holds one decision whole — its
features (Ibis expressions on the canonical tables), model, decision, report
section, exported files and part of the campaign config — behind the small
protocol in :mod:`.base`.  :data:`ANALYSES` is the registry: ``workbench run``
runs them in this order, and an analysis that cannot run on a dataset shows in
the report as *skipped*, with the reason.

To add a decision: write ``workbench/analyses/<name>/`` with a subclass of
:class:`Analysis`, and add one line below.
"""

from __future__ import annotations

from .attribution import Attribution
from .base import Analysis, Context, Skipped
from .browse_intent import BrowseIntentAnalysis
from .cart_timing import CartTiming
from .channel import ChannelAnalysis
from .clv import CLV
from .deployments import Deployments
from .discount import CartDiscount, DiscountCalibration
from .frequency import Frequency
from .holdouts import CampaignHoldouts
from .overview import Operations, Overview
from .post_purchase import PostPurchaseContent
from .recommendations import Recommendations
from .replenishment import ReplenishmentTiming
from .send_time import SendTime

#: every analysis ``workbench run`` runs, in report order
ANALYSES: tuple[Analysis, ...] = (
    Overview(),
    Operations(),
    Deployments(),
    CartTiming(),
    DiscountCalibration(),
    CartDiscount(),
    Attribution(),
    CampaignHoldouts(),
    PostPurchaseContent(),
    CLV(),
    Recommendations(),
    SendTime(),
    ChannelAnalysis(),
    BrowseIntentAnalysis(),
    ReplenishmentTiming(),
    Frequency(),
)


def get(name: str) -> Analysis:
    """The registered analysis called ``name``."""
    for a in ANALYSES:
        if a.name == name:
            return a
    raise KeyError(f"no analysis {name!r}; registered: {[a.name for a in ANALYSES]}")


__all__ = ["ANALYSES", "Analysis", "Context", "Skipped", "get"]
