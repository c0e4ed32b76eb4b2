"""An email/SMS platform's message events added to an existing dataset.

``workbench import messages FILE --format klaviyo|csv [--map ...] --into DIR`` reads
one file and appends its messages to the dataset's ``messages`` table; every table
is then validated and the dataset rewritten atomically (a failed import leaves it as
it was).  Nothing else in the dataset changes: the manifest keeps its fields (the
pseudonym salt ``id_salt`` above all; a dataset without one gets one, written once),
truth tables and text files (``rejects.csv``, ``import.json``) are carried over.

Klaviyo metric events (``--format klaviyo``)
-------------------------------------------
One row per event, as Klaviyo's events API / a warehouse sync flattens them
(https://developers.klaviyo.com/en/docs/export_data_from_klaviyo).  Columns are
found by name, case-insensitively, under their usual spellings (:data:`COLUMNS`):
``Event ID`` (``$event_id``), ``Timestamp`` (``datetime``; ISO 8601 with an offset,
or UTC when it has none), ``Metric``, ``Email`` / ``Phone Number`` / ``External ID``
(the profile), ``$message`` (the campaign or flow message), ``Campaign Name`` and
``Flow Name``, ``Apple Privacy Open`` / ``Machine Open``.  A timestamp may also be Unix
seconds (the events API's ``timestamp``).  ``Metric``, ``Timestamp``,
``$message`` and one profile column are required: a file without them (an orders
export, say) is an :class:`~workbench.importers.ImportInputError` naming the file and
the missing columns.

* **Metrics.** ``Received Email|SMS`` is the send (``sent_at``); ``Bounced Email``,
  ``Dropped Email`` and ``Failed to Deliver SMS`` a send that was not delivered;
  ``Opened Email``; ``Clicked Email|SMS``; ``Unsubscribed`` (email) and
  ``Unsubscribed from SMS``; ``Marked Email as Spam`` is read as an unsubscribe
  (Klaviyo suppresses the profile from email).  Any other metric (``Viewed
  Product``...) is rejected as "not a message event".
* **Credited orders.**  ``Placed Order`` with ``$attributed_message`` (the message
  Klaviyo credits the order to: the one the recipient last opened or clicked inside its
  attribution window) sets that order's ``orders.message_id``, which the efficiency
  tables' last-click column and value by acquisition campaign read.  Klaviyo counts an
  open as well as a click, so on imported data that column is Klaviyo's own, wider
  attribution; what a message caused is the holdout column's, not this credit's.
  The order is named by the first of ``Order Name``, ``$extra.name``, ``Order ID``,
  ``OrderId`` and the ``$event_id`` property given on the row (Klaviyo's own ``Event
  ID`` is its event's, not the order's), and matched to the dataset's ``order_id`` as it
  is, with a leading ``#`` or without (Shopify's ``#1001``).  Klaviyo's Shopify
  integration sets ``$event_id`` to Shopify's numeric order id, which matches a store
  keyed by those ids but not a Shopify export imported by its ``Name``: flatten the
  order's name (``$extra.name``) into the file for those.  The message is the
  dataset's message of that id sent to the
  order's customer (this file's or an earlier import's).  Rejected with the reason: an
  order event credited to no message, one whose order is not in the dataset (import
  the orders first), whose message is not in the dataset, was sent to another customer
  or after the order, and the same order credited twice — each reason starting "order
  credit not applied: " (a CSV row's send may still be imported; counted as *order
  credits refused*).  An order already credited to
  another message keeps it (counted).
* **One message per ``$message`` x profile x channel.**  ``sent_at`` is the first
  Received (or bounce) time; ``delivered`` is False when a bounce, drop or failure was
  logged -- unless the message was opened, clicked or unsubscribed from, which proves
  delivery (the bounce is then overruled, counted *fixed*); ``opened_at``,
  ``clicked_at``, ``unsubscribed_at`` are the first of each.  An email click with no
  open, or before the first open, sets ``opened_at`` to the click time (*fixed*: the
  schema's open-before-click rule; Apple's privacy opens make such gaps common).
* **Rejected, with a reason** (``rejects.csv``, rows counted from 1 after the
  header): an unparseable timestamp; no ``$message``; no profile; an open, click or
  unsubscribe whose message has no Received / bounce event in the file (engagement is
  never attached to a message of an earlier import); engagement before the send; a
  message id already in the dataset ("already imported": re-running an import changes
  nothing and counts every message *already present*).  An event repeating an earlier
  ``Event ID`` is *merged* (counted, not a reject).
* **message_id** is the ``$message`` id when, in this file, that id reaches one
  profile and is not already the id of another recipient's message (the per-send
  ids this workbench's exporter writes); a ``$message`` shared by several profiles
  (Klaviyo's campaign and flow messages) gives ``<$message>:<customer_id>`` (a
  pseudonym, never an address).  Either form with the same recipient counts as
  already present on a re-import, so a later export in which a message reaches more
  profiles does not import the first recipient's message twice.
  Ids are stored as integers when the dataset's message ids are integers and every new
  one is a whole number; otherwise every ``message_id`` column (messages, sessions,
  orders) is stored as text, values unchanged (one id type across tables).
* **Apple Privacy Open / Machine Open**: the canonical ``opened_at`` includes machine
  opens, so they are kept and only counted in the summary.

Any CSV (``--format csv``)
--------------------------
One row per message; ``--map`` names the column of each field in :data:`CSV_FIELDS`:
``message_id``, ``sent_at``, ``channel`` (``email``/``sms``) and one of ``email``,
``phone``, ``customer_id`` are required.  ``delivered`` (true/false/1/0/yes/no;
True when unmapped or empty), ``opened_at``, ``clicked_at``, ``unsubscribed_at``,
``campaign``, ``discount_pct`` (0 when unmapped), ``cost`` (the channel default
when unmapped) and ``order_id`` (the order the platform credits to the message — an
attributed-orders report joined to its sends — matched and checked as Klaviyo's
credited orders above) are optional.  The same fixes and rejects apply; a repeated
message id is merged when the row is identical and rejected otherwise.

Mapping decisions (both formats)
--------------------------------
* **campaign**: the flow name (else the campaign name) is mapped onto
  :data:`~workbench.vocab.CAMPAIGNS` by :data:`CAMPAIGN_RULES`, first match wins
  (cart / checkout -> abandoned_cart; browse -> browse_abandonment; post-purchase,
  thank you, cross-sell, upsell -> post_purchase; replenish, reorder, refill ->
  replenishment; seasonal, sale, holiday, Black Friday, newsletter, blast ->
  seasonal); any other name is kept as its slug ("Welcome Series" ->
  ``welcome_series``), no name as ``unknown``.  The name -> campaign map used is in
  the summary and in ``messages_import.json``.
* **experiment, arm**: null.  A platform export does not carry randomization, so
  the cart-timing and discount analyses cannot estimate effects from these messages:
  they need the randomized test the report sizes.
* **discount_pct** 0 (unless a CSV maps it); **product_ids**, **trigger_id** null.
* **cost** per message by channel, :data:`DEFAULT_COSTS` (email 0.004, sms 0.035
  currency units).  These are PLACEHOLDERS -- the simulator's defaults, not quoted
  prices: pass ``costs={"email": ..., "sms": ...}`` with your plan's figures.
* **customers**: a profile links, in this order, by ``External ID`` equal to an
  existing ``customer_id``, by ``pseudonym(email, salt)``, by ``pseudonym(phone,
  salt)`` with the dataset's salt (a Shopify import keys customers by the pseudonym
  of their email, so the same address links).  Other recipients are ADDED as
  customers (id: the email's pseudonym, else the phone's, else the external id),
  ``signup_at`` their first kept message, ``acquisition_channel`` "unknown", region
  null, ``email_opt_in`` / ``sms_opt_in`` True for the channels they were sent on
  (a send implies consent); counted as *added customers*.  In a dataset with integer
  customer ids a new recipient needs a whole-number external id; others are rejected
  (a pseudonym cannot join integer ids).  Emails and phones are never written in
  clear.

What the format cannot carry (a round trip loses)
-------------------------------------------------
experiment and arm; discount_pct; cost (set from the per-channel defaults);
product_ids; trigger_id (the cart, browse session or order that triggered the
message); SMS opens (Klaviyo has no SMS open metric); an email click without an open
comes back opened at the click; a customer's signup time and acquisition channel
for an added customer; orders.message_id only through Placed Order events or a CSV's
``order_id`` (one credited order per message row).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import (
    IMPORTERS,
    Importer,
    ImportInputError,
    ImportResult,
    Progress,
    RowRules,
    quiet,
    read_text_table,
    reject,
)
from ._dataset import append_messages
from .orders import parse_map

#: per-message cost by channel, currency units: placeholders (the simulator's defaults)
DEFAULT_COSTS: dict[str, float] = {"email": 0.004, "sms": 0.035}

#: canonical field -> accepted header spellings (compared case-insensitively)
COLUMNS: dict[str, tuple[str, ...]] = {
    "event_id": ("Event ID", "$event_id", "event_id", "id"),
    "ts": ("Timestamp", "datetime", "Time", "timestamp", "Event Time"),
    "metric": ("Metric", "Metric Name", "metric", "Event"),
    "email": ("Email", "$email", "Profile Email", "email"),
    "phone": ("Phone Number", "$phone_number", "Phone", "phone_number"),
    "external_id": ("External ID", "$external_id", "external_id", "Customer ID"),
    "message": ("$message", "Message ID", "Flow Message ID", "message_id"),
    "campaign_name": ("Campaign Name", "campaign_name", "$campaign_name"),
    "flow_name": ("Flow Name", "flow_name", "$flow_name"),
    "apple_privacy_open": ("Apple Privacy Open", "$apple_privacy_open"),
    "machine_open": ("Machine Open", "$machine_open", "machine_open"),
    # Placed Order events: the message Klaviyo credited, and the order
    "attributed_message": ("$attributed_message", "Attributed Message",
                           "attributed_message"),
    # the order's name or id; Klaviyo's own "Event ID" is its event's, while the event's
    # "$event_id" property is the store's order id (the Shopify integration's)
    "order_ref": ("Order Name", "OrderName", "$extra.name", "Order ID", "OrderId",
                  "order_id", "$event_id"),
}
#: the metric of an order event (credited to a message through ``$attributed_message``)
ORDER_METRIC = "placed order"
PROFILE = ("email", "phone", "external_id")

#: metric -> (channel, role)
METRICS: dict[str, tuple[str, str]] = {
    "received email": ("email", "received"), "received sms": ("sms", "received"),
    "bounced email": ("email", "failed"), "dropped email": ("email", "failed"),
    "failed to deliver sms": ("sms", "failed"),
    "opened email": ("email", "opened"),
    "clicked email": ("email", "clicked"), "clicked sms": ("sms", "clicked"),
    "unsubscribed": ("email", "unsubscribed"),
    "unsubscribed from email marketing": ("email", "unsubscribed"),
    "marked email as spam": ("email", "unsubscribed"),
    "unsubscribed from sms": ("sms", "unsubscribed"),
}

#: (pattern on the lower-cased name, campaign): first match wins
CAMPAIGN_RULES: tuple[tuple[str, str], ...] = (
    (r"\bcart\b|checkout", "abandoned_cart"),
    (r"\bbrows", "browse_abandonment"),
    (r"post[\s_-]*purchase|thank[\s_-]*you|cross[\s_-]*sell|upsell", "post_purchase"),
    (r"replenish|re[\s_-]*order|refill", "replenishment"),
    (r"seasonal|\bsale\b|holiday|black[\s_-]*friday|cyber|christmas|newsletter|blast",
     "seasonal"),
)

CSV_FIELDS = ("message_id", "email", "phone", "customer_id", "channel", "campaign",
              "sent_at", "delivered", "opened_at", "clicked_at", "unsubscribed_at",
              "discount_pct", "cost", "order_id")
TS_FIELDS = ("sent_at", "opened_at", "clicked_at", "unsubscribed_at")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def campaign_of(name: str | None) -> str:
    """The canonical campaign a flow or campaign name stands for (see the docstring).

    Examples
    --------
    >>> campaign_of("Abandoned Checkout - SMS"), campaign_of("VIP Early Access")
    ('abandoned_cart', 'vip_early_access')
    """
    if name is None or (isinstance(name, float) and np.isnan(name)) or not str(name).strip():
        return "unknown"
    low = re.sub(r"[-_]", " ", str(name).lower())
    for pattern, campaign in CAMPAIGN_RULES:
        if re.search(pattern, low):
            return campaign
    return re.sub(r"[^a-z0-9]+", "_", low).strip("_") or "unknown"


def _text(s: pd.Series) -> pd.Series:
    s = s.astype("string").str.strip()
    return s.mask(s == "")


def _times(s: pd.Series) -> pd.Series:
    """Parse times to UTC; NaT where unparseable.

    An offset is honoured, none means UTC, and a 9-10 digit number is Unix seconds
    (the events API's ``timestamp``).
    """
    t = _text(s)
    epoch = t.str.fullmatch(r"\d{9,10}").fillna(False).astype(bool)
    out = pd.to_datetime(t.mask(epoch), errors="coerce", utc=True, format="mixed")
    if epoch.any():
        out[epoch] = pd.to_datetime(t[epoch].astype("int64"), unit="s", utc=True)
    return out


def _flag(s: pd.Series) -> pd.Series:
    low = _text(s).str.lower()
    return low.isin(_TRUE).fillna(False).astype(bool)


def _no_messages() -> pd.DataFrame:
    """The pivot's columns, no rows (every row of the file was rejected)."""
    ts = pd.Series(dtype="datetime64[us, UTC]")
    text = pd.Series(dtype="string")
    return pd.DataFrame({"key": text, "message": text, "email": text, "phone": text,
                         "external_id": text, "channel": text, "name": text, "sent_at": ts,
                         "opened_at": ts, "clicked_at": ts, "unsubscribed_at": ts,
                         "delivered": pd.Series(dtype=bool),
                         "discount_pct": pd.Series(dtype=float),
                         "cost": pd.Series(dtype=float)})


@dataclass
class _Staged:
    """Messages one row each (before linking), with the source rows behind each."""

    messages: pd.DataFrame  # key, message, email, phone, external_id, channel, ...
    rows: pd.Series          # key -> list of source rows
    rejects: list[pd.DataFrame]
    counts: dict[str, int]
    attributions: pd.DataFrame | None = None  # row, order_ref, message: credited orders


class MessagesImporter(Importer):
    """Message events (klaviyo) or message rows (csv) -> messages of a dataset."""

    name = "messages"

    def __init__(self, fmt: str = "klaviyo", mapping: Mapping[str, str] | None = None,
                 costs: Mapping[str, float] | None = None):
        if fmt not in ("klaviyo", "csv"):
            raise ImportInputError(f"--format must be klaviyo or csv, not {fmt!r}")
        self.fmt, self.mapping = fmt, dict(mapping or {})
        self.order_columns: list[str] = []
        self.costs = {**DEFAULT_COSTS, **(costs or {})}
        if fmt == "csv":
            unknown = sorted(set(self.mapping) - set(CSV_FIELDS))
            if unknown:
                raise ImportInputError(f"--map: unknown field(s) {unknown}; fields are "
                                       f"{list(CSV_FIELDS)}")
            missing = [f for f in ("message_id", "sent_at", "channel") if f not in self.mapping]
            if missing or not any(f in self.mapping for f in ("email", "phone", "customer_id")):
                raise ImportInputError(
                    f"--map: map message_id, sent_at, channel and one of email, phone, "
                    f"customer_id (missing: {missing or ['email|phone|customer_id']})")
        self.source = "messages"

    # ------------------------------------------------------------------ reading
    def read(self, path: str | Path) -> dict[str, pd.DataFrame]:
        """The file as text (``{"events": ...}`` or ``{"messages": ...}``), columns checked."""
        path = Path(path)
        self.source = path.name
        df = read_text_table(path)
        df = df.mask(df == "")  # an empty cell is a missing value
        lower = {c.lower(): c for c in df.columns}
        if self.fmt == "csv":
            absent = [c for c in self.mapping.values() if c not in df.columns]
            if absent:
                raise ImportInputError(f"{path.name}: mapped column(s) {absent} not in the "
                                       f"file; it has {list(df.columns)}")
            return {"messages": df}
        found = {}
        for f, names in COLUMNS.items():
            hit = next((lower[n.lower()] for n in names if n.lower() in lower), None)
            if hit is not None:
                found[f] = hit
        missing = [COLUMNS[f][0] for f in ("metric", "ts", "message") if f not in found]
        if not any(f in found for f in PROFILE):
            missing.append("Email, Phone Number or External ID")
        if missing:
            raise ImportInputError(
                f"{path.name}: not Klaviyo-style metric events: missing column(s) "
                f"{missing}; it has {list(df.columns)[:20]}")
        self.columns = found
        # an order may be named in any of several columns, row by row: all of them
        self.order_columns = [lower[n.lower()] for n in COLUMNS["order_ref"]
                              if n.lower() in lower]
        return {"events": df}

    # ------------------------------------------------------------------ staging
    def stage(self, sources: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Rename to the canonical fields, trim text, parse the event times (no row dropped)."""
        if self.fmt == "csv":
            src = sources["messages"]
            out = pd.DataFrame({f: src[c] for f, c in self.mapping.items()}, index=src.index)
            out = out.rename(columns={"customer_id": "external_id", "message_id": "message"})
            for f in ("message", "email", "phone", "external_id", "channel", "campaign",
                      "order_id"):
                if f in out:
                    out[f] = _text(out[f])
            return {"messages": out}
        src = sources["events"]
        out = pd.DataFrame({f: _text(src[c]) for f, c in self.columns.items()}, index=src.index)
        if self.order_columns:  # the first column that names the order, row by row
            ref = _text(src[self.order_columns[0]])
            for c in self.order_columns[1:]:
                ref = ref.fillna(_text(src[c]))
            out["order_ref"] = ref
        out["ts_parsed"] = _times(out["ts"])
        return {"events": out}

    def canonical(self, staged: Mapping[str, pd.DataFrame]
                  ) -> tuple[dict[str, pd.DataFrame], list[pd.DataFrame]]:
        """Not used: messages need the dataset they join (:func:`import_messages`)."""
        raise NotImplementedError("messages are added to a dataset: use import_messages()")

    # ------------------------------------------------------------------ pivot
    def pivot(self, staged: Mapping[str, pd.DataFrame]) -> _Staged:
        """One row per message (klaviyo: events pivoted), the rejects and the counts."""
        if self.fmt == "csv":
            return self._rows(staged["messages"])
        return self._events(staged["events"])

    def _events(self, e: pd.DataFrame) -> _Staged:
        counts = {"events": len(e)}
        rule = RowRules(self.source, e.index)
        rejects = rule.rejects

        for f in PROFILE:
            if f not in e:
                e[f] = pd.Series(pd.NA, index=e.index, dtype="string")
        for f in ("event_id", "campaign_name", "flow_name"):
            if f not in e:
                e[f] = pd.Series(pd.NA, index=e.index, dtype="string")
        role = e.metric.str.lower().map(lambda m: METRICS.get(m, (None, None))[1]
                                        if isinstance(m, str) else None)
        channel = e.metric.str.lower().map(lambda m: METRICS.get(m, (None, None))[0]
                                           if isinstance(m, str) else None)
        e = e.assign(role=role, channel=channel)
        dup = e.event_id.notna() & e.event_id.duplicated()
        counts["merged duplicate events"] = int(dup.sum())
        rule.bad = rule.bad | dup  # merged, not rejected: kept out of the rows without a reason
        attributions = self._credited_orders(e, rule)
        for metric in sorted(e.metric[e.role.isna() & ~rule.bad].fillna("(none)").unique()):
            rule(e.metric.fillna("(none)").eq(metric) & e.role.isna(),
                 f"not a message event: metric {metric!r}")
        rule(e.ts_parsed.isna(), "Timestamp is not a date and time")
        rule(e.message.isna(), "no $message id (the event is not tied to a message)")
        rule(e.email.isna() & e.phone.isna() & e.external_id.isna(),
             "no profile (Email, Phone Number or External ID)")
        machine = pd.Series(False, index=e.index)
        for f in ("apple_privacy_open", "machine_open"):
            if f in e:
                machine |= _flag(e[f])
        counts["machine opens"] = int((machine & e.role.eq("opened") & ~rule.bad).sum())
        e = e[~rule.bad].copy()
        e["profile"] = (e.external_id.fillna("") + "\x1f" + e.email.fillna("").str.lower()
                        + "\x1f" + e.phone.fillna(""))
        e["key"] = e.message + "\x1f" + e.profile + "\x1f" + e.channel
        sends = e[e.role.isin(["received", "failed"])]
        sent = sends.groupby("key").ts_parsed.min()
        orphan = ~e.key.isin(sent.index)
        start = pd.Series(pd.NaT, index=e.index, dtype=e.ts_parsed.dtype)
        if len(sent) and (~orphan).any():
            start[~orphan] = e.key[~orphan].map(sent)
        early = ~orphan & (e.ts_parsed < start)
        for mask, reason in ((orphan, "no Received or bounce event for this message in the "
                              "file (engagement is not added to earlier messages)"),
                             (early, "event before the message was sent")):
            if mask.any():
                rejects.append(reject(self.source, e.index[mask], reason))
        e = e[~orphan & ~early]
        if e.empty:
            return _Staged(_no_messages(), pd.Series(dtype=object), rejects, counts,
                           attributions)
        g = e.groupby("key", sort=False)
        first = {r: e[e.role == r].groupby("key").ts_parsed.min()
                 for r in ("failed", "opened", "clicked", "unsubscribed")}
        name = e.flow_name.fillna(e.campaign_name)
        m = g.agg(message=("message", "first"), email=("email", "first"),
                  phone=("phone", "first"), external_id=("external_id", "first"),
                  channel=("channel", "first"))
        m["name"] = name.groupby(e.key).first()
        m["sent_at"] = sent.reindex(m.index)
        for r, col in (("opened", "opened_at"), ("clicked", "clicked_at"),
                       ("unsubscribed", "unsubscribed_at")):
            m[col] = first[r].reindex(m.index)
        m["delivered"] = ~m.index.isin(first["failed"].index)
        m["discount_pct"] = 0.0
        m["cost"] = m.channel.map(self.costs).astype(float)
        rows = pd.Series(e.index, index=e.key).groupby(level=0).agg(list)
        return _Staged(m.reset_index(), rows, rejects, counts, attributions)

    def _credited_orders(self, e: pd.DataFrame, rule: RowRules) -> pd.DataFrame:
        """Placed Order events credited to a message: ``row, order_ref, message``.

        Klaviyo credits an order to the message a recipient engaged with before it
        (``$attributed_message``; its attribution window) and names the order by a
        flattened order name or its ``$event_id`` property (the first given, row by
        row); an order event is taken out of the message events here, and one with no
        credited message or no order named is rejected with the reason.
        """
        order = e.metric.str.lower().eq(ORDER_METRIC).fillna(False) & ~rule.bad
        credited = e.attributed_message if "attributed_message" in e else pd.Series(
            pd.NA, index=e.index, dtype="string")
        ref = e.order_ref if "order_ref" in e else pd.Series(pd.NA, index=e.index,
                                                             dtype="string")
        rule(order & credited.isna(), "an order event credited to no message "
             "($attributed_message empty): nothing to link")
        rule(order & credited.notna() & ref.isna(), "an order event without its order "
             "(Order Name, $extra.name, Order ID, OrderId or $event_id)")
        keep = order & ~rule.bad
        rule.bad = rule.bad | keep  # taken out of the message events, not rejected
        return pd.DataFrame({"row": e.index[keep], "order_ref": ref[keep].to_numpy(),
                             "message": credited[keep].to_numpy()})

    def _rows(self, o: pd.DataFrame) -> _Staged:
        counts = {"rows": len(o)}
        rule = RowRules(self.source, o.index)
        rejects = rule.rejects

        for f in ("email", "phone", "external_id", "campaign"):
            if f not in o:
                o[f] = pd.Series(pd.NA, index=o.index, dtype="string")
        rule(o.message.isna(), "no message id")
        rule(o.email.isna() & o.phone.isna() & o.external_id.isna(),
             "no recipient (email, phone or customer_id)")
        o["channel"] = o.channel.str.lower()
        rule(~o.channel.isin(["email", "sms"]).fillna(False), "channel is not email or sms")
        for f in TS_FIELDS:
            if f in o:
                raw = _text(o[f])
                o[f] = _times(raw)
                rule(raw.notna() & o[f].isna(), f"{f} is not a date and time")
            else:
                o[f] = pd.Series(pd.NaT, index=o.index, dtype="datetime64[ns, UTC]")
        rule(o.sent_at.isna(), "no sent_at")
        if "delivered" in o:
            low = _text(o.delivered).str.lower()
            rule(low.notna() & ~low.isin(_TRUE | _FALSE).fillna(False),
                 "delivered is not true/false")
            o["delivered"] = ~low.isin(_FALSE).fillna(False).astype(bool)
        else:
            o["delivered"] = True
        for f in ("discount_pct", "cost"):
            if f in o:
                raw = _text(o[f])
                o[f] = pd.to_numeric(raw, errors="coerce")
                rule(raw.notna() & o[f].isna(), f"{f} is not a number")
        if "discount_pct" in o:
            rule((o.discount_pct < 0) | (o.discount_pct >= 100), "discount_pct not in [0, 100)")
            o["discount_pct"] = o.discount_pct.fillna(0.0)
        else:
            o["discount_pct"] = 0.0
        if "cost" in o:
            rule(o.cost < 0, "negative cost")
        else:
            o["cost"] = np.nan
        o["cost"] = o.cost.fillna(o.channel.map(self.costs)).astype(float)
        for f in ("opened_at", "clicked_at", "unsubscribed_at"):
            rule(o[f] < o.sent_at, f"{f} before sent_at")
        o = o[~rule.bad]
        dup = o.message.duplicated(keep="first")
        merged = o.duplicated(keep="first")  # the whole row again (so the same id)
        counts["merged duplicate rows"] = int(merged.sum())
        conflict = dup & ~merged
        if conflict.any():
            rejects.append(reject(self.source, o.index[conflict],
                                  "the message id appears again with other values "
                                  "(first row kept)"))
        o = o[~dup]
        # a row's order_id: the order the platform credits to the message
        credited = None
        if "order_id" in o:
            c = o[o.order_id.notna()]
            credited = pd.DataFrame({"row": c.index, "order_ref": c.order_id.to_numpy(),
                                     "message": c.message.to_numpy()})
        if o.empty:
            return _Staged(_no_messages(), pd.Series(dtype=object), rejects, counts,
                           credited)
        m = o.rename(columns={"campaign": "name"}).assign(key=o.message.values)
        rows = pd.Series([[i] for i in o.index], index=m.key.values)
        return _Staged(m.drop(columns="order_id", errors="ignore").reset_index(drop=True),
                       rows, rejects, counts, credited)


@dataclass
class MessagesImportResult(ImportResult):
    """An :class:`ImportResult` with the messages import's counts and campaign map."""

    counts: dict[str, int] = field(default_factory=dict)
    campaign_map: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        c = self.counts
        parts = ", ".join(f"{k} {v:,}" for k, v in c.items())
        names = "; ".join(f"{n!r} -> {k}" for n, k in self.campaign_map.items()) or "none"
        return (f"{super().summary()} Messages import: {parts}. Campaign names -> "
                f"campaigns: {names}. Experiment and arm are null (a platform export "
                "carries no randomization): the cart-timing and discount decisions need "
                "the randomized test the report sizes.")


def _fix(m: pd.DataFrame, counts: dict[str, int]) -> pd.DataFrame:
    """Engagement proves delivery; an email click opens the message (both counted)."""
    engaged = m.opened_at.notna() | m.clicked_at.notna() | m.unsubscribed_at.notna()
    overruled = engaged & ~m.delivered
    counts["fixed: bounce overruled by engagement"] = int(overruled.sum())
    m = m.assign(delivered=m.delivered | engaged)
    email = m.channel == "email"
    early = email & m.clicked_at.notna() & (m.opened_at.isna() | (m.clicked_at < m.opened_at))
    counts["fixed: email click without an earlier open"] = int(early.sum())
    m.loc[early, "opened_at"] = m.loc[early, "clicked_at"]
    sms_open = ~email & m.opened_at.notna()
    m.loc[sms_open, "opened_at"] = pd.NaT  # no such metric; a mapped CSV may carry one
    return m


def import_messages(file: Path, into: Path, *, fmt: str = "klaviyo", mapping: str = "",
                    progress: Progress = quiet, costs: Mapping[str, float] | None = None,
                    ) -> MessagesImportResult:
    """Add the messages of ``file`` to the dataset at ``into`` (see the module docstring).

    Parameters
    ----------
    file
        Klaviyo-style metric events (``fmt="klaviyo"``) or one row per message
        (``fmt="csv"`` with ``mapping``).
    into
        An existing dataset folder; rewritten atomically when the import succeeds.
    fmt
        ``"klaviyo"`` or ``"csv"``.
    mapping
        For ``csv``: ``FIELD=COLUMN,...`` (fields in :data:`CSV_FIELDS`).
    progress
        Called with one line per step.
    costs
        Cost per message by channel (defaults :data:`DEFAULT_COSTS`, placeholders).

    Returns
    -------
    MessagesImportResult
        Row counts of the rewritten dataset, this import's rejects, the validation
        report, the counts (kept, merged, fixed, already present, added customers,
        rejected) and the campaign-name map.

    Raises
    ------
    ImportInputError
        A file that is not of the format, a bad ``--map``, a folder that is not a
        dataset.
    workbench.schema.DatasetValidationError
        The tables would break the schema; nothing is written.
    """
    file, into = Path(file), Path(into)
    importer = MessagesImporter(fmt, parse_map(mapping) if mapping else {}, costs)
    sources = importer.read(file)
    progress(f"read {len(next(iter(sources.values()))):,} rows from {file.name}")
    staged = importer.pivot(importer.stage(sources))
    counts = staged.counts
    m = _fix(staged.messages, counts)
    names = m.name.fillna("").astype(str)
    campaign_map = {n: campaign_of(n) for n in sorted(names.unique())}
    m["campaign"] = names.map(campaign_map)
    campaign_map = {(n or "(no name)"): k for n, k in campaign_map.items()}
    progress(f"{len(m):,} messages in {file.name}; adding them to {into}")
    res = append_messages(into, m, staged.rows, importer.source, staged.rejects, counts,
                          shared_ids=fmt == "klaviyo", attributions=staged.attributions)
    counts["rejected rows"] = int(len(res.rejects))
    extra = {"messages_import.json": json.dumps(
        {"source": file.name, "format": fmt, "counts": counts,
         "campaign_map": campaign_map}, indent=2)}
    path = res.write(extra, progress)
    return MessagesImportResult(path, {k: int(v.num_rows) for k, v in res.tables.items()},
                                res.rejects, res.report, counts=counts,
                                campaign_map=campaign_map)


IMPORTERS["messages"] = MessagesImporter

__all__ = ["CAMPAIGN_RULES", "COLUMNS", "CSV_FIELDS", "DEFAULT_COSTS", "METRICS",
           "MessagesImportResult", "MessagesImporter", "campaign_of", "import_messages"]
