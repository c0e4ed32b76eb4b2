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
from .common import EVENT_GAP, order_money
from .messaging import ORDER_AFTER_SESSION

EVENT_CHUNK = 500_000  # sessions per chunk: bounds peak memory at any store size
# A natural return (an order after an abandoned cart, not moved by a message) gets a
# session of its own: direct with this probability, organic search otherwise.
NATURAL_RETURN_DIRECT_SHARE = 0.6
NATURAL_RETURN_OTHER_SOURCE = SOURCES.index("organic_search")
# Returns: an item goes back this long after its order (a floor plus an exponential)
RETURN_MIN_DAYS, RETURN_MEAN_EXTRA_DAYS = 2.0, 7.0
MICROSECONDS_PER_DAY = 86_400_000_000


@dataclass
class Published:
    """Internal-to-public id maps and the final ledgers, shared with the truth tables."""

    orders: dict  # every order (organic and caused), internal ids, final times
    order_rows: np.ndarray  # internal ids of the published orders, in public-id order
    order_public: np.ndarray  # internal order id -> public id (-1: not published)
    session_public: np.ndarray  # internal session id -> public id (-1: not published)
    messages: dict  # the message ledger
    message_rows: np.ndarray  # internal ids of the messages, in public-id order
    ts: object  # float days -> arrow UTC timestamps (inf: null)


def _timestamps(start_date):
    start = datetime.combine(start_date, datetime.min.time(), tzinfo=UTC)
    t0_us = int(start.timestamp() * 1_000_000)

    def ts(t):
        t = np.asarray(t, dtype=float)
        out = np.full(t.size, 0, dtype=np.int64)
        fin = np.isfinite(t)
        out[fin] = t0_us + np.round(t[fin] * MICROSECONDS_PER_DAY).astype(np.int64)
        return pa.array(out, type=pa.timestamp("us", tz="UTC"), mask=~fin)

    return ts


def _public(arr, mapping):
    arr = np.asarray(arr).astype(np.int64)
    if mapping.size == 0:
        out = np.full(arr.size, -1)
    else:
        out = np.where(arr >= 0, mapping[np.maximum(arr, 0)], -1)
    return pa.array(out, type=pa.int64(), mask=out < 0)


