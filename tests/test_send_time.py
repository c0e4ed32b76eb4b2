"""Send time per customer: the model recovers what generated the data, the simulator
moves sends to the policy's hours, and the policy beats one hour for everyone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.send_time import (
    SendTimeInputError,
    analyze_send_times,
    engagement_events,
    fit_send_times,
    hour_distance,
    inside_arc,
    score_send_times,
)
from workbench.campaigns.config import CampaignConfig, diff_configs, with_recommendations
from workbench.campaigns.replay import Replayer
from workbench.simulate import scenario, simulate
from workbench.simulate.config import SendTimePolicy
from workbench.store import open_dataset, read_table, save_simulation

TRUE = {"mean": 13.0, "sd": 4.0, "shift": 2.0, "shift_sd": 1.5, "pi": 0.6, "event_sd": 1.0}


def _synthetic(n: int, mean_events: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events drawn from the model itself: customers' hours and their engagement hours."""
    rng = np.random.default_rng(seed)
    wd = rng.normal(TRUE["mean"], TRUE["sd"], n) % 24
    we = (wd + rng.normal(TRUE["shift"], TRUE["shift_sd"], n)) % 24
    k = rng.poisson(mean_events, n)
    cust = np.repeat(np.arange(1, n + 1), k)
    weekend = rng.random(cust.size) < 2 / 7
    centre = np.where(weekend, we[cust - 1], wd[cust - 1])
    habit = rng.random(cust.size) < TRUE["pi"]
    hour = np.where(habit, centre + rng.normal(0, TRUE["event_sd"], cust.size),
                    rng.uniform(0, 24, cust.size)) % 24
    events = pd.DataFrame({"customer_id": cust, "hour": hour, "weekend": weekend})
    truth = pd.DataFrame({"customer_id": np.arange(1, n + 1), "preferred_send_hour": wd,
                          "preferred_send_hour_weekend": we})
    return events, truth


@pytest.fixture(scope="module")
def synthetic_fit():
    events, truth = _synthetic(4000, 4.0, seed=1)
    post = fit_send_times(events, truth[["customer_id"]])
    return post, truth


def test_the_hyperparameters_are_recovered(synthetic_fit):
    post, _ = synthetic_fit
    h = post.hyper
    # ~16,000 events from 4,000 customers: the store's hour is known to a few minutes
    # (sd/sqrt(n) = 4 h / 63 = 0.06 h), the spreads to a few percent; five standard errors
    assert abs(h.mean - TRUE["mean"]) < 0.35
    assert abs(h.sd / TRUE["sd"] - 1) < 0.1
    assert abs(h.weekend_shift - TRUE["shift"]) < 0.4
    assert abs(h.weekend_sd / TRUE["shift_sd"] - 1) < 0.35
    assert abs(h.pi - TRUE["pi"]) < 0.05
    assert abs(h.event_sd / TRUE["event_sd"] - 1) < 0.15


def test_the_80pc_intervals_hold_the_truth_80pc_of_the_time(synthetic_fit):
    post, truth = synthetic_fit
    card = post.summary_frame(level=0.8).merge(truth, on="customer_id")
    cov = inside_arc(card.preferred_send_hour, card.best_send_hour_weekday_low,
                      card.best_send_hour_weekday_high).mean()
    cov_we = inside_arc(card.preferred_send_hour_weekend, card.best_send_hour_weekend_low,
                         card.best_send_hour_weekend_high).mean()
    se = np.sqrt(0.8 * 0.2 / len(card))  # 0.0063; 15-minute grid cells widen arcs a little
    for c in (cov, cov_we):
        assert 0.8 - 4 * se < c < 0.8 + 4 * se + 0.02, c


def test_more_engagement_narrows_the_interval_and_sharpens_the_hour(synthetic_fit):
    post, truth = synthetic_fit
    card = post.summary_frame().merge(truth, on="customer_id")
    card["err"] = hour_distance(card.best_send_hour_weekday, card.preferred_send_hour)
    none = card[card.engagement_events == 0]
    few = card[card.engagement_events.between(3, 5)]
    many = card[card.engagement_events >= 7]
    assert none.send_hour_weekday_width.mean() > few.send_hour_weekday_width.mean() > \
        many.send_hour_weekday_width.mean()
    assert (few.err <= 2).mean() > 0.75 > (none.err <= 2).mean()
    # a customer without events gets the store's hour
    assert hour_distance(none.best_send_hour_weekday, post.hyper.mean).max() <= 0.25


