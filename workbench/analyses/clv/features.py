"""RFM summaries and acquisition cohorts: the inputs of the CLV models.

The RFM summary is the field's standard form (Fader, Hardie & Lee 2005; the
``summary_data_from_transaction_data`` convention of lifetimes and
PyMC-Marketing), one row per customer, from the transactions up to
``calibration_end``:

* ``frequency`` — the number of *repeat* purchase periods: distinct periods
  (days by default) with a purchase, minus the first;
* ``recency`` — time from the first purchase to the last one;
* ``T`` — time from the first purchase to ``calibration_end``;
* ``monetary_value`` — mean value per repeat purchase period (0 without one);
* ``historic_revenue`` — all value up to ``calibration_end``, the first purchase included;

all durations in ``time_unit`` (days, weeks, months = 30.4375 days ...).  With
``observation_end`` the holdout columns are added: ``frequency_holdout`` (purchase
periods in ``(calibration_end, observation_end]``), ``monetary_holdout`` and
``duration_holdout``.  Order value is revenue net of returns and of discounts
(``net_of_returns``) — CLV counts what the store keeps.

Everything is an Ibis expression over the dataset, so the same code runs on
DuckDB locally and on a warehouse; :func:`rfm_from_transactions` runs it on any
transaction log (customer_id, timestamp, amount).
"""

from __future__ import annotations

import ibis
import pandas as pd
from ibis import _

from ...engines import epoch_s, fetch_frame
from ...store import require_tables, ts_literal
from ...vocab import in_days as _unit


def transactions(con, net_of_returns: bool = True):
    """Orders as a transaction log: ``customer_id, ts, amount`` (amount net of returns)."""
    require_tables(con, "transactions", {
        "orders": ("order_id", "customer_id", "placed_at", "revenue")})
    o = con.table("orders")
    t = o.select("order_id", "customer_id", ts=o.placed_at, amount=o.revenue.cast("float64"))
    if net_of_returns and "returns" in con.list_tables():
        r = con.table("returns").group_by("order_id").aggregate(refund=_.amount.sum())
        t = t.left_join(r, t.order_id == r.order_id).select(
            "customer_id", "ts", amount=_.amount - _.refund.fill_null(0.0))
    return t.select("customer_id", "ts", "amount")


def rfm_summary_expr(tx, calibration_end, observation_end=None, time_unit: str = "days",
                     period: str = "D"):
    """The RFM summary as an Ibis expression over a transaction table ``tx``.

    ``tx`` has columns ``customer_id, ts, amount``; ``period`` is the purchase period
    that repeat purchases are counted in (``"D"``: a day, the lifetimes default).
    """
    u = _unit(time_unit) * 86400.0
    cal_ts = _utc(calibration_end)
    cal = ts_literal(cal_ts, tx, "ts")
    cal_s = cal_ts.timestamp()
    def periods(t):
        return t.mutate(p=t.ts.truncate(period)).group_by("customer_id", "p").aggregate(
            amount=_.amount.sum())

    cal_p = periods(tx.filter(tx.ts <= cal))
    g = cal_p.group_by("customer_id").aggregate(
        n=_.count(), first=_.p.min(), last=_.p.max(), total=_.amount.sum(),
        first_amount=_.amount.argmin(_.p))
    out = g.select(
        "customer_id",
        frequency=(_.n - 1).cast("int64"),
        recency=(epoch_s(_.last) - epoch_s(_.first)) / u,
        T=(cal_s - epoch_s(_.first)) / u,
        monetary_value=ibis.ifelse(_.n > 1, (_.total - _.first_amount) / (_.n - 1), 0.0),
        historic_revenue=_.total)
    if observation_end is not None:
        obs_ts = _utc(observation_end)
        obs = ts_literal(obs_ts, tx, "ts")
        h = periods(tx.filter((tx.ts > cal) & (tx.ts <= obs))).group_by(
            hid="customer_id").aggregate(
            frequency_holdout=_.count(), holdout_total=_.amount.sum())
        out = out.left_join(h, out.customer_id == h.hid).select(
            "customer_id", "frequency", "recency", "T", "monetary_value", "historic_revenue",
            frequency_holdout=_.frequency_holdout.fill_null(0).cast("int64"),
            monetary_holdout=ibis.ifelse(_.frequency_holdout.fill_null(0) > 0,
                                         _.holdout_total / _.frequency_holdout, 0.0),
            duration_holdout=ibis.literal((obs_ts.timestamp() - cal_s) / u))
    return out.order_by("customer_id")


