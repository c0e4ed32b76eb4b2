"""Email/SMS message events into an existing dataset, and the Klaviyo-style round trip.

The hand-written events (tests/fixtures/klaviyo, see its README) are imported into a
small store built from ``orders.csv`` with the generic orders importer; every count
is checked against an independent reading of the raw CSV with the ``csv`` module.
The round trip goes simulate -> dataset -> ``export klaviyo`` -> import into the same
dataset without its messages -> the canonical messages, campaign by channel.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from workbench.analyses import Context, Skipped, get
from workbench.cli import main
from workbench.exporters import export_dataset
from workbench.importers import ImportInputError, dataset_salt, import_dataset
from workbench.importers.messages import campaign_of, import_messages
from workbench.importers.orders import OrdersImporter, parse_map, pseudonym
from workbench.simulate import scenario, simulate
from workbench.store import load_manifest, read_table, save_simulation, validate, write_dataset

FIX = Path(__file__).parent / "fixtures" / "klaviyo"
EVENTS = FIX / "klaviyo_events.csv"
SENDS = {"Received Email", "Received SMS", "Bounced Email", "Dropped Email",
         "Failed to Deliver SMS"}
MESSAGE_METRICS = SENDS | {"Opened Email", "Clicked Email", "Clicked SMS", "Unsubscribed",
                           "Unsubscribed from SMS", "Marked Email as Spam"}


def shop(tmp_path: Path) -> Path:
    """A small store (alice, bob, carol) imported from orders.csv: no messages table."""
    imp = OrdersImporter(parse_map("order_id=Name,customer_id=Email,placed_at=Created at,"
                                   "revenue=Total"))
    res = import_dataset(imp, imp.read(FIX / "orders.csv"), tmp_path / "shop",
                         manifest={"id_salt": imp.salt, "source_files": ["orders.csv"]})
    return res.path


def raw_expectations() -> dict:
    """What the import must find, read from the raw file with the csv module alone."""
    with open(EVENTS, newline="") as fh:
        rows = list(csv.DictReader(fh))
    seen, events = set(), []
    for r in rows:
        if r["Event ID"] in seen:
            continue
        seen.add(r["Event ID"])
        try:
            t = datetime.fromisoformat(r["Timestamp"])
        except ValueError:
            continue
        if r["Metric"] in MESSAGE_METRICS:
            events.append((r, t))

    def key(r):
        return r["$message"], r["Email"] or r["Phone Number"]

    sends = {key(r) for r, _ in events if r["Metric"] in SENDS}
    kept = [(r, t) for r, t in events if key(r) in sends]

    def with_metric(*metrics):
        return {key(r) for r, _ in kept if r["Metric"] in metrics}

    with open(FIX / "orders.csv", newline="") as fh:
        buyers = {r["Email"] for r in csv.DictReader(fh)}
    return {"messages": len(sends),
            "delivered": len(with_metric("Received Email", "Received SMS")),
            "opened": len(with_metric("Opened Email", "Clicked Email")),  # a click opens
            "clicked": len(with_metric("Clicked Email", "Clicked SMS")),
            "unsubscribed": len(with_metric("Unsubscribed", "Unsubscribed from SMS")),
            "added": len({r["Email"] or r["Phone Number"] for r, _ in kept
                          if r["Metric"] in SENDS and r["Email"] not in buyers}),
            "duplicates": len(rows) - len(seen),
            "rejected": len(rows) - (len(rows) - len(seen)) - len(kept)}


def test_import_counts_equal_an_independent_reading_of_the_raw_events(tmp_path):
    path = shop(tmp_path)
    want = raw_expectations()
    assert want == {"messages": 11, "delivered": 8, "opened": 5, "clicked": 3,
                    "unsubscribed": 2, "added": 2, "duplicates": 1, "rejected": 3}
    before = load_manifest(path)
    res = import_messages(EVENTS, path)
    after = load_manifest(path)
    for k in ("id_salt", "generator", "source_files", "schema_version"):
        assert after[k] == before[k]
    assert (path / "import.json").read_text() == json.dumps(
        {"importer": "orders", "sources": ["orders"]}, indent=2)  # carried over as it was
    m = read_table(path, "messages")
    assert len(m) == want["messages"]
    assert int(m.delivered.sum()) == want["delivered"]
    assert int(m.opened_at.notna().sum()) == want["opened"]
    assert int(m.clicked_at.notna().sum()) == want["clicked"]
    assert int(m.unsubscribed_at.notna().sum()) == want["unsubscribed"]
    assert res.counts["added customers"] == want["added"]
    assert len(read_table(path, "customers")) == 3 + want["added"]
    assert res.counts["merged duplicate events"] == want["duplicates"]
    assert len(res.rejects) == want["rejected"]
    assert res.counts["fixed: email click without an earlier open"] == 1  # BR1
    assert res.counts["machine opens"] == 2
    reasons = dict(zip(res.rejects.source_row, res.rejects.reason, strict=True))
    assert reasons[12].startswith("Timestamp is not a date")  # ev-012 is data row 12
    assert "no Received or bounce event" in reasons[20]
    # an order event Klaviyo credited to no message links nothing
    assert reasons[21].startswith("an order event credited to no message")
    assert validate(path).ok
    # alice is linked by her email's pseudonym, with the dataset's salt
    salt = dataset_salt(path)
    alice = pseudonym("alice@example.com", salt)
    assert set(m.customer_id[m.message_id.isin(["AC1", "SMS1"])]) == {alice}
    # BF1 went to two profiles: the recipient completes the message id
    assert sorted(m.message_id[m.message_id.str.startswith("BF1")]) == sorted(
        [f"BF1:{alice}", f"BF1:{pseudonym('carol@example.com', salt)}"])
    added = read_table(path, "customers").set_index("customer_id").loc[
        [pseudonym("dave@example.com", salt), pseudonym("+1 555 555 0199", salt)]]
    assert list(added.email_opt_in) == [True, False] and list(added.sms_opt_in) == [False,
                                                                                     True]
    assert set(added.acquisition_channel) == {"unknown"}
    assert m.experiment.isna().all() and m.arm.isna().all() and (m.discount_pct == 0).all()


def test_campaign_names_map_onto_the_vocabulary_and_the_map_is_reported(tmp_path):
    res = import_messages(EVENTS, shop(tmp_path))
    # the rule of the brief, name by name (flow name first, else campaign name)
    assert res.campaign_map == {
        "Abandoned Cart Reminder": "abandoned_cart", "Abandoned Checkout SMS": "abandoned_cart",
        "Black Friday Sale": "seasonal", "Browse Abandonment": "browse_abandonment",
        "Flash Sale SMS": "seasonal", "Holiday Newsletter": "seasonal",
        "Post-Purchase Thank You": "post_purchase", "Replenish SMS": "replenishment",
        "Replenishment Reminder": "replenishment", "Welcome Series": "welcome_series"}
    assert "'Welcome Series' -> welcome_series" in res.summary()
    log = json.loads((res.path / "messages_import.json").read_text())
    assert log[-1]["campaign_map"] == res.campaign_map
    assert campaign_of("Thank you - cross-sell") == "post_purchase"
    assert campaign_of(None) == "unknown"


def test_reimport_is_idempotent(tmp_path):
    path = shop(tmp_path)
    first = import_messages(EVENTS, path)
    before = {t: read_table(path, t) for t in ("messages", "customers")}
    again = import_messages(EVENTS, path)
    assert again.counts["already present"] == first.counts["messages kept"] == 11
    assert again.counts["messages kept"] == 0 and again.counts["added customers"] == 0
    for t, df in before.items():
        pd.testing.assert_frame_equal(read_table(path, t), df)
    # rejects.csv lists this file's rejects once: the latest import's
    rej = pd.read_csv(path / "rejects.csv")
    assert (rej.table == EVENTS.name).sum() == len(again.rejects)
    assert load_manifest(path)["rejected_rows"] == len(rej)


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*"))
            if f.is_file()}


def test_a_failed_import_leaves_the_dataset_as_it_was(tmp_path, monkeypatch):
    path = shop(tmp_path)
    before = _snapshot(path)
    # an orders export given as events: the error names the file and what is missing
    with pytest.raises(ImportInputError, match=r"orders\.csv.*\['Metric', 'Timestamp', "
                                               r"'\$message'\]"):
        import_messages(FIX / "orders.csv", path)
    assert _snapshot(path) == before
    # a crash while the new dataset is being written
    import workbench.store as store

    calls = []

    def crash(table, where, **kw):
        calls.append(where)
        if len(calls) == 3:
            raise OSError("disk full")
        return pq.write_table(table, where, **kw)

    monkeypatch.setattr(store.pq, "write_table", crash)
    with pytest.raises(OSError, match="disk full"):
        import_messages(EVENTS, path)
    assert _snapshot(path) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_no_email_or_phone_in_clear_in_any_written_file(tmp_path):
    path = shop(tmp_path)
    import_messages(EVENTS, path)
    with open(EVENTS, newline="") as fh:
        rows = list(csv.DictReader(fh))
    secrets = {r["Email"] for r in rows if r["Email"]} | {
        re.sub(r"\D", "", r["Phone Number"]) for r in rows if r["Phone Number"]}
    texts = []
    for f in path.rglob("*"):
        if f.suffix == ".parquet":
            df = pq.read_table(f).to_pandas()
            texts += [str(v) for c in df.columns for v in df[c].tolist()]
        elif f.is_file():
            texts.append(f.read_text())
    blob = "\n".join(texts)
    assert len(secrets) == 7  # five addresses and two phone numbers (as digits)
    assert [s for s in secrets if "@" in s and s in blob] == []
    assert [s for s in secrets if "@" not in s
            if any(s in re.sub(r"\D", "", t) for t in texts)] == []


def test_csv_format_by_a_column_map(tmp_path):
    path = shop(tmp_path)
    src = tmp_path / "sends.csv"
    pd.DataFrame({
        "id": ["m1", "m2", "m3", "m3", "m4"],
        "to": ["alice@example.com", "bob@example.com", "zoe@example.com", "zoe@example.com",
               "bob@example.com"],
        "ch": ["email", "sms", "email", "email", "email"],
        "flow": ["Cart recovery", "Seasonal promo", "Winback", "Winback", "Cart recovery"],
        "sent": ["2025-03-01T10:00:00Z", "2025-03-01T11:00:00Z", "1740909600",
                 "1740909600", "yesterday"],  # Unix seconds: 2025-03-02T10:00:00Z
        "clicked": ["2025-03-01T10:30:00Z", "", "", "", ""],
        "disc": ["10", "", "", "", ""]}).to_csv(src, index=False)
    res = import_messages(src, path, fmt="csv", mapping=(
        "message_id=id,email=to,channel=ch,campaign=flow,sent_at=sent,clicked_at=clicked,"
        "discount_pct=disc"))
    m = read_table(path, "messages").set_index("message_id")
    assert sorted(m.index) == ["m1", "m2", "m3"]
    assert res.counts["merged duplicate rows"] == 1
    assert list(res.rejects.reason) == ["sent_at is not a date and time"]
    assert m.loc["m1", "opened_at"] == m.loc["m1", "clicked_at"]  # a click opens
    assert m.loc["m1", "discount_pct"] == 10 and m.loc["m2", "discount_pct"] == 0
    assert list(m.campaign) == ["abandoned_cart", "seasonal", "winback"]
    assert (m.cost == m.channel.map({"email": 0.004, "sms": 0.035})).all()
    assert m.loc["m3", "sent_at"] == pd.Timestamp("2025-03-02T10:00:00Z")
    assert res.counts["added customers"] == 1
    with pytest.raises(ImportInputError, match="unknown field"):
        import_messages(src, path, fmt="csv", mapping="message_id=id,recipient=to")


def test_a_csv_of_sends_credits_orders_by_its_order_column(tmp_path):
    """``--format csv`` with ``order_id`` mapped (an attributed-orders report joined to its
    sends): the order is credited to the message, checked as Klaviyo's credited orders."""
    path = shop(tmp_path)
    src = tmp_path / "sends.csv"
    pd.DataFrame({
        "id": ["m5", "m6", "m7", "m8"],
        "to": ["alice@example.com", "bob@example.com", "carol@example.com",
               "alice@example.com"],
        "sent": ["2025-01-30T10:00:00Z", "2025-01-01T09:00:00Z", "2025-03-01T09:00:00Z",
                 "2025-02-02T09:00:00Z"],
        "ch": ["email"] * 4,
        "order": ["#1001", "1002", "#1003", ""]}).to_csv(src, index=False)
    res = import_messages(src, path, fmt="csv", mapping="message_id=id,email=to,channel=ch,"
                          "sent_at=sent,order_id=order")
    o = read_table(path, "orders").set_index("order_id").message_id
    assert o["#1001"] == "m5" and o["#1002"] == "m6"  # "1002" is Shopify's "#1002"
    assert o.drop(["#1001", "#1002"]).isna().all()
    assert res.counts["orders credited to a message"] == 2
    # m7's credit is refused, its send imported: the reason says which of the two
    assert list(res.rejects.reason) == [
        "order credit not applied: the credited message was sent after the order"]
    assert res.counts["order credits refused"] == 1
    assert read_table(path, "messages").message_id.tolist() == ["m5", "m6", "m7", "m8"]
    # a row whose send is refused credits nothing (one reason for it, not two); a send
    # already imported still credits an order (counted, not rejected)
    again = tmp_path / "again.csv"
    pd.DataFrame({"id": ["m9", "m9", "m5"],
                  "to": ["bob@example.com", "bob@example.com", "alice@example.com"],
                  "sent": ["2025-01-01T09:00:00Z", "2025-01-01T10:00:00Z",
                           "2025-01-30T10:00:00Z"],
                  "ch": ["email"] * 3, "order": ["", "1002", "#1001"]}).to_csv(
        again, index=False)
    res = import_messages(again, path, fmt="csv", mapping="message_id=id,email=to,"
                          "channel=ch,sent_at=sent,order_id=order")
    reasons = dict(zip(res.rejects.source_row, res.rejects.reason, strict=True))
    assert len(res.rejects) == 2 and reasons[2].startswith("the message id appears again")
    assert reasons[3].startswith("already imported")
    assert res.counts["orders already credited to this message"] == 1  # m5's #1001


