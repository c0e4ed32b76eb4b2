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
    # attribution models on paths: no scipy (its import is a quarter second of a command
    # that runs in two), no pandas (another quarter); Arrow comes when a file is read
    ("workbench.attribution", {"numpy"}),
])
def test_a_model_library_imports_only_what_its_fit_needs(module, allowed):
    loaded = _loaded(f"import {module}")
    assert loaded <= allowed, f"{module} pulls in {sorted(loaded - allowed)}"


def test_attributing_a_csv_from_the_command_line_never_imports_pandas(tmp_path):
    """``workbench attribution FILE --json``, with its default bootstrap and at order 2:
    Arrow reads and splits the paths, numpy fits, the JSON is written from the columns
    (pyarrow's own numpy conversion would import pandas: the package reads Arrow's
    buffers instead).  A DataFrame's table is still there for who asks for it."""
    f = tmp_path / "paths.csv"
    f.write_text("path,total_conversions,total_conversion_value,total_null\n"
                 "email > sms,3,30.5,7\nsms,1,10,9\ndirect > email,2,18,4\nemail,0,0,5\n")
    for order in ("1", "2"):
        loaded = _loaded(
            "import sys\nfrom workbench.cli import main\n"
            f"sys.argv = ['workbench', 'attribution', {str(f)!r}, '--json', '--order', {order!r}]"
            "\ntry:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code")
        assert "pandas" not in loaded and {"numpy", "pyarrow"} <= loaded, loaded
    from workbench.attribution import attribute, read_paths

    res = attribute(read_paths(f), "markov", n_boot=0)
    assert list(res.table.channel) == ["direct", "email", "sms"]
    assert res.table.conversions.sum() == pytest.approx(6.0)
