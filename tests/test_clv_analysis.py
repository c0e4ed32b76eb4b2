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
    assert "holdout" in analysis.summary()
    assert analysis.chart().to_dict()["hconcat"]


def test_bad_settings(small_dataset):
    con = open_dataset(small_dataset)
    with pytest.raises(ValueError, match="model must be one of"):
        analyze_clv(con, model="lifetimes")
    with pytest.raises(ValueError, match="time_unit"):
        analyze_clv(con, time_unit="fortnights")


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