def test_a_dataset_with_integer_ids_keeps_one_id_type_per_column(tmp_path):
    """Text message ids turn every message_id column to text; customers stay integers."""
    store = simulate(scenario("tiny"), seed=3)
    tables = {k: store.to_pandas(k) for k in store.tables if k != "messages"}
    for t in ("sessions", "orders"):  # a store that never sent a message
        tables[t]["message_id"] = pd.array([None] * len(tables[t]), dtype="Int64")
    path = write_dataset(tmp_path / "sim", tables)
    src = tmp_path / "sends.csv"
    pd.DataFrame({"id": ["m1", "m2", "m3"], "who": ["3", "alice@example.com", "999999"],
                  "ch": ["email", "email", "sms"],
                  "sent": ["2025-06-01T10:00:00Z"] * 3}).to_csv(src, index=False)
    res = import_messages(src, path, fmt="csv",
                          mapping="message_id=id,customer_id=who,channel=ch,sent_at=sent")
    assert sorted(read_table(path, "messages").message_id) == ["m1", "m3"]
    assert list(res.rejects.source_row) == [2] and "integers" in res.rejects.reason[0]
    for t in ("messages", "sessions", "orders"):
        assert str(pq.read_schema(path / f"{t}.parquet").field("message_id").type) == "string"
    assert str(pq.read_schema(path / "customers.parquet").field("customer_id").type) == "int64"
    c = read_table(path, "customers").set_index("customer_id")
    assert len(c) == 301 and c.loc[999999, "sms_opt_in"] and not c.loc[999999, "email_opt_in"]
    assert validate(path).ok


