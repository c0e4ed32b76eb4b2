"""Simulator throughput and peak memory: 10k, 100k and 1M customers over 365 days.

Each size runs in its own process so its peak resident memory (ru_maxrss) is
its own.  The baseline is the straightforward alternative a first simulator
usually is: a per-customer Python loop drawing the same BG/NBD purchase and
browsing story and emitting the same events (no campaigns), measured on the
same machine in the same run; the figure of merit is the events-per-second
ratio.

Usage::

    python benchmarks/bench_simulate.py [--sizes 10000 100000 1000000] [--repeats 3]

Writes benchmarks/results/simulate.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, resource, sys, time
from workbench.simulate import scenario, simulate
n, days = int(sys.argv[1]), int(sys.argv[2])
name = sys.argv[3] if len(sys.argv) > 3 else "default"
cfg = scenario(name, n_customers=n, days=days)
t0 = time.perf_counter()
store = simulate(cfg, seed=1)
dt = time.perf_counter() - t0
rows = {k: v.num_rows for k, v in store.tables.items()}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
print(json.dumps({"seconds": dt, "rows": rows, "peak_mib": peak}))
"""

BASELINE = r"""
import json, resource, sys, time
import numpy as np
from workbench.simulate import scenario
n, days = int(sys.argv[1]), int(sys.argv[2])
cfg = scenario("default", n_customers=n, days=days)
rng = np.random.default_rng(1)
bg, tr = cfg.bgnbd, cfg.traffic
t0 = time.perf_counter()
events = []
for c in range(n):
    signup = rng.uniform(0, days)
    lam = rng.gamma(bg.r, 1 / bg.alpha_days)
    p = rng.beta(bg.a, bg.b)
    t, alive_until = signup, days
    times = [signup]
    while True:
        t += rng.exponential(1 / lam)
        if t >= days:
            break
        times.append(t)
        if rng.random() < p:
            alive_until = t
            break
    k = rng.poisson((tr.browse_sessions_per_purchase * lam + tr.browse_sessions_per_day)
                    * (alive_until - signup))
    browse = list(signup + rng.random(k) * (alive_until - signup))
    for s, ts in enumerate(times + browse):
        nv = 1 + rng.poisson(tr.mean_extra_views)
        for j in range(nv):
            events.append((c, s, ts + j / 1920, "view_item", int(rng.integers(0, 480))))
        if s < len(times):
            for name in ("add_to_cart", "begin_checkout", "purchase"):
                events.append((c, s, ts + nv / 1920, name, int(rng.integers(0, 480))))
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": dt, "rows": {"events": len(events)}, "peak_mib": peak}))
"""


def run(code: str, n: int, days: int, *extra: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, str(n), str(days), *extra], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-size", type=int, default=100_000)
    args = ap.parse_args()
    results = {"days": args.days, "sizes": {}, "baseline": None}
    for n in args.sizes:
        reps = 1 if n >= 1_000_000 else args.repeats
        runs = [run(CHILD, n, args.days) for _ in range(reps)]
        secs = statistics.median(r["seconds"] for r in runs)
        ev = runs[0]["rows"]["events"]
        results["sizes"][n] = {"median_seconds": secs, "runs": len(runs), "events": ev,
                               "events_per_second": ev / secs,
                               "peak_mib": max(r["peak_mib"] for r in runs),
                               "rows": runs[0]["rows"]}
        print(f"{n:>9,} customers: {secs:7.1f} s  {ev:>12,} events  "
              f"{ev / secs:>12,.0f} events/s  peak {results['sizes'][n]['peak_mib']:,.0f} MiB",
              flush=True)
    b = args.baseline_size
    # like for like: the organic story only (campaigns off) on both sides
    ours = [run(CHILD, b, args.days, "no_campaigns") for _ in range(args.repeats)]
    base = [run(BASELINE, b, args.days) for _ in range(args.repeats)]
    o_eps = statistics.median(r["rows"]["events"] / r["seconds"] for r in ours)
    b_eps = statistics.median(r["rows"]["events"] / r["seconds"] for r in base)
    results["baseline"] = {"customers": b, "workbench_events_per_second": o_eps,
                           "python_loop_events_per_second": b_eps, "ratio": o_eps / b_eps}
    print(f"baseline at {b:,} customers, campaigns off: workbench {o_eps:,.0f} events/s vs "
          f"per-customer Python loop {b_eps:,.0f} events/s: {o_eps / b_eps:.1f}x")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "simulate.json").write_text(json.dumps(results, indent=2))
    print("\n| customers x 365 days | median time | events | events/s | peak memory |")
    print("|---|---|---|---|---|")
    for n, r in results["sizes"].items():
        print(f"| {n:,} | {r['median_seconds']:.1f} s | {r['events']:,} | "
              f"{r['events_per_second']:,.0f} | {r['peak_mib'] / 1024:.1f} GiB |")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark took {time.perf_counter() - t0:.0f} s)")
