"""The abandoned-cart timing section of the report."""

from __future__ import annotations

from ...report import Kpi, Section

TITLE, ANCHOR = "Abandoned-cart timing", "cart-timing"
#: the question the section answers
INTRO = ("Which reminder earns margin that would not have come anyway? Every abandoned "
         "cart in the test was randomized to a delay and channel, or to no message at all; "
         "the no-message arm shows how many customers come back on their own.")


def cart_timing_section(study) -> Section:
    """The abandoned-cart timing section from a ``CartTimingStudy``."""
    title, anchor, intro = TITLE, ANCHOR, INTRO
    if study.decision is None:
        return Section(title=title, anchor=anchor, paragraphs=[
            intro, "There is not enough data to decide yet: " + study.reason])
    d, holdout = study.decision, study.settings["holdout"]
    exp = study.experiment_episodes
    natural = exp.loc[exp.arm == holdout, "recovered"].mean()
    kpis = [Kpi("carts", "carts in the experiment", f"{len(exp):,}"),
            Kpi("natural", "recovered with no message", f"{natural:.1%}",
                "the holdout arm: what comes back anyway")]
    for r in d.recommendations.itertuples():
        val = f"{r.channel} after {r.delay_hours:g} h" if r.send else "send nothing"
        kpis.append(Kpi(f"rec-{r.purchase_type}", f"{r.purchase_type} carts", val,
                        f"+{r.incremental_margin:.2f} per cart [{r.ci_low:.2f}, {r.ci_high:.2f}]"))
    charts = {"decision": d.chart()}
    sc = study.recovery.survival_chart(time_title="hours since the cart was abandoned")
    if sc is not None:
        charts["recovery"] = sc.properties(title="Share of carts recovered over time, by arm")
    rec_cols = ["purchase_type", "arm", "send", "channel", "delay_hours", "incremental_margin",
                "ci_low", "ci_high", "prob_beats_holdout", "prob_best", "n"]
    tables = [("Recommendation per purchase type", d.recommendations[rec_cols])]
    if d.truth is not None:
        tables.append(("Against the simulator's truth", d.truth))
    band_lines = []
    if study.bands is not None and len(study.bands):
        tables.append(("By cart value: reminded against held-out carts (incremental net margin "
                       "per cart, 95% interval) beside the last-click view (bought after a "
                       "click, revenue per reminder)", study.bands.round(3)))
        band_lines.append(bands_sentence(study))
    srm = study.recovery.srm
    paragraphs = [intro, *d.summary().split("\n"), *band_lines,
                  ("Sample ratio check: " + ("MISMATCH — the split is broken, investigate "
                                             "before acting" if srm["flag"] else
                                             f"balanced (p = {srm['p_value']:.2f})") + ".")]
    return Section(title=title, anchor=anchor, paragraphs=paragraphs, kpis=kpis,
                   charts=charts, tables=tables)


def bands_sentence(study) -> str:
    """Which carts are worth a reminder, by value band, and the rule's replay."""
    b = study.bands
    cut = study.min_cart_value
    losing = b[b.prob_loses >= study.settings["min_prob"]]
    if cut <= 0:
        return ("By cart value, no band of the smallest carts is shown to lose money with a "
                "reminder" + (f" (the {', '.join(losing.band)} band loses, but smaller carts "
                              "do not)" if len(losing) else "") + ": remind every cart.")
    text = (f"Carts under {cut:g} lose money with a reminder (P ≥ "
            f"{study.settings['min_prob']:.0%} per band): send no reminder for them "
            f"(exported as min_cart_value = {cut:g}).")
    r = study.rule_replay
    if r is not None:
        text += (f" Replayed on {r['customers']:,} customers × {r['replications']}: margin "
                 f"{r['replayed']:+,.0f} [{r['low']:+,.0f}, {r['high']:+,.0f}] against "
                 f"reminding every cart, predicted {r['predicted']:+,.0f} "
                 f"[{r['pred_low']:+,.0f}, {r['pred_high']:+,.0f}]"
                 + ("" if r["agree"] else " — the intervals do not overlap") + ".")
    return text
