"""Abandonment episodes reconstruct the simulator's carts; the decision finds the true best."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.cart_timing.features import abandonment_episodes
from workbench.analyses.cart_timing.study import decide_cart_timing
from workbench.experiments import ExperimentInputError
from workbench.simulate import SimulationConfig, scenario, simulate
from workbench.store import open_dataset, save_simulation


@pytest.fixture(scope="module")
def small_con(small_dataset):
    return open_dataset(small_dataset)


@pytest.fixture(scope="module")
def episodes(small_con):
    return abandonment_episodes(small_con).execute()


def test_one_episode_per_truth_cart(episodes, small_con):
    truth = small_con.table("truth_carts").execute()
    assert len(episodes) == len(truth)
    assert set(episodes.session_id) == set(truth.cart_session_id)
    j = episodes.merge(truth, left_on="session_id", right_on="cart_session_id")
    assert (j.customer_id_x == j.customer_id_y).all()
    np.testing.assert_allclose(j.cart_value_x, j.cart_value_y, rtol=1e-9)
    assert (j.purchase_type_x == j.purchase_type_y).mean() > 0.85  # dominant type of the mix


def test_recovery_reflects_truth(episodes, small_con):
    truth = small_con.table("truth_carts").execute()
    j = episodes.merge(truth, left_on="session_id", right_on="cart_session_id")
    caused = j[j.outcome.isin(["caused_by_message", "moved_by_message"])]
    assert caused.recovered.mean() > 0.95
    # natural returns inside the 7-day window are recoveries
    nat = j[(j.outcome == "natural_return")
            & ((j.natural_return_at - j.abandoned_at_y) < pd.Timedelta(days=7))]
    assert nat.recovered.all()
    # holdout carts get no message
    assert (episodes[episodes.arm == "holdout"].n_messages == 0).all()


def test_durations_are_censored_consistently(episodes):
    rec = episodes[episodes.recovered]
    assert (rec.duration_hours == rec.hours_to_recovery).all()
    assert (rec.duration_hours > 0).all() and (rec.duration_hours <= 7 * 24 + 1e-9).all()
    assert (episodes[~episodes.recovered].event == 0).all()
    assert (episodes.duration_hours <= 7 * 24 + 1e-9).all()


def test_message_delays_match_the_arms(episodes):
    sent = episodes[episodes.arm.notna() & (episodes.n_messages > 0)]
    for arm, g in sent.groupby("arm"):
        ch, h = arm.split("_")
        assert (g.message_channel == ch).all()
        assert g.message_delay_hours.median() == pytest.approx(float(h[:-1]), abs=0.05)


@pytest.fixture(scope="module")
def big_decision(tmp_path_factory):
    """A store large enough to tell the arms apart: 60,000 customers, no caps binding."""
    data = scenario("default", n_customers=60_000).model_dump()
    data["campaigns"]["caps"] = {"email_per_week": 100, "sms_per_week": 100}
    store = simulate(SimulationConfig.model_validate(data), seed=21)
    path = save_simulation(store, tmp_path_factory.mktemp("big") / "ds")
    con = open_dataset(path)
    ep = abandonment_episodes(con).execute()
    return decide_cart_timing(ep, truth=con.table("truth_delay_response").execute())


def test_decision_picks_the_true_best_delay(big_decision):
    d = big_decision
    assert set(d.recommendations.purchase_type) == {"impulse", "considered", "consumable"}
    assert d.recommendations.send.all()
    s = d.truth.set_index("purchase_type")
    r = d.recommendations.set_index("purchase_type")
    for t in s.index:
        assert r.loc[t, "delay_hours"] == pytest.approx(s.loc[t, "true_delay_hours"]), d.summary()
    # whatever the channel, the regret is a small share of the best achievable margin
    assert (s.regret_per_cart <= 0.25 * s.true_best_margin_per_cart).all(), d.summary()
    pol = d.to_policy()
    assert pol["impulse"]["send"] and pol["impulse"]["evidence"]["ci_95"][0] > 0


def test_decision_recommends_nothing_without_evidence(episodes):
    rng = np.random.default_rng(0)
    ep = episodes[episodes.arm.notna()].copy()
    ep["arm"] = rng.permutation(ep.arm.to_numpy())  # break the link between arm and outcome
    d = decide_cart_timing(ep, min_prob=0.999)
    assert not d.recommendations.send.any()
    assert "send nothing" in d.summary()


def test_decision_input_errors(episodes):
    with pytest.raises(ExperimentInputError, match="holdout arm 'none' not found"):
        decide_cart_timing(episodes, holdout="none")
    with pytest.raises(ExperimentInputError, match="missing columns"):
        decide_cart_timing(episodes.drop(columns=["recovered_margin"]))


# ----------------------------------------------------------------------------- config export
def test_study_exports_a_valid_config(small_con, tmp_path):
    from workbench.analyses.cart_timing import (
        abandoned_cart_schema,
        load_abandoned_cart,
        save_abandoned_cart,
        section_from_study,
    )
    from workbench.analyses.cart_timing.study import run_cart_timing

    study = run_cart_timing(small_con, dataset_hash="abc123")
    assert study.decision is not None, study.reason
    path = save_abandoned_cart(section_from_study(study), tmp_path / "ac.json")
    back = load_abandoned_cart(path)
    assert back.provenance.dataset_hash == "abc123"
    assert back.provenance.settings["min_prob"] == 0.9
    assert set(back.policy) == set(study.decision.recommendations.purchase_type)
    schema = abandoned_cart_schema()
    assert schema["title"] == "AbandonedCartSection" and "policy" in schema["properties"]


@pytest.mark.parametrize("mutate, field", [
    (lambda p: p["impulse"].update(channel="fax"), "channel"),
    (lambda p: p["impulse"].update(delay_hours=-1), "delay_hours"),
    (lambda p: p["impulse"].update(discount_pct=100), "discount_pct"),
    (lambda p: p["impulse"].pop("channel"), "needs channel and delay_hours"),
    (lambda p: p.update(gadgets={"send": False}), "gadgets"),
])
def test_bad_config_names_the_field(tmp_path, mutate, field):
    import json

    from workbench.analyses.cart_timing.export import load_abandoned_cart

    good = {"abandoned_cart": {"config_version": "0.1", "policy": {
        "impulse": {"send": True, "channel": "sms", "delay_hours": 1.0, "discount_pct": 0.0}},
        "provenance": {"dataset_hash": None, "analysis": "test", "settings": {}}}}
    mutate(good["abandoned_cart"]["policy"])
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(good))
    with pytest.raises(ValueError, match=field):
        load_abandoned_cart(f)


def test_episodes_name_a_missing_table_or_column():
    import ibis

    from workbench.store import DatasetError

    con = ibis.duckdb.connect()
    with pytest.raises(DatasetError, match="no 'events' table"):
        abandonment_episodes(con)
    con.create_table("events", pd.DataFrame({"session_id": [1]}))
    with pytest.raises(DatasetError, match=r"table 'events' lacks column\(s\) \['customer_id'"):
        abandonment_episodes(con)
