"""One class per automated campaign, behind a registry in ``vocab.CAMPAIGNS`` order.

Adding a campaign: its name in ``CAMPAIGNS``, a config model in
:mod:`workbench.simulate.config` (a field of ``Campaigns``), and a
:class:`~workbench.simulate.campaigns.base.Campaign` subclass registered here.
"""

from __future__ import annotations

from ...vocab import CAMPAIGNS
from .abandoned_cart import AbandonedCart
from .base import CONVERSION_WINDOW_DAYS, Campaign
from .browse_abandonment import BrowseAbandonment
from .post_purchase import PostPurchase
from .replenishment import Replenishment
from .seasonal import Seasonal

_CLASSES = (AbandonedCart, BrowseAbandonment, PostPurchase, Replenishment, Seasonal)

#: campaign name -> class, in the order of :data:`workbench.vocab.CAMPAIGNS`
CAMPAIGN_CLASSES: dict[str, type[Campaign]] = {c.name: c for c in sorted(
    _CLASSES, key=lambda c: CAMPAIGNS.index(c.name))}
if tuple(CAMPAIGN_CLASSES) != CAMPAIGNS:
    raise ImportError(f"campaign classes {sorted(CAMPAIGN_CLASSES)} do not match "
                      f"workbench.vocab.CAMPAIGNS {CAMPAIGNS}")

__all__ = ["CAMPAIGN_CLASSES", "CONVERSION_WINDOW_DAYS", "AbandonedCart", "BrowseAbandonment",
           "Campaign", "PostPurchase", "Replenishment", "Seasonal"]
