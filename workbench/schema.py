"""The canonical event schema and its validation.

Tables, columns and invariants live here, once.  Event names follow GA4's
e-commerce events (``view_item``, ``add_to_cart``, ``remove_from_cart``,
``begin_checkout``, ``purchase``) so real exports map one to one.  Timestamps
are timezone-aware UTC; money is float64 in the store's currency.

Validation runs every rule as an Ibis expression on DuckDB, so a ten-million-row
event table is checked without loading it into pandas and the same rules can
run on a warehouse backend.  A bad dataset yields ONE :class:`ValidationReport`
listing every violation (table, column, rule, number of rows, first offending
keys); a rule that cannot even run becomes a violation too, never a traceback.

Examples
--------
>>> from workbench.simulate import scenario, simulate
>>> report = validate(simulate(scenario("tiny"), seed=3).tables)
>>> report.ok
True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.datatypes as dt
import pandas as pd
import pyarrow as pa

from .vocab import CHANNELS, EVENT_NAMES, PURCHASE_TYPES, SOURCES

SCHEMA_VERSION = "1.0.0"

MONEY_TOLERANCE = 0.011  # currency units: two roundings to cents


@dataclass(frozen=True)
class Column:
    """One column: its kind, nullability and value rules."""

    name: str
    kind: str  # int | float | str | bool | ts | list_int
    description: str
    nullable: bool = False
    enum: tuple[str, ...] | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None


@dataclass(frozen=True)
class Table:
    """One canonical table."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = True
    nonempty: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


C = Column
TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table("customers", "one row per customer (acquired at signup)", (
            C("customer_id", "id", "customer key"),
            C("signup_at", "ts", "account creation (UTC)"),
            C("acquisition_channel", "str", "channel that acquired the customer"),
            C("region", "str", "coarse geography", nullable=True),
            C("email_opt_in", "bool", "consented to email at signup"),
            C("sms_opt_in", "bool", "consented to SMS at signup"),
        ), key=("customer_id",)),
        Table("products", "the catalog", (
            C("product_id", "id", "product key"),
            C("category", "str", "catalog category"),
            C("price", "float", "list price", gt=0),
            C("unit_cost", "float", "cost of goods per unit (unknown in some exports)", ge=0,
              nullable=True),
            C("purchase_type", "str", "how it is bought (unknown where the data do not say)",
              enum=(*PURCHASE_TYPES, "unknown")),
            C("supply_days", "float", "days one unit lasts (consumables only)", nullable=True,
              gt=0),
        ), key=("product_id",)),
        Table("sessions", "visits to the store", (
            C("session_id", "id", "session key"),
            C("customer_id", "id", "who visited"),
            C("started_at", "ts", "first event of the session (UTC)"),
            C("source", "str", "traffic source", enum=SOURCES),
            C("message_id", "id", "the message whose click opened the session",
              nullable=True),
        ), key=("session_id",), required=False),
        Table("events", "GA4-style e-commerce events", (
            C("event_id", "id", "event key"),
            C("session_id", "id", "session of the event"),
            C("customer_id", "id", "customer of the event"),
            C("ts", "ts", "event time (UTC)"),
            C("event_name", "str", "GA4 e-commerce event name", enum=EVENT_NAMES),
            C("product_id", "id", "item of the event", nullable=True),
            C("quantity", "int", "units", ge=1),
            C("price", "float", "unit price at the event", gt=0, nullable=True),
        ), key=("event_id",), required=False),
        Table("orders", "purchases", (
            C("order_id", "id", "order key"),
            C("customer_id", "id", "buyer"),
            C("session_id", "id", "session the purchase happened in (none for an order "
              "whose store exports no sessions)", nullable=True),
            C("placed_at", "ts", "purchase time (UTC)"),
            C("revenue", "float", "amount paid: items less discount", ge=0),
            C("discount_amount", "float", "discount given", ge=0),
            C("message_id", "id", "message whose link or code was used", nullable=True),
        ), key=("order_id",)),
        Table("order_items", "lines of each order", (
            C("order_id", "id", "order"),
            C("product_id", "id", "product"),
            C("quantity", "int", "units", ge=1),
            C("unit_price", "float", "price paid per unit before order discount", gt=0),
            C("unit_cost", "float", "cost per unit (unknown in some exports)", ge=0,
              nullable=True),
        ), key=("order_id", "product_id")),
        Table("returns", "returned items", (
            C("order_id", "id", "order"),
            C("product_id", "id", "product returned"),
            C("returned_at", "ts", "return time (UTC)"),
            C("amount", "float", "refunded amount", gt=0),
        ), key=("order_id", "product_id"), nonempty=False, required=False),
        Table("messages", "email and SMS sent by campaigns", (
            C("message_id", "id", "message key"),
            C("customer_id", "id", "recipient"),
            C("campaign", "str", "campaign type"),
            C("channel", "str", "email or sms", enum=CHANNELS),
            C("experiment", "str", "experiment the message belongs to", nullable=True),
            C("arm", "str", "experiment arm", nullable=True),
            C("sent_at", "ts", "send time (UTC)"),
            C("delivered", "bool", "accepted by the recipient's server or carrier"),
            C("opened_at", "ts", "first open, machine opens included (UTC)", nullable=True),
            C("clicked_at", "ts", "first click (UTC)", nullable=True),
            C("unsubscribed_at", "ts", "unsubscribe from this channel (UTC)", nullable=True),
            C("discount_pct", "float", "discount offered, percent", ge=0, lt=100),
            C("cost", "float", "sending cost", ge=0),
            C("product_ids", "list_id", "recommended products, in display order",
              nullable=True),
            C("trigger_id", "id", "session (cart, browse) or order that triggered it",
              nullable=True),
        ), key=("message_id",), nonempty=False, required=False),
        Table("assignments", "experiment randomization", (
            C("experiment", "str", "experiment name"),
            C("unit_type", "str", "cart or customer", enum=("cart", "customer")),
            C("unit_id", "id", "cart session id or customer id"),
            C("customer_id", "id", "customer of the unit"),
            C("arm", "str", "assigned arm"),
            C("assigned_at", "ts", "assignment time (UTC)"),
        ), key=("experiment", "unit_type", "unit_id"), nonempty=False, required=False),
    ]
}
del C
TABLE_ORDER = tuple(TABLES)


