"""Product recommendations on a store's own orders: evaluated, then exported per customer.

The generators of :mod:`workbench.recommend` (popularity over 90 days — what email
platforms' feeds use —, co-purchase, bought-next and implicit ALS) are compared on a
time split of the store's orders (hit rate and NDCG at k, coverage, diversity, margin
per send); the one with the best hit rate is refitted on all the orders and every
customer gets their list, re-ranked for relevance, diversity and margin, with the reason
for each product (:func:`analyze_recommendations`; ``workbench recommend`` and
``workbench run`` write it as ``recommendations.csv``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...files import atomic_path
from ...recommend import (
    BoughtNext,
    CoPurchase,
    Evaluation,
    ImplicitALS,
    Popularity,
    RecommendInputError,
    Rerank,
    customer_lists,
    evaluate,
)
from ...report import Kpi, Section
from ...results import Result
from ...simulate.config import ProductPicks
from ..base import Analysis, Context
from .cross_sell import (
    RecommenderReplay,
    browse_picks,
    post_purchase_picks,
    replay_recommenders,
)
from .features import order_lines, recent_sends, store_inputs

TITLE, ANCHOR = "Product recommendations", "recommendations"
INTRO = ("Which products should each customer see in an email? Every way of choosing "
         "them is tried on the store's own orders: fitted on the orders before a cutoff, "
         "asked for each customer's picks, and scored on what the customers bought in the "
         "weeks after — against the popularity feed email platforms use. The best is "
         "refitted on every order and each customer's list is re-ranked for relevance, "
         "variety (not four near-identical products) and margin.")

#: the generators compared, in the order of the table (the first is the baseline)
GENERATORS = {"popularity (90 days)": Popularity, "co-purchase": CoPurchase,
              "bought next": BoughtNext, "implicit ALS": ImplicitALS}


@dataclass
class StoreRecommendations(Result):
    """The offline comparison, the chosen generator and every customer's list."""

    _html_table = "table"
    _skip_in_dict = ("lists", "cross_sell", "picks", "browse")

    evaluation: Evaluation
    chosen: str
    lists: pd.DataFrame  # customer_id, rank, product_id, category, score, reason, framing
    settings: dict = field(default_factory=dict)
    cross_sell: pd.DataFrame | None = None  # product_id, rank, recommended_product_id, ...
    picks: ProductPicks | None = None  # the cross-sell lists for the campaign config
    browse: ProductPicks | None = None  # each category's best sellers, for browse reminders

    @property
    def table(self) -> pd.DataFrame:
        return self.evaluation.table

    def summary(self) -> str:
        s = self.settings
        t = self.table.set_index("model")
        r = t.loc[self.chosen]
        base = t.index[0]
        vs = ("" if self.chosen == base else
              f" against {base}'s {t.loc[base, 'hit_rate']:.1%} (difference "
              f"{r.hit_rate_diff:+.1%} [{r.diff_low:+.1%}, {r.diff_high:+.1%}])")
        return (f"On the store's orders, fitted before the last {s['horizon_days']:g} days and "
                f"scored on them, {self.chosen} had the best hit rate at {s['k']}: "
                f"{r.hit_rate:.1%} of the customers who bought found one of their picks"
                f"{vs}. Refitted on every order, it gives {self.lists.customer_id.nunique():,} "
                f"customers a list of up to {s['k']} ({s['channel']}), re-ranked with "
                f"weights relevance {s['weights']['relevance']:g}, diversity "
                f"{s['weights']['diversity']:g}, margin {s['weights']['margin']:g}.")


def analyze_recommendations(con, channel: str = "email", k: int | None = None,
                            horizon_days: float = 30.0, rerank: Rerank | None = None,
                            generators=None, sent_days: float = 7.0,
                            as_of=None) -> StoreRecommendations:
    """Evaluate the generators on a time split, refit the best, list every customer.

    ``channel`` sets the slots (email 4, SMS 1, site 4) unless ``k`` is given;
    ``rerank`` the weights (the same for every generator but popularity, which is
    ranked as its feed would be); products shown in the last ``sent_days`` are not
    repeated.  ``as_of``: the orders up to that time only.
    """
    rr = rerank or Rerank.for_channel(channel)
    k = k or rr.k
    gens = generators or GENERATORS
    data, catalog = store_inputs(con, as_of)
    models = {name: g() for name, g in gens.items()}
    first = next(iter(models))
    ev = evaluate(models, data, catalog, k=k, horizon_days=horizon_days,
                  rerank={n: rr for n in models if n != first})
    chosen = ev.table.set_index("model").hit_rate.idxmax()
    model = gens[chosen]().fit(data, catalog)
    customers = np.unique(data.cust)
    sent = _sent_matrix(recent_sends(con, sent_days, as_of), data, catalog, customers)
    final = rr if chosen != first else Rerank(k=k, diversity=0, margin=0, min_high_margin=0)
    lists = customer_lists(model, data, catalog, _with_k(final, k), customers, sent=sent)
    settings = {"channel": channel, "k": k, "horizon_days": horizon_days,
                "weights": {"relevance": rr.relevance, "diversity": rr.diversity,
                            "margin": rr.margin}, "min_high_margin": rr.min_high_margin,
                "costs_known": catalog.costs_known, "sent_days": sent_days,
                "products": catalog.n_products}
    # the post-purchase email's slots, whatever the channel of the customers' lists
    cross, picks = post_purchase_picks(con, as_of, inputs=(data, catalog))
    return StoreRecommendations(ev, chosen, lists, settings, cross, picks,
                                browse_picks(con, as_of, inputs=(data, catalog)))


