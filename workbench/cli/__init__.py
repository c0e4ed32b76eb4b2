"""The ``workbench`` command line: simulate, validate, run, recommend, experiments, replay.

Every command prints where its output went; errors are one clear message and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from .. import __version__
from .common import _as_of, _fail
from .deploy_cmd import deploy

DEFAULT_DATASET = Path("data/demo")
DEFAULT_REPORTS = Path("reports")


#: set by :func:`entry`: the process is the ``workbench`` command itself, so a data command
#: may change how the process obtains memory (never inside a test runner or a notebook)
_OWN_PROCESS = False


def entry() -> None:
    """The ``workbench`` console script: :func:`main` in a process of its own."""
    global _OWN_PROCESS
    _OWN_PROCESS = True
    main()


def _reuse_freed_memory(one_heap: bool = False) -> None:
    """A data command keeps freed memory for reuse (``threads.reuse_freed_memory``).

    Only in the command's own process: the setting is process-wide and permanent, so
    ``main`` called in-process (click's test runner, a notebook) leaves it alone.
    """
    if not _OWN_PROCESS:
        return
    from ..threads import reuse_freed_memory

    reuse_freed_memory(one_heap=one_heap)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="workbench")
def main():
    """Decide e-commerce campaign settings with evidence.

    \b
    Typical session:
      workbench simulate --scenario default --out data/demo   # a store with ground truth
      workbench validate data/demo                            # check it against the schema
      workbench run --dataset data/demo --out reports         # analyses + HTML report
    """


@main.command()
@click.option("--scenario", "scenario_name", default=None,
              help="Named store to simulate: default (20k customers, 365 days), small, tiny, "
                   "mid_size (100k), no_campaigns.  Default: 'default'.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="A JSON SimulationConfig file instead of a scenario.")
@click.option("--customers", type=click.IntRange(min=1), default=None,
              help="Number of customers (overrides the scenario).")
@click.option("--days", type=click.IntRange(min=1, max=3660), default=None,
              help="Length of the simulated window in days (overrides the scenario).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed; the same seed and config give identical tables.")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Dataset folder to write (replaced atomically if it exists).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def simulate(scenario_name, config_file, customers, days, seed, out, quiet):
    """Simulate a store with ground truth and write it as a dataset.

    The dataset holds the canonical tables (customers, products, sessions,
    events, orders, order_items, returns, messages, assignments) as Parquet, the
    simulator's truth under truth/, and manifest.json (seed, config hash, row
    counts).
    """
    from pydantic import ValidationError

    from ..simulate import config as sim_config
    from ..simulate import simulate as run_sim
    from ..store import save_simulation

    if scenario_name and config_file:
        _fail("give --scenario or --config, not both", 2)
    overrides = {k: v for k, v in (("n_customers", customers), ("days", days)) if v}
    try:
        if config_file:
            cfg = sim_config.load_simulation_config(config_file)
            if overrides:
                cfg = sim_config.SimulationConfig.model_validate({**cfg.model_dump(),
                                                                  **overrides})
        else:
            cfg = sim_config.scenario(scenario_name or "default", **overrides)
    except ValidationError as exc:
        _fail(f"invalid simulation config:\n{exc}", 2)
    except ValueError as exc:
        _fail(str(exc), 2)
    t0 = time.perf_counter()
    if quiet:
        store = run_sim(cfg, seed=seed)
    else:
        with click.progressbar(length=cfg.days, label=f"simulating {cfg.n_customers:,} "
                               f"customers x {cfg.days} days", file=sys.stderr) as bar:
            store = run_sim(cfg, seed=seed, progress=bar.update)
    path = save_simulation(store, out, scenario=scenario_name or ("config" if config_file
                                                                  else "default"))
    dt = time.perf_counter() - t0
    click.echo(f"dataset written to {path}  ({dt:.1f} s)")
    for name, table in store.tables.items():
        click.echo(f"  {name:<12} {table.num_rows:>12,} rows")
    click.echo(f"  truth/       {', '.join(store.truth)} + params.json")


@main.command()
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--backend", type=click.Choice(["duckdb", "pyspark"]), default="duckdb",
              show_default=True, help="The engine the rules and features run on: DuckDB "
              "in-process, or a local Spark session (pyspark and Java 17).")
def validate(path, as_json, backend):
    """Check the dataset at PATH against the canonical schema.

    Prints every violation (table, column, rule, number of rows, first
    offending keys) and exits 1, or prints a short summary and exits 0.
    """
    from ..engines import EngineError
    from ..store import DatasetError
    from ..store import validate as run_validate

    try:
        report = run_validate(Path(path), backend=backend)
    except (DatasetError, EngineError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(report.to_dict(), indent=2, default=str) if as_json
               else report.summary())
    sys.exit(0 if report.ok else 1)


@main.group("import")
def import_group():
    """A store's own exports into a dataset (validated, written atomically)."""


