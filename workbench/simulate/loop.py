"""The day loop: campaigns trigger messages into a queue, each day's batch is sent.

Each simulated day: the frequency-cap window moves on, every enabled campaign
triggers from the world's events of the day (in :data:`workbench.vocab.CAMPAIGNS`
order), the day's queued messages (plus scheduled sends, expanded now) go to
:class:`~workbench.simulate.messaging.Messaging`, and the orders placed that day
trigger their follow-ups.  The loop also keeps the experiment registry and the
assignments ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from ..vocab import CUSTOMER_STAGES
from .campaign_settings import CAP_EXPERIMENT
from .campaigns import CAMPAIGN_CLASSES
from .common import EMAIL, ColumnBatches, customer_rows
from .messaging import Messaging

ASSIGNMENT_COLUMNS = ["experiment", "unit_kind", "unit", "cust", "arm", "t"]
U_CAP_ASSIGN, U_CAP_ARM = 187, 188  # keyed streams of the cap test (no other use)
TRIGGER_FIELDS = ("campaign", "channel", "disc", "experiment", "arm", "trigger_kind",
                  "trigger", "ref")


def _day_order(day: np.ndarray, n_days: int) -> np.ndarray:
    """``np.argsort(day, kind="stable")`` as far as the days ``0 .. n_days - 1`` go.

    Days outside are clipped to -1 or ``n_days`` (their callers drop them), which
    lets numpy sort 16-bit integers: a radix sort, several times quicker.
    """
    if n_days < np.iinfo(np.int16).max:
        day = np.clip(day, -1, n_days).astype(np.int16)
    return np.argsort(day, kind="stable")


def _day_buckets(t: np.ndarray, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``t`` sorted by day and the bounds of each day in them."""
    day = np.floor(t).astype(int)
    order = _day_order(day, n_days)
    return order, np.searchsorted(day[order], np.arange(n_days + 1))


