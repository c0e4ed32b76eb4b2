"""Attribution models: hand-computed cases, invariants, exactness, bad input, the contract.

Every reference number below is computed by hand in the comment next to it (or
by an independent brute-force computation in the test itself).
"""

from __future__ import annotations

import itertools
import json
import math

import altair as alt
import numpy as np
import pandas as pd
import pytest

from workbench.attribution import (
    MODELS,
    AttributionInputError,
    AttributionResult,
    MarkovChain,
    Paths,
    Shapley,
    attribute,
    coalition_values,
    compare,
    make_model,
    paths_from_journeys,
    read_paths,
    removal_effects,
    score_against_truth,
    shapley_values,
    shift_table,
)
from workbench.attribution import markov as markov_mod

ALL = sorted(MODELS)


def credit(result: AttributionResult, measure: str = "conversions") -> dict[str, float]:
    return dict(zip(result.table["channel"], result.table[measure], strict=True))


def approx(d: dict[str, float], **kw):
    return pytest.approx(d, rel=1e-12, abs=1e-12, **kw)


@pytest.fixture
def toy() -> Paths:
    """Five paths; 5 conversions worth 200; ``social`` only on a non-converting path."""
    return Paths.from_sequences(
        [["email", "sms"], ["sms"], ["direct"], ["email", "direct"], ["social"]],
        conversions=[2, 1, 1, 1, 0], value=[100.0, 30.0, 20.0, 50.0, 0.0],
        nulls=[2, 3, 4, 1, 5])


def random_paths(seed: int, n_paths: int = 60, n_channels: int = 5, times: bool = True) -> Paths:
    """Random paths; channel ``zzz`` is only ever the last touch of non-converting paths."""
    rng = np.random.default_rng(seed)
    names = [f"c{i}" for i in range(n_channels)]
    seqs, conv, nulls, value, ages = [], [], [], [], []
    for i in range(n_paths):
        L = int(rng.integers(1, 6))
        seq = list(rng.choice(names, L))
        c = int(rng.poisson(2)) if i % 7 else 0
        n = int(rng.poisson(3)) + (c == 0)
        if i % 7 == 0:
            seq.append("zzz")
        seqs.append(seq)
        conv.append(c)
        nulls.append(n)
        value.append(c * float(rng.gamma(2, 30)))
        ages.append(sorted(rng.uniform(0, 30, len(seq)), reverse=True))
    conv[1] = max(conv[1], 1)
    value[1] = conv[1] * 40.0
    return Paths.from_sequences(seqs, conv, value, nulls, ages if times else None)


# ---------------------------------------------------------------------------- hand cases: rules
def test_first_touch_by_hand(toy):
    # first touches: email (paths 1, 4: 2 + 1 conversions, 100 + 50), sms (1, 30), direct (1, 20)
    r = attribute(toy, "first_touch", n_boot=0)
    assert credit(r) == approx({"direct": 1, "email": 3, "sms": 1, "social": 0})
    assert credit(r, "value") == approx({"direct": 20, "email": 150, "sms": 30, "social": 0})


def test_last_click_by_hand(toy):
    # last touches: sms (paths 1, 2: 2 + 1, 100 + 30), direct (paths 3, 4: 1 + 1, 20 + 50)
    r = attribute(toy, "last_click", n_boot=0)
    assert credit(r) == approx({"direct": 2, "email": 0, "sms": 3, "social": 0})
    assert credit(r, "value") == approx({"direct": 70, "email": 0, "sms": 130, "social": 0})


def test_last_non_direct_by_hand(toy):
    # path 4 (email > direct) goes to email; path 3 (direct only) keeps direct
    r = attribute(toy, "last_non_direct", n_boot=0)
    assert credit(r) == approx({"direct": 1, "email": 1, "sms": 3, "social": 0})
    assert credit(r, "value") == approx({"direct": 20, "email": 50, "sms": 130, "social": 0})
    # several direct-like channels; a direct name absent from the data is harmless
    p = Paths.from_sequences([["email", "organic", "direct"]], [1])
    r2 = attribute(p, "last_non_direct", direct=["direct", "organic", "none"], n_boot=0)
    assert credit(r2) == approx({"direct": 0, "email": 1, "organic": 0})


def test_linear_by_hand(toy):
    # path 1: email 1, sms 1 (50/50 of 100); path 4: email .5, direct .5 (25/25)
    r = attribute(toy, "linear", n_boot=0)
    assert credit(r) == approx({"direct": 1.5, "email": 1.5, "sms": 2, "social": 0})
    assert credit(r, "value") == approx({"direct": 45, "email": 75, "sms": 80, "social": 0})


