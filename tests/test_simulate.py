"""The simulator honours its own parameters, its invariants and its seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy import special, stats

from workbench.simulate import SimulationConfig, scenario, simulate
from workbench.simulate.config import CartArm
from workbench.store import validate


def _frames(store):
    return {n: store.to_pandas(n) for n in store.tables}


def trailing_count(cust, ts, window, inclusive=False):
    """For each row: rows of the same customer in [ts - window, ts) (or ts], by sorting."""
    t = pd.Series(ts).reset_index(drop=True).dt.as_unit("ns").astype("int64").to_numpy()
    order = np.lexsort((t, cust))
    c, tt = cust[order], t[order]
    key = c.astype(float) * 1e20 + tt  # customer blocks never overlap
    side = "right" if inclusive else "left"
    hi = np.searchsorted(key, key, side=side) if inclusive else np.arange(len(key))
    lo = np.searchsorted(key, c.astype(float) * 1e20 + tt - window.value, side="left")
    out = np.empty(len(key), dtype=np.int64)
    out[order] = hi - lo
    return out


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_tables():
    cfg = scenario("tiny")
    a, b = simulate(cfg, seed=42), simulate(cfg, seed=42)
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
    for name in a.truth:
        assert a.truth[name].equals(b.truth[name]), name


def test_different_seed_different_tables():
    cfg = scenario("tiny")
    a, b = simulate(cfg, seed=1), simulate(cfg, seed=2)
    assert not a.tables["orders"].equals(b.tables["orders"])


def test_config_hash_tracks_config():
    assert scenario("tiny").config_hash() == scenario("tiny").config_hash()
    assert scenario("tiny").config_hash() != scenario("tiny", days=61).config_hash()


def test_campaigns_do_not_change_the_organic_world():
    """Common random numbers: customers and their traits do not depend on campaigns."""
    cfg = scenario("small")
    on, off = simulate(cfg, seed=9), simulate(cfg.with_campaigns_off(), seed=9)
    assert on.tables["customers"].equals(off.tables["customers"])
    assert on.tables["products"].equals(off.tables["products"])
    assert on.truth["customers"].drop_columns(["n_repeat_organic_orders"]).equals(
        off.truth["customers"].drop_columns(["n_repeat_organic_orders"]))
    assert off.tables["messages"].num_rows == 0
    assert off.to_pandas("truth/orders")["origin"].ne("caused").all()


# ----------------------------------------------------------------------------- invariants
# derandomized: CI sees the same examples every run (a failure is reproducible, never flaky)
@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 400), days=st.integers(10, 120))
@example(seed=2754483511, n=312, days=103)  # found by fuzzing: two sends, one unsubscribe, one day
def test_simulated_data_always_valid(seed, n, days):
    store = simulate(SimulationConfig(n_customers=n, days=days), seed=seed)
    report = validate(store.tables)
    assert report.ok, report.summary()
    t = _frames(store)
    horizon = pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=days)
    for name, col in [("sessions", "started_at"), ("orders", "placed_at"), ("events", "ts"),
                      ("messages", "sent_at"), ("returns", "returned_at")]:
        assert (t[name][col] < horizon).all(), name
    # every message goes to a customer who opted in to that channel
    m = t["messages"].merge(t["customers"], on="customer_id")
    opted = np.where(m["channel"] == "email", m["email_opt_in"], m["sms_opt_in"])
    assert opted.all()
    # holdout carts get no abandoned-cart message
    a = t["assignments"]
    hold = a[(a.unit_type == "cart") & (a.arm == "holdout")]
    ac = t["messages"][t["messages"].campaign == "abandoned_cart"]
    assert not set(hold.unit_id) & set(ac.trigger_id.dropna().astype(int))
    # no message after the recipient unsubscribed from that channel
    un = t["messages"].dropna(subset=["unsubscribed_at"]).groupby(["customer_id", "channel"])[
        "unsubscribed_at"].min().rename("first_unsub")
    late = t["messages"].join(un, on=["customer_id", "channel"])
    assert not (late["sent_at"] > late["first_unsub"]).any()


def test_truth_is_consistent_with_tables(small_store):
    t = _frames(small_store)
    tm = small_store.to_pandas("truth/messages")
    to = small_store.to_pandas("truth/orders")
    caused = tm[tm.caused_conversion]
    assert caused.caused_order_id.notna().all()
    orders = t["orders"].set_index("order_id")
    assert (to.set_index("order_id").loc[caused.caused_order_id.astype(int), "origin"]
            == "caused").all()
    # a message that caused an order is not also one whose customer would have bought anyway
    assert not (tm.caused_conversion & tm.would_buy_anyway).any()
    # caused orders come after their message
    sent = t["messages"].set_index("message_id").loc[caused.message_id, "sent_at"].to_numpy()
    placed = orders.loc[caused.caused_order_id.astype(int), "placed_at"].to_numpy()
    assert (placed >= sent).all()
    # incremental revenue of causing messages is that order's revenue
    rev = orders.loc[caused.caused_order_id.astype(int), "revenue"].to_numpy()
    np.testing.assert_allclose(caused.incremental_revenue + caused.subsidy, rev, atol=0.02)


def test_machine_opens_only_for_privacy_protected_email(small_store):
    tm = small_store.to_pandas("truth/messages")
    m = small_store.to_pandas("messages")
    tc = small_store.to_pandas("truth/customers")
    j = m.merge(tm, on="message_id").merge(tc[["customer_id", "apple_mpp"]], on="customer_id")
    assert not (j.machine_open & ~j.apple_mpp).any()
    assert not (j.machine_open & (j.channel == "sms")).any()
    # every delivered email to a protected inbox is recorded as opened
    prot = j[(j.channel == "email") & j.apple_mpp & j.delivered]
    assert prot.opened_at.notna().all()


# ----------------------------------------------------------------------------- parameters
def bgnbd_expected_repeat(t, r, alpha, a, b):
    """E[X(t)] under BG/NBD: Fader, Hardie & Lee (2005), Marketing Science 24(2), eq. 9."""
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (
        1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, z))


@pytest.fixture(scope="module")
def organic_store():
    return simulate(scenario("no_campaigns", n_customers=20_000), seed=2024)


def _orders_and_age(store, days=365):
    """Customers, orders per customer and each customer's age T in days at the end."""
    t = _frames(store)
    horizon = pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=days)
    c = t["customers"].set_index("customer_id")
    n = t["orders"].groupby("customer_id").size().reindex(c.index, fill_value=0)
    T = (horizon - c["signup_at"]).dt.total_seconds() / 86400
    return c, n, T


