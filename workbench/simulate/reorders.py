"""Use-cycle re-orders: a consumable bought again when it runs out (issue 18).

A basket whose primary consumable is ``q`` units of a product of ``supply_days`` ``s``
runs out ``s x q x m_c x exp(sigma x N(0, 1))`` days after the order, where ``m_c`` is
the customer's use rate (``truth/customers.replenishment_cycle_multiplier``) and
``sigma`` is ``products.reorder_log_sd``.  With probability ``products.reorder_share``
the customer then orders it again (a new basket starting with that product), if still
active and within the horizon; the re-order runs out in turn, so each chain is a
renewal process with a cure fraction (``1 - reorder_share``: bought elsewhere or gone).

The re-orders come on top of the BG/NBD occasions and are drawn from a random stream
of their own, so with ``reorder_share = 0`` (the default) nothing changes.  Only
organic orders start chains; an order a reminder moves earlier keeps its chain.
"""

from __future__ import annotations

import numpy as np

from .common import EVENT_GAP
from .random import combine


def add_reorders(world, cust: np.ndarray, t: np.ndarray, basket: np.ndarray, first_key: int,
                 src_p: np.ndarray, src_code: np.ndarray, rng: np.random.Generator,
                 basket_uniforms: int, checkout_events: int) -> int:
    """Append the re-order chains of organic orders to the session and order ledgers.

    ``cust, t, basket`` are the organic orders that start chains; ``first_key`` numbers
    the re-orders' keys after the occasions'; a re-order's session has the casual
    browsing's views and sources and its order follows ``checkout_events`` events after
    the last view, as any immediate purchase.  Returns the number of re-orders.
    """
    cfg, cus, cat_ = world.cfg, world.customers, world.catalog
    ps, tr = cfg.products, cfg.traffic
    share, sd, H = ps.reorder_share, ps.reorder_log_sd, world.horizon
    world.baskets.finalize()
    out_c, out_t, out_b = [], [], []
    c, tt, b = cust, t, basket
    while c.size:
        prod = world.baskets.consumable[b]
        go = (prod >= 0) & (rng.random(c.size) < share)
        need = (cat_.supply_days[np.maximum(prod, 0)] * world.baskets.consumable_qty[b]
                * cus.cycle_multiplier[c] * np.exp(sd * rng.standard_normal(c.size)))
        t_new = tt + need
        go &= t_new < np.minimum(cus.dropout_t[c], H)
        c, tt, prod = c[go], t_new[go], prod[go]
        if not c.size:
            break
        u = rng.random((c.size, basket_uniforms))
        z = rng.gamma(cfg.gamma_gamma.p, 1.0 / cus.spend_nu[c])
        b = world.baskets.make(c, cat_.product_category[prod], u, z, primary=prod)
        world.baskets.finalize()
        out_c.append(c)
        out_t.append(tt)
        out_b.append(b)
    if not out_c:
        return 0
    c, ts, b = np.concatenate(out_c), np.concatenate(out_t), np.concatenate(out_b)
    n = c.size
    views = 1 + rng.poisson(tr.mean_extra_views, n)
    src = src_code[rng.choice(src_code.size, n, p=src_p / src_p.sum())]
    order_t = ts + (views + checkout_events) * EVENT_GAP
    keep = order_t < H
    c, ts, b, views, src, order_t = (x[keep] for x in (c, ts, b, views, src, order_t))
    n = c.size
    cat = world.baskets.first_category(b)
    s = world.sessions.add(cust=c, t=ts, src=src, msg=-1, cat=cat, views=views, basket=b,
                           order=-1)
    world.orders.add(cust=c, t=order_t, session=s, basket=b,
                     disc=0.0, msg=-1, origin=1, cause_msg=-1,
                     key=combine(c, first_key + np.arange(n)), moved=False)
    return n
