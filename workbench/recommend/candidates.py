"""Candidate generators: who might buy what next, each scored, before re-ranking.

* :class:`Popularity` — distinct buyers over the last ``days`` (90 by default): what an
  email platform's product feed shows everyone.
* :class:`CoPurchase` — bought in the same order ("frequently bought together").
* :class:`BoughtNext` — bought in the customer's *next* order within ``window_days``
  ("customers who bought X bought Y next"): sequential, so a camera leads to the lens
  bought a week later, not to the other cameras compared in one basket.
* :class:`ImplicitALS` — matrix factorization of the purchase matrix (implicit's ALS, Hu,
  Koren & Volinsky 2008), where it measurably helps.

The two item-to-item generators estimate, for each pair, the probability that an order
containing ``i`` is followed (in the same basket, or in the next order) by one containing
``j``: ``C_ij`` of the ``n_i`` orders with ``i`` were.  Raw ratios of a few orders are
noise, so each is the posterior mean under a beta prior centred on ``j``'s share ``q_j``
of all such orders (the share of orders, or of following orders, that contain ``j``) with
``lam`` pseudo-orders (Gelman et al., *Bayesian Data Analysis*, 3rd ed., sec. 2.4; Koren
2008, KDD, eq. 2 shrinks a neighbour similarity the same way, toward 0)::

    p(j | i) = (C_ij + lam * q_j) / (n_i + lam)

Most products are followed by too few orders for their own pairs to say much, so by
default the prior of ``i`` is not popularity but what follows ``i``'s *category* ``c``,
itself shrunk toward popularity — a two-level hierarchy (Gelman et al. 2013, sec. 5.3;
the same back-off from a specific context to a broader one as Katz 1987, IEEE TASSP
35(3))::

    p(j | c) = (C_cj + lam2 * q_j) / (N_c + lam2),   C_cj = sum_{i in c} C_ij, N_c = sum n_i
    p(j | i) = (C_ij + lam * p(j | c)) / (n_i + lam)

which is a sparse part (the pairs of ``i`` and of its category; each row keeps its
``neighbours`` largest) plus ``q_j`` times ``lam / (n_i + lam) * lam2 / (N_c + lam2)``.
``category_shrinkage=None`` drops the middle level.

A customer's score sums these over what they bought, recent purchases weighted up
(``0.5 ** (age / half_life_days)``): ``s_uj = sum_i w_ui p(j | i)``, which is the sparse
product ``W P`` plus ``q_j`` times ``c_u = sum_i w_ui`` (each ``i``'s weight on ``q``) — so
the items nobody bought after the customer's rank by popularity, and a customer with no
history gets popularity itself.  Every generator returns each customer's top ``pool``
items and scores (:meth:`Recommender.candidates`) with the items they may not get removed
first.
"""

from __future__ import annotations

import numpy as np

from .data import Catalog, Interactions, RecommendInputError

#: customers scored per sparse product (bounds memory at a few hundred MB)
CHUNK = 65_536