def test_repeat_purchases_match_bgnbd(organic_store):
    """Mean repeat purchases per acquisition channel match E[X(T)] within 4 standard errors."""
    P = organic_store.truth_params["bgnbd_by_acquisition_channel"]
    c, n, T = _orders_and_age(organic_store)
    x = n - 1  # the first order is the acquisition
    for ch, p in P.items():
        sel = c["acquisition_channel"] == ch
        expected = bgnbd_expected_repeat(T[sel].to_numpy(), p["r"], p["alpha_days"], p["a"],
                                         p["b"]).mean()
        observed = x[sel].mean()
        se = x[sel].std(ddof=1) / np.sqrt(sel.sum())
        assert abs(observed - expected) < 4 * se, (ch, observed, expected, se)


def test_zero_repeat_share_matches_bgnbd(organic_store):
    """P(X(T)=0) = ((alpha/(alpha+T))^r): BG/NBD eq. 8 with x = 0 (no dropout before a repeat)."""
    P = organic_store.truth_params["bgnbd_by_acquisition_channel"]
    c, n, T = _orders_and_age(organic_store)
    T = T.to_numpy()
    for ch, p in P.items():
        sel = (c["acquisition_channel"] == ch).to_numpy()
        p0 = ((p["alpha_days"] / (p["alpha_days"] + T[sel])) ** p["r"]).mean()
        obs = (n.to_numpy()[sel] == 1).mean()
        se = np.sqrt(p0 * (1 - p0) / sel.sum())
        assert abs(obs - p0) < 4 * se, (ch, obs, p0)


def test_order_values_track_gamma_gamma(organic_store):
    """Mean order value per channel vs p*gamma/(q-1) (Fader, Hardie & Lee 2005, JMR, eq. 4).

    Baskets are built from catalog prices, so a line's value is the target
    rounded to whole units of a real product; the tolerance (6%) covers that
    price-step rounding, measured at 1-3% on 20k-customer stores.
    """
    t = _frames(organic_store)
    P = organic_store.truth_params["gamma_gamma_by_acquisition_channel"]
    o = t["orders"].merge(t["customers"][["customer_id", "acquisition_channel"]])
    gross = o.revenue + o.discount_amount
    for ch, p in P.items():
        expected = p["p"] * p["gamma"] / (p["q"] - 1)
        observed = gross[o.acquisition_channel == ch].mean()
        assert abs(observed / expected - 1) < 0.06, (ch, observed, expected)
    means = gross.groupby(o.acquisition_channel).mean()
    assert means["discount_promo"] < means.drop("discount_promo").min()


