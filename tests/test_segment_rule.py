"""The segment discount rule: the simulator applies it on the segments the analysis sees."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.campaigns.config import CampaignConfig, baseline_from_dataset
from workbench.campaigns.replay import replay
from workbench.segments import Segmentation, SegmentDiscountRule
from workbench.simulate import scenario, simulate

SEG = Segmentation(aov_split=45.0, recency_split_days=30.0)
# a distinct discount per segment, so a message's discount reveals the engine's label
LABELS = [f"{d}-{v}-{r}" for d in ("deal", "full") for v in ("hi", "lo")
          for r in ("recent", "lapsed")]
PCT = {lab: float(i + 1) for i, lab in enumerate(LABELS)}
RULE = SegmentDiscountRule(segmentation=SEG, discount_pct=PCT)


def _cfg(share, rule=RULE, cart_rule=None):
    cfg = scenario("small", n_customers=3000, days=120)
    d = cfg.model_dump()
    d["campaigns"]["seasonal"].update(
        experiment_share=share, discount_rule=None if rule is None else rule.model_dump())
    if cart_rule is not None:
        d["campaigns"]["abandoned_cart"].update(experiment_share=0.0,
                                                discount_rule=cart_rule.model_dump())
    return type(cfg).model_validate(d)


@pytest.fixture(scope="module")
def ruled():
    return simulate(_cfg(0.5), seed=5)


def _history_labels(orders: pd.DataFrame, msgs: pd.DataFrame) -> np.ndarray:
    """Each message's segment recomputed from the *published* orders before its send."""
    cols = ["order_id", "customer_id", "placed_at", "revenue", "discount_amount"]
    j = msgs[["message_id", "customer_id", "sent_at"]].merge(orders[cols], on="customer_id",
                                                             how="left")
    j = j[j.placed_at < j.sent_at]
    h = j.groupby("message_id").agg(n=("order_id", "size"),
                                    deal=("discount_amount", lambda x: int((x > 0).sum())),
                                    aov=("revenue", "mean"), last=("placed_at", "max"))
    h = h.reindex(msgs.message_id)
    rec = (msgs.set_index("message_id").sent_at - h["last"]).dt.total_seconds() / 86400
    return SEG.labels(prior_discounted_orders=h.deal.fillna(0).to_numpy(),
                      prior_aov=h.aov.to_numpy(), recency_days=rec.to_numpy())


def test_seasonal_rule_uses_the_segments_the_analysis_sees(ruled):
    m = ruled.to_pandas("messages")
    s = m[(m.campaign == "seasonal") & m.experiment.isna()]
    assert len(s) > 500
    engine_label = np.array(LABELS, dtype=object)[s.discount_pct.round().astype(int) - 1]
    ours = _history_labels(ruled.to_pandas("orders"), s)
    agree = float(np.mean(engine_label == ours))
    # orders caused by messages of the send day's own batch are not seen at send time;
    # they are rare, so the labels agree on all but a handful of customers
    assert agree >= 0.99, agree
    # and the rule spans several segments, so the agreement is not trivial
    assert len(set(engine_label)) >= 5


def test_experiment_share_randomizes_that_share_of_customers(ruled):
    m = ruled.to_pandas("messages")
    s = m[m.campaign == "seasonal"].drop_duplicates("customer_id")
    n = len(s)
    share = s.experiment.notna().mean()
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / n)
    a = ruled.to_pandas("assignments")
    seas = a[a.experiment.str.startswith("seasonal_discount")]
    # only the randomized customers are experiment units; their arms are the event's levels
    assert set(seas.customer_id) == set(s[s.experiment.notna()].customer_id)
    assert set(m[(m.campaign == "seasonal") & m.experiment.notna()].discount_pct) <= {
        0.0, 5.0, 10.0, 15.0, 20.0}


def test_no_rule_and_no_experiment_means_no_seasonal_discount():
    st = simulate(_cfg(0.0, rule=None), seed=5)
    m = st.to_pandas("messages")
    s = m[m.campaign == "seasonal"]
    assert len(s) > 0 and (s.discount_pct == 0).all() and s.experiment.isna().all()
    a = st.to_pandas("assignments")
    assert not a.experiment.str.startswith("seasonal").any()


