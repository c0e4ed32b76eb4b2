r"""Shapley-value attribution over channel coalitions.

The cooperative game (Shao & Li 2011, "Data-driven multi-touch attribution
models", KDD, section 4; Dalessandro et al. 2012, "Causally motivated
attribution for online advertising", ADKDD; Zhao, Mahboobi & Bagheri 2018,
"Shapley value methods for attribution modeling in online advertising",
arXiv:1804.05327, section 3): players are channels; the worth of a coalition
``S`` is what the journeys *fully contained* in ``S`` produced,

    v(S) = sum over paths i with channel set C_i ⊆ S of conversions_i   (or value_i)

and a channel's credit is its Shapley value (Shapley 1953)

    phi_j = sum_{S ⊆ N \ {j}} |S|! (n - |S| - 1)! / n! * (v(S ∪ {j}) - v(S)).

Exact computation (``method="exact"``): ``R(T)``, the conversions of paths whose
channel set is exactly ``T``, is binned by bitmask; ``v = zeta(R)`` is the
subset-sum (zeta) transform over all ``2^n`` bitmasks, ``n * 2^n`` additions;
then the sum above is taken for every ``j`` at once — 12 channels cost 4,096
coalitions, instant.

Simplified formula (``method="simplified"``; Zhao et al. 2018, eq. 12): each
path's conversions split equally among its *distinct* channels,

    phi_j = sum_{T ∋ j} R(T) / |T|.

The two are equal for this game, exactly: ``v = sum_T R(T) u_T`` where ``u_T``
is the unanimity game of ``T`` (``u_T(S) = 1`` iff ``T ⊆ S``), whose Shapley
value is ``1/|T|`` for each member of ``T`` and 0 otherwise; the Shapley value is
linear in the game. (For another game, e.g. ``v(S) = R(S)`` — conversions of
paths whose channel set *is* ``S`` — they differ; the tests show both.)
Consequences: order and repetition inside a path do not matter, non-converting
paths do not enter (``total_null`` is ignored), and a channel on no converting
path is a dummy player with zero credit. ``method="auto"`` (default) runs the
exact transform up to ``max_exact_channels`` channels and the simplified
formula above that; they give the same numbers.
"""

from __future__ import annotations

from math import comb

import numpy as np

from .base import AttributionModel, CreditFn
from .paths import Paths

__all__ = ["Shapley", "coalition_values", "shapley_values"]

MASK_BITS = 62  # channel sets as int64 bitmasks up to this many channels


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x.astype(np.uint64)).astype(np.int64)


def path_masks(paths: Paths) -> np.ndarray:
    """Bitmask of the distinct channels of every path (needs <= 62 channels)."""
    if paths.n_channels > MASK_BITS:
        raise ValueError(f"bitmasks hold at most {MASK_BITS} channels, got {paths.n_channels}")
    bits = np.left_shift(np.int64(1), paths.codes.astype(np.int64))
    return np.bitwise_or.reduceat(bits, paths.offsets[:-1])


def zeta_transform(R: np.ndarray, n: int) -> np.ndarray:
    """Subset sums ``v[S] = sum_{T ⊆ S} R[T]`` over bitmasks of ``n`` players.

    Examples
    --------
    >>> zeta_transform(np.array([0.0, 1.0, 2.0, 4.0]), 2).tolist()
    [0.0, 1.0, 2.0, 7.0]
    """
    v = np.array(R, dtype=float, copy=True)
    for i in range(n):
        view = v.reshape(-1, 2, 2**i)
        view[:, 1, :] += view[:, 0, :]
    return v


def shapley_values(game: np.ndarray, n: int) -> np.ndarray:
    """Exact Shapley values of a game given as ``game[bitmask]`` for all ``2^n`` coalitions.

    ``phi_j = sum_{S ∌ j} |S|!(n-|S|-1)!/n! (v(S ∪ {j}) - v(S))`` (Shapley 1953).

    Examples
    --------
    Glove game: players 0 and 1 are worth 1 together, nothing alone.

    >>> shapley_values(np.array([0.0, 0.0, 0.0, 1.0]), 2).tolist()
    [0.5, 0.5]
    """
    game = np.asarray(game, dtype=float)
    if game.shape != (2**n,):
        raise ValueError(f"game must have 2**n = {2**n} entries, got {game.shape}")
    weight = np.array([1.0 / (n * comb(n - 1, s)) for s in range(n)])
    pc = _popcount(np.arange(2**n))
    phi = np.empty(n)
    for j in range(n):
        g = game.reshape(-1, 2, 2**j)
        size = pc.reshape(-1, 2, 2**j)[:, 0, :]
        phi[j] = np.sum(weight[size] * (g[:, 1, :] - g[:, 0, :]))
    return phi


