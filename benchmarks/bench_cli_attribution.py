"""Whole process, as a user runs it: `workbench attribution` against ChannelAttribution.

Both read the same CSV of 1M unique aggregated paths (``--paths``; made by
``bench_attribution.make_paths``, ChannelAttribution's column names) and are timed
from process start to exit — interpreter start, imports, CSV parsing, the model and
its output — medians of ``--repeats`` runs, in one run of this script:

* ``workbench attribution CSV --model markov --json`` with its default intervals
  (200 bootstrap replicates), with ``--boot 0``, and the same at ``--order 2``;
* ChannelAttribution's ``markov_model`` (PyPI, its own venv ``.cache/bench-venv``;
  see ``bench_attribution.py``) at order 1 and 2, with its defaults, reading the CSV
  with pandas: a script that does what its README shows.

Each command starts after a pause (``--pause``, 4 s): see :func:`interleaved`.

Usage: .venv/bin/python benchmarks/bench_cli_attribution.py [--paths 1000000] [--repeats 3]
Writes benchmarks/results/cli_attribution.json and prints a Markdown table.
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
from bench_attribution import CA_PY, ROOT, ensure_channelattribution, make_paths  # noqa: E402

WORKBENCH = ROOT / ".venv" / "bin" / "workbench"
CA_ONE_SHOT = """
import sys, pandas as pd, ChannelAttribution as ca
df = pd.read_csv(sys.argv[1])
ca.markov_model(df, "path", "total_conversions", var_value="total_conversion_value",
                var_null="total_null", order=int(sys.argv[2]), verbose=False, flg_pro=False)
"""


def once(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=3600)
    return time.perf_counter() - t0


def interleaved(cmds: dict[str, list[str]], repeats: int, pause: float = 0.0) -> dict:
    """Each command once per round, rounds repeated: a shared machine's load drifts, and
    interleaving spreads it over every command instead of over whichever ran last.

    ``pause`` seconds before each command, so that each starts from the same memory:
    this virtual machine hands freed memory back to its host (virtio-balloon free page
    reporting, about two seconds after it is freed), and a page first touched after that
    costs a host fault.  Without the pause a command that follows a larger one inherits
    its not-yet-reported pages and one that follows a smaller one does not (measured:
    the order-2 command took 2.9 s right after ChannelAttribution and 2.2 s right after
    itself).  With it, every command runs as a user's single command would.
    """
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(repeats):
        for name, cmd in cmds.items():
            time.sleep(pause)
            times[name].append(once(cmd))
    return {name: {"median_s": statistics.median(t), "times": t} for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pause", type=float, default=4.0,
                    help="seconds of rest before each command (see interleaved)")
    args = ap.parse_args()
    csv = ROOT / ".cache" / "bench" / f"paths_{args.paths}.csv"
    if not csv.exists():
        csv.parent.mkdir(parents=True, exist_ok=True)
        make_paths(args.paths).to_frame().to_csv(csv, index=False)
    ok, how = ensure_channelattribution(install=True)
    out: dict = {"paths": args.paths, "channelattribution": how, "runs": {}}
    cmds: dict[str, list[str]] = {}
    for order in (1, 2):
        base = [str(WORKBENCH), "attribution", str(csv), "--model", "markov", "--json"]
        if order > 1:
            base += ["--order", str(order)]
        cmds[f"ours order {order}, 200 replicates"] = base
        cmds[f"ours order {order}, --boot 0"] = base + ["--boot", "0"]
        if ok:
            cmds[f"ChannelAttribution order {order}"] = [str(CA_PY), "-c", CA_ONE_SHOT,
                                                         str(csv), str(order)]
    out["pause_s"] = args.pause
    out["runs"] = interleaved(cmds, args.repeats, args.pause)
    print(f"| run ({args.paths:,} unique paths, whole process) | median | vs ChannelAttribution |")
    print("|---|---|---|")
    for name, r in out["runs"].items():
        order = name.split("order ")[1][0]
        ca = out["runs"].get(f"ChannelAttribution order {order}")
        ratio = f"{ca['median_s'] / r['median_s']:.1f}x" if ca and "ours" in name else ""
        print(f"| {name} | {r['median_s']:.2f} s | {ratio} |")
    res = ROOT / "benchmarks" / "results"
    res.mkdir(exist_ok=True)
    (res / "cli_attribution.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
