"""RFM summaries, cohorts and the CLV command line; CLV against the simulator's truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.analyses.clv.features import cohort_triangles, rfm_from_transactions, rfm_summary
from workbench.cli import main
from workbench.store import open_dataset


def test_rfm_by_hand():
    """Customer a: purchases on days 0, 0 (same day: one period), 3 and 10; calibration ends
    on day 12, observation on day 20 with one more purchase on day 15.  Customer b: one
    purchase on day 5.  lifetimes' summary_data_from_transaction_data convention."""
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    d = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "b", "a"],
                      "timestamp": [t0, t0 + pd.Timedelta(hours=5), t0 + pd.Timedelta(days=3),
                                    t0 + pd.Timedelta(days=10), t0 + pd.Timedelta(days=5),
                                    t0 + pd.Timedelta(days=15)],
                      "amount": [10.0, 5.0, 20.0, 40.0, 7.0, 8.0]})
    r = rfm_from_transactions(d, t0 + pd.Timedelta(days=12), t0 + pd.Timedelta(days=20))
    a, b = r.set_index("customer_id").loc["a"], r.set_index("customer_id").loc["b"]
    assert (a.frequency, a.recency, a["T"]) == (2, 10.0, 12.0)
    assert a.monetary_value == pytest.approx(30.0)  # repeats only: (20 + 40) / 2
    assert a.historic_revenue == pytest.approx(75.0)
    assert (a.frequency_holdout, a.monetary_holdout, a.duration_holdout) == (1, 8.0, 8.0)
    assert (b.frequency, b.recency, b["T"], b.monetary_value) == (0, 0.0, 7.0, 0.0)
    w = rfm_from_transactions(d, t0 + pd.Timedelta(days=12), time_unit="weeks")
    assert w.set_index("customer_id").loc["a", "T"] == pytest.approx(12 / 7)


def test_rfm_reads_nanosecond_and_mixed_timestamps():
    """Exports carry nanoseconds (pandas' default unit) and mix date formats; the same
    purchases give the same summary whatever the timestamps look like."""
    d = pd.DataFrame({"customer_id": [1, 1, 2],
                      "timestamp": ["2024-01-01 10:00:00.123456789", "2024-02-01T11:00:00Z",
                                    "2024-01-05"],
                      "amount": [10.0, 20.0, 30.0]})
    as_text = rfm_from_transactions(d, "2024-03-01")
    as_ns = rfm_from_transactions(d.assign(timestamp=pd.to_datetime(
        d.timestamp, format="mixed", utc=True)), "2024-03-01")
    pd.testing.assert_frame_equal(as_text, as_ns)
    a = as_text.set_index("customer_id").loc[1]
    assert (a.frequency, a.recency, a["T"]) == (1, 31.0, 60.0)


def test_rfm_errors_name_the_column():
    d = pd.DataFrame({"customer_id": [1], "timestamp": ["not a date"], "amount": [1.0]})
    with pytest.raises(ValueError, match="'timestamp' is not a timestamp in rows \\[0\\]"):
        rfm_from_transactions(d, "2025-01-01")
    with pytest.raises(ValueError, match="missing column"):
        rfm_from_transactions(d.drop(columns="amount"), "2025-01-01")
    with pytest.raises(ValueError, match="observation_end"):
        rfm_from_transactions(d.assign(timestamp="2024-12-01"), "2025-01-01", "2024-06-01")
    with pytest.raises(ValueError, match="time_unit"):
        rfm_from_transactions(d.assign(timestamp="2024-12-01"), "2025-01-01",
                              time_unit="fortnights")


def test_dataset_rfm_matches_pandas(small_dataset, small_tables):
    con = open_dataset(small_dataset)
    o = small_tables["orders"]
    cal = o.placed_at.min() + pd.Timedelta(days=80)
    r = rfm_summary(con, calibration_end=cal, net_of_returns=False).set_index("customer_id")
    oo = o[o.placed_at <= cal].assign(day=lambda x: x.placed_at.dt.floor("D"))
    per = oo.groupby(["customer_id", "day"]).revenue.sum().reset_index()
    g = per.groupby("customer_id")
    assert len(r) == g.ngroups
    np.testing.assert_array_equal(r.frequency.sort_index(), (g.size() - 1).sort_index())
    rec = ((g.day.max() - g.day.min()).dt.total_seconds() / 86400).sort_index()
    np.testing.assert_allclose(r.recency.sort_index(), rec)
    np.testing.assert_allclose(r.historic_revenue.sort_index(), g.revenue.sum().sort_index())
    net = rfm_summary(con, calibration_end=cal).set_index("customer_id")
    assert (net.historic_revenue <= r.historic_revenue + 1e-9).all()
    assert net.historic_revenue.sum() < r.historic_revenue.sum()  # returns are refunded