# ----------------------------------------------------------------------------- report
@dataclass(frozen=True)
class Violation:
    """One broken rule: where, what, how many rows and which keys."""

    table: str
    column: str
    rule: str
    n_rows: int
    examples: tuple = ()

    def line(self) -> str:
        ex = ", ".join(_fmt_key(k) for k in self.examples)
        if not self.n_rows:  # a rule about the whole table or column
            return f"{self.table}.{self.column}: {self.rule}"
        more = f"; first: {ex}" if ex else ""
        return f"{self.table}.{self.column}: {self.rule} ({self.n_rows:,} rows{more})"


def _fmt_key(k) -> str:
    if isinstance(k, tuple):
        return "(" + ", ".join(str(x) for x in k) + ")"
    return str(k)


@dataclass
class ValidationReport:
    """Every violation of a dataset, and its row counts."""

    violations: list[Violation] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    source: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations

    def for_table(self, table: str) -> list[Violation]:
        return [v for v in self.violations if v.table == table]

    def summary(self) -> str:
        """Human-readable text: a short summary if valid, every violation if not."""
        head = f"dataset {self.source}" if self.source else "dataset"
        if self.ok:
            counts = ", ".join(f"{n} {k}" for k, n in self.row_counts.items())
            return f"{head}: valid (schema {SCHEMA_VERSION}); {counts}"
        lines = [f"{head}: {len(self.violations)} violation(s) of schema {SCHEMA_VERSION}"]
        lines += [f"  - {v.line()}" for v in self.violations]
        return "\n".join(lines)

    __str__ = summary

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([v.__dict__ for v in self.violations],
                            columns=["table", "column", "rule", "n_rows", "examples"])

    def to_dict(self) -> dict:
        return {"ok": self.ok, "schema_version": SCHEMA_VERSION, "source": self.source,
                "row_counts": self.row_counts,
                "violations": [{**v.__dict__, "examples": [list(e) if isinstance(e, tuple)
                                                            else e for e in v.examples]}
                               for v in self.violations]}

    def _repr_html_(self) -> str:
        if self.ok:
            return f"<p><b>valid</b> &mdash; {self.summary()}</p>"
        return self.to_frame().to_html(index=False)

    def raise_if_invalid(self) -> None:
        if not self.ok:
            raise DatasetValidationError(self)