def returns_rate(con, calibration_end) -> float:
    """The share of order revenue up to ``calibration_end`` refunded by returns.

    One aggregate in the engine (gross and net revenue of the orders placed by then),
    not a per-customer table in memory.
    """
    gross, net = transactions(con, False), transactions(con, True)
    cal = ts_literal(_utc(calibration_end), gross, "ts")
    g = gross.filter(gross.ts <= cal).aggregate(gross=_.amount.sum())
    n = net.filter(net.ts <= cal).aggregate(net=_.amount.sum())
    row = g.cross_join(n).execute().iloc[0]
    gross_sum = float(row["gross"]) if pd.notna(row["gross"]) else 0.0
    net_sum = float(row["net"]) if pd.notna(row["net"]) else 0.0
    return 1.0 - net_sum / gross_sum if gross_sum > 0 else 0.0


def holdout_purchase_days(con, calibration_end, observation_end) -> pd.DataFrame:
    """Purchase days in the holdout of the customers who bought by ``calibration_end``.

    One row per whole day since ``calibration_end``'s midnight (UTC), ``elapsed_days``
    and ``purchases`` (distinct customer-days with an order: the repeat-purchase count of
    the RFM summary's daily periods), counted in the engine: the cumulative tracking
    plot of Fader, Hardie & Lee (2005, fig. 3) needs no order rows in memory.
    """
    tx = transactions(con, False)
    cal = ts_literal(_utc(calibration_end), tx, "ts")
    obs = ts_literal(_utc(observation_end), tx, "ts")
    buyers = tx.filter(tx.ts <= cal).select(buyer="customer_id").distinct()
    hold = tx.filter((tx.ts > cal) & (tx.ts <= obs))
    hold = hold.semi_join(buyers, hold.customer_id == buyers.buyer)
    days = hold.select("customer_id", day=hold.ts.truncate("D")).distinct()
    start = _utc(calibration_end).floor("D").timestamp()
    out = days.group_by(elapsed_days=((epoch_s(_.day) - start) / 86400.0).round()
                        .cast("int64")).aggregate(purchases=_.count()).execute()
    return out.sort_values("elapsed_days").reset_index(drop=True)


def _utc(t) -> pd.Timestamp:
    t = pd.Timestamp(t)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def rfm_summary(con, calibration_end=None, observation_end=None, time_unit: str = "days",
                net_of_returns: bool = True, period: str = "D") -> pd.DataFrame:
    """RFM summary of a dataset's customers (see the module docstring).

    ``calibration_end`` defaults to the last order; ``observation_end`` adds holdout
    columns.  Customers without an order before ``calibration_end`` are not in it.
    """
    tx = transactions(con, net_of_returns)
    if calibration_end is None:
        calibration_end = tx.ts.max().execute()
    _check_ends(calibration_end, observation_end)
    # one row per customer: streamed from the engine in batches (fetch_frame)
    return fetch_frame(rfm_summary_expr(tx, calibration_end, observation_end, time_unit,
                                        period))


