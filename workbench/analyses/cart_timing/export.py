"""The abandoned-cart part of the campaign config."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ...campaigns.sections import SECTION_VERSION, Provenance, load_section, save_section


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Evidence(_Strict):
    arm: str
    incremental_margin_per_cart: float
    ci_95: tuple[float, float]
    prob_beats_no_message: float = Field(ge=0, le=1)
    prob_best_arm: float = Field(ge=0, le=1)
    n_carts: int = Field(ge=0)


class TypePolicy(_Strict):
    """What to send for abandoned carts of one purchase type."""

    send: bool
    channel: Literal["email", "sms"] | None = None
    delay_hours: float | None = Field(None, gt=0, le=24 * 14)
    discount_pct: float = Field(0.0, ge=0, lt=100)
    evidence: Evidence | None = None

    @model_validator(mode="after")
    def _complete_when_sending(self) -> TypePolicy:
        if self.send and (self.channel is None or self.delay_hours is None):
            raise ValueError("a policy that sends needs channel and delay_hours")
        return self


class AbandonedCartSection(_Strict):
    """``{"abandoned_cart": ...}`` of the campaign config."""

    config_version: str = SECTION_VERSION
    policy: dict[Literal["impulse", "considered", "consumable"], TypePolicy]
    min_cart_value: float = Field(0.0, ge=0, description="carts worth less than this "
                                  "(currency units) get no reminder: the cart-value bands "
                                  "under it lose money by the test (0: remind every cart)")
    provenance: Provenance


def save_abandoned_cart(section: AbandonedCartSection, path: str | Path) -> Path:
    """Validate and write the section as JSON (atomically)."""
    return save_section(path, "abandoned_cart", section)


def load_abandoned_cart(path: str | Path) -> AbandonedCartSection:
    """Load and validate; the error names the field that is wrong."""
    return load_section(path, "abandoned_cart", AbandonedCartSection)


def abandoned_cart_schema() -> dict:
    """The published JSON Schema of the section."""
    return AbandonedCartSection.model_json_schema()


def section_from_study(study) -> AbandonedCartSection:
    """The config section a :class:`~workbench.analyses.cart_timing.study.CartTimingStudy` decided.

    Raises ``ValueError`` when the study reached no decision.
    """
    if study.decision is None:
        raise ValueError(f"no decision to export: {study.reason}")
    return AbandonedCartSection(
        policy=study.decision.to_policy(), min_cart_value=study.min_cart_value,
        provenance=Provenance(dataset_hash=study.dataset_hash,
                              analysis="abandoned-cart timing experiment "
                                       "(workbench.analyses.cart_timing.study)",
                              settings=study.settings))
