"""The simulated store looks like real stores (issue 21).

Each scenario is measured as an email platform reports its customers' stores
(:func:`~workbench.analyses.overview.benchmarks.platform_metrics`) and every metric with a
published range (:data:`~workbench.analyses.overview.benchmarks.BENCHMARKS`, sources in the
README) must fall inside it.  The default store, with the seed the demo uses, is checked
exactly in ``make test``; the named verticals and other seeds in ``make test-slow``, where a
value may sit outside its range by at most two standard errors of its own estimate (a rate
on a few thousand messages is itself uncertain).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analyses.overview.benchmarks import (
    BENCHMARKS,
    against_benchmarks,
    platform_metrics,
)
from workbench.simulate import scenario, simulate
from workbench.store import open_dataset, save_simulation

DEMO_SEED = 0  # the seed `workbench simulate` and `make demo` use


def measured(tmp_path, name: str, seed: int) -> pd.DataFrame:
    path = save_simulation(simulate(scenario(name), seed=seed), tmp_path / f"{name}-{seed}")
    return against_benchmarks(platform_metrics(open_dataset(path)),
                              vertical=None if name == "default" else name)


def outside(table: pd.DataFrame, z: float = 0.0) -> pd.DataFrame:
    """Rows outside their range by more than ``z`` standard errors of the value."""
    v, n = table.value, table.n.astype(float)
    rate = ~table.metric.isin(["revenue_per_recipient", "average_order_value"])
    se = np.where(rate, np.sqrt(np.clip(v * (1 - v), 0, None) / n), 0.0)
    return table[(v < table.low - z * se) | (v > table.high + z * se)]


@pytest.fixture(scope="module")
def default_store(tmp_path_factory):
    return measured(tmp_path_factory.mktemp("calibration"), "default", DEMO_SEED)


def test_the_default_store_measures_inside_every_published_range(default_store):
    bad = outside(default_store)
    assert bad.empty, "outside the published range:\n" + bad[
        ["scope", "metric", "value", "low", "high", "n"]].to_string()


def test_every_general_range_is_measured_on_the_default_store(default_store):
    general = {(b.scope, b.metric) for b in BENCHMARKS if b.vertical is None}
    got = set(zip(default_store.scope, default_store.metric, strict=True))
    assert general <= got, sorted(general - got)
    # the rates rest on enough messages to mean something
    assert (default_store.n >= 1_000).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["default", "apparel", "beauty", "consumables"])
@pytest.mark.parametrize("seed", [11, 23])
def test_every_scenario_measures_inside_the_published_ranges(tmp_path, name, seed):
    table = measured(tmp_path, name, seed)
    bad = outside(table, z=2.0)
    assert bad.empty, f"{name} seed {seed}, outside by more than 2 SE:\n" + bad[
        ["scope", "metric", "value", "low", "high", "n"]].to_string()
