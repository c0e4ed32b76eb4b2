"""CLV fits: workbench vs lifetimes (and PyMC-Marketing) on the same simulated customers.

Simulates RFM summaries from the BG/NBD process (seeded; T in whole days, 30-365, recency
rounded down to whole days, as a day-level order log gives) with Gamma-Gamma spends, for
100k and 1M customers, saves them to ``.cache/bench-clv/`` and fits, in the same run:

* workbench ``BetaGeoModel`` / ``GammaGammaModel`` (this process);
* lifetimes 0.11 ``BetaGeoFitter`` / ``GammaGammaFitter`` on every row, and on the same
  rows compressed to weighted distinct rows (lifetimes' ``weights=``), in a separate venv
  (lifetimes needs numpy < 2 and pandas < 2.2; it never goes into ``.venv`` or the lock);
* PyMC-Marketing ``clv.BetaGeoModel`` / ``clv.GammaGammaModel`` with flat priors fitted by
  MAP (= the MLE), when it installs in that venv; optionally (``--pmm-mcmc``) its default
  ``fit()``, MCMC with PyMC's NUTS, against the workbench's Bayesian fits.

Times are medians of ``--repeats`` runs of the fit alone (data already in memory, imports
excluded, for every tool).  Parameters are compared with the workbench estimates
(relative difference).  It also refits the CDNOW sample shipped inside lifetimes and
checks the published estimates, and times the Bayesian BG/NBD and Gamma-Gamma fits.

Set up the side venv once::

    python3.11 -m venv .cache/bench-clv-venv
    .cache/bench-clv-venv/bin/pip install "lifetimes==0.11.3" "pandas<2.2" "numpy<2" \
        "scipy<1.14" autograd pyarrow pymc-marketing

Usage: python benchmarks/bench_clv.py [--sizes 100000 1000000] [--repeats 3]
       [--bayes-n 100000] [--bayes-repeats 3] [--pmm-mcmc]
(``--sizes`` with no number skips the MLE comparison.)  ``$BENCH_CLV_VENV`` names the
side venv if it is not ``.cache/bench-clv-venv`` here or in the main git checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench-clv"


def _side_venv() -> Path:
    """The lifetimes / PyMC-Marketing venv: ``$BENCH_CLV_VENV``, this checkout's ``.cache``,
    or (in a git worktree) the main checkout's ``.cache``."""
    if os.environ.get("BENCH_CLV_VENV"):
        return Path(os.environ["BENCH_CLV_VENV"])
    here = ROOT / ".cache" / "bench-clv-venv"
    if not here.exists():
        try:
            common = subprocess.run(["git", "rev-parse", "--git-common-dir"], cwd=ROOT,
                                    capture_output=True, text=True, check=True).stdout
            main = (ROOT / common.strip()).resolve().parent / ".cache" / "bench-clv-venv"
            if main.exists():
                return main
        except (OSError, subprocess.CalledProcessError):
            pass
    return here


