"""Every command imports only what it uses (issue 15): the import budget, guarded.

Each check runs in a fresh interpreter (``sys.modules`` of this test process is shared
with every other test), imports one entry point and lists the heavy packages that came
with it.  A command that fits a model on a CSV must not pay for the feature layer
(Ibis, DuckDB), the charts (Altair) or the samplers (PyMC, PyTensor).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "numpy", "scipy", "pyarrow", "ibis", "duckdb", "altair", "jinja2",
         "pymc", "pytensor", "sklearn", "statsmodels", "pydantic", "workbench.analyses",
         "workbench.simulate", "workbench.report")


def _loaded(code: str) -> set[str]:
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_command_line_itself_imports_nothing_heavy():
    """`workbench --help` and every command's --help load click and the CLI only."""
    assert _loaded("import workbench.cli") == set()


@pytest.mark.parametrize(("module", "allowed"), [
    # the CLV fit on an RFM file: numpy, scipy, pandas (which loads pyarrow itself) —
    # no features, charts or samplers
    ("workbench.clv", {"numpy", "scipy", "pandas", "pyarrow"}),
    # attribution models on paths: Arrow splits the path strings; no scipy (its import is
    # a quarter second of a command that runs in two)
    ("workbench.attribution", {"numpy", "pandas", "pyarrow"}),
])
def test_a_model_library_imports_only_what_its_fit_needs(module, allowed):
    loaded = _loaded(f"import {module}")
    assert loaded <= allowed, f"{module} pulls in {sorted(loaded - allowed)}"
