"""CLV on simulated stores: holdout validation, value by channel, flags, the truth."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.analyses.clv.analysis import analyze_clv
from workbench.store import open_dataset


@pytest.fixture(scope="module")
def analysis(small_dataset):
    return analyze_clv(open_dataset(small_dataset), holdout_days=30, horizon_days=180,
                       dataset=small_dataset)


def test_holdout_validation_is_consistent_and_close(analysis):
    v, m = analysis.validation, analysis.metrics
    assert v.customers.sum() == len(analysis.rfm)
    assert m["actual_total"] == analysis.rfm.frequency_holdout.sum()
    assert analysis.tracking.actual.iloc[-1] == m["actual_total"]
    assert analysis.tracking.predicted.iloc[-1] == pytest.approx(m["predicted_total"])
    assert analysis.tracking.actual.is_monotonic_increasing
    # the total over the holdout within 4 Poisson SE of what happened, plus 10% for the
    # campaigns' orders the purchase model does not know about
    assert abs(m["predicted_total"] - m["actual_total"]) < 4 * np.sqrt(
        m["actual_total"]) + 0.1 * m["actual_total"], m


def test_p_alive_is_calibrated_against_the_truth(analysis):
    t = analysis.truth
    assert t.customers.sum() == len(analysis.scorecard)
    share = analysis.settings["true_alive_share"]
    n = t.customers.sum()
    assert abs(analysis.scorecard.p_alive.mean() - share) < 4 * np.sqrt(share * (1 - share) / n
                                                                        ) + 0.03
    # higher predicted deciles are more often truly alive
    assert t.actual.iloc[-3:].mean() > t.actual.iloc[:3].mean()
    # per channel, the truth's expected organic purchases are below what happened (the
    # campaigns add orders) and the prediction, fitted on all orders, is near what happened
    tc = analysis.settings["truth_by_channel"]
    assert tc.customers.sum() == len(analysis.rfm)
    assert (tc.true_expected_organic < tc.actual).all()
    assert abs(tc.predicted.sum() / tc.actual.sum() - 1) < 0.15


def test_value_by_channel_and_flags(analysis):
    sc, by = analysis.scorecard, analysis.by_channel
    assert by.customers.sum() == len(sc)
    for r in by.itertuples():
        g = sc[sc.acquisition_channel == r.acquisition_channel]
        assert r.mean_predicted_clv == pytest.approx(g.predicted_clv.mean())
        assert r.clv_low <= r.mean_predicted_clv <= r.clv_high
    f = analysis.flags
    risk = f[f.flag == "at_risk"]
    assert (risk.p_alive < analysis.settings["alive_threshold"]).all()
    assert (risk.historic_clv >= sc.historic_clv.quantile(0.8) - 1e-9).all()
    gap = analysis.discount_acquired_gap()
    assert gap["low"] <= gap["difference"] <= gap["high"]
    # a store whose customers all came with a discount has no gap to take, and says none
    from dataclasses import replace

    alld = replace(analysis, scorecard=sc.assign(acquisition_channel="discount_promo"))
    g = alld.discount_acquired_gap()
    assert np.isnan(g["difference"]) and (g["n_discount"], g["n_other"]) == (len(sc), 0)
    assert "holdout" in analysis.summary()
    assert analysis.chart().to_dict()["hconcat"]


def test_bad_settings(small_dataset):
    con = open_dataset(small_dataset)
    with pytest.raises(ValueError, match="model must be one of"):
        analyze_clv(con, model="lifetimes")
    with pytest.raises(ValueError, match="time_unit"):
        analyze_clv(con, time_unit="fortnights")
    with pytest.raises(ValueError, match="customers table has no column 'loyalty_tier'"):
        analyze_clv(con, segment_by="loyalty_tier")


@pytest.mark.slow
def test_bgnbd_recovers_the_simulators_parameters_per_channel(tmp_path):
    """On a store with no campaigns the orders are the simulator's BG/NBD process, with
    parameters per acquisition channel (truth/params.json, alpha in days): the fit per
    channel recovers them within 4 standard errors (the Hessian's)."""
    from workbench.analyses.clv.features import rfm_summary
    from workbench.clv import BetaGeoModel
    from workbench.simulate import scenario, simulate
    from workbench.store import read_truth_params, save_simulation

    ds = save_simulation(simulate(scenario("no_campaigns", n_customers=40_000, days=730),
                                  seed=5), tmp_path / "ds")
    con = open_dataset(ds)
    rfm = rfm_summary(con, net_of_returns=False).merge(
        con.table("customers").select("customer_id", "acquisition_channel").execute(),
        on="customer_id")
    truth = read_truth_params(ds)["bgnbd_by_acquisition_channel"]
    for ch, g in rfm.groupby("acquisition_channel"):
        m = BetaGeoModel(time_unit="days").fit(g)
        t = truth[ch]
        for k, tk in (("r", t["r"]), ("alpha", t["alpha_days"]), ("a", t["a"]), ("b", t["b"])):
            assert abs(m.params_[k] - tk) < 4 * m.se_[k], (ch, k, m.params_[k], tk, m.se_[k])


def test_scored_as_of_the_last_order_every_buyer_included(analysis, small_dataset):
    """The scorecard is as of the data's last day, not the calibration date (issue 14)."""
    import pandas as pd

    from workbench.store import read_table

    o = read_table(small_dataset, "orders")
    last = pd.to_datetime(o.placed_at, utc=True).max()
    sc, s = analysis.scorecard, analysis.settings
    assert s["scored_as_of"] == last and s["calibration_end"] < last
    # every buyer is scored, including those whose first order is after the calibration date
    assert set(sc.customer_id) == set(o.customer_id)
    # no "expected next order" is already in the past
    nxt = pd.to_datetime(sc.expected_date_of_next_order, utc=True).dropna()
    assert (nxt >= last.floor("D")).all()
    # a customer who ordered in the last 14 days is marked, and none is flagged
    first = o.groupby("customer_id").placed_at.min()
    young = set(first[first > last - pd.Timedelta(days=14)].index)
    assert set(sc.loc[sc.short_history, "customer_id"]) == young and young
    assert not young & set(analysis.flags.customer_id)
    # at-risk customers have not ordered in the last weeks: nobody who just bought again
    last_order = o.groupby("customer_id").placed_at.max()
    risk = analysis.flags.loc[analysis.flags.flag == "at_risk", "customer_id"]
    assert (last_order[risk] < last - pd.Timedelta(days=7)).all()


def _no_dropout_rfm(n=3000, lam=0.3, seed=1):
    """Poisson buyers who never stop (no dropout at all): the BG/NBD limit p -> 0."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    T = rng.uniform(5, 52, n)
    k = rng.poisson(lam * T)
    last = np.array([rng.uniform(0, t, x).max() if x else 0.0 for t, x in zip(T, k, strict=True)])
    return pd.DataFrame({"customer_id": np.arange(n), "frequency": k, "recency": last,
                         "T": T, "monetary_value": np.where(k > 0, 50.0, 0.0)})


def test_a_fit_at_the_edge_of_the_parameter_space_says_so():
    """No visible dropout drives a and b to infinity: not converged, the parameters named."""
    from workbench.clv import BetaGeoModel

    with pytest.warns(RuntimeWarning, match=r"ran off to the edge of the parameter space"):
        m = BetaGeoModel(time_unit="weeks").fit(_no_dropout_rfm())
    # the dropout Beta(a, b) degenerates; the purchase-rate Gamma(r, alpha) does not
    assert m.boundary_ and set(m.boundary_) <= {"a", "b"} and not m.converged_


def test_large_shapes_short_of_the_edge_whose_predictions_overflow_are_taken_at_their_limit():
    """a = 1.1e5, b = 2.8e5 (seen on a 120-day store): below the flagged edge, yet the
    hypergeometric terms overflow; the limit with the same dropout probability is used."""
    from workbench.analyses.clv.fits import identified as _identified
    from workbench.clv import BetaGeoModel

    rfm = _bgnbd_rfm(lambda r: r.gamma(0.6, 1 / 30), lambda r: 0.28, n=500)
    m = BetaGeoModel(time_unit="weeks").set_params(r=0.62, alpha=31.7, a=1.09e5, b=2.77e5)
    m.boundary_, m.log_likelihood_ = [], m.log_likelihood(rfm)  # as a fit leaves them
    horizon = 26.0
    assert not np.isfinite(m.expected_purchases(rfm, horizon)).all()
    notes = []
    lim = _identified(m, "the test", rfm, notes, horizon)
    assert np.isfinite(lim.expected_purchases(rfm, horizon)).all()
    p = lim.params_
    assert p["a"] / (p["a"] + p["b"]) == pytest.approx(1.09e5 / (1.09e5 + 2.77e5))
    assert notes and "edge of the parameter space (a, b)" in notes[0]


def _bgnbd_rfm(rate, dropout, n=4000, seed=2):
    """BG/NBD buyers (weekly): each customer's rate ``rate(rng)`` and dropout ``dropout(rng)``."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        T, lam, p, t, times = rng.uniform(10, 52), rate(rng), dropout(rng), 0.0, []
        while True:
            t += rng.exponential(1 / lam)
            if t > T:
                break
            times.append(t)
            if rng.random() < p:
                break
        rows.append((i, len(times), times[-1] if times else 0.0, T))
    return pd.DataFrame(rows, columns=["customer_id", "frequency", "recency", "T"])


def _same_rate_rfm():
    """Buyers who all buy at one rate, 0.4 a week, dropping out with p ~ Beta(2, 6)."""
    return _bgnbd_rfm(lambda rng: 0.4, lambda rng: rng.beta(2, 6))


def test_a_rate_shape_at_infinity_is_evaluated_at_its_limit():
    """One purchase rate for everyone drives r (and alpha) to infinity: the analysis uses
    the limit (r = 1e4, the rate r/alpha kept), whose predictions are finite and whose
    likelihood is the edge's, and says so."""
    import warnings

    from workbench.analyses.clv.fits import identified as _identified
    from workbench.clv import BetaGeoModel

    rfm = _same_rate_rfm()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = BetaGeoModel(time_unit="weeks").fit(rfm)
    assert "r" in m.boundary_ and not m.converged_
    notes: list[str] = []
    lim = _identified(m, "all the history", rfm, notes)
    assert lim.params_["r"] == 1e4 and not lim.converged_
    # the common rate is kept (the truth: 0.4 a week; 4 SE of a 4,000-customer estimate)
    rate = lim.params_["r"] / lim.params_["alpha"]
    assert rate == pytest.approx(m.params_["r"] / m.params_["alpha"], rel=1e-9)
    assert abs(rate - 0.4) < 0.03
    assert np.isfinite(lim.expected_purchases(rfm, 10.0)).all()
    assert abs(lim.log_likelihood(rfm) - m.log_likelihood_) < 0.01
    assert len(notes) == 1 and "buy at the same rate" in notes[0]


def test_the_clv_analysis_is_skipped_when_even_the_limit_predicts_nothing(monkeypatch,
                                                                          small_dataset):
    from workbench.analyses import Context, Skipped, get
    from workbench.analyses.clv import fits as mod

    fit = mod.BetaGeoModel.fit

    def fit_at_edge(self, rfm, *a, **k):  # an edge whose predictions overflow
        fit(self, rfm, *a, **k)
        self.boundary_ = ["a", "b"]
        return self

    monkeypatch.setattr(mod.BetaGeoModel, "fit", fit_at_edge)
    monkeypatch.setattr(mod.BetaGeoModel, "expected_purchases",
                        lambda self, rfm, t: np.full(len(rfm), np.nan))
    out = get("clv")(Context.open(small_dataset, echo=lambda s: None))
    assert isinstance(out, Skipped)
    assert "['a', 'b'] ran off to the edge of the parameter space" in out.reason
    assert "not finite" in out.reason


def test_dropout_shapes_at_infinity_are_evaluated_at_their_limit():
    """One dropout probability for all drives a and b to infinity together: the analysis
    uses the limit — the largest a + b in the ladder whose predictions are finite over the
    data's span, the mean dropout a / (a + b) kept — whose likelihood is the edge's, and
    says so."""
    import warnings

    from workbench.analyses.clv.fits import identified as _identified
    from workbench.clv import BetaGeoModel

    p_drop = 0.3  # Gamma(1, 4) rates, one dropout probability
    rfm = _bgnbd_rfm(lambda rng: rng.gamma(1.0, 1 / 4.0), lambda rng: p_drop, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = BetaGeoModel(time_unit="weeks").fit(rfm)
    assert {"a", "b"} & set(m.boundary_), m.params_
    notes: list[str] = []
    lim = _identified(m, "all the history", rfm, notes)
    a, b = lim.params_["a"], lim.params_["b"]
    assert a + b <= 1e4 and np.isfinite(lim.expected_purchases(rfm, rfm["T"].max())).all()
    # the mean dropout is kept, and it is the truth's (4 SE of ~6,000 repeat purchases)
    assert a / (a + b) == pytest.approx(m.params_["a"] / (m.params_["a"] + m.params_["b"]),
                                        rel=1e-6)
    assert abs(a / (a + b) - p_drop) < 0.03
    assert abs(lim.log_likelihood(rfm) - m.log_likelihood_) < 0.05
    assert len(notes) == 1 and ("stop buying" in notes[0] or "dropout differs" in notes[0])


def test_acquisition_by_campaign_and_the_audiences(analysis, small_dataset, tmp_path):
    import ibis
    import pandas as pd

    from workbench.analyses import Context, get
    from workbench.analyses.clv.analysis import NO_CAMPAIGN, acquisition_campaigns, value_by

    sc = analysis.scorecard
    # the scorecard carries every flag the flags table holds, and nothing else
    flagged = analysis.flags.groupby("customer_id").flag.agg(";".join)
    assert (sc.set_index("customer_id").flag.reindex(flagged.index) == flagged).all()
    assert (sc.flag != "").sum() == len(flagged)
    # with every new customer buying at their first visit (the simulator's default), no
    # first order carries a message: every customer is "no campaign"
    assert set(analysis.by_campaign.acquisition_campaign) == {NO_CAMPAIGN}
    assert analysis.by_campaign.customers.sum() == len(sc)
    # where a first order carried one, its campaign is the customer's (and a later order's
    # message is not)
    con = ibis.duckdb.connect()
    t = pd.Timestamp("2025-01-01", tz="UTC")
    con.create_table("orders", pd.DataFrame({
        "order_id": [1, 2, 3, 4], "customer_id": [10, 10, 11, 12],
        "placed_at": [t, t + pd.Timedelta(days=5), t, t],
        "message_id": pd.array([7, 8, None, None], dtype="Int64")}))
    con.create_table("messages", pd.DataFrame({"message_id": [7, 8],
                                               "campaign": ["seasonal", "post_purchase"]}))
    got = acquisition_campaigns(con).set_index("customer_id").acquisition_campaign
    assert got.to_dict() == {10: "seasonal"}
    by = value_by(sc.assign(acquisition_campaign=NO_CAMPAIGN), ["acquisition_campaign"])
    assert by.mean_predicted_clv.iloc[0] == pytest.approx(sc.predicted_clv.mean())
    # the audiences: ids and numbers, the flag they were picked on
    ctx = Context.open(small_dataset, echo=lambda s: None)
    files = get("clv").export(analysis, tmp_path, ctx)
    aud = pd.read_csv(files["reengagement_audience"])
    assert (aud.flag == "at_risk").all() and len(aud) == (analysis.flags.flag == "at_risk").sum()
    assert not aud.astype(str).apply(lambda c: c.str.contains("@")).any().any()
    new = pd.read_csv(files["high_value_new_customers"])
    assert (new.flag == "promising_new").all()


@pytest.fixture(scope="module")
def acquired_store(tmp_path_factory):
    """12,000 customers over two periods (on day 180 the cart reminder moves from its
    default delays to a week); 40% of first visits abandon their cart, so a cart reminder
    that brings the order back acquires the customer.  Returned: the whole store and the
    CLV analysis of its copy as of day 275, 90 days of value ahead, undiscounted."""
    import copy

    import pandas as pd

    from workbench.simulate import SimulationConfig, scenario, simulate
    from workbench.store import dataset_as_of, save_simulation

    base = scenario("default", n_customers=12_000, days=365,
                    carts={"abandon_first_purchase": 0.4}).model_dump()
    later = copy.deepcopy(base["campaigns"])
    for p in later["abandoned_cart"]["policy"].values():
        p["delay_hours"] = 168.0
    cfg = SimulationConfig.model_validate({**base, "periods": [
        {"start_day": 180, "campaigns": later, "label": "cart reminder a week later"}]})
    root = tmp_path_factory.mktemp("acquired")
    full = save_simulation(simulate(cfg, seed=3), root / "full")
    start = pd.Timestamp(cfg.start_date, tz="UTC")
    cut = dataset_as_of(full, start + pd.Timedelta(days=275), root / "cut")
    return full, analyze_clv(open_dataset(cut), horizon_days=90, annual_discount_rate=0.0)


def test_value_by_acquisition_campaign_holds_what_the_customers_brought(acquired_store):
    """Issue 19: on a two-period store where cart reminders acquire customers, each
    acquisition campaign's (and channel's) predictive interval of what its customers
    will bring over the next 90 days holds what they did bring in the simulation
    (margin × (1 − returns rate) × gross value of their later purchase days: the
    model's own quantity)."""
    import pandas as pd

    from workbench.analyses.clv.analysis import NO_CAMPAIGN
    from workbench.analyses.clv.features import rfm_summary

    full, r = acquired_store
    last, s = r.settings["scored_as_of"], r.settings
    after = rfm_summary(open_dataset(full), calibration_end=last,
                        observation_end=last + pd.Timedelta(days=90), net_of_returns=False)
    net = s["margin"] * (1 - s["returns_rate"])
    brought = (net * after.frequency_holdout * after.monetary_holdout).set_axis(
        after.customer_id)
    sc = r.scorecard.assign(brought=r.scorecard.customer_id.map(brought).fillna(0.0))
    by = r.by_campaign.set_index("acquisition_campaign")
    assert by.customers.sum() == len(sc)
    assert by.loc["abandoned_cart", "customers"] >= 50, by
    checked = 0
    for camp, g in sc.groupby("acquisition_campaign"):
        if len(g) < 30:
            continue
        row = by.loc[camp]
        assert row.mean_predicted_clv == pytest.approx(g.predicted_clv.mean())
        assert row.value_low <= g.brought.mean() <= row.value_high, (camp, row, g.brought.mean())
        # what these customers bring is noisier than what a customer is worth on average
        assert row.value_high - row.value_low > row.clv_high - row.clv_low
        checked += 1
    assert checked == 2 and NO_CAMPAIGN in by.index
    assert "abandoned_cart will bring" in r.summary()
    # by acquisition channel too: the channels differ in purchase rate, dropout and spend
    # (truth/params.json), which one pooled fit misses (discount-promo customers were
    # predicted 6.87 and brought 5.02 on this store's one-period twin); fitted per channel
    # every channel's interval holds what its customers brought
    assert len(s["segments_fitted"]) >= 4, s["segments_fitted"]
    for r_ in r.by_channel.itertuples():
        got = sc.loc[sc.acquisition_channel == r_.acquisition_channel, "brought"].mean()
        assert r_.value_low <= got <= r_.value_high, (r_, got)


def test_segmented_fits_score_each_customer_with_their_segments_models(small_dataset):
    """A segment with enough customers gets its own models, a small one the pooled pair;
    each customer's numbers are their segment's model's, rows in the input's order."""
    from workbench.analyses.clv.features import rfm_summary
    from workbench.analyses.clv.fits import fit_segmented

    con = open_dataset(small_dataset)
    rfm = rfm_summary(con, net_of_returns=False, time_unit="weeks")
    rfm["segment"] = np.where(rfm.index % 4 == 0, "small", "large")
    notes: list[str] = []
    n_small = int((rfm.segment == "small").sum())
    f = fit_segmented(rfm, "bgnbd", "weeks", "the test", notes, by="segment",
                      min_customers=n_small + 1, min_repeat=10)
    assert list(f.fits) == ["large"]
    big, small = rfm[rfm.segment == "large"], rfm[rfm.segment == "small"]
    got = f.expected_purchases(rfm, 4.0)
    np.testing.assert_allclose(got[rfm.segment == "large"],
                               f.fits["large"][0].expected_purchases(big, 4.0))
    np.testing.assert_allclose(got[rfm.segment == "small"],
                               f.pooled[0].expected_purchases(small, 4.0))
    sc = f.scorecard(rfm, calibration_end="2025-05-01", horizon=12.0)
    assert (sc.customer_id.to_numpy() == rfm.customer_id.to_numpy()).all()
    assert set(sc.model_fit) == {"large", "pooled"}
    from workbench.clv import clv_scorecard

    pooled = clv_scorecard(*f.pooled, small.reset_index(drop=True),
                           calibration_end="2025-05-01", horizon=12.0).table
    np.testing.assert_allclose(sc.predicted_clv[(rfm.segment == "small").to_numpy()],
                               pooled.predicted_clv)
    assert "per segment where there are enough customers (large)" in f.describe()
    # a customer with no segment, or one the fits never saw, is scored by the pooled pair
    odd = rfm.head(3).assign(segment=[None, "unseen", "large"]).astype({"segment": "string"})
    got = f.expected_purchases(odd, 4.0)
    np.testing.assert_allclose(got[:2], f.pooled[0].expected_purchases(odd.head(2), 4.0))
    np.testing.assert_allclose(got[2:], f.fits["large"][0].expected_purchases(odd.tail(1), 4.0))
    # no segment column: everyone pooled
    none = fit_segmented(rfm, "bgnbd", "weeks", "the test", [], by=None)
    assert not none.fits and none.describe() == ""


def test_parameter_errors_add_within_a_fit_and_in_quadrature_across_fits():
    """What a group mean's (or a difference's) parameter standard error is made of."""
    import pandas as pd

    from workbench.analyses.clv.analysis import _parameter_sd

    d = pd.DataFrame({"_par": [1.0, 1.0, 2.0, 2.0], "model_fit": ["a", "a", "b", "b"]})
    # a mean: per fit (1 + 1) / 4 and (2 + 2) / 4, independent across fits
    assert _parameter_sd(d) == pytest.approx(np.hypot(0.5, 1.0))
    # one fit scoring both sides of a difference of equal customers: the errors cancel
    one = d.assign(model_fit="pooled", _par=1.0)
    assert _parameter_sd(one, pd.Series([0.5, 0.5, -0.5, -0.5])) == pytest.approx(0.0)
    # two fits, one per side: they add in quadrature
    assert _parameter_sd(d, pd.Series([0.5, 0.5, -0.5, -0.5])) == pytest.approx(
        np.hypot(1.0, 2.0))
