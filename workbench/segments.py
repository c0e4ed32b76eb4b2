"""Observable customer segments and the discount rule written on them.

One definition serves the discount analysis
(:func:`workbench.analyses.discount.features.segment_units` labels the experiment's
units with it) and the simulator (a seasonal or abandoned-cart campaign with a
:class:`SegmentDiscountRule` labels each customer at send time and gives the
segment's discount), so a discount calibrated on segments is replayed on exactly
the segments it was calibrated on.

Segments come from behaviour a store can see before a send — never the simulator's
latent price sensitivity:

* ``deal``: ``deal`` / ``full`` — some earlier order used a discount;
* ``value``: ``hi`` / ``lo`` — earlier average order value (after discount) above
  ``aov_split`` (currency units);
* ``recency``: ``recent`` / ``lapsed`` — last order within ``recency_split_days``;
* ``channel``: the acquisition channel (e.g. ``paid_search``).

A customer with no earlier order is ``full``, ``lo`` and ``lapsed``.  Labels join the
dimensions' values with ``-`` in the order of ``by`` (``deal-hi-recent``).

This module is pure numpy + pydantic (and the vocabularies): the simulator imports it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .vocab import ACQUISITION_CHANNELS

SEGMENT_DIMENSIONS = ("deal", "value", "recency", "channel")
#: the values each dimension's part of a label takes (channels: the acquisition channels)
DIMENSION_VALUES = {"deal": ("deal", "full"), "value": ("hi", "lo"),
                    "recency": ("recent", "lapsed")}
Dimension = Literal["deal", "value", "recency", "channel"]


class Segmentation(BaseModel):
    """How customers are cut into observable segments (see the module docstring).

    ``aov_split=None`` means "the median over the units being labelled"; use
    :meth:`resolved` to pin it to a number before the definition leaves the
    analysis (a rule applied in the simulator needs the number).

    Examples
    --------
    >>> s = Segmentation(aov_split=50.0)
    >>> s.labels(prior_discounted_orders=[1, 0, 0], prior_aov=[80.0, 20.0, np.nan],
    ...          recency_days=[10.0, 200.0, np.nan])
    array(['deal-hi-recent', 'full-lo-lapsed', 'full-lo-lapsed'], dtype=object)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: tuple[Dimension, ...] = ("deal", "value", "recency")
    aov_split: float | None = Field(None, ge=0, description="currency units; None = median")
    recency_split_days: float = 60.0

    @model_validator(mode="after")
    def _dims(self) -> Segmentation:
        if not self.by or len(set(self.by)) != len(self.by):
            raise ValueError(f"segmentation.by must list distinct dimensions of "
                             f"{SEGMENT_DIMENSIONS}; got {list(self.by)}")
        return self

    def needs(self) -> list[str]:
        """The unit columns the labels are computed from."""
        need = {"deal": "prior_discounted_orders", "value": "prior_aov",
                "recency": "recency_days", "channel": "acquisition_channel"}
        return [need[b] for b in self.by]

    def resolved(self, prior_aov) -> Segmentation:
        """The same definition with the median order value split pinned to a number."""
        if self.aov_split is not None or "value" not in self.by:
            return self
        aov = np.asarray(prior_aov, dtype=float)
        if not np.isfinite(aov).any():
            raise ValueError("segmentation: no unit has an earlier order, so the order "
                             "value split (the median) is undefined; give aov_split")
        return self.model_copy(update={"aov_split": float(np.nanmedian(aov))})

    def labels(self, prior_discounted_orders=None, prior_aov=None, recency_days=None,
               acquisition_channel=None) -> np.ndarray:
        """One label per customer (an object array), from arrays of the same length."""
        cols = {"deal": prior_discounted_orders, "value": prior_aov,
                "recency": recency_days, "channel": acquisition_channel}
        missing = [c for b, c in zip(self.by, self.needs(), strict=True) if cols[b] is None]
        if missing:
            raise ValueError(f"segmentation by {list(self.by)} needs {missing}")
        parts = []
        for b in self.by:
            if b == "deal":
                d = np.nan_to_num(np.asarray(prior_discounted_orders, dtype=float), nan=0.0)
                parts.append(np.where(d > 0, "deal", "full"))
            elif b == "value":
                aov = np.asarray(prior_aov, dtype=float)
                split = self.resolved(aov).aov_split
                parts.append(np.where(np.nan_to_num(aov, nan=-np.inf) > split, "hi", "lo"))
            elif b == "recency":
                rec = np.nan_to_num(np.asarray(recency_days, dtype=float), nan=np.inf)
                parts.append(np.where(rec <= self.recency_split_days, "recent", "lapsed"))
            else:
                parts.append(np.char.replace(np.asarray(acquisition_channel, dtype=str),
                                             "-", "_"))
        out = parts[0].astype(object)
        for p in parts[1:]:
            out = out + "-" + p.astype(object)
        return out


class SegmentDiscountRule(BaseModel):
    """Discount (percent) by observable segment; ``default_pct`` for segments not listed.

    Examples
    --------
    >>> r = SegmentDiscountRule(segmentation=Segmentation(by=("deal",)),
    ...                         discount_pct={"deal": 10.0})
    >>> r.discount_for(np.array(["deal", "full"], dtype=object)).tolist()
    [10.0, 0.0]
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    segmentation: Segmentation = Field(default_factory=lambda: Segmentation(aov_split=50.0))
    discount_pct: dict[str, float] = Field(default_factory=dict)
    default_pct: float = Field(0.0, ge=0, lt=100)

    @model_validator(mode="after")
    def _valid(self) -> SegmentDiscountRule:
        if "value" in self.segmentation.by and self.segmentation.aov_split is None:
            raise ValueError("segmentation.aov_split: a rule applied at send time needs the "
                             "order value split as a number (Segmentation.resolved pins it)")
        bad = {k: v for k, v in self.discount_pct.items() if not 0 <= v < 100}
        if bad:
            raise ValueError(f"discount_pct: discounts must be in [0, 100) percent; got {bad}")
        by = self.segmentation.by
        values = dict(DIMENSION_VALUES)
        values["channel"] = ACQUISITION_CHANNELS
        bad = []
        for label in self.discount_pct:
            parts = label.split("-")
            if len(parts) != len(by) or any(p not in values[d]
                                            for p, d in zip(parts, by, strict=False)):
                bad.append(label)
        if bad:
            expect = "-".join("/".join(values[d]) if d != "channel" else "<channel>"
                              for d in by)
            raise ValueError(f"discount_pct: segment labels {bad} match no customer; with "
                             f"segmentation.by={list(by)} a label reads {expect}")
        return self

    def discount_for(self, labels: np.ndarray) -> np.ndarray:
        """The discount (percent) for each label."""
        labels = np.asarray(labels, dtype=object)
        out = np.full(labels.size, self.default_pct, dtype=float)
        for seg, pct in self.discount_pct.items():
            out[labels == seg] = pct
        return out
