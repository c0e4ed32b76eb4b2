"""Post-purchase cross-sell: recommendations after each order, one email or a sequence."""

from __future__ import annotations

import numpy as np

from ...vocab import CHANNELS
from ..common import EMAIL
from ..random import combine
from .base import Campaign

#: a message's ``ref`` is ``basket * STEP_STRIDE + step`` (step 0: the first email)
STEP_STRIDE = 16


class PostPurchase(Campaign):
    """Recommendations after every order, picked by ``config.recommender``.

    The first email goes ``delay_days`` after the order and one more at each of
    ``follow_up_days``; step ``s`` shows the lists' products ``s k`` to ``s k + k - 1``
    (``k`` products per message), so with one product per email the sequence walks
    down each list.
    """

    name = "post_purchase"

    @property
    def delays(self) -> list[float]:
        """Days after the order of each email of the sequence."""
        return [self.config.delay_days, *self.config.follow_up_days]

    def on_orders(self, cust, t, key, basket, order_ref) -> None:
        """Queue the sequence's messages for each order."""
        ch = CHANNELS.index(self.config.channel)
        for step, delay in enumerate(self.delays):
            k = combine(key, self.code) if step == 0 else combine(key, self.code, step)
            self.loop.trigger(cust, t + delay, self.code, ch, k, trigger_kind=1,
                              trigger=order_ref, ref=basket * STEP_STRIDE + step)

    def products_per_message(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """``products_per_email`` or ``products_per_sms``."""
        return np.where(m["channel"][rows] == EMAIL, self.config.products_per_email,
                        self.config.products_per_sms)

    def recommender(self):
        """The campaign config's product picks (affinity, random, popular or cross-sell)."""
        return self.config.recommender

    def followed_up(self, ref: np.ndarray) -> np.ndarray:
        """The order's basket."""
        return ref // STEP_STRIDE

    def sequence_step(self, ref: np.ndarray) -> np.ndarray:
        """Which email of the sequence each message is (0: the first)."""
        return ref % STEP_STRIDE

    def days_after(self, ref: np.ndarray) -> np.ndarray:
        """Days between the order and each message."""
        return np.asarray(self.delays)[ref % STEP_STRIDE]
