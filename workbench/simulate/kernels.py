"""Compiled row loops of the simulator (numba; the numpy versions when it is absent).

The events table holds tens of millions of rows at a million customers; drawing
them with numpy took a dozen passes over per-row temporaries.  Here it is one
compiled loop writing straight into the table's column buffers.  The other loops
do what several numpy passes (and their temporaries) did elsewhere: categorical
draws from rows of a CDF table, Arrow string and timestamp buffers, frequency-cap
counts, reachability, a customer's next organic order, public ids and basket
products.  A loop does the same arithmetic, in the same order, as the numpy code
it stands in for (no transcendental functions: numpy keeps those), so the tables
are identical to the bit (tests/test_segment_rule.py pins their digest;
tests/test_simulate_internals.py compares a store made both ways).

numba comes with PyTensor (a dependency); its compiled loops are cached on disk
(``NUMBA_CACHE_DIR``), like those of :mod:`workbench.clv.kernels`.
"""

from __future__ import annotations

import functools

import numpy as np


def _session_events_src(checkout, u, s_t, s_cust, s_views, s_basket, s_order, s_cat,
                        s_public, order_t, horizon, s_gap, s_checks, cat_first, cat_size,
                        b_start, b_end, item_product, item_qty, price, t0_us, us_per_day, offset,
                        out_session, out_cust, out_ts, out_name, out_prod, out_qty,
                        out_price):  # pragma: no cover - compiled by numba
    # the rows of the sessions whose columns (gathered, in publishing order) are s_*,
    # written from ``offset`` on; returns the offset past the last.
    # A session's rows: its views, then one row per basket item for each phase it
    # reached (viewed, added, checkout, purchase); rows at or after the horizon are
    # dropped.  Same arithmetic as the numpy version (tables._events).
    at = offset
    ui = 0
    for s in range(s_t.shape[0]):
        t_start = s_t[s]
        gap = s_gap[s]
        views = s_views[s]
        sid = s_public[s]
        cust = s_cust[s] + 1
        for k in range(views):
            c = s_cat[s]
            n_c = cat_size[c]
            p = cat_first[c] + min(np.int64(u[ui] * n_c), n_c - 1)
            ui += 1
            t = t_start + k * gap
            # the view, and for the first s_checks views a size or stock check of the
            # product half a view later (event code 4)
            for r in range(2 if k < s_checks[s] else 1):
                tr = t if r == 0 else t + 0.5 * gap
                if tr < horizon:
                    out_session[at] = sid
                    out_cust[at] = cust
                    out_ts[at] = t0_us + np.int64(np.rint(tr * us_per_day))
                    out_name[at] = 4 * r
                    out_prod[at] = p + 1
                    out_qty[at] = 1
                    out_price[at] = price[p]
                    at += 1
        b = s_basket[s]
        if b < 0:
            continue
        bs = b_end[b] - b_start[b]
        o = s_order[s]
        purchased = o >= 0 and order_t[o] < horizon
        n_phase = 2 + (1 if purchased or checkout[s] else 0) + (1 if purchased else 0)
        for j in range(bs * n_phase):
            phase = j // bs
            pos = b_start[b] + j % bs
            t = t_start + (views + j) * gap
            if phase == 3:
                t = max(order_t[o], t)
            if t < horizon:
                p = item_product[pos]
                out_session[at] = sid
                out_cust[at] = cust
                out_ts[at] = t0_us + np.int64(np.rint(t * us_per_day))
                out_name[at] = phase
                out_prod[at] = p + 1
                out_qty[at] = item_qty[pos] if phase >= 1 else 1
                out_price[at] = price[p]
                at += 1
    return at


def _categorical_rows_src(cum_probs, rows, u):  # pragma: no cover - compiled by numba
    # categorical(cum_probs[rows], u) without gathering the rows' CDFs first
    k = cum_probs.shape[1]
    out = np.empty(rows.shape[0], dtype=np.int64)
    for i in range(rows.shape[0]):
        r = rows[i]
        c = 0
        for j in range(k):
            if cum_probs[r, j] < u[i]:
                c += 1
        out[i] = min(c, k - 1)
    return out


