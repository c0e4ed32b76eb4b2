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
from .report import (
    Report,
    Section,
    attribution_section,
    cart_timing_section,
    clv_section,
    discount_section,
    overview_section,
)
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


def run_all(dataset: Path, out: Path, echo: Callable[[str], None] = print,
            apps: bool = False) -> dict[str, Path]:
    """Validate ``dataset``, run the analyses, write reports into ``out``.

    ``apps``: also export the what-if apps (:func:`export_apps`) into ``out/apps``.
    Returns the written files by label.  Raises
    :class:`~workbench.schema.DatasetValidationError` (with the full report)
    when the dataset is invalid; nothing is written then.
    """
    manifest = {**load_manifest(dataset), "_path": str(dataset)}
    report = validate(dataset)
    if not report.ok:
        raise DatasetValidationError(report)
    echo(report.summary())
    con = open_dataset(dataset)
    currency = manifest.get("config", {}).get("currency", "USD")
    ov = store_overview(con, currency=currency)
    sections = [overview_section(ov)]
    if "messages" in con.list_tables() and con.table("messages").count().execute():
        from .features.operations import message_funnel, weekly_efficiency
        from .report import operations_section

        sections.append(operations_section(message_funnel(con), weekly_efficiency(con)))
    subtitle = (f"Dataset {dataset} · hash {manifest.get('dataset_hash', '?')} · "
                f"{manifest.get('generator', 'imported')}"
                + (f" · seed {manifest['seed']}" if "seed" in manifest else ""))
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for analysis in (_cart_timing, _discount, _attribution, _clv):
        section = analysis(con, manifest, out, written, echo)
        if section is not None:
            sections.append(section)
    section = _campaign_config(manifest, out, written, echo)
    if section is not None:
        sections.insert(1, section)
    summary = {"dataset": str(dataset), "dataset_hash": manifest.get("dataset_hash"),
               "kpis": ov.kpis, "funnel": ov.funnel.to_dict(orient="records"),
               "messages": ov.messages.to_dict(orient="records")}
    written["numbers"] = _write_json(out / "overview.json", summary)
    written["report"] = Report("Store report", subtitle, sections).save(out / "index.html")
    if apps:
        written.update(export_apps(dataset, out / "apps", written.get("campaign_config"), echo))
    return written


APPS_DIR = Path(__file__).resolve().parents[1] / "notebooks" / "apps"


def export_apps(dataset, out: Path, config: Path | None = None, echo=print,
                apps_dir: Path = APPS_DIR, env: dict | None = None,
                timeout_s: float = 1800) -> dict[str, Path]:
    """Export each marimo app (``notebooks/apps/*.py``) to ``out/NAME.html`` on ``dataset``.

    ``marimo export html`` runs the app on the dataset (the policy lab starting from
    ``config``); a failed export leaves the earlier file in place and is reported.
    These pages load marimo's frontend from its CDN: the offline report is
    ``index.html``; ``make apps`` serves the live apps locally.
    """
    import os
    import subprocess
    import sys

    if not apps_dir.is_dir():
        echo(f"apps: {apps_dir} not found (an installed package has no notebooks); skipped")
        return {}
    out.mkdir(parents=True, exist_ok=True)
    run_env = {**os.environ, **(env or {}), "WORKBENCH_APP_DATASET": str(Path(dataset).resolve())}
    if config is not None:
        run_env["WORKBENCH_APP_CONFIG"] = str(Path(config).resolve())
    written = {}
    for app in sorted(apps_dir.glob("*.py")):
        target = out / f"{app.stem}.html"
        tmp = out / f".{app.stem}.html.tmp"
        try:
            proc = subprocess.run([sys.executable, "-m", "marimo", "export", "html", str(app),
                                   "-o", str(tmp), "-f"], env=run_env, capture_output=True,
                                  text=True, check=False, timeout=timeout_s)
            failed, output = proc.returncode != 0, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired:
            failed, output = True, f"timed out after {timeout_s:g} s"
        if failed or not tmp.exists():
            tmp.unlink(missing_ok=True)
            tail = output.strip().splitlines()[-5:]
            echo(f"apps: exporting {app.name} failed; {target.name} was not replaced:\n  "
                 + "\n  ".join(tail))
            continue
        os.replace(tmp, target)
        written[f"app_{app.stem}"] = target
    return written


def _cart_timing(con, manifest, out: Path, written: dict, echo) -> Section | None:
    """Abandoned-cart timing: run when the dataset has a randomized cart experiment."""
    from .campaigns import json_schema, save_abandoned_cart, section_from_study
    from .experiments import ExperimentInputError
    from .experiments.cart_timing import run_cart_timing

    try:
        study = run_cart_timing(con, dataset_hash=manifest.get("dataset_hash"))
    except ExperimentInputError as exc:
        echo(f"cart timing: skipped ({exc})")
        return None
    if study.decision is None:
        echo(f"cart timing: not enough data to decide ({study.reason}); no config exported")
    else:
        written["abandoned_cart_config"] = save_abandoned_cart(section_from_study(study),
                                                               out / "abandoned_cart.json")
        written["abandoned_cart_schema"] = _write_json(out / "abandoned_cart.schema.json",
                                                       json_schema())
    return cart_timing_section(study)


