"""The store simulator: customers, browsing, carts, orders, campaigns and their truth.

The generative story
--------------------
1. **Customers** arrive uniformly over the window and are acquired by a first
   order.  Their repeat purchases follow the BG/NBD story (Fader, Hardie & Lee
   2005, "Counting your customers the easy way", Marketing Science 24(2),
   assumptions i-v): Poisson purchases at rate ``lambda ~ Gamma(r, alpha)``
   while alive, dropout with probability ``p ~ Beta(a, b)`` after each repeat
   purchase.  Order values follow the Gamma-Gamma story (Fader, Hardie & Lee
   2005, "RFM and CLV", JMR 42(4), eq. 1-2): ``z ~ Gamma(p, nu)``,
   ``nu ~ Gamma(q, gamma)``.  The acquisition channel shifts ``alpha``, ``b``
   and ``gamma`` so each channel's customers follow exact BG/NBD and
   Gamma-Gamma laws with their own parameters (written to ``truth/params.json``).
2. **Sessions**: every purchase occasion is a session that views products,
   fills a cart and checks out; some carts are abandoned first and the customer
   returns naturally after a log-normal delay that depends on the purchase type.
   Browse sessions (a Poisson process while alive) view products and sometimes
   leave a cart that would never come back on its own.
3. **Campaigns** read the campaign config and run in a day loop: abandoned cart
   (a randomized delay x channel experiment with a no-message holdout),
   browse abandonment, post-purchase cross-sell, replenishment and seasonal
   offers (a randomized discount experiment).  Frequency caps and
   unsubscribes (whose probability rises with recent message volume) are state.
4. **Outcomes** of a message are drawn with common random numbers (see
   :mod:`workbench.simulate.random`): a message *causes* a conversion only when
   the customer is persuaded *and* would not have bought in the window anyway;
   a click by someone who would have bought anyway moves their purchase onto
   the message (it is attributed, not caused), and a discount they redeem is a
   subsidy.  Machine opens (Apple Mail privacy protection) register an open for
   every delivered email to those customers.

All time inside the engine is float days since ``config.start_date`` (UTC).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
from scipy import special, stats

from .. import __version__
from ..vocab import (
    ACQUISITION_CHANNELS,
    CAMPAIGNS,
    CHANNELS,
    PRICE_SEGMENTS,
    PURCHASE_TYPES,
    REGIONS,
)
from ..vocab import SIMULATED_SOURCES as SOURCES
from .common import (
    C_BROWSE,
    C_CART,
    C_POST,
    C_REPL,
    C_SEAS,
    EVENT_GAP,
    HOUR,
    MINUTE,
    U_ARM,
    U_ASSIGN,
    U_BASKET,
    U_CAUSED_T,
    U_CLICK,
    U_CLICK_T,
    U_DELIVER,
    U_HOLDOUT,
    U_MACHINE_T,
    U_OPEN,
    U_OPEN_T,
    U_PERSUADE,
    U_PRODUCTS,
    U_SEAS_ARM,
    U_SEAS_ASSIGN,
    U_UNSUB,
    U_UNSUB_T,
    U_VIA,
)
from .common import ColumnBatches as _Columns
from .common import GrowingArray as _Grow
from .common import categorical as _categorical
from .common import circular_hour_distance as _circ_hour_dist
from .common import group_rank as _group_rank
from .common import hour_of_day as _hour_of_day
from .common import order_money as _order_money
from .common import sigmoid as _sigmoid
from .config import SimulationConfig
from .random import KeyedUniform, combine

S_DIRECT = 0
ACQ_SOURCE = {"organic_search": 1, "paid_search": 2, "social": 3, "referral": 4,
              "discount_promo": 3}
ORIGINS = ("acquisition", "organic", "caused")


@dataclass
class SimulatedStore:
    """What :func:`simulate` returns: canonical tables, truth tables, metadata."""

    tables: dict[str, pa.Table]
    truth: dict[str, pa.Table]
    truth_params: dict
    config: SimulationConfig
    seed: int
    stats: dict = field(default_factory=dict)

    def manifest_info(self) -> dict:
        return {
            "generator": f"workbench.simulate {__version__}",
            "seed": self.seed,
            "config_hash": self.config.config_hash(),
            "config": self.config.model_dump(mode="json"),
        }

    def to_pandas(self, name: str):
        """Return one canonical (or ``truth/NAME``) table as a pandas DataFrame."""
        from ..store import arrow_to_pandas

        if name.startswith("truth/"):
            return arrow_to_pandas(self.truth[name.removeprefix("truth/")])
        return arrow_to_pandas(self.tables[name])


# ----------------------------------------------------------------------------- engine
class _Engine:
    def __init__(self, cfg: SimulationConfig, seed: int, progress: Callable[[int], None] | None):
        self.cfg = cfg
        self.seed = int(seed)
        self.progress = progress
        ss = np.random.SeedSequence(self.seed)
        self.rng_world, self.rng_occ, self.rng_post = (np.random.default_rng(s)
                                                       for s in ss.spawn(3))
        self.ku = KeyedUniform(self.seed)
        self.H = float(cfg.days)

    # ------------------------------------------------------------------ catalog
    def build_catalog(self):
        rng = self.rng_world
        cats = self.cfg.catalog
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
                sd = np.round(c.supply_days * np.exp(0.2 * rng.standard_normal(c.n_products)))
                rows["supply_days"].append(np.maximum(sd, 1.0))
            else:
                rows["supply_days"].append(np.full(c.n_products, np.nan))
        self.p_cat = np.concatenate(rows["category"])
        self.p_price = np.concatenate(rows["price"])
        self.p_cost = np.concatenate(rows["unit_cost"])
        self.p_supply = np.concatenate(rows["supply_days"])
        self.n_cat = len(cats)
        self.cat_type = np.array([PURCHASE_TYPES.index(c.purchase_type) for c in cats])
        counts = np.array([c.n_products for c in cats])
        self.cat_start = np.r_[0, np.cumsum(counts)[:-1]]
        self.cat_n = counts
        self.cat_return = np.array([c.return_rate for c in cats])
        # global sort key (category, price) for nearest-price lookups
        self._price_key = self.p_cat * 1e7 + self.p_price

    # ------------------------------------------------------------------ customers
    def build_customers(self):
        cfg, rng, N = self.cfg, self.rng_world, self.cfg.n_customers
        acq_names = [a for a in ACQUISITION_CHANNELS if a in cfg.acquisition]
        shares = np.array([cfg.acquisition[a].share for a in acq_names])
        acq = rng.choice(len(acq_names), N, p=shares / shares.sum())
        self.acq_names = acq_names
        self.acq = acq
        A = [cfg.acquisition[a] for a in acq_names]
        bg, gg = cfg.bgnbd, cfg.gamma_gamma
        # per-channel exact BG/NBD / Gamma-Gamma parameters
        self.channel_params = {
            name: {
                "r": bg.r, "alpha_days": bg.alpha_days / a.rate_multiplier,
                "a": bg.a, "b": bg.b / a.dropout_multiplier,
                "p": gg.p, "q": gg.q, "gamma": gg.gamma * a.spend_multiplier,
            }
            for name, a in zip(acq_names, A, strict=True)
        }
        alpha = np.array([self.channel_params[n]["alpha_days"] for n in acq_names])[acq]
        b = np.array([self.channel_params[n]["b"] for n in acq_names])[acq]
        gam = np.array([self.channel_params[n]["gamma"] for n in acq_names])[acq]
        self.signup = np.sort(rng.uniform(0.0, self.H, N))
        self.lam = rng.gamma(bg.r, 1.0 / alpha)
        self.pdrop = rng.beta(bg.a, b)
        self.nu = rng.gamma(gg.q, 1.0 / gam)
        seg_cum = np.cumsum(np.array([a.price_segment_probs for a in A]), axis=1)
        seg_cum /= seg_cum[:, -1:]
        self.segment = _categorical(seg_cum[acq], rng.random(N))
        sd = cfg.response.responsiveness_log_sd
        self.resp = rng.normal(0.0, sd, (2, N))  # email, sms logit offsets
        self.pref_hour = np.clip(rng.normal(13.0, 4.0, N), 0, 23.99)
        tr = cfg.traffic
        self.mpp = rng.random(N) < tr.apple_mpp_share
        self.opt = np.stack([rng.random(N) < tr.email_opt_in_rate,
                             rng.random(N) < tr.sms_opt_in_rate])
        self.affinity = rng.dirichlet(np.full(self.n_cat, 0.4), N)
        self.aff_cum = np.cumsum(self.affinity, axis=1)
        self.cycle_mult = rng.lognormal(0.0, 0.2, N)
        self.first_discount = np.array([a.first_order_discount_pct for a in A])[acq]
        self.region = rng.integers(0, len(REGIONS), N)
        self.death = np.full(N, np.inf)

    # ------------------------------------------------------------------ baskets
    def make_baskets(self, cust, primary_cat, u: np.ndarray, z: np.ndarray | None = None):
        """Build baskets from uniforms ``u`` (n, 10); returns basket ids."""
        n = cust.size
        tr = self.cfg.traffic
        n_items = 1 + np.minimum(stats.poisson.ppf(u[:, 0], tr.mean_extra_items), 3).astype(int)
        if z is None:
            z = stats.gamma.ppf(u[:, 1], self.cfg.gamma_gamma.p, scale=1.0 / self.nu[cust])
        basket_of = np.repeat(np.arange(n), n_items)
        slot = np.arange(basket_of.size) - np.repeat(np.cumsum(n_items) - n_items, n_items)
        uu = u[basket_of]
        cat = primary_cat[basket_of].copy()
        extra = slot > 0
        col = np.minimum(1 + slot, 4)
        u_cat = uu[np.arange(uu.shape[0]), 1 + col]
        cat[extra] = _categorical(self.aff_cum[cust[basket_of[extra]]], u_cat[extra])
        target = (z / n_items)[basket_of]
        # the product whose price is nearest the per-item target, in the units that bring
        # the line closest to it: order value follows the Gamma-Gamma draw up to the
        # catalog's price steps (extra noise here would bias it upward)
        key = cat * 1e7 + target
        pos = np.searchsorted(self._price_key, key)
        lo = self.cat_start[cat]
        hi = lo + self.cat_n[cat] - 1
        pos = np.clip(pos, lo, hi)
        prev = np.clip(pos - 1, lo, hi)
        pick_prev = np.abs(self._price_key[prev] - key) < np.abs(self._price_key[pos] - key)
        prod = np.where(pick_prev, prev, pos)
        qty = np.clip(np.round(target / self.p_price[prod]), 1, 6).astype(np.int64)
        # one row per distinct product in a basket
        bid = self.basket_count + basket_of
        self.basket_parts.append((bid, prod, qty))
        ids = self.basket_count + np.arange(n)
        self.basket_count += n
        return ids

    def finalize_baskets(self):
        """Sort the baskets made since the last call into the item store.

        New basket ids are always larger than finalized ones, so appending keeps
        the store sorted by basket; duplicate products inside a basket merge.
        """
        if not self.basket_parts:
            return
        bid = np.concatenate([p[0] for p in self.basket_parts])
        prod = np.concatenate([p[1] for p in self.basket_parts])
        qty = np.concatenate([p[2] for p in self.basket_parts])
        self.basket_parts = []
        order = np.lexsort((prod, bid))
        bid, prod, qty = bid[order], prod[order], qty[order]
        new = np.r_[True, (bid[1:] != bid[:-1]) | (prod[1:] != prod[:-1])]
        grp = np.cumsum(new) - 1
        qty = np.bincount(grp, weights=qty).astype(np.int64)
        bid, prod = bid[new], prod[new]
        first = self._g_value.n
        offset = self._g_bi_basket.n
        self._g_bi_basket.extend(bid)
        self._g_bi_product.extend(prod)
        self._g_bi_qty.extend(qty)
        ids = np.arange(first, self.basket_count)
        self._g_start.extend(offset + np.searchsorted(bid, ids))
        self._g_end.extend(offset + np.searchsorted(bid, ids, side="right"))
        local = bid - first
        self._g_value.extend(np.bincount(local, weights=qty * self.p_price[prod],
                                         minlength=ids.size))
        self._g_cost.extend(np.bincount(local, weights=qty * self.p_cost[prod],
                                        minlength=ids.size))
        # each basket's primary consumable (the first consumable among its first four
        # items, -1 if none) and its quantity: what replenishment reminders are about
        pos = np.arange(bid.size) - np.searchsorted(bid, bid)
        cand = np.nonzero((pos < 4) & (self.cat_type[self.p_cat[prod]] == 2))[0]
        cons = np.full(ids.size, -1, dtype=np.int64)
        cons_qty = np.ones(ids.size, dtype=np.int64)
        if cand.size:
            first_b, at = np.unique(local[cand], return_index=True)
            cons[first_b] = prod[cand[at]]
            cons_qty[first_b] = qty[cand[at]]
        self._g_cons.extend(cons)
        self._g_cons_qty.extend(cons_qty)

    bi_basket = property(lambda self: self._g_bi_basket.v)
    bi_product = property(lambda self: self._g_bi_product.v)
    bi_qty = property(lambda self: self._g_bi_qty.v)
    b_start = property(lambda self: self._g_start.v)
    b_end = property(lambda self: self._g_end.v)
    b_value = property(lambda self: self._g_value.v)
    b_cost = property(lambda self: self._g_cost.v)
    b_cons = property(lambda self: self._g_cons.v)
    b_cons_qty = property(lambda self: self._g_cons_qty.v)

    # ------------------------------------------------------------------ organic world
    def build_occasions(self):
        cfg, rng, N, H = self.cfg, self.rng_occ, self.cfg.n_customers, self.H
        # repeat purchases (BG/NBD)
        rep_c, rep_t = [], []
        t = self.signup.copy()
        active = np.arange(N)
        while active.size:
            t[active] += rng.exponential(1.0 / self.lam[active])
            active = active[t[active] < H]
            rep_c.append(active)
            rep_t.append(t[active].copy())
            die = rng.random(active.size) < self.pdrop[active]
            self.death[active[die]] = t[active[die]]
            active = active[~die]
        rep_c = np.concatenate(rep_c) if rep_c else np.zeros(0, int)
        rep_t = np.concatenate(rep_t) if rep_t else np.zeros(0)
        # purchase occasions: acquisition + repeats
        occ_c = np.r_[np.arange(N), rep_c]
        occ_t = np.r_[self.signup, rep_t]
        occ_origin = np.r_[np.zeros(N, int), np.ones(rep_c.size, int)]
        # browse occasions: Poisson while alive
        tr = cfg.traffic
        rate = tr.browse_sessions_per_purchase * self.lam + tr.browse_sessions_per_day
        end = np.minimum(self.death, H)
        k = rng.poisson(rate * np.maximum(end - self.signup, 0))
        br_c = np.repeat(np.arange(N), k)
        br_t = self.signup[br_c] + rng.random(br_c.size) * (end - self.signup)[br_c]
        self.n_repeat = rep_c.size

        self.basket_parts = []
        self.basket_count = 0
        self._g_bi_basket, self._g_bi_product, self._g_bi_qty = (_Grow(np.int64) for _ in "abc")
        self._g_start, self._g_end = _Grow(np.int64), _Grow(np.int64)
        self._g_value, self._g_cost = _Grow(np.float64), _Grow(np.float64)
        self._g_cons, self._g_cons_qty = _Grow(np.int64), _Grow(np.int64)

        # --- purchase occasions
        n_occ = occ_c.size
        occ_cat = _categorical(self.aff_cum[occ_c], rng.random(n_occ))
        u = rng.random((n_occ, 10))
        z = rng.gamma(cfg.gamma_gamma.p, 1.0 / self.nu[occ_c])
        occ_basket = self.make_baskets(occ_c, occ_cat, u, z)
        ptype = self.cat_type[occ_cat]
        ab_p = np.array([cfg.carts.abandon_before_purchase[p] for p in PURCHASE_TYPES])[ptype]
        abandon = (rng.random(n_occ) < ab_p) & (occ_origin == 1)
        med = np.array([cfg.carts.natural_return_median_hours[p] for p in PURCHASE_TYPES])
        delay = med[ptype] * np.exp(cfg.carts.natural_return_log_sd * rng.standard_normal(n_occ))
        n_views = 1 + rng.poisson(tr.mean_extra_views, n_occ)
        src_names = list(tr.source_mix)
        src_p = np.array([tr.source_mix[s] for s in src_names])
        src_code = np.array([SOURCES.index(s) for s in src_names])
        occ_src = src_code[rng.choice(len(src_names), n_occ, p=src_p / src_p.sum())]
        occ_src[:N] = np.array([ACQ_SOURCE[a] for a in self.acq_names])[self.acq]
        occ_key = combine(occ_c, np.arange(n_occ))

        # --- browse occasions
        n_br = br_c.size
        br_cat = _categorical(self.aff_cum[br_c], rng.random(n_br))
        br_views = 1 + rng.poisson(tr.mean_extra_views, n_br)
        cp = np.array([cfg.carts.browse_cart_prob[p] for p in PURCHASE_TYPES])[
            self.cat_type[br_cat]]
        br_cart = rng.random(n_br) < cp
        br_basket = np.full(n_br, -1)
        if br_cart.any():
            bc = br_c[br_cart]
            br_basket[br_cart] = self.make_baskets(bc, br_cat[br_cart], rng.random((bc.size, 10)),
                                                   rng.gamma(cfg.gamma_gamma.p, 1.0 / self.nu[bc]))
        br_src = src_code[rng.choice(len(src_names), n_br, p=src_p / src_p.sum())]

        # --- sessions registry (index = internal session id)
        self.S = _Columns(["cust", "t", "src", "msg", "cat", "views", "basket", "order"])
        s_occ = self.S.add(cust=occ_c, t=occ_t, src=occ_src, msg=-1, cat=occ_cat, views=n_views,
                           basket=occ_basket, order=-1)
        s_br = self.S.add(cust=br_c, t=br_t, src=br_src, msg=-1, cat=br_cat, views=br_views,
                          basket=br_basket, order=-1)

        # --- organic orders: immediate ones and natural returns after abandonment
        order_t = np.where(abandon, occ_t + delay * HOUR, occ_t + (n_views + 3) * EVENT_GAP)
        happen = order_t < H
        self.O = _Columns(["cust", "t", "session", "basket", "disc", "msg", "origin",
                           "cause_msg", "key", "moved"])
        oc = occ_c[happen]
        disc = np.where(occ_origin[happen] == 0, self.first_discount[oc], 0.0)
        self.O.add(cust=oc, t=order_t[happen], session=np.where(abandon[happen], -1,
                   s_occ[happen]), basket=occ_basket[happen], disc=disc, msg=-1,
                   origin=occ_origin[happen], cause_msg=-1, key=occ_key[happen], moved=False)
        self.organic = {k: v.copy() for k, v in self.O.build().items()}
        self.n_organic = self.O.n
        ord_idx = np.nonzero(happen)[0]  # order ids are in occasion order for happened ones
        order_id_of_occ = np.full(n_occ, -1)
        order_id_of_occ[ord_idx] = np.arange(ord_idx.size)

        # --- abandoned carts (the unit of the timing experiment)
        ab_idx = np.nonzero(abandon)[0]
        br_idx = np.nonzero(br_cart)[0]
        self.cart_session = np.r_[s_occ[ab_idx], s_br[br_idx]]
        self.cart_cust = np.r_[occ_c[ab_idx], br_c[br_idx]]
        self.cart_t = np.r_[occ_t[ab_idx], br_t[br_idx]] + 0.5 * HOUR / 6  # left 5 min later
        self.cart_basket = np.r_[occ_basket[ab_idx], br_basket[br_idx]]
        self.cart_type = np.r_[ptype[ab_idx], self.cat_type[br_cat[br_idx]]]
        nat_t = np.r_[order_t[ab_idx], np.full(br_idx.size, np.inf)]
        self.cart_natural = np.r_[happen[ab_idx], np.zeros(br_idx.size, bool)]
        self.cart_natural_t = nat_t
        self.cart_order = np.r_[order_id_of_occ[ab_idx], np.full(br_idx.size, -1)]
        self.cart_key = combine(self.cart_cust, self.cart_session, 7)
        self.cart_outcome = self.cart_natural.astype(np.int64)  # 1 natural, 0 lost
        self.cart_msg = np.full(self.cart_session.size, -1)
        # browse-abandonment candidates: no cart, enough views
        ba = (~br_cart) & (br_views >= cfg.campaigns.browse_abandonment.min_views)
        self.browse_session = s_br[ba]
        self.browse_cust = br_c[ba]
        self.browse_t = br_t[ba] + br_views[ba] * EVENT_GAP
        self.browse_cat = br_cat[ba]
        # per-customer sorted organic order times (for "would have bought anyway")
        o = self.organic
        order = np.lexsort((o["t"], o["cust"]))
        self.org_sorted_key = o["cust"][order] * (self.H + 10.0) + o["t"][order]
        self.org_sorted_idx = order

    # ------------------------------------------------------------------ campaigns
    def next_organic_order(self, cust, t):
        """Index of each customer's first organic order at or after ``t`` (or -1) and its time."""
        key = cust * (self.H + 10.0) + t
        pos = np.searchsorted(self.org_sorted_key, key)
        ok = pos < self.org_sorted_key.size
        pos_c = np.minimum(pos, self.org_sorted_key.size - 1)
        idx = self.org_sorted_idx[pos_c]
        ok &= self.organic["cust"][idx] == cust
        return np.where(ok, idx, -1), np.where(ok, self.organic["t"][idx], np.inf)

    def run_campaigns(self):
        cfg, H = self.cfg, self.H
        camp = cfg.campaigns
        D = int(np.ceil(H))
        self.queue: dict[int, list[dict]] = defaultdict(list)
        self.M = _Columns(["cust", "campaign", "channel", "t", "delivered", "open_t", "click_t",
                           "unsub_t", "disc", "cost", "experiment", "arm", "trigger_kind",
                           "trigger", "persuaded", "caused", "caused_order", "anyway",
                           "machine", "p_persuade", "logit0", "alive", "prod_start",
                           "prod_len", "key"])
        self.msg_products = _Grow(np.int64)
        self.A = _Columns(["experiment", "unit_kind", "unit", "cust", "arm", "t"])
        self.experiments: list[str] = []
        self.arm_names: list[str] = []
        self.unsub = np.full((2, cfg.n_customers), np.inf)
        self.recent = np.zeros((2, cfg.n_customers, 7), dtype=np.int16)
        self.last_browse_msg = np.full(cfg.n_customers, -np.inf)
        self.caps = np.array([camp.caps.email_per_week, camp.caps.sms_per_week])
        # per-campaign holdout: customers who never get that campaign's messages
        self.holdout = np.array([camp.abandoned_cart.holdout_share,
                                 camp.browse_abandonment.holdout_share,
                                 camp.post_purchase.holdout_share,
                                 camp.replenishment.holdout_share,
                                 camp.seasonal.holdout_share])

        # bucket the organic world by day
        cart_day = np.floor(self.cart_t).astype(int)
        order_c = np.argsort(cart_day, kind="stable")
        bounds = np.searchsorted(cart_day[order_c], np.arange(D + 1))
        b_day = np.floor(self.browse_t).astype(int)
        b_order = np.argsort(b_day, kind="stable")
        b_bounds = np.searchsorted(b_day[b_order], np.arange(D + 1))
        org_day = np.floor(self.organic["t"]).astype(int)
        o_order = np.argsort(org_day, kind="stable")
        o_bounds = np.searchsorted(org_day[o_order], np.arange(D + 1))
        self.order_followed = np.zeros(self.n_organic, bool)
        self._schedule_seasonal()

        for d in range(D):
            self.recent[:, :, d % 7] = 0
            if camp.abandoned_cart.enabled:
                self._assign_carts(order_c[bounds[d]:bounds[d + 1]])
            if camp.browse_abandonment.enabled:
                self._queue_browse(b_order[b_bounds[d]:b_bounds[d + 1]])
            batch = self.queue.pop(d, [])
            seasonal = [b for b in batch if "seasonal" in b]
            batch = [b for b in batch if "seasonal" not in b] + self._expand_seasonal(seasonal)
            if batch:
                self._send(d, {k: np.concatenate([b[k] for b in batch]) for k in batch[0]})
            # follow-ups of orders placed today (organic ones not moved earlier)
            todays = o_order[o_bounds[d]:o_bounds[d + 1]]
            todays = todays[~self.order_followed[todays]]
            self._follow_up(todays)
            if self.progress is not None:
                self.progress(1)

    def _enqueue(self, **cols):
        t = cols["t"]
        if t.size == 0:
            return
        day = np.floor(t).astype(int)
        keep = day < int(np.ceil(self.H))
        for dd in np.unique(day[keep]):
            m = day == dd
            self.queue[int(dd)].append({k: np.asarray(v)[m] for k, v in cols.items()})

    def _trigger(self, cust, t, campaign, channel, key, disc=0.0, experiment=-1, arm=-1,
                 trigger_kind=-1, trigger=-1, ref=-1):
        n = cust.size

        def full(v, dt):
            return np.full(n, v, dtype=dt) if np.ndim(v) == 0 else np.array(v, dtype=dt)

        self._enqueue(cust=cust, t=t, campaign=full(campaign, np.int64),
                      channel=full(channel, np.int64), key=key, disc=full(disc, float),
                      experiment=full(experiment, np.int64), arm=full(arm, np.int64),
                      trigger_kind=full(trigger_kind, np.int64), trigger=full(trigger, np.int64),
                      ref=full(ref, np.int64))

    def _reachable(self, ch, cust, t):
        return self.opt[ch, cust] & (self.unsub[ch, cust] > t) & (self.signup[cust] <= t)

    def _exp_code(self, name: str) -> int:
        if name not in self.experiments:
            self.experiments.append(name)
        return self.experiments.index(name)

    def _arm_code(self, name: str) -> int:
        if name not in self.arm_names:
            self.arm_names.append(name)
        return self.arm_names.index(name)

    def _assign_carts(self, carts):
        if carts.size == 0:
            return
        ac = self.cfg.campaigns.abandoned_cart
        cust, t = self.cart_cust[carts], self.cart_t[carts]
        key = self.cart_key[carts]
        both = self._reachable(0, cust, t) & self._reachable(1, cust, t)
        in_exp = both & (self.ku(U_ASSIGN, key) < ac.experiment_share)
        w = np.cumsum([a.weight for a in ac.arms])
        arm_i = np.minimum(np.searchsorted(w / w[-1], self.ku(U_ARM, key)), len(ac.arms) - 1)
        exp = self._exp_code("abandoned_cart_timing")
        arm_codes = np.array([self._arm_code(a.name) for a in ac.arms])
        e = np.nonzero(in_exp)[0]
        if e.size:
            self.A.add(experiment=exp, unit_kind=0, unit=self.cart_session[carts[e]],
                       cust=cust[e], arm=arm_codes[arm_i[e]], t=t[e])
        arm_ch = np.array([-1 if a.channel is None else CHANNELS.index(a.channel)
                           for a in ac.arms])
        arm_delay = np.array([0.0 if a.delay_hours is None else a.delay_hours for a in ac.arms])
        pol = [ac.policy[p] for p in PURCHASE_TYPES]
        pol_ch = np.array([CHANNELS.index(p.channel) for p in pol])[self.cart_type[carts]]
        pol_delay = np.array([p.delay_hours for p in pol])[self.cart_type[carts]]
        pol_disc = np.array([p.discount_pct for p in pol])[self.cart_type[carts]]
        if ac.discount_rule is not None:
            pol_disc = ac.discount_rule.discount_for(self.segment_labels(
                ac.discount_rule.segmentation, cust, t))
        ch = np.where(in_exp, arm_ch[arm_i], pol_ch)
        delay = np.where(in_exp, arm_delay[arm_i], pol_delay)
        disc = np.where(in_exp, ac.discount_pct, pol_disc)
        send = ch >= 0
        ch_s = np.maximum(ch, 0)
        send &= in_exp | self._reachable(ch_s, cust, t)
        s = np.nonzero(send)[0]
        self._trigger(cust[s], t[s] + delay[s] * HOUR, C_CART, ch[s], combine(key[s], C_CART),
                      disc=disc[s], experiment=np.where(in_exp[s], exp, -1),
                      arm=np.where(in_exp[s], arm_codes[arm_i[s]], -1), trigger_kind=0,
                      trigger=self.cart_session[carts[s]], ref=carts[s])

    def _queue_browse(self, idx):
        if idx.size == 0:
            return
        bc = self.cfg.campaigns.browse_abandonment
        ch = CHANNELS.index(bc.channel)
        cust, t = self.browse_cust[idx], self.browse_t[idx]
        send_t = t + bc.delay_hours * HOUR
        ok = self._reachable(ch, cust, t) & (
            send_t - self.last_browse_msg[cust] >= bc.suppress_days)
        # one per customer per batch
        ok &= _group_rank(np.where(ok, cust, -1), t) == 0
        s = np.nonzero(ok)[0]
        self.last_browse_msg[cust[s]] = send_t[s]
        self._trigger(cust[s], send_t[s], C_BROWSE, ch, combine(self.browse_session[idx[s]],
                      C_BROWSE), trigger_kind=0, trigger=self.browse_session[idx[s]],
                      ref=idx[s])

    def _follow_up(self, orders: np.ndarray, o: dict | None = None):
        """Queue post-purchase and replenishment messages for ``orders``."""
        if orders.size == 0:
            return
        camp = self.cfg.campaigns
        src = self.organic if o is None else o
        if o is None:
            self.order_followed[orders] = True
        cust, t, key, basket = (src["cust"][orders], src["t"][orders], src["key"][orders],
                                src["basket"][orders])
        order_ref = orders if o is None else src["id"][orders]
        if camp.post_purchase.enabled:
            ch = CHANNELS.index(camp.post_purchase.channel)
            self._trigger(cust, t + camp.post_purchase.delay_days, C_POST, ch,
                          combine(key, C_POST), trigger_kind=1, trigger=order_ref, ref=basket)
        if camp.replenishment.enabled:
            # first consumable item of each basket
            prim = self.b_cons[basket]
            has = prim >= 0
            if has.any():
                b = basket[has]
                prod = prim[has]
                qty = self.b_cons_qty[b]
                need = self.p_supply[prod] * qty
                ch = CHANNELS.index(camp.replenishment.channel)
                self._trigger(cust[has], t[has] + np.maximum(need - camp.replenishment.lead_days,
                              1.0), C_REPL, ch, combine(key[has], C_REPL), trigger_kind=1,
                              trigger=order_ref[has], ref=b)

    def _schedule_seasonal(self):
        sc = self.cfg.campaigns.seasonal
        if not sc.enabled:
            return
        start = self.cfg.start_date
        for ei, ev in enumerate(sc.events):
            for year in range(start.year, start.year + int(self.H // 365) + 2):
                try:
                    day = date(year, 1, 1) + timedelta(days=ev.day_of_year - 1)
                except ValueError:
                    continue
                off = (day - start).days + ev.send_hour * HOUR
                if 0 <= off < self.H:
                    self.queue[int(np.floor(off))].append(
                        {"seasonal": np.array([ei, year, off])})

    def _expand_seasonal(self, batch_list):
        """Turn scheduled seasonal events into per-customer triggers (at send time)."""
        out = []
        sc = self.cfg.campaigns.seasonal
        for item in batch_list:
            ei, year, off = item["seasonal"]
            ev = sc.events[int(ei)]
            cust = np.arange(self.cfg.n_customers)[self.signup <= off]
            name = f"seasonal_discount_{ev.name}_{int(year)}"
            exp = self._exp_code(name)
            arms = np.array(ev.discount_arms_pct)
            k = combine(cust, int(ei), int(year))
            arm_i = np.minimum((self.ku(U_SEAS_ARM, k) * arms.size).astype(int), arms.size - 1)
            arm_codes = np.array([self._arm_code(f"{a:g}%") for a in arms])
            # in the experiment: a randomized arm; outside it: the segment rule (or nothing)
            in_exp = (np.ones(cust.size, bool) if sc.experiment_share >= 1
                      else self.ku(U_SEAS_ASSIGN, k) < sc.experiment_share)
            disc = np.where(in_exp, arms[arm_i], 0.0)
            if sc.discount_rule is not None and not in_exp.all():
                rest = ~in_exp
                disc[rest] = sc.discount_rule.discount_for(self.segment_labels(
                    sc.discount_rule.segmentation, cust[rest], np.full(rest.sum(), off)))
            any_reach = np.zeros(cust.size, bool)
            for chn in ev.channels:
                ch = CHANNELS.index(chn)
                r = self._reachable(ch, cust, np.full(cust.size, off))
                any_reach |= r
                c = cust[r]
                out.append(dict(cust=c, t=np.full(c.size, off), campaign=np.full(c.size, C_SEAS),
                                channel=np.full(c.size, ch), key=combine(k[r], C_SEAS, ch),
                                disc=disc[r], experiment=np.where(in_exp[r], exp, -1),
                                arm=np.where(in_exp[r], arm_codes[arm_i[r]], -1),
                                trigger_kind=np.full(c.size, -1),
                                trigger=np.full(c.size, -1),
                                ref=np.full(c.size, int(ei))))
            a = np.nonzero(any_reach & in_exp)[0]
            self.A.add(experiment=exp, unit_kind=1, unit=cust[a] + 1, cust=cust[a],
                       arm=arm_codes[arm_i[a]], t=np.full(a.size, off))
        return out

    def segment_labels(self, segmentation, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Each customer's observable segment from the orders placed before ``t``.

        The same definition the discount analysis labels its units with
        (:class:`workbench.segments.Segmentation` over earlier discounted orders,
        average order value after discount, days since the last order, acquisition
        channel).  Orders that messages of the current day's batch will cause are not
        created yet, so they are not seen — like a segment feed refreshed daily.
        """
        o = self.organic
        caused = self.O.build()
        n0 = self.n_organic
        oc = np.r_[o["cust"], caused["cust"][n0:]]
        ot = np.r_[o["t"], caused["t"][n0:]]
        disc = np.r_[o["disc"], caused["disc"][n0:]]
        _, rev = _order_money(self.b_value[np.r_[o["basket"], caused["basket"][n0:]]], disc)
        span = self.H + 10.0
        key = oc * span + ot
        order = np.argsort(key, kind="stable")
        key, ot = key[order], ot[order]
        cum_rev = np.r_[0.0, np.cumsum(rev[order])]
        cum_deal = np.r_[0, np.cumsum(disc[order] > 0)]
        lo = np.searchsorted(key, cust * span, side="left")
        hi = np.searchsorted(key, cust * span + t, side="left")
        n = hi - lo
        has = n > 0
        aov = np.where(has, (cum_rev[hi] - cum_rev[lo]) / np.maximum(n, 1), np.nan)
        last = np.where(has, ot[np.maximum(hi - 1, 0)], np.nan)
        return segmentation.labels(
            prior_discounted_orders=cum_deal[hi] - cum_deal[lo], prior_aov=aov,
            recency_days=t - last,
            acquisition_channel=np.array(self.acq_names, dtype=object)[self.acq[cust]])

    # ------------------------------------------------------------------ sending
    def discount_logit(self, cust: np.ndarray, discount_pct: np.ndarray) -> np.ndarray:
        """The discount's part of a customer's persuasion logit: ``a_s 1{d>0} + b_s d``."""
        rs = self.cfg.response
        seg = self.segment[cust]
        d = np.asarray(discount_pct, dtype=float) / 100.0
        a = np.array([rs.discount_intercept[s] for s in PRICE_SEGMENTS])[seg]
        b = np.array([rs.discount_slope[s] for s in PRICE_SEGMENTS])[seg]
        return np.where(d > 0, a, 0.0) + b * d

    def _persuasion_logit(self, m, with_discount: bool = True):
        """Logit of P(persuaded | delivered) for each message in batch ``m``.

        abandoned cart: ``base[type] + channel - (ln(delay / best[type]))^2 / (2 s^2)
        + discount(segment) + responsiveness``; other campaigns:
        ``base[campaign] + channel + discount(segment) + responsiveness``, and for
        replenishment minus ``penalty * |send - need| / cycle``.
        """
        rs = self.cfg.response
        cust, ch, camp = m["cust"], m["channel"], m["campaign"]
        x = np.array([rs.channel_logit[c] for c in CHANNELS])[ch] + self.resp[ch, cust]
        if with_discount:
            x = x + self.discount_logit(cust, m["disc"])
        base = np.array([0.0] + [rs.campaign_base_logit[c] for c in CAMPAIGNS[1:]])[camp]
        cart = camp == C_CART
        if cart.any():
            ci = m["ref"][cart]
            typ = self.cart_type[ci]
            delay_h = (m["t"][cart] - self.cart_t[ci]) * 24.0
            best = np.array([rs.cart_best_delay_hours[p] for p in PURCHASE_TYPES])[typ]
            b0 = np.array([rs.cart_base_logit[p] for p in PURCHASE_TYPES])[typ]
            base[cart] = b0 - np.log(np.maximum(delay_h, 1e-3) / best) ** 2 / (
                2 * rs.cart_delay_log_sd**2)
        repl = camp == C_REPL
        if repl.any():
            b = m["ref"][repl]
            prod, qty = self.b_cons[b], self.b_cons_qty[b]
            need = self.p_supply[prod] * qty * self.cycle_mult[cust[repl]]
            sent_after = self.p_supply[prod] * qty - self.cfg.campaigns.replenishment.lead_days
            base[repl] -= rs.replenishment_timing_penalty * np.abs(sent_after - need) / need
        return base + x

    def _engagement(self, m, prior) -> dict:
        """Delivery, opens (human and machine), clicks, persuasion and unsubscribes.

        Every draw is keyed by the message's key (common random numbers).
        """
        cfg = self.cfg
        t, cust, ch, key = m["t"], m["cust"], m["channel"], m["key"]
        eng, rs = cfg.engagement, cfg.response
        ku = self.ku
        delivered = ku(U_DELIVER, key) < np.array([eng.delivery_rate[c] for c in CHANNELS])[ch]
        alive = self.death[cust] > t
        logit = self._persuasion_logit(m)
        p_pers = _sigmoid(logit)
        persuaded = delivered & alive & (ku(U_PERSUADE, key) < p_pers)
        email = ch == 0
        # opens
        hour_fit = np.exp(-_circ_hour_dist(_hour_of_day(t), self.pref_hour[cust]) ** 2 / (
            2 * eng.send_hour_width_hours**2))
        p_open = _sigmoid(special.logit(eng.open_rate) + self.resp[0, cust]) * (
            0.5 + 0.5 * hour_fit)
        human_open = email & delivered & (ku(U_OPEN, key) < p_open)
        open_t = np.where(human_open, t + ku.exponential(U_OPEN_T, key, 3 * HOUR), np.inf)
        click_p = np.array([eng.click_rate[c] for c in CHANNELS])[ch] * np.exp(
            self.resp[ch, cust])
        clicked = delivered & np.where(email, human_open, True) & (ku(U_CLICK, key) < click_p)
        via = persuaded & (ku(U_VIA, key) < rs.persuaded_click_prob)
        click_t = np.where(email & human_open, open_t, t) + ku.exponential(U_CLICK_T, key,
                                                                          10 * MINUTE)
        click_t = np.where(via & ~clicked, t + MINUTE + ku.exponential(U_CLICK_T, key, HOUR),
                           click_t)
        clicked |= via
        open_t = np.where(email & clicked, np.minimum(open_t, click_t - MINUTE / 2), open_t)
        machine_t = np.where(email & delivered & self.mpp[cust],
                             t + ku(U_MACHINE_T, key) * 10 * MINUTE, np.inf)
        machine = machine_t < open_t
        open_t = np.minimum(open_t, machine_t)
        click_t = np.where(clicked, click_t, np.inf)
        # unsubscribes rise with recent volume
        p_unsub = np.array([eng.unsubscribe_base[c] for c in CHANNELS])[ch] * (
            1 + np.array([eng.unsubscribe_per_recent_message[c] for c in CHANNELS])[ch] * prior)
        unsub = delivered & (ku(U_UNSUB, key) < p_unsub)
        unsub_t = np.where(unsub, np.maximum(np.minimum(open_t, t + 4 * HOUR), t) +
                           ku(U_UNSUB_T, key) * HOUR, np.inf)
        logit0 = self._persuasion_logit(m, with_discount=False)
        return {"delivered": delivered, "alive": alive, "p_pers": p_pers, "persuaded": persuaded,
                "logit0": logit0,
                "email": email, "open_t": open_t, "click_t": click_t, "clicked": clicked,
                "machine": machine, "unsub": unsub, "unsub_t": unsub_t}

    def _send(self, d, m):
        cfg = self.cfg
        t, cust, ch = m["t"], m["cust"], m["channel"]
        # still relevant?
        ok = self._reachable(ch, cust, t)
        hold = self.holdout[m["campaign"]]
        if hold.any():  # a customer's holdout membership is fixed per campaign
            ok &= self.ku(U_HOLDOUT, cust.astype(np.int64) * 8 + m["campaign"]) >= hold
        cart = m["campaign"] == C_CART
        ok[cart] &= self.cart_natural_t[m["ref"][cart]] > t[cart]
        m = {k: v[ok] for k, v in m.items()}
        if m["t"].size == 0:
            return
        t, cust, ch = m["t"], m["cust"], m["channel"]
        # frequency caps: trailing 7 days incl. today, in send order
        prior = self.recent[ch, cust].sum(axis=1)
        rank = _group_rank(cust * 2 + ch, t)
        ok = prior + rank < self.caps[ch]
        m = {k: v[ok] for k, v in m.items()}
        prior = prior[ok]
        t, cust, ch, key = m["t"], m["cust"], m["channel"], m["key"]
        n = t.size
        if n == 0:
            return
        prior = prior + _group_rank(cust * 2 + ch, t)
        e = self._engagement(m, prior)
        # an unsubscribe stops the later messages of this batch on that channel
        grp = cust * 2 + ch
        _, inv = np.unique(grp, return_inverse=True)
        first = np.full(inv.max() + 1, np.inf)
        np.minimum.at(first, inv, e["unsub_t"])
        keep = t <= first[inv]
        if not keep.all():
            m = {k: v[keep] for k, v in m.items()}
            e = {k: v[keep] for k, v in e.items()}
            t, cust, ch, key = m["t"], m["cust"], m["channel"], m["key"]
            n = t.size
        np.add.at(self.recent, (ch, cust, np.full(n, d % 7)), 1)
        (delivered, alive, p_pers, persuaded, email, open_t, click_t, clicked, machine,
         unsub, unsub_t, logit0) = (e[k] for k in (
             "delivered", "alive", "p_pers", "persuaded", "email", "open_t", "click_t",
             "clicked", "machine", "unsub", "unsub_t", "logit0"))
        np.minimum.at(self.unsub, (ch[unsub], cust[unsub]), unsub_t[unsub])

        # products shown in the message
        prod_start, prod_len = self._message_products(m, ch)
        mids = self.M.n + np.arange(n)
        caused = np.zeros(n, bool)
        anyway = np.zeros(n, bool)
        caused_order = np.full(n, -1)

        # ---- abandoned carts
        cart = m["campaign"] == C_CART
        if cart.any():
            ci = m["ref"][cart]
            nat = self.cart_natural[ci]
            anyway[cart] = nat
            self.cart_msg[ci] = mids[cart]
            # a click by a natural returner, before they would have come back, moves the
            # purchase onto the message (attributed to it, not caused by it)
            early = click_t[cart] < self.cart_natural_t[ci]
            mv = clicked[cart] & nat & early
            if mv.any():
                o_idx = self.cart_order[ci[mv]]
                s = self._click_session(cust[cart][mv], click_t[cart][mv], ch[cart][mv],
                                        mids[cart][mv], self.cart_basket[ci[mv]])
                self._move_orders(o_idx, s, click_t[cart][mv], mids[cart][mv],
                                  m["disc"][cart][mv])
                self.cart_outcome[ci[mv]] = 2
            # opened but not clicked: discount code still used on the natural return
            use = ~clicked[cart] & nat & (open_t[cart] < self.cart_natural_t[ci]) & (
                m["disc"][cart] > 0) & ~machine[cart]
            if use.any():
                o_idx = self.cart_order[ci[use]]
                self.organic["disc"][o_idx] = m["disc"][cart][use]
                self.organic["msg"][o_idx] = mids[cart][use]
            cz = persuaded[cart] & ~nat
            if cz.any():
                w = np.nonzero(cart)[0][cz]
                caused[w] = True
                caused_order[w] = self._caused_orders(w, m, mids, click_t, clicked,
                                                      basket=self.cart_basket[ci[cz]])
                self.cart_outcome[ci[cz]] = 3
            # clicks that buy nothing still open a session
            idle = clicked[cart] & ((~nat & ~persuaded[cart]) | (nat & ~early))
            if idle.any():
                self._click_session(cust[cart][idle], click_t[cart][idle], ch[cart][idle],
                                    mids[cart][idle], self.cart_basket[ci[idle]], purchase=False)

        # ---- other campaigns
        other = ~cart
        if other.any():
            w = np.nonzero(other)[0]
            window = np.full(w.size, 7.0)
            seas = m["campaign"][w] == C_SEAS
            if seas.any():
                win = np.array([e.window_days for e in cfg.campaigns.seasonal.events])
                window[seas] = win[m["ref"][w][seas]]
            o_idx, o_t = self.next_organic_order(cust[w], t[w])
            has = o_t < t[w] + window
            anyway[w] = has
            cz = persuaded[w] & ~has
            if cz.any():
                ww = w[cz]
                caused[ww] = True
                caused_order[ww] = self._caused_orders(ww, m, mids, click_t, clicked,
                                                       products=(prod_start[ww], prod_len[ww]))
            # sure things redeem the discount if they saw the message
            red = has & (m["disc"][w] > 0) & ((open_t[w] < o_t) & ~machine[w] | (
                click_t[w] < o_t))
            if red.any():
                oi = o_idx[red]
                self.organic["disc"][oi] = np.maximum(self.organic["disc"][oi], m["disc"][w][red])
                self.organic["msg"][oi] = mids[w][red]
            idle = clicked[w] & ~caused[w]
            if idle.any():
                ww = w[idle]
                self._click_session(cust[ww], click_t[ww], ch[ww], mids[ww], None,
                                    purchase=False, products=(prod_start[ww], prod_len[ww]))

        self.M.add(cust=cust, campaign=m["campaign"], channel=ch, t=t, delivered=delivered,
                   open_t=np.where(email, open_t, np.inf), click_t=click_t, unsub_t=unsub_t,
                   disc=m["disc"], cost=np.array([cfg.engagement.cost[c] for c in CHANNELS])[ch],
                   experiment=m["experiment"], arm=m["arm"], trigger_kind=m["trigger_kind"],
                   trigger=m["trigger"], persuaded=persuaded, caused=caused,
                   caused_order=caused_order, anyway=anyway, machine=machine & email,
                   p_persuade=np.where(delivered & alive, p_pers, 0.0), logit0=logit0,
                   alive=alive, prod_start=prod_start,
                   prod_len=prod_len, key=key)

    def _message_products(self, m, ch):
        """Products a message shows: the cart, the viewed category, or recommendations."""
        pp = self.cfg.campaigns.post_purchase
        n = m["t"].size
        camp = m["campaign"]
        k = np.where(camp == C_POST, np.where(ch == 0, pp.products_per_email,
                                               pp.products_per_sms), 1)
        k = np.where(camp == C_SEAS, 0, k)
        cart = camp == C_CART
        bsk = np.full(n, -1)
        bsk[cart] = self.cart_basket[m["ref"][cart]]
        k[cart] = np.minimum(self.b_end[bsk[cart]] - self.b_start[bsk[cart]], 4)
        total = int(k.sum())
        row = np.repeat(np.arange(n), k)
        slot = np.arange(total) - np.repeat(np.cumsum(k) - k, k)
        prods = np.zeros(total, dtype=np.int64)
        rc = cart[row]
        prods[rc] = self.bi_product[self.b_start[bsk[row[rc]]] + slot[rc]]
        # recommendations: affinity-weighted categories, keyed uniforms
        nr = ~rc
        if nr.any():
            kk = combine(m["key"][row[nr]], slot[nr])
            cust = m["cust"][row[nr]]
            cat = _categorical(self.aff_cum[cust], self.ku(U_PRODUCTS, kk))
            br = camp[row[nr]] == C_BROWSE
            cat[br] = self.browse_cat[m["ref"][row[nr]][br]]
            rp = camp[row[nr]] == C_REPL
            if rp.any():
                cons = self.b_cons[m["ref"][row[nr]][rp]]
                cat[rp] = self.p_cat[cons]
            u2 = self.ku(U_PRODUCTS + 50, kk)
            pr = self.cat_start[cat] + np.minimum((u2 * self.cat_n[cat]).astype(int),
                                                  self.cat_n[cat] - 1)
            if rp.any():
                pr[rp] = cons
            prods[nr] = pr
        start = self.msg_products.n + np.r_[0, np.cumsum(k)[:-1]].astype(np.int64)
        self.msg_products.extend(prods)
        return start, k

    def _click_session(self, cust, t, ch, mids, basket, purchase=True, products=None):
        src = np.where(ch == 0, SOURCES.index("email"), SOURCES.index("sms"))
        if basket is None:
            if products is not None and products[1].sum() > 0:
                allp = self.msg_products.v
                first = allp[np.minimum(products[0], allp.size - 1)]
                cat = np.where(products[1] > 0, self.p_cat[first],
                               _categorical(self.aff_cum[cust], self.ku(U_PRODUCTS + 7,
                                            combine(cust, mids))))
            else:
                cat = _categorical(self.aff_cum[cust], self.ku(U_PRODUCTS + 7,
                                                               combine(cust, mids)))
            basket = np.full(cust.size, -1)
        else:
            cat = self.p_cat[self.bi_product[self.b_start[basket]]]
        views = 1 + np.floor(self.ku(U_PRODUCTS + 9, combine(cust, mids)) * 3).astype(int)
        return self.S.add(cust=cust, t=t, src=src, msg=mids, cat=cat, views=views,
                          basket=basket if purchase else np.full(cust.size, -1), order=-1)

    def _move_orders(self, o_idx, sessions, click_t, mids, disc):
        ok = o_idx >= 0
        o_idx, sessions, click_t, mids, disc = (a[ok] for a in (o_idx, sessions, click_t,
                                                                 mids, disc))
        # order placed after the session's events
        t = click_t + 6 * EVENT_GAP
        self.organic["t"][o_idx] = t
        self.organic["session"][o_idx] = sessions
        self.organic["msg"][o_idx] = mids
        self.organic["disc"][o_idx] = np.maximum(self.organic["disc"][o_idx], disc)
        self.organic["moved"][o_idx] = True
        self._follow_up(o_idx[~self.order_followed[o_idx]])

    def _caused_orders(self, w, m, mids, click_t, via, basket=None, products=None):
        """Create the orders that messages ``w`` caused; return their internal ids."""
        cust = m["cust"][w]
        key = combine(m["key"][w], 99)
        t_direct = m["t"][w] + self.ku.exponential(U_CAUSED_T, key, 0.5)
        if basket is None:
            start, k = products
            allp = self.msg_products.v
            has = k > 0
            cat = _categorical(self.aff_cum[cust], self.ku(U_BASKET, key))
            pick = start + np.minimum((self.ku(U_BASKET + 1, key) * np.maximum(k, 1)).astype(
                int), np.maximum(k - 1, 0))
            cat = np.where(has, self.p_cat[allp[np.minimum(pick, allp.size - 1)]], cat)
            u = np.stack([self.ku(U_BASKET + 2 + j, key) for j in range(10)], axis=1)
            basket = self.make_baskets(cust, cat, u)
            self.finalize_baskets()  # index the baskets made mid-loop
        sess_via = via[w]
        t = np.where(sess_via, click_t[w], t_direct)
        src = np.where(sess_via, np.where(m["channel"][w] == 0, SOURCES.index("email"),
                                          SOURCES.index("sms")), S_DIRECT)
        cat = self.p_cat[self.bi_product[self.b_start[basket]]]
        sess = self.S.add(cust=cust, t=t, src=src, msg=np.where(sess_via, mids[w], -1), cat=cat,
                          views=np.full(cust.size, 2), basket=basket, order=-1)
        o = {"cust": cust, "t": t + 6 * EVENT_GAP, "session": sess, "basket": basket,
             "disc": m["disc"][w], "msg": mids[w], "origin": np.full(cust.size, 2),
             "cause_msg": mids[w], "key": key, "moved": np.zeros(cust.size, bool)}
        ids = self.O.add(**o)
        o["id"] = ids
        self._follow_up(np.arange(cust.size), o)
        return ids

    # ------------------------------------------------------------------ assemble
    def run(self) -> SimulatedStore:
        self.build_catalog()
        self.build_customers()
        self.build_occasions()
        self.finalize_baskets()
        self.run_campaigns()
        return self.assemble()

    def assemble(self) -> SimulatedStore:
        cfg = self.cfg
        rng = self.rng_post
        H = self.H
        start = datetime.combine(cfg.start_date, datetime.min.time(), tzinfo=UTC)
        t0_us = int(start.timestamp() * 1_000_000)

        def ts(t):
            t = np.asarray(t, dtype=float)
            out = np.full(t.size, 0, dtype=np.int64)
            fin = np.isfinite(t)
            out[fin] = t0_us + np.round(t[fin] * 86_400_000_000).astype(np.int64)
            return pa.array(out, type=pa.timestamp("us", tz="UTC"), mask=~fin)

        # ---------------- orders (organic, possibly moved, + caused)
        org = self.organic
        caused = self.O.build()
        nco = caused["cust"].size - self.n_organic
        OR = {k: np.r_[org[k], caused[k][self.n_organic:]] for k in org}
        n_orders = OR["cust"].size
        # natural-return orders not moved: give them a direct session now
        need = OR["session"] < 0
        if need.any():
            b = OR["basket"][need]
            cat = self.p_cat[self.bi_product[self.b_start[b]]]
            sess = self.S.add(cust=OR["cust"][need], t=OR["t"][need] - 6 * EVENT_GAP,
                              src=np.where(rng.random(need.sum()) < 0.6, S_DIRECT, 1),
                              msg=-1, cat=cat, views=np.full(need.sum(), 1), basket=b,
                              order=-1)
            OR["session"][need] = sess
        S = self.S.build()
        S["order"][OR["session"]] = np.arange(n_orders)
        # an order is placed at its session's first purchase event
        so_ = OR["session"]
        bsz = self.b_end[OR["basket"]] - self.b_start[OR["basket"]]
        OR["t"] = S["t"][so_] + (S["views"][so_] + 3 * bsz) * EVENT_GAP
        keep_o = OR["t"] < H
        # sessions ordered by time → public ids
        s_order = np.lexsort((np.arange(S["t"].size), S["t"]))
        s_keep = S["t"][s_order] < H
        s_order = s_order[s_keep]
        s_public = np.full(S["t"].size, -1)
        s_public[s_order] = np.arange(1, s_order.size + 1)
        o_sorted = np.lexsort((np.arange(n_orders), OR["t"]))
        o_sorted = o_sorted[keep_o[o_sorted]]
        o_public = np.full(n_orders, -1)
        o_public[o_sorted] = np.arange(1, o_sorted.size + 1)
        # a purchase whose session was dropped (beyond horizon) cannot happen
        M = self.M.build()
        n_msg = M["t"].size
        m_order = np.lexsort((np.arange(n_msg), M["t"]))
        m_public = np.full(n_msg, -1)
        m_public[m_order] = np.arange(1, n_msg + 1)

        def pub(arr, mapping):
            arr = np.asarray(arr).astype(np.int64)
            if mapping.size == 0:
                out = np.full(arr.size, -1)
            else:
                out = np.where(arr >= 0, mapping[np.maximum(arr, 0)], -1)
            return pa.array(out, type=pa.int64(), mask=out < 0)

        # ---------------- customers & products
        N = cfg.n_customers
        tables: dict[str, pa.Table] = {}
        tables["customers"] = pa.table({
            "customer_id": pa.array(np.arange(1, N + 1), pa.int64()),
            "signup_at": ts(self.signup),
            "acquisition_channel": pa.array(np.array(self.acq_names, dtype=object)[self.acq],
                                            pa.string()),
            "region": pa.array(np.array(REGIONS, dtype=object)[self.region], pa.string()),
            "email_opt_in": pa.array(self.opt[0]),
            "sms_opt_in": pa.array(self.opt[1]),
        })
        P = self.p_price.size
        tables["products"] = pa.table({
            "product_id": pa.array(np.arange(1, P + 1), pa.int64()),
            "category": pa.array([cfg.catalog[c].name for c in self.p_cat], pa.string()),
            "price": pa.array(self.p_price),
            "unit_cost": pa.array(self.p_cost),
            "purchase_type": pa.array([PURCHASE_TYPES[self.cat_type[c]] for c in self.p_cat],
                                      pa.string()),
            "supply_days": pa.array(self.p_supply, mask=np.isnan(self.p_supply)),
        })

        # ---------------- sessions
        so = s_order
        tables["sessions"] = pa.table({
            "session_id": pa.array(np.arange(1, so.size + 1), pa.int64()),
            "customer_id": pa.array(S["cust"][so] + 1, pa.int64()),
            "started_at": ts(S["t"][so]),
            "source": pa.array(np.array(SOURCES, dtype=object)[S["src"][so]], pa.string()),
            "message_id": pub(S["msg"][so], m_public),
        })

        # ---------------- events, built per session
        tables["events"] = self._event_table(S, so, OR, s_public, ts)

        # ---------------- orders & items
        oo = o_sorted
        b = OR["basket"][oo]
        disc_amt, revenue = _order_money(self.b_value[b], OR["disc"][oo])
        msg_ok = OR["msg"][oo].astype(np.int64)
        if n_msg:
            msg_ok = np.where((msg_ok >= 0) & (M["t"][np.maximum(msg_ok, 0)] <= OR["t"][oo]),
                              msg_ok, -1)
        else:
            msg_ok = np.full(oo.size, -1)
        tables["orders"] = pa.table({
            "order_id": pa.array(np.arange(1, oo.size + 1), pa.int64()),
            "customer_id": pa.array(OR["cust"][oo] + 1, pa.int64()),
            "session_id": pa.array(s_public[OR["session"][oo]], pa.int64()),
            "placed_at": ts(OR["t"][oo]),
            "revenue": pa.array(revenue),
            "discount_amount": pa.array(disc_amt),
            "message_id": pub(msg_ok, m_public),
        })
        cnt = self.b_end[b] - self.b_start[b]
        item_order = np.repeat(np.arange(oo.size), cnt)
        item_pos = np.repeat(self.b_start[b], cnt) + (np.arange(cnt.sum()) - np.repeat(
            np.cumsum(cnt) - cnt, cnt))
        i_prod = self.bi_product[item_pos]
        i_qty = self.bi_qty[item_pos]
        tables["order_items"] = pa.table({
            "order_id": pa.array(item_order + 1, pa.int64()),
            "product_id": pa.array(i_prod + 1, pa.int64()),
            "quantity": pa.array(i_qty, pa.int64()),
            "unit_price": pa.array(self.p_price[i_prod]),
            "unit_cost": pa.array(self.p_cost[i_prod]),
        })

        # ---------------- returns
        rr = self.cat_return[self.p_cat[i_prod]]
        ret = rng.random(i_prod.size) < rr
        ret_t = OR["t"][oo][item_order] + 2.0 + rng.exponential(7.0, i_prod.size)
        ret &= ret_t < H
        frac = 1.0 - OR["disc"][oo][item_order] / 100.0
        amount = np.floor(i_qty * self.p_price[i_prod] * frac * 100) / 100
        tables["returns"] = pa.table({
            "order_id": pa.array(item_order[ret] + 1, pa.int64()),
            "product_id": pa.array(i_prod[ret] + 1, pa.int64()),
            "returned_at": ts(ret_t[ret]),
            "amount": pa.array(amount[ret]),
        })

        # ---------------- messages
        mo = m_order
        allp = self.msg_products.v + 1
        lens = M["prod_len"][mo].astype(np.int64)
        starts = M["prod_start"][mo].astype(np.int64)
        idx = np.repeat(starts, lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens,
                                                                           lens))
        offsets = np.r_[0, np.cumsum(lens)].astype(np.int32)
        exp_names = np.array(self.experiments + [""], dtype=object)
        arm_names = np.array(self.arm_names + [""], dtype=object)
        exp_i, arm_i = M["experiment"][mo], M["arm"][mo]
        tables["messages"] = pa.table({
            "message_id": pa.array(np.arange(1, n_msg + 1), pa.int64()),
            "customer_id": pa.array(M["cust"][mo] + 1, pa.int64()),
            "campaign": pa.array(np.array(CAMPAIGNS, dtype=object)[M["campaign"][mo]],
                                 pa.string()),
            "channel": pa.array(np.array(CHANNELS, dtype=object)[M["channel"][mo]], pa.string()),
            "experiment": pa.array(exp_names[exp_i], pa.string(), mask=exp_i < 0),
            "arm": pa.array(arm_names[arm_i], pa.string(), mask=arm_i < 0),
            "sent_at": ts(M["t"][mo]),
            "delivered": pa.array(M["delivered"][mo].astype(bool)),
            "opened_at": ts(np.where(M["open_t"][mo] < H, M["open_t"][mo], np.inf)),
            "clicked_at": ts(np.where(M["click_t"][mo] < H, M["click_t"][mo], np.inf)),
            "unsubscribed_at": ts(np.where(M["unsub_t"][mo] < H, M["unsub_t"][mo], np.inf)),
            "discount_pct": pa.array(M["disc"][mo].astype(float)),
            "cost": pa.array(M["cost"][mo].astype(float)),
            "product_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(allp[idx],
                                                                                 pa.int64())),
            "trigger_id": self._trigger_ids(M, mo, s_public, o_public),
        })

        # ---------------- assignments
        A = self.A.build()
        a_ord = np.lexsort((A["unit"], A["t"])) if A["t"].size else np.zeros(0, int)
        unit = A["unit"].astype(np.int64)
        cart_units = A["unit_kind"] == 0
        unit[cart_units] = s_public[unit[cart_units]]
        tables["assignments"] = pa.table({
            "experiment": pa.array(exp_names[A["experiment"].astype(int)][a_ord] if A["t"].size
                                   else [], pa.string()),
            "unit_type": pa.array(np.array(["cart", "customer"], dtype=object)[
                A["unit_kind"].astype(int)][a_ord] if A["t"].size else [], pa.string()),
            "unit_id": pa.array(unit[a_ord].astype(np.int64), pa.int64()),
            "customer_id": pa.array((A["cust"][a_ord] + 1).astype(np.int64), pa.int64()),
            "arm": pa.array(arm_names[A["arm"].astype(int)][a_ord] if A["t"].size else [],
                            pa.string()),
            "assigned_at": ts(A["t"][a_ord]),
        })

        truth, params = self._truth(M, mo, OR, oo, o_public, s_public, ts)
        stats_ = {"customers": N, "days": cfg.days, "events": tables["events"].num_rows,
                  "caused_orders": int(nco)}
        return SimulatedStore(tables=tables, truth=truth, truth_params=params, config=cfg,
                              seed=self.seed, stats=stats_)

    def _trigger_ids(self, M, mo, s_public, o_public):
        kind, trig = M["trigger_kind"][mo], M["trigger"][mo].astype(int)
        out = np.full(mo.size, -1)
        s = kind == 0
        out[s] = s_public[trig[s]]
        o = kind == 1
        out[o] = o_public[trig[o]]
        return pa.array(out, pa.int64(), mask=out < 0)

    EVENT_CHUNK = 500_000  # sessions per chunk: bounds peak memory at any store size

    def _event_table(self, S, so, OR, s_public, ts) -> pa.Table:
        """The events table, generated in chunks of sessions (same result at any size)."""
        names = pa.array(["view_item", "add_to_cart", "begin_checkout", "purchase"])
        batches, offset = [], 0
        for start in range(0, max(so.size, 1), self.EVENT_CHUNK):
            ev = self._events(S, so[start:start + self.EVENT_CHUNK], OR)
            n = ev["sess"].size
            batches.append(pa.record_batch({
                "event_id": pa.array(np.arange(offset + 1, offset + n + 1), pa.int64()),
                "session_id": pa.array(s_public[ev["sess"]], pa.int64()),
                "customer_id": pa.array(S["cust"][ev["sess"]] + 1, pa.int64()),
                "ts": ts(ev["t"]),
                "event_name": pa.DictionaryArray.from_arrays(
                    pa.array(ev["name"], pa.int8()), names).cast(pa.string()),
                "product_id": pa.array(ev["prod"] + 1, pa.int64()),
                "quantity": pa.array(ev["qty"], pa.int64()),
                "price": pa.array(self.p_price[ev["prod"]]),
            }))
            offset += n
            del ev
        return pa.Table.from_batches(batches).combine_chunks()

    def _events(self, S, so, OR):
        """Events of the kept sessions: views, then cart, checkout and purchase rows."""
        n = so.size
        cat = S["cat"][so].astype(int)
        views = S["views"][so].astype(int)
        basket = S["basket"][so].astype(int)
        order = S["order"][so].astype(int)
        has_b = basket >= 0
        bsize = np.where(has_b, self.b_end[np.maximum(basket, 0)] -
                         self.b_start[np.maximum(basket, 0)], 0)
        purchased = order >= 0
        purchased &= np.where(purchased, OR["t"][np.maximum(order, 0)] < self.H, False)
        # some abandoned carts got as far as checkout
        checkout = purchased | (has_b & (self.rng_post.random(n) <
                                         self.cfg.carts.checkout_before_abandon))
        # rows per session: random views + basket views + cart + checkout + purchase
        n_rows = views + bsize * (2 + checkout + purchased)
        n_rows = n_rows.astype(np.int32)
        sess = np.repeat(so, n_rows)
        local = np.repeat(np.arange(n, dtype=np.int32), n_rows)
        k = (np.arange(n_rows.sum(), dtype=np.int32)
             - np.repeat((np.cumsum(n_rows) - n_rows).astype(np.int32), n_rows))
        name = np.zeros(k.size, dtype=np.int8)
        prod = np.zeros(k.size, dtype=np.int32)
        qty = np.ones(k.size, dtype=np.int32)
        v = views[local]
        bs = bsize[local]
        rv = k < v
        u = self.rng_post.random(int(rv.sum()))
        c = cat[local[rv]]
        prod[rv] = self.cat_start[c] + np.minimum((u * self.cat_n[c]).astype(int),
                                                  self.cat_n[c] - 1)
        j = k - v
        phase = np.where(rv, -1, j // np.maximum(bs, 1))
        item = np.where(rv, 0, j % np.maximum(bs, 1))
        bpos = self.b_start[np.maximum(basket[local], 0)] + item
        bpos = np.minimum(bpos, self.bi_product.size - 1)
        nb = ~rv
        prod[nb] = self.bi_product[bpos[nb]]
        name[nb] = np.array([0, 1, 2, 3])[np.minimum(phase[nb], 3)]
        qty[nb & (phase >= 1)] = self.bi_qty[bpos[nb & (phase >= 1)]]
        t = S["t"][so][local] + k * EVENT_GAP
        # purchase events at the order's time
        pur = name == 3
        t[pur] = np.maximum(OR["t"][order[local[pur]]], t[pur])
        keep = t < self.H
        return {"sess": sess[keep], "t": t[keep], "name": name[keep], "prod": prod[keep],
                "qty": qty[keep]}

    # ------------------------------------------------------------------ truth
    def _truth(self, M, mo, OR, oo, o_public, s_public, ts):
        cfg = self.cfg
        N = cfg.n_customers
        truth: dict[str, pa.Table] = {}
        death = np.where(np.isfinite(self.death) & (self.death < self.H), self.death, np.inf)
        gg = cfg.gamma_gamma
        truth["customers"] = pa.table({
            "customer_id": pa.array(np.arange(1, N + 1), pa.int64()),
            "purchase_rate_per_day": pa.array(self.lam),
            "dropout_prob": pa.array(self.pdrop),
            "dropped_out_at": ts(death),
            "alive_at_end": pa.array(~np.isfinite(death)),
            "spend_nu": pa.array(self.nu),
            "expected_order_value": pa.array(gg.p / self.nu),
            "price_segment": pa.array(np.array(PRICE_SEGMENTS, dtype=object)[self.segment],
                                      pa.string()),
            "email_responsiveness": pa.array(self.resp[0]),
            "sms_responsiveness": pa.array(self.resp[1]),
            "preferred_send_hour": pa.array(self.pref_hour),
            "apple_mpp": pa.array(self.mpp),
            "replenishment_cycle_multiplier": pa.array(self.cycle_mult),
            "top_category": pa.array([cfg.catalog[i].name for i in self.affinity.argmax(1)],
                                     pa.string()),
            "n_repeat_organic_orders": pa.array(np.bincount(
                OR["cust"][oo][OR["origin"][oo] == 1], minlength=N).astype(np.int64)),
        })
        b = OR["basket"][oo]
        margin = self.b_value[b] * (1 - OR["disc"][oo] / 100) - self.b_cost[b]
        truth["orders"] = pa.table({
            "order_id": pa.array(np.arange(1, oo.size + 1), pa.int64()),
            "origin": pa.array(np.array(ORIGINS, dtype=object)[OR["origin"][oo].astype(int)],
                               pa.string()),
            "moved_by_message": pa.array(OR["moved"][oo].astype(bool)),
            "margin": pa.array(margin),
        })
        # messages: causal effect
        co = M["caused_order"][mo].astype(int)
        co_pub = np.where(co >= 0, o_public[np.maximum(co, 0)], -1)
        co_pub = np.where(co_pub > 0, co_pub, -1)
        rev = np.zeros(mo.size)
        mar = np.zeros(mo.size)
        if (co_pub > 0).any():
            w = co_pub > 0
            bb = OR["basket"][co[w]]
            dd = OR["disc"][co[w]] / 100
            rev[w] = self.b_value[bb] * (1 - dd)
            mar[w] = self.b_value[bb] * (1 - dd) - self.b_cost[bb]
        # subsidy: discount paid on orders that would have happened anyway
        sub = np.zeros(mo.size)
        m_public_of = np.full(max(M["t"].size, 1), -1)  # never empty: safe to index with 0
        m_public_of[mo] = np.arange(mo.size)
        om = OR["msg"][oo]
        orig = OR["origin"][oo]
        subsidised = (om >= 0) & (orig != 2) & (OR["disc"][oo] > 0) & (orig != 0)
        if subsidised.any():
            amt = self.b_value[b[subsidised]] * OR["disc"][oo][subsidised] / 100
            np.add.at(sub, m_public_of[om[subsidised]], amt)
        cost = M["cost"][mo]
        truth["messages"] = pa.table({
            "message_id": pa.array(np.arange(1, mo.size + 1), pa.int64()),
            "persuaded": pa.array(M["persuaded"][mo].astype(bool)),
            "would_buy_anyway": pa.array(M["anyway"][mo].astype(bool)),
            "caused_conversion": pa.array(co_pub > 0),
            "caused_order_id": pa.array(co_pub, pa.int64(), mask=co_pub <= 0),
            "incremental_revenue": pa.array(np.round(rev - sub, 2)),
            "incremental_margin": pa.array(np.round(mar - sub - cost, 4)),
            "subsidy": pa.array(np.round(sub, 2)),
            "machine_open": pa.array(M["machine"][mo].astype(bool)),
            "p_persuade": pa.array(M["p_persuade"][mo].astype(float)),
            # with the segment's discount terms (truth/params.json) this gives P(persuaded) at
            # any discount: sigmoid(logit_without_discount + a_s 1{d>0} + b_s d)
            "persuasion_logit_without_discount": pa.array(M["logit0"][mo].astype(float)),
            "alive_at_send": pa.array(M["alive"][mo].astype(bool)),
        })
        # carts
        H = self.H
        keep = s_public[self.cart_session] > 0
        outcome_names = np.array(["lost", "natural_return", "moved_by_message",
                                  "caused_by_message"], dtype=object)
        cm = self.cart_msg
        truth["carts"] = pa.table({
            "cart_session_id": pa.array(s_public[self.cart_session][keep], pa.int64()),
            "customer_id": pa.array(self.cart_cust[keep] + 1, pa.int64()),
            "abandoned_at": ts(self.cart_t[keep]),
            "purchase_type": pa.array(np.array(PURCHASE_TYPES, dtype=object)[
                self.cart_type[keep]], pa.string()),
            "cart_value": pa.array(self.b_value[self.cart_basket][keep]),
            "cart_margin": pa.array((self.b_value - self.b_cost)[self.cart_basket][keep]),
            "would_return_naturally": pa.array(self.cart_natural[keep] & (
                self.cart_natural_t[keep] < H)),
            "natural_return_at": ts(np.where(self.cart_natural_t[keep] < H,
                                             self.cart_natural_t[keep], np.inf)),
            "outcome": pa.array(outcome_names[self.cart_outcome[keep]], pa.string()),
            "message_id": pa.array(np.where(cm[keep] >= 0, m_public_of[np.maximum(cm[keep], 0)]
                                            + 1, -1), pa.int64(), mask=cm[keep] < 0),
        })
        truth["delay_response"] = self._delay_truth(keep)
        truth["discount_response"] = self._discount_truth()
        params = {
            "time_unit": "days",
            "bgnbd_by_acquisition_channel": {k: {x: v[x] for x in ("r", "alpha_days", "a", "b")}
                                             for k, v in self.channel_params.items()},
            "gamma_gamma_by_acquisition_channel": {k: {x: v[x] for x in ("p", "q", "gamma")}
                                                   for k, v in self.channel_params.items()},
            "cart_best_delay_hours_structural": dict(cfg.response.cart_best_delay_hours),
            "natural_return_median_hours": dict(cfg.carts.natural_return_median_hours),
            "discount_terms": {
                s: {"offer": cfg.response.discount_intercept[s],
                    "slope_per_unit_discount": cfg.response.discount_slope[s]}
                for s in PRICE_SEGMENTS},
            "discount_response_logit": {
                s: {"intercept": cfg.response.campaign_base_logit["seasonal"]
                    + cfg.response.discount_intercept[s],
                    "slope_per_unit_discount": cfg.response.discount_slope[s]}
                for s in PRICE_SEGMENTS},
        }
        best = truth["delay_response"].to_pandas()
        best = best[best["is_best_for_type"]]
        params["cart_best_policy"] = {
            r.purchase_type: {"channel": r.channel, "delay_hours": float(r.delay_hours)}
            for r in best.itertuples()}
        return truth, params

    def _delay_truth(self, keep) -> pa.Table:
        """Expected incremental margin per abandoned cart, by type x channel x delay.

        For a cart of type ``k`` messaged on channel ``c`` after ``h`` hours, with
        persuasion probability ``p_i(h, c)`` (the engine's own logit, averaged over
        the realized carts and their customers' responsiveness) and the cart's
        latent natural outcome known:
        ``E[incr. margin] = mean_i[ delivery_c * p_i(h, c) * 1{i not natural}
        * margin_i - cost_c * 1{i not yet returned at h} ]``.
        Exact given the realized carts; no simulation noise.
        """
        cfg, rs, eng = self.cfg, self.cfg.response, self.cfg.engagement
        grid = sorted({0.5, 1, 2, 4, 8, 12, 24, 48, 72} | {
            a.delay_hours for a in cfg.campaigns.abandoned_cart.arms if a.delay_hours})
        rows = defaultdict(list)
        ci = np.nonzero(keep)[0]
        marg = (self.b_value - self.b_cost)[self.cart_basket[ci]]
        for ti, typ in enumerate(PURCHASE_TYPES):
            sel = ci[self.cart_type[ci] == ti]
            if sel.size == 0:
                continue
            mg = marg[self.cart_type[ci] == ti]
            not_nat = ~(self.cart_natural[sel] & (self.cart_natural_t[sel] < self.H))
            for c, chn in enumerate(CHANNELS):
                x0 = rs.cart_base_logit[typ] + rs.channel_logit[chn] + self.resp[c,
                                                                                self.cart_cust[sel]]
                for h in grid:
                    pen = np.log(h / rs.cart_best_delay_hours[typ]) ** 2 / (
                        2 * rs.cart_delay_log_sd**2)
                    alive = self.death[self.cart_cust[sel]] > self.cart_t[sel] + h * HOUR
                    p = _sigmoid(x0 - pen) * eng.delivery_rate[chn] * alive
                    still = self.cart_natural_t[sel] > self.cart_t[sel] + h * HOUR
                    inc = p * not_nat
                    rows["purchase_type"].append(typ)
                    rows["channel"].append(chn)
                    rows["delay_hours"].append(float(h))
                    rows["n_carts"].append(int(sel.size))
                    rows["incremental_conversion_rate"].append(float(inc.mean()))
                    rows["incremental_margin_per_cart"].append(float(
                        (inc * mg - eng.cost[chn] * still).mean()))
                    rows["natural_return_rate"].append(float((~not_nat).mean()))
        cols = ("purchase_type", "channel", "delay_hours", "n_carts",
                "incremental_conversion_rate", "incremental_margin_per_cart",
                "natural_return_rate")
        df = {k: np.array(rows[k], dtype=object if k in ("purchase_type", "channel") else float)
              for k in cols}
        df["n_carts"] = df["n_carts"].astype(np.int64)
        best = np.zeros(df["delay_hours"].size, bool)
        for typ in PURCHASE_TYPES:
            m = np.nonzero(df["purchase_type"] == typ)[0]
            if m.size:
                best[m[np.argmax(df["incremental_margin_per_cart"][m])]] = True
        return pa.table({**{k: pa.array(v, type=pa.string() if v.dtype == object else None)
                            for k, v in df.items()},
                         "is_best_for_type": pa.array(best)})

    def _discount_truth(self) -> pa.Table:
        """P(persuaded | delivered, alive) for seasonal messages by segment, channel, discount.

        ``logit p = base + channel + a_s 1{d>0} + b_s d + e``, ``e ~ N(0, sd^2)``
        the customer's responsiveness; the expectation over ``e`` is computed by
        Gauss-Hermite quadrature (Abramowitz & Stegun 25.4.46), 40 nodes.
        """
        rs = self.cfg.response
        x, w = np.polynomial.hermite.hermgauss(40)
        sd = rs.responsiveness_log_sd
        rows = defaultdict(list)
        levels = sorted({d for e in self.cfg.campaigns.seasonal.events
                         for d in e.discount_arms_pct} | {0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0})
        for s in PRICE_SEGMENTS:
            for chn in CHANNELS:
                for dpct in levels:
                    d = dpct / 100
                    lin = (rs.campaign_base_logit["seasonal"] + rs.channel_logit[chn]
                           + (rs.discount_intercept[s] if d > 0 else 0.0)
                           + rs.discount_slope[s] * d)
                    p = float((w * _sigmoid(lin + np.sqrt(2) * sd * x)).sum() / np.sqrt(np.pi))
                    rows["price_segment"].append(s)
                    rows["channel"].append(chn)
                    rows["discount_pct"].append(float(dpct))
                    rows["logit_at_zero_responsiveness"].append(lin)
                    rows["p_persuade"].append(p)
        return pa.table({k: pa.array(v) for k, v in rows.items()})


def simulate(config: SimulationConfig | None = None, seed: int = 0,
             progress: Callable[[int], None] | None = None) -> SimulatedStore:
    """Simulate a store and return its canonical tables and ground truth.

    Parameters
    ----------
    config
        The store; default :class:`SimulationConfig` (20,000 customers, 365 days).
    seed
        Seed of every random draw.  Same seed and config give identical tables.
    progress
        Called with ``1`` after each simulated day (for progress bars).

    Examples
    --------
    >>> from workbench.simulate import scenario, simulate
    >>> store = simulate(scenario("tiny"), seed=1)
    >>> sorted(store.tables)[:3]
    ['assignments', 'customers', 'events']
    """
    cfg = config or SimulationConfig()
    return _Engine(cfg, seed, progress).run()
