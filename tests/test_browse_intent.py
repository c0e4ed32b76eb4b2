"""Browse intent: a calibrated score, uplift by decile from the holdout, and targeting."""

from __future__ import annotations

import numpy as np
import pytest

import workbench as wb
from workbench.analyses.browse_intent import analyze_browse_intent, best_range
from workbench.campaigns.config import CampaignConfig, diff_configs, with_recommendations
from workbench.simulate import scenario, simulate
from workbench.simulate.config import BrowseTargeting


def _held(base, share: float):
    d = base.campaigns.model_dump()
    d["browse_abandonment"]["holdout_share"] = share
    return base.model_copy(update={"campaigns": type(base.campaigns).model_validate(d)})


@pytest.fixture(scope="module")
def browse_store(tmp_path_factory):
    st = simulate(_held(scenario("default", n_customers=6000, days=300), 0.3), seed=21)
    return wb.save_simulation(st, tmp_path_factory.mktemp("b") / "d")


@pytest.fixture(scope="module")
def result(browse_store):
    return analyze_browse_intent(wb.open_dataset(browse_store), dataset=browse_store)


def test_the_score_is_calibrated_on_later_sessions(result):
    c = result.calibration
    assert len(c) == 10 and c.sessions.min() > 100
    # each decile's predicted rate within its observed Wilson interval, widened by one
    # point for the drift between the fitting and the later sessions
    assert ((c.predicted >= c.observed_low - 0.01) & (c.predicted <= c.observed_high + 0.01)
            ).mean() >= 0.8, c
    assert c.observed.iloc[-1] > 3 * c.observed.iloc[:5].mean()  # it separates
    assert result.brier < result.base_rate * (1 - result.base_rate)


def test_revisits_are_counted_in_the_engine_as_the_simulator_counts_them(browse_store, result):
    """The engine's range window over a customer's sessions in a category gives the
    simulator's own count of earlier visits within 14 days (truth), session by session;
    a session whose views' majority category is not the one it browsed may differ."""
    from workbench.store import read_table

    truth = read_table(browse_store, "truth/browse_sessions").set_index("session_id")
    s = result.sessions.set_index("session_id")
    same = s.revisits.to_numpy() == truth.revisits_14d.reindex(s.index).to_numpy()
    assert len(s) > 1000 and same.mean() >= 0.99, same.mean()
    assert s.revisits.max() >= 2  # revisits exist to be counted


def test_the_score_finds_the_sessions_before_a_planned_purchase(result):
    # research sessions (truth) precede a purchase in their category: the score ranks
    # them above casual browsing
    assert result.truth["research_auc"] > 0.7


def test_time_on_product_pages_is_read_from_the_events_and_used(browse_store, result):
    import pandas as pd

    from workbench.store import read_table

    s = result.sessions.merge(read_table(browse_store, "truth/browse_sessions")[
        ["session_id", "research"]], on="session_id")
    cfg = wb.load_manifest(browse_store)["config"]["traffic"]
    d = s.dropna(subset=["dwell_seconds"]).groupby("research").dwell_seconds
    # the mean of exp(s z - s^2/2) x 45 s is 45 s; research sessions take 1.6 times it
    # (to 4 standard errors of a mean of a log-normal with log-sd 0.5)
    for research, mult in ((False, 1.0), (True, cfg["research_dwell_multiplier"])):
        g = d.get_group(research)
        se = g.std() / np.sqrt(len(g))
        assert g.mean() == pytest.approx(45.0 * mult, abs=4 * se + 0.5)
    assert result.targeting is None or "dwell" in result.targeting.coef
    # the model gives it weight: longer looks, likelier purchases
    from workbench.analyses.browse_intent import IntentModel

    base = result.sessions[result.sessions.arm != "messaged"]
    assert IntentModel.fit(base).targeting.coef["dwell"] > 0.3
    # without the signal the score finds the research sessions less well
    no_dwell = IntentModel.fit(base.assign(dwell_seconds=np.nan))
    assert "dwell" not in no_dwell.targeting.coef
    from scipy import stats

    def auc(score):
        r = s.research.to_numpy()
        u = stats.mannwhitneyu(score[r], score[~r]).statistic
        return u / (r.sum() * (~r).sum())

    full = IntentModel.fit(base)
    assert auc(full.score(s)) > auc(no_dwell.score(s.assign(dwell_seconds=np.nan))) + 0.02
    assert pd.api.types.is_float_dtype(result.sessions.dwell_seconds)


