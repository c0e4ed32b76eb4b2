import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Model tuner")


@app.cell
def _():
    import os
    import time

    import marimo as mo

    import workbench as wb
    from workbench import SEGMENT_DIMENSIONS, Segmentation
    from workbench.analyses.attribution import (
        DEFAULT_LOOKBACK_DAYS,
        DEFAULT_WINDOWS,
        analyze_attribution,
        campaign_totals,
        message_credit,
    )
    from workbench.analyses.discount import (
        MESSAGE_COST,
        DiscountResponseModel,
        discount_units,
        fit_checks,
        fit_discounts,
        parameter_forms,
        score_against_truth,
    )
    from workbench.attribution import TimeDecay

    return (DEFAULT_LOOKBACK_DAYS, DEFAULT_WINDOWS, MESSAGE_COST, DiscountResponseModel,
            SEGMENT_DIMENSIONS, Segmentation, TimeDecay, analyze_attribution, campaign_totals,
            discount_units, fit_checks, fit_discounts, message_credit, mo, os,
            parameter_forms, score_against_truth, time, wb)


@app.cell
def _(mo, os, wb):
    # --dataset DIR (a simulated dataset), --customers N (the size of the default store
    # simulated when no dataset is given), --draws N (MCMC draws per chain), --boot N
    # (bootstrap replications of the attribution intervals); environment variables do
    # the same for `make apps`
    args = mo.cli_args()
    dataset = args.get("dataset") or os.environ.get("WORKBENCH_APP_DATASET") or None
    customers = int(args.get("customers") or os.environ.get("WORKBENCH_APP_CUSTOMERS") or 6000)
    draws = int(args.get("draws") or os.environ.get("WORKBENCH_APP_DRAWS") or 2000)
    n_boot = int(args.get("boot") or os.environ.get("WORKBENCH_APP_BOOT") or 50)
    if dataset is None:
        # the default store is simulated once per size and kept (a served or exported app
        # is killed without cleanup, so a temporary directory would leak)
        dataset = wb.default_store(customers, seed=0)
        source = f"a default simulated store of {customers:,} customers (seed 0)"
    else:
        source = f"dataset `{dataset}`"
    con = wb.open_dataset(dataset)
    return con, dataset, draws, n_boot, source


@app.cell
def _(draws, mo, n_boot, source):
    mo.md(f"""
    # Model tuner: how much do the modelling choices matter?

    For data scientists checking the two models behind the campaign decisions on
    {source}:

    * **Discount response** — the hierarchical Bayesian model of how each customer
      segment's chance of buying moves with the discount offered, and the discount it
      recommends per segment. Change the segments, the prior scales or the
      parameterization and press *Fit* (a fit samples {draws:,} draws per chain and
      takes tens of seconds); the decision settings below it update at once, without
      refitting. The sampler's diagnostics say whether the fit can be trusted.
    * **Attribution** — the credit each campaign gets under eight attribution models,
      with {n_boot} bootstrap intervals. Markov order, time-decay half-life and the
      attribution windows re-run it as soon as they change; on a simulated store each
      model is scored against the revenue the campaigns truly caused.

    Everything computed here comes from the `workbench` package; this page only wires
    the controls to it.
    """)
    return


@app.cell
def _(con, dataset, discount_units, wb):
    # loaded once: the discount experiment's units and, on simulated data, the truths
    units = discount_units(con).execute()
    attribution_truth = None
    if wb.has_truth(con, "messages"):
        from workbench import campaign_incremental_revenue

        attribution_truth = campaign_incremental_revenue(dataset)
    discount_truth = None
    if wb.has_truth(con, "discount_response") and len(units):
        from workbench import discount_conversion_truth

        try:
            discount_truth = discount_conversion_truth(dataset, units)
        except KeyError:  # a dataset simulated before the per-level truth was recorded
            discount_truth = None
    return attribution_truth, discount_truth, units


