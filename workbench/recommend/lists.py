"""Per-customer product lists with the reason each product is there.

:func:`customer_lists` runs a fitted generator, the exclusions and the re-ranking, and says
why each pick is shown: the purchase it follows ("bought next after p12": the
customer's product that contributes most to the pick's score), a higher-margin pick,
or popularity.  The framing follows the relationship, as the brief asks: a customer
with one order reads "popular with our customers", a returning one "picked for you".
:func:`complements` answers the site's "you might also like" for one product: what is
bought with or after it, in other categories (complements, not competing alternatives).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .candidates import Recommender
from .data import Catalog, Interactions, RecommendInputError
from .offline import exclusions
from .rerank import Rerank

#: orders from which a customer is "returning" (framed "picked for you")
RETURNING_ORDERS = 2
CROSS_SELL_CHUNK = 1024  # products per block of dense score rows (cross_sell_lists)


def customer_lists(model: Recommender, data: Interactions, catalog: Catalog,
              rerank: Rerank, customers: np.ndarray | None = None, pool: int = 50,
              sent=None) -> pd.DataFrame:
    """Each customer's list, one row per pick, with its reason and framing.

    Columns ``customer_id, rank, product_id, category, score, reason, framing``.
    ``model`` is fitted on ``data``; ``customers`` are codes (default: everyone with an
    order); ``sent``: a customers × products CSR (rows as ``customers``) of products
    shown recently on any channel, never repeated.
    """
    if customers is None:
        customers = np.unique(data.cust)
    ex = exclusions(data, catalog, customers)
    if sent is not None:
        ex = ex + sent
        ex.data[:] = 1.0
    items, scores, prior_only = model.candidates(customers, pool, ex)
    picks, swapped = rerank.select(items, scores, catalog)
    pos = _positions(items, picks)
    n, k = picks.shape
    rows = np.arange(n)[:, None]
    score = np.where(pos >= 0, scores[rows, np.maximum(pos, 0)], np.nan)
    popular = np.where(pos >= 0, prior_only[rows, np.maximum(pos, 0)], True)
    anchor = _anchors(model, customers, picks)
    # where no single purchase led to the pick, the purchase whose category did
    loose = _anchors(model, customers, picks, exact=False)
    orders = np.bincount(data.cust[np.r_[True, data.order[1:] != data.order[:-1]]],
                         minlength=data.n_customers)[customers]
    after = np.where(anchor >= 0, catalog.product_ids[np.maximum(anchor, 0)].astype(str),
                     np.asarray(catalog.categories)[catalog.category[np.maximum(loose, 0)]])
    after = np.char.add(f"{model.reason}: after ", after.astype(str))
    anchor = np.where(anchor >= 0, anchor, loose)
    # a pick the model scored with no single purchase behind it (ALS) keeps its reason
    reason = np.where(swapped, "a higher-margin pick",
                      np.where(popular, "popular with our customers",
                               np.where(anchor >= 0, after, model.reason)))
    framing = np.where(orders >= RETURNING_ORDERS, "picked for you",
                       "popular with our customers")
    keep = picks >= 0
    r, c = np.nonzero(keep)
    return pd.DataFrame({"customer_id": data.customer_ids[customers][r], "rank": c + 1,
                         "product_id": catalog.product_ids[picks[r, c]],
                         "category": np.asarray(catalog.categories)[
                             catalog.category[picks[r, c]]],
                         "score": score[r, c], "reason": reason[r, c],
                         "framing": framing[r]})


def complements(model: Recommender, catalog: Catalog, product, k: int = 4) -> pd.DataFrame:
    """The site's "you might also like" for ``product``: complements, in stock.

    Its strongest ``p(j | product)`` in other categories, from an item-to-item generator
    (:class:`.CoPurchase`, :class:`.BoughtNext`).
    """
    if not hasattr(model, "p_"):
        raise RecommendInputError(f"{model.name}: complements need an item-to-item model "
                                  "(co-purchase or bought next)")
    idx = np.flatnonzero(catalog.product_ids == product)
    if not len(idx):
        raise RecommendInputError(f"unknown product {product!r}")
    i = int(idx[0])
    row = model.p_[i].toarray().ravel() + model.prior_weight_[i] * model.prior_
    ok = (catalog.category != catalog.category[i]) & catalog.in_stock
    ok[i] = False
    order = np.argsort(-np.where(ok, row, -np.inf), kind="stable")[:k]
    order = order[ok[order]]
    return pd.DataFrame({"product_id": catalog.product_ids[order],
                         "category": np.asarray(catalog.categories)[catalog.category[order]],
                         "score": row[order]})


def cross_sell_lists(model: Recommender, catalog: Catalog, rerank: Rerank,
                     pool: int = 50) -> pd.DataFrame:
    """After each product, what to show: the per-product lists a post-purchase flow loads.

    For product ``i`` the candidates are scored ``p(j | i) + c_i q_j`` (the fitted
    item-to-item model's row with its shrinkage toward the prior, see
    :class:`.candidates._ItemToItem`), then re-ranked (``rerank``: relevance,
    diversity, margin, slots).  ``i`` itself is listed only if it is bought again
    (a consumable); out-of-stock products never.  A popularity model gives everyone
    the same list.  Columns ``product_id, rank, recommended_product_id, category,
    score, reason`` — the shape of a platform's "complementary products" feed.
    """
    n = catalog.n_products
    if hasattr(model, "p_"):
        reason = np.array([f"{model.reason}: after {p}" for p in catalog.product_ids])
    elif hasattr(model, "prior_"):
        reason = np.full(n, "popular with our customers")
    else:
        raise RecommendInputError(f"{model.name}: lists per product need an item-to-item "
                                  "model (bought next, co-purchase) or popularity")
    pool = min(pool, n)
    items = np.full((n, pool), -1, dtype=np.int64)
    scores = np.zeros((n, pool))
    for a in range(0, n, CROSS_SELL_CHUNK):  # dense score rows, a chunk at a time
        rows = np.arange(a, min(a + CROSS_SELL_CHUNK, n))
        S = np.repeat(model.prior_[None, :], rows.size, axis=0)
        if hasattr(model, "p_"):
            S = model.p_[rows].toarray() + model.prior_weight_[rows, None] * S
        S = np.where(catalog.in_stock[None, :], S, -np.inf)
        S[np.arange(rows.size), rows] = np.where(catalog.repeatable[rows],
                                                 S[np.arange(rows.size), rows], -np.inf)
        top = np.argsort(-S, axis=1, kind="stable")[:, :pool]
        val = np.take_along_axis(S, top, axis=1)
        ok = np.isfinite(val) & (val > 0)
        items[rows] = np.where(ok, top, -1)
        scores[rows] = np.where(ok, val, 0.0)
    picks, swapped = rerank.select(items, scores, catalog)
    r, c = np.nonzero(picks >= 0)
    chosen = picks[r, c]
    pos = _positions(items, picks)
    # a pick bought after the product itself says so; one bought only after others of
    # its category (the category level) says that; one with neither is there on popularity
    seen = by_cat = np.zeros(r.size, bool)
    if hasattr(model, "p_") and r.size:
        seen = np.asarray(model.pairs_[r, chosen]).ravel() > 0
        by_cat = ~seen & (np.asarray(model.p_[r, chosen]).ravel() > 0)
    elif r.size:
        seen = np.ones(r.size, bool)
    cat_names = np.asarray(catalog.categories)
    after_cat = np.char.add(f"{model.reason}: after ", cat_names[catalog.category[r]].astype(str))
    why = np.where(swapped[r, c], "a higher-margin pick",
                   np.where(seen, reason[r], np.where(by_cat, after_cat,
                                                      "popular with our customers")))
    return pd.DataFrame({"product_id": catalog.product_ids[r], "rank": c + 1,
                         "recommended_product_id": catalog.product_ids[chosen],
                         "category": np.asarray(catalog.categories)[catalog.category[chosen]],
                         "score": scores[r, np.maximum(pos[r, c], 0)], "reason": why})


def _positions(items: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Where each pick sits in its row's candidate pool (-1 for none)."""
    match = (items[:, :, None] == picks[:, None, :]) & (picks[:, None, :] >= 0)
    return np.where(match.any(axis=1), match.argmax(axis=1), -1)


