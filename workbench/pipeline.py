"""``workbench run``: every registered analysis on one dataset, into one report.

This module knows no analysis by name: it validates the dataset, loops over
:data:`workbench.analyses.ANALYSES` (each gives its section, files and config
part, or is *skipped* with its reason), builds the campaign config from the
parts, replays it in the simulator when the dataset was simulated, and writes
the report.  Outputs are written atomically, so a failed run leaves the
previous outputs intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from .analyses import ANALYSES, Analysis, Context, Skipped
from .analyses.accuracy import Accuracy, accuracy_section, accuracy_table
from .campaigns.config import (
    CampaignConfig,
    baseline_from_dataset,
    campaign_config_schema,
    diff_configs,
    load_campaign_config,
    save_config,
    with_recommendations,
)
from .campaigns.replay import Replayer
from .campaigns.section import change_section
from .files import atomic_path, atomic_write_json
from .history import ConfigHistory, PredictionLog, new_run_id
from .report import Report, Section
from .schema import DatasetValidationError
from .store import dataset_as_of, validate

#: the replay re-simulates at most this many customers (x 3 replications): enough for
#: per-customer intervals (see :class:`~workbench.campaigns.replay.Replayer`) in minutes
REPLAY_MAX_CUSTOMERS = 5000
#: config parts that name customers (replayed on the store's own customers, at full size)
PER_CUSTOMER_PARTS = ("send_time", "cart_channels", "replenishment_timing",
                      "frequency_caps")


def run_all(dataset: Path, out: Path, echo: Callable[[str], None] = print,
            apps: bool = False, analyses: Sequence[Analysis] = ANALYSES,
            replay_customers: int = REPLAY_MAX_CUSTOMERS,
            current_config: Path | None = None, timezone: str = "UTC",
            backend: str = "duckdb", history: Path | None = None,
            as_of=None) -> dict[str, Path]:
    """Validate ``dataset``, run the analyses, write reports into ``out``.

    ``history``: the prediction log's folder (default ``out/history``): the run scores
    the earlier runs' predictions that have come due on this data (the accuracy
    section) and, once the report is written, adds its own
    (:mod:`workbench.history`).  ``as_of``: run on the dataset as it stood then
    (:func:`~workbench.store.dataset_as_of`, a temporary copy): the store's own history
    backfills the log that a run on the whole data scores.

    ``backend``: the engine the validation and the features run on (``"duckdb"`` or
    ``"pyspark"``, :mod:`workbench.engines`); the models get its aggregates.
    ``timezone``: the store's clock (IANA name), passed to the analyses that read hours
    of the day (send time).
    ``current_config``: the store's current campaign config (JSON), which the
    recommendations are diffed against on a dataset that was not simulated (a
    simulated one ran under the config its manifest records).
    ``replay_customers``: the most customers the config is replayed on (0: not replayed).
    ``analyses``: which to run (default: the registry); ``apps``: also export the
    what-if apps (:func:`export_apps`) into ``out/apps``.  Returns the written files
    by label.  Raises :class:`~workbench.schema.DatasetValidationError` (with the full
    report) when the dataset is invalid; nothing is written then.
    """
    dataset, out = Path(dataset), Path(out)
    if as_of is not None:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".as-of-", dir=out) as tmp:
            echo(f"as of {pd.Timestamp(as_of):%Y-%m-%d %H:%M}: cutting {dataset}")
            cut = dataset_as_of(dataset, as_of, Path(tmp) / dataset.name)
            return run_all(cut, out, echo, apps, analyses, replay_customers, current_config,
                           timezone, backend, out / "history" if history is None else history)
    if current_config is not None:  # a bad config file is refused before any work is done
        load_campaign_config(current_config)
    report = validate(dataset, backend=backend)
    if not report.ok:
        raise DatasetValidationError(report)
    echo(report.summary())
    history = out / "history" if history is None else Path(history)
    log = PredictionLog(history)
    logged = log.read()  # a damaged log is refused here, before any work
    ctx = Context.open(dataset, echo=echo, backend=backend, timezone=timezone,
                       current_config=current_config, history=history)
    out.mkdir(parents=True, exist_ok=True)
    sections: list[Section] = []
    written: dict[str, Path] = {}
    parts: dict[str, object] = {}
    labels: dict[str, str] = {}
    predicted, scored = [], []
    for analysis in analyses:
        result = analysis(ctx)
        skipped = isinstance(result, Skipped)
        mine = logged[logged.kind.str.startswith(analysis.name + ".")]
        if len(mine):
            o = analysis.outcomes(mine, ctx, None if skipped else result)
            if o is not None and len(o):
                scored.append(o)
        if skipped:
            echo(str(result))
            sections.append(analysis.skipped_section(result))
            continue
        sections.append(analysis.section(result))
        files = analysis.export(result, out, ctx)
        written.update(files)
        part = analysis.config_part(result, files)
        parts.update(part)
        if analysis.recommendation:
            labels.update({k: analysis.recommendation for k in part})
        p = analysis.predictions(result, ctx)
        if p is not None and len(p):
            predicted.append(p)
    acc, acc_files = prediction_accuracy(log, logged, scored, out)
    written.update(acc_files)
    ops = [i for i, s in enumerate(sections) if s.anchor == "operations"]
    sections.insert(ops[0] + 1 if ops else len(sections), accuracy_section(acc))
    written_config, change = campaign_config(ctx, parts, labels, out, replay_customers,
                                             current_config)
    written.update(written_config)
    sections.insert(1 if sections else 0, change)
    # the exported config joins the history, at the data's end it was computed on
    end = ctx.con.table("orders").placed_at.max().execute()
    written["config_history"] = ConfigHistory(history).record(
        json.loads(written["campaign_config"].read_text(encoding="utf-8")), end, "exported",
        dataset_hash=ctx.dataset_hash)
    m = ctx.manifest
    subtitle = (f"Dataset {dataset} · hash {m.get('dataset_hash', '?')} · "
                f"{m.get('generator', 'imported')}"
                + (f" · seed {m['seed']}" if "seed" in m else ""))
    written["report"] = Report("Store report", subtitle, sections).save(out / "index.html")
    if predicted:  # only a run that wrote its report logs what it predicted
        run_id = new_run_id()
        frame = pd.concat(predicted, ignore_index=True).assign(
            made_at=pd.Timestamp.now(tz="UTC"), dataset_hash=ctx.dataset_hash)
        written["prediction_log"] = log.append(run_id, frame)
        echo(f"predictions: {len(frame):,} logged as run {run_id} in {log.root}")
    if apps:
        written.update(export_apps(dataset, out / "apps", written.get("campaign_config"), echo))
    return written


def prediction_accuracy(log: PredictionLog, logged: pd.DataFrame, scored: list,
                        out: Path) -> tuple[Accuracy, dict[str, Path]]:
    """Earlier runs' predictions scored on this data, and the CSV of the scores."""
    rows = pd.concat(scored, ignore_index=True) if scored else pd.DataFrame(
        columns=[*logged.columns, "actual", "inside"])
    notes = []
    if logged.empty:
        notes.append(f"This is the first run logged in {log.root}: a later run on newer "
                     "data scores what this one predicts.")
    elif rows.empty:
        due = (logged.as_of + pd.to_timedelta(logged.horizon_days, unit="D")).min()
        notes.append(f"No logged prediction has come due on this data yet: the earliest "
                     f"is due {due:%Y-%m-%d} (run on data that reaches past it).")
    acc = Accuracy(accuracy_table(rows), rows, log.runs(), notes)
    files = {}
    if len(acc.table):
        with atomic_path(out / "prediction_accuracy.csv") as tmp:
            acc.table.to_csv(tmp, index=False)
        files["prediction_accuracy"] = out / "prediction_accuracy.csv"
    return acc, files


