"""Whole process, as a user runs it: `workbench clv` against lifetimes' BetaGeoFitter.

Both read the same RFM CSV of 1M simulated customers (``--customers``; made by
``bench_clv.simulate``, seed 0: whole-day recency and T, spends in cents) and are timed
from process start to exit — interpreter start, imports, CSV parsing, the fit and its
output — medians of ``--repeats`` runs, the two tools alternating so that both see the
same machine load, in one run of this script:

* ``workbench clv CSV --model bgnbd --json``;
* lifetimes 0.11.3 (its own venv, see ``bench_clv.py``): a script that reads the CSV
  with pandas and fits ``BetaGeoFitter`` with its defaults, as its README shows, then
  prints the parameters.

The parameters of the two fits are compared (largest relative difference).

Usage: python benchmarks/bench_cli_clv.py [--customers 1000000] [--repeats 3]
Writes benchmarks/results/cli_clv.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_clv import CACHE, ROOT, VENV, rel, simulate  # noqa: E402

WORKBENCH = Path(sys.executable).with_name("workbench")
LIFETIMES_ONE_SHOT = """
import json, sys, warnings
warnings.simplefilter("ignore")
import pandas as pd
from lifetimes import BetaGeoFitter
df = pd.read_csv(sys.argv[1])
bg = BetaGeoFitter().fit(df["frequency"], df["recency"], df["T"])
print(json.dumps(bg.params_[["r", "alpha", "a", "b"]].tolist()))
"""


def run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=3600)
    return time.perf_counter() - t0, out.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    csv = CACHE / f"rfm_{args.customers}.csv"
    if not csv.exists():
        csv.parent.mkdir(parents=True, exist_ok=True)
        simulate(args.customers).to_csv(csv, index=False)
    lt_py = VENV / "bin" / "python"
    ours_cmd = [str(WORKBENCH), "clv", str(csv), "--model", "bgnbd", "--json"]
    lt_cmd = [str(lt_py), "-c", LIFETIMES_ONE_SHOT, str(csv)]
    times: dict[str, list[float]] = {"workbench clv": [], "lifetimes": []}
    params = {}
    for _ in range(args.repeats):
        t, out = run(ours_cmd)
        times["workbench clv"].append(t)
        params["workbench clv"] = list(json.loads(out)["params"].values())
        if lt_py.exists():
            t, out = run(lt_cmd)
            times["lifetimes"].append(t)
            params["lifetimes"] = json.loads(out.strip().splitlines()[-1])
    med = {k: statistics.median(v) for k, v in times.items() if v}
    res = {"customers": args.customers, "csv": str(csv), "times": times, "median_s": med,
           "params": params}
    print(f"| whole process, {args.customers:,} customers (BG/NBD) | median of "
          f"{args.repeats} | runs | vs lifetimes | parameters |")
    print("|---|---|---|---|---|")
    for k, v in med.items():
        ratio = f"{med['lifetimes'] / v:.1f}x" if "lifetimes" in med else "n/a"
        p = ", ".join(f"{x:.5g}" for x in params[k])
        print(f"| {k} | {v:.2f} s | {', '.join(f'{t:.2f}' for t in times[k])} | {ratio} | {p} |")
    if "lifetimes" in params:
        res["max_rel_param_diff"] = rel(params["lifetimes"], params["workbench clv"])
        print(f"\nlargest relative parameter difference: {res['max_rel_param_diff']:.1e}")
    else:
        print(f"\nlifetimes not run: {lt_py} not found (see bench_clv.py)")
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "cli_clv.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
