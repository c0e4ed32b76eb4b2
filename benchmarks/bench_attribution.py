"""Attribution engine at scale: 1M unique paths over 12 channels, against ChannelAttribution.

Times the workbench's Markov chain (order 1; exact removal effects by linear
algebra) and Shapley (exact, 2^12 coalitions) on synthetic, seeded aggregated
paths, medians of ``--repeats`` runs, and checks exactness:

* our result twice → identical to the last bit;
* against an independent, straightforward pure-Python implementation (dict of
  transition counts, dense ``numpy.linalg.solve`` per removal; per-path loop for
  Shapley) → max difference;
* against ``ChannelAttribution`` (PyPI, Altomare & Loris; simulation-based
  Markov model, C++) in the same run, when it installs: it lives in its own venv
  (``.cache/bench-venv``, ``python3.11 -m venv``; never the project's ``.venv``
  or lock) and runs as a subprocess on the same CSV. Its default ``max_step``
  (the longest observed path) cuts simulated walks short, so it is run both with
  the default and with ``max_step=1000``.

Usage: .venv/bin/python benchmarks/bench_attribution.py [--paths 1000000] [--repeats 3]
       [--no-install] [--skip-ca] [--skip-naive]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.attribution import MarkovChain, Paths, Shapley, read_paths  # noqa: E402

CACHE = ROOT / ".cache"
BENCH_VENV = CACHE / "bench-venv"
CA_PY = BENCH_VENV / "bin" / "python"


# ---------------------------------------------------------------------------- data
def make_paths(n: int, n_channels: int = 12, seed: int = 0) -> Paths:
    """``n`` unique paths over ``n_channels`` channels with conversions, value and nulls.

    Path lengths are 2 + Geometric(0.17) (capped at 30); channels have Dirichlet
    popularity; conversion probability grows with channel-specific effects.
    Duplicate sequences are merged and the first ``n`` distinct ones kept.
    """
    rng = np.random.default_rng(seed)
    names = tuple(f"ch{i:02d}" for i in range(n_channels))
    pop = rng.dirichlet(np.ones(n_channels) * 2)
    effect = rng.normal(0, 0.5, n_channels)
    m = int(n * 1.7)
    while True:
        L = np.minimum(2 + rng.geometric(0.17, m), 30)
        offsets = np.concatenate([[0], np.cumsum(L)])
        codes = rng.choice(n_channels, size=int(offsets[-1]), p=pop).astype(np.int32)
        p = Paths(names, codes, offsets, np.zeros(m), np.zeros(m), np.ones(m)).aggregate()
        if p.n_paths >= n:
            break
        m = int(m * 1.3)
    codes, offsets = p.codes[: p.offsets[n]], p.offsets[: n + 1]
    lengths = np.diff(offsets)
    lin = np.add.reduceat(effect[codes], offsets[:-1]) / np.sqrt(lengths) - 2.5
    prob = 1 / (1 + np.exp(-lin))
    journeys = 1 + rng.poisson(3, n)
    conv = rng.binomial(journeys, prob).astype(float)
    value = conv * rng.gamma(2.0, 40.0, n)
    return Paths(names, codes, offsets, conv, np.round(value, 2), journeys - conv)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def fresh(p: Paths) -> Paths:
    """A copy without cached derived arrays, so every timed run does all the work."""
    return Paths(p.channels, p.codes, p.offsets, p.conversions, p.value, p.nulls)


# ---------------------------------------------------------------------------- naive reference
def naive_markov(paths_str: list[str], conv, value, nulls) -> dict[str, float]:
    """Straightforward Markov removal effects: Python dicts, dense solve per removal."""
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s, c, n in zip(paths_str, conv, nulls, strict=True):
        seq = ["(start)"] + [t.strip() for t in s.split(">")]
        for a, b in pairwise(seq):
            if a != b:
                counts[a][b] += c + n
        counts[seq[-1]]["(conversion)"] += c
        counts[seq[-1]]["(null)"] += n
    states = sorted(counts)
    idx = {s: i for i, s in enumerate(states)}
    Q = np.zeros((len(states), len(states)))
    r = np.zeros(len(states))
    for a, row in counts.items():
        tot = sum(row.values())
        for b, c in row.items():
            if b == "(conversion)":
                r[idx[a]] = c / tot
            elif b != "(null)":
                Q[idx[a], idx[b]] = c / tot

    def p_conv(removed: str | None) -> float:
        keep = np.array([s != removed for s in states], dtype=float)
        A = np.eye(len(states)) - Q * keep[:, None] * keep[None, :]
        return float(np.linalg.solve(A, r * keep)[idx["(start)"]])

    base = p_conv(None)
    re = {c: 1 - p_conv(c) / base for c in states if c != "(start)"}
    total = float(np.sum(conv))
    s = sum(re.values())
    return {c: v / s * total for c, v in re.items()}


def naive_shapley(paths_str: list[str], conv) -> dict[str, float]:
    """Per-path loop: each path's conversions split over its distinct channels."""
    out: dict[str, float] = defaultdict(float)
    for s, c in zip(paths_str, conv, strict=True):
        chans = {t.strip() for t in s.split(">")}
        for ch in chans:
            out[ch] += c / len(chans)
    return dict(out)


