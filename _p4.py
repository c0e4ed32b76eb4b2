import sys, time, numpy as np, cProfile, pstats
sys.path.insert(0, "benchmarks")
from bench_attribution import make_paths
from workbench.attribution import MarkovChain
p = make_paths(1_000_000)
pr=cProfile.Profile(); pr.enable()
MarkovChain(n_boot=200, boot="normal", seed=1).fit(p)
pr.disable(); pstats.Stats(pr).sort_stats("tottime").print_stats(10)