def test_position_based_by_hand():
    # a > b > c > d, 10 conversions worth 100: 40% / 10% / 10% / 40%
    # a > c, 10 conversions worth 100: 50/50;  b alone, 5 conversions: 100%
    p = Paths.from_sequences([["a", "b", "c", "d"], ["a", "c"], ["b"]], [10, 10, 5],
                             [100.0, 100.0, 50.0])
    r = attribute(p, "position", n_boot=0)
    assert credit(r) == approx({"a": 4 + 5, "b": 1 + 5, "c": 1 + 5, "d": 4})
    assert credit(r, "value") == approx({"a": 90, "b": 60, "c": 60, "d": 40})
    # 30/40/30 on a > b > c: .3, .4, .3; 30/.../50 on two touches: .3/.8, .5/.8
    q = Paths.from_sequences([["a", "b", "c"]], [10])
    assert credit(attribute(q, "position", first=0.3, last=0.3, n_boot=0)) == approx(
        {"a": 3, "b": 4, "c": 3})
    q2 = Paths.from_sequences([["a", "b"]], [8])
    assert credit(attribute(q2, "position", first=0.3, last=0.5, n_boot=0)) == approx(
        {"a": 3, "b": 5})
    with pytest.raises(ValueError, match="first and last"):
        attribute(q, "position", first=0.7, last=0.5, n_boot=0)


def test_time_decay_by_hand():
    # ages 14, 7, 0 days, half-life 7: weights 1/4, 1/2, 1 → shares 1/7, 2/7, 4/7 of 7 conversions
    p = Paths.from_sequences([["email", "sms", "direct"]], [7], [70.0],
                             ages_days=[[14.0, 7.0, 0.0]])
    r = attribute(p, "time_decay", n_boot=0)
    assert credit(r) == approx({"direct": 4, "email": 1, "sms": 2})
    assert credit(r, "value") == approx({"direct": 40, "email": 10, "sms": 20})
    # half-life 14: weights 1/2, 2^-1/2, 1
    w = np.array([0.5, 2**-0.5, 1.0])
    r14 = attribute(p, "time_decay", half_life_days=14, n_boot=0)
    assert r14.table["conversions"].to_numpy() == pytest.approx(7 * w[[2, 0, 1]] / w.sum())
    # huge ages do not underflow: only differences matter
    far = Paths.from_sequences([["a", "b"]], [3], ages_days=[[5007.0, 5000.0]])
    assert credit(attribute(far, "time_decay", n_boot=0)) == approx({"a": 1, "b": 2})


def test_time_decay_needs_times_or_an_explicit_gap():
    p = Paths.from_sequences([["email", "sms", "direct"]], [7])
    with pytest.raises(AttributionInputError, match="touch_gap_days"):
        attribute(p, "time_decay", n_boot=0)
    # assumed 7 days apart, last at the end: same as the ages 14, 7, 0 above
    r = attribute(p, "time_decay", touch_gap_days=7, n_boot=0)
    assert credit(r) == approx({"direct": 4, "email": 1, "sms": 2})


def test_time_decay_on_journeys_with_timestamps():
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    day = pd.Timedelta(days=1)
    j = pd.DataFrame({
        "journey_id": ["x", "x", "x", "y", "z", "z"],
        "touch_index": [2, 0, 1, 0, 0, 1],
        "channel": ["direct", "email", "sms", "sms", "email", "email"],
        "touch_ts": [t0, t0 - 14 * day, t0 - 7 * day, t0, t0 - 3 * day, t0 - 2 * day],
        "end_ts": [t0, t0, t0, t0 + day, t0, t0],
        "converted": [True, True, True, False, True, True],
        "value": [70.0, 70.0, 70.0, 0.0, 10.0, 10.0]})
    p = paths_from_journeys(j)
    assert p.path_strings() == ["email > sms > direct", "sms", "email > email"]
    assert p.ages_days.tolist() == [14, 7, 0, 1, 3, 2]
    assert p.conversions.tolist() == [1, 0, 1] and p.nulls.tolist() == [0, 1, 0]
    r = attribute(p, "time_decay", n_boot=0)
    # journey x: 1/7, 2/7, 4/7 of 1 conversion (70); journey z: all to email
    assert credit(r) == approx({"direct": 4 / 7, "email": 1 / 7 + 1, "sms": 2 / 7})
    # collapsing z's repeated email keeps one touch (the latest); aggregation merges sequences
    assert paths_from_journeys(j, collapse_repeats=True).path_strings()[2] == "email"
    agg = paths_from_journeys(j, keep_times=False)
    assert not agg.has_times and agg.n_paths == 3


