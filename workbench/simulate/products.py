"""The products a message shows, and how much each appeals to its recipient.

A cart message shows its cart; browse abandonment and replenishment a product of the
viewed category or the product to replenish; other messages a product of a category
drawn from the customer's preferences — unless the campaign has a recommender
(:class:`~workbench.simulate.config.ProductPicks`: random, a popular list, per-product
cross-sell lists), whose products' true appeal then moves the persuasion logit (see
:meth:`ProductsShown.pick` and :meth:`ProductsShown._appeal`).  Every draw is keyed by
the message's key, so the products do not depend on which other messages were sent.
"""

from __future__ import annotations

import numpy as np

from .common import U_PRODUCT_PICK, U_PRODUCTS, categorical
from .random import combine
from .world import CONSUMABLE, MAX_EXTRA_ITEMS

MAX_BASKET_ITEMS = 1 + MAX_EXTRA_ITEMS  # distinct products of a basket, at most


def by_campaign(campaigns, campaign: np.ndarray):
    """``(campaign object, row indices)`` for each campaign present in ``campaign``."""
    for c in campaigns:
        rows = np.nonzero(campaign == c.code)[0]
        if rows.size:
            yield c, rows


class ProductsShown:
    """Chooses the products of each batch of messages (see the module docstring)."""

    def __init__(self, cfg, world, ku, campaigns):
        self.cfg, self.world, self.ku, self.campaigns = cfg, world, ku, campaigns
        self._list_cache = {}
        #: by campaign code: whether its messages' products are recommendations
        self.recommends = np.array([c.recommender() is not None for c in campaigns])

    def pick(self, m) -> dict:
        """Products each message of batch ``m`` shows, and their appeal to the recipient.

        The cart of a cart message; otherwise a product of the focus category or the
        focus product (browse abandonment, replenishment), or the campaign's
        recommender (:meth:`_recommend`); by default a product of a category drawn
        from the customer's preferences.  Sets ``m["products_logit"]``, the persuasion
        term of recommendation messages (:meth:`_appeal`).  Returns flat arrays: ``k``
        products per message, then ``row``, ``slot``, ``prod`` and ``appeal`` per
        product shown.
        """
        n = m["t"].size
        camp = m["campaign"]
        k = np.ones(n, dtype=np.int64)
        bsk = np.full(n, -1)
        own = np.zeros(n, bool)  # rows showing a basket of their own
        for c, rows in by_campaign(self.campaigns, camp):
            shown = c.basket_shown(m["ref"][rows])
            if shown is not None:
                bsk[rows] = shown
                own[rows] = True
            k[rows] = c.products_per_message(m, rows)
        baskets, catalog = self.world.baskets, self.world.catalog
        total = int(k.sum())
        row = np.repeat(np.arange(n), k)
        slot = np.arange(total) - np.repeat(np.cumsum(k) - k, k)
        prods = np.zeros(total, dtype=np.int64)
        rc = own[row]
        prods[rc] = baskets.item_product[baskets.start[bsk[row[rc]]] + slot[rc]]
        appeal = np.zeros(total)
        plogit = np.zeros(n)
        # recommendations: affinity-weighted categories, keyed uniforms
        nr = ~rc
        if nr.any():
            kk = combine(m["key"][row[nr]], slot[nr])
            cust = m["cust"][row[nr]]
            cat = categorical(self.world.customers.affinity_cum, self.ku(U_PRODUCTS, kk), rows=cust)
            camp_nr, ref_nr = camp[row[nr]], m["ref"][row[nr]]
            for c, rows in by_campaign(self.campaigns, camp_nr):
                focus = c.focus_category(ref_nr[rows])
                if focus is not None:
                    cat[rows] = focus
            u_pick = self.ku(U_PRODUCT_PICK, kk)
            pr = catalog.product_in_category(cat, u_pick)
            for c, rows in by_campaign(self.campaigns, camp_nr):
                focus = c.focus_product(ref_nr[rows])
                if focus is not None:
                    pr[rows] = focus
            prods[nr] = pr
            for c in self.campaigns:
                picks = c.recommender()
                if picks is None:
                    continue
                mine = np.flatnonzero(camp == c.code)
                if mine.size == 0:
                    continue
                ref = m["ref"][mine]
                ctx = c.followed_up(ref)
                f = np.flatnonzero(nr & (camp[row] == c.code))  # this campaign's products
                local = np.searchsorted(mine, row[f])  # each product's message in ``mine``
                if picks.source != "affinity":
                    # a sequence's later messages take the lists' later products
                    rank = slot[f] + (c.sequence_step(ref) * k[mine])[local]
                    focus = c.focus_category(ref)
                    self._recommend(c, picks, prods, f, rank, local, k[mine], ctx, u_pick[
                        np.searchsorted(np.flatnonzero(nr), f)], focus)
                appeal[f] = self._appeal(m["cust"][row[f]], prods[f],
                                         None if ctx is None else ctx[local],
                                         c.days_after(ref)[local])
                plogit[mine] = self.cfg.response.product_appeal_weight * _log_mean_exp(
                    appeal, row, n)[mine]
        m["products_logit"] = plogit
        return {"k": k, "row": row, "slot": slot, "prod": prods, "appeal": appeal}

    def _recommend(self, c, picks, prods, f, rank, local, k, ctx, u, focus=None) -> None:
        """Put campaign ``c``'s recommendations into ``prods[f]`` (flat product rows).

        Product row ``f[i]`` is rank ``rank[i]`` of message ``local[i]`` (of ``k``
        messages' products).  ``random``: any product of the catalog (uniforms
        ``u``); ``popular``: the list's products not already in the order followed
        up; ``cross_sell``: the lists of that order's products, rank by rank across
        its items, then the popular list.  A product of the order is shown again only
        if it is a consumable; a message whose lists run short keeps its default picks.
        ``focus`` (a category per message, as browse abandonment's viewed one) keeps
        every source inside it.
        """
        catalog = self.world.catalog
        if picks.source == "random":
            if focus is not None:
                prods[f] = catalog.product_in_category(focus[local], u)
            else:
                prods[f] = np.minimum((u * catalog.price.size).astype(np.int64),
                                      catalog.price.size - 1)
            return
        pop, table = self._lists(c, picks)
        n_msg = k.size
        items = (np.full((n_msg, MAX_BASKET_ITEMS), -1) if ctx is None
                 else self.world.baskets.items(ctx, MAX_BASKET_ITEMS))
        cols = []
        if picks.source == "cross_sell":
            for r in range(table.shape[1]):
                for j in range(MAX_BASKET_ITEMS):
                    cols.append(np.where(items[:, j] >= 0, table[np.maximum(items[:, j], 0), r],
                                         -1))
        # the popular list: its head, or all of it where the picks stay in one category
        head = pop if focus is not None else pop[:int(rank.max(initial=0)) + 1
                                                 + MAX_BASKET_ITEMS]
        cols += [np.full(n_msg, p) for p in head]
        cand = np.stack(cols, axis=1) if cols else np.full((n_msg, 0), -1)
        durable = catalog.category_type[catalog.product_category] != CONSUMABLE
        valid = cand >= 0
        if focus is not None:
            valid &= catalog.product_category[np.maximum(cand, 0)] == focus[:, None]
        for j in range(MAX_BASKET_ITEMS):  # not what the order holds, unless consumed
            valid &= ~((cand == items[:, [j]]) & durable[np.maximum(cand, 0)])
        for j in range(1, cand.shape[1]):  # each product once
            valid[:, j] &= ~((cand[:, :j] == cand[:, [j]]) & valid[:, :j]).any(axis=1)
        at = np.cumsum(valid, axis=1) - 1  # each valid candidate's rank
        hit = valid[local] & (at[local] == rank[:, None])
        found = hit.any(axis=1)
        prods[f[found]] = cand[local[found], hit[found].argmax(axis=1)]

    def _lists(self, c, picks):
        """The popular list and cross-sell table of campaign ``c`` as internal product ids."""
        got = self._list_cache.get(c.code)
        if got is None:
            n_prod = self.world.catalog.price.size
            pop = np.array([int(x) for x in picks.popular], dtype=np.int64) - 1
            width = max((len(v) for v in picks.cross_sell.values()), default=0)
            table = np.full((n_prod, width), -1, dtype=np.int64)
            for p, v in picks.cross_sell.items():  # ids were checked against the catalog
                table[int(p) - 1, :len(v)] = np.array([int(x) for x in v], dtype=np.int64) - 1
            got = self._list_cache[c.code] = (pop, table)
        return got

    def _appeal(self, cust, prods, followed, days_after) -> np.ndarray:
        """How much each product shown appeals to its recipient (the simulator's truth).

        ``affinity_appeal * clip(ln w_cj + H_c, -4, 4)`` with ``w_cj`` the customer's
        preference for the product's category and ``H_c`` the entropy of their
        preferences (so a pick drawn from their own preferences averages zero), plus
        ``complement_appeal * exp(-days_after / sequel_fresh_days)`` for a complement
        of a product of the order followed up ``days_after`` days before (accessories
        appeal while the purchase is fresh, as organic sequels follow it) and
        ``owned_appeal`` for a durable product that order already holds; minus
        ``over_budget_appeal * max(0, ln(price / b_c))`` for a product dearer than the
        customer's mean spend per item ``b_c = (p / nu_c) / (1 + mean_extra_items)``
        (their Gamma-Gamma mean order value over the mean items per basket); plus
        ``popularity_appeal * ln w_j``, the product's own log-normal popularity weight
        (what sells well sells because customers like it; it averages zero).
        """
        rs, w_ = self.cfg.response, self.world
        cat = w_.catalog.product_category[prods]
        cus = w_.customers
        a = rs.affinity_appeal * np.clip(np.log(cus.affinity[cust, cat] + 1e-300)
                                          + cus.affinity_entropy[cust], -4.0, 4.0)
        if rs.popularity_appeal > 0:  # log-normal weights: ln w averages zero
            a = a + rs.popularity_appeal * np.log(w_.catalog.popularity[prods])
        if rs.over_budget_appeal > 0:
            budget = self.cfg.gamma_gamma.p / cus.spend_nu[cust] / (
                1 + self.cfg.traffic.mean_extra_items)
            a = a - rs.over_budget_appeal * np.maximum(
                np.log(w_.catalog.price[prods] / budget), 0.0)
        if followed is not None:
            catalog = w_.catalog
            items = w_.baskets.items(followed, MAX_BASKET_ITEMS)
            at = items >= 0
            owned = (at & (items == prods[:, None])).any(axis=1)
            comp = (at[:, :, None] & (catalog.complements[np.maximum(items, 0)]
                                      == prods[:, None, None])).any(axis=(1, 2))
            durable = catalog.category_type[cat] != CONSUMABLE
            fresh = np.exp(-days_after / self.cfg.products.sequel_fresh_days)
            a = a + rs.complement_appeal * fresh * comp + rs.owned_appeal * (owned & durable)
        return a


