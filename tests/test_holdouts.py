"""Campaign holdouts: written to the assignments table, and measured against the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.holdouts import analyze_holdouts, holdout_units
from workbench.simulate import scenario, simulate

HELD = ("browse_abandonment", "post_purchase", "replenishment")


def _with_holdouts(base, share: float, enabled: bool = True):
    d = base.campaigns.model_dump()
    for c in HELD:
        d[c]["holdout_share"] = share
    d["post_purchase"]["enabled"] = enabled
    return base.model_copy(update={"campaigns": type(base.campaigns).model_validate(d)})


@pytest.fixture(scope="module")
def held_store(tmp_path_factory):
    st = simulate(_with_holdouts(scenario("default", n_customers=6000, days=240), 0.3),
                  seed=3)
    return st, wb.save_simulation(st, tmp_path_factory.mktemp("h") / "d")


def test_holdouts_are_written_once_per_customer_and_kept(held_store):
    st, _ = held_store
    a = st.to_pandas("assignments")
    m = st.to_pandas("messages")
    for camp in HELD:
        g = a[a.experiment == f"{camp}_holdout"]
        assert g.unit_type.eq("customer").all() and g.customer_id.is_unique
        n = len(g)
        share = (g.arm == "holdout").mean()
        assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n), (camp, share, n)
        held = set(g.customer_id[g.arm == "holdout"])
        sent = m[m.campaign == camp]
        assert not held & set(sent.customer_id), camp  # held out: never messaged
        # a messaged customer is assigned at their first message of the campaign
        first = sent.groupby("customer_id").sent_at.min()
        mg = g[g.arm == "messaged"].set_index("customer_id").assigned_at
        both = mg.index.intersection(first.index)
        assert len(both) > 0.95 * len(mg)  # a few lost to caps or an unsubscribe that day
        assert (mg[both] <= first[both]).all()


def test_no_holdout_no_rows():
    st = simulate(scenario("tiny"), seed=3)
    a = st.to_pandas("assignments")
    assert not a.experiment.str.endswith("_holdout").any()


def test_the_estimate_covers_the_campaigns_true_total_effect(held_store):
    """Against the truth of the whole effect: the same store with the campaign off.

    Common random numbers make each customer's margin with and without post-purchase
    emails comparable one by one; the messaged customers' mean difference over their
    window is what the holdout comparison estimates (follow-up orders included).
    """
    st, path = held_store
    res = analyze_holdouts(wb.open_dataset(path), window_days=30)
    row = res.table.set_index("campaign").loc["post_purchase"]
    assert row.messaged > 1000 and row.held_out > 400
    off = simulate(_with_holdouts(st.config, 0.3, enabled=False), seed=3)
    units = holdout_units(wb.open_dataset(path), 30)
    msg = units[(units.campaign == "post_purchase") & (units.arm == "messaged")]
    o_on, o_off = st.to_pandas("orders"), off.to_pandas("orders")

    def margin(o, oi, u):
        goods = (oi.quantity * oi.unit_cost).groupby(oi.order_id).sum()
        o = o.assign(m=o.revenue - o.order_id.map(goods).fillna(0.0))
        j = u[["customer_id", "assigned_at"]].merge(o, on="customer_id", how="left")
        inside = (j.placed_at >= j.assigned_at) & (
            j.placed_at < j.assigned_at + pd.Timedelta(days=30))
        return j.m.where(inside, 0.0).groupby(j.customer_id).sum()

    on = margin(o_on, st.to_pandas("order_items"), msg)
    without = margin(o_off, off.to_pandas("order_items"), msg)
    cost = st.to_pandas("messages")
    cost = cost[cost.campaign == "post_purchase"].merge(msg, on="customer_id")
    cost = cost[(cost.sent_at >= cost.assigned_at)
                & (cost.sent_at < cost.assigned_at + pd.Timedelta(days=30))].cost.sum()
    truth = float((on - without).mean() - cost / len(msg))
    assert row.ci_low <= truth <= row.ci_high, (row.to_dict(), truth)


def test_a_store_without_holdouts_gets_the_test_to_run(small_dataset):
    res = analyze_holdouts(wb.open_dataset(small_dataset))
    assert res.table.empty
    t = res.to_run.set_index("campaign")
    # the cart experiment has its own no-message arm, so only the others need a holdout
    assert "abandoned_cart" not in t.index and {"post_purchase", "seasonal"} <= set(t.index)
    assert (t.held_out_needed > 0).all() and (t.weeks_needed > 0).all()
    assert "No holdout yet for" in res.summary()


def test_post_purchase_by_buyer_uses_what_was_known_at_entry(held_store):
    from workbench.analyses.holdouts import by_buyer

    _, path = held_store
    units = holdout_units(wb.open_dataset(path), 30)
    pp = units[units.campaign == "post_purchase"]
    # the customer's orders before entering the test: at least the one followed up
    assert (pp.prior_orders >= 1).all()
    table = by_buyer(pp)
    assert table.messaged.sum() + table.held_out.sum() == len(pp)
    assert {"first-time buyer"} <= set(table.buyer)
    # segments split the customers, not their orders: the arms' shares hold in each
    share = table.held_out / (table.messaged + table.held_out)
    n = table.messaged + table.held_out
    assert (abs(share - 0.3) < 4 * np.sqrt(0.21 / n) + 0.01).all()
    res = analyze_holdouts(wb.open_dataset(path))
    assert res.post_purchase_by_buyer is not None and len(res.post_purchase_by_buyer) >= 2


def test_a_holdout_to_run_is_sized_for_unequal_arms(small_dataset):
    con = wb.open_dataset(small_dataset)
    tenth = analyze_holdouts(con, holdout_share=0.1).to_run.set_index("campaign")
    half = analyze_holdouts(con, holdout_share=0.5).to_run.set_index("campaign")
    # nine messaged customers per held-out one: the messaged arm's mean is nearly known,
    # so fewer held-out customers are needed than with equal arms (Cohen 1988, eq. 2.3.1
    # with n2 = 9 n1: n1 = n (1 + 1/9) / 2)
    ratio = tenth.held_out_needed / half.held_out_needed
    assert ((ratio > 0.5) & (ratio < 0.62)).all(), ratio
