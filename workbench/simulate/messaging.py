"""Messaging: who can be messaged, and what a sent message does.

Sending a day's batch: drop messages to customers who opted out, unsubscribed,
are in the campaign's holdout or whose trigger no longer applies; apply the
frequency caps (trailing :data:`CAP_WINDOW_DAYS` days per channel, in send
order); draw delivery, opens (human and machine), clicks, persuasion and
unsubscribes with common random numbers; then settle conversions — a message
*causes* an order only when the customer is persuaded *and* would not have bought
in the window anyway; a click by someone who would have bought anyway moves their
purchase onto the message (attributed, not caused), and a discount they redeem is
a subsidy.  Every draw is keyed by the message's key (see
:mod:`workbench.simulate.random`).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ..vocab import CHANNELS, PRICE_SEGMENTS
from ..vocab import SIMULATED_SOURCES as SOURCES
from . import kernels
from .common import (
    CAMPAIGN_KEY_STRIDE,
    CHANNEL_KEY_STRIDE,
    EMAIL,
    EVENT_GAP,
    HOUR,
    MINUTE,
    U_BASKET,
    U_CAUSED_T,
    U_CLICK,
    U_CLICK_CATEGORY,
    U_CLICK_T,
    U_CLICK_VIEWS,
    U_DELIVER,
    U_HABIT,
    U_HABIT_T,
    U_HOLDOUT,
    U_MACHINE_T,
    U_OPEN,
    U_OPEN_T,
    U_PERSUADE,
    U_UNSUB,
    U_UNSUB_T,
    U_VIA,
    BatchedColumns,
    GrowingArray,
    add_at,
    categorical,
    circular_hour_distance,
    customer_rows,
    group_rank,
    hour_of_day,
    sigmoid,
)
from .products import ProductsShown, by_campaign, kept_picks, softmax_pick
from .random import combine
from .world import BASKET_UNIFORMS

CAP_WINDOW_DAYS = 7  # frequency caps count the messages of the trailing 7 days (incl. today)
# channel code -> the traffic source of a session a click on that channel opens
CHANNEL_SOURCE = np.array([SOURCES.index(c) for c in CHANNELS])
DIRECT = SOURCES.index("direct")

# Timing of engagement (structural; not store settings)
MEAN_OPEN_DELAY = 3 * HOUR  # human opens: exponential delay after the send
MEAN_CLICK_DELAY = 10 * MINUTE  # clicks: exponential delay after the open (sms: send)
MEAN_PERSUADED_CLICK_DELAY = HOUR  # a persuaded click not otherwise drawn
MACHINE_OPEN_MINUTES = 10  # machine opens: uniform within this many minutes of delivery
UNSUBSCRIBE_WITHIN = 4 * HOUR  # an unsubscribe follows the open, at most this after the send
MIN_HOUR_FIT = 0.5  # open probability at the worst hour relative to the best
# Conversions
CAUSED_ORDER_TAG = 99  # tags a caused order's key: combine(message key, 99)
MEAN_DIRECT_VISIT_DELAY = 0.5  # days from a send to a persuaded customer's direct visit
ORDER_AFTER_SESSION = 6 * EVENT_GAP  # a message-driven order follows its session's start
CAUSED_SESSION_VIEWS = 2
MAX_CLICK_SESSION_VIEWS = 3

MESSAGE_COLUMNS = ["cust", "campaign", "channel", "t", "delivered", "open_t", "click_t",
                   "unsub_t", "disc", "cost", "experiment", "arm", "trigger_kind", "trigger",
                   "persuaded", "caused", "caused_order", "anyway", "machine", "p_persuade",
                   "logit0", "alive", "prod_start", "prod_len", "plogit", "key"]
ENGAGEMENT = ("delivered", "alive", "p_pers", "persuaded", "email", "open_t", "click_t",
              "clicked", "machine", "unsub", "unsub_t", "logit0")


class Messaging:
    """Message state (unsubscribes, caps) and the ledger of sent messages.

    ``campaigns`` are the campaign objects by code; ``follow_up(orders, o=None)``
    queues the follow-ups of orders that messages move or cause.
    """

    def __init__(self, cfg, world, ku, campaigns, follow_up, record_holdouts=None):
        self.cfg, self.world, self.ku = cfg, world, ku
        self.campaigns, self.follow_up = campaigns, follow_up
        self.record_holdouts = record_holdouts
        n_ch, N = len(CHANNELS), cfg.n_customers
        caps = cfg.campaigns.caps
        self.messages = BatchedColumns(MESSAGE_COLUMNS)  # written here, read once at the end
        self.message_products = GrowingArray(np.int64)
        self.message_appeal = GrowingArray(np.float64)  # truth: each product's appeal
        self.shown = ProductsShown(cfg, world, ku, campaigns)
        self.unsubscribed_at = np.full((n_ch, N), np.inf)
        # messages per (channel, customer) in the cap window, and the flat (channel,
        # customer) index of each send of the window's days, to take back when it leaves
        self.sent_in_window = np.zeros((n_ch, N), dtype=np.int32)
        self._sent_on_day = [np.zeros(0, dtype=np.int64)] * CAP_WINDOW_DAYS
        self._rank_scratch = np.zeros(N * CHANNEL_KEY_STRIDE, dtype=np.int32)  # group_rank's
        # each (customer, channel) group's first unsubscribe in a batch (inf: none)
        self._unsub_scratch = np.full(N * CHANNEL_KEY_STRIDE, np.inf)
        # each customer's cap per channel: the store's, or their own (caps.per_customer)
        self.caps = np.repeat(np.array([getattr(caps, f"{c}_per_week") for c in CHANNELS],
                                       dtype=np.int64)[:, None], N, axis=1)
        if caps.per_customer:
            rows, keep = customer_rows(caps.per_customer, N)
            own = np.array(list(caps.per_customer.values()), dtype=np.int64).reshape(-1, 2)
            self.caps[:, rows] = own[keep].T
        # per-campaign holdout: customers who never get that campaign's messages
        self.holdout_share = np.array([c.holdout_share for c in campaigns])

    def new_day(self, day: int) -> None:
        """Forget the sends of the day that leaves the cap window."""
        slot = day % CAP_WINDOW_DAYS
        add_at(self.sent_in_window.reshape(-1), self._sent_on_day[slot], -1)
        self._sent_on_day[slot] = np.zeros(0, dtype=np.int64)

    def reachable(self, ch, cust, t):
        """Opted in to channel ``ch``, not unsubscribed by ``t`` and signed up."""
        cus = self.world.customers
        k = kernels.compiled()
        if k is not None:
            return k["reachable"](cus.opted_in, self.unsubscribed_at, cus.signup_t,
                                  np.broadcast_to(ch, cust.shape), cust,
                                  np.broadcast_to(t, cust.shape))
        return (cus.opted_in[ch, cust] & (self.unsubscribed_at[ch, cust] > t)
                & (cus.signup_t[cust] <= t))

    def _by_campaign(self, campaign: np.ndarray):
        """``(campaign object, row indices)`` for each campaign present in ``campaign``."""
        return by_campaign(self.campaigns, campaign)

    # ------------------------------------------------------------------ persuasion
    def discount_logit(self, cust: np.ndarray, discount_pct: np.ndarray) -> np.ndarray:
        """The discount's part of a customer's persuasion logit: ``a_s 1{d>0} + b_s d``."""
        rs = self.cfg.response
        seg = self.world.customers.price_segment[cust]
        d = np.asarray(discount_pct, dtype=float) / 100.0
        a = np.array([rs.discount_intercept[s] for s in PRICE_SEGMENTS])[seg]
        b = np.array([rs.discount_slope[s] for s in PRICE_SEGMENTS])[seg]
        return np.where(d > 0, a, 0.0) + b * d

    def persuasion_logit(self, m, with_discount: bool = True):
        """Logit of P(persuaded | delivered) for each message in batch ``m``.

        See :meth:`persuasion_logits`; ``with_discount=False`` leaves the discount out.
        """
        with_d, without_d = self.persuasion_logits(m)
        return with_d if with_discount else without_d

    def persuasion_logits(self, m):
        """Logits of P(persuaded | delivered) for batch ``m``, with and without the discount.

        abandoned cart: ``base[type] + channel - (ln(delay / best[type]))^2 / (2 s^2)
        + discount(segment) + responsiveness``; other campaigns:
        ``base[campaign] + channel + discount(segment) + responsiveness``, and for
        replenishment minus ``penalty * |send - need| / cycle``.  The base terms are
        each campaign's :meth:`~workbench.simulate.campaigns.base.Campaign.base_logit`.
        """
        rs = self.cfg.response
        cust, ch = m["cust"], m["channel"]
        x = np.array([rs.channel_logit[c] for c in CHANNELS])[ch] + \
            self.world.customers.responsiveness[ch, cust]
        base = np.zeros(cust.size)
        for c, rows in self._by_campaign(m["campaign"]):
            base[rows] = c.base_logit(m, rows)
        if "products_logit" in m:  # the appeal of the recommendations shown
            base = base + m["products_logit"]
        return base + (x + self.discount_logit(cust, m["disc"])), base + x

    def _engagement(self, m, prior) -> dict:
        """Delivery, opens (human and machine), clicks, persuasion and unsubscribes.

        Every draw is keyed by the message's key (common random numbers).
        """
        cfg, cus = self.cfg, self.world.customers
        t, cust, ch, key = m["t"], m["cust"], m["channel"], m["key"]
        eng, rs = cfg.engagement, cfg.response
        ku = self.ku
        delivered = ku(U_DELIVER, key) < np.array([eng.delivery_rate[c] for c in CHANNELS])[ch]
        alive = cus.dropout_t[cust] > t
        logit, logit0 = self.persuasion_logits(m)
        p_pers = sigmoid(logit)
        persuaded = delivered & alive & (ku(U_PERSUADE, key) < p_pers)
        email = ch == EMAIL
        # opens: likelier near the customer's preferred hour of the day (weekday or weekend)
        day = np.floor(t)
        hour_fit = np.exp(-circular_hour_distance(hour_of_day(t), cus.hour_on(cust, day)) ** 2
                          / (2 * eng.send_hour_width_hours**2))
        # a one-off send to the list is read (email) or tapped (SMS) less than a flow the
        # customer's own behaviour triggered
        one_off = np.zeros(cust.size, bool)
        for c, rows in self._by_campaign(m["campaign"]):
            one_off[rows] = not c.triggered
        engaged = np.where(one_off, np.array([eng.one_off_engagement[c] for c in CHANNELS])[ch],
                           1.0)
        p_open = sigmoid(special.logit(eng.open_rate) + cus.responsiveness[EMAIL, cust]) * (
            MIN_HOUR_FIT + (1 - MIN_HOUR_FIT) * hour_fit) * engaged
        human_open = email & delivered & (ku(U_OPEN, key) < p_open)
        open_t = np.where(human_open, self._human_open_time(m, day), np.inf)
        click_p = np.array([eng.click_rate[c] for c in CHANNELS])[ch] * np.exp(
            cus.responsiveness[ch, cust]) * np.where(email, 1.0, engaged)
        clicked = delivered & np.where(email, human_open, True) & (ku(U_CLICK, key) < click_p)
        via = persuaded & (ku(U_VIA, key) < rs.persuaded_click_prob)
        click_t = np.where(email & human_open, open_t, t) + ku.exponential(U_CLICK_T, key,
                                                                          MEAN_CLICK_DELAY)
        click_t = np.where(via & ~clicked, t + MINUTE + ku.exponential(
            U_CLICK_T, key, MEAN_PERSUADED_CLICK_DELAY), click_t)
        clicked |= via
        # an email click implies an open half a minute before it — but never before the send
        # (a click seconds after a fast open would otherwise put the open before sent_at)
        open_t = np.where(email & clicked,
                          np.maximum(np.minimum(open_t, click_t - MINUTE / 2), t), open_t)
        machine_t = np.where(email & delivered & cus.apple_mpp[cust],
                             t + ku(U_MACHINE_T, key) * MACHINE_OPEN_MINUTES * MINUTE, np.inf)
        machine = machine_t < open_t
        open_t = np.minimum(open_t, machine_t)
        click_t = np.where(clicked, click_t, np.inf)
        # unsubscribes rise with recent volume
        p_unsub = np.array([eng.unsubscribe_base[c] for c in CHANNELS])[ch] * (
            1 + np.array([eng.unsubscribe_per_recent_message[c] for c in CHANNELS])[ch] * prior)
        slope = np.array([eng.unsubscribe_engagement_slope.get(c, 0.0) for c in CHANNELS])
        if slope.any():  # the less engaged tire sooner (mean-preserving, log-normal)
            s, sd = slope[ch], rs.responsiveness_log_sd
            p_unsub = np.minimum(p_unsub * np.exp(-s * cus.responsiveness[ch, cust]
                                                  - 0.5 * (s * sd) ** 2), 1.0)
        unsub = delivered & (ku(U_UNSUB, key) < p_unsub)
        unsub_t = np.where(unsub, np.maximum(np.minimum(open_t, t + UNSUBSCRIBE_WITHIN), t) +
                           ku(U_UNSUB_T, key) * HOUR, np.inf)
        return {"delivered": delivered, "alive": alive, "p_pers": p_pers, "persuaded": persuaded,
                "logit0": logit0,
                "email": email, "open_t": open_t, "click_t": click_t, "clicked": clicked,
                "machine": machine, "unsub": unsub, "unsub_t": unsub_t}

    def _human_open_time(self, m, day: np.ndarray) -> np.ndarray:
        """When a human opens each email of batch ``m`` if they do (keyed draws).

        With probability ``habitual_open_share`` at their habitual reading time: the
        first time at or after the send at their preferred hour of that day (weekday or
        weekend) plus a normal deviation of sd ``habit_hour_sd`` hours; otherwise an
        exponential delay of mean :data:`MEAN_OPEN_DELAY` after the send (a
        notification read at once).  So the hours of a customer's opens and clicks
        carry their reading habit, which the send-time analysis estimates.
        """
        eng, cus, ku = self.cfg.engagement, self.world.customers, self.ku
        t, cust, key = m["t"], m["cust"], m["key"]
        z = eng.habit_hour_sd * ku.normal(U_HABIT_T, key)
        # the day of the next habitual hour at or after the send, then the deviation
        # (a send at the very hour reads that day, early or late, not the next day)
        at = day + cus.hour_on(cust, day) / 24.0
        d = np.where(at >= t, day, day + 1)
        habit = np.maximum(d + (cus.hour_on(cust, d) + z) / 24.0, t)  # never before the send
        quick = t + ku.exponential(U_OPEN_T, key, MEAN_OPEN_DELAY)
        return np.where(ku(U_HABIT, key) < eng.habitual_open_share, habit, quick)

    # ------------------------------------------------------------------ sending
    def send(self, d, m):
        """Send the batch ``m`` of day ``d`` (columns as queued by the day loop)."""
        t, cust, ch = m["t"], m["cust"], m["channel"]
        # still relevant?
        ok = self.reachable(ch, cust, t)
        for c, rows in self._by_campaign(m["campaign"]):
            ok[rows] &= c.still_relevant(m["ref"][rows], t[rows])
        hold = self.holdout_share[m["campaign"]]
        if hold.any():  # a customer's holdout membership is fixed per campaign
            held = self.ku(U_HOLDOUT, cust.astype(np.int64) * CAMPAIGN_KEY_STRIDE
                           + m["campaign"]) < hold
            if self.record_holdouts is not None:  # at the first message they qualify for
                for code in np.unique(m["campaign"][ok & (hold > 0)]):
                    r = np.flatnonzero(ok & (m["campaign"] == code))
                    self.record_holdouts(int(code), cust[r], held[r], t[r])
            ok &= ~held
        rows = np.flatnonzero(ok)
        if rows.size == 0:
            return
        t, cust, ch = t[rows], cust[rows], ch[rows]
        # frequency caps: trailing CAP_WINDOW_DAYS days incl. today, in send order
        prior = self.sent_in_window[ch, cust].astype(np.int64)
        rank = group_rank(cust * CHANNEL_KEY_STRIDE + ch, t, self._rank_scratch)
        ok = prior + rank < self.caps[ch, cust]
        m = {k: v[rows[ok]] for k, v in m.items()}  # the batch's columns filtered once
        # the messages kept are the first of their group (in send order), so their ranks
        # among themselves are their ranks among all
        prior = prior[ok] + rank[ok]
        t, cust, ch = m["t"], m["cust"], m["channel"]
        n = t.size
        if n == 0:
            return
        # products shown in the message (chosen before the customer responds to them)
        picks = self.shown.pick(m)
        e = self._engagement(m, prior)
        # an unsubscribe stops the later messages of this batch on that channel
        grp = cust * CHANNEL_KEY_STRIDE + ch
        u = np.flatnonzero(e["unsub"])
        first = self._unsub_scratch
        np.minimum.at(first, grp[u], e["unsub_t"][u])
        keep = t <= first[grp]
        first[grp[u]] = np.inf
        if not keep.all():
            m = {k: v[keep] for k, v in m.items()}
            e = {k: v[keep] for k, v in e.items()}
            picks = kept_picks(picks, keep)
            t, cust, ch = m["t"], m["cust"], m["channel"]
            n = t.size
        sent = ch * self.cfg.n_customers + cust
        add_at(self.sent_in_window.reshape(-1), sent, 1)
        slot = d % CAP_WINDOW_DAYS
        self._sent_on_day[slot] = np.r_[self._sent_on_day[slot], sent]
        unsub, unsub_t = e["unsub"], e["unsub_t"]
        np.minimum.at(self.unsubscribed_at, (ch[unsub], cust[unsub]), unsub_t[unsub])

        start = self.message_products.n + np.r_[0, np.cumsum(picks["k"])[:-1]].astype(np.int64)
        self.message_products.extend(picks["prod"])
        self.message_appeal.extend(picks["appeal"])
        prod_start, prod_len = start, picks["k"]
        mids = self.messages.n + np.arange(n)
        out = {"caused": np.zeros(n, bool), "anyway": np.zeros(n, bool),
               "caused_order": np.full(n, -1)}
        self._settle_carts(m, e, mids, out)
        self._settle_in_window(m, e, mids, out, prod_start, prod_len)
        self._record(m, e, out, prod_start, prod_len)

    def _record(self, m, e, out, prod_start, prod_len):
        ch = m["channel"]
        self.messages.add(
            cust=m["cust"], campaign=m["campaign"], channel=ch, t=m["t"],
            delivered=e["delivered"], open_t=np.where(e["email"], e["open_t"], np.inf),
            click_t=e["click_t"], unsub_t=e["unsub_t"], disc=m["disc"],
            cost=np.array([self.cfg.engagement.cost[c] for c in CHANNELS])[ch],
            experiment=m["experiment"], arm=m["arm"], trigger_kind=m["trigger_kind"],
            trigger=m["trigger"], persuaded=e["persuaded"], caused=out["caused"],
            caused_order=out["caused_order"], anyway=out["anyway"],
            machine=e["machine"] & e["email"],
            p_persuade=np.where(e["delivered"] & e["alive"], e["p_pers"], 0.0),
            logit0=e["logit0"], alive=e["alive"], prod_start=prod_start, prod_len=prod_len,
            plogit=m["products_logit"], key=m["key"])

    # ------------------------------------------------------------------ conversions
    def _settle_carts(self, m, e, mids, out):
        """Outcomes of cart messages: moved natural returns, redeemed codes, caused orders."""
        w_ = self.world
        cart = np.zeros(m["t"].size, bool)
        for c, rows in self._by_campaign(m["campaign"]):
            cart[rows] = c.about_carts
        if not cart.any():
            return
        cust, ch = m["cust"], m["channel"]
        clicked, click_t, open_t = e["clicked"], e["click_t"], e["open_t"]
        ci = m["ref"][cart]
        nat = w_.cart_natural[ci]
        out["anyway"][cart] = nat
        w_.cart_message[ci] = mids[cart]
        # a click by a natural returner, before they would have come back, moves the
        # purchase onto the message (attributed to it, not caused by it)
        early = click_t[cart] < w_.cart_natural_t[ci]
        mv = clicked[cart] & nat & early
        if mv.any():
            o_idx = w_.cart_order[ci[mv]]
            s = self._click_session(cust[cart][mv], click_t[cart][mv], ch[cart][mv],
                                    mids[cart][mv], w_.cart_basket[ci[mv]])
            self._move_orders(o_idx, s, click_t[cart][mv], mids[cart][mv],
                              m["disc"][cart][mv])
            w_.cart_outcome[ci[mv]] = 2
        # opened but not clicked: discount code still used on the natural return
        use = ~clicked[cart] & nat & (open_t[cart] < w_.cart_natural_t[ci]) & (
            m["disc"][cart] > 0) & ~e["machine"][cart]
        if use.any():
            o_idx = w_.cart_order[ci[use]]
            w_.organic["disc"][o_idx] = m["disc"][cart][use]
            w_.organic["msg"][o_idx] = mids[cart][use]
        cz = e["persuaded"][cart] & ~nat
        if cz.any():
            w = np.nonzero(cart)[0][cz]
            out["caused"][w] = True
            out["caused_order"][w] = self._caused_orders(w, m, mids, click_t, clicked,
                                                         basket=w_.cart_basket[ci[cz]])
            w_.cart_outcome[ci[cz]] = 3
        # clicks that buy nothing still open a session
        idle = clicked[cart] & ((~nat & ~e["persuaded"][cart]) | (nat & ~early))
        if idle.any():
            self._click_session(cust[cart][idle], click_t[cart][idle], ch[cart][idle],
                                mids[cart][idle], w_.cart_basket[ci[idle]], purchase=False)

    def _settle_in_window(self, m, e, mids, out, prod_start, prod_len):
        """Outcomes of the other messages, judged over each campaign's conversion window.

        An organic order in the window means the customer would have bought anyway;
        a persuaded customer without one places an order the message caused.
        """
        w_ = self.world
        cart = np.zeros(m["t"].size, bool)
        window = np.zeros(m["t"].size)
        for c, rows in self._by_campaign(m["campaign"]):
            cart[rows] = c.about_carts
            if not c.about_carts:
                window[rows] = c.conversion_window(m["ref"][rows])
        other = ~cart
        if not other.any():
            return
        t, cust, ch = m["t"], m["cust"], m["channel"]
        clicked, click_t, open_t = e["clicked"], e["click_t"], e["open_t"]
        caused = out["caused"]
        w = np.nonzero(other)[0]
        o_idx, o_t = w_.next_organic_order(cust[w], t[w])
        has = o_t < t[w] + window[w]
        out["anyway"][w] = has
        cz = e["persuaded"][w] & ~has
        if cz.any():
            ww = w[cz]
            caused[ww] = True
            out["caused_order"][ww] = self._caused_orders(
                ww, m, mids, click_t, clicked, products=(prod_start[ww], prod_len[ww]))
        # sure things redeem the discount if they saw the message
        red = has & (m["disc"][w] > 0) & ((open_t[w] < o_t) & ~e["machine"][w] | (
            click_t[w] < o_t))
        if red.any():
            oi = o_idx[red]
            w_.organic["disc"][oi] = np.maximum(w_.organic["disc"][oi], m["disc"][w][red])
            w_.organic["msg"][oi] = mids[w][red]
        idle = clicked[w] & ~caused[w]
        if idle.any():
            ww = w[idle]
            self._click_session(cust[ww], click_t[ww], ch[ww], mids[ww], None,
                                purchase=False, products=(prod_start[ww], prod_len[ww]))

    def _click_session(self, cust, t, ch, mids, basket, purchase=True, products=None):
        """Open the session a click lands in; return its internal id."""
        w_ = self.world
        src = CHANNEL_SOURCE[ch]
        if basket is None:
            if products is not None and products[1].sum() > 0:
                allp = self.message_products.v
                first = allp[np.minimum(products[0], allp.size - 1)]
                cat = np.where(products[1] > 0, w_.catalog.product_category[first],
                               categorical(w_.customers.affinity_cum,
                                           self.ku(U_CLICK_CATEGORY, combine(cust, mids)),
                                           rows=cust))
            else:
                cat = categorical(w_.customers.affinity_cum,
                                  self.ku(U_CLICK_CATEGORY, combine(cust, mids)), rows=cust)
            basket = np.full(cust.size, -1)
        else:
            cat = w_.baskets.first_category(basket)
        views = 1 + np.floor(self.ku(U_CLICK_VIEWS, combine(cust, mids))
                             * MAX_CLICK_SESSION_VIEWS).astype(int)
        return w_.sessions.add(cust=cust, t=t, src=src, msg=mids, cat=cat, views=views,
                               basket=basket if purchase else np.full(cust.size, -1), order=-1)

    def _move_orders(self, o_idx, sessions, click_t, mids, disc):
        """Move natural-return orders onto the click sessions of their messages."""
        organic = self.world.organic
        ok = o_idx >= 0
        o_idx, sessions, click_t, mids, disc = (a[ok] for a in (o_idx, sessions, click_t,
                                                                 mids, disc))
        # order placed after the session's events
        t = click_t + ORDER_AFTER_SESSION
        organic["t"][o_idx] = t
        organic["session"][o_idx] = sessions
        organic["msg"][o_idx] = mids
        organic["disc"][o_idx] = np.maximum(organic["disc"][o_idx], disc)
        organic["moved"][o_idx] = True
        self.follow_up(o_idx)

    def _caused_orders(self, w, m, mids, click_t, via, basket=None, products=None):
        """Create the orders that messages ``w`` caused; return their internal ids."""
        w_, ku = self.world, self.ku
        cust = m["cust"][w]
        key = combine(m["key"][w], CAUSED_ORDER_TAG)
        t_direct = m["t"][w] + ku.exponential(U_CAUSED_T, key, MEAN_DIRECT_VISIT_DELAY)
        if basket is None:
            # the order starts from the product shown that the customer picks, with
            # probability proportional to exp(appeal) (equal appeal: uniformly)
            start, k = products
            allp, appeal = self.message_products.v, self.message_appeal.v
            has = k > 0
            cat = categorical(w_.customers.affinity_cum, ku(U_BASKET, key), rows=cust)
            pick = start + softmax_pick(appeal, start, k, ku(U_BASKET + 1, key))
            first = np.where(has, allp[np.minimum(pick, allp.size - 1)], -1)
            cat = np.where(has, w_.catalog.product_category[np.maximum(first, 0)], cat)
            u = np.stack([ku(U_BASKET + 2 + j, key) for j in range(BASKET_UNIFORMS)], axis=1)
            # a recommendation's buyer buys the product itself; other messages show a
            # category (what they buy in it is drawn as any basket line is: Baskets.pick)
            first = np.where(self.shown.recommends[m["campaign"][w]], first, -1)
            basket = w_.baskets.make(cust, cat, u, primary=first)
            w_.baskets.finalize()  # index the baskets made mid-loop
        sess_via = via[w]
        t = np.where(sess_via, click_t[w], t_direct)
        src = np.where(sess_via, CHANNEL_SOURCE[m["channel"][w]], DIRECT)
        cat = w_.baskets.first_category(basket)
        sess = w_.sessions.add(cust=cust, t=t, src=src, msg=np.where(sess_via, mids[w], -1),
                               cat=cat, views=np.full(cust.size, CAUSED_SESSION_VIEWS),
                               basket=basket, order=-1)
        o = {"cust": cust, "t": t + ORDER_AFTER_SESSION, "session": sess, "basket": basket,
             "disc": m["disc"][w], "msg": mids[w], "origin": np.full(cust.size, 2),
             "cause_msg": mids[w], "key": key, "moved": np.zeros(cust.size, bool)}
        ids = w_.orders.add(**o)
        o["id"] = ids
        self.follow_up(np.arange(cust.size), o)
        return ids