def _with_k(rr: Rerank, k: int) -> Rerank:
    from dataclasses import replace

    return replace(rr, k=k)


def _sent_matrix(sent: pd.DataFrame, data, catalog, customers):
    """Customers × products (CSR, rows as ``customers``): shown recently."""
    import scipy.sparse as sp

    if sent.empty:
        return None
    row = pd.Index(data.customer_ids[customers]).get_indexer(sent.customer_id)
    col = pd.Index(catalog.product_ids).get_indexer(sent.product_id)
    ok = (row >= 0) & (col >= 0)
    m = sp.csr_matrix((np.ones(int(ok.sum())), (row[ok], col[ok])),
                      shape=(len(customers), catalog.n_products))
    m.data[:] = 1.0
    return m


class Recommendations(Analysis):
    """Generators compared on a time split; the best one's lists exported per customer."""

    name, title, anchor, intro = "recommendations", TITLE, ANCHOR, INTRO
    recommendation = "post-purchase cross-sell lists"
    needs = {"orders": ("order_id", "customer_id", "placed_at"),
             "order_items": ("order_id", "product_id", "quantity"),
             "products": ("product_id", "category", "price")}

    def run(self, ctx: Context):
        try:
            return analyze_recommendations(ctx.con)
        except RecommendInputError as exc:
            return self.skip(f"the orders cannot be evaluated yet: {exc}")

    def section(self, result: StoreRecommendations) -> Section:
        t = result.table.set_index("model")
        r = t.loc[result.chosen]
        kpis = [Kpi("rec-chosen", "recommender", result.chosen,
                    f"hit rate at {result.settings['k']}: {r.hit_rate:.1%}"),
                Kpi("rec-coverage", "catalog recommended", f"{r.coverage:.0%}",
                    f"diversity {r.diversity:.2f}"),
                Kpi("rec-customers", "customers with a list",
                    f"{result.lists.customer_id.nunique():,}", "recommendations.csv")]
        notes = [INTRO, result.summary(), result.evaluation.summary()]
        if not result.settings["costs_known"]:
            notes.append("The catalog has no unit costs: margin is the price.")
        sample = result.lists.head(12)
        return Section(title=TITLE, anchor=ANCHOR, paragraphs=notes, kpis=kpis,
                       tables=[("Offline evaluation on the last "
                                f"{result.settings['horizon_days']:g} days of orders "
                                "(hit-rate difference against the first row, 95% interval)",
                                result.table.round(4)),
                               ("The first lists (recommendations.csv has every customer)",
                                sample)]
                       + ([] if result.cross_sell is None else [
                           ("Post-purchase cross-sell: what follows each product "
                            "(cross_sell.csv has every product; the campaign config carries "
                            "them)", result.cross_sell.head(12).round(4))]))

    def export(self, result: StoreRecommendations, out, ctx: Context):
        files = {"recommendations": out / "recommendations.csv"}
        with atomic_path(files["recommendations"]) as tmp:
            result.lists.to_csv(tmp, index=False)
        if result.cross_sell is not None:
            files["cross_sell"] = out / "cross_sell.csv"
            with atomic_path(files["cross_sell"]) as tmp:
                result.cross_sell.to_csv(tmp, index=False)
        return files

    def config_part(self, result: StoreRecommendations, files):
        """Cross-sell lists for post-purchase emails, best sellers for browse reminders."""
        part = {} if result.picks is None else {"post_purchase_picks": result.picks}
        if result.browse is not None:
            part["browse_picks"] = result.browse
        return part


__all__ = ["GENERATORS", "RecommenderReplay", "Recommendations", "StoreRecommendations",
           "analyze_recommendations", "browse_picks", "order_lines", "post_purchase_picks",
           "recent_sends",
           "replay_recommenders", "store_inputs"]