def test_an_export_links_to_a_store_imported_by_email(tmp_path):
    """The exporter's customer<id>@example.com is the Shopify exporter's scheme: a store
    whose customers were imported by that email gets the messages of its own buyers."""
    store = simulate(scenario("tiny"), seed=3)
    full = save_simulation(store, tmp_path / "full")
    o = store.to_pandas("orders")
    orders_csv = tmp_path / "orders_export.csv"
    pd.DataFrame({"Name": "#" + o.order_id.astype(str),
                  "Email": "customer" + o.customer_id.astype(str) + "@example.com",
                  "Created at": o.placed_at.dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z"),
                  "Total": o.revenue + o.discount_amount}).to_csv(orders_csv, index=False)
    imp = OrdersImporter(parse_map("order_id=Name,customer_id=Email,placed_at=Created at,"
                                   "revenue=Total"))
    shop_path = import_dataset(imp, imp.read(orders_csv), tmp_path / "shop",
                               manifest={"id_salt": imp.salt}).path
    events = export_dataset("klaviyo", full, tmp_path / "k")[0]
    res = import_messages(events, shop_path)
    m, ref = read_table(shop_path, "messages"), store.to_pandas("messages")
    assert len(m) == len(ref) and len(res.rejects) == 0
    salt = dataset_salt(shop_path)
    want = ref.customer_id.map(lambda c: pseudonym(f"customer{c}@example.com", salt))
    got = m.set_index("message_id").customer_id
    assert (got.loc[ref.message_id.astype(str)].to_numpy() == want.to_numpy()).all()
    buyers = set(o.customer_id)
    assert res.counts["added customers"] == len(set(ref.customer_id) - buyers)
    # the orders Klaviyo credited (Placed Order, $attributed_message) carry their message
    # again: the store's last-click attribution, order by order
    got_o = read_table(shop_path, "orders").set_index("order_id").message_id
    want_o = o.set_index("#" + o.order_id.astype(str)).message_id
    credited = want_o.dropna()
    assert len(credited) > 0
    assert res.counts["orders credited to a message"] == len(credited)
    assert (got_o.loc[credited.index].astype(str) == credited.astype("int64").astype(str)).all()
    assert got_o.drop(credited.index).isna().all()


