"""Recommendations for 1M customers over a 10,000-product catalog, against implicit's ALS.

Synthetic purchase history at that scale (numpy, seeded): products in 100 categories
with Zipf-like popularity, customers with a Dirichlet category affinity and 1-8 orders of
1-3 lines over a year, and a planted sequence (a product's buyers often buy its
"accessory", the next product id, in their next order).  Each tool runs in its own
process, so its peak resident memory (ru_maxrss) is its own:

* ours: :class:`~workbench.recommend.BoughtNext` fitted on every order, each customer's
  50 candidates (exclusions applied), re-ranked to 4 by maximal marginal relevance;
* implicit: ``AlternatingLeastSquares(factors=64, iterations=15)`` fitted on the same
  purchase matrix, ``recommend(userids, user_items, N=4)`` for every customer (already
  bought filtered) — what a data scientist would otherwise run.

Usage::

    python benchmarks/bench_recommend.py [--customers 1000000] [--products 10000]
                                         [--repeats 1]

Writes benchmarks/results/recommend.json and prints a Markdown table.
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

MAKE = r"""
import numpy as np, pandas as pd

def make(n_cust, n_prod, seed=0):
    rng = np.random.default_rng(seed)
    n_cat = 100
    cat = np.sort(rng.integers(0, n_cat, n_prod))
    pop = 1.0 / np.arange(1, n_prod + 1) ** 0.8
    pop = pop[rng.permutation(n_prod)]
    n_orders = rng.integers(1, 9, n_cust)
    cust = np.repeat(np.arange(n_cust), n_orders)
    day = np.sort(rng.uniform(0, 365, len(cust)))
    day = day[np.argsort(np.argsort(cust, kind="stable"), kind="stable")]
    lines_per = rng.integers(1, 4, len(cust))
    order = np.repeat(np.arange(len(cust)), lines_per)
    # a line's product: mostly by popularity; 40% the accessory of the customer's last buy
    prod = rng.choice(n_prod, size=len(order), p=pop / pop.sum())
    prev_same = np.r_[False, cust[order[1:]] == cust[order[:-1]]] & (rng.random(len(order)) < 0.4)
    prev_prod = np.r_[0, prod[:-1]]
    prod = np.where(prev_same, (prev_prod + 1) % n_prod, prod)
    lines = pd.DataFrame({"customer_id": cust[order], "order_id": order,
                          "placed_at": pd.Timestamp("2025-01-01", tz="UTC")
                          + pd.to_timedelta(day[order], unit="D"),
                          "product_id": prod, "quantity": 1})
    products = pd.DataFrame({"product_id": np.arange(n_prod), "category": cat.astype(str),
                             "price": rng.uniform(5, 200, n_prod).round(2)})
    products["unit_cost"] = (products.price * rng.uniform(0.3, 0.8, n_prod)).round(2)
    products["purchase_type"] = np.where(rng.random(n_prod) < 0.2, "consumable", "considered")
    return lines.drop_duplicates(["order_id", "product_id"]), products
"""

OURS = MAKE + r"""
import json, resource, sys, time
n, m = int(sys.argv[1]), int(sys.argv[2])
lines, products = make(n, m)
t0 = time.perf_counter()
from workbench.recommend import BoughtNext, Catalog, Interactions, Rerank, exclusions
cat = Catalog.from_products(products)
data = Interactions.from_lines(lines, product_ids=cat.product_ids)
t1 = time.perf_counter()
model = BoughtNext().fit(data, cat)
t2 = time.perf_counter()
customers = np.unique(data.cust)
items, scores, _ = model.candidates(customers, 50, exclusions(data, cat, customers))
picks = Rerank(k=4).select(items, scores, cat)[0]
t3 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"prepare": t1 - t0, "fit": t2 - t1, "recommend": t3 - t2,
                  "seconds": t3 - t0, "peak_mib": peak, "lines": len(lines)}))
"""

IMPLICIT = MAKE + r"""
import json, resource, sys, time
import scipy.sparse as sp
from threadpoolctl import threadpool_limits
n, m = int(sys.argv[1]), int(sys.argv[2])
lines, products = make(n, m)
t0 = time.perf_counter()
from implicit.cpu.als import AlternatingLeastSquares
ui = sp.csr_matrix((np.ones(len(lines), np.float32), (lines.customer_id, lines.product_id)),
                   shape=(n, m))
ui.data[:] = 1.0
t1 = time.perf_counter()
with threadpool_limits(1, "blas"):
    model = AlternatingLeastSquares(factors=64, iterations=15, random_state=0)
    model.fit(ui, show_progress=False)
t2 = time.perf_counter()
users = np.arange(n)
for a in range(0, n, 65536):
    u = users[a:a + 65536]
    model.recommend(u, ui[u], N=4, filter_already_liked_items=True)
t3 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"prepare": t1 - t0, "fit": t2 - t1, "recommend": t3 - t2,
                  "seconds": t3 - t0, "peak_mib": peak, "lines": len(lines)}))
"""


def run(code: str, n: int, m: int) -> dict:
    out = subprocess.run([sys.executable, "-c", code, str(n), str(m)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--products", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    res: dict = {"customers": args.customers, "products": args.products, "runs": {}}
    for name, code in (("workbench bought-next + MMR", OURS), ("implicit ALS", IMPLICIT)):
        runs = [run(code, args.customers, args.products) for _ in range(args.repeats)]
        res["runs"][name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    ours, theirs = (res["runs"][k] for k in res["runs"])
    res["ratio_seconds"] = theirs["seconds"] / ours["seconds"]
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "recommend.json").write_text(json.dumps(res, indent=2))
    print(f"| {args.customers:,} customers × {args.products:,} products "
          f"({ours['lines']:,} order lines) | prepare | fit | recommend (4 each) | total | "
          "peak memory |")
    print("|---|---|---|---|---|---|")
    for name, r in res["runs"].items():
        print(f"| {name} | {r['prepare']:.1f} s | {r['fit']:.1f} s | {r['recommend']:.1f} s | "
              f"{r['seconds']:.1f} s | {r['peak_mib'] / 1024:.1f} GiB |")
    print(f"implicit / ours (total time): {res['ratio_seconds']:.2f}x")


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"({time.perf_counter() - t:.0f} s)")
