"""GA4's BigQuery export (``events_YYYYMMDD`` as JSON lines, gzipped or not, or Parquet).

The files are Google's nested event schema ("[GA4] BigQuery Export schema",
https://support.google.com/analytics/answer/7029846): one row per GA4 event with
``event_timestamp`` (INT64 microseconds, UTC), ``event_name``, ``user_pseudo_id``,
``user_id``, ``user_first_touch_timestamp``, ``event_params`` (repeated key +
value{string_value, int_value, float_value, double_value}), ``traffic_source``,
``collected_traffic_source``, ``geo``, ``ecommerce`` and ``items``.  INT64 may be
written as JSON strings (BigQuery's JSON export) or numbers: both are read.

How it runs.  Every file is read by DuckDB (``read_json`` with an explicit nested
schema, or ``read_parquet``) and flattened in SQL, file by file: the session and
user facts are reduced to per-file partial aggregates at once, the e-commerce
events and their items (unnested in SQL) are kept slim; the canonical tables are
then built by SQL over those partials and handed over as Arrow tables.  No row of
the export passes through pandas.

Mapping decisions
-----------------
* **Customers.**  A GA4 user is a ``user_pseudo_id`` (a browser or app instance).
  When any event of that pseudo id carries ``user_id`` (the store's login id),
  every event of the pseudo id belongs to that user_id (the first one seen);
  otherwise the pseudo id is the customer.  So one person on two devices is two
  customers unless the store sets ``user_id``.  A user_id that is an email or a
  phone number (the orders importer's patterns: a numeric id of seven digits or
  more counts as a phone) is replaced by a salted pseudonym (the salt is the
  manifest's ``id_salt``, reused when re-importing into the same folder).
  ``signup_at`` is the earliest of ``user_first_touch_timestamp`` and the user's
  first event; ``acquisition_channel`` is ``traffic_source``
  (the user's first source/medium) mapped like a session source below, or
  ``unknown``; ``region`` is the first ``geo.region`` seen (``(not set)`` is
  null).  GA4 does not know consent to email or SMS: both opt-ins are False.
* **Sessions** are Google's session key, (``user_pseudo_id``, ``ga_session_id``
  event parameter); ``session_id`` = ``"<pseudo id>-<ga_session_id>"``,
  ``started_at`` = its first event (any event name).  The source is that of the
  session's first event with traffic information
  (``collected_traffic_source.manual_medium``/``manual_source``/``gclid``, else
  the ``medium``/``source`` event parameters): medium email -> email, sms -> sms,
  cpc/ppc/paid* or a gclid -> paid_search, organic -> organic_search, social or a
  social site as source -> social, referral -> referral, affiliate -> affiliate,
  (none)/(direct) or no information -> direct, anything else -> other.
  ``message_id`` is null: a GA4-only store has no messages table (the UTM
  campaign and content naming the message are lost).  Events without
  ``ga_session_id`` build no session: they still count for the user, an
  e-commerce one among them is rejected (the canonical event needs a session),
  and a purchase without it is an order without a session.
* **Events.**  ``view_item``, ``add_to_cart``, ``remove_from_cart``,
  ``begin_checkout`` and a size or stock check (custom names in :data:`VARIANT_CHECKS`
  — ``select_size``, ``size_guide``, ``check_availability``... — become
  ``check_variant``) become one canonical event per item (``item_id``,
  ``quantity`` (missing: 1), ``price``); an event with no items becomes one event
  without a product; an item id that is missing or ``(not set)`` gives a null
  product.  A purchase gives one event per line of the order it becomes.  Other
  names (page_view, session_start, scroll...) only build sessions and users; the
  summary counts them, they are not rejects.
* **Orders.**  One per ``ecommerce.transaction_id`` (or the ``transaction_id``
  parameter).  Lines are the items (``price`` is the unit price before the order
  discount, as Google asks; a missing price is ``item_revenue``/quantity; an
  item id missing or ``(not set)`` becomes product ``unknown``), summed per
  product.  ``revenue`` is ``purchase_revenue`` (the ``value`` parameter, which
  excludes shipping and tax), or the sum of ``item_revenue`` when absent; a
  revenue above the lines' value that shipping plus tax explain is reduced by
  them, one still above is capped at the lines' value (both counted as fixed).
  ``discount_amount`` = sum(quantity x price) - revenue, so the schema's rule
  revenue = sum(quantity x unit_price) - discount holds by construction.
  ``shipping_value`` and ``tax_value`` are not revenue; the ``*_in_usd`` columns
  (GA4's own conversion at its daily rate) are not read: amounts stay in the
  store's currency.  Products: ``item_id``,
  ``item_category`` (most frequent) as category, price = median unit price paid
  (of the events' prices for items never bought), purchase_type ``unknown``,
  unit_cost and supply_days null; ``item_name`` has no column and is lost.
* **Returns** come from ``refund`` events: one per (transaction, item), amount =
  ``item_refund`` (else price x quantity).
* **Real-export quirks**, each counted in the summary and written to rejects.csv
  with its file, row (the event's position in the file, 1 = first line) and
  reason: events without a timestamp, user or name; purchases without a
  transaction id (rejected: keying them by event would double count re-sent
  purchases), without items, with a negative or zero quantity (GA4 logs returns
  as refund events) or an item without a price; the same transaction logged again
  (merged: the first kept); refunds that match no imported order line.  More than
  one ``currency`` parameter value among e-commerce events is an error naming the
  files and rows.  An unreadable or truncated file is an error naming the file
  and line.

What the format cannot carry: email/SMS consent, unit costs, purchase types,
supply days, product names, messages, experiments and assignments, customers who
never visited, and whether two devices are one person when no user_id is set.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import (
    IMPORTERS,
    REJECT_COLUMNS,
    Importer,
    ImportInputError,
    ImportResult,
    Progress,
    quiet,
    write_import,
)
from .orders import is_personal, pseudonym

ECOMMERCE = ("view_item", "add_to_cart", "remove_from_cart", "begin_checkout", "purchase",
             "refund", "check_variant")
#: custom event names stores give a size, colour or stock check on a product page (GA4 has
#: no standard one): each becomes canonical ``check_variant`` (compared lower-cased)
VARIANT_CHECKS = ("check_variant", "select_size", "size_guide", "view_size_guide",
                  "size_chart", "view_size_chart", "select_variant", "select_item_variant",
                  "check_availability", "check_stock", "stock_check")
UNKNOWN_PRODUCT = "unknown"
_SUFFIXES = (".json.gz", ".jsonl.gz", ".ndjson.gz", ".json", ".jsonl", ".ndjson", ".parquet")
_NOT_SET = "('', '(not set)', '(not_set)', 'null')"
_SOCIAL = ("facebook", "instagram", "t.co", "twitter", "x.com", "linkedin", "pinterest",
           "tiktok", "youtube", "reddit", "snapchat")

#: the nested columns read (read_json ignores the fields not named here)
JSON_COLUMNS = {
    "event_timestamp": "VARCHAR", "event_name": "VARCHAR", "user_id": "VARCHAR",
    "user_pseudo_id": "VARCHAR", "user_first_touch_timestamp": "VARCHAR",
    "event_params": "STRUCT(key VARCHAR, value STRUCT(string_value VARCHAR, "
                    "int_value VARCHAR, float_value DOUBLE, double_value DOUBLE))[]",
    "traffic_source": "STRUCT(name VARCHAR, medium VARCHAR, source VARCHAR)",
    "collected_traffic_source": "STRUCT(manual_campaign_name VARCHAR, manual_source VARCHAR, "
                                "manual_medium VARCHAR, manual_content VARCHAR, gclid VARCHAR)",
    "geo": "STRUCT(region VARCHAR)",
    "ecommerce": "STRUCT(transaction_id VARCHAR, purchase_revenue DOUBLE, "
                 "refund_value DOUBLE, shipping_value DOUBLE, tax_value DOUBLE)",
    "items": "STRUCT(item_id VARCHAR, item_category VARCHAR, price DOUBLE, quantity VARCHAR, "
             "item_revenue DOUBLE, item_refund DOUBLE)[]",
}

REASONS = {
    "no_ts": "no event_timestamp (or not a number)",
    "no_user": "no user_pseudo_id",
    "no_name": "no event_name",
    "no_txn": "purchase without transaction_id (or (not set)): cannot be keyed as an order",
    "no_items": "purchase with no items: nothing to build order lines from",
    "neg_qty": "purchase with an item quantity below 1 (GA4 logs returns as refund events)",
    "no_price": "purchase item without price or item_revenue",
    "neg_rev": "purchase_revenue below 0",
    "dup": "merged: the same transaction_id was logged again (first purchase kept)",
    "ev_no_sid": "e-commerce event without ga_session_id: no session to put it in",
    "ev_qty": "e-commerce event item with a quantity below 1",
    "ev_no_product": "item never seen with a price: no product row can be built",
    "rf_no_txn": "refund without transaction_id",
    "rf_no_items": "refund with no items: returns are per product",
    "rf_amount": "refund item without a positive item_refund or price",
    "rf_unmatched": "refund of an order line that was not imported",
    "rf_early": "refund before its order was placed",
    "rf_exceeds": "refunds of the order exceed its revenue",
}


def _channel_sql(med: str, src: str, gclid: str = "NULL") -> str:
    """SQL mapping a (medium, source, gclid) to :data:`workbench.vocab.SOURCES`."""
    m, s = f"lower(trim({med}))", f"lower(trim({src}))"
    social = " OR ".join(f"contains({s}, '{x}')" for x in _SOCIAL)
    return f"""CASE
      WHEN {m} IN ('email', 'e-mail', 'newsletter') THEN 'email'
      WHEN {m} IN ('sms', 'text') THEN 'sms'
      WHEN {m} IN ('cpc', 'ppc', 'paid', 'paidsearch', 'paid_search', 'paid-search')
           OR ({gclid}) IS NOT NULL THEN 'paid_search'
      WHEN {m} = 'organic' THEN 'organic_search'
      WHEN {m} IN ('social', 'social-network', 'social-media', 'sm', 'social_network')
           OR (({m} = 'referral' OR {m} IS NULL) AND ({social})) THEN 'social'
      WHEN {m} = 'referral' THEN 'referral'
      WHEN {m} IN ('affiliate', 'affiliates') THEN 'affiliate'
      WHEN {m} IN ('(none)', 'none', '(not set)', '') OR {s} = '(direct)'
           OR ({m} IS NULL AND {s} IS NULL) THEN 'direct'
      ELSE 'other' END"""


def ga4_files(paths: list[Path]) -> list[Path]:
    """The export files among ``paths`` (files, or folders of ``events_*`` files)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.name.endswith(_SUFFIXES))
            if not found:
                raise ImportInputError(f"{p}: no GA4 export file (events_*.json[.gz] or "
                                       ".parquet) in this folder")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise ImportInputError(f"{p}: no such file or folder")
    return out


