"""The report section that shows what a recommended config changes, replayed."""

from __future__ import annotations

import pandas as pd

from ..report import Kpi, Section


def change_section(changes: list[str], replay=None, reason: str = "",
                   parts: dict | None = None) -> Section:
    """What the recommended config changes, and its effect replayed in the simulator.

    ``parts``: each recommendation replayed alone (name → ReplayResult), so a change
    that does not pay is seen even when the whole config does.
    """
    title, anchor = "What changes: the recommended campaign config", "changes"
    intro = ("The analyses below recommend settings; together they make the campaign config "
             "in campaign_config.json. Before anyone deploys it, the same store is "
             "re-simulated under the current and the recommended config with the same random "
             "numbers, so the difference is the change's effect.")
    paragraphs = [intro]
    paragraphs += (["Changes: " + "; ".join(changes) + "."] if changes else
                   ["The recommended config is the same as the current one."])
    if reason:
        paragraphs.append(reason)
    if replay is None:
        return Section(title=title, anchor=anchor, paragraphs=paragraphs)
    t = replay.table.set_index("metric")
    kpis = [Kpi(f"chg-{k}", f"{k.replace('_', ' ')} (replayed)",
                f"{t.loc[k, 'difference']:+,.0f}",
                f"95% [{t.loc[k, 'low']:+,.0f}, {t.loc[k, 'high']:+,.0f}]")
            for k in ("margin", "revenue", "recovered_carts", "unsubscribes")]
    paragraphs.append(f"Replayed in the simulator; the 95% intervals are over "
                      f"{replay.basis}.")
    paragraphs += replay.notes
    tables = [("Replayed effect per metric", replay.table)]
    if parts:
        rows = []
        for name, r in parts.items():
            e = r.table.set_index("metric")
            rows.append({"recommendation": name, **{
                f"{k} {c}": e.loc[k, col] for k in ("margin", "revenue", "discount_cost")
                for c, col in (("change", "difference"), ("low", "low"), ("high", "high"))}})
            lo, hi = e.loc["margin", "low"], e.loc["margin", "high"]
            verdict = ("pays" if lo > 0 else "costs margin" if hi < 0 else
                       "is not shown to pay yet (its interval spans zero)")
            paragraphs.append(f"The {name} alone {verdict}: margin "
                              f"{e.loc['margin', 'difference']:+,.0f} (95% {lo:+,.0f} to "
                              f"{hi:+,.0f}).")
        tables.append(("Each recommendation replayed alone", pd.DataFrame(rows)))
    return Section(title=title, anchor=anchor, paragraphs=paragraphs, kpis=kpis,
                   charts={"replay": replay.chart()}, tables=tables)