def build_tables(cfg, world, loop, rng: np.random.Generator):
    """Return the canonical tables and the :class:`Published` id maps."""
    H = world.horizon
    catalog, customers, baskets = world.catalog, world.customers, world.baskets
    ts = _timestamps(cfg.start_date)

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
    s_order = np.lexsort((np.arange(S["t"].size), S["t"]))
    s_keep = S["t"][s_order] < H
    s_order = s_order[s_keep]
    s_public = np.full(S["t"].size, -1)
    s_public[s_order] = np.arange(1, s_order.size + 1)
    o_sorted = np.lexsort((np.arange(n_orders), OR["t"]))
    o_sorted = o_sorted[keep_o[o_sorted]]
    o_public = np.full(n_orders, -1)
    o_public[o_sorted] = np.arange(1, o_sorted.size + 1)
    # a purchase whose session was dropped (beyond horizon) cannot happen
    M = loop.messaging.messages.build()
    n_msg = M["t"].size
    m_order = np.lexsort((np.arange(n_msg), M["t"]))
    m_public = np.full(n_msg, -1)
    m_public[m_order] = np.arange(1, n_msg + 1)

    # ---------------- customers & products
    N = cfg.n_customers
    tables: dict[str, pa.Table] = {}
    tables["customers"] = pa.table({
        "customer_id": pa.array(np.arange(1, N + 1), pa.int64()),
        "signup_at": ts(customers.signup_t),
        "acquisition_channel": pa.array(customers.acquisition_labels(np.arange(N)),
                                        pa.string()),
        "region": pa.array(np.array(REGIONS, dtype=object)[customers.region], pa.string()),
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
    so = s_order
    tables["sessions"] = pa.table({
        "session_id": pa.array(np.arange(1, so.size + 1), pa.int64()),
        "customer_id": pa.array(S["cust"][so] + 1, pa.int64()),
        "started_at": ts(S["t"][so]),
        "source": pa.array(np.array(SOURCES, dtype=object)[S["src"][so]], pa.string()),
        "message_id": _public(S["msg"][so], m_public),
    })

    # ---------------- events, built per session
    tables["events"] = _event_table(world, rng, cfg, S, so, OR, s_public, ts)

    # ---------------- orders & items
    oo = o_sorted
    b = OR["basket"][oo]
    disc_amt, revenue = order_money(baskets.value[b], OR["disc"][oo])
    msg_ok = OR["msg"][oo].astype(np.int64)
    if n_msg:
        msg_ok = np.where((msg_ok >= 0) & (M["t"][np.maximum(msg_ok, 0)] <= OR["t"][oo]),
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
    cnt = baskets.size(b)
    item_order = np.repeat(np.arange(oo.size), cnt)
    item_pos = np.repeat(baskets.start[b], cnt) + (np.arange(cnt.sum()) - np.repeat(
        np.cumsum(cnt) - cnt, cnt))
    i_prod = baskets.item_product[item_pos]
    i_qty = baskets.item_qty[item_pos]
    tables["order_items"] = pa.table({
        "order_id": pa.array(item_order + 1, pa.int64()),
        "product_id": pa.array(i_prod + 1, pa.int64()),
        "quantity": pa.array(i_qty, pa.int64()),
        "unit_price": pa.array(catalog.price[i_prod]),
        "unit_cost": pa.array(catalog.unit_cost[i_prod]),
    })

    # ---------------- returns
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

    # ---------------- messages
    mo = m_order
    allp = loop.messaging.message_products.v + 1
    lens = M["prod_len"][mo].astype(np.int64)
    starts = M["prod_start"][mo].astype(np.int64)
    idx = np.repeat(starts, lens) + (np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens,
                                                                       lens))
    offsets = np.r_[0, np.cumsum(lens)].astype(np.int32)
    exp_names = np.array(loop.experiments + [""], dtype=object)
    arm_names = np.array(loop.arm_names + [""], dtype=object)
    exp_i, arm_i = M["experiment"][mo], M["arm"][mo]
    tables["messages"] = pa.table({
        "message_id": pa.array(np.arange(1, n_msg + 1), pa.int64()),
        "customer_id": pa.array(M["cust"][mo] + 1, pa.int64()),
        "campaign": pa.array(np.array(CAMPAIGNS, dtype=object)[M["campaign"][mo]],
                             pa.string()),
        "channel": pa.array(np.array(CHANNELS, dtype=object)[M["channel"][mo]], pa.string()),
        "experiment": pa.array(exp_names[exp_i], pa.string(), mask=exp_i < 0),
        "arm": pa.array(arm_names[arm_i], pa.string(), mask=arm_i < 0),
        "sent_at": ts(M["t"][mo]),
        "delivered": pa.array(M["delivered"][mo].astype(bool)),
        "opened_at": ts(np.where(M["open_t"][mo] < H, M["open_t"][mo], np.inf)),
        "clicked_at": ts(np.where(M["click_t"][mo] < H, M["click_t"][mo], np.inf)),
        "unsubscribed_at": ts(np.where(M["unsub_t"][mo] < H, M["unsub_t"][mo], np.inf)),
        "discount_pct": pa.array(M["disc"][mo].astype(float)),
        "cost": pa.array(M["cost"][mo].astype(float)),
        "product_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(allp[idx],
                                                                             pa.int64())),
        "trigger_id": _trigger_ids(M, mo, s_public, o_public),
    })

    # ---------------- assignments
    A = loop.assignments.build()
    a_ord = np.lexsort((A["unit"], A["t"])) if A["t"].size else np.zeros(0, int)
    unit = A["unit"].astype(np.int64)
    cart_units = A["unit_kind"] == 0
    unit[cart_units] = s_public[unit[cart_units]]
    tables["assignments"] = pa.table({
        "experiment": pa.array(exp_names[A["experiment"].astype(int)][a_ord] if A["t"].size
                               else [], pa.string()),
        "unit_type": pa.array(np.array(["cart", "customer"], dtype=object)[
            A["unit_kind"].astype(int)][a_ord] if A["t"].size else [], pa.string()),
        "unit_id": pa.array(unit[a_ord].astype(np.int64), pa.int64()),
        "customer_id": pa.array((A["cust"][a_ord] + 1).astype(np.int64), pa.int64()),
        "arm": pa.array(arm_names[A["arm"].astype(int)][a_ord] if A["t"].size else [],
                        pa.string()),
        "assigned_at": ts(A["t"][a_ord]),
    })
    return tables, Published(orders=OR, order_rows=oo, order_public=o_public,
                             session_public=s_public, messages=M, message_rows=mo, ts=ts)