@dataclass
class GA4ImportResult(ImportResult):
    """An :class:`ImportResult` with the GA4 counts (events read, kept, merged, fixed...)."""

    counts: dict = field(default_factory=dict)

    def summary(self) -> str:
        c = self.counts
        names = ", ".join(f"{k} {v:,}" for k, v in c.get("events_by_name", {}).items())
        fixed = "; ".join(f"{v:,} {k}" for k, v in c.get("fixed", {}).items() if v) or "none"
        kept = ", ".join(f"{n} {k:,}" for n, k in self.row_counts.items())
        rej = "; ".join(f"{v:,} {k}" for k, v in c.get("rejected_by_reason", {}).items())
        return (f"imported into {self.path}: {kept}. Rejected rows (all files): "
                f"{rej or 'none'}.\nGA4: {c['events_read']:,} events read from "
                f"{c['files']} file(s) ({names}); {c['not_ecommerce_events']:,} not "
                f"e-commerce (used for sessions and users), {c['events_without_session']:,} "
                f"without ga_session_id; {c['ecommerce_events_kept']:,} canonical e-commerce "
                f"events kept (one per item); "
                f"{c['sessions']:,} sessions, {c['orders']:,} orders, "
                f"{c['merged_duplicate_purchases']:,} duplicate purchases merged. "
                f"Fixed: {fixed}.")


