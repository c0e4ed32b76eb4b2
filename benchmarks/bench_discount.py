"""Time to a converged posterior: 8 segments x 5 discount levels from 1M experiment rows.

Counts the whole path a user waits for — import, aggregation to sufficient statistics,
compilation and sampling (2 chains x 1,000 draws after 1,000 tuning; with
``--features`` also the pooled-on-flags model the pipeline fits, 2,000 draws) — cold (empty
compile caches, a fresh process) and warm (caches filled), for each available sampler,
in the same run.  Goal (issue 15): the pipeline's model under 20 s cold.

Usage: python benchmarks/bench_discount.py [--samplers nutpie pymc numpyro]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pandas as pd
from workbench.analyses.discount.model import DiscountResponseModel
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
n = 1_000_000
levels = np.array([0, .05, .10, .15, .20])
seg = rng.integers(0, 8, n); d = levels[rng.integers(0, 5, n)]
a = np.linspace(-3.2, -2.2, 8)[seg]; b = np.linspace(0.5, 9, 8)[seg]
if sys.argv[2] == "features":  # flags explain most, not all, of the spread (as in a store)
    bits = (np.arange(8)[:, None] >> np.arange(3)) & 1
    noise = np.random.default_rng(7).normal(0, 1, (2, 8))
    a = (-3.2 + bits @ [0.3, 0.5, 0.2] + 0.15 * noise[0])[seg]
    b = (0.5 + bits @ [5.0, 2.0, 1.0] + 1.0 * noise[1])[seg]
y = rng.random(n) < 1 / (1 + np.exp(-(a + 0.1 * (d > 0) + b * d)))
# segment labels by lookup: seg.astype(str) spent ~1-2 s of the timed run making the
# test data, which a user's rows arrive with
labels = np.array([str(i) for i in range(8)], dtype=object)
rows = pd.DataFrame({"segment": labels[seg], "discount": d, "converted": y})
counts = (rows.groupby(["segment", "discount"]).converted.agg(["size", "sum"])
          .rename(columns={"size": "n", "sum": "conversions"}).reset_index())
feats = None
if sys.argv[2] == "features":  # segment s has flags = the bits of s, as deal/value/recency
    idx = sorted(counts.segment.unique())
    feats = pd.DataFrame({f"f{k}": [(int(s) >> k) & 1 for s in idx] for k in range(3)},
                         index=idx)
draws = int(sys.argv[3])
t1 = time.perf_counter()
m = DiscountResponseModel(sampler=sys.argv[1], random_seed=1, draws=draws).fit(
    counts, segment_features=feats)
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t0, "import": t_import, "data": t1 - t0 - t_import,
                  "fit": t2 - t1, "converged": m.converged_,
                  "min_ess": float(m.diagnostics_.table.ess_bulk.min()),
                  "min_ess_tail": float(m.diagnostics_.table.ess_tail.min()),
                  "max_rhat": float(m.diagnostics_.table.r_hat.max()),
                  "divergences": m.diagnostics_.divergences}))
"""


def run(sampler: str, cache: Path, mode: str = "plain", draws: int = 1000) -> dict:
    env = {**os.environ, "PYTENSOR_FLAGS": f"compiledir={cache / 'pytensor'}",
           "NUMBA_CACHE_DIR": str(cache / "numba")}
    out = subprocess.run([sys.executable, "-c", CHILD, sampler, mode, str(draws)], env=env,
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samplers", nargs="+", default=["nutpie", "pymc"])
    ap.add_argument("--features", action="store_true",
                    help="also time the model the pipeline fits: segments pooled on their "
                         "flags (group-level predictors), 2,000 draws")
    args = ap.parse_args()
    results = {}
    modes = [("plain", 1000)] + ([("features", 2000)] if args.features else [])
    for mode, draws in modes:
        for s in args.samplers:
            with tempfile.TemporaryDirectory() as tmp:
                cold = run(s, Path(tmp), mode, draws)
                warm = run(s, Path(tmp), mode, draws)
            results[f"{s}/{mode}"] = {"cold": cold, "warm": warm}
            print(f"{s:8s} {mode:8s} cold {cold['seconds']:6.1f} s (import "
                  f"{cold['import']:.1f}, rows to counts {cold['data']:.1f}, fit "
                  f"{cold['fit']:.1f})   warm {warm['seconds']:6.1f} s   converged "
                  f"{cold['converged']}  min ESS {cold['min_ess']:.0f} bulk / "
                  f"{cold['min_ess_tail']:.0f} tail  max R-hat {cold['max_rhat']:.4f}  "
                  f"divergences {cold['divergences']}", flush=True)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "discount.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
