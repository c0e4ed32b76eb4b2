"""Offline evaluation on a time split of orders: would the customer have bought it.

Every model is fitted on the orders before a cutoff and asked for ``k`` products per
customer; the customers' orders in the ``horizon_days`` after the cutoff are the test.
Measured, per model, in one run:

* hit rate at k — the share of test buyers who bought at least one of their k picks;
* NDCG at k — ``DCG = sum_r rel_r / log2(r + 1)`` over the ranked picks, divided by the
  ideal ordering's (Järvelin & Kekäläinen 2002, *ACM TOIS* 20(4), sec. 2.3, in the
  ``log2(r + 1)`` form of Burges et al. 2005, ICML), binary relevance;
* catalog coverage — the share of in-stock products recommended to anyone;
* intra-list diversity — ``1 - mean similarity`` of a list's pairs (:mod:`.rerank`);
* margin per send — the unit margin of the picks the customer then bought, per customer
  sent to (every customer with an order before the cutoff): what the list is worth if
  it is shown and nothing else changes — an offline proxy, not a causal effect (the
  simulator's replay measures that);
* the hit rate's paired difference from the first model (the baseline), with a 95%
  interval from the per-customer differences (normal, customers independent).

Customers' purchases before the cutoff of products that are not bought again are never
recommended (they would count as misses); consumables are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..results import Result
from .candidates import Recommender
from .data import Catalog, Interactions, RecommendInputError
from .rerank import Rerank, intra_list_diversity


@dataclass
class Split:
    """The orders before ``cutoff`` (days since the data's origin) and after it."""

    train: Interactions
    test: Interactions
    cutoff: float
    horizon_days: float
    senders: np.ndarray  # customers with an order before the cutoff (sent to)
    buyers: np.ndarray  # of those, who bought in the horizon


def time_split(data: Interactions, horizon_days: float = 30.0,
               cutoff: float | None = None) -> Split:
    """Train before ``cutoff``, test in the ``horizon_days`` after it.

    The cutoff defaults to ``horizon_days`` before the data's end.
    """
    if horizon_days <= 0:
        raise RecommendInputError(f"horizon_days must be > 0, got {horizon_days}")
    cut = data.end - horizon_days if cutoff is None else float(cutoff)
    before = data.day <= cut
    after = (data.day > cut) & (data.day <= cut + horizon_days)
    train, test = data.subset(before), data.subset(after)
    if not len(train.cust) or not len(test.cust):
        raise RecommendInputError(
            f"order lines: the split at day {cut:.0f} leaves {len(train.cust)} lines before "
            f"and {len(test.cust)} after; the data need orders on both sides")
    senders = np.unique(train.cust)
    buyers = np.intersect1d(senders, np.unique(test.cust))
    return Split(train, test, cut, horizon_days, senders, buyers)


def exclusions(train: Interactions, catalog: Catalog, customers: np.ndarray):
    """Customers × products (CSR): bought before and not repeatable, or out of stock."""
    import scipy.sparse as sp

    bought = train.history(None)[customers]
    bought = sp.csr_matrix(bought.multiply(~catalog.repeatable[None, :]))
    out = np.flatnonzero(~catalog.in_stock)
    if len(out):
        oos = sp.csr_matrix((np.ones(len(customers) * len(out)),
                             (np.repeat(np.arange(len(customers)), len(out)),
                              np.tile(out, len(customers)))), shape=bought.shape)
        bought = bought + oos
    bought.data[:] = 1.0
    return bought


@dataclass
class Evaluation(Result):
    """Per model: the offline metrics of its picks on the test window."""

    _html_table = "table"

    table: pd.DataFrame
    settings: dict = field(default_factory=dict)
    picks: dict = field(default_factory=dict, repr=False)  # model -> (senders, k) codes
    _skip_in_dict = ("picks",)

    def summary(self) -> str:
        t = self.table.set_index("model")
        base = t.index[0]
        best = t.hit_rate.idxmax()
        s = self.settings
        lines = [f"{s['buyers']:,} of {s['senders']:,} customers bought in the "
                 f"{s['horizon_days']:g} days after the cutoff; k = {s['k']}."]
        for m, r in t.iterrows():
            diff = ("" if m == base else
                    f" ({r.hit_rate_diff:+.1%} against {base} [{r.diff_low:+.1%}, "
                    f"{r.diff_high:+.1%}])")
            lines.append(f"{m}: hit rate {r.hit_rate:.1%}{diff}, NDCG {r.ndcg:.3f}, "
                         f"coverage {r.coverage:.1%}, diversity {r.diversity:.2f}, "
                         f"margin per send {r.margin_per_send:.3f}.")
        lines.append(f"Best hit rate: {best}.")
        return "\n".join(lines)


def evaluate(models: dict[str, Recommender], data: Interactions, catalog: Catalog,
             k: int = 4, horizon_days: float = 30.0, rerank: Rerank | dict | None = None,
             pool: int = 50, cutoff: float | None = None) -> Evaluation:
    """Fit each model before the cutoff and score its ``k`` picks on the orders after.

    ``rerank``: one :class:`.rerank.Rerank` for every model, or one per model name (a
    model without one is ranked by its scores alone); the first model is the baseline
    the others' hit rates are compared with.
    """
    if not models:
        raise RecommendInputError("evaluate: no models")
    split = time_split(data, horizon_days, cutoff)
    senders = split.senders
    ex = exclusions(split.train, catalog, senders)
    bought = split.test.history(None)[senders]  # (senders, products) 1 where bought
    bought_margin = _bought_margin(split.test, catalog)[senders]
    is_buyer = np.asarray(bought.sum(axis=1)).ravel() > 0
    rows, names = [], list(models)
    hits_of, picks_of = {}, {}
    in_stock = int(catalog.in_stock.sum())
    for name in names:
        model = models[name]
        t0 = time.perf_counter()
        model.fit(split.train, catalog)
        items, scores, _ = model.candidates(senders, max(pool, k), ex)
        rr = rerank.get(name) if isinstance(rerank, dict) else rerank
        if rr is None:
            picks = items[:, :k]
        else:
            picks = replace(rr, k=k).select(items, scores, catalog)[0]
        seconds = time.perf_counter() - t0
        rel = _lookup(bought, picks)
        hit = rel.any(axis=1)
        gain = (rel / np.log2(np.arange(2, k + 2))).sum(axis=1)
        n_rel = np.minimum(np.asarray(bought.sum(axis=1)).ravel(), k).astype(int)
        ideal = np.concatenate([[0.0], np.cumsum(1 / np.log2(np.arange(2, k + 2)))])[n_rel]
        with np.errstate(invalid="ignore", divide="ignore"):
            ndcg = np.where(ideal > 0, gain / ideal, 0.0)
        margin = _lookup(bought_margin, picks, values=True).sum(axis=1)
        shown = np.unique(picks[picks >= 0])
        ild = intra_list_diversity(picks, catalog)
        hits_of[name], picks_of[name] = hit[is_buyer], picks
        rows.append({"model": name, "hit_rate": hit[is_buyer].mean(),
                     "ndcg": ndcg[is_buyer].mean(), "coverage": len(shown) / max(in_stock, 1),
                     "diversity": float(np.nanmean(ild)) if np.isfinite(ild).any() else np.nan,
                     "margin_per_send": margin.mean(),
                     "high_margin_share": _high_share(picks, catalog), "seconds": seconds})
    table = pd.DataFrame(rows)
    base = hits_of[names[0]].astype(float)
    diffs = [hits_of[m].astype(float) - base for m in names]
    table["hit_rate_diff"] = [d.mean() for d in diffs]
    se = [d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan for d in diffs]
    table["diff_low"] = table.hit_rate_diff - 1.96 * np.array(se)
    table["diff_high"] = table.hit_rate_diff + 1.96 * np.array(se)
    settings = {"k": k, "horizon_days": horizon_days, "cutoff_day": split.cutoff,
                "senders": len(senders), "buyers": int(is_buyer.sum()), "pool": pool,
                "products": catalog.n_products}
    return Evaluation(table=table, settings=settings, picks=picks_of)


def _bought_margin(test: Interactions, catalog: Catalog):
    """Customers × products: margin of what each bought in the test (units × unit margin)."""
    import scipy.sparse as sp

    return sp.csr_matrix((test.qty * catalog.margin[test.prod], (test.cust, test.prod)),
                         shape=(test.n_customers, test.n_products))


def _lookup(M, picks: np.ndarray, values: bool = False) -> np.ndarray:
    """``M[row, pick]`` for every pick of every row (``picks`` -1: 0).

    Booleans (bought or not) unless ``values``.
    """
    n, k = picks.shape
    out = np.zeros((n, k))
    M = M.tocsr()
    for j in range(k):
        ok = picks[:, j] >= 0
        r = np.flatnonzero(ok)
        out[r, j] = np.asarray(M[r, picks[r, j]]).ravel()
    return out if values else out > 0


def _high_share(picks: np.ndarray, catalog: Catalog) -> float:
    """The share of lists with at least one pick in the catalog's top margin quartile."""
    cut = np.quantile(catalog.margin, 0.75)
    hi = (picks >= 0) & (catalog.margin[np.maximum(picks, 0)] >= cut)
    has = (picks >= 0).any(axis=1)
    return float(hi.any(axis=1)[has].mean()) if has.any() else float("nan")


def sweep(generator, data: Interactions, catalog: Catalog, settings: list[dict],
          k: int = 4, horizon_days: float = 30.0) -> Evaluation:
    """One generator under several re-ranking settings, on the same split: the trade-off.

    ``generator`` is a :class:`.candidates.Recommender` class (refitted per setting, so
    the settings do not share state); ``settings`` are :class:`.rerank.Rerank` keyword
    dicts, each a row labelled by its weights (the first row is the baseline).
    """
    if not settings:
        raise RecommendInputError("sweep: no settings")
    labels = [", ".join(f"{k_}={v:g}" for k_, v in s.items()) or "relevance only"
              for s in settings]
    models = {lab: generator() for lab in labels}
    reranks = {lab: Rerank(k=k, **s) for lab, s in zip(labels, settings, strict=True)}
    return evaluate(models, data, catalog, k=k, horizon_days=horizon_days, rerank=reranks)
