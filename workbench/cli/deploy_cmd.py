"""``workbench deploy``: record the campaign config a store deployed, and when.

The config history (:class:`workbench.history.ConfigHistory`) is what the report's
"what changed" reads: which settings changed for whom at each deployment, and the effect
measured since against what the replay expected.
"""

from __future__ import annotations

from pathlib import Path

import click

from .common import _as_of, _fail

DEFAULT_HISTORY = Path("reports/history")


@click.command("deploy")
@click.argument("config_file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--at", "at", metavar="DATE", help="When it started to apply (UTC) "
              "[default: now].")
@click.option("--note", default="", help="What the change was, in a few words.")
@click.option("--history", type=click.Path(file_okay=False), default=str(DEFAULT_HISTORY),
              show_default=True, help="The history folder `workbench run --history` reads.")
@click.option("--list", "list_only", is_flag=True, help="List the recorded configs instead.")
def deploy(config_file, at, note, history, list_only):
    """Record CONFIG_FILE (a campaign config) as deployed at --at.

    \b
    workbench deploy reports/campaign_config.json --at 2025-09-01 --note "cart 1 h"
    workbench deploy --list
    """
    import pandas as pd

    from ..campaigns.config import ConfigError, load_campaign_config
    from ..history import ConfigHistory, PredictionLogError

    h = ConfigHistory(history)
    if list_only:
        try:
            entries = h.entries()
        except PredictionLogError as exc:
            _fail(str(exc))
        for e in entries:
            click.echo(f"{e['effective_from']:%Y-%m-%d %H:%M}  {e['source']:<9} "
                       f"{e['file'].name}  {e.get('note', '')}")
        if not entries:
            click.echo(f"no config recorded in {h.root}")
        return
    if config_file is None:
        _fail("give the config file to record (or --list)", 2)
    try:
        cfg = load_campaign_config(config_file)
    except ConfigError as exc:
        _fail(str(exc))
    when = pd.Timestamp.now(tz="UTC") if at is None else _as_of(at, "--at")
    path = h.record(cfg.model_dump(mode="json"), when, "deployed", note,
                    cfg.provenance.dataset_hash)
    click.echo(f"recorded as deployed from {pd.Timestamp(path.name[:16]):%Y-%m-%d %H:%M} "
               f"UTC: {path}")