# ---------------------------------------------------------------------------- hand cases: Markov
@pytest.fixture
def chain3() -> Paths:
    """a > b > c converts once (value 70); a > c fails once; b converts once, fails once (10)."""
    return Paths.from_sequences([["a", "b", "c"], ["a", "c"], ["b"]], conversions=[1, 0, 1],
                                value=[70.0, 0.0, 10.0], nulls=[0, 1, 1])


def test_markov_order1_by_hand(chain3):
    # Transitions: start→a 2, start→b 2; a→b 1, a→c 1; b→c 1, b→conv 1, b→null 1;
    # c→conv 1, c→null 1.  P(conv | state): x_c = 1/2; x_b = 1/3·1/2 + 1/3 = 1/2;
    # x_a = 1/2·x_b + 1/2·x_c = 1/2; x_start = 1/2·x_a + 1/2·x_b = 1/2.
    # remove a: x_start = 1/2·x_b = 1/4                       → RE_a = 1/2
    # remove b: x_a = 1/2·x_c = 1/4, x_start = 1/2·1/4 = 1/8  → RE_b = 3/4
    # remove c: x_b = 1/3, x_a = 1/6, x_start = 1/12 + 1/6 = 1/4 → RE_c = 1/2
    # credit = RE / (7/4) × 2 conversions = 4/7, 6/7, 4/7
    m = MarkovChain(n_boot=0).fit(chain3)
    re = m.result_.removal_effects.set_index("channel")
    assert re["removal_effect"].to_dict() == approx({"a": 0.5, "b": 0.75, "c": 0.5})
    assert credit(m.result_) == approx({"a": 4 / 7, "b": 6 / 7, "c": 4 / 7})
    assert m.conversion_probability_ == pytest.approx(0.5, rel=1e-12)
    # Value chain: r_v(s) = value ending at s / transitions out of s: c 70/2 = 35, b 10/3.
    # E[value]: x_c = 35, x_b = 35/3 + 10/3 = 15, x_a = (15 + 35)/2 = 25, start = 20 (= 80/4).
    # remove a: 15/2 = 7.5 → 5/8;  remove b: x_a = 17.5, start = 8.75 → 9/16;
    # remove c: x_b = 10/3, x_a = 5/3, start = 5/2 → 7/8.  Sum 33/16 → 80·(10, 9, 14)/33
    assert re["removal_effect_value"].to_dict() == approx({"a": 5 / 8, "b": 9 / 16, "c": 7 / 8})
    assert credit(m.result_, "value") == approx({"a": 800 / 33, "b": 720 / 33, "c": 1120 / 33})
    assert m.expected_value_ == pytest.approx(20.0, rel=1e-12)
    # value_method="conversion_share": value follows the conversion removal effects
    r = attribute(chain3, "markov", value_method="conversion_share", n_boot=0)
    assert credit(r, "value") == approx({"a": 160 / 7, "b": 240 / 7, "c": 160 / 7})


def test_markov_order2_by_hand(chain3):
    # States are the last <= 2 channels: a>b>c walks start→(a)→(a,b)→(b,c)→conv,
    # a>c walks start→(a)→(a,c)→null, b walks start→(b)→conv|null.
    # x(b,c) = 1, x(a,b) = 1, x(a,c) = 0, x(a) = 1/2, x(b) = 1/2, x_start = 1/2.
    # remove a [(a), (a,b), (a,c)]: x_start = 1/2·x(b) = 1/4   → RE_a = 1/2
    # remove b [(a,b), (b,c), (b)]: x(a) = 0, x_start = 0      → RE_b = 1
    # remove c [(b,c), (a,c)]:      x(a) = 0, x_start = 1/4    → RE_c = 1/2
    # credit = RE / 2 × 2 = 1/2, 1, 1/2 (order 1 gave 4/7, 6/7, 4/7: it forgets a>c fails)
    r = attribute(chain3, "markov", order=2, n_boot=0)
    assert r.removal_effects.set_index("channel")["removal_effect"].to_dict() == approx(
        {"a": 0.5, "b": 1.0, "c": 0.5})
    assert credit(r) == approx({"a": 0.5, "b": 1.0, "c": 0.5})
    # window states (ChannelAttribution): start→(a,b)→(b,c), start→(a,c), start→(b); same here
    m = MarkovChain(order=2, states="window", n_boot=0).fit(chain3)
    assert credit(m.result_) == approx({"a": 0.5, "b": 1.0, "c": 0.5})
    tm = m.transition_matrix()
    assert set(tm.loc[tm["from"] == "(start)", "to"]) == {"a > b", "a > c", "b"}
    assert removal_effects(chain3, order=2).to_dict() == approx({"a": 0.5, "b": 1.0, "c": 0.5})


