"""The Markov bootstrap through the chain's sufficient statistics (issue 15).

The statistics are linear in the journey counts, so their bootstrap mean and covariance
are exact (:meth:`_Chain.stat_moments`); checked here against an independent build of
the linear map from the chain's own ``counts`` applied to one cell at a time.  The
``normal`` bootstrap (statistics drawn from that normal limit) is checked against
resampling journeys (``multinomial``) on the same paths: the spread of every channel's
credit agrees within the Monte-Carlo error of 400 replicates.
"""

from __future__ import annotations

import numpy as np
import pytest

from workbench.attribution import MarkovChain, Paths
from workbench.attribution.markov import NORMAL_BOOT_MIN, _Chain


def synthetic_paths(n: int, n_channels: int = 6, seed: int = 0) -> Paths:
    """``n`` random paths (2-8 touches) with conversions, values and nulls."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 9, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    codes = rng.choice(n_channels, size=int(offsets[-1]),
                       p=rng.dirichlet(np.ones(n_channels) * 3)).astype(np.int32)
    effect = rng.normal(0, 0.6, n_channels)
    lin = np.add.reduceat(effect[codes], offsets[:-1]) / np.sqrt(lengths) - 1.5
    journeys = 1 + rng.poisson(4, n)
    conv = rng.binomial(journeys, 1 / (1 + np.exp(-lin))).astype(float)
    value = conv * rng.gamma(4.0, 15.0, n)
    names = tuple(f"c{i}" for i in range(n_channels))
    return Paths(names, codes, offsets, conv, value, journeys - conv)


@pytest.mark.parametrize(("order", "states", "counts", "chunk"), [
    (1, "prefix", "whole", None), (2, "prefix", "whole", None),
    (2, "window", "fractional", 7), (1, "prefix", "fractional", 7)])
def test_the_statistics_moments_are_exact(order, states, counts, chunk, monkeypatch):
    """Mean and covariance against the linear map built one cell at a time: with whole
    journey counts (the pairs summed in 32-bit integers) and fractional ones (in floats),
    prefix and window states, and the cross terms in chunks of 7 entries."""
    from workbench.attribution import markov

    if chunk:
        monkeypatch.setattr(markov, "CROSS_CHUNK", chunk)
    p = synthetic_paths(300, seed=order)
    if counts == "fractional":
        f = np.random.default_rng(9).uniform(0.3, 2.0, p.n_paths)
        p = Paths(p.channels, p.codes, p.offsets, p.conversions * f, p.value * f, p.nulls * f)
    chain = _Chain(p, order, states)
    seen, mean, cov = chain.stat_moments(p.conversions, p.value, p.nulls)
    # the linear map, one cell at a time, through the chain's own counting code
    R, S = p.n_paths, chain.n_states
    with np.errstate(divide="ignore", invalid="ignore"):
        per_conv = np.where(p.conversions > 0, p.value / p.conversions, 0.0)

    def stats(conv, nulls, value):
        pc, st, cv, nl = chain.counts(conv, nulls)
        return np.concatenate([pc, st, cv, nl,
                               np.bincount(chain.tail_state, value, minlength=S)])

    cols = []
    for i in range(R):
        e = np.zeros(R)
        e[i] = 1.0
        cols.append(stats(e, 0 * e, e * per_conv))      # a converted journey of path i
    for i in range(R):
        e = np.zeros(R)
        e[i] = 1.0
        cols.append(stats(0 * e, e, 0 * e))              # a null journey of path i
    G = np.column_stack(cols)
    cells = np.concatenate([p.conversions, p.nulls])
    n, q = round(cells.sum()), cells / cells.sum()
    want_mean = n * G @ q
    want_cov = n * (G @ np.diag(q) @ G.T - np.outer(G @ q, G @ q))
    # the statistics left out are those no journey feeds: 0 in every replicate
    assert np.all(want_mean[np.setdiff1d(np.arange(len(want_mean)), seen)] == 0)
    assert np.all(want_mean[seen] > 0)
    np.testing.assert_allclose(mean, want_mean[seen], rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(cov, want_cov[np.ix_(seen, seen)], rtol=1e-9, atol=1e-7)
    # the mean is the observed statistics: the bootstrap is centred on the data (scaled
    # to the replicate's round(N) journeys when the counts are fractional, as resampling)
    np.testing.assert_allclose(mean, stats(p.conversions, p.nulls, p.value)[seen]
                               * n / cells.sum(), rtol=1e-10)


def test_the_normal_bootstrap_spreads_like_resampling_journeys():
    p = synthetic_paths(20_000, seed=3)
    B = 400
    fits = {m: MarkovChain(n_boot=B, boot=m, seed=5).fit(p).result_
            for m in ("normal", "multinomial")}
    a, b = fits["normal"], fits["multinomial"]
    # the same point estimate, and intervals around it
    np.testing.assert_allclose(a.table.conversions, b.table.conversions)
    for rep_a, rep_b in ((a.boot_conversions, b.boot_conversions),
                         (a.boot_value, b.boot_value)):
        sd_a, sd_b = rep_a.std(axis=0), rep_b.std(axis=0)
        # the ratio of two sample SDs from B replicates each has SE ~ 1/sqrt(B): 4 SE
        assert np.all(np.abs(sd_a / sd_b - 1) < 4 / np.sqrt(B)), sd_a / sd_b
        # both centred on the data: means within 4 SE of the replicate mean
        assert np.all(np.abs(rep_a.mean(0) - rep_b.mean(0)) < 4 * sd_b * np.sqrt(2 / B))


def test_auto_resamples_small_data_and_uses_the_statistics_for_large():
    small = synthetic_paths(200, seed=1)
    assert small.total_conversions + small.total_nulls < NORMAL_BOOT_MIN
    auto = MarkovChain(n_boot=50, seed=2).fit(small).result_
    multi = MarkovChain(n_boot=50, seed=2, boot="multinomial").fit(small).result_
    np.testing.assert_array_equal(auto.boot_conversions, multi.boot_conversions)
    with pytest.raises(ValueError, match="boot must be"):
        MarkovChain(n_boot=5, boot="poisson").fit(small)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_the_schur_complement_removals_equal_solving_each_removed_chain(order):
    """The batched dense route (one inverse per replicate, each removal by the Schur
    complement) gives the same absorption as zeroing the removed states and solving the
    whole chain again by sparse LU, for every removal and every replicate."""
    p = synthetic_paths(2_000, seed=10 + order)
    chain = _Chain(p, order, "prefix")
    pc, st, cv, nl, vv = chain.statistics(p.conversions, p.value, p.nulls)
    rng = np.random.default_rng(order)
    stack = [np.stack([x * rng.uniform(0.7, 1.3, x.shape) for _ in range(5)])
             for x in (pc, st, cv, nl, vv)]
    dense = chain._absorb_dense(*stack)
    sparse = np.stack([chain._absorb_sparse(*chain._system(*x)) for x in zip(*stack, strict=True)])
    assert dense.shape == (5, p.n_channels + 1, 2)
    np.testing.assert_allclose(dense, sparse, rtol=1e-10, atol=1e-12)
    # a removal never raises the conversion probability
    assert np.all(dense[:, 1:, 0] <= dense[:, :1, 0] * (1 + 1e-12))


@pytest.mark.parametrize("root", ["eigh", "loaded_cholesky", "pivoted_cholesky"])
def test_normal_draws_have_the_covariance_even_when_it_is_singular(root, monkeypatch):
    from workbench.attribution import markov
    from workbench.attribution.markov import _normal_draws

    if root != "eigh":
        monkeypatch.setattr(markov, "EIGH_MAX_STATS", 0)
    if root == "pivoted_cholesky":  # the fallback, where the loaded factor fails

        def fails(a):
            raise np.linalg.LinAlgError("not positive definite")

        monkeypatch.setattr(markov.np.linalg, "cholesky", fails)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 3))
    cov = X @ X.T  # rank 3 of 6
    mean = np.arange(6.0)
    draws = _normal_draws(mean, cov, 200_000, np.random.default_rng(1))
    # sample mean within 5 SE, sample covariance within 5 SE (Var(s_ij) = (s_ii s_jj + s_ij^2)/n)
    se_mean = np.sqrt(np.diag(cov) / len(draws))
    assert np.all(np.abs(draws.mean(0) - mean) < 5 * se_mean)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / len(draws))
    assert np.all(np.abs(np.cov(draws.T) - cov) < 5 * se_cov)


@pytest.mark.parametrize("n_bins, n_rows", [(3, 2_000), (40, 300), (1, 50)])
@pytest.mark.parametrize("weights", ["real", "counts", "large counts"])
def test_the_gram_of_the_paths_equals_the_dense_sum(n_bins, n_rows, weights):
    """The pairs of positions counted for all rows of a length at once, against
    ``sum_r w_r u_r u_r'`` built row by row from dense count vectors (rows of length 0
    to 6, bins that repeat within a row: with one bin, every pair is on the diagonal);
    with real weights, with journey counts (summed in 32-bit integers) and with counts
    whose pairs would overflow 32 bits (summed as floats)."""
    from workbench.attribution import gram

    rng = np.random.default_rng(n_bins)
    lengths = rng.integers(0, 7, n_rows)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    col = rng.integers(0, n_bins, indptr[-1]).astype(np.int32)
    w = {"real": rng.gamma(2.0, 1.0, n_rows), "counts": rng.integers(0, 50, n_rows),
         "large counts": rng.integers(0, 2**31 // 15, n_rows)}[weights]
    want = np.zeros((n_bins, n_bins))
    for r in range(n_rows):
        u = np.bincount(col[indptr[r]:indptr[r + 1]], minlength=n_bins)
        want += w[r] * np.outer(u, u)
    np.testing.assert_allclose(gram.weighted_gram(col, indptr, w, n_bins), want, rtol=1e-12,
                               atol=1e-9)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_a_run_longer_than_the_order_adds_nothing(order):
    """A touch in the same state as the one before it (a run of one channel, order + 1
    long) adds only a self-transition: the chain of paths with long runs has the same
    statistics, moments and removal effects as the same journeys with every run cut to
    ``order`` touches (built here touch by touch in Python)."""
    rng = np.random.default_rng(order)
    p = synthetic_paths(400, n_channels=4, seed=20 + order)
    # stretch a third of the touches into runs of 2-5
    reps = np.where(rng.random(p.n_touches) < 0.33, rng.integers(2, 6, p.n_touches), 1)
    seqs = [np.repeat(p.codes[a:b], reps[a:b]) for a, b in zip(p.offsets[:-1], p.offsets[1:],
                                                                strict=True)]

    def cut(seq):
        out, run = [], 0
        for i, c in enumerate(seq):
            run = run + 1 if i and c == seq[i - 1] else 1
            if run <= order:
                out.append(c)
        return out

    def build(seqs):
        lengths = [len(s) for s in seqs]
        return Paths(p.channels, np.concatenate(seqs).astype(np.int32),
                     np.concatenate([[0], np.cumsum(lengths)]), p.conversions, p.value,
                     p.nulls)

    long_runs, cut_runs = build(seqs), build([np.array(cut(s)) for s in seqs])
    assert long_runs.n_touches > cut_runs.n_touches
    a, b = _Chain(long_runs, order, "prefix"), _Chain(cut_runs, order, "prefix")
    assert a.n_states == b.n_states and a.n_pairs == b.n_pairs
    assert len(a.inner_row) == len(b.inner_row)  # the long runs' extra touches were dropped
    for x, y in zip(a.statistics(p.conversions, p.value, p.nulls),
                    b.statistics(p.conversions, p.value, p.nulls), strict=True):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a.stat_moments(p.conversions, p.value, p.nulls),
                    b.stat_moments(p.conversions, p.value, p.nulls), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-9)
    for x, y in zip(a.removal_effects(p.conversions, p.value, p.nulls),
                    b.removal_effects(p.conversions, p.value, p.nulls), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)
