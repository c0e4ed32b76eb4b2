"""The what-if lab: the policy lab's logic, both marimo apps headless, and one in a browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.campaigns.config import CampaignConfig, diff_configs
from workbench.campaigns.lab import (
    DELAY_STEPS_HOURS,
    PolicyControls,
    open_lab,
    steps_with,
)
from workbench.segments import Segmentation, SegmentDiscountRule

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "notebooks" / "apps"
BIN = Path(sys.executable).parent
# small settings so every app runs in seconds (the model tuner reads these too)
APP_ENV = {"WORKBENCH_APP_CUSTOMERS": "300", "WORKBENCH_APP_DRAWS": "200",
           "WORKBENCH_APP_BOOT": "10"}


def test_unchanged_controls_replay_the_config_as_it_is():
    base = CampaignConfig()
    c = PolicyControls.from_config(base)
    assert diff_configs(base, c.apply(base)) == []
    assert c.notes  # no rule in the config: the lab says how to try one


def test_controls_change_the_settings_they_name():
    base = CampaignConfig()
    c = PolicyControls.from_config(base).with_values(
        delay_hours={"considered": 24.0}, sms_per_week=1,
        segment_discount_pct={"deal-lapsed": 15.0}, discount_experiment_share=0.1)
    new = c.apply(base)
    assert new.campaigns.abandoned_cart.policy["considered"].delay_hours == 24.0
    assert new.campaigns.abandoned_cart.policy["impulse"].delay_hours == 4.0  # untouched
    assert new.campaigns.caps.sms_per_week == 1
    rule = new.campaigns.seasonal.discount_rule
    assert rule.discount_pct == {"deal-lapsed": 15.0, "deal-recent": 0.0, "full-lapsed": 0.0,
                                 "full-recent": 0.0}
    assert rule.segmentation.by == ("deal", "recency")
    changes = diff_configs(base, new)
    assert "abandoned-cart reminder for considered products: delay 4 h → 24 h" in changes
    assert ("seasonal discount by segment: new — 15% for deal-lapsed; 0% for the other "
            "segments (segments by past discount use × recency; recent within 60 days)"
            in changes)
    with pytest.raises(ValueError, match="unknown control 'sms_cap'"):
        c.with_values(sms_cap=1)


def test_a_configs_rule_is_where_the_controls_start():
    rule = SegmentDiscountRule(segmentation=Segmentation(aov_split=60.0),
                               discount_pct={"deal-hi-recent": 10.0, "full-lo-lapsed": 0.0})
    d = CampaignConfig().model_dump(mode="json")
    d["campaigns"]["seasonal"].update(discount_rule=rule.model_dump(mode="json"),
                                      experiment_share=0.2)
    cfg = CampaignConfig.model_validate(d)
    c = PolicyControls.from_config(cfg)
    assert c.segment_discount_pct == rule.discount_pct and c.segmentation == rule.segmentation
    assert c.discount_experiment_share == 0.2 and not c.notes
    assert diff_configs(cfg, c.apply(cfg)) == []


def test_sliders_offer_the_configs_own_value():
    assert steps_with(3.0, DELAY_STEPS_HOURS) == [0.5, 1.0, 2.0, 3.0, 4.0, 8.0, 12.0, 24.0,
                                                  48.0]
    assert steps_with(4.0, DELAY_STEPS_HOURS) == list(DELAY_STEPS_HOURS)


def test_controls_keep_the_rules_default_and_odd_values_untouched():
    rule = SegmentDiscountRule(segmentation=Segmentation(by=("deal",)),
                               discount_pct={"deal": 12.0}, default_pct=5.0)
    d = CampaignConfig().model_dump(mode="json")
    d["campaigns"]["seasonal"].update(discount_rule=rule.model_dump(mode="json"),
                                      experiment_share=0.3)
    d["campaigns"]["abandoned_cart"]["policy"]["impulse"]["delay_hours"] = 3.0
    cfg = CampaignConfig.model_validate(d)
    assert diff_configs(cfg, PolicyControls.from_config(cfg).apply(cfg)) == []


def test_lab_on_a_dataset_replays_its_own_store(tiny_store, tmp_path):
    from workbench.store import save_simulation

    ds = save_simulation(tiny_store, tmp_path / "tiny")
    lab = open_lab(ds, customers=10_000)  # more than the store has: capped at its size
    assert lab.replayer.sim_config.n_customers == tiny_store.config.n_customers
    res = lab.replay(lab.controls())
    assert (res.table.difference == 0).all()  # unchanged controls: no effect
    res = lab.replay(lab.controls().with_values(email_per_week=1))
    assert res.table.set_index("metric").loc["messages_sent", "difference"] < 0


# ------------------------------------------------------------------ the apps themselves
def _env(**extra) -> dict:
    return {**os.environ, **APP_ENV, **extra,
            "PYTENSOR_FLAGS": os.environ.get("PYTENSOR_FLAGS",
                                             f"compiledir={ROOT / '.cache' / 'pytensor'}")}


@pytest.mark.parametrize("app", ["policy_lab.py", "model_tuner.py"])
def test_app_exports_without_a_cell_error(app, tmp_path):
    """``marimo export html`` runs every cell, as ``workbench run --apps`` does."""
    out = tmp_path / f"{app}.html"
    exp = subprocess.run([str(BIN / "marimo"), "export", "html", str(APPS / app), "-o",
                          str(out)], env=_env(), cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    # marimo's exit status is non-zero when any cell raised during the export
    assert exp.returncode == 0, (exp.stdout + exp.stderr)[-3000:]
    assert out.stat().st_size > 10_000


@pytest.mark.slow  # every cell already runs in the export above (make test)
@pytest.mark.parametrize("app", ["policy_lab.py", "model_tuner.py"])
def test_app_runs_as_a_script(app, tmp_path):
    run = subprocess.run([sys.executable, str(APPS / app)], env=_env(), cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_policy_lab_served_on_loopback_answers_a_slider_in_the_browser(tmp_path):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "marimo"), "run", "--headless", "--no-token", "--host", "127.0.0.1",
         "--port", str(port), str(APPS / "policy_lab.py")],
        env=_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        errors, outside = [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox",
                                                                   "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: None if r.url.startswith(
                (f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", "data:", "blob:"))
                else outside.append(r.url))
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#lab-margin", timeout=120_000)
            assert page.inner_text("#lab-margin") == "+0"  # nothing moved yet
            before = page.inner_text("#lab-summary")
            # the email cap is the one slider that runs to 10
            cap = page.locator('[role="slider"][aria-valuemax="10"]')
            assert cap.get_attribute("aria-valuenow") == "5"
            cap.focus()
            page.keyboard.press("Home")  # the cap falls to 1 a week
            page.wait_for_function(
                "old => { const e = document.querySelector('#lab-summary');"
                " return e && e.innerText !== old; }", arg=before, timeout=60_000)
            assert cap.get_attribute("aria-valuenow") == "1"
            assert page.inner_text("#lab-margin") != "+0"
            page.screenshot(path=str(tmp_path / "policy_lab.png"), full_page=True)
            browser.close()
        assert errors == []
        assert outside == []  # a served app needs no network
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_export_apps_writes_each_app_and_keeps_the_old_page_when_one_fails(tiny_store,
                                                                           tmp_path):
    from workbench.pipeline import export_apps
    from workbench.store import save_simulation

    ds = save_simulation(tiny_store, tmp_path / "tiny")
    apps = tmp_path / "apps_src"
    apps.mkdir()
    shutil.copy(APPS / "policy_lab.py", apps / "policy_lab.py")
    broken = (APPS / "policy_lab.py").read_text().replace(
        "    lab = open_lab(", "    raise RuntimeError('boom')\n    lab = open_lab(", 1)
    (apps / "broken.py").write_text(broken)
    out = tmp_path / "out"
    out.mkdir()
    (out / "broken.html").write_text("earlier export")
    said = []
    written = export_apps(ds, out, apps_dir=apps, echo=said.append, env=APP_ENV)
    assert set(written) == {"app_policy_lab"}
    page = written["app_policy_lab"].read_text()
    assert "Policy lab" in page and "lab-margin" in page
    assert (out / "broken.html").read_text() == "earlier export"
    assert any("exporting broken.py failed" in s for s in said)
    assert sorted(p.name for p in out.iterdir()) == ["broken.html", "policy_lab.html"]
