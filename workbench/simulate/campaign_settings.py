"""The campaign settings of the simulated store: what each automated campaign does.

These are the types of :class:`~workbench.campaigns.config.CampaignConfig` too, so every
config the workbench exports is one the simulator can replay.  (Split from
:mod:`workbench.simulate.config`, which re-exports them.)
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ..segments import SegmentDiscountRule
from ..vocab import CHANNELS, PURCHASE_TYPES, Channel, CustomerStage


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _CampaignModel(_Model):
    """What every campaign's settings have."""

    skip_stages: list[CustomerStage] = Field(
        default_factory=list, description="customer stages this campaign does not message "
        "(by the orders placed before the send: 'prospect' none, 'first-time buyer' one, "
        "'repeat buyer' two or more)")


def _keys_as_text(v):
    """A mapping keyed by ids (customer or product), with its keys as text (JSON's keys)."""
    return {str(k): x for k, x in v.items()} if isinstance(v, dict) else v


def _distinct_arms(v: list) -> list:
    if len(set(v)) != len(v) or len(v) < 2:
        raise ValueError(f"a test needs two or more distinct arms, got {v}")
    return v


def TestArms(arm):  # noqa: N802 - a type, read like one
    """The type of a test's arms: two or more distinct values of ``arm``."""
    return Annotated[list[arm], AfterValidator(_distinct_arms)]


def by_customer(value):
    """The type of a setting per customer: customer id (as text, however given) -> value."""
    return Annotated[dict[str, value], BeforeValidator(_keys_as_text)]


class CartArm(_Model):
    """One arm of the abandoned-cart timing experiment (``channel=None``: holdout)."""

    name: str
    channel: Channel | None
    delay_hours: float | None = Field(None, gt=0)
    weight: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _holdout_has_no_delay(self) -> CartArm:
        if (self.channel is None) != (self.delay_hours is None):
            raise ValueError(f"arm {self.name!r}: give channel and delay_hours together "
                             "(both empty means a no-message holdout)")
        return self


def _default_cart_arms() -> list[CartArm]:
    arms = [CartArm(name="holdout", channel=None)]
    for ch in CHANNELS:
        for h in (1, 4, 24):
            arms.append(CartArm(name=f"{ch}_{h}h", channel=ch, delay_hours=h))
    return arms


class CartPolicy(_Model):
    """What a cart outside the experiment gets, per purchase type."""

    channel: Channel = "email"
    delay_hours: float = Field(4.0, gt=0)
    discount_pct: float = Field(0.0, ge=0, lt=100)


