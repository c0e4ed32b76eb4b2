"""The operational layer: latest-cycle funnel, anomaly bands; the weekly efficiency layer."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from workbench.analyses.overview.operations import message_funnel, weekly_efficiency
from workbench.store import open_dataset


class _Con:
    """A connection whose messages table is a modified copy (for injected anomalies)."""

    def __init__(self, con, messages: pd.DataFrame):
        self._con, self._m = con, ibis.memtable(messages)

    def list_tables(self):
        return self._con.list_tables()

    def table(self, name):
        return self._m if name == "messages" else self._con.table(name)


def test_funnel_counts_match_pandas(small_dataset, small_tables):
    con = open_dataset(small_dataset)
    f = message_funnel(con)
    m = small_tables["messages"]
    end = m.sent_at.max()
    cur = m[m.sent_at > end - pd.Timedelta(days=7)]
    # cycle 0 is (end - 7 days, end]; floor division puts the boundary in cycle 1
    for r in f.itertuples():
        g = cur[(cur.campaign == r.campaign) & (cur.channel == r.channel)]
        assert r.sent == len(g) and r.delivered == int(g.delivered.sum())
        assert r.clicked == int(g.clicked_at.notna().sum())
    assert not f.anomaly.astype(bool).any()  # an undisturbed store stays inside its bands


def test_a_delivery_outage_is_flagged(small_dataset, small_tables):
    con = open_dataset(small_dataset)
    m = small_tables["messages"].copy()
    end = m.sent_at.max()
    hit = (m.sent_at > end - pd.Timedelta(days=6)) & (m.campaign == "browse_abandonment")
    m.loc[hit & (np.arange(len(m)) % 2 == 0), "delivered"] = False
    f = message_funnel(_Con(con, m)).set_index("campaign")
    assert "delivery rate" in f.loc["browse_abandonment", "anomaly"]
    assert f.drop(index="browse_abandonment").anomaly.eq("").all()


def test_weekly_efficiency(small_dataset, small_tables):
    w = weekly_efficiency(open_dataset(small_dataset))
    o = small_tables["orders"]
    wk = o.placed_at.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("W-SUN")
    rev = o.groupby(wk).revenue.sum()
    row = w.iloc[2]
    p = pd.Timestamp(row.week).tz_localize(None).to_period("W-SUN")
    assert row.revenue == pytest.approx(rev.loc[p])
    assert w.marketing_cost_share.between(0, 1).all()
    # trailing average is the mean of the four weeks before
    i = 6
    assert w.revenue_trailing_4w.iloc[i] == pytest.approx(w.revenue.iloc[i - 4:i].mean())
    assert w.revenue_last_year.isna().all()  # 120 days: no week a year earlier
