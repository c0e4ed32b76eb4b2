import sys, time, numpy as np, scipy.sparse as sp
sys.path.insert(0, "benchmarks")
from bench_attribution import make_paths
from workbench.attribution.markov import _Chain
p = make_paths(1_000_000)
ch = _Chain(p, 1, "prefix")
t=time.perf_counter(); m, c = ch.stat_moments(p.conversions, p.value, p.nulls); print("current", time.perf_counter()-t)
# alternative: build in COO then use dense-by-group trick: U (D x R) ; compute U diag(w) U^T via csc
R=p.n_paths; S=ch.n_states; P=ch.n_pairs
keep = ~ch.drop[ch.pair_id]
t=time.perf_counter()
U = sp.csc_matrix((np.ones(int(keep.sum())), (ch.pair_id[keep], ch.inner_row[keep])), shape=(P+4*S, R))
print("build csc", time.perf_counter()-t)
w = (p.conversions+p.nulls)/(p.conversions.sum()+p.nulls.sum())
t=time.perf_counter(); X = (U @ sp.diags(w)) @ U.T; print("U W U^T csc", time.perf_counter()-t)
Ur = U.tocsr()
t=time.perf_counter(); X2 = Ur.multiply(w[None,:]).tocsr() @ Ur.T.tocsc(); print("multiply then matmul", time.perf_counter()-t)
t=time.perf_counter(); X3 = (Ur @ (Ur.multiply(w[None,:])).T); print("Ur @ (..).T", time.perf_counter()-t)
Ud = None
