"""Who was in which arm of a test: a platform's holdout list or A/B split, into a dataset.

``workbench import assignments FILE --into DIR --map ...`` adds experiment membership to
an existing dataset's ``assignments`` table, so the analyses that need randomization
run on a real store: a campaign's holdout (experiment ``<campaign>_holdout``, arms
``messaged`` and ``holdout``: :mod:`workbench.analyses.holdouts`), the post-purchase
content test (``post_purchase_sequence``, arm the content:
:mod:`workbench.analyses.post_purchase`).  Platforms export these as a list of profiles
per group (a holdout segment, the recipients of each A/B variation), so the experiment
and the arm may be given once for the whole file (``--experiment``, ``--arm``) instead
of as columns.

One row per customer; ``--map`` names the source column of each field in
:data:`FIELDS`: one of ``email``, ``phone``, ``customer_id`` is required, ``experiment``
and ``arm`` unless given for the file, and ``assigned_at`` (when the customer entered
the test: ISO 8601 with an offset, or UTC without; a customer's first qualifying trigger
for a holdout, the order that entered them for a content test) unless ``--assigned-at``
gives one time for all.  Units are customers (``unit_type`` ``customer``, ``unit_id``
the customer id).

* **Customers** link by ``customer_id`` equal to an existing id, else by the pseudonym
  of the email, else of the phone, with the dataset's salt (what a Shopify or messages
  import keyed them by).  A row that links to no customer is rejected: membership of
  someone the dataset has never seen cannot be analysed.  Emails and phones are never
  written in clear.
* **Rejected, with a reason** (``rejects.csv``, rows counted from 1 after the header): no
  customer; an unknown customer; an unparseable or missing time; no experiment or arm;
  a customer already in that experiment in the dataset ("already imported": re-running
  an import changes nothing); the same customer twice in the file for one experiment
  (first kept when the arm agrees, all rejected when the arms differ: the split is
  ambiguous).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from . import ImportInputError, ImportResult, Progress, quiet, read_text_table
from . import reject as rejected
from ._dataset import TS, _ids, _link, appended, read_dataset
from .orders import parse_map

FIELDS = ("experiment", "arm", "assigned_at", "email", "phone", "customer_id")
PROFILE = ("email", "phone", "customer_id")


@dataclass
class AssignmentsImportResult(ImportResult):
    """An :class:`ImportResult` with the counts per experiment and arm."""

    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v:,}" for k, v in self.counts.items())
        return f"{super().summary()} Assignments import: {parts}."


def _text(s: pd.Series) -> pd.Series:
    s = s.astype("string").str.strip()
    return s.mask(s == "")


def read_assignments(file: Path, mapping: dict[str, str], experiment: str | None,
                     arm: str | None, assigned_at: str | None) -> pd.DataFrame:
    """The file's rows as ``experiment, arm, assigned_at, email, phone, external_id``."""
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise ImportInputError(f"--map: unknown field(s) {unknown}; fields are {list(FIELDS)}")
    need = [f for f, given in (("experiment", experiment), ("arm", arm),
                               ("assigned_at", assigned_at))
            if f not in mapping and given is None]
    if need or not any(f in mapping for f in PROFILE):
        raise ImportInputError(
            f"{file.name}: map (or give for the whole file) {need or []}"
            + ("" if any(f in mapping for f in PROFILE) else
               " and one of email, phone, customer_id") + " with --map FIELD=COLUMN")
    df = read_text_table(file)
    absent = [c for c in mapping.values() if c not in df.columns]
    if absent:
        raise ImportInputError(f"{file.name}: mapped column(s) {absent} not in the file; "
                               f"it has {list(df.columns)[:20]}")
    out = pd.DataFrame(index=df.index)
    for f in FIELDS:
        out[f] = _text(df[mapping[f]]) if f in mapping else pd.Series(
            pd.NA, index=df.index, dtype="string")
    if experiment is not None:
        out["experiment"] = experiment
    if arm is not None:
        out["arm"] = arm
    raw = out.assigned_at if assigned_at is None else pd.Series(assigned_at, index=df.index)
    out["assigned_at"] = pd.to_datetime(raw, errors="coerce", utc=True, format="mixed")
    return out.rename(columns={"customer_id": "external_id"})


