"""Platform-style metrics (issue 21): counted as email platforms count them, beside published
ranges.  The counting is checked against pandas on a simulated store; the calibration of the
default scenarios against the ranges is in tests/test_calibration.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.overview.benchmarks import (
    BENCHMARKS,
    against_benchmarks,
    platform_metrics,
)
from workbench.store import open_dataset, read_table


@pytest.fixture(scope="module")
def metrics(small_dataset):
    return platform_metrics(open_dataset(small_dataset)).set_index(["scope", "metric"])


def test_per_recipient_rates_count_attributed_orders_per_delivered_message(metrics,
                                                                            small_dataset):
    m = read_table(small_dataset, "messages")
    o = read_table(small_dataset, "orders")
    att = o.dropna(subset=["message_id"]).merge(m[["message_id", "campaign", "channel"]],
                                                on="message_id")
    for (camp, ch), d in m[m.delivered].groupby(["campaign", "channel"]):
        a = att[(att.campaign == camp) & (att.channel == ch)]
        scope = f"{camp}/{ch}"
        assert metrics.loc[(scope, "placed_order_rate"), "value"] == pytest.approx(
            len(a) / len(d))
        assert metrics.loc[(scope, "revenue_per_recipient"), "value"] == pytest.approx(
            a.revenue.sum() / len(d))
        assert metrics.loc[(scope, "click_rate"), "n"] == len(d)
        if ch == "sms":
            assert (scope, "open_rate") not in metrics.index


def test_store_rates_match_pandas(metrics, small_dataset):
    o = read_table(small_dataset, "orders")
    e = read_table(small_dataset, "events")
    per = o.groupby("customer_id").size()
    assert metrics.loc[("store", "repeat_purchase_rate"), "value"] == pytest.approx(
        (per > 1).mean())
    assert metrics.loc[("store", "average_order_value"), "value"] == pytest.approx(
        o.revenue.mean())
    carts = set(e.session_id[e.event_name == "add_to_cart"])
    bought = set(e.session_id[e.event_name == "purchase"])
    assert metrics.loc[("store", "cart_abandonment_rate"), "value"] == pytest.approx(
        len(carts - bought) / len(carts))


def test_against_benchmarks_flags_values_outside_their_range(metrics):
    table = against_benchmarks(metrics.reset_index())
    assert len(table) > 10
    inside = (table.value >= table.low) & (table.value <= table.high)
    assert (table.inside == inside).all()
    assert np.all(table.low < table.high)
    # every range names where it comes from
    assert all(b.source and b.definition for b in BENCHMARKS)
    assert len({(b.scope, b.metric, b.vertical) for b in BENCHMARKS}) == len(BENCHMARKS)
    # a vertical's own range replaces the general one; an unknown vertical is named
    aov = against_benchmarks(metrics.reset_index(), vertical="apparel").set_index(
        ["scope", "metric"]).loc[("store", "average_order_value")]
    assert (aov.low, aov.high) == (140.0, 200.0)
    with pytest.raises(ValueError, match=r"no benchmarks for vertical 'toys'.*apparel"):
        against_benchmarks(metrics.reset_index(), vertical="toys")


def test_the_overview_section_shows_the_store_against_the_ranges(small_dataset):
    from workbench.analyses import Context, get

    ctx = Context.open(small_dataset, echo=lambda s: None)
    overview = get("overview")
    result = overview(ctx)
    titles = [t for t, _ in overview.section(result).tables]
    table = dict(overview.section(result).tables)[titles[-1]]
    assert titles[-1].startswith("Against published benchmarks")
    assert set(table.verdict) <= {"inside", "below", "above"}
    assert ((table.verdict == "inside") == result.benchmarks.inside.to_numpy()).all()


def test_the_overview_reuses_its_tables_for_the_same_metrics(metrics, small_dataset):
    from workbench.analyses.overview.benchmarks import overview_metrics
    from workbench.analyses.overview.features import store_overview

    ov = store_overview(open_dataset(small_dataset))
    again = overview_metrics(ov.messages, ov.abandonment, ov.kpis).set_index(
        ["scope", "metric"])
    pd.testing.assert_frame_equal(again.sort_index(), metrics.sort_index())
