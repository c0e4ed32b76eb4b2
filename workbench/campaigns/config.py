"""One typed, versioned campaign config for every automated campaign.

The campaign settings are the simulator's own types
(:class:`workbench.simulate.config.Campaigns`: abandoned cart with delays, channel
and discount per purchase type, browse abandonment, post-purchase cross-sell with
products per email and per SMS, replenishment timing, seasonal offers, frequency
caps, holdouts, and the discount rule per observable customer segment for seasonal
offers and abandoned carts), so every config the workbench exports can be replayed
in the simulator before it ships (:mod:`workbench.campaigns.replay`).  Around them:
where the config came from (dataset hash, analyses, model settings, package
version) and report metadata (the attribution summary).

Loading validates and names the field that is wrong; :func:`diff_configs` says
what changed in words a marketer reads ("abandoned-cart reminder for considered
products: delay 1 h → 4 h").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .. import __version__
from ..segments import SegmentDiscountRule
from ..simulate.config import Campaigns
from ..store import load_manifest
from ..vocab import CAMPAIGN_LABELS, PURCHASE_TYPES
from .sections import atomic_write_json

CONFIG_VERSION = "1.1"  # 1.1: the segment discount rule moved into the campaigns


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Provenance(_Strict):
    dataset_hash: str | None = None
    analyses: list[str] = Field(default_factory=list)
    model_settings: dict[str, Any] = Field(default_factory=dict)
    package_version: str = __version__
    notes: list[str] = Field(default_factory=list)


class CampaignConfig(_Strict):
    """Everything the automated campaigns need, and where it came from."""

    config_version: str = CONFIG_VERSION
    campaigns: Campaigns = Field(default_factory=Campaigns)
    provenance: Provenance = Field(default_factory=Provenance)
    report_metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_purchase_types(self) -> CampaignConfig:
        unknown = sorted(set(self.campaigns.abandoned_cart.policy) - set(PURCHASE_TYPES))
        if unknown:
            raise ValueError(f"campaigns.abandoned_cart.policy: unknown purchase type(s) "
                             f"{unknown}; known: {list(PURCHASE_TYPES)}")
        return self


class ConfigError(ValueError):
    """A config file that does not validate; the message names the file and field."""


def campaign_config_schema() -> dict:
    """The published JSON Schema of :class:`CampaignConfig` (generated from the types)."""
    return CampaignConfig.model_json_schema()


def save_config(config: CampaignConfig, path) -> Path:
    """Validate and write the config as JSON, atomically."""
    config = CampaignConfig.model_validate(config.model_dump())
    return atomic_write_json(path, config.model_dump(mode="json"))


def load_campaign_config(path) -> CampaignConfig:
    """Load and validate a config file; the error names the field that is wrong."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read a JSON config ({exc})") from exc
    if isinstance(data, dict) and data.get("config_version") == "1.0" and "discount_rule" in data:
        raise ConfigError(f"{path}: a version 1.0 campaign config; since 1.1 the discount rule "
                          "per segment lives in campaigns.seasonal.discount_rule (with its "
                          "segmentation). Re-export it with `workbench run`.")
    return _validated(data, str(path))


def _validated(data: dict, where: str) -> CampaignConfig:
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{where}: invalid campaign config:"]
        for e in exc.errors():
            field = ".".join(str(p) for p in e["loc"]) or "(top level)"
            lines.append(f"  {field}: {e['msg']}")
        raise ConfigError("\n".join(lines)) from exc