def test_cart_experiment_is_balanced(small_store):
    a = small_store.to_pandas("assignments")
    carts = a[a.unit_type == "cart"]
    counts = carts.arm.value_counts()
    arms = small_store.config.campaigns.abandoned_cart.arms
    assert set(counts.index) == {arm.name for arm in arms}
    w = np.array([arm.weight for arm in arms])
    expected = w / w.sum() * counts.sum()
    chi2 = stats.chisquare(counts.reindex([arm.name for arm in arms]).to_numpy(), expected)
    assert chi2.pvalue > 0.001  # no sample-ratio mismatch


def test_unequal_arm_weights_are_honoured():
    arms = [CartArm(name="holdout", channel=None, weight=3.0),
            CartArm(name="email_4h", channel="email", delay_hours=4.0, weight=1.0)]
    cfg = scenario("small")
    data = cfg.model_dump()
    data["campaigns"]["abandoned_cart"]["arms"] = [a.model_dump() for a in arms]
    store = simulate(SimulationConfig.model_validate(data), seed=3)
    carts = store.to_pandas("assignments").query("unit_type == 'cart'")
    share = (carts.arm == "holdout").mean()
    se = np.sqrt(0.75 * 0.25 / len(carts))
    assert abs(share - 0.75) < 4 * se


def test_seasonal_discount_experiment_is_balanced(small_store):
    a = small_store.to_pandas("assignments").query("unit_type == 'customer'")
    assert len(a)
    for _, g in a.groupby("experiment"):
        counts = g.arm.value_counts()
        assert stats.chisquare(counts.to_numpy()).pvalue > 0.001


def test_holdout_recovers_only_naturally(small_store):
    """With no message, a cart is bought only by its customer's natural return."""
    tc = small_store.to_pandas("truth/carts")
    a = small_store.to_pandas("assignments").query("unit_type == 'cart'")
    j = tc.merge(a, left_on="cart_session_id", right_on="unit_id")
    hold = j[j.arm == "holdout"]
    assert set(hold.outcome) <= {"lost", "natural_return"}
    assert hold.message_id.isna().all()


def test_natural_return_delay_has_configured_median():
    cfg = scenario("no_campaigns", n_customers=6000)
    store = simulate(cfg, seed=8)
    tc = store.to_pandas("truth/carts")
    nat = tc[tc.would_return_naturally]
    hours = (nat.natural_return_at - nat.abandoned_at).dt.total_seconds() / 3600
    for typ, med in cfg.carts.natural_return_median_hours.items():
        h = hours[nat.purchase_type == typ]
        # the median of a log-normal sample: its log has sd sigma / sqrt(n) * sqrt(pi/2)
        se = cfg.carts.natural_return_log_sd * np.sqrt(np.pi / 2 / len(h))
        # carts returning after the window are censored, which only lowers the median
        assert abs(np.log(h.median()) - np.log(med)) < 4 * se + 0.02, (typ, h.median(), med)


def test_unsubscribes_rise_with_message_frequency():
    cfg = scenario("small")
    data = cfg.model_dump()
    data["campaigns"]["caps"] = {"email_per_week": 50, "sms_per_week": 50}
    data["engagement"]["unsubscribe_base"] = {"email": 0.02, "sms": 0.02}
    data["engagement"]["unsubscribe_per_recent_message"] = {"email": 1.0, "sms": 1.0}
    store = simulate(SimulationConfig.model_validate(data), seed=4)
    m = store.to_pandas("messages").query("delivered and channel == 'email'").sort_values(
        "sent_at")
    m["prior"] = trailing_count(m.customer_id.to_numpy(), m.sent_at, pd.Timedelta(days=7))
    lo, hi = m[m.prior == 0].unsubscribed_at.notna(), m[m.prior >= 2].unsubscribed_at.notna()
    # configured: 2% after a quiet week, at least 6% after two or more messages
    pooled = (lo.sum() + hi.sum()) / (len(lo) + len(hi))
    z = (hi.mean() - lo.mean()) / np.sqrt(pooled * (1 - pooled) * (1 / len(lo) + 1 / len(hi)))
    assert z > 3, (lo.mean(), hi.mean(), z)
    assert abs(lo.mean() - 0.02) < 4 * np.sqrt(0.02 * 0.98 / len(lo))


