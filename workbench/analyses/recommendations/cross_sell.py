"""Post-purchase cross-sell lists for the campaign config, and their replay against the truth.

:func:`post_purchase_picks` turns a store's orders into what a post-purchase flow loads:
after each product, the products to show (bought next, re-ranked for relevance,
diversity and margin) and a popular list to fill with — a
:class:`~workbench.simulate.config.ProductPicks` for ``campaigns.post_purchase.recommender``.

:func:`replay_recommenders` measures such lists the only way that needs no model of the
customer: the store is simulated again under each way of picking products (random,
popular, the customer's own preferences as a personalized feed would guess them, and the
cross-sell lists) with common random numbers, and the per-customer margin differences
give paired intervals (:class:`~workbench.campaigns.replay.Replayer`).  The lists are
learnt on one period of the store (a seed) and replayed on other customers of the same
catalog (other seeds), so nothing they are scored on was seen when they were made.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...recommend import BoughtNext, Popularity, Rerank, cross_sell_lists
from ...results import Result
from ...simulate.config import ProductPicks
from .features import store_inputs

#: products in the popular list a cross-sell list is filled from
POPULAR_LIST = 20
#: best sellers per category a browse reminder chooses from
PER_CATEGORY = 10


def best_sellers(data, catalog) -> np.ndarray:
    """In-stock product codes with buyers in the last 90 days, the most distinct buyers first.

    :class:`~workbench.recommend.Popularity`'s ranking: what both a popular fill list and
    the best sellers per category are cut from.
    """
    pop = Popularity().fit(data, catalog).prior_
    order = pop.argsort(kind="stable")[::-1]
    return order[(pop[order] > 0) & catalog.in_stock[order]]


def post_purchase_picks(con, as_of=None, k: int = 4, rerank: Rerank | None = None,
                        model=None, inputs=None) -> tuple[pd.DataFrame, ProductPicks | None]:
    """``(table, picks)``: per-product cross-sell lists from a store's orders.

    ``model`` (default :class:`~workbench.recommend.BoughtNext`) is fitted on the orders
    up to ``as_of``; ``rerank`` (default the email slots' weights, ``k`` products) orders
    each product's candidates.  ``table`` is
    :func:`~workbench.recommend.cross_sell_lists`; ``picks`` carries the same lists and
    the 90-day popular list for the campaign config (``None`` when no product leads
    to another, as in an order-level import whose lines have no products).  ``inputs``:
    the ``(data, catalog)`` of :func:`store_inputs`, when already read.
    """
    data, catalog = inputs or store_inputs(con, as_of)
    rr = rerank or Rerank.for_channel("email", k=k)
    m = (model or BoughtNext()).fit(data, catalog)
    table = cross_sell_lists(m, catalog, rr)
    popular = [str(catalog.product_ids[i]) for i in best_sellers(data, catalog)[:POPULAR_LIST]]
    lists = {str(p): [str(x) for x in g.sort_values("rank").recommended_product_id]
             for p, g in table.groupby("product_id", sort=False)}
    if not lists:
        return table, None
    picks = ProductPicks(source="cross_sell", cross_sell=lists, popular=popular, made_by={
        "model": m.name, "k": rr.k, "relevance": rr.relevance, "diversity": rr.diversity,
        "margin": rr.margin, "as_of": None if as_of is None else str(as_of),
        "orders_up_to_day": float(data.end)})
    return table, picks


def browse_picks(con, as_of=None, per_category: int = PER_CATEGORY,
                 inputs=None) -> ProductPicks | None:
    """What a browse reminder shows: the category's best sellers of the last 90 days.

    The ``per_category`` products of each category with the most distinct buyers
    (:func:`best_sellers`), in stock, as one list best first; the reminder shows the
    first in the viewed category.  ``None`` when nobody bought.  ``inputs`` as in
    :func:`post_purchase_picks`.
    """
    data, catalog = inputs or store_inputs(con, as_of)
    order = best_sellers(data, catalog)
    rank_in_cat = pd.Series(catalog.category[order]).groupby(
        catalog.category[order]).cumcount().to_numpy()
    keep = order[rank_in_cat < per_category]
    if not len(keep):
        return None
    return ProductPicks(source="popular", popular=[str(catalog.product_ids[i]) for i in keep],
                        made_by={"model": "popularity (90 days)", "per_category": per_category,
                                 "as_of": None if as_of is None else str(as_of)})


@dataclass
class RecommenderReplay(Result):
    """Each way of picking products, replayed, against random picks or any in-category one.

    Post-purchase sources against random (and popular) products; browse reminders'
    best sellers against any product of the viewed category.
    """

    _html_table = "table"

    table: pd.DataFrame  # source, metric, baseline, new, difference, low, high, against
    settings: dict = field(default_factory=dict)

    def effect(self, source: str, against: str = "random", metric: str = "margin"):
        """The row of ``source`` against ``against`` for ``metric``."""
        t = self.table
        return t[(t.source == source) & (t.against == against) & (t.metric == metric)].iloc[0]

    def summary(self) -> str:
        s = self.settings
        parts = []
        for src in ("popular", "affinity", "cross_sell"):
            r = self.effect(src)
            parts.append(f"{src} {r.difference:+,.0f} [{r.low:+,.0f}, {r.high:+,.0f}]")
        c = self.effect("cross_sell", "popular")
        out = (f"Post-purchase margin over {s['replications']} replications of "
               f"{s['n_customers']:,} customers × {s['days']} days, against random products: "
               + "; ".join(parts) + f". Cross-sell against popular: {c.difference:+,.0f} "
               f"[{c.low:+,.0f}, {c.high:+,.0f}].")
        if (self.table.source == "browse_best_sellers").any():
            b = self.effect("browse_best_sellers", "browse_any_product")
            out += (f" Browse reminders showing the viewed category's best sellers instead "
                    f"of any of its products: {b.difference:+,.0f} [{b.low:+,.0f}, "
                    f"{b.high:+,.0f}].")
        return out


def replay_recommenders(sim_config, train_seed: int, replay_seed: int,
                        replications: int = 3, workdir=None,
                        n_customers: int | None = None) -> RecommenderReplay:
    """Replay random, popular, affinity and cross-sell post-purchase picks on new customers.

    The store ``sim_config`` is simulated on ``train_seed`` and the lists are learnt from
    its orders (:func:`post_purchase_picks`); every replay runs seeds ``replay_seed +
    r`` with the catalog of ``train_seed`` (``products.catalog_seed``).  Differences are
    the :class:`~workbench.campaigns.replay.Replayer`'s paired per-customer intervals.
    """
    import tempfile
    from pathlib import Path

    from ...campaigns.config import CampaignConfig
    from ...campaigns.replay import Replayer
    from ...simulate import simulate
    from ...simulate.config import SimulationConfig
    from ...store import open_dataset, save_simulation

    data = sim_config.model_dump()
    data["products"] = {**data["products"], "catalog_seed": int(train_seed)}
    cfg = SimulationConfig.model_validate(data)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = save_simulation(simulate(cfg, seed=train_seed), Path(tmp) / "train")
        inputs = store_inputs(open_dataset(path))
        _, picks = post_purchase_picks(None, inputs=inputs)
        browse = browse_picks(None, inputs=inputs)
    if picks is None:
        raise ValueError(f"seed {train_seed}: no product led to another; nothing to replay")

    def config(p: ProductPicks) -> CampaignConfig:
        camp = cfg.campaigns.model_dump()
        camp["post_purchase"]["recommender"] = p.model_dump()
        return CampaignConfig.model_validate({"campaigns": camp})

    sources = {"random": ProductPicks(source="random"),
               "popular": ProductPicks(source="popular", popular=picks.popular),
               "affinity": ProductPicks(source="affinity"), "cross_sell": picks}
    configs = {k: config(v) for k, v in sources.items()}
    rows = []
    for against in ("random", "popular"):
        rp = Replayer(cfg, seed=replay_seed, baseline=configs[against],
                      replications=replications, n_customers=n_customers)
        for src, c in configs.items():
            if src == against:
                continue
            t = rp.run(c).table
            rows.append(t.assign(source=src, against=against))
    if browse is not None:  # browse reminders: the category's best sellers, or any product
        camp = cfg.campaigns.model_dump()
        camp["browse_abandonment"]["recommender"] = browse.model_dump()
        rp = Replayer(cfg, seed=replay_seed, baseline=CampaignConfig(campaigns=cfg.campaigns),
                      replications=replications, n_customers=n_customers)
        rows.append(rp.run(CampaignConfig.model_validate({"campaigns": camp})).table.assign(
            source="browse_best_sellers", against="browse_any_product"))
    table = pd.concat(rows, ignore_index=True)[["source", "against", "metric", "baseline",
                                                "new", "difference", "low", "high"]]
    return RecommenderReplay(table, {"train_seed": train_seed, "replay_seed": replay_seed,
                                     "replications": replications,
                                     "n_customers": n_customers or cfg.n_customers,
                                     "days": cfg.days, "made_by": picks.made_by})
