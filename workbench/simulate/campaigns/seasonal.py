"""Seasonal offers: sends to every reachable customer on fixed days of the year.

Each send is a randomized discount experiment; customers outside it get the
segment discount rule, or no discount without one.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from ...vocab import CHANNELS
from ..common import HOUR, U_SEAS_ARM, U_SEAS_ASSIGN
from ..random import combine
from .base import Campaign

DAYS_PER_YEAR = 365  # to count the calendar years the simulated window touches


class Seasonal(Campaign):
    """Each configured event, every year it falls inside the simulated window."""

    triggered = False

    name = "seasonal"

    def start(self) -> None:
        """Schedule every event's send day (expanded into messages on that day)."""
        if not self.enabled:
            return
        start, horizon = self.loop.cfg.start_date, self.world.horizon
        for ei, ev in enumerate(self.config.events):
            for year in range(start.year, start.year + int(horizon // DAYS_PER_YEAR) + 2):
                try:
                    day = date(year, 1, 1) + timedelta(days=ev.day_of_year - 1)
                except ValueError:
                    continue
                off = (day - start).days + ev.send_hour * HOUR
                if 0 <= off < horizon:
                    self.loop.schedule(off, {"campaign": self.code, "event": ei,
                                             "year": year, "t": off})

    def expand(self, item: dict) -> list[dict]:
        """Turn a scheduled event into per-customer triggers (at send time)."""
        out = []
        sc, loop, w_ = self.config, self.loop, self.world
        ei, year, off = item["event"], item["year"], item["t"]
        ev = sc.events[ei]
        cust = np.arange(loop.cfg.n_customers)[w_.customers.signup_t <= off]
        exp = loop.experiment_code(f"seasonal_discount_{ev.name}_{year}")
        arms = np.array(ev.discount_arms_pct)
        k = combine(cust, ei, year)
        arm_i = np.minimum((loop.ku(U_SEAS_ARM, k) * arms.size).astype(int), arms.size - 1)
        arm_codes = np.array([loop.arm_code(f"{a:g}%") for a in arms])
        # in the experiment: a randomized arm; outside it: the segment rule (or nothing)
        in_exp = (np.ones(cust.size, bool) if sc.experiment_share >= 1
                  else loop.ku(U_SEAS_ASSIGN, k) < sc.experiment_share)
        disc = np.where(in_exp, arms[arm_i], 0.0)
        if sc.discount_rule is not None and not in_exp.all():
            rest = ~in_exp
            disc[rest] = sc.discount_rule.discount_for(w_.segment_labels(
                sc.discount_rule.segmentation, cust[rest], np.full(rest.sum(), off)))
        any_reach = np.zeros(cust.size, bool)
        for chn in ev.channels:
            ch = CHANNELS.index(chn)
            r = loop.messaging.reachable(ch, cust, np.full(cust.size, off))
            any_reach |= r
            c = cust[r]
            out.append(dict(cust=c, t=np.full(c.size, off), campaign=np.full(c.size, self.code),
                            channel=np.full(c.size, ch), key=combine(k[r], self.code, ch),
                            disc=disc[r], experiment=np.where(in_exp[r], exp, -1),
                            arm=np.where(in_exp[r], arm_codes[arm_i[r]], -1),
                            trigger_kind=np.full(c.size, -1),
                            trigger=np.full(c.size, -1),
                            ref=np.full(c.size, ei)))
        a = np.nonzero(any_reach & in_exp)[0]
        loop.assignments.add(experiment=exp, unit_kind=1, unit=cust[a] + 1, cust=cust[a],
                             arm=arm_codes[arm_i[a]], t=np.full(a.size, off))
        return out

    def products_per_message(self, m: dict, rows: np.ndarray) -> np.ndarray:
        """Seasonal messages show no products."""
        return np.zeros(rows.size, dtype=np.int64)

    def conversion_window(self, ref: np.ndarray) -> np.ndarray:
        """Each event's own ``window_days``."""
        return np.array([e.window_days for e in self.config.events])[ref]
