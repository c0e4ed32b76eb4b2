"""The organic world: catalog, customers, baskets, sessions, carts and organic orders.

Everything here happens without any message: customers arrive and buy (BG/NBD and
Gamma-Gamma, see :mod:`workbench.simulate.engine`), browse, fill carts and abandon
some of them.  The world also owns the session and order ledgers that messages add
to later, and answers the questions campaigns ask of it (when does this customer
next buy on their own, which segment are they in).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..vocab import ACQUISITION_CHANNELS, CHANNELS, PURCHASE_TYPES, REGIONS
from ..vocab import SIMULATED_SOURCES as SOURCES
from . import kernels
from .baskets import (  # noqa: F401 - re-exported: world.Baskets and its limits
    BASKET_UNIFORMS,
    CONSUMABLE,
    MAX_EXTRA_ITEMS,
    MAX_QUANTITY,
    Baskets,
    capped_poisson_ppf,
)
from .browsing import browse_candidates, browse_looks, research_sessions
from .common import (
    EVENT_GAP,
    HOUR,
    ColumnBatches,
    categorical,
    order_money,
)
from .random import combine
from .reorders import add_reorders

#: the traffic source of a customer's acquisition session, by acquisition channel
ACQUISITION_SOURCE = {"organic_search": "organic_search", "paid_search": "paid_search",
                      "social": "social", "referral": "referral", "discount_promo": "social"}

# Structural shape of the world (not store settings: they shape draws, not the business)
SUPPLY_DAYS_LOG_SD = 0.2  # product-to-product spread of supply days around the category's
CATEGORY_AFFINITY_CONCENTRATION = 0.4  # Dirichlet concentration of category preferences
PREFERRED_HOUR_MEAN, PREFERRED_HOUR_SD = 13.0, 4.0  # customers' best hour to read messages
CYCLE_MULTIPLIER_LOG_SD = 0.2  # how much a customer's use rate differs from supply_days
CHECKOUT_EVENTS = 3  # events between the last view and an immediate purchase
CART_LEFT_AFTER = 0.5 * HOUR / 6  # a cart is abandoned 5 minutes after its session starts
KEY_SPAN_PAD_DAYS = 10.0  # (customer, time) sort keys use customer * (horizon + pad) + t

SESSION_COLUMNS = ["cust", "t", "src", "msg", "cat", "views", "basket", "order", "dwell",
                   "checks"]
ORDER_COLUMNS = ["cust", "t", "session", "basket", "disc", "msg", "origin", "cause_msg",
                 "key", "moved"]




class Catalog:
    """Products with prices, costs and supply days, grouped by category."""

    def __init__(self, cfg, rng: np.random.Generator):
        cats = cfg.catalog
        rows = defaultdict(list)
        for ci, c in enumerate(cats):
            price = np.round(c.median_price * np.exp(c.price_spread * rng.standard_normal(
                c.n_products)), 0) - 0.01
            price = np.sort(np.maximum(price, 0.99))
            margin = rng.uniform(c.margin_low, c.margin_high, c.n_products)
            rows["category"].append(np.full(c.n_products, ci))
            rows["price"].append(price)
            rows["unit_cost"].append(np.round(price * (1 - margin), 2))
            if c.supply_days is not None:
                sd = np.round(c.supply_days * np.exp(SUPPLY_DAYS_LOG_SD * rng.standard_normal(
                    c.n_products)))
                rows["supply_days"].append(np.maximum(sd, 1.0))
            else:
                rows["supply_days"].append(np.full(c.n_products, np.nan))
        self.product_category = np.concatenate(rows["category"])
        self.price = np.concatenate(rows["price"])
        self.unit_cost = np.concatenate(rows["unit_cost"])
        self.supply_days = np.concatenate(rows["supply_days"])
        self.n_categories = len(cats)
        self.category_type = np.array([PURCHASE_TYPES.index(c.purchase_type) for c in cats])
        counts = np.array([c.n_products for c in cats])
        self.category_first = np.r_[0, np.cumsum(counts)[:-1]]
        self.category_size = counts
        self.category_return_rate = np.array([c.return_rate for c in cats])
        # global sort key (category, price) for nearest-price lookups
        self.price_key = self.product_category * 1e7 + self.price
        self.complements = self._complements(cfg, rng)
        # popularity weights, cumulated in product order (category, then price)
        self.popularity = rng.lognormal(0.0, cfg.products.popularity_log_sd, self.price.size)
        self.cum_popularity = np.r_[0.0, np.cumsum(self.popularity)]

    def _complements(self, cfg, rng: np.random.Generator) -> np.ndarray:
        """Each product's complements, ``(n_products, complements_per_product)``.

        A product's complements come from its category's complement categories (or
        one other category drawn here when the config names none), near the
        product's price rank within its category: rank share ``q`` maps to rank share
        ``q + complement_price_sd * N(0, 1)`` of the complement category.  A
        consumable's first complement is itself (the re-order); no other product is
        its own complement.
        """
        cats, ps = cfg.catalog, cfg.products
        names = [c.name for c in cats]
        n_cat, n_comp = len(cats), ps.complements_per_product
        comp_cats = []
        for ci, c in enumerate(cats):
            if c.complements:
                comp_cats.append(np.array([names.index(x) for x in c.complements]))
            else:
                others = np.delete(np.arange(n_cat), ci)
                comp_cats.append(others[[rng.integers(others.size)]])
        n = self.price.size
        cat = self.product_category
        rank_share = (np.arange(n) - self.category_first[cat] + 0.5) / self.category_size[cat]
        out = np.empty((n, n_comp), dtype=np.int64)
        for j in range(n_comp):
            choice = rng.random(n)
            target = np.array([cc[int(u * cc.size)] for cc, u in
                               zip((comp_cats[c] for c in cat), choice, strict=True)])
            q = rank_share + ps.complement_price_sd * rng.standard_normal(n)
            size = self.category_size[target]
            pos = np.clip((q * size).astype(np.int64), 0, size - 1)
            prod = self.category_first[target] + pos
            # never the product itself: its neighbour in the category instead
            own = prod == np.arange(n)
            prod[own] = np.where(pos[own] + 1 < size[own], prod[own] + 1, prod[own] - 1)
            out[:, j] = prod
        # a consumable's first "complement" is itself: what follows it is often a re-order
        consumable = self.category_type[cat] == CONSUMABLE
        out[consumable, 0] = np.flatnonzero(consumable)
        return out

    def product_in_category(self, cat: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A product of each category ``cat``, uniformly by the uniforms ``u``."""
        return self.category_first[cat] + np.minimum((u * self.category_size[cat]).astype(int),
                                                     self.category_size[cat] - 1)


