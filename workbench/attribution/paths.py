"""Customer paths: the one input every attribution model consumes.

Two ways in, one object out:

* :func:`read_paths` reads **aggregated paths**, the format of R's
  ``ChannelAttribution`` (Altomare & Loris): one row per path such as
  ``"email > sms > direct"`` with ``total_conversions``,
  ``total_conversion_value`` and ``total_null`` (journeys on that path that did
  not convert).
* :func:`paths_from_journeys` reads **touch-level journeys** (one row per touch,
  with timestamps) and keeps each touch's age at the journey's end, which the
  time-decay model needs.

Both return :class:`Paths`: paths as integer channel codes in a flat array with
row offsets (CSR layout), the counts per row, and the channel names.

Conventions that change numbers, and where they are set:

* ``collapse_repeats`` (default ``False``, as ``ChannelAttribution``): whether
  consecutive identical touches (``email > email > sms``) count once. It changes
  the touch-based rules (linear, position-based, time-decay) and Markov chains of
  order >= 2; it cannot change first touch, last click, Shapley (channel sets)
  or the first-order Markov chain (self-loops do not change absorption
  probabilities).
* Rows need not be unique: every model is additive over rows, so two rows with
  the same path count as one row with the summed counts
  (:meth:`Paths.aggregate` merges them).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported where a frame comes in or goes out: a CSV is read
    import pandas as pd  # and attributed without it (the command line's start, issue 15)

__all__ = ["AttributionInputError", "Paths", "paths_from_journeys"]


class AttributionInputError(ValueError):
    """Bad attribution input; the message names the column and the rows."""


def _rows(mask: np.ndarray, index=None, k: int = 5) -> str:
    """``'rows 3, 7, 9 (and 4 more)'`` for the first ``k`` True positions of ``mask``."""
    pos = np.flatnonzero(mask)
    labels = list(pos[:k] if index is None else index[pos[:k]])
    labels = [x.item() if hasattr(x, "item") else x for x in labels]
    more = f" (and {len(pos) - k} more)" if len(pos) > k else ""
    word = "row" if len(pos) == 1 else "rows"
    return f"{word} {', '.join(map(str, labels))}{more}"


#: Arrow's fixed-width numeric types by name, and their numpy dtypes (see :func:`_numpy`)
_FIXED = {f"{k}{b}": np.dtype(f"{k[0] if k != 'uint' else 'u'}{b // 8}")
          for k, bits in (("int", (8, 16, 32, 64)), ("uint", (8, 16, 32, 64)),
                          ("float", (32, 64))) for b in bits}
_FIXED.update(float=np.dtype("f4"), double=np.dtype("f8"))  # Arrow's names for float32/64


def _numpy(arr) -> np.ndarray:
    """An Arrow numeric array (or chunked array) without nulls as numpy, from its buffer.

    pyarrow's own ``to_numpy()`` imports pandas on first use (its conversion caches
    pandas' types), a quarter of a second the command line would pay for a CSV of
    numbers (issue 15); a fixed-width array without nulls is a view of its data buffer
    instead.  Anything else (nulls, other types) goes through ``to_numpy()``.
    """
    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    dtype = _FIXED.get(str(arr.type))
    if dtype is None or arr.null_count:
        return arr.to_numpy(zero_copy_only=False)
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr),
                         offset=arr.offset * dtype.itemsize)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class Paths:
    """Customer paths as integer channel codes with their outcomes.

    Path ``i`` is ``channels[codes[offsets[i]:offsets[i + 1]]]``, observed
    ``conversions[i]`` times converting (worth ``value[i]`` in total) and
    ``nulls[i]`` times not converting.  ``ages_days``, when present, is aligned
    with ``codes``: the age of each touch at the end of its journey
    (``end_ts - touch_ts`` in days), which the time-decay model needs.

    Build it with :func:`read_paths`, :func:`paths_from_journeys` or
    :meth:`from_sequences`; the constructor checks shapes and ranges.

    Examples
    --------
    >>> p = Paths.from_sequences([["email", "sms"], ["sms"]], conversions=[1, 0],
    ...                          value=[30.0, 0.0], nulls=[2, 5])
    >>> p.n_paths, p.channels, p.total_conversions
    (2, ('email', 'sms'), 1.0)
    >>> p.to_frame()["path"].tolist()
    ['email > sms', 'sms']
    """

    channels: tuple[str, ...]
    codes: np.ndarray
    offsets: np.ndarray
    conversions: np.ndarray
    value: np.ndarray
    nulls: np.ndarray
    ages_days: np.ndarray | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "channels", tuple(str(c) for c in self.channels))
        set_(self, "codes", _readonly(np.asarray(self.codes, dtype=np.int32)))
        set_(self, "offsets", _readonly(np.asarray(self.offsets, dtype=np.int64)))
        for name in ("conversions", "value", "nulls"):
            set_(self, name, _readonly(np.asarray(getattr(self, name), dtype=np.float64)))
        if self.ages_days is not None:
            set_(self, "ages_days", _readonly(np.asarray(self.ages_days, dtype=np.float64)))
        n = len(self.offsets) - 1
        if n < 1 or self.offsets[0] != 0 or self.offsets[-1] != len(self.codes):
            raise AttributionInputError("Paths: offsets must start at 0 and end at len(codes), "
                                        "with at least one path")
        if np.any(np.diff(self.offsets) < 1):
            raise AttributionInputError(
                f"Paths: empty path at {_rows(np.diff(self.offsets) < 1)}")
        if len(set(self.channels)) != len(self.channels):
            raise AttributionInputError("Paths: channel names must be unique")
        if len(self.codes) and (self.codes.min() < 0 or self.codes.max() >= len(self.channels)):
            raise AttributionInputError("Paths: a channel code is outside 0..n_channels-1")
        for name in ("conversions", "value", "nulls"):
            a = getattr(self, name)
            if a.shape != (n,):
                raise AttributionInputError(f"Paths: {name} must have one entry per path ({n})")
            if not np.all(np.isfinite(a)):
                raise AttributionInputError(f"Paths: {name} is missing or infinite at "
                                            f"{_rows(~np.isfinite(a))}")
            if np.any(a < 0):
                raise AttributionInputError(f"Paths: {name} is negative at {_rows(a < 0)}")
        if self.ages_days is not None:
            if self.ages_days.shape != self.codes.shape:
                raise AttributionInputError("Paths: ages_days must align with codes")
            if not np.all(np.isfinite(self.ages_days)) or np.any(self.ages_days < 0):
                raise AttributionInputError("Paths: ages_days must be finite and >= 0")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[str]], conversions: Sequence[float],
                       value: Sequence[float] | None = None, nulls: Sequence[float] | None = None,
                       ages_days: Sequence[Sequence[float]] | None = None) -> Paths:
        """Paths from Python lists of channel names (small data, tests, examples).

        Counts are checked like :func:`read_paths` checks a file.
        """
        seqs = [list(map(str, s)) for s in sequences]
        n = len(seqs)
        bad = [i for i, s in enumerate(seqs) if not s or any(not c.strip() for c in s)]
        if bad:
            raise AttributionInputError(f"column 'path': empty path or touch at "
                                        f"{_rows(np.isin(np.arange(n), bad))}")
        counts = {"total_conversions": list(conversions),
                  "total_conversion_value": list(value) if value is not None else [0.0] * n,
                  "total_null": list(nulls) if nulls is not None else [0.0] * n}
        arrays = {col: _numeric(col, np.asarray(v, dtype=object), None)
                  for col, v in counts.items()}
        _check_counts(arrays, "total_conversions", "total_conversion_value", "total_null")
        channels = tuple(sorted({c for s in seqs for c in s}))
        lookup = {c: i for i, c in enumerate(channels)}
        codes = np.fromiter((lookup[c] for s in seqs for c in s), dtype=np.int32)
        offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
        ages = None
        if ages_days is not None:
            ages = np.concatenate([np.asarray(a, dtype=float) for a in ages_days])
        return cls(channels, codes, offsets, arrays["total_conversions"],
                   arrays["total_conversion_value"], arrays["total_null"], ages)

    # ------------------------------------------------------------------ derived
    @property
    def n_paths(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def n_touches(self) -> int:
        return len(self.codes)

    @property
    def total_conversions(self) -> float:
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        return float(self.value.sum())

    @property
    def total_nulls(self) -> float:
        return float(self.nulls.sum())

    @property
    def has_times(self) -> bool:
        return self.ages_days is not None

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @cached_property
    def touch_row(self) -> np.ndarray:
        """Row (path) index of every touch (32-bit while the paths fit)."""
        dtype = np.int32 if self.n_paths < 2**31 else np.int64
        return np.repeat(np.arange(self.n_paths, dtype=dtype), self.lengths)

    @cached_property
    def touch_position(self) -> np.ndarray:
        """0-based position of every touch inside its path."""
        return np.arange(self.n_touches) - self.offsets[self.touch_row]

    def path_strings(self, sep: str = " > ") -> list[str]:
        names = np.asarray(self.channels, dtype=object)[self.codes]
        return [sep.join(names[a:b]) for a, b in itertools.pairwise(self.offsets)]

    def to_frame(self, sep: str = " > ") -> pd.DataFrame:
        """The aggregated-path table (``ChannelAttribution`` column names)."""
        import pandas as pd

        return pd.DataFrame({"path": self.path_strings(sep),
                             "total_conversions": self.conversions,
                             "total_conversion_value": self.value,
                             "total_null": self.nulls})

    # ------------------------------------------------------------------ transforms
    def collapse_repeats(self) -> Paths:
        """Consecutive identical touches count once (``a > a > b`` → ``a > b``).

        The kept touch of a run is its last (most recent) one, so a time-decay
        weight uses the latest of the repeated touches.
        """
        nxt_same = np.zeros(self.n_touches, dtype=bool)
        nxt_same[:-1] = self.codes[:-1] == self.codes[1:]
        nxt_same[self.offsets[1:] - 1] = False  # the last touch of a row is always kept
        keep = ~nxt_same
        new_len = np.bincount(self.touch_row[keep], minlength=self.n_paths)
        offsets = np.concatenate([[0], np.cumsum(new_len)])
        ages = None if self.ages_days is None else self.ages_days[keep]
        return Paths(self.channels, self.codes[keep], offsets, self.conversions, self.value,
                     self.nulls, ages)

    def aggregate(self) -> Paths:
        """Merge rows with the same channel sequence (drops touch times).

        Every model gives the same credit before and after, except time-decay,
        which needs the times this drops.
        """
        first, inv = self._group_identical()
        order = np.argsort(first, kind="stable")  # keep first-seen order
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        grp = rank[inv]
        k = len(order)
        rows = first[order]
        lengths = self.lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        idx = _ranges(self.offsets[rows], lengths)
        return Paths(self.channels, self.codes[idx], offsets,
                     np.bincount(grp, self.conversions, minlength=k),
                     np.bincount(grp, self.value, minlength=k),
                     np.bincount(grp, self.nulls, minlength=k))

    def _group_identical(self) -> tuple[np.ndarray, np.ndarray]:
        """Group rows with identical sequences: (first row of each group, group of each row).

        A 64-bit polynomial hash of (length, codes) groups the rows in one sort;
        every row is then compared touch by touch with its group's first row, so
        a hash collision cannot merge different paths (it falls back to an exact
        sort of padded rows).
        """
        mult = np.uint64(0x9E3779B97F4A7C15)
        pos = self.touch_position.astype(np.uint64)
        # mult^pos by repeated squaring, wrapping mod 2^64
        powers = np.ones(self.n_touches, dtype=np.uint64)
        base, e = np.full(self.n_touches, mult), pos.copy()
        with np.errstate(over="ignore"):
            while e.any():
                odd = (e & np.uint64(1)).astype(bool)
                powers[odd] *= base[odd]
                base *= base
                e >>= np.uint64(1)
            terms = (self.codes.astype(np.uint64) + np.uint64(1)) * powers
            h = np.add.reduceat(terms, self.offsets[:-1]) \
                + self.lengths.astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
        _, first, inv = np.unique(h, return_index=True, return_inverse=True)
        inv = inv.ravel()
        rep = first[inv]  # first row with the same hash
        same = self.lengths[rep] == self.lengths
        if same.all():
            rep_touch = self.offsets[rep][self.touch_row] + self.touch_position
            same = np.bitwise_and.reduceat(self.codes[rep_touch] == self.codes,
                                           self.offsets[:-1]).astype(bool)
        if same.all():
            return first, inv
        width = int(self.lengths.max())  # collision: exact but slower
        mat = np.full((self.n_paths, width + 1), -1, dtype=np.int32)
        mat[:, 0] = self.lengths
        mat[self.touch_row, self.touch_position + 1] = self.codes
        _, first, inv = np.unique(mat, axis=0, return_index=True, return_inverse=True)
        return first, inv.ravel()

    @classmethod
    def concat(cls, parts: Sequence[Paths]) -> Paths:
        """The paths of ``parts`` one after the other, their channels merged (sorted).

        For journeys read in batches (``journey_batches`` of the attribution analysis).
        >>> a = Paths.from_sequences([["sms", "email"]], conversions=[1], nulls=[0])
        >>> b = Paths.from_sequences([["direct"]], conversions=[1], nulls=[2])
        >>> Paths.concat([a, b]).path_strings(), Paths.concat([a, b]).channels
        (['sms > email', 'direct'], ('direct', 'email', 'sms'))
        """
        names = sorted({c for p in parts for c in p.channels})
        code = {c: i for i, c in enumerate(names)}
        codes = [np.array([code[c] for c in p.channels], dtype=np.int32)[p.codes] for p in parts]
        ages = [p.ages_days for p in parts]
        return cls(tuple(names), np.concatenate(codes),
                   np.concatenate([[0], np.cumsum(np.concatenate([p.lengths for p in parts]))]),
                   *(np.concatenate([getattr(p, a) for p in parts])
                     for a in ("conversions", "value", "nulls")),
                   None if any(a is None for a in ages) else np.concatenate(ages))

    def drop_unused_channels(self) -> Paths:
        """Recode so that every listed channel appears on some path."""
        used = np.unique(self.codes)
        if len(used) == self.n_channels:
            return self
        remap = np.full(self.n_channels, -1, dtype=np.int32)
        remap[used] = np.arange(len(used))
        return Paths(tuple(self.channels[i] for i in used), remap[self.codes], self.offsets,
                     self.conversions, self.value, self.nulls, self.ages_days)

    def __repr__(self) -> str:
        return (f"Paths({self.n_paths:,} paths, {self.n_channels} channels, "
                f"{self.total_conversions:,.0f} conversions, {self.total_nulls:,.0f} nulls, "
                f"value {self.total_value:,.2f}{', with touch times' if self.has_times else ''})")


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for every pair, vectorized."""
    total = int(lengths.sum())
    step = np.ones(total, dtype=np.int64)
    heads = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    step[heads] = starts - np.concatenate([[0], (starts + lengths - 1)[:-1]])
    step[0] = starts[0]
    return np.cumsum(step)


