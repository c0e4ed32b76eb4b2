"""Typed configuration of the store simulator, with named scenarios.

Every number the simulator draws from is a field here, so a dataset is fully
described by ``(SimulationConfig, seed)`` and the config's hash is recorded in
the dataset manifest.  Time units are part of every field name (``_days``,
``_hours``, ``_per_day``); money is in the store's currency.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date

from pydantic import Field, field_validator, model_validator

from ..vocab import (
    ACQUISITION_CHANNELS,
    CAMPAIGNS,
    PURCHASE_TYPES,
    PurchaseType,
)
from .campaign_settings import (  # re-exported: the campaign settings
    POST_PURCHASE_CONTENTS,
    AbandonedCartCampaign,
    BrowseAbandonmentCampaign,
    BrowseContentTest,
    BrowseTargeting,
    Campaigns,
    CartArm,
    CartPolicy,
    FrequencyCaps,
    PostPurchaseCampaign,
    PostPurchaseSequence,
    PostPurchaseSequenceTest,
    ProductPicks,
    ReplenishmentCampaign,
    SeasonalCampaign,
    SeasonalEvent,
    SendTimePolicy,
    _Model,
)


class BGNBDParams(_Model):
    """Purchase rate and dropout (Fader, Hardie & Lee 2005, "Counting your customers").

    ``lambda ~ Gamma(shape=r, rate=alpha)`` repeat purchases per day while alive;
    after each repeat purchase the customer drops out with probability
    ``p ~ Beta(a, b)``.  ``alpha`` is in days.
    """

    r: float = Field(0.9, gt=0)
    alpha_days: float = Field(450.0, gt=0)
    a: float = Field(2.0, gt=0)
    b: float = Field(3.0, gt=0)


class GammaGammaParams(_Model):
    """Spend per order (Fader, Hardie & Lee 2005, "RFM and CLV", eq. 1-2).

    Order value ``z ~ Gamma(shape=p, rate=nu)`` with ``nu ~ Gamma(shape=q, rate=gamma)``,
    so ``E[z] = p * gamma / (q - 1)`` in currency units.
    """

    p: float = Field(6.0, gt=0)
    q: float = Field(4.0, gt=1)
    gamma: float = Field(55.0, gt=0)


class AcquisitionChannel(_Model):
    """How a channel's customers differ: multipliers on the latent traits."""

    share: float = Field(gt=0)
    rate_multiplier: float = Field(1.0, gt=0)
    dropout_multiplier: float = Field(1.0, gt=0)
    spend_multiplier: float = Field(1.0, gt=0)
    price_segment_probs: tuple[float, float, float] = (0.45, 0.40, 0.15)
    first_order_discount_pct: float = Field(0.0, ge=0, lt=100)


def _default_acquisition() -> dict[str, AcquisitionChannel]:
    return {
        "organic_search": AcquisitionChannel(share=0.30),
        "paid_search": AcquisitionChannel(share=0.25, rate_multiplier=0.9),
        "social": AcquisitionChannel(share=0.20, rate_multiplier=0.85, dropout_multiplier=1.2),
        "referral": AcquisitionChannel(share=0.10, rate_multiplier=1.2, dropout_multiplier=0.8),
        "discount_promo": AcquisitionChannel(
            share=0.15,
            rate_multiplier=0.7,
            dropout_multiplier=1.5,
            spend_multiplier=0.75,
            price_segment_probs=(0.15, 0.35, 0.50),
            first_order_discount_pct=20.0,
        ),
    }


class Category(_Model):
    """One catalog category."""

    name: str
    purchase_type: PurchaseType
    n_products: int = Field(gt=0)
    median_price: float = Field(gt=0)
    price_spread: float = Field(0.5, ge=0, description="sd of log price")
    margin_low: float = Field(0.25, gt=0, lt=1)
    margin_high: float = Field(0.55, gt=0, lt=1)
    supply_days: float | None = Field(None, gt=0)
    return_rate: float = Field(0.05, ge=0, le=1)
    complements: list[str] = Field(
        default_factory=list, description="categories whose products go with this one's "
        "(a camera leads to a lens); empty: one other category, drawn with the catalog")

    @model_validator(mode="after")
    def _consumables_have_supply(self) -> Category:
        if (self.purchase_type == "consumable") != (self.supply_days is not None):
            raise ValueError("supply_days is required for consumables and only for them")
        if self.margin_low > self.margin_high:
            raise ValueError("margin_low must not exceed margin_high")
        return self


