"""Every vocabulary of the workbench, written once.

Channels, traffic sources, purchase types, campaigns, GA4 event names,
acquisition channels and time units are named here and nowhere else: the
canonical schema, the simulator, the campaign config, the importers and the
analyses all import them.  This module imports nothing from the package, so
it sits below every layer.

Examples
--------
>>> CAMPAIGNS[0], CHANNELS
('abandoned_cart', ('email', 'sms'))
>>> in_days("weeks")
7.0
"""

from __future__ import annotations

from typing import Literal

#: message channels a campaign sends on
CHANNELS: tuple[str, ...] = ("email", "sms")
Channel = Literal["email", "sms"]

#: how a product is bought; drives cart timing and replenishment
PURCHASE_TYPES: tuple[str, ...] = ("impulse", "considered", "consumable")
PurchaseType = Literal["impulse", "considered", "consumable"]

#: the automated campaigns, in the simulator's order
CAMPAIGNS: tuple[str, ...] = ("abandoned_cart", "browse_abandonment", "post_purchase",
                              "replenishment", "seasonal")
#: a customer's stage at a send, by the orders placed before it: none, one, two or more
CUSTOMER_STAGES: tuple[str, ...] = ("prospect", "first-time buyer", "repeat buyer")
CustomerStage = Literal["prospect", "first-time buyer", "repeat buyer"]
#: how a campaign reads in prose (reports, config diffs)
CAMPAIGN_LABELS: dict[str, str] = {
    "abandoned_cart": "abandoned-cart", "browse_abandonment": "browse-abandonment",
    "post_purchase": "post-purchase cross-sell", "replenishment": "replenishment",
    "seasonal": "seasonal"}

#: GA4's e-commerce event names, the ones the canonical ``events`` table holds
#: ``check_variant``: a size, colour or stock check on a product page (a store's custom
#: event; GA4 has no standard one, so the GA4 importer maps the usual custom names to it)
EVENT_NAMES: tuple[str, ...] = ("view_item", "add_to_cart", "remove_from_cart",
                                "begin_checkout", "purchase", "check_variant")

#: the events the simulator writes, in its coding order (it never logs remove_from_cart)
SIMULATED_EVENTS: tuple[str, ...] = ("view_item", "add_to_cart", "begin_checkout", "purchase",
                                     "check_variant")

#: traffic sources a session may carry (GA4's default channel groups, coarsened)
SOURCES: tuple[str, ...] = ("direct", "organic_search", "paid_search", "social", "referral",
                            "affiliate", "email", "sms", "other")
#: the sources the simulator draws (a subset of :data:`SOURCES`, in its coding order)
SIMULATED_SOURCES: tuple[str, ...] = ("direct", "organic_search", "paid_search", "social",
                                      "referral", "email", "sms")

#: how customers were acquired (the simulator's; imports keep their own labels)
ACQUISITION_CHANNELS: tuple[str, ...] = ("organic_search", "paid_search", "social", "referral",
                                         "discount_promo")
#: the simulator's latent price-sensitivity classes (never observable by an analysis)
PRICE_SEGMENTS: tuple[str, ...] = ("insensitive", "moderate", "deal_seeker")
#: the simulator's customer regions
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central")

#: time units in days (a month is a mean Gregorian month, a year a Julian year)
TIME_UNITS: dict[str, float] = {"days": 1.0, "weeks": 7.0, "months": 30.4375,
                                "years": 365.25, "hours": 1 / 24}
TimeUnit = Literal["hours", "days", "weeks", "months", "years"]


def in_days(time_unit: str) -> float:
    """Length of one ``time_unit`` in days; a clear error for an unknown unit."""
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)}, not {time_unit!r}")
    return TIME_UNITS[time_unit]


__all__ = ["ACQUISITION_CHANNELS", "CAMPAIGNS", "CAMPAIGN_LABELS", "CHANNELS",
           "CUSTOMER_STAGES", "CustomerStage", "EVENT_NAMES",
           "PRICE_SEGMENTS", "PURCHASE_TYPES", "REGIONS", "SIMULATED_EVENTS", "SIMULATED_SOURCES",
           "SOURCES",
           "TIME_UNITS", "Channel", "PurchaseType", "TimeUnit", "in_days"]