@app.cell
def _(mo):
    mo.md("""
    ## 1. Discount response model

    Segments come from behaviour observable before the send (past discount use, order
    value, recency, acquisition channel); segments are pooled toward segments with the
    same flags. The prior scales are half-normal scales on the logit scale: σ_alpha is
    how far a segment's baseline conversion may stray from what its flags predict,
    σ_offer the same for the lift of any offer, σ_beta for the slope per unit discount
    (0.10 = 10%), and sd(mu_beta) how wide the population slope may be.
    """)
    return


@app.cell
def _(DiscountResponseModel, SEGMENT_DIMENSIONS, draws, mo):
    _p = DiscountResponseModel.PRIORS_WITH_FEATURES  # the model's defaults when pooling
    fit_defaults = {"by": ["deal", "value", "recency"], "recency_days": 60,
                    "sigma_alpha": _p["sigma_alpha"], "sigma_offer": _p["sigma_offer"],
                    "sigma_beta": _p["sigma_beta"], "mu_beta_sd": _p["mu_beta"][1],
                    "parameterization": "auto", "draws": draws}
    fit_form = mo.md("""
    {by} {recency_days}

    {sigma_alpha} {sigma_offer}

    {sigma_beta} {mu_beta_sd}

    {parameterization} {draws}
    """).batch(
        by=mo.ui.multiselect(list(SEGMENT_DIMENSIONS), value=fit_defaults["by"],
                             label="segment by"),
        recency_days=mo.ui.slider(steps=[14, 30, 45, 60, 90, 120, 180],
                                  value=fit_defaults["recency_days"], show_value=True,
                                  label="recent = last order within (days)"),
        sigma_alpha=mo.ui.slider(steps=[0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
                                 value=fit_defaults["sigma_alpha"], show_value=True,
                                 label="σ_alpha (baseline spread)"),
        sigma_offer=mo.ui.slider(steps=[0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0],
                                 value=fit_defaults["sigma_offer"], show_value=True,
                                 label="σ_offer (offer-lift spread)"),
        sigma_beta=mo.ui.slider(steps=[0.5, 1.0, 2.5, 5.0, 10.0],
                                value=fit_defaults["sigma_beta"], show_value=True,
                                label="σ_beta (slope spread)"),
        mu_beta_sd=mo.ui.slider(steps=[1.0, 2.5, 5.0, 10.0, 20.0],
                                value=fit_defaults["mu_beta_sd"], show_value=True,
                                label="sd(mu_beta) (population slope)"),
        parameterization=mo.ui.dropdown(["auto", "centred", "non_centred"],
                                        value=fit_defaults["parameterization"],
                                        label="parameterization"),
        draws=mo.ui.number(start=100, stop=5000, step=100, value=fit_defaults["draws"],
                           label="draws per chain (tune the same, at most 1,500)"),
    ).form(submit_button_label="Fit", bordered=True,
           validate=lambda v: ("Pick at least one segment dimension." if not v.get("by")
                               else "Give the number of draws (100 or more)."
                               if not v.get("draws") or v["draws"] < 100 else None))
    fit_form  # noqa: B018 (a cell shows its last expression)
    return fit_defaults, fit_form


@app.cell
def _(DiscountResponseModel, SEGMENT_DIMENSIONS, Segmentation, fit_defaults, fit_discounts,
      fit_form, mo, time, units):
    mo.stop(units.empty, mo.callout(mo.md("This dataset has no randomized discount "
                                          "experiment: nothing to fit."), kind="warn"))
    settings = fit_form.value or fit_defaults  # the defaults until the form is submitted
    _t0 = time.perf_counter()
    try:
        segmentation = Segmentation(
            by=tuple(d for d in SEGMENT_DIMENSIONS if d in settings["by"]),
            recency_split_days=float(settings["recency_days"]))
        priors = {"sigma_alpha": float(settings["sigma_alpha"]),
                  "sigma_offer": float(settings["sigma_offer"]),
                  "sigma_beta": float(settings["sigma_beta"]),
                  "mu_beta": (DiscountResponseModel.PRIORS_WITH_FEATURES["mu_beta"][0],
                              float(settings["mu_beta_sd"]))}
        _n = int(settings["draws"])
        with mo.status.spinner(title=f"Sampling {_n:,} draws per chain …"):
            fit = fit_discounts(units, segmentation, draws=_n, tune=min(_n, 1500),
                                random_seed=0, priors=priors,
                                parameterization=settings["parameterization"])
        model, economics, seg_units = fit.model, fit.economics, fit.units
        fit_error = None
    except ValueError as exc:  # too few data for a segmentation, a bad setting
        fit = model = economics = seg_units = None
        fit_error = str(exc)
    fit_seconds = time.perf_counter() - _t0
    mo.stop(fit_error is not None, mo.callout(mo.md(f"**The model cannot be fitted with "
                                                    f"these settings:** {fit_error}"),
                                              kind="danger"))
    return economics, fit, fit_seconds, model, seg_units


@app.cell
def _(fit_checks, fit_seconds, mo, model, parameter_forms):
    checks = fit_checks(model.diagnostics_)
    _t = checks["thresholds"]
    _forms = sorted(set(parameter_forms(model).values()))
    _ok = bool(model.converged_)
    _failures = (mo.callout(mo.md("**The fit failed its diagnostics — do not act on the "
                                  "decision below.** More draws, another parameterization "
                                  "or tighter priors may help.\n\n"
                                  + "\n".join(f"- {f}" for f in checks["failures"])),
                            kind="danger") if not _ok else
                 mo.callout(mo.md("All diagnostics passed."), kind="success"))
    mo.vstack([
        mo.hstack([
            mo.stat("yes" if _ok else "no", label="converged", bordered=True,
                    caption=f"{len(model.segments_)} segments · {' / '.join(_forms)}"),
            mo.stat(f"{checks['r_hat_max']:.3f}", label="max R-hat", bordered=True,
                    caption=f"{checks['r_hat_worst']} · limit {_t['rhat_max']}"),
            mo.stat(f"{checks['ess_min']:,.0f}", label="min ESS (bulk/tail)", bordered=True,
                    caption=f"{checks['ess_worst']} · limit {_t['ess_min']:,.0f}"),
            mo.stat(f"{checks['divergences']:,}", label="divergences", bordered=True,
                    caption=f"limit {_t['max_divergences']}"),
            mo.stat(f"{checks['ppc_outside']} / {checks['ppc_cells']}", bordered=True,
                    label="cells outside 99% PPC",
                    caption=f"limit {_t['ppc_max_outside']:.0%} of cells"),
        ], widths="equal"),
        mo.Html(f'<p id="tuner-discount-fit">converged: <span id="tuner-discount-converged">'
                f'{"yes" if _ok else "no"}</span>; max R-hat <span id="tuner-discount-rhat">'
                f'{checks["r_hat_max"]:.3f}</span>; min ESS <span id="tuner-discount-ess">'
                f'{checks["ess_min"]:.0f}</span>; divergences <span id="tuner-discount-'
                f'divergences">{checks["divergences"]}</span>; fitted in <span id="tuner-'
                f'discount-seconds">{fit_seconds:.1f}</span> s.</p>'),
        _failures,
    ])
    return


@app.cell
def _(mo, model):
    _d = model.diagnostics_
    mo.vstack([
        model.chart(),
        mo.accordion({
            "Convergence per parameter (lowest ESS first)":
                _d.table.sort_values("ess_bulk").round(3),
            "Posterior predictive check per cell":
                _d.ppc[["segment", "discount", "n", "observed_rate", "pred_low", "pred_high",
                        "inside"]].round(4),
            "Segment parameters (posterior mean, logit scale)":
                model.segment_table().round(2),
        }, multiple=True),
    ])
    return


@app.cell
def _(MESSAGE_COST, mo):
    min_prob = mo.ui.slider(0.5, 0.99, step=0.01, value=0.9, show_value=True,
                            label="recommend a discount only if P(beats 0%) ≥")
    message_cost = mo.ui.number(start=0.0, stop=1.0, step=0.001, value=MESSAGE_COST,
                                label="cost per message (store currency)")
    mo.vstack([mo.md("### The decision (updates without refitting)"),
               mo.hstack([min_prob, message_cost], justify="start", gap=2)])
    return message_cost, min_prob


@app.cell
def _(discount_truth, economics, fit, message_cost, min_prob, mo, score_against_truth,
      seg_units):
    decision = fit.decide(message_cost=float(message_cost.value),
                          min_prob=float(min_prob.value))
    _recs = decision.recommendations
    _offered = int((_recs.discount > 0).sum())
    _truth_view = {}
    if discount_truth is not None:
        _score = score_against_truth(decision, discount_truth.assign(segment=seg_units.segment),
                                     economics, float(message_cost.value))
        _truth_view = {"Against the simulator's truth (share of the best achievable margin)":
                       _score.round(3)}
    mo.vstack([
        mo.Html(f'<p id="tuner-decision">Discount offered to <span id="tuner-discount-'
                f'offered">{_offered}</span> of {len(_recs)} segments at P(beats 0%) ≥ '
                f'{decision.min_prob:.2f} and {float(message_cost.value):.3f} per message.</p>'),
        mo.md("\n".join(f"- {ln}" for ln in decision.summary().splitlines())),
        _recs.round(3),
        mo.accordion({"Incremental margin per message, every segment and level":
                      decision.table.round(3), **_truth_view}, multiple=True),
    ])
    return


@app.cell
def _(DEFAULT_LOOKBACK_DAYS, DEFAULT_WINDOWS, TimeDecay, mo):
    _lookback = DEFAULT_LOOKBACK_DAYS
    markov_order = mo.ui.slider(1, 3, value=1, show_value=True, label="Markov order")
    half_life = mo.ui.slider(steps=[0.5, 1, 2, 3, 5, 7, 10, 14, 21, 30],
                             value=TimeDecay().half_life_days, show_value=True, debounce=True,
                             label="time-decay half-life (days)")
    click_window = mo.ui.slider(steps=[1, 2, 3, 5, 7, 10, 14],
                                value=DEFAULT_WINDOWS[("email", "click")], show_value=True,
                                debounce=True, label="click window, email and SMS (days)")
    open_window = mo.ui.slider(steps=[1, 2, 3, 5, 7, 10, 14],
                               value=DEFAULT_WINDOWS[("email", "open")], show_value=True,
                               debounce=True, label="email open window (days)")
    lookback = mo.ui.slider(steps=[7, 14, 21, 30, 45, 60, 90], value=_lookback,
                            show_value=True, debounce=True, label="lookback (days)")
    count_opens = mo.ui.switch(value=True, label="email opens are touches")
    ignore_machine = mo.ui.switch(value=False,
                                  label="drop machine opens (within 10 min, no click)")
    mo.vstack([
        mo.md("""
        ## 2. Attribution

        Every change re-runs the journeys and all eight models. A message touch counts
        only inside its window; visits from other sources count within the lookback.
        """),
        mo.hstack([mo.vstack([markov_order, half_life, lookback]),
                   mo.vstack([click_window, open_window, count_opens, ignore_machine])],
                  widths="equal"),
    ])
    return (click_window, count_opens, half_life, ignore_machine, lookback, markov_order,
            open_window)


@app.cell
def _(analyze_attribution, attribution_truth, click_window, con, count_opens, half_life,
      ignore_machine, lookback, markov_order, message_credit, mo, n_boot, open_window, time):
    _t0 = time.perf_counter()
    try:
        analysis = analyze_attribution(
            con, truth=attribution_truth, n_boot=n_boot,
            model_options={"time_decay": {"half_life_days": float(half_life.value)},
                           "markov": {"order": int(markov_order.value)}},
            lookback_days=float(lookback.value),
            windows={("email", "click"): float(click_window.value),
                     ("sms", "click"): float(click_window.value),
                     ("email", "open"): float(open_window.value)},
            count_opens=bool(count_opens.value),
            ignore_machine_opens=bool(ignore_machine.value))
        credit = message_credit(analysis.by_campaign, analysis.truth, analysis.score)
        attribution_error = None
    except ValueError as exc:  # no journeys left with these settings
        analysis = credit = None
        attribution_error = str(exc)
    attribution_seconds = time.perf_counter() - _t0
    mo.stop(attribution_error is not None, mo.callout(
        mo.md(f"**No attribution with these settings:** {attribution_error}"), kind="danger"))
    return analysis, attribution_seconds, credit


@app.cell
def _(analysis, attribution_seconds, credit, mo):
    _j = analysis.journeys
    _mk, _td = credit.loc["markov"], credit.loc["time_decay"]
    _err = (f'{_mk["mae_share"]:.1%}' if "mae_share" in credit and _mk.notna()["mae_share"]
            else "n/a")
    _rank = (f'{int(_mk["rank"])} of {len(credit)}' if "rank" in credit else "no truth")
    mo.vstack([
        mo.hstack([
            mo.stat(f'{_mk["message_share"]:.1%}', label="Markov: share to campaign messages",
                    caption=f'{_mk["messages"]:,.0f} of {_mk["total"]:,.0f} revenue',
                    bordered=True),
            mo.stat(f'{_td["message_share"]:.1%}', label="time decay: share to messages",
                    caption=f'{_td["messages"]:,.0f} of {_td["total"]:,.0f} revenue',
                    bordered=True),
            mo.stat(_err, label="Markov: mean share error vs truth",
                    caption=f"rank {_rank} (1 = closest)", bordered=True),
            mo.stat(f'{_j["journeys"]:,}', label="journeys",
                    caption=f'{_j["converting"]:,} converting · {_j["touches"]:,} touches',
                    bordered=True),
        ], widths="equal"),
        mo.Html(f'<p id="tuner-attribution">Markov credits <span id="tuner-markov-share">'
                f'{_mk["message_share"]:.1%}</span> of revenue to campaign messages, time '
                f'decay <span id="tuner-time-decay-share">{_td["message_share"]:.1%}</span>; '
                f'Markov share error against the truth <span id="tuner-markov-error">{_err}'
                f'</span>; <span id="tuner-journeys">{_j["journeys"]}</span> journeys, '
                f'<span id="tuner-conversions">{_j["converting"]}</span> converting; '
                f'attributed in <span id="tuner-attribution-seconds">'
                f'{attribution_seconds:.1f}</span> s.</p>'),
        mo.md(analysis.summary()),
    ])
    return


@app.cell
def _(analysis, campaign_totals, mo):
    # model × campaign: credited revenue [95% bootstrap interval], the truth as a last row
    _b = analysis.by_campaign[analysis.by_campaign.is_campaign]
    _b = _b.assign(credit=[f"{v:,.0f} [{lo:,.0f}, {hi:,.0f}]"
                           for v, lo, hi in zip(_b.value, _b.value_low, _b.value_high,
                                                strict=True)])
    _wide = _b.pivot(index="model", columns="campaign", values="credit")
    _wide = _wide.reindex([m for m in analysis.comparison.results if m in _wide.index])
    if analysis.truth is not None:
        _wide.loc["truth (caused)"] = (campaign_totals(analysis.truth).reindex(_wide.columns)
                                       .map(lambda v: f"{v:,.0f}"))
    mo.vstack([
        mo.md("**Revenue credited per campaign** (95% bootstrap interval; "
              "the last row is what the campaigns truly caused)"),
        _wide.rename_axis(columns=None).reset_index(),
        analysis.chart(),
    ])
    return


@app.cell
def _(analysis, credit, mo):
    _money = [c for c in ("messages", "total", "true_incremental") if c in credit]
    _credit = credit.round(3).round({c: 0 for c in _money}).rename(columns={
        "messages": "credited to messages", "total": "credited in all",
        "message_share": "share to messages", "true_incremental": "truly caused",
        "credit_to_truth": "credited / caused", "mae_share": "mean share error",
        "spearman": "rank correlation", "rank": "rank (1 = closest)"})
    _views = {}
    if analysis.score is not None:
        _views["Score against the truth per touch label (best first)"] = (
            analysis.score.round(3))
    if len(analysis.shift):
        _views["Credit moved from last click (% of last click's, by touch label)"] = (
            analysis.shift_wide().round(1))
    mo.vstack([
        mo.md("**Per model: revenue credited to campaign messages"
              + (", against what they truly caused**" if analysis.truth is not None
                 else "** (no truth: not a simulated store)")),
        _credit.reset_index(),
        mo.accordion(_views, multiple=True),
    ])
    return



@app.cell
def _(mo):
    rec_generator = mo.ui.dropdown(options=["bought next", "co-purchase"],
                                   value="bought next", label="generator")
    rec_relevance = mo.ui.slider(0.0, 2.0, step=0.1, value=1.0, show_value=True,
                                 debounce=True, label="relevance weight")
    rec_diversity = mo.ui.slider(0.0, 2.0, step=0.1, value=0.3, show_value=True,
                                 debounce=True, label="diversity weight")
    rec_margin = mo.ui.slider(0.0, 2.0, step=0.1, value=0.2, show_value=True,
                              debounce=True, label="margin weight")
    rec_k = mo.ui.slider(1, 8, value=4, show_value=True, label="products per message")
    mo.vstack([
        mo.md("""
        ## 3. Recommendations

        The products in each message: a generator proposes 50 candidates per customer,
        and maximal marginal relevance picks the list — relevance against variety (not
        near-identical products) and margin. Each change refits on the orders before the
        last 30 days and scores the lists on what the customers bought after, against
        the 90-day popularity feed.
        """),
        mo.hstack([mo.vstack([rec_generator, rec_k]),
                   mo.vstack([rec_relevance, rec_diversity, rec_margin])], widths="equal"),
    ])
    return rec_diversity, rec_generator, rec_k, rec_margin, rec_relevance


@app.cell
def _(con, mo, rec_diversity, rec_generator, rec_k, rec_margin, rec_relevance, time, wb):
    _t0 = time.perf_counter()
    _data, _catalog = wb.store_inputs(con)
    _gen = {"bought next": wb.BoughtNext, "co-purchase": wb.CoPurchase}[rec_generator.value]
    _rr = wb.Rerank(k=int(rec_k.value), relevance=float(rec_relevance.value),
                    diversity=float(rec_diversity.value), margin=float(rec_margin.value))
    rec_eval = wb.evaluate({"popularity (90 days)": wb.Popularity(),
                            rec_generator.value: _gen()}, _data, _catalog, k=int(rec_k.value),
                           rerank={rec_generator.value: _rr})
    _r = rec_eval.table.iloc[1]
    mo.vstack([
        mo.hstack([
            mo.stat(f"{_r.hit_rate:.1%}", label=f"hit rate at {int(rec_k.value)}",
                    caption=f"{_r.hit_rate_diff:+.1%} vs popularity "
                            f"[{_r.diff_low:+.1%}, {_r.diff_high:+.1%}]", bordered=True),
            mo.stat(f"{_r.diversity:.2f}", label="intra-list diversity",
                    caption=f"coverage {_r.coverage:.0%} of the catalog", bordered=True),
            mo.stat(f"{_r.margin_per_send:.3f}", label="margin per send",
                    caption=f"{_r.high_margin_share:.0%} of lists with a high-margin pick",
                    bordered=True),
        ], widths="equal"),
        mo.Html(f'<p id="tuner-recommendations">hit rate <span id="tuner-rec-hit">'
                f'{_r.hit_rate:.4f}</span>, diversity <span id="tuner-rec-diversity">'
                f'{_r.diversity:.3f}</span>; evaluated in {time.perf_counter() - _t0:.1f} s.'
                f'</p>'),
        rec_eval.table.round(4),
    ])
    return (rec_eval,)


if __name__ == "__main__":
    app.run()