def _default_catalog() -> list[Category]:
    c = Category
    return [
        c(name="accessories", purchase_type="impulse", n_products=60, median_price=25,
          complements=["apparel"]),
        c(name="gifts", purchase_type="impulse", n_products=50, median_price=35,
          complements=["snacks"]),
        c(name="snacks", purchase_type="impulse", n_products=40, median_price=12,
          complements=["coffee"]),
        c(name="apparel", purchase_type="considered", n_products=80, median_price=60,
          return_rate=0.15, complements=["footwear", "accessories"]),
        c(name="footwear", purchase_type="considered", n_products=50, median_price=90,
          return_rate=0.18, complements=["apparel", "accessories"]),
        c(name="electronics", purchase_type="considered", n_products=40, median_price=180,
          price_spread=0.7, margin_low=0.1, margin_high=0.3, return_rate=0.08,
          complements=["accessories"]),
        c(name="home", purchase_type="considered", n_products=60, median_price=70,
          return_rate=0.07, complements=["home", "gifts"]),
        c(name="coffee", purchase_type="consumable", n_products=30, median_price=16,
          supply_days=30, return_rate=0.01, complements=["snacks", "coffee"]),
        c(name="skincare", purchase_type="consumable", n_products=40, median_price=28,
          supply_days=45, return_rate=0.02, complements=["skincare", "gifts"]),
        c(name="pet_food", purchase_type="consumable", n_products=30, median_price=40,
          supply_days=28, return_rate=0.01, complements=["pet_food"]),
    ]


class Traffic(_Model):
    """Browsing behaviour around the BG/NBD purchase occasions."""

    browse_sessions_per_purchase: float = Field(6.0, ge=0, description="casual browse "
                                                "sessions per purchase a customer's rate "
                                                "gives (research sessions come on top)")
    browse_sessions_per_day: float = Field(0.04, ge=0, description="baseline while alive")
    research_share: float = Field(0.5, ge=0, le=1, description="share of repeat purchases "
                                  "a customer researches first: browse sessions of the "
                                  "purchase's category in the days before it")
    research_extra_sessions: float = Field(0.8, ge=0, description="mean research sessions "
                                           "beyond the first (Poisson)")
    research_lead_days: float = Field(6.0, gt=0, description="mean days from a research "
                                      "session to its purchase (exponential)")
    research_view_multiplier: float = Field(1.8, ge=1, description="extra views of a "
                                            "research session, relative to a casual one")
    research_search_share: float = Field(0.5, ge=0, le=1, description="share of research "
                                         "sessions arriving from search (paid or organic, in "
                                         "the mix's proportion); the rest follow the mix")
    dwell_log_sd: float = Field(0.5, ge=0, description="spread (log-sd) across browse "
                                "sessions of the time spent per product view (45 seconds "
                                "on average for a casual session)")
    research_dwell_multiplier: float = Field(1.6, ge=1, description="time per product "
                                             "view of a research session, relative to a "
                                             "casual one (an assumption: a planned "
                                             "purchase is read, a casual browse skimmed)")
    variant_check_prob: float = Field(0.05, ge=0, le=1, description="chance a product "
                                      "view of a casual browse session is followed by a "
                                      "size or stock check")
    research_variant_check_prob: float = Field(0.3, ge=0, le=1, description="the same for "
                                               "a research session (an assumption: who "
                                               "plans to buy checks their size)")
    mean_extra_views: float = Field(2.0, ge=0)
    mean_extra_items: float = Field(0.4, ge=0)
    source_mix: dict[str, float] = Field(
        default_factory=lambda: {
            "direct": 0.35,
            "organic_search": 0.30,
            "paid_search": 0.15,
            "social": 0.20,
        }
    )
    email_opt_in_rate: float = Field(0.7, ge=0, le=1)
    sms_opt_in_rate: float = Field(0.35, ge=0, le=1)
    apple_mpp_share: float = Field(0.26, ge=0, le=1, description="share of email recipients "
                                   "whose client opens every message (privacy protection)")


