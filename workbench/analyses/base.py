"""The analysis protocol: what every decision package implements.

An analysis runs on a :class:`Context` (one dataset, opened once) and returns
either its own result object or a :class:`Skipped` that says, in a sentence,
what it needed and did not find — and, where the decision needs a randomized
test the store has not run, which test to run.  From the result the analysis
gives its report :meth:`~Analysis.section`, the files it writes
(:meth:`~Analysis.export`), its :meth:`~Analysis.config_part` of the campaign
config and what it predicts for a later run to score (:meth:`~Analysis.predictions`).
``workbench run`` (:func:`workbench.pipeline.run_all`) is a loop over
:data:`workbench.analyses.ANALYSES` and knows nothing about any one analysis.

The shape follows CausalPy's ``BaseExperiment`` (one base, one result contract)
and scikit-learn's estimator registry (one list, one contract test over all).

Examples
--------
A new decision is a package with a subclass and one line in the registry::

    class SendHour(Analysis):
        name, title = "send_hour", "Best send hour"
        needs = {"messages": ("sent_at", "opened_at")}

        def run(self, ctx):
            ...  # features -> model -> decision; return a result or Skipped
        def section(self, result):
            return Section(self.title, paragraphs=[result.summary()])
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..report import Section
from ..store import DatasetError, absent_tables, has_truth, load_manifest, open_dataset


@dataclass
class Context:
    """What an analysis runs on: one dataset, opened once.

    ``options`` carries run-wide settings an analysis may read (keyword arguments of
    :meth:`open`); ``echo`` is where progress goes.
    """

    path: Path
    manifest: dict
    con: Any
    echo: Callable[[str], None] = print
    options: dict = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path, echo: Callable[[str], None] = print,
             backend: str = "duckdb", **options) -> Context:
        """Open the dataset at ``path`` (manifest + Ibis connection on ``backend``)."""
        path = Path(path)
        return cls(path, load_manifest(path), open_dataset(path, backend=backend), echo,
                   {"backend": backend, **options})

    @property
    def dataset_hash(self) -> str | None:
        return self.manifest.get("dataset_hash")

    @property
    def currency(self) -> str:
        """The store's currency: an import records it, a simulation's config holds it."""
        return (self.manifest.get("currency") or
                self.manifest.get("config", {}).get("currency") or "USD")

    @property
    def simulated(self) -> bool:
        """True when the simulator wrote this dataset (its config is in the manifest)."""
        return "config" in self.manifest

    @functools.cached_property
    def absent(self) -> tuple[str, ...]:
        """Canonical tables the dataset does not have (open as empty tables)."""
        return tuple(absent_tables(self.path))

    @functools.cached_property
    def tables(self) -> frozenset[str]:
        return frozenset(self.con.list_tables())

    def has_table(self, name: str, nonempty: bool = False) -> bool:
        """Whether the dataset has table ``name`` (with at least one row if ``nonempty``)."""
        if name not in self.tables:
            return False
        return not nonempty or bool(self.con.table(name).count().execute())

    def has_truth(self, table: str | None = None) -> bool:
        """Whether simulator truth (``table``, or any) is there (:func:`~.store.has_truth`)."""
        return has_truth(self.con, table)

    def missing(self, needs: dict[str, tuple[str, ...]]) -> str | None:
        """A sentence naming the first table or column of ``needs`` the dataset lacks."""
        for name, cols in needs.items():
            if name not in self.tables:
                return f"the dataset has no {name!r} table"
            have = set(self.con.table(name).columns)
            lacking = [c for c in cols if c not in have]
            if lacking:
                return f"table {name!r} lacks column(s) {lacking}"
        return None


@dataclass(frozen=True)
class Skipped:
    """An analysis that could not run on this dataset, and why.

    ``reason`` is one sentence naming what was needed and not found;
    ``test_to_run`` says which randomized test would let the decision be made
    (arms, holdout share, sample size at this store's traffic), when one would;
    ``described`` is what the data can still say without the decision (a paragraph
    and titled tables, e.g. discount codes described without a causal claim).
    """

    analysis: str
    reason: str
    test_to_run: str = ""
    described: str = ""
    tables: tuple = ()

    def __str__(self) -> str:
        return f"{self.analysis}: skipped ({self.reason})" + (
            f"; to decide it, run {self.test_to_run}" if self.test_to_run else "")


class Analysis:
    """One decision: features -> model -> decision -> section, exports, config part.

    Subclasses set ``name`` (the registry key and the label in logs), ``title``
    (the report section's title) and ``intro`` (the question the section
    answers), implement :meth:`run` and :meth:`section`, and override
    :meth:`export` and :meth:`config_part` when they write files or recommend
    settings.  ``needs`` lists the tables and columns the analysis reads, so
    :meth:`check` can skip it with a reason before any work.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    #: the section's anchor in the report (the same whether the analysis ran or was skipped)
    anchor: ClassVar[str] = ""
    intro: ClassVar[str] = ""
    needs: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: how the recommendation reads when replayed alone ("abandoned-cart timing policy")
    recommendation: ClassVar[str | None] = None
    #: the randomized test that lets this decision be made, for a store that has not run it
    test_to_run: ClassVar[str] = ""

    def check(self, ctx: Context) -> Skipped | None:
        """A :class:`Skipped` when the dataset lacks a table or column in ``needs``."""
        lacking = ctx.missing(self.needs)
        return None if lacking is None else self.skip(lacking)

    def skip(self, reason: str, test_to_run: str | None = None) -> Skipped:
        """A :class:`Skipped` for this analysis (the test to run defaults to the class's)."""
        return Skipped(self.name, reason, self.test_to_run if test_to_run is None
                       else test_to_run)

    def run(self, ctx: Context):  # pragma: no cover - abstract
        """The result object, or a :class:`Skipped`."""
        raise NotImplementedError

    def section(self, result) -> Section:  # pragma: no cover - abstract
        """The report section read from the result."""
        raise NotImplementedError

    def skipped_section(self, skipped: Skipped) -> Section:
        """The section a skipped analysis shows: its question and why it did not run."""
        text = f"This analysis did not run: {skipped.reason.rstrip('.')}."
        if skipped.test_to_run:
            text += f" To decide it, run {skipped.test_to_run}."
        return Section(title=self.title, anchor=self.anchor,
                       paragraphs=[p for p in (self.intro, text, skipped.described) if p],
                       tables=list(skipped.tables))

    def export(self, result, out: Path, ctx: Context) -> dict[str, Path]:
        """Write the analysis's files into ``out`` (atomically); return them by label."""
        return {}

    @staticmethod
    def write_csv(out: Path, label: str, frame, decimals: int = 4) -> dict[str, Path]:
        """Write ``frame`` as ``out/<label>.csv`` atomically; ``{label: path}``."""
        from ..files import atomic_path

        path = Path(out) / f"{label}.csv"
        num = frame.select_dtypes("number").columns  # dates and labels as they are
        with atomic_path(path) as tmp:
            frame.assign(**{c: frame[c].round(decimals) for c in num}).to_csv(tmp, index=False)
        return {label: path}

    def config_part(self, result, files: dict[str, Path]) -> dict[str, object]:
        """Keyword arguments for :func:`~workbench.campaigns.config.with_recommendations`."""
        return {}

    def predictions(self, result, ctx: Context):
        """What the result predicts about the data to come, to be scored by a later run.

        A frame of :func:`workbench.history.prediction_rows` (``None``: nothing to log);
        ``workbench run`` appends every analysis's rows to the prediction log and
        :mod:`workbench.analyses.accuracy` scores them when their horizon has passed.
        """
        return None

    def outcomes(self, logged, ctx: Context, result=None):
        """Score logged predictions of this analysis's kinds (``<name>.*``) on this data.

        ``logged``: the log's rows of those kinds (earlier runs); ``result``: this run's
        result, when the analysis ran.  Returns the rows whose horizon has passed, with
        ``actual`` (what happened) and ``inside`` (1.0 / 0.0 when the row's interval held
        it, NaN without an interval), or ``None`` when the analysis logs nothing.
        """
        return None

    def __call__(self, ctx: Context):
        """:meth:`check`, then :meth:`run`.

        A table or column a feature needs and the dataset lacks
        (:class:`~workbench.store.DatasetError`) becomes a :class:`Skipped`.
        """
        try:
            return self.check(ctx) or self.run(ctx)
        except DatasetError as exc:
            return self.skip(str(exc))

    def __repr__(self) -> str:
        return f"<analysis {self.name}: {self.title}>"


def band_labels(n: np.ndarray, bands) -> np.ndarray:
    """The label of each count ``n`` from ``bands``: ``(low, high, label)``, inclusive."""
    out = np.empty(np.size(n), dtype=object)
    n = np.asarray(n)
    for lo, hi, name in bands:
        out[(n >= lo) & (n <= hi)] = name
    return out


def verdict(low: float, high: float, win: str = "beats") -> str:
    """How a replayed difference's 95% interval reads: it beats, loses to, or neither."""
    return win if low > 0 else "loses to" if high < 0 else "is not distinguishable from"


def replayed(subject: str, against: str, row) -> str:
    """``"<subject> beats <against>: margin +d [lo, hi]"`` from a replay table's row."""
    return (f"{subject} {verdict(row.low, row.high)} {against}: margin "
            f"{row.difference:+,.0f} [{row.low:+,.0f}, {row.high:+,.0f}]")