def _string_take_src(name_bytes, name_offsets, codes, null):  # pragma: no cover - compiled
    # Arrow string buffers (int32 offsets, data) of names[codes], empty where ``null``
    # (``null`` empty: no nulls); None if the data would pass int32 offsets
    n = codes.shape[0]
    any_null = null.shape[0] > 0
    size = 0
    for i in range(n):
        if not (any_null and null[i]):
            size += name_offsets[codes[i] + 1] - name_offsets[codes[i]]
    if size > 2**31 - 1:
        return None
    offsets = np.empty(n + 1, dtype=np.int32)
    data = np.empty(size, dtype=np.uint8)
    at = 0
    for i in range(n):
        offsets[i] = at
        if not (any_null and null[i]):
            c = codes[i]
            for b in range(name_offsets[c], name_offsets[c + 1]):
                data[at] = name_bytes[b]
                at += 1
    offsets[n] = at
    return offsets, data


def _micros_src(t, t0_us, us_per_day, out, finite):  # pragma: no cover - compiled by numba
    # microseconds since the epoch of the finite times ``t`` (0 and not finite elsewhere)
    for i in range(t.shape[0]):
        x = t[i]
        if np.isfinite(x):
            out[i] = t0_us + np.int64(np.rint(x * us_per_day))
            finite[i] = True
        else:
            out[i] = 0
            finite[i] = False


def _count_shared_src(keys, scratch):  # pragma: no cover - compiled by numba
    # whether each row's key is also another row's (``scratch`` zeroed, left zeroed)
    n = keys.shape[0]
    for i in range(n):
        scratch[keys[i]] += 1
    shared = np.empty(n, dtype=np.bool_)
    for i in range(n):
        shared[i] = scratch[keys[i]] > 1
    for i in range(n):
        scratch[keys[i]] = 0
    return shared


def _add_at_src(a, idx, value):  # pragma: no cover - compiled by numba
    # np.add.at(a, idx, value) for a 1-D ``a`` and a scalar ``value``
    for i in range(idx.shape[0]):
        a[idx[i]] += value


def _reachable_src(opted_in, unsubscribed_at, signup_t, ch, cust,
                   t):  # pragma: no cover - compiled by numba
    # Messaging.reachable: opted in, not unsubscribed by t, signed up (ch, t broadcast)
    out = np.empty(cust.shape[0], dtype=np.bool_)
    for i in range(cust.shape[0]):
        c, k = cust[i], ch[i]
        out[i] = opted_in[k, c] and unsubscribed_at[k, c] > t[i] and signup_t[c] <= t[i]
    return out


def _first_at_or_after_src(sorted_key, block_start, block, key):  # pragma: no cover
    # np.searchsorted(sorted_key, key) for keys known to fall in block ``block`` of the
    # sorted keys (rows block_start[b] .. block_start[b + 1]); -1 past the block's end
    out = np.empty(key.shape[0], dtype=np.int64)
    for i in range(key.shape[0]):
        lo, hi = block_start[block[i]], block_start[block[i] + 1]
        j = lo + np.searchsorted(sorted_key[lo:hi], key[i])
        out[i] = j if j < hi else -1
    return out


def _public_ids_src(ids, mapping):  # pragma: no cover - compiled by numba
    # mapping[ids] where ids >= 0, else -1 (tables._public)
    out = np.empty(ids.shape[0], dtype=np.int64)
    for i in range(ids.shape[0]):
        out[i] = mapping[ids[i]] if ids[i] >= 0 else -1
    return out


def _trigger_ids_src(kind, trigger, s_public, o_public):  # pragma: no cover - compiled
    # public id of each message's trigger (tables._trigger_ids): a session's (kind 0),
    # an order's (kind 1), -1 for none
    out = np.empty(kind.shape[0], dtype=np.int64)
    for i in range(kind.shape[0]):
        if kind[i] == 0:
            out[i] = s_public[trigger[i]]
        elif kind[i] == 1:
            out[i] = o_public[trigger[i]]
        else:
            out[i] = -1
    return out


def _scatter_src(out, dest, x):  # pragma: no cover - compiled by numba
    # out[dest] = x (BatchedColumns.build): a plain loop, without fancy indexing's checks;
    # 2.5x quicker where dest runs in blocks, as a day's batch of ledger rows does
    for i in range(x.shape[0]):
        out[dest[i]] = x[i]


