"""The simulator's per-customer frequency caps and engagement-linked fatigue (issue 18)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.campaigns.config import CampaignConfig, diff_configs
from workbench.simulate import scenario, simulate


def _with(base, **campaigns):
    d = base.campaigns.model_dump()
    for k, v in campaigns.items():
        d[k] = {**d[k], **v}
    return base.model_copy(update={"campaigns": type(base.campaigns).model_validate(d)})


def _max_in_a_week(m: pd.DataFrame) -> pd.Series:
    """Per (customer, channel): the most messages sent in any trailing 7 days."""
    m = m.sort_values("sent_at")
    day = (m.sent_at - m.sent_at.min().normalize()).dt.total_seconds().to_numpy() / 86400
    out = {}
    for key, idx in m.groupby(["customer_id", "channel"]).indices.items():
        t = np.floor(day[idx])  # caps count calendar days: today and the six before
        out[key] = int((np.searchsorted(t, t, side="right")
                        - np.searchsorted(t, t - 6, side="left")).max())
    return pd.Series(out)


def test_each_customer_gets_no_more_than_their_own_cap():
    base = scenario("small", n_customers=1500, days=120)
    own = {str(c): (1, 1) for c in range(1, 751)}  # the first half: one a week
    capped = simulate(_with(base, caps={"per_customer": own}), seed=2).to_pandas("messages")
    plain = simulate(base, seed=2).to_pandas("messages")
    top = _max_in_a_week(capped)
    first = top.index.get_level_values(0).astype(int) <= 750
    assert (top[first] <= 1).all()
    assert (top[~first] <= top[~first].index.get_level_values(1).map(
        {"email": 5, "sms": 2})).all()
    # the cap binds: the first half got fewer messages than without it, the rest no fewer
    # than a handful less (their messages are the same draws, common random numbers)
    n_c = capped.groupby(capped.customer_id.astype(int) <= 750).size()
    n_p = plain.groupby(plain.customer_id.astype(int) <= 750).size()
    assert n_c[True] < 0.95 * n_p[True]
    assert n_c[False] > 0.97 * n_p[False]


def test_caps_below_one_are_refused_and_read_as_one_sentence():
    with pytest.raises(ValueError, match="at least 1"):
        CampaignConfig.model_validate({"campaigns": {"caps": {"per_customer": {"3": [0, 2]}}}})
    new = CampaignConfig.model_validate({"campaigns": {"caps": {"per_customer": {
        "1": [1, 1], "2": [3, 2]}}}})
    assert diff_configs(CampaignConfig(), new) == [
        "frequency caps: the store's for everyone → each customer's own for 2 customers "
        "(email 1-3, SMS 1-2 a week)"]


def test_the_less_engaged_tire_sooner_and_the_store_rate_is_kept():
    """With a slope s, a message's unsubscribe probability is multiplied by
    exp(-s r - s^2 sd^2 / 2): its mean over customers stays the same, and it falls with
    the customer's responsiveness r on the channel (truth/customers)."""
    base = scenario("default", n_customers=20000, days=365)
    eng = base.engagement.model_dump()
    eng["unsubscribe_engagement_slope"] = {"email": 1.5, "sms": 0.0}
    tired = base.model_copy(update={"engagement": type(base.engagement).model_validate(eng)})
    st = simulate(tired, seed=6)
    m, tc = st.to_pandas("messages"), st.to_pandas("truth/customers")
    e = m[(m.channel == "email") & m.delivered].merge(
        tc[["customer_id", "email_responsiveness"]], on="customer_id")
    e["unsub"] = e.unsubscribed_at.notna()
    low = e.email_responsiveness < e.email_responsiveness.quantile(0.25)
    high = e.email_responsiveness > e.email_responsiveness.quantile(0.75)
    r_low, r_high = e.unsub[low].mean(), e.unsub[high].mean()
    # exp(1.5 x (E[r | top quarter] - E[r | bottom quarter])) = exp(1.5 x 2 x 1.27 x 0.5)
    # ~ 6.7; far fewer unsubscribes than messages, so a wide band
    assert r_low > 3 * r_high
    plain = simulate(base, seed=6).to_pandas("messages")
    pe = plain[(plain.channel == "email") & plain.delivered]
    n, k = len(pe), pe.unsubscribed_at.notna().sum()
    # the store's rate within 4 binomial standard errors (plus the 5% the later
    # messages of the tired customers who left would have carried)
    assert abs(e.unsub.mean() - k / n) < 4 * np.sqrt(k) / n + 0.05 * k / n
