"""Attribution on a store's own data: journeys → every model → comparison → truth.

:func:`analyze_attribution` builds journeys from the event log
(:func:`workbench.analyses.attribution.journeys.journeys`), runs the models side by side with
bootstrap intervals, aggregates credit by campaign and by channel, shows how much
credit moves away from last click, and — on simulated data — scores each model
against the simulator's true incremental revenue per campaign.
:func:`window_sweep` shows how the attribution window and counting opens inflate
the revenue credited to email and SMS.  Notebook 03, the report and the CLI read
these result objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...attribution.comparison import Comparison, compare, score_against_truth, shift_table
from ...attribution.paths import AttributionInputError, Paths, paths_from_journeys
from ...results import Result
from .journeys import journey_batches

#: models compared by default, in the order a marketer reads them
DEFAULT_MODELS = ("last_click", "first_touch", "last_non_direct", "linear", "position",
                  "time_decay", "markov", "shapley")
MESSAGE_MEDIA = ("email", "sms")


@dataclass
class AttributionAnalysis(Result):
    """Every model's credit on one store, by channel label and by campaign."""

    _skip_in_dict = ("comparison",)  # its tables are in by_campaign

    comparison: Comparison
    by_campaign: pd.DataFrame  # model, campaign, value, value_low, value_high, conversions
    shift: pd.DataFrame  # per model and channel: credit moved relative to last click
    journeys: dict  # counts: journeys, converting, touches, revenue
    score: pd.DataFrame | None = None  # per model: error against the truth, ranked
    truth: pd.Series | None = None  # true incremental revenue per channel label
    options: dict = field(default_factory=dict)

    def campaign_table(self, measure: str = "value") -> pd.DataFrame:
        """Campaign × model (wide), with the truth as a column when known."""
        w = self.by_campaign.pivot_table(index="campaign", columns="model", values=measure,
                                         aggfunc="sum")
        w = w[[m for m in self.comparison.results if m in w.columns]]
        if self.truth is not None and measure == "value":
            w["truth"] = campaign_totals(self.truth).reindex(w.index)
        return w

    def shift_wide(self, measure: str = "shift_value_pct") -> pd.DataFrame:
        """Channel × model: credit each model moves relative to last click (``measure``).

        ``shift_value_pct`` (default) is the change in credited value as a % of last
        click's; models in the comparison's order, last click itself left out.
        """
        if not len(self.shift):
            return pd.DataFrame()
        w = self.shift.pivot_table(index="channel", columns="model", values=measure,
                                   sort=False)
        return w.reindex(columns=[m for m in self.comparison.results
                                  if m != "last_click" and m in w.columns]).rename_axis(
            columns=None)

    def summary(self) -> str:
        j = self.journeys
        lines = [f"{j['journeys']:,} journeys ({j['converting']:,} converting, "
                 f"{j['touches']:,} touches, revenue {j['revenue']:,.0f})."]
        msg = self.by_campaign[self.by_campaign.campaign.isin(self._message_campaigns())]
        tot = msg.groupby("model").value.sum()
        if "last_click" in tot:
            lines.append(f"Last click credits {tot['last_click']:,.0f} of revenue to "
                         f"campaign messages; the multi-touch models "
                         f"{tot.drop('last_click').min():,.0f}–{tot.drop('last_click').max():,.0f}.")
        if self.score is not None and len(self.score):
            best = self.score.iloc[0]
            true_total = float(self.truth.sum())
            lines.append(f"Against the truth (the campaigns caused {true_total:,.0f} of "
                         f"incremental revenue), {best.model} is closest (mean share error "
                         f"{best.mae_share:.1%}); every model credits campaigns with "
                         f"revenue that would have come anyway.")
        return " ".join(lines)

    def _message_campaigns(self) -> list[str]:
        return sorted(self.by_campaign.loc[self.by_campaign.is_campaign, "campaign"].unique())

    def _repr_html_(self) -> str:
        out = f"<p>{self.summary()}</p>" + self.campaign_table().round(0).to_html()
        if self.score is not None:
            out += self.score.round(3).to_html(index=False)
        return out

    def chart(self):
        """Altair: revenue credited to each campaign by every model, with 95% intervals.

        The true incremental revenue is a red rule where known.
        """
        import altair as alt

        d = self.by_campaign[self.by_campaign.is_campaign].copy()
        if self.truth is not None:
            t = campaign_totals(self.truth).rename("truth")
            d = d.merge(t, left_on="campaign", right_index=True, how="left")
        # layers carry no data of their own, so the facet splits them all by campaign
        base = alt.Chart().encode(
            y=alt.Y("model:N", title=None, sort=list(self.comparison.results)),
            color=alt.Color("model:N", legend=None))
        bars = base.mark_bar().encode(
            x=alt.X("value:Q", title="revenue credited"),
            tooltip=["campaign", "model", alt.Tooltip("value:Q", format=",.0f"),
                     alt.Tooltip("value_low:Q", format=",.0f"),
                     alt.Tooltip("value_high:Q", format=",.0f")])
        err = base.mark_rule(color="black").encode(x="value_low:Q", x2="value_high:Q")
        layers = [bars, err]
        title = "Revenue credited per campaign by model (95% interval)"
        if self.truth is not None:
            layers.append(alt.Chart().mark_rule(color="crimson", strokeWidth=2).encode(
                x="truth:Q", tooltip=["campaign", alt.Tooltip("truth:Q", format=",.0f")]))
            title = ("Revenue credited per campaign by model (bars, 95% interval); "
                     "red: true incremental revenue")
        return alt.layer(*layers).properties(width=220, height=150).facet(
            facet=alt.Facet("campaign:N", title=None), columns=3, data=d).properties(
            title=title)


