"""Efficiency by campaign, channel and customer stage: last click beside incrementality.

What a messaging platform reports is last click: the orders that carry a message's id
(its link or code), their revenue, and the sends' cost —

* revenue per message, conversions per message, cost per conversion (message cost over
  last-click orders) and marketing cost as a share of revenue ((message cost + the
  discounts on those orders) / their revenue), per campaign × channel and per customer
  stage at the send (a prospect with no order yet, a first-time buyer, a repeat buyer).

Last click credits orders the customer would have placed anyway.  A campaign's holdout
measures what it adds (:func:`~workbench.analyses.holdouts.analyze_holdouts`): the
difference in margin and in orders per customer over the window after each customer's
first qualifying trigger, messaged against held out.  Divided by the campaign's
messages per messaged customer in that window it reads per message, beside the last-click
margin per message; the message cost per messaged customer over the incremental orders
per customer is the cost per *incremental* conversion.  The per-message scaling treats
messages per customer as known (it is measured on thousands of customers; its error is
small beside the difference's).  Per customer stage, the same Welch comparison within
the stage the customer was in at assignment (Deng et al. 2013 for the CUPED adjustment
of the campaign-level figure; the stage rows are plain Welch, Welch 1947).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...vocab import CUSTOMER_STAGES


def stage_of(prior_orders) -> np.ndarray:
    """The stage (:data:`~workbench.vocab.CUSTOMER_STAGES`) of each count of prior orders.

    ``prospect`` (no order before), ``first-time buyer`` (one), ``repeat buyer`` (2+) —
    the simulator's ``skip_stages`` reads stages the same way.
    """
    n = np.minimum(np.asarray(prior_orders, dtype=float), 2).clip(min=0).astype(int)
    return np.asarray(CUSTOMER_STAGES, dtype=object)[n]


def last_click(con, by_stage: bool = False) -> pd.DataFrame:
    """Last-click efficiency per campaign × channel (× customer stage at the send).

    Aggregated in the engine: one row per group with ``sent, cost, orders, revenue,
    goods, discount`` (orders carrying a message id of the group, their revenue paid,
    goods cost and discount), then the rates: ``conversion_per_message,
    revenue_per_message, cost_per_conversion, marketing_cost_share,
    net_margin_per_message`` ((revenue - goods - cost) / sent).
    """
    import ibis

    from ..orders import orders_with_goods

    m = con.table("messages")
    o = con.table("orders")
    og = orders_with_goods(con).select("order_id", "goods")
    lc = o.filter(o.message_id.notnull()).join(og, "order_id").select(
        mid=o.message_id, revenue=o.revenue.cast("float64"),
        discount=o.discount_amount.cast("float64"), goods=og.goods.cast("float64"))
    per_msg = lc.group_by("mid").aggregate(orders=lc.count(), revenue=lc.revenue.sum(),
                                           discount=lc.discount.sum(), goods=lc.goods.sum())
    keys = ["campaign", "channel"]
    msgs = m.select("message_id", "customer_id", "campaign", "channel", "sent_at",
                    cost=m.cost.cast("float64"))
    if by_stage:
        prior = o.select(pc="customer_id", pt="placed_at")
        j = msgs.left_join(prior, (msgs.customer_id == prior.pc) & (prior.pt < msgs.sent_at))
        n = j.group_by("message_id").aggregate(prior_orders=j.pt.count())
        msgs = msgs.join(n, "message_id").mutate(stage=ibis.cases(
            (ibis._.prior_orders == 0, "prospect"), (ibis._.prior_orders == 1,
                                                      "first-time buyer"),
            else_="repeat buyer"))
        keys = [*keys, "stage"]
    j = msgs.left_join(per_msg, msgs.message_id == per_msg.mid)
    g = j.group_by(keys).aggregate(
        sent=j.count(), cost=j.cost.sum(), orders=j.orders.fill_null(0).sum(),
        revenue=j.revenue.fill_null(0.0).sum(), goods=j.goods.fill_null(0.0).sum(),
        discount=j.discount.fill_null(0.0).sum()).execute()
    g["orders"] = g.orders.astype(int)
    return _rates(g).sort_values(keys).reset_index(drop=True)


def _rates(g: pd.DataFrame) -> pd.DataFrame:
    g = g.copy()
    g["conversion_per_message"] = g.orders / g.sent
    g["revenue_per_message"] = g.revenue / g.sent
    g["cost_per_conversion"] = g.cost / g.orders.where(g.orders > 0)
    g["marketing_cost_share"] = (g.cost + g.discount) / g.revenue.where(g.revenue > 0)
    g["net_margin_per_message"] = (g.revenue - g.goods - g.cost) / g.sent
    return g


def side_by_side(last: pd.DataFrame, units: pd.DataFrame, holdouts: pd.DataFrame
                 ) -> pd.DataFrame:
    """Per campaign with a holdout: last click and the holdout's incrementality per message.

    ``last``: :func:`last_click` per campaign × channel (summed over channels here);
    ``units``: :func:`~workbench.analyses.holdouts.holdout_units`; ``holdouts``: the table
    of :func:`~workbench.analyses.holdouts.analyze_holdouts` (its incremental margin per
    messaged customer and interval, and the truth where the store is simulated).
    """
    from ...experiments import analyze_experiment

    per = last.groupby("campaign")[["sent", "cost", "orders", "revenue", "goods",
                                    "discount"]].sum()
    per = _rates(per)
    rows = []
    for r in holdouts.itertuples():
        g = units[units.campaign == r.campaign]
        msg = g[g.arm == "messaged"]
        mpc = float(msg.messages.mean())
        if not mpc > 0:
            continue
        inc_o = analyze_experiment(g, "arm", "orders", "holdout", kind="continuous",
                                   name=f"{r.campaign} holdout orders").arms.set_index(
            "arm").loc["messaged"]
        lc = per.loc[r.campaign] if r.campaign in per.index else None
        row = {"campaign": r.campaign, "messages_per_customer": mpc,
               "last_click_margin_per_message": np.nan if lc is None
               else float(lc.net_margin_per_message),
               "last_click_cost_per_conversion": np.nan if lc is None
               else float(lc.cost_per_conversion),
               "incremental_margin_per_message": r.incremental_margin / mpc,
               "ci_low": r.ci_low / mpc, "ci_high": r.ci_high / mpc,
               "incremental_orders_per_1000": 1000 * float(inc_o.abs_lift) / mpc,
               "incremental_orders_low": 1000 * float(inc_o.abs_lift_low) / mpc,
               "incremental_orders_high": 1000 * float(inc_o.abs_lift_high) / mpc}
        cost = float(msg.message_cost.mean())
        row["cost_per_incremental_conversion"] = (
            cost / float(inc_o.abs_lift) if inc_o.abs_lift_low > 0 else np.nan)
        if "true_incremental_margin" in holdouts:
            row["true_incremental_margin_per_message"] = r.true_incremental_margin / mpc
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        inc = out.incremental_margin_per_message
        out["last_click_over_incremental"] = (out.last_click_margin_per_message
                                              / inc.where(out.ci_low > 0))
    return out


def by_stage(units: pd.DataFrame, min_prob: float = 0.9, min_held_out: int = 30
             ) -> pd.DataFrame:
    """Per campaign × customer stage at assignment: incremental margin per customer.

    Messaged against held-out customers of the same stage (Welch 95% interval);
    ``prob_loses`` is the normal posterior probability that the campaign's messages lose
    margin for the stage (flat prior), and ``loses_money`` marks P ≥ ``min_prob`` over at
    least ``min_held_out`` held-out customers (fewer: not shown either way).
    """
    from ...experiments import welch_difference

    if units.empty:
        return pd.DataFrame()
    stage = stage_of(units.prior_orders)
    rows = []
    for (camp, st), g in units.groupby([units.campaign, stage], sort=True):
        w = welch_difference(g.margin[g.arm == "messaged"], g.margin[g.arm == "holdout"])
        if not np.isfinite(w["difference"]):
            continue
        p = w["prob_below_zero"]
        rows.append({"campaign": camp, "stage": st, "messaged": w["n_treated"],
                     "held_out": w["n_control"], "incremental_margin": w["difference"],
                     "ci_low": w["low"], "ci_high": w["high"], "prob_loses": p,
                     "loses_money": bool(p >= min_prob and w["n_control"] >= min_held_out)})
    return pd.DataFrame(rows)


__all__ = ["by_stage", "last_click", "side_by_side", "stage_of"]
