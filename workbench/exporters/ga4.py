"""A dataset as GA4's BigQuery export: one ``events_YYYYMMDD`` file per day.

The files are what ``bq extract`` of the ``events_*`` tables gives: JSON lines
(``events_20250101.json.gz`` or ``.json``) or Parquet (``.parquet``), one row per
GA4 event in Google's nested schema ("[GA4] BigQuery Export schema",
https://support.google.com/analytics/answer/7029846): ``event_date``
(YYYYMMDD), ``event_timestamp`` (microseconds, UTC), ``event_name``,
``event_params`` (repeated key + value{string_value, int_value, float_value,
double_value}), ``user_id``, ``user_pseudo_id``, ``user_first_touch_timestamp``,
``traffic_source``, ``collected_traffic_source``, ``geo``, ``device``,
``ecommerce`` and ``items``.  The JSON files write INT64 as JSON strings, as
BigQuery's JSON export does (``"event_timestamp": "1735689600000000"``); Parquet
keeps them as integers.  The whole export is built by one DuckDB query and
written day by day with ``COPY``, so a year of a mid-size store (ten million
GA4 events) never passes through Python objects.

What is written, from the canonical tables:

* each session -> ``session_start`` (``first_visit`` too for a customer's first
  session) at ``started_at``, carrying ``ga_session_id`` (the session's start in
  Unix seconds, made unique per user), ``ga_session_number``, ``page_location``
  and the session's ``source``/``medium``/``campaign`` in ``event_params`` and
  in ``collected_traffic_source`` (``manual_source``, ``manual_medium``,
  ``manual_campaign_name``, ``manual_content`` = ``message_<id>`` for a session
  opened by a message, ``gclid`` for paid search).  The source maps to a
  (source, medium) pair the importer maps back: direct -> (direct)/(none),
  organic_search -> google/organic, paid_search -> google/cpc, social ->
  instagram/social, referral -> blog.example.com/referral, affiliate ->
  partner.example/affiliate, email -> newsletter/email, sms -> sms/sms, other ->
  display-network/display;
* each ``view_item`` -> a ``page_view`` of the product page and the
  ``view_item``; ``add_to_cart``, ``remove_from_cart`` and ``begin_checkout``
  -> the event with one item (item_id, item_category, price, quantity);
* each order -> one ``purchase`` at ``placed_at``: ``ecommerce.transaction_id``
  = order_id, ``purchase_revenue`` = revenue (after discount, no shipping or
  tax), ``total_item_quantity``, ``unique_items``; ``items`` = the order's lines
  with ``price`` = unit_price (before the order discount), ``quantity`` and
  ``item_revenue`` = price x quantity; so the discount is
  sum(item_revenue) - purchase_revenue, which is how the importer reads it;
* each return -> a ``refund`` at ``returned_at`` (``transaction_id``,
  ``refund_value``, one item with ``item_refund`` = the amount), with no
  session (refunds are usually sent server-side);
* every event carries ``user_id`` = customer_id, ``user_pseudo_id`` (one device
  per customer), ``user_first_touch_timestamp`` = signup_at, ``traffic_source``
  from the acquisition channel, ``geo.region`` = region and a ``currency``
  parameter (``currency`` option, default USD).

What GA4 cannot carry (lost on a round trip): the customers' email/SMS consent,
unit costs, purchase types and supply days, product names (none here),
messages, experiments and assignments (a session keeps its message only as
``manual_content``, which a GA4-only import cannot resolve), the
``discount_promo`` acquisition channel (written as medium ``discount``, read
back as ``other``) and customers who never visited (GA4 only sees visitors).
"""

from __future__ import annotations

from pathlib import Path

from ..importers import Progress, quiet
from ..store import DatasetError, load_manifest, table_path

FILE_FORMATS = {"jsonl.gz": ".json.gz", "jsonl": ".json", "parquet": ".parquet"}

#: canonical session source -> (utm source, utm medium)
SOURCE_PAIRS: dict[str, tuple[str, str]] = {
    "direct": ("(direct)", "(none)"), "organic_search": ("google", "organic"),
    "paid_search": ("google", "cpc"), "social": ("instagram", "social"),
    "referral": ("blog.example.com", "referral"), "affiliate": ("partner.example", "affiliate"),
    "email": ("newsletter", "email"), "sms": ("sms", "sms"),
    "other": ("display-network", "display"), "discount_promo": ("promo", "discount")}