# ---------------------------------------------------------------------------- ChannelAttribution
CA_SCRIPT = textwrap.dedent("""
    import json, statistics, sys, time, io, contextlib
    import pandas as pd
    import ChannelAttribution as ca
    csv, repeats, configs = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    t0 = time.perf_counter()
    df = pd.read_csv(csv)
    read_s = time.perf_counter() - t0
    from importlib.metadata import version
    out = {"version": version("ChannelAttribution"), "read_csv_s": read_s, "markov": {}}
    def quiet(fn):
        with contextlib.redirect_stdout(io.StringIO()):
            return fn()
    for name, cfg in configs.items():
        times, res = [], None
        for _ in range(cfg.pop("repeats", repeats)):
            t0 = time.perf_counter()
            res = quiet(lambda: ca.markov_model(df, "path", "total_conversions",
                        var_value="total_conversion_value", var_null="total_null",
                        out_more=True, verbose=False, flg_pro=False, **cfg))
            times.append(time.perf_counter() - t0)
        r = res["result"]
        re = res["removal_effects"]
        out["markov"][name] = {
            "median_s": statistics.median(times), "times": times,
            "conversions": dict(zip(r.channel_name, r.total_conversions)),
            "value": dict(zip(r.channel_name, r.total_conversion_value)),
            "removal_effects": dict(zip(re.channel_name, re.removal_effects_conversion))}
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        h = quiet(lambda: ca.heuristic_models(df, "path", "total_conversions",
                  var_value="total_conversion_value", flg_pro=False))
        times.append(time.perf_counter() - t0)
    out["heuristic_median_s"] = statistics.median(times)
    out["heuristic_linear"] = dict(zip(h.channel_name, h.linear_touch_conversions))
    print("JSON:" + json.dumps(out))
""")


def ensure_channelattribution(install: bool) -> tuple[bool, str]:
    """(available, how) — creates .cache/bench-venv and pip-installs when allowed."""
    def importable() -> bool:
        if not CA_PY.exists():
            return False
        res = subprocess.run([str(CA_PY), "-c", "import ChannelAttribution"],
                             capture_output=True, text=True, timeout=120)
        return res.returncode == 0

    if importable():
        return True, f"already installed in {BENCH_VENV.relative_to(ROOT)}"
    if not install:
        return False, "not installed (--no-install)"
    py311 = shutil.which("python3.11")
    if py311 is None:
        return False, "python3.11 not found: cannot create the bench venv"
    log = CACHE / "bench-venv-install.log"
    CACHE.mkdir(exist_ok=True)
    with open(log, "w") as fh:
        steps = [[py311, "-m", "venv", str(BENCH_VENV)],
                 [str(CA_PY), "-m", "pip", "install", "--upgrade", "pip"],
                 # ChannelAttribution 2.2.5 imports matplotlib without declaring it
                 [str(CA_PY), "-m", "pip", "install", "ChannelAttribution", "matplotlib"]]
        for cmd in steps:
            try:
                res = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=1200)
            except subprocess.TimeoutExpired:
                return False, f"install timed out ({' '.join(cmd[-2:])}); see {log}"
            if res.returncode != 0:
                return False, f"install FAILED at `{' '.join(cmd[2:])}`; see {log}"
    if importable():
        return True, f"pip-installed into {BENCH_VENV.relative_to(ROOT)} by this run"
    return False, f"installed but `import ChannelAttribution` fails; see {log}"


#: ChannelAttribution settings compared: its defaults; walks not cut short; and a 10x longer,
#: tighter simulation (once) to show its removal effects converging to the exact ones
CA_CONFIGS = {
    "defaults": {},
    "max_step=1000": {"max_step": 1000},
    "max_step=1000, nsim_start=1e6, conv_par=0.01 (1 run)": {
        "max_step": 1000, "nsim_start": 1e6, "conv_par": 0.01, "repeats": 1},
}