def test_frequency_caps_are_respected(small_store):
    m = small_store.to_pandas("messages")
    caps = small_store.config.campaigns.caps
    day = m.sent_at.dt.floor("D")
    for ch, cap in (("email", caps.email_per_week), ("sms", caps.sms_per_week)):
        g = m.channel == ch
        # messages on this channel in the trailing 7 calendar days, this one included
        n = trailing_count(m.customer_id[g].to_numpy(), day[g], pd.Timedelta(days=6),
                           inclusive=True)
        assert n.max() <= cap, (ch, n.max(), cap)


def test_discount_truth_is_monotone_in_discount(small_store):
    d = small_store.to_pandas("truth/discount_response")
    for _, g in d[d.discount_pct > 0].groupby(["price_segment", "channel"]):
        assert g.sort_values("discount_pct").p_persuade.is_monotonic_increasing
    ds = d[(d.discount_pct == 20) & (d.channel == "email")].set_index("price_segment")
    assert ds.p_persuade["deal_seeker"] > ds.p_persuade["insensitive"]


def test_delay_truth_marks_one_best_per_type(small_store):
    d = small_store.to_pandas("truth/delay_response")
    best = d[d.is_best_for_type]
    assert sorted(best.purchase_type) == sorted(["consumable", "considered", "impulse"])
    for _, row in best.iterrows():
        same = d[d.purchase_type == row.purchase_type]
        assert row.incremental_margin_per_cart == same.incremental_margin_per_cart.max()


# ----------------------------------------------------------------------------- truth tables
@pytest.fixture(scope="module")
def uncapped_store():
    """A year of the default store with caps too high to bind, so effects are not diluted."""
    data = scenario("default").model_dump()
    data["campaigns"]["caps"] = {"email_per_week": 100, "sms_per_week": 100}
    return simulate(SimulationConfig.model_validate(data), seed=5)


def test_cart_experiment_recovers_the_delay_truth(uncapped_store):
    """Per arm and purchase type, the experiment's caused-recovery rate (intention to treat)
    agrees with truth/delay_response's expected incremental conversion within 4 SE."""
    s = uncapped_store
    tc = s.to_pandas("truth/carts")
    a = s.to_pandas("assignments").query("unit_type == 'cart'")
    j = tc.merge(a[["unit_id", "arm"]], left_on="cart_session_id", right_on="unit_id")
    j["caused"] = j.outcome == "caused_by_message"
    emp = j.groupby(["purchase_type", "arm"]).caused.agg(["mean", "size"]).reset_index()
    assert (emp[emp.arm == "holdout"]["mean"] == 0).all()  # no message, no caused recovery
    d = s.to_pandas("truth/delay_response")
    d["arm"] = d.channel + "_" + d.delay_hours.map("{:g}h".format)
    m = emp.merge(d, on=["purchase_type", "arm"])
    assert len(m) == 18
    p = m.incremental_conversion_rate
    z = (m["mean"] - p) / np.sqrt(p * (1 - p) / m["size"])
    assert (z.abs() < 4).all(), m.assign(z=z)


def test_seasonal_persuasion_matches_discount_truth(uncapped_store):
    """Persuasion among delivered seasonal messages to live customers, by segment, channel
    and discount, matches truth/discount_response within 4 SE (binomial)."""
    s = uncapped_store
    x = s.to_pandas("messages").merge(s.to_pandas("truth/messages"), on="message_id")
    x = x[(x.campaign == "seasonal") & x.delivered & (x.p_persuade > 0)]
    x = x.merge(s.to_pandas("truth/customers")[["customer_id", "price_segment"]])
    g = (x.groupby(["price_segment", "channel", "discount_pct"]).persuaded
         .agg(["mean", "size"]).reset_index())
    dr = s.to_pandas("truth/discount_response")
    g = g.merge(dr, on=["price_segment", "channel", "discount_pct"])
    assert len(g) >= 20
    z = (g["mean"] - g.p_persuade) / np.sqrt(g.p_persuade * (1 - g.p_persuade) / g["size"])
    assert (z.abs() < 4).all(), g.assign(z=z)


