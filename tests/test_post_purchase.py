"""Post-purchase content by buyer: the simulator's test and routing, the analysis, the export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from workbench.analyses import Context
from workbench.analyses.base import Skipped
from workbench.analyses.post_purchase import (
    PostPurchaseContent,
    analyze_post_purchase,
    content_effects,
    decide,
    size_test,
)
from workbench.campaigns.config import (
    baseline_from_dataset,
    diff_configs,
    with_recommendations,
)
from workbench.cli import main
from workbench.simulate import scenario, simulate
from workbench.simulate.config import PostPurchaseSequence, SimulationConfig
from workbench.store import load_manifest, open_dataset, read_table, save_simulation

# strong content effects (first-time, repeat, per doubling of the order's value), so a
# store of 8,000 customers can tell them apart
STRONG = {"cross_sell": (0.0, 0.0, 0.0), "welcome": (2.5, -0.5, 0.0),
          "early_access": (-0.2, 0.2, 0.6), "loyalty": (-0.5, 2.0, 0.0)}
START_DAY = 90


@pytest.fixture(scope="module")
def tested(tmp_path_factory):
    cfg = scenario("sequences", n_customers=8000,
                   response={"post_purchase_content_logit": STRONG})
    return save_simulation(simulate(cfg, seed=1), tmp_path_factory.mktemp("pp") / "store")


@pytest.fixture(scope="module")
def result(tested):
    return analyze_post_purchase(open_dataset(tested), dataset=tested)


def _first_orders(path) -> set:
    o = read_table(path, "orders").sort_values(["placed_at", "order_id"])
    return set(o.drop_duplicates("customer_id").order_id)


def test_the_content_moves_persuasion_by_exactly_its_logit(tested):
    """Each email's persuasion logit, less the customer's responsiveness, the products' appeal
    and the campaign's base, is its content's term for the buyer (cross-sell: 0)."""
    m = read_table(tested, "messages")
    m = m[(m.campaign == "post_purchase") & (m.channel == "email")]
    t = read_table(tested, "truth/messages").set_index("message_id")
    c = read_table(tested, "truth/customers").set_index("customer_id")
    cfg = SimulationConfig.model_validate(load_manifest(tested)["config"])
    resid = (t.persuasion_logit_without_discount.reindex(m.message_id).to_numpy()
             - t.products_logit.reindex(m.message_id).to_numpy()
             - c.email_responsiveness.reindex(m.customer_id).to_numpy()
             - cfg.response.campaign_base_logit["post_purchase"]
             - cfg.response.channel_logit["email"])
    first = m.trigger_id.isin(_first_orders(tested)).to_numpy()
    checked = 0
    for content in ("cross_sell", "welcome", "loyalty"):  # no order-value term
        for is_first, col in ((True, 0), (False, 1)):
            sel = (m.arm == content).to_numpy() & (first == is_first)
            assert sel.sum() > 20
            np.testing.assert_allclose(resid[sel], STRONG[content][col], atol=1e-9)
            checked += sel.sum()
    assert checked > 1000
    # early access grows with the order's value: 0.6 logit per doubling of its value
    # before discount (the basket), so the residual's slope on log2(value) is 0.6
    o = read_table(tested, "orders").set_index("order_id")
    value = (o.revenue + o.discount_amount).reindex(m.trigger_id).to_numpy()
    # and its first-time and repeat terms differ by theirs (the median basket cancels)
    fit = {}
    for is_first in (True, False):
        sel = (m.arm == "early_access").to_numpy() & (first == is_first)
        slope, fit[is_first] = np.polyfit(np.log2(value[sel]), resid[sel], 1)
        assert slope == pytest.approx(STRONG["early_access"][2], abs=1e-6)
    assert fit[True] - fit[False] == pytest.approx(
        STRONG["early_access"][0] - STRONG["early_access"][1], abs=1e-6)


def test_customers_are_randomized_once_from_the_start_day(tested):
    a = read_table(tested, "assignments")
    a = a[a.experiment == "post_purchase_sequence"]
    assert a.customer_id.is_unique
    counts = a.arm.value_counts()
    assert set(counts.index) == {"none", "cross_sell", "welcome", "early_access", "loyalty"}
    assert stats.chisquare(counts).pvalue > 1e-3  # equal shares
    start = read_table(tested, "orders").placed_at.min().normalize()
    assert (a.assigned_at >= start + pd.Timedelta(days=START_DAY - 1)).all()
    m = read_table(tested, "messages")
    pp = m[(m.campaign == "post_purchase")].merge(a[["customer_id", "arm", "assigned_at"]],
                                                  on="customer_id", suffixes=("", "_test"))
    after = pp[pp.sent_at > pp.assigned_at]
    assert len(after) > 1000
    assert (after.arm == after.arm_test).all()  # the arm's content after every order
    assert "none" not in set(after.arm_test)  # the test's holdout gets no email


def test_the_analysis_finds_the_welcome_and_covers_the_truth(result):
    d = result.decision.set_index("segment")
    first = [s for s in d.index if s.startswith("first-time")]
    assert len(first) == 2 and (d.loc[first, "content"] == "welcome").all()
    seqs = result.sequences
    assert [s.model_dump() for s in seqs if s.buyers == "first_time"] == [
        PostPurchaseSequence(content="welcome", buyers="first_time").model_dump()]
    # 16 segment x content effects against the truth of every message, 95% intervals: at
    # most 4 misses (P(more) < 0.001 for independent cells; the cells share a control)
    assert result.truth["cells"] == 16 and result.truth["covered"] >= 12
    e = result.effects[result.effects.content == "welcome"]
    assert (e[e.segment.str.startswith("first")].true_incremental > 0.5).all()


def test_the_exported_sequences_are_a_config_the_simulator_runs(tested, result):
    base = baseline_from_dataset(tested)
    new = with_recommendations(base, post_purchase_sequences=result.sequences)
    pp = new.campaigns.post_purchase
    assert pp.sequence_test.share == pytest.approx(0.1)  # the test keeps measuring
    assert any("post-purchase content: cross-sell after every order → welcome for first "
               "orders" in line for line in diff_configs(base, new))
    cfg = SimulationConfig.model_validate({**scenario("tiny").model_dump(),
                                           "campaigns": new.campaigns.model_dump()})
    assert cfg.campaigns.post_purchase.sequences == pp.sequences


def test_cuped_welch_recovers_known_effects_and_decides_on_them():
    rng = np.random.default_rng(0)
    n, effects = 4000, {"none": 0.0, "cross_sell": 0.5, "welcome": 2.0, "loyalty": -1.0}
    arm = rng.choice(list(effects), n)
    value = rng.gamma(2.0, 40.0, n)
    y = 0.05 * value + np.array([effects[a] for a in arm]) + rng.normal(0, 5, n)
    u = pd.DataFrame({"arm": arm, "buyer": "first_time", "order_value": value,
                      "margin_after": y})
    e = content_effects(u, split=1e9).set_index("content")  # one segment
    for a, eff in effects.items():  # within 4 standard errors (~5 sqrt(2 / 1000))
        assert e.loc[a, "incremental"] == pytest.approx(eff, abs=4 * 5 * np.sqrt(2 / 1000))
    # the covariate's slope is removed: the interval is that of the noise alone
    assert (e.ci_high - e.ci_low).drop("none").max() < 2 * 1.97 * 5 * np.sqrt(2 / 900)
    d = decide(e.reset_index()).iloc[0]
    assert d.content == "welcome" and d.gain_vs_default == pytest.approx(1.5, abs=0.7)


def test_a_store_without_the_test_gets_the_test_sized(small_dataset):
    out = PostPurchaseContent()(Context.open(small_dataset))
    assert isinstance(out, Skipped)
    assert "post_purchase_sequence" in out.reason and "content test" in out.test_to_run
    (_, sized), = out.tables
    assert set(sized.buyer) == {"first_time", "repeat"}
    s = size_test(open_dataset(small_dataset)).set_index("buyer")
    for r in s.itertuples():  # n = 2 (z_.975 + z_.8)^2 sd^2 / d^2 per arm (d = 0.5)
        want = 2 * (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 \
            * r.margin_after_sd**2 / 0.25
        assert r.customers_per_arm == pytest.approx(want, rel=0.02)


# ------------------------------------------------------------- the same test, imported
@pytest.fixture(scope="module")
def imported(tested, tmp_path_factory, shopify_round_trip):
    """The tested store through Shopify's exports, its test's split imported as a CSV."""
    tmp = tmp_path_factory.mktemp("pp-import")
    shopify_round_trip(tested, tmp)
    cli = CliRunner()
    a = read_table(tested, "assignments")
    a = a[a.experiment == "post_purchase_sequence"]
    split = pd.DataFrame({"Email": "Customer" + a.customer_id.astype(str) + "@Example.com",
                          "Variation": a.arm, "Entered": a.assigned_at.astype(str)})
    split = pd.concat([split, pd.DataFrame({  # three bad rows, each rejected with a reason
        "Email": ["nobody@example.com", split.Email.iloc[0], ""],
        "Variation": ["welcome", "not_" + split.Variation.iloc[0], "welcome"],
        "Entered": ["2026-01-01", split.Entered.iloc[0], "2026-01-01"]})])
    split.to_csv(tmp / "split.csv", index=False)
    args = ["import", "assignments", str(tmp / "split.csv"), "--into", str(tmp / "shop"),
            "--map", "email=Email,arm=Variation,assigned_at=Entered",
            "--experiment", "post_purchase_sequence"]
    res = cli.invoke(main, args)
    assert res.exit_code == 0, res.output
    again = cli.invoke(main, args)  # a re-import adds nothing
    assert again.exit_code == 0 and "already present" in again.output
    return tmp / "shop"


def test_the_split_imports_with_rejects_and_no_address_in_clear(imported, tested):
    a = read_table(imported, "assignments")
    sim = read_table(tested, "assignments")
    assert len(a) == (sim.experiment == "post_purchase_sequence").sum() - 1
    rej = pd.read_csv(imported / "rejects.csv")
    rej = rej[rej.table == "split.csv"]
    reasons = dict(zip(rej.source_row, rej.reason, strict=True))
    n = (sim.experiment == "post_purchase_sequence").sum()
    assert "not a customer of the dataset" in reasons[n + 1]
    assert "two arms" in reasons[1] and "two arms" in reasons[n + 2]
    assert "no customer" in reasons[n + 3]
    for f in imported.rglob("*"):
        if f.is_file() and f.suffix in (".parquet", ".json", ".csv"):
            assert b"@example.com" not in f.read_bytes().lower(), f.name


def test_the_imported_store_makes_the_same_decision(imported, result):
    mine = analyze_post_purchase(open_dataset(imported))
    assert not mine.truth  # nothing simulated to compare with
    # revenue instead of margin (Shopify's export carries no costs): the welcome still
    # wins for first-time buyers, on the same customers less the one rejected
    d = mine.decision.set_index("segment")
    assert (d.loc[[s for s in d.index if s.startswith("first")], "content"]
            == "welcome").all()
    assert mine.settings["customers"] == pytest.approx(result.settings["customers"], abs=1)


def test_a_split_file_that_cannot_be_read_is_an_error_naming_file_and_columns(imported,
                                                                              tmp_path):
    f = tmp_path / "groups.csv"
    pd.DataFrame({"Email": ["a@example.com"], "Group": ["welcome"]}).to_csv(f, index=False)
    before = (imported / "manifest.json").read_text()
    cli = CliRunner()
    res = cli.invoke(main, ["import", "assignments", str(f), "--into", str(imported),
                            "--map", "email=E-mail,arm=Group",
                            "--experiment", "post_purchase_sequence",
                            "--assigned-at", "2026-01-01"])
    assert res.exit_code == 2 and "groups.csv" in res.output
    assert "['E-mail']" in res.output and "'Email'" in res.output  # asked for, and found
    res = cli.invoke(main, ["import", "assignments", str(f), "--into", str(imported),
                            "--map", "email=Email"])
    assert res.exit_code == 2
    assert "['experiment', 'arm', 'assigned_at']" in res.output
    assert (imported / "manifest.json").read_text() == before  # the dataset untouched
