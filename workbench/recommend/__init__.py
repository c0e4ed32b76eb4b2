"""Product recommendations: candidates, re-ranking and offline evaluation on plain tables.

:mod:`.data` (order lines and the catalog as codes), :mod:`.candidates` (popularity,
co-purchase, bought-next, implicit ALS), :mod:`.rerank` (maximal marginal relevance with
relevance, diversity and margin weights, the channel's slots, a high-margin pick) and
:mod:`.offline` (hit rate, NDCG, coverage, diversity and margin per send on a time
split).  Like ``workbench.clv`` and ``workbench.attribution`` it knows nothing of
datasets: ``workbench.analyses.recommendations`` reads a store's tables into it.
"""

from .candidates import BoughtNext, CoPurchase, ImplicitALS, Popularity, Recommender
from .data import Catalog, Interactions, RecommendInputError
from .lists import complements, cross_sell_lists, customer_lists
from .offline import Evaluation, Split, evaluate, exclusions, sweep, time_split
from .rerank import SLOTS, Rerank, intra_list_diversity

__all__ = ["SLOTS", "BoughtNext", "Catalog", "CoPurchase", "Evaluation", "ImplicitALS",
           "Interactions", "Popularity", "RecommendInputError", "Recommender", "Rerank",
           "Split", "complements", "evaluate", "exclusions", "intra_list_diversity",
           "cross_sell_lists", "customer_lists", "sweep", "time_split"]