def test_opens_peak_at_the_preferred_send_hour(uncapped_store):
    s = uncapped_store
    x = (s.to_pandas("messages").merge(s.to_pandas("truth/messages"), on="message_id")
         .merge(s.to_pandas("truth/customers")[["customer_id", "preferred_send_hour",
                                                "email_responsiveness"]]))
    x = x[(x.channel == "email") & x.delivered & ~x.machine_open]
    hour = x.sent_at.dt.hour + x.sent_at.dt.minute / 60
    dist = np.abs(hour - x.preferred_send_hour) % 24
    dist = np.minimum(dist, 24 - dist)
    opened = x.opened_at.notna()
    near, far = opened[dist < 2], opened[dist > 8]
    assert near.mean() > far.mean() + 4 * np.sqrt(near.var() / len(near) + far.var() / len(far))
    # and responsive customers open more
    hi = opened[x.email_responsiveness > 0.5]
    lo = opened[x.email_responsiveness < -0.5]
    assert hi.mean() > lo.mean()


def test_wb_simulate_stays_callable_after_a_submodule_import():
    """Importing workbench.simulate.truth binds the package to ``workbench.simulate``; the
    package forwards calls so ``wb.simulate(...)`` keeps working in notebooks."""
    import workbench as wb
    import workbench.simulate.truth  # noqa: F401

    assert type(wb.simulate(wb.scenario("tiny", n_customers=50), seed=1)).__name__ == \
        "SimulatedStore"


def test_campaign_holdout_never_messages_its_customers():
    """holdout_share: a fixed share of customers never gets that campaign's messages; the
    share held out among the would-be recipients is within 4 binomial SE of the setting."""
    import numpy as np

    from workbench.simulate.config import SimulationConfig

    cfg = scenario("small")
    base = simulate(cfg, seed=3).to_pandas("messages")
    d = cfg.model_dump()
    d["campaigns"]["post_purchase"]["holdout_share"] = 0.5
    held = simulate(SimulationConfig.model_validate(d), seed=3).to_pandas("messages")
    would = set(base[base.campaign == "post_purchase"].customer_id)
    got = set(held[held.campaign == "post_purchase"].customer_id)
    assert got <= would | set(held.customer_id)  # nobody new is messaged
    share_out = 1 - len(got & would) / len(would)
    assert abs(share_out - 0.5) < 4 * np.sqrt(0.25 / len(would)), share_out
    # other campaigns keep their customers (only caps freed by fewer messages differ)
    b = base[base.campaign == "seasonal"].customer_id.nunique()
    assert held[held.campaign == "seasonal"].customer_id.nunique() == pytest.approx(b, rel=0.02)


@pytest.mark.parametrize("share", [0.0, 0.4])
def test_first_visits_abandon_their_carts_at_the_configured_share(share):
    """``carts.abandon_first_purchase``: that share of new customers leave their first cart
    (5 minutes after their signup session starts) — within 4 binomial SE; a reminder that
    brings such a cart back is the customer's first order, and it carries the reminder."""
    cfg = scenario("small", n_customers=4000, carts={"abandon_first_purchase": share})
    store = simulate(cfg, seed=9)
    cu, tc = store.to_pandas("customers"), store.to_pandas("truth/carts")
    signup = tc.customer_id.map(cu.set_index("customer_id").signup_at)
    first = tc[(tc.abandoned_at - signup) <= pd.Timedelta(minutes=6)]
    got = first.customer_id.nunique() / len(cu)
    # a browse cart may fall within the first minutes by chance: a little on top
    assert abs(got - share) < 4 * np.sqrt(max(share * (1 - share), 1e-4) / len(cu)) + 0.005
    o, m = store.to_pandas("orders"), store.to_pandas("messages")
    fo = o.sort_values("placed_at").drop_duplicates("customer_id")
    won = fo[fo.message_id.notna()].merge(m[["message_id", "campaign"]], on="message_id")
    if share == 0:
        assert won.empty  # every first order is the acquisition visit's, unprompted
    else:
        reminded = won[won.campaign == "abandoned_cart"]
        # mostly the first visit's cart (a prospect's later cart may also be reminded)
        assert len(reminded) > 0 and reminded.customer_id.isin(first.customer_id).mean() > 0.8
