import sys, time, cProfile, pstats
sys.path.insert(0, "benchmarks")
from bench_attribution import make_paths
from workbench.attribution import MarkovChain
p = make_paths(1_000_000)
print(p.n_paths, p.n_touches, p.n_channels)
t=time.perf_counter(); MarkovChain(n_boot=0).fit(p); print("boot0", time.perf_counter()-t)
t=time.perf_counter()
pr=cProfile.Profile(); pr.enable()
MarkovChain(n_boot=20).fit(p)
pr.disable(); print("boot20", time.perf_counter()-t)
pstats.Stats(pr).sort_stats("cumulative").print_stats(14)
