"""The store's flows and funnel measured as a platform reports them, against published ranges.

Email and SMS platforms publish what their customers' flows and campaigns achieve;
a marketer compares a store with those figures, and the simulator is calibrated to
them (issue 21: a simulated store that is rosier than real ones makes every decision
tuned on it rosier too).  :func:`platform_metrics` measures a dataset the way the
platforms count:

* rates per **delivered** message (Klaviyo's "recipients"), by campaign and channel:
  open (machine opens included, as platforms report them by default), click,
  unsubscribe, **placed-order rate** (orders that carry the message's id — the
  platform's attribution — per delivered message) and **revenue per recipient**;
* store level: **cart abandonment** (sessions with an ``add_to_cart`` and no
  ``purchase``), the **repeat-purchase rate** (buyers with two or more orders) and
  the **average order value**.

:data:`BENCHMARKS` holds the published ranges, each with its source and definition;
:func:`against_benchmarks` puts a store's figures beside them.  Where a range is the
project's own reading of several publications (no single source publishes it), its
``basis`` says so.  The full survey, with quotes, is in the README ("The simulated
store, calibrated").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .features import cart_abandonment, headline, message_engagement

KLAVIYO_2024 = ("Klaviyo, The 2024 Benchmark Report (2023 data), "
                "https://resources.klaviyo.com/2024-benchmark-report/p/4")
KLAVIYO_SMS = ("Klaviyo Help Center, Campaign SMS and MMS benchmarks ('Good' tier), "
               "https://help.klaviyo.com/hc/en-us/articles/360051110111")
POSTSCRIPT = "Postscript, SMS benchmarks (2020 edition), https://www.postscript.io/sms-benchmarks/"
MAILCHIMP = ("Mailchimp, Email Marketing Benchmarks by Industry (e-commerce, 2019), "
             "https://mailchimp.com/resources/email-marketing-benchmarks/")
BAYMARD = ("Baymard Institute, Cart abandonment rate statistics (average of 46 studies, "
           "69.82%), https://baymard.com/lists/cart-abandonment-rate")
METRILO = "Metrilo, Retention rate by niche (average 28%), https://metrilo.com/glossary/retention-rate"
OBERLO = ("Oberlo, Average order value by industry (2024), "
          "https://oberlo.com/statistics/average-order-value-by-industry")
OMNISEND = ("Omnisend, Email, SMS and push marketing statistics H1 2021, "
            "https://www.omnisend.com/resources/reports/email-sms-push-marketing-statistics-h1-2021/")


@dataclass(frozen=True)
class Benchmark:
    """A published range for one metric of one scope (campaign/channel, or the store)."""

    scope: str
    metric: str
    low: float
    high: float
    typical: float | None
    definition: str
    source: str
    basis: str = "published"
    #: the vertical the range is published for (``None``: any store)
    vertical: str | None = None


def _b(scope, metric, low, high, typical, definition, source, basis="published",
       vertical=None):
    return Benchmark(scope, metric, low, high, typical, definition, source, basis, vertical)


SMS_TIERS = "Klaviyo's tiers 'room for improvement' and 'good'"
PER_RECIPIENT = ("per delivered message; orders attributed to the message by the platform "
                 "(Klaviyo: within 5 days of an open or click)")
#: published ranges.  Scopes are ``campaign/channel`` (the workbench's campaign names) or
#: ``store``; ``seasonal`` is a one-off campaign send, the others are automated flows.
BENCHMARKS: tuple[Benchmark, ...] = (
    # abandoned cart, email: RPR published; its order rate derived from RPR / AOV
    _b("abandoned_cart/email", "revenue_per_recipient", 2.50, 5.00, 3.65, PER_RECIPIENT,
       KLAVIYO_2024),
    _b("abandoned_cart/email", "placed_order_rate", 0.025, 0.05, 0.035, PER_RECIPIENT,
       KLAVIYO_2024, "revenue per recipient $3.65 / order value ~$100; Omnisend 2017: 3.6% "
       "of sent abandoned-cart emails led to an order"),
    _b("abandoned_cart/email", "open_rate", 0.40, 0.55, None, "opens / delivered",
       "Klaviyo 2017 (41.2%, before Apple's privacy opens); Omnisend 2018 (46.8%)",
       "relayed"),
    _b("abandoned_cart/email", "click_rate", 0.05, 0.10, None, "clicks / delivered",
       OMNISEND + " (5.8%); Klaviyo 2017 (9.5%)"),
    _b("abandoned_cart/sms", "click_rate", 0.10, 0.20, 0.162, "clicks / delivered",
       POSTSCRIPT),
    _b("abandoned_cart/sms", "placed_order_rate", 0.05, 0.12, 0.091,
       "orders / delivered messages", POSTSCRIPT),
    # browse abandonment
    _b("browse_abandonment/email", "revenue_per_recipient", 0.75, 1.50, 1.07, PER_RECIPIENT,
       KLAVIYO_2024),
    _b("browse_abandonment/email", "placed_order_rate", 0.007, 0.015, None, PER_RECIPIENT,
       KLAVIYO_2024, "revenue per recipient $1.07 / order value ~$100"),
    _b("browse_abandonment/email", "click_rate", 0.03, 0.08, None, "clicks / delivered",
       OMNISEND + " (8.5%)", "relayed"),
    # post-purchase
    _b("post_purchase/email", "revenue_per_recipient", 0.25, 0.60, 0.41, PER_RECIPIENT,
       KLAVIYO_2024),
    _b("post_purchase/email", "placed_order_rate", 0.003, 0.007, None, PER_RECIPIENT,
       KLAVIYO_2024, "revenue per recipient $0.41 / order value ~$100"),
    _b("post_purchase/email", "click_rate", 0.02, 0.06, None, "clicks / delivered",
       OMNISEND + " (5.0%)", "relayed"),
    # replenishment: no published figure of its own; every flow, median to top tenth
    _b("replenishment/email", "placed_order_rate", 0.014, 0.0571, 0.0171, PER_RECIPIENT,
       KLAVIYO_2024, "all flows: median 1.71%, top 10% 5.71% (no replenishment figure is "
       "published)"),
    # every email flow
    _b("flows/email", "open_rate", 0.45, 0.60, 0.5204, "opens / delivered, machine opens "
       "included", KLAVIYO_2024),
    _b("flows/email", "unsubscribe_rate", 0.001, 0.008, None, "unsubscribes / delivered",
       KLAVIYO_2024, "Klaviyo 2024 all flows 0.73% (upper end); campaigns 0.1-0.3%"),
    # one-off campaigns (the seasonal sends)
    _b("seasonal/email", "open_rate", 0.30, 0.45, 0.379, "opens / delivered, machine opens "
       "included", "Klaviyo 2024 via Omnisend and Viaduct relays (37.9%)", "relayed"),
    _b("seasonal/email", "click_rate", 0.008, 0.025, 0.0169, "clicks / delivered",
       MAILCHIMP + "; Klaviyo 2026 via relays (1.69%)", "relayed"),
    _b("seasonal/email", "placed_order_rate", 0.0005, 0.004, 0.0016, PER_RECIPIENT,
       "Klaviyo 2026 via relays (0.16%)", "relayed; upper end widened for sale events"),
    _b("seasonal/email", "revenue_per_recipient", 0.05, 0.40, 0.11, PER_RECIPIENT,
       KLAVIYO_2024, "campaign average $0.11; upper end widened for sale events"),
    _b("seasonal/email", "unsubscribe_rate", 0.0005, 0.003, None, "unsubscribes / delivered",
       MAILCHIMP),
    # SMS campaigns: Klaviyo publishes tiers; real stores span "room for improvement" to
    # "good" (the tails are "critical" and "great"); Postscript's means sit inside
    _b("seasonal/sms", "click_rate", 0.06, 0.145, 0.098, "clicks / delivered",
       KLAVIYO_SMS + "; " + POSTSCRIPT, SMS_TIERS + " (6.0-8.8% and 8.9-14.5%); Postscript's "
       "mean 9.8%"),
    _b("seasonal/sms", "placed_order_rate", 0.005, 0.02, 0.014, "orders / delivered messages",
       KLAVIYO_SMS + "; " + POSTSCRIPT, SMS_TIERS + " (0.5-0.9% and 1.0-2.0%); Postscript's "
       "mean 1.4%"),
    _b("seasonal/sms", "revenue_per_recipient", 0.18, 2.41, 1.04, "revenue / delivered",
       KLAVIYO_SMS + "; " + POSTSCRIPT, SMS_TIERS + " ($0.18-0.65 and $0.66-2.41); "
       "Postscript's mean $1.04"),
    _b("seasonal/sms", "unsubscribe_rate", 0.005, 0.015, 0.009, "opt-outs / delivered",
       KLAVIYO_SMS + "; " + POSTSCRIPT),
    # the store
    _b("store", "cart_abandonment_rate", 0.68, 0.75, 0.70, "carts (sessions with "
       "add_to_cart) that ended without a purchase", BAYMARD),
    _b("store", "repeat_purchase_rate", 0.20, 0.36, 0.28, "buyers with two or more orders "
       "/ buyers, over about a year", METRILO),
    _b("store", "average_order_value", 70.0, 200.0, None, "revenue / orders (USD; apparel "
       "$140-200, beauty $70-80, food & beverage $90-115)", OBERLO),
    _b("store", "average_order_value", 140.0, 200.0, 196.0, "revenue / orders (USD)", OBERLO,
       vertical="apparel"),
    _b("store", "average_order_value", 60.0, 85.0, 71.0, "revenue / orders (USD)", OBERLO,
       vertical="beauty"),
    _b("store", "average_order_value", 85.0, 120.0, 114.0, "revenue / orders (USD; food & "
       "beverage)", OBERLO, vertical="consumables"),
)
#: the verticals some range is published for (the simulator has a scenario of each name)
BENCHMARK_VERTICALS = tuple(sorted({b.vertical for b in BENCHMARKS if b.vertical}))

#: the order value the all-industry revenue-per-recipient ranges go with (the placed-order
#: ranges derived from them assume it too); a vertical's ranges are scaled by its own
REFERENCE_AOV = 100.0

FLOW_CAMPAIGNS = ("abandoned_cart", "browse_abandonment", "post_purchase", "replenishment")


def platform_metrics(con) -> pd.DataFrame:
    """The dataset's figures as a platform reports them: ``scope, metric, value, n``.

    ``n`` is the denominator (delivered messages, carts, buyers or orders), so a reader
    can tell a rate on 40 messages from one on 40,000.  Needs ``orders`` and
    ``customers``; messages and events add their rows when present.
    """
    tables = set(con.list_tables())
    return overview_metrics(
        message_engagement(con) if "messages" in tables else None,
        cart_abandonment(con) if {"events", "sessions"} <= tables else None, headline(con))


def overview_metrics(messages: pd.DataFrame | None, abandonment: pd.DataFrame | None,
                     kpis: dict) -> pd.DataFrame:
    """:func:`platform_metrics` from the overview's own tables (computed once, for both).

    ``messages`` is :func:`~.features.message_engagement`, ``abandonment``
    :func:`~.features.cart_abandonment` and ``kpis`` :func:`~.features.headline`; a
    missing table is ``None``.
    """
    rows = []
    if messages is not None:
        eng = messages
        for r in eng.itertuples():
            scope = f"{r.campaign}/{r.channel}"
            d = r.delivered
            vals = {"click_rate": r.click_rate, "unsubscribe_rate": r.unsubscribe_rate,
                    "placed_order_rate": r.orders / d if d else np.nan,
                    "revenue_per_recipient": r.order_revenue / d if d else np.nan}
            if r.channel == "email":
                vals["open_rate"] = r.open_rate
            rows += [(scope, k, float(v), int(d)) for k, v in vals.items()]
        flows = eng[eng.campaign.isin(FLOW_CAMPAIGNS) & (eng.channel == "email")]
        d = int(flows.delivered.sum())
        if d:
            rows += [("flows/email", "open_rate", float(flows.opened.sum() / d), d),
                     ("flows/email", "unsubscribe_rate", float(flows.unsubscribed.sum() / d), d)]
    if abandonment is not None:
        carts = int(abandonment.cart_sessions.sum())
        if carts:
            rows.append(("store", "cart_abandonment_rate",
                         float(abandonment.abandoned.sum() / carts), carts))
    k = kpis
    rows += [("store", "repeat_purchase_rate", k["repeat_buyer_share"], k["buyers"]),
             ("store", "average_order_value", k["average_order_value"], k["orders"])]
    return pd.DataFrame(rows, columns=["scope", "metric", "value", "n"])


def against_benchmarks(metrics: pd.DataFrame, vertical: str | None = None,
                       benchmarks: tuple[Benchmark, ...] = BENCHMARKS) -> pd.DataFrame:
    """Each benchmarked metric of the store beside its published range.

    ``inside`` is whether the value lies in ``[low, high]``; ``ratio`` is the value over
    the typical published figure (or the range's middle).  With ``vertical``, a range
    published for that vertical replaces the general one.  Metrics without a published
    range, and ranges the store has no data for, are left out.
    """
    if vertical is not None and vertical not in BENCHMARK_VERTICALS:
        raise ValueError(f"no benchmarks for vertical {vertical!r}; known: "
                         f"{list(BENCHMARK_VERTICALS)}")
    bench = pd.DataFrame([asdict(b) for b in benchmarks])
    own = bench[bench.vertical == vertical] if vertical else bench.iloc[:0]
    general = bench[bench.vertical.isna()]
    general = general[~general.set_index(["scope", "metric"]).index.isin(
        own.set_index(["scope", "metric"]).index)]
    bench = pd.concat([own, general], ignore_index=True)
    if vertical:  # revenue per recipient scales with the vertical's order value
        aov = own[(own.scope == "store") & (own.metric == "average_order_value")].typical
        rpr = bench.metric == "revenue_per_recipient"
        if len(aov) and rpr.any():
            bench.loc[rpr, ["low", "high", "typical"]] *= float(aov.iloc[0]) / REFERENCE_AOV
            bench.loc[rpr, "basis"] += f"; scaled to the {vertical} order value"
    out = metrics.merge(bench, on=["scope", "metric"], how="inner")
    mid = out["typical"].fillna((out["low"] + out["high"]) / 2)
    out["inside"] = (out["value"] >= out["low"]) & (out["value"] <= out["high"])
    out["ratio"] = out["value"] / mid
    return out[["scope", "metric", "value", "low", "high", "typical", "inside", "ratio", "n",
                "definition", "source", "basis", "vertical"]]