def with_settings(base: CampaignConfig, settings: dict[str, Any]) -> CampaignConfig:
    """``base`` with settings changed by dotted path, validated.

    The one way the CLI (``workbench replay --set``), the notebooks and the policy
    lab edit a config; an unknown path or a bad value is a :class:`ConfigError`
    naming the field.

    >>> c = with_settings(CampaignConfig(), {"campaigns.caps.sms_per_week": 1})
    >>> c.campaigns.caps.sms_per_week
    1
    >>> with_settings(CampaignConfig(), {"campaigns.caps.sms_per_day": 1})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    workbench.campaigns.config.ConfigError: campaigns.caps.sms_per_day: no such setting ...
    """
    data = base.model_dump(mode="json")
    for dotted, value in settings.items():
        keys = dotted.split(".")
        node = data
        for i, k in enumerate(keys):
            if isinstance(node, list) and k.isdigit() and int(k) < len(node):
                k = int(k)
            elif not isinstance(node, dict) or (k not in node and i < len(keys) - 1) or (
                    k not in node and not _open_mapping(keys[:i])):
                known = ", ".join(map(str, node)) if isinstance(node, dict) else \
                    f"0..{len(node) - 1}" if isinstance(node, list) else "none"
                raise ConfigError(f"{dotted}: no such setting (known here: {known})")
            if i == len(keys) - 1:
                new = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
                # a mapping merges into the settings already there (a partial
                # ``policy.impulse={"delay_hours": 2}`` keeps the channel)
                node[k] = _merged(node.get(k) if isinstance(node, dict) else None, new)
            else:
                if node[k] is None:
                    raise ConfigError(f"{dotted}: {'.'.join(keys[:i + 1])} is off (null); "
                                      "set it whole first, e.g. the complete discount rule")
                node = node[k]
    return _validated(data, "settings")


def _merged(old, new):
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **{k: _merged(old.get(k), v) for k, v in new.items()}}
    return new


def _open_mapping(keys: list[str]) -> bool:
    """Mappings whose keys are data (purchase types, segments), not a fixed schema."""
    return keys[-1:] in (["policy"], ["discount_pct"], ["model_settings"])


def baseline_from_dataset(dataset) -> CampaignConfig:
    """The campaigns a simulated dataset ran under (at its end), as a config."""
    m = load_manifest(dataset)
    if "config" not in m:
        raise ConfigError(f"{dataset}: the manifest records no simulator config")
    cfg = m["config"]
    # a store run over periods: the campaigns in force at its end are the current ones
    now = cfg["periods"][-1]["campaigns"] if cfg.get("periods") else cfg["campaigns"]
    return CampaignConfig(campaigns=Campaigns.model_validate(now),
                          provenance=Provenance(dataset_hash=m.get("dataset_hash"),
                                                analyses=["baseline (as simulated)"]))