@import_group.command("orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--map", "mapping", default="", metavar="FIELD=COLUMN,...",
              help="Source column of each field: order_id, customer_id, placed_at and "
                   "revenue (orders) or product_id, quantity, unit_price (order lines); "
                   "optionally discount_amount, unit_cost, category.")
@click.option("--map-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The same map as a TOML [map] table, for reuse (--map entries win).")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Dataset folder to write (replaced only when the import succeeds).")
def import_orders(file, mapping, map_file, out):
    """Any table of orders or order lines (CSV or Parquet) into a dataset.

    \b
    workbench import orders orders_export.csv --out data/shop \\
      --map "order_id=Name,customer_id=Email,placed_at=Created at,\\
    product_id=Lineitem sku,quantity=Lineitem quantity,unit_price=Lineitem price,\\
    discount_amount=Discount Amount"

    Rejected rows go to DIR/rejects.csv with their reason; emails and phones used
    as customer ids are pseudonymized.
    """
    from ..importers import ImportInputError
    from ..importers.orders import import_orders as run
    from ..importers.orders import parse_map, read_map_file

    try:
        fields = {**(read_map_file(map_file) if map_file else {}), **parse_map(mapping)}
    except ImportInputError as exc:
        _fail(str(exc), code=2)
    _imported(lambda: run(Path(file), Path(out), fields, progress=_progress), file)


def _progress(msg: str) -> None:
    click.echo(msg, err=True)


def _imported(run_import, source: str):
    """Run one importer and print its summary; a clear error and nothing written on failure."""
    from ..importers import ImportInputError
    from ..schema import DatasetValidationError

    try:
        res = run_import()
    except ImportInputError as exc:
        _fail(str(exc), code=2)
    except DatasetValidationError as exc:
        _fail(f"{source}: the imported tables break the schema:\n{exc.report.summary()}")
    click.echo(res.summary())
    click.echo(f"rejected rows and their reasons: {res.path / 'rejects.csv'}")


@import_group.command("ga4")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Dataset folder to write (replaced only when the import succeeds).")
def import_ga4(paths, out):
    """GA4's BigQuery export (events_* as JSON lines, .json.gz or Parquet) into a dataset.

    \b
    workbench import ga4 export/events_*.json.gz --out data/shop

    PATHS are files or folders of them.  Sessions come from ga_session_id, traffic
    sources from source/medium (email and SMS from the UTM medium), orders and items
    from purchase events (a purchase logged twice is merged, once).
    """
    from ..importers.ga4 import import_ga4 as run

    _imported(lambda: run([Path(p) for p in paths], Path(out), progress=_progress),
              ", ".join(paths))


@import_group.command("shopify")
@click.option("--orders", "orders_file", type=click.Path(exists=True, dir_okay=False),
              required=True, help="orders_export.csv (current or older column layout).")