def test_size_checks_are_counted_from_the_events_and_raise_intent(browse_store, result):
    from workbench.analyses.browse_intent import IntentModel
    from workbench.store import read_table

    cfg = wb.load_manifest(browse_store)["config"]["traffic"]
    s = result.sessions.merge(read_table(browse_store, "truth/browse_sessions")[
        ["session_id", "research"]], on="session_id")
    # checks per view: binomial with the casual and the research probability (4 standard
    # errors of a proportion over all their views)
    for research, p in ((False, cfg["variant_check_prob"]),
                        (True, cfg["research_variant_check_prob"])):
        g = s[s.research == research]
        rate = g.checks.sum() / g.views.sum()
        assert rate == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / g.views.sum()))
    base = result.sessions[result.sessions.arm != "messaged"]
    fit = IntentModel.fit(base).targeting
    assert fit.coef["checks"] > 0.3
    assert "checks" not in IntentModel.fit(base.assign(checks=0)).targeting.coef


def test_every_session_is_exported_with_its_score(result, tmp_path):
    import pandas as pd

    from workbench.analyses.browse_intent import BrowseIntentAnalysis

    files = BrowseIntentAnalysis().export(result, tmp_path, None)
    out = pd.read_csv(files["browse_intent"])
    assert len(out) == len(result.sessions) and out.session_id.is_unique
    assert out.intent.between(0, 1).all()


def test_uplift_by_decile_comes_from_the_holdout(result):
    u = result.uplift
    assert list(u.decile) == list(range(1, 11))
    assert (u.holdout_arm > 0).all() and (u.messaged_arm > u.holdout_arm).all()
    pooled = (u.incremental_purchase_rate * (u.messaged_arm + u.holdout_arm)).sum() / (
        u.messaged_arm + u.holdout_arm).sum()
    assert pooled > 0  # the reminders, on the whole, sell
    # the randomization is per customer: the held-out share of customers in each decile
    # is the holdout's 30%
    share = u.holdout_arm / (u.holdout_arm + u.messaged_arm)
    n = u.holdout_arm + u.messaged_arm
    assert (abs(share - 0.3) < 4 * np.sqrt(0.21 / n) + 0.01).all(), share
    assert "send_deciles" in result.settings


def test_without_a_holdout_it_says_which_test_to_run(small_dataset):
    res = analyze_browse_intent(wb.open_dataset(small_dataset))
    assert res.uplift is None and res.targeting is None
    assert "holdout_share" in res.summary()


def test_best_range_is_the_maximum_sum_run():
    assert best_range(np.array([-1.0, 2, 3, -1, 4, -10, 1])) == (2, 5, 8.0)
    assert best_range(np.array([1.0, 1, 1])) == (1, 3, 3.0)
    # nothing pays: the least bad decile, with a negative sum the analysis refuses
    assert best_range(np.array([-3.0, -1, -2])) == (2, 2, -1.0)
    # a decile without an estimate counts as zero, not as a wall
    assert best_range(np.array([2.0, np.nan, 2.0])) == (1, 3, 4.0)


def test_deciles_are_dropped_only_when_they_are_shown_to_lose():
    import pandas as pd

    from workbench.analyses.browse_intent import excluded_loses

    def uplift(first, half_width):
        m = np.r_[first, np.full(9, 0.5)]
        return pd.DataFrame({"decile": np.arange(1, 11), "incremental_margin": m,
                             "incremental_margin_low": m - half_width,
                             "incremental_margin_high": m + half_width})

    # -0.10 with a 95% half-width of 0.6: se 0.306, P(loses) = Phi(0.10 / 0.306) = 0.628
    assert excluded_loses(uplift(-0.10, 0.6), 2, 10) == pytest.approx(0.628, abs=0.002)
    assert excluded_loses(uplift(-1.0, 0.6), 2, 10) > 0.999
    assert excluded_loses(uplift(-1.0, 0.6), 1, 10) == 1.0  # nothing left out