class DatasetValidationError(ValueError):
    """Raised with the full :class:`ValidationReport` attached."""

    def __init__(self, report: ValidationReport):
        super().__init__(report.summary())
        self.report = report


# ----------------------------------------------------------------------------- engine
_KIND_CHECK: dict[str, Callable[[dt.DataType], bool]] = {
    "int": lambda d: d.is_integer(),
    "id": lambda d: d.is_integer() or d.is_string(),
    "list_id": lambda d: d.is_array() and (d.value_type.is_integer() or d.value_type.is_string()),
    "float": lambda d: d.is_floating() or d.is_decimal() or d.is_integer(),
    "str": lambda d: d.is_string(),
    "bool": lambda d: d.is_boolean(),
    "ts": lambda d: d.is_timestamp(),
    "list_int": lambda d: d.is_array() and d.value_type.is_integer(),
}
_KIND_NAME = {"int": "integer", "float": "floating-point number", "str": "string",
              "bool": "boolean", "ts": "timestamp", "list_int": "list of integers",
              "id": "an integer or string id", "list_id": "list of integer or string ids"}
_UTC_NAMES = {"UTC", "Etc/UTC", "utc", "Z", "+00:00", "GMT"}


def _one_row(aggregates: Sequence[tuple[object, dict[str, object]]]) -> dict | None:
    """Every ``(table, {name: scalar expression})`` aggregated in one query, or None.

    Each aggregate without a grouping is one row, so their cross join is one row: a
    single round trip to the engine instead of one per table.  Spark pays much of a
    small query's time in planning and scheduling it: on the Spark test's store, 42
    aggregate queries took 11 s of a 14 s validation, and as one query the validation
    took 11.5 s (32 -> 20 s in a fresh session).  None when the combined query cannot
    run (the caller then runs the aggregates one by one and finds the one that fails).
    """
    if not aggregates:
        return {}
    try:
        parts = [t.aggregate(**aggs) for t, aggs in aggregates]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined.cross_join(part)
        return joined.execute().iloc[0].to_dict()
    except Exception:  # noqa: BLE001 - any engine error: the caller goes one by one
        return None


def _one_query(con) -> bool:
    """Whether every rule is counted in one query on ``con`` (see :meth:`_Checker.flush`)."""
    return getattr(con, "name", "duckdb") != "duckdb"


def _rule_counts(j: int, base, rules: list[tuple]) -> tuple[object, dict] | None:
    """The aggregate that counts each rule's offending rows of ``base``.

    None when it cannot be built: each rule is then run alone, to find which.
    """
    try:
        return base, {f"b{j}_r{i}": (base.count() if pred is None else
                                     pred.fill_null(False).cast("int64").sum())
                      for i, (_, _, _, pred, _) in enumerate(rules)}
    except Exception:  # noqa: BLE001
        return None


