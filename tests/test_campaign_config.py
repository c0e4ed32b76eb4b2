"""The campaign config: schema round trip, validation, diff in words, replay, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from workbench.campaigns.config import (
    CampaignConfig,
    ConfigError,
    baseline_from_dataset,
    campaign_config_schema,
    diff_configs,
    load_campaign_config,
    save_config,
)
from workbench.campaigns.replay import METRICS, replay
from workbench.cli import main


def _with(cfg: CampaignConfig, edit) -> CampaignConfig:
    d = cfg.model_dump(mode="json")
    edit(d)
    return CampaignConfig.model_validate(d)


RULE = {"segmentation": {"by": ["deal", "value", "recency"], "aov_split": 55.0},
        "discount_pct": {"deal-hi-recent": 15.0}}


def _rule(d, campaign="seasonal", **upd):
    d["campaigns"][campaign]["discount_rule"] = json.loads(json.dumps(RULE)) | upd


def test_round_trip_and_schema(tmp_path):
    cfg = _with(CampaignConfig(), _rule)
    f = save_config(cfg, tmp_path / "c.json")
    assert load_campaign_config(f) == cfg
    assert json.loads(f.read_text()) == cfg.model_dump(mode="json")
    schema = campaign_config_schema()
    assert {"campaigns", "provenance"} <= set(schema["properties"])
    # the schema knows the campaigns' own constraints, the segment rule among them
    assert {"AbandonedCartCampaign", "SegmentDiscountRule", "Segmentation"} <= set(
        schema["$defs"])


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["campaigns"].update({"win_back": {"enabled": True}}), "campaigns.win_back"),
    (lambda d: d["campaigns"]["abandoned_cart"]["policy"]["considered"].update(
        {"delay_hours": -1}), "campaigns.abandoned_cart.policy.considered.delay_hours"),
    (lambda d: d["campaigns"]["abandoned_cart"]["policy"]["impulse"].update(
        {"discount_pct": 100}), "campaigns.abandoned_cart.policy.impulse.discount_pct"),
    (lambda d: d["campaigns"]["caps"].update({"sms_per_week": 0}),
     "campaigns.caps.sms_per_week"),
    (lambda d: _rule(d, discount_pct={"deal-hi-recent": 120}),
     "campaigns.seasonal.discount_rule"),
    (lambda d: _rule(d, "abandoned_cart", discount_pct={"deal-hi": 5}),
     "campaigns.abandoned_cart.discount_rule"),
    (lambda d: _rule(d, segmentation={"by": ["value"]}), "aov_split"),
    (lambda d: _rule(d, discount_pct={"deal-hi-recnt": 5}), "match no customer"),
    (lambda d: _rule(d, segmentation={"by": ["channel"]}, discount_pct={"tiktok": 5}),
     "match no customer"),
    (lambda d: _rule(d, segmentation={"by": ["deal", "weather"]}),
     "campaigns.seasonal.discount_rule.segmentation.by.1"),
    (lambda d: d["campaigns"]["seasonal"].update({"experiment_share": 1.5}),
     "campaigns.seasonal.experiment_share"),
    (lambda d: d["campaigns"]["seasonal"].update({"holdout_share": 1.0}),
     "campaigns.seasonal.holdout_share"),
    (lambda d: d["campaigns"]["abandoned_cart"]["policy"].update(
        {"gadgets": {"channel": "email", "delay_hours": 2}}), "unknown purchase type"),
])
def test_bad_configs_name_the_field(tmp_path, edit, field):
    d = CampaignConfig().model_dump(mode="json")
    edit(d)
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(d))
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_campaign_config(f)


def test_diff_in_words():
    a = CampaignConfig()
    b = _with(a, lambda d: (
        d["campaigns"]["abandoned_cart"]["policy"]["considered"].update({"delay_hours": 1.0}),
        d["campaigns"]["caps"].update({"sms_per_week": 1}),
        d["campaigns"]["post_purchase"].update({"products_per_email": 3}),
        d["campaigns"]["seasonal"].update({"enabled": False, "experiment_share": 0.1}),
        _rule(d),
        d["campaigns"]["replenishment"].update({"holdout_share": 0.1})))
    assert diff_configs(a, b) == [
        "abandoned-cart reminder for considered products: delay 4 h → 1 h",
        "SMS per customer per week (cap): 2 → 1",
        "post-purchase cross-sell campaign: products per email 4 → 3",
        "replenishment campaign: customers held out 0% → 10%",
        "seasonal campaign: on → off",
        "seasonal campaign: share of customers in the discount experiment: 100% → 10%",
        "seasonal discount by segment: new — 15% for deal-hi-recent; 0% for the other "
        "segments (segments by past discount use × order value × recency; high value above "
        "55.00, recent within 60 days)"]
    c = _with(b, lambda d: d["campaigns"]["seasonal"]["discount_rule"]["discount_pct"].update(
        {"deal-hi-recent": 10.0, "full-lo-lapsed": 5.0}))
    assert diff_configs(b, c) == [
        "seasonal discount for segment deal-hi-recent: 15% → 10%",
        "seasonal discount for segment full-lo-lapsed: new, 5%"]
    assert diff_configs(a, a) == []
    assert diff_configs(b, a)[-1].startswith("seasonal discount by segment: removed (was 15% "
                                             "for deal-hi-recent; 0% for the other")
    # provenance is not a setting
    assert diff_configs(a, _with(a, lambda d: d["provenance"].update({"dataset_hash": "x"}))) \
        == []


@pytest.fixture(scope="module")
def tiny_dataset(tiny_store, tmp_path_factory):
    from workbench.store import save_simulation

    return save_simulation(tiny_store, tmp_path_factory.mktemp("rp") / "tiny")


def test_replay_is_deterministic_and_zero_for_the_same_config(tiny_dataset):
    base = baseline_from_dataset(tiny_dataset)
    same = replay(tiny_dataset, base, replications=2)
    assert (same.table.difference == 0).all() and (same.table.high == 0).all()
    assert same.changes == []
    new = _with(base, lambda d: d["campaigns"]["abandoned_cart"].update(
        {"experiment_share": 0.0}))
    r1 = replay(tiny_dataset, new, replications=2)
    r2 = replay(tiny_dataset, new, replications=2)
    assert r1.table.equals(r2.table)
    assert list(r1.table.metric) == list(METRICS)
    # the replayed baseline is the dataset's own store (replication 0, the dataset's seed)
    from workbench.campaigns.replay import store_metrics

    assert r1.runs.query("replication == 0 and config == 'baseline'").revenue.iloc[0] == \
        pytest.approx(store_metrics(_store_of(tiny_dataset))["revenue"])


def _store_of(dataset):
    from workbench.simulate import SimulationConfig, simulate
    from workbench.store import load_manifest

    m = load_manifest(dataset)
    return simulate(SimulationConfig.model_validate(m["config"]), seed=m["seed"])


def test_cli_replay_and_schema(tiny_dataset, tmp_path):
    base = baseline_from_dataset(tiny_dataset)
    new = _with(base, lambda d: d["campaigns"]["post_purchase"].update({"enabled": False}))
    f = save_config(new, tmp_path / "new.json")
    out = CliRunner().invoke(main, ["replay", "--dataset", str(tiny_dataset), "--config",
                                    str(f), "--replications", "2", "--json"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)
    assert res["changes"] == ["post-purchase cross-sell campaign: on → off"]
    sent = {r["metric"]: r for r in res["table"]}["messages_sent"]
    assert sent["difference"] < 0  # no post-purchase messages any more
    # the same change made with --set, on the dataset's own campaigns
    out = CliRunner().invoke(main, ["replay", "--dataset", str(tiny_dataset), "--set",
                                    "campaigns.post_purchase.enabled=false",
                                    "--replications", "2", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["table"] == res["table"]
    out = CliRunner().invoke(main, ["replay", "--dataset", str(tiny_dataset), "--set",
                                    "campaigns.post_purchase.delay_weeks=1"])
    assert out.exit_code == 2 and "campaigns.post_purchase.delay_weeks: no such setting" \
        in out.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"campaigns": {"caps": {"email_per_week": 0}}}))
    out = CliRunner().invoke(main, ["replay", "--dataset", str(tiny_dataset), "--config",
                                    str(bad)])
    assert out.exit_code == 2 and "campaigns.caps.email_per_week" in out.output
    out = CliRunner().invoke(main, ["schema", "--campaign-config"])
    assert out.exit_code == 0 and "CampaignConfig" in json.loads(out.output)["title"]


def test_change_section_shows_the_replays_numbers(tiny_dataset):
    from workbench.campaigns import change_section

    base = baseline_from_dataset(tiny_dataset)
    new = _with(base, lambda d: d["campaigns"]["abandoned_cart"].update(
        {"experiment_share": 0.0}))
    res = replay(tiny_dataset, new, replications=2)
    sec = change_section(res.changes, res)
    k = {x.key: x for x in sec.kpis}
    t = res.table.set_index("metric")
    assert k["chg-margin"].value == f"{t.loc['margin', 'difference']:+,.0f}"
    assert f"{t.loc['revenue', 'low']:+,.0f}" in k["chg-revenue"].note
    assert any("share of carts in the timing experiment 100% → 0%" in p
               for p in sec.paragraphs)


def test_with_settings_edits_by_path_and_names_bad_fields():
    from workbench.campaigns.config import with_settings

    a = CampaignConfig()
    b = with_settings(a, {"campaigns.abandoned_cart.policy.considered.delay_hours": 1.0,
                          "campaigns.seasonal.discount_rule": RULE,
                          "campaigns.seasonal.discount_rule.discount_pct.full-lo-lapsed": 5.0})
    assert b.campaigns.abandoned_cart.policy["considered"].delay_hours == 1.0
    assert b.campaigns.seasonal.discount_rule.discount_pct == {"deal-hi-recent": 15.0,
                                                               "full-lo-lapsed": 5.0}
    assert a.campaigns.seasonal.discount_rule is None  # the base is not touched
    with pytest.raises(ConfigError, match=r"campaigns\.caps\.sms_per_day: no such setting"):
        with_settings(a, {"campaigns.caps.sms_per_day": 1})
    with pytest.raises(ConfigError, match=r"campaigns\.caps\.sms_per_week"):
        with_settings(a, {"campaigns.caps.sms_per_week": 0})
    with pytest.raises(ConfigError, match="unknown purchase type"):
        with_settings(a, {"campaigns.abandoned_cart.policy.gadgets": {"channel": "sms"}})
    with pytest.raises(ConfigError, match=r"events\.7\.window_days: no such setting "
                                          r"\(known here: 0\.\.2\)"):
        with_settings(a, {"campaigns.seasonal.events.7.window_days": 3})


def test_replayer_caches_each_configs_runs(tiny_dataset, monkeypatch):
    import workbench.campaigns.replay as replay_module
    from workbench.campaigns.config import with_settings
    from workbench.campaigns.replay import Replayer

    calls = []
    real = replay_module.simulate
    monkeypatch.setattr(replay_module, "simulate",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    rp = Replayer.from_dataset(tiny_dataset, replications=2)
    new = with_settings(rp.baseline, {"campaigns.caps.email_per_week": 1})
    first = rp.run(new)
    assert len(calls) == 4  # baseline and new, two replications each
    again = rp.run(new)
    rp.run(rp.baseline)
    assert len(calls) == 4  # nothing simulated twice
    assert first.table.equals(again.table)
    assert first.changes == ["emails per customer per week (cap): 5 → 1"]
    assert first.table.set_index("metric").loc["messages_sent", "difference"] < 0


def test_change_section_judges_each_recommendation_alone(tiny_dataset):
    from workbench.campaigns import change_section

    base = baseline_from_dataset(tiny_dataset)
    new = _with(base, lambda d: d["campaigns"]["abandoned_cart"].update(
        {"experiment_share": 0.0}))
    res = replay(tiny_dataset, new, replications=2)
    same = replay(tiny_dataset, base, replications=2)
    sec = change_section(res.changes, res, parts={"cart policy": res, "nothing": same})
    title, table = sec.tables[-1]
    assert title == "Each recommendation replayed alone"
    m = res.table.set_index("metric").loc["margin"]
    row = table.set_index("recommendation").loc["cart policy"]
    assert row["margin change"] == m.difference and row["margin low"] == m.low
    verdict = ("pays" if m.low > 0 else "costs margin" if m.high < 0 else "is not shown")
    assert any(p.startswith(f"The cart policy alone {verdict}") for p in sec.paragraphs)
    # a change of nothing has a zero-width interval at zero: it is not said to pay
    assert any(p.startswith("The nothing alone is not shown to pay") for p in sec.paragraphs)


@pytest.mark.slow  # 32 replays of a store: a calibration study of the interval
def test_per_customer_interval_matches_the_spread_between_stores():
    """Customers are independent, so one store's per-customer SE is the between-store SD."""
    from workbench.campaigns.config import with_settings
    from workbench.campaigns.replay import Replayer
    from workbench.simulate import scenario

    rp = Replayer(scenario("small", n_customers=400, days=90), seed=100, replications=16)
    new = with_settings(rp.baseline, {"campaigns.caps.email_per_week": 1,
                                      "campaigns.abandoned_cart.experiment_share": 0.0})
    base_f, new_f = rp.customer_runs(rp.baseline), rp.customer_runs(new)
    for k in ("messages_sent", "margin"):
        totals = np.array([(c[k] - b[k]).sum() for b, c in zip(base_f, new_f, strict=True)])
        per_customer_se = np.array([len(b) * (c[k] - b[k]).std(ddof=1) / np.sqrt(len(b))
                                    for b, c in zip(base_f, new_f, strict=True)])
        # the SD of 16 store totals has a relative standard error of about 1/sqrt(30) ~ 18%
        ratio = totals.std(ddof=1) / np.sqrt(np.mean(per_customer_se ** 2))
        assert 0.6 < ratio < 1.5, (k, ratio)
    res = rp.run(new).table.set_index("metric")
    assert res.loc["messages_sent", "high"] < 0  # a cap of 1 a week sends fewer messages


