"""Self-contained HTML reports: :class:`Report`, :class:`Section` and :class:`Kpi`.

Sections come from the analyses (each analysis package has its ``section.py``);
this module only renders them.  A report is a list of :class:`Section` objects
rendered with Jinja2 into ONE
HTML file.  The Vega/Vega-Lite/vega-embed runtime comes from
``vl-convert-python``'s bundle and is inlined, so the file opens offline and
makes no network request; each chart is an Altair spec embedded as JSON.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import altair as alt
import jinja2
import markupsafe
import pandas as pd

from .. import __version__
from ..files import atomic_write_text

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("workbench.report", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)


@functools.lru_cache(maxsize=1)
def _vega_bundle() -> str:
    import vl_convert as vlc
    from altair.utils._importers import vl_version_for_vl_convert

    return vlc.javascript_bundle(vl_version=vl_version_for_vl_convert())


@dataclass
class Kpi:
    """A headline number with its label and an optional note (interval, comparison)."""

    key: str
    label: str
    value: str
    note: str = ""


@dataclass
class Section:
    """One section of a report: prose first, then numbers, charts and tables."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    kpis: list[Kpi] = field(default_factory=list)
    charts: dict[str, alt.TopLevelMixin] = field(default_factory=dict)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    anchor: str = ""

    def __post_init__(self):
        if not self.anchor:
            self.anchor = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def _table_html(caption: str, df: pd.DataFrame) -> str:
    fmt = df.copy()
    for col in fmt.columns:
        if pd.api.types.is_float_dtype(fmt[col]):
            is_rate = (col.endswith(("rate", "share", "conversion")) or "share_of" in col
                       or "_rate_" in col)
            fmt[col] = fmt[col].map(lambda v, r=is_rate: "" if pd.isna(v) else
                                    (f"{v:.1%}" if r else f"{v:,.2f}"))
        elif pd.api.types.is_datetime64_any_dtype(fmt[col]):
            fmt[col] = fmt[col].dt.strftime("%Y-%m-%d")
    html = fmt.to_html(index=False, border=0, escape=True, classes="data")
    head, rest = html.split(">", 1)
    return f"{head}><caption>{markupsafe.escape(caption)}</caption>{rest}"


@dataclass
class Report:
    """A self-contained HTML report."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def to_html(self) -> str:
        specs, views = {}, []
        for s in self.sections:
            charts = []
            for name, chart in s.charts.items():
                div = f"chart-{s.anchor}-{name}-{uuid.uuid4().hex[:6]}"
                specs[div] = chart.to_dict()
                charts.append({"div": div, "name": f"{s.anchor}/{name}"})
            views.append({"title": s.title, "anchor": s.anchor, "paragraphs": s.paragraphs,
                          "kpis": s.kpis, "charts": charts,
                          "tables": [_table_html(c, df) for c, df in s.tables]})
        # JSON inside <script>: escape "</" so no data can close the tag
        spec_json = json.dumps(specs, default=str).replace("</", "<\\/")
        return _ENV.get_template("report.html").render(
            title=self.title, subtitle=self.subtitle, sections=views, specs=spec_json,
            bundle=_vega_bundle(), vega_note=alt.SCHEMA_VERSION,
            generator=f"workbench {__version__}",
            footer=f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by workbench "
                   f"{__version__}. Opens offline: no external resources.",
        )

    def save(self, path: str | Path) -> Path:
        """Write the report atomically (a failed write leaves the old file intact)."""
        return atomic_write_text(path, self.to_html())


__all__ = ["Kpi", "Report", "Section"]