def test_returns_and_holdout_days_counted_in_the_engine_match_pandas(small_dataset,
                                                                     small_tables):
    """The CLV analysis's returns rate and holdout tracking, from aggregates the engine
    computes, equal what the orders and returns give in pandas."""
    from workbench.analyses.clv.features import holdout_purchase_days, returns_rate

    con = open_dataset(small_dataset)
    o, r = small_tables["orders"], small_tables["returns"]
    cal = o.placed_at.min() + pd.Timedelta(days=80)
    obs = cal + pd.Timedelta(days=30)
    before = o[o.placed_at <= cal]
    refunded = r[r.order_id.isin(before.order_id)].amount.sum()
    assert refunded > 0
    assert returns_rate(con, cal) == pytest.approx(refunded / before.revenue.sum(), rel=1e-12)
    hold = o[(o.placed_at > cal) & (o.placed_at <= obs)
             & o.customer_id.isin(before.customer_id)]
    days = hold.assign(day=hold.placed_at.dt.floor("D"))[["customer_id", "day"]].drop_duplicates()
    want = ((days.day - cal.floor("D")).dt.days).value_counts().sort_index()
    got = holdout_purchase_days(con, cal, obs)
    assert got.elapsed_days.tolist() == want.index.tolist() and len(want) > 10
    assert got.purchases.tolist() == want.tolist()
    assert got.elapsed_days.between(0, 30).all()


def test_cohort_triangles(small_dataset):
    c = cohort_triangles(open_dataset(small_dataset), by="acquisition_channel")
    ret = c["retention"]
    assert (ret[ret.age == 0].retention == 1).all()
    assert ret.retention.between(0, 1).all()
    rev = c["revenue"]
    assert (rev.groupby(["cohort", "acquisition_channel"]).cumulative_per_customer
            .diff().dropna() >= -1e-9).all()
    with pytest.raises(ValueError, match="period"):
        cohort_triangles(open_dataset(small_dataset), period="fortnight")


@pytest.fixture
def cdnow_csv(tmp_path):
    from workbench.datasets import load_cdnow_summary

    f = tmp_path / "cdnow.csv"
    load_cdnow_summary().to_csv(f, index=False)
    return f


def test_cli_reproduces_the_published_cdnow_fit(cdnow_csv):
    """Fader, Hardie & Lee (2005), Marketing Science 24(2), p. 281: r = 0.243, alpha = 4.414,
    a = 0.793, b = 2.426, LL = -9582.4 on the CDNOW sample (weeks)."""
    out = CliRunner().invoke(main, ["clv", str(cdnow_csv), "--time-unit", "weeks", "--spend",
                                    "--json"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)
    assert res["log_likelihood"] == pytest.approx(-9582.4, abs=0.05)
    assert res["params"]["r"] == pytest.approx(0.243, abs=5e-4)
    assert res["params"]["alpha"] == pytest.approx(4.414, abs=5e-3)
    # Gamma-Gamma on the 946 repeat buyers: p = 6.25, q = 3.74, gamma = 15.44 (FHL 2005b)
    assert res["spend"]["params"]["p"] == pytest.approx(6.25, abs=0.01)
    assert res["spend"]["params"]["gamma"] == pytest.approx(15.44, abs=0.02)


def test_cli_transaction_log_and_bad_input(tmp_path):
    t = tmp_path / "tx.csv"
    pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 3],
                  "timestamp": ["2025-01-01", "2025-01-10", "2025-01-03", "2025-01-02",
                                "2025-01-05", "2025-01-20"],
                  "amount": [10, 20, 5, 8, 9, 11]}).to_csv(t, index=False)
    out = CliRunner().invoke(main, ["clv", str(t), "--calibration-end", "2025-02-01",
                                    "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["customers"] == 3
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"customer_id": [1, 2], "frequency": [-1, 0], "recency": [0, 0],
                  "T": [5, 5]}).to_csv(bad, index=False)
    out = CliRunner().invoke(main, ["clv", str(bad)])
    assert out.exit_code == 2 and "frequency" in out.output
    bad2 = tmp_path / "bad2.csv"
    pd.DataFrame({"customer_id": [1], "frequency": [1], "recency": [9], "T": [5]}).to_csv(
        bad2, index=False)
    out = CliRunner().invoke(main, ["clv", str(bad2)])
    assert out.exit_code == 2 and "recency" in out.output
    # a store's export given as a transaction log: the columns it has, and the way in
    shop = tmp_path / "orders_export.csv"
    shop.write_text("Name,Email,Created at,Total\n#1,a@b.co,2024-01-02 10:00:00 +0100,12.5\n")
    out = CliRunner().invoke(main, ["clv", str(shop), "--calibration-end", "2024-02-01"])
    assert out.exit_code == 2
    assert "have ['Name', 'Email', 'Created at', 'Total']" in out.output
    assert "workbench import shopify" in out.output
