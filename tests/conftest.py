from __future__ import annotations

import pytest

from workbench.simulate import scenario, simulate
from workbench.store import save_simulation


@pytest.fixture(scope="session")
def small_store():
    """A 2,000-customer, 120-day store with every campaign on."""
    return simulate(scenario("small"), seed=11)


@pytest.fixture(scope="session")
def tiny_store():
    return simulate(scenario("tiny"), seed=5)


@pytest.fixture(scope="session")
def small_tables(small_store):
    """Canonical tables as pandas DataFrames (copies are made per test that mutates)."""
    return {name: small_store.to_pandas(name) for name in small_store.tables}


@pytest.fixture(scope="session")
def tiny_tables(tiny_store):
    return {name: tiny_store.to_pandas(name) for name in tiny_store.tables}


@pytest.fixture(scope="session")
def small_dataset(small_store, tmp_path_factory):
    return save_simulation(small_store, tmp_path_factory.mktemp("ds") / "small", "small")