class GA4Importer(Importer):
    """GA4 BigQuery export files -> a canonical dataset (see the module docstring).

    Unlike the pandas importers, staging and the canonical step are SQL over the
    files (:meth:`run`), so the base class's DataFrame ``read``/``stage``/``canonical``
    are not used; ``name`` and the rejects/summary contract are the same.
    """

    name = "ga4"

    def __init__(self, salt: str | None = None):
        self.salt = salt or secrets.token_hex(16)

    # ------------------------------------------------------------------ reading
    def _reader(self, con, path: Path) -> str:
        lit = "'" + str(path).replace("'", "''") + "'"
        if path.name.endswith(".parquet"):
            return _parquet_select(path, lit)
        cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in JSON_COLUMNS.items()) + "}"
        return f"read_json({lit}, format='newline_delimited', columns={cols})"

    def _stage_file(self, con, fi: int, path: Path) -> int:
        """Read one file into the per-file partials; the number of events read."""
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE raw AS SELECT row_number() OVER () "
                        f"AS row, * FROM {self._reader(con, path)}")
            con.execute(_STAGE_SQL)
        except Exception as exc:  # duckdb's errors name the line; ours name the file
            msg = str(exc).splitlines()[0][:400]
            kind = "Parquet" if path.name.endswith(".parquet") else "JSON lines"
            raise ImportInputError(f"{path}: cannot be read as a GA4 export ({kind}): "
                                   f"{msg}") from exc
        n, usable = con.execute("SELECT count(*), count(ts) FILTER (WHERE name IS NOT NULL "
                                "AND pseudo IS NOT NULL) FROM st").fetchone()
        if n and not usable:
            raise ImportInputError(f"{path}: not a GA4 export: none of its {n:,} rows has "
                                   "event_timestamp, event_name and user_pseudo_id")
        for sql in _PARTIAL_SQL:
            con.execute(sql.replace("{fi}", str(fi)))
        return int(n)

    # ------------------------------------------------------------------ import
    def run(self, paths: list[Path], out: Path, progress: Progress = quiet) -> GA4ImportResult:
        """Read ``paths``, build the canonical tables, validate, write ``out`` atomically."""
        import duckdb

        files = ga4_files(paths)
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE MACRO pv(ps, k) AS list_filter(ps, p -> p.key = k)[1].value")
        for sql in _CREATE_SQL:
            con.execute(sql)
        total = 0
        for fi, f in enumerate(files):
            n = self._stage_file(con, fi, f)
            total += n
            progress(f"read {n:,} events from {f.name} ({fi + 1}/{len(files)}, "
                     f"{total:,} so far)")
        con.execute("DROP TABLE IF EXISTS raw; DROP TABLE IF EXISTS st")
        self.currency = self._check_currency(con, files)
        self._pseudonyms(con)
        progress("building customers, sessions, orders and events")
        for sql in _BUILD_SQL:
            con.execute(sql)
        tables = {name: _arrow(con.execute(sql)) for name, sql in _TABLE_SQL.items()}
        if not tables["returns"].num_rows:
            del tables["returns"]
        rejects = con.execute("SELECT fi, row, reason FROM rej ORDER BY fi, row, reason").df()
        rejects = pd.DataFrame({"table": [files[i].name for i in rejects.fi],
                                "source_row": rejects.row.astype("int64"),
                                "reason": rejects.reason}, columns=list(REJECT_COLUMNS))
        self.counts = self._counts(con, files, total, tables)
        con.close()
        res = write_import(self, tables, rejects, out, [str(f) for f in files],
                           manifest={"source_files": [f.name for f in files],
                                     "id_salt": self.salt}, progress=progress)
        return GA4ImportResult(res.path, res.row_counts, rejects, res.report,
                               counts=self.counts)

    def manifest_fields(self) -> dict:
        return {"import_counts": self.counts,
                **({"currency": self.currency} if self.currency else {})}

    def _check_currency(self, con, files: list[Path]) -> str | None:
        """The events' one currency (None when none is given), or an error naming the rows."""
        cur = con.execute("SELECT currency, fi, sum(n), list(rows) FROM cur "
                          "GROUP BY ALL ORDER BY currency, fi").fetchall()
        totals = Counter()
        for c, _, n, _ in cur:
            totals[c] += n
        if len(totals) <= 1:
            return next(iter(totals), None)
        main, _ = totals.most_common(1)[0]
        where = "; ".join(
            f"{files[fi].name} rows {sorted(r for rs in rows for r in rs)[:5]} ({n:,} rows) in "
            f"{c}" for c, fi, n, rows in cur if c != main)
        raise ImportInputError(
            f"column event_params.currency: the e-commerce events are in more than one "
            f"currency ({dict(totals)}); most are in {main}, but {where}. Convert the amounts "
            "to one currency (or import one currency's events) first")

    def _pseudonyms(self, con) -> None:
        uids = [u for (u,) in con.execute("SELECT DISTINCT uid FROM user_part "
                                          "WHERE uid IS NOT NULL").fetchall()]
        rows = [(u, pseudonym(u, self.salt)) for u in uids
                if is_personal(u)]
        con.execute("CREATE TEMP TABLE pmap (uid VARCHAR, cid VARCHAR)")
        if rows:
            con.executemany("INSERT INTO pmap VALUES (?, ?)", rows)
        self.n_pseudonymized = len(rows)

    def _counts(self, con, files, total, tables) -> dict:
        by_name = dict(con.execute("SELECT name, sum(n) FROM names GROUP BY name "
                                   "ORDER BY 2 DESC, 1").fetchall())
        by_name = {str(k): int(v) for k, v in by_name.items()}
        fixed = dict(con.execute("SELECT what, sum(n) FROM fixed GROUP BY what "
                                 "ORDER BY what").fetchall())
        fixed["user_id pseudonymized (email or phone)"] = self.n_pseudonymized
        rej = dict(con.execute("SELECT reason, count(*) FROM rej GROUP BY reason").fetchall())
        no_sid = con.execute("SELECT coalesce(sum(n), 0) FROM nosid").fetchone()[0]
        ecom_read = sum(v for k, v in by_name.items() if k in ECOMMERCE)
        return {"files": len(files), "events_read": int(total), "events_by_name": by_name,
                "ecommerce_events_read": int(ecom_read),
                "ecommerce_events_kept": int(tables["events"].num_rows),
                "not_ecommerce_events": int(total - ecom_read),
                "events_without_session": int(no_sid),
                "sessions": int(tables["sessions"].num_rows),
                "orders": int(tables["orders"].num_rows),
                "merged_duplicate_purchases": int(rej.get(REASONS["dup"], 0)),
                "rejected_by_reason": {str(k): int(v) for k, v in rej.items()},
                "fixed": {str(k): int(v) for k, v in fixed.items() if v}}