def import_assignments(file: Path, into: Path, *, mapping: str = "",
                       experiment: str | None = None, arm: str | None = None,
                       assigned_at: str | None = None,
                       progress: Progress = quiet) -> AssignmentsImportResult:
    """Add the test membership in ``file`` to the dataset at ``into`` (see the module).

    Raises :class:`ImportInputError` for a file or ``--map`` that cannot be read as
    assignments, and :class:`~workbench.schema.DatasetValidationError` when the tables
    would break the schema (nothing is written then).
    """
    file, into = Path(file), Path(into)
    a = read_assignments(file, parse_map(mapping) if mapping else {}, experiment, arm,
                         assigned_at)
    progress(f"read {len(a):,} rows from {file.name}")
    info, tables, truth, texts = read_dataset(into)
    if not info.get("id_salt"):
        info["id_salt"] = secrets.token_hex(16)
    customers = tables["customers"]
    cid_type = customers.schema.field("customer_id").type
    existing = {str(v) for v in customers.column("customer_id").to_pylist()}
    cid, new, _ = _link(a, existing, info["id_salt"], pa.types.is_integer(cid_type))
    a["customer"] = cid.where(~new & cid.notna())
    counts: dict[str, int] = {}
    rejects: list[pd.DataFrame] = []
    bad = pd.Series(False, index=a.index)

    def drop(mask: pd.Series, reason: str) -> None:
        nonlocal bad
        mask = mask & ~bad
        if mask.any():
            rejects.append(rejected(file.name, a.index[mask], reason))
            bad = bad | mask

    drop(a[["email", "phone", "external_id"]].isna().all(axis=1), "no customer (email, "
         "phone or customer id)")
    drop(a.customer.isna(), "not a customer of the dataset: import its orders or messages "
         "first")
    drop(a.assigned_at.isna(), "no assignment time, or one that cannot be read")
    drop(a.experiment.isna() | a.arm.isna(), "no experiment or arm")
    old = (tables["assignments"].select(["experiment", "unit_type", "customer_id"])
           .to_pandas().astype(str) if "assignments" in tables else
           pd.DataFrame({"experiment": [], "unit_type": [], "customer_id": []}, dtype=str))
    old = old[old.unit_type == "customer"]
    key = a.experiment.astype(str) + "\x1f" + a.customer.astype(str)
    have = set(old.experiment + "\x1f" + old.customer_id)
    present = key.isin(have)
    counts["already present"] = int((present & ~bad).sum())
    drop(present, "already imported: the customer is in this experiment in the dataset")
    live = ~bad
    arms = a[live].groupby(key[live]).arm.nunique()
    drop(key.map(arms).fillna(0) > 1, "the same customer in two arms of one experiment "
         "(the split is ambiguous)")
    drop(key.duplicated() & ~bad, "the same customer again in one experiment (first kept)")
    a = a[~bad]
    for (exp, arm_), n in a.groupby(["experiment", "arm"]).size().items():
        counts[f"{exp} / {arm_}"] = int(n)
    ids = _ids(a.customer, cid_type)
    new_a = pa.table({"experiment": pa.array(a.experiment.astype(str), pa.string()),
                      "unit_type": pa.array(["customer"] * len(a), pa.string()),
                      "unit_id": ids, "customer_id": ids,
                      "arm": pa.array(a.arm.astype(str), pa.string()),
                      "assigned_at": pa.array(a.assigned_at.dt.as_unit("us"), type=TS)})
    if "assignments" in tables:
        cur = tables["assignments"]
        if cur.schema.field("unit_id").type != ids.type:  # cart ids and customer ids
            cur = cur.set_column(cur.column_names.index("unit_id"), pa.field(
                "unit_id", pa.string()), cur.column("unit_id").cast(pa.string()))
            new_a = new_a.set_column(2, pa.field("unit_id", pa.string()),
                                     new_a.column("unit_id").cast(pa.string()))
        tables["assignments"] = pa.concat_tables([cur, new_a.select(cur.column_names)
                                                  .cast(cur.schema)])
    else:
        tables["assignments"] = new_a
    res = appended(into, tables, truth, texts, info, rejects, file.name)
    counts["rejected rows"] = int(len(res.rejects))
    progress(f"{len(a):,} assignments from {file.name}; adding them to {into}")
    path = res.write({"assignments_import.json": json.dumps(
        {"source": file.name, "counts": counts}, indent=2)}, progress)
    return AssignmentsImportResult(path, {k: int(v.num_rows) for k, v in tables.items()},
                                   res.rejects, res.report, counts=counts)


__all__ = ["FIELDS", "AssignmentsImportResult", "import_assignments", "read_assignments"]
