"""Recommendations on a whole store (issue 17): the analysis, its export and the CLI.

Invariants on every list: at most the channel's slots, no product the customer already
bought unless it is a consumable, nothing shown to them in the last week, reasons and
framings from the documented set; the evaluation compares every generator on the same
customers; the command line writes what a platform loads and refuses bad arguments.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.analyses.base import Context
from workbench.analyses.recommendations import GENERATORS, analyze_recommendations
from workbench.cli import main
from workbench.store import open_dataset, read_table


@pytest.fixture(scope="module")
def result(small_dataset):
    return analyze_recommendations(open_dataset(small_dataset, truth=False))


def test_every_list_keeps_the_constraints(small_dataset, result):
    lists = result.lists
    assert lists.groupby("customer_id").size().max() <= 4
    assert not lists.duplicated(["customer_id", "product_id"]).any()
    # nothing already bought comes back, except consumables
    o = read_table(small_dataset, "orders")
    oi = read_table(small_dataset, "order_items").merge(o[["order_id", "customer_id"]])
    products = read_table(small_dataset, "products").set_index("product_id")
    bought = set(zip(oi.customer_id, oi.product_id, strict=True))
    again = [(c, p) for c, p in zip(lists.customer_id, lists.product_id, strict=True)
             if (c, p) in bought]
    assert all(products.loc[p, "purchase_type"] == "consumable" for _, p in again)
    # nothing shown in a message in the last 7 days before the last send is repeated
    m = read_table(small_dataset, "messages")
    recent = m[(m.sent_at > m.sent_at.max() - pd.Timedelta(days=7)) & m.product_ids.notna()]
    shown = {(c, p) for c, ps in zip(recent.customer_id, recent.product_ids, strict=True)
             for p in ps}
    assert shown, "the simulated store shows products in its messages"
    assert not shown & set(zip(lists.customer_id, lists.product_id, strict=True))
    assert set(lists.framing) <= {"picked for you", "popular with our customers"}
    assert lists.reason.str.match(r"^(popular with our customers|a higher-margin pick|"
                                  r"picked for you|.+: after .+)$").all()


def test_the_evaluation_compares_every_generator_and_picks_the_best(result):
    t = result.table
    assert list(t.model) == list(GENERATORS)
    assert result.chosen == t.loc[t.hit_rate.idxmax(), "model"]
    assert ((t.hit_rate >= 0) & (t.hit_rate <= 1) & (t.ndcg <= t.hit_rate + 1e-12)).all()
    assert t.diff_low.iloc[1:].le(t.hit_rate_diff.iloc[1:]).all()
    assert result.settings["k"] == 4 and "hit rate" in result.summary()


def test_the_analysis_section_and_export(small_dataset, tmp_path, result):
    from workbench.analyses import get

    a = get("recommendations")
    sec = a.section(result)
    assert sec.anchor == "recommendations" and sec.tables
    files = a.export(result, tmp_path, Context.open(small_dataset))
    written = pd.read_csv(files["recommendations"])
    assert len(written) == len(result.lists)


def test_the_command_line_writes_json_a_platform_loads(small_dataset, tmp_path):
    out = tmp_path / "recs.json"
    r = CliRunner().invoke(main, ["recommend", "--dataset", str(small_dataset), "--channel",
                                  "sms", "--out", str(out)])
    assert r.exit_code == 0, r.output
    recs = json.loads(out.read_text())
    assert recs and all(len(c["products"]) == 1 for c in recs)  # SMS: one product
    assert {"customer_id", "framing", "products"} <= set(recs[0])
    bad = CliRunner().invoke(main, ["recommend", "--dataset", str(small_dataset), "--out",
                                    str(tmp_path / "recs.txt")])
    assert bad.exit_code == 2 and "must end in .csv or .json" in bad.output
    bad = CliRunner().invoke(main, ["recommend", "--dataset", str(small_dataset), "--as-of",
                                    "notadate", "--out", str(out)])
    assert bad.exit_code == 2 and "'notadate' is not a date" in bad.output


def test_a_store_without_a_catalog_is_told_what_is_missing(tmp_path, small_dataset):
    from workbench.analyses import get
    from workbench.store import write_dataset

    tables = {n: read_table(small_dataset, n) for n in ("customers", "orders", "order_items")}
    path = write_dataset(tmp_path / "shop", tables, manifest={"generator": "import:test"})
    out = get("recommendations")(Context.open(path))
    assert "products" in str(out) and "skipped" in type(out).__name__.lower()
