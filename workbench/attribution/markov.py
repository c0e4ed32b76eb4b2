"""Markov-chain attribution with removal effects, solved exactly.

The model (Anderl, Becker, von Wangenheim & Schumann 2016, "Mapping the customer
journey: Lessons learned from graph-based online attribution modeling", IJRM
33(3), 457–474, section 3): journeys are walks on a graph whose states are
channels (order ``k``: the last ``k`` channels), from a ``start`` state to one of
two absorbing states, ``conversion`` and ``null``. Transition probabilities are
the observed transition counts normalized per state (the maximum-likelihood
estimate). The *removal effect* of channel ``c`` (Anderl et al., eq. 4) is

    RE(c) = 1 - P(conversion | c removed) / P(conversion)

where removing ``c`` sends every transition into a state that contains ``c`` to
``null``. Conversions are credited in proportion to removal effects::

    credit(c) = RE(c) / sum_d RE(d) * total conversions

Absorption probabilities are computed exactly, not simulated: with ``Q`` the
transient-to-transient block of the transition matrix and ``r`` the
transient-to-conversion column, the vector ``x`` of conversion probabilities
solves ``(I - Q) x = r``, i.e. ``x = N r`` with the fundamental matrix
``N = (I - Q)^-1`` (Kemeny & Snell 1960, *Finite Markov Chains*, Thm. 3.3.7).
Removing ``c`` zeroes the rows and columns of ``Q`` and entries of ``r`` of the
states that contain ``c``.

Value (revenue) follows ``ChannelAttribution``'s ``var_value``: a conversion is
worth the mean value of the conversions observed leaving the same state, so the
expected value of a journey solves the same system with
``r_v(s) = value ending at s / transitions out of s``. The value removal effects
``RE_v(c)`` are computed like ``RE(c)`` and value is credited by
``RE_v(c) / sum_d RE_v(d) * total value`` (``value_method="chain"``). The
alternative ``value_method="conversion_share"`` credits value with the
conversion removal effects. (Checked against ``ChannelAttribution`` 2.2.5's
simulation with a large ``max_step``: same removal effects to simulation
error. Its default ``max_step`` — the longest observed path — cuts simulated
walks short and biases removal effects of channels on cycles.)

Conventions that change numbers (parameters):

* ``order`` k: a state is the tuple of the last ``min(j, k)`` channels after
  the ``j``-th touch (``states="prefix"``, default), so a journey ``a > b > c``
  of order 2 walks ``start → (a) → (a,b) → (b,c)``. ``states="window"`` keeps
  only full windows of ``k`` touches (``start → (a,b) → (b,c)``; a path shorter
  than ``k`` is one state), as ``ChannelAttribution`` does. At ``k = 1`` they
  are the same.
* Self-transitions (``email > email``) are dropped: they never change an
  absorption probability. Hence the first-order chain gives the same credit
  with or without ``collapse_repeats``.
* A channel that lies on no converting path *can* get credit: the first-order
  chain forgets history, so ``a → b`` seen on a non-converting path and
  ``b → conversion`` seen elsewhere make ``a`` a route to conversion. This is
  the model, not an error.
* ``null`` transitions come from the ``total_null`` counts; without them the
  chain converts with probability 1 and a removal effect is the share of
  probability mass that passes through ``c``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from ..threads import one_blas_thread
from .base import AttributionModel, CreditFn, _Columns
from .gram import weighted_gram
from .paths import AttributionInputError, Paths

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MarkovChain", "removal_effects"]

DIRECT_KEYS = 2**22  # key spaces up to this size are indexed directly instead of sorted
#: chains up to this many states (start included) are solved as one batch of dense inverses
#: (:meth:`_Chain._absorb_dense`); larger ones by sparse LU or GMRES per system (:func:`_solve`)
BATCH_LIMIT = 400
LU_LIMIT = 4000  # transient states up to which the systems are solved by sparse LU
#: journeys from which the bootstrap draws the chain's statistics from their normal
#: limit instead of resampling journeys (see :meth:`MarkovChain._bootstrap`)
NORMAL_BOOT_MIN = 100_000
#: ... as long as the statistics the data feed are at most this many (their covariance
#: is dense, 200 MB at 5,000, and factored once: 2,484 at order 2 on 1M paths take
#: ~3 s); more resample journeys
NORMAL_BOOT_MAX_STATS = 5_000
#: entries per chunk of the bootstrap's cross terms (:meth:`_Chain.stat_moments`)
CROSS_CHUNK = 2_000_000


def _solve(A, b: np.ndarray) -> np.ndarray:
    """Solve ``A x = b`` for the absorbing-chain system ``A = I - Q``.

    For chains above :data:`BATCH_LIMIT` states. Up to ``LU_LIMIT`` states: sparse LU
    (SuperLU), exact to rounding. Above ``LU_LIMIT``
    (order >= 4 on rich data) the LU fill-in explodes (22,546 states: 100 M
    factor entries, 6 minutes), so GMRES solves the same system to a relative
    residual of 1e-13 (measured difference from the LU solution: 2e-14); LU
    remains the fallback if it does not converge.
    """
    import scipy.sparse.linalg as spla

    n = A.shape[0]
    if n > LU_LIMIT:
        x = np.empty_like(b)
        ok = True
        for j in range(b.shape[1]):
            if not b[:, j].any():
                x[:, j] = 0.0
                continue
            x[:, j], info = spla.gmres(A, b[:, j], rtol=1e-13, atol=0.0, restart=50,
                                       maxiter=5000)
            ok &= info == 0
        if ok:
            return x
    return spla.splu(A.tocsc(), permc_spec="MMD_AT_PLUS_A").solve(b)


def _batch_inverse(A: np.ndarray) -> np.ndarray:
    """``np.linalg.inv`` of a stack of matrices, its halves on two threads.

    LAPACK releases the GIL, and each thread's BLAS is the caller's (one thread): 200
    inverses of 157 x 157 took 0.08-0.11 s against 0.14 s on one.
    """
    if len(A) < 64:
        return np.linalg.inv(A)
    half = len(A) // 2
    with ThreadPoolExecutor(1) as pool:
        top = pool.submit(np.linalg.inv, A[:half])
        bottom = np.linalg.inv(A[half:])
        return np.concatenate([top.result(), bottom])


class _Chain:
    """The state graph of one set of paths, fixed; the counts vary (bootstrap).

    States ``0..S-1`` are channel states, ``S`` is ``start``. Transitions
    between channel states are kept as integer pair ids per touch, so the
    counts for any row weights are one ``bincount``.
    """

    def __init__(self, paths: Paths, order: int, states: str) -> None:
        if not isinstance(order, int | np.integer) or isinstance(order, bool) or order < 1:
            raise ValueError(f"order must be an integer >= 1, got {order!r}")
        if states not in ("prefix", "window"):
            raise ValueError(f"states must be 'prefix' or 'window', got {states!r}")
        k = int(order)
        n_ch = paths.n_channels
        base = n_ch + 1
        keyspace = base**k
        # keys (and a first-order state's pair ids) in 32 bits while they fit: half the
        # memory traffic over ten million touches
        wide = keyspace >= 2**31 or (k == 1 and n_ch * n_ch >= 2**31)
        codes = paths.codes.astype(np.int64) if wide else paths.codes.astype(np.int32,
                                                                              copy=False)
        if states == "prefix" or k == 1:
            keep = None
        else:
            pos = paths.touch_position
            length = paths.lengths[paths.touch_row]
            keep = (pos >= k - 1) | ((length < k) & (pos == length - 1))
        if k == 1:  # the channel is the state
            sid, state_hist = codes, np.arange(n_ch)[:, None]
        elif keyspace < 2**62:
            # key = sum_m (channel m touches back + 1) * base^m, 0 where the path had not begun
            key = codes + 1
            starts, lengths = paths.offsets[:-1], paths.lengths
            for m in range(1, k):
                back = np.zeros_like(key)
                back[m:] = codes[:-m] + 1
                for i in range(m):  # the first m touches of a path have no m-th predecessor
                    back[starts[lengths > i] + i] = 0
                back *= base**m
                key += back
                del back
            if keep is not None:
                key = key[keep]
            if keyspace <= DIRECT_KEYS:  # index the key space directly, no sort
                # (a flag per key, not a bincount: that casts the keys to 64 bits first)
                present = np.zeros(keyspace, dtype=bool)
                present[key] = True
                sid = (np.cumsum(present) - 1).astype(np.int32)[key]  # 32 bits: half the traffic
                skeys = np.flatnonzero(present)
            else:  # hash-based grouping (pandas.factorize) is far faster than a sort here
                import pandas as pd

                sid, skeys = pd.factorize(key, sort=False)
            del key
            state_hist = np.column_stack([(skeys // base**m) % base - 1 for m in range(k)])
        else:  # very high order: unique rows of the history matrix
            hist = np.full((paths.n_touches, k), -1, dtype=np.int64)
            pos = paths.touch_position
            for m in range(k):
                ok = pos >= m
                hist[ok, m] = codes[np.flatnonzero(ok) - m]
            if keep is not None:
                hist = hist[keep]
            state_hist, sid = np.unique(hist, axis=0, return_inverse=True)
        sid = sid.ravel()
        S = len(state_hist)
        trow = paths.touch_row if keep is None else paths.touch_row[keep]
        # a touch in the same state as the one before it (a run of one channel, k + 1
        # long) adds only a self-transition, which no absorption probability sees, and
        # leaves every later state as it was: dropped, the chain's statistics and their
        # moments are the same over fewer touches (a fifth fewer at order 1 here)
        rerun = np.flatnonzero((sid[1:] == sid[:-1]) & (trow[1:] == trow[:-1])) + 1
        if len(rerun):
            kept = np.ones(len(sid), dtype=bool)
            kept[rerun] = False
            sid, trow = sid[kept], trow[kept]
            del kept
            keep = True  # the tails come from the rows below
        self.state_hist = state_hist  # channel codes of each state, most recent first
        self.contains = np.zeros((S, n_ch), dtype=bool)
        for m in range(k):
            ok = state_hist[:, m] >= 0
            self.contains[np.flatnonzero(ok), state_hist[ok, m]] = True
        #: per channel, the states that contain it (removed with it)
        self.removed = [np.flatnonzero(col) for col in self.contains.T]
        if keep is None:
            tails = paths.offsets[1:] - 1  # one per row, in row order
        else:
            is_tail = np.ones(len(sid), dtype=bool)
            is_tail[:-1] = trow[:-1] != trow[1:]
            tails = np.flatnonzero(is_tail)
            del is_tail
        heads = np.concatenate([[0], tails[:-1] + 1])
        self.head_state, self.tail_state = sid[heads], sid[tails]
        # the transition out of touch j goes to touch j + 1, except at a path's end
        dead = S * S
        if S * S + 1 >= 2**31:
            sid = sid.astype(np.int64)
        pair = sid[:-1] * S + sid[1:]
        pair[tails[:-1]] = dead
        self.touch_rows = trow  # each (kept) touch's path
        self.inner_row = trow[:-1]
        self.tails = tails
        if S * S < DIRECT_KEYS:
            self.pair_id = pair
            upair = np.arange(S * S + 1)
        else:
            import pandas as pd

            self.pair_id, upair = pd.factorize(pair, sort=False)
        self.pair_from, self.pair_to = upair // S, upair % S
        # self-transitions never change an absorption probability: dropped, with the dead bin
        self.drop = (self.pair_from == self.pair_to) | (upair == dead)
        self.pair_from[upair == dead] = 0
        self.n_states, self.n_pairs, self.n_channels = S, len(upair), n_ch
        # statistics the journeys can feed: observed transitions, then start, conversion,
        # null and value per state
        seen = np.zeros(self.n_pairs, dtype=bool)
        seen[self.pair_id] = True
        self.n_observed = int((seen & ~self.drop).sum()) + 4 * S

    def counts(self, conv: np.ndarray, nulls: np.ndarray):
        """Transition counts: channel pairs, from start, into conversion, into null."""
        tot = conv + nulls
        pc = np.bincount(self.pair_id, tot[self.inner_row], minlength=self.n_pairs)
        pc[self.drop] = 0.0
        S = self.n_states
        return (pc, np.bincount(self.head_state, tot, minlength=S),
                np.bincount(self.tail_state, conv, minlength=S),
                np.bincount(self.tail_state, nulls, minlength=S))

    def statistics(self, conv: np.ndarray, value: np.ndarray, nulls: np.ndarray):
        """The sufficient statistics ``(pc, st, cv, nl, vv)`` of one set of journey counts.

        The last set's are kept: the fit, the bootstrap's moments and the summary all ask
        for those of the data itself (the same, read-only arrays).
        """
        last = getattr(self, "_last", None)
        if last is not None and all(a is b for a, b in zip(last[0], (conv, value, nulls),
                                                              strict=True)):
            return last[1]
        out = (*self.counts(conv, nulls),
               np.bincount(self.tail_state, value, minlength=self.n_states))
        self._last = ((conv, value, nulls), out)
        return out

    def stat_moments(self, conv: np.ndarray, value: np.ndarray, nulls: np.ndarray):
        """Which statistics the data feed, and their mean and covariance under the bootstrap.

        The statistics — transition counts between states, from start, into conversion
        and null, and the value into conversion, stacked as ``[pc, st, cv, nl, vv]`` —
        are linear in the journey counts: ``x = G k``, with ``k`` the multinomial draw
        over the cells (path, converted) and (path, null) of the journey bootstrap
        (:mod:`workbench.attribution.base`).  So ``E x = N G p`` and
        ``Cov x = N (G diag(p) G' - G p p' G')`` exactly (``N`` journeys, ``p`` the
        cell shares): one pass over the paths (:func:`.gram.weighted_gram`), however many
        replicates follow.  Returned for the statistics with a positive mean only (their index into
        the stacked vector of length ``n_pairs + 4 n_states``); the others are 0 in every
        replicate.
        """
        S, P = self.n_states, self.n_pairs
        total = conv.sum() + nulls.sum()
        n = max(round(total), 1)
        a, b = conv / total, nulls / total
        with np.errstate(divide="ignore", invalid="ignore"):
            per_conv = np.where(conv > 0, value / conv, 0.0)
        x = np.concatenate(self.statistics(conv, value, nulls))  # = total * G p
        seen = np.flatnonzero(x > 0)
        m = x[seen] / total
        D = len(seen)
        E = D + 1  # one more bin for the dropped transitions, discarded at the end
        compact = np.full(P + 4 * S, D, dtype=np.int32)
        compact[seen] = np.arange(D)
        # u: one entry per touch, its transition out (into the junk bin if dropped), and
        # the path's start in the slot of its last touch (which has no transition out)
        junk = np.append(self.drop[self.pair_id], False)
        junk[self.tails] = False
        col = np.append(self.pair_id, 0)
        col[self.tails] = P + self.head_state
        col = compact[col]
        col[junk] = D
        row = self.touch_rows
        # cross terms: what a path's u adds against its tail's conversion, value and null
        # statistics, summed per (bin, tail state) and then placed in their columns; on a
        # second thread (bincount releases the GIL) while this one counts the pairs
        # (0.16 s of a 1.0 s bootstrap at order 2 on 1M paths, hidden)
        tail_of = self.tail_state

        def cross_terms() -> np.ndarray:
            cross = np.zeros((3, E * S))
            weights = (a, a * per_conv, b)
            for k in range(0, len(col), CROSS_CHUNK):  # by chunks: no 10M-entry temporaries
                rk = row[k:k + CROSS_CHUNK]
                key = col[k:k + CROSS_CHUNK] * np.int64(S) + tail_of[rk]
                for c, w in zip(cross, weights, strict=True):
                    c += np.bincount(key, w[rk], minlength=E * S)
            return cross

        # sum over cells of p g g' with g = u + v: u u' once for both cells, then the
        # cross and own terms of the few entries only one cell has
        # whole counts, as a rule: the pairs are then summed exactly (the gram checks that
        # they fit 32 bits; the bound here only keeps the cast to integers safe)
        journeys = conv + nulls
        whole = bool(np.all(journeys == np.round(journeys)) and journeys.max(initial=0) < 2**31)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(cross_terms)
            second = weighted_gram(col, np.concatenate([[0], self.tails + 1]),
                                   journeys.astype(np.int64) if whole else journeys, E)
            cross = pending.result()
        second *= 1.0 / total
        into_conv, value_in, into_null = (compact[P + k * S + np.arange(S)] for k in (1, 3, 2))
        for c, to in zip(cross, (into_conv, value_in, into_null), strict=True):
            c = c.reshape(E, S)
            second[:, to] += c  # (an unseen statistic's column is the junk bin, dropped)
            second[to, :] += c.T
        # own terms: a path's conversion, value and null statistics against themselves;
        # they depend on the path only through its tail state and its weights
        tail = self.tail_state
        ic, vi, nl = into_conv, value_in, into_null
        for i, j, w in ((ic, ic, a), (vi, vi, a * per_conv**2), (ic, vi, a * per_conv),
                        (vi, ic, a * per_conv), (nl, nl, b)):
            np.add.at(second, (i, j), np.bincount(tail, w, minlength=S))
        second = second[:D, :D]
        for k in range(0, D, 512):  # second - m m', by blocks of rows: no D x D temporary
            second[k:k + 512] -= np.outer(m[k:k + 512], m)
        second *= n
        return seen, n * m, second

    def effects(self, pc, st, cv, nl, vv) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Removal effects (conversions, value) and the full chain's absorption.

        Each statistic is one vector (one set of counts) or a stack of them, one row per
        bootstrap replicate; the results then have one row per replicate.
        """
        one = np.ndim(cv) == 1
        pc, st, cv, nl, vv = (np.atleast_2d(np.asarray(x, dtype=float))
                              for x in (pc, st, cv, nl, vv))
        if self.n_states + 1 <= BATCH_LIMIT:
            res = self._absorb_dense(pc, st, cv, nl, vv)
        else:
            res = np.stack([self._absorb_sparse(*self._system(*x))
                            for x in zip(pc, st, cv, nl, vv, strict=True)])
        base = res[:, :1]
        with np.errstate(divide="ignore", invalid="ignore"):
            re = 1.0 - res[:, 1:] / base
        re = np.where(np.isfinite(re), np.clip(re, 0.0, 1.0), 0.0)
        base = res[:, 0]
        if one:
            return re[0, :, 0], re[0, :, 1], base[0]
        return re[..., 0], re[..., 1], base

    def removal_effects(self, conv, value, nulls) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.effects(*self.statistics(conv, value, nulls))

    def _transitions(self, pc, cv, nl):
        """Observed pairs kept (``from``, ``to``), their probabilities and ``1 / out-flow``."""
        S = self.n_states
        used = np.flatnonzero((pc > 0).any(axis=0))
        frm, to = self.pair_from[used], self.pair_to[used]
        flow = np.zeros((len(pc), S))
        for b in range(len(pc)):  # a few hundred bincounts over the observed pairs
            flow[b] = np.bincount(frm, pc[b, used], minlength=S)
        flow += cv + nl
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_out = np.where(flow > 0, 1.0 / flow, 0.0)
        return frm, to, pc[:, used] * inv_out[:, frm], inv_out

    def _absorb_dense(self, pc, st, cv, nl, vv) -> np.ndarray:
        """Absorption from start, full chain and each channel removed, for a batch of counts.

        One dense inverse ``M = (I - Q)^-1`` per replicate (Kemeny & Snell 1960, Thm.
        3.3.7) gives every removal: removing channel ``c`` keeps the states ``K`` without
        it, and the inverse of the principal block is the Schur complement of the
        inverse, ``(A_KK)^-1 = M_KK - M_KR M_RR^-1 M_RK`` (Horn & Johnson 2013, *Matrix
        Analysis*, 0.7.3), so with ``y = M r`` the removed chain absorbs from start

            x_c = y_s - M_sR M_RR^-1 y_R

        — a solve of the size of the removed states ``R`` (one state at order 1), not of
        the chain.  Returns ``(B, n_channels + 1, 2)``: conversion and value columns.
        """
        B, S = len(pc), self.n_states
        n = S + 1
        frm, to, prob, inv_out = self._transitions(pc, cv, nl)
        A = np.zeros((B, n * n))
        A[:, frm * n + to] = -prob
        tot = st.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            A[:, S * n:S * n + S] = -np.where(tot > 0, st / tot, 0.0)
        A = A.reshape(B, n, n)
        A[:, np.arange(n), np.arange(n)] += 1.0
        r = np.zeros((B, n, 2))
        r[:, :S, 0] = cv * inv_out
        r[:, :S, 1] = vv * inv_out
        out = np.full((B, self.n_channels + 1, 2), np.nan)
        with one_blas_thread():
            try:
                M = _batch_inverse(A)
                ok = np.arange(B)
            except np.linalg.LinAlgError:  # a replicate whose chain cannot be absorbed
                ok = np.array([b for b in range(B) if np.linalg.matrix_rank(A[b]) == n],
                              dtype=int)
                M = np.linalg.inv(A[ok]) if len(ok) else np.zeros((0, n, n))
            y = M @ r[ok]
            out[ok, 0] = y[:, S]
            for c, R in enumerate(self.removed):
                z = np.linalg.solve(M[:, R[:, None], R[None, :]], y[:, R])
                out[ok, c + 1] = y[:, S] - np.einsum("bi,bij->bj", M[:, S, R], z)
        return out

    def _system(self, pc, st, cv, nl, vv):
        """``Q`` (sparse) over channel states and start, ``r`` (conversion, value) columns."""
        import scipy.sparse as sp

        S = self.n_states
        frm, to, prob, inv_out = self._transitions(pc[None], cv[None], nl[None])
        ps = st / st.sum()
        s_nz = ps > 0
        nz = prob[0] > 0
        rows = np.concatenate([frm[nz], np.full(int(s_nz.sum()), S)])
        cols = np.concatenate([to[nz], np.flatnonzero(s_nz)])
        Q = sp.csr_matrix((np.concatenate([prob[0][nz], ps[s_nz]]), (rows, cols)),
                          shape=(S + 1, S + 1))
        r = np.zeros((S + 1, 2))
        r[:S, 0] = cv * inv_out[0]
        r[:S, 1] = vv * inv_out[0]
        return Q, r

    def _absorb_sparse(self, Q, r: np.ndarray) -> np.ndarray:
        """:meth:`_absorb_dense` for one large chain, each removal solved by sparse LU/GMRES.

        The rows and columns of the removed states are zeroed: entering them means null.
        """
        import scipy.sparse as sp

        n_t, S = Q.shape[0], self.n_states
        out = np.zeros((self.n_channels + 1, 2))
        eye = sp.identity(n_t, format="csr")
        for i in range(self.n_channels + 1):
            keep = np.ones(n_t)
            if i:
                keep[self.removed[i - 1]] = 0.0
            D = sp.diags(keep)
            out[i] = _solve(eye - D @ Q @ D, r * keep[:, None])[S]
        return out


