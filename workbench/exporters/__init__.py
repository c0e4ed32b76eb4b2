"""A dataset written in a platform's export format: sample files and round-trip tests.

Each exporter writes a canonical dataset (usually a simulated store) the way the
platform exports it, so that ``workbench export FORMAT`` gives a user sample files
and the test suite can go simulate -> export -> import -> analyse and compare
with the canonical dataset.  What a format cannot carry is said in each module.

* ``ga4`` (:mod:`.ga4`): GA4's BigQuery export, ``events_YYYYMMDD`` as JSON lines
  (plain or gzipped) or Parquet, in Google's nested schema;
* ``shopify`` (:mod:`.shopify`): the Shopify admin's orders, customers and products
  CSV exports, in the current or the older column layout;
* ``klaviyo`` (:mod:`.klaviyo`): an email/SMS platform's metric events (Received,
  Opened, Clicked Email; Received, Clicked SMS; Unsubscribed).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from ..importers import Progress, quiet

#: export format -> the module whose ``export(dataset, out, **options)`` writes it
EXPORTERS: dict[str, str] = {"ga4": ".ga4", "shopify": ".shopify", "klaviyo": ".klaviyo"}


def export_dataset(fmt: str, dataset: str | Path, out: str | Path, *,
                   progress: Progress = quiet, **options) -> list[Path]:
    """Write ``dataset`` in format ``fmt`` under ``out``; the files written.

    ``options`` are the format's own (``layout`` for shopify, ``file_format`` for
    ga4); options another format takes are ignored.
    """
    if fmt not in EXPORTERS:
        raise ValueError(f"export format must be one of {sorted(EXPORTERS)}, not {fmt!r}")
    module = import_module(EXPORTERS[fmt], __name__)
    return module.export(Path(dataset), Path(out), progress=progress, **options)


__all__ = ["EXPORTERS", "export_dataset"]