def run_channelattribution(csv: Path, repeats: int) -> dict:
    res = subprocess.run([str(CA_PY), "-c", CA_SCRIPT, str(csv), str(repeats),
                          json.dumps(CA_CONFIGS)], capture_output=True, text=True, timeout=3600)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("JSON:")]
    if res.returncode != 0 or not line:
        raise RuntimeError(f"ChannelAttribution run failed:\n{res.stderr[-2000:]}")
    return json.loads(line[-1][5:])


# ---------------------------------------------------------------------------- main
def shares(d: dict[str, float]) -> pd.Series:
    s = pd.Series(d, dtype=float)
    return s / s.sum()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paths", type=int, default=1_000_000)
    ap.add_argument("--channels", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-install", action="store_true",
                    help="do not create .cache/bench-venv / pip-install ChannelAttribution")
    ap.add_argument("--skip-ca", action="store_true")
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    paths = make_paths(args.paths, args.channels, args.seed)
    gen_s = time.perf_counter() - t0
    frame = paths.to_frame(sep=" > ")
    print(f"data: {paths!r}; {paths.n_touches:,} touches; generated in {gen_s:.1f} s",
          flush=True)
    res: dict = {"paths": paths.n_paths, "channels": paths.n_channels,
                 "touches": paths.n_touches, "conversions": paths.total_conversions,
                 "repeats": args.repeats, "cpu_count": os.cpu_count()}

    # ours -------------------------------------------------------------------
    parse_s, parsed = timed(lambda: read_paths(frame), args.repeats)
    assert parsed.channels == paths.channels and np.array_equal(parsed.codes, paths.codes)
    mk_s, mk1 = timed(lambda: MarkovChain(n_boot=0).fit(fresh(paths)), args.repeats)
    mk2 = MarkovChain(n_boot=0).fit(fresh(paths))
    sh_s, sh1 = timed(lambda: Shapley(method="exact", n_boot=0).fit(fresh(paths)), args.repeats)
    sh2 = Shapley(method="exact", n_boot=0).fit(fresh(paths))
    simp_s, simp = timed(lambda: Shapley(method="simplified", n_boot=0).fit(fresh(paths)),
                         args.repeats)
    o2_s, _ = timed(lambda: MarkovChain(order=2, n_boot=0).fit(fresh(paths)), args.repeats)
    nb = 20
    boot_s, _ = timed(lambda: MarkovChain(n_boot=nb).fit(fresh(paths)), 1)
    mk_t, sh_t = mk1.result_.table, sh1.result_.table
    res["ours"] = {
        "read_paths_s": parse_s, "markov_order1_s": mk_s, "markov_order2_s": o2_s,
        "shapley_exact_s": sh_s, "shapley_simplified_s": simp_s,
        "markov_end_to_end_from_dataframe_s": parse_s + mk_s,
        "markov_bootstrap_per_replicate_s": (boot_s - mk_s) / nb,
        "markov_identical_twice": bool(mk_t.equals(mk2.result_.table)),
        "shapley_identical_twice": bool(sh_t.equals(sh2.result_.table)),
        "shapley_exact_vs_simplified_max_abs": float(
            np.abs(sh_t.conversions - simp.result_.table.conversions).max()),
    }
    print(json.dumps(res["ours"], indent=2), flush=True)
    ours_mk = dict(zip(mk_t.channel, mk_t.conversions, strict=True))
    ours_sh = dict(zip(sh_t.channel, sh_t.conversions, strict=True))

    # naive reference ----------------------------------------------------------
    if not args.skip_naive:
        strs = frame["path"].tolist()
        nm_s, nm = timed(lambda: naive_markov(strs, paths.conversions, paths.value,
                                              paths.nulls), 1)
        ns_s, ns = timed(lambda: naive_shapley(strs, paths.conversions), 1)
        res["naive"] = {
            "markov_order1_s": nm_s, "shapley_s": ns_s,
            "markov_ratio": nm_s / mk_s, "shapley_ratio": ns_s / sh_s,
            "markov_max_abs_diff_conversions": float(
                max(abs(nm[c] - ours_mk[c]) for c in ours_mk)),
            "shapley_max_abs_diff_conversions": float(
                max(abs(ns[c] - ours_sh[c]) for c in ours_sh))}
        print(json.dumps(res["naive"], indent=2), flush=True)

    # ChannelAttribution -------------------------------------------------------
    if args.skip_ca:
        ok, how = False, "skipped (--skip-ca)"
    else:
        ok, how = ensure_channelattribution(not args.no_install)
    res["channelattribution"] = {"available": ok, "how": how}
    print(f"ChannelAttribution: {how}", flush=True)
    if ok:
        csv = CACHE / f"bench_attribution_{args.paths}.csv"
        frame.to_csv(csv, index=False)
        try:
            ca = run_channelattribution(csv, args.repeats)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            res["channelattribution"].update({"available": False, "how": f"{how}; run {exc}"})
            print(exc, flush=True)
            ca = None
        if ca is not None:
            ours_mk_share = shares(ours_mk)
            d = {"version": ca["version"], "heuristic_models_s": ca["heuristic_median_s"],
                 "markov": {}}
            e2e = parse_s + mk_s
            for name, r in ca["markov"].items():
                diff = (shares(r["conversions"]) - ours_mk_share).abs()
                ours_re = mk1.result_.removal_effects.set_index("channel").removal_effect
                re_diff = (pd.Series(r["removal_effects"]) - ours_re).abs()
                d["markov"][name] = {
                    "median_s": r["median_s"], "ratio_ca_over_ours_end_to_end": r["median_s"] / e2e,
                    "ratio_ca_over_ours_fit": r["median_s"] / mk_s,
                    "max_abs_share_diff": float(diff.max()),
                    "max_abs_removal_effect_diff": float(re_diff.max())}
            lin = (shares(ca["heuristic_linear"]) - shares(dict(zip(
                mk_t.channel, make_linear(paths), strict=True)))).abs()
            d["linear_max_abs_share_diff"] = float(lin.max())
            res["channelattribution"].update(d)
            print(json.dumps(d, indent=2), flush=True)
            csv.unlink(missing_ok=True)

    print()
    print(markdown(res))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "attribution.json").write_text(json.dumps(res, indent=2))