class _Checker:
    def __init__(self, con, present: dict[str, object], n_examples: int,
                 counts: dict[str, int] | None = None):
        self.con = con
        self.t = present  # table name -> ibis table
        self.counts = counts or {}  # table name -> rows, when already counted
        self.n_examples = n_examples
        self.violations: list[Violation] = []
        self.usable: dict[str, set[str]] = {}
        self.pending: dict[int, tuple] = {}

    def add(self, table, column, rule, n, examples=()):
        self.violations.append(Violation(table, column, rule, int(n), tuple(examples)))

    def rule(self, table: str, column: str, rule: str, base, pred, key: tuple[str, ...]):
        """Queue a rule: rows of ``base`` where ``pred`` holds (all rows if None) are bad.

        :meth:`flush` counts the rules on one ``base`` in one aggregate query, and on an
        engine other than DuckDB every queued rule in one query (:func:`_one_row`);
        offending keys are fetched only for rules that fail.
        """
        self.pending.setdefault(id(base), (base, []))[1].append(
            (table, column, rule, pred, key))

    def flush(self) -> None:
        pending = list(self.pending.values())
        self.pending = {}
        aggs = [_rule_counts(j, base, rules) for j, (base, rules) in enumerate(pending)]
        # every rule in one query where a query costs a round trip (Spark, BigQuery); on
        # DuckDB, in-process, one per table or join: the combined query ran no faster on
        # a 20k-customer store and held every join's hash table at once (peak 0.3 -> 0.5
        # GiB), which at a hundred million events would be gigabytes
        together = (_one_row([a for a in aggs if a is not None]) if _one_query(self.con)
                    else None)
        for j, (base, rules) in enumerate(pending):
            counts = (None if aggs[j] is None else
                      together if together is not None else _one_row([aggs[j]]))
            for i, (table, column, rule, pred, key) in enumerate(rules):
                bad = base if pred is None else base.filter(pred)
                try:
                    n = int(bad.count().execute()) if counts is None else int(
                        0 if pd.isna(counts[f"b{j}_r{i}"]) else counts[f"b{j}_r{i}"])
                    if n:
                        ex = (bad.select(*key).order_by(list(key))
                              .limit(self.n_examples).execute())
                        rows = [tuple(_py(x) for x in r) if len(key) > 1 else _py(r[0])
                                for r in ex.itertuples(index=False)]
                        self.add(table, column, rule, n, rows)
                except Exception as exc:  # a rule that cannot run is itself a finding
                    self.add(table, column, f"{rule}: check could not run "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})", 0)

    def has(self, table: str, *cols: str) -> bool:
        return table in self.t and all(c in self.usable.get(table, ()) for c in cols)


def _py(x):
    if isinstance(x, pd.Timestamp):
        return x.isoformat()
    return x.item() if hasattr(x, "item") else x


def _table_checks(ck: _Checker, spec: Table) -> None:
    t = ck.t[spec.name]
    schema = t.schema()
    usable = set()
    for col in spec.columns:
        if col.name not in schema:
            ck.add(spec.name, col.name, "required column is missing", 0)
            continue
        dtype = schema[col.name]
        if not _KIND_CHECK[col.kind](dtype):
            hint = (" (integers with nulls need pandas' Int64 dtype, not float)"
                    if col.kind in ("int", "id") and dtype.is_floating() else "")
            ck.add(spec.name, col.name, f"must be {_KIND_NAME[col.kind]}, found {dtype}{hint}",
                   0)
            continue
        if col.kind == "ts" and dtype.timezone is None:
            ck.add(spec.name, col.name, "timestamps must be timezone-aware UTC, found naive "
                   "timestamps", 0)
            continue
        if col.kind == "ts" and dtype.timezone not in _UTC_NAMES:
            ck.add(spec.name, col.name, f"timestamps must be UTC, found time zone "
                   f"{dtype.timezone!r}", 0)
            continue
        usable.add(col.name)
    ck.usable[spec.name] = usable
    key = tuple(k for k in spec.key if k in usable)
    if len(key) < len(spec.key):
        key = ()
    ex_key = key or tuple(c for c in spec.column_names if c in usable)[:1]
    if not ex_key:
        return
    n = ck.counts[spec.name] if spec.name in ck.counts else int(t.count().execute())
    if spec.nonempty and n == 0:
        ck.add(spec.name, "*", "table is empty", 0)
        return
    for col in spec.columns:
        if col.name not in usable:
            continue
        c = t[col.name]
        if not col.nullable:
            ck.rule(spec.name, col.name, "must not be null", t, c.isnull(), ex_key)
        if col.enum is not None:
            ck.rule(spec.name, col.name, f"must be one of {list(col.enum)}",
                    t, c.notnull() & ~c.isin(list(col.enum)), ex_key)
        if col.gt is not None:
            ck.rule(spec.name, col.name, f"must be > {col.gt:g}", t, c <= col.gt, ex_key)
        if col.ge is not None:
            ck.rule(spec.name, col.name, f"must be >= {col.ge:g}", t, c < col.ge, ex_key)
        if col.lt is not None:
            ck.rule(spec.name, col.name, f"must be < {col.lt:g}", t, c >= col.lt, ex_key)
    if key:
        dup = t.group_by(list(key)).aggregate(_n=ibis._.count()).filter(ibis._._n > 1)
        ck.rule(spec.name, ",".join(key), "key must be unique (duplicated keys)", dup, None, key)


