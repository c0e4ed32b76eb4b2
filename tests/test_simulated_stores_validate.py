"""No seed may produce a store that breaks its own schema (issue 15).

A browse-abandonment email was once opened six seconds before it was sent: a click a
few seconds after a fast human open pulled the implied open half a minute back, past
the send (seed 23 of a 20,000-customer year).  These tests validate simulated stores
over many seeds, sizes and configurations — campaigns on and off, experiments on and
off, holdouts, segment discount rules — with the full schema validation
(:func:`workbench.store.validate`), and pin the engagement ordering on messages the
rare path produces in bulk.
"""

from __future__ import annotations

import pytest

from workbench.simulate import scenario, simulate
from workbench.store import validate


def _variant(name: str, n: int, days: int):
    cfg = scenario("tiny", n_customers=n, days=days)
    data = cfg.model_dump()
    camp = data["campaigns"]
    if name == "campaigns_off":
        return cfg.with_campaigns_off()
    if name == "experiments_off":
        camp["abandoned_cart"]["experiment_share"] = 0.0
        camp["seasonal"]["experiment_share"] = 0.0
    if name == "cart_discounts":
        camp["abandoned_cart"]["discount_arms_pct"] = [0.0, 5.0, 10.0, 15.0]
    if name == "first_carts":  # new customers' first carts abandoned: prospects reminded
        data["carts"]["abandon_first_purchase"] = 0.5
    if name == "holdouts":
        for c in camp.values():
            if isinstance(c, dict) and "holdout_share" in c:
                c["holdout_share"] = 0.2
    return type(cfg).model_validate(data)


CASES = ([("default", 300, 60, s) for s in range(12)]
         + [(v, 500, 90, s)
            for v in ("campaigns_off", "experiments_off", "holdouts", "cart_discounts",
                      "first_carts")
            for s in (1, 2)]
         + [("default", 1_500, 150, 23)])


@pytest.mark.parametrize(("variant", "n", "days", "seed"), CASES,
                         ids=[f"{v}-{n}x{d}-seed{s}" for v, n, d, s in CASES])
def test_every_simulated_store_validates(variant, n, days, seed):
    store = simulate(_variant(variant, n, days), seed=seed)
    report = validate(store.tables)
    assert report.ok, report.summary()


def test_the_store_that_broke_now_keeps_every_open_after_its_send():
    """Seed 23 of the default year had an email's open land 6 s before its send.

    The path is rare (a click within 30 s of the send); since habitual reading hours
    (issue 18) moved most opens away from the send, seed 26 is the default year that
    takes it.
    """
    m = simulate(scenario("default"), seed=26).to_pandas("messages")
    opened = m[m.opened_at.notna()]
    assert (opened.opened_at >= opened.sent_at).all()
    clicked = m[m.clicked_at.notna() & (m.channel == "email")]
    assert clicked.opened_at.notna().all() and (clicked.clicked_at >= clicked.opened_at).all()
    # the path exists in this store: clicks within seconds of the open
    fast = (clicked.clicked_at - clicked.opened_at).dt.total_seconds() < 30
    assert fast.any()
