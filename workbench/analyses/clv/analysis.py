"""CLV on a store's own data: fit, holdout validation, value by acquisition, churn flags.

:func:`analyze_clv` splits the order history at ``calibration_end``, fits a
purchase model and the Gamma-Gamma spend model on the calibration period,
validates the predictions against the holdout period (by frequency bucket and
cumulatively over time, with error metrics), values every customer over a
horizon (the scorecard), compares acquisition channels (do customers acquired
with a discount have lower value?), flags valuable customers at risk and
promising new ones, and on simulated data checks P(alive) against the
simulator's truth.  Notebook 04, the report and ``workbench run`` read the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ...clv import CLVInputError, GammaGammaModel
from ...results import Result
from ...store import has_truth, read_table
from ...vocab import TIME_UNITS
from .features import (
    cohort_triangles,
    holdout_purchase_days,
    returns_rate,
    rfm_summary,
    transactions,
)
from .fits import MODELS, SegmentedFit, fit_segmented

#: the level of the scorecard's per-customer parameter intervals (``*_low/high``)
SCORE_INTERVAL = 0.8


@dataclass
class CLVAnalysis(Result):
    """Fitted CLV models with their validation and the decisions they support."""

    #: per-customer rows and fitted models stay out of to_dict (the scorecard CSV has them)
    _skip_in_dict = ("rfm", "model", "spend", "scorecard", "flags", "tracking", "cohorts",
                     "by_campaign", "fits")

    rfm: pd.DataFrame  # calibration RFM + holdout columns + acquisition_channel
    model: object  # the pooled purchase model (every customer)
    spend: GammaGammaModel  # the pooled spend model
    validation: pd.DataFrame  # frequency bucket: customers, actual, predicted holdout purchases
    metrics: dict  # holdout error metrics
    tracking: pd.DataFrame  # days after calibration end: cumulative actual vs predicted
    scorecard: pd.DataFrame  # one row per customer (the CLV scorecard + channel)
    by_channel: pd.DataFrame  # acquisition channel: customers, mean CLV with interval, ...
    flags: pd.DataFrame  # customers flagged: at_risk / promising_new
    truth: pd.DataFrame | None = None  # P(alive) calibration against the simulator
    #: acquisition campaign (the campaign of the message the first order carried) ×
    #: channel: customers, mean CLV with interval, ... (:func:`value_by`)
    by_campaign: pd.DataFrame | None = None
    settings: dict = field(default_factory=dict)
    cohorts: dict | None = None  # retention / revenue triangles by acquisition channel
    #: the models that scored: per segment where there are enough customers, else pooled
    fits: SegmentedFit | None = None

    def cohort_chart(self):
        """Altair: cumulative revenue per acquired customer, by acquisition channel.

        Months since acquisition on x: the value trend the CLV predicts forward.
        """
        return cohort_value_chart(self.cohorts)

    def summary(self) -> str:
        m = self.metrics
        s = self.settings
        lines = [
            f"{self.model.NAME} and Gamma-Gamma fitted on {len(self.rfm):,} customers up to "
            f"{s['calibration_end']:%Y-%m-%d}; over the {s['holdout_days']:.0f}-day holdout "
            f"the model predicted {m['predicted_total']:,.0f} repeat purchases and "
            f"{m['actual_total']:,.0f} happened ({m['total_error_pct']:+.1f}%); per customer "
            f"MAE {m['mae']:.3f}, RMSE {m['rmse']:.3f} purchases."]
        if self.fits is not None and self.fits.describe():
            lines.append(self.fits.describe())
        bc = self.by_channel.sort_values("mean_predicted_clv", ascending=False)
        top, low = bc.iloc[0], bc.iloc[-1]
        lines.append(f"Predicted {s['horizon_days']:.0f}-day CLV per customer is highest for "
                     f"{top.acquisition_channel} ({top.mean_predicted_clv:,.2f}) and lowest "
                     f"for {low.acquisition_channel} ({low.mean_predicted_clv:,.2f}).")
        d = (self.discount_acquired_gap() if "discount_promo" in set(bc.acquisition_channel)
             else None)
        if d is not None and d["n_other"]:  # (everyone discount-acquired: no gap to take)
            lines.append(f"Customers acquired with a discount are worth "
                         f"{d['difference']:+,.2f} per customer against the others "
                         f"(95% interval {d['low']:+,.2f} to {d['high']:+,.2f}).")
        bcp = self.by_campaign
        if bcp is not None:
            won = bcp[bcp.acquisition_campaign != NO_CAMPAIGN]
            lines.append(
                "No customer's first order carried a campaign's message, so value by "
                "acquisition campaign needs the platform's attribution of first orders "
                "(orders.message_id: Klaviyo's Placed Order events with "
                "$attributed_message, through workbench import messages) — it is by "
                "channel only." if won.empty
                else self._campaign_sentence(won, bcp))
        n_risk = int((self.flags.flag == "at_risk").sum())
        n_new = int((self.flags.flag == "promising_new").sum())
        lines.append(f"Scored as of the last order ({s['scored_as_of']:%Y-%m-%d}), refitted "
                     f"on all the history: {n_risk:,} valuable customers are at risk "
                     f"(P(alive) below {s['alive_threshold']:.0%}) and {n_new:,} new "
                     "customers look promising.")
        lines += s.get("edge_notes", [])
        if s.get("short_history"):
            lines.append(f"{s['short_history']:,} customers first ordered less than "
                         f"{s['min_history_days']:g} days before it: their scores rest on the "
                         "store's pattern, not their own, so they are marked short_history "
                         "and never flagged.")
        if self.truth is not None:
            t = self.truth
            lines.append(f"Against the simulator's truth, mean predicted P(alive) "
                         f"{t.predicted.mean() if 'predicted' in t else np.nan:.1%} vs "
                         f"{self.settings.get('true_alive_share', np.nan):.1%} actually alive.")
        return " ".join(lines)

    def _campaign_sentence(self, won: pd.DataFrame, bcp: pd.DataFrame) -> str:
        top = won.sort_values("customers", ascending=False).iloc[0]
        rest = bcp[bcp.acquisition_campaign == NO_CAMPAIGN]
        vs = (f" against {rest.mean_predicted_clv.iloc[0]:,.2f} for customers whose first "
              "order carried none" if len(rest) else "")
        band = (f"95% predictive interval {top.value_low:,.2f} to {top.value_high:,.2f}"
                if np.isfinite(top.value_high) else "no predictive interval: the spend "
                "model leaves a customer's spend without a finite variance")
        return (f"{int(won.customers.sum()):,} customers were acquired by a campaign's "
                f"message (their first order carried it); the {top.customers:,} of "
                f"{top.acquisition_campaign} will bring {top.mean_predicted_clv:,.2f} each "
                f"({band}){vs} — clv_by_acquisition.csv.")

    def discount_acquired_gap(self) -> dict:
        """Mean predicted CLV of discount-acquired customers minus the others'.

        With a normal-approximation 95% interval: Welch's over the customers (unequal
        variances) and, in quadrature, the parameters' uncertainty of the difference
        (:func:`_parameter_sd` with weights 1/n_a and -1/n_b: where one fit scores both
        groups its errors largely cancel, where the channels have their own fits they
        add).
        """
        sc = self.scorecard
        disc = sc.acquisition_channel == "discount_promo"
        a, b = sc.loc[disc, "predicted_clv"], sc.loc[~disc, "predicted_clv"]
        if len(a) == 0 or len(b) == 0:  # one side empty: no difference to take
            return {"difference": np.nan, "low": np.nan, "high": np.nan,
                    "n_discount": len(a), "n_other": len(b)}
        diff = a.mean() - b.mean()
        d = sc.assign(_par=_parameter_se(sc, self.settings.get("interval", SCORE_INTERVAL)))
        w = pd.Series(np.where(disc, 1.0 / len(a), -1.0 / len(b)), index=sc.index)
        se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)
                     + _parameter_sd(d, w) ** 2)
        return {"difference": float(diff), "low": float(diff - 1.96 * se),
                "high": float(diff + 1.96 * se), "n_discount": len(a), "n_other": len(b)}

    def _repr_html_(self) -> str:
        return (f"<p>{self.summary()}</p>" + self.validation.round(3).to_html(index=False)
                + self.by_channel.round(2).to_html(index=False))

    def chart(self):
        """Altair: holdout purchases by frequency bucket, and cumulative over the holdout.

        Predicted against actual in both (Fader, Hardie & Lee 2005, figs. 3-4).
        """
        import altair as alt

        v = self.validation.melt(id_vars=["frequency_bucket"],
                                 value_vars=["actual", "predicted"], var_name="series",
                                 value_name="purchases")
        bars = alt.Chart(v).mark_bar().encode(
            x=alt.X("frequency_bucket:O", title="repeat purchases in calibration"),
            xOffset="series:N", y=alt.Y("purchases:Q", title="mean holdout purchases"),
            color=alt.Color("series:N", title=None),
            tooltip=["frequency_bucket", "series", alt.Tooltip("purchases:Q", format=".3f")])
        t = self.tracking.melt(id_vars=["day"], value_vars=["actual", "predicted"],
                               var_name="series", value_name="cumulative")
        line = alt.Chart(t).mark_line().encode(
            x=alt.X("day:Q", title="days after calibration end"),
            y=alt.Y("cumulative:Q", title="cumulative repeat purchases"),
            color=alt.Color("series:N", title=None))
        return alt.hconcat(bars.properties(width=280, height=200, title="Holdout by bucket"),
                           line.properties(width=280, height=200, title="Cumulative"))

    def channel_chart(self):
        """Altair: mean predicted CLV per acquisition channel with its 95% interval."""
        import altair as alt

        d = self.by_channel
        base = alt.Chart(d).encode(y=alt.Y("acquisition_channel:N", title=None,
                                           sort="-x"))
        bars = base.mark_bar().encode(
            x=alt.X("mean_predicted_clv:Q", title="mean predicted CLV per customer"),
            tooltip=["acquisition_channel", "customers",
                     alt.Tooltip("mean_predicted_clv:Q", format=",.2f"),
                     alt.Tooltip("mean_p_alive:Q", format=".1%")])
        err = base.mark_rule(color="black").encode(x="clv_low:Q", x2="clv_high:Q")
        return (bars + err).properties(width=360, height=160,
                                       title="Customer value by acquisition channel")


def cohort_value_chart(cohorts: dict):
    """Altair: cumulative revenue per acquired customer by months since the first order.

    ``cohorts`` is :func:`~workbench.analyses.clv.features.cohort_triangles` by
    ``acquisition_channel`` (its ``revenue`` triangle); one line per channel.
    """
    import altair as alt

    rev = cohorts["revenue"]
    d = (rev.groupby(["acquisition_channel", "age"]).cumulative_per_customer.mean()
         .reset_index())
    return alt.Chart(d).mark_line(point=True).encode(
        x=alt.X("age:Q", title="months since first order"),
        y=alt.Y("cumulative_per_customer:Q", title="cumulative revenue per customer"),
        color=alt.Color("acquisition_channel:N", title="acquired by"),
        tooltip=["acquisition_channel", "age",
                 alt.Tooltip("cumulative_per_customer:Q", format=",.2f")]).properties(
        width=420, height=220, title="Cohorts: value accumulated by acquisition channel")


def analyze_clv(con, calibration_end=None, holdout_days: float | None = None, model: str = "bgnbd",
                time_unit: str = "weeks", horizon_days: float = 365.0,
                annual_discount_rate: float = 0.10, margin: float = 0.35,
                value_quantile: float = 0.8, alive_threshold: float = 0.5,
                new_customer_days: float = 60.0, min_history_days: float = 14.0,
                segment_by: str | None = "acquisition_channel", dataset=None) -> CLVAnalysis:
    """Fit, validate and apply the CLV models on a dataset's orders.

    Parameters
    ----------
    con
        A connection from :func:`workbench.store.open_dataset`.
    calibration_end, holdout_days
        Where the calibration period ends (default: ``holdout_days`` before the last
        order) and how long the holdout is (days; default 90, or a third of the order
        history when that is shorter than 270 days, so a young store keeps two thirds
        of its history to fit on).
    model, time_unit
        ``bgnbd``, ``mbgnbd`` or ``paretonbd``; the unit the RFM summary is in.
    horizon_days, annual_discount_rate, margin
        CLV horizon (days), the yearly discount rate (converted to a monthly rate, the
        discounting period) and the gross margin on net revenue.  Spend is modelled on
        gross order value and the store's measured returns rate (share of revenue
        refunded in the calibration period) is taken off every value.
    value_quantile, alive_threshold, new_customer_days
        Churn flags: customers above this quantile of historic value with P(alive)
        below the threshold are ``at_risk``; customers younger than
        ``new_customer_days`` above the quantile of predicted CLV are ``promising_new``.
    min_history_days
        Customers whose first order is more recent than this get ``short_history`` in the
        scorecard (their numbers are the population's, not theirs) and are never flagged.
    segment_by
        The models are fitted per value of this column (default: per acquisition channel)
        where a segment has enough customers and its fits are identified, pooled
        elsewhere (:func:`~workbench.analyses.clv.fits.fit_segmented`); None: one pooled
        fit.  A pooled fit gives a one-order customer the population's prior, and so
        over-values a channel whose customers buy less or drop out sooner.
    dataset
        The dataset path, to check P(alive) against the simulator's truth when present.

    The models are fitted twice: up to ``calibration_end`` to validate on the holdout
    (the validation tables and metrics), then on all the history to score every customer
    as of the last order (the scorecard, values by channel and flags: Fader, Hardie & Lee
    2005 fit on the calibration period only to *test* the model).  A fit whose shape
    parameters run off to the edge of the parameter space is the limiting model the data
    point to and the summary says so (:func:`_identified`); where even its predictions are
    not finite, :class:`~workbench.clv.CLVInputError` says so instead of NaN values.
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, not {model!r}")
    if time_unit not in TIME_UNITS:
        raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)}, not {time_unit!r}")
    cust_cols = con.table("customers").columns
    if segment_by is not None and segment_by not in cust_cols:
        raise ValueError(f"segment_by: the customers table has no column {segment_by!r} "
                         f"(it has {list(cust_cols)}); None fits one pooled model")
    tx = transactions(con)
    last = pd.Timestamp(tx.ts.max().execute())
    last = last.tz_localize("UTC") if last.tzinfo is None else last
    if holdout_days is None:
        first = pd.Timestamp(tx.ts.min().execute())
        first = first.tz_localize("UTC") if first.tzinfo is None else first
        holdout_days = float(min(90.0, np.floor((last - first).days / 3)))
    cal = (last - pd.Timedelta(days=holdout_days)) if calibration_end is None else pd.Timestamp(
        calibration_end)
    cal = cal.tz_localize("UTC") if cal.tzinfo is None else cal
    obs = cal + pd.Timedelta(days=holdout_days)
    unit = TIME_UNITS[time_unit]
    # spend is modelled on gross order value (Gamma-Gamma needs positive amounts; an order
    # returned in full would give 0) and returns enter as the store's measured rate
    rfm = rfm_summary(con, calibration_end=cal, observation_end=obs, time_unit=time_unit,
                      net_of_returns=False)
    if rfm.empty:
        raise CLVInputError(f"no customer ordered before the calibration date {cal:%Y-%m-%d} "
                            f"({holdout_days:g} days before the last order); the models need "
                            "order history before it")
    rate_of_returns = returns_rate(con, cal)
    keep = dict.fromkeys(["customer_id", "acquisition_channel", segment_by or "customer_id"])
    ch = con.table("customers").select(*keep).execute()
    rfm = rfm.merge(ch, on="customer_id", how="left")
    edge_notes: list[str] = []
    m = fit_segmented(rfm, model, time_unit, "the calibration period", edge_notes,
                      holdout_days / unit, by=segment_by, spend=False)

    # holdout validation by frequency bucket (Fader, Hardie & Lee 2005, fig. 4)
    pred = m.expected_purchases(rfm, holdout_days / unit)
    bucket = np.minimum(rfm.frequency, 7)
    v = pd.DataFrame({"frequency_bucket": bucket, "actual": rfm.frequency_holdout,
                      "predicted": pred}).groupby("frequency_bucket").agg(
        customers=("actual", "size"), actual=("actual", "mean"),
        predicted=("predicted", "mean")).reset_index()
    v["frequency_bucket"] = v.frequency_bucket.map(lambda b: "7+" if b == 7 else str(b))
    err = pred - rfm.frequency_holdout
    metrics = {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err ** 2).mean())),
               "bias": float(err.mean()), "predicted_total": float(pred.sum()),
               "actual_total": float(rfm.frequency_holdout.sum()),
               "bucket_mae": float(np.abs(v.predicted - v.actual).mean())}
    metrics["total_error_pct"] = 100 * (metrics["predicted_total"] / max(
        metrics["actual_total"], 1e-12) - 1)

    # cumulative tracking over the holdout (FHL 2005, fig. 3), weekly steps
    days = np.arange(7.0, holdout_days + 1e-9, 7.0)
    if not len(days) or days[-1] < holdout_days:
        days = np.append(days, holdout_days)
    hold = holdout_purchase_days(con, cal, obs)  # counted in the engine
    elapsed, n_days = hold.elapsed_days.to_numpy(float), hold.purchases.to_numpy()
    tracking = pd.DataFrame({
        "day": days, "actual": [int(n_days[elapsed <= d].sum()) for d in days],
        "predicted": [m.expected_purchases(rfm, d / unit).sum() for d in days]})

    # value as of the data's last day: the holdout only validated; the models that score
    # are refitted on all the history, so every customer is scored and no "next order"
    # date or "at risk" flag predates what the data already show
    full = rfm_summary(con, calibration_end=last, time_unit=time_unit, net_of_returns=False)
    full = full.merge(ch, on="customer_id", how="left")
    fits = fit_segmented(full, model, time_unit, "all the history", edge_notes,
                         horizon_days / unit, by=segment_by)
    month, year = TIME_UNITS["months"], TIME_UNITS["years"]
    period = month / unit
    rate = (1 + annual_discount_rate) ** (month / year) - 1
    sc = fits.scorecard(full, calibration_end=last, horizon=horizon_days / unit,
                        period=period, discount_rate=rate, margin=margin,
                        returns_rate=rate_of_returns, interval=SCORE_INTERVAL)
    sc = sc.merge(full[["customer_id", "acquisition_channel"]], on="customer_id")
    sc["p_alive"] = 1 - sc.churn_probability
    sc["history_days"] = sc["T"] * unit
    # a customer first seen days ago has one order and no pattern: the model's number for
    # them is the population's prior, not knowledge of the customer
    sc["short_history"] = sc.history_days < min_history_days

    sc = sc.merge(acquisition_campaigns(con), on="customer_id", how="left").fillna(
        {"acquisition_campaign": NO_CAMPAIGN})
    by = value_by(sc, ["acquisition_channel"])
    by_campaign = value_by(sc, ["acquisition_campaign"])

    hist_cut = sc.historic_clv.quantile(value_quantile)
    risk = sc[(sc.historic_clv >= hist_cut) & (sc.p_alive < alive_threshold)
              & ~sc.short_history].assign(flag="at_risk").sort_values("historic_clv",
                                                                      ascending=False)
    clv_cut = sc.predicted_clv.quantile(value_quantile)
    new = sc[(sc.history_days <= new_customer_days) & ~sc.short_history
             & (sc.predicted_clv >= clv_cut)].assign(
        flag="promising_new").sort_values("predicted_clv", ascending=False)
    cols = ["customer_id", "flag", "acquisition_channel", "historic_clv", "predicted_clv",
            "p_alive", "predicted_number_of_orders", "expected_date_of_next_order"]
    flags = pd.concat([risk[cols], new[cols]], ignore_index=True)
    sc["flag"] = sc.customer_id.map(flags.groupby("customer_id").flag.agg(";".join)
                                    ).fillna("")

    settings = {"calibration_end": cal, "scored_as_of": last, "holdout_days": holdout_days,
                "model": model, "min_history_days": min_history_days,
                "short_history": int(sc.short_history.sum()), "edge_notes": edge_notes,
                "returns_rate": rate_of_returns,
                "time_unit": time_unit, "horizon_days": horizon_days,
                "annual_discount_rate": annual_discount_rate, "margin": margin,
                "value_quantile": value_quantile, "alive_threshold": alive_threshold,
                "segment_by": segment_by, "interval": SCORE_INTERVAL,
                "segments_fitted": sorted(map(str, fits.fits)),
                "new_customer_days": new_customer_days}
    truth = None
    if dataset is not None and has_truth(con, "customers"):
        truth = _alive_truth(dataset, sc, last)
        settings["true_alive_share"] = float(truth.attrs["true_alive_share"])
        settings["truth_by_channel"] = _purchase_truth(dataset, rfm, pred, cal, obs)

    cohorts = cohort_triangles(con, by="acquisition_channel")
    return CLVAnalysis(rfm=rfm, model=fits.pooled[0], spend=fits.pooled[1], fits=fits,
                       validation=v, metrics=metrics,
                       tracking=tracking, scorecard=sc, by_channel=by,
                       by_campaign=by_campaign, flags=flags,
                       truth=truth, settings=settings, cohorts=cohorts)