def _trigger_ids(M, mo, s_public, o_public):
    kind, trig = M["trigger_kind"][mo], M["trigger"][mo].astype(int)
    out = np.full(mo.size, -1)
    s = kind == 0
    out[s] = s_public[trig[s]]
    o = kind == 1
    out[o] = o_public[trig[o]]
    return pa.array(out, pa.int64(), mask=out < 0)


def _event_table(world, rng, cfg, S, so, OR, s_public, ts) -> pa.Table:
    """The events table, generated in chunks of sessions (same result at any size)."""
    names = pa.array(list(SIMULATED_EVENTS))
    batches, offset = [], 0
    for start in range(0, max(so.size, 1), EVENT_CHUNK):
        ev = _events(world, rng, cfg, S, so[start:start + EVENT_CHUNK], OR)
        n = ev["sess"].size
        batches.append(pa.record_batch({
            "event_id": pa.array(np.arange(offset + 1, offset + n + 1), pa.int64()),
            "session_id": pa.array(s_public[ev["sess"]], pa.int64()),
            "customer_id": pa.array(S["cust"][ev["sess"]] + 1, pa.int64()),
            "ts": ts(ev["t"]),
            "event_name": pa.DictionaryArray.from_arrays(
                pa.array(ev["name"], pa.int8()), names).cast(pa.string()),
            "product_id": pa.array(ev["prod"] + 1, pa.int64()),
            "quantity": pa.array(ev["qty"], pa.int64()),
            "price": pa.array(world.catalog.price[ev["prod"]]),
        }))
        offset += n
        del ev
    return pa.Table.from_batches(batches).combine_chunks()


def _events(world, rng, cfg, S, so, OR):
    """Events of the kept sessions: views, then cart, checkout and purchase rows."""
    catalog, baskets = world.catalog, world.baskets
    n = so.size
    cat = S["cat"][so].astype(int)
    views = S["views"][so].astype(int)
    basket = S["basket"][so].astype(int)
    order = S["order"][so].astype(int)
    has_b = basket >= 0
    bsize = np.where(has_b, baskets.size(np.maximum(basket, 0)), 0)
    purchased = order >= 0
    purchased &= np.where(purchased, OR["t"][np.maximum(order, 0)] < world.horizon, False)
    # some abandoned carts got as far as checkout
    checkout = purchased | (has_b & (rng.random(n) < cfg.carts.checkout_before_abandon))
    # rows per session: random views + basket views + cart + checkout + purchase
    n_rows = views + bsize * (2 + checkout + purchased)
    n_rows = n_rows.astype(np.int32)
    sess = np.repeat(so, n_rows)
    local = np.repeat(np.arange(n, dtype=np.int32), n_rows)
    k = (np.arange(n_rows.sum(), dtype=np.int32)
         - np.repeat((np.cumsum(n_rows) - n_rows).astype(np.int32), n_rows))
    name = np.zeros(k.size, dtype=np.int8)
    prod = np.zeros(k.size, dtype=np.int32)
    qty = np.ones(k.size, dtype=np.int32)
    v = views[local]
    bs = bsize[local]
    rv = k < v
    u = rng.random(int(rv.sum()))
    prod[rv] = catalog.product_in_category(cat[local[rv]], u)
    j = k - v
    phase = np.where(rv, -1, j // np.maximum(bs, 1))
    item = np.where(rv, 0, j % np.maximum(bs, 1))
    bpos = baskets.start[np.maximum(basket[local], 0)] + item
    bpos = np.minimum(bpos, baskets.item_product.size - 1)
    nb = ~rv
    prod[nb] = baskets.item_product[bpos[nb]]
    name[nb] = np.array([0, 1, 2, 3])[np.minimum(phase[nb], 3)]
    qty[nb & (phase >= 1)] = baskets.item_qty[bpos[nb & (phase >= 1)]]
    t = S["t"][so][local] + k * EVENT_GAP
    # purchase events at the order's time
    pur = name == SIMULATED_EVENTS.index("purchase")
    t[pur] = np.maximum(OR["t"][order[local[pur]]], t[pur])
    keep = t < world.horizon
    return {"sess": sess[keep], "t": t[keep], "name": name[keep], "prod": prod[keep],
            "qty": qty[keep]}
