"""The model registry, side-by-side comparison, credit shifts and scoring against truth."""

from __future__ import annotations

import html
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..results import Result
from .base import AttributionModel, AttributionResult, as_paths
from .markov import MarkovChain
from .paths import AttributionInputError, Paths
from .rules import FirstTouch, LastClick, LastNonDirectClick, Linear, PositionBased, TimeDecay
from .shapley import Shapley

if TYPE_CHECKING:  # altair is imported when a chart is drawn: it is slow to import
    import altair as alt
    import pandas as pd

__all__ = ["MODELS", "Comparison", "attribute", "compare", "make_model", "score_against_truth",
           "shift_table"]

#: model name → class; the names the CLI and :func:`attribute` accept
MODELS: dict[str, type[AttributionModel]] = {
    m.name: m for m in (FirstTouch, LastClick, LastNonDirectClick, Linear, PositionBased,
                        TimeDecay, MarkovChain, Shapley)}

SINGLE_TOUCH = ("first_touch", "last_click", "last_non_direct")


def make_model(model: str | AttributionModel, **options: Any) -> AttributionModel:
    """A model instance from its registry name and constructor options.

    Examples
    --------
    >>> make_model("markov", order=2)  # doctest: +NORMALIZE_WHITESPACE
    MarkovChain(order=2, states='prefix', value_method='chain', n_boot=200, ci=0.95,
                boot='auto', seed=0)
    """
    if isinstance(model, AttributionModel):
        if options:
            raise ValueError("options go to the constructor when a model instance is given")
        return model
    cls = MODELS.get(model)
    if cls is None:
        raise ValueError(f"unknown attribution model {model!r}; choose from {sorted(MODELS)}")
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"model {model!r} has no option(s) {unknown}; its options: {allowed}")
    return cls(**options)


def attribute(paths: Paths | pd.DataFrame | str, model: str | AttributionModel = "markov",
              **options: Any) -> AttributionResult:
    """Fit one attribution model and return its :class:`AttributionResult`.

    Parameters
    ----------
    paths
        :class:`Paths`, or an aggregated-path DataFrame / CSV path read with
        :func:`read_paths` defaults.
    model
        One of ``first_touch``, ``last_click``, ``last_non_direct``, ``linear``,
        ``position``, ``time_decay``, ``markov``, ``shapley`` (or a model instance).
    **options
        The model's constructor options, e.g. ``order=2`` for ``markov``,
        ``n_boot``, ``ci``, ``seed`` for any.

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["email", "sms"], ["sms"]], conversions=[2, 1], nulls=[1, 3])
    >>> attribute(p, "linear", n_boot=0).table["conversions"].tolist()
    [1.0, 2.0]
    """
    return make_model(model, **options).fit(as_paths(paths)).result_


# ---------------------------------------------------------------------------- comparison
@dataclass
class Comparison(Result):
    """Every model's credit side by side.

    ``long`` is tidy (one row per model and channel, the columns of
    :attr:`AttributionResult.table` plus ``model``); ``table`` is the wide
    conversions table (channel × model).
    """

    results: dict[str, AttributionResult]
    long: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        return self.wide("conversions")

    def wide(self, measure: str = "conversions") -> pd.DataFrame:
        """Channel × model table of ``conversions``, ``value`` or ``share``."""
        w = self.long.pivot(index="channel", columns="model", values=measure)
        return w[list(self.results)].rename_axis(columns=None)

    def shift_table(self, base: str = "last_click") -> pd.DataFrame:
        return shift_table(self, base=base)

    def score(self, truth: pd.Series, **kwargs: Any) -> pd.DataFrame:
        return score_against_truth(self, truth, **kwargs)

    def summary(self) -> str:
        w = self.wide("share")
        lines = [f"Credit share by channel under {len(self.results)} models:"]
        lines += ["  " + ln for ln in w.map(lambda v: f"{v:6.1%}").to_string().splitlines()]
        if "last_click" in self.results and len(self.results) > 1:
            s = self.shift_table()
            big = s.loc[s["shift_conversions"].abs().idxmax()]
            lines.append(f"Largest move from last click: {big['channel']} under {big['model']} "
                         f"({big['shift_conversions']:+,.1f} conversions).")
        return "\n".join(lines + self.notes)

    def _repr_html_(self) -> str:
        return (f"<pre>{html.escape(self.summary())}</pre>"
                + self.wide("conversions").to_html(float_format=lambda v: f"{v:,.1f}"))

    def chart(self, measure: str = "share") -> alt.Chart:
        """Grouped bars: each channel's credit under every model."""
        import altair as alt

        d = self.long.copy()
        return alt.Chart(d).mark_bar().encode(
            y=alt.Y("model:N", sort=list(self.results), title=None),
            x=alt.X(f"{measure}:Q", title=f"attributed {measure}",
                    axis=alt.Axis(format="%" if measure == "share" else ",.0f")),
            color=alt.Color("model:N", sort=list(self.results), legend=None),
            row=alt.Row("channel:N", title=None, header=alt.Header(labelAngle=0,
                                                                   labelAlign="left")),
            tooltip=["model", "channel", alt.Tooltip("conversions:Q", format=",.1f"),
                     alt.Tooltip("value:Q", format=",.2f"), alt.Tooltip("share:Q", format=".1%")],
        ).properties(title=f"Attributed {measure} by channel and model", height=alt.Step(12))