class ProductStructure(_Model):
    """Which products go together, and how strongly purchases follow that structure.

    Each line of a basket buys, among the products of its category whose units come
    within ``line_value_tolerance`` of the line's value, one chosen by a log-normal
    popularity weight (a long tail, not the product nearest the value); only when
    none comes that close, the product nearest in price.
    Every product has ``complements_per_product`` complements in its category's
    complement categories, near its price rank (a premium camera goes with premium
    lenses).  Extra basket items are complements of the basket's first product with
    probability ``basket_complement_share`` (co-purchase); a repeat order starts from
    a complement of the previous order's first product with probability
    ``sequel_share * exp(-gap_days / sequel_fresh_days)`` (what customers buy *next*,
    likelier while the purchase is fresh).  A consumable is re-ordered when it runs
    out with probability ``reorder_share``: at ``supply_days x quantity x`` the
    customer's use rate ``x exp(reorder_log_sd x N(0, 1))`` after the order, while the
    customer is active (:mod:`~workbench.simulate.reorders`; off by default, on in the
    consumables vertical).
    """

    popularity_log_sd: float = Field(1.0, ge=0, description="sd of the log of each product's "
                                     "popularity weight (a long tail of sellers)")
    line_value_tolerance: float = Field(0.1, ge=0, lt=0.5, description="a basket line buys a "
                                        "product whose units come this close (relative) to "
                                        "the line's value, by popularity weight")
    complements_per_product: int = Field(3, ge=1, le=10)
    complement_price_sd: float = Field(0.15, ge=0, description="sd of a complement's price "
                                       "rank around the product's, as a share of its category")
    basket_complement_share: float = Field(0.3, ge=0, le=1)
    sequel_share: float = Field(0.6, ge=0, le=1)
    sequel_fresh_days: float = Field(180.0, gt=0)
    reorder_share: float = Field(0.0, ge=0, le=1, description="share of consumable "
                                 "purchases re-ordered when their supply runs out (a renewal "
                                 "process on top of the BG/NBD occasions; 0: none)")
    reorder_log_sd: float = Field(0.15, ge=0, description="sd of the log of a re-order's "
                                  "interval around the customer's use cycle")
    catalog_seed: int | None = Field(None, description="seed of the catalog (prices, costs, "
                                     "complements); None: the simulation seed.  Replay fixes "
                                     "it, so every replication sells the same catalog")


class CartBehaviour(_Model):
    """Cart abandonment and its natural return, per purchase type."""

    abandon_before_purchase: dict[str, float] = Field(
        default_factory=lambda: {"impulse": 0.35, "considered": 0.6, "consumable": 0.4}
    )
    abandon_first_purchase: float = Field(
        0.0, ge=0, le=1, description="share of first purchases (a new customer's "
        "acquisition visit) whose cart is left at checkout; like a repeat purchase's, it "
        "comes back by itself after the natural return delay, and a cart reminder clicked "
        "before then moves the order onto the message (last click): the customer is then "
        "acquired through the campaign.  A repeat purchase can fall before a late first "
        "order (about 1% of customers at 0.4).  0 (the default): every new customer buys "
        "at once")
    browse_cart_prob: dict[str, float] = Field(
        default_factory=lambda: {"impulse": 0.4, "considered": 0.5, "consumable": 0.4}
    )
    checkout_before_abandon: float = Field(0.3, ge=0, le=1, description="share of abandoned "
                                           "carts that began checkout")
    natural_return_median_hours: dict[str, float] = Field(
        default_factory=lambda: {"impulse": 2.0, "considered": 30.0, "consumable": 10.0}
    )
    natural_return_log_sd: float = Field(1.0, gt=0)