@click.option("--customers", "customers_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="customers_export.csv (sign-ups without orders, consent).")
@click.option("--products", "products_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="products_export.csv (product type and tags).")
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Dataset folder to write (replaced only when the import succeeds).")
def import_shopify(orders_file, customers_file, products_file, out):
    """The Shopify admin's CSV exports into a dataset.

    \b
    workbench import shopify --orders orders_export.csv \\
      --customers customers_export.csv --products products_export.csv --out data/shop
    """
    from ..importers.shopify import import_shopify as run

    _imported(lambda: run(Path(orders_file), Path(out),
                          customers=Path(customers_file) if customers_file else None,
                          products=Path(products_file) if products_file else None,
                          progress=_progress), orders_file)


@import_group.command("messages")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["klaviyo", "csv"]), default="klaviyo",
              show_default=True, help="Klaviyo-style metric events, or any CSV with --map.")
@click.option("--map", "mapping", default="", metavar="FIELD=COLUMN,...",
              help="For --format csv: the source column of each message field.")
@click.option("--into", type=click.Path(exists=True, file_okay=False), required=True,
              help="The existing dataset the messages are added to (rewritten atomically).")
@click.option("--cost", "cost", default="", metavar="CHANNEL=AMOUNT,...",
              help="Cost per message by channel (placeholder defaults email=0.004,sms=0.035: "
                   "set your platform's prices).")
def import_messages(file, fmt, mapping, into, cost):
    """An email/SMS platform's message events added to an existing dataset.

    \b
    workbench import messages klaviyo_events.csv --format klaviyo --into data/shop
    """
    from ..importers import ImportInputError
    from ..importers.messages import import_messages as run
    from ..importers.orders import parse_map

    try:
        costs = {k: float(v) for k, v in parse_map(cost).items()} or None
    except (ImportInputError, ValueError) as exc:
        _fail(f"--cost: {exc}", code=2)
    _imported(lambda: run(Path(file), Path(into), fmt=fmt, mapping=mapping, costs=costs,
                          progress=_progress), file)


@import_group.command("assignments")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--into", type=click.Path(exists=True, file_okay=False), required=True,
              help="The existing dataset the assignments are added to (rewritten "
                   "atomically).")
@click.option("--map", "mapping", default="", metavar="FIELD=COLUMN,...",
              help="The source column of each field: experiment, arm, assigned_at and one "
                   "of email, phone, customer_id.")
@click.option("--experiment", default=None, help="One experiment for the whole file "
              "(e.g. post_purchase_holdout, post_purchase_sequence).")
@click.option("--arm", default=None, help="One arm for the whole file (e.g. holdout).")
@click.option("--assigned-at", "assigned_at", default=None, metavar="TIME",
              help="One assignment time for the whole file (ISO 8601).")
def import_assignments(file, into, mapping, experiment, arm, assigned_at):
    """Who was in which arm of a test (a holdout list, an A/B split) added to a dataset.

    \b
    workbench import assignments holdout.csv --into data/shop --map email=Email \\
        --experiment post_purchase_holdout --arm holdout --assigned-at 2026-03-01
    """
    from ..importers.assignments import import_assignments as run

    _imported(lambda: run(Path(file), Path(into), mapping=mapping, experiment=experiment,
                          arm=arm, assigned_at=assigned_at, progress=_progress), file)


@main.command("export")
@click.argument("fmt", type=click.Choice(["ga4", "shopify", "klaviyo"]))
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="Folder for the exported files.")
@click.option("--layout", type=click.Choice(["current", "legacy"]), default="current",
              show_default=True, help="shopify: the admin's current or older CSV columns.")
@click.option("--file-format", "file_format", type=click.Choice(["jsonl.gz", "jsonl",
                                                                  "parquet"]),
              default="jsonl.gz", show_default=True, help="ga4: how events_* are written.")
def export(fmt, dataset, out, layout, file_format):
    """Write a dataset in a platform's export format (sample files, round-trip tests).

    \b
    workbench export ga4 data/demo --out exports/ga4
    workbench export shopify data/demo --out exports/shopify --layout legacy
    workbench export klaviyo data/demo --out exports/klaviyo
    """
    from ..exporters import export_dataset
    from ..store import DatasetError

    try:
        files = export_dataset(fmt, Path(dataset), Path(out), layout=layout,
                               file_format=file_format, progress=_progress)
    except DatasetError as exc:
        _fail(str(exc))
    for f in files:
        click.echo(str(f))


