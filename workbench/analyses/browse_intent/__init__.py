"""Browse-abandonment intent: who is about to buy, and whom a reminder actually moves.

A calibrated intent score per session (scikit-learn's logistic regression on the
session's product views, the customer's revisits of the category, the time it spent per
product view — where the store's timestamps carry it —, its size or stock checks — where
the store logs them — and the traffic source;
:mod:`.features`), checked on a time split (reliability by decile, Brier
score); then, where the campaign keeps a holdout, the reminder's incremental effect
by intent decile — messaged customers' sessions against held-out customers' sessions
of the same decile (intention to treat: Welch's difference in margin per session,
less the message cost).  Intent and uplift are not the same thing: the most intent
sessions buy anyway.  The policy sends to the contiguous range of deciles whose
estimated incremental margin sums highest (the maximum-sum subarray; Bentley 1984,
*CACM* 27:865) when the deciles it leaves out lose margin with probability 0.9 or more
(else to every session), exported as the campaign's targeting and replayed against sending to
every session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ...report import Kpi, Section
from ...results import Result
from ...simulate.campaign_settings import dwell_term
from ...simulate.config import BrowseTargeting
from ..base import Analysis, Context, replayed
from .content import CONTENTS, collection_deciles, content_by_decile
from .features import CAMPAIGN, browse_sessions

TITLE, ANCHOR = "Browse abandonment: intent and uplift", "browse-intent"
INTRO = ("Which browse sessions deserve a reminder? An intent score — the chance the "
         "customer buys within a week — from what the session shows (product views, a "
         "return to the same category, time on product pages, the arriving source), "
         "checked for calibration on later sessions; then, from the campaign's holdout, "
         "what a reminder adds in each intent decile. The sessions most likely to buy are "
         "often the ones a reminder moves least: they were buying anyway.")
DECILES = 10


def _design(df: pd.DataFrame, sources: list[str], dwell: bool = True,
            checks: bool = False) -> np.ndarray:
    x = [np.log(np.maximum(df.views.to_numpy(float), 1.0)),
         np.log1p(df.revisits.to_numpy(float))]
    if dwell:
        x.append(dwell_term(df.dwell_seconds.to_numpy(float)))
    if checks:
        x.append(np.log1p(df.checks.to_numpy(float)))
    x += [(df.source.astype(str) == s).to_numpy(float) for s in sources[1:]]
    return np.column_stack(x)


def has_dwell(df: pd.DataFrame) -> bool:
    """Whether time per product view varies enough to enter the model.

    Timestamps that all share one gap, or none, carry no signal.
    """
    d = dwell_term(df.dwell_seconds.to_numpy(float)) if "dwell_seconds" in df else None
    return d is not None and float(np.std(d)) > 0.01


@dataclass
class IntentModel:
    """A fitted logistic intent score, in the form the campaign config carries."""

    targeting: BrowseTargeting

    @classmethod
    def fit(cls, df: pd.DataFrame, sources: list[str] | None = None) -> IntentModel:
        from sklearn.linear_model import LogisticRegression

        sources = sorted(df.source.astype(str).unique()) if sources is None else sources
        dwell = has_dwell(df)
        checks = "checks" in df and bool((df.checks > 0).any())  # a store that logs them
        m = LogisticRegression(C=10.0, max_iter=1000)
        m.fit(_design(df, sources, dwell, checks), df.bought.to_numpy(int))
        c = list(m.coef_[0])
        coef = {"views": float(c.pop(0)), "revisits": float(c.pop(0))}
        if dwell:
            coef["dwell"] = float(c.pop(0))
        if checks:
            coef["checks"] = float(c.pop(0))
        coef.update({f"source:{s}": float(v) for s, v in zip(sources[1:], c, strict=True)})
        return cls(BrowseTargeting(intercept=float(m.intercept_[0]), coef=coef))

    def score(self, df: pd.DataFrame) -> np.ndarray:
        return self.targeting.score({
            "views": df.views.to_numpy(), "revisits": df.revisits.to_numpy(),
            "dwell_seconds": df.dwell_seconds.to_numpy(float) if "dwell_seconds" in df
            else np.full(len(df), np.nan),
            "checks": df.checks.to_numpy(float) if "checks" in df else np.zeros(len(df)),
            "source": df.source.astype(str).to_numpy(dtype=object)})


def reliability(score: np.ndarray, bought: np.ndarray, bins: int = DECILES) -> pd.DataFrame:
    """Predicted against observed purchase rate by score decile, with Wilson 95% intervals."""
    q = pd.qcut(pd.Series(score).rank(method="first"), bins, labels=False)
    rows = []
    for d in range(bins):
        s = q.to_numpy() == d
        n, k = int(s.sum()), int(bought[s].sum())
        lo, hi = _wilson(k, n)
        rows.append({"decile": d + 1, "sessions": n, "predicted": float(score[s].mean()),
                     "observed": k / n if n else np.nan, "observed_low": lo,
                     "observed_high": hi})
    return pd.DataFrame(rows)


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927, *JASA* 22:209)."""
    if n == 0:
        return np.nan, np.nan
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(c - h), float(c + h)


