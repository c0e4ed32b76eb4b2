"""Table assembly: the simulation's ledgers become the canonical arrow tables.

Internal ids (row numbers of the session, order and message ledgers) become public
ids numbered by time; sessions, orders and events beyond the horizon are dropped;
times become UTC timestamps.  The events of each session (views, cart, checkout,
purchase) and the returns of order items are drawn here, from their own generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from ..vocab import CAMPAIGNS, CHANNELS, PURCHASE_TYPES, REGIONS, SIMULATED_EVENTS
from ..vocab import SIMULATED_SOURCES as SOURCES
from . import kernels
from .common import (
    EVENT_GAP,
    labels,
    order_money,
    product_lists,
    release_free_heap,
    stable_argsort,
)
from .messaging import ORDER_AFTER_SESSION

EVENT_CHUNK = 500_000  # sessions per chunk: bounds peak memory at any store size
# A natural return (an order after an abandoned cart, not moved by a message) gets a
# session of its own: direct with this probability, organic search otherwise.
NATURAL_RETURN_DIRECT_SHARE = 0.6
NATURAL_RETURN_OTHER_SOURCE = SOURCES.index("organic_search")
# Returns: an item goes back this long after its order (a floor plus an exponential)
RETURN_MIN_DAYS, RETURN_MEAN_EXTRA_DAYS = 2.0, 7.0
MICROSECONDS_PER_DAY = 86_400_000_000
#: the canonical tables, in the order :func:`~workbench.simulate.engine.simulate` gives them
TABLE_NAMES = ("customers", "products", "sessions", "events", "orders", "order_items", "returns",
               "messages", "assignments")
UNIT_TYPES = ("cart", "customer")  # assignments.unit_type by the ledger's unit_kind
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass
class Published:
    """Internal-to-public id maps and the final ledgers, shared by the table builders."""

    horizon: float  # days simulated: nothing at or after it is published
    sessions: dict | None  # the published sessions' columns by public id (row i: id i + 1)
    session_rows: np.ndarray | None  # internal ids of the published sessions, by public id
    session_public: np.ndarray | None  # internal session id -> public id (-1: not published)
    orders: dict  # every order (organic and caused), internal ids, final times
    order_rows: np.ndarray  # internal ids of the published orders, in public-id order
    order_public: np.ndarray  # internal order id -> public id (-1: not published)
    messages: dict | None  # the messages' columns by public id (None once released)
    message_rows: np.ndarray | None  # internal ids of the messages, in public-id order
    message_public: np.ndarray | None  # internal message id -> public id
    ts: _Timestamps  # float days -> arrow UTC timestamps (inf: null)

    def release_messages(self) -> None:
        """Forget the message ledger once its tables and its truth are built."""
        self.messages = self.message_rows = self.message_public = None

    def release_sessions(self) -> None:
        """Forget the session ledger once the events are drawn from it."""
        self.sessions = self.session_rows = self.session_public = None


class _Timestamps:
    """Float days since ``start_date`` -> Arrow UTC timestamps (inf: null)."""

    def __init__(self, start_date):
        start = datetime.combine(start_date, datetime.min.time(), tzinfo=UTC)
        self.t0_us = int(start.timestamp() * 1_000_000)

    def micros(self, t: np.ndarray) -> np.ndarray:
        """Microseconds since the epoch of the finite times ``t``."""
        return self.t0_us + np.round(np.asarray(t, dtype=float) * MICROSECONDS_PER_DAY).astype(
            np.int64)

    def __call__(self, t) -> pa.Array:
        t = np.asarray(t, dtype=float)
        out = np.empty(t.size, dtype=np.int64)
        fin = np.empty(t.size, dtype=bool)
        k = kernels.compiled()
        if k is not None:  # one pass (the numpy version makes five)
            k["micros"](t, self.t0_us, float(MICROSECONDS_PER_DAY), out, fin)
        else:
            np.isfinite(t, out=fin)
            out[:] = 0
            out[fin] = self.micros(t[fin])
        return pa.array(out, type=TIMESTAMP, mask=~fin)


def _public(arr, mapping):
    arr = np.asarray(arr)
    k = kernels.compiled()
    if mapping.size == 0:
        out = np.full(arr.size, -1)
    elif k is not None:
        out = k["public_ids"](arr, mapping)
    else:
        arr = arr.astype(np.int64)
        out = np.where(arr >= 0, mapping[np.maximum(arr, 0)], -1)
    return pa.array(out, type=pa.int64(), mask=out < 0)


def publish(cfg, world, loop, rng: np.random.Generator) -> Published:
    """Close the ledgers and number sessions, orders and messages by time.

    Natural returns not moved by a message get their session here (drawn from
    ``rng``), and every order is placed at its session's purchase event.
    """
    H = world.horizon
    baskets = world.baskets
    # ---------------- orders (organic, possibly moved, + caused)
    OR = world.all_orders()
    n_orders = OR["cust"].size
    # natural-return orders not moved: give them a direct session now
    need = OR["session"] < 0
    if need.any():
        b = OR["basket"][need]
        sess = world.sessions.add(
            cust=OR["cust"][need], t=OR["t"][need] - ORDER_AFTER_SESSION,
            src=np.where(rng.random(need.sum()) < NATURAL_RETURN_DIRECT_SHARE,
                         SOURCES.index("direct"), NATURAL_RETURN_OTHER_SOURCE),
            msg=-1, cat=baskets.first_category(b), views=np.full(need.sum(), 1), basket=b,
            order=-1)
        OR["session"][need] = sess
    S = world.sessions.build()
    S["order"][OR["session"]] = np.arange(n_orders)
    # an order is placed at its session's first purchase event
    so_ = OR["session"]
    bsz = baskets.size(OR["basket"])
    OR["t"] = S["t"][so_] + (S["views"][so_] + 3 * bsz) * EVENT_GAP
    keep_o = OR["t"] < H
    # sessions ordered by time → public ids
    s_order, t_sorted = stable_argsort(S["t"], return_sorted=True)
    n_published = int(np.searchsorted(t_sorted, H))  # those before the horizon come first
    s_order = s_order[:n_published]
    s_public = np.full(S["t"].size, -1)
    s_public[s_order] = np.arange(1, s_order.size + 1)
    # the published sessions in public-id order: every later reader (the sessions table,
    # the events) reads them in that order, and a random gather of ten million rows
    # costs a good part of a second per column, so each column is gathered once, here
    world.sessions = None  # closed: each column is freed once gathered
    S["t"] = t_sorted[:n_published]
    for k in [k for k in S if k != "t"]:
        S[k] = S[k][s_order]
    o_sorted = stable_argsort(OR["t"])
    o_sorted = o_sorted[keep_o[o_sorted]]
    o_public = np.full(n_orders, -1)
    o_public[o_sorted] = np.arange(1, o_sorted.size + 1)
    # a purchase whose session was dropped (beyond horizon) cannot happen
    # messages by time → public ids; the ledger is built in that order
    ledger = loop.messaging.messages
    n_msg = ledger.n
    m_order = stable_argsort(ledger.column("t"))
    m_public = np.full(n_msg, -1)
    m_public[m_order] = np.arange(1, n_msg + 1)
    M = ledger.build(dest=m_public - 1)
    release_free_heap()  # the ledger's day batches were freed into the C heap
    return Published(horizon=H, sessions=S, session_rows=s_order, session_public=s_public,
                     orders=OR, order_rows=o_sorted, order_public=o_public, messages=M,
                     message_rows=m_order, message_public=m_public,
                     ts=_Timestamps(cfg.start_date))


def build_tables(cfg, world, loop, pub: Published) -> dict[str, pa.Table]:
    """Every canonical table but the events and the returns (see :func:`build_activity`)."""
    H = world.horizon
    catalog, customers, baskets = world.catalog, world.customers, world.baskets
    S, s_public, OR, o_public = pub.sessions, pub.session_public, pub.orders, pub.order_public
    M, m_public, ts = pub.messages, pub.message_public, pub.ts
    n_msg = M["t"].size

    # ---------------- customers & products
    N = cfg.n_customers
    tables: dict[str, pa.Table] = {}
    tables["customers"] = pa.table({
        "customer_id": pa.array(np.arange(1, N + 1), pa.int64()),
        "signup_at": ts(customers.signup_t),
        "acquisition_channel": labels(customers.acquisition_names, customers.acquisition),
        "region": labels(REGIONS, customers.region),
        **{f"{c}_opt_in": pa.array(customers.opted_in[i]) for i, c in enumerate(CHANNELS)},
    })
    P = catalog.price.size
    tables["products"] = pa.table({
        "product_id": pa.array(np.arange(1, P + 1), pa.int64()),
        "category": pa.array([cfg.catalog[c].name for c in catalog.product_category],
                             pa.string()),
        "price": pa.array(catalog.price),
        "unit_cost": pa.array(catalog.unit_cost),
        "purchase_type": pa.array([PURCHASE_TYPES[catalog.category_type[c]]
                                   for c in catalog.product_category], pa.string()),
        "supply_days": pa.array(catalog.supply_days, mask=np.isnan(catalog.supply_days)),
    })

    # ---------------- sessions
    tables["sessions"] = pa.table({
        "session_id": pa.array(np.arange(1, S["t"].size + 1), pa.int64()),
        "customer_id": pa.array(S["cust"] + 1, pa.int64()),
        "started_at": ts(S["t"]),
        "source": labels(SOURCES, S["src"]),
        "message_id": _public(S["msg"], m_public),
    })
    del S["src"], S["msg"]  # the events read neither: let them go before the events are built

    # ---------------- orders & items
    oo = pub.order_rows
    b = OR["basket"][oo]
    disc_amt, revenue = order_money(baskets.value[b], OR["disc"][oo])
    msg_ok = OR["msg"][oo].astype(np.int64)
    if n_msg:
        msg_ok = np.where((msg_ok >= 0) & (M["t"][m_public[np.maximum(msg_ok, 0)] - 1]
                                            <= OR["t"][oo]),
                          msg_ok, -1)
    else:
        msg_ok = np.full(oo.size, -1)
    tables["orders"] = pa.table({
        "order_id": pa.array(np.arange(1, oo.size + 1), pa.int64()),
        "customer_id": pa.array(OR["cust"][oo] + 1, pa.int64()),
        "session_id": pa.array(s_public[OR["session"][oo]], pa.int64()),
        "placed_at": ts(OR["t"][oo]),
        "revenue": pa.array(revenue),
        "discount_amount": pa.array(disc_amt),
        "message_id": _public(msg_ok, m_public),
    })
    item_order, i_prod, i_qty = _order_items(baskets, b)
    tables["order_items"] = pa.table({
        "order_id": pa.array(item_order + 1, pa.int64()),
        "product_id": pa.array(i_prod + 1, pa.int64()),
        "quantity": pa.array(i_qty, pa.int64()),
        "unit_price": pa.array(catalog.price[i_prod]),
        "unit_cost": pa.array(catalog.unit_cost[i_prod]),
    })

    # ---------------- messages
    allp = loop.messaging.message_products.v + 1
    exp_i, arm_i = M["experiment"], M["arm"]
    tables["messages"] = pa.table({
        "message_id": pa.array(np.arange(1, n_msg + 1), pa.int64()),
        "customer_id": pa.array(M["cust"] + 1, pa.int64()),
        "campaign": labels(CAMPAIGNS, M["campaign"]),
        "channel": labels(CHANNELS, M["channel"]),
        "experiment": labels(loop.experiments, exp_i, null=exp_i < 0),
        "arm": labels(loop.arm_names, arm_i, null=arm_i < 0),
        "sent_at": ts(M["t"]),
        "delivered": pa.array(M["delivered"].astype(bool, copy=False)),
        "opened_at": ts(np.where(M["open_t"] < H, M["open_t"], np.inf)),
        "clicked_at": ts(np.where(M["click_t"] < H, M["click_t"], np.inf)),
        "unsubscribed_at": ts(np.where(M["unsub_t"] < H, M["unsub_t"], np.inf)),
        "discount_pct": pa.array(M["disc"].astype(float, copy=False)),
        "cost": pa.array(M["cost"].astype(float, copy=False)),
        "product_ids": product_lists(M, allp.astype(np.int64)),
        "trigger_id": _trigger_ids(M, s_public, o_public),
    })

    # ---------------- assignments
    A = loop.assignments.build()
    a_ord = np.lexsort((A["unit"], A["t"])) if A["t"].size else np.zeros(0, int)
    unit = A["unit"].astype(np.int64)
    cart_units = A["unit_kind"] == 0
    unit[cart_units] = s_public[unit[cart_units]]
    tables["assignments"] = pa.table({
        "experiment": labels(loop.experiments, A["experiment"][a_ord]),
        "unit_type": labels(UNIT_TYPES, A["unit_kind"][a_ord]),
        "unit_id": pa.array(unit[a_ord].astype(np.int64), pa.int64()),
        "customer_id": pa.array((A["cust"][a_ord] + 1).astype(np.int64), pa.int64()),
        "arm": labels(loop.arm_names, A["arm"][a_ord]),
        "assigned_at": ts(A["t"][a_ord]),
    })
    return tables


def build_activity(cfg, catalog, baskets, pub: Published,
                   rng: np.random.Generator) -> dict[str, pa.Table]:
    """The events and returns tables, drawn from ``rng`` after :func:`publish`.

    The events table is by far the largest: it is built last, when the rest of
    the simulation (the message ledger, the customers, the day loop) can be gone.
    """
    H, ts = pub.horizon, pub.ts
    tables = {"events": _event_table(catalog, baskets, rng, cfg, pub)}
    # ---------------- returns
    OR, oo = pub.orders, pub.order_rows
    item_order, i_prod, i_qty = _order_items(baskets, OR["basket"][oo])
    rr = catalog.category_return_rate[catalog.product_category[i_prod]]
    ret = rng.random(i_prod.size) < rr
    ret_t = OR["t"][oo][item_order] + RETURN_MIN_DAYS + rng.exponential(RETURN_MEAN_EXTRA_DAYS,
                                                                        i_prod.size)
    ret &= ret_t < H
    frac = 1.0 - OR["disc"][oo][item_order] / 100.0
    amount = np.floor(i_qty * catalog.price[i_prod] * frac * 100) / 100
    tables["returns"] = pa.table({
        "order_id": pa.array(item_order[ret] + 1, pa.int64()),
        "product_id": pa.array(i_prod[ret] + 1, pa.int64()),
        "returned_at": ts(ret_t[ret]),
        "amount": pa.array(amount[ret]),
    })
    return tables


def _order_items(baskets, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items of the orders with baskets ``b``: each item's order row, product, quantity."""
    cnt = baskets.size(b)
    item_order = np.repeat(np.arange(b.size), cnt)
    item_pos = np.repeat(baskets.start[b], cnt) + (np.arange(cnt.sum()) - np.repeat(
        np.cumsum(cnt) - cnt, cnt))
    return item_order, baskets.item_product[item_pos], baskets.item_qty[item_pos]