def test_markov_credits_a_channel_that_leads_to_conversion_on_no_converting_path():
    # a > b never converts, b alone converts once: start→a 1/2, start→b 1/2, a→b 1,
    # b→conv 1/2.  x_start = 1/2; without a: 1/4 (RE 1/2); without b: 0 (RE 1).
    # The first-order chain forgets that a > b failed: a gets 1/3 of the conversion.
    p = Paths.from_sequences([["a", "b"], ["b"]], conversions=[0, 1], nulls=[1, 0])
    assert credit(attribute(p, "markov", n_boot=0)) == approx({"a": 1 / 3, "b": 2 / 3})
    # ... while order 2 remembers it: state (a,b) only ever goes to null
    assert credit(attribute(p, "markov", order=2, n_boot=0)) == approx({"a": 0, "b": 1})


def test_markov_depends_only_on_transition_counts():
    # {a>b>c, b>a>c} and {a>c, b>a>b>c} have the same transition counts:
    # start→a 1, start→b 1, a→b 1, a→c 1, b→a 1, b→c 1, c→conv 2, c→null 2
    p1 = Paths.from_sequences([["a", "b", "c"], ["b", "a", "c"]], [1, 1], [10.0, 30.0], [1, 1])
    p2 = Paths.from_sequences([["a", "c"], ["b", "a", "b", "c"]], [1, 1], [10.0, 30.0], [1, 1])
    r1, r2 = attribute(p1, "markov", n_boot=0), attribute(p2, "markov", n_boot=0)
    assert credit(r1) == approx(credit(r2))
    assert credit(r1, "value") == approx(credit(r2, "value"))
    assert credit(attribute(p1, "linear", n_boot=0)) != approx(
        credit(attribute(p2, "linear", n_boot=0)))


def test_markov_first_order_ignores_repeats_and_row_splits(chain3):
    rep = Paths.from_sequences([["a", "a", "b", "c", "c"], ["a", "c"], ["b", "b"]],
                               conversions=[1, 0, 1], value=[70.0, 0.0, 10.0], nulls=[0, 1, 1])
    assert credit(attribute(rep, "markov", n_boot=0)) == approx(
        credit(attribute(chain3, "markov", n_boot=0)))
    # the same journeys split over duplicate rows, then merged back by aggregate()
    split = Paths.from_sequences([["b"], ["a", "b", "c"], ["a", "c"], ["b"]], [1, 1, 0, 0],
                                 [10.0, 70.0, 0.0, 0.0], [0, 0, 1, 1])
    for name in ("markov", "shapley", "linear"):
        assert credit(attribute(split, name, n_boot=0)) == approx(
            credit(attribute(chain3, name, n_boot=0)))
    assert split.aggregate().n_paths == 3


def test_markov_iterative_solver_matches_lu(monkeypatch):
    p = random_paths(3, n_paths=80)
    exact = attribute(p, "markov", order=2, n_boot=0)
    monkeypatch.setattr(markov_mod, "LU_LIMIT", 0)  # force GMRES
    iterative = attribute(p, "markov", order=2, n_boot=0)
    np.testing.assert_allclose(iterative.table["conversions"], exact.table["conversions"],
                               rtol=1e-10, atol=1e-12)


def test_markov_rejects_bad_settings(chain3):
    for bad in ({"order": 0}, {"order": 1.5}, {"states": "full"}, {"value_method": "x"}):
        with pytest.raises(ValueError):
            attribute(chain3, "markov", n_boot=0, **bad)


# ---------------------------------------------------------------------------- hand cases: Shapley
def brute_force_shapley(game, n: int) -> np.ndarray:
    """Average marginal contribution over all n! orders (independent of shapley_values)."""
    phi = np.zeros(n)
    for order in itertools.permutations(range(n)):
        mask = 0
        for j in order:
            phi[j] += game[mask | (1 << j)] - game[mask]
            mask |= 1 << j
    return phi / math.factorial(n)


