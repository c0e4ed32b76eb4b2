"""Messages per week per customer: engagement against fatigue, unsubscribes counted.

Every delivered message, with the customer's volume on its channel in the 7 days before
and their engagement there (:mod:`.features`), feeds one logistic regression per
channel (statsmodels) of unsubscribing on ``log(1 + recent)``, engagement and their
product: how fast fatigue rises with volume, and how much faster for the less engaged.
The decision is a marginal one.  The ``j``-th message of a week is worth sending while
what it risks is worth less than what it brings: an unsubscribe loses the customer's
future messages on the channel (their weekly rate times ``horizon_weeks``), each worth,
on average, what this one is, so the message goes while

    P(unsubscribe | j - 1 recent, engagement) x weekly rate x horizon_weeks < 1

— the expected number of future messages lost is under the one sent (the value of a
message cancels, so clicks or margin per message need not be known).  Each customer's
cap (``email_per_week``, ``sms_per_week``, at least 1, at most the store's) is the first
``j`` where that fails.  Exported as the caps' per-customer entries where they differ
from the store's, and replayed on a simulated store against the store-wide caps.

The volume a customer gets follows their behaviour (triggers), not a randomization, so
the slope is observational: the regression holds engagement fixed, which is what
confounds volume and unsubscribing most.  The test that measures it cleanly is a
randomized cap: customers assigned at random to the store's cap or a lower one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm

from ...report import Kpi, Section
from ...results import Result
from ...store import has_truth, load_manifest, read_table
from ...vocab import CHANNELS
from ..base import Analysis, Context, replayed
from .cap_test import arms_problem, cap_test_effect, cap_test_sentence, cap_test_units
from .features import message_volume, shrunk_click_rates

TITLE, ANCHOR = "Messages per week per customer", "frequency"
INTRO = ("How many emails and SMS a week should each customer get? Fatigue rises with "
         "volume, faster for those who do not engage; a message is worth sending while "
         "the future messages an unsubscribe would lose are fewer than the one sent.")
HORIZON_WEEKS = 52.0
MIN_UNSUBSCRIBES = 20  # per channel, to fit its fatigue curve
MIN_ENGAGEMENT_SD = 0.02  # customers' engagement must spread this much to enter the fit
DEFAULT_CAPS = {"email": 5, "sms": 2}


class FrequencyInputError(ValueError):
    """Too few messages or unsubscribes to estimate fatigue."""


def _design(recent: np.ndarray, engagement: np.ndarray) -> np.ndarray:
    v = np.log1p(recent)
    return np.column_stack([np.ones_like(v), v, engagement, v * engagement])


def fit_fatigue(d: pd.DataFrame) -> dict[str, dict]:
    """Per channel with enough unsubscribes: the logistic fit's coefficients and errors."""
    out = {}
    for ch in CHANNELS:
        g = d[d.channel == ch]
        k = int(g.unsubscribed.sum())
        if k < MIN_UNSUBSCRIBES:
            continue
        X = _design(g.recent.to_numpy(float), g.engagement.to_numpy(float))
        # too few messages per customer to tell their engagement apart (the shrinkage
        # pulled everyone to the store's): volume alone, engagement terms 0
        cols = [0, 1, 2, 3] if g.engagement.std() > MIN_ENGAGEMENT_SD else [0, 1]
        res = sm.Logit(g.unsubscribed.to_numpy(float), X[:, cols]).fit(
            disp=0, method="newton", maxiter=100)
        params, bse = np.zeros(4), np.full(4, np.nan)
        params[cols], bse[cols] = res.params, res.bse
        out[ch] = {"params": params, "bse": bse, "unsubscribes": k, "messages": len(g),
                   "engagement_used": len(cols) == 4, "predicted": res.predict(X[:, cols])}
    if not out:
        raise FrequencyInputError(
            f"fewer than {MIN_UNSUBSCRIBES} unsubscribes on every channel: fatigue cannot "
            "be told from noise yet (the messages table's unsubscribed_at)")
    return out


def unsubscribe_probability(params: np.ndarray, recent, engagement) -> np.ndarray:
    """The fitted ``P(unsubscribe)`` of a message at ``recent`` and ``engagement``."""
    z = _design(np.asarray(recent, float), np.asarray(engagement, float)) @ params
    return 1.0 / (1.0 + np.exp(-z))


