"""The discount experiment table: one row per randomized unit, observable segments only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.discount.features import discount_counts, discount_units, segment_units
from workbench.simulate import scenario, simulate
from workbench.store import open_dataset, save_simulation


@pytest.fixture(scope="module")
def units(small_dataset):
    return discount_units(open_dataset(small_dataset)).execute()


def test_one_row_per_assignment(units, small_store):
    a = small_store.to_pandas("assignments").query("unit_type == 'customer'")
    assert len(units) == len(a)
    assert set(units.discount) == {0.0, 0.05, 0.10, 0.15, 0.20}
    # arms are balanced by design
    counts = units.groupby("discount").size()
    assert counts.max() / counts.min() < 1.3


def test_conversion_matches_orders_in_window(units, small_store):
    o = small_store.to_pandas("orders")
    row = units[units.converted == 1].iloc[0]
    first = o[(o.customer_id == row.customer_id) & (o.placed_at > row.sent_at)
              & (o.placed_at <= row.sent_at + pd.Timedelta(days=7))].sort_values("placed_at")
    assert first.order_id.iloc[0] == row.order_id
    assert first.revenue.iloc[0] == pytest.approx(row.revenue)
    none = units[units.converted == 0].iloc[0]
    later = o[(o.customer_id == none.customer_id) & (o.placed_at > none.sent_at)
              & (o.placed_at <= none.sent_at + pd.Timedelta(days=7))]
    assert later.empty


def test_history_is_strictly_before_the_send(units, small_store):
    o = small_store.to_pandas("orders")
    r = units[units.prior_orders > 0].iloc[0]
    prior = o[(o.customer_id == r.customer_id) & (o.placed_at < r.sent_at)]
    assert len(prior) == r.prior_orders
    assert r.prior_aov == pytest.approx(prior.revenue.mean())
    assert (units.recency_days.dropna() > 0).all()


def test_segments_and_counts(units):
    seg = segment_units(units)
    assert seg.nunique() <= 8 and seg.str.count("-").eq(2).all()
    counts = discount_counts(units.assign(segment=seg))
    assert counts.n.sum() == len(units)
    assert counts.conversions.sum() == units.converted.sum()
    assert (counts.conversions <= counts.n).all()
    with pytest.raises(ValueError, match="missing columns"):
        segment_units(units.drop(columns=["prior_aov"]))


def test_deal_users_respond_more_to_discounts(tmp_path_factory):
    """Observable past discount use tracks the latent price sensitivity: the deal segment's
    conversion rises more from 0% to 20% than the full-price segment's (a year, 3 sales)."""
    from workbench.simulate import scenario, simulate
    from workbench.store import save_simulation

    store = simulate(scenario("default", n_customers=15_000), seed=31)
    path = save_simulation(store, tmp_path_factory.mktemp("disc") / "ds")
    u = discount_units(open_dataset(path)).execute()
    deal = np.where(u.prior_discounted_orders > 0, "deal", "full")
    r = u.assign(seg=deal).groupby(["seg", "discount"]).converted.mean().unstack()
    assert (r[0.2] - r[0.0])["deal"] > (r[0.2] - r[0.0])["full"]


def test_discount_truth_matches_observed_conversion(small_dataset):
    """At the level each customer was shown, the true purchase probability averages to the
    observed conversion rate per level, within 4 SE (orders caused by other campaigns or
    placed organically in the window are part of the truth, so no slack is needed; without
    them the truth ran ~1.3 points low for recent customers at 100k, z-scores averaging 2.4)."""
    from workbench.simulate.truth import discount_conversion_truth

    u = discount_units(open_dataset(small_dataset)).execute()
    t = discount_conversion_truth(small_dataset, u)
    t["p_assigned"] = [row[f"p_buy_{round(100 * d):d}"] for d, (_, row)
                       in zip(t.discount, t.iterrows(), strict=True)]
    for d, g in t.groupby("discount"):
        obs, exp = g.converted.mean(), g.p_assigned.mean()
        se = np.sqrt((g.p_assigned * (1 - g.p_assigned)).sum()) / len(g)
        assert abs(obs - exp) < 4 * se, (d, obs, exp)
    # the true curve rises with the discount on average
    means = [t[f"p_buy_{p}"].mean() for p in (0, 5, 10, 15, 20)]
    assert means[-1] > means[0]


def test_segment_features_from_labels():
    from workbench.analyses.discount.features import segment_features

    f = segment_features(["deal-hi-recent", "full-lo-lapsed", "deal-hi-recent"])
    assert list(f.index) == ["deal-hi-recent", "full-lo-lapsed"]
    assert f.loc["deal-hi-recent"].tolist() == [1, 1, 1]
    assert f.loc["full-lo-lapsed"].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="segment_units"):
        segment_features(["weird"])
    # a channel dimension becomes one 0/1 column per channel after the first
    f = segment_features(["deal-email", "full-paid_search", "deal-paid_search"])
    assert list(f.columns) == ["deal", "channel_paid_search"]
    assert f.loc["full-paid_search"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="some labels carry a channel"):
        segment_features(["deal-hi", "full-lo-email"])