def test_the_simulator_reminds_only_the_sessions_in_range():
    base = scenario("small", n_customers=1500, days=120)
    everyone = simulate(base, seed=2).to_pandas("messages")
    n_all = (everyone.campaign == "browse_abandonment").sum()
    tgt = BrowseTargeting(intercept=-3.0, coef={"views": 1.0, "revisits": 2.0},
                          min_score=0.1)
    d = base.campaigns.model_dump()
    d["browse_abandonment"]["targeting"] = tgt.model_dump()
    cfg = base.model_copy(update={"campaigns": type(base.campaigns).model_validate(d)})
    st = simulate(cfg, seed=2)
    m = st.to_pandas("messages")
    sent = m[m.campaign == "browse_abandonment"]
    assert 0 < len(sent) < 0.8 * n_all
    # every reminder's session scores in range, recomputed from the published tables
    ev = st.to_pandas("events")
    views = ev[ev.event_name == "view_item"].groupby("session_id").size()
    tb = st.to_pandas("truth/browse_sessions").set_index("session_id")
    s = sent.trigger_id.astype(int)
    score = tgt.score({"views": views.reindex(s).to_numpy(),
                       "revisits": tb.revisits_14d.reindex(s).to_numpy(),
                       "source": np.array(["direct"] * len(s), dtype=object)})
    assert (score >= 0.1 - 1e-12).all()


def test_the_config_says_what_changed_in_one_sentence():
    t = BrowseTargeting(intercept=-4.0, coef={"views": 1.0}, min_score=0.02,
                        made_by={"deciles": "3-9"})
    new = with_recommendations(CampaignConfig(), browse_targeting=t)
    assert diff_configs(CampaignConfig(), new) == [
        "browse-abandonment reminders: every session with enough views → sessions whose "
        "intent score is 0.020 to 1.000 (intent deciles 3-9)"]
    with pytest.raises(ValueError, match="unknown targeting features"):
        BrowseTargeting(intercept=0.0, coef={"fit_guides": 1.0})


def test_a_score_range_is_the_deciles_cut_points():
    """[min, max): a score at a cut point belongs to the decile above, as in the analysis."""
    base = BrowseTargeting(intercept=0.0, coef={"views": 1.0})
    f = {"views": np.array([1.0, 3.0, np.e]), "revisits": np.zeros(3),
         "source": np.array(["direct"] * 3, dtype=object)}
    s = base.score(f)  # sigmoid(log v): 0.5, 0.75, 0.731
    assert s[0] == pytest.approx(0.5) and s[1] == pytest.approx(0.75)
    t = base.model_copy(update={"min_score": float(s[0]), "max_score": float(s[1])})
    assert list(t.selects(f)) == [True, False, True]
    top = base.model_copy(update={"min_score": 0.9, "max_score": 1.0})
    assert top.selects({**f, "views": np.full(3, 1e12)}).all()  # a top range includes 1


# ------------------------------------------------------------- content by intent decile
#: strong content effects (after a casual session, after a research one), so a store of
#: 6,000 customers tells them apart
STRONG_CONTENT = {"reminder": (0.0, 0.0), "collection": (1.2, -1.5)}


@pytest.fixture(scope="module")
def content_store(tmp_path_factory):
    cfg = scenario("browse_content", n_customers=6000, days=300,
                   response={"browse_content_logit": STRONG_CONTENT})
    return wb.save_simulation(simulate(cfg, seed=4), tmp_path_factory.mktemp("bc") / "d")


@pytest.fixture(scope="module")
def content_result(content_store):
    return analyze_browse_intent(wb.open_dataset(content_store), dataset=content_store)