class Response(_Model):
    """How messages persuade: logit-scale effects (see ``messaging.Messaging.persuasion_logit``)."""

    cart_base_logit: dict[str, float] = Field(
        default_factory=lambda: {"impulse": -2.8, "considered": -2.6, "consumable": -3.0}
    )
    cart_best_delay_hours: dict[str, float] = Field(
        default_factory=lambda: {"impulse": 1.0, "considered": 20.0, "consumable": 4.0}
    )
    cart_delay_log_sd: float = Field(1.3, gt=0, description="width of the delay response "
                                     "in log-hours")
    channel_logit: dict[str, float] = Field(default_factory=lambda: {"email": 0.0, "sms": 1.1})
    # post_purchase: -5.5 before its products' appeal entered the logit; their mean term
    # for the default picks is -0.09 on the default store, and 0.04 more comes off so the
    # published revenue per post-purchase recipient holds on the calibration seeds (the
    # buyer of a recommendation now buys the product shown, whatever its price).
    # browse_abandonment: -4.5 before, less its default picks' mean appeal term (-0.21),
    # and 0.11 more off for the same reason as post-purchase (revenue per recipient)
    browse_intent_logit: float = Field(1.0, description="persuasion of a browse reminder "
                                       "after a research session (one before a purchase "
                                       "the customer was planning), over a casual browse")
    campaign_base_logit: dict[str, float] = Field(
        default_factory=lambda: {
            "browse_abandonment": -4.4,  # see Response.campaign_base_logit
            "post_purchase": -5.45,  # see Response.campaign_base_logit
            "replenishment": -3.0,
            "seasonal": -7.2,
        }
    )
    browse_content_logit: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"reminder": (0.0, 0.0), "collection": (0.5, -0.8)},
        description="a browse email's content: logit change after a casual session and "
        "after a research one (an assumption of the simulator: a curated collection "
        "interests a casual browser more than the products they glanced at, and a "
        "researcher less than the product they studied)")
    post_purchase_content_logit: dict[str, tuple[float, float, float]] = Field(
        default_factory=lambda: {"cross_sell": (0.0, 0.0, 0.0), "welcome": (0.8, -0.5, 0.0),
                                 "early_access": (-0.2, 0.2, 0.6),
                                 "loyalty": (-0.5, 0.6, 0.0)},
        description="a post-purchase email's content: logit change for a first-time "
        "buyer, for a repeat buyer, and per doubling of the order's value over the "
        "store's median basket (an assumption of the simulator, not a published figure: "
        "a welcome persuades new customers, a loyalty invitation returning ones, early "
        "access big spenders)")

    @field_validator("post_purchase_content_logit")
    @classmethod
    def _every_content(cls, v: dict[str, tuple[float, float, float]]):
        missing = [c for c in POST_PURCHASE_CONTENTS if c not in v]
        if missing:
            raise ValueError(f"post_purchase_content_logit needs every content: {missing} "
                             "missing")
        return v

    discount_intercept: dict[str, float] = Field(
        default_factory=lambda: {"insensitive": -0.3, "moderate": 0.0, "deal_seeker": 0.2}
    )
    discount_slope: dict[str, float] = Field(
        default_factory=lambda: {"insensitive": 1.0, "moderate": 6.0, "deal_seeker": 12.0},
        description="logit change per unit discount fraction (0.10 = 10%)",
    )
    responsiveness_log_sd: float = Field(0.5, ge=0)
    persuaded_click_prob: float = Field(0.7, ge=0, le=1)
    replenishment_timing_penalty: float = Field(3.0, ge=0, description="logit penalty per "
                                                "relative error of send time vs the cycle")
    product_appeal_weight: float = Field(0.8, ge=0, description="logit change per unit of the "
                                         "appeal of the products a recommendation shows (their "
                                         "log-mean-exp)")
    affinity_appeal: float = Field(0.5, ge=0, description="a product's appeal per unit of the "
                                   "log of the customer's preference for its category, centred "
                                   "so a pick from their own preferences averages zero")
    complement_appeal: float = Field(1.5, description="appeal of a complement of a product "
                                     "in the order the message follows up")
    owned_appeal: float = Field(-2.0, description="appeal of a durable product that order "
                                "already holds")
    popularity_appeal: float = Field(0.3, ge=0, description="appeal per unit of the log of "
                                     "a product's popularity weight (products sell well "
                                     "because customers like them)")
    over_budget_appeal: float = Field(1.0, ge=0, description="appeal lost per unit of the log "
                                      "of a product's price over what the customer spends "
                                      "per item on average")