def _campaign_of(label: str) -> str:
    for medium in MESSAGE_MEDIA:
        if label.endswith(f"_{medium}"):
            return label[: -len(medium) - 1]
    return label


def campaign_totals(s: pd.Series) -> pd.Series:
    """Sum a series indexed by touch label (``abandoned_cart_email``) to campaigns."""
    return s.groupby([_campaign_of(i) for i in s.index]).sum()


def analyze_attribution(con, truth: pd.Series | None = None, models=DEFAULT_MODELS,
                        n_boot: int = 100, seed: int = 0, model_options: dict | None = None,
                        **journey_options) -> AttributionAnalysis:
    """Run the attribution models on a store's journeys and compare them.

    Parameters
    ----------
    con
        A connection from :func:`workbench.store.open_dataset`.
    truth
        True incremental revenue per channel label (e.g.
        :func:`workbench.simulate.truth.campaign_incremental_revenue`), to score against.
    models
        Model names (see :data:`workbench.attribution.MODELS`).
    n_boot, seed
        Bootstrap replications over journeys for every model's intervals.
    model_options
        Per-model constructor options, e.g. ``{"time_decay": {"half_life_days": 3},
        "markov": {"order": 2}, "position": {"first": 0.3, "last": 0.3}}``.
    **journey_options
        Passed to :func:`workbench.analyses.attribution.journeys.journeys` (lookback, windows,
        opens, labels).
    """
    summary = {"journeys": 0, "converting": 0, "touches": 0, "revenue": 0.0}
    paths, lab = _batched_paths(con, summary, **journey_options)
    opts = model_options or {}
    specs = {m: (m, opts.get(m, {})) for m in models}
    comp = compare(paths, specs, n_boot=n_boot, seed=seed)
    campaign_of = lab.campaign.fillna(lab.medium)
    rows = []
    for label, r in comp.results.items():
        t = r.table.assign(campaign=lambda x: x.channel.map(campaign_of).fillna(x.channel))
        g = t.groupby("campaign", as_index=False)[["conversions", "value"]].sum()
        lohi = _campaign_intervals(r, campaign_of)
        rows.append(g.merge(lohi, on="campaign", how="left").assign(model=label))
    by_campaign = pd.concat(rows, ignore_index=True)
    by_campaign["is_campaign"] = by_campaign.campaign.isin(set(lab.campaign.dropna()))
    score = None
    if truth is not None:
        score = score_against_truth(comp, truth, measure="value", only_truth_channels=True)
    shift = shift_table(comp, base="last_click") if "last_click" in comp.results and len(
        comp.results) > 1 else pd.DataFrame()
    return AttributionAnalysis(comparison=comp, by_campaign=by_campaign, shift=shift,
                               journeys=summary, score=score, truth=truth,
                               options={"models": list(models), "n_boot": n_boot,
                                        "model_options": opts, "journeys": {
                                            k: (str(v) if isinstance(v, dict) else v)
                                            for k, v in journey_options.items()}})


def _batched_paths(con, summary: dict | None = None, **journey_options):
    """The journeys' paths, read a batch of whole journeys at a time, and their labels.

    Returns the joined :class:`Paths` and each label's ``campaign`` and ``medium``
    (indexed by label); ``summary``'s counts are added to.
    """
    parts, labels = [], []
    for jr in journey_batches(con, **journey_options):
        parts.append(paths_from_journeys(jr, require_conversion=False))
        labels.append(jr.drop_duplicates("channel")[["channel", "campaign", "medium"]])
        if summary is not None:
            conv = jr[jr.converted].drop_duplicates("journey_id")
            summary["journeys"] += int(jr.journey_id.nunique())
            summary["converting"] += int(len(conv))
            summary["touches"] += len(jr)
            summary["revenue"] += float(conv.value.sum())
    if not parts:
        raise AttributionInputError("journeys: no rows: nothing to attribute")
    paths = Paths.concat(parts)
    if paths.total_conversions <= 0:
        raise AttributionInputError("journeys: no journey converted — nothing to attribute")
    lab = pd.concat(labels, ignore_index=True).drop_duplicates("channel").set_index("channel")
    return paths, lab