def test_the_content_moves_the_browse_logit_by_exactly_its_term(content_store):
    from workbench.store import load_manifest, read_table

    cfg = load_manifest(content_store)["config"]["response"]
    m = read_table(content_store, "messages")
    m = m[(m.campaign == "browse_abandonment") & (m.channel == "email")]
    t = read_table(content_store, "truth/messages").set_index("message_id")
    c = read_table(content_store, "truth/customers").set_index("customer_id")
    r = read_table(content_store, "truth/browse_sessions").set_index("session_id").research
    resid = (t.persuasion_logit_without_discount.reindex(m.message_id).to_numpy()
             - t.products_logit.reindex(m.message_id).to_numpy()
             - c.email_responsiveness.reindex(m.customer_id).to_numpy()
             - cfg["campaign_base_logit"]["browse_abandonment"])
    research = m.trigger_id.map(r).to_numpy(bool)
    level = {}
    for arm in ("reminder", "collection"):
        for k, is_r in enumerate((False, True)):
            x = resid[(m.arm == arm).to_numpy() & (research == is_r)]
            assert x.size > 20 and np.ptp(x) < 1e-9  # one value: the intent and content terms
            level[arm, k] = x[0]
    for k in (0, 1):  # the collection's term over the reminder's, casual then research
        assert level["collection", k] - level["reminder", k] == pytest.approx(
            STRONG_CONTENT["collection"][k], abs=1e-9)


def test_the_collection_goes_where_intent_is_low_and_the_truth_is_covered(content_result):
    r = content_result
    k = r.settings["collection_deciles"]
    assert k >= 3 and r.targeting is not None and r.targeting.collection_min_score == 0.0
    lo, _ = r.settings["send_deciles"]
    assert lo == k + 1  # the reminder from the decile above
    c = r.content.set_index("decile")
    # the collection earns more than the reminder at the bottom, and its edge shrinks as
    # intent (the share of research sessions) rises (the truth of every email)
    edge = c.collection_truth - c.reminder_truth
    assert edge[1] > 0 and edge[10] < edge[1]
    # 20 decile x content effects against the truth of every email, 95% intervals
    assert r.truth["content_cells"] == 20 and r.truth["content_covered"] >= 16
    assert "curated collection" in r.summary()


def test_content_by_intent_replays_better_than_the_reminder_for_everyone(content_store,
                                                                        content_result):
    from workbench.analyses.browse_intent import replay_browse_targeting

    rep = replay_browse_targeting(content_store, content_result).set_index("metric")
    assert rep.loc["margin", "low"] > 0


def test_collection_deciles_take_the_run_shown_to_win():
    import pandas as pd

    from workbench.analyses.browse_intent.content import collection_deciles

    def table(diffs, se=0.3, pays=1.0):
        return pd.DataFrame({"decile": np.arange(1, len(diffs) + 1),
                             "collection_vs_reminder": diffs,
                             "collection_vs_reminder_se": se,
                             "collection_incremental": pays})

    # cumulative sums 0.5, 1.0, 1.2, 0.2: P(sum > 0) with se sqrt(k) 0.3 passes 0.9 for
    # k = 1..3 (z 1.67, 2.36, 2.31) and not 4 (0.33); the largest sum is at k = 3
    assert collection_deciles(table([0.5, 0.5, 0.2, -1.0])) == 3
    assert collection_deciles(table([0.1, 0.1, -0.5])) == 0  # never shown
    assert collection_deciles(table([0.5, 0.5], pays=-1.0)) == 0  # better, but still losing


def test_a_targeting_routes_scores_to_reminder_collection_or_nothing():
    t = BrowseTargeting(intercept=0.0, coef={}, min_score=0.5, max_score=1.0,
                        collection_min_score=0.2)
    f = {"views": np.ones(3), "revisits": np.zeros(3), "source": np.array(["direct"] * 3)}
    t0 = t.model_copy(update={"intercept": -2.0})  # score 0.12: nothing
    t1 = t.model_copy(update={"intercept": -0.5})  # 0.38: the collection
    assert (t0.contents(f) == -1).all() and (t1.contents(f) == 1).all()
    assert (t.contents(f) == 0).all()  # 0.5: the reminder
    with pytest.raises(ValueError, match="collection goes below"):
        BrowseTargeting(intercept=0.0, coef={}, min_score=0.2, collection_min_score=0.3)
    new = with_recommendations(CampaignConfig(), browse_targeting=t1.model_copy(update={
        "made_by": {"deciles": "6-10", "collection_deciles": "1-5"}}))
    assert "curated collection from 0.200 up to there (deciles 1-5)" in \
        diff_configs(CampaignConfig(), new)[0]
