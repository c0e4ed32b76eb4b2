"""Reference data shipped with the package (nothing is downloaded), and default stores."""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib import resources
from pathlib import Path

import pandas as pd


def load_cdnow_summary() -> pd.DataFrame:
    """The CDNOW sample as an RFM summary, time in **weeks** (see ``workbench/data/README.md``).

    Columns ``customer_id, frequency, recency, T, monetary_value``; 2,357 customers.

    >>> load_cdnow_summary().shape
    (2357, 5)
    """
    with resources.files("workbench.data").joinpath("cdnow_sample_summary.csv").open() as f:
        return pd.read_csv(f)


def default_store(n_customers: int = 20_000, seed: int = 0, root=None) -> Path:
    """A default simulated store on disk, simulated once per size and seed, then reused.

    Lives under ``root`` (default ``$WORKBENCH_CACHE`` or ``<tmp>/workbench``) in a folder
    named by size, seed, the simulator config's hash, the package version and a hash of
    the simulator's code, so apps
    and notebooks that need a dataset without being given one do not simulate it
    again, nothing is left behind per run, and a changed simulator (its config or its
    code) never reuses an old store.
    """
    from . import __version__
    from .simulate import scenario, simulate
    from .store import DatasetError, save_simulation

    root = Path(root or os.environ.get("WORKBENCH_CACHE")
                or Path(tempfile.gettempdir()) / "workbench")
    cfg = scenario("default", n_customers=n_customers)
    # keyed by what made it: another config, version or simulator code is another store
    code = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(
        (Path(__file__).parent / "simulate").glob("*.py")))).hexdigest()[:8]
    path = root / (f"default-{n_customers}-seed{seed}-{cfg.config_hash()}-v{__version__}"
                   f"-{code}")
    if (path / "manifest.json").exists():
        return path
    store = simulate(cfg, seed=seed)
    try:
        return save_simulation(store, path)
    except DatasetError:  # another process wrote it meanwhile (writes are atomic)
        if (path / "manifest.json").exists():
            return path
        raise
