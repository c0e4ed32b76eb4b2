"""Browse sessions as the intent model's rows: observable signals and what followed.

A browse-abandonment session is a session with at least ``min_views`` product views
and no add-to-cart or purchase.  Its signals: ``views`` (product views), ``source``
(the traffic source), ``category`` (the category most of its views were in),
``dwell_seconds`` (time on product pages: from its first product view to its last, per
view between — what GA4's event timestamps give), ``checks`` (size or stock checks,
``check_variant`` events) and
``revisits`` — the customer's earlier sessions in the same category in the
:data:`REVISIT_DAYS` before it (sessions opened from a message left out: those the
store started).  What followed: ``bought`` (an order by the customer within
``window_days`` of the session's start), ``margin`` (of those orders, less goods cost
where known), ``messaged`` (a browse-abandonment message was triggered by it) and,
where the campaign keeps a holdout, the customer's ``arm`` (``messaged`` or
``holdout``); ``reminded_before``: the customer got a browse reminder in the week
before (what a session of a customer a reminder reached looks like is not a baseline).
Sessions whose window runs past the data's end are left out.
"""

from __future__ import annotations

import ibis
import pandas as pd

from ...engines import epoch_s
from ...store import require_tables
from ..orders import orders_with_goods

REVISIT_DAYS = 14.0
CAMPAIGN = "browse_abandonment"
CONTENT_EXPERIMENT = "browse_content"


def browse_sessions(con, window_days: float = 7.0, min_views: int = 2) -> pd.DataFrame:
    """One row per browse-abandonment session (pandas).

    The engine does the session-sized work — each session's signals, its category, its
    revisits (a range window over the customer's sessions in the category) and the
    filter to browse-abandonment sessions — so only those sessions come back, however
    many sessions and events the store has (issue 20); what followed them is joined
    here.
    """
    require_tables(con, "browse intent", {
        "sessions": ("session_id", "customer_id", "started_at", "source"),
        "events": ("session_id", "event_name", "product_id"),
        "products": ("product_id", "category"),
        "orders": ("order_id", "customer_id", "placed_at", "revenue")})
    ev, prod = con.table("events"), con.table("products")
    view = ev.event_name == "view_item"
    per = ev.group_by("session_id").aggregate(
        views=view.cast("int64").sum(),
        checks=(ev.event_name == "check_variant").cast("int64").sum(),
        carted=(ev.event_name.isin(["add_to_cart", "purchase"])).cast("int64").sum(),
        first_view=ev.ts.min(where=view), last_view=ev.ts.max(where=view))
    cat = (ev.filter(view).join(prod, "product_id")
           .group_by(["session_id", "category"]).aggregate(n=ibis._.count()))
    # the category most of its views were in (a tie: the first by name)
    top = (cat.mutate(r=ibis.row_number().over(group_by="session_id",
                                                order_by=[ibis.desc("n"), "category"]))
           .filter(ibis._.r == 0).select("session_id", "category"))
    s = con.table("sessions")
    own = s.message_id.isnull() if "message_id" in s.columns else ibis.literal(True)
    rows = (s.filter(own & s.customer_id.notnull()).join(per, "session_id")
            .join(top, "session_id")
            .select("session_id", "customer_id", "started_at", "source", "views", "carted",
                    "checks", "first_view", "last_view", "category"))
    rows = rows.mutate(t_s=epoch_s(rows.started_at))
    # earlier sessions of the customer in the category within REVISIT_DAYS: those in
    # [t - REVISIT_DAYS, t], less the session itself and any at the very same time
    near = ibis.window(group_by=["customer_id", "category"], order_by="t_s",
                       range=(-REVISIT_DAYS * 86400.0, 0))
    same = ibis.window(group_by=["customer_id", "category", "t_s"])
    rows = rows.mutate(revisits=rows.session_id.count().over(near)
                       - rows.session_id.count().over(same))
    # seconds per product view: from the first view to the last, over the views between
    dwell = ibis.ifelse(rows.views >= 2, (epoch_s(rows.last_view) - epoch_s(rows.first_view))
                        / (rows.views - 1), ibis.null("float64"))
    out = (rows.filter((rows.views >= min_views) & (rows.carted == 0))
           .select("session_id", "customer_id", "started_at", "source", "views", "checks",
                   dwell_seconds=dwell, category="category",
                   revisits=rows.revisits.cast("int64"))
           .order_by("session_id").execute())
    out = _outcomes(con, out, window_days)
    return _arms(con, out)