def with_recommendations(base: CampaignConfig, abandoned_cart=None, discount=None,
                         attribution=None, cart_discount=None, post_purchase_picks=None,
                         browse_picks=None, send_time=None, browse_targeting=None,
                         cart_channels=None, replenishment_timing=None,
                         frequency_caps=None, post_purchase_sequences=None,
                         skip_stages=None, keep_experiment_share: float = 0.1,
                         discount_campaigns: tuple[str, ...] = ("seasonal",)
                         ) -> CampaignConfig:
    """``base`` with the analyses' exported sections applied.

    ``abandoned_cart``: an :class:`~workbench.analyses.cart_timing.export.AbandonedCartSection`
    (channel and delay per purchase type; a type whose recommendation is not to send
    keeps its settings and is noted; the smallest cart worth a reminder); ``discount``: a
    :class:`~workbench.analyses.discount.export.DiscountSection`, applied as a
    :class:`~workbench.segments.SegmentDiscountRule` to ``discount_campaigns``
    (``"seasonal"``, where the discount was randomized and measured, and optionally
    ``"abandoned_cart"``, an extrapolation the notes record); ``cart_discount``: the
    same kind of section measured on the cart reminder's own randomized discount,
    applied to ``abandoned_cart`` (it takes precedence there); ``post_purchase_picks``:
    a :class:`~workbench.simulate.config.ProductPicks` (the cross-sell lists of
    :func:`~workbench.analyses.recommendations.cross_sell.post_purchase_picks`) for the
    post-purchase emails; ``browse_picks``: the best sellers per category browse
    reminders show (:func:`~workbench.analyses.recommendations.cross_sell.browse_picks`);
    ``send_time``: a :class:`~workbench.simulate.config.SendTimePolicy` (each customer's
    hours for this cycle, :func:`~workbench.analyses.send_time.analyze_send_times`);
    ``cart_channels``: customer id → channel of their cart reminders outside the
    experiment (:func:`~workbench.analyses.channel.analyze_channels`);
    ``replenishment_timing``: customer id → their use cycle as a multiple of the catalog's
    (:func:`~workbench.analyses.replenishment.analyze_replenishment`), when their
    replenishment reminders go;
    ``frequency_caps``: customer id → their (email, SMS) caps a week
    (:func:`~workbench.analyses.frequency.analyze_frequency`);
    ``post_purchase_sequences``: a list of
    :class:`~workbench.simulate.config.PostPurchaseSequence` (content by buyer and order
    value, :func:`~workbench.analyses.post_purchase.analyze_post_purchase`); a content
    test running keeps ``keep_experiment_share`` of customers;
    ``browse_targeting``: a :class:`~workbench.simulate.config.BrowseTargeting` (the
    intent-score range browse reminders go to,
    :func:`~workbench.analyses.browse_intent.analyze_browse_intent`);
    ``skip_stages``: campaign → the customer stages it should no longer message (where
    its holdout shows it losing money there, :func:`~workbench.analyses.holdouts.
    analyze_holdouts`), added to what the campaign skips already;
    ``attribution``: an
    attribution summary kept as report metadata.  Applying a recommendation leaves
    ``keep_experiment_share`` of carts (or seasonal customers) in the experiment that
    produced it, so the effect keeps being measured after the change.
    """
    data = base.model_dump(mode="json")
    prov = data["provenance"]
    if abandoned_cart is not None:
        pol = data["campaigns"]["abandoned_cart"]["policy"]
        for ptype, p in abandoned_cart.policy.items():
            if p.send:
                pol[ptype] = {**pol.get(ptype, {}), "channel": p.channel,
                              "delay_hours": p.delay_hours}
            else:
                prov["notes"].append(f"abandoned cart, {ptype}: the evidence says not to "
                                     "send; the current reminder is kept until a holdout "
                                     "confirms it")
        if abandoned_cart.min_cart_value > 0:
            data["campaigns"]["abandoned_cart"]["min_cart_value"] = \
                abandoned_cart.min_cart_value
        data["campaigns"]["abandoned_cart"]["experiment_share"] = keep_experiment_share
        prov["analyses"].append("abandoned-cart timing")
        prov["model_settings"]["abandoned_cart"] = abandoned_cart.provenance.model_dump(
            mode="json")
    unknown = sorted(set(skip_stages or {}) - set(CAMPAIGN_LABELS))
    if unknown:
        raise ValueError(f"skip_stages: unknown campaign(s) {unknown}; campaigns are "
                         f"{sorted(CAMPAIGN_LABELS)}")
    for camp, stages in (skip_stages or {}).items():
        have = data["campaigns"][camp].get("skip_stages", [])
        data["campaigns"][camp]["skip_stages"] = sorted(set(have) | set(stages))
        prov["notes"].append(f"{_CAMPAIGNS.get(camp, camp)}: not sent to "
                             f"{', '.join(sorted(stages))}s, where its holdout shows it "
                             "losing money")
    if skip_stages:
        prov["analyses"].append("campaign efficiency by customer stage")
    if discount is not None:
        unknown = sorted(set(discount_campaigns) - {"seasonal", "abandoned_cart"})
        if unknown:
            raise ValueError(f"discount_campaigns: a segment discount rule applies to "
                             f"'seasonal' and 'abandoned_cart', not {unknown}")
        if discount.segmentation is None:
            raise ValueError("the discount section records no segmentation, so its segments "
                             "cannot be found at send time; export it with "
                             "section_from_decision(..., segmentation=...)")
        rule = SegmentDiscountRule(
            segmentation=discount.segmentation,
            discount_pct={s: v.discount_pct for s, v in discount.segments.items()})
        for camp in discount_campaigns:
            data["campaigns"][camp]["discount_rule"] = rule.model_dump(mode="json")
            # the rule reaches customers outside the experiment; keep a share measuring it
            data["campaigns"][camp]["experiment_share"] = keep_experiment_share
        if "abandoned_cart" in discount_campaigns:
            prov["notes"].append("abandoned cart: the segment discounts were measured on "
                                 "seasonal offers and are applied to cart reminders too")
        prov["analyses"].append("discount calibration")
        prov["model_settings"]["discount"] = discount.fit.model_dump(mode="json")
    if cart_discount is not None:
        if cart_discount.segmentation is None:
            raise ValueError("the cart discount section records no segmentation, so its "
                             "segments cannot be found at send time")
        rule = SegmentDiscountRule(
            segmentation=cart_discount.segmentation,
            discount_pct={s: v.discount_pct for s, v in cart_discount.segments.items()})
        data["campaigns"]["abandoned_cart"]["discount_rule"] = rule.model_dump(mode="json")
        data["campaigns"]["abandoned_cart"]["experiment_share"] = keep_experiment_share
        prov["analyses"].append("abandoned-cart discount")
        prov["model_settings"]["cart_discount"] = cart_discount.fit.model_dump(mode="json")
    for camp, picks in (("post_purchase", post_purchase_picks),
                        ("browse_abandonment", browse_picks)):
        if picks is not None:
            data["campaigns"][camp]["recommender"] = picks.model_dump(mode="json")
            if "product recommendations" not in prov["analyses"]:
                prov["analyses"].append("product recommendations")
    if send_time is not None:
        data["campaigns"]["send_time"] = send_time.model_dump(mode="json")
        prov["analyses"].append("send time")
    if cart_channels is not None:
        data["campaigns"]["abandoned_cart"]["channels"] = dict(cart_channels)
        prov["analyses"].append("channel per customer")
    if replenishment_timing is not None:
        data["campaigns"]["replenishment"]["cycle_multipliers"] = {
            str(k): float(v) for k, v in dict(replenishment_timing).items()}
        prov["analyses"].append("replenishment timing per customer")
    if frequency_caps is not None:
        data["campaigns"]["caps"]["per_customer"] = {
            str(k): [int(v[0]), int(v[1])] for k, v in dict(frequency_caps).items()}
        prov["analyses"].append("frequency per customer")
    if post_purchase_sequences is not None:
        pp = data["campaigns"]["post_purchase"]
        pp["sequences"] = [s.model_dump(mode="json") for s in post_purchase_sequences]
        if pp.get("sequence_test"):
            pp["sequence_test"]["share"] = keep_experiment_share
        prov["analyses"].append("post-purchase content by buyer")
    if browse_targeting is not None:
        data["campaigns"]["browse_abandonment"]["targeting"] = browse_targeting.model_dump(
            mode="json")
        prov["analyses"].append("browse intent")
    if attribution is not None:
        data["report_metadata"]["attribution"] = attribution.model_dump(mode="json")
        prov["analyses"].append("attribution")
    return CampaignConfig.model_validate(data)


