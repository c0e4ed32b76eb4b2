"""A store that is not the simulator's: string ids, no sessions, events or messages.

The shape of a Shopify-only export (customers, products, orders and their lines):
it validates, and `workbench run` gives the report, the CLV scorecard and, for
every analysis it cannot support, a sentence saying what is missing.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.analyses import ANALYSES, Context, Skipped
from workbench.pipeline import run_all
from workbench.simulate import scenario, simulate
from workbench.store import absent_tables, validate, write_dataset

ORDER_ONLY = ("customers", "products", "orders", "order_items")


def shop_tables(seed: int = 2) -> dict[str, pd.DataFrame]:
    st = simulate(scenario("small", days=365), seed=seed)  # a year of orders, as exports have
    t = {k: st.to_pandas(k) for k in ORDER_ONLY}
    for name, col, prefix in (("customers", "customer_id", "gid://c/"),
                              ("orders", "customer_id", "gid://c/"),
                              ("orders", "order_id", "#"), ("order_items", "order_id", "#"),
                              ("products", "product_id", "sku-"),
                              ("order_items", "product_id", "sku-")):
        t[name][col] = prefix + t[name][col].astype(str)
    n = len(t["orders"])
    t["orders"]["session_id"] = pd.array([None] * n, dtype="string")
    t["orders"]["message_id"] = pd.array([None] * n, dtype="string")
    t["products"]["purchase_type"] = "unknown"
    t["products"]["supply_days"] = float("nan")
    return t


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("shop") / "shop", shop_tables(),
                         manifest={"generator": "import:test"})


def test_string_ids_and_missing_optional_tables_validate():
    report = validate(shop_tables())
    assert report.ok, report.summary()


def test_one_id_with_two_types_is_named_with_both_tables():
    t = shop_tables()
    t["order_items"]["order_id"] = t["order_items"].order_id.str.lstrip("#").astype(int)
    report = validate(t)
    bad = [v for v in report.violations if v.table == "order_items" and v.column == "order_id"]
    assert bad and "orders.order_id" in bad[0].rule and "one type" in bad[0].rule


def test_every_analysis_runs_or_says_what_it_needs(shop):
    ctx = Context.open(shop, echo=lambda s: None)
    assert set(absent_tables(shop)) == {"sessions", "events", "returns", "messages",
                                        "assignments"}
    outcome = {a.name: a(ctx) for a in ANALYSES if a.name != "discount"}
    ran = {k for k, v in outcome.items() if not isinstance(v, Skipped)}
    assert ran == {"overview", "clv", "recommendations"}, outcome
    reasons = {k: v.reason for k, v in outcome.items() if isinstance(v, Skipped)}
    assert "no messages" in reasons["operations"]
    assert "no events" in reasons["cart_timing"] and outcome["cart_timing"].test_to_run
    assert "no sessions" in reasons["attribution"]
    notes = " ".join(outcome["overview"].notes)
    assert "no events table" in notes and "no messages table" in notes
    assert "nan" not in outcome["overview"].summary()


def test_run_writes_the_report_and_a_scorecard_keyed_by_the_stores_ids(shop, tmp_path):
    written = run_all(shop, tmp_path / "reports", echo=lambda s: None)
    assert {"report", "clv_scorecard", "campaign_config", "numbers"} <= set(written)
    assert not {"abandoned_cart_config", "discount_config", "attribution_summary"} & set(
        written)
    sc = pd.read_csv(written["clv_scorecard"])
    assert sc.customer_id.astype(str).str.startswith("gid://c/").all()
    html = written["report"].read_text(encoding="utf-8")
    for needed in ("the dataset has no events", "the dataset has no sessions",
                   "randomized discount test"):
        assert needed in html, needed
    assert json.loads(written["numbers"].read_text())["kpis"]["orders"] > 0
    # the cross-sell and browse picks go into the config in the store's own product ids
    camp = json.loads(written["campaign_config"].read_text())["campaigns"]
    cross = camp["post_purchase"]["recommender"]
    assert cross["source"] == "cross_sell" and cross["cross_sell"]
    ids = set(cross["cross_sell"]) | {p for v in cross["cross_sell"].values() for p in v}
    assert all(p.startswith("sku-") for p in ids | set(camp["browse_abandonment"][
        "recommender"]["popular"]))
    lists = pd.read_csv(written["cross_sell"])
    assert set(lists.product_id.astype(str)) == set(cross["cross_sell"])


def test_the_discount_test_is_sized_at_the_stores_own_rate_and_audience(shop):
    """The baseline is recomputed here from the orders, independently of the Ibis code."""
    from workbench.analyses.discount import offer_audience
    from workbench.experiments import sample_size_proportion
    from workbench.store import read_table

    o = read_table(shop, "orders")
    last = o.placed_at.max()
    active = set(o.loc[o.placed_at > last - pd.Timedelta(days=365), "customer_id"])
    c = read_table(shop, "customers")
    active &= set(c.loc[c.email_opt_in, "customer_id"])
    recent = o[(o.placed_at > last - pd.Timedelta(days=84)) & o.customer_id.isin(active)]
    window = ((last - recent.placed_at).dt.total_seconds() // (7 * 86400)).astype(int)
    assert active  # the simulated store's buyers mostly opted in to email
    baseline = recent.assign(w=window).groupby("w").customer_id.nunique().sum() / (
        12 * len(active))
    aud = offer_audience(Context.open(shop).con)
    assert aud["customers"] == len(active)
    assert aud["baseline"] == pytest.approx(baseline, rel=1e-12)
    skipped = next(a for a in ANALYSES if a.name == "discount")(Context.open(shop))
    n = sample_size_proportion(baseline, 0.2 * baseline, alpha=0.05 / 4)
    assert f"{n:,} customers per arm" in skipped.test_to_run
    assert f"{len(active):,} customers a send" in skipped.test_to_run
    # on margin: a customer-week's margin (0 without an order), its mean and sd over
    # every active customer x week, and the units per arm for 10% of the mean at P 0.9
    items = read_table(shop, "order_items")
    goods = (items.quantity * items.unit_cost.fillna(0)).groupby(items.order_id).sum()
    m = recent.assign(w=window, margin=recent.revenue - recent.order_id.map(goods).fillna(0))
    per = m.groupby(["w", "customer_id"]).margin.sum().to_numpy()
    cells = np.zeros(12 * len(active))
    cells[:len(per)] = per
    assert aud["margin_mean"] == pytest.approx(cells.mean(), rel=1e-9)
    assert aud["margin_sd"] == pytest.approx(cells.std(ddof=1), rel=1e-9)
    assert aud["costs_known"]
    from workbench.experiments import sample_size_mean
    need = sample_size_mean(cells.std(ddof=1), 0.1 * cells.mean(), alpha=0.2)
    assert f"is recommended 80% of the time at {need:,} customers per arm" in \
        skipped.test_to_run


def test_a_store_without_consent_sizes_the_discount_test_on_every_active_buyer(tmp_path):
    """GA4 knows no email consent (every opt-in False): the audience is all active buyers,
    and the sentence says only the opted-in can be sent the offer."""
    from workbench.analyses.discount import offer_audience

    t = shop_tables()
    t["customers"]["email_opt_in"] = False
    path = write_dataset(tmp_path / "shop", t, manifest={"generator": "import:test"})
    o = t["orders"]
    last = o.placed_at.max()
    active = o.loc[o.placed_at > last - pd.Timedelta(days=365), "customer_id"].nunique()
    aud = offer_audience(Context.open(path).con)
    assert aud["customers"] == active and not aud["consent_known"]
    out = next(a for a in ANALYSES if a.name == "discount")(Context.open(path))
    assert f"{active:,} customers a send" in out.test_to_run
    assert "does not record email consent" in out.test_to_run


def test_the_cart_test_is_sized_at_the_stores_carts_and_natural_recovery(tmp_path):
    """A store that sends reminders but never randomized them: the skip names the test,
    sized from the carts no reminder reached (what the no-message arm would measure)."""
    from workbench.analyses.cart_timing import abandonment_episodes
    from workbench.experiments import sample_size_proportion

    st = simulate(scenario("small"), seed=2)
    t = {k: st.to_pandas(k) for k in st.tables}
    t["assignments"] = t["assignments"][t["assignments"].unit_type != "cart"]
    ctx = Context.open(write_dataset(tmp_path / "shop", t), echo=lambda s: None)
    out = next(a for a in ANALYSES if a.name == "cart_timing")(ctx)
    assert isinstance(out, Skipped) and "randomized experiment" in out.reason
    ep = abandonment_episodes(ctx.con).execute()
    quiet = ep[ep.n_messages.fillna(0) == 0]
    assert 30 <= len(quiet) < len(ep)  # some carts were reminded, some were not
    rate = quiet.recovered.mean()
    n = sample_size_proportion(rate, 0.2 * rate, alpha=0.05 / 3)
    assert f"{n:,} carts per arm" in out.test_to_run
    assert f"baseline of {rate:.2%}" in out.test_to_run


def test_the_config_of_an_imported_store_starts_from_its_current_settings(shop, tmp_path):
    """'What changes' diffs against the store's own config when given, never silently
    against the package defaults."""
    from workbench.analyses import Context
    from workbench.campaigns.config import (
        CampaignConfig,
        load_campaign_config,
        save_config,
        with_settings,
    )
    from workbench.pipeline import campaign_config

    mine = with_settings(CampaignConfig(), {"campaigns.caps.sms_per_week": 1})
    cur = save_config(mine, tmp_path / "current.json")
    ctx = Context.open(shop, echo=lambda s: None)
    written, sec = campaign_config(ctx, {}, {}, tmp_path, current_config=cur)
    assert load_campaign_config(written["campaign_config"]).campaigns == mine.campaigns
    text = " ".join(sec.paragraphs)
    assert "against your current config" in text and "cannot be replayed" in text
    _, sec = campaign_config(ctx, {}, {}, tmp_path)
    assert "--current-config" in " ".join(sec.paragraphs)


def test_a_bad_current_config_is_refused_before_anything_is_written(shop, tmp_path):
    from click.testing import CliRunner

    from workbench.cli import main

    bad = tmp_path / "current.json"
    bad.write_text('{"campaigns": {"caps": {"sms_per_week": -1}}}')
    out = CliRunner().invoke(main, ["run", "--dataset", str(shop), "--out",
                                    str(tmp_path / "r"), "--no-apps", "--current-config",
                                    str(bad)])
    assert out.exit_code == 1 and "current.json" in out.output
    assert "sms_per_week" in out.output and not (tmp_path / "r").exists()