class Engagement(_Model):
    """Delivery, opens, clicks and unsubscribes."""

    delivery_rate: dict[str, float] = Field(default_factory=lambda: {"email": 0.985, "sms": 0.975})
    open_rate: float = Field(0.45, gt=0, lt=1, description="human email opens at the best "
                             "hour, of messages triggered by the customer's behaviour (flows)")
    one_off_engagement: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.38, "sms": 1.0},
        description="human email opens (and so email clicks) and SMS clicks of one-off sends "
        "to the list (seasonal campaigns), relative to triggered flows")
    click_rate: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.10, "sms": 0.09},
        description="email: clicks per human open; sms: clicks per delivery",
    )
    unsubscribe_base: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.0015, "sms": 0.007}
    )
    unsubscribe_per_recent_message: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.35, "sms": 0.8},
        description="relative rise of unsubscribe probability per message in the last 7 days",
    )
    unsubscribe_engagement_slope: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.0, "sms": 0.0},
        description="how much sooner customers who engage less on a channel tire of it: the "
        "unsubscribe probability times exp(-slope x responsiveness - slope^2 sd^2 / 2) "
        "(the channel's responsiveness, sd response.responsiveness_log_sd: the store's "
        "mean rate is kept); 0: everyone alike")
    send_hour_width_hours: float = Field(3.0, gt=0, description="how fast the chance of a "
                                         "human email open falls as the send hour moves from "
                                         "the customer's preferred hour (Gaussian width)")
    habitual_open_share: float = Field(0.6, ge=0, le=1, description="share of human email "
                                       "opens made at the customer's habitual reading hour "
                                       "(the next one after the send); the others follow "
                                       "the send (exponential delay)")
    habit_hour_sd: float = Field(1.0, ge=0, description="spread in hours of a habitual "
                                 "open around the customer's preferred hour")
    weekend_hour_shift: float = Field(2.0, description="mean shift in hours of customers' "
                                      "preferred hour on Saturdays and Sundays")
    weekend_hour_sd: float = Field(1.5, ge=0, description="customer-to-customer spread in "
                                   "hours of that shift")
    cost: dict[str, float] = Field(default_factory=lambda: {"email": 0.004, "sms": 0.035})


class CampaignPeriod(_Model):
    """A campaign config deployed on ``start_day`` of the run (a later period)."""

    start_day: int = Field(gt=0, description="the first day (from 0) under these campaigns")
    campaigns: Campaigns
    label: str = Field("", description="what the change was (a deployment's note)")


