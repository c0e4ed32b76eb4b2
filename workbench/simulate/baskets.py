"""Baskets: what each order or cart holds, drawn from the customer's categories and spend.

Split from :mod:`workbench.simulate.world` (which re-exports these names): every basket
ever filled is an append-only store of items sorted by basket; a basket's lines buy the
products whose units come within a tolerance of the line's value (:meth:`Baskets.pick`).
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from ..vocab import PURCHASE_TYPES
from . import kernels
from .common import GrowingArray, categorical

CONSUMABLE = PURCHASE_TYPES.index("consumable")
MAX_EXTRA_ITEMS = 3  # a basket holds at most 1 + this many items
MAX_QUANTITY = 6  # units of one product in a basket line
BASKET_UNIFORMS = 14  # per basket: item count, order value, item categories, sequel or
# complement decisions (6-9), the product each line buys (10-13)
CONSUMABLE_LOOKAHEAD = 4  # replenishment looks for a consumable among the first 4 items
PPF_STEP_MARGIN = 1e-6  # uniforms this close to a step of a CDF are inverted by scipy


def capped_poisson_ppf(u: np.ndarray, mu: float, cap: int) -> np.ndarray:
    """``min(scipy.stats.poisson.ppf(u, mu), cap)``, by a lookup in the CDF table.

    scipy inverts the CDF numerically for every draw, which is slow; a draw
    within :data:`PPF_STEP_MARGIN` of a step of the CDF (where the numerical
    inversion decides which side it falls) is still given to scipy, so the result
    is scipy's to the last bit.
    """
    cdf = special.pdtr(np.arange(cap), mu)
    out = np.searchsorted(cdf, u, side="left").astype(float)
    near = (u <= 0) | (u >= 1)
    for step in cdf:
        near |= np.abs(u - step) < PPF_STEP_MARGIN
    if near.any():
        out[near] = np.minimum(stats.poisson.ppf(u[near], mu), cap)
    return out


class Baskets:
    """Every basket ever filled, as items sorted by basket (an append-only store)."""

    def __init__(self, cfg, catalog, customers):  # world's Catalog and Customers
        # only the two traits baskets are drawn from: the baskets outlive the customers
        self.cfg, self.catalog = cfg, catalog
        self.spend_nu, self.affinity_cum = customers.spend_nu, customers.affinity_cum
        self._pending = []
        self.count = 0
        self._item_basket, self._item_product, self._item_qty = (
            GrowingArray(np.int64) for _ in "abc")
        self._start, self._end = GrowingArray(np.int64), GrowingArray(np.int64)
        self._value, self._cost = GrowingArray(np.float64), GrowingArray(np.float64)
        self._consumable, self._consumable_qty = GrowingArray(np.int64), GrowingArray(np.int64)

    item_basket = property(lambda self: self._item_basket.v)
    item_product = property(lambda self: self._item_product.v)
    item_qty = property(lambda self: self._item_qty.v)
    start = property(lambda self: self._start.v, doc="first item row of each basket")
    end = property(lambda self: self._end.v, doc="one past the last item row of each basket")
    value = property(lambda self: self._value.v)
    cost = property(lambda self: self._cost.v)
    consumable = property(lambda self: self._consumable.v,
                          doc="each basket's primary consumable product (-1: none)")
    consumable_qty = property(lambda self: self._consumable_qty.v)

    def size(self, basket: np.ndarray) -> np.ndarray:
        """Number of distinct products in each basket."""
        return self.end[basket] - self.start[basket]

    def items(self, basket: np.ndarray, width: int = 1 + MAX_EXTRA_ITEMS) -> np.ndarray:
        """Each basket's products as ``(n, width)`` rows, padded with -1 (basket -1: none)."""
        out = np.full((basket.size, width), -1, dtype=np.int64)
        has = basket >= 0
        size = np.where(has, np.minimum(self.size(np.maximum(basket, 0)), width), 0)
        start = self.start[np.maximum(basket, 0)]
        for j in range(width):
            at = j < size
            out[at, j] = self.item_product[start[at] + j]
        return out

    def first_category(self, basket: np.ndarray) -> np.ndarray:
        """Category of each basket's first product."""
        return self.catalog.product_category[self.item_product[self.start[basket]]]

    def n_items(self, u: np.ndarray) -> np.ndarray:
        """Distinct items of baskets drawn from uniforms ``u`` (their first column)."""
        return 1 + capped_poisson_ppf(u[:, 0], self.cfg.traffic.mean_extra_items,
                                      MAX_EXTRA_ITEMS).astype(int)

    def make(self, cust, primary_cat, u: np.ndarray, z: np.ndarray | None = None,
             primary: np.ndarray | None = None):
        """Build baskets from uniforms ``u`` (n, :data:`BASKET_UNIFORMS`); returns basket ids.

        Each line buys a product of its category by :meth:`pick` (popularity-weighted
        among those whose units come near the per-item value).  ``primary`` (product
        ids, -1: none) fixes a basket's first product — the one a message showed, or
        the complement a repeat order follows up.  An extra item is
        a complement of the first product with probability ``basket_complement_share``
        (uniform column ``6 + slot``), otherwise a product of a category drawn from
        the customer's preferences.
        """
        n = cust.size
        n_items = self.n_items(u)
        if z is None:
            z = stats.gamma.ppf(u[:, 1], self.cfg.gamma_gamma.p, scale=1.0 / self.spend_nu[cust])
        basket_of = np.repeat(np.arange(n), n_items)
        slot = np.arange(basket_of.size) - np.repeat(np.cumsum(n_items) - n_items, n_items)
        cat = primary_cat[basket_of].copy()
        extra = slot > 0
        col = np.minimum(1 + slot, 4)
        u_cat = u[basket_of, 1 + col]
        cat[extra] = categorical(self.affinity_cum, u_cat[extra], rows=cust[basket_of[extra]])
        target = (z / n_items)[basket_of]
        prod, qty = self.pick(cat, target, u[basket_of, 10 + np.minimum(slot, 3)])
        first = np.cumsum(n_items) - n_items  # row of each basket's first item
        if primary is not None:
            f = primary >= 0
            prod[first[f]] = primary[f]
        moved = np.zeros(prod.size, bool)  # lines whose product is not the nearest-price one
        share = self.cfg.products.basket_complement_share
        if share > 0 and extra.any():
            uc = u[basket_of, 6 + np.minimum(slot, 3)]
            moved = extra & (uc < share)
            c = self.catalog.complements
            pick = np.minimum((uc[moved] / share * c.shape[1]).astype(np.int64), c.shape[1] - 1)
            prod[moved] = c[prod[first[basket_of[moved]]], pick]
        if primary is not None:
            moved[first[primary >= 0]] = True
        if moved.any():  # the units that bring a fixed product's line nearest the target
            qty[moved] = np.clip(np.round(target[moved] / self.catalog.price[prod[moved]]), 1,
                                 MAX_QUANTITY).astype(np.int64)
        # one row per distinct product in a basket
        bid = self.count + basket_of
        self._pending.append((bid, prod, qty))
        ids = self.count + np.arange(n)
        self.count += n
        return ids

    def pick(self, cat: np.ndarray, target: np.ndarray, u: np.ndarray):
        """The product each line of category ``cat`` and value ``target`` buys, and its units.

        The candidates are the products whose units ``q`` (1 to :data:`MAX_QUANTITY`,
        ``q = round(target / price)``) bring the line within ``line_value_tolerance`` of
        the target: for each ``q`` a contiguous band of the category's price-sorted
        products, ``price`` in ``[max(T (1 - tol) / q, T / (q + 1/2)), min(T (1 + tol) / q,
        T / (q - 1/2))]``.  Uniform ``u`` picks one by popularity weight (inverse CDF over
        the bands' cumulated weights); a line with no candidate buys the product nearest in
        price (:meth:`nearest`): order value follows the Gamma-Gamma draw within the tolerance.
        """
        cat_, tol = self.catalog, self.cfg.products.line_value_tolerance
        cw = cat_.cum_popularity
        if (k := kernels.compiled()) is not None:  # the same, a line at a time (16 -> 2 s at 1M)
            prod, qty = k["pick_product"](cat, target, u, cat_.price_key, cw, cat_.price, tol,
                                          float(MAX_QUANTITY))
        else:
            prod, qty = self._pick_numpy(cat, target, u, tol)
        if (none := prod < 0).any():  # no candidate: the nearest in price
            prod[none], qty[none] = self.nearest(cat[none], target[none])
        return prod, qty

    def _pick_numpy(self, cat, target, u, tol):
        """:meth:`pick`'s bands and draw in numpy (without numba); -1 where no band has one."""
        cat_, cw = self.catalog, self.catalog.cum_popularity
        base = cat * 1e7
        los, his, ws = [], [], []
        for q in range(1, MAX_QUANTITY + 1):
            p_lo = np.maximum(target * (1 - tol) / q, target / (q + 0.5))
            p_hi = np.minimum(target * (1 + tol) / q, target / (q - 0.5)) if q > 1 else \
                target * (1 + tol)
            lo = np.searchsorted(cat_.price_key, base + p_lo, side="left")
            hi = np.maximum(np.searchsorted(cat_.price_key, base + p_hi, side="right"), lo)
            los.append(lo)
            his.append(hi)
            ws.append(cw[hi] - cw[lo])
        w = np.stack(ws, axis=1)
        total = w.sum(axis=1)
        prod, qty = np.full(len(cat), -1, dtype=np.int64), np.zeros(len(cat), dtype=np.int64)
        has = total > 0
        if has.any():
            x = u[has] * total[has]
            cum = np.cumsum(w[has], axis=1)
            band = np.minimum((x[:, None] >= cum).sum(axis=1), MAX_QUANTITY - 1)
            lo = np.stack(los, axis=1)[has, band]
            hi = np.stack(his, axis=1)[has, band]
            rest = x - (cum[np.arange(band.size), band] - w[has][np.arange(band.size), band])
            p = np.clip(np.searchsorted(cw, cw[lo] + rest, side="right") - 1, lo, hi - 1)
            prod[has] = p
            qty[has] = np.clip(np.rint(target[has] / cat_.price[p]), 1,
                               MAX_QUANTITY).astype(np.int64)
        return prod, qty

    def nearest(self, cat: np.ndarray, target: np.ndarray):
        """The product of each category ``cat`` nearest in price to ``target``, and its units.

        The product whose price is nearest the per-item target, in the units that
        bring the line closest to it: order value follows the Gamma-Gamma draw up to
        the catalog's price steps (extra noise here would bias it upward).
        """
        cat_ = self.catalog
        k = kernels.compiled()
        if k is not None:  # the same search and rounding, one item at a time
            prod, qty = k["nearest_price"](cat, target, cat_.price_key, cat_.category_first,
                                           cat_.category_size, cat_.price, float(MAX_QUANTITY))
        else:
            key = cat * 1e7 + target
            pos = np.searchsorted(cat_.price_key, key)
            lo = cat_.category_first[cat]
            hi = lo + cat_.category_size[cat] - 1
            pos = np.clip(pos, lo, hi)
            prev = np.clip(pos - 1, lo, hi)
            pick_prev = np.abs(cat_.price_key[prev] - key) < np.abs(cat_.price_key[pos] - key)
            prod = np.where(pick_prev, prev, pos)
            qty = np.clip(np.round(target / cat_.price[prod]), 1, MAX_QUANTITY).astype(np.int64)
        return prod, qty

    def finalize(self):
        """Sort the baskets made since the last call into the item store.

        New basket ids are always larger than finalized ones, so appending keeps
        the store sorted by basket; duplicate products inside a basket merge.
        """
        if not self._pending:
            return
        cat_ = self.catalog
        bid = np.concatenate([p[0] for p in self._pending])
        prod = np.concatenate([p[1] for p in self._pending])
        qty = np.concatenate([p[2] for p in self._pending])
        self._pending = []
        # by basket, then product: one stable sort of one integer key (lexsort sorts twice)
        order = np.argsort(bid * cat_.price.size + prod, kind="stable")
        bid, prod, qty = bid[order], prod[order], qty[order]
        new = np.r_[True, (bid[1:] != bid[:-1]) | (prod[1:] != prod[:-1])]
        grp = np.cumsum(new) - 1
        qty = np.bincount(grp, weights=qty).astype(np.int64)
        bid, prod = bid[new], prod[new]
        first = self._value.n
        offset = self._item_basket.n
        self._item_basket.extend(bid)
        self._item_product.extend(prod)
        self._item_qty.extend(qty)
        ids = np.arange(first, self.count)
        self._start.extend(offset + np.searchsorted(bid, ids))
        self._end.extend(offset + np.searchsorted(bid, ids, side="right"))
        local = bid - first
        self._value.extend(np.bincount(local, weights=qty * cat_.price[prod],
                                       minlength=ids.size))
        self._cost.extend(np.bincount(local, weights=qty * cat_.unit_cost[prod],
                                      minlength=ids.size))
        # each basket's primary consumable (the first consumable among its first four
        # items, -1 if none) and its quantity: what replenishment reminders are about
        pos = np.arange(bid.size) - np.searchsorted(bid, bid)
        cand = np.nonzero((pos < CONSUMABLE_LOOKAHEAD)
                          & (cat_.category_type[cat_.product_category[prod]] == CONSUMABLE))[0]
        cons = np.full(ids.size, -1, dtype=np.int64)
        cons_qty = np.ones(ids.size, dtype=np.int64)
        if cand.size:
            first_b, at = np.unique(local[cand], return_index=True)
            cons[first_b] = prod[cand[at]]
            cons_qty[first_b] = qty[cand[at]]
        self._consumable.extend(cons)
        self._consumable_qty.extend(cons_qty)
