"""Engagement events for the send-time model: when each customer read an email.

One row per email a customer engaged with: the time of the click if there was one,
else of the open — a human moment.  Opens and clicks within ``min_delay_minutes``
of the send are left out: machine opens (Apple Mail Privacy Protection fetches
every email within minutes of delivery) land there, and a human who reads that fast
says when the email arrived, not when they read.  SMS clicks follow the send by
minutes too, so only email counts.  Times are turned to the store's clock
(``timezone``, an IANA name) before the hour and the day type are read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...engines import epoch_s, fetch_frame
from ...store import require_tables, ts_literal

MIN_DELAY_MINUTES = 15.0


def engagement_events(con, min_delay_minutes: float = MIN_DELAY_MINUTES,
                      timezone: str = "UTC", as_of=None) -> pd.DataFrame:
    """``customer_id, engaged_at, hour, weekend`` of emails engaged with (pandas).

    ``as_of`` keeps the sends up to that time (a time split for scoring).
    """
    require_tables(con, "send time", {"messages": (
        "customer_id", "channel", "sent_at", "delivered", "opened_at", "clicked_at")})
    m = con.table("messages")
    m = m.filter((m.channel == "email") & m.delivered)
    if as_of is not None:
        m = m.filter(m.sent_at <= ts_literal(as_of, m, "sent_at"))
    at = m.clicked_at.coalesce(m.opened_at)
    m = m.mutate(engaged_at=at).filter(at.notnull())
    late = (epoch_s(m.engaged_at) - epoch_s(m.sent_at)) >= min_delay_minutes * 60
    try:
        t_zone = pd.Timestamp("2000-01-01", tz=timezone).tz
    except Exception as exc:  # pytz / zoneinfo raise different types for an unknown name
        from .model import SendTimeInputError

        raise SendTimeInputError(f"timezone {timezone!r} is not an IANA time zone name "
                                 "(for example 'Europe/Paris')") from exc
    ev = fetch_frame(m.filter(late).select("customer_id", "engaged_at"))  # in batches
    t = pd.to_datetime(ev["engaged_at"], utc=True).dt.tz_convert(t_zone)
    ev["hour"] = (t.dt.hour + t.dt.minute / 60 + t.dt.second / 3600).to_numpy()
    ev["weekend"] = (t.dt.day_of_week >= 5).to_numpy()
    return ev


def hour_counts(events: pd.DataFrame) -> pd.DataFrame:
    """``day`` (weekday, weekend), ``hour`` (whole hours), ``events``: what a chart shows."""
    e = events.assign(hour=np.floor(events.hour).astype(int),
                      day=np.where(events.weekend, "weekend", "weekday"))
    return e.groupby(["day", "hour"]).size().rename("events").reset_index()