# ---------------------------------------------------------------------------- aggregated paths
def _numeric(col: str, raw, index) -> np.ndarray:
    """One count column as floats, refusing a non-numeric or missing value by name.

    The message names the column and the rows (``index``: the rows' labels, positions
    when None).  ``raw``: a pandas Series (a DataFrame's column), an Arrow array (a CSV's
    column) or a numpy object array (Python lists).
    """
    if hasattr(raw, "null_count"):  # Arrow: typed by the reader; text means a non-number
        import pyarrow as pa
        import pyarrow.compute as pc

        if pa.types.is_integer(raw.type) or pa.types.is_floating(raw.type) or (
                pa.types.is_null(raw.type)):
            if raw.null_count:
                miss = np.asarray(pc.is_null(raw), dtype=bool)
                raise AttributionInputError(f"column {col!r}: missing value at "
                                            f"{_rows(miss, index)}")
            return _numpy(raw).astype(float)
        raw = raw.to_pandas()  # text among the counts: pandas finds which rows
    elif isinstance(raw, np.ndarray):  # Python lists: numbers, or pandas finds which not
        try:
            arr = raw.astype(float)
        except (TypeError, ValueError):
            pass
        else:
            if np.isnan(arr).any():
                raise AttributionInputError(f"column {col!r}: missing value at "
                                            f"{_rows(np.isnan(arr), index)}")
            return arr
    import pandas as pd

    raw = pd.Series(raw) if not isinstance(raw, pd.Series) else raw
    num = pd.to_numeric(raw, errors="coerce")
    bad = (num.isna() & raw.notna()).to_numpy()
    if bad.any():
        ex = raw[bad].iloc[0]
        raise AttributionInputError(f"column {col!r}: non-numeric value at "
                                    f"{_rows(bad, index)} (e.g. {ex!r})")
    miss = raw.isna().to_numpy()
    if miss.any():
        raise AttributionInputError(f"column {col!r}: missing value at {_rows(miss, index)}")
    return num.to_numpy(dtype=float)


