"""Replenishment: a reminder shortly before a consumable bought runs out."""

from __future__ import annotations

import numpy as np

from ...vocab import CHANNELS
from ..common import customer_rows
from ..random import combine
from .base import Campaign

MIN_DELAY_DAYS = 1.0  # a reminder is never sent sooner than this after the order


class Replenishment(Campaign):
    """Reminders about each basket's primary consumable, ``lead_days`` before it runs out.

    The send time assumes the product's nominal supply times the config's multiplier
    for the customer (``cycle_multipliers``, 1 without one); the customer's real use
    rate differs (``cycle_multiplier``), and the persuasion logit falls with the relative
    error of the send time.
    """

    name = "replenishment"
    derived = ("_planned",)

    def on_orders(self, cust, t, key, basket, order_ref) -> None:
        """Queue a reminder for orders whose basket holds a consumable."""
        w_ = self.world
        prim = w_.baskets.consumable[basket]
        has = prim >= 0
        if not has.any():
            return
        b = basket[has]
        prod = prim[has]
        qty = w_.baskets.consumable_qty[b]
        need = w_.catalog.supply_days[prod] * qty * self.planned_multiplier[cust[has]]
        ch = CHANNELS.index(self.config.channel)
        self.loop.trigger(cust[has], t[has] + np.maximum(need - self.config.lead_days,
                          MIN_DELAY_DAYS), self.code, ch, combine(key[has], self.code),
                          trigger_kind=1, trigger=order_ref[has], ref=b)

    def base_logit(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """Campaign base minus ``penalty * |send - need| / need``."""
        rs, w_ = self.loop.cfg.response, self.world
        base = super().base_logit(m, rows)
        b = m["ref"][rows]
        prod, qty = w_.baskets.consumable[b], w_.baskets.consumable_qty[b]
        supply = w_.catalog.supply_days[prod]
        need = supply * qty * w_.customers.cycle_multiplier[m["cust"][rows]]
        sent_after = np.maximum(supply * qty * self.planned_multiplier[m["cust"][rows]]
                                - self.config.lead_days, MIN_DELAY_DAYS)
        base -= rs.replenishment_timing_penalty * np.abs(sent_after - need) / need
        return base

    @property
    def planned_multiplier(self) -> np.ndarray:
        """Each customer's cycle multiplier from the config (1: the catalog rule)."""
        if getattr(self, "_planned", None) is None:
            n = self.loop.cfg.n_customers
            self._planned = np.ones(n)
            rows, keep = customer_rows(self.config.cycle_multipliers, n)
            self._planned[rows] = np.array(list(self.config.cycle_multipliers.values()),
                                           dtype=float)[keep]
        return self._planned

    def focus_category(self, ref: np.ndarray) -> np.ndarray:
        """The consumable's category."""
        return self.world.catalog.product_category[self.world.baskets.consumable[ref]]

    def focus_product(self, ref: np.ndarray) -> np.ndarray:
        """The consumable itself."""
        return self.world.baskets.consumable[ref]
