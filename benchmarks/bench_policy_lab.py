"""Policy lab responsiveness: slider change → updated numbers, in a real browser.

Serves ``notebooks/apps/policy_lab.py`` with ``marimo run`` on loopback, opens it in
headless Chromium (Debian's, through Playwright) and steps the email-cap slider
through values not replayed before, timing each keypress until the displayed
margin line changes — what a marketer waits for.  The lab's own replay time (shown
in the page) is recorded too.  In the same run, the same change is replayed the
way one would without the lab: ``workbench replay`` on the whole store, three
replications, as a ratio.  A sweep over sample sizes times ``Replayer.run`` for
one new config (the baseline cached, as in the lab).

Usage: .venv/bin/python benchmarks/bench_policy_lab.py [--dataset data/demo]
       [--changes 6] [--customers 1000]
Writes benchmarks/results/policy_lab.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_changes(dataset, customers: int, changes: int) -> dict:
    from playwright.sync_api import sync_playwright

    port = _port()
    env = {**os.environ, "WORKBENCH_APP_CUSTOMERS": str(customers)}
    if dataset:
        env["WORKBENCH_APP_DATASET"] = str(dataset)
    server = subprocess.Popen([str(BIN / "marimo"), "run", "--headless", "--no-token",
                               "--host", "127.0.0.1", "--port", str(port),
                               str(ROOT / "notebooks" / "apps" / "policy_lab.py")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=shutil.which("chromium"),
                                  args=["--no-sandbox", "--disable-gpu"])
            page = b.new_page()
            t0 = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#lab-margin", timeout=300_000)
            first_load = time.perf_counter() - t0
            cap = page.locator('[role="slider"][aria-valuemax="10"]')
            cap.focus()
            page.keyboard.press("End")  # start from 10 a week, then step down: all new
            page.wait_for_function("() => document.querySelector('#lab-margin')"
                                   " && true", timeout=60_000)
            time.sleep(5)
            walls, replays = [], []
            for _ in range(changes):
                old = page.inner_text("#lab-summary")
                t0 = time.perf_counter()
                cap.focus()
                page.keyboard.press("ArrowLeft")
                page.wait_for_function(
                    "old => { const e = document.querySelector('#lab-summary');"
                    " return e && e.innerText !== old; }", arg=old, timeout=120_000)
                walls.append(time.perf_counter() - t0)
                replays.append(float(page.inner_text("#lab-seconds")))
            b.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return {"first_load_seconds": first_load, "change_seconds": walls,
            "median_change_seconds": statistics.median(walls),
            "max_change_seconds": max(walls),
            "lab_replay_seconds": replays, "median_lab_replay_seconds":
            statistics.median(replays)}


def cli_replay(dataset) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "workbench"), "replay", "--dataset", str(dataset), "--set",
                    "campaigns.caps.email_per_week=4", "--replications", "3"], check=True,
                   capture_output=True)
    return time.perf_counter() - t0


def sample_sweep(dataset, sizes) -> dict:
    from workbench.campaigns.config import with_settings
    from workbench.campaigns.lab import open_lab

    out = {}
    for n in sizes:
        lab = open_lab(dataset, customers=n)
        lab.replayer.run(lab.baseline)  # the baseline, cached as in the lab
        times = []
        for cap in (4, 3, 2):
            t0 = time.perf_counter()
            res = lab.replayer.run(with_settings(lab.baseline,
                                                 {"campaigns.caps.email_per_week": cap}))
            times.append(time.perf_counter() - t0)
        m = res.table.set_index("metric").loc["margin"]
        out[n] = {"median_seconds": statistics.median(times),
                  "margin_interval_half_width": float((m.high - m.low) / 2)}
        print(f"  {n:>6,} customers: {out[n]['median_seconds']:.2f} s per new config, "
              f"margin ±{out[n]['margin_interval_half_width']:,.0f}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default=str(ROOT / "data" / "demo"))
    ap.add_argument("--customers", type=int, default=None)
    ap.add_argument("--changes", type=int, default=6)
    args = ap.parse_args()
    from workbench.campaigns.lab import DEFAULT_SAMPLE

    dataset = args.dataset if Path(args.dataset).exists() else None
    n = args.customers or DEFAULT_SAMPLE
    print(f"policy lab on {dataset or 'a default simulated store'}, {n:,} customers")
    res = {"dataset": dataset, "customers": n, "cpu_count": os.cpu_count()}
    res["browser"] = browser_changes(dataset, n, args.changes)
    br = res["browser"]
    print(f"  slider → numbers: median {br['median_change_seconds']:.2f} s "
          f"(max {br['max_change_seconds']:.2f} s; lab replay median "
          f"{br['median_lab_replay_seconds']:.2f} s) over {args.changes} new values")
    if dataset:
        res["cli_replay_seconds"] = cli_replay(dataset)
        res["cli_over_lab"] = res["cli_replay_seconds"] / br["median_change_seconds"]
        print(f"  workbench replay (whole store, 3 replications): "
              f"{res['cli_replay_seconds']:.1f} s = {res['cli_over_lab']:.0f}× the lab")
    res["sample_sweep"] = sample_sweep(dataset, (1000, 2000, 5000))
    out = ROOT / "benchmarks" / "results" / "policy_lab.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
