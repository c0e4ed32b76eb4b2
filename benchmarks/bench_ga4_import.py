"""GA4 import at ten million events: time and peak memory against pandas.

The export is made by the workbench's own exporter from a simulated year of a
mid-size store (``scenario("mid_size")``: 100,000 customers x 365 days, about ten
million GA4 events in 365 ``events_YYYYMMDD.json.gz`` files, INT64 as strings
as ``bq extract`` writes them) and cached under ``.cache/bench/`` (git-ignored).

Measured in one run, each in its own process so its peak resident memory is its
own:

* ``workbench import ga4 EXPORT --out DIR`` through the CLI, whole process
  (interpreter start, imports, read, build, validate, write) under
  ``/usr/bin/time -v``;
* ``import_ga4`` in-process (the call only; peak RSS of the process);
* the alternative an analyst writes: ``pd.read_json(lines=True, chunksize=...)``
  then ``pd.json_normalize`` of the events and of their items (and of the event
  parameters, for ga_session_id), concatenated into DataFrames.  It only
  flattens (no sessions, orders, validation or dataset), so it does less work.
  pandas holds every flattened row at once, so it is measured on the first days
  of the export (``--share`` of the files) and the workbench is measured on the
  same files too: the ratios are like for like.

Usage::

    python benchmarks/bench_ga4_import.py [--customers 100000] [--share 0.1]

Writes benchmarks/results/ga4_import.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = ROOT / ".cache" / "bench"

MAKE = r"""
import json, sys, time
from pathlib import Path
from workbench.simulate import scenario, simulate
from workbench.store import save_simulation
from workbench.exporters.ga4 import export
n, ds, out = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
t0 = time.perf_counter()
store = simulate(scenario("mid_size", n_customers=n), seed=1)
save_simulation(store, ds, scenario="mid_size")
t1 = time.perf_counter()
files = export(ds, out, file_format="jsonl.gz", progress=lambda m: print(m, flush=True))
print(json.dumps({"simulate_s": t1 - t0, "export_s": time.perf_counter() - t1,
                  "files": len(files)}))
"""

INPROCESS = r"""
import json, resource, sys, time
from pathlib import Path
from workbench.importers.ga4 import import_ga4
files = [Path(p) for p in json.loads(sys.argv[1])]
t0 = time.perf_counter()
res = import_ga4(files, Path(sys.argv[2]))
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": dt, "peak_mib": peak, "events": res.counts["events_read"],
                  "rows": res.row_counts}))
"""

PANDAS = r"""
import json, resource, sys, time
import pandas as pd
files = json.loads(sys.argv[1])
t0 = time.perf_counter()
events, items, params = [], [], []
n = 0
for f in files:
    for chunk in pd.read_json(f, lines=True, chunksize=100_000, compression="gzip",
                              dtype=False):
        recs = chunk.to_dict("records")
        n += len(recs)
        events.append(pd.json_normalize(recs).drop(columns=["event_params", "items"],
                                                   errors="ignore"))
        items.append(pd.json_normalize(recs, record_path="items",
                                       meta=["event_timestamp", "event_name", "user_pseudo_id"]))
        p = pd.json_normalize(recs, record_path="event_params",
                              meta=["event_timestamp", "event_name", "user_pseudo_id"])
        params.append(p[p.key == "ga_session_id"])