def rfm_from_transactions(df: pd.DataFrame, calibration_end, observation_end=None,
                          time_unit: str = "days", customer_col: str = "customer_id",
                          time_col: str = "timestamp", amount_col: str = "amount",
                          period: str = "D") -> pd.DataFrame:
    """The RFM summary of a transaction log DataFrame, through the same Ibis expression.

    Errors name the missing column or the rows with unparseable timestamps.
    """
    missing = [c for c in (customer_col, time_col, amount_col) if c not in df.columns]
    if missing:
        raise ValueError(f"transactions: missing column(s) {missing}; have {list(df.columns)}")
    ts = pd.to_datetime(df[time_col], errors="coerce", utc=True, format="mixed")
    bad = ts.isna()
    if bad.any():
        raise ValueError(f"transactions: column {time_col!r} is not a timestamp in rows "
                         f"{df.index[bad][:5].tolist()}")
    amount = pd.to_numeric(df[amount_col], errors="coerce")
    if amount.isna().any():
        raise ValueError(f"transactions: column {amount_col!r} is not numeric in rows "
                         f"{df.index[amount.isna()][:5].tolist()}")
    _check_ends(calibration_end, observation_end)
    t = ibis.memtable(pd.DataFrame({"customer_id": df[customer_col].to_numpy(),
                                    # microseconds: what Arrow and DuckDB hold
                                    "ts": ts.dt.tz_convert("UTC").dt.tz_localize(None)
                                    .dt.floor("us").astype("datetime64[us]"),
                                    "amount": amount.to_numpy(float)}))
    return ibis.duckdb.connect().execute(
        rfm_summary_expr(t, calibration_end, observation_end, time_unit, period))


def _check_ends(calibration_end, observation_end):
    if observation_end is not None and pd.Timestamp(observation_end) <= pd.Timestamp(
            calibration_end):
        raise ValueError(f"observation_end ({observation_end}) must be after calibration_end "
                         f"({calibration_end})")


def cohort_triangles(con, period: str = "month", by: str | None = None,
                     net_of_returns: bool = True) -> dict[str, pd.DataFrame]:
    """Acquisition cohorts: retention and revenue triangles.

    Cohort = the period of a customer's first order (optionally split ``by``
    ``acquisition_channel``).  Returns ``{"retention": ..., "revenue": ..., "sizes": ...}``:
    long tables with ``cohort, [by,] age`` (periods since acquisition) and the share of
    the cohort's customers who ordered in that period, the revenue per acquired
    customer (cumulative), and the cohort sizes.
    """
    unit = {"month": "M", "week": "W", "quarter": "Q"}.get(period)
    if unit is None:
        raise ValueError(f"period must be month, week or quarter, not {period!r}")
    tx = transactions(con, net_of_returns)
    first = tx.group_by(fcid="customer_id").aggregate(first=_.ts.min())
    t = tx.join(first, tx.customer_id == first.fcid).select(
        "customer_id", "amount", cohort=_.first.truncate(unit), p=_.ts.truncate(unit))
    if by is not None:
        require_tables(con, "cohorts", {"customers": ("customer_id", by)})
        c = con.table("customers").select(ccid="customer_id", seg=by)
        t = t.join(c, t.customer_id == c.ccid).drop("ccid")
    keys = ["cohort"] + (["seg"] if by else [])
    df = t.execute()
    df["cohort"] = pd.to_datetime(df.cohort)
    df["p"] = pd.to_datetime(df.p)
    step = {"M": 1, "W": None, "Q": 3}[unit]
    if step:
        df["age"] = ((df.p.dt.year - df.cohort.dt.year) * 12
                     + (df.p.dt.month - df.cohort.dt.month)) // step
    else:
        df["age"] = ((df.p - df.cohort).dt.days // 7).astype(int)
    sizes = df.groupby(keys).customer_id.nunique().rename("customers")
    act = df.groupby([*keys, "age"]).customer_id.nunique().rename("active").reset_index()
    act = act.merge(sizes.reset_index(), on=keys)
    act["retention"] = act.active / act.customers
    rev = df.groupby([*keys, "age"]).amount.sum().rename("revenue").reset_index()
    rev = rev.merge(sizes.reset_index(), on=keys).sort_values([*keys, "age"])
    rev["revenue_per_customer"] = rev.revenue / rev.customers
    rev["cumulative_per_customer"] = rev.groupby(keys).revenue_per_customer.cumsum()
    ren = {"seg": by} if by else {}
    return {"retention": act.rename(columns=ren), "revenue": rev.rename(columns=ren),
            "sizes": sizes.reset_index().rename(columns=ren)}