def test_shapley_by_hand(toy):
    # converting channel sets: {email, sms} 2 (100), {sms} 1 (30), {direct} 1 (20),
    # {email, direct} 1 (50).  Each set's conversions split equally among its members:
    # email 2/2 + 1/2, sms 2/2 + 1, direct 1 + 1/2; social is a dummy player.
    r = attribute(toy, "shapley", n_boot=0)
    assert credit(r) == approx({"direct": 1.5, "email": 1.5, "sms": 2, "social": 0})
    assert credit(r, "value") == approx({"direct": 45, "email": 75, "sms": 80, "social": 0})
    # the same from the definition: brute force over the 4! orders of the coalition game
    bf = brute_force_shapley(coalition_values(toy), toy.n_channels)
    assert dict(zip(toy.channels, bf, strict=True)) == approx(credit(r))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simplified_shapley_equals_exact(seed):
    p = random_paths(seed, n_paths=120, n_channels=5)
    exact = attribute(p, Shapley(method="exact", n_boot=0))
    simple = attribute(p, Shapley(method="simplified", n_boot=0))
    np.testing.assert_allclose(simple.table["conversions"], exact.table["conversions"],
                               rtol=1e-12)
    np.testing.assert_allclose(simple.table["value"], exact.table["value"], rtol=1e-12)
    bf = brute_force_shapley(coalition_values(p), p.n_channels)
    np.testing.assert_allclose(exact.table["conversions"], bf, rtol=1e-10)


def test_simplified_formula_is_tied_to_the_contained_in_s_game(toy):
    # v(S) = conversions of paths whose channel set is exactly S is another game: its Shapley
    # values are not the per-path equal split (email would get 2/2·... differently)
    n = toy.n_channels
    masks = np.bitwise_or.reduceat(1 << toy.codes.astype(np.int64), toy.offsets[:-1])
    exact_set = np.bincount(masks, toy.conversions, minlength=2**n)
    other = shapley_values(exact_set, n)
    np.testing.assert_allclose(other, brute_force_shapley(exact_set, n), rtol=1e-12)
    simple = attribute(toy, Shapley(method="simplified", n_boot=0)).table["conversions"]
    assert not np.allclose(other, simple)
    assert other.sum() == pytest.approx(exact_set[-1])  # efficiency: v(N) = R(N) only


def test_shapley_many_channels_falls_back_to_the_simplified_formula():
    names = [f"ch{i:02d}" for i in range(70)]  # more than the 62 bits of a mask
    seqs = [names[i:i + 3] for i in range(0, 67, 2)]
    p = Paths.from_sequences(seqs, [1] * len(seqs))
    m = Shapley(n_boot=0).fit(p)
    assert m.method_ == "simplified"
    assert m.result_.table["conversions"].sum() == pytest.approx(len(seqs))
    assert m.result_.table.set_index("channel").loc["ch00", "conversions"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="max_exact_channels"):
        Shapley(method="exact", n_boot=0).fit(p)


# ---------------------------------------------------------------------------- invariants
@pytest.fixture(scope="module")
def rand_paths() -> Paths:
    return random_paths(42)


@pytest.mark.parametrize("name", ALL)
def test_credit_sums_to_totals_and_ignores_channels_off_converting_paths(name, rand_paths):
    r = attribute(rand_paths, name, n_boot=0)
    assert r.table["conversions"].sum() == pytest.approx(rand_paths.total_conversions, rel=1e-12)
    assert r.table["value"].sum() == pytest.approx(rand_paths.total_value, rel=1e-12)
    assert r.table["share"].sum() == pytest.approx(1.0, rel=1e-12)
    assert (r.table[["conversions", "value"]] >= -1e-12).all().all()
    zzz = r.table.set_index("channel").loc["zzz"]
    assert zzz["conversions"] == pytest.approx(0, abs=1e-12)
    assert zzz["value"] == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_deterministic_and_bootstrap_intervals(name, rand_paths):
    a = attribute(rand_paths, name, n_boot=40, seed=7)
    b = attribute(rand_paths, name, n_boot=40, seed=7)
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    t = a.table
    assert np.isfinite(t[["conversions_low", "conversions_high"]].to_numpy()).all()
    assert (t["conversions_low"] <= t["conversions_high"]).all()
    assert (t["value_low"] <= t["value_high"]).all()
    c = attribute(rand_paths, name, n_boot=40, seed=8)
    assert not np.array_equal(c.table["conversions_low"], a.table["conversions_low"])
    assert attribute(rand_paths, name, n_boot=0).table["conversions_low"].isna().all()


