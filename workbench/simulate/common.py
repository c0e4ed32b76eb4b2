"""Shared by every part of the simulator: time units, stream ids, key strides, helpers.

Time units, keyed-uniform stream ids, the strides that pack keys, campaign and
channel codes, and small vectorized array helpers.

All time inside the simulator is float days since ``config.start_date`` (UTC).
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
import pyarrow as pa
from scipy import special

from ..vocab import CAMPAIGNS, CHANNELS
from . import kernels

HOUR = 1.0 / 24.0
MINUTE = HOUR / 60.0
EVENT_GAP = 0.75 * MINUTE  # time between events inside a session

#: a campaign's code is its position in :data:`workbench.vocab.CAMPAIGNS`
CAMPAIGN_CODE: dict[str, int] = {name: code for code, name in enumerate(CAMPAIGNS)}
EMAIL = CHANNELS.index("email")

# Integer keys that pack (customer, campaign) or (customer, channel) into one number.
# The stride is max(8, number of campaigns) and max(2, number of channels): 8 and 2 for
# today's 5 campaigns and 2 channels, so every key (and every keyed uniform drawn from it)
# is what it always was, and any number of campaigns or channels gets distinct keys.
CAMPAIGN_KEY_STRIDE = max(8, len(CAMPAIGNS))
CHANNEL_KEY_STRIDE = max(2, len(CHANNELS))

# keyed-uniform streams (never reuse a number for two purposes)
(U_ASSIGN, U_ARM, U_DELIVER, U_OPEN, U_OPEN_T, U_CLICK, U_CLICK_T, U_PERSUADE, U_VIA,
 U_UNSUB, U_UNSUB_T, U_MACHINE_T, U_CAUSED_T, U_BASKET, U_PRODUCTS, U_SEAS_ARM,
 U_RESP, U_HOLDOUT, U_SEAS_ASSIGN) = range(100, 119)
U_PRODUCT_PICK = U_PRODUCTS + 50  # which product of a recommended category
U_CART_DISC = 180  # a cart's randomized discount level (a number no other stream uses)
U_HABIT, U_HABIT_T = 181, 182  # whether a human open is habitual, and its hour's deviation
U_CLICK_CATEGORY = U_PRODUCTS + 7  # category of a click session without products
U_CLICK_VIEWS = U_PRODUCTS + 9  # views of a click session
# U_BASKET + 1: the shown product a caused order starts from; U_BASKET + 2 + j: the
# j-th basket uniform of a caused order.  These numbers overlap U_PRODUCTS ..
# U_SEAS_ASSIGN and U_CLICK_CATEGORY / U_CLICK_VIEWS; the keys hashed with them differ
# (caused-order keys are tagged, see messaging.CAUSED_ORDER_TAG), and renumbering
# would change every simulated dataset, so they are kept.


def sigmoid(x):
    """Logistic function."""
    return special.expit(x)


def group_rank(keys: np.ndarray, order_by: np.ndarray,
               scratch: np.ndarray | None = None) -> np.ndarray:
    """0-based rank of each row within its key group, ordered by ``order_by`` (ties: row order).

    ``scratch``, a zeroed integer array longer than the largest key (keys then
    must be >= 0, and it is left zeroed), lets the rows alone in their group skip
    the sort: most of a day's messages are the customer's only one on the channel.
    """
    n = keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if scratch is not None:
        k = kernels.compiled()
        if k is not None:
            shared = np.flatnonzero(k["count_shared"](keys, scratch))
        else:
            np.add.at(scratch, keys, 1)
            shared = np.flatnonzero(scratch[keys] > 1)
            scratch[keys] = 0
        rank = np.zeros(n, dtype=np.int64)
        if shared.size:  # a group's rows keep their relative order in the subset
            rank[shared] = group_rank(keys[shared], order_by[shared])
        return rank
    idx = np.lexsort((order_by, keys))
    k = keys[idx]
    start = np.r_[True, k[1:] != k[:-1]]
    pos = np.arange(n)
    first = np.maximum.accumulate(np.where(start, pos, 0))
    rank = np.empty(n, dtype=np.int64)
    rank[idx] = pos - first
    return rank


def add_at(a: np.ndarray, idx: np.ndarray, value: int) -> None:
    """``np.add.at(a, idx, value)`` for a 1-D ``a`` and a scalar ``value`` (compiled)."""
    k = kernels.compiled()
    if k is not None:
        k["add_at"](a, idx, value)
    else:
        np.add.at(a, idx, value)


def categorical(cum_probs: np.ndarray, u: np.ndarray,
                rows: np.ndarray | None = None) -> np.ndarray:
    """Row-wise inverse-CDF draw: ``cum_probs`` is (n, k), ``u`` is (n,).

    With ``rows``, the draw of row ``i`` uses ``cum_probs[rows[i]]`` (as
    ``categorical(cum_probs[rows], u)`` does, without gathering those rows).
    """
    if rows is not None:
        k = kernels.compiled()
        if k is not None:
            return k["categorical_rows"](cum_probs, rows, u)
        cum_probs = cum_probs[rows]
    return np.minimum((cum_probs < u[:, None]).sum(axis=1), cum_probs.shape[1] - 1)


def labels(names, codes: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Arrow strings ``names[codes]`` (null where ``null``), without Python string objects."""
    k = kernels.compiled()
    if k is not None:  # one compiled loop writing the string buffers (an Arrow take is slower)
        encoded = [str(x).encode() for x in names]
        buffers = k["string_take"](
            np.frombuffer(b"".join(encoded), dtype=np.uint8),
            np.r_[0, np.cumsum([len(b) for b in encoded], dtype=np.int64)].astype(np.int64),
            np.asarray(codes), np.zeros(0, bool) if null is None else np.asarray(null, bool))
        if buffers is not None:
            offsets, data = buffers
            bitmap = None if null is None else pa.py_buffer(np.packbits(~np.asarray(null, bool),
                                                                        bitorder="little"))
            return pa.Array.from_buffers(pa.string(), offsets.size - 1, [
                bitmap, pa.py_buffer(offsets), pa.py_buffer(data)],
                null_count=0 if null is None else -1)
    if null is not None:
        codes = np.where(null, 0, codes)
    return pa.array(list(names), pa.string()).take(pa.array(codes, mask=null))