def test_credited_orders_that_do_not_fit_are_rejected_with_the_reason(tmp_path):
    """Placed Order events (Klaviyo's attributed orders) against the fixture store: one
    credited order links; an unknown order, a message sent to someone else, a message
    sent after the order and the same order again are rejected, each with its reason."""
    path = shop(tmp_path)
    head = ("Event ID,Timestamp,Metric,Email,Phone Number,External ID,$message,"
            "Flow Name,$attributed_message,Order Name,$event_id\n")
    rows = [
        "s1,2025-02-15T10:00:00+00:00,Received Email,alice@example.com,,,AC9,Cart,,,",
        "p1,2025-02-20T16:45:00+00:00,Placed Order,alice@example.com,,,,,AC9,#1004,",
        "p2,2025-02-21T10:00:00+00:00,Placed Order,alice@example.com,,,,,AC9,#9999,",
        "p3,2025-02-03T11:30:00+00:00,Placed Order,bob@example.com,,,,,AC9,#1002,",
        "p4,2025-02-01T10:00:00+00:00,Placed Order,alice@example.com,,,,,AC9,#1001,",
        "p5,2025-02-20T16:45:00+00:00,Placed Order,alice@example.com,,,,,AC9,1004,",
        "p6,2025-02-20T16:45:00+00:00,Placed Order,alice@example.com,,,,,,#1004,",
        # the order named by the $event_id property where this row has no Order Name
        "s2,2025-02-05T08:00:00+00:00,Received Email,carol@example.com,,,AC8,Cart,,,",
        "p7,2025-02-10T09:15:00+00:00,Placed Order,carol@example.com,,,,,AC8,,1003",
    ]
    events = tmp_path / "credited.csv"
    events.write_text(head + "\n".join(rows) + "\n")
    res = import_messages(events, path)
    reasons = dict(zip(res.rejects.source_row, res.rejects.reason, strict=True))
    c = "order credit not applied: "
    assert reasons[3].startswith(c + "an order event whose order is not in the dataset")
    assert reasons[4] == c + "the credited message was sent to another customer than the order's"
    assert reasons[5] == c + "the credited message was sent after the order"
    assert reasons[6].startswith(c + "the same order credited again")  # 1004 without "#"
    assert reasons[7].startswith("an order event credited to no message")
    assert 2 not in reasons and 9 not in reasons
    assert res.counts["orders credited to a message"] == 2
    o = read_table(path, "orders").set_index("order_id").message_id
    m = read_table(path, "messages").set_index("message_id").customer_id
    assert set(m.index) == {"AC9", "AC8"}
    assert o["#1004"] == "AC9" and o["#1003"] == "AC8"
    assert o.drop(["#1004", "#1003"]).isna().all()
    # importing the same file again changes nothing: the orders are already credited
    again = import_messages(events, path)
    assert again.counts.get("orders credited to a message", 0) == 0
    assert again.counts["orders already credited to this message"] == 2


