"""Rows added to an existing dataset: read it whole, link, append, validate, rewrite.

:func:`append_messages` is the dataset half of :mod:`.messages`: the dataset's tables
are read from their Parquet files with Arrow, its truth tables and text files
(``rejects.csv``, ``import.json``...) are carried over, its manifest keeps every
field but the ones :func:`~workbench.store.write_dataset` recomputes (row counts,
hashes, times), and nothing is written until the schema's validation passes --
then :meth:`Appended.write` replaces the folder atomically.  The import's rejects are
appended to the dataset's ``rejects.csv`` (replacing earlier ones from a file of the
same name) and the manifest's ``rejected_rows`` counts that file's rows.
"""

from __future__ import annotations

import io
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..schema import DatasetValidationError, ValidationReport
from ..store import (
    MANIFEST,
    TRUTH_DIR,
    DatasetError,
    load_manifest,
    table_path,
    validate,
    write_dataset,
)
from . import REJECT_COLUMNS, ImportInputError, Progress, reject, rejects_frame
from .orders import is_personal, pseudonym

#: manifest fields write_dataset recomputes (everything else is kept as it was)
_COMPUTED = ("schema_version", "workbench_version", "created_at", "dataset_hash",
             "row_counts", "files")
#: the tables whose message_id columns must share one type
_MESSAGE_ID_TABLES = ("messages", "sessions", "orders")
TS = pa.timestamp("us", tz="UTC")


@dataclass
class Appended:
    """The dataset's tables with the new rows, ready to be written."""

    into: Path
    tables: dict[str, pa.Table]
    truth: dict[str, pa.Table]
    texts: dict[str, str]
    manifest: dict
    rejects: pd.DataFrame
    report: ValidationReport
    source: str

    def write(self, extra: dict[str, str], progress: Progress) -> Path:
        """Rewrite the dataset atomically, rejects appended to ``rejects.csv``.

        Earlier rejects of a file of the same name are replaced (a re-import does not
        list them twice); ``messages_import.json`` keeps one record per import.
        """
        texts = dict(self.texts)
        old = (pd.read_csv(io.StringIO(texts["rejects.csv"]), dtype=str)
               if "rejects.csv" in texts else pd.DataFrame(columns=list(REJECT_COLUMNS)))
        old = old[old["table"] != self.source] if len(old) else old
        all_rejects = pd.concat([old, self.rejects.astype(str)], ignore_index=True)
        texts["rejects.csv"] = all_rejects.to_csv(index=False)
        for name, text in extra.items():
            if name.endswith(".json") and name in texts:  # a log: one record per import
                prev = json.loads(texts[name])
                prev = prev if isinstance(prev, list) else [prev]
                texts[name] = json.dumps([*prev, json.loads(text)], indent=2)
            else:
                texts[name] = (json.dumps([json.loads(text)], indent=2)
                               if name.endswith(".json") else text)
        info = {k: v for k, v in self.manifest.items() if k not in _COMPUTED}
        if "rejected_rows" in info or len(all_rejects):
            info["rejected_rows"] = int(len(all_rejects))
        path = write_dataset(self.into, self.tables, truth=self.truth or None,
                             extra_files=texts, manifest=info)
        progress(f"wrote {path}")
        return path


def read_dataset(into: Path) -> tuple[dict, dict[str, pa.Table], dict[str, pa.Table],
                                      dict[str, str]]:
    """Manifest, canonical tables, truth tables and text files of the dataset at ``into``."""
    try:
        info = load_manifest(into)
    except DatasetError as exc:
        raise ImportInputError(f"--into: {exc}") from exc
    tables, truth, texts = {}, {}, {}
    for name in info.get("files", {}):
        f = table_path(into, name)
        if not f.exists():
            raise ImportInputError(f"--into {into}: manifest lists {name} but {f.name} is "
                                   "missing")
        if name.startswith(TRUTH_DIR + "/"):
            truth[name.split("/", 1)[1]] = pq.read_table(f)
        else:
            tables[name] = pq.read_table(f)
    listed = {table_path(into, n).resolve() for n in info.get("files", {})}
    for f in sorted(p for p in into.rglob("*") if p.is_file()):
        rel = f.relative_to(into).as_posix()
        if rel == MANIFEST or f.resolve() in listed:
            continue
        try:
            texts[rel] = f.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ImportInputError(f"--into {into}: {rel} is not a text file; the dataset "
                                   "cannot be rewritten without losing it") from exc
    if "customers" not in tables:
        raise ImportInputError(f"--into {into}: the dataset has no customers table")
    return info, tables, truth, texts


