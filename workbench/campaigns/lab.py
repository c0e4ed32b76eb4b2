"""The policy lab's logic: which settings its controls move, and the store it replays.

The marimo app (``notebooks/apps/policy_lab.py``) holds layout and wiring only; what a
control means is here, so the app, the notebooks and ``workbench replay --set`` edit
configs the same way (:func:`~workbench.campaigns.config.with_settings`) and replay
them with the same :class:`~workbench.campaigns.replay.Replayer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..segments import Segmentation, SegmentDiscountRule
from ..simulate.config import scenario
from ..store import load_manifest
from ..vocab import PURCHASE_TYPES
from .config import CampaignConfig, load_campaign_config, with_settings
from .replay import Replayer

#: abandoned-cart delays the lab offers (hours)
DELAY_STEPS_HOURS = (0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0, 48.0)
#: discount levels per segment (percent) — the levels the seasonal experiment tests
DISCOUNT_STEPS_PCT = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)
#: customers in the default replay sample: one simulation of this many customers answers
#: within 2 s on this machine (see benchmarks/bench_policy_lab.py)
DEFAULT_SAMPLE = 1000
#: metrics the lab shows, in order
LAB_METRICS = ("revenue", "margin", "unsubscribes", "recovered_carts")


@dataclass
class PolicyControls:
    """The values of the lab's controls; :meth:`settings` turns them into config edits."""

    delay_hours: dict[str, float]
    channel: dict[str, str]
    segment_discount_pct: dict[str, float]
    segmentation: Segmentation
    default_discount_pct: float
    discount_experiment_share: float
    sms_per_week: int
    email_per_week: int
    products_per_email: int
    products_per_sms: int
    rule_in_config: bool = True
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_config(cls, config: CampaignConfig) -> PolicyControls:
        """The controls' starting values: what ``config`` says now.

        A config without a seasonal discount rule starts from no discount in four
        segments cut by past discount use and recency (no order-value split is needed,
        so nothing has to be estimated first); the rule is only written into the config
        once some segment gets a discount, so unchanged controls replay the config as is.
        """
        c = config.campaigns
        pol = c.abandoned_cart.policy
        rule = c.seasonal.discount_rule
        notes = []
        if rule is None:
            rule = SegmentDiscountRule(segmentation=Segmentation(by=("deal", "recency")),
                                       discount_pct={f"{d}-{r}": 0.0 for d in ("deal", "full")
                                                     for r in ("recent", "lapsed")})
            notes.append("The config has no seasonal discount rule: every customer gets the "
                         "randomized discount experiment. Lower the share kept in the "
                         "experiment and set discounts for four segments (past discount use "
                         "× recency) to try one.")
        return cls(
            delay_hours={t: pol[t].delay_hours for t in PURCHASE_TYPES},
            channel={t: pol[t].channel for t in PURCHASE_TYPES},
            segment_discount_pct=dict(sorted(rule.discount_pct.items())),
            segmentation=rule.segmentation, default_discount_pct=rule.default_pct,
            discount_experiment_share=c.seasonal.experiment_share,
            rule_in_config=c.seasonal.discount_rule is not None,
            sms_per_week=c.caps.sms_per_week, email_per_week=c.caps.email_per_week,
            products_per_email=c.post_purchase.products_per_email,
            products_per_sms=c.post_purchase.products_per_sms, notes=notes)

    def settings(self) -> dict[str, Any]:
        """Dotted-path settings for :func:`~workbench.campaigns.config.with_settings`."""
        out: dict[str, Any] = {}
        for t in PURCHASE_TYPES:
            out[f"campaigns.abandoned_cart.policy.{t}.delay_hours"] = float(self.delay_hours[t])
            out[f"campaigns.abandoned_cart.policy.{t}.channel"] = self.channel[t]
        if self.rule_in_config or any(v > 0 for v in self.segment_discount_pct.values()):
            out["campaigns.seasonal.discount_rule"] = SegmentDiscountRule(
                segmentation=self.segmentation, default_pct=float(self.default_discount_pct),
                discount_pct={k: float(v) for k, v in self.segment_discount_pct.items()})
        out["campaigns.seasonal.experiment_share"] = float(self.discount_experiment_share)
        out["campaigns.caps.sms_per_week"] = int(self.sms_per_week)
        out["campaigns.caps.email_per_week"] = int(self.email_per_week)
        out["campaigns.post_purchase.products_per_email"] = int(self.products_per_email)
        out["campaigns.post_purchase.products_per_sms"] = int(self.products_per_sms)
        return out

    def apply(self, base: CampaignConfig) -> CampaignConfig:
        """``base`` with the controls' values (validated)."""
        return with_settings(base, self.settings())

    def with_values(self, **values) -> PolicyControls:
        """A copy with some values replaced (dicts are merged key by key)."""
        data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}
        for k, v in values.items():
            if k not in data:
                raise ValueError(f"unknown control {k!r}; known: {sorted(data)}")
            data[k] = {**data[k], **v} if isinstance(data[k], dict) else v
        return PolicyControls(**data)


@dataclass
class Lab:
    """The store the lab replays, the config the controls start from, and its baseline."""

    replayer: Replayer
    start: CampaignConfig
    source: str

    @property
    def baseline(self) -> CampaignConfig:
        return self.replayer.baseline

    def controls(self) -> PolicyControls:
        return PolicyControls.from_config(self.start)

    def replay(self, controls: PolicyControls):
        """The controls' config replayed against the baseline (a ``ReplayResult``)."""
        return self.replayer.run(controls.apply(self.start))


def open_lab(dataset=None, config=None, customers: int = DEFAULT_SAMPLE,
             replications: int = 1, seed: int = 0) -> Lab:
    """The lab for a simulated dataset (or, without one, a default simulated store).

    ``config`` (a path or a :class:`CampaignConfig`, e.g. ``reports/campaign_config.json``)
    is where the controls start; the baseline is always what the store ran under.
    ``customers`` is the replay sample: the store's simulator config and seeds with
    ``customers`` customers — a smaller store of the same kind, not a subset of the
    dataset's customers (every customer's draws depend on the store's size).
    """
    if dataset is not None:
        m = load_manifest(dataset)
        if "config" not in m:
            raise ValueError(f"{dataset}: the manifest records no simulator config; the lab "
                             "replays simulated datasets only")
        n = int(m["config"]["n_customers"])
        rp = Replayer.from_dataset(dataset, replications=replications,
                                   n_customers=min(customers, n))
        source = f"dataset {Path(dataset)}"
    else:
        rp = Replayer(scenario("default", n_customers=customers), seed=seed,
                      replications=replications)
        source = f"a default simulated store (seed {seed})"
    start = (load_campaign_config(config) if isinstance(config, str | Path)
             else config if config is not None else rp.baseline)
    return Lab(replayer=rp, start=start, source=source)


def steps_with(value: float, steps) -> list[float]:
    """``steps`` with ``value`` among them, so a slider starts exactly at the config's value.

    >>> steps_with(3.0, (1.0, 4.0))
    [1.0, 3.0, 4.0]
    """
    return sorted({float(s) for s in steps} | {float(value)})