SITE = "https://shop.example.com"
#: events at the same microsecond in the order GA4 logs them (session_start first)
_ORDER = ("CASE name WHEN 'session_start' THEN 0 WHEN 'first_visit' THEN 1 "
          "WHEN 'page_view' THEN 2 ELSE 3 END, name")


def _pairs_sql() -> str:
    rows = ", ".join(f"('{k}', '{s}', '{m}')" for k, (s, m) in SOURCE_PAIRS.items())
    return f"(SELECT * FROM (VALUES {rows}) AS t(channel, src, med))"


def _base_sql(has: set[str], currency: str) -> str:
    """One flat row per GA4 event (ints as BIGINT), from the canonical tables."""
    msg = ("LEFT JOIN messages m ON m.message_id = s.message_id" if "messages" in has
           else "LEFT JOIN (SELECT NULL::BIGINT AS message_id, NULL::VARCHAR AS campaign) m "
                "ON false")
    refunds = ("" if "returns" not in has else """
        UNION ALL
        SELECT epoch_us(r.returned_at), 'refund', r.order_id::VARCHAR, NULL, NULL, NULL, NULL,
               NULL, NULL, false, r.amount, NULL, NULL, r.amount,
               [{'item_id': r.product_id::VARCHAR, 'item_category': p.category,
                  'price': NULL::DOUBLE, 'quantity': NULL::BIGINT,
                  'item_revenue': NULL::DOUBLE, 'item_refund': r.amount}],
               o.customer_id, NULL
        FROM returns r JOIN orders o USING (order_id)
        LEFT JOIN products p ON p.product_id = r.product_id""")
    item = ("[{'item_id': e.product_id::VARCHAR, 'item_category': p.category, "
            "'price': e.price, 'quantity': e.quantity::BIGINT, 'item_revenue': NULL::DOUBLE, "
            "'item_refund': NULL::DOUBLE}]")
    return f"""
    WITH sess AS (
        SELECT s.session_id, s.customer_id, epoch_us(s.started_at) AS start_us, s.source,
               m.message_id, m.campaign,
               row_number() OVER (PARTITION BY s.customer_id ORDER BY s.started_at,
                                  s.session_id) AS snum,
               epoch(s.started_at)::BIGINT AS sec
        FROM sessions s {msg}),
    sess2 AS (
        SELECT *, sec + row_number() OVER (PARTITION BY customer_id, sec ORDER BY snum) - 1
                  AS sid
        FROM sess),
    ev AS (
        -- ts, name, transaction, sid, snum, source, content, campaign, page, is_first,
        -- value, revenue, quantity, refund_value, items, customer, session
        SELECT s.start_us AS ts, 'session_start' AS name, NULL::VARCHAR AS txn, s.sid,
               s.snum, s.source, 'message_' || s.message_id::VARCHAR AS content,
               s.campaign, '{SITE}/' AS page, s.snum = 1 AS is_first, NULL::DOUBLE AS value,
               NULL::DOUBLE AS revenue, NULL::BIGINT AS total_qty, NULL::DOUBLE AS refund,
               []::STRUCT(item_id VARCHAR, item_category VARCHAR, price DOUBLE,
                          quantity BIGINT, item_revenue DOUBLE, item_refund DOUBLE)[]
                   AS items,
               s.customer_id, s.session_id
        FROM sess2 s
        UNION ALL
        SELECT s.start_us, 'first_visit', NULL, s.sid, s.snum, NULL, NULL, NULL,
               '{SITE}/', false, NULL, NULL, NULL, NULL, [], s.customer_id, s.session_id
        FROM sess2 s WHERE s.snum = 1
        UNION ALL
        SELECT epoch_us(e.ts), 'page_view', NULL, s.sid, s.snum, NULL, NULL, NULL,
               '{SITE}/products/' || e.product_id::VARCHAR, false, NULL, NULL, NULL, NULL, [],
               e.customer_id, e.session_id
        FROM events e JOIN sess2 s USING (session_id) WHERE e.event_name = 'view_item'
        UNION ALL
        SELECT epoch_us(e.ts), e.event_name, NULL, s.sid, s.snum, NULL, NULL, NULL,
               '{SITE}/products/' || e.product_id::VARCHAR, false, e.price * e.quantity,
               NULL, NULL, NULL, {item}, e.customer_id, e.session_id
        FROM events e JOIN sess2 s USING (session_id)
        LEFT JOIN products p ON p.product_id = e.product_id
        WHERE e.event_name <> 'purchase'
        UNION ALL
        SELECT epoch_us(o.placed_at), 'purchase', o.order_id::VARCHAR, s.sid, s.snum, NULL,
               NULL, NULL, '{SITE}/checkout/thank-you', false, o.revenue, o.revenue,
               li.qty, NULL, li.items, o.customer_id, o.session_id
        FROM orders o
        JOIN (SELECT i.order_id, sum(i.quantity)::BIGINT AS qty,
                     list({{'item_id': i.product_id::VARCHAR, 'item_category': p.category,
                           'price': i.unit_price, 'quantity': i.quantity::BIGINT,
                           'item_revenue': i.unit_price * i.quantity,
                           'item_refund': NULL::DOUBLE}} ORDER BY i.product_id) AS items
              FROM order_items i LEFT JOIN products p USING (product_id)
              GROUP BY i.order_id) li USING (order_id)
        LEFT JOIN sess2 s ON s.session_id = o.session_id
        {refunds})
    SELECT ev.*, strftime(make_timestamp(ev.ts), '%Y%m%d') AS event_date,
           epoch_us(c.signup_at) AS first_touch, c.region, c.acquisition_channel,
           c.customer_id::VARCHAR AS user_id,
           (1000000000 + hash(c.customer_id) % 1000000000)::BIGINT::VARCHAR || '.'
               || epoch(c.signup_at)::BIGINT::VARCHAR AS pseudo,
           ['desktop', 'mobile', 'tablet'][(1 + hash(c.customer_id) % 3)::BIGINT] AS device,
           ps.src AS s_src, ps.med AS s_med, pa.src AS a_src, pa.med AS a_med,
           '{currency}' AS currency
    FROM ev JOIN customers c USING (customer_id)
    LEFT JOIN {_pairs_sql()} ps ON ps.channel = ev.source
    LEFT JOIN {_pairs_sql()} pa ON pa.channel = c.acquisition_channel
    """