def test_segment_definition_is_a_parameter(units):
    by_channel = segment_units(units, by=("deal", "channel"))
    chan = units.acquisition_channel.astype(str).str.replace("-", "_")
    deal = np.where(units.prior_discounted_orders > 0, "deal", "full")
    assert (by_channel == pd.Series(deal, index=units.index) + "-" + chan).all()
    # a recency split of 0 days makes everyone lapsed
    assert segment_units(units, recency_split_days=-1).str.endswith("lapsed").all()
    with pytest.raises(ValueError, match="subset of"):
        segment_units(units, by=("deal", "weather"))


def test_segment_economics(units):
    from workbench.analyses.discount.features import segment_economics

    u = units.assign(segment=segment_units(units))
    e = segment_economics(u).set_index("segment")
    conv = u[u.converted == 1]
    seg = conv.segment.iloc[0]
    c = conv[conv.segment == seg]
    assert e.loc[seg, "order_value"] == pytest.approx((c.revenue + c.discount_amount).mean())
    assert (e.order_value > e.goods_cost).all()
    with pytest.raises(ValueError, match="no converting order"):
        segment_economics(u.assign(converted=0))


def test_offer_redemption_exact_on_a_hand_made_experiment():
    from workbench.analyses.discount.features import offer_redemption

    # 0%: 100 of 1,000 buy.  10%: 150 of 1,000 buy, 50 of them without the discount.
    # Expected anyway-buyers in the 10% arm: 100, of whom 50 did not redeem -> 0.5.
    def arm(d, n, buy, redeemed):
        return pd.DataFrame({"segment": "a", "discount": d, "converted": [1] * buy + [0] * (
            n - buy), "discount_amount": [5.0] * redeemed + [0.0] * (n - redeemed)})

    u = pd.concat([arm(0.0, 1000, 100, 0), arm(0.10, 1000, 150, 100)])
    assert offer_redemption(u) == pytest.approx(0.5)
    assert offer_redemption(u[u.discount > 0]) == 1.0  # nothing to compare with
    with pytest.raises(ValueError, match=r"missing columns \['discount_amount'\]"):
        offer_redemption(u.drop(columns="discount_amount"))
    with pytest.raises(ValueError, match=r"'discount' must be a fraction.*rows \[0\]"):
        offer_redemption(u.reset_index(drop=True).assign(
            discount=lambda d: d.discount.where(d.index != 0, 10.0)))


def test_fit_discounts_names_a_missing_column(units):
    from workbench.analyses.discount.model import fit_discounts

    with pytest.raises(ValueError, match=r"discount units: missing columns \['prior_aov'\]"):
        fit_discounts(units.drop(columns="prior_aov"), draws=10, tune=10)


@pytest.fixture(scope="module")
def season_units(tmp_path_factory):
    """Discount units of two sale events on 20,000 customers: at the calibrated response
    (about 0.3% of sale emails lead to an order) the small store has too few buyers."""
    st = simulate(scenario("small", n_customers=20_000, days=200), seed=11)
    path = save_simulation(st, tmp_path_factory.mktemp("season") / "s")
    return discount_units(open_dataset(path)).execute()


def test_offer_redemption_model_holds_on_the_simulated_store(season_units):
    """The estimator's premise, checked per offered level on simulated data.

    Buyers an offer causes pay its discount, so the conversions *without* a discount
    in an offered arm are the would-buy-anyway customers who did not redeem: their
    rate must be the same at every level, ``(1 − ρ) P(buy | 0)``.  (The simulator
    redeems a code only when its message was seen before the order: with campaign
    emails opened by about one recipient in ten, about a tenth of them do.)
    """
    from workbench.analyses.discount.features import offer_redemption

    units = season_units
    rho = offer_redemption(units.assign(segment=segment_units(units)))
    assert 0.03 < rho < 0.9  # neither "nobody sees the code" nor "everyone pays it"
    p0 = units[units.discount == 0].converted.mean()
    n0 = int((units.discount == 0).sum())
    for d, g in units[units.discount > 0].groupby("discount"):
        nr = ((g.converted == 1) & (g.discount_amount <= 0)).mean()
        expect = (1 - rho) * p0
        se = np.sqrt(nr * (1 - nr) / len(g) + (1 - rho) ** 2 * p0 * (1 - p0) / n0)
        assert abs(nr - expect) < 4 * se, (d, nr, expect, se)
        # and the redeemers are at least the buyers the offer caused
        assert ((g.converted == 1) & (g.discount_amount > 0)).mean() >= \
            g.converted.mean() - p0 - 4 * se
