"""Email or SMS per customer: engagement recovered, lifts from the cart test, the choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.channel import analyze_channels, channel_lift
from workbench.analyses.channel.model import (
    ChannelInputError,
    engagement_posterior,
    fit_engagement,
)
from workbench.campaigns.config import CampaignConfig, diff_configs, with_recommendations
from workbench.simulate import scenario, simulate


def _synthetic(n=6000, seed=0, q=(0.05, 0.12), s=(0.6, 0.5), rho=0.4):
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], n)
    n_e, n_s = rng.poisson(12, n), rng.poisson(8, n)
    k_e = rng.poisson(n_e * q[0] * np.exp(s[0] * z[:, 0]))
    k_s = rng.poisson(n_s * q[1] * np.exp(s[1] * z[:, 1]))
    return pd.DataFrame({"customer_id": np.arange(1, n + 1), "n_email": n_e,
                         "k_email": np.minimum(k_e, n_e), "n_sms": n_s,
                         "k_sms": np.minimum(k_s, n_s)}), z


def test_the_engagement_model_recovers_what_generated_the_clicks():
    counts, z = _synthetic()
    h = fit_engagement(counts)
    # 6,000 customers, ~70,000 emails and ~50,000 SMS: the rates within a few percent,
    # the spreads within 15%, the correlation within 0.2 (its information is thin)
    assert abs(h.s["email"] / 0.6 - 1) < 0.15 and abs(h.s["sms"] / 0.5 - 1) < 0.2
    assert abs(np.log(h.q["email"] / 0.05)) < 0.1 and abs(np.log(h.q["sms"] / 0.12)) < 0.1
    assert abs(h.rho - 0.4) < 0.2
    post = engagement_posterior(counts, h)
    true_mult = np.exp(0.6 * z[:, 0])
    inside = ((true_mult >= post.email_engagement_low)
              & (true_mult <= post.email_engagement_high))
    assert 0.74 < inside.mean() < 0.86  # 80% intervals, grid of 41 points
    # about 0.6 email clicks per customer: the estimate tracks the truth, loosely
    assert np.corrcoef(np.log(post.email_engagement), z[:, 0])[0, 1] > 0.35


def test_bad_counts_are_named():
    with pytest.raises(ChannelInputError, match="clicks exceed delivered"):
        fit_engagement(pd.DataFrame({"customer_id": [1], "n_email": [1], "k_email": [2],
                                     "n_sms": [1], "k_sms": [0]}))
    with pytest.raises(ChannelInputError, match="no delivered sms"):
        fit_engagement(pd.DataFrame({"customer_id": [1, 2], "n_email": [3, 2],
                                     "k_email": [1, 0], "n_sms": [0, 0], "k_sms": [0, 0]}))


def test_the_cart_test_values_each_channel_and_customers_get_a_reachable_one(small_dataset):
    con = wb.open_dataset(small_dataset)
    lift = channel_lift(con).set_index("channel")
    assert set(lift.index) == {"email", "sms"} and (lift.carts > 100).all()
    res = analyze_channels(con)
    sc = res.scorecard
    cust = wb.read_table(small_dataset, "customers").set_index("customer_id")
    chosen = sc.dropna(subset=["best_channel"]).set_index("customer_id")
    opted = cust.reindex(chosen.index)
    assert opted.sms_opt_in[chosen.best_channel == "sms"].all()
    assert opted.email_opt_in[chosen.best_channel == "email"].all()
    assert sc.best_channel.isna().sum() == int((~cust.email_opt_in & ~cust.sms_opt_in).sum())
    assert sc.channel_affinity.between(0, 1).all()


def test_the_simulator_sends_each_customer_their_channel():
    base = scenario("small", n_customers=1500, days=90)
    d = base.campaigns.model_dump()
    d["abandoned_cart"]["experiment_share"] = 0.0
    plain = base.model_copy(update={"campaigns": type(base.campaigns).model_validate(d)})
    d["abandoned_cart"]["channels"] = {str(c): "sms" for c in range(1, 1501)}
    own = base.model_copy(update={"campaigns": type(base.campaigns).model_validate(d)})
    a = simulate(plain, seed=3).to_pandas("messages")
    b = simulate(own, seed=3).to_pandas("messages")
    cust = simulate(own, seed=3).to_pandas("customers").set_index("customer_id")
    ca, cb = a[a.campaign == "abandoned_cart"], b[b.campaign == "abandoned_cart"]
    assert (ca.channel == "email").all()  # the default policy
    sms_ok = cust.sms_opt_in.reindex(cb.customer_id).to_numpy()
    # customers reachable by SMS get SMS; the others keep the policy's email
    assert (cb.channel[sms_ok] == "sms").mean() > 0.95
    assert (cb.channel[~sms_ok] == "email").all()


def test_the_config_says_what_changed_in_one_sentence():
    new = with_recommendations(CampaignConfig(), cart_channels={"1": "sms", "2": "email"})
    assert diff_configs(CampaignConfig(), new) == [
        "abandoned-cart reminder channel: each purchase type's channel → each customer's "
        "own for 2 customers (1 SMS, 1 email)"]


def test_the_replay_reads_per_customer_minus_the_store_wide_rule(small_dataset):
    from workbench.analyses.channel import replay_channels

    res = analyze_channels(wb.open_dataset(small_dataset))
    rep = replay_channels(small_dataset, res).set_index("against")
    assert list(rep.index) == ["email for everyone", "SMS where reachable, else email"]
    # one replication: the paired difference is exactly the difference of the totals
    gap = rep.per_customer - rep.baseline
    assert np.allclose(rep.difference, gap, rtol=1e-9, atol=1e-6)
    assert (rep.low <= rep.difference).all() and (rep.difference <= rep.high).all()
    # the per-customer choice sends SMS where it earns more: it beats email for everyone
    assert rep.loc["email for everyone", "difference"] > 0