events = pd.concat(events, ignore_index=True)
items = pd.concat(items, ignore_index=True)
params = pd.concat(params, ignore_index=True)
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": dt, "peak_mib": peak, "events": n, "items": len(items),
                  "frame_mib": (events.memory_usage(deep=True).sum()
                                + items.memory_usage(deep=True).sum()
                                + params.memory_usage(deep=True).sum()) / 2**20}))
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                         text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cli(files: list[Path], out: Path) -> dict:
    """``workbench import ga4`` under /usr/bin/time -v: wall seconds and peak RSS."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "workbench.cli", "import", "ga4",
           *map(str, files), "--out", str(out)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise RuntimeError(p.stderr[-3000:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    return {"seconds": wall, "peak_mib": rss / 1024, "summary": p.stdout.strip()[:2000]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--share", type=float, default=0.1,
                    help="share of the export (bytes, first days) pandas is measured on")
    args = ap.parse_args()
    ds = CACHE / f"ga4_store_{args.customers}"
    export = CACHE / f"ga4_export_{args.customers}"
    made = None
    if not (export / "DONE").exists():
        shutil.rmtree(export, ignore_errors=True)
        made = child(MAKE, str(args.customers), str(ds), str(export))
        (export / "DONE").write_text(json.dumps(made))
        print(f"made the export: {made}", flush=True)
    files = sorted(export.glob("events_*.json.gz"))
    size = sum(f.stat().st_size for f in files)
    out = CACHE / "ga4_import_out"
    results: dict = {"customers": args.customers, "files": len(files),
                     "export_gib": size / 2**30, "made": made}

    full_cli = cli(files, out)
    n_events = int(re.search(r"GA4: ([\d,]+) events read", full_cli["summary"])
                   .group(1).replace(",", ""))
    results["events"] = n_events
    print(f"CLI, all {n_events:,} events: {full_cli['seconds']:.1f} s, "
          f"peak {full_cli['peak_mib']:,.0f} MiB", flush=True)
    full_in = child(INPROCESS, json.dumps([str(f) for f in files]), str(out))
    print(f"in-process, all events: {full_in['seconds']:.1f} s, "
          f"peak {full_in['peak_mib']:,.0f} MiB", flush=True)

    # the first days whose files hold ``share`` of the export's bytes (the store grows)
    sizes = [f.stat().st_size for f in files]
    k = next(i + 1 for i in range(len(files)) if sum(sizes[:i + 1]) >= args.share * size)
    part = files[:k]
    share_cli = cli(part, out)
    share_in = child(INPROCESS, json.dumps([str(f) for f in part]), str(out))
    pdres = child(PANDAS, json.dumps([str(f) for f in part]))
    print(f"first {k} files ({pdres['events']:,} events): workbench CLI "
          f"{share_cli['seconds']:.1f} s / {share_cli['peak_mib']:,.0f} MiB, in-process "
          f"{share_in['seconds']:.1f} s / {share_in['peak_mib']:,.0f} MiB; pandas "
          f"{pdres['seconds']:.1f} s / {pdres['peak_mib']:,.0f} MiB", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    scale = n_events / pdres["events"]
    results.update({
        "full": {"cli": {k: v for k, v in full_cli.items() if k != "summary"},
                 "in_process": full_in},
        "share": {"files": k, "events": pdres["events"], "cli": {
            k: v for k, v in share_cli.items() if k != "summary"}, "in_process": share_in,
            "pandas": pdres},
        "ratios_on_share": {
            "time_pandas_over_cli": pdres["seconds"] / share_cli["seconds"],
            "time_pandas_over_in_process": pdres["seconds"] / share_in["seconds"],
            "peak_pandas_over_cli": pdres["peak_mib"] / share_cli["peak_mib"]},
        "pandas_extrapolated_to_all": {"seconds": pdres["seconds"] * scale,
                                       "peak_mib": pdres["peak_mib"] * scale},
        "summary": full_cli["summary"]})
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "ga4_import.json").write_text(json.dumps(results, indent=2))
    r = results["ratios_on_share"]
    print(f"\n{n_events:,} GA4 events, {len(files)} files, {size / 2**30:.2f} GiB gzipped\n")
    print("| run | events | time | peak RSS |")
    print("|---|---|---|---|")
    print(f"| workbench import ga4 (CLI, whole process) | {n_events:,} | "
          f"{full_cli['seconds']:.1f} s | {full_cli['peak_mib'] / 1024:.2f} GiB |")
    print(f"| import_ga4 in-process | {n_events:,} | {full_in['seconds']:.1f} s | "
          f"{full_in['peak_mib'] / 1024:.2f} GiB |")
    print(f"| workbench CLI, first {k} files | {pdres['events']:,} | "
          f"{share_cli['seconds']:.1f} s | {share_cli['peak_mib'] / 1024:.2f} GiB |")
    print(f"| pandas read_json + json_normalize, first {k} files | {pdres['events']:,} | "
          f"{pdres['seconds']:.1f} s | {pdres['peak_mib'] / 1024:.2f} GiB |")
    print(f"\non the same {k} files pandas takes {r['time_pandas_over_cli']:.1f}x the CLI's "
          f"time ({r['time_pandas_over_in_process']:.1f}x in-process) and "
          f"{r['peak_pandas_over_cli']:.1f}x its peak memory; scaled linearly to all "
          f"{n_events:,} events pandas would need about "
          f"{results['pandas_extrapolated_to_all']['seconds'] / 60:.0f} min and "
          f"{results['pandas_extrapolated_to_all']['peak_mib'] / 1024:.0f} GiB")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark took {time.perf_counter() - t0:.0f} s)")
