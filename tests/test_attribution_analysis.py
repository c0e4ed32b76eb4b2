"""Attribution on a simulated store: journeys → models → campaigns → truth; the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.analyses.attribution.analysis import analyze_attribution, window_sweep
from workbench.cli import main
from workbench.simulate.truth import campaign_incremental_revenue
from workbench.store import open_dataset


@pytest.fixture(scope="module")
def analysis(small_dataset):
    truth = campaign_incremental_revenue(small_dataset)
    return analyze_attribution(open_dataset(small_dataset), truth=truth, n_boot=30)


def test_every_model_credits_all_revenue_and_campaigns_sum_their_labels(analysis, small_tables):
    revenue = small_tables["orders"].revenue.sum()
    per_model = analysis.by_campaign.groupby("model").value.sum()
    # every order is one converting journey, so each model distributes (almost) all revenue
    assert np.allclose(per_model, per_model.iloc[0])
    assert per_model.iloc[0] == pytest.approx(analysis.journeys["revenue"])
    assert analysis.journeys["revenue"] / revenue > 0.95
    for label, r in analysis.comparison.results.items():
        assert r.table.value.sum() == pytest.approx(analysis.journeys["revenue"]), label


def test_campaign_intervals_bracket_the_point_and_come_from_replicates(analysis):
    b = analysis.by_campaign
    camp = b[b.is_campaign]
    assert (camp.value_low <= camp.value + 1e-6).all() and (camp.value <= camp.value_high
                                                             + 1e-6).all()
    # a campaign with two labels (email and SMS): its interval is of the sum, so it is
    # narrower than the sum of the labels' intervals
    r = analysis.comparison.results["linear"].table.set_index("channel")
    lab = [c for c in r.index if c.startswith("abandoned_cart_")]
    if len(lab) == 2:
        row = camp[(camp.model == "linear") & (camp.campaign == "abandoned_cart")].iloc[0]
        summed = (r.loc[lab, "value_high"] - r.loc[lab, "value_low"]).sum()
        assert row.value_high - row.value_low < summed


def test_truth_scoring_ranks_every_model(analysis):
    s = analysis.score
    assert set(s.model) == set(analysis.comparison.results)
    assert sorted(s["rank"]) == sorted(s.mae_share.rank(method="min").astype(int))
    assert s.n_channels.eq(len(analysis.truth)).all()
    text = analysis.summary()
    assert "journeys" in text and s.iloc[0].model in text
    spec = analysis.chart().to_dict()
    assert spec["facet"]["field"] == "campaign"
    # every layer, the truth rule included, reads the facet's data, so each campaign's
    # panel shows only that campaign (a layer with its own data would repeat everywhere)
    layers = spec["spec"]["layer"]
    assert len(layers) == 3 and not any("data" in layer for layer in layers)
    rows = spec["datasets"][spec["data"]["name"]]
    assert {"campaign", "value", "truth"} <= set(rows[0])


def test_shift_table_is_credit_moved_from_last_click(analysis):
    sh = analysis.shift
    lc = analysis.comparison.results["last_click"].table.set_index("channel").value
    row = sh[sh.model == "linear"].set_index("channel")
    assert np.allclose(row.base_value, lc.reindex(row.index).fillna(0))
    assert row.shift_value.sum() == pytest.approx(0, abs=1e-6)  # credit moves, total stays


def test_window_sweep_counting_opens_and_longer_windows_inflate_message_credit(small_dataset):
    truth = campaign_incremental_revenue(small_dataset)
    sw = window_sweep(open_dataset(small_dataset), truth=truth, windows=(1, 5, 14))
    clicks = sw[~sw.opens_counted].set_index("window_days").credited_revenue
    opens = sw[sw.opens_counted].set_index("window_days").credited_revenue
    assert clicks.is_monotonic_increasing and opens.is_monotonic_increasing
    assert (opens >= clicks).all() and opens[14] > clicks[14]
    assert sw.inflation.notna().all()


@pytest.fixture
def paths_csv(tmp_path):
    f = tmp_path / "paths.csv"
    pd.DataFrame({"path": ["email > sms", "sms", "email", "direct > email"],
                  "total_conversions": [2, 1, 1, 3], "total_conversion_value": [20, 10, 5, 30],
                  "total_null": [1, 3, 2, 0]}).to_csv(f, index=False)
    return f


@pytest.mark.parametrize("model", ["last_click", "linear", "markov", "shapley", "position"])
def test_cli_prints_credit_that_sums_to_the_totals(paths_csv, model):
    out = CliRunner().invoke(main, ["attribution", str(paths_csv), "--model", model, "--json",
                                    "--boot", "20"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)
    assert sum(r["conversions"] for r in res["table"]) == pytest.approx(7)
    assert sum(r["value"] for r in res["table"]) == pytest.approx(65)
    if model == "markov":
        assert res["removal_effects"]


def test_cli_markov_order_and_errors(paths_csv, tmp_path):
    out = CliRunner().invoke(main, ["attribution", str(paths_csv), "--model", "markov",
                                    "--order", "2", "--json", "--boot", "0"])
    assert out.exit_code == 0 and json.loads(out.output)["params"]["order"] == 2
    bad = CliRunner().invoke(main, ["attribution", str(paths_csv), "--model", "linear",
                                    "--order", "2"])
    assert bad.exit_code == 2 and "--order" in bad.output
    pipe = tmp_path / "pipe.csv"
    pipe.write_text("path,total_conversions,total_conversion_value,total_null\na|b,1,1,0\n")
    bad = CliRunner().invoke(main, ["attribution", str(pipe)])
    assert bad.exit_code == 2 and "sep='|'" in bad.output
    neg = tmp_path / "neg.csv"
    neg.write_text("path,total_conversions,total_conversion_value,total_null\na>b,-1,1,0\n")
    bad = CliRunner().invoke(main, ["attribution", str(neg)])
    assert bad.exit_code == 2 and "total_conversions" in bad.output
    unknown = CliRunner().invoke(main, ["attribution", str(paths_csv), "--model", "magic"])
    assert unknown.exit_code == 2 and "magic" in unknown.output


def test_weekly_last_click_adds_up_to_the_whole_period(small_dataset, analysis):
    """Last click credits each journey on its own, so the weekly credit summed over weeks is
    the whole period's credit, campaign by campaign."""
    from workbench.analyses.attribution.analysis import weekly_attribution

    w = weekly_attribution(open_dataset(small_dataset), models=("last_click", "linear"))
    lc = w[w.model == "last_click"].groupby("campaign").value.sum()
    whole = analysis.campaign_table("value")["last_click"]
    for c, v in lc.items():
        assert v == pytest.approx(whole[c])
    assert set(w.model) == {"last_click", "linear"}