def _specs(models: Iterable | Mapping | None, paths: Paths) -> tuple[list[tuple[str, Any]],
                                                                     list[str]]:
    notes: list[str] = []
    if models is None:
        names = list(MODELS)
        if not paths.has_times:
            names.remove("time_decay")
            notes.append("time_decay left out: the paths carry no touch times.")
        return [(n, n) for n in names], notes
    if isinstance(models, Mapping):
        return list(models.items()), notes
    out = []
    for spec in models:
        if isinstance(spec, str):
            out.append((spec, spec))
        elif isinstance(spec, AttributionModel):
            out.append((spec.name, spec))
        elif isinstance(spec, tuple) and len(spec) == 2:
            out.append((spec[0], spec))
        else:
            raise ValueError(f"a model is a name, an instance or (name, options), got {spec!r}")
    return out, notes


def compare(paths: Paths | pd.DataFrame | str, models: Iterable | Mapping | None = None,
            **common: Any) -> Comparison:
    """Fit several models on the same paths and line their credit up by channel.

    Parameters
    ----------
    paths
        As for :func:`attribute`.
    models
        ``None`` (every registered model; ``time_decay`` only when the paths
        have touch times), a list of names, instances or ``(name, options)``
        pairs, or a dict ``label → spec`` for custom labels (e.g.
        ``{"markov_2": ("markov", {"order": 2})}``). Labels must be unique.
    **common
        Options given to every model built from a name (``n_boot``, ``ci``, ``seed``).

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["email", "sms"], ["sms"]], conversions=[2, 1], nulls=[1, 3])
    >>> c = compare(p, ["last_click", "linear"], n_boot=0)
    >>> c.table.to_dict()
    {'last_click': {'email': 0.0, 'sms': 3.0}, 'linear': {'email': 1.0, 'sms': 2.0}}
    """
    import pandas as pd

    paths = as_paths(paths)
    specs, notes = _specs(models, paths)
    labels = [lab for lab, _ in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"model labels must be unique, got {labels}; pass a dict label → spec")
    results: dict[str, AttributionResult] = {}
    for label, spec in specs:
        if isinstance(spec, AttributionModel):
            model = spec
        elif isinstance(spec, tuple):
            model = make_model(spec[0], **{**common, **spec[1]})
        else:
            model = make_model(spec, **common)
        results[label] = model.fit(paths).result_
    long = pd.concat([r.table.assign(model=label) for label, r in results.items()],
                     ignore_index=True)
    long = long[["model", *[c for c in long.columns if c != "model"]]]
    return Comparison(results=results, long=long, notes=notes)


def _as_results(results: Comparison | Mapping[str, AttributionResult] |
                Iterable[AttributionResult]) -> dict[str, AttributionResult]:
    if isinstance(results, Comparison):
        return dict(results.results)
    if isinstance(results, Mapping):
        return dict(results)
    out: dict[str, AttributionResult] = {}
    for r in results:
        if r.model in out:
            raise ValueError(f"two results of model {r.model!r}: pass a dict label → result")
        out[r.model] = r
    return out