#: the acquisition campaign of a customer whose first order carried no message
NO_CAMPAIGN = "no campaign"


def acquisition_campaigns(con) -> pd.DataFrame:
    """Each customer's acquisition campaign, where their first order carried a message.

    ``customer_id, acquisition_campaign``: the campaign of the message whose link or code
    the first order carried (last click); the others are :data:`NO_CAMPAIGN` in
    :func:`analyze_clv`.
    """
    import ibis

    o = con.table("orders")
    first = o.group_by("customer_id").aggregate(
        mid=o.message_id.argmin(o.placed_at), n=o.count())
    m = con.table("messages").select(mmid="message_id", acquisition_campaign="campaign")
    j = first.filter(first.mid.notnull()).join(m, ibis._.mid == m.mmid)
    return j.select("customer_id", "acquisition_campaign").execute()


def value_by(sc: pd.DataFrame, keys: list[str], interval: float = SCORE_INTERVAL
             ) -> pd.DataFrame:
    """Customers, mean predicted CLV with its 95% intervals, and more, per group of ``keys``.

    Two intervals, for two questions:

    * ``clv_low/high``: what a customer of the group is worth on average — the normal
      interval of the mean of their predicted CLVs (they are independent given the fitted
      parameters);
    * ``value_low/high``: what these customers will bring, per customer, over the horizon
      — the group mean's predictive interval: each customer's predictive variance
      (``predicted_clv_sd``: purchases and spend random) summed, with the parameters'
      uncertainty on top (:func:`_parameter_sd`).  The simulator's realized value falls
      in it (tested).  NaN where a customer's value has no finite variance (a spend
      model whose shape leaves the spend's second moment infinite) or the scorecard
      has no ``predicted_clv_sd``: a normal interval would mean nothing there.
    """
    z = 1.959963984540054
    d = sc.assign(_var=sc.predicted_clv_sd ** 2 if "predicted_clv_sd" in sc else np.nan,
                  _par=_parameter_se(sc, interval))
    by = d.groupby(keys).agg(
        customers=("customer_id", "size"), mean_predicted_clv=("predicted_clv", "mean"),
        sd=("predicted_clv", "std"), var_sum=("_var", lambda v: v.sum(min_count=len(v))),
        mean_historic_clv=("historic_clv", "mean"), mean_p_alive=("p_alive", "mean"),
        mean_predicted_orders=("predicted_number_of_orders", "mean")).reset_index()
    se = by.sd.fillna(0.0) / np.sqrt(by.customers)
    by["clv_low"], by["clv_high"] = by.mean_predicted_clv - z * se, \
        by.mean_predicted_clv + z * se
    par = pd.Series([_parameter_sd(g) for _, g in d.groupby(keys)], index=by.index)
    with np.errstate(invalid="ignore"):
        half = z * np.hypot(np.sqrt(by.var_sum) / by.customers, par)
    half = half.where(np.isfinite(half))
    by["value_low"] = (by.mean_predicted_clv - half).clip(lower=0.0)
    by["value_high"] = by.mean_predicted_clv + half
    return by.drop(columns=["sd", "var_sum"])