def _parquet_select(path: Path, lit: str) -> str:
    """``read_parquet`` projected onto :data:`JSON_COLUMNS`; absent columns and fields are null.

    Older exports lack whole records (``collected_traffic_source`` arrived in 2023)
    and fields; ``read_json`` fills those with nulls by itself, Parquet needs this.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    cols = []
    for col, spec in JSON_COLUMNS.items():
        if col not in schema.names:
            cols.append(f"NULL::{spec} AS {col}")
            continue
        if col == "event_params" or not spec.startswith("STRUCT"):
            cols.append(col)
            continue
        many = spec.endswith("[]")
        t = schema.field(col).type
        t = t.value_type if many and pa.types.is_list(t) else t
        have = {t.field(i).name for i in range(t.num_fields)} if pa.types.is_struct(t) else set()
        var = "x" if many else col
        body = ", ".join(f"'{n}': " + (f"{var}.{n}" if n in have else f"NULL::{kind}")
                         for n, kind in re.findall(r"(\w+) (\w+)", spec[len("STRUCT("):]))
        cols.append(f"list_transform({col}, x -> {{{body}}}) AS {col}" if many else
                    f"CASE WHEN {col} IS NOT NULL THEN {{{body}}} END AS {col}")
    return f"(SELECT {', '.join(cols)} FROM read_parquet({lit}))"


def _arrow(result):
    """A DuckDB result as one Arrow table (``.arrow()`` is a stream in newer DuckDB)."""
    out = result.arrow()
    return out.read_all() if hasattr(out, "read_all") else out


def import_ga4(paths: list[Path], out: Path, *, progress: Progress = quiet) -> GA4ImportResult:
    """Import GA4 BigQuery export files (or folders of them) into a dataset at ``out``.

    Raises :class:`~workbench.importers.ImportInputError` naming the file (and line)
    for an unreadable file, and :class:`~workbench.schema.DatasetValidationError` if
    the tables break the schema; nothing is written then.

    Examples
    --------
    >>> res = import_ga4([Path("export/")], Path("data/shop"))  # doctest: +SKIP
    >>> print(res.summary())  # doctest: +SKIP
    """
    from . import dataset_salt

    return GA4Importer(salt=dataset_salt(out)).run(list(paths), Path(out), progress)


IMPORTERS["ga4"] = GA4Importer

# ---------------------------------------------------------------------------- SQL
_CREATE_SQL = [
    "CREATE TEMP TABLE names (name VARCHAR, n BIGINT)",
    "CREATE TEMP TABLE nosid (n BIGINT)",
    "CREATE TEMP TABLE rej (fi INTEGER, row BIGINT, reason VARCHAR)",
    "CREATE TEMP TABLE fixed (what VARCHAR, n BIGINT)",
    "CREATE TEMP TABLE cur (currency VARCHAR, fi INTEGER, n BIGINT, rows BIGINT[])",
    "CREATE TEMP TABLE sess_part (pseudo VARCHAR, sid BIGINT, start BIGINT, src_ts BIGINT, "
    "info STRUCT(med VARCHAR, src VARCHAR, gclid VARCHAR))",
    "CREATE TEMP TABLE user_part (pseudo VARCHAR, first_ts BIGINT, first_touch BIGINT, "
    "uid VARCHAR, uid_ts BIGINT, acq VARCHAR, acq_ts BIGINT, region VARCHAR, region_ts BIGINT)",
    "CREATE TEMP TABLE ecom (fi INTEGER, row BIGINT, ts BIGINT, name VARCHAR, pseudo VARCHAR, "
    "sid BIGINT, txn VARCHAR, revenue DOUBLE, shipping DOUBLE, tax DOUBLE, n_items BIGINT)",
    "CREATE TEMP TABLE lines (fi INTEGER, row BIGINT, idx BIGINT, item_id VARCHAR, "
    "category VARCHAR, price DOUBLE, quantity BIGINT, qty_missing BOOLEAN, "
    "item_revenue DOUBLE, item_refund DOUBLE)",
]

_STAGE_SQL = f"""
CREATE OR REPLACE TEMP TABLE st AS
SELECT row, TRY_CAST(event_timestamp AS BIGINT) AS ts,
  CASE WHEN lower(trim(event_name)) IN {VARIANT_CHECKS} THEN 'check_variant'
       ELSE NULLIF(trim(event_name), '') END AS name,
  NULLIF(trim(user_pseudo_id::VARCHAR), '') AS pseudo,
  CASE WHEN trim(user_id::VARCHAR) NOT IN {_NOT_SET} THEN trim(user_id::VARCHAR) END AS uid,
  TRY_CAST(user_first_touch_timestamp AS BIGINT) AS first_touch,
  coalesce(TRY_CAST(pv(event_params, 'ga_session_id').int_value AS BIGINT),
           TRY_CAST(pv(event_params, 'ga_session_id').string_value AS BIGINT),
           TRY_CAST(pv(event_params, 'ga_session_id').double_value AS BIGINT)) AS sid,
  coalesce(collected_traffic_source.manual_medium, pv(event_params, 'medium').string_value)
      AS med,
  coalesce(collected_traffic_source.manual_source, pv(event_params, 'source').string_value)
      AS src,
  coalesce(collected_traffic_source.gclid, pv(event_params, 'gclid').string_value) AS gclid,
  traffic_source.medium AS t_med, traffic_source.source AS t_src,
  CASE WHEN trim(geo.region) NOT IN {_NOT_SET} THEN trim(geo.region) END AS region,
  upper(trim(pv(event_params, 'currency').string_value)) AS currency,
  NULLIF(trim(coalesce(ecommerce.transaction_id,
                       pv(event_params, 'transaction_id').string_value)), '') AS txn,
  TRY_CAST(ecommerce.purchase_revenue AS DOUBLE) AS revenue,
  TRY_CAST(ecommerce.shipping_value AS DOUBLE) AS shipping,
  TRY_CAST(ecommerce.tax_value AS DOUBLE) AS tax, items
