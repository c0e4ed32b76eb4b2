"""A discount rule replayed in the simulator, next to what the margin model predicts for it.

The margin model predicts each rule's effect against no discount for all: the sum over
the customers a send reaches of their segment's incremental margin at the rule's level
(:func:`.margin.rule_effect`).  On a simulated dataset the same store can be run again
under the rule and under 0% for all, with common random numbers
(:class:`~workbench.campaigns.replay.Replayer`), so the prediction is checked against
what the store then earns — the replay counts every order and every discount over the
whole period, including what the model's week-long window cannot see.  Everyone gets
the rule in the replay (no experiment share), so the rule's effect is the whole story.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...campaigns.config import CampaignConfig, baseline_from_dataset
from ...campaigns.replay import Replayer
from ...results import Result
from ...segments import SegmentDiscountRule
from ...store import load_manifest
from .margin import MarginFit, rule_effect

#: the campaigns whose config takes a segment discount rule
CAMPAIGNS_WITH_RULES = ("seasonal", "abandoned_cart")


def rule_config(base: CampaignConfig, fit: MarginFit, rule: dict[str, float],
                campaign: str = "seasonal") -> CampaignConfig:
    """``base`` with everyone ``campaign`` reaches given ``rule`` (segment → fraction).

    ``campaign`` is ``"seasonal"`` or ``"abandoned_cart"``; its experiment share goes to 0
    (and a cart experiment's randomized discount levels are dropped), so the rule, or no
    discount when it offers none, is all there is.
    """
    if campaign not in CAMPAIGNS_WITH_RULES:
        raise ValueError(f"campaign: a discount rule applies to {CAMPAIGNS_WITH_RULES}, "
                         f"not {campaign!r}")
    data = base.model_dump(mode="json")
    camp = data["campaigns"][campaign]
    camp["experiment_share"] = 0.0
    if "discount_arms_pct" in camp:
        camp["discount_arms_pct"] = []
    pct = {s: round(100 * float(d), 6) for s, d in rule.items() if d > 0}
    camp["discount_rule"] = (SegmentDiscountRule(segmentation=fit.segmentation,
                                                 discount_pct=pct).model_dump(mode="json")
                             if pct else None)
    return CampaignConfig.model_validate(data)


@dataclass
class RuleReplay(Result):
    """Per rule: predicted and replayed margin effect against 0% for all, with intervals."""

    table: pd.DataFrame  # rule, predicted, pred_low, pred_high, replayed, low, high, agree
    settings: dict = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"Replayed on {self.settings['customers']:,} customers × "
                 f"{self.settings['replications']} replications, against 0% for all (margin "
                 "over the whole period; 95% intervals):"]
        for r in self.table.itertuples():
            lines.append(f"{r.rule}: predicted {r.predicted:+,.0f} [{r.pred_low:+,.0f}, "
                         f"{r.pred_high:+,.0f}], replayed {r.replayed:+,.0f} [{r.low:+,.0f}, "
                         f"{r.high:+,.0f}]" + ("" if r.agree else " — the intervals do not "
                                                "overlap"))
        return "\n".join(lines)


def replay_rules(dataset, fit: MarginFit, rules: dict[str, dict[str, float]],
                 replications: int = 3, n_customers: int | None = None,
                 campaign: str = "seasonal", echo=None) -> RuleReplay:
    """Replay each rule against 0% for all, next to the model's prediction for it.

    ``rules`` maps a name to a rule (segment → discount fraction, at tested levels).
    The rule named ``"recommended"`` is predicted by cross-fitting when the fit was
    decided with ``honest=True`` (:func:`.margin.crossfit`): it was chosen on the data,
    and its in-sample posterior is optimistic.
    For the seasonal campaign the prediction is scaled to the replayed store: the
    customers per segment of the experiment, divided by the share of customers the
    experiment held, times the replayed store's size over the dataset's.  For the cart
    reminder (``campaign="abandoned_cart"``) there is no prediction (NaN): with the
    experiment off, the carts reminded follow the timing policy, not the experiment's
    randomized delays, channels and holdout the effects were measured under.
    """
    if campaign not in CAMPAIGNS_WITH_RULES:
        raise ValueError(f"campaign: a discount rule applies to {CAMPAIGNS_WITH_RULES}, "
                         f"not {campaign!r}")
    manifest = load_manifest(dataset)
    if "config" not in manifest:
        raise ValueError(f"{dataset}: not a simulated dataset; a rule can only be replayed "
                         "in the simulator the data came from")
    cfg = manifest["config"]
    n_store = int(cfg.get("n_customers", 0))
    n = min(n_store, int(n_customers)) if n_customers else n_store
    share = float(cfg.get("campaigns", {}).get("seasonal", {}).get("experiment_share", 1.0))
    weights = fit.units.segment.value_counts() / max(share, 1e-9) * (n / n_store)
    base = baseline_from_dataset(dataset)
    zero = rule_config(base, fit, {}, campaign)
    rp = Replayer.from_dataset(dataset, zero, replications=replications, n_customers=n)
    rows = []
    for name, rule in rules.items():
        if campaign != "seasonal":
            pred = dict.fromkeys(("total", "low", "high"), np.nan)
        elif name == "recommended" and fit.crossfitted is not None:
            pred = fit.crossfitted.effect(weights)  # honest: the rule was picked on the data
        else:
            pred = rule_effect(fit.model, rule, weights)
        if not any(d > 0 for d in rule.values()):
            rep = {"difference": 0.0, "low": 0.0, "high": 0.0}
        else:
            res = rp.run(rule_config(base, fit, rule, campaign), echo=echo)
            rep = res.table.set_index("metric").loc["margin"].to_dict()
        rows.append({"rule": name, "predicted": pred["total"], "pred_low": pred["low"],
                     "pred_high": pred["high"], "replayed": rep["difference"],
                     "low": rep["low"], "high": rep["high"]})
    t = pd.DataFrame(rows)
    t["agree"] = (t.pred_low <= t.high) & (t.low <= t.pred_high)  # False without a prediction
    return RuleReplay(table=t, settings={"customers": n, "replications": replications,
                                         "seed": int(manifest.get("seed", 0)),
                                         "weights": {k: float(v) for k, v in weights.items()}})


def uniform_rules(fit: MarginFit, levels=(0.0, 0.10, 0.20)) -> dict[str, dict[str, float]]:
    """The crude rules a store would otherwise use: one level for every segment."""
    tested = [0.0, *fit.model.levels_]
    out = {}
    for d in levels:
        if not any(np.isclose(d, t) for t in tested):
            continue
        out[f"{d:.0%} for all"] = dict.fromkeys(fit.model.segments_, float(d))
    return out