def test_thompson_draws_follow_the_posterior(synthetic_fit):
    post, _ = synthetic_fit
    card = post.summary_frame()
    draws = np.stack([post.thompson(seed=s).weekday_hour.to_numpy() for s in range(40)])
    inside = inside_arc(draws, card.best_send_hour_weekday_low.to_numpy(),
                         card.best_send_hour_weekday_high.to_numpy()).mean()
    assert 0.77 < inside < 0.84  # 80% arcs hold 80% of the draws (grid cells ±15 min)
    # exploration: a customer with no evidence is drawn across hours, a well-known one is not
    n = card.engagement_events.to_numpy()
    spread = hour_distance(draws, card.best_send_hour_weekday.to_numpy()).mean(0)
    assert spread[n == 0].mean() > 2 * spread[n >= 7].mean()


def test_segments_pool_toward_their_own_hour():
    events, truth = _synthetic(3000, 3.0, seed=2)
    # a second time zone: region "west" reads three hours later
    west = truth.customer_id % 2 == 0
    shift = pd.Series(np.where(west, 3.0, 0.0), index=truth.customer_id)
    events = events.assign(hour=(events.hour + shift.reindex(events.customer_id).to_numpy())
                           % 24)
    customers = truth.assign(region=np.where(west, "west", "east"))[["customer_id", "region"]]
    post = fit_send_times(events, customers, segment="region")
    gap = (post.segment_mean["west"] - post.segment_mean["east"]) % 24
    assert abs(gap - 3.0) < 0.5


def test_hours_around_midnight_are_recovered():
    """The clock wraps: customers who read around midnight are not averaged to noon."""
    events, truth = _synthetic(1500, 5.0, seed=3)
    events = events.assign(hour=(events.hour + 11.0) % 24)  # store hour 00:00
    truth = truth.assign(preferred_send_hour=(truth.preferred_send_hour + 11.0) % 24)
    post = fit_send_times(events, truth[["customer_id"]])
    assert hour_distance(post.hyper.mean, 0.0) < 0.5
    card = post.summary_frame().merge(truth, on="customer_id")
    many = card[card.engagement_events >= 5]
    err = hour_distance(many.best_send_hour_weekday, many.preferred_send_hour)
    assert (err <= 2).mean() > 0.8


def test_an_unknown_timezone_is_named(small_dataset):
    with pytest.raises(SendTimeInputError, match="'Mars/Olympus'"):
        engagement_events(open_dataset(small_dataset), timezone="Mars/Olympus")


def test_bad_events_are_named():
    with pytest.raises(SendTimeInputError, match="'weekend'"):
        fit_send_times(pd.DataFrame({"customer_id": [1], "hour": [3.0]}))
    with pytest.raises(SendTimeInputError, match=r"'hour' must be in \[0, 24\); 1 rows"):
        fit_send_times(pd.DataFrame({"customer_id": [1, 2], "hour": [3.0, 24.5],
                                     "weekend": [False, True]}))
    with pytest.raises(SendTimeInputError, match="no engagement events"):
        fit_send_times(pd.DataFrame({"customer_id": [], "hour": [], "weekend": []}))


# ---------------------------------------------------------------- on simulated stores
@pytest.fixture(scope="module")
def store_500(tmp_path_factory):
    """A store of 500 customers over a year: below every platform's send-time floor."""
    st = simulate(scenario("default", n_customers=500, days=365), seed=8)
    return save_simulation(st, tmp_path_factory.mktemp("st") / "s500")


def test_engagement_events_leave_out_machine_opens_and_sms(small_dataset):
    con = open_dataset(small_dataset)
    ev = engagement_events(con)
    m = read_table(small_dataset, "messages")
    truth = read_table(small_dataset, "truth/messages")
    assert ev.customer_id.isin(m[m.channel == "email"].customer_id).all()
    # every event is at least 15 minutes after its send; machine opens (within 10) never are
    email = m[(m.channel == "email") & m.delivered]
    at = email.clicked_at.fillna(email.opened_at)
    late = ((at - email.sent_at).dt.total_seconds() >= 900) & at.notna()
    assert len(ev) == int(late.sum())
    # a machine open is kept only where a (human) click came later
    machine = set(truth.message_id[truth.machine_open])
    kept = set(email.message_id[late])
    clicked = set(email.message_id[email.clicked_at.notna()])
    assert machine and not (machine & kept) - clicked