class DayLoop:
    """Run the campaigns over the simulated days, on top of a built :class:`World`."""

    def __init__(self, cfg, world, ku, progress: Callable[[int], None] | None = None):
        self.cfg, self.world, self.ku, self.progress = cfg, world, ku, progress
        self.n_days = int(np.ceil(world.horizon))
        self.queue: dict[int, list[dict]] = defaultdict(list)
        self.assignments = ColumnBatches(ASSIGNMENT_COLUMNS)
        self.experiments: list[str] = []
        self.arm_names: list[str] = []
        self.followed_up = np.zeros(world.n_organic, bool)
        self._assigned: dict[str, np.ndarray] = {}  # experiment -> customers assigned
        self.campaigns = [cls(self) for cls in CAMPAIGN_CLASSES.values()]
        self.messaging = Messaging(cfg, world, ku, self.campaigns, self.follow_up,
                                   self.record_holdouts)
        self._cap_test(cfg.campaigns.caps.test)
        self._send_hours = self._send_time_policy(cfg.campaigns.send_time, cfg.n_customers)

    def _cap_test(self, test) -> None:
        """Randomize customers to the store's caps or lower ones, recorded at sign-up."""
        if test is None:
            return
        cust = np.arange(self.cfg.n_customers, dtype=np.int64)
        inside = self.ku(U_CAP_ASSIGN, cust) < test.share
        lower = inside & (self.ku(U_CAP_ARM, cust) < 0.5)
        caps = self.messaging.caps
        for i, cap in enumerate(test.lower):
            caps[i, lower] = np.minimum(caps[i, lower], cap)
        arms = np.array([self.arm_code("store_caps"), self.arm_code("lower_caps")])
        c = cust[inside]
        self.assign_once(CAP_EXPERIMENT, c, self.world.customers.signup_t[c],
                         arms[lower[inside].astype(int)])

    def _send_time_policy(self, policy, n_customers: int):
        """``(campaign codes, weekday hours, weekend hours, max delay in days)`` or None."""
        if policy is None or not policy.hours:
            return None
        if policy.timezone != "UTC":
            raise ValueError(f"campaigns.send_time: the hours are in {policy.timezone!r}, but "
                             "the simulated store's clock is UTC; estimate them with "
                             "timezone='UTC' to replay them")
        names = [c.name for c in self.campaigns]
        codes = np.array([names.index(c) for c in policy.campaigns], dtype=np.int64)
        week, end = np.full(n_customers, np.nan), np.full(n_customers, np.nan)
        rows, keep = customer_rows(policy.hours, n_customers)
        hours = np.array(list(policy.hours.values()), dtype=float).reshape(-1, 2)[keep]
        week[rows], end[rows] = hours[:, 0], hours[:, 1]
        return codes, week, end, policy.max_delay_hours / 24.0

    def _retime(self, cols: dict) -> dict:
        """Move the sends the send-time policy covers to each customer's next hour.

        The next time at or after the due time at the customer's weekday hour (Monday
        to Friday) or weekend hour, unless that is more than the policy's maximum
        delay away.  A send already at its hour stays (so retiming twice changes
        nothing).
        """
        if self._send_hours is None:
            return cols
        codes, week, end, max_delay = self._send_hours
        cust = np.asarray(cols["cust"])
        t = np.asarray(cols["t"], dtype=float)
        on = (np.isin(cols["campaign"], codes) & np.isfinite(week[cust])
              & (np.asarray(cols["channel"]) == EMAIL))  # hours learned from email
        if not on.any():
            return cols
        c, tt = cust[on], t[on]
        weekend = self.world.customers.is_weekend

        def at(day):
            return day + np.where(weekend(day), end[c], week[c]) / 24.0

        day = np.floor(tt)
        new = at(day)
        new = np.where(new >= tt, new, at(day + 1))
        t = t.copy()
        t[on] = np.where(new - tt <= max_delay, new, tt)
        return {**cols, "t": t}

    # ------------------------------------------------------------------ registries
    def experiment_code(self, name: str) -> int:
        """Code of experiment ``name`` (registered on first use)."""
        if name not in self.experiments:
            self.experiments.append(name)
        return self.experiments.index(name)

    def arm_code(self, name: str) -> int:
        """Code of arm ``name`` (registered on first use)."""
        if name not in self.arm_names:
            self.arm_names.append(name)
        return self.arm_names.index(name)

    def record_holdouts(self, campaign: int, cust: np.ndarray, held: np.ndarray,
                        t: np.ndarray) -> None:
        """Assign customers to a campaign's holdout experiment, once, at their first trigger.

        Experiment ``<campaign>_holdout``, unit a customer, arm ``holdout`` or ``messaged``:
        what a platform's holdout group records, so the campaign's incrementality is
        measurable from the assignments table (on real data too).
        """
        arms = np.array([self.arm_code("messaged"), self.arm_code("holdout")])
        self.assign_once(f"{self.campaigns[campaign].name}_holdout", cust, t,
                         arms[held.astype(int)])

    def assign_once(self, experiment: str, cust: np.ndarray, t: np.ndarray,
                    arm: np.ndarray) -> None:
        """Record customers' arms (codes) of a per-customer ``experiment``, each once.

        A customer's earliest row of the batch is recorded, the first time they come.
        """
        seen = self._assigned.setdefault(experiment, np.zeros(self.cfg.n_customers, bool))
        order = np.lexsort((t, cust))
        cust, t, arm = cust[order], t[order], arm[order]
        cust, i = np.unique(cust, return_index=True)
        new = ~seen[cust]
        if new.any():
            seen[cust[new]] = True
            self.assignments.add(experiment=self.experiment_code(experiment), unit_kind=1,
                                 unit=cust[new] + 1, cust=cust[new], arm=arm[i][new],
                                 t=t[i][new])

    # ------------------------------------------------------------------ queue
    def schedule(self, t: float, item: dict) -> None:
        """Queue an item a campaign expands itself on the day of ``t``."""
        self.queue[int(np.floor(t))].append({"scheduled": item})

    def _skip_stages(self, cols: dict) -> dict:
        """Drop the sends to customers in a stage their campaign does not message.

        The stage at the send (``campaigns.<name>.skip_stages``): orders placed before
        it — none, one, two or more.  Nothing is computed for a campaign that skips none.
        """
        camp = np.asarray(cols["campaign"])
        skip = {c.code: [CUSTOMER_STAGES.index(x) for x in c.config.skip_stages]
                for c in self.campaigns if c.config.skip_stages}
        hit = np.isin(camp, list(skip)) if skip else np.zeros(camp.size, bool)
        if not hit.any():
            return cols
        rows = np.flatnonzero(hit)
        cust, t = np.asarray(cols["cust"])[rows], np.asarray(cols["t"], dtype=float)[rows]
        stage = np.minimum(self.world.prior_orders(cust, t), 2)
        drop = np.zeros(camp.size, bool)
        for code, stages in skip.items():
            mine = camp[rows] == code
            drop[rows[mine & np.isin(stage, stages)]] = True
        return {k: np.asarray(v)[~drop] for k, v in cols.items()} if drop.any() else cols

    def _prepare(self, cols: dict) -> dict:
        """Sends moved to each customer's hour, then the skipped stages dropped.

        :meth:`_retime` first, so :meth:`_skip_stages` reads the stage at the send itself.
        """
        return self._skip_stages(self._retime(cols))

    def _enqueue(self, **cols):
        self._queue_prepared(self._prepare(cols))

    def _queue_prepared(self, cols: dict) -> None:
        """Queue sends already prepared, each on its day."""
        day = np.floor(cols["t"]).astype(int)
        order = _day_order(day, self.n_days)  # by day, in trigger order within a day
        order = order[day[order] < self.n_days]
        if order.size == 0:
            return
        day = day[order]
        cols = {k: np.asarray(v)[order] for k, v in cols.items()}
        cuts = np.flatnonzero(np.diff(day)) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, day.size], strict=True):
            self.queue[int(day[lo])].append({k: v[lo:hi] for k, v in cols.items()})

    def trigger(self, cust, t, campaign, channel, key, disc=0.0, experiment=-1, arm=-1,
                trigger_kind=-1, trigger=-1, ref=-1):
        """Queue messages to customers ``cust`` at times ``t`` (scalars broadcast).

        ``trigger_kind`` is 0 for a session (cart, browse), 1 for an order, -1 for
        none; ``ref`` is the campaign's own reference (cart, browse, basket, event).
        """
        n = cust.size

        def full(v, dt):
            return np.full(n, v, dtype=dt) if np.ndim(v) == 0 else np.array(v, dtype=dt)

        self._enqueue(cust=cust, t=t, campaign=full(campaign, np.int64),
                      channel=full(channel, np.int64), key=key, disc=full(disc, float),
                      experiment=full(experiment, np.int64), arm=full(arm, np.int64),
                      trigger_kind=full(trigger_kind, np.int64), trigger=full(trigger, np.int64),
                      ref=full(ref, np.int64))

    def follow_up(self, orders: np.ndarray, o: dict | None = None):
        """Queue the follow-ups of ``orders`` (organic order ids, or rows of ``o``)."""
        if o is None:  # an organic order is followed up once (moved ones when moved)
            orders = orders[~self.followed_up[orders]]
        if orders.size == 0:
            return
        src = self.world.organic if o is None else o
        if o is None:
            self.followed_up[orders] = True
        cust, t, key, basket = (src["cust"][orders], src["t"][orders], src["key"][orders],
                                src["basket"][orders])
        order_ref = orders if o is None else src["id"][orders]
        for c in self.campaigns:
            if c.enabled:
                c.on_orders(cust, t, key, basket, order_ref)

    # ------------------------------------------------------------------ world by day
    def carts_of_day(self, day: int) -> np.ndarray:
        """Carts abandoned on ``day``."""
        return self._cart_order[self._cart_bounds[day]:self._cart_bounds[day + 1]]

    def browses_of_day(self, day: int) -> np.ndarray:
        """Browse-abandonment candidates of ``day``."""
        return self._browse_order[self._browse_bounds[day]:self._browse_bounds[day + 1]]

    # ------------------------------------------------------------------ run
    def run(self) -> None:
        """Simulate every day."""
        w_, D = self.world, self.n_days
        self._cart_order, self._cart_bounds = _day_buckets(w_.cart_t, D)
        self._browse_order, self._browse_bounds = _day_buckets(w_.browse_t, D)
        o_order, o_bounds = _day_buckets(w_.organic["t"], D)
        for c in self.campaigns:
            c.start()
        deployed = {p.start_day: p.campaigns for p in self.cfg.periods}
        for d in range(D):
            if d in deployed:  # a config deployed today: triggers from now on follow it
                for c in self.campaigns:
                    c.reconfigure(getattr(deployed[d], c.name))
            self.messaging.new_day(d)
            for c in self.campaigns:
                if c.enabled:
                    c.on_day(d)
            batch = self.queue.pop(d, [])
            scheduled = [b["scheduled"] for b in batch if "scheduled" in b]
            batch = [b for b in batch if "scheduled" not in b]
            for item in scheduled:
                for b in self.campaigns[item["campaign"]].expand(item):
                    b = self._prepare(b)
                    later = np.floor(b["t"]) > d  # moved to a customer's hour on a later day
                    if later.any():
                        self._queue_prepared({k: v[later] for k, v in b.items()})
                        b = {k: v[~later] for k, v in b.items()}
                    batch.append(b)
            if batch:
                self.messaging.send(d, {k: np.concatenate([b[k] for b in batch])
                                        for k in batch[0]})
            # follow-ups of orders placed today (organic ones not moved earlier)
            self.follow_up(o_order[o_bounds[d]:o_bounds[d + 1]])
            if self.progress is not None:
                self.progress(1)
