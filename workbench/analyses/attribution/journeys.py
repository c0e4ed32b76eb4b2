"""Customer journeys: each customer's ordered touchpoints before each conversion.

Built as Ibis expressions from ``messages``, ``sessions`` and ``orders``:

* **touches** are marketing messages the customer engaged with — an email click,
  an email open, an SMS click — and visits from other sources (``direct``,
  ``organic_search``, ``paid_search``, ``social``, ``referral``).  A visit that
  came from a message click is the click itself, so it is not counted twice;
* a **converting journey** ends at an order: the touches after the customer's
  previous order, no earlier than ``lookback_days`` before the order, each
  counted only inside its own **attribution window** (``windows``: email click
  5 days, email open 5 days, SMS click 5 days by default — the defaults of the
  common e-commerce email platforms);
* a **non-converting journey** is a customer's touches after their last order
  that were still inside the lookback at the end of the data (``end_ts`` = the
  end of the data), with the same windows measured back from the end.

Conventions that change numbers are parameters: whether email opens count at
all (``count_opens``) and whether opens that look machine-generated do
(``ignore_machine_opens``: Apple Mail Privacy Protection fetches every image at
delivery, so an open within ``machine_open_minutes`` of the send with no click
is treated as a machine's — the rule email platforms use, since the truth is
not observable), and how a touch is labelled (``label``).
"""

from __future__ import annotations

import ibis
import pandas as pd
from ibis import _

from ...engines import epoch_s
from ...store import require_tables

#: attribution windows in days per (channel, interaction)
DEFAULT_WINDOWS = {("email", "click"): 5.0, ("email", "open"): 5.0, ("sms", "click"): 5.0}
LABELS = ("campaign_channel", "channel", "campaign")


def _days(x: float):
    return ibis.interval(seconds=int(round(x * 86400)))


DEFAULT_LOOKBACK_DAYS = 30.0  # how far before a conversion touches are looked for


