"""What changed: deployed configs recorded with their time, and each change's effect
measured since by the holdouts, against the truth and the replay."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from workbench.analyses import Context, Skipped, get
from workbench.campaigns.config import CampaignConfig
from workbench.cli import main
from workbench.history import ConfigHistory, PredictionLogError
from workbench.simulate import SimulationConfig, scenario, simulate
from workbench.store import save_simulation

CHANGE_DAY = 180


def test_the_history_keeps_each_config_with_its_time(tmp_path):
    h = ConfigHistory(tmp_path)
    cfg = CampaignConfig().model_dump(mode="json")
    a = h.record(cfg, "2025-06-01", "deployed", "first")
    assert h.record(cfg, "2025-06-01", "deployed", "first").name == a.name  # one entry
    h.record(cfg, "2025-09-01T12:00Z", "exported")
    e = h.entries()
    assert [x["source"] for x in e] == ["deployed", "exported"]
    assert str(e[0]["effective_from"]).startswith("2025-06-01") and e[0]["config"] == cfg
    assert len(h.entries("deployed")) == 1
    with pytest.raises(ValueError, match="source must be one of"):
        h.record(cfg, "2025-06-01", "guessed")
    (h.root / "broken.json").write_text("{")
    with pytest.raises(PredictionLogError, match="broken.json"):
        h.entries()


def test_the_cli_records_a_deployment_and_lists_it(tmp_path):
    f = tmp_path / "cfg.json"
    f.write_text(CampaignConfig().model_dump_json(), encoding="utf-8")
    hist = str(tmp_path / "h")
    r = CliRunner().invoke(main, ["deploy", str(f), "--at", "2025-06-01", "--note",
                                  "cart 1 h", "--history", hist])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["deploy", "--list", "--history", hist])
    assert "2025-06-01 00:00  deployed" in r.output and "cart 1 h" in r.output
    r = CliRunner().invoke(main, ["deploy", str(f), "--at", "someday", "--history", hist])
    assert r.exit_code == 2 and "--at" in r.output
    bad = tmp_path / "bad.json"
    data = json.loads(f.read_text())
    data["campaigns"]["abandoned_cart"]["min_cart_value"] = -5
    bad.write_text(json.dumps(data))
    r = CliRunner().invoke(main, ["deploy", str(bad), "--history", hist])
    assert r.exit_code == 1 and "min_cart_value" in r.output


@pytest.fixture(scope="module")
def changed_store(tmp_path_factory):
    """6,000 customers with 30% holdouts; on day 180 the cart reminder moves from 1 h to
    168 h after abandonment (most carts are bought or lost by then)."""
    base = scenario("default", n_customers=6000, days=365).model_dump()
    camps = base["campaigns"]
    camps["abandoned_cart"].update(experiment_share=0.0, holdout_share=0.3, policy={
        t: {"channel": "email", "delay_hours": 1.0, "discount_pct": 0.0}
        for t in ("impulse", "considered", "consumable")})
    for c in ("post_purchase", "browse_abandonment"):
        camps[c]["holdout_share"] = 0.3
    later = copy.deepcopy(camps)
    for p in later["abandoned_cart"]["policy"].values():
        p["delay_hours"] = 168.0
    cfg = SimulationConfig.model_validate({**base, "periods": [
        {"start_day": CHANGE_DAY, "campaigns": later, "label": "cart reminder a week later"}]})
    path = save_simulation(simulate(cfg, seed=3), tmp_path_factory.mktemp("dep") / "s")
    ctx = Context.open(path, echo=lambda s: None)
    return get("deployments")(ctx)


def test_the_change_is_named_and_measured_where_the_truth_is(changed_store):
    r = changed_store
    assert not isinstance(r, Skipped)
    assert any("delay 1 h → 168 h" in c for c in r.changes)
    e = r.effects.set_index("campaign")
    assert {"abandoned_cart", "post_purchase", "browse_abandonment"} <= set(e.index)
    inside = (e.change_low <= e.true_change) & (e.true_change <= e.change_high)
    assert inside.sum() >= len(e) - 1, e  # 95% intervals: allow one miss
    # a reminder a week late earns less: the truth says so, and the measurement agrees
    assert e.loc["abandoned_cart", "true_change"] < 0
    assert e.loc["abandoned_cart", "change_low"] < e.loc["abandoned_cart", "true_change"]
    # the replay of the same measurement overlaps what was measured
    overlap = (e.expected_low <= e.change_high) & (e.change_low <= e.expected_high)
    assert overlap.all(), e
    assert "a change of" in r.summary()


def test_a_store_without_deployments_is_told_how_to_record_them(small_dataset):
    ctx = Context.open(small_dataset, echo=lambda s: None)
    r = get("deployments")(ctx)
    assert isinstance(r, Skipped) and "workbench deploy" in r.reason