def shift_table(results: Comparison | Mapping[str, AttributionResult] |
                Iterable[AttributionResult], base: str = "last_click") -> pd.DataFrame:
    """Credit each model moves to or from every channel, relative to ``base``.

    One row per (model, channel) for every model other than ``base``:
    ``base_conversions``, ``conversions``, ``shift_conversions`` (model − base)
    and ``shift_conversions_pct`` (``100 * shift / base``; NaN where the base
    gave the channel nothing), and the same for ``value``.

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["email", "sms"], ["sms"]], conversions=[2, 1], nulls=[1, 3])
    >>> s = compare(p, ["last_click", "linear"], n_boot=0).shift_table()
    >>> s[["model", "channel", "shift_conversions", "shift_conversions_pct"]].round(2)
        model channel  shift_conversions  shift_conversions_pct
    0  linear   email                1.0                    NaN
    1  linear     sms               -1.0                 -33.33
    """
    import pandas as pd

    res = _as_results(results)
    if base not in res:
        raise ValueError(f"base model {base!r} is not among the results {list(res)}")
    b = res[base].table.set_index("channel")
    rows = []
    for label, r in res.items():
        if label == base:
            continue
        t = r.table.set_index("channel")
        chans = b.index.union(t.index, sort=False)
        bb, tt = b.reindex(chans).fillna(0.0), t.reindex(chans).fillna(0.0)
        d = pd.DataFrame({"model": label, "channel": chans})
        for m in ("conversions", "value"):
            base_m, new_m = bb[m].to_numpy(), tt[m].to_numpy()
            shift = new_m - base_m
            with np.errstate(divide="ignore", invalid="ignore"):
                pct = np.where(base_m > 0, 100 * shift / base_m, np.nan)
            d[f"base_{m}"], d[m], d[f"shift_{m}"], d[f"shift_{m}_pct"] = base_m, new_m, shift, pct
        rows.append(d)
    if not rows:
        raise ValueError("shift_table needs at least one model besides the base")
    return pd.concat(rows, ignore_index=True)


def score_against_truth(results: Comparison | Mapping[str, AttributionResult] |
                        Iterable[AttributionResult], truth: pd.Series, *,
                        measure: str = "value", only_truth_channels: bool = False) -> pd.DataFrame:
    """Each model's error against the true incremental effect per channel.

    ``truth`` is indexed by channel (or campaign) label, e.g. the simulator's
    incremental revenue. A channel the truth does not list (such as ``direct``)
    has truth 0 — crediting it is an error — unless ``only_truth_channels``;
    a truth channel a model never saw has credit 0.

    Columns, one row per model, best first:

    * ``mae`` — mean absolute error of the credited ``measure`` in its unit;
      includes the non-incremental baseline every model also distributes, so it
      is large for all;
    * ``wape`` — ``sum |credit - truth| / sum |truth|``;
    * ``mae_share`` — mean absolute error of shares (credit / total credit vs
      truth / total truth): scale-free, the ranking metric;
    * ``max_share_error`` — the largest share error over channels;
    * ``spearman`` — rank correlation of credit and truth over channels;
    * ``rank`` — by ``mae_share`` (1 = closest).

    Examples
    --------
    >>> from workbench.attribution import Paths
    >>> p = Paths.from_sequences([["email", "sms"], ["sms"]], conversions=[2, 1],
    ...                          value=[20.0, 10.0], nulls=[1, 3])
    >>> c = compare(p, ["last_click", "linear"], n_boot=0)
    >>> import pandas as pd
    >>> s = score_against_truth(c, pd.Series({"email": 10.0, "sms": 20.0}))
    >>> s[["model", "mae_share", "rank"]].round(4).to_numpy().tolist()
    [['linear', 0.0, 1], ['last_click', 0.3333, 2]]
    """
    import pandas as pd

    if measure not in ("value", "conversions"):
        raise ValueError("measure must be 'value' or 'conversions'")
    res = _as_results(results)
    truth = pd.Series(truth, dtype=float)
    if truth.index.has_duplicates:
        raise AttributionInputError(f"truth: duplicated channel(s) "
                                    f"{truth.index[truth.index.duplicated()].tolist()}")
    if truth.isna().any():
        raise AttributionInputError(
            f"truth: missing value for {truth[truth.isna()].index.tolist()}")
    if truth.abs().sum() <= 0:
        raise AttributionInputError("truth: every value is zero; nothing to score against")
    rows = []
    for label, r in res.items():
        credit = r.table.set_index("channel")[measure]
        chans = truth.index if only_truth_channels else truth.index.union(credit.index, sort=False)
        c = credit.reindex(chans).fillna(0.0).to_numpy()
        t = truth.reindex(chans).fillna(0.0).to_numpy()
        err = np.abs(c - t)
        cs = c / c.sum() if c.sum() != 0 else np.zeros_like(c)
        ts = t / t.sum()
        share_err = np.abs(cs - ts)
        rho = (pd.Series(c).rank().corr(pd.Series(t).rank()) if len(chans) > 1 else np.nan)
        rows.append({"model": label, "mae": err.mean(), "wape": err.sum() / np.abs(t).sum(),
                     "mae_share": share_err.mean(), "max_share_error": share_err.max(),
                     "spearman": rho, "n_channels": len(chans)})
    out = pd.DataFrame(rows)
    out["rank"] = out["mae_share"].rank(method="min").astype(int)
    return out.sort_values(["rank", "model"]).reset_index(drop=True)