def _normalize(effects: np.ndarray, total) -> np.ndarray:
    """Credit ``total`` in proportion to the effects (per row of a stack); none if all 0."""
    s = effects.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, effects / np.where(s > 0, s, 1.0) * total, 0.0)


#: up to this many statistics the draws' root is numpy's eigendecomposition (milliseconds);
#: above, a Cholesky factor of the equilibrated covariance (see :func:`_normal_draws`)
EIGH_MAX_STATS = 500
#: the diagonal loading of the equilibrated covariance before its Cholesky factor: each
#: statistic's variance is inflated by this share (its standard deviation by half of it)
LOADING = 1e-9


def _normal_draws(mean: np.ndarray, cov: np.ndarray, n: int,
                  rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from ``N(mean, cov)``, ``cov`` positive semi-definite (often singular).

    The root: for a few hundred statistics, ``V diag(sqrt(max(l, 0)))`` from the
    symmetric eigendecomposition ``cov = V diag(l) V'`` (numpy; a few milliseconds).
    For more, a Cholesky factor: ``cov`` is singular (the starts sum to the journeys),
    so it is equilibrated to unit diagonal, ``C = S^-1 cov S^-1`` with ``S`` the standard
    deviations, and loaded, ``C + LOADING I`` (Higham 2002, *Accuracy and Stability of
    Numerical Algorithms*, 10.1 and 10.3: scaling to unit diagonal is the near-optimal
    equilibration for Cholesky, and a positive-definite perturbation of this size is far
    above its rounding errors); the root ``S L`` has covariance ``cov + LOADING S^2``: each
    variance a billionth larger.  numpy's ``cholesky`` (LAPACK ``dpotrf``, blocked) took
    0.22 s for the 2,304 statistics of an order-2 chain on 1M paths, the same as scipy's
    pivoted Cholesky (``dpstrf``) without scipy's import (0.25 s); a matrix that still
    fails (a negative eigenvalue below the loading: not seen) falls back to ``dpstrf``.
    """
    if len(mean) <= EIGH_MAX_STATS:
        with one_blas_thread():  # small: BLAS threads cost more than they save
            lam, vec = np.linalg.eigh(cov)
            keep = lam > lam.max(initial=0.0) * len(lam) * np.finfo(float).eps
            root = vec[:, keep] * np.sqrt(lam[keep])
            return rng.standard_normal((n, root.shape[1])) @ root.T + mean
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    safe = np.where(sd > 0, sd, 1.0)
    C = cov / safe[:, None]
    C /= safe
    C.flat[::len(C) + 1] = np.where(sd > 0, 1.0 + LOADING, 1.0)
    try:
        root = np.linalg.cholesky(C)
        root *= sd[:, None]
    except np.linalg.LinAlgError:  # pivoted Cholesky of the singular covariance itself
        from scipy.linalg import lapack

        c, piv, rank, info = lapack.dpstrf(cov, lower=1)
        if info < 0:
            raise np.linalg.LinAlgError(f"dpstrf failed (info={info})") from None
        root = np.zeros_like(cov)
        root[piv - 1] = np.tril(c)[:, :rank] @ np.eye(rank, len(cov))
    return rng.standard_normal((n, len(mean))) @ root.T + mean


class MarkovChain(AttributionModel):
    """Markov-chain attribution of order ``k`` with exact removal effects.

    See the module docstring for the model, the linear algebra and the
    conventions (Anderl et al. 2016, eq. 4; Kemeny & Snell 1960, Thm. 3.3.7).

    Parameters
    ----------
    order
        Markov order ``k >= 1`` (states are the last ``k`` channels).
    states
        ``"prefix"`` (default) or ``"window"`` (``ChannelAttribution``'s
        higher-order states); identical at order 1.
    value_method
        ``"chain"`` (default): value removal effects from the value-weighted
        chain (``ChannelAttribution``'s ``var_value``). ``"conversion_share"``:
        value in proportion to the conversion removal effects.

    Examples
    --------
    Two channels; ``a > b`` converts 1 of 2 times, ``b`` 1 of 2. Removing ``a``
    leaves ``P = 1/2 * 1/2``; removing ``b`` leaves 0; ``P = 1/2``; so
    ``RE = (1/2, 1)`` and the 2 conversions split 2/3 : 4/3.

    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["a", "b"], ["b"]], conversions=[1, 1], nulls=[1, 1])
    >>> m = MarkovChain(n_boot=0).fit(p)
    >>> m.result_.removal_effects["removal_effect"].round(6).tolist()
    [0.5, 1.0]
    >>> m.result_.table["conversions"].round(6).tolist()
    [0.666667, 1.333333]
    """

    name = "markov"
    label = "Markov chain"

    def __init__(self, order: int = 1, states: str = "prefix", value_method: str = "chain", *,
                 n_boot: int = 200, ci: float = 0.95, boot: str = "auto",
                 seed: int | np.random.Generator | None = 0) -> None:
        super().__init__(n_boot=n_boot, ci=ci, seed=seed)
        self.order = order
        self.states = states
        self.value_method = value_method
        self.boot = boot

    def _bootstrap(self, paths: Paths, credit: CreditFn, rng: np.random.Generator):
        """The journey bootstrap, resampled (``"multinomial"``) or through the statistics.

        ``"normal"``: the chain depends on the journeys only through its sufficient
        statistics, whose bootstrap mean and covariance are exact
        (:meth:`_Chain.stat_moments`); with many journeys they are jointly normal (the
        multinomial CLT), so each replicate draws the statistics from that normal
        (negative draws of a rare count clipped at 0) and solves the small absorbing
        chain — the cost no longer grows with the paths.  ``"auto"`` (default) uses it
        from :data:`NORMAL_BOOT_MIN` journeys up, while the statistics the data feed
        number at most :data:`NORMAL_BOOT_MAX_STATS`, and resamples otherwise.
        """
        if self.boot not in ("auto", "normal", "multinomial"):
            raise ValueError(f"boot must be 'auto', 'normal' or 'multinomial', got {self.boot!r}")
        n = paths.total_conversions + paths.total_nulls
        if self.boot == "multinomial" or (self.boot == "auto" and n < NORMAL_BOOT_MIN):
            return super()._bootstrap(paths, credit, rng)
        chain = self.chain_
        if self.boot == "auto" and chain.n_observed > NORMAL_BOOT_MAX_STATS:
            return super()._bootstrap(paths, credit, rng)
        seen, mean, cov = chain.stat_moments(paths.conversions, paths.value, paths.nulls)
        draws = np.zeros((self.n_boot, chain.n_pairs + 4 * chain.n_states))
        draws[:, seen] = np.clip(_normal_draws(mean, cov, self.n_boot, rng), 0.0, None)
        P, S = chain.n_pairs, chain.n_states
        pc, st, cv, nl, vv = (draws[:, :P], draws[:, P:P + S], draws[:, P + S:P + 2 * S],
                              draws[:, P + 2 * S:P + 3 * S], draws[:, P + 3 * S:])
        re_c, re_v, _ = chain.effects(pc, st, cv, nl, vv)
        tot_c, tot_v = cv.sum(axis=1, keepdims=True), vv.sum(axis=1, keepdims=True)
        out_c = _normalize(re_c, tot_c)
        out_v = _normalize(re_v if self.value_method == "chain" else re_c, tot_v)
        none = tot_c[:, 0] <= 0  # a replicate without conversions has no credit
        out_c[none], out_v[none] = np.nan, np.nan
        return out_c, out_v

    def _describe(self) -> str:
        extra = f", {self.states} states" if self.order > 1 else ""
        return f"Markov chain (order {self.order}{extra})"

    def _prepare(self, paths: Paths) -> CreditFn:
        if self.value_method not in ("chain", "conversion_share"):
            raise ValueError(f"value_method must be 'chain' or 'conversion_share', got "
                             f"{self.value_method!r}")
        chain = _Chain(paths, self.order, self.states)
        self.chain_ = chain
        self._full = chain.removal_effects(paths.conversions, paths.value, paths.nulls)
        by_chain = self.value_method == "chain"

        def credit(conv, value, nulls):
            if conv is paths.conversions and value is paths.value and nulls is paths.nulls:
                re_c, re_v, _ = self._full  # the point estimate, computed once
            else:
                re_c, re_v, _ = chain.removal_effects(conv, value, nulls)
            total_c, total_v = conv.sum(), value.sum()
            return (_normalize(re_c, total_c),
                    _normalize(re_v if by_chain else re_c, total_v))
        return credit

    def _extras(self, paths: Paths) -> dict[str, Any]:
        re_c, re_v, base = self._full
        self.conversion_probability_ = float(base[0])
        self.expected_value_ = float(base[1])
        table = _Columns({"channel": list(paths.channels), "removal_effect": re_c,
                          "removal_effect_value": re_v})
        stats = self.chain_.statistics(paths.conversions, paths.value, paths.nulls)
        n_trans = sum(int((c > 0).sum()) for c in stats[:4])
        notes = [f"P(conversion) of the fitted chain: {base[0]:.4f}; "
                 f"{self.chain_.n_states:,} channel states, {n_trans:,} observed transitions "
                 "(self-loops dropped)."]
        return {"removal_effects": table, "notes": notes}

    def transition_matrix(self) -> pd.DataFrame:
        """Fitted transition probabilities (``from``, ``to``, ``probability``), no self-loops."""
        chain, paths = self.chain_, self.paths_
        pc, st, cv, nl, _ = chain.statistics(paths.conversions, paths.value, paths.nulls)
        S = chain.n_states
        out = np.bincount(chain.pair_from, pc, minlength=S) + cv + nl
        names = [" > ".join(paths.channels[c] for c in h[::-1] if c >= 0)
                 for h in chain.state_hist]
        frm = np.concatenate([np.full(S, S), chain.pair_from, np.arange(S), np.arange(S)])
        to = np.concatenate([np.arange(S), chain.pair_to, np.full(S, S + 1), np.full(S, S + 2)])
        cnt = np.concatenate([st, pc, cv, nl])
        tot = np.concatenate([np.full(S, st.sum()), out[chain.pair_from], out, out])
        labels = np.array([*names, "(start)", "(conversion)", "(null)"], dtype=object)
        keep = cnt > 0
        import pandas as pd

        return pd.DataFrame({"from": labels[frm[keep]], "to": labels[to[keep]],
                             "probability": cnt[keep] / tot[keep]})


def removal_effects(paths: Paths, order: int = 1, states: str = "prefix") -> pd.Series:
    """Removal effect of every channel (Anderl et al. 2016, eq. 4), exact.

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["a", "b"], ["b"]], conversions=[1, 1], nulls=[1, 1])
    >>> removal_effects(p).round(6).to_dict()
    {'a': 0.5, 'b': 1.0}
    """
    if paths.total_conversions <= 0:
        raise AttributionInputError("no conversions: nothing to attribute")
    re_c, _, _ = _Chain(paths, order, states).removal_effects(paths.conversions, paths.value,
                                                             paths.nulls)
    import pandas as pd

    return pd.Series(re_c, index=list(paths.channels), name="removal_effect")
