"""Abandoned cart: a randomized delay x channel experiment with a no-message holdout.

Optionally (``discount_arms_pct``) the messaged carts of the experiment are also
randomized over discount levels, a factorial design: the level is drawn from its own
stream, independently of the timing arm.  Carts outside the experiment get the
per-purchase-type policy (or a segment discount rule), unless they are worth less than
``min_cart_value``.  The persuasion logit falls
with the log-distance of the delay from the purchase type's best delay, and the cart's
outcome (lost, natural return, moved or caused by the message) is recorded for the
truth tables.
"""

from __future__ import annotations

import numpy as np

from ...vocab import CHANNELS, PURCHASE_TYPES
from ..common import HOUR, U_ARM, U_ASSIGN, U_CART_DISC, customer_rows
from ..random import combine
from .base import Campaign

EXPERIMENT = "abandoned_cart_timing"
DISCOUNT_EXPERIMENT = "abandoned_cart_discount"
MAX_PRODUCTS_SHOWN = 4  # a cart message shows at most this many of the cart's products


class AbandonedCart(Campaign):
    """Messages about a cart left behind, sent a delay after abandonment."""

    name = "abandoned_cart"
    about_carts = True
    derived = ("_own",)

    def on_day(self, day: int) -> None:
        """Assign the carts abandoned on ``day`` and queue their messages."""
        self.assign(self.loop.carts_of_day(day))

    def assign(self, carts: np.ndarray) -> None:
        """Randomize ``carts`` into the experiment's arms or the policy; trigger sends."""
        if carts.size == 0:
            return
        ac, w_, loop = self.config, self.world, self.loop
        reachable = loop.messaging.reachable
        cust, t = w_.cart_customer[carts], w_.cart_t[carts]
        key = w_.cart_key[carts]
        both = reachable(0, cust, t) & reachable(1, cust, t)
        in_exp = both & (loop.ku(U_ASSIGN, key) < ac.experiment_share)
        w = np.cumsum([a.weight for a in ac.arms])
        arm_i = np.minimum(np.searchsorted(w / w[-1], loop.ku(U_ARM, key)), len(ac.arms) - 1)
        exp = loop.experiment_code(EXPERIMENT)
        arm_codes = np.array([loop.arm_code(a.name) for a in ac.arms])
        e = np.nonzero(in_exp)[0]
        if e.size:
            loop.assignments.add(experiment=exp, unit_kind=0, unit=w_.cart_session[carts[e]],
                                 cust=cust[e], arm=arm_codes[arm_i[e]], t=t[e])
        arm_ch = np.array([-1 if a.channel is None else CHANNELS.index(a.channel)
                           for a in ac.arms])
        arm_delay = np.array([0.0 if a.delay_hours is None else a.delay_hours for a in ac.arms])
        pol = [ac.policy[p] for p in PURCHASE_TYPES]
        cart_type = w_.cart_type[carts]
        pol_ch = np.array([CHANNELS.index(p.channel) for p in pol])[cart_type]
        pol_delay = np.array([p.delay_hours for p in pol])[cart_type]
        pol_disc = np.array([p.discount_pct for p in pol])[cart_type]
        if ac.discount_rule is not None:
            pol_disc = ac.discount_rule.discount_for(w_.segment_labels(
                ac.discount_rule.segmentation, cust, t))
        if ac.channels:  # a channel per customer, where they can be reached on it
            own = self._own_channel[cust]
            ok = (own >= 0) & reachable(np.maximum(own, 0), cust, t)
            pol_ch = np.where(ok, own, pol_ch)
        ch = np.where(in_exp, arm_ch[arm_i], pol_ch)
        delay = np.where(in_exp, arm_delay[arm_i], pol_delay)
        disc = np.where(in_exp, ac.discount_pct, pol_disc)
        if ac.discount_arms_pct:
            # a second, independent randomization over the experiment's messaged carts
            levels = np.asarray(ac.discount_arms_pct, dtype=float)
            lv = np.minimum((loop.ku(U_CART_DISC, key) * levels.size).astype(int),
                            levels.size - 1)
            d = np.nonzero(in_exp & (ch >= 0))[0]
            disc[d] = levels[lv[d]]
            if d.size:
                codes = np.array([loop.arm_code(f"{x:g}%") for x in levels])
                loop.assignments.add(experiment=loop.experiment_code(DISCOUNT_EXPERIMENT),
                                     unit_kind=0, unit=w_.cart_session[carts[d]], cust=cust[d],
                                     arm=codes[lv[d]], t=t[d])
        if ac.min_cart_value > 0:  # small carts outside the experiment: no reminder
            small = w_.baskets.value[w_.cart_basket[carts]] < ac.min_cart_value
            ch = np.where(~in_exp & small, -1, ch)
        send = ch >= 0
        ch_s = np.maximum(ch, 0)
        send &= in_exp | reachable(ch_s, cust, t)
        s = np.nonzero(send)[0]
        loop.trigger(cust[s], t[s] + delay[s] * HOUR, self.code, ch[s],
                     combine(key[s], self.code), disc=disc[s],
                     experiment=np.where(in_exp[s], exp, -1),
                     arm=np.where(in_exp[s], arm_codes[arm_i[s]], -1), trigger_kind=0,
                     trigger=w_.cart_session[carts[s]], ref=carts[s])

    @property
    def _own_channel(self) -> np.ndarray:
        """Each customer's channel code from the config's ``channels`` (-1: none)."""
        if getattr(self, "_own", None) is None:
            n = self.loop.cfg.n_customers
            own = np.full(n, -1, dtype=np.int64)
            rows, keep = customer_rows(self.config.channels, n)
            codes = np.array([CHANNELS.index(v) for v in self.config.channels.values()],
                             dtype=np.int64)
            own[rows] = codes[keep]
            self._own = own
        return self._own

    def still_relevant(self, ref: np.ndarray, t: np.ndarray) -> np.ndarray:
        """A cart message is dropped once the customer came back on their own."""
        return self.world.cart_natural_t[ref] > t

    def base_logit(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """``base[type] - (ln(delay / best[type]))^2 / (2 s^2)``."""
        rs = self.loop.cfg.response
        ci = m["ref"][rows]
        typ = self.world.cart_type[ci]
        delay_h = (m["t"][rows] - self.world.cart_t[ci]) * 24.0
        best = np.array([rs.cart_best_delay_hours[p] for p in PURCHASE_TYPES])[typ]
        b0 = np.array([rs.cart_base_logit[p] for p in PURCHASE_TYPES])[typ]
        return b0 - np.log(np.maximum(delay_h, 1e-3) / best) ** 2 / (
            2 * rs.cart_delay_log_sd**2)

    def products_per_message(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """The cart's products, up to :data:`MAX_PRODUCTS_SHOWN`."""
        return np.minimum(self.world.baskets.size(self.basket_shown(m["ref"][rows])),
                          MAX_PRODUCTS_SHOWN)

    def basket_shown(self, ref: np.ndarray) -> np.ndarray:
        """The abandoned cart itself."""
        return self.world.cart_basket[ref]
