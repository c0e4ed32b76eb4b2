"""Post-purchase cross-sell: recommendations after each order, one email or a sequence.

What the emails say around their products (cross-sell, a welcome, a thank-you with early
access, a loyalty invitation) follows the order's buyer and value
(``config.sequences``), or a customer's arm of ``config.sequence_test``; the content's
persuasion is ``response.post_purchase_content_logit`` (first-time buyer, repeat buyer,
per doubling of the order's value over the store's median basket).
"""

from __future__ import annotations

import numpy as np

from ...vocab import CHANNELS
from ..campaign_settings import POST_PURCHASE_CONTENTS, SEQUENCE_EXPERIMENT
from ..common import CAMPAIGN_KEY_STRIDE, EMAIL, U_HOLDOUT, add_at, group_rank
from ..random import combine
from .base import Campaign

#: a message's ``ref`` is ``basket * STEP_STRIDE + step`` (step 0: the first email), plus
#: the content's code times ``CONTENT_BIT`` and ``FIRST_BIT`` for a first-time buyer's order
#: (both 0 for cross-sell to a repeat buyer)
STEP_STRIDE = 16
CONTENT_BIT, FIRST_BIT = 1 << 40, 1 << 44
U_SEQ_ASSIGN, U_SEQ_ARM = 183, 184  # keyed streams of the sequence test (no other use)
NO_EMAIL = -1


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

    def start(self) -> None:
        n = self.loop.cfg.n_customers
        self._orders = np.zeros(n, np.int64)  # orders followed up so far, per customer
        value = self.world.baskets.value[self.world.organic["basket"]]
        self._median_value = float(np.median(value)) if value.size else 1.0
        eff = self.loop.cfg.response.post_purchase_content_logit
        self._effect = np.array([eff[c] for c in POST_PURCHASE_CONTENTS], float)

    def content(self, cust, t, basket) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each order's content code (-1: no email), first-time flag and test arm (-1)."""
        prior = self._orders[cust] + group_rank(cust, t)
        add_at(self._orders, cust, 1)
        first = prior == 0
        value = self.world.baskets.value[basket]
        code = np.zeros(cust.size, np.int64)
        names = [*POST_PURCHASE_CONTENTS, "none"]
        for s in reversed(self.config.sequences):  # the first match decides
            hit = ((value >= s.min_order_value)
                   & (value < (np.inf if s.max_order_value is None else s.max_order_value)))
            if s.buyers != "any":
                hit &= first == (s.buyers == "first_time")
            code[hit] = names.index(s.content)
        arm = np.full(cust.size, -1)
        test = self.config.sequence_test
        if test is not None:
            k = cust.astype(np.int64) * CAMPAIGN_KEY_STRIDE + self.code
            inside = (self.loop.ku(U_SEQ_ASSIGN, k) < test.share) & (t >= test.start_day)
            if self.holdout_share > 0:  # the campaign's holdout gets nothing: not in the test
                inside &= ~(self.loop.ku(U_HOLDOUT, k) < self.holdout_share)
            pick = np.minimum((self.loop.ku(U_SEQ_ARM, k) * len(test.arms)).astype(int),
                              len(test.arms) - 1)
            arm = np.where(inside, np.array([self.loop.arm_code(a) for a in test.arms])[pick],
                           -1)
            code[inside] = np.array([names.index(a) for a in test.arms])[pick[inside]]
            self.loop.assign_once(SEQUENCE_EXPERIMENT, cust[inside], t[inside], arm[inside])
        code[code == len(POST_PURCHASE_CONTENTS)] = NO_EMAIL
        return code, first, arm

    def on_orders(self, cust, t, key, basket, order_ref) -> None:
        """Queue the sequence's messages for each order."""
        code, first, arm = self.content(cust, t, basket)
        send = code != NO_EMAIL
        cust, t, key, basket, order_ref = (cust[send], t[send], key[send], basket[send],
                                           order_ref[send])
        tag = np.maximum(code[send], 0) * CONTENT_BIT + first[send] * FIRST_BIT
        arm = arm[send]
        exp = (np.where(arm >= 0, self.loop.experiment_code(SEQUENCE_EXPERIMENT), -1)
               if self.config.sequence_test is not None else -1)
        ch = CHANNELS.index(self.config.channel)
        for step, delay in enumerate(self.delays):
            k = combine(key, self.code) if step == 0 else combine(key, self.code, step)
            self.loop.trigger(cust, t + delay, self.code, ch, k, experiment=exp, arm=arm,
                              trigger_kind=1, trigger=order_ref,
                              ref=basket * STEP_STRIDE + step + tag)

    def base_logit(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """The campaign's base plus its content's term for the buyer and the order's value."""
        base = super().base_logit(m, rows)
        ref = m["ref"][rows]
        code = (ref // CONTENT_BIT) % (FIRST_BIT // CONTENT_BIT)
        if not code.any():
            return base
        first = ref >= FIRST_BIT
        eff = self._effect[code]
        value = self.world.baskets.value[self.followed_up(ref)]
        doublings = np.log2(np.maximum(value, 1e-9) / self._median_value)
        return base + np.where(first, eff[:, 0], eff[:, 1]) + eff[:, 2] * doublings

    def products_per_message(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """``products_per_email`` or ``products_per_sms``."""
        return np.where(m["channel"][rows] == EMAIL, self.config.products_per_email,
                        self.config.products_per_sms)

    def recommender(self):
        """The campaign config's product picks (affinity, random, popular or cross-sell)."""
        return self.config.recommender

    def followed_up(self, ref: np.ndarray) -> np.ndarray:
        """The order's basket."""
        return (ref % CONTENT_BIT) // STEP_STRIDE

    def sequence_step(self, ref: np.ndarray) -> np.ndarray:
        """Which email of the sequence each message is (0: the first)."""
        return ref % STEP_STRIDE

    def days_after(self, ref: np.ndarray) -> np.ndarray:
        """Days between the order and each message."""
        return np.asarray(self.delays)[ref % STEP_STRIDE]
