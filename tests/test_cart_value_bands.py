"""Cart reminders by cart value: the incremental margin per band against the truth, the
smallest cart worth reminding, and that rule replayed in the simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.cart_timing import (
    load_abandoned_cart,
    replay_min_cart_value,
    run_cart_timing,
    save_abandoned_cart,
)
from workbench.analyses.cart_timing.export import section_from_study
from workbench.analyses.cart_timing.value_bands import band_of, suggest_min_cart_value
from workbench.campaigns.config import CampaignConfig, with_recommendations
from workbench.simulate import scenario, simulate
from workbench.store import open_dataset, save_simulation


def test_bands_are_half_open_and_labelled():
    b = band_of(pd.Series([0.5, 24.99, 25.0, 49.9, 100.0, 250.0]), (25, 50, 100))
    assert list(b.astype(str)) == ["under 25", "under 25", "25–50", "25–50",
                                   "100 or more", "100 or more"]
    with pytest.raises(ValueError, match="increasing"):
        band_of([1.0], (50, 25))


def _bands(p_loses, highs=(25.0, 50.0, 100.0, np.inf)):
    return pd.DataFrame({"low": [0.0, *highs[:-1]], "high": list(highs),
                         "prob_loses": p_loses})


@pytest.mark.parametrize("p, cut", [
    ([0.95, 0.92, 0.1, 0.0], 50.0),   # the two smallest bands lose: stop at the third
    ([0.5, 0.99, 0.99, 0.0], 0.0),    # the smallest band is not shown to lose: remind all
    ([0.99, np.nan, 0.99, 0.0], 25.0),  # a band without data stops the walk
    ([0.99, 0.99, 0.99, 0.99], 100.0),  # the open top band is never cut
])
def test_the_cut_walks_up_from_the_smallest_carts(p, cut):
    assert suggest_min_cart_value(_bands(p), 0.9) == cut


def test_a_band_of_a_few_carts_is_not_shown_to_lose():
    b = _bands([0.99, 0.99, 0.1, 0.0]).assign(held_out=[4, 200, 200, 200])
    assert suggest_min_cart_value(b, 0.9) == 0.0
    assert suggest_min_cart_value(b.assign(held_out=200), 0.9) == 50.0


@pytest.fixture(scope="module")
def costly(tmp_path_factory):
    """8,000 customers whose messages cost 1.00 each: small carts do not pay a reminder."""
    cfg = scenario("default", n_customers=8000, days=365,
                   engagement={"cost": {"email": 1.0, "sms": 1.0}})
    path = save_simulation(simulate(cfg, seed=5), tmp_path_factory.mktemp("costly") / "s")
    study = run_cart_timing(open_dataset(path), dataset=path)
    return path, study


def test_bands_match_the_truth_and_the_cut_never_drops_a_paying_band(costly):
    _, study = costly
    b = study.bands
    assert b.reminded.sum() > 5000 and (b.held_out > 30).all()
    # each band's 95% interval holds the simulator's truth (per reminded cart, net of
    # the message's cost); 5 bands at 95% each: allow one miss
    inside = (b.ci_low <= b.true_incremental_margin) & (b.true_incremental_margin <= b.ci_high)
    assert inside.sum() >= len(b) - 1, b
    # a 1.00 message loses money on the smallest carts and pays on the largest
    assert b.true_incremental_margin.iloc[0] < 0 < b.true_incremental_margin.iloc[-1]
    assert study.min_cart_value > 0
    cut_bands = b[b.high <= study.min_cart_value]
    assert (cut_bands.true_incremental_margin < 0).all()  # never cuts a band that pays


@pytest.mark.slow
def test_the_rule_replays_as_predicted(costly):
    path, study = costly
    r = replay_min_cart_value(path, study.min_cart_value, study.bands, study.episodes,
                              replications=2, n_customers=3000)
    assert r["low"] > 0  # not reminding small carts earns margin in the simulator
    assert r["messages_saved"] > 0
    assert r["agree"], r  # the prediction's interval overlaps the replay's


def test_the_rule_is_exported_into_the_config(costly, tmp_path):
    _, study = costly
    f = save_abandoned_cart(section_from_study(study), tmp_path / "ac.json")
    sec = load_abandoned_cart(f)
    assert sec.min_cart_value == study.min_cart_value
    cfg = with_recommendations(CampaignConfig(), abandoned_cart=sec)
    assert cfg.campaigns.abandoned_cart.min_cart_value == study.min_cart_value


def test_the_simulator_skips_small_carts_outside_the_test_only():
    cfg = scenario("small", n_customers=1500, days=90)
    data = cfg.model_dump()
    data["campaigns"]["abandoned_cart"].update(experiment_share=0.5, min_cart_value=60.0)
    st = simulate(type(cfg).model_validate(data), seed=3)
    m = st.to_pandas("messages")
    m = m[m.campaign == "abandoned_cart"]
    carts = st.to_pandas("truth/carts").set_index("cart_session_id")
    m = m.assign(value=m.trigger_id.map(carts.cart_value))
    outside = m[m.experiment.isna()]
    assert len(outside) and (outside.value >= 60.0).all()
    assert (m[m.experiment.notna()].value < 60.0).any()  # the test still reminds small carts