class SimulationConfig(_Model):
    """Everything the simulator needs besides the seed.

    Examples
    --------
    >>> cfg = SimulationConfig(n_customers=500, days=30)
    >>> cfg.days
    30
    >>> len(cfg.config_hash())
    16
    """

    n_customers: int = Field(20_000, gt=0)
    days: int = Field(365, gt=0, le=3660)
    start_date: date = date(2025, 1, 1)
    currency: str = "USD"
    customers_seed: int | None = Field(
        None, description="seed of the customers' hidden traits (purchase and dropout rates, "
        "spend, preferences, reading hours, use cycles); None: the simulation seed.  Replay "
        "fixes it, so every replication has the same customers, behaving anew: a policy "
        "per customer id is replayed on the customers it was estimated for")
    bgnbd: BGNBDParams = Field(default_factory=BGNBDParams)
    gamma_gamma: GammaGammaParams = Field(default_factory=GammaGammaParams)
    acquisition: dict[str, AcquisitionChannel] = Field(default_factory=_default_acquisition)
    catalog: list[Category] = Field(default_factory=_default_catalog)
    traffic: Traffic = Field(default_factory=Traffic)
    carts: CartBehaviour = Field(default_factory=CartBehaviour)
    products: ProductStructure = Field(default_factory=ProductStructure)
    response: Response = Field(default_factory=Response)
    engagement: Engagement = Field(default_factory=Engagement)
    campaigns: Campaigns = Field(default_factory=Campaigns)
    periods: list[CampaignPeriod] = Field(
        default_factory=list, description="campaign configs deployed later in the run: from "
        "each period's start_day the campaigns trigger under its settings (messages already "
        "queued keep theirs) — a store over consecutive periods with a config change "
        "between them")

    @model_validator(mode="after")
    def _periods_in_order(self) -> SimulationConfig:
        days = [p.start_day for p in self.periods]
        if days != sorted(set(days)) or any(d >= self.days for d in days):
            raise ValueError(f"periods: start days must increase and fall inside the "
                             f"{self.days} simulated days, got {days}")
        events = [e.name for e in self.campaigns.seasonal.events]
        for p in self.periods:
            c = p.campaigns
            if [e.name for e in c.seasonal.events] != events:
                raise ValueError(f"periods (day {p.start_day}): the seasonal events are "
                                 "scheduled at the start; a period may change their "
                                 "settings, not which events there are")
            if c.browse_abandonment.min_views != self.campaigns.browse_abandonment.min_views:
                raise ValueError(f"periods (day {p.start_day}): browse_abandonment.min_views "
                                 "defines the browse sessions of the whole run; it cannot "
                                 "change in a later period")
            for k in ("caps", "send_time"):
                if getattr(c, k) != getattr(self.campaigns, k):
                    raise ValueError(f"periods (day {p.start_day}): campaigns.{k} is set "
                                     "once, at the start of the run; it cannot change in a "
                                     "later period")
        return self

    @property
    def final_campaigns(self) -> Campaigns:
        """The campaigns in force at the end of the run (the last period's, or the first)."""
        return self.periods[-1].campaigns if self.periods else self.campaigns

    @field_validator("acquisition")
    @classmethod
    def _known_acquisition(cls, v: dict[str, AcquisitionChannel]) -> dict:
        unknown = set(v) - set(ACQUISITION_CHANNELS)
        if unknown:
            raise ValueError(f"unknown acquisition channels {sorted(unknown)}; "
                             f"known: {list(ACQUISITION_CHANNELS)}")
        return v

    @field_validator("catalog")
    @classmethod
    def _every_type_present(cls, v: list[Category]) -> list[Category]:
        missing = set(PURCHASE_TYPES) - {c.purchase_type for c in v}
        if missing:
            raise ValueError(f"the catalog needs at least one category of each purchase "
                             f"type; missing {sorted(missing)}")
        names = [c.name for c in v]
        if len(set(names)) != len(names):
            raise ValueError("category names must be unique")
        for c in v:
            unknown = sorted(set(c.complements) - set(names))
            if unknown:
                raise ValueError(f"category {c.name!r}: unknown complement categories "
                                 f"{unknown}; known: {names}")
            if c.name in c.complements and c.n_products < 2:
                raise ValueError(f"category {c.name!r} complements itself but has one "
                                 "product: a product is never its own complement")
        return v

    @model_validator(mode="after")
    def _recommended_products_exist(self) -> SimulationConfig:
        n = sum(c.n_products for c in self.catalog)
        for camp in ("post_purchase", "browse_abandonment"):
            bad = sorted(i for i in getattr(self.campaigns, camp).recommender.product_ids()
                         if not (i.isdigit() and 1 <= int(i) <= n))
            if bad:
                raise ValueError(f"campaigns.{camp}.recommender names product ids "
                                 f"{bad[:5]} outside the catalog's 1..{n}")
        return self

    def config_hash(self) -> str:
        """Return a short, stable hash of the config (recorded in the manifest)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]

    def with_campaigns_off(self) -> SimulationConfig:
        """Return the same store with no automated campaigns (organic behaviour only)."""
        off = {name: {"enabled": False} for name in CAMPAIGNS}
        data = self.model_dump()
        for name, upd in off.items():
            data["campaigns"][name].update(upd)
        return SimulationConfig.model_validate(data)


def _cat(name, kind, n, price, ret=0.05, supply=None, spread=0.5, margins=(0.25, 0.55)):
    return {"name": name, "purchase_type": kind, "n_products": n, "median_price": price,
            "return_rate": ret, "supply_days": supply, "price_spread": spread,
            "margin_low": margins[0], "margin_high": margins[1]}


#: named verticals: a catalog and order values of the kind the published benchmarks
#: describe (average order value by industry, Oberlo 2024: apparel ~$196, beauty ~$71,
#: food & beverage ~$114); the engagement and response calibration is the default's
VERTICALS: dict[str, dict] = {
    "apparel": {
        "gamma_gamma": {"p": 6.0, "q": 4.0, "gamma": 85.0},
        "catalog": [_cat("tops", "considered", 120, 45, 0.25),
                    _cat("bottoms", "considered", 80, 70, 0.25),
                    _cat("outerwear", "considered", 40, 150, 0.2),
                    _cat("footwear", "considered", 50, 110, 0.2),
                    _cat("accessories", "impulse", 60, 30),
                    _cat("basics", "consumable", 30, 20, 0.02, supply=120)]},
    "beauty": {
        "gamma_gamma": {"p": 6.0, "q": 4.0, "gamma": 38.0},
        "catalog": [_cat("skincare", "consumable", 60, 30, 0.02, supply=45),
                    _cat("haircare", "consumable", 40, 22, 0.02, supply=60),
                    _cat("makeup", "impulse", 80, 20),
                    _cat("fragrance", "considered", 30, 75, 0.03),
                    _cat("tools", "considered", 25, 60)]},
    "consumables": {
        "gamma_gamma": {"p": 6.0, "q": 4.0, "gamma": 50.0},
        # customers re-order what runs out, each at their own pace (issue 18); fewer other
        # repeat occasions (alpha 420 -> 1000 days), so the repeat-purchase rate stays in
        # the published range (about 35% in a year; Metrilo: coffee 30%, pet 31.5%)
        "bgnbd": {"r": 0.9, "alpha_days": 1000.0, "a": 2.0, "b": 3.0},
        "products": {"reorder_share": 0.3},
        "catalog": [_cat("coffee", "consumable", 40, 16, 0.01, supply=30),
                    _cat("tea", "consumable", 30, 12, 0.01, supply=45),
                    _cat("pet_food", "consumable", 30, 45, 0.01, supply=28),
                    _cat("supplements", "consumable", 30, 35, 0.01, supply=30),
                    _cat("snacks", "impulse", 60, 8, 0.01),
                    _cat("kitchen", "considered", 20, 60)]},
}

SCENARIOS: dict[str, dict] = {
    "default": {"n_customers": 20_000, "days": 365},
    **{name: {"n_customers": 20_000, "days": 365, **v} for name, v in VERTICALS.items()},
    "small": {"n_customers": 2_000, "days": 120},
    "tiny": {"n_customers": 300, "days": 60},
    "mid_size": {"n_customers": 100_000, "days": 365},
    "no_campaigns": {"n_customers": 20_000, "days": 365},
    # the default store whose customers tire of messages faster, the less engaged sooner
    # (five times the unsubscribes; issue 18's frequency decision)
    "fatigued": {"n_customers": 20_000, "days": 365, "engagement": {
        "unsubscribe_base": {"email": 0.0075, "sms": 0.035},
        "unsubscribe_engagement_slope": {"email": 2.0, "sms": 2.0}}},
    # the fatigued store testing lower caps on every customer (issue 18's frequency)
    "cap_test": {"n_customers": 20_000, "days": 365, "engagement": {
        "unsubscribe_base": {"email": 0.0075, "sms": 0.035},
        "unsubscribe_engagement_slope": {"email": 2.0, "sms": 2.0}},
        "campaigns": {"caps": {"test": {"share": 1.0}}}},
    # the default store testing browse-reminder content, with a browse holdout (issue 18)
    "browse_content": {"n_customers": 20_000, "days": 365, "campaigns": {
        "browse_abandonment": {"holdout_share": 0.2, "content_test": {"share": 1.0}}}},
    # the default store testing post-purchase content on every customer (issue 18)
    "sequences": {"n_customers": 20_000, "days": 365, "campaigns": {
        "post_purchase": {"sequence_test": {"share": 1.0, "start_day": 90}}}},
    # the default store whose cart reminders also randomize 0-15% off (issue 16)
    "cart_discounts": {"n_customers": 20_000, "days": 365, "campaigns": {
        "abandoned_cart": {"discount_arms_pct": [0.0, 5.0, 10.0, 15.0]}}},
}
"""Named scenarios: keyword overrides of :class:`SimulationConfig`."""


def scenario(name: str, **overrides) -> SimulationConfig:
    """Return the config of a named scenario, with optional field overrides.

    Examples
    --------
    >>> scenario("small").n_customers
    2000
    >>> scenario("small", n_customers=50).n_customers
    50
    """
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {sorted(SCENARIOS)}")
    cfg = SimulationConfig(**{**SCENARIOS[name], **overrides})
    return cfg.with_campaigns_off() if name == "no_campaigns" else cfg


def load_simulation_config(path) -> SimulationConfig:
    """Read a JSON config file; pydantic's error names the field that is wrong."""
    with open(path, encoding="utf-8") as fh:
        return SimulationConfig.model_validate_json(fh.read())


__all__ = ["AbandonedCartCampaign", "AcquisitionChannel", "BGNBDParams", "CampaignPeriod",
           "BrowseAbandonmentCampaign", "BrowseContentTest", "BrowseTargeting", "Campaigns",
           "CartArm", "CartBehaviour", "CartPolicy",
           "Category", "Engagement", "FrequencyCaps", "GammaGammaParams",
           "PostPurchaseCampaign", "PostPurchaseSequence", "PostPurchaseSequenceTest",
           "ProductPicks", "ProductStructure", "ReplenishmentCampaign",
           "Response", "SeasonalCampaign", "SeasonalEvent", "SendTimePolicy",
           "SimulationConfig", "Traffic", "load_simulation_config", "scenario"]
