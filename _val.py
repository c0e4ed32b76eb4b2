import sys, time, numpy as np
sys.path.insert(0, "benchmarks")
from bench_attribution import make_paths
from workbench.attribution import MarkovChain
p = make_paths(1_000_000)
print("journeys", p.total_conversions + p.total_nulls)
res = {}
for method in ("normal", "multinomial"):
    t = time.perf_counter()
    m = MarkovChain(n_boot=200, boot=method, seed=1).fit(p)
    dt = time.perf_counter() - t
    r = m.result_
    res[method] = r
    print(method, round(dt, 2), "s")
a, b = res["normal"], res["multinomial"]
sd_a = np.nanstd(a.boot_conversions, axis=0); sd_b = np.nanstd(b.boot_conversions, axis=0)
print("sd ratio conv", np.round(sd_a / sd_b, 3))
sv_a = np.nanstd(a.boot_value, axis=0); sv_b = np.nanstd(b.boot_value, axis=0)
print("sd ratio value", np.round(sv_a / sv_b, 3))
print("mean diff / sd", np.round((np.nanmean(a.boot_conversions,0)-np.nanmean(b.boot_conversions,0))/sd_b, 2))
