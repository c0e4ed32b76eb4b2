"""The simulator's fast paths give exactly what the plain computations they replace give."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import special, stats

from workbench.simulate import kernels, scenario, simulate
from workbench.simulate.common import BatchedColumns, ColumnBatches, labels, stable_argsort
from workbench.simulate.world import MAX_EXTRA_ITEMS, capped_poisson_ppf


@pytest.mark.parametrize("mu", [0.0, 0.05, 0.4, 1.0, 2.0, 3.7, 20.0])
def test_capped_poisson_ppf_is_scipys_to_the_bit(mu):
    steps = special.pdtr(np.arange(MAX_EXTRA_ITEMS + 2), mu)
    # the CDF's steps and their neighbours, where scipy's numerical inversion decides
    edges = np.concatenate([steps, np.nextafter(steps, 0), np.nextafter(steps, 1),
                            steps + 1e-7, steps - 1e-7, steps + 2e-6, steps - 2e-6,
                            [0.0, 5e-324, 2.0**-53, 1 - 2.0**-53]])
    u = np.concatenate([edges[(edges >= 0) & (edges < 1)],
                        np.random.default_rng(0).random(200_000)])
    want = np.minimum(stats.poisson.ppf(u, mu), MAX_EXTRA_ITEMS)
    np.testing.assert_array_equal(capped_poisson_ppf(u, mu, MAX_EXTRA_ITEMS), want)


def test_column_batches_give_what_concatenation_gives():
    cb = ColumnBatches(["a", "b", "c"])
    batches = [dict(a=np.arange(3), b=True, c=np.array([1, 2, 3], np.int32)),
               dict(a=np.array([0.5, 1.5]), b=np.array([False, True]), c=-1),
               dict(a=np.zeros(0), b=np.zeros(0, bool), c=np.zeros(0, np.int64))]
    ids = [cb.add(**b) for b in batches]
    assert [i.tolist() for i in ids] == [[0, 1, 2], [3, 4], []]
    out = cb.build()
    for name in "abc":
        want = np.concatenate([np.full(len(ids[i]), b[name]) if np.ndim(b[name]) == 0
                               else np.asarray(b[name]) for i, b in enumerate(batches)])
        assert out[name].dtype == want.dtype
        np.testing.assert_array_equal(out[name], want)
    out["c"][0] = 99  # a view: writes reach the ledger
    assert cb.build()["c"][0] == 99


def test_labels_match_python_strings():
    names = ("x", "yy", "zzz")
    codes = np.array([2, 0, -1, 1])
    got = labels(names, codes, null=codes < 0)
    assert got.type == pa.string()
    assert got.to_pylist() == ["zzz", "x", None, "yy"]
    assert labels(names, np.zeros(0, np.int64)).to_pylist() == []


def test_event_table_is_one_chunk_per_column_and_typed():
    st = simulate(scenario("tiny"), seed=5)
    ev = st.tables["events"]
    assert list(st.tables) == ["customers", "products", "sessions", "events", "orders",
                               "order_items", "returns", "messages", "assignments"]
    assert all(ev[c].num_chunks == 1 for c in ev.column_names)
    assert ev.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert ev.schema.field("event_name").type == pa.string()
    assert ev["event_id"].to_pylist() == list(range(1, ev.num_rows + 1))


def test_batched_columns_give_what_concatenation_gives_in_any_row_order():
    batches = [dict(a=np.arange(3), b=True, c=np.array([1, 2, 3], np.int32)),
               dict(a=np.array([0.5, 1.5]), b=np.array([False, True]), c=-1),
               dict(a=np.zeros(0), b=np.zeros(0, bool), c=np.zeros(0, np.int64))]
    dest = np.array([4, 0, 3, 1, 2])
    for order in (None, dest):
        bc = BatchedColumns(["a", "b", "c"])
        ids = [bc.add(**b) for b in batches]
        assert [i.tolist() for i in ids] == [[0, 1, 2], [3, 4], []]
        np.testing.assert_array_equal(bc.column("a"), [0, 1, 2, 0.5, 1.5])
        out = bc.build(order)
        for name in "abc":
            want = np.concatenate([np.full(len(ids[i]), b[name]) if np.ndim(b[name]) == 0
                                   else np.asarray(b[name]) for i, b in enumerate(batches)])
            if order is not None:
                want[order] = want.copy()
            assert out[name].dtype == want.dtype
            np.testing.assert_array_equal(out[name], want)


@pytest.mark.parametrize("x", [
    np.random.default_rng(1).random(10_000),
    np.random.default_rng(2).integers(0, 50, 10_000),  # mostly ties
    np.array([2.0, np.nan, 1.0, np.nan, 1.0, -0.0, 0.0, np.inf, 1.0]),
    np.zeros(0)])
def test_stable_argsort_is_numpys_stable_sort(x):
    want = np.argsort(x, kind="stable")
    np.testing.assert_array_equal(stable_argsort(x), want)
    order, v = stable_argsort(x, return_sorted=True)
    np.testing.assert_array_equal(v, x[want])


@pytest.mark.skipif(kernels.compiled() is None, reason="numba absent: only the numpy paths")
def test_compiled_loops_and_numpy_versions_give_the_same_store(monkeypatch):
    # every compiled loop has a numpy version for when numba is absent: same tables
    cfg = scenario("tiny", campaigns={"abandoned_cart": {"discount_arms_pct": [0, 10]}})
    fast = simulate(cfg, seed=4)
    monkeypatch.setattr(kernels, "compiled", lambda: None)
    slow = simulate(cfg, seed=4)
    for name in (*fast.tables, *(f"truth/{k}" for k in fast.truth)):
        a = fast.tables[name] if name in fast.tables else fast.truth[name[6:]]
        b = slow.tables[name] if name in slow.tables else slow.truth[name[6:]]
        assert a.schema == b.schema, name
        assert a.equals(b), name