def _parameter_se(sc: pd.DataFrame, interval: float) -> pd.Series:
    """Each customer's parameter standard error of predicted CLV, from its interval.

    ``predicted_clv_low/high`` are drawn at ``interval``: half their width over the
    normal quantile.
    """
    return (sc.predicted_clv_high - sc.predicted_clv_low) / 2 / stats.norm.ppf(
        0.5 + interval / 2)


def _parameter_sd(d: pd.DataFrame, weights: pd.Series | None = None) -> float:
    """The parameters' standard error of a weighted sum of customers' predicted CLVs.

    ``d`` has ``_par`` (each customer's, :func:`_parameter_se`) and ``model_fit``
    (which fit scored them; one fit when absent); ``weights`` default to 1/n (a mean).
    Customers scored by one fit share its parameter errors — taken as moving together,
    their parts add — and separate fits are independent, their parts add in quadrature.
    """
    w = pd.Series(1.0 / len(d), index=d.index) if weights is None else weights
    fit = d.model_fit if "model_fit" in d else pd.Series("all", index=d.index)
    part = (w * d._par.fillna(0.0)).groupby(fit).sum()
    return float(np.sqrt((part ** 2).sum()))


def _alive_truth(dataset, sc: pd.DataFrame, cal: pd.Timestamp) -> pd.DataFrame:
    """P(alive at ``cal``, the scoring date) by decile of the prediction against the truth.

    A customer is truly alive at ``cal`` when the simulator's dropout time is later.
    """
    t = read_table(dataset, "truth/customers")[["customer_id", "dropped_out_at"]]
    d = sc[["customer_id", "p_alive"]].merge(t, on="customer_id")
    drop = pd.to_datetime(d.dropped_out_at, utc=True)
    d["alive"] = drop.isna() | (drop > cal)
    d["decile"] = pd.qcut(d.p_alive.rank(method="first"), 10, labels=False)
    out = d.groupby("decile").agg(customers=("alive", "size"), predicted=("p_alive", "mean"),
                                  actual=("alive", "mean")).reset_index()
    out.attrs["true_alive_share"] = float(d.alive.mean())
    return out