def _check_counts(arrays: dict[str, np.ndarray], conv_col: str, value_col: str | None,
                  null_col: str | None, index=None) -> None:
    """Finite, non-negative counts; no all-zero row; something to attribute.

    ``arrays``: each given count column as floats (:func:`_numeric`); ``index``: the rows'
    labels for the messages (positions when None).
    """
    for col in (c for c in (conv_col, value_col, null_col) if c is not None):
        arr = arrays[col]
        if not np.all(np.isfinite(arr)):
            raise AttributionInputError(
                f"column {col!r}: infinite value at {_rows(~np.isfinite(arr), index)}")
        if np.any(arr < 0):
            raise AttributionInputError(f"column {col!r}: negative value at "
                                        f"{_rows(arr < 0, index)}")
    conv = arrays[conv_col]
    nulls = arrays[null_col] if null_col is not None else np.zeros(len(conv))
    zero = (conv == 0) & (nulls == 0)
    if zero.any():
        cols = f"{conv_col!r} and {null_col!r}" if null_col is not None else repr(conv_col)
        raise AttributionInputError(f"columns {cols}: every count is zero at "
                                    f"{_rows(zero, index)}: a path nobody took")
    if value_col is not None:
        orphan = (conv == 0) & (arrays[value_col] > 0)
        if orphan.any():
            raise AttributionInputError(f"column {value_col!r}: value without a conversion "
                                        f"({conv_col!r} is 0) at {_rows(orphan, index)}")
    if conv.sum() <= 0:
        raise AttributionInputError(f"column {conv_col!r}: no row has a conversion — nothing to "
                                    "attribute")


