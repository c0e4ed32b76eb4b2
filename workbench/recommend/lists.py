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
    orders = np.bincount(data.cust[np.r_[True, data.order[1:] != data.order[:-1]]],
                         minlength=data.n_customers)[customers]
    after = np.char.add(f"{model.reason}: after ",
                        catalog.product_ids[np.maximum(anchor, 0)].astype(str))
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


def _positions(items: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Where each pick sits in its row's candidate pool (-1 for none)."""
    match = (items[:, :, None] == picks[:, None, :]) & (picks[:, None, :] >= 0)
    return np.where(match.any(axis=1), match.argmax(axis=1), -1)


def _anchors(model: Recommender, customers: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Per pick, the customer's product contributing most to it: ``argmax_i w_ui p(j|i)``.

    -1 where the model is not item-to-item or nothing the customer bought leads to it.
    """
    out = np.full(picks.shape, -1, dtype=np.int64)
    if not hasattr(model, "p_"):
        return out
    W = model.history_[customers].tocsr()
    Pt = model.p_.T.tocsr()  # row j: p(j | i) over i
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
