"""The one result base: every analysis result reads the same way.

statsmodels' results and lifelines' fitters set the pattern: a result carries
its own presentation.  A result here is a dataclass that writes
:meth:`Result.summary` (the prose: the answer first, the caveats after) and
names its main table in ``_html_table``; this base derives the rest — ``str()``,
the notebook's HTML (the summary, then the table), and ``to_dict()``
(JSON-ready: DataFrames as records, numpy scalars unwrapped, NaN as ``None``).
``chart()`` stays each result's own: what to draw differs.

Examples
--------
>>> from dataclasses import dataclass
>>> import pandas as pd
>>> @dataclass
... class Lift(Result):
...     arms: pd.DataFrame
...     _html_table = "arms"
...     def summary(self):
...         return f"{len(self.arms)} arms."
>>> r = Lift(pd.DataFrame({"arm": ["a", "b"], "rate": [0.1, float("nan")]}))
>>> str(r), r.to_dict()
('2 arms.', {'arms': [{'arm': 'a', 'rate': 0.1}, {'arm': 'b', 'rate': None}]})
"""

from __future__ import annotations

import dataclasses
import html
import math
import sys
from datetime import date, datetime
from typing import Any, ClassVar

import numpy as np


def loaded_pandas():
    """The pandas module if it is imported, else None.

    No object can be a frame before pandas is imported, so a command that never needs
    pandas does not pay its import here (issue 15).
    """
    return sys.modules.get("pandas")


def plain(v: Any) -> Any:
    """A JSON-ready copy of ``v``: frames as records, numpy unwrapped, NaN/inf as ``None``."""
    pd = loaded_pandas()
    if pd is not None and isinstance(v, pd.DataFrame):
        return [{str(k): plain(x) for k, x in row.items()} for row in v.to_dict("records")]
    if pd is not None and isinstance(v, pd.Series):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set):
        return [plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if pd is not None and v is pd.NaT:
        return None
    if isinstance(v, datetime | date):  # a pandas Timestamp is a datetime
        return v.isoformat()
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return plain(v.to_dict() if hasattr(v, "to_dict") else dataclasses.asdict(v))
    return str(v)


def _number(v: float) -> str:
    """Money-sized numbers to the cent with separators, small ones to 4 significant digits."""
    return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.4g}"


class Result:
    """Mixin for result dataclasses: ``summary()`` in, ``str``/HTML/``to_dict`` out."""

    #: the field shown as a table under the summary in notebooks (None: none)
    _html_table: ClassVar[str | None] = None
    #: fields left out of :meth:`to_dict` (large, or not data: fitted models, raw rows)
    _skip_in_dict: ClassVar[tuple[str, ...]] = ()

    def summary(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        text = "".join(f"<p>{html.escape(line)}</p>" for line in str(self).splitlines())
        table = getattr(self, self._html_table) if self._html_table else None
        pd = loaded_pandas()
        if pd is not None and isinstance(table, pd.DataFrame):
            text += table.to_html(index=False, float_format=_number)
        return text

    def to_dict(self) -> dict:
        """JSON-ready fields (``json.dumps`` works on it)."""
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name not in self._skip_in_dict}


__all__ = ["Result", "loaded_pandas", "plain"]