def _campaign_intervals(result, campaign_of: pd.Series) -> pd.DataFrame:
    """Bootstrap interval of each campaign's summed credit.

    Labels of one campaign are summed replicate by replicate, so the interval is of
    the sum, not a sum of intervals.
    """
    boot = getattr(result, "boot_value", None)
    if boot is None or len(boot) == 0:
        t = result.table.assign(campaign=result.table.channel.map(campaign_of)
                                .fillna(result.table.channel))
        return t.groupby("campaign", as_index=False).agg(value_low=("value_low", "sum"),
                                                         value_high=("value_high", "sum"))
    chans = list(result.table.channel)
    camp = pd.Series(chans).map(campaign_of).fillna(pd.Series(chans)).to_numpy()
    out = []
    for c in pd.unique(camp):
        s = np.asarray(boot)[:, camp == c].sum(axis=1)
        lo, hi = np.quantile(s, [(1 - result.ci) / 2, (1 + result.ci) / 2])
        out.append({"campaign": c, "value_low": lo, "value_high": hi})
    return pd.DataFrame(out)


def window_sweep(con, truth: pd.Series | None = None, windows=(1, 2, 3, 5, 7, 14),
                 opens=(False, True), model: str = "last_click",
                 ignore_machine_opens: bool = False,
                 include_visits: bool = False) -> pd.DataFrame:
    """Revenue credited to email and SMS as the attribution window and opens change.

    For each window length (days, the same for every message interaction) and with
    email opens counted or not, the revenue ``model`` credits to campaign messages,
    next to their true incremental revenue when ``truth`` is given
    (``inflation`` = credited / true).  By default visits from other sources are
    not touches (``include_visits=False``): that is how an email/SMS platform
    reports "attributed revenue" — any order within the window of a click or an
    open is the message's — the number this sweep puts in perspective.
    """
    rows = []
    for w in windows:
        for op in opens:
            paths, lab = _batched_paths(con, windows={
                ("email", "click"): w, ("email", "open"): w, ("sms", "click"): w},
                count_opens=op, ignore_machine_opens=ignore_machine_opens,
                include_visits=include_visits)
            r = compare(paths, [model], n_boot=0).results[model]
            msg = set(lab.index[lab.medium.isin(MESSAGE_MEDIA)])
            t = r.table[r.table.channel.isin(msg)]
            row = {"window_days": w, "opens_counted": op, "model": model,
                   "credited_revenue": float(t.value.sum()),
                   "credited_conversions": float(t.conversions.sum())}
            for medium in MESSAGE_MEDIA:
                mm = set(lab.index[lab.medium == medium])
                row[f"credited_{medium}"] = float(r.table[r.table.channel.isin(mm)].value.sum())
            rows.append(row)
    out = pd.DataFrame(rows)
    if truth is not None:
        out["true_incremental_revenue"] = float(truth.sum())
        out["inflation"] = out.credited_revenue / float(truth.sum())
    return out


def window_sweep_chart(sweep: pd.DataFrame):
    """Altair: credited revenue by window length, opens counted or not, truth as a rule."""
    import altair as alt

    line = alt.Chart(sweep).mark_line(point=True).encode(
        x=alt.X("window_days:Q", title="attribution window (days)"),
        y=alt.Y("credited_revenue:Q", title="revenue credited to email + SMS"),
        color=alt.Color("opens_counted:N", title="opens counted"),
        tooltip=["window_days", "opens_counted",
                 alt.Tooltip("credited_revenue:Q", format=",.0f")])
    if "true_incremental_revenue" in sweep:
        rule = alt.Chart(sweep.head(1)).mark_rule(color="crimson", strokeDash=[4, 4]).encode(
            y="true_incremental_revenue:Q")
        line = line + rule
    return line.properties(width=360, height=200,
                           title="Longer windows and counted opens inflate message credit "
                                 "(red: true incremental revenue)")


