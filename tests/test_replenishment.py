"""Replenishment timing: the renewal model recovered, dates against the truth, the config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import workbench as wb
from workbench.analyses.replenishment import analyze_replenishment, reorder_intervals
from workbench.analyses.replenishment.model import (
    RenewalHyper,
    ReplenishmentInputError,
    fit_renewal,
    renewal_posterior,
)
from workbench.campaigns.config import CampaignConfig, diff_configs, with_recommendations
from workbench.simulate import scenario, simulate

TRUE = RenewalHyper(mu=0.1, tau=0.25, sigma=0.15, pi=0.6, eps=0.1, mu_e=-0.8, s_e=1.0)


def _synthetic(n=3000, h=TRUE, horizon=3.0, seed=0):
    """Chains of re-orders on the catalog's scale (catalog days 1): the model's own story.

    Each customer's first order at a uniform time in [0, horizon); each order is
    re-ordered with probability pi after exp(theta + sigma z) (or, share eps, after
    exp(N(mu_e, s_e))); the chain is censored at the horizon.
    """
    rng = np.random.default_rng(seed)
    theta = rng.normal(h.mu, h.tau, n)
    rows = []
    for c in range(n):
        t = rng.uniform(0, horizon)
        while True:
            odd = rng.random() < h.eps
            gap = np.exp(rng.normal(h.mu_e, h.s_e) if odd else theta[c] + h.sigma *
                         rng.standard_normal())
            again = rng.random() < h.pi and t + gap < horizon
            rows.append((str(c), t, gap if again else horizon - t, again))
            if not again:
                break
            t += gap
    d = pd.DataFrame(rows, columns=["customer_id", "t", "gap_days", "reordered"])
    d["catalog_days"] = 1.0
    d["gap_days"] = d.gap_days.clip(lower=1e-3)
    return d.sort_values(["customer_id", "t"], kind="stable").reset_index(drop=True), theta


@pytest.fixture(scope="module")
def synthetic():
    d, theta = _synthetic()
    return d, theta, fit_renewal(d)


def test_the_renewal_model_recovers_what_generated_the_intervals(synthetic):
    d, _, h = synthetic
    n_obs = int(d.reordered.sum())
    # standard errors of the order of a normal's: sd / sqrt(2 n) for sigma, and for tau
    # the customers' spread, sd / sqrt(2 n_customers) inflated by the noise it is seen
    # through; 4 of them, or 0.05 for a probability (binomial sd at n > 1,000 is < 0.015)
    assert abs(h.sigma - TRUE.sigma) < 4 * TRUE.sigma / np.sqrt(2 * n_obs) + 0.01
    assert abs(h.tau - TRUE.tau) < 4 * TRUE.tau / np.sqrt(2 * 1500) * 2
    assert abs(h.mu - TRUE.mu) < 4 * TRUE.tau / np.sqrt(1500)
    assert abs(h.pi - TRUE.pi) < 0.05
    assert abs(h.eps - TRUE.eps) < 0.05


def test_the_posterior_intervals_hold_the_truth_at_their_level(synthetic):
    d, theta, h = synthetic
    post = renewal_posterior(d, h)
    true = theta[post.customers.astype(int)]
    lo, hi = post.quantile(0.1), post.quantile(0.9)
    cover = ((lo <= true) & (true <= hi)).mean()
    se = np.sqrt(0.8 * 0.2 / true.size)
    assert abs(cover - 0.8) < 4 * se + 0.02  # the grid's step (0.025) on top


def test_a_supply_that_outlasted_the_catalog_moves_the_customer_slower(synthetic):
    _, _, h = synthetic
    d = pd.DataFrame({"customer_id": ["a_fresh", "b_past", "c_long_gone"],
                      "gap_days": [0.1, 1.4, 5.0], "catalog_days": 1.0,
                      "reordered": False})
    post = renewal_posterior(d, h)
    fresh, past, gone = post.mean()
    assert abs(fresh - h.mu) < 0.02  # no evidence yet: the store's pace
    # no re-order 1.4 supplies on: likelier a slow user than one who went elsewhere
    assert past > h.mu + 0.03
    # five supplies on, a slow pace cannot explain it: they buy elsewhere (the cure
    # fraction), which says nothing of their pace
    assert abs(gone - h.mu) < 0.02


def test_too_few_reorders_are_refused_with_what_is_needed():
    d = pd.DataFrame({"customer_id": ["1", "2"], "gap_days": [30.0, 10.0],
                      "catalog_days": [30.0, 30.0], "reordered": [True, False]})
    with pytest.raises(ReplenishmentInputError, match="at least 10"):
        fit_renewal(d)


# --------------------------------------------------------------------------- simulated
@pytest.fixture(scope="module")
def consumables(tmp_path_factory):
    store = simulate(scenario("consumables", n_customers=5000, days=365), seed=11)
    return wb.save_simulation(store, tmp_path_factory.mktemp("cons") / "store",
                              scenario="consumables")


@pytest.fixture(scope="module")
def result(consumables):
    truth = wb.read_table(consumables, "truth/customers")
    return analyze_replenishment(wb.open_dataset(consumables), truth=truth)


def test_customers_paces_are_recovered_and_dates_beat_the_catalog_rule(result):
    h = result.hyper
    # the simulator: use rates log-normal with sd 0.2 around the catalog, one supply 0.15
    assert abs(h.tau - 0.2) < 0.05 and abs(h.sigma - 0.15) < 0.03 and abs(h.mu) < 0.05
    b = result.bands.set_index("reorders_seen")
    for band in ("1", "2-3"):
        assert b.loc[band, "mae_days"] < 0.85 * b.loc[band, "catalog_mae_days"], band
        assert b.loc[band, "closer_share"] > 0.55
    # no re-order seen: the store's pace, as good as the catalog's (it is ~1 here)
    assert b.loc["0", "mae_days"] < 1.05 * b.loc["0", "catalog_mae_days"]
    n = b.loc["all", "customers"]
    assert abs(b.loc["all", "coverage_80"] - 0.8) < 4 * np.sqrt(0.16 / n) + 0.02


def test_open_purchases_have_ordered_dates_and_probabilities(result):
    p = result.purchases
    assert (p.next_replenishment_at_low <= p.next_replenishment_at).all()
    assert (p.next_replenishment_at <= p.next_replenishment_at_high).all()
    assert p.p_overdue.between(0, 1).all()
    assert (p.reminder_at > p.last_ordered_at).all()
    assert (p.reminder_at >= p.last_ordered_at.max()).all()  # never in the past
    # the longer since the order against its supply, the likelier it ran out unre-ordered
    age = (p.last_ordered_at.max() - p.last_ordered_at).dt.days / p.catalog_days
    assert p.p_overdue[age > 3].mean() > 0.9 > 0.1 > p.p_overdue[age < 0.3].mean()
    # one row per customer and consumable
    assert not p.duplicated(["customer_id", "product_id"]).any()


def test_the_estimate_times_reminders_closer_to_the_need(consumables, result):
    """The persuasion the simulator gives each replenishment reminder (its truth) is
    higher with the estimated paces than with the catalog rule, reminder by reminder."""
    def p_persuade(m, tm):
        m = m.merge(tm, on="message_id")
        return m[m.campaign == "replenishment"].p_persuade.mean()

    # the catalog rule is the store as simulated; the same store with the paces
    catalog = p_persuade(wb.read_table(consumables, "messages"),
                         wb.read_table(consumables, "truth/messages"))
    base = scenario("consumables", n_customers=5000, days=365)
    d = base.campaigns.model_dump()
    d["replenishment"]["cycle_multipliers"] = result.cycle_multipliers
    st = simulate(base.model_copy(update={"campaigns": type(base.campaigns).model_validate(d)}),
                  seed=11)
    own = p_persuade(st.to_pandas("messages"), st.to_pandas("truth/messages"))
    assert own > catalog * 1.03


def test_the_simulator_times_reminders_by_each_customers_multiplier():
    base = scenario("consumables", n_customers=1500, days=240)
    d = base.campaigns.model_dump()
    d["replenishment"]["cycle_multipliers"] = {str(c): 1.5 for c in range(1, 1501)}
    slow = base.model_copy(update={"campaigns": type(base.campaigns).model_validate(d)})

    def delays(cfg):
        st = simulate(cfg, seed=4)
        m, o = st.to_pandas("messages"), st.to_pandas("orders").set_index("order_id")
        r = m[m.campaign == "replenishment"]
        placed = o.placed_at.set_axis(o.index.astype(str)).reindex(r.trigger_id.astype(str))
        return ((r.sent_at.to_numpy() - placed.to_numpy()) / np.timedelta64(1, "D")).tolist()

    lead = base.campaigns.replenishment.lead_days
    # reminders after supply x quantity - lead: x 1.5 moves them 1.5 times as far; the
    # later ones fall past the horizon more often, so compare the shortest (the 10th
    # percentile) and the same share of reminders
    a, b = np.sort(delays(base)), np.sort(delays(slow))
    assert 1.4 < (np.quantile(b, 0.1) + lead) / (np.quantile(a, 0.1) + lead) < 1.6


def test_multipliers_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        CampaignConfig.model_validate({"campaigns": {"replenishment": {
            "cycle_multipliers": {"7": -1.0}}}})


def test_the_config_says_what_changed_in_one_sentence():
    new = with_recommendations(CampaignConfig(), replenishment_timing={
        str(i): m for i, m in enumerate(np.linspace(0.5, 1.5, 11))})
    (line,) = diff_configs(CampaignConfig(), new)
    assert line.startswith("replenishment reminders: the catalog's supply for everyone → "
                           "each customer's own pace for 11 customers (x0.60 to x1.40")


def test_an_import_without_supply_days_infers_them_or_says_what_to_add(tmp_path):
    from workbench.analyses.replenishment.features import MIN_INTERVALS

    rows, items = [], []
    rng = np.random.default_rng(0)
    for c in range(60):  # product P re-bought every ~30 days per unit; Q once
        t = pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=float(rng.uniform(0, 20)))
        for k in range(4):
            oid = f"{c}-{k}"
            rows.append((oid, str(c), t))
            items.append((oid, "P", 2))
            t += pd.Timedelta(days=60 * float(np.exp(0.1 * rng.standard_normal())))
        rows.append((f"{c}-q", str(c), t))
        items.append((f"{c}-q", "Q", 1))
    orders = pd.DataFrame(rows, columns=["order_id", "customer_id", "placed_at"])
    orders["placed_at"] = orders.placed_at.dt.floor("s")
    order_items = pd.DataFrame(items, columns=["order_id", "product_id", "quantity"])
    products = pd.DataFrame({"product_id": ["P", "Q"], "category": ["tea", "pots"]})
    import ibis

    con = ibis.duckdb.connect()
    for name, t in (("orders", orders), ("order_items", order_items),
                    ("products", products)):
        con.create_table(name, t)
    d = reorder_intervals(con)
    assert set(d.product_id) == {"P"}  # Q is never bought again
    assert (d.supply_source == "median re-purchase interval").all()
    assert abs(np.median(d.unit_supply_days) - 30) < 3
    with pytest.raises(ReplenishmentInputError, match="supply_days"):
        reorder_intervals(con, min_intervals=10 * MIN_INTERVALS)


def test_the_time_split_supports_per_customer_timing_where_reorders_follow_the_supply(
        result):
    c = result.check
    assert result.supported and c["customers"] > 500
    assert c["model_error"] < c["catalog_error"] and c["high"] < 0
    assert len(result.cycle_multipliers) == len(result.scorecard)
    from workbench.analyses.replenishment import ReplenishmentTiming

    assert ReplenishmentTiming().config_part(result, {}) == {
        "replenishment_timing": result.cycle_multipliers}


def test_where_reorders_do_not_follow_the_supply_the_catalog_rule_stays(tmp_path):
    """The same store without run-out re-orders: consumables are bought again only at
    BG/NBD occasions, whose timing has nothing to do with the supply."""
    cfg = scenario("consumables", n_customers=4000, days=365, products={"reorder_share": 0.0})
    ds = wb.save_simulation(simulate(cfg, seed=11), tmp_path / "whim")
    res = analyze_replenishment(wb.open_dataset(ds))
    assert not res.supported
    assert res.cycle_multipliers == {}
    from workbench.analyses.replenishment import ReplenishmentTiming

    assert ReplenishmentTiming().config_part(res, {}) == {}
    assert res.summary().startswith("The reminders keep the catalog rule: held out")


def test_a_store_of_very_regular_customers_is_fitted_on_the_fine_grid():
    """sigma 0.05 is narrower than the coarse grid's step allows: the fit finishes on the
    fine grid and still recovers it."""
    h0 = RenewalHyper(mu=0.0, tau=0.1, sigma=0.05, pi=0.7, eps=0.05, mu_e=-1.0, s_e=1.0)
    d, _ = _synthetic(n=1500, h=h0, seed=2)
    h = fit_renewal(d)
    n_obs = int(d.reordered.sum())
    assert abs(h.sigma - 0.05) < 4 * 0.05 / np.sqrt(2 * n_obs) + 0.005
    assert abs(h.tau - 0.1) < 0.025


def _timed(d: pd.DataFrame) -> pd.DataFrame:
    """The synthetic intervals with the times a time split reads."""
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    placed = t0 + pd.to_timedelta(d.t * 30, unit="D")
    nxt = placed + pd.to_timedelta(d.gap_days * 30, unit="D")
    return d.assign(placed_at=placed, next_at=nxt.where(d.reordered), catalog_days=30.0,
                    gap_days=d.gap_days * 30)


def test_the_time_split_tells_a_store_shift_from_customers_own_paces():
    """Everyone 1.35x slower than the catalog (tau ~ 0): the model beats the catalog on
    held-out re-orders, but each customer's own pace adds nothing to the store's."""
    from workbench.analyses.replenishment.validation import holdout_check

    shift = RenewalHyper(mu=0.3, tau=0.01, sigma=0.15, pi=0.7, eps=0.05, mu_e=-1.0, s_e=1.0)
    d, _ = _synthetic(n=1200, h=shift, horizon=6.0, seed=3)
    d = _timed(d)
    c = holdout_check(d, fit_renewal(d))
    assert c["high"] < 0  # better than the catalog: the shift
    assert c["store_high"] >= -0.005  # and no better than the store's pace for everyone
    spread = RenewalHyper(mu=0.0, tau=0.3, sigma=0.1, pi=0.7, eps=0.05, mu_e=-1.0, s_e=1.0)
    d, _ = _synthetic(n=1200, h=spread, horizon=6.0, seed=4)
    d = _timed(d)
    c = holdout_check(d, fit_renewal(d))
    assert c["store_high"] < 0  # customers' own paces predict their next re-order


def test_a_time_split_with_nothing_before_the_cuts_keeps_the_full_fit(synthetic):
    """Every customer's only re-order is their first purchase's: nothing came before any
    cut, so the check predicts with the full fit's store pace (and says how many)."""
    from workbench.analyses.replenishment.validation import holdout_check

    _, _, h = synthetic
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    d = pd.DataFrame({"customer_id": ["1", "1", "2", "2"], "gap_days": [20.0, 5.0, 40.0, 9.0],
                      "catalog_days": 30.0, "reordered": [True, False, True, False],
                      "placed_at": [t0, t0 + pd.Timedelta(days=20), t0,
                                    t0 + pd.Timedelta(days=40)]})
    d["next_at"] = (d.placed_at + pd.to_timedelta(d.gap_days, unit="D")).where(d.reordered)
    c = holdout_check(d, h)
    assert c["customers"] == 2
    assert c["store_error"] == pytest.approx(c["model_error"])  # both at the store's pace
    with pytest.raises(ReplenishmentInputError):
        fit_renewal(d.iloc[:0])