FUNNEL = ["sent", "delivered", "opened", "clicked", "unsubscribed"]


def funnel(m: pd.DataFrame) -> pd.DataFrame:
    return m.assign(sent=1, opened=m.opened_at.notna(), clicked=m.clicked_at.notna(),
                    unsubscribed=m.unsubscribed_at.notna()).groupby(
        ["campaign", "channel"])[FUNNEL].sum().astype(int)


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """simulate -> dataset -> export klaviyo -> the dataset without messages -> import."""
    tmp = tmp_path_factory.mktemp("rt")
    store = simulate(scenario("small"), seed=3)
    full = save_simulation(store, tmp / "full", scenario="small")
    files = export_dataset("klaviyo", full, tmp / "export", layout="current")
    info = load_manifest(full)
    keep = {k: v for k, v in info.items() if k in ("generator", "seed", "config",
                                                     "scenario")}
    bare = write_dataset(tmp / "bare", {k: v for k, v in store.tables.items()
                                        if k != "messages"}, truth=store.truth, manifest=keep)
    res = import_messages(files[0], bare)
    return store, res, files[0], full


def test_round_trip_gives_back_the_canonical_messages(round_trip):
    store, res, events, _ = round_trip
    ref = store.to_pandas("messages")
    got = read_table(res.path, "messages")
    with open(events, newline="") as fh:
        n_events = sum(1 for _ in csv.DictReader(fh))
    assert res.counts["events"] == n_events and len(res.rejects) == 0
    # no email click lacks an open in the canonical data (the schema forbids it), so
    # the importer's click-opens fix changes nothing here; SMS opens are not carried
    assert ref[(ref.channel == "sms")].opened_at.isna().all()
    pd.testing.assert_frame_equal(funnel(got), funnel(ref))
    a = ref.set_index("message_id").sort_index()
    b = got.set_index("message_id").sort_index()
    for c in ("customer_id", "sent_at", "opened_at", "clicked_at", "unsubscribed_at"):
        pd.testing.assert_series_equal(b[c], a[c], check_dtype=False)
    assert funnel(ref).unsubscribed.sum() > 0 and (~ref.delivered).sum() > 0
    assert res.counts["added customers"] == 0 and validate(res.path).ok
    info = load_manifest(res.path)
    assert {n for n in info["files"] if n.startswith("truth/")} == {
        f"truth/{n}" for n in store.truth}
    assert info["scenario"] == "small" and info["config"] == load_manifest(
        res.path.parent / "full")["config"] and info["id_salt"]