def _fk(ck: _Checker, child: str, col: str, parent: str, pcol: str, key: tuple[str, ...]):
    if not (ck.has(child, col, *key) and ck.has(parent, pcol)):
        return
    c, p = ck.t[child], ck.t[parent]
    pk = p.select(_pk=p[pcol]).distinct()
    bad = c.filter(c[col].notnull()).anti_join(pk, c[col] == pk._pk)
    ck.rule(child, col, f"references a missing {parent}.{pcol}", bad, None, key)


def _joined(ck: _Checker, child: str, ccols: dict, parent: str, pcols: dict, on: tuple):
    """Child rows joined to parent columns (renamed) on ``child.on[0] == parent.on[1]``."""
    c, p = ck.t[child], ck.t[parent]
    cs = c.select(**{k: c[v] for k, v in ccols.items()})
    ps = p.select(**{k: p[v] for k, v in pcols.items()})
    return cs.join(ps, cs[on[0]] == ps[on[1]])


#: (child table, column) references (parent table, column)
FOREIGN_KEYS = (("sessions", "customer_id", "customers", "customer_id"),
                ("sessions", "message_id", "messages", "message_id"),
                ("events", "session_id", "sessions", "session_id"),
                ("events", "customer_id", "customers", "customer_id"),
                ("events", "product_id", "products", "product_id"),
                ("orders", "customer_id", "customers", "customer_id"),
                ("orders", "session_id", "sessions", "session_id"),
                ("orders", "message_id", "messages", "message_id"),
                ("order_items", "order_id", "orders", "order_id"),
                ("order_items", "product_id", "products", "product_id"),
                ("returns", "order_id", "orders", "order_id"),
                ("messages", "customer_id", "customers", "customer_id"),
                ("assignments", "customer_id", "customers", "customer_id"))


def _id_types_agree(ck: _Checker) -> None:
    """Report an id that is a string in one table and an integer in another.

    Such ids cannot be joined: the violation names both tables, and the child column
    is left out of every cross-table rule (they would not run).
    """
    kind = {True: "strings", False: "integers"}
    for child, col, parent, pcol in FOREIGN_KEYS:
        if not (ck.has(child, col) and ck.has(parent, pcol)):
            continue
        c_str = ck.t[child][col].type().is_string()
        p_str = ck.t[parent][pcol].type().is_string()
        if c_str != p_str:
            ck.add(child, col, f"ids are {kind[c_str]} here but {kind[p_str]} in "
                   f"{parent}.{pcol}: one id must have one type in every table", 0)
            ck.usable[child].discard(col)


