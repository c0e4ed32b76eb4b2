from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

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


def _shopify_round_trip(dataset: Path, tmp: Path, layout: str = "current") -> tuple[Path, Path]:
    """``workbench export shopify`` of ``dataset``, then ``workbench import shopify`` of it.

    Returns the export folder and the imported dataset (both under ``tmp``).
    """
    from workbench.cli import main

    cli = CliRunner()
    res = cli.invoke(main, ["export", "shopify", str(dataset), "--out", str(tmp / "export"),
                            "--layout", layout])
    assert res.exit_code == 0, res.output
    exp = tmp / "export"
    res = cli.invoke(main, ["import", "shopify", "--orders", str(exp / "orders_export.csv"),
                            "--customers", str(exp / "customers_export.csv"),
                            "--products", str(exp / "products_export.csv"),
                            "--out", str(tmp / "shop")])
    assert res.exit_code == 0, res.output
    return exp, tmp / "shop"


@pytest.fixture(scope="session")
def shopify_round_trip():
    """:func:`_shopify_round_trip`: a dataset through Shopify's exports and back."""
    return _shopify_round_trip
