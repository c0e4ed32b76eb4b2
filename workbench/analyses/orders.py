"""Orders with their goods cost: what every analysis's margin is read from.

Shared by the analyses (which never import each other): one definition of an order's
margin, revenue less the goods cost of its lines where the store records it.
"""

from __future__ import annotations


def orders_with_goods(con):
    """``orders`` as ``order_id, customer_id, placed_at, revenue, goods`` (an Ibis table).

    ``goods``: the sum of ``quantity × unit_cost`` of the order's lines, a missing cost
    counted 0; 0 for every order where ``order_items`` or its ``unit_cost`` is absent.
    """
    import ibis

    o = con.table("orders")
    oi = con.table("order_items") if "order_items" in con.list_tables() else None
    if oi is None or "unit_cost" not in oi.columns:
        return o.select("order_id", "customer_id", "placed_at", "revenue",
                        goods=ibis.literal(0.0))
    g = oi.group_by("order_id").aggregate(goods=(oi.quantity * oi.unit_cost.fill_null(0)).sum())
    return o.left_join(g, "order_id").select(
        "order_id", "customer_id", "placed_at", "revenue",
        goods=ibis.coalesce(g.goods, 0.0))


__all__ = ["orders_with_goods"]