class Recommender:
    """fit on :class:`Interactions` and a :class:`Catalog`; candidates per customer."""

    name = "recommender"
    #: the reason a pick from this generator is shown, for the export
    reason = "recommended"

    def fit(self, data: Interactions, catalog: Catalog) -> Recommender:
        raise NotImplementedError

    def scores(self, customers: np.ndarray):
        """Customers × products scores (CSR) and each customer's weight of the prior.

        The prior is the shared popularity vector ``self.prior_`` (None: no prior).
        """
        raise NotImplementedError

    def candidates(self, customers: np.ndarray, pool: int = 50,
                   exclude=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each customer's top ``pool`` items: ``(items, scores, from_prior)``.

        Each is ``(len(customers), pool)``, padded with item -1 and score -inf.
        ``exclude``: a customers × products CSR whose nonzeros are items the customer may
        not get (already bought and not repeatable, out of stock, sent recently), rows in
        the order of ``customers``.  ``from_prior`` marks items that scored through the
        popularity prior alone (the reason "popular with our customers").
        """
        out_i = np.full((len(customers), pool), -1, dtype=np.int32)
        out_s = np.full((len(customers), pool), -np.inf)
        out_p = np.zeros((len(customers), pool), dtype=bool)
        for a in range(0, len(customers), CHUNK):
            rows = customers[a:a + CHUNK]
            R, coef = self.scores(rows)
            ex = None if exclude is None else exclude[a:a + CHUNK]
            i, s, p = _top_with_prior(R, coef, getattr(self, "prior_", None), pool, ex)
            out_i[a:a + CHUNK], out_s[a:a + CHUNK], out_p[a:a + CHUNK] = i, s, p
        return out_i, out_s, out_p


class Popularity(Recommender):
    """Distinct buyers of each product over the last ``days`` before the data's end."""

    name, reason = "popularity", "popular with our customers"

    def __init__(self, days: float = 90.0):
        self.days = days

    def fit(self, data: Interactions, catalog: Catalog) -> Popularity:
        recent = data.day > data.end - self.days
        buyers = np.zeros(data.n_products)
        pairs = np.unique(data.cust[recent].astype(np.int64) * data.n_products
                          + data.prod[recent])
        np.add.at(buyers, pairs % data.n_products, 1.0)
        self.prior_ = buyers / max(buyers.sum(), 1.0)
        self.n_products_ = data.n_products
        return self

    def scores(self, customers):
        import scipy.sparse as sp

        return sp.csr_matrix((len(customers), self.n_products_)), np.ones(len(customers))


class _ItemToItem(Recommender):
    """``p(j | i)`` shrunk toward its category's, then popularity (module doc).

    Subclasses count the pairs.  ``category_shrinkage=None`` shrinks straight toward
    popularity (one level).
    """

    def __init__(self, shrinkage: float = 20.0, half_life_days: float = 90.0,
                 neighbours: int = 30, category_shrinkage: float | None = 20.0):
        for name, v in (("shrinkage", shrinkage), ("category_shrinkage", category_shrinkage)):
            if v is not None and v <= 0:
                raise RecommendInputError(f"{name} must be > 0, got {v}")
        if neighbours is not None and neighbours < 1:
            raise RecommendInputError(f"neighbours must be >= 1 (or None: all), got {neighbours}")
        self.shrinkage, self.half_life_days, self.neighbours = (shrinkage, half_life_days,
                                                                neighbours)
        self.category_shrinkage = category_shrinkage

    def _pairs(self, data: Interactions, catalog: Catalog):
        """``(C, n, q)``: pair counts, orders with ``i``, each ``j``'s share.

        ``C`` is products × products (CSR); ``n_i`` the orders with ``i`` that could be
        followed; ``q_j`` the share of the following orders with ``j``.
        """
        raise NotImplementedError

    def fit(self, data: Interactions, catalog: Catalog) -> _ItemToItem:
        import scipy.sparse as sp

        C, n, q = self._pairs(data, catalog)
        C = sp.csr_matrix(C)
        # a product bought again counts only where it is bought again (consumables)
        diag = C.diagonal() * catalog.repeatable[:C.shape[0]]
        C.setdiag(diag)
        C.eliminate_zeros()
        lam = self.shrinkage
        P = sp.csr_matrix(sp.diags(1.0 / (n + lam)) @ C)  # the data part of p(j | i)
        self.pairs_ = C  # the counts themselves: which j was bought after i at all
        a = lam / (n + lam)  # the weight of the prior of each i
        if self.category_shrinkage is None:
            self.p_ = _keep_top(P, self.neighbours)
            self.prior_weight_ = a  # c_u = W @ this
        else:
            # the prior of i is its category's p(j | c), itself shrunk toward q
            lam2 = self.category_shrinkage
            cat = catalog.category[:C.shape[0]]
            E = sp.csr_matrix((np.ones(cat.size), (np.arange(cat.size), cat)),
                              shape=(cat.size, int(cat.max(initial=0)) + 1))
            Nc = E.T @ n
            Q = sp.csr_matrix(sp.diags(1.0 / (Nc + lam2)) @ (E.T @ C))
            self.p_ = _smoothed_top(P, a, Q, cat, self.neighbours)
            self.prior_weight_ = a * lam2 / (Nc[cat] + lam2)
        self.prior_ = q
        self.data_ = data
        self.history_ = data.history(self.half_life_days)
        return self

    def scores(self, customers):
        W = self.history_[customers]
        coef = W @ self.prior_weight_
        cold = np.asarray(W.sum(axis=1)).ravel() == 0
        coef[cold] = 1.0  # no history: popularity itself
        return W @ self.p_, coef


class CoPurchase(_ItemToItem):
    """Bought in the same order: ``C_ij`` orders with both, ``n_i`` orders with ``i``."""

    name, reason = "co-purchase", "bought together"

    def _pairs(self, data, catalog):
        B = data.baskets()
        C = (B.T @ B).tocsr()
        C.setdiag(0)
        n = np.asarray(B.sum(axis=0)).ravel()
        q = n / max(B.shape[0], 1)  # the share of orders with j
        return C, n, q


class BoughtNext(_ItemToItem):
    """Bought in the customer's next order within ``window_days`` of an order with ``i``."""

    name, reason = "bought next", "bought next"

    def __init__(self, window_days: float = 180.0, shrinkage: float = 40.0,
                 half_life_days: float = 60.0, neighbours: int = 30,
                 category_shrinkage: float | None = 20.0):
        super().__init__(shrinkage, half_life_days, neighbours, category_shrinkage)
        self.window_days = window_days

    def _pairs(self, data, catalog):
        B = data.baskets()
        cust, day = data.order_customer()
        # orders are numbered by time: a customer's next order is the next of theirs
        by = np.lexsort((np.arange(len(cust)), cust))
        prev, nxt = by[:-1], by[1:]
        ok = (cust[prev] == cust[nxt]) & (day[nxt] - day[prev] <= self.window_days)
        prev, nxt = prev[ok], nxt[ok]
        Bp, Bn = B[prev], B[nxt]
        C = (Bp.T @ Bn).tocsr()
        n = np.asarray(Bp.sum(axis=0)).ravel()
        followed = np.asarray(Bn.sum(axis=0)).ravel()
        q = followed / max(len(nxt), 1)  # the share of following orders with j
        return C, n, q


class ImplicitALS(Recommender):
    """Alternating least squares on the purchase matrix (the ``implicit`` package).

    Confidence ``1 + alpha * r_ui`` on purchases (Hu, Koren & Volinsky 2008, ICDM, eq. 1
    and sec. 4); scores are the factor products ``x_u' y_i``.
    """

    name, reason = "implicit ALS", "picked for you"

    def __init__(self, factors: int = 64, regularization: float = 0.05, alpha: float = 20.0,
                 iterations: int = 15, random_state: int = 0):
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.random_state = iterations, random_state

    def fit(self, data: Interactions, catalog: Catalog) -> ImplicitALS:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        user_items = data.history(None).astype(np.float32)
        with threadpool_limits(1, "blas"):  # implicit's own threads; BLAS's would fight them
            model = AlternatingLeastSquares(factors=self.factors,
                                            regularization=self.regularization,
                                            alpha=self.alpha, iterations=self.iterations,
                                            random_state=self.random_state)
            model.fit(user_items, show_progress=False)
        self.users_, self.items_ = model.user_factors, model.item_factors
        return self

    def candidates(self, customers, pool=50, exclude=None):
        out_i = np.full((len(customers), pool), -1, dtype=np.int32)
        out_s = np.full((len(customers), pool), -np.inf)
        for a in range(0, len(customers), 8192):
            rows = customers[a:a + 8192]
            s = self.users_[rows] @ self.items_.T
            if exclude is not None:
                ex = exclude[a:a + 8192].tocoo()
                s[ex.row, ex.col] = -np.inf
            top = np.argpartition(-s, min(pool, s.shape[1] - 1), axis=1)[:, :pool]
            ts = np.take_along_axis(s, top, axis=1)
            o = np.argsort(-ts, axis=1)
            out_i[a:a + 8192, :top.shape[1]] = np.take_along_axis(top, o, axis=1)
            out_s[a:a + 8192, :top.shape[1]] = np.take_along_axis(ts, o, axis=1)
        out_i[~np.isfinite(out_s)] = -1
        return out_i, out_s, np.zeros(out_i.shape, dtype=bool)


def _keep_top(P, k: int):
    """Each row's ``k`` largest entries (CSR): a neighbourhood, as item-to-item systems keep."""
    import scipy.sparse as sp

    lengths = np.diff(P.indptr)
    if k is None or (lengths <= k).all():
        return P
    row = np.repeat(np.arange(P.shape[0]), lengths)
    o = np.lexsort((-P.data, row))
    rank = np.arange(len(o)) - P.indptr[row[o]]
    keep = o[rank < k]
    return sp.csr_matrix((P.data[keep], (row[keep], P.indices[keep])), shape=P.shape)


def _smoothed_top(P, a: np.ndarray, Q, cat: np.ndarray, k: int, chunk: int = 1024):
    """The top ``k`` of each row of ``P + diag(a) Q[cat]`` (CSR), a block of rows at a time.

    ``P`` is the data part of ``p(j | i)``, ``Q`` the category level (categories ×
    products): every product of a category shares its row, so the sum is dense and is
    only ever built ``chunk`` rows wide.
    """
    import scipy.sparse as sp

    n, m = P.shape
    rows, cols, vals = [], [], []
    for lo in range(0, n, chunk):
        r = np.arange(lo, min(lo + chunk, n))
        block = P[r].toarray() + a[r, None] * Q[cat[r]].toarray()
        block[block <= 0] = -np.inf
        j, v = _top_dense(block, min(k, m) if k else m)
        ok = j >= 0
        rows.append(np.repeat(r, ok.sum(axis=1)))
        cols.append(j[ok])
        vals.append(v[ok])
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, m))