def uplift_by_decile(df: pd.DataFrame, score: np.ndarray, edges: np.ndarray) -> pd.DataFrame:
    """Per intent decile: messaged-arm against holdout-arm customers (intention to treat).

    Incremental purchase rate and incremental margin per session (margin in the window
    less the message cost), each customer's sessions of the decile averaged into one unit
    (the randomization is per customer), Welch 95% intervals; deciles by ``edges`` (score
    cut points: a decile is ``[edges[k-1], edges[k])``, as the targeting selects).
    Columns ``messaged_arm`` and ``holdout_arm`` count customers.
    """
    d = _decile(score, edges)
    # randomized per customer: one unit per customer and decile (their sessions' means),
    # so a customer's correlated sessions do not narrow the interval
    g = pd.DataFrame({"decile": d, "customer_id": df.customer_id.to_numpy(),
                      "arm": df.arm.to_numpy(dtype=object),
                      "net": (df.margin - df.message_cost).to_numpy(float),
                      "bought": df.bought.to_numpy(float)}).groupby(
        ["decile", "customer_id", "arm"], as_index=False)[["net", "bought"]].mean()
    rows = []
    net, bought = g.net.to_numpy(), g.bought.to_numpy()
    arm, d = g.arm.to_numpy(dtype=object), g.decile.to_numpy()
    for k in range(1, DECILES + 1):
        t, c = (d == k) & (arm == "messaged"), (d == k) & (arm == "holdout")
        row = {"decile": k, "messaged_arm": int(t.sum()), "holdout_arm": int(c.sum())}
        if t.sum() > 1 and c.sum() > 1:
            for name, y in (("purchase_rate", bought), ("margin", net)):
                diff = y[t].mean() - y[c].mean()
                res = stats.ttest_ind(y[t], y[c], equal_var=False)
                ci = res.confidence_interval()
                row.update({f"incremental_{name}": diff, f"incremental_{name}_low": ci.low,
                            f"incremental_{name}_high": ci.high})
        rows.append(row)
    return pd.DataFrame(rows)


def best_range(values: np.ndarray) -> tuple[int, int, float]:
    """The contiguous run of deciles (1-based, inclusive) with the largest sum (Kadane).

    Returns ``(first, last, sum)``; a decile without an estimate counts as zero.
    """
    best, cur, start, out = -np.inf, 0.0, 0, (1, 0)
    for i, v in enumerate(np.nan_to_num(values, nan=0.0)):
        if cur <= 0:
            cur, start = v, i
        else:
            cur += v
        if cur > best:
            best, out = cur, (start + 1, i + 1)
    return out[0], out[1], float(best)


