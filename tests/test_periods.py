"""A store over consecutive periods: a campaign config deployed mid-run takes effect from
its day, and nothing else moves."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from workbench.campaigns.config import baseline_from_dataset
from workbench.simulate import SimulationConfig, scenario, simulate
from workbench.store import save_simulation

CHANGE_DAY = 100  # after the spring sale (day 80): a seasonal send is expanded before it


def _two_periods(base: SimulationConfig, **cart) -> SimulationConfig:
    later = base.campaigns.model_dump()
    later["post_purchase"]["enabled"] = False
    later["abandoned_cart"].update(cart)
    return SimulationConfig.model_validate({**base.model_dump(), "periods": [
        {"start_day": CHANGE_DAY, "campaigns": later, "label": "no post-purchase"}]})


@pytest.fixture(scope="module")
def stores():
    base = scenario("small", n_customers=1500, days=130)
    data = base.model_dump()
    data["campaigns"]["abandoned_cart"]["experiment_share"] = 0.0  # every cart: the policy
    base = SimulationConfig.model_validate(data)
    pol = {t: {"channel": "email", "delay_hours": 1.0, "discount_pct": 0.0}
           for t in ("impulse", "considered", "consumable")}
    return base, simulate(base, seed=2), simulate(_two_periods(base, policy=pol), seed=2)


def test_a_deployed_config_takes_effect_on_its_day(stores):
    base, one, two = stores
    start = pd.Timestamp(base.start_date, tz="UTC")
    change = start + pd.Timedelta(days=CHANGE_DAY)
    m1, m2 = one.to_pandas("messages"), two.to_pandas("messages")
    # before the change the two stores are the same store, message for message
    b1, b2 = m1[m1.sent_at < change], m2[m2.sent_at < change]
    assert (b2.campaign == "seasonal").any()
    pd.testing.assert_frame_equal(b1.reset_index(drop=True), b2.reset_index(drop=True))
    # after it: post-purchase triggers stop (a follow-up queued before may still go out)
    pp = m2[(m2.campaign == "post_purchase") & (m2.sent_at >= change + pd.Timedelta(days=8))]
    assert pp.empty and (m1.campaign == "post_purchase").sum() > len(
        m2[m2.campaign == "post_purchase"])
    # cart reminders go after 1 hour instead of the policy's 4 (email)
    carts = two.to_pandas("truth/carts").set_index("cart_session_id").abandoned_at
    c = m2[(m2.campaign == "abandoned_cart") & (m2.channel == "email")]
    delay = (c.sent_at - c.trigger_id.map(carts)).dt.total_seconds() / 3600
    after = c.sent_at > change + pd.Timedelta(hours=5)
    assert len(delay[after]) > 50 and (delay[after].round(1) == 1.0).mean() > 0.95
    assert (delay[~after & (c.sent_at < change)].round(1) == 4.0).mean() > 0.95


def test_the_current_config_is_the_last_periods(stores, tmp_path):
    base, _, two = stores
    path = save_simulation(two, tmp_path / "two")
    now = baseline_from_dataset(path).campaigns
    assert now.post_purchase.enabled is False and now.abandoned_cart.policy[
        "considered"].delay_hours == 1.0


def test_periods_are_refused_where_they_cannot_apply():
    base = scenario("tiny")
    later = base.campaigns.model_dump()
    with pytest.raises(ValidationError, match="start days must increase"):
        SimulationConfig.model_validate({**base.model_dump(), "periods": [
            {"start_day": base.days + 5, "campaigns": later}]})
    later["caps"]["email_per_week"] = 1
    with pytest.raises(ValidationError, match="campaigns.caps is set once"):
        SimulationConfig.model_validate({**base.model_dump(), "periods": [
            {"start_day": 10, "campaigns": later}]})