VENV = _side_venv()
TRUE_BG = {"r": 0.6, "alpha": 40.0, "a": 0.8, "b": 3.0}  # days
TRUE_GG = {"p": 6.0, "q": 4.0, "gamma": 60.0}
# CDNOW sample (2,357 customers, weeks): published maximum-likelihood estimates
CDNOW_PUBLISHED = {
    "BG/NBD": ({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, -9582.4,
               "Fader, Hardie & Lee (2005a), Marketing Science 24(2)"),
    "Pareto/NBD": ({"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}, -9595.0,
                   "Fader & Hardie (2005) Pareto/NBD note; FHL (2005a)"),
    "Gamma-Gamma": ({"p": 6.25, "q": 3.74, "gamma": 15.44}, None,
                    "Fader, Hardie & Lee (2005b), JMR 42(4); Fader & Hardie (2013) note"),
}

CHILD = r"""
import json, sys, time, statistics, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd
path, tool, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = np.load(path)
x, tx, T, m = d["frequency"], d["recency"], d["T"], d["monetary_value"]
out = {"tool": tool}
def timed(fn):
    ts, res = [], None
    for _ in range(repeats):
        t0 = time.perf_counter(); res = fn(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts, res
if tool.startswith("lifetimes"):
    import lifetimes
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    out["version"] = lifetimes.__version__
    if tool == "lifetimes-weighted":
        g = (pd.DataFrame({"x": x, "tx": tx, "T": T}).groupby(["x", "tx", "T"]).size()
             .reset_index(name="w"))
        xb, txb, Tb, wb = (g[c].to_numpy() for c in ("x", "tx", "T", "w"))
        gm = (pd.DataFrame({"x": x[x > 0], "m": m[x > 0]}).groupby(["x", "m"]).size()
              .reset_index(name="w"))
        xg, mg, wg = gm.x.to_numpy(), gm.m.to_numpy(), gm.w.to_numpy()
    else:
        xb, txb, Tb, wb = x, tx, T, None
        xg, mg, wg = x[x > 0], m[x > 0], None
    def bg():
        return BetaGeoFitter().fit(xb, txb, Tb, weights=wb)
    def gg():
        return GammaGammaFitter().fit(xg, mg, weights=wg)
    out["bg_seconds"], out["bg_runs"], f = timed(bg)
    out["bg_params"] = f.params_[["r", "alpha", "a", "b"]].tolist()
    out["gg_seconds"], out["gg_runs"], f = timed(gg)
    out["gg_params"] = f.params_[["p", "q", "v"]].tolist()
elif tool in ("pmm-map", "pmm-mcmc"):
    import pymc_marketing
    from pymc_marketing import clv
    try:
        from pymc_marketing.prior import Prior
    except ImportError:
        from pymc_extras.prior import Prior
    out["version"] = pymc_marketing.__version__
    df = pd.DataFrame({"customer_id": np.arange(len(x)), "frequency": x, "recency": tx, "T": T})
    dg = pd.DataFrame({"customer_id": np.arange(len(x)), "frequency": x,
                       "monetary_value": m})[x > 0]
    flat = {k: Prior("HalfFlat") for k in ("r", "alpha", "a", "b")}
    if tool == "pmm-map":
        def bg():
            mdl = clv.BetaGeoModel(data=df, model_config=flat)
            mdl.fit(method="map", progressbar=False)
            return mdl
        def gg():
            mdl = clv.GammaGammaModel(data=dg)
            mdl.fit(method="map", progressbar=False)
            return mdl
    else:
        # its default fit(): MCMC with PyMC's NUTS, pm.sample's defaults (1000 tuning
        # steps and 1000 draws per chain; 2 chains on a 2-core machine), default priors
        def bg():
            mdl = clv.BetaGeoModel(data=df)
            mdl.fit(random_seed=0, progressbar=False)
            return mdl
        def gg():
            mdl = clv.GammaGammaModel(data=dg)
            mdl.fit(random_seed=0, progressbar=False)
            return mdl
    import arviz as az
    for key, fn, names in (("bg", bg, ("r", "alpha", "a", "b")), ("gg", gg, ("p", "q", "v"))):
        out[f"{key}_seconds"], out[f"{key}_runs"], f = timed(fn)
        post = f.fit_result
        out[f"{key}_params"] = [float(post[k].mean()) for k in names]
        if tool == "pmm-mcmc":
            out[f"{key}_chains_draws"] = [int(post.sizes["chain"]), int(post.sizes["draw"])]
            rhat, ess = az.rhat(post, var_names=list(names)), az.ess(post, var_names=list(names))
            out[f"{key}_rhat"] = max(float(rhat[k].max()) for k in names)
            out[f"{key}_min_ess"] = min(float(ess[k].min()) for k in names)
print(json.dumps(out))
"""


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    from workbench.clv import simulate_bg_nbd, simulate_gamma_gamma

    rng = np.random.default_rng(seed)
    T = rng.integers(30, 366, n).astype(float)
    rfm = simulate_bg_nbd(n, T, **TRUE_BG, seed=seed + 1)
    rfm["recency"] = np.floor(rfm["recency"])
    rfm = simulate_gamma_gamma(rfm, **TRUE_GG, seed=seed + 2)
    rfm["monetary_value"] = rfm["monetary_value"].round(2)  # money in cents
    return rfm[["customer_id", "frequency", "recency", "T", "monetary_value"]]


def timed(fn, repeats):
    ts, res = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts, res


def run_child(path: Path, tool: str, repeats: int, timeout: float) -> dict:
    py = VENV / "bin" / "python"
    if not py.exists():
        return {"tool": tool, "error": f"{py} not found (see the module docstring)"}
    env = {**os.environ, "PYTENSOR_FLAGS": f"compiledir={CACHE / 'pytensor-side'}"}
    try:
        out = subprocess.run([str(py), "-c", CHILD, str(path), tool, str(repeats)],
                             capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"tool": tool, "error": f"timed out after {timeout:.0f} s"}
    if out.returncode:
        return {"tool": tool, "error": out.stderr.strip().splitlines()[-1][:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def cdnow_check() -> list[str]:
    from workbench.clv import (
        BetaGeoModel,
        GammaGammaModel,
        ModifiedBetaGeoModel,
        ParetoNBDModel,
    )

    ds = next(VENV.glob("lib/python*/site-packages/lifetimes/datasets"), None)
    if ds is None:
        return ["CDNOW: lifetimes' bundled dataset not found; skipped."]
    c = pd.read_csv(ds / "cdnow_customers_summary.csv").rename(columns={"ID": "customer_id"})
    g = pd.read_csv(ds / "cdnow_customers_summary_with_transactions.csv").rename(
        columns={"ID": "customer_id", "x": "frequency", "t_x": "recency",
                 "zbar": "monetary_value"})
    lines = ["", "### CDNOW sample (2,357 customers, weeks) vs published estimates", "",
             "| model | workbench estimates | published | max rel. diff | LL | published LL |"
             " source |", "|---|---|---|---|---|---|---|"]
    for model, data in ((BetaGeoModel(time_unit="weeks"), c),
                        (ParetoNBDModel(time_unit="weeks"), c),
                        (GammaGammaModel(), g)):
        model.fit(data)
        pub, ll, src = CDNOW_PUBLISHED[model.NAME]
        est = model.params_[list(pub)].to_numpy()
        shown = ", ".join(f"{k}={v:.4g}" for k, v in zip(pub, est, strict=True))
        lines.append(f"| {model.NAME} | {shown} "
                     f"| {', '.join(f'{k}={v}' for k, v in pub.items())} "
                     f"| {rel(est, list(pub.values())):.1e} | {model.log_likelihood_:.2f} "
                     f"| {ll if ll is not None else '—'} | {src} |")
    mbg = ModifiedBetaGeoModel(time_unit="weeks").fit(c)
    lines.append(f"| MBG/NBD | {', '.join(f'{k}={v:.4g}' for k, v in mbg.params_.items())} "
                 f"| (none published for CDNOW) | | {mbg.log_likelihood_:.2f} | | |")
    return lines


#: the Bayesian fits timed: the user's call (defaults: 2 chains x 1000 draws after 300
#: tuning steps) and the same with PyMC-Marketing's 1000 tuning steps
BAYES_SETTINGS = {"defaults": {}, "tune=1000": {"tune": 1000}}


def bayes(n: int, repeats: int) -> dict:
    """Time the Bayesian fits at n customers: medians of ``repeats`` warm fits."""
    import warnings

    import arviz as az

    from workbench.clv import BayesianBetaGeoModel, BayesianGammaGammaModel

    rfm = simulate(n, seed=7)
    with warnings.catch_warnings():  # warm: imports, numba's on-disk cache
        warnings.simplefilter("ignore")
        for cls in (BayesianBetaGeoModel, BayesianGammaGammaModel):
            cls(draws=50, tune=50).fit(rfm.head(2000))
    out = {}
    for label, kw in BAYES_SETTINGS.items():
        for name, cls in (("BG/NBD", BayesianBetaGeoModel), ("Gamma-Gamma",
                                                             BayesianGammaGammaModel)):
            secs, _, m = timed(lambda: cls(random_seed=1, **kw).fit(rfm), repeats)  # noqa: B023
            rhat = az.rhat(m.idata_, var_names=list(m.PARAMS))
            out[f"{name}, {label}"] = {
                "seconds": secs, "sampler": m.sampler_used_, "tune": m.tune,
                "draws": m.draws, "chains": m.chains, "rows": m.n_rows_fitted_,
                "converged": m.converged_, "divergences": m.divergences_,
                "max_rhat": max(float(rhat[p]) for p in m.PARAMS),
                "min_ess": float(m.diagnostics_["ess_bulk"].min()),
                "min_ess_tail": float(m.diagnostics_["ess_tail"].min()),
                "params": m.params_.round(4).to_dict()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", type=int, default=[100_000, 1_000_000],
                    help="customers for the MLE comparison (none: skip it)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bayes-n", type=int, default=100_000)
    ap.add_argument("--bayes-repeats", type=int, default=3)
    ap.add_argument("--no-pmm", action="store_true", help="skip PyMC-Marketing")
    ap.add_argument("--pmm-mcmc", action="store_true",
                    help="also time PyMC-Marketing's NUTS fit at --bayes-n customers")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--out", default=str(CACHE / "results.json"))
    args = ap.parse_args()
    from workbench.clv import BetaGeoModel, GammaGammaModel

    CACHE.mkdir(parents=True, exist_ok=True)
    results = {"sizes": {}, "true": {"bg": TRUE_BG, "gg": TRUE_GG}}
    rows = []
    for n in args.sizes:
        rfm = simulate(n)
        path = CACHE / f"rfm_{n}.npz"
        np.savez(path, **{c: rfm[c].to_numpy(dtype=float) for c in
                          ("frequency", "recency", "T", "monetary_value")})
        bg_t, bg_runs, bg = timed(lambda: BetaGeoModel().fit(rfm), args.repeats)  # noqa: B023
        gg_t, gg_runs, gg = timed(lambda: GammaGammaModel().fit(rfm), args.repeats)  # noqa: B023
        res = {"workbench": {"bg_seconds": bg_t, "bg_runs": bg_runs,
                             "bg_params": bg.params_.tolist(), "gg_seconds": gg_t,
                             "gg_runs": gg_runs, "gg_params": gg.params_.tolist(),
                             "bg_rows": bg.n_rows_fitted_, "gg_rows": gg.n_rows_fitted_,
                             "bg_converged": bg.converged_, "gg_converged": gg.converged_}}
        tools = ["lifetimes", "lifetimes-weighted"] + ([] if args.no_pmm else ["pmm-map"])
        for tool in tools:
            print(f"n={n:,}: running {tool} ...", file=sys.stderr, flush=True)
            res[tool] = run_child(path, tool, args.repeats, args.timeout)
        results["sizes"][n] = res
        ours = res["workbench"]
        rows.append((n, "workbench", ours["bg_seconds"], 1.0, 0.0, ours["gg_seconds"], 1.0,
                     0.0, ""))
        for tool in tools:
            r = res[tool]
            if "error" in r:
                rows.append((n, tool, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan,
                             r["error"]))
                continue
            rows.append((n, tool, r["bg_seconds"], r["bg_seconds"] / ours["bg_seconds"],
                         rel(r["bg_params"], ours["bg_params"]), r["gg_seconds"],
                         r["gg_seconds"] / ours["gg_seconds"],
                         rel(r["gg_params"], ours["gg_params"]), r.get("version", "")))
    print("\n### Fit time, median of", args.repeats, "runs (seconds); ratio = tool / workbench\n")
    print("| customers | tool | BG/NBD s | ratio | max rel. param diff | Gamma-Gamma s | ratio |"
          " max rel. param diff | note |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, tool, bt, br, bd, gt, gr, gd, note in rows:
        print(f"| {n:,} | {tool} | {bt:.2f} | {br:.1f}x | {bd:.1e} | {gt:.2f} | {gr:.1f}x "
              f"| {gd:.1e} | {note} |")
    for n in args.sizes:
        w = results["sizes"][n]["workbench"]
        bgp = dict(zip(TRUE_BG, np.round(w["bg_params"], 4).tolist(), strict=True))
        ggp = dict(zip(TRUE_GG, np.round(w["gg_params"], 4).tolist(), strict=True))
        print(f"\nn={n:,}: workbench fitted {w['bg_rows']:,} distinct (x, t_x, T) rows for "
              f"BG/NBD and {w['gg_rows']:,} for Gamma-Gamma; BG/NBD {bgp}, Gamma-Gamma {ggp} "
              f"(truth {TRUE_BG}, {TRUE_GG})")
    print("\n".join(cdnow_check()))
    if args.bayes_n:
        print(f"\n### Bayesian fits on {args.bayes_n:,} customers (2 chains x 1000 draws; "
              f"warm: median of {args.bayes_repeats} fit calls after a warm-up fit)\n",
              flush=True)
        b = bayes(args.bayes_n, args.bayes_repeats)
        results["bayes"] = b
        for name, r in b.items():
            print(f"- {name} (tune {r['tune']}): {r['seconds']:.1f} s with {r['sampler']} on "
                  f"{r['rows']:,} rows; converged {r['converged']}, max R-hat "
                  f"{r['max_rhat']:.4f}, min bulk ESS {r['min_ess']:.0f} (tail "
                  f"{r['min_ess_tail']:.0f}), divergences {r['divergences']}; posterior "
                  f"means {r['params']}")
        if args.pmm_mcmc and not args.no_pmm:
            rfm = simulate(args.bayes_n, seed=7)
            path = CACHE / f"rfm_bayes_{args.bayes_n}.npz"
            np.savez(path, **{c: rfm[c].to_numpy(dtype=float) for c in
                              ("frequency", "recency", "T", "monetary_value")})
            r = run_child(path, "pmm-mcmc", 1, args.timeout)
            results["pmm_mcmc"] = r
            if "error" in r:
                print(f"- PyMC-Marketing NUTS: failed: {r['error']}")
            else:
                print(f"- PyMC-Marketing {r['version']} default fit() (PyMC's NUTS, "
                      f"{r['bg_chains_draws'][0]} chains x {r['bg_chains_draws'][1]} draws, "
                      f"default priors): BG/NBD {r['bg_seconds']:.1f} s (max R-hat "
                      f"{r['bg_rhat']:.4f}, min bulk ESS {r['bg_min_ess']:.0f}), Gamma-Gamma "
                      f"{r['gg_seconds']:.1f} s (max R-hat {r['gg_rhat']:.4f}, min bulk ESS "
                      f"{r['gg_min_ess']:.0f})")
                for name, ours in b.items():
                    theirs = r["bg_seconds" if name.startswith("BG") else "gg_seconds"]
                    print(f"  - ratio PyMC-Marketing / ours ({name}): "
                          f"{theirs / ours['seconds']:.1f}x")
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print(f"\nraw results: {args.out}")


if __name__ == "__main__":
    main()