def _trigger_ids(M, s_public, o_public):
    k = kernels.compiled()
    if k is not None:
        out = k["trigger_ids"](M["trigger_kind"], M["trigger"], s_public, o_public)
    else:
        kind, trig = M["trigger_kind"], M["trigger"].astype(int)
        out = np.full(kind.size, -1)
        s = kind == 0
        out[s] = s_public[trig[s]]
        o = kind == 1
        out[o] = o_public[trig[o]]
    return pa.array(out, pa.int64(), mask=out < 0)


def _event_table(catalog, baskets, rng, cfg, pub: Published) -> pa.Table:
    """The events table, generated in chunks of sessions (same result at any size).

    Each chunk's events go straight into the table's final column buffers, which
    Arrow wraps without copying.  The buffers are sized by the most rows the
    sessions can have (every cart checked out and bought); pages past the last
    event are never written, so they never take memory.  The session ledger is
    released once every chunk is drawn.
    """
    S = pub.sessions  # published sessions, by public id
    n_sessions = S["t"].size
    basket = S["basket"]
    bound = (int(S["views"].sum()) + int(S["checks"].sum())
             + 4 * int(baskets.size(basket[basket >= 0]).sum()))
    del basket
    cols = {name: np.empty(bound, dtype=np.float64 if name == "price" else np.int64)
            for name in ("session_id", "customer_id", "ts", "product_id", "quantity", "price")}
    name_code = np.empty(bound, dtype=np.int8)
    offset = 0
    for start in range(0, max(n_sessions, 1), EVENT_CHUNK):
        chunk = slice(start, min(start + EVENT_CHUNK, n_sessions))
        if kernels.compiled() is not None:
            offset = _chunk_events(catalog, baskets, rng, cfg, pub, chunk, cols, name_code, offset)
            continue
        ev = _events(catalog, baskets, rng, cfg, pub, chunk)
        end = offset + ev["sess"].size
        cols["session_id"][offset:end] = ev["sess"] + 1
        cols["customer_id"][offset:end] = S["cust"][ev["sess"]] + 1
        cols["ts"][offset:end] = pub.ts.micros(ev["t"])
        name_code[offset:end] = ev["name"]
        cols["product_id"][offset:end] = ev["prod"] + 1
        cols["quantity"][offset:end] = ev["qty"]
        cols["price"][offset:end] = catalog.price[ev["prod"]]
        offset = end
        del ev
    # nothing reads the sessions after their events: free them before the last columns
    del S
    pub.release_sessions()

    def wrap(values, type_):
        return pa.Array.from_buffers(type_, offset, [None, pa.py_buffer(values[:offset])])

    return pa.table({
        "event_id": pa.array(np.arange(1, offset + 1), pa.int64()),
        "session_id": wrap(cols.pop("session_id"), pa.int64()),
        "customer_id": wrap(cols.pop("customer_id"), pa.int64()),
        "ts": wrap(cols.pop("ts"), TIMESTAMP),
        "event_name": labels(SIMULATED_EVENTS, name_code[:offset]),
        "product_id": wrap(cols.pop("product_id"), pa.int64()),
        "quantity": wrap(cols.pop("quantity"), pa.int64()),
        "price": wrap(cols.pop("price"), pa.float64()),
    })


