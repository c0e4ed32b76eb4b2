"""Post-purchase cross-sell: recommendations a fixed delay after each order."""

from __future__ import annotations

import numpy as np

from ...vocab import CHANNELS
from ..common import EMAIL
from ..random import combine
from .base import Campaign


class PostPurchase(Campaign):
    """Recommendations after every order, picked by ``config.recommender``."""

    name = "post_purchase"

    def on_orders(self, cust, t, key, basket, order_ref) -> None:
        """Queue one message per order, ``delay_days`` after it."""
        ch = CHANNELS.index(self.config.channel)
        self.loop.trigger(cust, t + self.config.delay_days, self.code, ch,
                          combine(key, self.code), trigger_kind=1, trigger=order_ref,
                          ref=basket)

    def products_per_message(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """``products_per_email`` or ``products_per_sms``."""
        return np.where(m["channel"][rows] == EMAIL, self.config.products_per_email,
                        self.config.products_per_sms)

    def recommender(self):
        """The campaign config's product picks (affinity, random, popular or cross-sell)."""
        return self.config.recommender

    def followed_up(self, ref: np.ndarray) -> np.ndarray:
        """The order's basket (``ref``)."""
        return ref
