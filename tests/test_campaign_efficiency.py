"""Efficiency by campaign, channel and customer stage: last click recomputed by hand, the
holdout's incrementality per message against the truth, and the stages that lose money."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.holdouts import analyze_holdouts, holdout_units
from workbench.analyses.holdouts.efficiency import last_click
from workbench.simulate import scenario, simulate

HELD = ("browse_abandonment", "post_purchase", "replenishment", "seasonal")


def _held_store(tmp, email_cost: float = 0.004, seed: int = 3):
    base = scenario("default", n_customers=6000, days=365)
    d = base.model_dump()
    for c in HELD:
        d["campaigns"][c]["holdout_share"] = 0.3
    d["campaigns"]["seasonal"]["experiment_share"] = 0.0
    d["engagement"]["cost"] = {"email": email_cost, "sms": 0.035}
    st = simulate(type(base).model_validate(d), seed=seed)
    return wb.save_simulation(st, tmp / "d")


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    path = _held_store(tmp_path_factory.mktemp("eff"))
    return path, analyze_holdouts(wb.open_dataset(path), dataset=path)


def test_last_click_is_the_orders_carrying_each_message(small_dataset):
    con = wb.open_dataset(small_dataset)
    t = last_click(con, by_stage=True)
    m = con.table("messages").execute()
    o = con.table("orders").execute()
    oi = con.table("order_items").execute()
    goods = (oi.quantity * oi.unit_cost.fillna(0)).groupby(oi.order_id).sum()
    lc = o[o.message_id.notna()].merge(m[["message_id", "campaign", "channel"]],
                                       on="message_id")
    # every message's stage: the customer's orders placed before the send
    j = m[["message_id", "customer_id", "sent_at"]].merge(
        o[["customer_id", "placed_at"]], on="customer_id", how="left")
    prior = (j.placed_at < j.sent_at).groupby(j.message_id).sum()
    n = m.message_id.map(prior).to_numpy()
    m["stage"] = np.where(n == 0, "prospect", np.where(n == 1, "first-time buyer",
                                                        "repeat buyer"))
    lc = lc.merge(m[["message_id", "stage"]], on="message_id")
    keys = ["campaign", "channel", "stage"]
    exp_sent = m.groupby(keys).size()
    exp_orders = lc.groupby(keys).size().reindex(exp_sent.index, fill_value=0)
    exp_margin = (lc.revenue - lc.order_id.map(goods).fillna(0)).groupby(
        [lc[k] for k in keys]).sum().reindex(exp_sent.index, fill_value=0.0)
    t = t.set_index(keys).loc[exp_sent.index]
    assert (t.sent == exp_sent).all() and (t.orders == exp_orders).all()
    np.testing.assert_allclose(t.revenue - t.goods, exp_margin, rtol=1e-9, atol=1e-6)
    assert t.orders.sum() == o.message_id.notna().sum()  # every last-click order once
    np.testing.assert_allclose(t.cost_per_conversion, (t.cost / t.orders).where(t.orders > 0))


def test_holdout_margins_pay_the_campaigns_messages(held):
    path, _ = held
    u = holdout_units(wb.open_dataset(path), 30)
    msg, hold = u[u.arm == "messaged"], u[u.arm == "holdout"]
    assert (hold.messages == 0).all() and (hold.message_cost == 0).all()
    assert (msg.messages >= 1).mean() > 0.95  # assigned at their first message
    assert (msg.message_cost > 0).mean() > 0.95
    # recomputed by hand: the campaign's messages to the customer in the 30-day window
    m = wb.read_table(path, "messages")
    j = msg[["campaign", "customer_id", "assigned_at"]].merge(m, on=["campaign",
                                                                     "customer_id"])
    j = j[(j.sent_at >= j.assigned_at) & (j.sent_at < j.assigned_at + pd.Timedelta(days=30))]
    per = j.groupby(["campaign", "customer_id"]).cost.agg(["sum", "size"])
    got = msg.set_index(["campaign", "customer_id"]).loc[per.index]
    np.testing.assert_allclose(got.message_cost, per["sum"], rtol=1e-9)
    assert (got.messages == per["size"]).all()


def test_incrementality_per_message_holds_the_truth(held):
    _, res = held
    e = res.efficiency.set_index("campaign")
    assert set(e.index) == set(HELD)
    inside = (e.ci_low <= e.true_incremental_margin_per_message) & (
        e.true_incremental_margin_per_message <= e.ci_high)
    assert inside.sum() >= len(e) - 1, e  # four 95% intervals: allow one miss
    # per message is per customer over the campaign's messages per messaged customer
    t = res.table.set_index("campaign")
    np.testing.assert_allclose(e.incremental_margin_per_message * e.messages_per_customer,
                               t.incremental_margin.loc[e.index])
    st = res.stages
    cover = (st.ci_low <= st.true_incremental_margin) & (
        st.true_incremental_margin <= st.ci_high)
    assert cover.mean() >= 0.75, st
    # the section's chart plots these numbers: each campaign's holdout estimate with its
    # interval, beside its last click
    spec = res.efficiency_chart().to_dict()
    rules, points = spec["layer"]
    pts = pd.DataFrame(next(v for v in spec["datasets"].values() if v and "measure" in v[0]))
    hold = pts[pts.measure == "holdout (incremental)"].set_index("campaign").value
    click = pts[pts.measure == "last click"].set_index("campaign").value
    np.testing.assert_allclose(hold.loc[e.index], e.incremental_margin_per_message)
    np.testing.assert_allclose(click.loc[e.index], e.last_click_margin_per_message)
    assert rules["encoding"]["x"]["field"] == "ci_low" and rules["encoding"]["x2"]["field"] \
        == "ci_high"


@pytest.fixture(scope="module")
def costly(tmp_path_factory):
    """3.00 per email: post-purchase and browse emails cannot pay for themselves."""
    path = _held_store(tmp_path_factory.mktemp("costly"), email_cost=3.0, seed=4)
    return path, analyze_holdouts(wb.open_dataset(path), dataset=path)


def test_a_campaign_that_costs_more_than_it_earns_is_flagged_where_it_loses(costly):
    _, res = costly
    st = res.stages
    flagged = st[st.loses_money]
    assert len(flagged) >= 1
    assert (flagged.true_incremental_margin < 0).all()  # only where the truth loses
    assert "loses money on" in res.summary()
    lc = res.last_click.set_index(["campaign", "channel"])
    assert lc.loc[("post_purchase", "email"), "net_margin_per_message"] < 0


def test_the_losing_stages_are_exported(costly):
    from workbench.campaigns.config import CampaignConfig, with_recommendations

    path, res = costly
    assert res.stage_rule and all(set(v) <= {"prospect", "first-time buyer", "repeat buyer"}
                                  for v in res.stage_rule.values())
    cfg = with_recommendations(CampaignConfig(), skip_stages=res.stage_rule)
    for camp, stages in res.stage_rule.items():
        assert set(getattr(cfg.campaigns, camp).skip_stages) == set(stages)
    with pytest.raises(ValueError, match=r"unknown campaign\(s\) \['newsletter'\]"):
        with_recommendations(CampaignConfig(), skip_stages={"newsletter": ["prospect"]})
    with pytest.raises(ValueError, match="skip_stages"):  # pydantic names the field
        with_recommendations(CampaignConfig(), skip_stages={"seasonal": ["vip"]})


@pytest.mark.slow
def test_not_sending_the_losing_stages_replays_as_a_gain(costly):
    from workbench.analyses.holdouts import replay_stage_rule

    path, res = costly
    r = replay_stage_rule(path, res.stage_rule, replications=2, n_customers=2000)
    assert r["low"] > 0, r  # not sending what loses money earns margin in the simulator


def test_the_simulator_skips_a_stage_the_way_the_analysis_reads_it():
    from workbench.analyses.holdouts.efficiency import stage_of

    cfg = scenario("small", n_customers=1500, days=120).model_dump()
    cfg["campaigns"]["post_purchase"]["skip_stages"] = ["first-time buyer"]
    st = simulate(type(scenario("tiny")).model_validate(cfg), seed=2)
    m, o = st.to_pandas("messages"), st.to_pandas("orders")
    j = m[["message_id", "customer_id", "sent_at"]].merge(
        o[["customer_id", "placed_at"]], on="customer_id", how="left")
    prior = (j.placed_at < j.sent_at).groupby(j.message_id).sum()
    pp = m[m.campaign == "post_purchase"]
    assert len(pp) > 50
    assert (stage_of(pp.message_id.map(prior)) != "first-time buyer").all()
