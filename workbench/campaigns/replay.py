"""Replay a campaign config in the simulator: the closed loop before anything ships.

The same store — the dataset's simulator config, so the same customers and
catalogue — is simulated under the baseline campaigns and under the new ones
with the **same seeds**: the simulator draws every customer's behaviour from
keyed random numbers (common random numbers), so the difference between the two
runs is the effect of the config change, not noise between two different
stores.  Replication ``r`` uses seed ``dataset seed + r``; the interval of each
difference is a t interval over the replications' paired differences.

Metrics: revenue, margin (revenue − goods cost − message cost), discount cost,
messages sent, unsubscribes, recovered carts (abandoned carts later bought) and
carts recovered *because of* a message (the simulator's truth).

Everything in the campaigns is replayed, including the discount rule per observable
segment: the simulator labels each customer with the rule's segmentation from the
orders placed before the send (:meth:`workbench.simulate.engine._Engine.segment_labels`)
and gives that segment's discount.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .config import CampaignConfig, baseline_from_dataset, diff_configs

METRICS = ("revenue", "margin", "discount_cost", "messages_sent", "unsubscribes",
           "recovered_carts", "carts_recovered_by_messages")


def store_metrics(store) -> dict[str, float]:
    """The replay metrics of one simulated store (a :class:`SimulatedStore`)."""
    o = store.to_pandas("orders")
    oi = store.to_pandas("order_items")
    m = store.to_pandas("messages")
    carts = store.to_pandas("truth/carts")
    goods = float((oi.quantity * oi.unit_cost).sum())
    msg_cost = float(m.cost.sum())
    revenue = float(o.revenue.sum())
    return {"revenue": revenue, "margin": revenue - goods - msg_cost,
            "discount_cost": float(o.discount_amount.sum()), "messages_sent": float(len(m)),
            "unsubscribes": float(m.unsubscribed_at.notna().sum()),
            "recovered_carts": float((carts.outcome != "lost").sum()),
            "carts_recovered_by_messages": float((carts.outcome == "caused_by_message").sum())}


@dataclass
class ReplayResult:
    """Baseline against new config: per metric, means and the paired difference."""

    table: pd.DataFrame  # metric, baseline, new, difference, low, high (over replications)
    runs: pd.DataFrame  # replication, config, metric values
    changes: list[str]  # the config diff in words
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = ["What changed: " + ("; ".join(self.changes) if self.changes else
                                     "nothing — the configs are the same") + "."]
        n = self.settings["replications"]
        for r in self.table.itertuples():
            iv = (f" [{r.low:+,.1f}, {r.high:+,.1f}]" if np.isfinite(r.low) else "")
            lines.append(f"{r.metric.replace('_', ' ')}: {r.baseline:,.1f} → {r.new:,.1f} "
                         f"({r.difference:+,.1f}{iv}, 95% over {n} replications)")
        return "\n".join(lines + self.notes)

    __str__ = summary

    def _repr_html_(self) -> str:
        return f"<pre>{self.summary()}</pre>" + self.table.round(2).to_html(index=False)

    def to_dict(self) -> dict:
        return {"changes": self.changes, "settings": self.settings, "notes": self.notes,
                "table": self.table.to_dict(orient="records")}

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
    ``r`` on seed ``seed + r``.

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
        from ..simulate.config import SimulationConfig

        if replications < 1:
            raise ValueError(f"replications must be >= 1, not {replications}")
        over = {k: v for k, v in (("n_customers", n_customers), ("days", days))
                if v is not None}
        self.sim_config = SimulationConfig.model_validate(
            {**sim_config.model_dump(), **over})
        self.seed = int(seed)
        self.replications = replications
        self.baseline = baseline or CampaignConfig(campaigns=self.sim_config.campaigns)
        self.settings = {"dataset": None if dataset is None else str(dataset),
                         "replications": replications,
                         "seeds": [self.seed + r for r in range(replications)], **over}
        self._cache: dict[str, pd.DataFrame] = {}
        self._cache_size = cache_size

    @classmethod
    def from_dataset(cls, dataset, baseline: CampaignConfig | None = None, **kw) -> Replayer:
        """The store a simulated dataset came from (its manifest's config and seed)."""
        from ..simulate.config import SimulationConfig
        from ..store import load_manifest

        m = load_manifest(dataset)
        if "config" not in m:
            raise ValueError(f"{dataset}: the manifest records no simulator config; only a "
                             "simulated dataset can be replayed")
        return cls(SimulationConfig.model_validate(m["config"]), seed=int(m.get("seed", 0)),
                   baseline=baseline or baseline_from_dataset(dataset), dataset=dataset, **kw)

    def runs(self, config: CampaignConfig, echo=None, label: str = "") -> pd.DataFrame:
        """The metrics of each replication under ``config`` (cached)."""
        from ..simulate import simulate
        from ..simulate.config import SimulationConfig

        key = config.campaigns.model_dump_json()
        if key not in self._cache:
            rows = []
            for r in range(self.replications):
                cfg = SimulationConfig.model_validate(
                    {**self.sim_config.model_dump(), "campaigns": config.campaigns.model_dump()})
                rows.append({"replication": r,
                             **store_metrics(simulate(cfg, seed=self.seed + r))})
                if echo:
                    echo(f"replication {r + 1}/{self.replications}: {label} done")
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = pd.DataFrame(rows)
        return self._cache[key]

    def run(self, new: CampaignConfig, echo=None) -> ReplayResult:
        """``new`` against the baseline: paired differences with 95% t intervals."""
        b = self.runs(self.baseline, echo, "baseline").set_index("replication")[list(METRICS)]
        n_ = self.runs(new, echo, "new").set_index("replication")[list(METRICS)]
        diff = n_ - b
        out = []
        for k in METRICS:
            d = diff[k].to_numpy()
            mean = float(d.mean())
            if len(d) > 1 and d.std(ddof=1) > 0:
                half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
            elif len(d) > 1:
                half = 0.0  # identical differences in every replication (e.g. the same config)
            else:
                half = np.nan
            out.append({"metric": k, "baseline": float(b[k].mean()), "new": float(n_[k].mean()),
                        "difference": mean, "low": mean - half, "high": mean + half})
        runs = pd.concat([b.reset_index().assign(config="baseline"),
                          n_.reset_index().assign(config="new")], ignore_index=True)
        return ReplayResult(table=pd.DataFrame(out),
                            runs=runs[["replication", "config", *METRICS]],
                            changes=diff_configs(self.baseline, new),
                            settings=dict(self.settings), notes=list(new.provenance.notes))


def replay(dataset, new: CampaignConfig, baseline: CampaignConfig | None = None,
           replications: int = 3, n_customers: int | None = None, days: int | None = None,
           echo=None) -> ReplayResult:
    """Simulate the dataset's store under ``baseline`` and ``new`` with the same seeds.

    ``baseline`` defaults to the campaigns the dataset was simulated with;
    ``n_customers`` / ``days`` replay a smaller store (faster, same behaviour).
    """
    return Replayer.from_dataset(dataset, baseline, replications=replications,
                                 n_customers=n_customers, days=days).run(new, echo=echo)
