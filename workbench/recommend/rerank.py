"""From a candidate pool to the products a message shows: relevance, diversity, margin.

Maximal marginal relevance (Carbonell & Goldstein 1998, SIGIR, eq. 1) picks one product
at a time, each maximizing

    w_rel * rel_i + w_margin * margin_i - w_div * max_{j picked} sim(i, j)

over the pool, where ``rel`` is the candidate score scaled to the customer's best (1),
``margin`` the unit margin scaled to the catalog's 95th percentile (capped at 1) and
``sim`` the catalog's similarity (same category, same price band: four near-identical
items score high).  With ``w_div = 0`` and ``w_margin = 0`` it is the relevance ranking.
Then the brief's constraints: at least ``min_high_margin`` pick from the catalog's top
margin quartile where the pool has one (it replaces the last pick that is not), and the
slot count of the channel (:data:`SLOTS`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Catalog, RecommendInputError

#: products per message: email shows 3-4, SMS one (two at most), the site a row of four
SLOTS = {"email": 4, "sms": 1, "site": 4}
#: lists re-ranked at a time
CHUNK = 65_536


@dataclass(frozen=True)
class Rerank:
    """The re-ranking weights and constraints (what notebook 05's sliders move)."""

    k: int = 4
    relevance: float = 1.0
    diversity: float = 0.3
    margin: float = 0.2
    min_high_margin: int = 1

    def __post_init__(self):
        if self.k < 1:
            raise RecommendInputError(f"k must be >= 1, got {self.k}")
        for name in ("relevance", "diversity", "margin"):
            if getattr(self, name) < 0:
                raise RecommendInputError(f"the {name} weight must be >= 0, got "
                                          f"{getattr(self, name)}")

    @classmethod
    def for_channel(cls, channel: str, **kw) -> Rerank:
        if channel not in SLOTS:
            raise RecommendInputError(f"channel must be one of {sorted(SLOTS)}, got "
                                      f"{channel!r}")
        return cls(k=kw.pop("k", SLOTS[channel]), **kw)

    def select(self, items: np.ndarray, scores: np.ndarray,
               catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
        """``(picks, high_margin_swap)``, each ``(n, k)``.

        Product codes (-1 where the pool ran out), and whether each pick was put in by
        the high-margin constraint.
        """
        if len(items) > CHUNK:  # the step arrays are (n, pool) floats: bounded per chunk
            parts = [self.select(items[a:a + CHUNK], scores[a:a + CHUNK], catalog)
                     for a in range(0, len(items), CHUNK)]
            return (np.concatenate([p[0] for p in parts]),
                    np.concatenate([p[1] for p in parts]))
        n, pool = items.shape
        k = min(self.k, pool)
        valid = items >= 0
        safe = np.where(valid, items, 0)
        best = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(valid, scores / np.where(best > 0, best, 1.0), 0.0)
        scale = np.quantile(catalog.margin, 0.95) if catalog.n_products else 1.0
        mar = np.clip(catalog.margin[safe] / (scale if scale > 0 else 1.0), 0.0, 1.0)
        base = self.relevance * rel + self.margin * mar
        maxsim = np.zeros((n, pool))
        taken = ~valid
        picks = np.full((n, self.k), -1, dtype=np.int32)
        rows = np.arange(n)
        for step in range(k):
            obj = np.where(taken, -np.inf, base - self.diversity * maxsim)
            j = obj.argmax(axis=1)
            ok = np.isfinite(obj[rows, j])
            picks[ok, step] = items[ok, j[ok]]
            taken[rows[ok], j[ok]] = True
            if step + 1 < k and self.diversity > 0:
                sim = catalog.similarity(safe, safe[rows, j][:, None])
                maxsim = np.maximum(maxsim, np.where(ok[:, None], sim, 0.0))
        swapped = np.zeros((n, self.k), dtype=bool)
        # at most k - 1 slots: the most relevant pick always stays (an SMS's one product)
        if min(self.min_high_margin, k - 1) > 0:
            swapped = self._high_margin(picks, items, taken, base - self.diversity * maxsim,
                                        catalog, min(self.min_high_margin, k - 1))
        return picks, swapped

    def _high_margin(self, picks, items, taken, obj, catalog, wanted: int):
        """Swap in the best high-margin candidates where the picks have fewer than ``wanted``.

        Only an empty slot or a pick that is not high-margin gives up its place, the
        last such first.
        """
        hi_cut = np.quantile(catalog.margin, 0.75)

        def hi(codes):
            return (codes >= 0) & (catalog.margin[np.maximum(codes, 0)] >= hi_cut)

        swapped = np.zeros(picks.shape, dtype=bool)
        have = hi(picks).sum(axis=1)
        filled = (picks >= 0).sum(axis=1)
        cand = np.where(~taken & hi(items), obj, -np.inf)
        for _ in range(wanted):
            need = (have < wanted) & (filled > 0)
            j = cand.argmax(axis=1)
            ok = need & np.isfinite(cand[np.arange(len(items)), j])
            if not ok.any():
                break
            # an empty slot takes it, else the last pick that is not high-margin
            empty = picks < 0
            not_hi = ~hi(picks) & ~empty
            ok &= (empty | not_hi).any(axis=1)
            rows = np.flatnonzero(ok)
            if not len(rows):
                break
            empty, not_hi = empty[rows], not_hi[rows]
            slot = np.where(empty.any(axis=1), np.argmax(empty, axis=1),
                            picks.shape[1] - 1 - np.argmax(not_hi[:, ::-1], axis=1))
            picks[rows, slot] = items[rows, j[rows]]
            swapped[rows, slot] = True
            cand[rows, j[rows]] = -np.inf
            have[rows] += 1
        return swapped


def intra_list_diversity(picks: np.ndarray, catalog: Catalog) -> np.ndarray:
    """Per list: ``1 - mean sim(i, j)`` over its pairs of picks; NaN below two picks.

    Ziegler et al. 2005, WWW, sec. 3.3.
    """
    n, k = picks.shape
    tot = np.zeros(n)
    cnt = np.zeros(n)
    safe = np.maximum(picks, 0)
    for a in range(k):
        for b in range(a + 1, k):
            ok = (picks[:, a] >= 0) & (picks[:, b] >= 0)
            tot += np.where(ok, catalog.similarity(safe[:, a], safe[:, b]), 0.0)
            cnt += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, 1.0 - tot / cnt, np.nan)