def _cross_checks(ck: _Checker) -> None:
    K = {name: spec.key for name, spec in TABLES.items()}
    _id_types_agree(ck)
    for child, col, parent, pcol in FOREIGN_KEYS:
        _fk(ck, child, col, parent, pcol, K[child])

    # products: cost below price, supply days for consumables only
    if ck.has("products", "product_id", "price", "unit_cost"):
        p = ck.t["products"]
        ck.rule("products", "unit_cost", "must be below price",
                p, p.unit_cost >= p.price, ("product_id",))
    if ck.has("products", "product_id", "purchase_type", "supply_days"):
        p = ck.t["products"]
        ck.rule("products", "supply_days", "required for consumables",
                p, (p.purchase_type == "consumable") & p.supply_days.isnull(),
                ("product_id",))
        ck.rule("products", "supply_days", "only consumables have supply days",
                p, (p.purchase_type != "consumable") & p.supply_days.notnull(),
                ("product_id",))

    # sessions after signup
    if ck.has("sessions", "session_id", "customer_id", "started_at") and ck.has(
            "customers", "customer_id", "signup_at"):
        j = _joined(ck, "sessions", {"session_id": "session_id", "cid": "customer_id",
                                     "started_at": "started_at"},
                    "customers", {"pid": "customer_id", "signup_at": "signup_at"},
                    ("cid", "pid"))
        ck.rule("sessions", "started_at", "must not precede the customer's signup_at",
                j, j.started_at < j.signup_at, ("session_id",))
    # events inside their session
    if ck.has("events", "event_id", "session_id", "ts", "customer_id") and ck.has(
            "sessions", "session_id", "started_at", "customer_id"):
        j = _joined(ck, "events", {"event_id": "event_id", "sid": "session_id", "ts": "ts",
                                   "cid": "customer_id"},
                    "sessions", {"psid": "session_id", "started_at": "started_at",
                                 "scid": "customer_id"}, ("sid", "psid"))
        ck.rule("events", "ts", "must not precede its session's started_at",
                j, j.ts < j.started_at, ("event_id",))
        ck.rule("events", "customer_id", "must match its session's customer_id",
                j, j.cid != j.scid, ("event_id",))
    # orders inside a session that started before them, by the same customer
    if ck.has("orders", "order_id", "session_id", "placed_at", "customer_id") and ck.has(
            "sessions", "session_id", "started_at", "customer_id"):
        j = _joined(ck, "orders", {"order_id": "order_id", "sid": "session_id",
                                   "placed_at": "placed_at", "cid": "customer_id"},
                    "sessions", {"psid": "session_id", "started_at": "started_at",
                                 "scid": "customer_id"}, ("sid", "psid"))
        ck.rule("orders", "placed_at", "purchase must follow the start of its session",
                j, j.placed_at < j.started_at, ("order_id",))
        ck.rule("orders", "customer_id", "must match its session's customer_id",
                j, j.cid != j.scid, ("order_id",))
    # orders credited to a message came after it was sent
    if ck.has("orders", "order_id", "message_id", "placed_at") and ck.has(
            "messages", "message_id", "sent_at"):
        j = _joined(ck, "orders", {"order_id": "order_id", "mid": "message_id",
                                   "placed_at": "placed_at"},
                    "messages", {"pmid": "message_id", "sent_at": "sent_at"}, ("mid", "pmid"))
        ck.rule("orders", "message_id", "order must be placed after its message was sent",
                j, j.placed_at < j.sent_at, ("order_id",))
    # revenue = items - discount
    if ck.has("orders", "order_id", "revenue", "discount_amount") and ck.has(
            "order_items", "order_id", "quantity", "unit_price"):
        o, i = ck.t["orders"], ck.t["order_items"]
        g = i.group_by(_oid=i.order_id).aggregate(gross=(i.quantity * i.unit_price).sum())
        ck.rule("orders", "order_id", "order has no order_items",
                o.anti_join(g, o.order_id == g._oid), None, ("order_id",))
        j = o.join(g, o.order_id == g._oid)
        ck.rule("orders", "revenue", "must equal sum(quantity * unit_price) - discount_amount",
                j, (j.gross - j.discount_amount - j.revenue).abs() > MONEY_TOLERANCE,
                ("order_id",))
    if ck.has("order_items", "order_id", "product_id", "unit_price", "unit_cost"):
        i = ck.t["order_items"]
        ck.rule("order_items", "unit_cost", "must be below unit_price",
                i, i.unit_cost >= i.unit_price, ("order_id", "product_id"))
    # returns follow their order, are items of it, and never exceed it
    if ck.has("returns", "order_id", "product_id", "returned_at", "amount") and ck.has(
            "orders", "order_id", "placed_at", "revenue"):
        j = _joined(ck, "returns", {"order_id": "order_id", "product_id": "product_id",
                                    "returned_at": "returned_at"},
                    "orders", {"poid": "order_id", "placed_at": "placed_at"},
                    ("order_id", "poid"))
        ck.rule("returns", "returned_at", "return must follow its order's placed_at",
                j, j.returned_at < j.placed_at, ("order_id", "product_id"))
        r, o = ck.t["returns"], ck.t["orders"]
        g = r.group_by(_oid=r.order_id).aggregate(returned=r.amount.sum())
        os_ = o.select(order_id=o.order_id, revenue=o.revenue)
        j2 = g.join(os_, g._oid == os_.order_id)
        ck.rule("returns", "amount", "returns of an order exceed its revenue",
                j2, j2.returned > j2.revenue + MONEY_TOLERANCE, ("order_id",))
        if ck.has("order_items", "order_id", "product_id"):
            i = ck.t["order_items"]
            ck.rule("returns", "product_id", "returned product is not an item of the order",
                    r.anti_join(i, (r.order_id == i.order_id) & (r.product_id == i.product_id)),
                    None, ("order_id", "product_id"))
    # message engagement order: delivery < open < click
    if ck.has("messages", "message_id", "sent_at", "delivered", "opened_at", "clicked_at",
              "unsubscribed_at", "channel"):
        m = ck.t["messages"]
        k = ("message_id",)
        ck.rule("messages", "opened_at", "an open requires a delivered message",
                m, m.opened_at.notnull() & ~m.delivered, k)
        ck.rule("messages", "opened_at", "must not precede sent_at",
                m, m.opened_at < m.sent_at, k)
        ck.rule("messages", "clicked_at", "a click requires a delivered message",
                m, m.clicked_at.notnull() & ~m.delivered, k)
        ck.rule("messages", "clicked_at", "must not precede opened_at",
                m, m.clicked_at < m.opened_at, k)
        ck.rule("messages", "clicked_at", "must not precede sent_at",
                m, m.clicked_at < m.sent_at, k)
        ck.rule("messages", "clicked_at", "an email click requires an open",
                m, m.clicked_at.notnull() & m.opened_at.isnull() & (m.channel == "email"),
                k)
        ck.rule("messages", "unsubscribed_at", "an unsubscribe requires a delivered message",
                m, m.unsubscribed_at.notnull() & ~m.delivered, k)
        ck.rule("messages", "unsubscribed_at", "must not precede sent_at",
                m, m.unsubscribed_at < m.sent_at, k)
    # a session opened by a click starts after the click, from the message's channel
    if ck.has("sessions", "session_id", "message_id", "started_at", "source") and ck.has(
            "messages", "message_id", "clicked_at", "channel", "customer_id"):
        j = _joined(ck, "sessions", {"session_id": "session_id", "mid": "message_id",
                                     "started_at": "started_at", "source": "source"},
                    "messages", {"pmid": "message_id", "clicked_at": "clicked_at",
                                 "channel": "channel"}, ("mid", "pmid"))
        ck.rule("sessions", "message_id", "the message was never clicked",
                j, j.clicked_at.isnull(), ("session_id",))
        ck.rule("sessions", "started_at", "must not precede its message's clicked_at",
                j, j.started_at < j.clicked_at, ("session_id",))
        ck.rule("sessions", "source", "must be the channel of its message",
                j, j.source != j.channel, ("session_id",))
    # cart assignments point at sessions
    if ck.has("assignments", "experiment", "unit_type", "unit_id") and ck.has(
            "sessions", "session_id"):
        a, s = ck.t["assignments"], ck.t["sessions"]
        carts = a.filter(a.unit_type == "cart")
        ck.rule("assignments", "unit_id", "cart unit references a missing sessions.session_id",
                carts.anti_join(s, carts.unit_id == s.session_id), None, K["assignments"])


