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
    lines += ["", "## Features", "", "| feature | modality | inputs |", "|---|---|---|"]
    lines += [f"| {f['label']} | {f['modality']} | {', '.join(f['inputs'])} |" for f in card["features"]]
    lines += ["", "## Limitations", ""] + [f"- {x}" for x in card["limitations"]]
    env = card["environment"]
    lines += ["", "## Environment", "", f"Python {env['python']}; " + ", ".join(f"{k} {v}" for k, v in env["libraries"].items()),
              "", f"Artifact: `{card.get('artifact', {}).get('file', 'model.joblib')}` sha256 `{card.get('artifact', {}).get('sha256', '')}`", ""]
    return "\n".join(lines)