def test_last_click_comes_back_from_the_credited_orders(tmp_path_factory, round_trip):
    """A store whose orders carry no message (an orders export) gets the platform's
    credited orders from the events: last click by campaign equals the simulated store's."""
    import pyarrow as pa

    store, _, events, full = round_trip
    tmp = tmp_path_factory.mktemp("lc")
    tables = dict(store.tables)
    o = tables["orders"]
    tables["orders"] = o.set_column(o.column_names.index("message_id"), "message_id",
                                    pa.nulls(len(o), o.schema.field("message_id").type))
    bare = write_dataset(tmp / "bare", {k: v for k, v in tables.items() if k != "messages"},
                         truth=store.truth)
    res = import_messages(events, bare)
    n = int(store.to_pandas("orders").message_id.notna().sum())
    assert res.counts["orders credited to a message"] == n > 0 and len(res.rejects) == 0
    from workbench.analyses.holdouts.efficiency import last_click
    from workbench.store import open_dataset

    want = last_click(open_dataset(full), by_stage=False)
    got = last_click(open_dataset(res.path), by_stage=False)
    cols = ["campaign", "channel", "sent", "orders", "revenue"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True),
                                  want[cols].reset_index(drop=True), check_dtype=False)


def test_operations_analysis_runs_on_the_imported_messages(round_trip):
    _, res, _, full = round_trip
    ops = get("operations")
    got = ops(Context.open(res.path, echo=lambda _m: None))
    assert not isinstance(got, Skipped), got
    ref = ops(Context.open(full, echo=lambda _m: None))
    assert len(got.funnel) > 0
    # the latest cycle's funnel is the one the simulated store itself gives
    pd.testing.assert_frame_equal(got.funnel, ref.funnel)
    cols = [c for c in ref.weekly.columns if "message" in c or c in ("revenue", "orders")]
    pd.testing.assert_frame_equal(got.weekly[cols], ref.weekly[cols])