FROM raw"""

_OK = "ts IS NOT NULL AND pseudo IS NOT NULL AND name IS NOT NULL"
_ECOM = "name IN ('view_item', 'add_to_cart', 'remove_from_cart', 'begin_checkout', " \
        "'purchase', 'refund', 'check_variant')"
_PARTIAL_SQL = [
    "INSERT INTO names SELECT coalesce(name, '(no event_name)'), count(*) FROM st GROUP BY 1",
    f"""INSERT INTO rej SELECT {{fi}}, row, CASE WHEN ts IS NULL THEN '{REASONS["no_ts"]}'
        WHEN pseudo IS NULL THEN '{REASONS["no_user"]}' ELSE '{REASONS["no_name"]}' END
        FROM st WHERE NOT ({_OK})""",
    f"""INSERT INTO nosid SELECT count(*) FROM st WHERE {_OK} AND sid IS NULL
        AND name <> 'refund'""",
    f"""INSERT INTO sess_part SELECT pseudo, sid, min(ts),
          min(ts) FILTER (WHERE med IS NOT NULL OR src IS NOT NULL OR gclid IS NOT NULL),
          arg_min({{'med': med, 'src': src, 'gclid': gclid}}, ts)
              FILTER (WHERE med IS NOT NULL OR src IS NOT NULL OR gclid IS NOT NULL)
        FROM st WHERE {_OK} AND sid IS NOT NULL GROUP BY pseudo, sid""",
    f"""INSERT INTO user_part SELECT pseudo, min(ts), min(first_touch) FILTER (WHERE
          first_touch > 0), arg_min(uid, ts) FILTER (WHERE uid IS NOT NULL),
          min(ts) FILTER (WHERE uid IS NOT NULL),
          arg_min({_channel_sql('t_med', 't_src')}, ts)
              FILTER (WHERE t_med IS NOT NULL OR t_src IS NOT NULL),
          min(ts) FILTER (WHERE t_med IS NOT NULL OR t_src IS NOT NULL),
          arg_min(region, ts) FILTER (WHERE region IS NOT NULL),
          min(ts) FILTER (WHERE region IS NOT NULL)
        FROM st WHERE {_OK} GROUP BY pseudo""",
    f"""INSERT INTO cur SELECT currency, {{fi}}, count(*), (list(row ORDER BY row))[1:5]
        FROM st WHERE {_OK} AND {_ECOM} AND currency IS NOT NULL GROUP BY currency""",
    f"""INSERT INTO ecom SELECT {{fi}}, row, ts, name, pseudo, sid, txn, revenue, shipping, tax,
          coalesce(len(items), 0) FROM st WHERE {_OK} AND {_ECOM}""",
    f"""INSERT INTO lines SELECT {{fi}}, row, idx, CASE WHEN trim(it.item_id) NOT IN {_NOT_SET}
          THEN trim(it.item_id) END, CASE WHEN trim(it.item_category) NOT IN {_NOT_SET}
          THEN trim(it.item_category) END, it.price,
          coalesce(TRY_CAST(TRY_CAST(it.quantity AS DOUBLE) AS BIGINT), 1),
          it.quantity IS NULL, it.item_revenue, it.item_refund
        FROM (SELECT row, unnest(items) AS it, unnest(range(1, len(items) + 1)) AS idx
              FROM st WHERE {_OK} AND {_ECOM} AND len(items) > 0)""",
]

_SESS_KEY = "s.pseudo || '-' || s.sid::VARCHAR"
_BUILD_SQL = [
    # users -> customers
    """CREATE TEMP TABLE users AS SELECT pseudo, min(first_ts) AS first_ts,
         min(first_touch) AS first_touch, arg_min(uid, uid_ts) AS uid,
         arg_min(acq, acq_ts) AS acq, arg_min(region, region_ts) AS region
       FROM user_part GROUP BY pseudo""",
    """CREATE TEMP TABLE umap AS SELECT u.pseudo, coalesce(p.cid, u.uid, u.pseudo) AS cid,
         u.first_ts, u.first_touch, u.acq, u.region, u.first_ts AS acq_ts
       FROM users u LEFT JOIN pmap p ON p.uid = u.uid""",
    # purchases: reject, then merge duplicates
    """CREATE TEMP TABLE pl AS SELECT l.*, coalesce(l.price, l.item_revenue / l.quantity)
          AS unit_price FROM lines l
        SEMI JOIN (SELECT fi, row FROM ecom WHERE name = 'purchase') e USING (fi, row)""",
    f"""CREATE TEMP TABLE pur AS SELECT e.*, CASE
          WHEN e.txn IS NULL OR lower(e.txn) IN {_NOT_SET} THEN 'no_txn'
          WHEN e.n_items = 0 THEN 'no_items'
          WHEN EXISTS (SELECT 1 FROM pl WHERE pl.fi = e.fi AND pl.row = e.row
                       AND pl.quantity < 1) THEN 'neg_qty'
          WHEN EXISTS (SELECT 1 FROM pl WHERE pl.fi = e.fi AND pl.row = e.row
                       AND NOT coalesce(pl.unit_price > 0, false)) THEN 'no_price'
          WHEN e.revenue < 0 THEN 'neg_rev' END AS bad
        FROM ecom e WHERE e.name = 'purchase'""",
    """UPDATE pur SET bad = 'dup' FROM (SELECT fi, row, row_number() OVER (PARTITION BY txn
         ORDER BY ts, fi, row) AS k FROM pur WHERE bad IS NULL) d
       WHERE d.fi = pur.fi AND d.row = pur.row AND d.k > 1""",
    """CREATE TEMP TABLE reasons (code VARCHAR, reason VARCHAR)""",
    "INSERT INTO reasons VALUES " + ", ".join(
        f"('{k}', '{v.replace(chr(39), chr(39) * 2)}')" for k, v in REASONS.items()),
    """INSERT INTO rej SELECT fi, row, r.reason FROM pur JOIN reasons r ON r.code = pur.bad""",
    f"""CREATE TEMP TABLE oline AS SELECT p.txn AS order_id,
          coalesce(l.item_id, '{UNKNOWN_PRODUCT}') AS product_id, l.category, l.quantity,
          l.unit_price, l.item_revenue, l.item_id IS NULL AS no_id, l.qty_missing,
          l.price IS NULL AS price_derived
        FROM pur p JOIN pl l USING (fi, row) WHERE p.bad IS NULL""",
    """CREATE TEMP TABLE ord AS SELECT p.txn AS order_id, m.cid AS customer_id,
          CASE WHEN p.sid IS NOT NULL THEN p.pseudo || '-' || p.sid::VARCHAR END AS session_id,
          p.ts, g.gross, coalesce(p.revenue, g.item_rev, g.gross) AS raw_rev,
          coalesce(p.shipping, 0) + coalesce(p.tax, 0) AS st
        FROM pur p JOIN umap m USING (pseudo)
        JOIN (SELECT order_id, sum(quantity * unit_price) AS gross,
                     sum(item_revenue) AS item_rev FROM oline GROUP BY order_id) g
          ON g.order_id = p.txn
        WHERE p.bad IS NULL""",
    """ALTER TABLE ord ADD COLUMN revenue DOUBLE""",
    """UPDATE ord SET revenue = CASE WHEN raw_rev <= gross + 0.005 THEN raw_rev
          WHEN raw_rev - st <= gross + 0.005 THEN least(raw_rev - st, gross) ELSE gross END""",
    """INSERT INTO fixed SELECT 'purchase_revenue above the items'' value less shipping and '
         || 'tax taken as revenue', count(*) FROM ord WHERE raw_rev > gross + 0.005
         AND raw_rev - st <= gross + 0.005 AND st > 0
       UNION ALL SELECT 'purchase_revenue above the items'' value capped at it', count(*)
         FROM ord WHERE raw_rev > gross + 0.005 AND raw_rev - st > gross + 0.005
       UNION ALL SELECT 'purchase item without item_id: product unknown', count(*)
         FROM oline WHERE no_id
       UNION ALL SELECT 'item quantity missing: taken as 1', count(*) FROM lines
         SEMI JOIN (SELECT fi, row FROM ecom WHERE name <> 'refund') e USING (fi, row)
         WHERE qty_missing
       UNION ALL SELECT 'purchase item price missing: item_revenue / quantity', count(*)
         FROM oline WHERE price_derived""",
    # e-commerce events other than purchase: one per item (or one without product)
    """CREATE TEMP TABLE evl AS SELECT e.fi, e.row, e.ts, e.name, e.pseudo, e.sid,
          l.item_id, l.category, l.quantity, CASE WHEN l.price > 0 THEN l.price END AS price,
          CASE WHEN e.sid IS NULL THEN 'ev_no_sid' WHEN l.quantity < 1 THEN 'ev_qty' END
              AS bad
        FROM ecom e LEFT JOIN lines l USING (fi, row)
        WHERE e.name NOT IN ('purchase', 'refund')""",
    """CREATE TEMP TABLE prod AS SELECT product_id, coalesce(mode(category), 'unknown')
          AS category, coalesce(median(unit_price) FILTER (WHERE src = 0),
                                median(unit_price)) AS price
        FROM (SELECT product_id, category, unit_price, 0 AS src FROM oline
              UNION ALL SELECT item_id, category, price, 1 FROM evl
              WHERE item_id IS NOT NULL AND bad IS NULL)
        GROUP BY product_id""",
    """UPDATE evl SET bad = 'ev_no_product' FROM prod WHERE evl.bad IS NULL
         AND prod.product_id = evl.item_id AND prod.price IS NULL""",
    """INSERT INTO rej SELECT DISTINCT fi, row, r.reason FROM evl
         JOIN reasons r ON r.code = evl.bad""",
    """INSERT INTO fixed SELECT 'e-commerce event without items or item_id: no product', count(*)
         FROM evl WHERE bad IS NULL AND item_id IS NULL""",
    # refunds -> returns
    f"""CREATE TEMP TABLE rf AS SELECT e.fi, e.row, e.ts, e.txn, l.item_id,
          coalesce(l.item_refund, l.price * abs(l.quantity)) AS amount, CASE
          WHEN e.txn IS NULL OR lower(e.txn) IN {_NOT_SET} THEN 'rf_no_txn'
          WHEN l.row IS NULL THEN 'rf_no_items'
          WHEN NOT coalesce(coalesce(l.item_refund, l.price * abs(l.quantity)) > 0, false)
               THEN 'rf_amount'
          WHEN NOT EXISTS (SELECT 1 FROM oline o WHERE o.order_id = e.txn
                           AND o.product_id = l.item_id) THEN 'rf_unmatched' END AS bad
        FROM ecom e LEFT JOIN lines l USING (fi, row) WHERE e.name = 'refund'""",
    """UPDATE rf SET bad = 'rf_early' FROM ord WHERE rf.bad IS NULL
         AND ord.order_id = rf.txn AND rf.ts < ord.ts""",
    """UPDATE rf SET bad = 'rf_exceeds' FROM (SELECT txn, sum(amount) AS a FROM rf
         WHERE bad IS NULL GROUP BY txn) t JOIN ord ON ord.order_id = t.txn
       WHERE rf.bad IS NULL AND rf.txn = t.txn AND t.a > ord.revenue + 0.011""",
    """INSERT INTO rej SELECT DISTINCT fi, row, r.reason FROM rf JOIN reasons r
         ON r.code = rf.bad""",
]

_TS = "make_timestamp({0})::TIMESTAMPTZ"
_TABLE_SQL = {
    "customers": f"""SELECT cid AS customer_id,
        {_TS.format('least(min(first_ts), coalesce(min(first_touch), min(first_ts)))')}
            AS signup_at,
        coalesce(arg_min(acq, first_ts) FILTER (WHERE acq IS NOT NULL), 'unknown')
            AS acquisition_channel,
        arg_min(region, first_ts) FILTER (WHERE region IS NOT NULL) AS region,
        false AS email_opt_in, false AS sms_opt_in
      FROM umap GROUP BY cid ORDER BY signup_at, customer_id""",
    "products": """SELECT product_id, category, price, NULL::DOUBLE AS unit_cost,
        'unknown' AS purchase_type, NULL::DOUBLE AS supply_days
      FROM prod WHERE price > 0 ORDER BY product_id""",
    "sessions": f"""SELECT {_SESS_KEY} AS session_id, m.cid AS customer_id,
        {_TS.format('s.start')} AS started_at,
        {_channel_sql('s.info.med', 's.info.src', 's.info.gclid')} AS source,
        NULL::VARCHAR AS message_id
      FROM (SELECT pseudo, sid, min(start) AS start, arg_min(info, src_ts) AS info
            FROM sess_part GROUP BY pseudo, sid) s
      JOIN umap m USING (pseudo) ORDER BY started_at, session_id""",
    "events": f"""SELECT row_number() OVER (ORDER BY ts, session_id, event_name, product_id)
          AS event_id, * FROM (
        SELECT e.pseudo || '-' || e.sid::VARCHAR AS session_id, m.cid AS customer_id,
          {_TS.format('e.ts')} AS ts, e.name AS event_name, e.item_id AS product_id,
          coalesce(e.quantity, 1) AS quantity, e.price
        FROM evl e JOIN umap m USING (pseudo) WHERE e.bad IS NULL
        UNION ALL
        SELECT o.session_id, o.customer_id, {_TS.format('o.ts')}, 'purchase', i.product_id,
          i.quantity, i.unit_price
        FROM ord o JOIN (SELECT order_id, product_id, sum(quantity)::BIGINT AS quantity,
                                sum(quantity * unit_price) / sum(quantity) AS unit_price
                         FROM oline GROUP BY ALL) i USING (order_id)
        WHERE o.session_id IS NOT NULL)""",
    "orders": f"""SELECT order_id, customer_id, session_id, {_TS.format('ts')} AS placed_at,
        revenue, greatest(round(gross - revenue, 2), 0.0) AS discount_amount,
        NULL::VARCHAR AS message_id
      FROM ord ORDER BY placed_at, order_id""",
    "order_items": """SELECT order_id, product_id, sum(quantity)::BIGINT AS quantity,
        sum(quantity * unit_price) / sum(quantity) AS unit_price, NULL::DOUBLE AS unit_cost
      FROM oline GROUP BY order_id, product_id ORDER BY order_id, product_id""",
    "returns": f"""SELECT txn AS order_id, item_id AS product_id,
        {_TS.format('min(ts)')} AS returned_at, sum(amount) AS amount
      FROM rf WHERE bad IS NULL GROUP BY txn, item_id ORDER BY returned_at, order_id""",
}

__all__ = ["ECOMMERCE", "GA4ImportResult", "GA4Importer", "JSON_COLUMNS", "REASONS",
           "VARIANT_CHECKS", "ga4_files", "import_ga4"]