def test_bootstrap_matches_the_binomial_standard_error():
    # last click of 1,000 journeys, 300 converting on paths ending in email, 100 on sms,
    # 600 failing: email's credit is Binomial(1000, 0.3), sd = sqrt(1000·0.3·0.7) = 14.49,
    # so the 95% interval is about ±1.96·14.49 = ±28.4 around 300
    p = Paths.from_sequences([["sms", "email"], ["email", "sms"], ["sms"]], [300, 100, 0],
                             [3000.0, 1000.0, 0.0], [0, 0, 600])
    r = attribute(p, "last_click", n_boot=2000, seed=1)
    row = r.table.set_index("channel").loc["email"]
    half = (row["conversions_high"] - row["conversions_low"]) / 2
    assert half == pytest.approx(1.96 * math.sqrt(1000 * 0.3 * 0.7), rel=0.1)
    assert row["conversions_low"] < 300 < row["conversions_high"]
    # value per conversion is fixed on each path, so value moves with the count: 10 each
    assert row["value_high"] == pytest.approx(10 * row["conversions_high"])


# ---------------------------------------------------------------------------- contract
@pytest.mark.parametrize("name", ALL)
def test_model_contract(name, rand_paths, tmp_path):
    model = make_model(name, n_boot=20, seed=0)
    params = model.get_params()
    assert model.fit(rand_paths) is model
    assert model.get_params() == params  # settings stored unchanged by fit
    res = model.result_
    assert isinstance(res, AttributionResult) and res.model == name
    assert list(res.table.columns) == ["channel", "conversions", "conversions_low",
                                       "conversions_high", "value", "value_low", "value_high",
                                       "share"]
    text = res.summary()
    assert res.label in text and "zzz" in text
    assert "<table" in res._repr_html_()
    spec = res.chart().to_dict()
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert isinstance(res.chart("value"), alt.LayerChart)
    back = AttributionResult.from_dict(json.loads(json.dumps(res.to_dict())))
    pd.testing.assert_frame_equal(back.table, res.table, check_exact=False, rtol=1e-12)
    assert (back.model, back.label, back.n_boot) == (res.model, res.label, res.n_boot)
    if name == "markov":
        pd.testing.assert_frame_equal(back.removal_effects, res.removal_effects)
    # rejects bad input the same way: data and settings
    bad = rand_paths.to_frame()
    bad.loc[3, "total_null"] = -1
    with pytest.raises(AttributionInputError, match=r"'total_null'.*negative.*row 3"):
        make_model(name, n_boot=0).fit(bad)
    with pytest.raises(ValueError, match="n_boot"):
        make_model(name, n_boot=-1).fit(rand_paths)
    # a DataFrame and a CSV file work as input, like Paths
    df = rand_paths.to_frame()
    csv = tmp_path / "paths.csv"
    df.to_csv(csv, sep=";", index=False)
    if name != "time_decay":
        for data in (df, str(csv)):
            t = make_model(name, n_boot=0).fit(data).result_.table
            np.testing.assert_allclose(t["conversions"],
                                       attribute(rand_paths, name, n_boot=0).table["conversions"],
                                       rtol=1e-12)


def test_registry_errors(toy):
    with pytest.raises(ValueError, match="unknown attribution model 'markow'.*markov"):
        attribute(toy, "markow")
    with pytest.raises(ValueError, match="no option.*'orders'.*order"):
        attribute(toy, "markov", orders=2)
    assert set(MODELS) == {"first_touch", "last_click", "last_non_direct", "linear",
                           "position", "time_decay", "markov", "shapley"}


# ---------------------------------------------------------------------------- comparison
def test_compare_shift_and_score(toy):
    c = compare(toy, ["last_click", "linear", ("markov", {"order": 2})], n_boot=0)
    assert list(c.table.columns) == ["last_click", "linear", "markov"]
    assert c.table.loc["sms", "linear"] == pytest.approx(2)
    s = shift_table(c).set_index(["model", "channel"])
    # linear vs last click: email 0 → 1.5, sms 3 → 2 (−1/3), direct 2 → 1.5 (−25%)
    assert s.loc[("linear", "email"), "shift_conversions"] == pytest.approx(1.5)
    assert np.isnan(s.loc[("linear", "email"), "shift_conversions_pct"])
    assert s.loc[("linear", "sms"), "shift_conversions_pct"] == pytest.approx(-100 / 3)
    assert s.loc[("linear", "direct"), "shift_value"] == pytest.approx(45 - 70)
    assert "Largest move from last click" in c.summary()
    assert c.chart().to_dict()["mark"]["type"] == "bar"
    assert "<table" in c._repr_html_()
    # truth: email caused 100, sms 100, direct (not listed) nothing.
    # linear value shares (.375, .4, .225) vs truth (.5, .5, 0): errors .125, .1, .225
    truth = pd.Series({"email": 100.0, "sms": 100.0})
    sc = score_against_truth(c, truth).set_index("model")
    assert sc.loc["linear", "mae_share"] == pytest.approx((0.125 + 0.1 + 0.225 + 0) / 4)
    assert sc.loc["linear", "max_share_error"] == pytest.approx(0.225)
    # last click (0, .65, .35): errors .5, .15, .35 → worse than linear
    assert sc.loc["last_click", "mae_share"] == pytest.approx((0.5 + 0.15 + 0.35) / 4)
    assert sc.loc["linear", "rank"] < sc.loc["last_click", "rank"]
    only = score_against_truth(c, truth, only_truth_channels=True).set_index("model")
    assert only.loc["linear", "n_channels"] == 2
    with pytest.raises(AttributionInputError, match="duplicated"):
        score_against_truth(c, pd.Series([1.0, 2.0], index=["email", "email"]))
    with pytest.raises(ValueError, match="unique"):
        compare(toy, ["markov", ("markov", {"order": 2})], n_boot=0)


