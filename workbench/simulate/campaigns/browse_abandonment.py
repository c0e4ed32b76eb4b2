"""Browse abandonment: a message about a category viewed without filling a cart."""

from __future__ import annotations

import numpy as np

from ...vocab import CHANNELS
from ...vocab import SIMULATED_SOURCES as SOURCES
from ..common import EVENT_GAP, HOUR, group_rank
from ..random import combine
from .base import Campaign


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
        if bc.targeting is not None:  # only the sessions whose intent score is in range
            ok &= bc.targeting.selects(self.session_features(idx))
        # one per customer per batch
        r = np.flatnonzero(ok)
        ok[r] = group_rank(cust[r], t[r], self._rank_scratch) == 0
        s = np.nonzero(ok)[0]
        self.last_sent_t[cust[s]] = send_t[s]
        self.loop.trigger(cust[s], send_t[s], self.code, ch,
                          combine(w_.browse_session[idx[s]], self.code), trigger_kind=0,
                          trigger=w_.browse_session[idx[s]], ref=idx[s])

    def session_features(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """The observable features of browse sessions ``idx`` the targeting model reads."""
        w_ = self.world
        return {"views": w_.browse_views[idx], "revisits": w_.browse_revisits[idx],
                "dwell_seconds": w_.browse_dwell[idx].astype(float) * EVENT_GAP * 86400.0,
                "source": np.array(SOURCES, dtype=object)[w_.browse_source[idx]]}

    def base_logit(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """Campaign base plus ``browse_intent_logit`` after a research session.

        Centred on the store's share of research sessions among the reminders'
        candidates, so the campaign's mean persuasion stays where it was calibrated.
        """
        w_ = self.world
        r = w_.browse_research[m["ref"][rows]]
        share = float(w_.browse_research.mean()) if w_.browse_research.size else 0.0
        return super().base_logit(m, rows) + self.loop.cfg.response.browse_intent_logit * (
            r - share)

    def focus_category(self, ref: np.ndarray) -> np.ndarray:
        """The category browsed."""
        return self.world.browse_category[ref]

    def recommender(self):
        """The campaign config's product picks within the viewed category."""
        return self.config.recommender
