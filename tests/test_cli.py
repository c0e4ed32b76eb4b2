"""The command line: every command helps, fails clearly and says where output went."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.cli import main
from workbench.store import load_manifest, write_dataset


@pytest.fixture()
def runner():
    return CliRunner()


@pytest.mark.parametrize("cmd", [[], ["simulate"], ["validate"], ["run"], ["schema"]])
def test_help(runner, cmd):
    res = runner.invoke(main, [*cmd, "--help"])
    assert res.exit_code == 0
    assert "Usage" in res.output


def test_simulate_validate_run(runner, tmp_path):
    ds = tmp_path / "ds"
    res = runner.invoke(main, ["simulate", "--scenario", "tiny", "--seed", "3", "--out", str(ds),
                               "--quiet"])
    assert res.exit_code == 0, res.output
    assert f"dataset written to {ds}" in res.output
    m = load_manifest(ds)
    assert m["seed"] == 3 and m["scenario"] == "tiny"

    res = runner.invoke(main, ["validate", str(ds)])
    assert res.exit_code == 0, res.output
    assert "valid" in res.output

    out = tmp_path / "reports"
    res = runner.invoke(main, ["run", "--dataset", str(ds), "--out", str(out), "--no-apps"])
    assert res.exit_code == 0, res.output
    assert (out / "index.html").exists()
    assert str(out / "index.html") in res.output
    nums = json.loads((out / "overview.json").read_text())
    assert nums["kpis"]["orders"] == m["row_counts"]["orders"]


def test_simulate_overrides_and_config_file(runner, tmp_path):
    from workbench.simulate import scenario

    cfg = tmp_path / "store.json"
    cfg.write_text(scenario("tiny").model_dump_json())
    res = runner.invoke(main, ["simulate", "--config", str(cfg), "--customers", "120",
                               "--days", "30", "--out", str(tmp_path / "ds"), "--quiet"])
    assert res.exit_code == 0, res.output
    m = load_manifest(tmp_path / "ds")
    assert m["row_counts"]["customers"] == 120 and m["config"]["days"] == 30


def test_bad_scenario_and_bad_config_are_clear(runner, tmp_path):
    res = runner.invoke(main, ["simulate", "--scenario", "nope", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "unknown scenario 'nope'" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"n_customers": -5}))
    res = runner.invoke(main, ["simulate", "--config", str(bad), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "n_customers" in res.output


def test_validate_invalid_dataset_exits_1_with_report(runner, tmp_path, tiny_tables):
    tables = {k: v.copy() for k, v in tiny_tables.items()}
    tables["products"].loc[0, "price"] = -1.0
    tables["orders"] = pd.concat([tables["orders"], tables["orders"].iloc[[0]]])
    ds = write_dataset(tmp_path / "bad", tables)
    res = runner.invoke(main, ["validate", str(ds)])
    assert res.exit_code == 1
    assert "products.price: must be > 0" in res.output
    assert "orders.order_id: key must be unique" in res.output
    res = runner.invoke(main, ["validate", str(ds), "--json"])
    assert res.exit_code == 1
    assert json.loads(res.output)["ok"] is False


def test_run_refuses_invalid_dataset_and_keeps_old_report(runner, tmp_path, tiny_tables):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "index.html").write_text("previous")
    tables = {k: v.copy() for k, v in tiny_tables.items()}
    tables["events"] = tables["events"].iloc[0:0]
    ds = write_dataset(tmp_path / "bad", tables)
    res = runner.invoke(main, ["run", "--dataset", str(ds), "--out", str(out), "--no-apps"])
    assert res.exit_code == 1
    assert "events" in res.output and "nothing was written" in res.output
    assert (out / "index.html").read_text() == "previous"


def test_missing_dataset_is_a_clear_error(runner, tmp_path):
    res = runner.invoke(main, ["validate", str(tmp_path / "none")])
    assert res.exit_code == 1 and "no such dataset folder" in res.output
    res = runner.invoke(main, ["run", "--dataset", str(tmp_path / "none")])
    assert res.exit_code == 1 and "workbench simulate" in res.output


def test_schema_command_prints_json(runner):
    res = runner.invoke(main, ["schema"])
    assert res.exit_code == 0
    assert "orders" in json.loads(res.output)["tables"]


def test_public_api_resolves():
    import workbench

    for name in workbench.__all__:
        assert getattr(workbench, name) is not None, name
    with pytest.raises(AttributeError):
        workbench.nope  # noqa: B018


def test_experiment_command(runner, tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    n = 4000
    df = pd.DataFrame({"arm": rng.choice(["control", "a", "b"], n),
                       "pre": rng.normal(100, 20, n)})
    df["converted"] = (rng.random(n) < np.where(df.arm == "b", 0.15, 0.10)).astype(int)
    df["segment"] = rng.choice(["x", "y"], n)
    f = tmp_path / "exp.csv"
    df.to_csv(f, index=False)
    res = runner.invoke(main, ["experiment", str(f), "--arm", "arm", "--outcome", "converted",
                               "--control", "control", "--covariate", "pre",
                               "--segment", "segment", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    arms = {a["arm"]: a for a in out["arms"]}
    assert arms["control"]["n"] == int((df.arm == "control").sum())
    assert arms["b"]["estimate"] == pytest.approx(df[df.arm == "b"].converted.mean())
    assert out["srm"]["flag"] is False and out["cuped"]["covariate"] == "pre"
    assert out["heterogeneity"]["segment"] == "segment"
    pq = tmp_path / "exp.parquet"
    df.to_parquet(pq)
    res = runner.invoke(main, ["experiment", str(pq), "--arm", "arm", "--outcome", "converted",
                               "--control", "nope"])
    assert res.exit_code == 2
    assert "control arm 'nope' not found" in res.output