def test_compare_defaults_skip_time_decay_without_times(toy):
    c = compare(toy, n_boot=0)
    assert "time_decay" not in c.results and len(c.results) == 7
    assert any("time_decay" in n for n in c.notes)


# ---------------------------------------------------------------------------- reading paths
def frame(**cols) -> pd.DataFrame:
    base = {"path": ["email > sms", "sms", "direct", "email>direct"],
            "total_conversions": [2, 1, 1, 1], "total_conversion_value": [100.0, 30, 20, 50],
            "total_null": [2, 3, 4, 1]}
    base.update(cols)
    return pd.DataFrame(base)


def test_read_paths_parses_and_encodes():
    p = read_paths(frame(path=["email > sms", " sms ", "direct", "email>direct"]))
    assert p.channels == ("direct", "email", "sms")
    assert p.path_strings() == ["email > sms", "sms", "direct", "email > direct"]
    assert p.total_conversions == 5 and p.total_value == 200 and p.total_nulls == 10
    # value and null columns are optional when said so
    q = read_paths(frame().drop(columns=["total_conversion_value", "total_null"]),
                   value_col=None, null_col=None)
    assert q.total_value == 0 and q.total_nulls == 0
    # custom separator and column names
    r = read_paths(pd.DataFrame({"p": ["a >>> b", "b"], "c": [1, 2], "n": [0, 1]}), sep=">>>",
                   path_col="p", conv_col="c", value_col=None, null_col="n")
    assert r.path_strings() == ["a > b", "b"]
    # collapse_repeats counts a run once
    s = read_paths(frame(path=["email > email > sms", "sms", "direct", "direct > direct"]),
                   collapse_repeats=True)
    assert s.path_strings() == ["email > sms", "sms", "direct", "direct"]


def test_read_paths_csv_with_semicolons(tmp_path):
    f = tmp_path / "Data.csv"  # ChannelAttribution's sample file uses ';'
    frame().to_csv(f, sep=";", index=False)
    assert read_paths(f).n_paths == 4
    f2 = tmp_path / "comma.csv"
    frame().to_csv(f2, index=False)
    assert read_paths(f2).total_value == 200


@pytest.mark.parametrize("df, kwargs, match", [
    (frame().drop(columns=["total_null"]), {}, r"missing column\(s\) \['total_null'\].*null_col"),
    (frame(path=["email > sms", "", "direct", "sms"]), {}, r"'path': empty path at row 1"),
    (frame(path=["email > sms", None, "direct", "sms"]), {}, r"'path': empty path at row 1"),
    (frame(path=["email > > sms", "sms", "direct", "sms"]), {}, r"'path': empty touch.*row 0"),
    (frame(path=["email|sms", "sms", "direct|email", "sms"]), {},
     r"'path': the separator '>' appears in no row, but '\|' appears in 2 of 4.*sep='\|'"),
    (frame(path=["email, sms", "sms", "direct", "sms"]), {}, r"pass sep=','"),
    (frame(total_null=[2, 3, -4, 1]), {}, r"'total_null': negative value at row 2"),
    (frame(total_conversions=[2, -1, 1, -1]), {}, r"'total_conversions': negative.*rows 1, 3"),
    (frame(total_conversions=["2", "x", 1, 1]), {}, r"'total_conversions': non-numeric.*row 1"),
    (frame(total_conversion_value=[100.0, None, 20, 50]), {},
     r"'total_conversion_value': missing value at row 1"),
    (frame(total_conversions=[2, 1, 0, 1], total_null=[2, 3, 0, 1],
           total_conversion_value=[100.0, 30, 0, 50]), {},
     r"'total_conversions' and 'total_null'.*every count is zero at row 2"),
    (frame(total_conversions=[2, 1, 0, 1]), {}, r"'total_conversion_value': value without a "
                                                r"conversion.*row 2"),
    (frame(total_conversions=[0, 0, 0, 0], total_conversion_value=[0.0] * 4), {},
     r"no row has a conversion — nothing to attribute"),
    (frame().iloc[:0], {}, "no rows"),
])
@pytest.mark.parametrize("via", ["frame", "csv", "two threads"])
def test_read_paths_rejects_bad_input(df, kwargs, match, via, tmp_path, monkeypatch):
    """The same errors whether the paths come as a DataFrame or as a CSV file (read by
    Arrow, not pandas), and when a large column is split on two threads."""
    if via == "two threads":
        from workbench.attribution import reading

        monkeypatch.setattr(reading, "SPLIT_THREADS_MIN", 2)
    if via != "frame":
        f = tmp_path / "paths.csv"
        df.to_csv(f, index=False)
        df = f
    with pytest.raises(AttributionInputError, match=match):
        read_paths(df, **kwargs)