def kept_picks(picks: dict, keep: np.ndarray) -> dict:
    """The product rows of the messages ``keep`` (a mask over the batch), renumbered."""
    flat = keep[picks["row"]]
    new_row = np.cumsum(keep) - 1
    return {"k": picks["k"][keep], "row": new_row[picks["row"][flat]],
            "slot": picks["slot"][flat], "prod": picks["prod"][flat],
            "appeal": picks["appeal"][flat]}


def _log_mean_exp(a: np.ndarray, row: np.ndarray, n: int) -> np.ndarray:
    """``ln(mean(exp(a)))`` over each message's products (0 for none): a soft maximum."""
    cnt = np.bincount(row, minlength=n)
    top = np.full(n, -np.inf)
    np.maximum.at(top, row, a)
    top = np.where(cnt > 0, top, 0.0)
    s = np.bincount(row, weights=np.exp(a - top[row]), minlength=n)
    return np.where(cnt > 0, top + np.log(np.maximum(s, 1e-300) / np.maximum(cnt, 1)), 0.0)


def softmax_pick(appeal: np.ndarray, start: np.ndarray, k: np.ndarray,
                  u: np.ndarray) -> np.ndarray:
    """Which of each message's ``k`` products (offset from ``start``) uniforms ``u`` pick.

    Product ``j`` with probability ``exp(a_j) / sum_i exp(a_i)`` (inverse CDF); with
    equal appeal that is ``floor(u k)``, the uniform pick.
    """
    n = k.size
    kmax = int(k.max()) if n else 0
    out = np.zeros(n, dtype=np.int64)
    if kmax <= 1:
        return out
    j = np.arange(kmax)
    inside = j[None, :] < k[:, None]
    idx = np.minimum(start[:, None] + j[None, :], max(appeal.size - 1, 0))
    a = np.where(inside, appeal[idx], -np.inf)
    top = a.max(axis=1, keepdims=True)
    w = np.exp(a - np.where(np.isfinite(top), top, 0.0))
    cdf = np.cumsum(w, axis=1)
    cdf /= np.maximum(cdf[:, -1:], 1e-300)
    out = (u[:, None] >= cdf).sum(axis=1)
    return np.minimum(out, np.maximum(k - 1, 0))