def _nested_sql(json: bool) -> str:
    """The flat rows -> Google's nested columns (INT64 as strings in JSON, as bq does)."""
    it = "VARCHAR" if json else "BIGINT"

    def i(x: str) -> str:
        return f"CAST({x} AS {it})"

    def p(key: str, s: str = "NULL", n: str = "NULL", d: str = "NULL") -> str:
        return (f"{{'key': '{key}', 'value': {{'string_value': {s}::VARCHAR, "
                f"'int_value': {i(n)}, 'float_value': NULL::DOUBLE, "
                f"'double_value': {d}::DOUBLE}}}}")

    params = ", ".join([
        p("ga_session_id", n="sid"), p("ga_session_number", n="snum"),
        p("page_location", s="page"), p("source", s="s_src"), p("medium", s="s_med"),
        p("campaign", s="campaign"), p("currency", s="CASE WHEN items <> [] OR name IN "
                                                     "('purchase', 'refund') THEN currency END"),
        p("transaction_id", s="txn"), p("value", d="value")])
    items = (f"list_transform(items, x -> {{'item_id': x.item_id, 'item_name': NULL::VARCHAR, "
             f"'item_category': x.item_category, 'price': x.price, 'price_in_usd': x.price, "
             f"'quantity': {i('x.quantity')}, 'item_revenue': x.item_revenue, "
             f"'item_revenue_in_usd': x.item_revenue, 'item_refund': x.item_refund, "
             f"'coupon': NULL::VARCHAR}})")
    return f"""
    SELECT event_date, {i('ts')} AS event_timestamp, name AS event_name,
      list_filter([{params}], x -> x.value.string_value IS NOT NULL
                  OR x.value.int_value IS NOT NULL OR x.value.double_value IS NOT NULL)
          AS event_params,
      user_id, pseudo AS user_pseudo_id, {i('first_touch')} AS user_first_touch_timestamp,
      {{'category': device, 'operating_system': NULL::VARCHAR}} AS device,
      {{'continent': NULL::VARCHAR, 'country': NULL::VARCHAR, 'region': region,
        'city': NULL::VARCHAR}} AS geo,
      {{'name': CASE a_med WHEN '(none)' THEN '(direct)' WHEN 'organic' THEN '(organic)'
                 ELSE '(referral)' END, 'medium': a_med, 'source': a_src}} AS traffic_source,
      CASE WHEN s_src IS NOT NULL THEN
        {{'manual_campaign_name': campaign, 'manual_source': s_src, 'manual_medium': s_med,
          'manual_content': content,
          'gclid': CASE WHEN source = 'paid_search' THEN 'gclid-' || sid::VARCHAR END}} END
          AS collected_traffic_source,
      'WEB' AS platform,
      CASE WHEN name IN ('purchase', 'refund') THEN
        {{'total_item_quantity': {i('total_qty')}, 'purchase_revenue': revenue,
          'purchase_revenue_in_usd': revenue, 'refund_value': refund,
          'refund_value_in_usd': refund, 'shipping_value': NULL::DOUBLE,
          'tax_value': NULL::DOUBLE, 'unique_items': {i('len(items)')},
          'transaction_id': txn}} END AS ecommerce,
      {items} AS items
    FROM ga"""