def test_journeys_read_in_batches_give_the_same_paths_and_credit(small_dataset, analysis,
                                                                  monkeypatch):
    """Whole journeys a batch at a time (issue 20): batches of 500 touches cut many
    journeys in two, and the paths joined are those of the whole frame, so every model's
    credit and the journey counts are the same as in one batch."""
    from workbench.analyses.attribution import journeys as J
    from workbench.attribution.paths import Paths, paths_from_journeys

    con = open_dataset(small_dataset)
    whole = J.journeys_frame(con)
    batches = list(J.journey_batches(con, batch_touches=500))
    assert len(batches) > 5
    ids = [set(b.journey_id) for b in batches]
    assert sum(map(len, ids)) == whole.journey_id.nunique()  # no journey in two batches
    joined = Paths.concat([paths_from_journeys(b, require_conversion=False) for b in batches])
    one = paths_from_journeys(whole)
    assert joined.channels == one.channels and joined.path_strings() == one.path_strings()
    for a in ("conversions", "value", "nulls", "ages_days"):
        np.testing.assert_array_equal(getattr(joined, a), getattr(one, a))
    monkeypatch.setattr(J, "BATCH_TOUCHES", 700)
    again = analyze_attribution(con, n_boot=30)
    assert again.journeys == analysis.journeys
    pd.testing.assert_frame_equal(again.by_campaign, analysis.by_campaign)


def test_journey_ids_number_customers_journeys_in_order(small_dataset):
    """A journey's id is the dense rank of (customer, end) from 0, without gaps — built
    from each customer's own ranks plus the journeys of the customers before them."""
    from workbench.analyses.attribution.journeys import journeys_frame

    jr = journeys_frame(open_dataset(small_dataset))
    keys = jr.drop_duplicates("journey_id")[["journey_id", "customer_id", "end_ts"]]
    keys = keys.sort_values(["customer_id", "end_ts"]).reset_index(drop=True)
    assert keys.journey_id.tolist() == list(range(len(keys)))
    assert jr.groupby("journey_id")[["customer_id", "end_ts"]].nunique().max().max() == 1