def journeys(con, lookback_days: float = DEFAULT_LOOKBACK_DAYS, windows: dict | None = None,
             count_opens: bool = True, ignore_machine_opens: bool = False,
             machine_open_minutes: float = 10.0, include_visits: bool = True,
             label: str = "campaign_channel"):
    """Touch-level journeys as an Ibis expression (``.execute()`` for pandas).

    Parameters
    ----------
    con
        A connection from :func:`workbench.store.open_dataset`.
    lookback_days
        How far before a conversion (or the end of the data) touches are looked for.
    windows
        Attribution window in days per ``(channel, interaction)``; missing keys get
        :data:`DEFAULT_WINDOWS`.  Visits from non-message sources use ``lookback_days``.
    count_opens, ignore_machine_opens, machine_open_minutes
        Whether email opens are touches, and whether opens within
        ``machine_open_minutes`` of the send without a click are dropped as
        machine-generated.
    include_visits
        Whether visits from non-message sources are touches.
    label
        ``"campaign_channel"`` (``abandoned_cart_email``), ``"channel"`` (``email``) or
        ``"campaign"``; visits are labelled by their source in every case.

    Returns
    -------
    Columns ``journey_id, customer_id, touch_index, channel, campaign, medium,
    interaction, message_id (the message touched; empty for visits), touch_ts, end_ts,
    converted, value, order_id`` — what
    :func:`workbench.attribution.paths_from_journeys` reads (``channel`` holds the
    label).
    """
    if label not in LABELS:
        raise ValueError(f"journeys: label must be one of {LABELS}, not {label!r}")
    if lookback_days <= 0:
        raise ValueError(f"journeys: lookback_days must be > 0, not {lookback_days}")
    win = {**DEFAULT_WINDOWS, **(windows or {})}
    bad = {k: v for k, v in win.items() if not v > 0}
    if bad:
        raise ValueError(f"journeys: attribution windows must be > 0 days; got {bad}")
    require_tables(con, "journeys", {
        "messages": ("message_id", "customer_id", "campaign", "channel", "sent_at",
                     "delivered", "opened_at", "clicked_at"),
        "sessions": ("session_id", "customer_id", "started_at", "source", "message_id"),
        "orders": ("order_id", "customer_id", "placed_at", "revenue")})
    m, s, o = con.table("messages"), con.table("sessions"), con.table("orders")

    def tag(campaign, medium):
        if label == "campaign":
            return campaign
        if label == "channel":
            return medium
        return campaign.concat("_", medium)

    parts = []
    for (medium, inter), days in win.items():
        col = "clicked_at" if inter == "click" else "opened_at"
        if inter == "open" and not count_opens:
            continue
        if inter not in ("click", "open") or col not in m.columns:
            raise ValueError(f"journeys: unknown interaction {inter!r} in windows")
        t = m.filter((m.channel == medium) & m[col].notnull())
        if inter == "open" and ignore_machine_opens:
            fast = t[col] <= t.sent_at + ibis.interval(seconds=int(machine_open_minutes * 60))
            t = t.filter(~(fast & t.clicked_at.isnull()))
        if inter == "open":  # an email that was clicked counts once, as the click
            t = t.filter(t.clicked_at.isnull())
        parts.append(t.select(customer_id=t.customer_id, touch_ts=t[col],
                              channel=tag(t.campaign, t.channel),
                              campaign=t.campaign, medium=t.channel,
                              interaction=ibis.literal(inter),
                              message_id=t.message_id.cast("int64"),
                              window_s=ibis.literal(int(days * 86400))))
    if include_visits:
        v = s.filter(s.message_id.isnull())
        parts.append(v.select(customer_id=v.customer_id, touch_ts=v.started_at,
                              channel=v.source, campaign=ibis.literal(None, "string"),
                              medium=v.source, interaction=ibis.literal("visit"),
                              message_id=ibis.literal(None, "int64"),
                              window_s=ibis.literal(int(lookback_days * 86400))))
    if not parts:
        raise ValueError("journeys: no touch type left (opens off, no windows, no visits)")
    touches = parts[0]
    for p in parts[1:]:
        touches = touches.union(p)
    touches = touches.mutate(window_s=_.window_s.cast("int64"))

    # each order with the customer's previous order time
    w = ibis.window(group_by=_.customer_id, order_by=[_.placed_at, _.order_id])
    orders = o.select("order_id", "customer_id", "placed_at", "revenue").mutate(
        prev_at=_.placed_at.lag().over(w))
    lb = _days(lookback_days)
    oo = orders.select(ocid="customer_id", order_id="order_id", end_ts="placed_at",
                       prev_at="prev_at", value="revenue")
    conv = touches.join(oo, (touches.customer_id == oo.ocid)
                        & (touches.touch_ts < oo.end_ts)
                        & (touches.touch_ts >= oo.end_ts - lb)
                        & (oo.prev_at.isnull() | (touches.touch_ts > oo.prev_at)))
    conv = conv.filter(epoch_s(conv.touch_ts) >= epoch_s(conv.end_ts)
                       - conv.window_s)
    conv = conv.select("customer_id", "touch_ts", "channel", "campaign", "medium",
                       "interaction", "message_id", "end_ts", "order_id",
                       converted=ibis.literal(True), value=conv.value.cast("float64"))

    # non-converting: touches after the customer's last order, inside the lookback at the end
    end = ibis.greatest(m.sent_at.max().as_scalar(), m.opened_at.max().as_scalar(),
                        m.clicked_at.max().as_scalar(), s.started_at.max().as_scalar(),
                        o.placed_at.max().as_scalar())
    last = o.group_by(lcid=o.customer_id).aggregate(last_at=o.placed_at.max())
    tail = touches.left_join(last, touches.customer_id == last.lcid)
    tail = tail.filter((tail.last_at.isnull() | (tail.touch_ts > tail.last_at))
                       & (epoch_s(tail.touch_ts) >= epoch_s(end)
                          - ibis.least(tail.window_s, int(lookback_days * 86400))))
    tail = tail.select("customer_id", "touch_ts", "channel", "campaign", "medium",
                       "interaction", "message_id", end_ts=end,
                       order_id=ibis.literal(None, o.order_id.type()),
                       converted=ibis.literal(False),
                       value=ibis.literal(0.0))
    allj = conv.union(tail)
    # journey id: dense rank of (customer, end); touch index: order within the journey
    jw = ibis.window(order_by=[_.customer_id, _.end_ts])
    allj = allj.mutate(journey_id=ibis.dense_rank().over(jw).cast("int64"))
    tw = ibis.window(group_by=_.journey_id, order_by=[_.touch_ts, _.channel])
    allj = allj.mutate(touch_index=ibis.row_number().over(tw).cast("int64"))
    return allj.select("journey_id", "customer_id", "touch_index", "channel", "campaign",
                       "medium", "interaction", "message_id", "touch_ts", "end_ts",
                       "converted", "value", "order_id").order_by("journey_id", "touch_index")


def journeys_frame(con, **options) -> pd.DataFrame:
    """:func:`journeys` executed, with timestamps as UTC."""
    return _utc(journeys(con, **options).execute())


def _utc(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("touch_ts", "end_ts"):
        if df[c].dt.tz is None:
            df[c] = df[c].dt.tz_localize("UTC")
    return df


#: touches per batch of :func:`journey_batches`
BATCH_TOUCHES = 1_000_000


def journey_batches(con, batch_touches: int = BATCH_TOUCHES, **options):
    """:func:`journeys` as frames of whole journeys, about ``batch_touches`` touches each.

    The engine streams the touches in journey order (Arrow record batches; DuckDB reads
    them as it goes, Ibis's Spark backend collects them as Arrow first); a journey cut
    by a batch's end is carried into the next, so every frame holds whole journeys.
    At most one batch is in pandas at a time: a store's tens of millions of touches do
    not have to fit there at once (issue 20).
    """
    reader = journeys(con, **options).to_pyarrow_batches(chunk_size=batch_touches)
    carry = None
    for batch in reader:
        if batch.num_rows == 0:
            continue
        df = batch.to_pandas()
        if carry is not None:
            df = pd.concat([carry, df], ignore_index=True)
        tail = (df.journey_id == df.journey_id.iloc[-1]).to_numpy()
        carry = df[tail]
        if (~tail).any():
            yield _utc(df[~tail].reset_index(drop=True))
    if carry is not None and len(carry):
        yield _utc(carry.reset_index(drop=True))