def _discount(con, manifest, out: Path, written: dict, echo) -> Section | None:
    """Discount calibration: run when the dataset has a randomized discount experiment."""
    from .campaigns.discount import save_discount, section_from_decision
    from .features.discount import discount_units
    from .models.discount import (
        MESSAGE_COST,
        DiscountInputError,
        fit_discounts,
        score_against_truth,
    )

    units = discount_units(con).execute()
    if units.empty:
        echo("discount calibration: no randomized discount experiment; skipped")
        return None
    try:
        # 2,000 draws: with ~8 segments the hyper-scales need them for ESS > 400 (measured)
        # segments are pooled toward segments like them (their deal / value / recency flags)
        fit = fit_discounts(units, draws=2000, tune=1500, random_seed=0)
    except DiscountInputError as exc:
        echo(f"discount calibration: not enough data ({exc})")
        return discount_section(reason=f"There is not enough data to fit the model yet: {exc}")
    model, econ, units = fit.model, fit.economics, fit.units
    decision = fit.decide()
    exported = False
    if decision.converged:
        written["discount_config"] = save_discount(
            section_from_decision(decision, model, segmentation=fit.segmentation),
            out / "discount.json")
        exported = True
    else:
        echo("discount calibration: the fit failed its diagnostics; no config exported")
    score = None
    if "truth_discount_response" in con.list_tables():
        from .simulate.truth import discount_conversion_truth

        try:
            truth = discount_conversion_truth(manifest["_path"], units).assign(
                segment=units.segment)
            score = score_against_truth(decision, truth, econ, message_cost=MESSAGE_COST)
        except KeyError as exc:  # a dataset simulated before this truth was recorded
            echo(f"discount calibration: no per-level truth in this dataset ({exc}); "
                 "re-simulate to score the decision")
    return discount_section(model, decision, exported=exported, score=score)


def _attribution(con, manifest, out: Path, written: dict, echo) -> Section | None:
    """Attribution: every model on the store's journeys; truth scoring on simulated data."""
    from .attribution import AttributionInputError
    from .attribution.analysis import analyze_attribution, weekly_attribution, window_sweep
    from .campaigns.attribution import save_attribution, summary_from_analysis

    truth = None
    if "truth_messages" in con.list_tables():
        from .simulate.truth import campaign_incremental_revenue

        truth = campaign_incremental_revenue(manifest["_path"])
    try:
        analysis = analyze_attribution(con, truth=truth, n_boot=100)
        sweep = window_sweep(con, truth=truth, windows=(1, 3, 5, 7, 14))
        weekly = weekly_attribution(con)
    except AttributionInputError as exc:
        echo(f"attribution: skipped ({exc})")
        return attribution_section(reason=f"No journeys to attribute: {exc}")
    written["attribution_summary"] = save_attribution(
        summary_from_analysis(analysis, manifest.get("dataset_hash")), out / "attribution.json")
    return attribution_section(analysis, sweep, weekly=weekly)


def _clv(con, manifest, out: Path, written: dict, echo) -> Section | None:
    """CLV: fit on all but the last 90 days, validate on them, score every customer."""
    from .clv import CLVInputError
    from .models.clv_analysis import analyze_clv

    try:
        analysis = analyze_clv(con, dataset=manifest["_path"])
    except (CLVInputError, ValueError) as exc:
        echo(f"clv: skipped ({exc})")
        return clv_section(reason=f"Not enough order history to fit the CLV models: {exc}")
    sc = analysis.scorecard
    tmp = out / f".clv_scorecard.{uuid.uuid4().hex[:8]}.tmp.csv"
    try:
        sc.to_csv(tmp, index=False)
        os.replace(tmp, out / "clv_scorecard.csv")
    finally:
        tmp.unlink(missing_ok=True)
    written["clv_scorecard"] = out / "clv_scorecard.csv"
    return clv_section(analysis)


def _campaign_config(manifest, out: Path, written: dict, echo) -> Section | None:
    """The campaign config built from the analyses' exports, and its replayed effect."""
    from .campaigns.abandoned_cart import load_abandoned_cart
    from .campaigns.attribution import load_attribution
    from .campaigns.config import (
        CampaignConfig,
        baseline_from_dataset,
        diff_configs,
        json_schema,
        save_config,
        with_recommendations,
    )
    from .campaigns.discount import load_discount
    from .report import change_section

    simulated = "config" in manifest
    base = baseline_from_dataset(manifest["_path"]) if simulated else CampaignConfig()
    sections = {
        "abandoned_cart": (load_abandoned_cart(written["abandoned_cart_config"])
                           if "abandoned_cart_config" in written else None),
        "discount": (load_discount(written["discount_config"])
                     if "discount_config" in written else None),
        "attribution": (load_attribution(written["attribution_summary"])
                        if "attribution_summary" in written else None)}
    new = with_recommendations(base, **sections)
    new.provenance.dataset_hash = manifest.get("dataset_hash")
    written["campaign_config"] = save_config(new, out / "campaign_config.json")
    written["campaign_config_schema"] = _write_json(out / "campaign_config.schema.json",
                                                    json_schema())
    if not simulated:
        return change_section(diff_configs(base, new), None,
                              "This dataset was not simulated, so the change cannot be "
                              "replayed; review the differences before deploying.")
    from .campaigns.replay import Replayer

    n = min(int(manifest["config"].get("n_customers", 5000)), 5000)
    rp = Replayer.from_dataset(manifest["_path"], base, replications=3, n_customers=n)
    res = rp.run(new)
    # each recommendation alone (the baseline's runs are cached, so each costs one config)
    names = {"abandoned_cart": "abandoned-cart timing policy",
             "discount": "discount rule by segment"}
    parts = {names[k]: rp.run(with_recommendations(base, **{k: v}))
             for k, v in sections.items() if k in names and v is not None}
    echo(f"replay: {len(res.changes)} setting(s) changed; replayed on {n:,} customers x 3")
    return change_section(res.changes, res, parts=parts if len(parts) > 1 else None)