def _reminded_before(con, out: pd.DataFrame, days: float) -> pd.Series:
    """Whether the customer got a browse reminder in the ``days`` before the session."""
    m = con.table("messages")
    sent = m.filter(m.campaign == CAMPAIGN).select("customer_id", "sent_at").execute()
    j = out[["session_id", "customer_id", "started_at"]].merge(sent, on="customer_id")
    j = j[(j.sent_at < j.started_at) & (j.sent_at >= j.started_at - pd.Timedelta(days=days))]
    return out.session_id.isin(j.session_id)


def _outcomes(con, out: pd.DataFrame, window_days: float) -> pd.DataFrame:
    """``bought`` and ``margin`` within the window, and ``messaged`` (pandas)."""
    o = orders_with_goods(con).execute()
    # a session whose window runs past the data's end cannot show what followed it
    out = out[out.started_at + pd.Timedelta(days=window_days) <= o.placed_at.max()].copy()
    o["margin"] = o.revenue - o.goods
    j = out[["session_id", "customer_id", "started_at"]].merge(
        o[["customer_id", "placed_at", "margin"]], on="customer_id")
    inside = (j.placed_at >= j.started_at) & (
        j.placed_at < j.started_at + pd.Timedelta(days=window_days))
    j = j[inside]
    out["bought"] = out.session_id.isin(j.session_id)
    out["margin"] = out.session_id.map(j.groupby("session_id").margin.sum()).fillna(0.0)
    if "messages" in con.list_tables():
        m = con.table("messages")
        if "trigger_id" in m.columns:
            trig = m.filter(m.campaign == CAMPAIGN).select(
                "trigger_id", "cost").execute()
            out["messaged"] = out.session_id.isin(trig.trigger_id)
            out["message_cost"] = out.session_id.map(
                trig.groupby("trigger_id").cost.sum()).fillna(0.0)
            out["reminded_before"] = _reminded_before(con, out, 7.0)
            return out
    out["messaged"] = False
    out["message_cost"] = 0.0
    out["reminded_before"] = False
    return out


def _arms(con, out: pd.DataFrame) -> pd.DataFrame:
    """The customer's arm of the campaign's holdout, and of its content test.

    ``arm``: ``messaged`` or ``holdout`` (``None`` where there is no holdout);
    ``content``: the content test's arm (``None`` outside it).
    """
    out["arm"] = None
    out["content"] = None
    if "assignments" not in con.list_tables():
        return out
    a = con.table("assignments")
    c = a.filter(a.experiment == CONTENT_EXPERIMENT).select(
        "customer_id", "arm", "assigned_at").execute()
    if len(c):
        c = c.drop_duplicates("customer_id").set_index("customer_id")
        out["content"] = out.customer_id.map(c.arm)
        before = out.started_at < out.customer_id.map(c.assigned_at) - pd.Timedelta(days=1)
        out.loc[before.fillna(False).astype(bool), "content"] = None
    a = con.table("assignments")
    a = a.filter(a.experiment == f"{CAMPAIGN}_holdout").select(
        "customer_id", "arm", "assigned_at").execute()
    if a.empty:
        return out
    a = a.drop_duplicates("customer_id").set_index("customer_id")
    out["arm"] = out.customer_id.map(a.arm)
    # a session before the customer first qualified was not in the test yet
    before = out.started_at < out.customer_id.map(a.assigned_at) - pd.Timedelta(days=1)
    out.loc[before.fillna(False).astype(bool), "arm"] = None
    return out