def _register(con, tables: Mapping, missing_reported: bool) -> tuple[dict, list[Violation]]:
    """Register in-memory tables (pandas, Arrow, or Ibis tables already bound to ``con``)."""
    present, pre = {}, []
    for name in TABLES:
        if name not in tables:
            if TABLES[name].required and not missing_reported:
                pre.append(Violation(name, "*", "table is missing", 0))
            continue
        obj = tables[name]
        if isinstance(obj, ibis.Table):
            present[name] = obj
            continue
        if isinstance(obj, pd.DataFrame):
            try:
                obj = pa.Table.from_pandas(obj, preserve_index=False)
            except (pa.ArrowException, ValueError, TypeError) as exc:
                pre.append(Violation(name, "*", f"cannot be converted to Arrow: {exc}", 0))
                continue
        present[name] = con.create_table(name, obj)
    return present, pre


def validate(tables: Mapping, n_examples: int = 5, *, con=None, source: str = "",
             problems: Sequence[Violation] = (), missing_reported: bool = False,
             ) -> ValidationReport:
    """Check tables against the canonical schema and its invariants.

    The schema reads no files: :func:`workbench.store.validate` opens a dataset
    folder and hands its tables here.

    Parameters
    ----------
    tables
        Table name to pandas DataFrame, pyarrow Table, or Ibis table (bound to
        ``con``).
    n_examples
        How many offending keys to list per violation.
    con
        The Ibis connection the Ibis tables live on; a fresh DuckDB one otherwise.
    source
        What the report names as the source (a folder, a file).
    problems
        Violations found before the rules ran (a missing or unreadable file).
    missing_reported
        The caller already reported missing required tables in ``problems``.

    Returns
    -------
    ValidationReport
        ``report.ok`` is True when nothing is wrong; otherwise
        ``report.violations`` lists every broken rule with its table, column,
        rule, number of rows and first offending keys.
    """
    if not isinstance(tables, Mapping):
        raise TypeError("workbench.schema.validate() takes a mapping of table name to "
                        "DataFrame / pyarrow.Table / Ibis table, not "
                        f"{type(tables).__name__}; for a dataset folder use "
                        "workbench.validate (workbench.store.validate)")
    con = ibis.duckdb.connect() if con is None else con
    present, pre = _register(con, tables, missing_reported)
    rows = _one_row([(t, {name: t.count()}) for name, t in present.items()])
    counts = ({name: int(rows[name]) for name in present} if rows is not None else
              {name: int(t.count().execute()) for name, t in present.items()})
    ck = _Checker(con, present, n_examples, counts)
    ck.violations.extend([*problems, *pre])
    for name in TABLE_ORDER:
        if name in present:
            _table_checks(ck, TABLES[name])
    _cross_checks(ck)
    ck.flush()
    order = {n: i for i, n in enumerate(TABLE_ORDER)}
    ck.violations.sort(key=lambda v: order.get(v.table, -1))
    return ValidationReport(violations=ck.violations, row_counts=counts, source=source)


def schema_json() -> str:
    """The canonical schema as JSON (tables, columns, kinds, rules)."""
    return json.dumps({"schema_version": SCHEMA_VERSION, "tables": {
        name: {"description": t.description, "key": list(t.key), "columns": [
            {k: v for k, v in c.__dict__.items() if v is not None} for c in t.columns]}
        for name, t in TABLES.items()}}, indent=2)