def _purchase_truth(dataset, rfm: pd.DataFrame, pred: np.ndarray, cal: pd.Timestamp,
                    obs: pd.Timestamp) -> pd.DataFrame:
    """Predicted holdout purchases per acquisition channel against the truth's expectation.

    The simulator knows each customer's purchase rate and dropout time, so the expected
    number of organic purchases in the holdout is ``rate × days alive in (cal, obs]`` —
    what the model estimates, without the holdout's Poisson noise.  Campaign-caused
    orders are on top of it (in ``actual``, not in the truth's expectation).
    """
    t = read_table(dataset, "truth/customers")[["customer_id", "purchase_rate_per_day",
                                                "dropped_out_at"]]
    d = rfm[["customer_id", "acquisition_channel", "frequency_holdout"]].assign(
        predicted=pred).merge(t, on="customer_id")
    drop = pd.to_datetime(d.dropped_out_at, utc=True).fillna(obs)
    alive_days = ((drop.clip(upper=obs) - cal).dt.total_seconds() / 86400).clip(lower=0)
    d["true_expected"] = d.purchase_rate_per_day * alive_days
    out = d.groupby("acquisition_channel").agg(
        customers=("customer_id", "size"), predicted=("predicted", "sum"),
        true_expected_organic=("true_expected", "sum"), actual=("frequency_holdout", "sum"))
    return out.reset_index()
