"""E-commerce marketing workbench: simulate, store, validate, analyse, report.

The flow, one direction, lower layers never importing higher ones::

    simulate ──► store ──► features ──► analyses ──► decisions ──► report
    (simulate/)  (store)   (features/)  (later issues)  (campaigns/)  (report/)
                   ▲
                schema: the canonical tables and their validation

Names are imported lazily so ``workbench --help`` stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "default_store": "workbench.datasets",
    # schema
    "SCHEMA_VERSION": "workbench.schema",
    "TABLES": "workbench.schema",
    "ValidationReport": "workbench.schema",
    "Violation": "workbench.schema",
    "DatasetValidationError": "workbench.schema",
    "validate": "workbench.schema",
    # store
    "DatasetError": "workbench.store",
    "load_manifest": "workbench.store",
    "open_dataset": "workbench.store",
    "read_table": "workbench.store",
    "read_truth_params": "workbench.store",
    "save_simulation": "workbench.store",
    "write_dataset": "workbench.store",
    # simulate
    "SCENARIOS": "workbench.simulate",
    "SimulatedStore": "workbench.simulate",
    "SimulationConfig": "workbench.simulate",
    "load_config": "workbench.simulate",
    "scenario": "workbench.simulate",
    "simulate": "workbench.simulate",
    # features
    "StoreOverview": "workbench.features",
    "store_overview": "workbench.features",
    # report
    "Kpi": "workbench.report",
    "Report": "workbench.report",
    "Section": "workbench.report",
    "overview_section": "workbench.report",
    # pipeline
    "run_all": "workbench.pipeline",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