main.add_command(deploy)


@main.command()
@click.option("--dataset", type=click.Path(), default=str(DEFAULT_DATASET), show_default=True,
              help="Dataset folder to analyse.")
@click.option("--out", type=click.Path(file_okay=False), default=str(DEFAULT_REPORTS),
              show_default=True, help="Folder for reports and exported configs.")
@click.option("--apps/--no-apps", default=True, show_default=True,
              help="Also export the what-if apps (marimo) to OUT/apps/.")
@click.option("--current-config", type=click.Path(exists=True, dir_okay=False), default=None,
              help="An imported store's current campaign config (JSON): the recommended "
                   "changes are listed against it.")
@click.option("--timezone", default="UTC", show_default=True,
              help="The store's clock (an IANA name such as Europe/Paris): send hours are "
                   "read and recommended in it.")
@click.option("--backend", type=click.Choice(["duckdb", "pyspark"]), default="duckdb",
              show_default=True, help="The engine the rules and features run on: DuckDB "
              "in-process, or a local Spark session (pyspark and Java 17).")
@click.option("--history", type=click.Path(file_okay=False), help="Prediction log folder "
              "(earlier runs' predictions are scored, this run's added) [default: OUT/history].")
@click.option("--as-of", "as_of", metavar="DATE", help="Run on the dataset as it stood at DATE "
              "(UTC): the store's own history fills the prediction log.")
def run(dataset, out, apps, current_config, timezone, backend, history, as_of):
    """Run every analysis on a dataset and write the reports.

    Writes OUT/index.html (one self-contained HTML file that opens offline),
    OUT/overview.json (the numbers behind it), the exported configs and, with
    --apps, the what-if apps as static pages in OUT/apps/.  The dataset is validated first;
    an invalid dataset is refused with the full violation report.
    """
    _reuse_freed_memory()
    from ..campaigns.config import ConfigError
    from ..engines import EngineError
    from ..history import PredictionLogError
    from ..pipeline import run_all
    from ..schema import DatasetValidationError
    from ..store import DatasetError

    if not Path(dataset).exists():
        _fail(f"no dataset at {dataset}; create one with `workbench simulate --out {dataset}` "
              "(or `make demo`)")
    try:
        written = run_all(Path(dataset), Path(out), echo=click.echo, apps=apps,
                          current_config=Path(current_config) if current_config else None,
                          timezone=timezone, backend=backend,
                          history=Path(history) if history else None,
                          as_of=_as_of(as_of))
    except DatasetValidationError as exc:
        _fail(f"the dataset is invalid; nothing was written.\n{exc.report.summary()}")
    except (DatasetError, ConfigError, EngineError, PredictionLogError) as exc:
        _fail(str(exc))
    click.echo("written:")
    for label, p in written.items():
        click.echo(f"  {label:<10} {p}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--arm", required=True, help="Column naming each unit's arm.")
@click.option("--outcome", required=True, help="Outcome column: 0/1 or a number (revenue).")
@click.option("--control", required=True, help="Name of the control arm.")
@click.option("--covariate", default=None, help="Pre-period numeric column for CUPED.")
@click.option("--segment", default=None, help="Column to estimate effects per segment.")
@click.option("--kind", type=click.Choice(["auto", "binary", "continuous"]), default="auto",
              show_default=True, help="Outcome kind; auto = binary if only 0/1.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True, help="Significance level.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def experiment(file, arm, outcome, control, covariate, segment, kind, alpha, as_json):
    """Analyze a randomized experiment in FILE (CSV or Parquet), one row per unit.

    Per arm against the control: rates or means with intervals, lifts, p-values
    (Holm-corrected), sample-ratio-mismatch check, CUPED, Bayesian chance to
    beat control and to be best, anytime-valid intervals, power, and effects by
    segment.
    """
    import pandas as pd

    from ..experiments import ExperimentInputError, analyze_experiment

    try:
        df = (pd.read_parquet(file) if str(file).endswith((".parquet", ".pq"))
              else pd.read_csv(file))
    except Exception as exc:
        _fail(f"cannot read {file}: {exc}", 2)
    try:
        res = analyze_experiment(df, arm, outcome, control, kind=kind, covariate=covariate,
                                 segment=segment, alpha=alpha, name=str(file))
    except ExperimentInputError as exc:
        _fail(str(exc), 2)
    click.echo(res.to_json() if as_json else res.summary())


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "model_name", default="markov", show_default=True,
              help="first_touch, last_click, last_non_direct, linear, position, time_decay, "
                   "markov or shapley.")