def stable_argsort(x: np.ndarray, return_sorted: bool = False):
    """``np.argsort(x, kind="stable")``, quicker: an unstable sort, then ties by position.

    numpy's stable sort of 64-bit keys is a merge sort; its default sort is about
    twice as quick, and only the rows with equal keys (rare for float times) need
    putting back in their original order.  ``return_sorted``: also return
    ``x[order]`` (which the tie check gathers anyway).
    """
    order = np.argsort(x)
    v = x[order]
    tie = v[1:] == v[:-1]
    if v.dtype.kind == "f":
        tie |= np.isnan(v[1:]) & np.isnan(v[:-1])
    if tie.any():
        member = np.r_[tie, False] | np.r_[False, tie]  # in a run of equal keys
        pos = np.flatnonzero(member)
        run = np.cumsum(np.r_[True, ~tie][member])  # which run each member is in
        order[pos] = order[pos][np.lexsort((order[pos], run))]
    return (order, v) if return_sorted else order


def release_free_heap() -> None:
    """Hand the C heap's free pages back to the operating system (glibc; else a no-op).

    numpy's temporaries of up to 32 MB come from the C heap, which keeps their
    pages after they are freed (about 1 GiB by the end of a million-customer
    table assembly); :func:`~workbench.simulate.engine.simulate` gives them back
    before it builds the events table on top of everything else.
    """
    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # not glibc
        pass