def calibration(d: pd.DataFrame, predicted: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Predicted against observed unsubscribe rates by decile of the prediction."""
    g = d.assign(predicted=predicted)
    g["decile"] = pd.qcut(g.predicted.rank(method="first"), bins, labels=False)
    out = g.groupby("decile").agg(messages=("predicted", "size"),
                                  predicted=("predicted", "mean"),
                                  observed=("unsubscribed", "mean"))
    return out.reset_index()


@dataclass
class FrequencyCaps(Result):
    """Per customer and channel: engagement, messages a week, fatigue and the cap."""

    _html_table = "fatigue"
    _skip_in_dict = ("scorecard",)

    scorecard: pd.DataFrame
    fatigue: pd.DataFrame  # per channel: coefficients with standard errors
    calibration: dict = field(default_factory=dict)  # channel -> decile table
    settings: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)
    replay: pd.DataFrame | None = None
    cap_test: pd.DataFrame | None = None  # the store's randomized cap test, where it ran

    @property
    def per_customer(self) -> dict[str, tuple[int, int]]:
        """Customer id: (emails, SMS) a week, for customers whose cap is below the store's."""
        c = self.scorecard
        caps = self.settings["store_caps"]
        low = (c.email_per_week < caps["email"]) | (c.sms_per_week < caps["sms"])
        return {str(k): (int(e), int(s)) for k, e, s in zip(
            c.customer_id[low], c.email_per_week[low], c.sms_per_week[low], strict=True)}

    def summary(self) -> str:
        f = self.fatigue.set_index("channel")
        lines = []
        for ch, r in f.iterrows():
            line = (f"{ch}: the odds of an unsubscribe are {np.exp(r.volume * np.log(2)):.2f}x "
                    f"when one plus the week's volume doubles (from {int(r.unsubscribes):,} "
                    f"unsubscribes)")
            if np.isfinite(r.engagement_se):
                line += (f"; with no other message that week, {np.exp(-r.engagement):.2f}x "
                         f"for a customer engaging a third as much (engagement slope "
                         f"{r.engagement:+.2f} ± {r.engagement_se:.2f})")
            else:
                line += ("; too few messages per customer to tell their engagement apart, "
                         "so volume alone")
            lines.append(line + ".")
        caps = self.settings["store_caps"]
        c = self.scorecard
        n_low = len(self.per_customer)
        whose = ("the workbench's default caps (give your own: workbench run "
                 "--current-config)" if self.settings.get("caps_assumed") else "the store's")
        lines.append(f"{n_low:,} of {len(c):,} customers get a lower cap than {whose} "
                     f"({caps['email']} emails, {caps['sms']} SMS a week): "
                     f"{int((c.email_per_week < caps['email']).sum()):,} on email and "
                     f"{int((c.sms_per_week < caps['sms']).sum()):,} on SMS.")
        if self.truth:
            lines.append(f"Against the simulator's truth, the fitted probabilities follow the "
                         f"true ones with correlation {self.truth['correlation']:.2f} "
                         f"(mean {self.truth['predicted_mean']:.4f} against "
                         f"{self.truth['true_mean']:.4f}).")
        if self.replay is not None:
            r = self.replay.set_index("metric")
            lines.append(replayed("Replayed on the store's customers, the per-customer cap "
                                  "policy", "the store's caps", r.loc["margin"])
                         + f", unsubscribes {r.loc['unsubscribes', 'difference']:+,.0f} "
                         f"[{r.loc['unsubscribes', 'low']:+,.0f}, "
                         f"{r.loc['unsubscribes', 'high']:+,.0f}].")
        if self.cap_test is not None and len(self.cap_test):
            lines.append(cap_test_sentence(self.cap_test))
        elif self.settings.get("cap_test_problem"):
            lines.append(f"The cap test is not read: {self.settings['cap_test_problem']}.")
        return " ".join(lines)


def analyze_frequency(con, store_caps: dict[str, int] | None = None,
                      horizon_weeks: float = HORIZON_WEEKS, dataset=None) -> FrequencyCaps:
    """Fit fatigue per channel and choose each customer's weekly caps.

    ``store_caps``: the store's caps now, ``{"email": 5, "sms": 2}`` by default (a
    simulated ``dataset`` gives its own); ``dataset``: a simulated dataset's path, to
    read its caps and score the fit against its truth.
    """
    truth = None
    if dataset is not None and has_truth(dataset, "truth/customers"):
        cfg = load_manifest(dataset).get("config", {})
        if store_caps is None:
            c = cfg.get("campaigns", {}).get("caps", {})
            store_caps = {"email": c.get("email_per_week", DEFAULT_CAPS["email"]),
                          "sms": c.get("sms_per_week", DEFAULT_CAPS["sms"])}
        truth = {"customers": read_table(dataset, "truth/customers"),
                 "engagement": cfg.get("engagement", {}),
                 "sd": cfg.get("response", {}).get("responsiveness_log_sd", 0.5)}
    assumed = store_caps is None  # an imported store that did not say its caps
    caps = dict(store_caps or DEFAULT_CAPS)
    d = message_volume(con)
    fits = fit_fatigue(d)
    end = d.sent_at.max()
    rows = []
    per = d.groupby(["customer_id", "channel"]).agg(
        messages=("sent_at", "size"), first=("sent_at", "min"),
        engagement=("engagement", "first"), left=("unsubscribed", "any")).reset_index()
    weeks = ((end - per["first"]).dt.total_seconds() / (7 * 86400)).clip(lower=1.0)
    per["per_week"] = per.messages / weeks
    for ch in CHANNELS:
        g = per[per.channel == ch].copy()
        if ch not in fits:
            g[f"{ch}_per_week"] = caps[ch]
        else:
            cap = np.ones(len(g), dtype=int)
            for j in range(1, caps[ch]):  # the (j + 1)-th message: j recent before it
                p = unsubscribe_probability(fits[ch]["params"], np.full(len(g), j),
                                            g.engagement.to_numpy())
                ok = p * g.per_week.to_numpy() * horizon_weeks < 1.0
                cap = np.where((cap == j) & ok, j + 1, cap)
            g[f"{ch}_per_week"] = cap
        rows.append(g.rename(columns={"engagement": f"{ch}_engagement",
                                      "per_week": f"{ch}_messages_per_week"})[
            ["customer_id", f"{ch}_engagement", f"{ch}_messages_per_week",
             f"{ch}_per_week"]])
    card = rows[0].merge(rows[1], on="customer_id", how="outer")
    for ch in CHANNELS:
        card[f"{ch}_per_week"] = card[f"{ch}_per_week"].fillna(caps[ch]).astype(int)
    fat = pd.DataFrame([{"channel": ch, "intercept": f["params"][0], "volume": f["params"][1],
                         "engagement": f["params"][2], "interaction": f["params"][3],
                         "volume_se": f["bse"][1], "engagement_se": f["bse"][2],
                         "unsubscribes": f["unsubscribes"], "messages": f["messages"]}
                        for ch, f in fits.items()])
    cal = {ch: calibration(d[d.channel == ch], f["predicted"]) for ch, f in fits.items()}
    out_truth = {}
    if truth is not None:
        out_truth = _score(d, fits, truth)
    units = cap_test_units(con)
    problem = arms_problem(units) if len(units) else None
    return FrequencyCaps(card, fat, cal, {"store_caps": caps, "caps_assumed": assumed,
                                          "horizon_weeks": horizon_weeks,
                                          "messages": len(d), "cap_test_problem": problem},
                         out_truth, cap_test=cap_test_effect(units)
                         if len(units) and problem is None else None)


def _score(d: pd.DataFrame, fits: dict, truth: dict) -> dict:
    """The fitted probabilities against the simulator's, message by message.

    The simulator's: ``base (1 + per_recent x recent) exp(-s r - s^2 sd^2 / 2)`` with the
    customer's true responsiveness ``r`` on the channel.
    """
    tc = truth["customers"].assign(customer_id=lambda t: t.customer_id.astype(str))
    eng = truth["engagement"]
    pred, true = [], []
    for ch, f in fits.items():
        g = d[d.channel == ch]
        r = g.customer_id.map(tc.set_index("customer_id")[f"{ch}_responsiveness"]).to_numpy()
        s = eng.get("unsubscribe_engagement_slope", {}).get(ch, 0.0)
        p = (eng["unsubscribe_base"][ch] * (1 + eng["unsubscribe_per_recent_message"][ch]
                                            * g.recent.to_numpy())
             * np.exp(-s * r - 0.5 * (s * truth["sd"]) ** 2))
        pred.append(f["predicted"])
        true.append(p)
    pred, true = np.concatenate(pred), np.concatenate(true)
    return {"correlation": float(np.corrcoef(pred, true)[0, 1]),
            "predicted_mean": float(pred.mean()), "true_mean": float(true.mean())}


def replay_frequency(dataset, result: FrequencyCaps, replications: int = 3) -> pd.DataFrame:
    """Per-customer caps against the store's for everyone, replayed on its customers."""
    from ...campaigns.config import baseline_from_dataset, with_recommendations
    from ...campaigns.replay import replay

    new = with_recommendations(baseline_from_dataset(dataset),
                               frequency_caps=result.per_customer)
    t = replay(dataset, new, replications=replications).table.set_index("metric")
    return t.loc[["margin", "unsubscribes", "messages_sent", "revenue"]].rename(
        columns={"baseline": "store_caps", "new": "per_customer"}).reset_index()


class Frequency(Analysis):
    """Each customer's weekly email and SMS caps from their engagement and fatigue."""

    name, title, anchor, intro = "frequency", TITLE, ANCHOR, INTRO
    recommendation = "messages per week per customer"
    needs = {"messages": ("message_id", "customer_id", "channel", "sent_at", "delivered",
                          "clicked_at", "unsubscribed_at")}
    test_to_run = ("a randomized frequency cap: customers assigned at random to the store's "
                   "weekly cap or a lower one, unsubscribes and margin compared (experiment "
                   "'frequency_cap_test' in the assignments table, arms 'store_caps' and "
                   "'lower_caps'; the simulator: campaigns.caps.test)")

    def run(self, ctx: Context):
        if not ctx.has_table("messages", nonempty=True):
            return self.skip("the dataset has no messages: fatigue is read from unsubscribes "
                             "after each week's volume")
        caps = None
        if not ctx.simulated and ctx.options.get("current_config"):
            from ...campaigns.config import load_campaign_config

            c = load_campaign_config(ctx.options["current_config"]).campaigns.caps
            caps = {"email": c.email_per_week, "sms": c.sms_per_week}
        try:
            res = analyze_frequency(ctx.con, caps, dataset=ctx.path if ctx.simulated else None)
        except FrequencyInputError as exc:
            return self.skip(str(exc), self.test_to_run)
        if ctx.simulated and res.per_customer:
            ctx.echo("frequency: replaying per-customer caps against the store's")
            res.replay = replay_frequency(ctx.path, res)
        return res

    def section(self, result: FrequencyCaps) -> Section:
        c, caps = result.scorecard, result.settings["store_caps"]
        kpis = [Kpi(f"fq-{ch}", f"customers with fewer {ch} a week",
                    f"{int((c[f'{ch}_per_week'] < caps[ch]).sum()):,}",
                    f"store's cap {caps[ch]}") for ch in CHANNELS]
        tables = [("Fatigue per channel: logistic regression of unsubscribing on the week's "
                   "volume and engagement (coefficients, standard errors)",
                   result.fatigue.round(4))]
        for ch, t in result.calibration.items():
            tables.append((f"{ch}: predicted against observed unsubscribe rate by decile",
                           t.round(5)))
        if result.replay is not None:
            tables.append(("Per-customer caps replayed against the store's (difference "
                           "with its 95% interval)", result.replay.round(1)))
        tested = result.cap_test is not None and len(result.cap_test)
        if tested:
            tables.append(("The randomized cap test: per customer since assignment, lower "
                           "caps against the store's (Welch 95% interval)",
                           result.cap_test.round(4)))
        return Section(title=TITLE, anchor=ANCHOR, kpis=kpis, tables=tables,
                       paragraphs=[INTRO, result.summary(),
                                   "The volume a customer gets follows their behaviour, so "
                                   "the fatigue slope is observational (engagement held "
                                   "fixed)" + ("; the cap test above measures lower caps "
                                               "causally." if tested else
                                               f"; to measure it cleanly, run "
                                               f"{self.test_to_run}.")])

    def export(self, result: FrequencyCaps, out, ctx: Context):
        return self.write_csv(out, "frequency", result.scorecard, 4)

    def config_part(self, result: FrequencyCaps, files):
        caps = result.per_customer  # none lower than the store's: nothing to change
        return {"frequency_caps": caps} if caps else {}


__all__ = ["Frequency", "FrequencyCaps", "FrequencyInputError", "analyze_frequency",
           "fit_fatigue", "message_volume", "replay_frequency", "shrunk_click_rates",
           "unsubscribe_probability"]