@dataclass
class BrowseIntent(Result):
    """The intent model, its calibration, the uplift by decile and the targeting."""

    _html_table = "calibration"
    _skip_in_dict = ("sessions",)

    sessions: pd.DataFrame
    calibration: pd.DataFrame  # on the later sessions of the time split
    brier: float
    base_rate: float
    uplift: pd.DataFrame | None
    targeting: BrowseTargeting | None
    settings: dict = field(default_factory=dict)
    replay: pd.DataFrame | None = None
    truth: dict = field(default_factory=dict)
    content: pd.DataFrame | None = None  # per decile: reminder and collection (content test)

    def chart(self):
        """Altair: calibration by decile (with the diagonal) and, with a holdout, uplift."""
        import altair as alt

        c = self.calibration
        pts = alt.Chart(c).mark_point(filled=True).encode(
            x=alt.X("predicted:Q", title="predicted purchase rate", axis=alt.Axis(format="%")),
            y=alt.Y("observed:Q", title="observed", axis=alt.Axis(format="%")))
        bars = alt.Chart(c).mark_rule().encode(x="predicted:Q", y="observed_low:Q",
                                               y2="observed_high:Q")
        diag = alt.Chart(pd.DataFrame({"x": [0.0, float(c.observed_high.max())]})).mark_line(
            color="gray", strokeDash=[4, 4]).encode(x="x:Q", y="x:Q")
        calib = (diag + bars + pts).properties(width=260, height=220,
                                               title="Calibration on the later sessions")
        if self.uplift is None or "incremental_margin" not in self.uplift:
            return calib
        u = self.uplift
        up = (alt.Chart(u).mark_bar().encode(
            x=alt.X("decile:O", title="intent decile"),
            y=alt.Y("incremental_margin:Q", title="incremental margin per session"))
            + alt.Chart(u).mark_rule().encode(x="decile:O", y="incremental_margin_low:Q",
                                              y2="incremental_margin_high:Q")).properties(
            width=300, height=220, title="What a reminder adds, by intent decile")
        return alt.hconcat(calib, up)

    def summary(self) -> str:
        c = self.calibration
        lines = [f"{len(self.sessions):,} browse sessions; {self.base_rate:.1%} bought within "
                 f"{self.settings['window_days']:g} days. On the later third, the top intent "
                 f"decile bought at {c.observed.iloc[-1]:.1%} (predicted "
                 f"{c.predicted.iloc[-1]:.1%}) and the bottom at {c.observed.iloc[0]:.1%} "
                 f"(predicted {c.predicted.iloc[0]:.1%}); Brier score {self.brier:.4f} "
                 f"against {self.base_rate * (1 - self.base_rate):.4f} for the base rate."]
        if self.uplift is None:
            lines.append("The campaign has no holdout, so what a reminder adds by intent "
                         "cannot be measured: keep 10-20% of customers out of it "
                         "(campaigns.browse_abandonment.holdout_share).")
        elif self.settings.get("send_deciles", 0) is None:
            lines.append("From the holdout, no run of intent deciles shows reminders paying; "
                         "the campaign is left as it is and keeps its holdout measuring.")
        elif self.targeting is None and "send_deciles" in self.settings:
            u = self.uplift.set_index("decile")
            top = u.loc[DECILES]
            low = u.incremental_margin.idxmin()
            every = ("reminders pay in every intent decile on the estimate" if
                     u.incremental_margin.min() > 0 else
                     f"no decile is shown to lose (the lowest, decile {low}, "
                     f"{u.incremental_margin[low]:+.2f} "
                     f"[{u.incremental_margin_low[low]:+.2f}, "
                     f"{u.incremental_margin_high[low]:+.2f}])")
            lines.append(f"From the holdout, {every}, so every session keeps its reminder; "
                         f"the top decile adds {top.incremental_margin:+.2f} margin per "
                         f"session [{top.incremental_margin_low:+.2f}, "
                         f"{top.incremental_margin_high:+.2f}]" + (
                             " — the least: its customers were buying anyway."
                             if u.incremental_margin.idxmin() == DECILES else "."))
        elif self.targeting is not None:
            lo, hi = self.settings["send_deciles"]
            k = self.settings.get("collection_deciles", 0)
            lines.append(f"The config sends the reminder to intent deciles {lo}-{hi} (scores "
                         f"{self.targeting.min_score:.3f} to {self.targeting.max_score:.3f})"
                         + (f" and the curated collection to deciles 1-{k}" if k else
                            ", where reminders pay best, and nothing below") + ".")
        if self.settings.get("content_problem"):
            lines.append(f"The content test is not fully read: "
                         f"{self.settings['content_problem']}.")
        if self.content is not None and len(self.content):
            k = self.settings.get("collection_deciles", 0)
            c = self.content
            lines.append(
                f"From the content test, the curated collection beats the reminder in intent "
                f"deciles 1-{k}, so they get it" if k else
                "From the content test, the curated collection is not shown to beat the "
                "reminder in the lowest deciles, so every session keeps the reminder")
            lines[-1] += (f" (collection less reminder, bottom decile "
                          f"{c.collection_vs_reminder.iloc[0]:+.2f}, P "
                          f"{c.p_collection_better.iloc[0]:.2f}; top decile "
                          f"{c.collection_vs_reminder.iloc[-1]:+.2f}, P "
                          f"{c.p_collection_better.iloc[-1]:.2f}).")
            if "content_cells" in self.truth:
                lines.append(f"Against the truth, {self.truth['content_covered']} of "
                             f"{self.truth['content_cells']} decile × content effects lie in "
                             "their 95% intervals.")
        if self.replay is not None:
            r = self.replay.set_index("metric")
            lines.append(replayed("Replayed, the targeting", "sending to every session",
                                  r.loc["margin"])
                         + f", reminders {r.loc['messages_sent', 'difference']:+,.0f}, "
                         f"unsubscribes {r.loc['unsubscribes', 'difference']:+,.0f}.")
        if self.truth:
            lines.append(f"Against the simulator's truth, the score ranks research sessions "
                         f"(a purchase planned) above casual ones with AUC "
                         f"{self.truth['research_auc']:.2f}.")
        return " ".join(lines)