def coalition_values(paths: Paths, weights: np.ndarray | None = None) -> np.ndarray:
    """``v(S)`` = conversions (or ``weights``) of paths whose channel set is inside ``S``.

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["a", "b"], ["b"]], conversions=[2, 1])
    >>> coalition_values(p).tolist()  # {}, {a}, {b}, {a, b}
    [0.0, 0.0, 1.0, 3.0]
    """
    w = paths.conversions if weights is None else weights
    R = np.bincount(path_masks(paths), w, minlength=2**paths.n_channels)
    return zeta_transform(R, paths.n_channels)


class Shapley(AttributionModel):
    """Shapley-value credit under the "paths contained in ``S``" game.

    See the module docstring for the game, the exact subset-sum computation and
    why the simplified per-path formula equals it (Zhao et al. 2018, eq. 12).

    Parameters
    ----------
    method
        ``"auto"`` (default), ``"exact"`` or ``"simplified"``.
    max_exact_channels
        Largest number of channels ``auto`` computes exactly (``2^n`` coalitions).

    Examples
    --------
    ``a > b`` converted 2 times, ``b`` once: ``v({b}) = 1``, ``v({a,b}) = 3``,
    so ``phi_a = (0 + 2)/2 = 1`` and ``phi_b = (1 + 3)/2 = 2``.

    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["a", "b"], ["b"]], conversions=[2, 1])
    >>> Shapley(n_boot=0).fit(p).result_.table["conversions"].tolist()
    [1.0, 2.0]
    """

    name = "shapley"
    label = "Shapley"

    def __init__(self, method: str = "auto", max_exact_channels: int = 16, *,
                 n_boot: int = 200, ci: float = 0.95,
                 seed: int | np.random.Generator | None = 0) -> None:
        super().__init__(n_boot=n_boot, ci=ci, seed=seed)
        self.method = method
        self.max_exact_channels = max_exact_channels

    def _resolve(self, n: int) -> str:
        if self.method not in ("auto", "exact", "simplified"):
            raise ValueError(f"method must be 'auto', 'exact' or 'simplified', got "
                             f"{self.method!r}")
        if self.method == "exact" and n > max(self.max_exact_channels, 0):
            raise ValueError(f"exact Shapley over {n} channels needs 2^{n} coalitions; raise "
                             f"max_exact_channels or use method='simplified' (same result)")
        if self.method == "auto":
            return "exact" if n <= self.max_exact_channels else "simplified"
        return self.method

    def _describe(self) -> str:
        return "Shapley (channel sets)"

    def _prepare(self, paths: Paths) -> CreditFn:
        n = paths.n_channels
        method = self._resolve(n)
        self.method_ = method
        if n <= MASK_BITS:
            umask, inv = np.unique(path_masks(paths), return_inverse=True)
            inv = inv.ravel()
            if method == "exact":
                def credit(conv, value, nulls):
                    R = np.zeros((2**n, 2))
                    R[umask, 0] = np.bincount(inv, conv, minlength=len(umask))
                    R[umask, 1] = np.bincount(inv, value, minlength=len(umask))
                    return (shapley_values(zeta_transform(R[:, 0], n), n),
                            shapley_values(zeta_transform(R[:, 1], n), n))
                return credit
            members = ((umask[:, None] >> np.arange(n)) & 1).astype(float)
            share = members / members.sum(axis=1, keepdims=True)

            def credit(conv, value, nulls):
                R = np.column_stack([np.bincount(inv, conv, minlength=len(umask)),
                                     np.bincount(inv, value, minlength=len(umask))])
                out = share.T @ R
                return out[:, 0], out[:, 1]
            return credit
        # more channels than bits: distinct (path, channel) pairs
        key = np.unique(paths.touch_row.astype(np.int64) * n + paths.codes)
        prow, pcode = key // n, key % n
        per = 1.0 / np.bincount(prow, minlength=paths.n_paths)[prow]

        def credit(conv, value, nulls):
            return (np.bincount(pcode, conv[prow] * per, minlength=n),
                    np.bincount(pcode, value[prow] * per, minlength=n))
        return credit