def _chunk_events(catalog, baskets, rng, cfg, pub: Published, so: slice, cols: dict,
                  name_code: np.ndarray, offset: int) -> int:
    """:func:`_events` of the published sessions ``so``, written from row ``offset`` on.

    The compiled loop.  Draws what :func:`_events` draws, in the same order; returns the offset past
    the last row written.
    """
    S = pub.sessions
    basket = S["basket"][so]
    checkout = (basket >= 0) & (rng.random(basket.size) < cfg.carts.checkout_before_abandon)
    views = S["views"][so]
    u = rng.random(int(views.sum()))
    return kernels.compiled()["session_events"](
        checkout, u, S["t"][so], S["cust"][so], views, basket, S["order"][so], S["cat"][so],
        np.arange(so.start + 1, so.stop + 1), pub.orders["t"], pub.horizon,
        EVENT_GAP * S["dwell"][so].astype(np.float64), S["checks"][so].astype(np.int64),
        catalog.category_first, catalog.category_size, baskets.start, baskets.end,
        baskets.item_product, baskets.item_qty, catalog.price, pub.ts.t0_us,
        float(MICROSECONDS_PER_DAY), offset, cols["session_id"], cols["customer_id"],
        cols["ts"], name_code, cols["product_id"], cols["quantity"], cols["price"])


