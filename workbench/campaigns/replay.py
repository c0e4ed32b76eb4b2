"""Replay a campaign config in the simulator: the closed loop before anything ships.

The same store — the dataset's simulator config, so the same customers and
catalogue — is simulated under the baseline campaigns and under the new ones
with the **same seeds**: the simulator draws every customer's behaviour from
keyed random numbers (common random numbers), so the difference between the two
runs is the effect of the config change, not noise between two different
stores (common random numbers; Law 2015, *Simulation Modeling and Analysis*, 5th
ed., sec. 11.2).  Replication ``r`` uses seed ``dataset seed + r``.

Intervals come from the paired differences **per customer**: the simulator's
customers are independent (each one's caps, unsubscribes and outcomes depend only
on their own keyed draws), so with ``d_i`` the new-minus-baseline value of
customer ``i`` over ``n = R × N`` customer-replications, the store-level
difference is ``N × mean(d)`` with standard error ``N × sd(d) / √n`` and a t
interval on ``n − 1`` degrees of freedom (the paired-difference interval of Law
2015, eq. 10.3, with customers as the pairs).  One replication of a few thousand
customers already gives an interval — which is what makes the policy lab fast —
where an interval over replications alone would need many whole stores.

Metrics: revenue, margin (revenue − goods cost − message cost), discount cost,
messages sent, email clicks (what a send-time policy moves), unsubscribes, recovered
carts (abandoned carts later bought) and carts recovered *because of* a message (the
simulator's truth).

Everything in the campaigns is replayed, including the discount rule per observable
segment: the simulator labels each customer with the rule's segmentation from the
orders placed before the send (:meth:`workbench.simulate.world.World.segment_labels`)
and gives that segment's discount.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..results import Result
from ..simulate import simulate
from ..simulate.config import SimulationConfig
from ..store import load_manifest
from .config import CampaignConfig, baseline_from_dataset, diff_configs

METRICS = ("revenue", "margin", "discount_cost", "messages_sent", "email_clicks",
           "unsubscribes", "recovered_carts", "carts_recovered_by_messages")


def customer_metrics(store) -> pd.DataFrame:
    """The replay metrics of each customer of one simulated store (index ``customer_id``).

    Every customer has a row (zeros for those with nothing); the store's totals are
    the column sums (:func:`store_metrics`).
    """
    o = store.to_pandas("orders")
    oi = store.to_pandas("order_items")
    m = store.to_pandas("messages")
    carts = store.to_pandas("truth/carts")
    ids = pd.RangeIndex(1, store.config.n_customers + 1, name="customer_id")
    goods = (oi.quantity * oi.unit_cost).groupby(oi.order_id).sum()
    oc = o.set_index("order_id").customer_id
    goods_c = goods.groupby(oc.reindex(goods.index).to_numpy()).sum()

    def by(values, key) -> pd.Series:
        return pd.Series(values).groupby(np.asarray(key)).sum().reindex(ids, fill_value=0)

    revenue = by(o.revenue.to_numpy(), o.customer_id)
    out = pd.DataFrame({
        "revenue": revenue,
        "margin": revenue - goods_c.reindex(ids, fill_value=0.0)
        - by(m.cost.to_numpy(), m.customer_id),
        "discount_cost": by(o.discount_amount.to_numpy(), o.customer_id),
        "messages_sent": by(np.ones(len(m)), m.customer_id),
        "email_clicks": by(((m.channel == "email") & m.clicked_at.notna()).to_numpy(float),
                           m.customer_id),
        "unsubscribes": by(m.unsubscribed_at.notna().to_numpy(float), m.customer_id),
        "recovered_carts": by((carts.outcome != "lost").to_numpy(float), carts.customer_id),
        "carts_recovered_by_messages": by((carts.outcome == "caused_by_message").to_numpy(
            float), carts.customer_id)}, index=ids)
    return out.astype(float)


def store_metrics(store) -> dict[str, float]:
    """The replay metrics of one simulated store (a :class:`SimulatedStore`)."""
    return {k: float(v) for k, v in customer_metrics(store).sum().items()}


@dataclass
class ReplayResult(Result):
    """Baseline against new config: per metric, means and the paired difference."""

    _html_table = "table"
    _skip_in_dict = ("runs",)

    table: pd.DataFrame  # metric, baseline, new, difference, low, high (per store)
    runs: pd.DataFrame  # replication, config, metric values
    changes: list[str]  # the config diff in words
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = ["What changed: " + ("; ".join(self.changes) if self.changes else
                                     "nothing — the configs are the same") + "."]
        for r in self.table.itertuples():
            iv = (f" [{r.low:+,.1f}, {r.high:+,.1f}]" if np.isfinite(r.low) else "")
            lines.append(f"{r.metric.replace('_', ' ')}: {r.baseline:,.1f} → {r.new:,.1f} "
                         f"({r.difference:+,.1f}{iv}, 95%)")
        lines.append(f"Intervals over {self.basis}.")
        return "\n".join(lines + self.notes)

    @property
    def basis(self) -> str:
        """What the intervals are over, in words."""
        s = self.settings
        n, r = s.get("store_customers"), s["replications"]
        who = f"{n:,} customers" if isinstance(n, int) else "the customers"
        return f"{who} × {r} replication{'s' if r > 1 else ''} (paired per customer)"


    def chart(self):
        """Altair: the difference per metric with its interval (relative to baseline)."""
        import altair as alt

        d = self.table.assign(rel=lambda t: t.difference / t.baseline.where(t.baseline != 0),
                              rel_low=lambda t: t.low / t.baseline.where(t.baseline != 0),
                              rel_high=lambda t: t.high / t.baseline.where(t.baseline != 0))
        base = alt.Chart(d).encode(y=alt.Y("metric:N", title=None))
        pts = base.mark_point(filled=True, size=60).encode(
            x=alt.X("rel:Q", title="change against baseline", axis=alt.Axis(format="%")),
            tooltip=["metric", alt.Tooltip("difference:Q", format=",.1f"),
                     alt.Tooltip("low:Q", format=",.1f"), alt.Tooltip("high:Q", format=",.1f")])
        err = base.mark_rule().encode(x="rel_low:Q", x2="rel_high:Q")
        zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color="gray").encode(x="x:Q")
        return (zero + err + pts).properties(width=360, height=180,
                                             title="Replayed effect of the config change")


class Replayer:
    """One store to replay configs on, each config's runs cached.

    The baseline's replications are simulated once; a config already replayed (the
    policy lab's slider moved back, the CLI's baseline) costs nothing.  The store is
    ``sim_config`` (its campaigns are replaced by each config's) with replication
    ``r`` on seed ``seed + r``; every replication sells the catalog of seed ``seed``
    and has the customers of seed ``seed`` (unless ``sim_config.products.catalog_seed``
    or ``sim_config.customers_seed`` names another).  A store of another size
    (``n_customers``) has other customers: a per-customer policy is replayed at the
    dataset's own size.

    Examples
    --------
    >>> from workbench.simulate.config import scenario
    >>> rp = Replayer(scenario("tiny", n_customers=150, days=30), seed=1, replications=2)
    >>> res = rp.run(rp.baseline)
    >>> float(res.table.difference.abs().max())
    0.0
    """

    def __init__(self, sim_config, seed: int = 0, baseline: CampaignConfig | None = None,
                 replications: int = 3, n_customers: int | None = None,
                 days: int | None = None, dataset=None, cache_size: int = 64):
        if replications < 1:
            raise ValueError(f"replications must be >= 1, not {replications}")
        over = {k: v for k, v in (("n_customers", n_customers), ("days", days))
                if v is not None}
        # a config is replayed over the whole run: the dataset's later periods are not
        data = {**sim_config.model_dump(), **over, "periods": []}
        if data["products"]["catalog_seed"] is None:
            # every replication sells the store's own catalog (the one product ids in a
            # config, such as a cross-sell map, refer to)
            data["products"] = {**data["products"], "catalog_seed": int(seed)}
        if data.get("customers_seed") is None:
            # and has the store's own customers (the ones a per-customer policy names),
            # each replication drawing their behaviour anew
            data["customers_seed"] = int(seed)
        self.sim_config = SimulationConfig.model_validate(data)
        self.seed = int(seed)
        self.replications = replications
        self.baseline = baseline or CampaignConfig(campaigns=self.sim_config.campaigns)
        self.settings = {"dataset": None if dataset is None else str(dataset),
                         "replications": replications,
                         "seeds": [self.seed + r for r in range(replications)], **over}
        self._cache: OrderedDict[str, list[pd.DataFrame]] = OrderedDict()
        self._cache_size = max(int(cache_size), 2)

    @classmethod
    def from_dataset(cls, dataset, baseline: CampaignConfig | None = None, **kw) -> Replayer:
        """The store a simulated dataset came from (its manifest's config and seed)."""
        m = load_manifest(dataset)
        if "config" not in m:
            raise ValueError(f"{dataset}: the manifest records no simulator config; only a "
                             "simulated dataset can be replayed")
        return cls(SimulationConfig.model_validate(m["config"]), seed=int(m.get("seed", 0)),
                   baseline=baseline or baseline_from_dataset(dataset), dataset=dataset, **kw)

    def customer_runs(self, config: CampaignConfig, echo=None, label: str = ""
                      ) -> list[pd.DataFrame]:
        """Per replication, each customer's metrics under ``config`` (cached)."""
        key = config.campaigns.model_dump_json()
        if key in self._cache:
            self._cache.move_to_end(key)  # least recently used goes first
        else:
            frames = []
            for r in range(self.replications):
                cfg = SimulationConfig.model_validate(
                    {**self.sim_config.model_dump(), "campaigns": config.campaigns.model_dump()})
                frames.append(customer_metrics(simulate(cfg, seed=self.seed + r)))
                if echo:
                    echo(f"replication {r + 1}/{self.replications}: {label} done")
            base_key = self.baseline.campaigns.model_dump_json()
            while len(self._cache) >= self._cache_size:
                old = next(k for k in self._cache if k != base_key)  # the baseline stays
                del self._cache[old]
            self._cache[key] = frames
        return [f.copy() for f in self._cache[key]]  # callers cannot alter the cache

    def runs(self, config: CampaignConfig, echo=None, label: str = "") -> pd.DataFrame:
        """The store totals of each replication under ``config``."""
        return pd.DataFrame([{"replication": r, **f.sum().to_dict()}
                             for r, f in enumerate(self.customer_runs(config, echo, label))])

    def run(self, new: CampaignConfig, echo=None) -> ReplayResult:
        """``new`` against the baseline: paired differences with 95% t intervals."""
        base = self.customer_runs(self.baseline, echo, "baseline")
        cand = self.customer_runs(new, echo, "new")
        d = pd.concat([c - b for b, c in zip(base, cand, strict=True)], ignore_index=True)
        n_store = self.sim_config.n_customers
        n = len(d)
        out = []
        for k in METRICS:
            x = d[k].to_numpy()
            mean = n_store * float(x.mean())
            sd = float(x.std(ddof=1)) if n > 1 else np.nan
            half = (float(stats.t.ppf(0.975, n - 1)) * n_store * sd / np.sqrt(n)
                    if n > 1 else np.nan)
            out.append({"metric": k,
                        "baseline": float(np.mean([f[k].sum() for f in base])),
                        "new": float(np.mean([f[k].sum() for f in cand])),
                        "difference": mean, "low": mean - half, "high": mean + half})
        runs = pd.concat([self.runs(self.baseline).assign(config="baseline"),
                          self.runs(new).assign(config="new")], ignore_index=True)
        return ReplayResult(table=pd.DataFrame(out),
                            runs=runs[["replication", "config", *METRICS]],
                            changes=diff_configs(self.baseline, new),
                            settings={**self.settings, "store_customers": n_store},
                            notes=list(new.provenance.notes))


def replay(dataset, new: CampaignConfig, baseline: CampaignConfig | None = None,
           replications: int = 3, n_customers: int | None = None, days: int | None = None,
           echo=None) -> ReplayResult:
    """Simulate the dataset's store under ``baseline`` and ``new`` with the same seeds.

    ``baseline`` defaults to the campaigns the dataset was simulated with;
    ``n_customers`` / ``days`` replay a smaller store (faster, same behaviour).
    """
    return Replayer.from_dataset(dataset, baseline, replications=replications,
                                 n_customers=n_customers, days=days).run(new, echo=echo)
