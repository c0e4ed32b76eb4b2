import sys, time, numpy as np, scipy.sparse as sp
sys.path.insert(0, "benchmarks")
from bench_attribution import make_paths
from workbench.attribution.markov import _Chain
p = make_paths(1_000_000)
ch = _Chain(p, 1, "prefix")
rng = np.random.default_rng(0)
cells = np.concatenate([p.conversions, p.nulls]); N=int(round(cells.sum())); pr=cells/cells.sum()
print("N", N, "cells", len(cells))
t=time.perf_counter(); k=rng.multinomial(N, pr); print("multinomial", time.perf_counter()-t)
t=time.perf_counter(); k=rng.poisson(cells); print("poisson", time.perf_counter()-t)
t=time.perf_counter(); idx=rng.choice(len(cells), size=N, p=pr); kk=np.bincount(idx, minlength=len(cells)); print("choice", time.perf_counter()-t)
# counts
tot = p.conversions + p.nulls
t=time.perf_counter(); ch.counts(p.conversions, p.nulls); print("counts one", time.perf_counter()-t)
M = sp.csr_matrix((np.ones(len(ch.pair_id)), (ch.pair_id, ch.inner_row)), shape=(ch.n_pairs, p.n_paths))
M.sum_duplicates()
print("M nnz", M.nnz, M.shape)
B=25
W = np.random.default_rng(1).poisson(1.0, size=(p.n_paths, B)).astype(np.float64)
t=time.perf_counter(); R = M @ W; print("M@W 25", time.perf_counter()-t)
Wf = np.asfortranarray(W)
t=time.perf_counter(); R = (M.T.tocsr().T) @ Wf; print("M@Wf 25", time.perf_counter()-t)
t=time.perf_counter(); R = (W.T @ M.T.tocsc()); print("W.T@M.T", time.perf_counter()-t)
