"""The prediction log: what a run predicts is kept, and a later run on newer data scores it
against what happened (the store's own history, cut at an earlier date)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from workbench.analyses import get
from workbench.cli import main
from workbench.history import ConfigHistory, PredictionLog, PredictionLogError, prediction_rows
from workbench.pipeline import run_all
from workbench.store import DatasetError, dataset_as_of, load_manifest, read_table, validate

ANALYSES = ("operations", "cart_timing", "clv")


def test_the_log_keeps_each_run_and_names_what_is_wrong(tmp_path):
    log = PredictionLog(tmp_path / "h")
    assert log.read().empty and log.runs().empty
    rows = prediction_rows("clv.purchases", [1, 2], "2025-06-01", 30, [0.5, 1.5], [0, 0],
                           [2, 3], 0.9).assign(made_at=pd.Timestamp.now(tz="UTC"),
                                               dataset_hash="abc")
    log.append("r1", rows)
    log.append("r2", rows.assign(predicted=[0.1, 0.2]))
    got = log.read()
    assert list(got.run_id.unique()) == ["r1", "r2"] and len(got) == 4
    assert got.as_of.dt.tz is not None and (got.key == ["1", "2", "1", "2"]).all()
    with pytest.raises(PredictionLogError, match="run id"):
        log.append("../x", rows)
    with pytest.raises(PredictionLogError, match=r"lack column\(s\) \['predicted'\]"):
        log.append("r3", rows.drop(columns="predicted"))
    (tmp_path / "h" / "r0.parquet").write_text("not parquet")
    with pytest.raises(PredictionLogError, match="r0.parquet"):
        log.read()


def test_a_dataset_as_of_a_date_holds_only_what_was_known_then(small_dataset, tmp_path):
    end = pd.Timestamp("2025-03-01 10:00", tz="UTC")
    cut = dataset_as_of(small_dataset, end, tmp_path / "cut")
    assert validate(cut).ok
    m = load_manifest(cut)
    assert m["as_of"].startswith("2025-03-01") and m["seed"] == load_manifest(small_dataset)["seed"]
    for name, col in (("orders", "placed_at"), ("events", "ts"), ("messages", "sent_at"),
                      ("sessions", "started_at"), ("assignments", "assigned_at")):
        full, part = read_table(small_dataset, name), read_table(cut, name)
        assert (part[col] < end).all() and len(part) == (full[col] < end).sum(), name
    msg = read_table(cut, "messages")
    for col in ("opened_at", "clicked_at", "unsubscribed_at"):
        assert (msg[col].dropna() < end).all()  # not known yet at the cut
    full = read_table(small_dataset, "messages").set_index("message_id")
    later = full.loc[msg.message_id, "opened_at"] >= end
    assert later.any() and msg.opened_at[later.to_numpy()].isna().all()
    items = read_table(cut, "order_items")
    assert set(items.order_id) <= set(read_table(cut, "orders").order_id)
    assert pq.read_table(cut / "truth" / "customers.parquet").num_rows == \
        pq.read_table(small_dataset / "truth" / "customers.parquet").num_rows
    with pytest.raises(DatasetError, match="no order before"):
        dataset_as_of(small_dataset, "2020-01-01", tmp_path / "none")


@pytest.fixture(scope="module")
def two_runs(small_dataset, tmp_path_factory):
    """A run on the store as of day 60 of 120, then one on all of it, sharing the log."""
    out = tmp_path_factory.mktemp("acc")
    an = [get(n) for n in ANALYSES]
    first = run_all(small_dataset, out / "first", echo=lambda s: None, analyses=an,
                    as_of="2025-03-02", history=out / "history", replay_customers=0)
    second = run_all(small_dataset, out / "second", echo=lambda s: None, analyses=an,
                     history=out / "history", replay_customers=0)
    return first, second, out


def test_a_later_run_scores_the_earlier_runs_predictions(two_runs):
    first, second, out = two_runs
    assert "prediction_accuracy" not in first  # nothing was due on the first run
    log = PredictionLog(out / "history")
    assert len(log.runs()) == 2  # each run logged what it predicts
    # and recorded the config it exported, at the data's end it was computed on
    exported = ConfigHistory(out / "history").entries("exported")
    assert len(exported) == 2 and exported[0]["effective_from"] < exported[1]["effective_from"]
    t = pd.read_csv(second["prediction_accuracy"])
    assert {"clv.purchases", "clv.any_purchase", "clv.p_alive", "cart_timing.recovery",
            "operations.open_rate", "operations.click_rate"} <= set(t.kind)
    p = t[(t.kind == "clv.purchases") & (t.horizon_days == 30)].iloc[0]
    # the total, within 3 Poisson sd of what came plus 15% for the model's own error
    assert abs(p.predicted_total - p.actual_total) <= 3 * np.sqrt(p.actual_total) + \
        0.15 * p.actual_total, p
    # the intervals hold as often as they claim (binomial 4 sd over the customers)
    assert abs(p.coverage - p.level) <= 4 * np.sqrt(p.level * (1 - p.level) / p.rows) + 0.01
    # P(any purchase) is calibrated in the mean: the expected buyers within 3 sd of those
    # who bought (a sum of Bernoullis: variance at most the rows' p (1 - p))
    a = t[(t.kind == "clv.any_purchase") & (t.horizon_days == 30)].iloc[0]
    base = a.actual_total / a.rows
    assert abs(a.predicted_total - a.actual_total) <= 3 * np.sqrt(a.rows * base * (1 - base))
    # cart arms: each arm's next-month recovery inside its predictive interval, mostly
    c = t[t.kind == "cart_timing.recovery"].iloc[0]
    assert c.rows >= 5 and c.coverage >= 0.6
    html = (second["report"]).read_text(encoding="utf-8")
    assert "s accuracy over time</h2>" in html and "Interval coverage" in html


def test_coverage_is_charted_against_the_level_claimed():
    """One run: a bar per kind with its claimed level as a tick; several: a line per kind
    over the runs with the level dashed; nothing when no interval has come due."""
    import workbench as wb

    one = pd.DataFrame({"as_of": ["2025-09-01"] * 2, "label": ["purchases", "recovery"],
                        "horizon_days": [30.0, 30.0], "rows": [100, 7],
                        "coverage": [0.97, 0.86], "level": [0.98, 0.95]})
    spec = wb.coverage_chart(one).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "tick"]
    assert spec["layer"][1]["encoding"]["x"]["field"] == "level"
    two = pd.concat([one, one.assign(as_of="2025-10-01", coverage=[0.99, 0.71])])
    spec = wb.coverage_chart(two).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "line"]
    assert spec["layer"][1]["mark"]["strokeDash"] == [4, 4]
    assert wb.coverage_chart(one.assign(coverage=np.nan)) is None


def test_the_cli_runs_as_of_a_date_and_refuses_a_bad_one(small_dataset, tmp_path):
    res = CliRunner().invoke(main, ["run", "--dataset", str(small_dataset), "--out",
                                    str(tmp_path / "o"), "--as-of", "not-a-date"])
    assert res.exit_code == 2 and "--as-of" in res.output
    res = CliRunner().invoke(main, ["run", "--dataset", str(small_dataset), "--out",
                                    str(tmp_path / "o"), "--as-of", "2019-01-01"])
    assert res.exit_code == 1 and "no order before 2019-01-01" in res.output


def test_this_cycle_is_set_against_what_the_run_at_its_start_expected(small_dataset, tmp_path):
    from workbench.analyses.overview import message_funnel, operations_section
    from workbench.analyses.overview.forecast import engagement_predictions, with_expectation
    from workbench.store import open_dataset

    con = open_dataset(small_dataset)
    now = message_funnel(con)
    cut = dataset_as_of(small_dataset, now.attrs["cycle_end"] - pd.Timedelta(days=7),
                        tmp_path / "cut")
    before = message_funnel(open_dataset(cut))  # the run a cycle ago
    log = PredictionLog(tmp_path / "h")
    log.append("r1", engagement_predictions(before).assign(
        made_at=pd.Timestamp.now(tz="UTC"), dataset_hash="x"))
    f = with_expectation(now, tmp_path / "h")
    email = f[f.channel == "email"]
    assert email.open_rate_predicted.notna().all() and email.click_rate_predicted.notna().all()
    outside = (f.click_rate < f.click_rate_pred_low) | (f.click_rate > f.click_rate_pred_high)
    assert (f.vs_prediction.str.contains("click rate") == outside).all()
    # most rates fall inside a 95% band (a few campaigns x channels: allow one)
    assert outside.sum() <= 1, f[["campaign", "channel", "click_rate", "click_rate_pred_low",
                                  "click_rate_pred_high"]]
    html = operations_section(f, pd.DataFrame(columns=["week", "revenue_per_email",
                                                       "revenue_per_sms"])).paragraphs
    assert any("predicted for this cycle" in p for p in html)
    # no prediction for this cycle: the funnel is left as it was
    assert "vs_prediction" not in with_expectation(now, tmp_path / "empty")
