"""Browse abandonment: a message about a category viewed without filling a cart.

A message's ``ref`` is the browse candidate's index plus its content's code times
``CONTENT_BIT`` (0 the reminder, 1 a curated collection of the category:
``response.browse_content_logit``), set by the targeting's score range or by the
customer's arm of ``config.content_test``.
"""

from __future__ import annotations

import numpy as np

from ...vocab import CHANNELS
from ...vocab import SIMULATED_SOURCES as SOURCES
from ..campaign_settings import BROWSE_CONTENT_EXPERIMENT, BROWSE_CONTENTS
from ..common import CAMPAIGN_KEY_STRIDE, EVENT_GAP, HOUR, U_HOLDOUT, group_rank
from ..random import combine
from .base import Campaign

CONTENT_BIT = 1 << 40
U_CONTENT_ASSIGN, U_CONTENT_ARM = 185, 186  # keyed streams of the content test (no other use)


class BrowseAbandonment(Campaign):
    """One message per suppression period after a browse session with enough views."""

    name = "browse_abandonment"

    def __init__(self, loop):
        super().__init__(loop)
        self.last_sent_t = np.full(loop.cfg.n_customers, -np.inf)
        self._rank_scratch = np.zeros(loop.cfg.n_customers, dtype=np.int32)  # group_rank's

    def on_day(self, day: int) -> None:
        """Queue messages for the browse sessions that ended on ``day``."""
        idx = self.loop.browses_of_day(day)
        if idx.size == 0:
            return
        bc, w_ = self.config, self.world
        ch = CHANNELS.index(bc.channel)
        cust, t = w_.browse_customer[idx], w_.browse_t[idx]
        send_t = t + bc.delay_hours * HOUR
        ok = self.loop.messaging.reachable(ch, cust, t) & (
            send_t - self.last_sent_t[cust] >= bc.suppress_days)
        content = np.zeros(idx.size, np.int64)  # 0 the reminder, 1 the collection
        if bc.targeting is not None:  # by intent score: reminder, collection or nothing
            content = bc.targeting.contents(self.session_features(idx))
            ok &= content >= 0
        exp, arm = self._content_test(cust, t, content, ok)
        # one per customer per batch
        r = np.flatnonzero(ok)
        ok[r] = group_rank(cust[r], t[r], self._rank_scratch) == 0
        s = np.nonzero(ok)[0]
        self.last_sent_t[cust[s]] = send_t[s]
        self.loop.trigger(cust[s], send_t[s], self.code, ch,
                          combine(w_.browse_session[idx[s]], self.code), trigger_kind=0,
                          trigger=w_.browse_session[idx[s]], experiment=exp[s], arm=arm[s],
                          ref=idx[s] + np.maximum(content[s], 0) * CONTENT_BIT)

    def _content_test(self, cust, t, content, ok) -> tuple[np.ndarray, np.ndarray]:
        """Set the content of the test's customers (in place); their experiment and arm."""
        test = self.config.content_test
        none = np.full(cust.size, -1)
        if test is None:
            return none, none
        k = cust.astype(np.int64) * CAMPAIGN_KEY_STRIDE + self.code
        inside = self.loop.ku(U_CONTENT_ASSIGN, k) < test.share
        if self.holdout_share > 0:  # the campaign's holdout gets nothing: not in the test
            inside &= ~(self.loop.ku(U_HOLDOUT, k) < self.holdout_share)
        pick = np.minimum((self.loop.ku(U_CONTENT_ARM, k) * len(test.arms)).astype(int),
                          len(test.arms) - 1)
        codes = np.array([BROWSE_CONTENTS.index(a) for a in test.arms])[pick]
        content[inside] = codes[inside]
        arm = np.where(inside, np.array([self.loop.arm_code(a) for a in test.arms])[pick], -1)
        sent = inside & ok
        self.loop.assign_once(BROWSE_CONTENT_EXPERIMENT, cust[sent], t[sent], arm[sent])
        return np.where(inside, self.loop.experiment_code(BROWSE_CONTENT_EXPERIMENT), -1), arm

    def session_features(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """The observable features of browse sessions ``idx`` the targeting model reads."""
        w_ = self.world
        return {"views": w_.browse_views[idx], "revisits": w_.browse_revisits[idx],
                "dwell_seconds": w_.browse_dwell[idx].astype(float) * EVENT_GAP * 86400.0,
                "checks": w_.browse_checks[idx],
                "source": np.array(SOURCES, dtype=object)[w_.browse_source[idx]]}

    def base_logit(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """Campaign base plus ``browse_intent_logit`` after a research session.

        Centred on the store's share of research sessions among the reminders'
        candidates, so the campaign's mean persuasion stays where it was calibrated.
        """
        w_ = self.world
        ref = m["ref"][rows]
        r = w_.browse_research[ref % CONTENT_BIT]
        share = float(w_.browse_research.mean()) if w_.browse_research.size else 0.0
        base = super().base_logit(m, rows) + self.loop.cfg.response.browse_intent_logit * (
            r - share)
        content = ref // CONTENT_BIT
        if content.any():  # the content's term, after a casual or a research session
            eff = self.loop.cfg.response.browse_content_logit
            eff = np.array([eff[c] for c in BROWSE_CONTENTS], float)[content]
            base = base + np.where(r, eff[:, 1], eff[:, 0])
        return base

    def focus_category(self, ref: np.ndarray) -> np.ndarray:
        """The category browsed."""
        return self.world.browse_category[ref % CONTENT_BIT]

    def recommender(self):
        """The campaign config's product picks within the viewed category."""
        return self.config.recommender
