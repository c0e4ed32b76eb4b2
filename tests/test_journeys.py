"""Journeys from the event log: touches before each order, windows, lookback, machine opens."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.attribution.journeys import journeys_frame
from workbench.store import open_dataset


@pytest.fixture(scope="module")
def con(small_dataset):
    return open_dataset(small_dataset)


@pytest.fixture(scope="module")
def jr(con):
    return journeys_frame(con)


def test_every_order_is_one_converting_journey_with_its_revenue(jr, small_tables):
    orders = small_tables["orders"]
    conv = jr[jr.converted].groupby("journey_id").agg(order_id=("order_id", "first"),
                                                      value=("value", "first"))
    # every order has at least its own visit or message click before it
    assert conv.order_id.nunique() == len(conv)
    covered = orders.set_index("order_id").loc[conv.order_id.astype(int)]
    assert covered.revenue.to_numpy() == pytest.approx(conv.value.to_numpy())
    assert len(conv) / len(orders) > 0.95


def test_touches_lie_inside_lookback_window_and_after_the_previous_order(jr, small_tables):
    assert (jr.touch_ts < jr.end_ts).all()
    age = (jr.end_ts - jr.touch_ts) / pd.Timedelta(days=1)
    assert (age[jr.interaction != "visit"] <= 5 + 1e-9).all()  # default windows: 5 days
    assert (age <= 30 + 1e-9).all()
    orders = small_tables["orders"].sort_values("placed_at")
    prev = orders.groupby("customer_id").placed_at.shift()
    prev_at = dict(zip(orders.order_id, prev, strict=True))
    c = jr[jr.converted]
    p = c.order_id.astype(int).map(prev_at)
    assert ((p.isna()) | (c.touch_ts > p)).all()
    # touch_index orders the touches in time within each journey
    s = jr.sort_values(["journey_id", "touch_index"])
    assert (s.groupby("journey_id").touch_ts.diff().dropna() >= pd.Timedelta(0)).all()
    assert (s.groupby("journey_id").touch_index.min() == 0).all()
    assert (s.groupby("journey_id").touch_index.diff().dropna() == 1).all()


def test_a_click_through_visit_is_not_counted_twice(jr, small_tables):
    s = small_tables["sessions"]
    msg_sessions = s[s.message_id.notna()]
    visits = jr[jr.interaction == "visit"]
    assert not set(visits.channel) & {"email", "sms"}
    assert len(msg_sessions) > 0


def test_windows_and_opens_change_the_touches(con, jr):
    short = journeys_frame(con, windows={("email", "click"): 1.0, ("email", "open"): 1.0,
                                         ("sms", "click"): 1.0})
    email = lambda j: (j.medium.isin(["email", "sms"])).sum()  # noqa: E731
    assert email(short) < email(jr)
    no_opens = journeys_frame(con, count_opens=False)
    assert (no_opens.interaction != "open").all() and email(no_opens) < email(jr)
    no_machine = journeys_frame(con, ignore_machine_opens=True)
    opens = lambda j: (j.interaction == "open").sum()  # noqa: E731
    assert opens(no_opens) == 0 < opens(no_machine) < opens(jr)


def test_dropped_opens_are_the_machine_opens(con, jr, small_dataset):
    """ignore_machine_opens drops opens within 10 minutes of the send with no click (Apple
    MPP fetches at delivery): against the simulator's truth, the opens it drops are mostly
    machine opens and the opens it keeps mostly human."""
    from workbench.store import read_table

    truth = read_table(small_dataset, "truth/messages").set_index("message_id").machine_open
    kept = journeys_frame(con, ignore_machine_opens=True)
    opens_all = set(jr.loc[jr.interaction == "open", "message_id"].astype(int))
    opens_kept = set(kept.loc[kept.interaction == "open", "message_id"].astype(int))
    dropped = opens_all - opens_kept
    assert opens_kept <= opens_all and dropped
    assert truth.loc[list(dropped)].mean() > 0.8
    assert truth.loc[list(opens_kept)].mean() < 0.2
    # visits carry no message; message touches always do
    assert jr.loc[jr.interaction == "visit", "message_id"].isna().all()
    assert jr.loc[jr.interaction != "visit", "message_id"].notna().all()


def test_labels_and_bad_options(con):
    j = journeys_frame(con, label="channel", include_visits=False)
    assert set(j.channel) <= {"email", "sms"}
    with pytest.raises(ValueError, match="label"):
        journeys_frame(con, label="colour")
    with pytest.raises(ValueError, match="windows must be > 0"):
        journeys_frame(con, windows={("email", "click"): 0})
    with pytest.raises(ValueError, match="lookback_days"):
        journeys_frame(con, lookback_days=-1)


def test_journeys_feed_the_attribution_models(jr):
    from workbench.attribution import paths_from_journeys

    p = paths_from_journeys(jr)
    conv = jr[jr.converted].groupby("journey_id").value.first()
    assert p.conversions.sum() == len(conv)
    assert p.value.sum() == pytest.approx(conv.sum())
    assert np.isfinite(p.ages_days).all()