@click.option("--order", type=click.IntRange(min=1), default=None,
              help="Markov chain order (markov only; default 1).")
@click.option("--sep", default=">", show_default=True, help="Separator of touches in a path.")
@click.option("--collapse-repeats", is_flag=True,
              help="Count consecutive identical touches once (changes touch-based rules and "
                   "Markov order >= 2).")
@click.option("--boot", "n_boot", type=click.IntRange(min=0), default=200, show_default=True,
              help="Bootstrap replicates over journeys for the intervals (0: none).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def attribution(file, model_name, order, sep, collapse_repeats, n_boot, as_json):
    """Attribute conversions and value to channels from an aggregated-paths CSV.

    FILE has the columns path (touches separated by ">"), total_conversions,
    total_conversion_value and total_null, as R's ChannelAttribution reads them.
    Prints conversions and value per channel with bootstrap intervals (and the
    removal effects for markov).
    """
    _reuse_freed_memory(one_heap=True)  # Arrow reads the file: one heap for both
    from ..attribution import AttributionInputError, attribute, read_paths

    opts = {"n_boot": n_boot}
    if order is not None:
        if model_name != "markov":
            _fail("--order applies to --model markov only", 2)
        opts["order"] = order
    try:
        paths = read_paths(file, sep=sep, collapse_repeats=collapse_repeats)
        res = attribute(paths, model_name, **opts)
    except (AttributionInputError, ValueError) as exc:
        _fail(str(exc), 2)
    click.echo(json.dumps(res.to_dict(), indent=2) if as_json else res.summary())


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", "model_name", type=click.Choice(["bgnbd", "mbgnbd", "paretonbd"]),
              default="bgnbd", show_default=True, help="Purchase model.")
@click.option("--spend", is_flag=True, help="Also fit the Gamma-Gamma spend model "
              "(needs monetary_value, or amount in a transaction log).")
@click.option("--calibration-end", default=None,
              help="FILE is a transaction log (customer_id, timestamp, amount): summarize it "
                   "up to this date first.")
