"""Notebooks run top to bottom headless on small data, and are committed without outputs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_runs_headless(path, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_NB_CUSTOMERS", "6000")
    monkeypatch.setenv("WORKBENCH_NB_DRAWS", "300")
    monkeypatch.setenv("WORKBENCH_NB_BOOT", "20")
    monkeypatch.setenv("WORKBENCH_NB_HOLDOUT_DAYS", "60")
    monkeypatch.setenv("WORKBENCH_NB_OUT", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_NB_STUDY_STORES", "1")
    monkeypatch.setenv("WORKBENCH_NB_STUDY_CUSTOMERS", "6000")
    # the replays' size is not what a headless run checks (1,500 -> 600: notebook 05
    # 30 -> 24 s, notebook 02's rule replays 13 -> 9.5 s)
    monkeypatch.setenv("WORKBENCH_NB_REPLAY_CUSTOMERS", "600")
    monkeypatch.setenv("WORKBENCH_NB_MEASURE_CUSTOMERS", "3000")  # notebook 07's store
    monkeypatch.setenv("WORKBENCH_NB_DECISIONS_CUSTOMERS", "3000")  # notebook 06's stores
    nb = nbformat.read(path, as_version=4)
    # the kernel talks over Unix sockets, not TCP: two kernels at once (pytest -n 2) on
    # random ports can collide with each other's or the machine's ephemeral ports, and a
    # lost reply leaves the client waiting on an idle kernel (seen once in CI)
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    NotebookClient(nb, km=km, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    if path.name.startswith("01_"):
        cfg = json.loads((tmp_path / "abandoned_cart.json").read_text())
        assert set(cfg["abandoned_cart"]["policy"]) == {"impulse", "considered", "consumable"}
        assert (tmp_path / "cart_timing.html").stat().st_size > 100_000
    if path.name.startswith("03_"):
        cfg = json.loads((tmp_path / "attribution.json").read_text())
        assert cfg["attribution"]["campaigns"] and cfg["attribution"]["ranking_against_truth"]
        assert (tmp_path / "attribution.html").stat().st_size > 100_000
    if path.name.startswith("04_"):
        import pandas as pd

        sc = pd.read_csv(tmp_path / "clv_scorecard.csv")
        assert {"historic_clv", "predicted_clv", "churn_probability",
                "expected_date_of_next_order"} <= set(sc.columns)
        assert (tmp_path / "clv.html").stat().st_size > 100_000
    if path.name.startswith("05_"):
        import pandas as pd

        recs = pd.read_csv(tmp_path / "recommendations.csv")
        assert {"customer_id", "rank", "product_id", "reason", "framing"} <= set(recs.columns)
        assert recs.groupby("customer_id").size().max() <= 4
        assert (tmp_path / "recommendations.html").stat().st_size > 100_000
    if path.name.startswith("02_"):
        cfg = json.loads((tmp_path / "discount.json").read_text())
        assert cfg["discount"]["segments"] and "data_hash" in cfg["discount"]["fit"]
    if path.name.startswith("06_"):
        import pandas as pd

        card = pd.read_csv(tmp_path / "send_time.csv")
        assert {"customer_id", "best_send_hour_weekday", "best_send_hour_weekday_low",
                "best_send_hour_weekday_high", "best_send_hour_weekend",
                "send_hour_weekday_this_cycle", "engagement_events"} <= set(card.columns)
        assert card.customer_id.is_unique and card.best_send_hour_weekday.between(0, 24).all()
        assert (tmp_path / "send_time.html").stat().st_size > 100_000
        assert (tmp_path / "nb06_holdouts").is_dir()
    if path.name.startswith("07_"):
        import pandas as pd

        acc = pd.read_csv(tmp_path / "nb07_runs" / "now" / "prediction_accuracy.csv")
        assert {"clv.purchases", "cart_timing.recovery"} <= set(acc.kind)
        assert len(list((tmp_path / "nb07_runs" / "history").glob("*.parquet"))) == 2
        # its store acquires customers through cart reminders: the table by campaign has them
        acq = pd.read_csv(tmp_path / "nb07_runs" / "now" / "clv_by_acquisition.csv")
        assert "abandoned_cart" in set(acq.acquisition_campaign)