def _anchors(model: Recommender, customers: np.ndarray, picks: np.ndarray,
             exact: bool = True) -> np.ndarray:
    """Per pick, the customer's product contributing most to it: ``argmax_i w_ui p(j|i)``.

    ``exact``: only products ``i`` after which ``j`` was itself bought count (the pair
    counts, not the category level), so "after p12" is never claimed for what only
    p12's category led to.  -1 where the model is not item-to-item or no such purchase
    leads to it.
    """
    import scipy.sparse as sp

    out = np.full(picks.shape, -1, dtype=np.int64)
    if not hasattr(model, "p_"):
        return out
    W = model.history_[customers].tocsr()
    P = sp.csr_matrix(model.p_)
    if exact:
        seen = sp.csr_matrix(model.pairs_[:P.shape[0], :P.shape[1]] > 0, dtype=float)
        P = sp.csr_matrix(P.multiply(seen))
    Pt = P.T.tocsr()  # row j: p(j | i) over i (exact: over the i that j followed)
    for s in range(picks.shape[1]):
        ok = np.flatnonzero(picks[:, s] >= 0)
        if not len(ok):
            continue
        contrib = W[ok].multiply(Pt[picks[ok, s]]).tocsr()
        has = np.diff(contrib.indptr) > 0
        if not has.any():
            continue
        best = np.asarray(contrib.argmax(axis=1)).ravel()
        out[ok[has], s] = best[has]
    return out