def order_money(gross: np.ndarray, disc_pct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Discount amount and revenue of orders (rounded to cents, as published)."""
    disc_amt = np.round(gross * disc_pct / 100.0, 2)
    return disc_amt, np.round(gross - disc_amt, 2)


def customer_rows(ids, n_customers: int) -> tuple[np.ndarray, np.ndarray]:
    """The simulator's customer index of each public customer id (text, ``1..N``).

    Returns ``(rows, keep)``: the 0-based index of the ids that name a customer of this
    store and, per id in order, whether it does (a config made for another store may name
    others; those are left out).
    """
    ids = list(ids)
    num = np.array([int(k) if str(k).isdigit() else 0 for k in ids], dtype=np.int64)
    keep = (num >= 1) & (num <= n_customers)
    return num[keep] - 1, keep


def hour_of_day(t: np.ndarray) -> np.ndarray:
    """Hour of the day (0-24) of times in days."""
    return (t % 1.0) * 24.0


def circular_hour_distance(h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    """Distance in hours between two hours of the day, around the clock."""
    d = np.abs(h1 - h2) % 24.0
    return np.minimum(d, 24.0 - d)


class GrowingArray:
    """An append-only array with amortized doubling (views are cheap).

    Capacity past the values appended is allocated but never written, so the
    operating system does not back it with memory.
    """

    def __init__(self, dtype):
        self.a = np.zeros(1024, dtype=dtype)
        self.n = 0

    def extend(self, x: np.ndarray) -> None:
        """Append ``x``."""
        need = self.n + x.size
        if need > self.a.size:
            new = np.zeros(max(need, 2 * self.a.size), dtype=self.a.dtype)
            new[: self.n] = self.a[: self.n]
            self.a = new
        self.a[self.n:need] = x
        self.n = need

    @property
    def v(self) -> np.ndarray:
        """The values appended so far (a view)."""
        return self.a[: self.n]


def _batch(names: list[str], cols: dict) -> tuple[int, list[tuple[str, np.ndarray]]]:
    """One batch's row count and its columns as arrays, in ``names`` order.

    Scalars broadcast to the batch's size; columns of different lengths are an error.
    """
    sizes = {np.asarray(v).size for v in cols.values() if np.ndim(v) > 0}
    size = sizes.pop() if sizes else 1
    if sizes:
        raise ValueError("ragged batch")
    return size, [(name, np.full(size, cols[name]) if np.ndim(cols[name]) == 0
                   else np.asarray(cols[name])) for name in names]


class ColumnBatches:
    """Grow a table by batches of rows; each column is a :class:`GrowingArray`.

    A column takes the dtype concatenating its batches would give it (it is
    promoted if a later batch needs a wider one), so :meth:`build` returns views:
    the table is never held twice, and no batch is left behind in small pieces.
    """

    def __init__(self, names: list[str], defaults: dict | None = None):
        self.names = names
        self.defaults = defaults or {}  # the value of a column a batch does not give
        self.columns: dict[str, GrowingArray] = {}
        self.n = 0

    def add(self, **cols) -> np.ndarray:
        """Append one batch of rows (scalars broadcast); return the new rows' ids."""
        size, arrays = _batch(self.names, {**self.defaults, **cols})
        for name, x in arrays:
            col = self.columns.get(name)
            if col is None:
                col = self.columns[name] = GrowingArray(x.dtype)
            elif (dt := np.result_type(col.a.dtype, x.dtype)) != col.a.dtype:
                col.a = col.a.astype(dt)
            col.extend(x)
        ids = np.arange(self.n, self.n + size)
        self.n += size
        return ids

    def build(self) -> dict[str, np.ndarray]:
        """The columns so far (views: writing to them writes to the ledger)."""
        return {n: self.columns[n].v if n in self.columns else np.zeros(0, dtype=np.int64)
                for n in self.names}


class BatchedColumns:
    """A table written batch by batch and read once at the end (the message ledger).

    Unlike :class:`ColumnBatches`, which keeps each column contiguous as it grows
    (copying it whenever it doubles), the batches are kept as they come and each
    column is written once, by :meth:`build`, into the row order its reader wants,
    its batches freed as it goes: the table is held twice only one column at a
    time.  Columns take the dtype concatenating their batches gives, as in
    :class:`ColumnBatches`.
    """

    def __init__(self, names: list[str]):
        self.names = names
        self.batches: dict[str, list[np.ndarray]] = {name: [] for name in names}
        self.n = 0

    def add(self, **cols) -> np.ndarray:
        """Append one batch of rows (scalars broadcast); return the new rows' ids."""
        size, arrays = _batch(self.names, cols)
        for name, x in arrays:
            if x.base is not None and x.base.nbytes > 2 * x.nbytes:
                x = x.copy()  # a view would keep the larger array it views alive
            self.batches[name].append(x)
        ids = np.arange(self.n, self.n + size)
        self.n += size
        return ids

    def column(self, name: str) -> np.ndarray:
        """One column, its batches joined (they are kept)."""
        parts = self.batches[name]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def build(self, dest: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every column, row ``i`` at row ``dest[i]`` (default: in order).

        Each column is written straight into its final order (joining the batches
        first and reordering after would write every column twice); the ledger is
        left empty.
        """
        out = {}
        for name in self.names:
            parts = self.batches[name]
            if not parts:
                out[name] = np.zeros(0, dtype=np.int64)
                continue
            col = np.empty(self.n, dtype=np.result_type(*parts))
            start = 0
            k = kernels.compiled()
            for part in parts:
                if dest is None:
                    col[start:start + part.size] = part
                elif k is not None and part.dtype == col.dtype:
                    k["scatter"](col, dest[start:start + part.size], part)
                else:
                    col[dest[start:start + part.size]] = part
                start += part.size
            parts.clear()
            out[name] = col
        self.batches = {name: [] for name in self.names}
        self.n = 0
        return out


def product_lists(M: dict, values: np.ndarray) -> pa.ListArray:
    """A list column of ``values`` (the message-product ledger) over each message's products.

    ``M`` holds each message's ``prod_start`` and ``prod_len`` in that ledger.
    """
    lens = M["prod_len"].astype(np.int64)
    starts = M["prod_start"].astype(np.int64)
    idx = np.repeat(starts, lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens,
                                                                       lens))
    offsets = np.r_[0, np.cumsum(lens)].astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values[idx]))
