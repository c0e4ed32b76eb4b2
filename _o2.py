import sys, time, numpy as np
sys.path.insert(0, "benchmarks")
from bench_attribution import make_paths
from workbench.attribution import MarkovChain
p = make_paths(1_000_000)
for method in ("normal",):
    t=time.perf_counter(); m=MarkovChain(order=2, n_boot=200, boot=method, seed=1).fit(p); print(method, time.perf_counter()-t)
t=time.perf_counter(); m=MarkovChain(order=2, n_boot=0).fit(p); print("boot0", time.perf_counter()-t)
