"""The operational and weekly layers of the marketer's report.

* :func:`message_funnel` — messages sent, delivered, opened and clicked in the
  latest cycle (``cycle_days``, default 7) per campaign × channel, with each rate's
  expected band from the trailing cycles: an anomaly is a rate outside
  ``mean ± z × sd`` of the previous ``baseline_cycles`` cycles, where ``sd`` is the
  larger of their spread and the binomial standard error of this cycle's rate
  (so small campaigns are not flagged for noise).
* :func:`weekly_efficiency` — per complete week: revenue, messages, message cost,
  orders from message clicks (last click), revenue per email and per SMS, cost per
  conversion, marketing cost (messages + discounts) as a share of revenue — each
  next to its trailing four-week average and the same week a year earlier (when
  the data reach back that far).

Aggregations are Ibis expressions; the small weekly tables are finished in pandas.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
from ibis import _

from ...engines import epoch_s
from ...store import require_tables

RATES = {"delivery_rate": ("delivered", "sent"), "open_rate": ("opened", "delivered"),
         "click_rate": ("clicked", "delivered")}


def _cycles(con, cycle_days: float):
    m = con.table("messages")
    end = pd.Timestamp(m.sent_at.max().execute())
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    secs = int(cycle_days * 86400)
    return m, end, secs


def message_funnel(con, cycle_days: float = 7.0, baseline_cycles: int = 8,
                   z: float = 3.0) -> pd.DataFrame:
    """Latest-cycle funnel per campaign × channel with expected bands and anomaly flags."""
    require_tables(con, "message funnel", {"messages": (
        "campaign", "channel", "sent_at", "delivered", "opened_at", "clicked_at")})
    m, end, secs = _cycles(con, cycle_days)
    age = (end.timestamp() - epoch_s(m.sent_at)) // secs
    t = m.mutate(cycle=age.cast("int64")).filter(_.cycle <= baseline_cycles)
    g = t.group_by("campaign", "channel", "cycle").aggregate(
        sent=_.count(), delivered=_.delivered.cast("int64").sum(),
        opened=_.opened_at.notnull().cast("int64").sum(),
        clicked=_.clicked_at.notnull().cast("int64").sum()).execute()
    rows = []
    for (camp, ch), d in g.groupby(["campaign", "channel"]):
        cur = d[d.cycle == 0]
        prev = d[d.cycle > 0]
        if cur.empty:
            continue
        c = cur.iloc[0]
        row = {"campaign": camp, "channel": ch, "sent": int(c.sent),
               "delivered": int(c.delivered), "opened": int(c.opened),
               "clicked": int(c.clicked), "baseline_cycles": len(prev)}
        flags = []
        for rate, (num, den) in RATES.items():
            if ch == "sms" and rate == "open_rate":
                row[rate] = row[f"{rate}_expected"] = np.nan
                row[f"{rate}_low"] = row[f"{rate}_high"] = np.nan
                continue
            r = c[num] / c[den] if c[den] > 0 else np.nan
            pr = (prev[num] / prev[den].where(prev[den] > 0)).dropna()
            mu = float(pr.mean()) if len(pr) else np.nan
            spread = float(pr.std(ddof=1)) if len(pr) > 1 else 0.0
            binom = float(np.sqrt(mu * (1 - mu) / c[den])) if c[den] > 0 and np.isfinite(
                mu) else np.nan
            sd = np.nanmax([spread, binom]) if np.isfinite(binom) else spread
            lo, hi = mu - z * sd, mu + z * sd
            row.update({rate: r, f"{rate}_expected": mu, f"{rate}_low": lo,
                        f"{rate}_high": hi})
            if len(pr) >= 3 and np.isfinite(r) and not lo <= r <= hi:
                flags.append(f"{rate.replace('_', ' ')} {r:.1%} outside [{max(lo, 0):.1%}, "
                             f"{min(hi, 1):.1%}]")
        row["anomaly"] = "; ".join(flags)
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["cycle_end"] = end
    out.attrs["cycle_days"] = cycle_days
    return out


def weekly_efficiency(con) -> pd.DataFrame:
    """Weekly revenue and marketing efficiency, with trailing-4-week and last-year columns."""
    require_tables(con, "weekly efficiency", {
        "messages": ("message_id", "channel", "sent_at", "cost"),
        "orders": ("order_id", "placed_at", "revenue", "discount_amount", "message_id")})
    m, o = con.table("messages"), con.table("orders")
    mw = m.group_by(week=m.sent_at.truncate("W"), channel=m.channel).aggregate(
        messages=_.count(), cost=_.cost.cast("float64").sum()).execute()
    mm = m.select(mid="message_id", mch="channel")
    oj = o.left_join(mm, o.message_id == mm.mid)
    ow = oj.group_by(week=oj.placed_at.truncate("W")).aggregate(
        revenue=_.revenue.cast("float64").sum(), orders=_.count(),
        discount_cost=_.discount_amount.cast("float64").sum(),
        email_orders=(_.mch == "email").cast("int64").sum(),
        sms_orders=(_.mch == "sms").cast("int64").sum(),
        email_revenue=ibis.ifelse(_.mch == "email", _.revenue.cast("float64"), 0.0).sum(),
        sms_revenue=ibis.ifelse(_.mch == "sms", _.revenue.cast("float64"), 0.0).sum()
    ).execute()
    for d in (mw, ow):
        d["week"] = pd.to_datetime(d.week)
        if d.week.dt.tz is None:
            d["week"] = d.week.dt.tz_localize("UTC")
    msgs = mw.pivot_table(index="week", columns="channel", values=["messages", "cost"],
                          aggfunc="sum", fill_value=0)
    msgs.columns = [f"{a}_{b}" for a, b in msgs.columns]
    w = ow.set_index("week").join(msgs, how="outer").fillna(0).sort_index()
    # only complete weeks: drop the first and last partial weeks
    w = w.iloc[1:-1].astype(float)
    for ch in ("email", "sms"):
        for col in (f"messages_{ch}", f"cost_{ch}"):
            if col not in w:
                w[col] = 0.0
    out = pd.DataFrame(index=w.index)
    out["revenue"] = w.revenue
    out["revenue_per_email"] = w.email_revenue / w.messages_email.where(w.messages_email > 0)
    out["revenue_per_sms"] = w.sms_revenue / w.messages_sms.where(w.messages_sms > 0)
    conv = w.email_orders + w.sms_orders
    out["cost_per_conversion"] = (w.cost_email + w.cost_sms) / conv.where(conv > 0)
    out["marketing_cost_share"] = (w.cost_email + w.cost_sms + w.discount_cost) / \
        w.revenue.where(w.revenue > 0)
    metrics = list(out.columns)
    for k in metrics:
        out[f"{k}_trailing_4w"] = out[k].shift(1).rolling(4, min_periods=4).mean()
        ly = out[k].copy()
        ly.index = ly.index + pd.Timedelta(weeks=52)
        out[f"{k}_last_year"] = ly.reindex(out.index)
    out.attrs["metrics"] = metrics
    return out.reset_index()
