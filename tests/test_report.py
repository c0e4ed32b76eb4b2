"""The overview's numbers are right, and the report opens offline in a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from workbench.analyses.overview import overview_section
from workbench.analyses.overview.features import store_overview
from workbench.pipeline import run_all
from workbench.report import Report, Section
from workbench.store import open_dataset, read_table


@pytest.fixture(scope="module")
def small_report(small_dataset, tmp_path_factory):
    """``workbench run`` on the small store once, for the tests that read what it wrote."""
    # the replay's size is not what these check: 700 of the store's 2,000 customers replay
    # its per-customer policies once at full size instead of three times (22 -> ~8 s)
    return run_all(Path(small_dataset), tmp_path_factory.mktemp("reports"), echo=lambda s: None,
                   replay_customers=700)


@pytest.fixture(scope="module")
def overview(small_dataset):
    return store_overview(open_dataset(small_dataset))


def test_funnel_matches_pandas(overview, small_dataset):
    e = read_table(small_dataset, "events")
    expect = e.groupby("event_name").session_id.nunique()
    got = overview.funnel.set_index("step").sessions
    for step in ("view_item", "add_to_cart", "begin_checkout", "purchase"):
        assert got[step] == expect[step]
    assert (got.diff().dropna() <= 0).all()  # a funnel only narrows


def test_revenue_and_kpis_match_pandas(overview, small_dataset):
    o = read_table(small_dataset, "orders")
    assert overview.revenue.revenue.sum() == pytest.approx(o.revenue.sum())
    assert overview.revenue.orders.sum() == len(o)
    assert overview.kpis["orders"] == len(o)
    n = o.groupby("customer_id").size()
    assert overview.kpis["repeat_buyer_share"] == pytest.approx((n > 1).mean())
    # weeks start on Monday in UTC
    assert (overview.revenue.week.dt.day_of_week == 0).all()


def test_abandonment_matches_pandas(overview, small_dataset):
    e = read_table(small_dataset, "events")
    carts = set(e.loc[e.event_name == "add_to_cart", "session_id"])
    bought = set(e.loc[e.event_name == "purchase", "session_id"])
    ab = overview.abandonment
    assert ab.cart_sessions.sum() == len(carts)
    assert ab.abandoned.sum() == len(carts - bought)


def test_message_engagement_matches_pandas(overview, small_dataset):
    m = read_table(small_dataset, "messages")
    g = m.groupby(["campaign", "channel"]).agg(sent=("message_id", "size"),
                                               clicked=("clicked_at", "count"))
    got = overview.messages.set_index(["campaign", "channel"])
    pd.testing.assert_series_equal(got.sent.sort_index(), g.sent.sort_index(),
                                   check_dtype=False, check_names=False)
    pd.testing.assert_series_equal(got.clicked.sort_index(), g.clicked.sort_index(),
                                   check_dtype=False, check_names=False)
    assert got.open_rate.loc[(slice(None), "sms")].isna().all()


def test_report_is_self_contained(overview, tmp_path):
    html = Report("t", "s", [overview_section(overview)]).to_html()
    # no external scripts, stylesheets, images or fonts
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=\"?https?:", html)
    assert not re.search(r"<img[^>]+src=\"?https?:", html)
    assert "@import" not in html
    assert "vegaEmbed" in html


def test_report_text_escapes_markup(tmp_path):
    html = Report("<b>x</b>", "", [Section("S", paragraphs=["</script><i>"])]).to_html()
    assert "<b>x</b>" not in html and "&lt;/script&gt;" in html


def test_failed_report_write_keeps_old_file(overview, tmp_path, monkeypatch):
    path = tmp_path / "index.html"
    path.write_text("old")
    rep = Report("t", "s", [overview_section(overview)])
    monkeypatch.setattr(Report, "to_html", lambda self: (_ for _ in ()).throw(OSError("x")))
    with pytest.raises(OSError):
        rep.save(path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_offline_in_headless_chromium(small_report, tmp_path):
    """Open the report from disk with every network request blocked and recorded."""
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    report = small_report["report"]
    requests, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=exe,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def block(route):
            if not route.request.url.startswith(("file:", "data:", "blob:")):
                requests.append(route.request.url)
                return route.abort()
            return route.continue_()

        page.route("**/*", block)
        page.goto(report.resolve().as_uri())
        n_charts = page.locator("[data-chart]").count()
        page.wait_for_function(f"window.__charts_rendered + window.__chart_errors.length >= "
                               f"{n_charts}", timeout=30_000)
        assert page.evaluate("window.__chart_errors") == []
        assert page.evaluate("window.__charts_rendered") == n_charts >= 4
        # every chart drew marks
        assert page.locator("[data-chart] svg .mark-rect, [data-chart] svg .mark-line").count() \
            >= n_charts
        assert page.locator("section#overview .kpi").count() >= 6
        assert page.locator("section#cart-timing [data-chart]").count() == 2
        assert page.locator("section#attribution [data-chart]").count() == 3
        assert page.locator("section#changes [data-chart]").count() == 1
        assert page.locator("section#clv [data-chart]").count() == 3
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert requests == []
    assert errors == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
    # the exported campaign config validates, says where it came from, and its replayed
    # effect in the report is the replay's own numbers
    from workbench.campaigns.config import load_campaign_config

    cfg = load_campaign_config(small_report["campaign_config"])
    assert cfg.provenance.dataset_hash and "attribution" in cfg.report_metadata


def test_attribution_section_and_summary_match_the_analysis(small_dataset, small_report):
    """The report's attribution numbers and attribution.json come from the analysis object:
    recomputing the point credit (no bootstrap) gives the same revenue per campaign."""
    from workbench.analyses.attribution.analysis import analyze_attribution
    from workbench.analyses.attribution.export import load_attribution
    from workbench.simulate.truth import campaign_incremental_revenue
    from workbench.store import open_dataset

    written = small_report
    summ = load_attribution(written["attribution_summary"])
    truth = campaign_incremental_revenue(small_dataset)
    a = analyze_attribution(open_dataset(small_dataset), truth=truth, n_boot=0)
    table = a.campaign_table("value")
    for camp, credit in summ.campaigns.items():
        for model, revenue in credit.revenue_by_model.items():
            assert revenue == pytest.approx(table.loc[camp, model]), (camp, model)
        lo, hi = credit.interval_95_by_model["markov"]
        assert lo <= credit.revenue_by_model["markov"] <= hi
        assert credit.true_incremental_revenue == pytest.approx(table.loc[camp, "truth"])
    assert summ.ranking_against_truth and set(summ.ranking_against_truth) == set(summ.models)
    html = written["report"].read_text()
    assert 'id="attribution"' in html
    lc = a.by_campaign[a.by_campaign.is_campaign].groupby("model").value.sum()["last_click"]
    assert f"{lc:,.0f}" in html


def test_run_writes_discount_section_and_config(tmp_path_factory, monkeypatch):
    """On a store with a year of seasonal sends, workbench run fits the discount model, says
    whether the fit passed its diagnostics, exports the config only if it did, and shows a
    rule that offers a discount replayed next to its prediction."""
    from workbench.analyses import discount
    from workbench.simulate import scenario, simulate
    from workbench.store import save_simulation

    store = simulate(scenario("default", n_customers=8000), seed=3)
    ds = save_simulation(store, tmp_path_factory.mktemp("run") / "ds")
    out = tmp_path_factory.mktemp("out")
    # the discount analysis alone (the whole pipeline, with the config's replay, runs in
    # test_cli on a small store); the replays' sizes are not what this checks
    from workbench.analyses import get

    monkeypatch.setattr(discount, "REPLAY_CUSTOMERS", 1000)
    written = run_all(Path(ds), out, echo=lambda s: None, replay_customers=0,
                      analyses=(get("discount"),))
    html = written["report"].read_text()
    assert 'id="discount"' in html
    passed = "The fit passed its diagnostics" in html
    assert passed == ("discount_config" in written)
    if passed:
        cfg = json.loads((out / "discount.json").read_text())
        assert cfg["discount"]["fit"]["converged"] is True
        offers = any(s["discount_pct"] > 0 for s in cfg["discount"]["segments"].values())
        assert offers == ("predicted and replayed (1,000 customers × 3 replications" in html)
