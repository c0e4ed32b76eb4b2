"""The importers' contract: staging -> canonical -> validation -> an atomic dataset.

A toy importer stands in for a real source format here: it renames a shop's
columns (staging), keeps the rows it can map and rejects the rest with a reason
(canonical).  What is checked is the contract every real importer inherits.
"""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.importers import REJECT_COLUMNS, Importer, import_dataset, reject
from workbench.schema import DatasetValidationError
from workbench.simulate import scenario, simulate
from workbench.store import load_manifest, read_table
from workbench.store import validate as validate_dataset


class TablesAsExported(Importer):
    """The simulator's tables with a shop's column name for the order key; orders with a
    negative revenue are rejected."""

    name = "toy"

    def stage(self, sources):
        staged = dict(sources)
        staged["orders"] = sources["orders"].rename(columns={"Name": "order_id"})
        return staged

    def canonical(self, staged):
        o = staged["orders"]
        bad = o.revenue < 0
        tables = {**staged, "orders": o[~bad].reset_index(drop=True)}
        items = staged["order_items"]
        tables["order_items"] = items[items.order_id.isin(tables["orders"].order_id)]
        return tables, [reject("orders", o.index[bad], "negative revenue")]


@pytest.fixture(scope="module")
def sources():
    st = simulate(scenario("tiny"), seed=5)
    tables = {k: st.to_pandas(k) for k in st.tables}
    tables["orders"] = tables["orders"].rename(columns={"order_id": "Name"})
    return tables


def test_an_import_writes_a_valid_dataset_with_its_rejects(sources, tmp_path):
    src = dict(sources)
    o = src["orders"].copy()
    # an order whose revenue no item explains: rejected, with its items
    o.loc[o.index[:3], "revenue"] = -1.0
    src["orders"] = o
    res = import_dataset(TablesAsExported(), src, tmp_path / "shop")
    assert res.report.ok
    assert validate_dataset(res.path).ok
    m = load_manifest(res.path)
    assert m["generator"] == "import:toy" and m["rejected_rows"] == 3
    rejects = pd.read_csv(res.path / "rejects.csv")
    assert list(rejects.columns) == list(REJECT_COLUMNS)
    assert rejects.source_row.tolist() == o.index[:3].tolist()
    assert set(rejects.reason) == {"negative revenue"}
    assert len(read_table(res.path, "orders")) == len(o) - 3
    assert "orders: 3 negative revenue" in res.summary()


def test_a_failed_import_leaves_the_earlier_dataset_intact(sources, tmp_path):
    first = import_dataset(TablesAsExported(), sources, tmp_path / "shop")
    before = load_manifest(first.path)["dataset_hash"]
    broken = dict(sources)
    p = broken["products"].copy()
    p.loc[p.index[0], "price"] = -5.0  # breaks the schema: price must be > 0
    broken["products"] = p
    with pytest.raises(DatasetValidationError) as err:
        import_dataset(TablesAsExported(), broken, tmp_path / "shop")
    assert "products.price" in str(err.value)
    assert load_manifest(first.path)["dataset_hash"] == before


def test_an_importer_must_say_how_it_stages():
    with pytest.raises(NotImplementedError):
        Importer().tables({})


def test_the_default_reader_takes_a_file_or_a_folder_of_csvs(tmp_path):
    (tmp_path / "orders.csv").write_text("id,total\n1,9.5\n")
    (tmp_path / "customers.csv").write_text("id\n7\n")
    got = Importer().read(tmp_path)
    assert sorted(got) == ["customers", "orders"] and got["orders"].total.tolist() == [9.5]
    assert list(Importer().read(tmp_path / "orders.csv")) == ["orders"]
    with pytest.raises(FileNotFoundError, match="no CSV file"):
        Importer().read(tmp_path / "missing.csv")