@click.option("--time-unit", type=click.Choice(["days", "weeks", "months"]), default=None,
              help="Unit of recency and T (RFM file: what the file uses, default days; "
                   "transaction log: the unit to summarize in, default days).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def clv(file, model_name, spend, calibration_end, time_unit, as_json):
    """Fit a CLV model to FILE and print its parameters and log-likelihood.

    FILE is an RFM summary CSV (customer_id, frequency, recency, T[, monetary_value]) or,
    with --calibration-end, a transaction log (customer_id, timestamp, amount).
    """
    _reuse_freed_memory()
    import pandas as pd

    from ..clv import (
        BetaGeoModel,
        CLVInputError,
        GammaGammaModel,
        ModifiedBetaGeoModel,
        ParetoNBDModel,
    )

    unit = time_unit or "days"
    try:
        df = pd.read_csv(file)
        if calibration_end is not None:  # a transaction log: the dataset features (Ibis)
            from ..analyses.clv.features import rfm_from_transactions

            df = rfm_from_transactions(df, calibration_end, time_unit=unit)
        cls = {"bgnbd": BetaGeoModel, "mbgnbd": ModifiedBetaGeoModel,
               "paretonbd": ParetoNBDModel}[model_name]
        m = cls(time_unit=unit).fit(df)
        out = {"model": model_name, "time_unit": unit, "customers": m.n_customers_,
               "params": m.params_.to_dict(), "standard_errors": m.se_.to_dict(),
               "log_likelihood": m.log_likelihood_, "converged": m.converged_}
        if spend:
            g = GammaGammaModel(time_unit=unit).fit(df)
            out["spend"] = {"model": "gamma_gamma", "customers": g.n_customers_,
                            "params": g.params_.to_dict(), "standard_errors": g.se_.to_dict(),
                            "log_likelihood": g.log_likelihood_, "converged": g.converged_}
    except (CLVInputError, ValueError, KeyError) as exc:
        hint = ""
        if "missing col" in str(exc):
            hint = ("\nA store's export (Shopify orders, GA4, any orders table)? Import it "
                    "first and run the whole analysis on it:\n  workbench import shopify "
                    "--orders FILE --out data/shop   (or: workbench import orders FILE --map "
                    "...)\n  workbench run --dataset data/shop")
        _fail(str(exc) + hint, 2)
    if as_json:
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(f"{model_name}: {out['customers']} customers, time unit {unit}, "
                   f"log-likelihood {out['log_likelihood']:.2f}")
        for k, v in out["params"].items():
            click.echo(f"  {k} = {v:.6g} (SE {out['standard_errors'][k]:.3g})")
        if spend:
            click.echo(f"gamma_gamma: {out['spend']['customers']} customers, log-likelihood "
                       f"{out['spend']['log_likelihood']:.2f}")
            for k, v in out["spend"]["params"].items():
                click.echo(f"  {k} = {v:.6g}")


@main.command()
@click.option("--dataset", type=click.Path(exists=True, file_okay=False), required=True,
              help="The store's dataset folder (simulated or imported).")
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="Use the orders up to this date only (default: all of them).")
@click.option("--channel", type=click.Choice(["email", "sms", "site"]), default="email",
              show_default=True, help="Sets the products per list: email 4, SMS 1, site 4.")
@click.option("--k", type=click.IntRange(min=1, max=20), default=None,
              help="Products per customer (overrides the channel's).")
@click.option("--diversity", type=click.FloatRange(min=0), default=0.3, show_default=True,
              help="Weight against near-identical products in one list.")
@click.option("--margin", type=click.FloatRange(min=0), default=0.2, show_default=True,
              help="Weight of the product's unit margin.")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="File to write: .csv (one row per pick) or .json (one object per customer).")
@click.option("--cross-sell", "cross_sell", type=click.Path(dir_okay=False), default=None,
              help="Also write what to show after each product (post-purchase cross-sell, "
              "bought next): .csv, or .json as the campaign config's "
              "campaigns.post_purchase.recommender.")
def recommend(dataset, as_of, channel, k, diversity, margin, out, cross_sell):
    """Product recommendations for every customer, with the reason for each.

    The generators (popularity over 90 days, co-purchase, bought next, implicit ALS) are
    compared on the store's last 30 days of orders; the best is refitted on every order
    and each customer's list is re-ranked for relevance, diversity and margin.
    """
    _reuse_freed_memory()
    from ..analyses.recommendations import analyze_recommendations
    from ..files import atomic_path
    from ..recommend import RecommendInputError, Rerank
    from ..store import DatasetError, open_dataset

    for opt, f in (("--out", out), ("--cross-sell", cross_sell)):
        if f is not None and not str(f).endswith((".csv", ".json")):
            _fail(f"{opt} must end in .csv or .json, got {f}", 2)
    as_of = _as_of(as_of)
    try:
        con = open_dataset(dataset, truth=False)
        rr = Rerank.for_channel(channel, diversity=diversity, margin=margin)
        res = analyze_recommendations(con, channel=channel, k=k, rerank=rr, as_of=as_of)
    except (DatasetError, RecommendInputError) as exc:
        _fail(str(exc))
    lists = res.lists
    with atomic_path(out) as tmp:
        if str(out).endswith(".csv"):
            lists.to_csv(tmp, index=False)
        else:
            recs: dict = {}
            for r in lists.itertuples(index=False):
                cid = _plain(r.customer_id)
                entry = recs.setdefault(cid, {"customer_id": cid, "framing": r.framing,
                                              "products": []})
                entry["products"].append({"rank": int(r.rank),
                                          "product_id": _plain(r.product_id),
                                          "category": r.category, "reason": r.reason})
            recs = list(recs.values())
            tmp.write_text(json.dumps(recs, indent=1), encoding="utf-8")
    click.echo(res.summary())
    click.echo(f"written: {out} ({lists.customer_id.nunique():,} customers)")
    if cross_sell is not None:
        if res.picks is None:
            _fail(f"--cross-sell: no product of {dataset} was ever followed by another "
                  "order, so there are no cross-sell lists to write")
        with atomic_path(cross_sell) as tmp:
            if str(cross_sell).endswith(".csv"):
                res.cross_sell.to_csv(tmp, index=False)
            else:
                tmp.write_text(res.picks.model_dump_json(indent=1), encoding="utf-8")
        click.echo(f"written: {cross_sell} (after each of "
                   f"{res.cross_sell.product_id.nunique():,} products)")