def test_with_settings_merges_partial_settings_and_refuses_a_switched_off_branch(tmp_path):
    from workbench.campaigns.config import with_settings

    a = CampaignConfig()
    b = with_settings(a, {"campaigns.abandoned_cart.policy.impulse": {"delay_hours": 2}})
    assert b.campaigns.abandoned_cart.policy["impulse"].delay_hours == 2
    assert b.campaigns.abandoned_cart.policy["impulse"].channel == \
        a.campaigns.abandoned_cart.policy["impulse"].channel  # merged, not reset
    with pytest.raises(ConfigError, match=r"campaigns\.seasonal\.discount_rule is off"):
        with_settings(a, {"campaigns.seasonal.discount_rule.default_pct": 5})
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"config_version": "1.0", "discount_rule": {"by_segment": {}}}))
    with pytest.raises(ConfigError, match="campaigns.seasonal.discount_rule"):
        load_campaign_config(old)


def test_a_rule_for_carts_only_leaves_the_seasonal_experiment_alone():
    from workbench.analyses.discount.export import DiscountSection, FitIdentity, SegmentDiscount
    from workbench.campaigns.config import with_recommendations
    from workbench.segments import Segmentation

    sec = DiscountSection(
        min_prob=0.9, segmentation=Segmentation(by=("deal",)),
        segments={"deal": SegmentDiscount(discount_pct=10, incremental_margin_per_message=0.1,
                                          interval_90=(0.0, 0.2), prob_beats_no_discount=0.95,
                                          best_level_pct=10)},
        fit=FitIdentity(data_hash="x", settings={}, converged=True, diagnostic_failures=[]))
    a = CampaignConfig()
    b = with_recommendations(a, discount=sec, discount_campaigns=("abandoned_cart",))
    assert b.campaigns.seasonal == a.campaigns.seasonal
    assert b.campaigns.abandoned_cart.discount_rule.discount_pct == {"deal": 10.0}
    assert b.campaigns.abandoned_cart.experiment_share == 0.1
    assert any("applied to cart reminders" in n for n in b.provenance.notes)
    with pytest.raises(ValueError, match="discount_campaigns"):
        with_recommendations(a, discount=sec, discount_campaigns=("browse_abandonment",))


def test_replayer_keeps_the_baseline_when_the_cache_is_full(tiny_dataset, monkeypatch):
    import workbench.campaigns.replay as replay_module
    from workbench.campaigns.config import with_settings
    from workbench.campaigns.replay import Replayer

    calls = []
    real = replay_module.simulate
    monkeypatch.setattr(replay_module, "simulate",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    rp = Replayer.from_dataset(tiny_dataset, replications=1, cache_size=2)
    for cap in (1, 2, 3):
        rp.run(with_settings(rp.baseline, {"campaigns.caps.email_per_week": cap}))
    assert len(calls) == 4  # the baseline once, then each new config
    frames = rp.customer_runs(rp.baseline)
    frames[0]["margin"] = 0.0  # a caller's edit does not reach the cache
    assert len(calls) == 4 and rp.customer_runs(rp.baseline)[0]["margin"].abs().sum() > 0
