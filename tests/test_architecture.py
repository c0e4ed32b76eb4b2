"""The house checks itself: layers, cycles, module size, the registry, the public API.

The README's flow is the contract (``[tool.importlinter]`` in pyproject.toml): a
layer imports only the layers below it, and one decision never imports another.
Imports inside functions count too (grimp reads them), so a lazy import cannot
hide a back edge.
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import workbench
from workbench.analyses import ANALYSES, Analysis, Context, Skipped

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "workbench"
MAX_LINES = 700


def test_layers_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a dev dependency (make install)"
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def _graph() -> dict[str, set[str]]:
    """Every workbench module's workbench imports, function-level imports included."""
    mods = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    graph = {}
    for name, (p, is_pkg) in mods.items():
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = (here[: len(here) - node.level + 1] if node.level else [])
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    deps.add(full if full in mods else target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def test_no_import_cycles_including_lazy_imports():
    graph = _graph()
    # a package's __init__ importing its own submodules is how packages re-export; every
    # other edge counts, a submodule importing its own package included
    edges = {m: {d for d in ds if not d.startswith(m + ".")} for m, ds in graph.items()}
    index, low, stack, on, cycles, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_a_newcomer_cannot_read():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
             for p in PKG.rglob("*.py")}
    big = {k: v for k, v in sizes.items() if v > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def _notebook_imports() -> set[str]:
    found = set()
    nb_dir = ROOT / "notebooks"
    for p in [*nb_dir.rglob("*.ipynb"), *nb_dir.rglob("*.py")]:
        text = p.read_text(encoding="utf-8")
        src = ("\n".join("".join(c["source"]) for c in json.loads(text)["cells"]
                         if c["cell_type"] == "code") if p.suffix == ".ipynb" else text)
        for line in src.splitlines():
            line = line.strip()
            if line.startswith(("from workbench.", "import workbench.")):
                found.add(line.split()[1])
    return found


def test_notebooks_and_apps_use_the_public_api():
    mods = _notebook_imports()
    assert len(mods) <= 8, f"notebooks and apps reach into {len(mods)} submodules: {mods}"


def test_every_analysis_package_is_registered_once():
    packages = {m.name for m in pkgutil.iter_modules([str(PKG / "analyses")]) if m.ispkg}
    registered = [type(a).__module__.split(".")[2] for a in ANALYSES]
    assert packages == set(registered), (packages, registered)
    names = [a.name for a in ANALYSES]
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("analysis", ANALYSES, ids=lambda a: a.name)
def test_every_analysis_keeps_the_contract(analysis):
    assert isinstance(analysis, Analysis)
    assert analysis.name and analysis.title
    for method in ("run", "section"):
        assert getattr(type(analysis), method) is not getattr(Analysis, method), (
            f"{analysis.name} does not implement {method}()")


@pytest.mark.parametrize("analysis", ANALYSES, ids=lambda a: a.name)
def test_every_analysis_skips_with_a_reason_on_a_store_without_orders(analysis, tmp_path):
    """An empty dataset: each analysis is skipped, and its reason names what is missing."""
    from workbench.store import write_dataset

    path = write_dataset(tmp_path / "empty", {})
    ctx = Context.open(path, echo=lambda s: None)
    out = analysis(ctx)
    assert isinstance(out, Skipped), f"{analysis.name} ran on an empty dataset"
    assert out.analysis == analysis.name
    assert "has no" in out.reason, out.reason
    # the reason names a table this analysis reads
    assert any(t in out.reason for t in analysis.needs), (analysis.needs, out.reason)
    section = analysis.skipped_section(out)
    assert (section.title, section.anchor) == (analysis.title, analysis.anchor)
    assert out.reason.rstrip(".") in " ".join(section.paragraphs)


def test_public_api_resolves():
    for name in workbench.__all__:
        assert getattr(workbench, name) is not None, name
    # every analysis's entry point is exported from the top
    for a in ANALYSES:
        assert type(a).__name__ in workbench.__all__, type(a).__name__


def test_every_module_imports():
    for m in pkgutil.walk_packages([str(PKG)], prefix="workbench."):
        importlib.import_module(m.name)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """Every analysis but the Bayesian discount fit, on a small simulated store."""
    from workbench.simulate import scenario, simulate
    from workbench.store import save_simulation

    path = save_simulation(simulate(scenario("small"), seed=4),
                           tmp_path_factory.mktemp("arch") / "small")
    ctx = Context.open(path, echo=lambda s: None)
    return ctx, {a.name: a(ctx) for a in ANALYSES if a.name != "discount"}


def test_every_result_reads_the_same_way(small_run):
    """One contract over every result: prose, notebook HTML, JSON, a report section."""
    from workbench.results import Result

    ctx, results = small_run
    ran = {name: r for name, r in results.items() if not isinstance(r, Skipped)}
    assert set(ran) == {"overview", "operations", "cart_timing", "attribution", "clv",
                        "recommendations", "send_time", "holdouts", "browse_intent",
                        "channel", "replenishment"}, results
    for a in ANALYSES:
        if a.name not in ran:
            continue
        res = ran[a.name]
        assert isinstance(res, Result), f"{a.name} returns a {type(res).__name__}"
        assert str(res) == res.summary() and str(res).strip()
        assert "<p>" in res._repr_html_()
        json.dumps(res.to_dict())  # JSON-ready, no default= needed
        section = a.section(res)
        assert (section.title, section.anchor) == (a.title, a.anchor), a.name
        assert section.paragraphs, f"{a.name}: a section with no prose"


def test_an_analysis_skipped_inside_run_says_why_once(tmp_path):
    """The tiny store has no discount experiment: skipped from inside run(), with one
    reason, under its usual anchor (CLV's skip from inside run() is in test_clv_analysis)."""
    from workbench.simulate import scenario, simulate
    from workbench.store import save_simulation

    path = save_simulation(simulate(scenario("tiny"), seed=3), tmp_path / "tiny")
    ctx = Context.open(path, echo=lambda s: None)
    for name, needle in (("discount", "no randomized discount experiment"),):
        a = next(a for a in ANALYSES if a.name == name)
        out = a(ctx)
        assert isinstance(out, Skipped) and needle in out.reason, out
        section = a.skipped_section(out)
        text = " ".join(section.paragraphs)
        assert text.count(needle) == 1 and section.anchor == a.anchor, text
        assert bool(out.test_to_run) == (name == "discount")  # CLV needs no experiment
        assert ("To decide it, run" in text) == bool(out.test_to_run)


def test_no_package_name_hides_one_of_its_modules():
    """``from .journeys import journeys`` would make ``workbench.x.journeys`` the function,
    so ``import workbench.x.journeys as m`` (and monkeypatching a module) silently breaks."""
    import types

    hidden = []
    for m in pkgutil.walk_packages([str(PKG)], prefix="workbench."):
        if not m.ispkg:
            continue
        pkg = importlib.import_module(m.name)
        for sub in pkgutil.iter_modules(pkg.__path__):
            value = getattr(pkg, sub.name, None)
            if value is not None and not isinstance(value, types.ModuleType):
                hidden.append(f"{m.name}.{sub.name}")
    assert not hidden, hidden


def test_every_truth_table_an_analysis_asks_for_is_found_on_a_simulated_store(small_dataset):
    """An analysis scores itself against the truth only if ``has_truth`` finds the table
    it names: every name asked for in the package resolves on a simulated store (a
    ``truth/`` prefix included), and none on an unknown name."""
    import re

    ctx = Context.open(small_dataset, echo=lambda s: None)
    root = Path(__file__).resolve().parents[1] / "workbench" / "analyses"
    asked = {m for p in root.rglob("*.py")
             for m in re.findall(r"has_truth\(\s*\"([^\"]+)\"", p.read_text())}
    assert {"truth/customers", "truth/messages"} <= asked
    for name in sorted(asked):
        assert ctx.has_truth(name), name
    assert not ctx.has_truth("truth/no_such_table")