def _plain(v):
    """A numpy scalar as the Python value JSON writes."""
    return v.item() if hasattr(v, "item") else v


@main.command()
@click.option("--dataset", type=click.Path(exists=True, file_okay=False), required=True,
              help="A simulated dataset: its store is replayed.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="The new campaign config (JSON; default: the baseline, "
                                 "changed by --set).")
@click.option("--set", "settings", multiple=True, metavar="PATH=VALUE",
              help="Change one setting of the new config, e.g. "
                   "campaigns.caps.sms_per_week=1 (VALUE is read as JSON when it parses). "
                   "Repeatable.")
@click.option("--baseline", "baseline_file", type=click.Path(exists=True, dir_okay=False),
              default=None, help="The config to compare with (default: the campaigns the "
                                 "dataset was simulated with).")
@click.option("--replications", type=click.IntRange(min=1), default=3, show_default=True,
              help="Paired replications (seeds) for the intervals.")
@click.option("--customers", type=click.IntRange(min=1), default=None,
              help="Replay a smaller store (faster).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def replay(dataset, config_file, settings, baseline_file, replications, customers, as_json):
    """Replay the dataset's store under a new campaign config, next to the baseline.

    Same customers, same random numbers: the differences in revenue, margin, discount
    cost, messages, unsubscribes and recovered carts are the config's effect, with 95%
    intervals from the paired per-customer differences (over every replication).
    """
    from ..campaigns.config import (
        ConfigError,
        baseline_from_dataset,
        load_campaign_config,
        with_settings,
    )
    from ..campaigns.replay import Replayer

    if config_file is None and not settings:
        _fail("give the new config with --config FILE, or change the baseline with --set", 2)
    try:
        base = load_campaign_config(baseline_file) if baseline_file else \
            baseline_from_dataset(Path(dataset))
        new = load_campaign_config(config_file) if config_file else base
        if settings:
            new = with_settings(new, dict(_setting(s) for s in settings))
        res = Replayer.from_dataset(Path(dataset), base, replications=replications,
                                    n_customers=customers).run(
            new, echo=None if as_json else lambda s: click.echo(s, err=True))
    except (ConfigError, ValueError) as exc:
        _fail(str(exc), 2)
    click.echo(json.dumps(res.to_dict(), indent=2, default=float) if as_json
               else res.summary())


def _setting(text: str) -> tuple[str, object]:
    path, eq, value = text.partition("=")
    if not eq or not path:
        _fail(f"--set {text!r}: expected PATH=VALUE, e.g. campaigns.caps.sms_per_week=1", 2)
    try:
        return path.strip(), json.loads(value)
    except json.JSONDecodeError:
        return path.strip(), value


@main.command()
@click.option("--campaign-config", is_flag=True,
              help="Print the JSON Schema of the campaign config instead.")
def schema(campaign_config):
    """Print the canonical schema (tables, columns, rules) as JSON."""
    if campaign_config:
        from ..campaigns.config import campaign_config_schema

        click.echo(json.dumps(campaign_config_schema(), indent=2))
        return
    from ..schema import schema_json

    click.echo(schema_json())


if __name__ == "__main__":  # pragma: no cover
    entry()
