"""The randomized discount experiment as an analysis table, with observable segments.

One row per randomized unit (a customer in one seasonal send), built as an Ibis
expression from ``assignments`` (``unit_type = 'customer'``, arms named like
``"10%"``), ``orders`` and ``customers``:

* the offered discount (a fraction in [0, 1)) and when it was assigned;
* whether the customer bought within ``window_days`` after the assignment,
  and the revenue, goods cost and discount of that first order;
* every order in the window: their number and their margin (revenue paid, net of
  the discount, less goods cost) — what the store earns, the margin model's outcome;
* behaviour observable *before* the send, from which segments are built:
  past discount use, number of past orders, average order value, days since
  the last order, tenure and acquisition channel.

Segments must come from observable behaviour (never the simulator's latent
price-sensitivity segment); :func:`segment_units` implements the default rule.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
from ibis import _

from ...engines import epoch_s
from ...segments import SEGMENT_DIMENSIONS, Segmentation
from ...store import require_tables


def discount_units(con, window_days: float = 7.0, experiment_prefix: str = "seasonal_discount",
                   unit_type: str = "customer"):
    """The experiment table as an Ibis expression (``.execute()`` for pandas).

    Parameters
    ----------
    con
        A connection from :func:`workbench.store.open_dataset`.
    window_days
        Days after the assignment in which a purchase counts as a conversion.
    experiment_prefix
        Experiments whose name starts with this are the discount experiments.
    unit_type
        The assignments' ``unit_type``: ``"customer"`` (a seasonal send) or ``"cart"``
        (:func:`cart_discount_units`); a unit is one (experiment, customer, assignment
        time), so a customer with two randomized carts is two units.
    """
    require_tables(con, "discount units", {
        "assignments": ("experiment", "unit_type", "customer_id", "arm", "assigned_at"),
        "orders": ("order_id", "customer_id", "placed_at", "revenue", "discount_amount"),
        "order_items": ("order_id", "quantity", "unit_cost"),
        "customers": ("customer_id", "signup_at", "acquisition_channel")})
    a, o, oi, c = (con.table(n) for n in ("assignments", "orders", "order_items", "customers"))
    units = (a.filter((a.unit_type == unit_type) & a.experiment.startswith(experiment_prefix))
             .select("experiment", "customer_id", "arm", sent_at=a.assigned_at)
             .mutate(discount=_.arm.re_extract(r"^([0-9.]+)%$", 1).cast("float64") / 100))
    window = ibis.interval(seconds=int(window_days * 86400))
    goods = oi.group_by("order_id").aggregate(goods_cost=(_.quantity * _.unit_cost).sum())
    orders = o.join(goods, "order_id").select(
        "order_id", ocid=o.customer_id, placed=o.placed_at, rev=o.revenue,
        disc=o.discount_amount, cost=_.goods_cost)
    u = units.select("experiment", ucid="customer_id", sent="sent_at")
    after = u.join(orders, (u.ucid == orders.ocid) & (orders.placed > u.sent)
                   & (orders.placed <= u.sent + window))
    first = after.group_by("experiment", "ucid", "sent").aggregate(
        converted_at=_.placed.min(), order_id=_.order_id.argmin(_.placed),
        revenue=_.rev.argmin(_.placed), discount_amount=_.disc.argmin(_.placed),
        goods_cost=_.cost.argmin(_.placed), window_orders=_.count(),
        window_margin=(_.rev - _.cost).sum())
    before = u.join(orders, (u.ucid == orders.ocid) & (orders.placed < u.sent))
    hist = before.group_by("experiment", "ucid", "sent").aggregate(
        prior_orders=_.count(), prior_revenue=_.rev.sum(),
        prior_discounted_orders=(_.disc > 0).cast("int64").sum(), last_order_at=_.placed.max())
    out = (units.left_join(first, (units.experiment == first.experiment)
                           & (units.customer_id == first.ucid) & (units.sent_at == first.sent))
           .select(~ibis.selectors.matches(r"(_right$|^ucid$|^sent$)")))
    out = (out.left_join(hist, (out.experiment == hist.experiment)
                         & (out.customer_id == hist.ucid) & (out.sent_at == hist.sent))
           .select(~ibis.selectors.matches(r"(_right$|^ucid$|^sent$)")))
    cs = c.select(ccid="customer_id", signup_at="signup_at",
                  acquisition_channel="acquisition_channel")
    out = out.join(cs, out.customer_id == cs.ccid).drop("ccid")
    sent_s = epoch_s(out.sent_at)
    return out.select(
        "experiment", "customer_id", "arm", "discount", "sent_at",
        converted=out.converted_at.notnull().cast("int8"), converted_at=out.converted_at,
        order_id=out.order_id, revenue=out.revenue.fill_null(0.0),
        discount_amount=out.discount_amount.fill_null(0.0),
        goods_cost=out.goods_cost.fill_null(0.0),
        window_orders=out.window_orders.fill_null(0),
        window_margin=out.window_margin.fill_null(0.0),
        prior_orders=out.prior_orders.fill_null(0),
        prior_discounted_orders=out.prior_discounted_orders.fill_null(0),
        prior_aov=ibis.ifelse(out.prior_orders.fill_null(0) > 0,
                              out.prior_revenue / out.prior_orders, ibis.null("float64")),
        recency_days=(sent_s - epoch_s(out.last_order_at)) / 86400,
        tenure_days=(sent_s - epoch_s(out.signup_at)) / 86400,
        acquisition_channel=out.acquisition_channel,
    ).order_by("experiment", "customer_id", "sent_at")


def cart_discount_units(con, window_days: float = 7.0):
    """The abandoned-cart discount experiment's units: one row per randomized cart.

    The simulator's ``abandoned_cart.discount_arms_pct`` randomizes the discount of the
    cart reminder (experiment ``abandoned_cart_discount``, ``unit_type = 'cart'``); a store
    that runs such a test records it the same way.  Same columns as
    :func:`discount_units`; the window starts at the cart's abandonment.
    """
    return discount_units(con, window_days, experiment_prefix="abandoned_cart_discount",
                          unit_type="cart")


def segment_units(units: pd.DataFrame, aov_split: float | None = None,
                  recency_split_days: float = 60.0,
                  by: tuple[str, ...] = ("deal", "value", "recency"),
                  segmentation: Segmentation | None = None) -> pd.Series:
    """The observable segmentation; by default 2 × 2 × 2 = 8 segments.

    The definition is :class:`workbench.segments.Segmentation` (the simulator applies
    the same one when a discount rule is replayed).  Dimensions (``by``, in this order
    in the label, joined by ``-``):

    * ``deal``: ``deal`` / ``full`` — the customer used a discount on some earlier order;
    * ``value``: ``hi`` / ``lo`` — earlier average order value above ``aov_split``
      (default: its median over the units);
    * ``recency``: ``recent`` / ``lapsed`` — last order within ``recency_split_days``;
    * ``channel``: the acquisition channel (e.g. ``paid_search``).

    Customers with no earlier order count as ``full``, ``lo`` and ``lapsed``.
    ``segmentation`` replaces the three keyword arguments.
    """
    if segmentation is None:
        unknown = [b for b in by if b not in SEGMENT_DIMENSIONS]
        if unknown or not by:
            raise ValueError(f"segment_units: by must be a non-empty subset of "
                             f"{SEGMENT_DIMENSIONS}; got {list(by)}")
        segmentation = Segmentation(by=tuple(by), aov_split=aov_split,
                                    recency_split_days=recency_split_days)
    missing = sorted(set(segmentation.needs()) - set(units.columns))
    if missing:
        raise ValueError(f"discount units: missing columns {missing}")
    cols = {c: units[c].to_numpy() for c in segmentation.needs()}
    return pd.Series(segmentation.labels(**cols), index=units.index, name="segment")


def discount_counts(units: pd.DataFrame, segment: pd.Series | str = "segment") -> pd.DataFrame:
    """Sufficient statistics: trials and conversions per segment × discount level."""
    seg = units[segment] if isinstance(segment, str) else segment
    g = (units.assign(segment=seg).groupby(["segment", "discount"], observed=True)
         .agg(n=("converted", "size"), conversions=("converted", "sum"),
              revenue=("revenue", "sum"), goods_cost=("goods_cost", "sum"))
         .reset_index())
    return g


def segment_features(segments) -> pd.DataFrame:
    """Numeric features of segment labels made by :func:`segment_units`, for pooling.

    Index: segment.  A 0/1 column per binary dimension present in the labels
    (``deal``, ``high_value``, ``recent``) and one 0/1 column per acquisition
    channel after the first (alphabetical) when labels carry a channel.
    """
    segs = sorted(set(segments))
    flags = {"deal": ("deal", "full"), "high_value": ("hi", "lo"),
             "recent": ("recent", "lapsed")}
    cols: dict[str, list[int]] = {}
    channels: list[str | None] = []
    for s in segs:
        rest = []
        for tok in s.split("-"):
            for name, (yes, no) in flags.items():
                if tok in (yes, no):
                    cols.setdefault(name, []).append(int(tok == yes))
                    break
            else:
                rest.append(tok)
        if len(rest) > 1:
            raise ValueError(f"segment_features expects labels made by segment_units "
                             f"(e.g. 'deal-hi-recent'); cannot read {s!r}")
        channels.append(rest[0] if rest else None)
    if not cols and all(c is None for c in channels) or any(
            len(v) != len(segs) for v in cols.values()):
        raise ValueError("segment_features expects labels made by segment_units "
                         "(e.g. 'deal-hi-recent'), the same dimensions in every label")
    out = pd.DataFrame(cols, index=pd.Index(segs, name="segment"))
    if any(c is not None for c in channels):
        if any(c is None for c in channels):
            raise ValueError("segment_features: some labels carry a channel and some do not")
        for ch in sorted(set(channels))[1:]:
            out[f"channel_{ch}"] = [int(c == ch) for c in channels]
    if out.shape[1] == 0:
        raise ValueError(f"segment_features: labels {segs[:3]} carry nothing to pool on; "
                         "expected labels made by segment_units (e.g. 'deal-hi-recent')")
    return out.astype(int)


def segment_economics(units: pd.DataFrame, segments=None) -> pd.DataFrame:
    """Average order value before discount, goods cost per order, and offer redemption.

    Measured on the experiment's own converting orders; a segment with no
    conversion gets the average of the others.  Columns: ``segment, order_value,
    goods_cost, redemption`` — what :func:`workbench.analyses.discount.model.decide_discounts`
    needs.

    ``redemption`` is the share of customers who would have bought anyway that use
    the discount they were offered (a code they never saw is not redeemed, so it is
    below 1 — about the share who open or click).  Buyers the offer *caused* redeem it;
    so in an arm offering ``d > 0`` the converting orders without a discount are
    anyway-buyers who did not redeem, and their expected number is
    ``n_d × P(buy | 0) × (1 − redemption)``.  The moment estimator, pooled over
    segments and levels (it is a property of how offers are delivered, not of price
    sensitivity, and per segment it would be noisy)::

        redemption = 1 − Σ_{s, d>0} nonredeemed_{s,d} / Σ_{s, d>0} n_{s,d} × p0_s

    with ``p0_s`` the segment's conversion rate in the no-discount arm, clipped to
    [0, 1]; 1 (every converter paid the discount, the conservative value) when there
    is no no-discount arm to compare with.
    """
    need = {"segment", "converted", "revenue", "discount_amount", "goods_cost", "discount"}
    missing = need - set(units.columns)
    if missing:
        raise ValueError(f"discount units: missing columns {sorted(missing)}")
    conv = units[units.converted == 1]
    econ = pd.DataFrame({
        "order_value": (conv.revenue + conv.discount_amount).groupby(conv.segment).mean(),
        "goods_cost": conv.goods_cost.groupby(conv.segment).mean()})
    segs = sorted(units.segment.unique()) if segments is None else list(segments)
    econ = econ.reindex(segs)
    if econ.isna().all().any():
        raise ValueError("discount units: no converting order in any segment; the order value "
                         "and goods cost cannot be measured")
    econ = econ.fillna(econ.mean())
    econ["redemption"] = offer_redemption(units)
    return econ.rename_axis("segment").reset_index()


def offer_redemption(units: pd.DataFrame) -> float:
    """The pooled share of anyway-buyers who redeem an offered discount (see above)."""
    missing = sorted({"segment", "discount", "converted", "discount_amount"} - set(units.columns))
    if missing:
        raise ValueError(f"discount units: missing columns {missing}")
    bad = units.index[(units.discount < 0) | (units.discount >= 1)].tolist()
    if bad:
        raise ValueError(f"discount units: column 'discount' must be a fraction in [0, 1); "
                         f"rows {bad[:10]}")
    zero = units[units.discount == 0]
    if zero.empty:
        return 1.0
    p0 = zero.groupby("segment").converted.mean()
    offered = units[units.discount > 0]
    p0_of = offered.segment.map(p0).fillna(zero.converted.mean())
    expected_anyway = float(p0_of.sum())
    if expected_anyway <= 0:
        return 1.0
    nonredeemed = float(((offered.converted == 1) & (offered.discount_amount <= 0)).sum())
    return float(np.clip(1.0 - nonredeemed / expected_anyway, 0.0, 1.0))


def offer_audience(con, window_days: float = 7.0, active_days: float = 365.0,
                   weeks: int = 12) -> dict:
    """Who a seasonal offer would reach and how often they buy anyway, from the orders.

    ``customers``: customers with an order in the ``active_days`` before the last order
    (opted in to email, where the customers table says; ``consent_known`` is False
    when no customer has opted in, as in a GA4 import, and all of them count);
    ``baseline``: the share of them who buy in a ``window_days`` window, averaged over
    the last ``weeks`` windows
    — the no-discount arm's conversion rate a discount test would be measured against;
    ``margin_mean`` and ``margin_sd``: the mean and standard deviation of a customer's
    margin in such a window (zero without an order; revenue less goods cost, where
    ``order_items`` has any ``unit_cost`` — ``costs_known`` — else revenue) — what a test
    on margin is sized with (:mod:`.power`).
    """
    require_tables(con, "offer audience", {
        "orders": ("customer_id", "placed_at", "order_id", "revenue"),
        "customers": ("customer_id",)})
    o, c = con.table("orders"), con.table("customers")
    last = o.placed_at.max().execute()
    start = last - pd.Timedelta(days=active_days)
    active = o.filter(o.placed_at > start).select("customer_id").distinct()
    # a dataset where nobody opted in does not know consent (GA4 has none): size the
    # test on every active customer then, and say so
    consent = "email_opt_in" in c.columns and bool(c.email_opt_in.any().execute())
    if consent:
        opted = c.filter(c.email_opt_in).select("customer_id")
        active = active.semi_join(opted, "customer_id")
    n = int(active.count().execute())
    recent = o.filter(o.placed_at > last - pd.Timedelta(days=window_days * weeks)).semi_join(
        active, "customer_id")
    costs_known = False
    if "order_items" in con.list_tables():
        oi = con.table("order_items")
        if {"order_id", "quantity", "unit_cost"} <= set(oi.columns):
            costs_known = bool(oi.unit_cost.notnull().any().execute())
            goods = oi.group_by("order_id").aggregate(
                goods=(_.quantity * _.unit_cost.fill_null(0.0)).sum())
            recent = recent.left_join(goods, "order_id").select(
                "customer_id", "placed_at", margin=_.revenue - _.goods.fill_null(0.0))
    if "margin" not in recent.columns:
        recent = recent.select("customer_id", "placed_at", margin=_.revenue)
    secs = window_days * 86400
    age = ((epoch_s(ibis.literal(last)) - epoch_s(recent.placed_at)) // secs)
    cw = (recent.mutate(window=age.cast("int64"))
          .group_by("window", "customer_id").aggregate(m=_.margin.sum())
          .aggregate(buyers=_.count(), s1=_.m.sum(), s2=(_.m * _.m).sum()).execute())
    cells = weeks * n  # customer-windows, most without an order (margin 0)
    buyers, s1, s2 = (float(cw[k].fillna(0).iloc[0]) for k in ("buyers", "s1", "s2"))
    nan = float("nan")
    mean = s1 / cells if cells else nan
    sd = float(np.sqrt(max(s2 / cells - mean**2, 0.0) * cells / max(cells - 1, 1))) if cells \
        else nan
    return {"customers": n, "baseline": buyers / cells if cells else nan,
            "window_days": window_days, "consent_known": consent, "margin_mean": mean,
            "margin_sd": sd, "costs_known": costs_known}