def _top_with_prior(R, coef, prior, pool: int, exclude):
    """Per row: the top ``pool`` of ``R_uj + coef_u prior_j`` over all items, exactly.

    Items outside the row's nonzeros score ``coef_u prior_j``, which ranks them by the
    prior alone; so only the ``pool`` most popular items the row may get can enter its
    top.  Two ranked blocks, merged: the row's scored items, and the most popular
    (``pool`` plus the row's exclusions, never fewer than it needs) as a dense block.
    Every step is a pass over the nonzeros or a partial sort of ``pool`` per row.
    """
    import scipy.sparse as sp

    n, m = R.shape
    R = sp.csr_matrix(R, dtype=float)
    ex = None if exclude is None or not exclude.nnz else sp.csr_matrix(exclude)
    if ex is not None:  # excluded entries out of the scored ones (elementwise, sorted rows)
        R = (R - R.multiply(ex > 0)).tocsr()
        R.eliminate_zeros()
    row = np.repeat(np.arange(n), np.diff(R.indptr))
    val = R.data if prior is None else R.data + coef[row] * prior[R.indices]
    items, scores = _rank_rows(R.indptr, R.indices, val, n, pool)
    flags = np.zeros((n, pool), dtype=bool)
    if prior is None:
        return items, scores, flags
    # the popular block: excluded and already-scored items taken out, ranked by prior
    e_max = 0 if ex is None else int(np.diff(ex.indptr).max(initial=0))
    top = np.argsort(-prior, kind="stable")[:min(pool + e_max, m)]
    top = top[prior[top] > 0]
    if not len(top):  # no prior mass (e.g. no order was ever followed by another)
        return items, scores, flags
    slot = np.full(m, -1)
    slot[top] = np.arange(len(top))
    block = coef[:, None] * prior[top][None, :]
    for M in (R, ex):
        if M is None:
            continue
        r = np.repeat(np.arange(n), np.diff(M.indptr))
        at = slot[M.indices]
        hit = at >= 0
        block[r[hit], at[hit]] = -np.inf
    b_items, b_scores = _top_dense(block, pool)
    b_items = np.where(b_items >= 0, top[np.maximum(b_items, 0)], -1)
    both_i = np.concatenate([items, b_items], axis=1)
    both_s = np.concatenate([scores, b_scores], axis=1)
    both_f = np.concatenate([flags, np.ones(b_items.shape, dtype=bool)], axis=1)
    o = np.argsort(-both_s, axis=1, kind="stable")[:, :pool]
    out_i = np.take_along_axis(both_i, o, axis=1)
    out_s = np.take_along_axis(both_s, o, axis=1)
    out_f = np.take_along_axis(both_f, o, axis=1) & (out_i >= 0)
    return out_i, out_s, out_f