def excluded_loses(uplift: pd.DataFrame, lo: int, hi: int) -> float:
    """P(the deciles outside ``lo..hi`` lose margin in sum), normal approximation.

    Each decile's standard error is read from its 95% interval; the deciles are
    independent (disjoint customers' sessions), so the sum's variance is the sum of theirs.
    1 when nothing is excluded (nothing to lose).
    """
    d = uplift.decile.to_numpy()
    out = (d < lo) | (d > hi)
    if not out.any():
        return 1.0
    u = uplift[out]
    m = float(np.nansum(u.incremental_margin))
    se = np.sqrt(np.nansum(((u.incremental_margin_high - u.incremental_margin_low)
                            / (2 * 1.959964)) ** 2))
    return float(stats.norm.cdf(-m / se)) if se > 0 else float(m < 0)


def analyze_browse_intent(con, window_days: float = 7.0, split: float = 2 / 3,
                          dataset=None, confidence: float = 0.9) -> BrowseIntent:
    """Intent model (time split for calibration, then refitted on all), uplift, targeting.

    The score is fitted on the sessions no reminder reached (the holdout's, and those
    suppressed or unreachable), so it is the chance of buying *without* a reminder.
    Deciles are dropped from the reminders only where their summed incremental margin
    is negative with probability ``confidence`` or more (a noisy dip is not a loss).
    ``dataset``: a simulated dataset's path, to score against its truth.
    """
    df = browse_sessions(con, window_days)
    if len(df) < 200 or df.bought.sum() < 20:
        raise ValueError(f"too few browse sessions to model intent ({len(df):,} sessions, "
                         f"{int(df.bought.sum())} followed by a purchase; need 200 and 20)")
    df = df.sort_values("started_at").reset_index(drop=True)
    sources = sorted(df.source.astype(str).unique())
    # the baseline: sessions no reminder touched — the holdout's where there is one, else
    # those neither reminded nor following a reminder of the week before (a suppressed
    # session of a messaged customer comes after a treatment)
    hold = df[df.arm == "holdout"]
    base = hold if len(hold) >= 200 and hold.bought.sum() >= 20 else \
        df[~df.messaged & ~df.reminded_before & (df.arm != "messaged")]
    if len(base) < 200 or base.bought.sum() < 20:
        base = df
    cut = base.started_at.quantile(split)
    early = IntentModel.fit(base[base.started_at <= cut], sources)
    late = base[base.started_at > cut]
    s_late = early.score(late)
    calib = reliability(s_late, late.bought.to_numpy(bool))
    brier = float(np.mean((s_late - late.bought.to_numpy(float)) ** 2))
    model = IntentModel.fit(base, sources)
    score = model.score(df)
    df = df.assign(intent=score)
    edges = np.quantile(score, np.linspace(0, 1, DECILES + 1))
    uplift = targeting = content = None
    settings = {"window_days": window_days, "split": split}
    caused = _caused(dataset, df) if dataset is not None else None
    if df.arm.notna().any() and (df.arm == "holdout").sum() >= 50:
        # the reminder's uplift: the holdout against customers who got the reminder
        rem = df.arm.notna() & (df.content.fillna("reminder") == "reminder")
        uplift = uplift_by_decile(df[rem], df.intent[rem].to_numpy(), edges)
        unknown = sorted(set(df.content.dropna()) - set(CONTENTS))
        if unknown:
            settings["content_problem"] = (
                f"the assignments table's experiment 'browse_content' has arms {unknown} "
                f"this analysis does not know; it compares {list(CONTENTS)} (name them so "
                "when importing: workbench import assignments --arm)")
        if df.content.isin(CONTENTS).any():
            t = df.arm.notna()
            content = content_by_decile(df[t], _decile(df.intent[t].to_numpy(), edges),
                                        caused)
        k = collection_deciles(content, confidence) if content is not None else 0
        settings["collection_deciles"] = k
        if "incremental_margin" in uplift:
            lo, hi, total = best_range(uplift.incremental_margin.to_numpy(float))
            p_loses = excluded_loses(uplift, lo, hi)
            settings["p_excluded_lose"] = p_loses
            if total > 0 and p_loses < confidence:  # not shown to lose: keep them all
                lo, hi = 1, DECILES
            if k and k + 1 < lo:  # the collection's deciles must adjoin the reminders'
                k = settings["collection_deciles"] = 0
            lo = max(lo, k + 1)
            settings["send_deciles"] = (lo, hi) if total > 0 else None
            if total > 0 and ((lo, hi) != (1, DECILES) or k):  # else nothing to change
                targeting = model.targeting.model_copy(update={
                    "min_score": float(edges[lo - 1]) if lo > 1 else 0.0,
                    "max_score": float(edges[hi]) if hi < DECILES else 1.0,
                    "collection_min_score": 0.0 if k else None,
                    "made_by": {"model": "logistic regression (views, revisits, "
                                + ("time per view, " if "dwell" in model.targeting.coef
                                   else "")
                                + ("size checks, " if "checks" in model.targeting.coef
                                   else "") + "source)",
                                "window_days": window_days, "deciles": f"{lo}-{hi}",
                                "collection_deciles": f"1-{k}" if k else None,
                                "sessions": len(df)}})
    truth = {}
    if dataset is not None:
        from ...store import read_table

        tb = read_table(dataset, "truth/browse_sessions")[["session_id", "research"]]
        j = df.merge(tb, on="session_id")
        if j.research.nunique() == 2:
            truth["research_auc"] = float(stats.mannwhitneyu(
                j.intent[j.research], j.intent[~j.research]).statistic
                / (j.research.sum() * (~j.research).sum()))
    if content is not None and caused is not None:
        covered = [((content[f"{c}_low"] <= content[f"{c}_truth"])
                    & (content[f"{c}_truth"] <= content[f"{c}_high"])) for c in CONTENTS]
        truth["content_cells"] = int(sum(len(x) for x in covered))
        truth["content_covered"] = int(sum(int(x.sum()) for x in covered))
    return BrowseIntent(sessions=df, calibration=calib, brier=brier,
                        base_rate=float(df.bought.mean()), uplift=uplift, targeting=targeting,
                        settings=settings, truth=truth, content=content)