def test_cli_export_and_import(tmp_path, round_trip):
    _, res, _, _ = round_trip
    runner = CliRunner()
    out = runner.invoke(main, ["export", "klaviyo", str(res.path), "--out",
                               str(tmp_path / "k")])
    assert out.exit_code == 0, out.output
    path = shop(tmp_path)
    bad = runner.invoke(main, ["import", "messages", str(FIX / "orders.csv"), "--into",
                               str(path)])
    assert bad.exit_code == 2 and "orders.csv" in bad.output and "Metric" in bad.output
    ok = runner.invoke(main, ["import", "messages", str(EVENTS), "--into", str(path),
                              "--cost", "email=0.002,sms=0.05"])
    assert ok.exit_code == 0, ok.output
    assert "added customers 2" in ok.output and "messages kept 11" in ok.output
    m = read_table(path, "messages")
    assert set(m.loc[m.channel == "email", "cost"]) == {0.002}
    assert set(m.loc[m.channel == "sms", "cost"]) <= {0.05}
    bad = runner.invoke(main, ["import", "messages", str(EVENTS), "--into", str(path),
                               "--cost", "email=cheap"])
    assert bad.exit_code == 2 and "--cost" in bad.output


def test_value_by_acquisition_campaign_runs_on_an_imported_store(tmp_path, shopify_round_trip):
    """A store whose cart reminders acquire customers, exported to Shopify and Klaviyo
    files and imported back: each customer's acquisition campaign (the message their first
    order is credited to) is the simulated store's, customer by customer."""
    from workbench.analyses.clv.analysis import acquisition_campaigns
    from workbench.store import open_dataset

    store = simulate(scenario("small", n_customers=3000,
                              carts={"abandon_first_purchase": 0.4}), seed=4)
    full = save_simulation(store, tmp_path / "full")
    _, shop_path = shopify_round_trip(full, tmp_path)
    events = export_dataset("klaviyo", full, tmp_path / "k")[0]
    res = import_messages(events, shop_path)
    assert res.counts["orders credited to a message"] == int(
        store.to_pandas("orders").message_id.notna().sum())
    want = acquisition_campaigns(open_dataset(full))
    assert (want.acquisition_campaign == "abandoned_cart").sum() >= 10
    salt = dataset_salt(shop_path)
    want = want.assign(customer_id=want.customer_id.map(
        lambda c: pseudonym(f"customer{c}@example.com", salt)))
    got = acquisition_campaigns(open_dataset(shop_path))
    pd.testing.assert_frame_equal(
        got.sort_values("customer_id").reset_index(drop=True),
        want.sort_values("customer_id").reset_index(drop=True), check_dtype=False)