def make_linear(paths: Paths) -> np.ndarray:
    from workbench.attribution import attribute
    return attribute(paths, "linear", n_boot=0).table["conversions"].to_numpy()


def markdown(res: dict) -> str:
    o = res["ours"]
    e2e = o["markov_end_to_end_from_dataframe_s"]
    rows = [
        f"Data: {res['paths']:,} unique paths, {res['channels']} channels, "
        f"{res['touches']:,} touches; medians of {res['repeats']} runs, "
        f"{res['cpu_count']} cores. End to end = path strings in a DataFrame → credit.",
        "",
        "| step | workbench (s) | reference (s) | ratio (ref / ours) | max difference |",
        "|---|---:|---:|---:|---|",
        f"| read_paths ({res['paths']:,} strings → codes) | {o['read_paths_s']:.2f} | | | |",
        f"| Markov order 1, exact (fit on Paths) | {o['markov_order1_s']:.2f} | | | "
        f"identical twice: {o['markov_identical_twice']} |",
        f"| Markov order 1, end to end | {e2e:.2f} | | | |",
        f"| Markov order 2, exact (fit) | {o['markov_order2_s']:.2f} | | | |",
        f"| Markov bootstrap, per replicate | {o['markov_bootstrap_per_replicate_s']:.3f} | | | |",
        f"| Shapley exact, 2^{res['channels']} coalitions (fit) | {o['shapley_exact_s']:.2f} | | | "
        f"identical twice: {o['shapley_identical_twice']}; vs simplified "
        f"{o['shapley_exact_vs_simplified_max_abs']:.1e} |",
    ]
    if "naive" in res:
        n = res["naive"]
        sh_e2e = o["read_paths_s"] + o["shapley_exact_s"]
        rows += [
            f"| Markov order 1 end to end vs naive Python | {e2e:.2f} | "
            f"{n['markov_order1_s']:.2f} | {n['markov_order1_s'] / e2e:.1f}× | "
            f"{n['markov_max_abs_diff_conversions']:.1e} conversions |",
            f"| Shapley end to end vs naive Python loop | {sh_e2e:.2f} | {n['shapley_s']:.2f} "
            f"| {n['shapley_s'] / sh_e2e:.1f}× | {n['shapley_max_abs_diff_conversions']:.1e} "
            "conversions |"]
    ca = res["channelattribution"]
    if ca["available"]:
        for name, m in ca["markov"].items():
            rows.append(
                f"| Markov order 1 end to end vs ChannelAttribution {ca['version']} ({name}) | "
                f"{e2e:.2f} | {m['median_s']:.2f} | {m['ratio_ca_over_ours_end_to_end']:.1f}× | "
                f"shares {m['max_abs_share_diff']:.1e}, removal effects "
                f"{m['max_abs_removal_effect_diff']:.1e} |")
        rows.append(f"| ChannelAttribution heuristic_models (first, last, linear) "
                    f"| | {ca['heuristic_models_s']:.2f} | | linear shares vs ours "
                    f"{ca['linear_max_abs_share_diff']:.1e} |")
    rows += ["", f"ChannelAttribution: {ca['how']}."]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