def export(dataset: Path, out: Path, *, progress: Progress = quiet,
           file_format: str = "jsonl.gz", currency: str = "USD", **options) -> list[Path]:
    """Write ``dataset`` as GA4 ``events_YYYYMMDD`` files under ``out``; the files written.

    Parameters
    ----------
    dataset
        A canonical dataset folder (needs customers, sessions, events, orders,
        order_items, products; returns and messages are used when present).
    out
        Folder for the files (created; files of the same names are replaced).
    file_format
        ``"jsonl.gz"`` (bq extract's NEWLINE_DELIMITED_JSON with GZIP), ``"jsonl"`` or
        ``"parquet"``.
    currency
        The ``currency`` event parameter of e-commerce events.
    options
        Other formats' options, ignored.
    """
    import duckdb

    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {sorted(FILE_FORMATS)}, "
                         f"not {file_format!r}")
    dataset, out = Path(dataset), Path(out)
    load_manifest(dataset)
    need = ("customers", "sessions", "events", "orders", "order_items", "products")
    missing = [t for t in need if not table_path(dataset, t).exists()]
    if missing:
        raise DatasetError(f"{dataset}: a GA4 export needs the table(s) {missing}")
    has = {t for t in (*need, "returns", "messages") if table_path(dataset, t).exists()}
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    for t in has:
        path = str(table_path(dataset, t)).replace("'", "''")
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{path}')")
    json = file_format != "parquet"
    con.execute(f"CREATE TEMP TABLE ga AS {_base_sql(has, currency)} "
                f"ORDER BY event_date, ts, {_ORDER}")
    days = [d for (d,) in con.execute("SELECT DISTINCT event_date FROM ga ORDER BY 1")
            .fetchall()]
    n = con.execute("SELECT count(*) FROM ga").fetchone()[0]
    progress(f"{n:,} GA4 events over {len(days)} days from {dataset}")
    nested = _nested_sql(json)
    opts = ("FORMAT JSON" + (", COMPRESSION GZIP" if file_format == "jsonl.gz" else "")
            if json else "FORMAT PARQUET, COMPRESSION ZSTD")
    files = []
    for k, day in enumerate(days, 1):
        f = out / f"events_{day}{FILE_FORMATS[file_format]}"
        con.execute(f"COPY ({nested} WHERE event_date = '{day}' ORDER BY ts, {_ORDER}) "
                    f"TO '{f}' ({opts})")
        files.append(f)
        if k % 30 == 0 or k == len(days):
            progress(f"wrote {k}/{len(days)} days ({f.name})")
    con.close()
    return files


__all__ = ["FILE_FORMATS", "SOURCE_PAIRS", "export"]