def test_cart_rule_replaces_the_policy_discount():
    rule = SegmentDiscountRule(segmentation=Segmentation(by=("deal",)),
                               discount_pct={"deal": 12.0, "full": 3.0})
    st = simulate(_cfg(1.0, rule=None, cart_rule=rule), seed=5)
    m = st.to_pandas("messages")
    c = m[m.campaign == "abandoned_cart"]
    assert len(c) > 100 and set(c.discount_pct) == {12.0, 3.0}
    # a customer gets 12% only once an earlier order of theirs used a discount
    o = st.to_pandas("orders")
    first_deal = o[o.discount_amount > 0].groupby("customer_id").placed_at.min()
    had = c.sent_at > c.customer_id.map(first_deal)  # NaT compares False
    assert np.mean(had == (c.discount_pct == 12.0)) >= 0.99


#: digest of every table and truth table of ``simulate(scenario("tiny"), seed=3)``.  It pins
#: the simulator's output: a speed-up must leave it unchanged; a deliberate change of the
#: generative story updates it here, in the same commit, saying why.
GOLDEN_TINY = "997d3105eadb17d8"  # issue 18: time per view, size checks in browse sessions
#: the same store with every browse view 45 seconds and no size checks (the story before
#: them): the digest before them, so they moved nothing else
GOLDEN_TINY_FIXED_DWELL = "07e193613ba5bbb5"


#: numpy's AVX-512 code paths (dispatch targets from X86_V4 up) compute float64 math
#: such as exp and log with other last bits than its portable ones, which moves draws
#: that sit on a threshold: the same seed gives another store on such a CPU.  The digest
#: pins the portable paths, so it is computed with those targets switched off (numpy's
#: NPY_DISABLE_CPU_FEATURES; a CPU without them runs the same paths anyway).
_WIDE_SIMD = ("X86_V4", "AVX512_ICL", "AVX512_SPR")


def _portable_digest(traffic: dict) -> str:
    import json
    import os
    import subprocess
    import sys

    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    off = [f for f in _WIDE_SIMD if f in __cpu_dispatch__ and __cpu_features__.get(f)]
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(off)}
    code = f"""
import hashlib
from workbench.simulate import scenario, simulate
traffic = {json.dumps(traffic)}
st = simulate(scenario("tiny", **({{"traffic": traffic}} if traffic else {{}})), seed=3)
h = hashlib.sha256()
for k in sorted(st.tables):
    h.update(k.encode())
    h.update(st.to_pandas(k).to_csv(index=False).encode())
for k in sorted(st.truth):
    h.update(k.encode())
    h.update(st.to_pandas("truth/" + k).to_csv(index=False).encode())
print(h.hexdigest()[:16])
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("traffic, golden", [
    ({}, GOLDEN_TINY),
    ({"dwell_log_sd": 0.0, "research_dwell_multiplier": 1.0, "variant_check_prob": 0.0,
      "research_variant_check_prob": 0.0}, GOLDEN_TINY_FIXED_DWELL)])
def test_simulator_output_is_pinned(traffic, golden):
    assert _portable_digest(traffic) == golden


@pytest.fixture(scope="module")
def ruled_dataset(tmp_path_factory):
    from workbench.store import save_simulation

    st = simulate(_cfg(1.0, rule=None), seed=7)
    return save_simulation(st, tmp_path_factory.mktemp("seg") / "store")


def test_replay_applies_the_rule(ruled_dataset):
    base = baseline_from_dataset(ruled_dataset)
    d = base.model_dump(mode="json")
    d["campaigns"]["seasonal"].update(
        experiment_share=0.0, discount_rule=SegmentDiscountRule(
            segmentation=SEG, discount_pct=dict.fromkeys(LABELS, 0.0)).model_dump(mode="json"))
    none = CampaignConfig.model_validate(d)
    r = replay(ruled_dataset, none, base, replications=2).table.set_index("metric")
    # the baseline randomizes 0-20% off; the rule gives none, so the discount cost falls
    assert r.loc["discount_cost", "high"] < 0
    # and it is the same store: the cart and browse campaigns send the same messages
    assert abs(r.loc["messages_sent", "difference"]) < 0.02 * r.loc["messages_sent",
                                                                     "baseline"]