class AbandonedCartCampaign(_CampaignModel):
    enabled: bool = True
    holdout_share: float = Field(0.0, ge=0, lt=1, description="share of customers held out "
                                 "of this campaign (never messaged), to keep measuring it")
    experiment_share: float = Field(1.0, ge=0, le=1)
    arms: list[CartArm] = Field(default_factory=_default_cart_arms)
    policy: dict[str, CartPolicy] = Field(
        default_factory=lambda: {t: CartPolicy() for t in PURCHASE_TYPES}
    )
    discount_pct: float = Field(0.0, ge=0, lt=100, description="discount in experiment arms")
    discount_arms_pct: list[float] = Field(
        default_factory=list, description="discount levels (percent, 0 included to measure "
        "anything) randomized, independently of the timing arm, over the experiment's carts "
        "that get a message: a second experiment, 'abandoned_cart_discount'; empty: every "
        "experiment cart gets discount_pct")
    discount_rule: SegmentDiscountRule | None = Field(
        None, description="discount by observable segment for carts outside the experiment "
        "(replaces the policy's discount_pct); segments as of the cart's abandonment")
    channels: by_customer(Channel) = Field(
        default_factory=dict, description="customer id: the channel of their reminders for "
        "carts outside the experiment, where they can be reached on it (others: the "
        "purchase type's policy channel)")
    min_cart_value: float = Field(
        0.0, ge=0, description="carts outside the experiment worth less than this (currency "
        "units, the cart's items at the prices they were added at) get no reminder")

    @field_validator("discount_arms_pct")
    @classmethod
    def _levels(cls, levels: list[float]) -> list[float]:
        bad = [x for x in levels if not 0 <= x < 100]
        if bad:
            raise ValueError(f"discount levels must be in [0, 100) percent, got {bad}")
        if len(set(levels)) != len(levels):
            raise ValueError(f"discount levels must be distinct, got {levels}")
        return levels

    @field_validator("arms")
    @classmethod
    def _unique_arm_names(cls, arms: list[CartArm]) -> list[CartArm]:
        names = [a.name for a in arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        return arms


class ProductPicks(_Model):
    """Which products a campaign's recommendation messages show.

    ``affinity``: a product of a category drawn from the customer's own (hidden)
    preferences, the simulator's stand-in for a platform's personalized feed;
    ``random``: any product of the catalog; ``popular``: the list ``popular``, the
    same for everyone (the durable products of the order being followed up are
    skipped; consumables may be shown again);
    ``cross_sell``: after an order, the products ``cross_sell`` lists for its items,
    best ranks first, then ``popular`` — the per-product "complementary products"
    a platform loads (``workbench recommend --cross-sell``).
    """

    source: Literal["affinity", "random", "popular", "cross_sell"] = "affinity"
    popular: list[str] = Field(default_factory=list, description="product ids, best first")
    cross_sell: dict[str, list[str]] = Field(default_factory=dict, description="product id: "
                                             "the product ids to show after it, best first")
    made_by: dict[str, str | float | int | None] = Field(
        default_factory=dict, description="how the lists were made (model, weights, data)")

    @field_validator("popular", mode="before")
    @classmethod
    def _ids_as_text(cls, v):
        return [str(x) for x in v] if isinstance(v, list | tuple) else v

    @field_validator("cross_sell", mode="before")
    @classmethod
    def _map_as_text(cls, v):
        if isinstance(v, dict):
            return {str(k): [str(x) for x in xs] if isinstance(xs, list | tuple) else xs
                    for k, xs in v.items()}
        return v

    @model_validator(mode="after")
    def _lists_given(self) -> ProductPicks:
        if self.source == "popular" and not self.popular:
            raise ValueError("source 'popular' needs the list popular")
        if self.source == "cross_sell" and not self.cross_sell:
            raise ValueError("source 'cross_sell' needs the map cross_sell")
        return self

    def product_ids(self) -> set[str]:
        """Every product id the lists name."""
        ids = set(self.popular) | set(self.cross_sell)
        for v in self.cross_sell.values():
            ids.update(v)
        return ids


DWELL_REFERENCE_SECONDS = 45.0


def dwell_term(seconds) -> np.ndarray:
    """``log(seconds per product view / 45)``, 0 where unknown (a one-view session)."""
    s = np.asarray(seconds, float)
    return np.where(np.isfinite(s) & (s > 0), np.log(np.maximum(s, 1e-3)
                                                     / DWELL_REFERENCE_SECONDS), 0.0)


class BrowseTargeting(_Model):
    """Which browse sessions get a reminder: a logistic intent score in a range.

    ``score = sigmoid(intercept + views·log(views) + revisits·log1p(revisits) +
    dwell·log(dwell_seconds / 45) + checks·log1p(checks) + source[s])`` — P(the customer
    buys within a week) as the store's own model estimated it
    (:mod:`workbench.analyses.browse_intent`) from observable features: the session's
    product views, the customer's earlier sessions of the same category in the last 14
    days, the seconds it spent per product view, its size or stock checks, and the
    traffic source.  A session is sent a reminder when its
    score lies in ``[min_score, max_score]``.
    """

    intercept: float
    coef: dict[str, float] = Field(description="'views', 'revisits', 'dwell', 'checks' "
                                   "and 'source:<name>'")
    min_score: float = Field(0.0, ge=0, le=1)
    max_score: float = Field(1.0, ge=0, le=1)
    collection_min_score: float | None = Field(
        None, ge=0, le=1, description="sessions scoring from this to min_score get the "
        "softer content (a curated collection of the category) instead of no email")
    made_by: dict[str, str | float | int | None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _range(self) -> BrowseTargeting:
        if self.min_score > self.max_score:
            raise ValueError(f"min_score {self.min_score} exceeds max_score {self.max_score}")
        if self.collection_min_score is not None and self.collection_min_score > self.min_score:
            raise ValueError(f"collection_min_score {self.collection_min_score} exceeds "
                             f"min_score {self.min_score}: the collection goes below the "
                             "reminders' range")
        unknown = [k for k in self.coef if k not in ("views", "revisits", "dwell", "checks")
                   and not k.startswith("source:")]
        if unknown:
            raise ValueError(f"unknown targeting features {unknown}; known: views, "
                             "revisits, dwell, checks, source:<name>")
        return self

    def score(self, features: dict) -> np.ndarray:
        """The intent score of sessions from arrays of their features.

        ``views``, ``revisits``, ``source`` and, where the model uses them,
        ``dwell_seconds`` and ``checks``.
        """
        views = np.asarray(features["views"], float)
        x = (self.intercept + self.coef.get("views", 0.0) * np.log(np.maximum(views, 1.0))
             + self.coef.get("revisits", 0.0) * np.log1p(np.asarray(features["revisits"],
                                                                      float)))
        if self.coef.get("dwell", 0.0):
            x = x + self.coef["dwell"] * dwell_term(features["dwell_seconds"])
        if self.coef.get("checks", 0.0):
            x = x + self.coef["checks"] * np.log1p(np.asarray(features["checks"], float))
        src = np.asarray(features["source"], dtype=object)
        for k, v in self.coef.items():
            if k.startswith("source:"):
                x = x + v * (src == k.removeprefix("source:"))
        return 1.0 / (1.0 + np.exp(-x))

    def selects(self, features: dict) -> np.ndarray:
        """Scores in ``[min_score, max_score)`` (``max_score`` 1 includes 1): decile cuts."""
        s = self.score(features)
        return (s >= self.min_score) & ((s < self.max_score) | (self.max_score >= 1.0))

    def contents(self, features: dict) -> np.ndarray:
        """Per session: 0 the reminder, 1 the collection, -1 no email."""
        s = self.score(features)
        out = np.where((s >= self.min_score) & ((s < self.max_score) | (self.max_score >= 1.0)),
                       0, -1)
        if self.collection_min_score is not None:
            out[(s >= self.collection_min_score) & (s < self.min_score)] = 1
        return out


#: what a browse reminder shows: the viewed category's products, or a curated collection
BROWSE_CONTENTS: tuple[str, ...] = ("reminder", "collection")
BROWSE_CONTENT_EXPERIMENT = "browse_content"


class BrowseContentTest(_Model):
    """A randomized test of browse-reminder content, per customer.

    ``share`` of the campaign's messaged customers are assigned at their first reminder to
    one of ``arms`` with equal chance and keep it (the campaign's holdout measures both
    against no email).  Recorded as experiment ``browse_content``, arm the content.
    """

    share: float = Field(1.0, gt=0, le=1)
    arms: TestArms(Literal["reminder", "collection"]) = Field(
        default_factory=lambda: list(BROWSE_CONTENTS))


class BrowseAbandonmentCampaign(_CampaignModel):
    enabled: bool = True
    holdout_share: float = Field(0.0, ge=0, lt=1, description="share of customers held out "
                                 "of this campaign (never messaged), to keep measuring it")
    delay_hours: float = Field(3.0, gt=0)
    min_views: int = Field(2, ge=1)
    suppress_days: float = Field(7.0, ge=0)
    channel: Channel = "email"
    recommender: ProductPicks = Field(default_factory=lambda: ProductPicks(), description=(
        "the product the reminder shows from the viewed category: affinity or random, any "
        "of its products; popular, the first of the list in that category"))
    targeting: BrowseTargeting | None = Field(None, description="send only to sessions "
                                              "whose intent score is in range (none: all)")
    content_test: BrowseContentTest | None = Field(
        None, description="randomize customers over reminder contents (none: no test)")

    @field_validator("recommender")
    @classmethod
    def _no_order_to_follow(cls, v: ProductPicks) -> ProductPicks:
        if v.source == "cross_sell":
            raise ValueError("a browse reminder follows a viewed category, not an order: "
                             "its products come from affinity, random or popular")
        return v


#: what a post-purchase email says around its products ("none": no email)
POST_PURCHASE_CONTENTS: tuple[str, ...] = ("cross_sell", "welcome", "early_access", "loyalty")
PostPurchaseContent = Literal["cross_sell", "welcome", "early_access", "loyalty", "none"]
SEQUENCE_EXPERIMENT = "post_purchase_sequence"


class PostPurchaseSequence(_Model):
    """The content of the post-purchase emails an order gets, by its buyer and value.

    ``buyers``: ``first_time`` (the customer's first order), ``repeat`` or ``any``; the
    order's value (before discount) in ``[min_order_value, max_order_value)``.  The
    first sequence an order matches decides; an order no sequence matches gets
    ``cross_sell``.  Every email still shows the recommender's products; the content is
    what frames them (a welcome, a thank-you with early access, a loyalty invitation).
    """

    content: PostPurchaseContent
    buyers: Literal["first_time", "repeat", "any"] = "any"
    min_order_value: float = Field(0.0, ge=0)
    max_order_value: float | None = Field(None, gt=0)


class PostPurchaseSequenceTest(_Model):
    """A randomized test of post-purchase content, per customer.

    ``share`` of customers (outside the campaign's holdout) are assigned at their first
    order from ``start_day`` on to one of ``arms`` with equal chance and get that
    content after every order (``none``: no post-purchase email, the test's own
    holdout).  Recorded in the
    assignments table as experiment ``post_purchase_sequence``, arm the content.
    """

    share: float = Field(1.0, gt=0, le=1)
    start_day: float = Field(0.0, ge=0, description="days into the simulated window the "
                             "test begins: customers with orders before it enter as "
                             "repeat buyers")
    arms: TestArms(PostPurchaseContent) = Field(
        default_factory=lambda: ["none", *POST_PURCHASE_CONTENTS])


class PostPurchaseCampaign(_CampaignModel):
    enabled: bool = True
    holdout_share: float = Field(0.0, ge=0, lt=1, description="share of customers held out "
                                 "of this campaign (never messaged), to keep measuring it")
    delay_days: float = Field(7.0, gt=0)
    products_per_email: int = Field(4, ge=1, le=8)
    products_per_sms: int = Field(1, ge=1, le=2)
    channel: Channel = "email"
    recommender: ProductPicks = Field(default_factory=ProductPicks)
    follow_up_days: list[float] = Field(
        default_factory=list, description="days after the order of further cross-sell "
        "emails, each showing the next products of the lists (with one product per email, "
        "a sequence over several weeks)")
    sequences: list[PostPurchaseSequence] = Field(
        default_factory=list, description="content by buyer (first-time or repeat) and "
        "order value; the first match decides (none: cross-sell for every order)")
    sequence_test: PostPurchaseSequenceTest | None = Field(
        None, description="randomize customers over contents to measure each against "
        "no email (none: no test)")

    @model_validator(mode="after")
    def _sequence_in_order(self) -> PostPurchaseCampaign:
        days = [self.delay_days, *self.follow_up_days]
        if any(b <= a for a, b in zip(days, days[1:], strict=False)):
            raise ValueError(f"follow_up_days must increase after delay_days "
                             f"({self.delay_days:g}), got {self.follow_up_days}")
        if len(days) > 15:
            raise ValueError(f"a sequence has at most 15 emails, got {len(days)}")
        return self


class ReplenishmentCampaign(_CampaignModel):
    enabled: bool = True
    holdout_share: float = Field(0.0, ge=0, lt=1, description="share of customers held out "
                                 "of this campaign (never messaged), to keep measuring it")
    lead_days: float = Field(3.0, ge=0, description="send this long before supply runs out")
    channel: Channel = "email"
    cycle_multipliers: by_customer(float) = Field(
        default_factory=dict, description="customer id: their use cycle as a multiple of "
        "the catalog's (supply days x quantity); the reminder goes lead_days before "
        "supply x quantity x multiplier (others: the catalog rule, multiplier 1)")

    @field_validator("cycle_multipliers")
    @classmethod
    def _positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, x in v.items() if not (np.isfinite(x) and x > 0)]
        if bad:
            raise ValueError(f"cycle multipliers must be positive (customers {bad[:5]})")
        return v


class SeasonalEvent(_Model):
    name: str
    day_of_year: int = Field(ge=1, le=366)
    send_hour: int = Field(10, ge=0, le=23)
    window_days: float = Field(7.0, gt=0)
    channels: list[Channel] = Field(default_factory=lambda: ["email"])
    discount_arms_pct: list[float] = Field(default_factory=lambda: [0.0, 5.0, 10.0, 15.0, 20.0])

    @field_validator("discount_arms_pct")
    @classmethod
    def _discounts_in_range(cls, v: list[float]) -> list[float]:
        if not v or any(d < 0 or d >= 100 for d in v):
            raise ValueError("discount arms must be in [0, 100) and at least one is needed")
        return v


class SeasonalCampaign(_CampaignModel):
    enabled: bool = True
    holdout_share: float = Field(0.0, ge=0, lt=1, description="share of customers held out "
                                 "of this campaign (never messaged), to keep measuring it")
    experiment_share: float = Field(1.0, ge=0, le=1, description="share of customers "
                                    "randomized over each event's discount arms; the rest "
                                    "get discount_rule (or no discount without one)")
    discount_rule: SegmentDiscountRule | None = Field(
        None, description="discount by observable segment for customers outside the "
        "experiment; segments as of the send")
    events: list[SeasonalEvent] = Field(
        default_factory=lambda: [
            SeasonalEvent(name="spring_sale", day_of_year=80),
            SeasonalEvent(name="summer_sale", day_of_year=190, channels=["email", "sms"]),
            SeasonalEvent(name="black_friday", day_of_year=331, channels=["email", "sms"]),
        ]
    )


class SendTimePolicy(_Model):
    """Each customer's send hour, weekday and weekend, for the campaigns that can wait.

    An email of one of ``campaigns`` to a customer in ``hours`` goes out at the next
    occurrence of that customer's hour (their weekday hour Monday to Friday, their
    weekend hour on Saturday and Sunday, in the store's clock), never more than
    ``max_delay_hours`` after it was due; other customers, and SMS (the hours are
    learned from email), keep the campaign's time.
    """

    campaigns: list[Literal["browse_abandonment", "post_purchase", "replenishment",
                            "seasonal"]] = Field(
        default_factory=lambda: ["post_purchase", "replenishment"],
        description="the campaigns whose sends move to each customer's hour (seasonal "
        "offers are left out by default: a discounted email clicked by more of those who "
        "would have bought anyway pays them more discount)")
    hours: by_customer(tuple[float, float]) = Field(
        default_factory=dict, description="customer id: [weekday hour, weekend hour], 0-24")
    max_delay_hours: float = Field(24.0, gt=0, le=48)
    timezone: str = Field("UTC", description="the clock the hours are in (IANA name); the "
                          "simulated store's clock is UTC")
    made_by: dict[str, str | float | int | None] = Field(
        default_factory=dict, description="how the hours were chosen (model, data)")

    @field_validator("hours")
    @classmethod
    def _hours_in_a_day(cls, v: dict[str, tuple[float, float]]):
        bad = [k for k, h in v.items() if not all(0 <= x < 24 for x in h)]
        if bad:
            raise ValueError(f"send hours must be in [0, 24); customers {bad[:5]} are not")
        return v


CAP_EXPERIMENT = "frequency_cap_test"


class CapTest(_Model):
    """A randomized frequency-cap test: the store's caps against lower ones, per customer.

    ``share`` of customers are assigned at sign-up, with equal chance, to ``store_caps``
    (the store's, or their own) or ``lower_caps`` (``lower``: emails and SMS a week, each
    at most the store's).  Recorded as experiment ``frequency_cap_test``.
    """

    share: float = Field(1.0, gt=0, le=1)
    lower: tuple[int, int] = Field((2, 1), description="(emails, SMS) a week of the lower arm")

    @field_validator("lower")
    @classmethod
    def _at_least_one(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) < 1:
            raise ValueError(f"the lower caps must be at least 1 a week, got {v}")
        return v


class FrequencyCaps(_Model):
    """Messages per customer per trailing 7 days, per channel (the store's, or their own)."""

    email_per_week: int = Field(5, ge=1)
    sms_per_week: int = Field(2, ge=1)
    per_customer: by_customer(tuple[int, int]) = Field(
        default_factory=dict, description="customer id: their own (email, SMS) caps per "
        "trailing 7 days, in place of the store's")
    test: CapTest | None = Field(None, description="a randomized test of lower caps "
                                 "(none: no test)")

    @field_validator("per_customer")
    @classmethod
    def _at_least_one(cls, v: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        bad = [k for k, caps in v.items() if min(caps) < 1]
        if bad:
            raise ValueError(f"a customer's caps must be at least 1 a week (customers "
                             f"{bad[:5]}); to stop messaging someone, they unsubscribe")
        return v


class Campaigns(_Model):
    abandoned_cart: AbandonedCartCampaign = Field(default_factory=AbandonedCartCampaign)
    browse_abandonment: BrowseAbandonmentCampaign = Field(
        default_factory=BrowseAbandonmentCampaign
    )
    post_purchase: PostPurchaseCampaign = Field(default_factory=PostPurchaseCampaign)
    replenishment: ReplenishmentCampaign = Field(default_factory=ReplenishmentCampaign)
    seasonal: SeasonalCampaign = Field(default_factory=SeasonalCampaign)
    caps: FrequencyCaps = Field(default_factory=FrequencyCaps)
    send_time: SendTimePolicy | None = Field(
        None, description="per-customer send hours (none: every campaign keeps its time)")