# ------------------------------------------------------------------------------ diff
_PHRASES = {
    "enabled": "on", "delay_hours": "delay", "delay_days": "delay", "lead_days":
    "sent before supply runs out", "channel": "channel", "discount_pct": "discount",
    "min_cart_value": "no reminder for carts worth less than",
    "skip_stages": "not sent to customer stages",
    "products_per_email": "products per email", "products_per_sms": "products per SMS",
    "email_per_week": "emails per customer per week (cap)",
    "sms_per_week": "SMS per customer per week (cap)", "experiment_share":
    "share of carts in the timing experiment", "min_views": "product views needed",
    "suppress_days": "days between browse reminders", "window_days": "offer window",
    "discount_arms_pct": "discount levels tested", "default_pct": "default discount",
    "holdout_share": "customers held out",
}
_CAMPAIGNS = {**CAMPAIGN_LABELS, "caps": "frequency caps"}


def _fmt(key: str, v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if v is None:
        return "none"
    if key.endswith("_hours") and isinstance(v, int | float):
        return f"{v:g} h"
    if key.endswith("_days") and isinstance(v, int | float):
        return f"{v:g} days"
    if key.endswith("_pct") and isinstance(v, int | float):
        return f"{v:g}%"
    if key == "aov_split" and isinstance(v, int | float):
        return f"{v:,.2f}"
    if key in ("experiment_share", "holdout_share"):
        return f"{100 * v:g}%"
    if isinstance(v, list):
        return ", ".join(_fmt(key, x) for x in v) if v and not isinstance(v[0], dict) else \
            f"{len(v)} entries"
    return str(v)


_RULE = {"default_pct": "discount for segments not listed",
         "by": "discount segments cut by", "aov_split": "high-value means average order above",
         "recency_split_days": "recent means last order within"}


def _rule_path(path: tuple) -> tuple | None:
    """``(campaign, rest...)`` when ``path`` is inside a campaign's segment discount rule."""
    if path[:1] == ("campaigns",) and len(path) >= 3 and path[2] == "discount_rule":
        return (path[1], *path[3:])
    return None


def _channels_sentence(c: dict) -> str:
    """Per-customer channels in words."""
    if not c:
        return "each purchase type's channel"
    n_sms = sum(v == "sms" for v in c.values())
    return (f"each customer's own for {len(c):,} customers ({n_sms:,} SMS, "
            f"{len(c) - n_sms:,} email)")


def _caps_sentence(c: dict) -> str:
    """Per-customer frequency caps in words."""
    if not c:
        return "the store's for everyone"
    e, s_ = (np.array([v[i] for v in c.values()]) for i in (0, 1))
    return (f"each customer's own for {len(c):,} customers (email {e.min()}-{e.max()}, "
            f"SMS {s_.min()}-{s_.max()} a week)")


def _sequences_sentence(seqs: list) -> str:
    """Post-purchase content by buyer and order value in words."""
    if not seqs:
        return "cross-sell after every order"
    parts = []
    for q in seqs:
        who = {"first_time": "first orders", "repeat": "repeat orders"}.get(
            q["buyers"], "orders")
        lo, hi = q.get("min_order_value") or 0, q.get("max_order_value")
        val = (f" of {lo:,.2f} or more" if lo and hi is None else
               f" under {hi:,.2f}" if not lo and hi is not None else
               f" of {lo:,.2f} to {hi:,.2f}" if hi is not None else "")
        parts.append(f"{q['content'].replace('_', ' ')} for {who}{val}")
    return "; ".join(parts) + " (cross-sell otherwise)"


def _cycles_sentence(c: dict) -> str:
    """Per-customer replenishment cycles in words."""
    if not c:
        return "the catalog's supply for everyone"
    m = np.array(list(c.values()), dtype=float)
    return (f"each customer's own pace for {m.size:,} customers (x{np.quantile(m, 0.1):.2f} "
            f"to x{np.quantile(m, 0.9):.2f} the catalog's supply, 10th to 90th percentile)")


def _targeting_sentence(t: dict | None) -> str:
    """A browse targeting in words."""
    if not t:
        return "every session with enough views"
    out = (f"sessions whose intent score is {t['min_score']:.3f} to {t['max_score']:.3f} "
           f"(intent deciles {t.get('made_by', {}).get('deciles', '?')})")
    if t.get("collection_min_score") is not None:
        out += (f", and a curated collection from {t['collection_min_score']:.3f} up to "
                f"there (deciles {t.get('made_by', {}).get('collection_deciles', '?')})")
    return out


def _send_time_sentence(p: dict | None) -> str:
    """A send-time policy in words."""
    if not p or not p.get("hours"):
        return "each campaign's own time"
    camps = ", ".join(CAMPAIGN_LABELS.get(c, c) for c in p["campaigns"])
    return (f"each customer's own hour for {len(p['hours']):,} customers ({camps}; "
            f"at most {p['max_delay_hours']:g} h later)")


def _label(path: tuple) -> str:
    rule = _rule_path(path)
    if rule is not None:
        camp = _CAMPAIGNS.get(rule[0], rule[0])
        if len(rule) >= 3 and rule[1] == "discount_pct":
            return f"{camp} discount for segment {rule[2]}"
        if len(rule) == 1:
            return f"{camp} discount rule by segment"
        return f"{camp} {_RULE.get(str(rule[-1]), str(rule[-1]).replace('_', ' '))}"
    if path[:1] == ("campaigns",):
        path = path[1:]
        camp = _CAMPAIGNS.get(path[0], path[0].replace("_", " "))
        if path[0] == "abandoned_cart" and len(path) >= 3 and path[1] == "policy":
            return f"{camp} reminder for {path[2]} products: {_PHRASES.get(path[-1], path[-1])}"
        if path[0] == "seasonal" and len(path) >= 3 and path[1] == "events":
            return f"seasonal event #{int(path[2]) + 1}: {_PHRASES.get(path[-1], path[-1])}"
        if path[0] == "seasonal" and path[1:] == ("experiment_share",):
            return "seasonal campaign: share of customers in the discount experiment"
        if path[0] == "caps":
            return _PHRASES.get(path[-1], path[-1].replace("_", " "))
        if path[1:] == ("enabled",):
            return f"{camp} campaign"
        rest = [_PHRASES.get(p, str(p).replace("_", " ")) for p in path[1:]]
        return f"{camp} campaign: {' '.join(rest)}"
    return " › ".join(_PHRASES.get(str(p), str(p).replace("_", " ")) for p in path)


def _walk(a, b, path=()):
    if isinstance(a, dict) or isinstance(b, dict):
        if isinstance(a, dict | None) and isinstance(b, dict | None):
            # a rule switched on or off reads as its settings appearing or going
            a, b = a or {}, b or {}
            for k in sorted(set(a) | set(b), key=str):
                yield from _walk(a.get(k), b.get(k), (*path, k))
        else:
            yield path, a, b
    elif (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
          and all(isinstance(x, dict) for x in a + b)):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _walk(x, y, (*path, i))
    elif a != b:
        yield path, a, b


def _rule_sentence(rule: dict) -> str:
    """A segment discount rule in one sentence: who gets what, and how segments are cut."""
    seg = rule["segmentation"]
    by = {"deal": "past discount use", "value": "order value", "recency": "recency",
          "channel": "acquisition channel"}
    cut = " × ".join(by[b] for b in seg["by"])
    details = []
    if "value" in seg["by"]:
        details.append(f"high value above {_fmt('aov_split', seg['aov_split'])}")
    if "recency" in seg["by"]:
        details.append(f"recent within {_fmt('x_days', seg['recency_split_days'])}")
    groups: dict[float, list[str]] = {}
    for s, pct in sorted(rule["discount_pct"].items()):
        groups.setdefault(pct, []).append(s)
    parts = [f"{_fmt('x_pct', pct)} for {', '.join(segs)}"
             for pct, segs in sorted(groups.items(), reverse=True) if pct != rule["default_pct"]]
    parts.append(f"{_fmt('x_pct', rule['default_pct'])} for "
                 + ("the other segments" if len(parts) else "every segment"))
    return "; ".join(parts) + f" (segments by {cut}" + (
        f"; {', '.join(details)})" if details else ")")


def _picks_sentence(p: dict | None, camp: str = "post_purchase") -> str:
    """A campaign's product picks in words."""
    if p is None:
        return "none"
    src = p["source"]
    if camp == "browse_abandonment":  # the picks stay inside the viewed category
        return (f"the viewed category's best seller (of {len(p['popular'])} listed)"
                if src == "popular" else "any product of the viewed category")
    if src == "cross_sell":
        lists = p["cross_sell"]
        most = max((len(v) for v in lists.values()), default=0)
        by = p.get("made_by", {}).get("model")
        return (f"cross-sell lists{f' ({by})' if by else ''} for {len(lists):,} products, "
                f"up to {most} each")
    if src == "popular":
        return f"the most popular of {len(p['popular'])} best sellers"
    return {"affinity": "picks from each customer's preferred categories",
            "random": "random products"}.get(src, src)


def diff_configs(old: CampaignConfig, new: CampaignConfig) -> list[str]:
    """What changed from ``old`` to ``new``, one sentence per setting.

    Provenance and report metadata are not settings and are left out.

    >>> from workbench.campaigns.config import CampaignConfig
    >>> a = CampaignConfig()
    >>> d = a.model_dump(); d["campaigns"]["abandoned_cart"]["policy"]["considered"][
    ...     "delay_hours"] = 1.0
    >>> diff_configs(CampaignConfig.model_validate(d), a)
    ['abandoned-cart reminder for considered products: delay 1 h → 4 h']
    """
    a = old.model_dump(mode="json", exclude={"provenance", "report_metadata"})
    b = new.model_dump(mode="json", exclude={"provenance", "report_metadata"})
    out, rule_lines = [], []
    # a discount rule switched on or off reads as one sentence, not one per setting
    for camp in sorted(set(a["campaigns"]) & set(b["campaigns"])):
        ra = a["campaigns"][camp].get("discount_rule") if isinstance(
            a["campaigns"][camp], dict) else None
        rb = b["campaigns"][camp].get("discount_rule") if isinstance(
            b["campaigns"][camp], dict) else None
        if (ra is None) != (rb is None):
            name = _CAMPAIGNS.get(camp, camp)
            rule_lines.append(
                f"{name} discount by segment: new — {_rule_sentence(rb)}" if ra is None
                else f"{name} discount by segment: removed (was {_rule_sentence(ra)})")
            a["campaigns"][camp]["discount_rule"] = b["campaigns"][camp]["discount_rule"] = None
        pa_, pb = (x["campaigns"][camp].get("recommender") if isinstance(
            x["campaigns"][camp], dict) else None for x in (a, b))
        if pa_ != pb:  # product picks read as one sentence, not one per product
            name = _CAMPAIGNS.get(camp, camp)
            rule_lines.append(f"{name} products: {_picks_sentence(pa_, camp)} → "
                              f"{_picks_sentence(pb, camp)}")
            a["campaigns"][camp]["recommender"] = b["campaigns"][camp]["recommender"] = None
    # per-customer maps and models read as one sentence each, not one per customer
    for camp, key, label, sentence, empty in (
            ("abandoned_cart", "channels", "abandoned-cart reminder channel",
             _channels_sentence, {}),
            ("replenishment", "cycle_multipliers", "replenishment reminders",
             _cycles_sentence, {}),
            ("browse_abandonment", "targeting", "browse-abandonment reminders",
             _targeting_sentence, None),
            ("caps", "per_customer", "frequency caps", _caps_sentence, {}),
            ("post_purchase", "sequences", "post-purchase content", _sequences_sentence,
             [])):
        va, vb = (x["campaigns"][camp].get(key) or empty for x in (a, b))
        if va != vb:
            rule_lines.append(f"{label}: {sentence(va)} → {sentence(vb)}")
            a["campaigns"][camp][key] = b["campaigns"][camp][key] = empty
    sa, sb = a["campaigns"].get("send_time"), b["campaigns"].get("send_time")
    if sa != sb:  # per-customer hours read as one sentence, not one per customer
        rule_lines.append(f"send time: {_send_time_sentence(sa)} → {_send_time_sentence(sb)}")
        a["campaigns"]["send_time"] = b["campaigns"]["send_time"] = None
    for path, x, y in _walk(a, b):
        key = str(path[-1])
        rule = _rule_path(path)
        segment = rule is not None and len(rule) >= 3 and rule[1] == "discount_pct"
        k = "x_pct" if segment else key
        if rule is not None and x is None:
            out.append(f"{_label(path)}: new, {_fmt(k, y)}")
        elif rule is not None and y is None:
            out.append(f"{_label(path)}: removed (was {_fmt(k, x)})")
        else:
            label = _label(path)
            phrase = _PHRASES.get(key)
            if phrase and label.endswith(f": {phrase}"):  # "…: delay 1 h → 4 h"
                out.append(f"{label} {_fmt(k, x)} → {_fmt(k, y)}")
            else:
                out.append(f"{label}: {_fmt(k, x)} → {_fmt(k, y)}")
    return out + rule_lines
