"""The truth: what the simulator knows and no analysis can observe (``truth/*`` tables).

Latent customer traits, each order's origin (acquisition, organic, caused), each
message's causal effect (persuaded, would have bought anyway, caused order,
incremental revenue and margin, discount subsidy), each abandoned cart's outcome,
the exact delay response of carts and discount response of seasonal messages, and
the structural parameters (``truth/params.json``).  Quantities derived later from a
saved dataset's truth tables are in :mod:`workbench.simulate.truth`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from ..vocab import CHANNELS, PRICE_SEGMENTS, PURCHASE_TYPES
from .common import HOUR, labels, product_lists, sigmoid

ORIGINS = ("acquisition", "organic", "caused")
CART_OUTCOMES = ("lost", "natural_return", "moved_by_message", "caused_by_message")
# delays (hours) at which the delay response is tabulated, besides the experiment's arms
DELAY_GRID_HOURS = (0.5, 1, 2, 4, 8, 12, 24, 48, 72)
# discounts (%) at which the discount response is tabulated, besides the seasonal arms
DISCOUNT_GRID_PCT = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)
GAUSS_HERMITE_NODES = 40


def build_truth(cfg, world, pub, appeal: np.ndarray) -> tuple[dict[str, pa.Table], dict]:
    """Return the truth tables and the structural parameters (``truth/params.json``).

    ``pub`` is the :class:`~workbench.simulate.tables.Published` id maps; ``appeal``
    the appeal of every product shown (in the messages' product ledger order).
    """
    cus, baskets = world.customers, world.baskets
    M, mo, OR, oo = pub.messages, pub.message_rows, pub.orders, pub.order_rows  # M: by public id
    o_public, s_public, ts = pub.order_public, pub.session_public, pub.ts
    H = world.horizon
    N = cfg.n_customers
    truth: dict[str, pa.Table] = {}
    death = np.where(np.isfinite(cus.dropout_t) & (cus.dropout_t < H), cus.dropout_t, np.inf)
    gg = cfg.gamma_gamma
    truth["customers"] = pa.table({
        "customer_id": pa.array(np.arange(1, N + 1), pa.int64()),
        "purchase_rate_per_day": pa.array(cus.purchase_rate),
        "dropout_prob": pa.array(cus.dropout_prob),
        "dropped_out_at": ts(death),
        "alive_at_end": pa.array(~np.isfinite(death)),
        "spend_nu": pa.array(cus.spend_nu),
        "expected_order_value": pa.array(gg.p / cus.spend_nu),
        "price_segment": labels(PRICE_SEGMENTS, cus.price_segment),
        **{f"{c}_responsiveness": pa.array(cus.responsiveness[i])
           for i, c in enumerate(CHANNELS)},
        "preferred_send_hour": pa.array(cus.preferred_hour),  # Monday to Friday
        "preferred_send_hour_weekend": pa.array(cus.weekend_hour),
        "apple_mpp": pa.array(cus.apple_mpp),
        "replenishment_cycle_multiplier": pa.array(cus.cycle_multiplier),
        "top_category": pa.array([cfg.catalog[i].name for i in cus.affinity.argmax(1)],
                                 pa.string()),
        "n_repeat_organic_orders": pa.array(np.bincount(
            OR["cust"][oo][OR["origin"][oo] == ORIGINS.index("organic")],
            minlength=N).astype(np.int64)),
    })
    b = OR["basket"][oo]
    margin = baskets.value[b] * (1 - OR["disc"][oo] / 100) - baskets.cost[b]
    truth["orders"] = pa.table({
        "order_id": pa.array(np.arange(1, oo.size + 1), pa.int64()),
        "origin": labels(ORIGINS, OR["origin"][oo]),
        "moved_by_message": pa.array(OR["moved"][oo].astype(bool)),
        "margin": pa.array(margin),
    })
    # messages: causal effect
    co = M["caused_order"].astype(int)
    co_pub = np.where(co >= 0, o_public[np.maximum(co, 0)], -1)
    co_pub = np.where(co_pub > 0, co_pub, -1)
    rev = np.zeros(mo.size)
    mar = np.zeros(mo.size)
    if (co_pub > 0).any():
        w = co_pub > 0
        bb = OR["basket"][co[w]]
        dd = OR["disc"][co[w]] / 100
        rev[w] = baskets.value[bb] * (1 - dd)
        mar[w] = baskets.value[bb] * (1 - dd) - baskets.cost[bb]
    # subsidy: discount paid on orders that would have happened anyway
    sub = np.zeros(mo.size)
    m_public_of = np.full(max(M["t"].size, 1), -1)  # never empty: safe to index with 0
    m_public_of[:mo.size] = pub.message_public - 1
    om = OR["msg"][oo]
    orig = OR["origin"][oo]
    subsidised = ((om >= 0) & (orig != ORIGINS.index("caused")) & (OR["disc"][oo] > 0)
                  & (orig != ORIGINS.index("acquisition")))
    if subsidised.any():
        amt = baskets.value[b[subsidised]] * OR["disc"][oo][subsidised] / 100
        np.add.at(sub, m_public_of[om[subsidised]], amt)
    cost = M["cost"]
    truth["messages"] = pa.table({
        "message_id": pa.array(np.arange(1, mo.size + 1), pa.int64()),
        "persuaded": pa.array(M["persuaded"].astype(bool, copy=False)),
        "would_buy_anyway": pa.array(M["anyway"].astype(bool, copy=False)),
        "caused_conversion": pa.array(co_pub > 0),
        "caused_order_id": pa.array(co_pub, pa.int64(), mask=co_pub <= 0),
        "incremental_revenue": pa.array(np.round(rev - sub, 2)),
        "incremental_margin": pa.array(np.round(mar - sub - cost, 4)),
        "subsidy": pa.array(np.round(sub, 2)),
        "machine_open": pa.array(M["machine"].astype(bool, copy=False)),
        "p_persuade": pa.array(M["p_persuade"].astype(float, copy=False)),
        # with the segment's discount terms (truth/params.json) this gives P(persuaded) at
        # any discount: sigmoid(logit_without_discount + a_s 1{d>0} + b_s d)
        "persuasion_logit_without_discount": pa.array(M["logit0"].astype(float, copy=False)),
        "alive_at_send": pa.array(M["alive"].astype(bool, copy=False)),
        # each product shown (in the order of messages.product_ids): its appeal to the
        # recipient, and the persuasion term the recommendations added (0: not
        # recommendations), see Messaging._appeal
        "product_appeal": product_lists(M, appeal),
        "products_logit": pa.array(M["plogit"].astype(float, copy=False)),
    })
    truth["products"] = pa.table({
        "product_id": pa.array(np.arange(world.catalog.price.size) + 1, pa.int64()),
        "popularity_weight": pa.array(world.catalog.popularity),
    })
    comp = world.catalog.complements
    truth["complements"] = pa.table({
        "product_id": pa.array(np.repeat(np.arange(comp.shape[0]), comp.shape[1]) + 1,
                               pa.int64()),
        "complement_product_id": pa.array(comp.reshape(-1) + 1, pa.int64()),
    })
    # carts
    keep = s_public[world.cart_session] > 0
    cm = world.cart_message
    natural_t = world.cart_natural_t[keep]
    truth["carts"] = pa.table({
        "cart_session_id": pa.array(s_public[world.cart_session][keep], pa.int64()),
        "customer_id": pa.array(world.cart_customer[keep] + 1, pa.int64()),
        "abandoned_at": ts(world.cart_t[keep]),
        "purchase_type": labels(PURCHASE_TYPES, world.cart_type[keep]),
        "cart_value": pa.array(baskets.value[world.cart_basket][keep]),
        "cart_margin": pa.array((baskets.value - baskets.cost)[world.cart_basket][keep]),
        "would_return_naturally": pa.array(world.cart_natural[keep] & (natural_t < H)),
        "natural_return_at": ts(np.where(natural_t < H, natural_t, np.inf)),
        "outcome": labels(CART_OUTCOMES, world.cart_outcome[keep]),
        "message_id": pa.array(np.where(cm[keep] >= 0, m_public_of[np.maximum(cm[keep], 0)]
                                        + 1, -1), pa.int64(), mask=cm[keep] < 0),
    })
    # browse-abandonment candidates: which were research before a planned purchase
    bk = s_public[world.browse_session] > 0
    truth["browse_sessions"] = pa.table({
        "session_id": pa.array(s_public[world.browse_session][bk], pa.int64()),
        "customer_id": pa.array(world.browse_customer[bk] + 1, pa.int64()),
        "research": pa.array(world.browse_research[bk]),
        "revisits_14d": pa.array(world.browse_revisits[bk], pa.int64()),
    })
    truth["delay_response"] = _delay_truth(cfg, world, keep)
    truth["discount_response"] = _discount_truth(cfg)
    rs = cfg.response
    params = {
        "time_unit": "days",
        "bgnbd_by_acquisition_channel": {k: {x: v[x] for x in ("r", "alpha_days", "a", "b")}
                                         for k, v in cus.channel_params.items()},
        "gamma_gamma_by_acquisition_channel": {k: {x: v[x] for x in ("p", "q", "gamma")}
                                               for k, v in cus.channel_params.items()},
        "cart_best_delay_hours_structural": dict(rs.cart_best_delay_hours),
        "natural_return_median_hours": dict(cfg.carts.natural_return_median_hours),
        "discount_terms": {
            s: {"offer": rs.discount_intercept[s],
                "slope_per_unit_discount": rs.discount_slope[s]}
            for s in PRICE_SEGMENTS},
        "discount_response_logit": {
            s: {"intercept": rs.campaign_base_logit["seasonal"] + rs.discount_intercept[s],
                "slope_per_unit_discount": rs.discount_slope[s]}
            for s in PRICE_SEGMENTS},
    }
    best = truth["delay_response"].to_pandas()
    best = best[best["is_best_for_type"]]
    params["cart_best_policy"] = {
        r.purchase_type: {"channel": r.channel, "delay_hours": float(r.delay_hours)}
        for r in best.itertuples()}
    return truth, params


def _delay_truth(cfg, world, keep) -> pa.Table:
    """Expected incremental margin per abandoned cart, by type x channel x delay.

    For a cart of type ``k`` messaged on channel ``c`` after ``h`` hours, with
    persuasion probability ``p_i(h, c)`` (the engine's own logit, averaged over
    the realized carts and their customers' responsiveness) and the cart's
    latent natural outcome known:
    ``E[incr. margin] = mean_i[ delivery_c * p_i(h, c) * 1{i not natural}
    * margin_i - cost_c * 1{i not yet returned at h} ]``.
    Exact given the realized carts; no simulation noise.
    """
    rs, eng = cfg.response, cfg.engagement
    cus, baskets = world.customers, world.baskets
    grid = sorted(set(DELAY_GRID_HOURS) | {
        a.delay_hours for a in cfg.campaigns.abandoned_cart.arms if a.delay_hours})
    rows = defaultdict(list)
    ci = np.nonzero(keep)[0]
    marg = (baskets.value - baskets.cost)[world.cart_basket[ci]]
    for ti, typ in enumerate(PURCHASE_TYPES):
        sel = ci[world.cart_type[ci] == ti]
        if sel.size == 0:
            continue
        mg = marg[world.cart_type[ci] == ti]
        not_nat = ~(world.cart_natural[sel] & (world.cart_natural_t[sel] < world.horizon))
        cart_cust = world.cart_customer[sel]
        # what the grid's loops read of these carts, gathered once
        dropout_t, cart_t = cus.dropout_t[cart_cust], world.cart_t[sel]
        natural_t = world.cart_natural_t[sel]
        for c, chn in enumerate(CHANNELS):
            x0 = rs.cart_base_logit[typ] + rs.channel_logit[chn] + cus.responsiveness[
                c, cart_cust]
            for h in grid:
                pen = np.log(h / rs.cart_best_delay_hours[typ]) ** 2 / (
                    2 * rs.cart_delay_log_sd**2)
                sent_t = cart_t + h * HOUR
                alive = dropout_t > sent_t
                p = sigmoid(x0 - pen) * eng.delivery_rate[chn] * alive
                still = natural_t > sent_t
                inc = p * not_nat
                rows["purchase_type"].append(typ)
                rows["channel"].append(chn)
                rows["delay_hours"].append(float(h))
                rows["n_carts"].append(int(sel.size))
                rows["incremental_conversion_rate"].append(float(inc.mean()))
                rows["incremental_margin_per_cart"].append(float(
                    (inc * mg - eng.cost[chn] * still).mean()))
                rows["natural_return_rate"].append(float((~not_nat).mean()))
    cols = ("purchase_type", "channel", "delay_hours", "n_carts",
            "incremental_conversion_rate", "incremental_margin_per_cart",
            "natural_return_rate")
    df = {k: np.array(rows[k], dtype=object if k in ("purchase_type", "channel") else float)
          for k in cols}
    df["n_carts"] = df["n_carts"].astype(np.int64)
    best = np.zeros(df["delay_hours"].size, bool)
    for typ in PURCHASE_TYPES:
        m = np.nonzero(df["purchase_type"] == typ)[0]
        if m.size:
            best[m[np.argmax(df["incremental_margin_per_cart"][m])]] = True
    return pa.table({**{k: pa.array(v, type=pa.string() if v.dtype == object else None)
                        for k, v in df.items()},
                     "is_best_for_type": pa.array(best)})


def _discount_truth(cfg) -> pa.Table:
    """P(persuaded | delivered, alive) for seasonal messages by segment, channel, discount.

    ``logit p = base + channel + a_s 1{d>0} + b_s d + e``, ``e ~ N(0, sd^2)``
    the customer's responsiveness; the expectation over ``e`` is computed by
    Gauss-Hermite quadrature (Abramowitz & Stegun 25.4.46), 40 nodes.
    """
    rs = cfg.response
    x, w = np.polynomial.hermite.hermgauss(GAUSS_HERMITE_NODES)
    sd = rs.responsiveness_log_sd
    rows = defaultdict(list)
    levels = sorted({d for e in cfg.campaigns.seasonal.events
                     for d in e.discount_arms_pct} | set(DISCOUNT_GRID_PCT))
    for s in PRICE_SEGMENTS:
        for chn in CHANNELS:
            for dpct in levels:
                d = dpct / 100
                lin = (rs.campaign_base_logit["seasonal"] + rs.channel_logit[chn]
                       + (rs.discount_intercept[s] if d > 0 else 0.0)
                       + rs.discount_slope[s] * d)
                p = float((w * sigmoid(lin + np.sqrt(2) * sd * x)).sum() / np.sqrt(np.pi))
                rows["price_segment"].append(s)
                rows["channel"].append(chn)
                rows["discount_pct"].append(float(dpct))
                rows["logit_at_zero_responsiveness"].append(lin)
                rows["p_persuade"].append(p)
    return pa.table({k: pa.array(v) for k, v in rows.items()})

