"""The shared base of every attribution model: fitting, bootstrap, the result object.

Every model turns :class:`~workbench.attribution.paths.Paths` into credit per
channel — attributed conversions and attributed value — that add up to the
observed totals.  A model only supplies ``_prepare(paths)``: a function of the
row counts ``(conversions, value, nulls)`` that returns the two credit vectors.
Because the path structure is fixed and only the counts move, the bootstrap
re-evaluates that function on resampled counts without re-encoding anything.

Uncertainty: nonparametric bootstrap over journeys (Efron & Tibshirani 1993,
ch. 13 percentile intervals). Each of the ``N = sum(conversions + nulls)``
journeys is a unit; a replicate draws ``N`` journeys with replacement, i.e. a
multinomial draw of counts over the cells (path ``i``, converted) and (path
``i``, not converted) with probabilities proportional to the observed counts.
A converting journey carries its path's mean value per conversion. Fractional
counts are allowed in the data; the replicate size is then ``round(N)``.
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..results import Result, plain
from .paths import AttributionInputError, Paths
from .reading import _is_frame, read_paths

if TYPE_CHECKING:  # altair is imported when a chart is drawn: it is slow to import
    import altair as alt
    import pandas as pd  # imported when a table is asked for (see _Columns)

__all__ = ["AttributionModel", "AttributionResult", "as_paths"]

CreditFn = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

TABLE_COLUMNS = ["channel", "conversions", "conversions_low", "conversions_high", "value",
                 "value_low", "value_high", "share"]


def as_paths(data: Paths | pd.DataFrame | str) -> Paths:
    """``Paths`` as is; a DataFrame or CSV path through :func:`read_paths` defaults."""
    if isinstance(data, Paths):
        return data
    if _is_frame(data) or isinstance(data, str) or hasattr(data, "__fspath__"):
        return read_paths(data)
    raise AttributionInputError(f"expected Paths, a DataFrame or a CSV path, got "
                                f"{type(data).__name__}")


class _Columns(dict):
    """A result's table kept as its columns until a DataFrame is asked for.

    ``workbench attribution --json`` reads a CSV, fits and prints without pandas (about a
    quarter of a second of its import: issue 15); ``result.table`` is a DataFrame as
    ever, built on first access (:meth:`AttributionResult.__getattribute__`).
    """

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(dict(self))

    def records(self) -> list[dict[str, Any]]:
        cols = {k: list(v) for k, v in self.items()}
        n = len(next(iter(cols.values()), []))
        return [{k: v[i] for k, v in cols.items()} for i in range(n)]


#: the fields of :class:`AttributionResult` that may hold :class:`_Columns`
_TABLES = ("table", "removal_effects")


@dataclass
class AttributionResult(Result):
    """Credit per channel from one model, with bootstrap intervals.

    ``table`` has one row per channel: ``conversions`` and ``value`` credited
    (they sum to ``total_conversions`` and ``total_value``), their percentile
    interval bounds (``*_low``, ``*_high``; NaN when ``n_boot == 0``) and
    ``share`` of conversions. ``removal_effects`` is filled by the Markov model.
    ``boot_conversions`` and ``boot_value`` hold the bootstrap replicates
    (replicate × channel, in ``table`` order; replicates without a conversion
    left out) so that intervals of sums over channels — a campaign's labels —
    can be taken replicate by replicate; they are not serialized.
    """

    model: str
    label: str
    table: pd.DataFrame
    total_conversions: float
    total_value: float
    n_boot: int
    ci: float
    params: dict[str, Any] = field(default_factory=dict)
    removal_effects: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    boot_conversions: np.ndarray | None = field(default=None, repr=False)
    boot_value: np.ndarray | None = field(default=None, repr=False)

    def __getattribute__(self, name: str):
        value = object.__getattribute__(self, name)
        if type(value) is _Columns and name in _TABLES:  # first access: a DataFrame now
            value = value.frame()
            object.__setattr__(self, name, value)
        return value

    def _records(self, name: str) -> list[dict[str, Any]] | None:
        """A table's rows as dicts, without building a DataFrame for it."""
        raw = object.__getattribute__(self, name)
        if raw is None:
            return None
        return raw.records() if type(raw) is _Columns else raw.to_dict("records")

    # ------------------------------------------------------------------ presentation
    def summary(self) -> str:
        rows = sorted(self._records("table"), key=lambda r: -r["conversions"])
        ci = f"{self.ci:.0%} bootstrap intervals, {self.n_boot} replicates" if self.n_boot else \
            "no bootstrap (n_boot=0)"
        lines = [f"{self.label}: {self.total_conversions:,.0f} conversions worth "
                 f"{self.total_value:,.2f} credited to {len(rows)} channels ({ci})."]
        for r in rows:
            iv = (f" [{r['conversions_low']:,.1f}, {r['conversions_high']:,.1f}]"
                  if np.isfinite(r["conversions_low"]) else "")
            lines.append(f"  {r['channel']}: {r['conversions']:,.1f} conversions{iv} "
                         f"({r['share']:.1%}), value {r['value']:,.2f}")
        return "\n".join(lines + self.notes)

    def _repr_html_(self) -> str:
        return (f"<p><b>{html.escape(self.label)}</b></p><pre>"
                f"{html.escape(self.summary())}</pre>"
                + self.table.to_html(index=False, float_format=lambda v: f"{v:,.4g}"))

    def chart(self, measure: str = "conversions") -> alt.LayerChart:
        """Bars of credit per channel with the bootstrap interval as a rule."""
        import altair as alt

        if measure not in ("conversions", "value"):
            raise ValueError("measure must be 'conversions' or 'value'")
        d = self.table.assign(model=self.label)
        order = d.sort_values(measure, ascending=False)["channel"].tolist()
        y = alt.Y("channel:N", sort=order, title=None)
        bars = alt.Chart(d).mark_bar().encode(
            y=y, x=alt.X(f"{measure}:Q", title=f"attributed {measure}"),
            tooltip=["channel", alt.Tooltip(f"{measure}:Q", format=",.2f"),
                     alt.Tooltip(f"{measure}_low:Q", format=",.2f"),
                     alt.Tooltip(f"{measure}_high:Q", format=",.2f"),
                     alt.Tooltip("share:Q", format=".1%")])
        layers = [bars]
        if self.n_boot:
            layers.append(alt.Chart(d).mark_rule(color="black").encode(
                y=y, x=f"{measure}_low:Q", x2=f"{measure}_high:Q"))
        return alt.layer(*layers).properties(
            title=f"{self.label}: attributed {measure}"
                  + (f" ({self.ci:.0%} bootstrap intervals)" if self.n_boot else ""))

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``json.dumps`` works on it); inverse of :meth:`from_dict`."""
        def rec(name: str):
            rows = self._records(name)
            return None if rows is None else [{k: plain(v) for k, v in r.items()} for r in rows]
        return {"model": self.model, "label": self.label, "total_conversions":
                self.total_conversions, "total_value": self.total_value, "n_boot": self.n_boot,
                "ci": self.ci, "params": {k: plain(v) for k, v in self.params.items()},
                "table": rec("table"),
                "removal_effects": rec("removal_effects"), "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AttributionResult:
        import pandas as pd

        table = pd.DataFrame(d["table"], columns=TABLE_COLUMNS).astype(
            {c: float for c in TABLE_COLUMNS[1:]})
        re = d.get("removal_effects")
        return cls(model=d["model"], label=d["label"], table=table,
                   total_conversions=float(d["total_conversions"]),
                   total_value=float(d["total_value"]), n_boot=int(d["n_boot"]),
                   ci=float(d["ci"]), params=dict(d.get("params", {})),
                   removal_effects=None if re is None else pd.DataFrame(re),
                   notes=list(d.get("notes", [])))


class AttributionModel:
    """Base class: settings in ``__init__``, data in :meth:`fit`, result in ``result_``.

    Parameters
    ----------
    n_boot
        Bootstrap replicates for the intervals (0 turns them off).
    ci
        Interval coverage (percentile interval).
    seed
        Seed or :class:`numpy.random.Generator` for the bootstrap; never set
        globally. With an int the fit is reproducible.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def __init__(self, *, n_boot: int = 200, ci: float = 0.95,
                 seed: int | np.random.Generator | None = 0) -> None:
        self.n_boot = n_boot
        self.ci = ci
        self.seed = seed

    # subclasses implement ------------------------------------------------------
    def _prepare(self, paths: Paths) -> CreditFn:  # pragma: no cover - abstract
        raise NotImplementedError

    def _describe(self) -> str:
        return self.label

    def _extras(self, paths: Paths) -> dict[str, Any]:
        """Extra result fields computed on the full data (e.g. removal effects)."""
        return {}

    # -------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                         if not isinstance(v, np.random.Generator))
        return f"{type(self).__name__}({args})"

    def _check_settings(self) -> None:
        if not isinstance(self.n_boot, int | np.integer) or self.n_boot < 0:
            raise ValueError(f"n_boot must be an integer >= 0, got {self.n_boot!r}")
        if not 0 < self.ci < 1:
            raise ValueError(f"ci must be in (0, 1), got {self.ci!r}")

    def _bootstrap(self, paths: Paths, credit: CreditFn, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Replicates of the credit (``n_boot`` × channels, conversions and value)."""
        return _bootstrap(paths, credit, self.n_boot, rng)

    def fit(self, paths: Paths | pd.DataFrame | str) -> AttributionModel:
        """Validate, attribute, bootstrap; the result goes to ``result_``."""
        self._check_settings()
        paths = as_paths(paths)
        credit = self._prepare(paths)
        conv, value = credit(paths.conversions, paths.value, paths.nulls)
        low_c = high_c = low_v = high_v = np.full(paths.n_channels, np.nan)
        bc = bv = None
        notes = []
        if self.n_boot:
            bc, bv = self._bootstrap(paths, credit, np.random.default_rng(self.seed))
            ok = np.isfinite(bc).all(axis=1)
            if not ok.all():
                notes.append(f"{int((~ok).sum())} of {self.n_boot} bootstrap replicates drew no "
                             "conversion and were left out.")
            bc, bv = bc[ok], bv[ok]
            if len(bc):
                q = [100 * (1 - self.ci) / 2, 100 * (1 + self.ci) / 2]
                low_c, high_c = np.percentile(bc, q, axis=0)
                low_v, high_v = np.percentile(bv, q, axis=0)
        total_c, total_v = paths.total_conversions, paths.total_value
        table = _Columns({
            "channel": list(paths.channels), "conversions": conv, "conversions_low": low_c,
            "conversions_high": high_c, "value": value, "value_low": low_v,
            "value_high": high_v, "share": conv / total_c})
        self.paths_ = paths
        self.credit_conversions_ = conv
        self.credit_value_ = value
        self.result_ = AttributionResult(
            model=self.name, label=self._describe(), table=table, total_conversions=total_c,
            total_value=total_v, n_boot=int(self.n_boot), ci=float(self.ci),
            params={k: v for k, v in self.get_params().items()
                    if not isinstance(v, np.random.Generator)},
            boot_conversions=bc, boot_value=bv, **self._extras(paths))
        self.result_.notes[:0] = notes
        return self

    def fit_result(self, paths: Paths | pd.DataFrame | str) -> AttributionResult:
        return self.fit(paths).result_


def _bootstrap(paths: Paths, credit: CreditFn, n_boot: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Credit on ``n_boot`` multinomial resamples of the journeys (see module doc)."""
    c, n = paths.conversions, paths.nulls
    cells = np.concatenate([c, n])
    total = cells.sum()
    p = cells / total
    size = max(int(round(total)), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_conv = np.where(c > 0, paths.value / c, 0.0)
    R = paths.n_paths
    out_c = np.full((n_boot, paths.n_channels), np.nan)
    out_v = np.full((n_boot, paths.n_channels), np.nan)
    for b in range(n_boot):
        k = rng.multinomial(size, p).astype(np.float64)
        kc, kn = k[:R], k[R:]
        if kc.sum() <= 0:  # a replicate without conversions has nothing to attribute
            continue
        out_c[b], out_v[b] = credit(kc, kc * per_conv, kn)
    return out_c, out_v


def credit_from_touch_shares(paths: Paths, share: np.ndarray) -> CreditFn:
    """Credit function of a rule that gives touch ``t`` the fraction ``share[t]`` of its path.

    ``share`` sums to 1 within every path, so credit sums to the totals.
    """
    row = paths.touch_row
    codes = paths.codes
    k = paths.n_channels

    def credit(conv, value, nulls):
        return (np.bincount(codes, share * conv[row], minlength=k),
                np.bincount(codes, share * value[row], minlength=k))
    return credit


def credit_from_touch_index(paths: Paths, touch: np.ndarray) -> CreditFn:
    """Credit function of a rule that gives all of path ``i`` to the touch ``touch[i]``."""
    code = paths.codes[touch]
    k = paths.n_channels

    def credit(conv, value, nulls):
        return (np.bincount(code, conv, minlength=k), np.bincount(code, value, minlength=k))
    return credit