def _whole(s: pd.Series) -> pd.Series:
    return s.fillna("").str.fullmatch(r"-?\d{1,18}")


def _id_type(tables: dict[str, pa.Table], column: str, order: tuple[str, ...]) -> pa.DataType:
    for t in order:
        if t in tables and column in tables[t].column_names:
            return tables[t].schema.field(column).type
    return pa.string()


def _as_text(table: pa.Table, column: str) -> pa.Table:
    i = table.column_names.index(column)
    return table.set_column(i, pa.field(column, pa.string()),
                            pc.cast(table.column(column), pa.string()))


def _ids(values: pd.Series, typ: pa.DataType) -> pa.Array:
    if pa.types.is_integer(typ):
        return pa.array([int(v) for v in values], type=typ)
    return pa.array([str(v) for v in values], type=pa.string())


def _link(m: pd.DataFrame, existing: set[str], salt: str, int_ids: bool
          ) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Customer id per message (str), whether it is new, and an unlinkable mask."""
    values = pd.concat([m.email, m.phone]).dropna().unique()
    pmap = {v: pseudonym(v, salt) for v in values}
    ext = m.external_id.astype("string")
    pe, pp = m.email.map(pmap).astype("string"), m.phone.map(pmap).astype("string")
    cid = ext.where(ext.isin(existing))
    cid = cid.fillna(pe.where(pe.isin(existing))).fillna(pp.where(pp.isin(existing)))
    new = cid.isna()
    if int_ids:
        fresh = ext.where(_whole(ext))
    else:
        safe = ext.map(lambda v: pseudonym(v, salt) if isinstance(v, str) and is_personal(v)
                       else v).astype("string")
        fresh = pe.fillna(pp).fillna(safe)
    cid = cid.fillna(fresh)
    return cid, new & cid.notna(), cid.isna()


def append_messages(into: Path, m: pd.DataFrame, rows: pd.Series, source: str,
                    rejects: list[pd.DataFrame], counts: dict[str, int], *,
                    shared_ids: bool, attributions: pd.DataFrame | None = None) -> Appended:
    """The dataset at ``into`` with messages ``m`` added (linked, deduplicated, validated).

    ``m`` has one row per message: ``key`` (into ``rows``, the source rows behind it),
    ``message``, ``email``, ``phone``, ``external_id``, ``channel``, ``campaign``,
    ``sent_at``, ``delivered``, ``opened_at``, ``clicked_at``, ``unsubscribed_at``,
    ``discount_pct``, ``cost``.  ``shared_ids``: a ``message`` id may name one send to
    many recipients (Klaviyo's ``$message``), so the recipient completes the id.
    ``attributions`` (``row, order_ref, message``): orders the platform credited to a
    message, which set ``orders.message_id`` (:func:`_attribute_orders`).
    """
    into = Path(into)
    info, tables, truth, texts = read_dataset(into)
    rejects = list(rejects)
    if not info.get("id_salt"):
        info["id_salt"] = secrets.token_hex(16)  # the dataset's salt from now on
    salt = info["id_salt"]
    customers = tables["customers"]
    cid_type = customers.schema.field("customer_id").type
    int_ids = pa.types.is_integer(cid_type)
    existing = {str(v) for v in customers.column("customer_id").to_pylist()}

    def drop(mask: pd.Series, reason: str) -> None:
        nonlocal m
        if mask.any():
            src = [r for k in m.key[mask] for r in rows[k]]
            rejects.append(reject(source, sorted(src), reason))
        m = m[~mask].reset_index(drop=True)

    for f in ("email", "phone", "external_id"):
        if f not in m:
            m[f] = pd.Series(pd.NA, index=m.index, dtype="string")
    cid, new, unlinked = _link(m, existing, salt, int_ids)
    m = m.assign(customer=cid, new_customer=new)
    drop(unlinked, "recipient is not a customer of the dataset, whose customer ids are "
         "integers: give its External ID (a pseudonymous id cannot join them)")
    # message ids
    msg = m.message.astype(str)
    have = (tables["messages"].select(["message_id", "customer_id"]).to_pandas()
            .astype(str) if "messages" in tables else pd.DataFrame(
                {"message_id": [], "customer_id": []}, dtype=str))
    owner = dict(zip(have.message_id, have.customer_id, strict=True))
    composite = msg + ":" + m.customer.astype(str)
    if shared_ids:
        many = msg.map(msg.value_counts()) > 1
        taken = msg.map(owner).notna() & (msg.map(owner) != m.customer.astype(str))
        mid = composite.where(many | taken, msg)
        present = (msg.map(owner) == m.customer.astype(str)) | composite.isin(owner)
    else:
        mid = msg
        present = msg.isin(owner)
    m = m.assign(message_id=mid)
    counts["already present"] = int(present.sum())
    drop(present, "already imported: the message id is in the dataset")
    drop(m.message_id.duplicated(), "the same message again for the same recipient "
         "(first kept)")
    # one message-id type across tables
    mid_type = _id_type(tables, "message_id", _MESSAGE_ID_TABLES)
    if pa.types.is_integer(mid_type) and not _whole(m.message_id.astype("string")).all():
        for t in _MESSAGE_ID_TABLES:
            if t in tables:
                tables[t] = _as_text(tables[t], "message_id")
        counts["message ids stored as text"] = 1
        mid_type = pa.string()
    if not pa.types.is_integer(mid_type):
        mid_type = pa.string()
    counts["messages kept"] = int(len(m))
    for ch in ("email", "sms"):
        counts[f"{ch} messages kept"] = int((m.channel == ch).sum())
    # added customers
    fresh = m[m.new_customer]
    added = fresh.groupby("customer").agg(
        signup_at=("sent_at", "min"),
        email_opt_in=("channel", lambda s: bool((s == "email").any())),
        sms_opt_in=("channel", lambda s: bool((s == "sms").any()))).reset_index()
    counts["added customers"] = int(len(added))
    if len(added):
        n = len(added)
        cols = {"customer_id": _ids(added.customer, cid_type),
                "signup_at": pa.array(added.signup_at.dt.as_unit("us"), type=TS),
                "acquisition_channel": pa.array(["unknown"] * n, pa.string()),
                "region": pa.nulls(n, pa.string()),
                "email_opt_in": pa.array(added.email_opt_in, pa.bool_()),
                "sms_opt_in": pa.array(added.sms_opt_in, pa.bool_())}
        schema = customers.schema
        new_c = pa.table({f.name: cols[f.name] for f in schema}).cast(schema)
        tables["customers"] = pa.concat_tables([customers, new_c])
    # the messages table
    product = _id_type(tables, "product_id", ("products", "order_items"))
    trigger = _id_type(tables, "trigger_id", ("messages",)) if "messages" in tables else (
        _id_type(tables, "session_id", ("sessions", "orders")))
    n = len(m)

    def ts(col: str) -> pa.Array:
        return pa.array(m[col].dt.as_unit("us"), type=TS)

    cols = {"message_id": _ids(m.message_id, mid_type),
            "customer_id": _ids(m.customer, cid_type),
            "campaign": pa.array(m.campaign.astype(str), pa.string()),
            "channel": pa.array(m.channel.astype(str), pa.string()),
            "experiment": pa.nulls(n, pa.string()), "arm": pa.nulls(n, pa.string()),
            "sent_at": ts("sent_at"), "delivered": pa.array(m.delivered.astype(bool)),
            "opened_at": ts("opened_at"), "clicked_at": ts("clicked_at"),
            "unsubscribed_at": ts("unsubscribed_at"),
            "discount_pct": pa.array(m.discount_pct.astype(float), pa.float64()),
            "cost": pa.array(m.cost.astype(float), pa.float64()),
            "product_ids": pa.nulls(n, pa.list_(product)), "trigger_id": pa.nulls(n, trigger)}
    new_m = pa.table(cols)
    if "messages" in tables:
        old = tables["messages"]
        tables["messages"] = pa.concat_tables([old, new_m.select(old.column_names)
                                               .cast(old.schema)])
    else:
        tables["messages"] = new_m
    if attributions is not None and len(attributions):
        # a row whose message was refused here credits nothing (one reason per row); a
        # message already imported still can: a re-import credits orders added since
        refused = {r for f in rejects for r, why in zip(f.source_row, f.reason, strict=True)
                   if not str(why).startswith("already imported")}
        _attribute_orders(tables, attributions[~attributions.row.isin(refused)], source,
                          rejects, counts)
    return appended(into, tables, truth, texts, info, rejects, source)


#: the start of the reason of a credited order that was not applied (``rejects.csv``)
CREDIT_REFUSED = "order credit not applied: "


def _attribute_orders(tables: dict[str, pa.Table], a: pd.DataFrame, source: str,
                      rejects: list[pd.DataFrame], counts: dict[str, int]) -> None:
    """``orders.message_id`` from the orders a platform credited to a message.

    ``a``: one row per credited order — ``row`` (the source row), ``order_ref`` (the
    order's id or name as the platform knows it: matched as it is, with a leading ``#``
    added, or without it — Shopify's ``#1001`` against ``1001``) and ``message`` (the
    platform's message id: the dataset's message of that id, or of ``<id>:<customer>``
    for a message sent to many, whose recipient is the order's customer).  An order
    already credited to another message keeps it (counted); rows that find no order, no
    such message, or a message sent after the order are rejected with the reason.
    """
    def drop(mask, reason: str) -> pd.DataFrame:
        if mask.any():  # the credit is refused; a CSV row's message may still be imported
            rejects.append(reject(source, sorted(a.row[mask]), CREDIT_REFUSED + reason))
            counts["order credits refused"] = counts.get("order credits refused", 0) + int(
                mask.sum())
        return a[~mask]

    if "orders" not in tables:
        drop(pd.Series(True, index=a.index), "an order event, but the dataset has no orders "
             "table: import the store's orders first")
        return
    o = tables["orders"].select(["order_id", "customer_id", "placed_at"]).to_pandas()
    pos = pd.Series(range(len(o)), index=o.order_id.astype(str))
    ref = a.order_ref.astype("string").str.strip()
    hit = ref.map(pos)
    for alt in ("#" + ref, ref.str.lstrip("#")):
        hit = hit.fillna(alt.map(pos))
    a = a.assign(pos=hit)
    a = drop(a.pos.isna(), "an order event whose order is not in the dataset (import the "
             "store's orders first; the order is matched by its id or name)")
    if a.empty:
        return
    p = a.pos.astype(int).to_numpy()
    cust = pd.Series(o.customer_id.astype(str).to_numpy()[p], index=a.index)
    mm = tables["messages"].select(["message_id", "customer_id", "sent_at"]).to_pandas()
    mm.index = mm.message_id.astype(str)
    owner = mm.customer_id.astype(str)
    msg = a.message.astype(str)
    comp = msg + ":" + cust
    mid = msg.where(msg.map(owner) == cust, comp.where(comp.isin(owner.index)))
    a = a.assign(mid=mid)
    sent_ids = set(owner.index) | {i.split(":", 1)[0] for i in owner.index}
    a = drop(a.mid.isna() & ~msg.isin(sent_ids),
             "the credited message is not in the dataset (import its sends first)")
    a = drop(a.mid.isna(), "the credited message was sent to another customer than the "
             "order's")
    placed = pd.Series(pd.to_datetime(o.placed_at, utc=True).to_numpy()[a.pos.astype(int)],
                       index=a.index)
    sent = pd.to_datetime(a.mid.map(mm.sent_at), utc=True)
    a = drop(sent > placed, "the credited message was sent after the order")
    a = drop(a.pos.duplicated(), "the same order credited again (the first kept)")
    col = tables["orders"].column("message_id")
    have = pd.Series(col.to_pylist(), dtype=object)
    now = pd.Series(have.iloc[a.pos.astype(int)].to_numpy(), index=a.index)
    known = now.notna()
    same = known & (now.astype(str) == a.mid.astype(str))
    other = known & ~same
    counts["orders already credited to this message"] = int(same.sum())
    counts["orders credited to another message (kept)"] = int(other.sum())
    a = a[~same & ~other]
    counts["orders credited to a message"] = int(len(a))
    if a.empty:
        return
    # the column keeps its type (one message-id type across tables, set above)
    typ = col.type if not pa.types.is_null(col.type) else tables["messages"].schema.field(
        "message_id").type
    have.iloc[a.pos.astype(int).to_numpy()] = a.mid.to_numpy()
    vals = [None if pd.isna(v) else (int(v) if pa.types.is_integer(typ) else str(v))
            for v in have]
    t = tables["orders"]
    tables["orders"] = t.set_column(t.column_names.index("message_id"), "message_id",
                                    pa.array(vals, type=typ))


def appended(into: Path, tables: dict[str, pa.Table], truth: dict[str, pa.Table],
             texts: dict[str, str], info: dict, rejects: list[pd.DataFrame],
             source: str) -> Appended:
    """The tables validated, as an :class:`Appended` (rejects in source-row order).

    Raises :class:`~workbench.schema.DatasetValidationError` when they break the schema.
    """
    rej = rejects_frame(rejects).sort_values("source_row", kind="stable").reset_index(
        drop=True)
    report = validate(tables)
    if not report.ok:
        raise DatasetValidationError(report)
    return Appended(into, tables, truth, texts, info, rej, report, source)


__all__ = ["Appended", "append_messages", "appended", "read_dataset"]
