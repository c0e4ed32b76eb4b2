import sys; sys.path.insert(0,"benchmarks")
from bench_attribution import make_paths
make_paths(1_000_000).to_frame().to_csv("/tmp/paths_1m.csv", index=False)
