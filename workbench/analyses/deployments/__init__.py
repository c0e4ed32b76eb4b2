"""What changed: the configs the store deployed, and each change's effect measured since.

A deployment is a campaign config and the instant it started to apply: recorded with
``workbench deploy FILE --at DATE`` (:class:`workbench.history.ConfigHistory`), or, on a
simulated store run over periods, the simulator's own config (its ``periods``).  For the
latest deployment inside the data the section shows

* which settings changed for whom (:func:`~workbench.campaigns.config.diff_configs`
  against the config before it);
* the effect measured since, for every campaign with a holdout: the holdout comparison
  (margin per customer over the ``window_days`` after each customer's first trigger,
  messaged against held out, Welch) among the customers who first qualified after the
  change, against the same among those whose window ended before it.  Each period's
  difference is randomized, so the change in the campaign's incremental margin per
  messaged customer is their difference, with variance the sum of the two (the periods'
  customers are disjoint): a difference of two randomized contrasts, not a before/after
  comparison of the store, which the season would confound;
* next to it, on a simulated store, the truth of the same quantity (the margin each
  messaged customer's messages caused) and the replay (:func:`replayed_change`): what the
  measurement should read, and how much of it is the change itself rather than the
  season and the customer mix, which move a campaign's effect between periods too.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...campaigns.config import CampaignConfig, diff_configs
from ...experiments import welch_difference
from ...history import ConfigHistory
from ...report import Kpi, Section
from ...results import Result
from ...vocab import CAMPAIGN_LABELS
from ..base import Analysis, Context
from ..truth import caused_margin
from ..units import holdout_units

TITLE, ANCHOR = "What changed: deployed configs and their effect since", "deployments"
INTRO = ("Which settings the store changed, when, for whom — and what each change has done "
         "since, measured by the campaigns' holdouts, next to what the replay expected.")
WINDOW_DAYS = 30.0


def deployments(ctx: Context) -> list[dict]:
    """The deployments known for this dataset, oldest first.

    Each: ``effective_from``, ``config`` (a :class:`CampaignConfig`), ``source`` and
    ``note``.  A simulated store's periods come first, from its manifest (their truth);
    then what ``workbench deploy`` recorded in the history folder.
    """
    out = []
    m = ctx.manifest.get("config") or {}
    start = pd.Timestamp(m["start_date"], tz="UTC") if m.get("periods") else None
    for p in m.get("periods", []):
        out.append({"effective_from": start + pd.Timedelta(days=p["start_day"]),
                    "config": CampaignConfig.model_validate({"campaigns": p["campaigns"]}),
                    "source": "simulator's periods", "note": p.get("label", "")})
    root = ctx.options.get("history")
    if root is not None:
        for e in ConfigHistory(root).entries("deployed"):
            out.append({"effective_from": e["effective_from"],
                        "config": CampaignConfig.model_validate(e["config"]),
                        "source": "workbench deploy", "note": e.get("note", "")})
    return sorted(out, key=lambda d: d["effective_from"])


def _contrast(g: pd.DataFrame) -> tuple[float, float, int, int]:
    """Messaged minus held-out margin per customer: difference, se and the two sizes."""
    w = welch_difference(g.margin[g.arm == "messaged"], g.margin[g.arm == "holdout"])
    return w["difference"], w["se"], w["n_treated"], w["n_control"]


def holdout_change(units: pd.DataFrame, at: pd.Timestamp, window_days: float = WINDOW_DAYS,
                   truth: np.ndarray | None = None) -> pd.DataFrame:
    """Per campaign: the holdout contrast before ``at`` and after it, and their change.

    ``units``: :func:`~workbench.analyses.units.holdout_units` (windows of
    ``window_days``).  Before: customers whose window ended by ``at``; after: customers
    who first qualified at or after it.  ``truth``: per unit, the margin its messages
    caused (simulated stores), for the true contrasts of messaged customers.
    """
    win = pd.Timedelta(days=window_days)
    before = units.assigned_at + win <= at
    after = units.assigned_at >= at
    rows = []
    for camp, g in units.groupby("campaign", sort=True):
        b, se_b, nb, hb = _contrast(g[before[g.index]])
        a, se_a, na, ha = _contrast(g[after[g.index]])
        row = {"campaign": camp, "before": b, "before_messaged": nb, "before_held_out": hb,
               "after": a, "after_messaged": na, "after_held_out": ha, "change": a - b}
        se = float(np.hypot(se_a, se_b))
        row["change_low"], row["change_high"] = a - b - 1.96 * se, a - b + 1.96 * se
        if truth is not None:
            msg = g.arm == "messaged"
            tb = truth[g.index[msg & before[g.index]]]
            ta = truth[g.index[msg & after[g.index]]]
            row["true_change"] = (float(ta.mean()) if len(ta) else np.nan) - (
                float(tb.mean()) if len(tb) else np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def replayed_change(dataset, before: CampaignConfig, after: CampaignConfig, at: pd.Timestamp,
                    window_days: float = WINDOW_DAYS, seed_offset: int = 1) -> pd.DataFrame:
    """What the simulator expects the measurement to show, and the change's own effect.

    Two replays of the store with the same seed (common random numbers; Law 2015, sec.
    11.2): ``before`` all along, and ``before`` with ``after`` deployed at ``at``.  On the
    second, :func:`holdout_change` is what the measurement should read
    (``expected_change``: the season and the customer mix move a campaign's effect
    between periods too); the difference of the two runs' after-period contrasts is the
    change's own effect (``effect``), with the season held fixed.  Intervals add the Welch
    variances (conservative: common random numbers correlate the runs).  The seed is the
    dataset's plus ``seed_offset``, so the replay is a new draw of the store, not the data.
    """
    from ...campaigns.replay import Replayer
    from ...simulate import simulate
    from ...store import open_dataset, save_simulation

    rp = Replayer.from_dataset(dataset, before, replications=1)
    base = rp.sim_config.model_dump()
    start = pd.Timestamp(base["start_date"], tz="UTC")
    day = int(np.ceil((at - start).total_seconds() / 86400))
    runs = {}
    with tempfile.TemporaryDirectory(prefix="wb-deploy-") as tmp:
        for name, periods in (("kept", []), ("deployed", [
                {"start_day": day, "campaigns": after.campaigns.model_dump()}])):
            sim = rp.sim_config.model_validate({**base, "campaigns": before.campaigns.model_dump(),
                                                "periods": periods})
            path = save_simulation(simulate(sim, seed=rp.seed + seed_offset), Path(tmp) / name)
            u = holdout_units(open_dataset(path, truth=False), window_days)
            runs[name] = u.reset_index(drop=True)
    at_ = start + pd.Timedelta(days=day)
    dep = holdout_change(runs["deployed"], at_, window_days)
    rows = []
    for r in dep.itertuples():
        g = runs["kept"][runs["kept"].campaign == r.campaign]
        k, se_k, *_ = _contrast(g[g.assigned_at >= at_])
        g = runs["deployed"][runs["deployed"].campaign == r.campaign]
        a, se_a, *_ = _contrast(g[g.assigned_at >= at_])
        se_e = (r.change_high - r.change_low) / (2 * 1.96)
        se = float(np.hypot(se_a, se_k))
        rows.append({"campaign": r.campaign, "expected_change": r.change,
                     "expected_low": r.change - 1.96 * se_e,
                     "expected_high": r.change + 1.96 * se_e,
                     "effect": a - k, "effect_low": a - k - 1.96 * se,
                     "effect_high": a - k + 1.96 * se})
    return pd.DataFrame(rows)


@dataclass
class DeploymentReport(Result):
    """The latest deployment: what changed, and its effect since."""

    _html_table = "effects"

    deployments: pd.DataFrame  # every deployment: when, source, note, settings changed
    changes: list[str]  # the latest deployment's changes, one sentence each
    effects: pd.DataFrame  # per campaign with a holdout: before, after, change (+ truth)
    settings: dict = field(default_factory=dict)

    def summary(self) -> str:
        s = self.settings
        lines = [f"{len(self.deployments)} deployment(s) recorded; the latest took effect "
                 f"on {s['at']:%Y-%m-%d} ({s['days_since']:.0f} days of data since)."]
        lines.append(("It changed: " + "; ".join(self.changes) + ".") if self.changes else
                     "It changed no setting of the config before it.")
        for r in self.effects.itertuples():
            if not np.isfinite(r.change):
                continue
            name = CAMPAIGN_LABELS.get(r.campaign, r.campaign)
            line = (f"{name.capitalize()}: incremental margin per messaged customer "
                    f"{r.before:+.2f} before, {r.after:+.2f} since — a change of "
                    f"{r.change:+.2f} [{r.change_low:+.2f}, {r.change_high:+.2f}]")
            if "expected_change" in self.effects and np.isfinite(r.expected_change):
                line += (f"; replayed, the same measurement reads {r.expected_change:+.2f} "
                         f"[{r.expected_low:+.2f}, {r.expected_high:+.2f}], of which the "
                         f"change itself {r.effect:+.2f} [{r.effect_low:+.2f}, "
                         f"{r.effect_high:+.2f}] (the rest: season and customer mix)")
            if "true_change" in self.effects and np.isfinite(r.true_change):
                line += f" (truth {r.true_change:+.2f})"
            lines.append(line + ".")
        return " ".join(lines)


class Deployments(Analysis):
    """The deployed configs' changes and their effect measured since, by the holdouts."""

    name, title, anchor, intro = "deployments", TITLE, ANCHOR, INTRO
    needs = {"orders": ("customer_id", "placed_at", "revenue")}

    def run(self, ctx: Context):
        deps = deployments(ctx)
        o = ctx.con.table("orders")
        end = pd.Timestamp(o.placed_at.max().execute())
        end = end.tz_localize("UTC") if end.tzinfo is None else end
        inside = [d for d in deps if d["effective_from"] <= end]
        if not inside:
            return self.skip(
                "no deployment is recorded inside the data: record each campaign config "
                "when it goes live with `workbench deploy FILE --at DATE` (into the history "
                "folder `workbench run --history` reads), and the next run shows what it "
                "changed and its effect since, measured by the campaigns' holdouts")
        latest = inside[-1]
        prev = inside[-2]["config"] if len(inside) > 1 else None
        if prev is None and ctx.simulated and latest["source"] == "simulator's periods":
            prev = CampaignConfig.model_validate(
                {"campaigns": ctx.manifest["config"]["campaigns"]})
        changes = diff_configs(prev, latest["config"]) if prev is not None else []
        table = pd.DataFrame([{"effective_from": d["effective_from"], "source": d["source"],
                               "note": d["note"]} for d in deps])
        at = latest["effective_from"]
        settings = {"at": at, "days_since": (end - at).total_seconds() / 86400,
                    "window_days": WINDOW_DAYS, "previous_known": prev is not None}
        if not ctx.has_table("assignments", nonempty=True):
            effects = pd.DataFrame()
        else:
            units = holdout_units(ctx.con, WINDOW_DAYS).reset_index(drop=True)
            truth = None
            if ctx.has_truth("truth/messages") and len(units):
                truth = caused_margin(ctx.path, units, WINDOW_DAYS)
            effects = holdout_change(units, at, WINDOW_DAYS, truth) if len(units) else \
                pd.DataFrame()
            if ctx.simulated and prev is not None and len(effects):
                ctx.echo("deployments: replaying the config before and the one deployed")
                exp = replayed_change(ctx.path, prev, latest["config"], at, WINDOW_DAYS)
                effects = effects.merge(exp, on="campaign", how="left")
        return DeploymentReport(deployments=table, changes=changes, effects=effects,
                                settings=settings)

    def section(self, result: DeploymentReport) -> Section:
        kpis = [Kpi(f"dep-{r.campaign}", CAMPAIGN_LABELS.get(r.campaign, r.campaign),
                    f"{r.change:+.2f}", f"per messaged customer since, [{r.change_low:+.2f}, "
                    f"{r.change_high:+.2f}]")
                for r in result.effects.itertuples() if np.isfinite(r.change)]
        tables = [("Deployments", result.deployments)]
        if len(result.effects):
            tables.append((f"Per campaign with a holdout: incremental margin per messaged "
                           f"customer over {result.settings['window_days']:g} days, before "
                           "and since the latest deployment, and the change (95% interval)",
                           result.effects.round(3)))
        return Section(title=TITLE, anchor=ANCHOR, kpis=kpis, tables=tables,
                       paragraphs=[INTRO, result.summary()])


__all__ = ["DeploymentReport", "Deployments", "deployments", "holdout_change",
           "replayed_change"]
