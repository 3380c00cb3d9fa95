"""The model card as markdown (the JSON card is the source; this is its human rendering)."""

from __future__ import annotations


def _row(name: str, m: dict) -> str:
    gap = m.get("mean_abs_gap_to_oracle")
    return (f"| {name} | {m['auc']:.3f} | {m['brier']:.3f} | {m['calibration_slope']:.2f} | "
            f"{m['calibration_intercept']:+.2f} | {m['ece']:.3f} | {'' if gap is None else f'{gap:.3f}'} |")


def method_text(v: object) -> str:
    """A method entry in words: a list of monotone features as "label (direction)", a dict as "key: value"."""
    if isinstance(v, list):
        return "; ".join(f"{x['label']} ({x['direction']})" if isinstance(x, dict) else str(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {x}" for k, x in v.items())
    return str(v)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


# Published discrimination per branch (../shared/clinical/calibration.md only), beside which the card prints each
# branch's held-out AUC alone among patients with its data (issue 17). low/high: the published range; None: no AUC.
PUBLISHED_BRANCH_AUC = {
    "clinical": {"low": 0.70, "high": 0.84, "text": "clinical baseline nomograms 0.70-0.84 (pCR nomogram 0.836, 241 patients; "
                                                    "calibration.md section 2)"},
    "immune": {"low": None, "high": None, "text": "no published AUC; PD-L1 CPS >= 5: CR 50.0% vs 27.3% (Hou 2025, 20 patients), "
                                                  "TPS >= 1%: pCR 75% vs 17% (VOLTAGE-A, 38 patients) under immunotherapy only "
                                                  "(calibration.md section 2)"},
    "blood": {"low": 0.73, "high": 0.85, "text": "CEA at assessment 0.733 (UNION), on-treatment ctDNA 0.82-0.85 among "
                                                 "baseline-detected (Wang 2021 0.818, UNION MRD 0.85 at C2); UNION MRD + CEA "
                                                 "0.983 in 79 patients (review 000) (calibration.md sections 2 and 4)"},
    "restaging": {"low": 0.55, "high": 0.76, "text": "single readings: MRI alone 0.65-0.73, endoscopy 0.67-0.76, cCR criteria "
                                                     "0.55-0.64 (PKU); OPRA endoscopy + MRI combined accuracy 67%; no published "
                                                     "AUC of every restaging reading together; ctDNA + mrTRG 0.886 (Wang 2021) "
                                                     "(calibration.md sections 2 and 4)"},
    "radiomics": {"low": 0.80, "high": 0.85, "text": "MRI radiomics for pCR: pooled validation HSROC AUC 0.846 (38 studies), "
                                                     "radiomics 0.85 in a 21-study meta-analysis called likely optimistic "
                                                     "(calibration.md section 2)"},
}


def _separability_lines(rows: list[dict] | None) -> list[str]:
    """The card's "Where the simulated cohort is more separable than published data" section."""
    if not rows:
        return []

    def auc(x):
        return "-" if x is None else f"{x:.2f}"

    out = ["", "## Where the simulated cohort is more separable than published data", "",
           "Each branch's model on its own, among the held-out patients who have that branch's data (a branch few "
           "patients have looks near chance over all held-out patients while it moves those who have it), beside what "
           "published studies report (../shared/clinical/calibration.md). Where the simulated AUC is above the published "
           "range, the simulator gives that branch more evidence than published data support, and the model's "
           "probabilities move more on it than they should.", "",
           "| branch | AUC alone, held-out patients with its data (n) | AUC alone, every measured held-out patient | published | |",
           "|---|---|---|---|---|"]
    for r in rows:
        n = r.get("n_with_data")
        out.append(f"| {r['branch']} | {auc(r.get('auc_alone_with_data'))}{'' if n is None else f' ({n:,})'} | "
                   f"{auc(r.get('auc_alone_all_held_out'))} | {r['published']} | "
                   f"{r.get('verdict') or 'no published AUC to compare'} |")
    return out


HEADER = ["| model | AUC | Brier | calibration slope | calibration intercept | ECE | mean abs(p - true p) |", "|---|---|---|---|---|---|---|"]


def metric_rows(metrics: dict) -> list[tuple[str, dict]]:
    """(label, metrics) for the fused model, the oracle and every baseline, in display order."""
    order = ["fused", "oracle", "peer_logistic", "peer_hgb", "clinical_nomogram"] + sorted(k for k in metrics if k.endswith("_only"))
    labels = {"fused": "Fused model (all modalities)", "oracle": "Oracle (simulator truth: best possible from the non-imaging inputs)",
              "peer_logistic": "Textbook peer: logistic regression + missing-value indicators (raw columns)",
              "peer_hgb": "Generic peer: HistGradientBoosting (raw columns)",
              "clinical_nomogram": "Clinical nomogram (logistic, baseline staging + treatment)"}
    return [(labels.get(k, k.replace("_only", " only")), metrics[k]) for k in order if k in metrics]


def _tuning_lines(t: dict | None) -> list[str]:
    """What cross-validation chose, and the out-of-fold log-loss it chose from (watchwait.tuning)."""
    if not t:
        return []
    c = t["oof_calibration"]
    out = ["", "## Tuned to the training cohort", "",
           f"{t['method']}. Chosen: penalty {t['alpha']:g}, {t['trees']} trees; out-of-fold log-loss {t['oof_logloss']:.4f}, "
           f"AUC {t['oof_auc']:.3f}, calibration slope {c['slope']:.2f} (95% CI {c['slope_ci95'][0]:.2f}-{c['slope_ci95'][1]:.2f}), "
           f"calibration-in-the-large {c['calibration_in_the_large']:+.2f}"
           + ("; recalibrated (see Method)." if t.get("recalibrate") else "; no recalibration needed."), "",
           "| penalty (additive model alone) | out-of-fold log-loss |", "|---|---|"]
    out += [f"| {a:g} | {v:.4f} |" for a, v in zip(t["alpha_grid"], t["alpha_logloss"])]
    out += ["", "| trees (at the chosen penalty) | out-of-fold log-loss |", "|---|---|"]
    out += [f"| {k} | {v:.4f} |" for k, v in sorted(t["trees_logloss"].items(), key=lambda kv: int(kv[0]))]
    return out


def _update_lines(u: dict | None) -> list[str]:
    """A site's update (watchwait.updating): the level chosen, why, and its figures on the site's patients."""
    if not u:
        return []
    site = u.get("site_cohort", {})
    out = ["", "## Updated on a site's cohort", "",
           f"- Original model: {u.get('original_model_version')}; updated {u.get('date')}",
           f"- Site cohort: {site.get('n_patients')} patients, {site.get('n_complete_response')} with a complete response "
           f"(sha256 `{str(site.get('cohort_sha256', ''))[:16]}...`)",
           f"- Level chosen: {u.get('method')}", f"- Why: {u.get('reason')}"]
    oo = (u.get("figures_on_site_cohort") or {}).get("out_of_fold")
    if oo:
        out.append(f"- Out of fold on the site's patients: AUC {oo['auc']:.3f}, calibration slope {oo['calibration_slope']:.2f}, "
                   f"calibration-in-the-large {oo['calibration_intercept']:+.2f}")
    return out


def render_markdown(card: dict) -> str:
    td = card["training_data"]
    lines = [f"# Model card: {card['model_version']}", ""]
    if td.get("synthetic"):
        lines += ["> **Synthetic training data.** This model was trained on a simulated cohort calibrated to published",
                  "> figures. It has not been validated on real patients. A hospital retrains it on its own cohort with",
                  "> `watchwait train`.", ""]
    for w in card.get("warnings", []):
        lines += [f"> **Warning.** {w}", ""]
    lines += [f"- Created: {card['created']} (watchwait {card['watchwait_version']})",
              f"- Target: {card['target']}",
              f"- Intended use: {card['intended_use']}",
              "- Not for: " + "; ".join(card["not_for"]), "",
              "## Training data", "",
              f"- Patients: {td['n_patients']} ({td['n_train']} fitted, {td['n_held_out']} held out); complete-response prevalence {td['prevalence']:.1%}",
              f"- Cohort sha256: `{td['cohort_sha256'][:16]}...`"]
    for k in ("generator", "simulator_seed", "description"):
        if k in td:
            lines.append(f"- {k.replace('_', ' ').capitalize()}: {td[k]}")
    if td.get("regimen_support"):
        lines.append("- Regimens in training (patients per value; a value with fewer than 20 patients gets an extrapolation "
                     "notice on screen): " + "; ".join(f"{name}: " + ", ".join(f"{v} {n}" for v, n in counts.items())
                                                       for name, counts in td["regimen_support"].items()))
        if td.get("regimen_support_note"):
            lines.append(f"- {td['regimen_support_note']}")
    if card.get("what_changed"):
        lines += ["", "## What changed", ""] + [f"- {x}" for x in card["what_changed"]]
    lines += ["", "## Method", ""] + [f"- {k.replace('_', ' ').capitalize()}: {method_text(v)}" for k, v in card["method"].items()
                                      if k != "tuning"]
    lines += _tuning_lines(card["method"].get("tuning"))
    lines += _update_lines(card.get("update"))
    lines += ["", "## Held-out performance", "", *HEADER]
    lines += [_row(label, m) for label, m in metric_rows(card["metrics_held_out"])]
    cov = card["interval_coverage_held_out"]
    measured = f"{cov['coverage']:.1%} of true probabilities inside" if cov.get("coverage") is not None else "coverage not measurable"
    lines += ["", f"Interval: {measured} (nominal {cov['nominal']:.0%}, n = {cov['n']}, median width {cov['median_width']:.2f}); "
              f"{cov['method']}. {cov.get('note', '')}", "",
              "| missing test groups | n | coverage | median width |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['n']} | {_pct(v['coverage'])} | {v['median_width']:.2f} |" for k, v in cov["by_scenario"].items()]
    img = card.get("imaging_added")
    if img and "with_radiomics" in img:
        lines += ["", f"## What imaging adds ({img['n_imaged_held_out']} held-out patients with MRI)", "",
                  *HEADER, _row("Fused, with radiomics", img["with_radiomics"]), _row("Fused, without radiomics", img["without_radiomics"])]
        if "oracle_without_imaging" in img:
            lines += [_row("Oracle (non-imaging inputs only)", img["oracle_without_imaging"]), "", img["note"] + "."]
    elif img:
        lines += ["", f"## What imaging adds", "", img["note"]]
    else:
        lines += ["", "## What imaging adds", "", "No imaging in the training cohort: the radiomics branch is empty."]
    lines += _separability_lines(card.get("separability_vs_published"))
    lines += ["", "## Features", "", "| feature | modality | inputs |", "|---|---|---|"]
    lines += [f"| {f['label']} | {f['modality']} | {', '.join(f['inputs'])} |" for f in card["features"]]
    lines += ["", "## Limitations", ""] + [f"- {x}" for x in card["limitations"]]
    env = card["environment"]
    lines += ["", "## Environment", "", f"Python {env['python']}; " + ", ".join(f"{k} {v}" for k, v in env["libraries"].items()),
              "", f"Artifact: `{card.get('artifact', {}).get('file', 'model.joblib')}` sha256 `{card.get('artifact', {}).get('sha256', '')}`", ""]
    return "\n".join(lines)
