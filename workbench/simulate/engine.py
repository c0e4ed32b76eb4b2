"""The store simulator: customers, browsing, carts, orders, campaigns and their truth.

The generative story
--------------------
1. **Customers** arrive uniformly over the window and are acquired by a first
   order.  Their repeat purchases follow the BG/NBD story (Fader, Hardie & Lee
   2005, "Counting your customers the easy way", Marketing Science 24(2),
   assumptions i-v): Poisson purchases at rate ``lambda ~ Gamma(r, alpha)``
   while alive, dropout with probability ``p ~ Beta(a, b)`` after each repeat
   purchase.  Order values follow the Gamma-Gamma story (Fader, Hardie & Lee
   2005, "RFM and CLV", JMR 42(4), eq. 1-2): ``z ~ Gamma(p, nu)``,
   ``nu ~ Gamma(q, gamma)``.  The acquisition channel shifts ``alpha``, ``b``
   and ``gamma`` so each channel's customers follow exact BG/NBD and
   Gamma-Gamma laws with their own parameters (written to ``truth/params.json``).
2. **Sessions**: every purchase occasion is a session that views products,
   fills a cart and checks out; some carts are abandoned first and the customer
   returns naturally after a log-normal delay that depends on the purchase type.
   Browse sessions (a Poisson process while alive) view products and sometimes
   leave a cart that would never come back on its own.
3. **Campaigns** read the campaign config and run in a day loop: abandoned cart
   (a randomized delay x channel experiment with a no-message holdout),
   browse abandonment, post-purchase cross-sell, replenishment and seasonal
   offers (a randomized discount experiment).  Frequency caps and
   unsubscribes (whose probability rises with recent message volume) are state.
4. **Outcomes** of a message are drawn with common random numbers (see
   :mod:`workbench.simulate.random`): a message *causes* a conversion only when
   the customer is persuaded *and* would not have bought in the window anyway;
   a click by someone who would have bought anyway moves their purchase onto
   the message (it is attributed, not caused), and a discount they redeem is a
   subsidy.  Machine opens (Apple Mail privacy protection) register an open for
   every delivered email to those customers.

All time inside the engine is float days since ``config.start_date`` (UTC).

Where each part lives
---------------------
- :mod:`~workbench.simulate.world`: catalog, customers, baskets, organic sessions,
  carts and orders (steps 1-2);
- :mod:`~workbench.simulate.loop`: the day loop, its queue and the experiments;
- :mod:`~workbench.simulate.campaigns`: one class per campaign, in a registry;
- :mod:`~workbench.simulate.messaging`: reachability, holdouts, caps, engagement
  and conversions (step 4);
- :mod:`~workbench.simulate.tables`: the canonical tables;
- :mod:`~workbench.simulate.truth_tables`: the ``truth/*`` tables and parameters.

This module is the entry point: :func:`simulate` and :class:`SimulatedStore`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .. import __version__
from .common import release_free_heap
from .config import SimulationConfig
from .loop import DayLoop
from .random import KeyedUniform
from .tables import TABLE_NAMES, build_activity, build_tables, publish
from .truth_tables import build_truth
from .world import World


@dataclass
class SimulatedStore:
    """What :func:`simulate` returns: canonical tables, truth tables, metadata."""

    tables: dict[str, pa.Table]
    truth: dict[str, pa.Table]
    truth_params: dict
    config: SimulationConfig
    seed: int
    stats: dict = field(default_factory=dict)

    def manifest_info(self) -> dict:
        return {
            "generator": f"workbench.simulate {__version__}",
            "seed": self.seed,
            "config_hash": self.config.config_hash(),
            "config": self.config.model_dump(mode="json"),
        }

    def to_pandas(self, name: str):
        """Return one canonical (or ``truth/NAME``) table as a pandas DataFrame."""
        from ..store import arrow_to_pandas

        if name.startswith("truth/"):
            return arrow_to_pandas(self.truth[name.removeprefix("truth/")])
        return arrow_to_pandas(self.tables[name])


def simulate(config: SimulationConfig | None = None, seed: int = 0,
             progress: Callable[[int], None] | None = None) -> SimulatedStore:
    """Simulate a store and return its canonical tables and ground truth.

    Parameters
    ----------
    config
        The store; default :class:`SimulationConfig` (20,000 customers, 365 days).
    seed
        Seed of every random draw.  Same seed and config give identical tables.
    progress
        Called with ``1`` after each simulated day (for progress bars).

    Examples
    --------
    >>> from workbench.simulate import scenario, simulate
    >>> store = simulate(scenario("tiny"), seed=1)
    >>> sorted(store.tables)[:3]
    ['assignments', 'customers', 'events']
    """
    cfg = config or SimulationConfig()
    seed = int(seed)
    _, rng_occasions, rng_tables = (np.random.default_rng(s)
                                    for s in np.random.SeedSequence(seed).spawn(3))
    # the customers' traits (rng_world) too, so replications of a store can have the same
    # customers behave anew (customers_seed): per-customer policies are replayable
    cust_seed = seed if cfg.customers_seed is None else int(cfg.customers_seed)
    rng_world = np.random.default_rng(np.random.SeedSequence(cust_seed).spawn(3)[0])
    # the catalog has a stream of its own, so replications of a store (other seeds) can
    # sell the same catalog (products.catalog_seed)
    cat_seed = seed if cfg.products.catalog_seed is None else int(cfg.products.catalog_seed)
    rng_catalog = np.random.default_rng(np.random.SeedSequence(cat_seed).spawn(4)[3])
    # habits added later (weekend reading hours) draw from a stream of their own, so the
    # draws that came before them stay the same
    rng_habits = np.random.default_rng(np.random.SeedSequence(cust_seed).spawn(5)[4])
    world = World(cfg, rng_world, rng_catalog, rng_habits)
    # research browsing (issue 18) has a stream of its own too: the draws before it stay
    rng_research = np.random.default_rng(np.random.SeedSequence(seed).spawn(6)[5])
    rng_reorder = np.random.default_rng(np.random.SeedSequence(seed).spawn(7)[6])
    rng_dwell = np.random.default_rng(np.random.SeedSequence(seed).spawn(8)[7])
    world.build_occasions(rng_occasions, rng_research, rng_reorder, rng_dwell)
    world.baskets.finalize()
    loop = DayLoop(cfg, world, KeyedUniform(seed), progress)
    loop.run()
    published = publish(cfg, world, loop, rng_tables)
    tables = build_tables(cfg, world, loop, published)
    truth, params = build_truth(cfg, world, published, loop.messaging.message_appeal.v)
    caused_orders = int(world.orders.n - world.n_organic)
    # the events table is by far the largest: build it when all but what it needs is gone
    published.release_messages()
    catalog, baskets = world.catalog, world.baskets
    del world, loop
    gc.collect()  # the day loop and its campaigns reference each other
    release_free_heap()
    tables.update(build_activity(cfg, catalog, baskets, published, rng_tables))
    tables = {name: tables[name] for name in TABLE_NAMES}
    stats = {"customers": cfg.n_customers, "days": cfg.days,
             "events": tables["events"].num_rows, "caused_orders": caused_orders}
    return SimulatedStore(tables=tables, truth=truth, truth_params=params, config=cfg,
                          seed=seed, stats=stats)