def _events(catalog, baskets, rng, cfg, pub: Published, so: slice):
    """Events of the published sessions ``so``: views, then cart, checkout and purchase rows.

    The numpy version of the compiled loop :func:`_chunk_events` uses (same rows).

    A session's rows are its random product views (the first ``checks`` of them each
    followed by a size or stock check of the same product, half a view later), then one
    row per basket item for each phase it reached: viewed, added to cart, checkout,
    purchase.
    """
    S, OR, H = pub.sessions, pub.orders, pub.horizon
    n = so.stop - so.start
    views = S["views"][so]
    checks = S["checks"][so].astype(np.int64)
    basket = S["basket"][so]
    order = S["order"][so]
    has_b = basket >= 0
    bsize = np.where(has_b, baskets.size(np.maximum(basket, 0)), 0)
    purchased = order >= 0
    purchased &= np.where(purchased, OR["t"][np.maximum(order, 0)] < H, False)
    # some abandoned carts got as far as checkout
    checkout = purchased | (has_b & (rng.random(n) < cfg.carts.checkout_before_abandon))
    n_basket_rows = bsize * (2 + checkout + purchased)
    n_rows = views + checks + n_basket_rows
    row_start = np.cumsum(n_rows) - n_rows
    size = int(row_start[-1] + n_rows[-1]) if n else 0
    t_start = S["t"][so]
    t = np.empty(size)
    name = np.zeros(size, dtype=np.int8)
    prod = np.empty(size, dtype=np.int64)
    qty = np.ones(size, dtype=np.int64)
    # random views of products of the session's category
    sess, k = _rows(views)
    c = checks[sess]
    at = row_start[sess] + k + np.minimum(k, c)  # a checked view's check comes next
    u = rng.random(at.size)
    prod[at] = catalog.product_in_category(S["cat"][so][sess], u)
    gap = EVENT_GAP * S["dwell"][so].astype(np.float64)  # time per view (see .browsing)
    t[at] = t_start[sess] + k * gap[sess]
    chk = k < c
    prod[at[chk] + 1] = prod[at[chk]]
    name[at[chk] + 1] = SIMULATED_EVENTS.index("check_variant")
    t[at[chk] + 1] = t[at[chk]] + 0.5 * gap[sess[chk]]
    # the basket's items, once per phase: viewed, added, checkout, purchase
    sess, j = _rows(n_basket_rows)
    bs = bsize[sess]
    phase = j // bs
    bpos = baskets.start[basket[sess]] + j % bs
    k = views[sess] + j
    at = row_start[sess] + checks[sess] + k
    prod[at] = baskets.item_product[bpos]
    name[at] = phase
    added = phase >= 1
    qty[at[added]] = baskets.item_qty[bpos[added]]
    tb = t_start[sess] + k * gap[sess]
    pur = phase == SIMULATED_EVENTS.index("purchase")
    # purchase events at the order's time
    tb[pur] = np.maximum(OR["t"][order[sess[pur]]], tb[pur])
    t[at] = tb
    keep = t < H
    return {"sess": np.repeat(np.arange(so.start, so.stop), n_rows)[keep], "t": t[keep],
            "name": name[keep],
            "prod": prod[keep], "qty": qty[keep]}


def _rows(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ``counts[i]`` rows of each item ``i``: each row's item and position in it."""
    item = np.repeat(np.arange(counts.size), counts)
    return item, np.arange(item.size) - (np.cumsum(counts) - counts)[item]
