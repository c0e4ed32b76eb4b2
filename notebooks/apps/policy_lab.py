import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Policy lab")


@app.cell
def _():
    import json
    import os
    import time

    import marimo as mo

    from workbench import PURCHASE_TYPES
    from workbench.campaigns import (
        DEFAULT_SAMPLE,
        DELAY_STEPS_HOURS,
        DISCOUNT_STEPS_PCT,
        LAB_METRICS,
        ConfigError,
        open_lab,
        steps_with,
    )

    return (ConfigError, DEFAULT_SAMPLE, DELAY_STEPS_HOURS, DISCOUNT_STEPS_PCT, LAB_METRICS,
            PURCHASE_TYPES, json, mo, open_lab, os, steps_with, time)


@app.cell
def _(DEFAULT_SAMPLE, mo, open_lab, os):
    # --dataset DIR (a simulated dataset) and --config FILE (where the controls start,
    # e.g. reports/campaign_config.json); environment variables do the same for `make apps`
    args = mo.cli_args()
    dataset = args.get("dataset") or os.environ.get("WORKBENCH_APP_DATASET") or None
    start_config = args.get("config") or os.environ.get("WORKBENCH_APP_CONFIG") or None
    customers = int(args.get("customers") or os.environ.get("WORKBENCH_APP_CUSTOMERS")
                    or DEFAULT_SAMPLE)
    lab = open_lab(dataset, start_config, customers=customers)
    start = lab.controls()
    return customers, lab, start


@app.cell
def _(customers, lab, mo, start):
    mo.md(f"""
    # Policy lab: what would this change do?

    Move a setting and the store is **replayed in the simulator** — the same
    {customers:,} customers with the same random numbers — under your settings and
    under the campaigns it actually ran ({lab.source}). The numbers are the
    difference, with 95% intervals over customers. Check a promising change with
    `workbench replay` on the whole store before it ships.

    {" ".join(start.notes)}
    """)
    return


@app.cell
def _(DELAY_STEPS_HOURS, DISCOUNT_STEPS_PCT, PURCHASE_TYPES, mo, start, steps_with):
    # every slider offers the config's own value, so untouched controls replay it exactly
    delays = mo.ui.dictionary({
        t: mo.ui.slider(steps=steps_with(start.delay_hours[t], DELAY_STEPS_HOURS),
                        value=start.delay_hours[t], show_value=True,
                        label=f"{t}: first reminder after (hours)")
        for t in PURCHASE_TYPES})
    channels = mo.ui.dictionary({
        t: mo.ui.dropdown(["email", "sms"], value=start.channel[t], label=f"{t}: channel")
        for t in PURCHASE_TYPES})
    discounts = mo.ui.dictionary({
        s: mo.ui.slider(steps=steps_with(v, DISCOUNT_STEPS_PCT), value=float(v),
                        show_value=True, label=f"{s} (%)")
        for s, v in start.segment_discount_pct.items()})
    experiment_share = mo.ui.slider(
        0.0, 1.0, step=0.05, value=start.discount_experiment_share, show_value=True,
        label="share kept in the randomized experiment (the rest get these discounts)")
    sms_cap = mo.ui.slider(1, max(7, start.sms_per_week), value=start.sms_per_week,
                           show_value=True,
                           label="SMS per customer per week (cap)")
    email_cap = mo.ui.slider(1, max(10, start.email_per_week), value=start.email_per_week,
                             show_value=True,
                             label="emails per customer per week (cap)")
    per_email = mo.ui.slider(1, 8, value=start.products_per_email, show_value=True,
                             label="products per cross-sell email")
    per_sms = mo.ui.slider(1, 2, value=start.products_per_sms, show_value=True,
                           label="products per cross-sell SMS")
    mo.accordion({
        "Abandoned cart: delay and channel per purchase type": mo.hstack(
            [delays.vstack(), channels.vstack()], widths=[2, 1]),
        "Seasonal discount per segment": mo.vstack([discounts.vstack(), experiment_share]),
        "Frequency caps and cross-sell": mo.vstack([sms_cap, email_cap, per_email, per_sms]),
    }, multiple=True, expanded=True)
    return (channels, delays, discounts, email_cap, experiment_share, per_email, per_sms,
            sms_cap)


@app.cell
def _(ConfigError, channels, delays, discounts, email_cap, experiment_share, lab, mo,
      per_email, per_sms, sms_cap, start, time):
    controls = start.with_values(
        delay_hours=delays.value, channel=channels.value,
        segment_discount_pct=discounts.value, discount_experiment_share=experiment_share.value,
        sms_per_week=sms_cap.value, email_per_week=email_cap.value,
        products_per_email=per_email.value, products_per_sms=per_sms.value)
    t0 = time.perf_counter()
    try:
        config = controls.apply(lab.start)
        result = lab.replayer.run(config)
        error = None
    except ConfigError as exc:
        config, result, error = None, None, str(exc)
    elapsed = time.perf_counter() - t0
    mo.stop(error is not None, mo.callout(mo.md(f"**Not a valid config:** {error}"),
                                          kind="danger"))
    return config, elapsed, result


@app.cell
def _(LAB_METRICS, elapsed, mo, result):
    t = result.table.set_index("metric")
    lower_is_better = {"unsubscribes"}

    def _stat(k):
        r = t.loc[k]
        return mo.stat(
            f"{r.difference:+,.0f}", label=f"{k.replace('_', ' ')} (change)",
            caption=f"95% [{r.low:+,.0f}, {r.high:+,.0f}] · {r.baseline:,.0f} → {r.new:,.0f}",
            direction="increase" if r.difference >= 0 else "decrease",
            target_direction="decrease" if k in lower_is_better else "increase",
            bordered=True)

    mo.vstack([
        mo.hstack([_stat(k) for k in LAB_METRICS], widths="equal"),
        # plain text with ids, for people who copy numbers and for the browser test
        mo.Html(f'<p id="lab-summary">margin change <span id="lab-margin">'
                f'{t.loc["margin", "difference"]:+,.0f}</span>, revenue change '
                f'<span id="lab-revenue">{t.loc["revenue", "difference"]:+,.0f}</span>; '
                f'intervals over {result.basis}; replayed in '
                f'<span id="lab-seconds">{elapsed:.2f}</span> s.</p>'),
    ])
    return


@app.cell
def _(config, json, mo, result):
    changes = ("\n".join(f"- {c}" for c in result.changes) if result.changes
               else "Nothing — these are the campaigns the store ran.")
    mo.hstack([
        mo.vstack([mo.md("**What you changed**\n\n" + changes),
                   mo.download(json.dumps(config.model_dump(mode="json"), indent=2).encode(),
                               filename="campaign_config.json", mimetype="application/json",
                               label="Download this config")]),
        result.chart(),
    ], widths=[1, 1])
    return


@app.cell
def _(mo, result):
    mo.accordion({"Every metric": result.table.round(1)})
    return


if __name__ == "__main__":
    app.run()