def _nearest_price_src(cat, target, price_key, cat_first, cat_size, price,
                       max_qty):  # pragma: no cover - compiled by numba
    # Baskets.make: the product of category cat whose price is nearest target, and the
    # units (1 .. max_qty) that bring the line closest to it
    prod = np.empty(cat.shape[0], dtype=np.int64)
    qty = np.empty(cat.shape[0], dtype=np.int64)
    for i in range(cat.shape[0]):
        c = cat[i]
        key = c * 1e7 + target[i]
        lo = cat_first[c]
        hi = lo + cat_size[c] - 1
        pos = min(max(np.searchsorted(price_key, key), lo), hi)
        prev = min(max(pos - 1, lo), hi)
        p = prev if abs(price_key[prev] - key) < abs(price_key[pos] - key) else pos
        prod[i] = p
        qty[i] = np.int64(min(max(np.rint(target[i] / price[p]), 1.0), max_qty))
    return prod, qty


def _pick_product_src(cat, target, u, price_key, cw, price, tol,
                      max_qty):  # pragma: no cover - compiled by numba
    # Baskets.pick, one line at a time: for each units q the band of the category's
    # price-sorted products whose q units come within tol of the line's value, one of them
    # by popularity weight (inverse CDF at u over the bands' cumulated weights); -1 where
    # no band has one.  The same arithmetic in the same order as
    # the numpy version (sums and cumulative sums left to right, as numpy's on a few values)
    n_q = np.int64(max_qty)
    prod = np.empty(cat.shape[0], dtype=np.int64)
    qty = np.empty(cat.shape[0], dtype=np.int64)
    los = np.empty(n_q, dtype=np.int64)
    his = np.empty(n_q, dtype=np.int64)
    w = np.empty(n_q)
    for i in range(cat.shape[0]):
        c = cat[i]
        t = target[i]
        base = c * 1e7
        total = 0.0
        for k in range(n_q):
            q = k + 1
            p_lo = max(t * (1 - tol) / q, t / (q + 0.5))
            p_hi = min(t * (1 + tol) / q, t / (q - 0.5)) if q > 1 else t * (1 + tol)
            lo = np.searchsorted(price_key, base + p_lo, side="left")
            hi = max(np.searchsorted(price_key, base + p_hi, side="right"), lo)
            los[k] = lo
            his[k] = hi
            w[k] = cw[hi] - cw[lo]
            total = w[k] if k == 0 else total + w[k]
        if total > 0:
            x = u[i] * total
            band = 0
            cum = 0.0
            for k in range(n_q):
                cum = w[k] if k == 0 else cum + w[k]
                if x >= cum:
                    band += 1
            band = min(band, n_q - 1)
            cum_b = w[0]
            for k in range(1, band + 1):
                cum_b = cum_b + w[k]
            rest = x - (cum_b - w[band])
            lo, hi = los[band], his[band]
            p = min(max(np.searchsorted(cw, cw[lo] + rest, side="right") - 1, lo), hi - 1)
        else:  # no band: -1, the caller takes the product nearest in price
            prod[i], qty[i] = -1, 0
            continue
        prod[i] = p
        qty[i] = np.int64(min(max(np.rint(t / price[p]), 1.0), max_qty))
    return prod, qty


@functools.cache
def compiled():
    """The numba versions of the loops (cached on disk), or None without numba."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba comes with PyTensor
        return None
    jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
    return {"session_events": jit(_session_events_src),
            "categorical_rows": jit(_categorical_rows_src),
            "string_take": jit(_string_take_src),
            "micros": jit(_micros_src),
            "count_shared": jit(_count_shared_src),
            "add_at": jit(_add_at_src),
            "reachable": jit(_reachable_src),
            "first_at_or_after": jit(_first_at_or_after_src),
            "public_ids": jit(_public_ids_src),
            "trigger_ids": jit(_trigger_ids_src),
            "nearest_price": jit(_nearest_price_src),
            "pick_product": jit(_pick_product_src),
            "scatter": jit(_scatter_src)}