@pytest.mark.parametrize("threads_from", [200_000, 2])
def test_read_paths_file_and_frame_agree(tmp_path, monkeypatch, threads_from):
    """Also when the column is split in halves on two threads, each with its own
    dictionary (" sms " in one half, "sms" in the other share a code)."""
    from workbench.attribution import reading

    monkeypatch.setattr(reading, "SPLIT_THREADS_MIN", threads_from)
    df = frame(path=["email > sms", " sms ", "direct", "email>direct >  sms"])
    f = tmp_path / "p.csv"
    df.to_csv(f, index=False)
    a, b = read_paths(df), read_paths(f)
    assert a.channels == b.channels == ("direct", "email", "sms")
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.value, b.value)
    bad = tmp_path / "ragged.csv"
    bad.write_text("path,total_conversions,total_conversion_value,total_null\na > b,1,2\n")
    with pytest.raises(AttributionInputError, match="ragged.csv: cannot be read as a CSV"):
        read_paths(bad)


def test_read_paths_does_not_guess_a_separator_when_one_is_used():
    # single-touch paths only: no separator anywhere is fine
    assert read_paths(frame(path=["email", "sms", "direct", "paid-search"])).n_channels == 4


def journeys(**changes) -> pd.DataFrame:
    t = pd.Timestamp("2024-01-10", tz="UTC")
    d = pd.DataFrame({"journey_id": [1, 1, 2], "touch_index": [0, 1, 0],
                      "channel": ["email", "sms", "sms"],
                      "touch_ts": [t - pd.Timedelta(days=2), t, t], "end_ts": [t, t, t],
                      "converted": [True, True, False], "value": [50.0, 50.0, 0.0]})
    for k, v in changes.items():
        d[k] = v
    return d


@pytest.mark.parametrize("changes, match", [
    ({"converted": [True, False, False]}, r"'converted' differs.*journey\(s\) \[1\]"),
    ({"touch_index": [0, 0, 0]}, r"touch_index repeats within journey\(s\) \[1\]"),
    ({"value": [50.0, 50.0, 5.0]}, r"'value' is positive on a journey that did not convert"),
    ({"channel": ["email", " ", "sms"]}, r"'channel' is empty at row 1"),
    ({"touch_ts": ["2024-01-01"] * 3}, r"'touch_ts' must be timestamps"),
    ({"end_ts": [pd.Timestamp("2024-01-09", tz="UTC")] * 3}, r"touch_ts is after end_ts"),
    ({"converted": [False, False, False], "value": [0.0] * 3}, "nothing to attribute"),
    ({"converted": ["yes", "yes", "no"]}, r"'converted' must be True/False.*rows 0, 1, 2"),
])
def test_paths_from_journeys_rejects_bad_input(changes, match):
    with pytest.raises(AttributionInputError, match=match):
        paths_from_journeys(journeys(**changes))
    with pytest.raises(AttributionInputError, match=r"missing column\(s\) \['end_ts'\]"):
        paths_from_journeys(journeys().drop(columns=["end_ts"]))


def test_paths_checks_its_arrays():
    with pytest.raises(AttributionInputError, match="empty path"):
        Paths(("a",), [0], [0, 0, 1], [1, 1], [0, 0], [0, 0])
    with pytest.raises(AttributionInputError, match="outside"):
        Paths(("a",), [1], [0, 1], [1], [0], [0])
    with pytest.raises(AttributionInputError, match="negative"):
        Paths(("a",), [0], [0, 1], [-1], [0], [0])
    p = Paths(("a", "b", "unused"), [0, 1], [0, 2], [1], [5], [0])
    assert p.drop_unused_channels().channels == ("a", "b")
    assert p.codes.flags.writeable is False
