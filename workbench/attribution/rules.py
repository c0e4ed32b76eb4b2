"""Rule-based attribution: first touch, last click, last non-direct, linear, position, decay.

Each rule splits every path's conversions and value between its touches with
fixed fractions that sum to 1, so credit sums to the totals and a channel that
is on no converting path gets nothing. Repeated touches of a channel each take
their fraction (``ChannelAttribution``'s ``linear_touch`` does the same); use
``collapse_repeats`` when reading the paths to count a run once. The rules are
the ones Google Analytics documented for its attribution reports
("Attribution models", GA4 help, 2021–2023) and that Kannan, Reinartz & Verhoef
(2016, "The path to purchase and attribution modeling", IJRM 33(3)) survey.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import AttributionModel, CreditFn, credit_from_touch_index, credit_from_touch_shares
from .paths import AttributionInputError, Paths

__all__ = ["FirstTouch", "LastClick", "LastNonDirectClick", "Linear", "PositionBased",
           "TimeDecay"]


class FirstTouch(AttributionModel):
    """All of a path's conversions and value to its first touch.

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["email", "sms"], ["sms"]], conversions=[2, 1])
    >>> FirstTouch(n_boot=0).fit(p).result_.table[["channel", "conversions"]].to_numpy().tolist()
    [['email', 2.0], ['sms', 1.0]]
    """

    name = "first_touch"
    label = "First touch"

    def _prepare(self, paths: Paths) -> CreditFn:
        return credit_from_touch_index(paths, paths.offsets[:-1])


class LastClick(AttributionModel):
    """All of a path's conversions and value to its last touch.

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["email", "sms"], ["sms"]], conversions=[2, 1])
    >>> LastClick(n_boot=0).fit(p).result_.table["conversions"].tolist()
    [0.0, 3.0]
    """

    name = "last_click"
    label = "Last click"

    def _prepare(self, paths: Paths) -> CreditFn:
        return credit_from_touch_index(paths, paths.offsets[1:] - 1)


class LastNonDirectClick(AttributionModel):
    """All credit to the last touch that is not a direct visit.

    A path made only of direct touches keeps its credit on its last (direct)
    touch, as Google Analytics' "last non-direct click" does (GA4 help,
    "Attribution models: paid and organic last click").

    Parameters
    ----------
    direct
        Name, or names, of the direct channel(s). Names absent from the data are
        allowed (the model then equals last click).

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["email", "direct"], ["direct"]], conversions=[2, 1])
    >>> LastNonDirectClick(n_boot=0).fit(p).result_.table["conversions"].tolist()
    [1.0, 2.0]
    """

    name = "last_non_direct"
    label = "Last non-direct click"

    def __init__(self, direct: str | Sequence[str] = "direct", *, n_boot: int = 200,
                 ci: float = 0.95, seed: int | np.random.Generator | None = 0) -> None:
        super().__init__(n_boot=n_boot, ci=ci, seed=seed)
        self.direct = direct

    def _prepare(self, paths: Paths) -> CreditFn:
        names = [self.direct] if isinstance(self.direct, str) else list(self.direct)
        direct_codes = [i for i, c in enumerate(paths.channels) if c in set(names)]
        non_direct = ~np.isin(paths.codes, direct_codes)
        idx = np.where(non_direct, np.arange(paths.n_touches), -1)
        last_nd = np.maximum.reduceat(idx, paths.offsets[:-1])
        touch = np.where(last_nd >= 0, last_nd, paths.offsets[1:] - 1)
        return credit_from_touch_index(paths, touch)


class Linear(AttributionModel):
    """Each of a path's ``L`` touches gets ``1/L`` of its conversions and value.

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["email", "sms", "sms"]], conversions=[3])
    >>> Linear(n_boot=0).fit(p).result_.table["conversions"].tolist()
    [1.0, 2.0]
    """

    name = "linear"
    label = "Linear"

    def _prepare(self, paths: Paths) -> CreditFn:
        return credit_from_touch_shares(paths, 1.0 / paths.lengths[paths.touch_row])


class PositionBased(AttributionModel):
    """Position-based ("U-shaped") credit: first and last touch get fixed fractions.

    ``first`` goes to the first touch, ``last`` to the last, and the rest is
    split evenly between the touches in between.

    A one-touch path gives it everything; a two-touch path splits
    ``first : last`` (50/50 with the defaults). Fractions for path length ``L``:
    ``L = 1``: 1; ``L = 2``: ``first/(first+last)``, ``last/(first+last)``;
    ``L >= 3``: ``first``, ``(1-first-last)/(L-2)`` each, ``last``.

    Parameters
    ----------
    first, last
        Fractions for the first and last touch (default 0.4 and 0.4; the
        "40/20/40" rule of Google Analytics' position-based model).

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["a", "b", "c"], ["a", "c"]], conversions=[10, 10])
    >>> PositionBased(n_boot=0).fit(p).result_.table["conversions"].round(9).tolist()
    [9.0, 2.0, 9.0]
    """

    name = "position"
    label = "Position-based"

    def __init__(self, first: float = 0.4, last: float = 0.4, *, n_boot: int = 200,
                 ci: float = 0.95, seed: int | np.random.Generator | None = 0) -> None:
        super().__init__(n_boot=n_boot, ci=ci, seed=seed)
        self.first = first
        self.last = last

    def _describe(self) -> str:
        mid = 1 - self.first - self.last
        return (f"Position-based ({100 * self.first:g}/{100 * mid:g}/{100 * self.last:g})")

    def _prepare(self, paths: Paths) -> CreditFn:
        f, la = float(self.first), float(self.last)
        if f < 0 or la < 0 or f + la > 1 + 1e-12 or f + la <= 0:
            raise ValueError(f"first and last must be >= 0 with 0 < first + last <= 1, got "
                             f"first={self.first}, last={self.last}")
        L = paths.lengths[paths.touch_row].astype(float)
        pos = paths.touch_position
        is_first, is_last = pos == 0, pos == L - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            middle = (1 - f - la) / (L - 2)
        share = np.where(L == 1, 1.0,
                         np.where(L == 2, np.where(is_first, f, la) / (f + la),
                                  np.where(is_first, f, np.where(is_last, la, middle))))
        return credit_from_touch_shares(paths, share)


class TimeDecay(AttributionModel):
    """Touches closer to the conversion get more: weight ``2^(-age / half_life)``.

    ``age`` is ``end_ts - touch_ts`` in days (the conversion, or the end of the
    window for a journey that did not convert); the weights are normalized
    within each journey, so touch ``t`` of journey ``j`` gets
    ``w_t / sum_{s in j} w_s`` of its conversion and value. This is the
    exponential-decay rule of Google Analytics' time-decay model (7-day
    half-life by default) and of Kannan et al. (2016, Table 2).

    Parameters
    ----------
    half_life_days
        Half-life in days: a touch that many days older gets half the weight.
    touch_gap_days
        Aggregated paths carry no times. Without this option such paths raise
        :class:`AttributionInputError`; with it, the touches of every path are
        *assumed* equally spaced this many days apart, the last one at the end
        (age ``(L - 1 - position) * touch_gap_days``). When given it also
        overrides real touch times.

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["email", "sms"]], conversions=[3],
    ...                          ages_days=[[7.0, 0.0]])
    >>> TimeDecay(n_boot=0).fit(p).result_.table["conversions"].tolist()
    [1.0, 2.0]
    """

    name = "time_decay"
    label = "Time decay"

    def __init__(self, half_life_days: float = 7.0, touch_gap_days: float | None = None, *,
                 n_boot: int = 200, ci: float = 0.95,
                 seed: int | np.random.Generator | None = 0) -> None:
        super().__init__(n_boot=n_boot, ci=ci, seed=seed)
        self.half_life_days = half_life_days
        self.touch_gap_days = touch_gap_days

    def _describe(self) -> str:
        gap = (f", touches assumed {self.touch_gap_days:g} days apart"
               if self.touch_gap_days is not None else "")
        return f"Time decay (half-life {self.half_life_days:g} days{gap})"

    def _prepare(self, paths: Paths) -> CreditFn:
        if not self.half_life_days > 0:
            raise ValueError(f"half_life_days must be > 0, got {self.half_life_days!r}")
        if self.touch_gap_days is not None:
            if not self.touch_gap_days >= 0:
                raise ValueError(f"touch_gap_days must be >= 0, got {self.touch_gap_days!r}")
            age = (paths.lengths[paths.touch_row] - 1 - paths.touch_position) \
                * float(self.touch_gap_days)
        elif paths.ages_days is not None:
            age = paths.ages_days
        else:
            raise AttributionInputError(
                "time_decay needs touch times: these paths are aggregated and have none. Build "
                "them with paths_from_journeys(..., keep_times=True), or pass touch_gap_days=D "
                "to assume touches D days apart")
        # relative to the most recent touch of the path: same normalized weights, no underflow
        youngest = np.minimum.reduceat(age, paths.offsets[:-1])
        w = np.exp2(-(age - youngest[paths.touch_row]) / float(self.half_life_days))
        share = w / np.add.reduceat(w, paths.offsets[:-1])[paths.touch_row]
        return credit_from_touch_shares(paths, share)
