"""Full experiment analysis of 1M units x 5 arms, against statsmodels' logistic regression.

The workbench analysis (rates, intervals, Holm, SRM, CUPED, Bayesian P(best) and loss,
anytime-valid intervals, power, segment heterogeneity, Kaplan-Meier) is timed against the
tool an analyst would otherwise reach for on the same table: a statsmodels Logit of
``y ~ C(arm) * C(segment)`` on the unit-level rows, which gives only the segment effects.
Medians of 3 runs, same process, same data.

Usage: python benchmarks/bench_experiment.py [--units 1000000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arms = np.array(["holdout", "email_1h", "email_4h", "sms_1h", "sms_4h"])
    arm = arms[rng.integers(0, 5, n)]
    seg = rng.choice(["impulse", "considered", "consumable"], n)
    x = rng.gamma(2.0, 50.0, n)
    base = 0.15 + 0.02 * (arm != "holdout") + 0.0002 * (x - 100)
    y = (rng.random(n) < np.clip(base, 0, 1)).astype(np.int8)
    dur = np.where(y == 1, rng.exponential(20, n), 168.0)
    return pd.DataFrame({"arm": arm, "y": y, "pre": x, "segment": seg, "hours": dur, "event": y})


def timed(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import statsmodels.formula.api as smf

    from workbench.experiments import analyze_experiment

    df = make(args.units)
    ours = timed(lambda: analyze_experiment(df, "arm", "y", "holdout", covariate="pre",
                                            segment="segment", duration="hours",
                                            event="event"), args.repeats)
    theirs = timed(lambda: smf.logit("y ~ C(arm) * C(segment)", df).fit(disp=0), args.repeats)
    res = {"units": args.units, "arms": 5, "workbench_full_analysis_s": ours,
           "statsmodels_logit_interactions_s": theirs, "ratio": theirs / ours}
    print(json.dumps(res, indent=2))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "experiment.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
