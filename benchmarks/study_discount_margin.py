"""The README's figures for the margin decision (issue 16), reproducible.

1. Calibration over stores the project never tuned on: ``study_margin_calibration`` on
   the default scenario, 20,000 customers, seeds 101-120 (about 16 minutes here).
2. The recommended seasonal rule replayed against uniform rules on three more untuned
   stores (seeds 29, 41, 53; 6 replications each), next to its cross-fitted prediction.

Usage: .venv/bin/python benchmarks/study_discount_margin.py [--stores 20] [--skip-replays]
Writes benchmarks/results/discount_margin.json and prints both summaries.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    from workbench.analyses.discount import discount_units, fit_margins
    from workbench.analyses.discount.replay import replay_rules, uniform_rules
    from workbench.analyses.discount.study import study_margin_calibration
    from workbench.simulate import scenario, simulate
    from workbench.store import open_dataset, save_simulation

    ap = argparse.ArgumentParser()
    ap.add_argument("--stores", type=int, default=20)
    ap.add_argument("--skip-replays", action="store_true")
    args = ap.parse_args()
    out: dict = {}
    t0 = time.perf_counter()
    study = study_margin_calibration(seeds=tuple(range(101, 101 + args.stores)), echo=print)
    print(study.summary())
    out["calibration"] = {"summary": study.summary(), "coverage_rate": study.coverage_rate,
                          "cells": len(study.coverage), "seconds": time.perf_counter() - t0,
                          "rules": study.rules.to_dict(orient="records")}
    if not args.skip_replays:
        out["replays"] = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in (29, 41, 53):
                path = save_simulation(simulate(scenario("default", n_customers=20_000),
                                                seed=seed), Path(tmp) / f"store_{seed}")
                fit = fit_margins(discount_units(open_dataset(path)).execute(), draws=2000,
                                  tune=1000, random_seed=seed)
                dec = fit.decide(honest=True)
                rec = dec.rule
                rr = replay_rules(path, fit, {"recommended": rec, **uniform_rules(fit)},
                                  replications=6, n_customers=20_000)
                print(seed, rec)
                print(rr.summary())
                out["replays"].append({"seed": seed, "rule": rec,
                                       "table": rr.table.to_dict(orient="records")})
    res = HERE / "results"
    res.mkdir(exist_ok=True)
    (res / "discount_margin.json").write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