def campaign_config(ctx: Context, parts: dict[str, object], labels: dict[str, str], out: Path,
                    replay_customers: int = REPLAY_MAX_CUSTOMERS,
                    current_config: Path | None = None) -> tuple[dict[str, Path], Section]:
    """The campaign config built from the analyses' parts, and its replayed effect.

    ``parts`` are keyword arguments of
    :func:`~workbench.campaigns.config.with_recommendations`; ``labels`` name the
    parts that are recommendations, each of which is also replayed alone.
    """
    if ctx.simulated:
        base = baseline_from_dataset(ctx.path)
    else:
        base = load_campaign_config(current_config) if current_config else CampaignConfig()
    new = with_recommendations(base, **parts)
    new.provenance.dataset_hash = ctx.dataset_hash
    written = {"campaign_config": save_config(new, out / "campaign_config.json"),
               "campaign_config_schema": atomic_write_json(
                   out / "campaign_config.schema.json", campaign_config_schema())}
    if not ctx.simulated:
        against = ("your current config" if current_config else
                   "the workbench's default settings, not your store's: give your current "
                   "campaign config with `workbench run --current-config FILE` to see what "
                   "would change for you")
        none = ("" if parts else " No analysis could recommend a setting on this dataset; "
                "each section below says what it needs.")
        return written, change_section(
            diff_configs(base, new), None, f"The changes are listed against {against}. "
            "This dataset was imported, not simulated, so the change cannot be replayed "
            "before deploying: each recommendation's evidence is in its section, and "
            "deploying it with its experiment share kept measures its effect." + none)
    if replay_customers <= 0:
        return written, change_section(diff_configs(base, new), None, "Not replayed in this "
                                       "run (replay_customers = 0).")

    full = int(ctx.manifest["config"].get("n_customers", replay_customers))
    n, reps = min(full, replay_customers), 3
    if any(k in parts for k in PER_CUSTOMER_PARTS):
        # a policy per customer id is replayed on the store's own customers: at its full
        # size, with fewer replications for the same number of customer-replications
        n, reps = full, max(1, min(3, round(3 * replay_customers / full)))
    rp = Replayer.from_dataset(ctx.path, base, replications=reps, n_customers=n)
    res = rp.run(new)
    # each recommendation alone (the baseline's runs are cached, so each costs one config)
    alone = {labels[k]: rp.run(with_recommendations(base, **{k: v}))
             for k, v in parts.items() if k in labels}
    ctx.echo(f"replay: {len(res.changes)} setting(s) changed; replayed on {n:,} customers "
             f"x {reps}")
    return written, change_section(res.changes, res, parts=alone if len(alone) > 1 else None)


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
        try:
            with atomic_path(target) as tmp:
                try:
                    proc = subprocess.run(
                        [sys.executable, "-m", "marimo", "export", "html", str(app), "-o",
                         str(tmp), "-f"], env=run_env, capture_output=True, text=True,
                        check=False, timeout=timeout_s)
                    failed, output = proc.returncode != 0, proc.stdout + proc.stderr
                except subprocess.TimeoutExpired:
                    failed, output = True, f"timed out after {timeout_s:g} s"
                if failed:
                    raise _ExportFailed(output)
        except (_ExportFailed, FileNotFoundError) as exc:
            tail = str(exc).strip().splitlines()[-5:]
            echo(f"apps: exporting {app.name} failed; {target.name} was not replaced:\n  "
                 + "\n  ".join(tail))
            continue
        written[f"app_{app.stem}"] = target
    return written


class _ExportFailed(RuntimeError):
    """``marimo export`` failed; its output is the message."""
