"""``workbench run``: every analysis that exists, on one dataset, into one report.

Analyses register here as they are built (timing, discount, attribution, CLV);
each contributes a report section and, where it decides something, its part
of the campaign config.  Outputs are written atomically, so a failed run
leaves the previous outputs intact.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

from .features import store_overview
from .features.abandonment import abandonment_episodes
from .report import Kpi, Report, Section, overview_section
from .schema import DatasetValidationError, validate
from .store import load_manifest, open_dataset


def _write_json(path: Path, obj) -> Path:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def run_all(dataset: Path, out: Path, echo: Callable[[str], None] = print) -> dict[str, Path]:
    """Validate ``dataset``, run the analyses, write reports into ``out``.

    Returns the written files by label.  Raises
    :class:`~workbench.schema.DatasetValidationError` (with the full report)
    when the dataset is invalid; nothing is written then.
    """
    manifest = load_manifest(dataset)
    report = validate(dataset)
    if not report.ok:
        raise DatasetValidationError(report)
    echo(report.summary())
    con = open_dataset(dataset)
    currency = manifest.get("config", {}).get("currency", "USD")
    ov = store_overview(con, currency=currency)
    sections = [overview_section(ov)]
    subtitle = (f"Dataset {dataset} · hash {manifest.get('dataset_hash', '?')} · "
                f"{manifest.get('generator', 'imported')}"
                + (f" · seed {manifest['seed']}" if "seed" in manifest else ""))
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    timing = _cart_timing(con, manifest, out, written, echo)
    if timing is not None:
        sections.append(timing)
    summary = {"dataset": str(dataset), "dataset_hash": manifest.get("dataset_hash"),
               "kpis": ov.kpis, "funnel": ov.funnel.to_dict(orient="records"),
               "messages": ov.messages.to_dict(orient="records")}
    written["numbers"] = _write_json(out / "overview.json", summary)
    written["report"] = Report("Store report", subtitle, sections).save(out / "index.html")
    return written


def _cart_timing(con, manifest, out: Path, written: dict, echo) -> Section | None:
    """Abandoned-cart timing: run when the dataset has a randomized cart experiment."""
    from .campaigns import AbandonedCartSection, Provenance, save_abandoned_cart
    from .campaigns.abandoned_cart import json_schema
    from .experiments import ExperimentInputError
    from .experiments.cart_timing import decide_cart_timing

    a = con.table("assignments")
    if int(a.filter(a.unit_type == "cart").count().execute()) == 0:
        echo("cart timing: no randomized cart experiment in this dataset; skipped")
        return None
    settings = {"window_days": 7.0, "holdout": "holdout", "min_prob": 0.9, "alpha": 0.05}
    ep = abandonment_episodes(con, window_days=settings["window_days"]).execute()
    truth = (con.table("truth_delay_response").execute()
             if "truth_delay_response" in con.list_tables() else None)
    try:
        d = decide_cart_timing(ep, holdout=settings["holdout"], min_prob=settings["min_prob"],
                               alpha=settings["alpha"], truth=truth)
    except ExperimentInputError as exc:
        echo(f"cart timing: not enough data to decide ({exc}); no config exported")
        return Section(title="Abandoned-cart timing", anchor="cart-timing", paragraphs=[
            "The cart experiment does not have enough data to decide yet: " + str(exc)])
    section = AbandonedCartSection(
        policy=d.to_policy(),
        provenance=Provenance(dataset_hash=manifest.get("dataset_hash"),
                              analysis="abandoned-cart timing experiment "
                                       "(workbench.experiments.cart_timing)",
                              settings=settings))
    written["abandoned_cart_config"] = save_abandoned_cart(section, out / "abandoned_cart.json")
    written["abandoned_cart_schema"] = _write_json(out / "abandoned_cart.schema.json",
                                                   json_schema())
    exp = ep[ep.arm.notna()]
    overall = exp.groupby("arm").recovered.mean()
    kpis = [Kpi("carts", "carts in the experiment", f"{len(exp):,}"),
            Kpi("natural", "recovered with no message",
                f"{overall.get(settings['holdout'], float('nan')):.1%}",
                "the holdout arm: what comes back anyway")]
    for r in d.recommendations.itertuples():
        val = f"{r.channel} after {r.delay_hours:g} h" if r.send else "send nothing"
        kpis.append(Kpi(f"rec-{r.purchase_type}", f"{r.purchase_type} carts", val,
                        f"+{r.incremental_margin:.2f} per cart [{r.ci_low:.2f}, {r.ci_high:.2f}]"))
    from .experiments import analyze_experiment

    km = analyze_experiment(exp, "arm", "recovered", settings["holdout"], kind="binary",
                            duration="duration_hours", event="event")
    paragraphs = [
        "Which reminder earns margin that would not have come anyway? Every abandoned cart "
        "in the test was randomized to a delay and channel, or to no message at all; the "
        "no-message arm shows how many customers come back on their own.",
        *d.summary().split("\n"),
    ]
    charts = {"decision": d.chart()}
    sc = km.survival_chart(time_title="hours since the cart was abandoned")
    if sc is not None:
        charts["recovery"] = sc.properties(title="Share of carts recovered over time, by arm")
    rec_cols = ["purchase_type", "arm", "send", "channel", "delay_hours", "incremental_margin",
                "ci_low", "ci_high", "prob_beats_holdout", "prob_best", "n"]
    tables = [("Recommendation per purchase type", d.recommendations[rec_cols])]
    if d.truth is not None:
        tables.append(("Against the simulator's truth", d.truth))
    return Section(title="Abandoned-cart timing", anchor="cart-timing", paragraphs=paragraphs,
                   kpis=kpis, charts=charts, tables=tables)
