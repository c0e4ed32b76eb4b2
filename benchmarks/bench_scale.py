"""Beyond one machine (issue 20): validation and the feature tables at scale, per engine.

A store of ``--customers`` simulated customers (about 52 events each over a year) is
stacked ``--copies`` times — every id but the products' offset per copy, streamed by
DuckDB from Parquet to Parquet, so nothing is held in memory — to reach the size asked
(2 copies of 1M customers: about 104 million events).  Then, each step in its own
process, on DuckDB and on a local Spark session (``local[2]``): the schema's validation,
and every feature table the analyses start from, each written by the engine to Parquet
(no result comes back to pandas but the few aggregated ones the functions return).
Wall time and peak resident memory of the step's whole process tree (Spark's JVM
included), polled every 0.2 s.

Usage::

    python benchmarks/bench_scale.py [--customers 1000000] [--copies 2] \
        [--engines duckdb pyspark] [--steps validate journeys ...] [--timeout 1800]

Writes benchmarks/results/scale_<engines>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

FEATURES = {
    "abandonment episodes": "workbench.analyses.cart_timing.features:abandonment_episodes",
    "discount units": "workbench.analyses.discount.features:discount_units",
    "journeys": "workbench.analyses.attribution.journeys:journeys",
    "RFM summary": "workbench.analyses.clv.features:rfm_summary",
    "cohorts": "workbench.analyses.clv.features:cohort_triangles",
    "store overview": "workbench.analyses.overview.features:store_overview",
    "message funnel": "workbench.analyses.overview.operations:message_funnel",
    "weekly efficiency": "workbench.analyses.overview.operations:weekly_efficiency",
}

STEP = r"""
import importlib, json, sys, time, warnings
warnings.filterwarnings("ignore")
dataset, backend, step, out = sys.argv[1:5]
t0 = time.perf_counter()
session = None
if backend == "pyspark":
    from workbench.engines import local_spark_session
    session = local_spark_session(memory="12g")
from workbench.store import open_dataset, validate
t_start = time.perf_counter() - t0
t1 = time.perf_counter()
rows = None
if step == "validate":
    rep = validate(dataset, backend=backend, session=session)
    assert rep.ok, rep.summary()
    rows = sum(rep.row_counts.values())
else:
    mod, fn = step.split(":")
    con = open_dataset(dataset, backend=backend, session=session, truth=False)
    res = getattr(importlib.import_module(mod), fn)(con)
    if hasattr(res, "execute"):  # an expression: the engine writes it, nothing to pandas
        con.to_parquet(res, out)
print(json.dumps({"start_s": t_start, "step_s": time.perf_counter() - t1, "rows": rows}))
"""


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def run_step(dataset: Path, backend: str, step: str, out: Path, timeout: float) -> dict:
    import shutil

    shutil.rmtree(out, ignore_errors=True)  # Spark writes a folder and will not overwrite
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen([PY, "-c", STEP, str(dataset), backend, step, str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def poll():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.2)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        subprocess.run(["pkill", "-KILL", "-P", str(proc.pid)], check=False)  # the JVM too
        proc.kill()
        proc.communicate()
        return {"error": f"stopped after {timeout:.0f} s", "wall_s": timeout,
                "peak_gib": peak[0] / 2**30}
    th.join()
    wall = time.perf_counter() - t0
    if proc.returncode:
        return {"error": stderr.strip().splitlines()[-1][:300], "wall_s": wall}
    res = json.loads(stdout.strip().splitlines()[-1])
    return {**res, "wall_s": wall, "peak_gib": peak[0] / 2**30}


def stacked(customers: int, copies: int) -> Path:
    """The simulated store, stacked ``copies`` times (cached under .cache/bench)."""
    base = ROOT / ".cache" / "bench" / f"store_{customers}"
    if not (base / "manifest.json").exists():
        from workbench.simulate import scenario, simulate
        from workbench.store import save_simulation

        save_simulation(simulate(scenario("default", n_customers=customers), seed=1), base)
    if copies == 1:
        return base
    out = ROOT / ".cache" / "bench" / f"store_{customers}_x{copies}"
    if (out / "manifest.json").exists():
        return out
    import duckdb

    from workbench.schema import TABLES
    from workbench.store import load_manifest

    info = load_manifest(base)
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    offset = 10 ** 12  # ids of copy k are k * 10^12 + id (the simulator's are below 10^10)
    names = [n for n in info["files"] if "/" not in n]
    for name in names:
        cols = [c for c in TABLES[name].columns] if name in TABLES else []
        ids = {c.name for c in cols if c.kind == "id" and c.name != "product_id"}
        src = f"read_parquet('{base / (name + '.parquet')}')"
        have = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        parts = []
        for k in range(copies if name != "products" else 1):
            sel = ", ".join(f"{c} + {k * offset} AS {c}" if c in ids else c for c in have)
            parts.append(f"SELECT {sel} FROM {src}")
        con.execute(f"COPY ({' UNION ALL '.join(parts)}) TO '{tmp / (name + '.parquet')}' "
                    "(FORMAT parquet, ROW_GROUP_SIZE 1000000)")
    con.close()
    import pyarrow.parquet as pq

    from workbench.schema import SCHEMA_VERSION

    files = {n: {"rows": pq.read_metadata(tmp / f"{n}.parquet").num_rows} for n in names}
    (tmp / "manifest.json").write_text(json.dumps({
        "schema_version": SCHEMA_VERSION, "files": files,
        "row_counts": {n: f["rows"] for n, f in files.items()},
        "generator": f"{copies} stacked copies of {base.name}"}, indent=2))
    os.replace(tmp, out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--engines", nargs="+", default=["duckdb", "pyspark"])
    ap.add_argument("--steps", nargs="+", default=None, help="labels of the steps to run")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per step")
    args = ap.parse_args()
    dataset = stacked(args.customers, args.copies)
    import pyarrow.parquet as pq

    events = pq.read_metadata(dataset / "events.parquet").num_rows
    outdir = ROOT / ".cache" / "bench" / "scale_out"
    outdir.mkdir(parents=True, exist_ok=True)
    results: dict = {"dataset": str(dataset), "events": events, "steps": {}}
    steps = {"validate": "validate", **FEATURES}
    if args.steps:
        steps = {k: v for k, v in steps.items() if k in args.steps}
    for label, step in steps.items():
        for engine in args.engines:
            r = run_step(dataset, engine, step, outdir / f"{engine}_{label}.parquet",
                         args.timeout)
            results["steps"].setdefault(label, {})[engine] = r
            print(f"{label:<22} {engine:<8} {json.dumps(r)}", flush=True)
    print(f"\n{events:,} events\n")
    print("| step | " + " | ".join(f"{e} time | {e} peak" for e in args.engines) + " |")
    print("|---|" + "---|---|" * len(args.engines))
    for label, per in results["steps"].items():
        cells = []
        for e in args.engines:
            r = per[e]
            cells += ([f"{r['wall_s']:.1f} s", f"{r['peak_gib']:.1f} GiB"] if "error" not in r
                      else ["failed", r["error"][:60]])
        print(f"| {label} | " + " | ".join(cells) + " |")
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    name = f"scale_{'_'.join(args.engines)}.json"
    (ROOT / "benchmarks" / "results" / name).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