def _top_dense(block: np.ndarray, pool: int):
    """Per row of a dense block: its ``pool`` largest (column, value), best first.

    Padded with column -1 and value -inf (where the row has fewer finite entries).
    """
    n, w = block.shape
    items = np.full((n, pool), -1, dtype=np.int64)
    scores = np.full((n, pool), -np.inf)
    if w == 0:
        return items, scores
    p = min(pool, w)
    j = (np.argpartition(-block, p - 1, axis=1)[:, :p] if w > p
         else np.broadcast_to(np.arange(w), (n, w)).copy())
    v = np.take_along_axis(block, j, axis=1)
    o = np.argsort(-v, axis=1, kind="stable")
    j, v = np.take_along_axis(j, o, axis=1), np.take_along_axis(v, o, axis=1)
    items[:, :p] = np.where(np.isfinite(v), j, -1)
    scores[:, :p] = v
    return items, scores


def _rank_rows(indptr: np.ndarray, col: np.ndarray, val: np.ndarray, n: int, pool: int):
    """Per CSR row, its ``pool`` highest entries (items, scores), best first.

    The rows are laid out as a padded dense block (rows longer than ``pool`` only) so
    each takes one partial sort; padded with -1 and -inf.
    """
    lengths = np.diff(indptr)
    items = np.full((n, pool), -1, dtype=np.int32)
    scores = np.full((n, pool), -np.inf)
    if not len(col):
        return items, scores
    width = int(lengths.max())
    step = max(1, 16_000_000 // max(width, 1))
    for a in range(0, n, step):
        b = min(n, a + step)
        lo, hi = indptr[a], indptr[b]
        r = np.repeat(np.arange(b - a), lengths[a:b])
        pos = np.arange(lo, hi) - indptr[a:b][r]
        block = np.full((b - a, width), -np.inf)
        block[r, pos] = val[lo:hi]
        j, v = _top_dense(block, pool)
        cols = np.full((b - a, width), -1, dtype=np.int64)
        cols[r, pos] = col[lo:hi]
        ok = j >= 0
        items[a:b] = np.where(ok, np.take_along_axis(cols, np.maximum(j, 0), axis=1), -1)
        scores[a:b] = v
    return items, scores