class Customers:
    """Latent customer traits: BG/NBD and Gamma-Gamma parameters, channels, preferences."""

    def __init__(self, cfg, rng: np.random.Generator, horizon: float, n_categories: int):
        N = cfg.n_customers
        acq_names = [a for a in ACQUISITION_CHANNELS if a in cfg.acquisition]
        shares = np.array([cfg.acquisition[a].share for a in acq_names])
        acq = rng.choice(len(acq_names), N, p=shares / shares.sum())
        self.acquisition_names = acq_names
        self.acquisition = acq
        channels = [cfg.acquisition[a] for a in acq_names]
        bg, gg = cfg.bgnbd, cfg.gamma_gamma
        # per-channel exact BG/NBD / Gamma-Gamma parameters
        self.channel_params = {
            name: {
                "r": bg.r, "alpha_days": bg.alpha_days / a.rate_multiplier,
                "a": bg.a, "b": bg.b / a.dropout_multiplier,
                "p": gg.p, "q": gg.q, "gamma": gg.gamma * a.spend_multiplier,
            }
            for name, a in zip(acq_names, channels, strict=True)
        }
        alpha = np.array([self.channel_params[n]["alpha_days"] for n in acq_names])[acq]
        b = np.array([self.channel_params[n]["b"] for n in acq_names])[acq]
        gam = np.array([self.channel_params[n]["gamma"] for n in acq_names])[acq]
        self.signup_t = np.sort(rng.uniform(0.0, horizon, N))
        self.purchase_rate = rng.gamma(bg.r, 1.0 / alpha)
        self.dropout_prob = rng.beta(bg.a, b)
        self.spend_nu = rng.gamma(gg.q, 1.0 / gam)
        seg_cum = np.cumsum(np.array([a.price_segment_probs for a in channels]), axis=1)
        seg_cum /= seg_cum[:, -1:]
        self.price_segment = categorical(seg_cum, rng.random(N), rows=acq)
        sd = cfg.response.responsiveness_log_sd
        # logit offsets per channel (rows in CHANNELS order)
        self.responsiveness = rng.normal(0.0, sd, (len(CHANNELS), N))
        self.preferred_hour = np.clip(rng.normal(PREFERRED_HOUR_MEAN, PREFERRED_HOUR_SD, N),
                                      0, 23.99)
        tr = cfg.traffic
        self.apple_mpp = rng.random(N) < tr.apple_mpp_share
        self.opted_in = np.stack([rng.random(N) < getattr(tr, f"{c}_opt_in_rate")
                                  for c in CHANNELS])
        self.affinity = rng.dirichlet(np.full(n_categories, CATEGORY_AFFINITY_CONCENTRATION), N)
        self.affinity_cum = np.cumsum(self.affinity, axis=1)
        # entropy of each customer's preferences: centres a product's appeal (messaging)
        self.affinity_entropy = -(self.affinity * np.log(np.maximum(self.affinity, 1e-300))
                                  ).sum(axis=1)
        self.cycle_multiplier = rng.lognormal(0.0, CYCLE_MULTIPLIER_LOG_SD, N)
        self.first_order_discount = np.array([a.first_order_discount_pct for a in channels])[acq]
        self.region = rng.integers(0, len(REGIONS), N)
        self.dropout_t = np.full(N, np.inf)

    def draw_weekend_hours(self, eng, start_weekday: int, rng: np.random.Generator) -> None:
        """Each customer's preferred hour on Saturdays and Sundays (its own stream).

        Their weekday hour shifted by ``weekend_hour_shift`` plus a customer's own
        normal deviation of sd ``weekend_hour_sd``, around the clock.
        """
        n = self.preferred_hour.size
        self.weekend_hour = (self.preferred_hour + eng.weekend_hour_shift
                             + eng.weekend_hour_sd * rng.standard_normal(n)) % 24.0
        self._start_weekday = int(start_weekday)

    def is_weekend(self, day: np.ndarray) -> np.ndarray:
        """Whether simulated day ``day`` (days since the start date) is a Saturday or Sunday."""
        return (np.asarray(day, dtype=np.int64) + self._start_weekday) % 7 >= 5

    def hour_on(self, cust: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Each customer's preferred hour on day ``day`` (weekday or weekend)."""
        return np.where(self.is_weekend(day), self.weekend_hour[cust], self.preferred_hour[cust])

    def acquisition_labels(self, cust: np.ndarray) -> np.ndarray:
        """Acquisition channel names of customers ``cust``."""
        return np.array(self.acquisition_names, dtype=object)[self.acquisition[cust]]




class World:
    """The organic world of one simulation and the session and order ledgers.

    Sessions and orders are ledgers (:class:`~workbench.simulate.common.ColumnBatches`)
    whose row number is the internal id; messages add click sessions and caused
    orders to them during the day loop.  ``organic`` is a mutable copy of the
    organic orders (a message may move one or put its discount on it).
    """

    def __init__(self, cfg, rng_world: np.random.Generator, rng_catalog: np.random.Generator,
                 rng_habits: np.random.Generator):
        self.cfg = cfg
        self.horizon = float(cfg.days)  # days simulated
        self.catalog = Catalog(cfg, rng_catalog)
        self.customers = Customers(cfg, rng_world, self.horizon, self.catalog.n_categories)
        self.customers.draw_weekend_hours(cfg.engagement, cfg.start_date.weekday(), rng_habits)
        self.baskets = Baskets(cfg, self.catalog, self.customers)

    # ------------------------------------------------------------------ organic world
    def build_occasions(self, rng: np.random.Generator,
                        rng_research: np.random.Generator | None = None,
                        rng_reorder: np.random.Generator | None = None,
                        rng_dwell: np.random.Generator | None = None):
        """Draw purchase and browse occasions, their sessions, orders, carts and browses.

        ``rng_research`` draws the research sessions (:mod:`.browsing`), ``rng_reorder``
        the use-cycle re-orders (:mod:`.reorders`), ``rng_dwell`` the time browse sessions
        spend per product view; none of the first two without it, 45 s per view without
        the last.
        """
        cfg, N, H = self.cfg, self.cfg.n_customers, self.horizon
        cus, cat_type = self.customers, self.catalog.category_type
        # repeat purchases (BG/NBD)
        rep_c, rep_t = [], []
        t = cus.signup_t.copy()
        active = np.arange(N)
        while active.size:
            t[active] += rng.exponential(1.0 / cus.purchase_rate[active])
            active = active[t[active] < H]
            rep_c.append(active)
            rep_t.append(t[active].copy())
            die = rng.random(active.size) < cus.dropout_prob[active]
            cus.dropout_t[active[die]] = t[active[die]]
            active = active[~die]
        rep_c = np.concatenate(rep_c) if rep_c else np.zeros(0, int)
        rep_t = np.concatenate(rep_t) if rep_t else np.zeros(0)
        # purchase occasions: acquisition + repeats
        occ_c = np.r_[np.arange(N), rep_c]
        occ_t = np.r_[cus.signup_t, rep_t]
        occ_origin = np.r_[np.zeros(N, int), np.ones(rep_c.size, int)]
        # browse occasions: Poisson while alive
        tr = cfg.traffic
        rate = tr.browse_sessions_per_purchase * cus.purchase_rate + tr.browse_sessions_per_day
        end = np.minimum(cus.dropout_t, H)
        k = rng.poisson(rate * np.maximum(end - cus.signup_t, 0))
        br_c = np.repeat(np.arange(N), k)
        br_t = cus.signup_t[br_c] + rng.random(br_c.size) * (end - cus.signup_t)[br_c]
        self.n_repeat = rep_c.size

        # --- purchase occasions
        n_occ = occ_c.size
        occ_cat = categorical(cus.affinity_cum, rng.random(n_occ), rows=occ_c)
        u = rng.random((n_occ, BASKET_UNIFORMS))
        z = rng.gamma(cfg.gamma_gamma.p, 1.0 / cus.spend_nu[occ_c])
        primary = self._sequels(occ_c, occ_t, occ_origin, occ_cat, u, z)
        occ_cat = np.where(primary >= 0, self.catalog.product_category[primary], occ_cat)
        occ_basket = self.baskets.make(occ_c, occ_cat, u, z, primary=primary)
        ptype = cat_type[occ_cat]
        ab_p = np.array([cfg.carts.abandon_before_purchase[p] for p in PURCHASE_TYPES])[ptype]
        # a repeat occasion's cart is abandoned by its purchase type; a first purchase's
        # (the acquisition visit) by ``abandon_first_purchase`` (0: never), the same draw
        u_ab = rng.random(n_occ)
        abandon = np.where(occ_origin == 1, u_ab < ab_p,
                           u_ab < cfg.carts.abandon_first_purchase)
        med = np.array([cfg.carts.natural_return_median_hours[p] for p in PURCHASE_TYPES])
        delay = med[ptype] * np.exp(cfg.carts.natural_return_log_sd * rng.standard_normal(n_occ))
        n_views = 1 + rng.poisson(tr.mean_extra_views, n_occ)
        src_names = list(tr.source_mix)
        src_p = np.array([tr.source_mix[s] for s in src_names])
        src_code = np.array([SOURCES.index(s) for s in src_names])
        occ_src = src_code[rng.choice(len(src_names), n_occ, p=src_p / src_p.sum())]
        occ_src[:N] = np.array([SOURCES.index(ACQUISITION_SOURCE[a])
                                for a in cus.acquisition_names])[cus.acquisition]
        occ_key = combine(occ_c, np.arange(n_occ))

        # --- browse occasions
        n_br = br_c.size
        br_cat = categorical(cus.affinity_cum, rng.random(n_br), rows=br_c)
        br_views = 1 + rng.poisson(tr.mean_extra_views, n_br)
        cp = np.array([cfg.carts.browse_cart_prob[p] for p in PURCHASE_TYPES])[cat_type[br_cat]]
        br_cart = rng.random(n_br) < cp
        br_basket = np.full(n_br, -1)
        if br_cart.any():
            bc = br_c[br_cart]
            br_basket[br_cart] = self.baskets.make(
                bc, br_cat[br_cart], rng.random((bc.size, BASKET_UNIFORMS)),
                rng.gamma(cfg.gamma_gamma.p, 1.0 / cus.spend_nu[bc]))
        br_src = src_code[rng.choice(len(src_names), n_br, p=src_p / src_p.sum())]
        # research sessions before planned purchases, on top (their own stream)
        research = np.zeros(n_br, bool)
        if rng_research is not None and tr.research_share > 0:
            rs = research_sessions(tr, occ_c, occ_t, occ_origin, occ_cat, cus.signup_t,
                                   src_names, src_p, src_code, rng_research)
            m = rs["cust"].size
            br_c, br_t, br_cat = (np.r_[br_c, rs["cust"]], np.r_[br_t, rs["t"]],
                                  np.r_[br_cat, rs["cat"]])
            br_views, br_src = np.r_[br_views, rs["views"]], np.r_[br_src, rs["src"]]
            br_cart, br_basket = np.r_[br_cart, np.zeros(m, bool)], np.r_[br_basket,
                                                                            np.full(m, -1)]
            research = np.r_[research, np.ones(m, bool)]

        # --- sessions ledger (index = internal session id)
        # dwell: time per view, as a multiple of 45 s (see .browsing); 4 bytes a session
        self.sessions = ColumnBatches(SESSION_COLUMNS, {"dwell": np.float32(1.0),
                                                        "checks": np.int32(0)})
        s_occ = self.sessions.add(cust=occ_c, t=occ_t, src=occ_src, msg=-1, cat=occ_cat,
                                  views=n_views, basket=occ_basket, order=-1)
        br_dwell, br_checks = browse_looks(tr, research, br_cart, br_views, rng_dwell)
        s_br = self.sessions.add(cust=br_c, t=br_t, src=br_src, msg=-1, cat=br_cat,
                                 views=br_views, basket=br_basket, order=-1, dwell=br_dwell,
                                 checks=br_checks)

        # --- organic orders: immediate ones and natural returns after abandonment
        order_t = np.where(abandon, occ_t + delay * HOUR,
                           occ_t + (n_views + CHECKOUT_EVENTS) * EVENT_GAP)
        happen = order_t < H
        self.orders = ColumnBatches(ORDER_COLUMNS)
        oc = occ_c[happen]
        disc = np.where(occ_origin[happen] == 0, cus.first_order_discount[oc], 0.0)
        self.orders.add(cust=oc, t=order_t[happen], session=np.where(abandon[happen], -1,
                        s_occ[happen]), basket=occ_basket[happen], disc=disc, msg=-1,
                        origin=occ_origin[happen], cause_msg=-1, key=occ_key[happen],
                        moved=False)
        if rng_reorder is not None and cfg.products.reorder_share > 0:
            add_reorders(self, oc, order_t[happen], occ_basket[happen], n_occ, src_p, src_code,
                         rng_reorder, BASKET_UNIFORMS, CHECKOUT_EVENTS)
        self.organic = {k: v.copy() for k, v in self.orders.build().items()}
        self.n_organic = self.orders.n
        ord_idx = np.nonzero(happen)[0]  # order ids are in occasion order for happened ones
        order_id_of_occ = np.full(n_occ, -1)
        order_id_of_occ[ord_idx] = np.arange(ord_idx.size)

        # --- abandoned carts (the unit of the timing experiment)
        ab_idx = np.nonzero(abandon)[0]
        br_idx = np.nonzero(br_cart)[0]
        self.cart_session = np.r_[s_occ[ab_idx], s_br[br_idx]]
        self.cart_customer = np.r_[occ_c[ab_idx], br_c[br_idx]]
        self.cart_t = np.r_[occ_t[ab_idx], br_t[br_idx]] + CART_LEFT_AFTER
        self.cart_basket = np.r_[occ_basket[ab_idx], br_basket[br_idx]]
        self.cart_type = np.r_[ptype[ab_idx], cat_type[br_cat[br_idx]]]
        self.cart_natural = np.r_[happen[ab_idx], np.zeros(br_idx.size, bool)]
        self.cart_natural_t = np.r_[order_t[ab_idx], np.full(br_idx.size, np.inf)]
        self.cart_order = np.r_[order_id_of_occ[ab_idx], np.full(br_idx.size, -1)]
        self.cart_key = combine(self.cart_customer, self.cart_session, 7)
        # 0 lost, 1 natural return, 2 moved by a message, 3 caused by a message
        self.cart_outcome = self.cart_natural.astype(np.int64)
        self.cart_message = np.full(self.cart_session.size, -1)
        # browse-abandonment candidates: no cart, enough views
        ba = (~br_cart) & (br_views >= cfg.campaigns.browse_abandonment.min_views)
        browse_candidates(self, ba, s_br, br_c, br_t, br_cat, br_views, br_src, br_dwell,
                          br_checks, research, occ_c, occ_t, occ_cat)
        # per-customer sorted organic order times (for "would have bought anyway")
        o = self.organic
        order = np.lexsort((o["t"], o["cust"]))
        self._organic_sort_key = o["cust"][order] * (H + KEY_SPAN_PAD_DAYS) + o["t"][order]
        self._organic_sort_idx = order
        # where each customer's orders start in that order
        self._organic_cust_start = np.searchsorted(o["cust"][order], np.arange(N + 1))

    def _sequels(self, occ_c, occ_t, occ_origin, occ_cat, u, z) -> np.ndarray:
        """The first product of each repeat occasion that follows up the one before (-1: none).

        A repeat occasion starts from a complement of the customer's previous
        occasion's first product with probability ``sequel_share * exp(-gap /
        sequel_fresh_days)`` (uniform column 6 decides, and its rescaled value picks
        which complement); chains of sequels are followed to their end.
        """
        ps = self.cfg.products
        n = occ_c.size
        if ps.sequel_share <= 0 or n == 0:
            return np.full(n, -1)
        first, _ = self.baskets.pick(occ_cat, z / self.baskets.n_items(u), u[:, 10])
        order = np.lexsort((occ_t, occ_c))
        prev = np.full(n, -1)
        same = occ_c[order][1:] == occ_c[order][:-1]
        prev[order[1:][same]] = order[:-1][same]
        has = (prev >= 0) & (occ_origin == 1)
        p = np.where(has, ps.sequel_share * np.exp(-(occ_t - occ_t[prev]) / ps.sequel_fresh_days),
                     0.0)
        seq = u[:, 6] < p
        comp = self.catalog.complements
        pick = np.minimum((u[:, 6] / np.where(seq, p, 1.0) * comp.shape[1]).astype(np.int64),
                          comp.shape[1] - 1)
        prod = first.copy()
        while True:  # a sequel of a sequel follows the resolved product (chains are short)
            new = np.where(seq, comp[prod[prev], pick], first)
            if np.array_equal(new, prod):
                break
            prod = new
        return np.where(seq, prod, -1)

    # ------------------------------------------------------------------ questions
    def next_organic_order(self, cust, t):
        """Index of each customer's first organic order at or after ``t`` (or -1) and its time."""
        key = cust * (self.horizon + KEY_SPAN_PAD_DAYS) + t
        k = kernels.compiled()
        if k is not None:  # a search among the customer's own orders (cache-friendly)
            pos = k["first_at_or_after"](self._organic_sort_key, self._organic_cust_start,
                                         cust, key)
            ok = pos >= 0
            pos_c = np.maximum(pos, 0)
        else:
            pos = np.searchsorted(self._organic_sort_key, key)
            ok = pos < self._organic_sort_key.size
            pos_c = np.minimum(pos, self._organic_sort_key.size - 1)
        idx = self._organic_sort_idx[pos_c]
        ok &= self.organic["cust"][idx] == cust
        return np.where(ok, idx, -1), np.where(ok, self.organic["t"][idx], np.inf)

    def all_orders(self) -> dict[str, np.ndarray]:
        """Organic orders (as moved and discounted so far) followed by the caused ones."""
        caused = self.orders.build()
        return {k: np.r_[v, caused[k][self.n_organic:]] for k, v in self.organic.items()}

    def _orders_before(self, cust: np.ndarray, t: np.ndarray):
        """Every order so far sorted by customer and time, and each ``cust``'s span in it.

        ``(order, times, lo, hi)``: the sorting permutation of the orders (organic ones,
        then the caused ones created so far), their sorted times, and per row of ``cust``
        the slice ``[lo, hi)`` of that customer's orders placed before ``t``.
        """
        o = self.organic
        caused = self.orders.build()
        n0 = self.n_organic
        oc = np.r_[o["cust"], caused["cust"][n0:]]
        ot = np.r_[o["t"], caused["t"][n0:]]
        span = self.horizon + KEY_SPAN_PAD_DAYS
        key = oc * span + ot
        order = np.argsort(key, kind="stable")
        key, ot = key[order], ot[order]
        lo = np.searchsorted(key, cust * span, side="left")
        hi = np.searchsorted(key, cust * span + t, side="left")
        return order, ot, lo, hi

    def prior_orders(self, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Each customer's orders placed before ``t`` (the caused ones created so far)."""
        _, _, lo, hi = self._orders_before(cust, t)
        return hi - lo

    def segment_labels(self, segmentation, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Each customer's observable segment from the orders placed before ``t``.

        The same definition the discount analysis labels its units with
        (:class:`workbench.segments.Segmentation` over earlier discounted orders,
        average order value after discount, days since the last order, acquisition
        channel).  Orders that messages of the current day's batch will cause are not
        created yet, so they are not seen — like a segment feed refreshed daily.
        """
        o = self.organic
        caused = self.orders.build()
        n0 = self.n_organic
        disc = np.r_[o["disc"], caused["disc"][n0:]]
        _, rev = order_money(self.baskets.value[np.r_[o["basket"], caused["basket"][n0:]]], disc)
        order, ot, lo, hi = self._orders_before(cust, t)
        cum_rev = np.r_[0.0, np.cumsum(rev[order])]
        cum_deal = np.r_[0, np.cumsum(disc[order] > 0)]
        n = hi - lo
        has = n > 0
        aov = np.where(has, (cum_rev[hi] - cum_rev[lo]) / np.maximum(n, 1), np.nan)
        last = np.where(has, ot[np.maximum(hi - 1, 0)], np.nan)
        return segmentation.labels(
            prior_discounted_orders=cum_deal[hi] - cum_deal[lo], prior_aov=aov,
            recency_days=t - last,
            acquisition_channel=self.customers.acquisition_labels(cust))