def _decile(score: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each score's intent decile (1-10) by the cut points ``edges``."""
    return np.clip(np.searchsorted(edges, score, side="right"), 1, DECILES)


def _caused(dataset, df: pd.DataFrame) -> pd.Series:
    """Per session (``df``'s index): the margin its browse email caused (the truth)."""
    from ...store import read_table

    m = read_table(dataset, "messages")
    m = m[m.campaign == CAMPAIGN][["message_id", "trigger_id"]]
    t = read_table(dataset, "truth/messages")[["message_id", "incremental_margin"]]
    per = m.merge(t, on="message_id").groupby("trigger_id").incremental_margin.sum()
    return df.session_id.map(per).fillna(0.0)


def replay_browse_targeting(dataset, result: BrowseIntent, replications: int = 1
                            ) -> pd.DataFrame:
    """The targeting against reminding every session, on the store's own customers."""
    from ...campaigns.config import baseline_from_dataset, with_recommendations
    from ...campaigns.replay import replay

    base = baseline_from_dataset(dataset)
    data = base.model_dump(mode="json")  # the reminder for everyone: no content test
    data["campaigns"]["browse_abandonment"]["content_test"] = None
    base = type(base).model_validate(data)
    new = with_recommendations(base, browse_targeting=result.targeting)
    return replay(dataset, new, baseline=base, replications=replications).table


class BrowseIntentAnalysis(Analysis):
    """Intent score, calibration, uplift by decile, targeting and its replay."""

    name, title, anchor, intro = "browse_intent", TITLE, ANCHOR, INTRO
    recommendation = "browse-reminder targeting"
    needs = {"sessions": ("session_id", "customer_id", "started_at", "source"),
             "events": ("session_id", "event_name", "product_id"),
             "orders": ("order_id", "customer_id", "placed_at", "revenue")}
    test_to_run = ("a browse-abandonment holdout: 10-20% of customers kept out of the "
                   "campaign (campaigns.browse_abandonment.holdout_share), recorded in the "
                   "assignments table as experiment 'browse_abandonment_holdout'")

    def run(self, ctx: Context):
        if not ctx.has_table("events", nonempty=True):
            return self.skip("the dataset has no events: browse sessions are read from "
                             "view_item events (a GA4 export has them)")
        try:
            res = analyze_browse_intent(ctx.con, dataset=ctx.path if ctx.has_truth(
                "truth/browse_sessions") else None)
        except ValueError as exc:
            return self.skip(str(exc))
        if ctx.simulated and res.targeting is not None:
            ctx.echo("browse intent: replaying the targeting against every session")
            res.replay = replay_browse_targeting(ctx.path, res)
        return res

    def section(self, result: BrowseIntent) -> Section:
        c = result.calibration
        kpis = [Kpi("bi-sessions", "browse sessions", f"{len(result.sessions):,}",
                    f"{result.base_rate:.1%} bought within a week"),
                Kpi("bi-top", "top intent decile", f"{c.observed.iloc[-1]:.1%}",
                    f"predicted {c.predicted.iloc[-1]:.1%}")]
        tables = [("Calibration on the later sessions (predicted against observed purchase "
                   "rate by intent decile, Wilson 95% interval)", c.round(4))]
        if result.uplift is not None:
            tables.append(("What a reminder adds, by intent decile: messaged-arm against "
                           "holdout-arm sessions (95% intervals)", result.uplift.round(4)))
        if result.content is not None:
            tables.append(("What each content adds, by intent decile: the reminder and a "
                           "curated collection against the holdout, and the collection "
                           "against the reminder (the store's content test)",
                           result.content.round(4)))
        if result.replay is not None:
            tables.append(("The targeting replayed against reminding every session",
                           result.replay.round(1)))
        return Section(title=TITLE, anchor=ANCHOR, kpis=kpis, tables=tables,
                       paragraphs=[INTRO, result.summary()])

    def export(self, result: BrowseIntent, out, ctx: Context):
        """``browse_intent.csv``: every browse session's signals and intent score."""
        cols = ["session_id", "customer_id", "started_at", "category", "source", "views",
                "revisits", "dwell_seconds", "checks", "intent", "messaged", "arm", "content",
                "bought"]
        return self.write_csv(out, "browse_intent", result.sessions[cols], 4)

    def config_part(self, result: BrowseIntent, files):
        return {} if result.targeting is None else {"browse_targeting": result.targeting}


__all__ = ["BrowseIntent", "BrowseIntentAnalysis", "IntentModel", "analyze_browse_intent",
           "best_range", "browse_sessions", "reliability", "replay_browse_targeting",
           "uplift_by_decile"]
