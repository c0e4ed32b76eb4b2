"""The store overview: funnel, revenue over time, cart abandonment, messaging.

Every number is an Ibis expression over the canonical tables, executed on the
dataset's DuckDB connection, so the same code runs on a warehouse backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import altair as alt
import ibis
import pandas as pd
from ibis import _

from ...results import Result

FUNNEL_STEPS = ("view_item", "add_to_cart", "begin_checkout", "purchase")


def _utc(s: pd.Series) -> pd.Series:
    """Truncated timestamps come back naive from some backends; they are UTC."""
    s = pd.to_datetime(s)
    return s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")


def funnel(con) -> pd.DataFrame:
    """Sessions reaching each funnel step, with step and overall conversion.

    A session "reaches" a step when it has at least one event of that name.
    """
    e = con.table("events")
    per = (e.filter(e.event_name.isin(list(FUNNEL_STEPS)))
           .group_by("event_name").aggregate(sessions=e.session_id.nunique()).execute())
    df = (pd.DataFrame({"step": list(FUNNEL_STEPS)})
          .merge(per.rename(columns={"event_name": "step"}), on="step", how="left")
          .fillna({"sessions": 0}))
    df["sessions"] = df["sessions"].astype(int)
    first = df["sessions"].iloc[0]
    df["share_of_viewing_sessions"] = df["sessions"] / first if first else float("nan")
    df["step_conversion"] = df["sessions"] / df["sessions"].shift(1)
    return df


def weekly_revenue(con) -> pd.DataFrame:
    """Orders, revenue, discounts and returns per ISO week (weeks start Monday, UTC)."""
    o = con.table("orders")
    r = con.table("returns")
    rev = (o.mutate(week=o.placed_at.truncate("W"))
           .group_by("week")
           .aggregate(orders=_.count(), revenue=_.revenue.sum(),
                      discount=_.discount_amount.sum(), buyers=_.customer_id.nunique())
           .execute())
    ret = (r.mutate(week=r.returned_at.truncate("W")).group_by("week")
           .aggregate(returned=_.amount.sum()).execute())
    rev["week"], ret["week"] = _utc(rev["week"]), _utc(ret["week"])
    df = rev.merge(ret, on="week", how="left").fillna({"returned": 0.0})
    df = df.sort_values("week").reset_index(drop=True)
    df["net_revenue"] = df["revenue"] - df["returned"]
    df["average_order_value"] = df["revenue"] / df["orders"]
    # a week is complete when the data cover all seven of its days
    span = o.aggregate(first=o.placed_at.min(), last=o.placed_at.max()).execute().iloc[0]
    week = df["week"]
    df["complete_week"] = (week >= span["first"].floor("D")) & (
        week + pd.Timedelta(days=7) <= span["last"].floor("D") + pd.Timedelta(days=1))
    return df


def cart_abandonment(con) -> pd.DataFrame:
    """Weekly cart sessions and the share that ended without a purchase in the session."""
    e = con.table("events")
    s = con.table("sessions")
    carts = e.filter(e.event_name == "add_to_cart").select("session_id").distinct()
    bought = (e.filter(e.event_name == "purchase").select("session_id").distinct()
              .mutate(purchased=ibis.literal(1)))
    j = (carts.join(s.select("session_id", "started_at"), "session_id")
         .left_join(bought, "session_id"))
    df = (j.mutate(week=j.started_at.truncate("W"))
          .group_by("week")
          .aggregate(cart_sessions=_.count(), purchased=_.purchased.notnull().sum())
          .execute().sort_values("week").reset_index(drop=True))
    df["week"] = _utc(df["week"])
    df["abandoned"] = df["cart_sessions"] - df["purchased"]
    df["abandonment_rate"] = df["abandoned"] / df["cart_sessions"]
    return df


def message_engagement(con) -> pd.DataFrame:
    """Messages sent, delivered, opened, clicked and unsubscribed by campaign and channel.

    ``opened`` counts every recorded open, machine-generated ones included
    (Apple Mail privacy protection opens every delivered email for its users),
    so open rates are an upper bound on human attention.  ``order_revenue`` is
    revenue of orders that carry the message id (a last-touch view, not
    incrementality).
    """
    m = con.table("messages")
    o = con.table("orders")
    eng = (m.group_by("campaign", "channel")
           .aggregate(sent=m.count(), delivered=m.delivered.sum(),
                      opened=m.opened_at.notnull().sum(), clicked=m.clicked_at.notnull().sum(),
                      unsubscribed=m.unsubscribed_at.notnull().sum(), cost=m.cost.sum())
           .execute())
    om = o.filter(o.message_id.notnull())
    mo = m.select(mid=m.message_id, campaign=m.campaign, channel=m.channel)
    att = (om.join(mo, om.message_id == mo.mid)
           .group_by("campaign", "channel")
           .aggregate(orders=_.count(), order_revenue=_.revenue.sum())
           .execute())
    df = eng.merge(att, on=["campaign", "channel"], how="left").fillna(
        {"orders": 0, "order_revenue": 0.0})
    for col in ("sent", "delivered", "opened", "clicked", "unsubscribed", "orders"):
        df[col] = df[col].astype(int)
    df["delivery_rate"] = df["delivered"] / df["sent"]
    df["open_rate"] = (df["opened"] / df["delivered"]).where(df["channel"] == "email")
    df["click_rate"] = df["clicked"] / df["delivered"]
    df["unsubscribe_rate"] = df["unsubscribed"] / df["delivered"]
    return df.sort_values(["campaign", "channel"]).reset_index(drop=True)


def _total(col) -> float:
    """Sum of a column; 0 for an empty table (SQL's SUM of no rows is NULL)."""
    v = col.sum().execute()
    return 0.0 if v is None or pd.isna(v) else float(v)


def headline(con) -> dict[str, float]:
    """Store-level KPIs over the whole dataset."""
    c, o, r, m = (con.table(n) for n in ("customers", "orders", "returns", "messages"))
    per_cust = o.group_by("customer_id").aggregate(n=o.count())
    out = {
        "customers": int(c.count().execute()),
        "buyers": int(per_cust.count().execute()),
        "repeat_buyers": int(per_cust.filter(per_cust.n > 1).count().execute()),
        "orders": int(o.count().execute()),
        "revenue": _total(o.revenue),
        "discounts": _total(o.discount_amount),
        "returns": _total(r.amount),
        "messages_sent": int(m.count().execute()),
        "first_order_at": o.placed_at.min().execute(),
        "last_order_at": o.placed_at.max().execute(),
    }
    out["average_order_value"] = out["revenue"] / out["orders"] if out["orders"] else 0.0
    out["repeat_buyer_share"] = out["repeat_buyers"] / out["buyers"] if out["buyers"] else 0.0
    out["return_share_of_revenue"] = out["returns"] / out["revenue"] if out["revenue"] else 0.0
    return out


@dataclass
class StoreOverview(Result):
    """What the store did: the first page of every report."""

    _html_table = "funnel"

    kpis: dict
    funnel: pd.DataFrame
    revenue: pd.DataFrame
    abandonment: pd.DataFrame
    messages: pd.DataFrame
    currency: str = "USD"
    notes: list[str] = field(default_factory=list)
    #: the store's platform-style metrics beside published ranges
    #: (:func:`~workbench.analyses.overview.benchmarks.against_benchmarks`)
    benchmarks: pd.DataFrame | None = None

    def summary(self) -> str:
        """Plain-language summary for people."""
        k = self.kpis
        f = self.funnel.set_index("step")["sessions"]
        ab = self.abandonment
        ab_rate = ab["abandoned"].sum() / ab["cart_sessions"].sum() if len(ab) else float("nan")
        lines = [
            f"{k['customers']:,} customers placed {k['orders']:,} orders worth "
            f"{k['revenue']:,.0f} {self.currency} (average order {k['average_order_value']:,.2f}"
            f" {self.currency}); {k['repeat_buyer_share']:.0%} of buyers came back."]
        if f["view_item"]:  # a store without events has no funnel
            lines.append(f"Of {f['view_item']:,} sessions that viewed a product, "
                         f"{f['add_to_cart']:,} added to cart and {f['purchase']:,} bought.")
        if len(ab) and ab["cart_sessions"].sum():
            lines.append(f"{ab_rate:.0%} of cart sessions ended without a purchase in the "
                         "session.")
        lines.append((f"Campaigns sent {k['messages_sent']:,} messages; r" if
                      k["messages_sent"] else "R")
                     + f"eturns took back {k['return_share_of_revenue']:.1%} of revenue.")
        return "\n".join(lines + self.notes)


    def charts(self) -> dict[str, alt.Chart]:
        """Named Altair charts: funnel, revenue, abandonment, messages."""
        fun = alt.Chart(self.funnel).mark_bar().encode(
            x=alt.X("sessions:Q", title="sessions"),
            y=alt.Y("step:N", sort=list(FUNNEL_STEPS), title=None),
            tooltip=["step", "sessions", alt.Tooltip("share_of_viewing_sessions:Q", format=".1%"),
                     alt.Tooltip("step_conversion:Q", format=".1%")],
        ).properties(title="Funnel: sessions reaching each step", width=520, height=160)
        full = self.revenue[self.revenue["complete_week"]]
        rev = full.melt(id_vars="week", value_vars=["revenue", "net_revenue"],
                        var_name="measure", value_name="amount")
        rev_c = alt.Chart(rev).mark_line(point=False).encode(
            x=alt.X("week:T", title="week"),
            y=alt.Y("amount:Q", title=f"{self.currency} per week"),
            color=alt.Color("measure:N", title=None),
            tooltip=["week:T", "measure", alt.Tooltip("amount:Q", format=",.0f")],
        ).properties(title="Revenue per complete week (net = after returns)", width=520,
                     height=200)
        ab = alt.Chart(self.abandonment).mark_line(color="#c0392b").encode(
            x=alt.X("week:T", title="week"),
            y=alt.Y("abandonment_rate:Q", title="abandoned share", axis=alt.Axis(format="%")),
            tooltip=["week:T", "cart_sessions",
                     alt.Tooltip("abandonment_rate:Q", format=".1%")],
        ).properties(title="Cart abandonment rate per week", width=520, height=160)
        msg = self.messages.melt(id_vars=["campaign", "channel"],
                                 value_vars=["sent", "delivered", "opened", "clicked"],
                                 var_name="stage", value_name="messages")
        msg_c = alt.Chart(msg).mark_bar().encode(
            x=alt.X("messages:Q", title="messages"),
            y=alt.Y("stage:N", sort=["sent", "delivered", "opened", "clicked"], title=None),
            color=alt.Color("channel:N"),
            row=alt.Row("campaign:N", title=None),
            tooltip=["campaign", "channel", "stage", "messages"],
        ).properties(title="Messages by campaign and channel", width=420, height=70)
        return {"funnel": fun, "revenue": rev_c, "abandonment": ab, "messages": msg_c}

    def chart(self) -> alt.VConcatChart:
        c = self.charts()
        return alt.vconcat(c["funnel"], c["revenue"], c["abandonment"])


def store_overview(con, currency: str = "USD") -> StoreOverview:
    """Compute the overview of a dataset opened with :func:`workbench.store.open_dataset`."""
    return StoreOverview(kpis=headline(con), funnel=funnel(con), revenue=weekly_revenue(con),
                         abandonment=cart_abandonment(con), messages=message_engagement(con),
                         currency=currency)