def weekly_attribution(con, models=("last_click", "markov"), **journey_options) -> pd.DataFrame:
    """Revenue credited to each campaign per week, under each model.

    The weekly strategic view, last click and multi-touch side by side, by the week of
    the conversion.  Every week's journeys (with the non-converting journeys that ended in it) are
    attributed on their own, without the bootstrap.  Columns ``week, model, campaign,
    value``.
    """
    weeks: dict = {}  # week -> its journeys' paths, from every batch
    labels = []
    for jr in journey_batches(con, **journey_options):
        jr["week"] = jr.end_ts.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period(
            "W-SUN").dt.start_time
        labels.append(jr.drop_duplicates("channel")[["channel", "campaign", "medium"]])
        for week, g in jr.groupby("week"):
            weeks.setdefault(week, []).append(paths_from_journeys(g, require_conversion=False))
    camp = pd.concat(labels, ignore_index=True).drop_duplicates("channel").set_index("channel")
    campaign_of = camp.campaign.fillna(camp.medium)
    rows = []
    for week in sorted(weeks):
        paths = Paths.concat(weeks[week])
        if paths.total_conversions <= 0:
            continue
        res = compare(paths, list(models), n_boot=0).results
        for label, r in res.items():
            t = r.table.assign(campaign=r.table.channel.map(campaign_of))
            for c, v in t.groupby("campaign").value.sum().items():
                rows.append({"week": week, "model": label, "campaign": c, "value": v})
    out = pd.DataFrame(rows)
    msg = set(camp.campaign.dropna())
    return out[out.campaign.isin(msg)].reset_index(drop=True)


def weekly_attribution_chart(weekly: pd.DataFrame):
    """Altair: weekly revenue credited to each campaign, one line per model."""
    import altair as alt

    return alt.Chart(weekly).mark_line().encode(
        x=alt.X("week:T", title="week"), y=alt.Y("value:Q", title="revenue credited"),
        color=alt.Color("model:N", title="model"),
        tooltip=["week:T", "campaign", "model", alt.Tooltip("value:Q", format=",.0f")],
    ).properties(width=220, height=120).facet(
        facet=alt.Facet("campaign:N", title=None), columns=3).properties(
        title="Weekly revenue by campaign: last click against multi-touch")


def message_credit(by_campaign: pd.DataFrame, truth: pd.Series | None = None,
                   score: pd.DataFrame | None = None) -> pd.DataFrame:
    """Revenue each attribution model credits to campaign messages, against the truth.

    Parameters
    ----------
    by_campaign
        :attr:`AttributionAnalysis.by_campaign`: columns ``model, campaign, value,
        is_campaign`` (``is_campaign`` marks message campaigns; the rest are visit
        sources such as ``direct``).
    truth
        True incremental revenue per touch label (the analysis' ``truth``); its sum is
        what the campaign messages caused.
    score
        :attr:`AttributionAnalysis.score` (per model ``mae_share``, ``spearman``,
        ``rank``), merged in when given.

    Returns
    -------
    pandas.DataFrame
        One row per model, in the order of ``by_campaign``: ``messages`` (revenue
        credited to campaign messages), ``total`` (all credited revenue),
        ``message_share`` (``messages / total``), and with ``truth``
        ``true_incremental`` and ``credit_to_truth`` (``messages / true_incremental``:
        above 1, the model credits messages with revenue that would have come anyway).

    Examples
    --------
    >>> bc = pd.DataFrame({"model": ["last_click"] * 2 + ["markov"] * 2,
    ...                    "campaign": ["abandoned_cart", "direct"] * 2,
    ...                    "value": [60.0, 140.0, 30.0, 170.0],
    ...                    "is_campaign": [True, False] * 2})
    >>> m = message_credit(bc, truth=pd.Series({"abandoned_cart_email": 40.0}))
    >>> m.loc["last_click", ["messages", "message_share", "credit_to_truth"]].tolist()
    [60.0, 0.3, 1.5]
    >>> m.loc["markov", ["messages", "message_share", "credit_to_truth"]].tolist()
    [30.0, 0.15, 0.75]
    """
    order = list(pd.unique(by_campaign.model))
    msg = by_campaign[by_campaign.is_campaign.astype(bool)].groupby("model").value.sum()
    out = pd.DataFrame({"messages": msg.reindex(order).fillna(0.0),
                        "total": by_campaign.groupby("model").value.sum().reindex(order)})
    out["message_share"] = out.messages / out.total.where(out.total != 0)
    if truth is not None:
        true_total = float(pd.Series(truth, dtype=float).sum())
        out["true_incremental"] = true_total
        out["credit_to_truth"] = out.messages / true_total if true_total else float("nan")
    if score is not None:
        cols = [c for c in ("mae_share", "spearman", "rank") if c in score.columns]
        out = out.join(score.set_index("model")[cols])
    return out.rename_axis("model")