def test_a_store_of_500_gets_an_hour_for_every_customer(store_500):
    con = open_dataset(store_500)
    truth = read_table(store_500, "truth/customers")
    res = analyze_send_times(con, truth=truth[["customer_id", "preferred_send_hour",
                                               "preferred_send_hour_weekend"]])
    card = res.scorecard
    assert len(card) == 500 and card.customer_id.is_unique
    assert len(res.policy.hours) == 500
    for col in ("best_send_hour_weekday", "best_send_hour_weekend",
                "send_hour_weekday_this_cycle", "send_hour_weekend_this_cycle"):
        assert ((card[col] >= 0) & (card[col] < 24)).all(), col
    engaged = card[card.engagement_events >= 3]
    assert len(engaged) >= 30
    assert engaged.send_hour_weekday_width.median() < \
        card[card.engagement_events == 0].send_hour_weekday_width.median()
    h = res.posterior.hyper
    scored = score_send_times(card, truth, (h.mean, (h.mean + h.weekend_shift) % 24)
                              ).set_index("engagement")
    # a few events already beat the store's one hour against each customer's truth
    assert scored.loc["3-5", "within_2h"] > scored.loc["3-5", "store_hour_within_2h"]


def test_the_simulator_sends_at_the_policy_hour():
    base = scenario("small", n_customers=600, days=90)
    hours = {str(c): (7.5, 16.25) for c in range(1, 601)}
    cfg = base.model_copy(update={"campaigns": base.campaigns.model_copy(update={
        "send_time": SendTimePolicy(hours=hours, campaigns=["post_purchase", "seasonal"])})})
    st = simulate(cfg, seed=4)
    m = st.to_pandas("messages")
    t = m.sent_at.dt.tz_convert("UTC")
    hour = t.dt.hour + t.dt.minute / 60 + t.dt.second / 3600
    weekend = t.dt.day_of_week >= 5
    moved = m.campaign.isin(["post_purchase", "seasonal"]).to_numpy()
    at_hour = np.abs(hour - np.where(weekend, 16.25, 7.5)) < 1e-3
    pp = (m.campaign == "post_purchase").to_numpy()
    assert pp.sum() > 300 and at_hour[pp].mean() > 0.8
    # the rest were due on a Friday after 07:30, when the next hour (Saturday 16:15) is
    # more than the policy's 24 h away: they keep their time
    late = moved & ~at_hour
    assert (t[late].dt.day_of_week == 4).all() and (hour[late] > 7.5).all()
    # other campaigns keep their own times (cart reminders follow their carts)
    other = m[~moved & (m.campaign == "abandoned_cart")]
    assert (np.abs(hour[other.index] - 7.5) > 0.01).mean() > 0.8
    # the store without the policy sends post-purchase emails at all hours
    plain = simulate(base, seed=4).to_pandas("messages")
    pp = plain[plain.campaign == "post_purchase"].sent_at
    assert pp.dt.hour.nunique() >= 20
    # a policy in another clock than the simulator's is refused, not shifted
    bad = cfg.campaigns.send_time.model_copy(update={"timezone": "Europe/Paris"})
    with pytest.raises(ValueError, match="clock is UTC"):
        simulate(base.model_copy(update={"campaigns": base.campaigns.model_copy(
            update={"send_time": bad})}), seed=4)


def test_the_config_says_what_changed_in_one_sentence():
    pol = SendTimePolicy(hours={"1": (9.0, 11.0), "2": (20.5, 21.0)})
    new = with_recommendations(CampaignConfig(), send_time=pol)
    assert diff_configs(CampaignConfig(), new) == [
        "send time: each campaign's own time → each customer's own hour for 2 customers "
        "(post-purchase cross-sell, replenishment; at most 24 h later)"]
    with pytest.raises(ValueError, match=r"\[0, 24\)"):
        SendTimePolicy(hours={"1": (9.0, 24.0)})


def test_per_customer_hours_beat_one_hour_for_everyone_in_replay(tmp_path):
    """Replayed on the store's own customers: more email clicks than the store's hour."""
    st = simulate(scenario("default", n_customers=3000, days=240), seed=12)
    path = save_simulation(st, tmp_path / "d")
    res = analyze_send_times(open_dataset(path), seed=1)
    h = res.posterior.hyper
    store_hours = (h.mean % 24, (h.mean + h.weekend_shift) % 24)
    one = res.policy.model_copy(update={"hours": {k: store_hours for k in res.policy.hours}})
    rp = Replayer.from_dataset(path, baseline=with_recommendations(CampaignConfig(
        campaigns=st.config.campaigns), send_time=one), replications=2)
    out = rp.run(with_recommendations(rp.baseline, send_time=res.policy)).table.set_index(
        "metric")
    assert out.loc["email_clicks", "low"] > 0, out
