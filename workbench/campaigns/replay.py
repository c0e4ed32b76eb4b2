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


def replay(dataset, new: CampaignConfig, baseline: CampaignConfig | None = None,
           replications: int = 3, n_customers: int | None = None, days: int | None = None,
           echo=None) -> ReplayResult:
    """Simulate the dataset's store under ``baseline`` and ``new`` with the same seeds.

    ``baseline`` defaults to the campaigns the dataset was simulated with;
    ``n_customers`` / ``days`` replay a smaller store (faster, same behaviour).
    """
    from ..simulate import simulate
    from ..simulate.config import SimulationConfig
    from ..store import load_manifest

    if replications < 1:
        raise ValueError(f"replications must be >= 1, not {replications}")
    m = load_manifest(dataset)
    if "config" not in m:
        raise ValueError(f"{dataset}: the manifest records no simulator config; only a "
                         "simulated dataset can be replayed")
    base_cfg = SimulationConfig.model_validate(m["config"])
    over = {k: v for k, v in (("n_customers", n_customers), ("days", days)) if v is not None}
    baseline = baseline or baseline_from_dataset(dataset)
    seed0 = int(m.get("seed", 0))
    echo = echo or (lambda *_: None)
    rows = []
    for r in range(replications):
        for label, cfg in (("baseline", baseline), ("new", new)):
            sim_cfg = base_cfg.model_copy(update={"campaigns": cfg.campaigns, **over})
            sim_cfg = SimulationConfig.model_validate(sim_cfg.model_dump())
            rows.append({"replication": r, "config": label,
                         **store_metrics(simulate(sim_cfg, seed=seed0 + r))})
            echo(f"replication {r + 1}/{replications}: {label} done")
    runs = pd.DataFrame(rows)
    b = runs[runs.config == "baseline"].set_index("replication")[list(METRICS)]
    n_ = runs[runs.config == "new"].set_index("replication")[list(METRICS)]
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
    notes = list(new.provenance.notes)
    return ReplayResult(table=pd.DataFrame(out), runs=runs,
                        changes=diff_configs(baseline, new),
                        settings={"dataset": str(dataset), "replications": replications,
                                  "seeds": [seed0 + r for r in range(replications)],
                                  **over},
                        notes=notes)