# ---------------------------------------------------------------------------- journeys
JOURNEY_COLUMNS = ("journey_id", "touch_index", "channel", "touch_ts", "end_ts", "converted",
                   "value")


def paths_from_journeys(journeys: pd.DataFrame, *, collapse_repeats: bool = False,
                        keep_times: bool = True, require_conversion: bool = True) -> Paths:
    """Touch-level journeys → :class:`Paths`.

    Parameters
    ----------
    journeys
        One row per touch with columns ``journey_id``, ``touch_index`` (order of
        the touch inside its journey, unique per journey), ``channel`` (label),
        ``touch_ts`` and ``end_ts`` (UTC timestamps: the touch, and the
        conversion or the end of the observation window), ``converted`` (bool)
        and ``value`` (revenue of the conversion; 0 when not converted).
        ``end_ts``, ``converted`` and ``value`` are per journey and must be the
        same on all its rows.
    collapse_repeats
        Count consecutive identical touches once; see :meth:`Paths.collapse_repeats`.
    keep_times
        ``True`` (default): one row per journey with each touch's age
        ``(end_ts - touch_ts)`` in days, so :class:`~workbench.attribution.TimeDecay`
        can use real times. ``False``: journeys with the same channel sequence
        are merged into one row (smaller, no times).
    require_conversion
        Refuse journeys none of which converted (default); a batch of a larger set
        (:meth:`Paths.concat`) may have none.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.Timestamp("2024-01-10", tz="UTC")
    >>> j = pd.DataFrame({"journey_id": [1, 1, 2], "touch_index": [0, 1, 0],
    ...                   "channel": ["email", "sms", "sms"],
    ...                   "touch_ts": [t - pd.Timedelta(days=7), t, t],
    ...                   "end_ts": [t, t, t], "converted": [True, True, False],
    ...                   "value": [50.0, 50.0, 0.0]})
    >>> p = paths_from_journeys(j)
    >>> p.path_strings(), p.ages_days.tolist()
    (['email > sms', 'sms'], [7.0, 0.0, 0.0])
    """
    missing = [c for c in JOURNEY_COLUMNS if c not in journeys.columns]
    if missing:
        raise AttributionInputError(f"journeys: missing column(s) {missing}; the data has "
                                    f"{list(map(str, journeys.columns))}")
    if len(journeys) == 0:
        raise AttributionInputError("journeys: no rows: nothing to attribute")
    import pandas as pd

    df = journeys[list(JOURNEY_COLUMNS)].reset_index(drop=True)
    for col in ("journey_id", "touch_index", "channel", "touch_ts", "end_ts", "converted"):
        miss = df[col].isna().to_numpy()
        if miss.any():
            raise AttributionInputError(f"journeys: column {col!r} is missing at "
                                        f"{_rows(miss, journeys.index)}")
    for col in ("touch_ts", "end_ts"):
        if not pd.api.types.is_datetime64_any_dtype(df[col]):
            raise AttributionInputError(f"journeys: column {col!r} must be timestamps "
                                        f"(UTC), not {df[col].dtype}")
    chan = df["channel"].astype("string").str.strip()
    blank = (chan == "").to_numpy(dtype=bool)
    if blank.any():
        raise AttributionInputError(f"journeys: column 'channel' is empty at "
                                    f"{_rows(blank, journeys.index)}")
    value = pd.to_numeric(df["value"], errors="coerce").to_numpy(float)
    if not pd.api.types.is_bool_dtype(df["converted"]):
        flag = pd.to_numeric(df["converted"], errors="coerce")
        bad = ~flag.isin([0, 1]).to_numpy(dtype=bool)
        if bad.any():
            raise AttributionInputError(f"journeys: column 'converted' must be True/False (or "
                                        f"1/0) at {_rows(bad, journeys.index)}")
    conv = df["converted"].astype(bool).to_numpy()
    try:
        age = ((df["end_ts"] - df["touch_ts"]) / pd.Timedelta(days=1)).to_numpy(float)
    except TypeError as exc:
        raise AttributionInputError(f"journeys: touch_ts and end_ts cannot be subtracted "
                                    f"({exc}); give both as UTC timestamps") from exc
    jid, _ = pd.factorize(df["journey_id"])

    def per_journey_bad(col: str, values: np.ndarray | pd.Series) -> None:
        s = pd.Series(values)
        n_distinct = s.groupby(jid).nunique(dropna=False).to_numpy()
        bad = n_distinct[jid] > 1
        if bad.any():
            ids = pd.unique(df["journey_id"][bad])[:5].tolist()
            raise AttributionInputError(f"journeys: column {col!r} differs between the touches "
                                        f"of journey(s) {ids}; it must be one value per journey")

    per_journey_bad("end_ts", df["end_ts"].to_numpy())
    per_journey_bad("converted", conv)
    per_journey_bad("value", value)
    if np.any(~np.isfinite(value) & conv):
        raise AttributionInputError(f"journeys: column 'value' is missing or non-numeric at "
                                    f"{_rows(~np.isfinite(value) & conv, journeys.index)}")
    value = np.where(np.isfinite(value), value, 0.0)
    if np.any(value < 0):
        raise AttributionInputError(f"journeys: column 'value' is negative at "
                                    f"{_rows(value < 0, journeys.index)}")
    if np.any(~conv & (value > 0)):
        raise AttributionInputError(f"journeys: column 'value' is positive on a journey that did "
                                    f"not convert at {_rows(~conv & (value > 0), journeys.index)}")
    if np.any(age < 0):
        raise AttributionInputError(f"journeys: touch_ts is after end_ts at "
                                    f"{_rows(age < 0, journeys.index)}")
    order = np.lexsort((df["touch_index"].to_numpy(), jid))
    jid_s = jid[order]
    idx_s = df["touch_index"].to_numpy()[order]
    dup = np.zeros(len(df), dtype=bool)
    dup[1:] = (jid_s[1:] == jid_s[:-1]) & (idx_s[1:] == idx_s[:-1])
    if dup.any():
        ids = pd.unique(df["journey_id"].to_numpy()[order][dup])[:5].tolist()
        raise AttributionInputError(f"journeys: touch_index repeats within journey(s) {ids}")
    names, ch_codes = np.unique(chan.to_numpy(dtype=object)[order].astype(str),
                                return_inverse=True)
    n_j = int(jid.max()) + 1
    lengths = np.bincount(jid_s, minlength=n_j)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    first = offsets[:-1]
    j_conv = conv[order][first].astype(float)
    j_value = value[order][first]
    if require_conversion and j_conv.sum() <= 0:
        raise AttributionInputError("journeys: no journey converted — nothing to attribute")
    paths = Paths(tuple(names), ch_codes.astype(np.int32), offsets, j_conv, j_value,
                  1.0 - j_conv, age[order])
    if collapse_repeats:
        paths = paths.collapse_repeats()
    return paths if keep_times else paths.aggregate()
