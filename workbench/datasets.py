"""Reference data shipped with the package (nothing is downloaded)."""

from __future__ import annotations

from importlib import resources

import pandas as pd


def load_cdnow_summary() -> pd.DataFrame:
    """The CDNOW sample as an RFM summary, time in **weeks** (see ``workbench/data/README.md``).

    Columns ``customer_id, frequency, recency, T, monetary_value``; 2,357 customers.

    >>> load_cdnow_summary().shape
    (2357, 5)
    """
    with resources.files("workbench.data").joinpath("cdnow_sample_summary.csv").open() as f:
        return pd.read_csv(f)
