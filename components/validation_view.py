"""The About screen's validation section: the loaded model's stored validation report (watchwait.validate),
or a note that there is none and the command that makes one.

The report lives in the model's artifact folder as ``validation/validation.json`` (``watchwait train`` and
``watchwait update`` write the held-out report there; ``watchwait validate --out <model folder>/validation``
writes one for another cohort). Everything shown is read from that JSON; text from it goes through
:func:`components.safe.md` (Markdown) or into data frames (not Markdown).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from components import figures, views
from components.safe import md
from components.tables import safe_frame

REPORT_FOLDER = "validation"
MAKE_ONE = ("watchwait validate --model <model folder> --cohort <cohort file with outcomes> "
            "--out <model folder>/validation")


def stored_report(model_path: Path | None) -> dict | None:
    """The report in ``<model folder>/validation/validation.json``, or None (no folder, or not a report)."""
    if model_path is None:
        return None
    f = Path(model_path) / REPORT_FOLDER / "validation.json"
    try:
        report = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) and report.get("report") == "watchwait validation report" else None


def _ci(e: dict, digits: int, sign: bool = False) -> tuple[str, str]:
    if not e or e.get("estimate") is None:
        return "not estimable", ""
    f = (lambda v: f"{v:+.{digits}f}") if sign else (lambda v: f"{v:.{digits}f}")
    lo, hi = e["ci"]
    return f(e["estimate"]), f"{f(lo)} to {f(hi)}"


def summary_table(report: dict) -> pd.DataFrame:
    cal, disc = report["calibration"], report["discrimination"]
    rows = [("AUC (discrimination)", *_ci(disc["auc"], 3), "1 (0.5 = chance)"),
            ("Calibration-in-the-large", *_ci(cal["intercept"], 2, sign=True), "0"),
            ("Calibration slope", *_ci(cal["slope"], 2), "1"),
            ("Observed / expected complete responses", *_ci(cal["observed_expected"], 2), "1"),
            ("Brier score", f"{cal['brier']:.3f}", "", "0 (lower is better)")]
    sm = cal.get("smoothed") or {}
    if sm.get("ici") is not None:
        rows.append(("Integrated calibration index", f"{sm['ici']:.3f}", "", "0"))
    if report.get("oracle"):
        rows.append(("Mean |p - true probability| (simulated patients)", f"{report['oracle']['mean_abs_gap']:.3f}", "", "0"))
    return pd.DataFrame(rows, columns=["measure", "estimate", "95% confidence interval", "ideal"])


def net_benefit_table(report: dict) -> pd.DataFrame:
    return pd.DataFrame([{"threshold": f"{100 * r['threshold']:.0f}%", "the model": f"{r['model']:.3f}",
                          "organ preservation for everyone": f"{r['treat_all']:.3f}", "for no one": "0",
                          "net patients spared surgery per 100, against the better of the two": f"{100 * r['model_minus_best_default']:+.1f}"}
                         for r in report["decision_curve"]["table"]])


def group_table(report: dict) -> pd.DataFrame:
    from watchwait.validate import GROUP_HEAD, group_table_rows

    # the group's own words say which grouping it belongs to ("no immunotherapy", "short-course radiotherapy"): the
    # grouping column is left out on screen, where the table must fit beside the sidebar
    return pd.DataFrame(group_table_rows(report), columns=GROUP_HEAD).drop(columns="grouping")


def source_sentence(report: dict) -> str:
    src, m = report.get("source", {}), report.get("model", {})
    n = report["n"]
    synthetic = m.get("synthetic_training_data")
    if src.get("held_out_from_training"):
        text = (f"These figures come from {n:,} held-out patients of the training cohort (patients the model was not fitted on)"
                + ("; the training cohort is simulated (synthetic data), so they say how the model does on patients like "
                   "its simulator's, not on real patients." if synthetic else "."))
    else:
        text = f"These figures come from {n:,} {md(src.get('label', 'patients'))}" + (
            "; the model was trained on synthetic data." if synthetic else ".")
    made = str(report.get("created", ""))[:16].replace("T", " ")
    return text + f" Report made {md(made)} (UTC)."


def section(card: dict, model_path: Path | None, large: bool = False) -> None:
    """The validation section of the About screen."""
    st.subheader("Validation report")
    report = stored_report(model_path)
    if report is None:
        st.info("No validation report is stored with this model. Make one on a cohort with known outcomes:",
                icon=":material/info:")
        st.code(MAKE_ONE, language=None)  # plain: the placeholders are not shell syntax
        return
    st.markdown(source_sentence(report))
    about = report.get("model", {}).get("model_version")
    if about != card.get("model_version"):
        st.warning(f"This report is about model {md(about)}, not the loaded model {md(card.get('model_version'))}; "
                   "make a new one for this model.", icon=":material/warning:")
    for w in report.get("warnings", []):
        st.warning(md(w), icon=":material/warning:")
    src = report.get("source", {})
    left = [f"{src[k]} {w}" for k, w in (("n_outcome_unknown_left_out", "left out: outcome not yet known"),
                                         ("n_out_of_scope_left_out", "left out: outside the model's scope")) if src.get(k)]
    st.markdown(f"Of these, **{report['events']:,}** had a complete response ({100 * report['prevalence']:.1f}%)"
                + ("; " + "; ".join(left) if left else "") + ".")
    st.dataframe(safe_frame(summary_table(report)), hide_index=True, width="stretch")
    st.caption("Calibration-in-the-large above 0: the probabilities are too low on average (below 0: too high). "
               "Calibration slope below 1: the probabilities are too extreme, as from an overfitted model (above 1: too modest).")
    c1, c2 = st.columns(2, gap="large")
    with c1:
        st.markdown("**Calibration**")
        views.chart(figures.validation_calibration(report, large=large), key="validation_calibration")
        st.caption("Smoothed observed share of complete responses against the predicted probability, with its 95% band; "
                   "points: groups of patients by predicted probability, with 95% intervals. On the dashed line the model "
                   "says what happens.")
    with c2:
        st.markdown("**Decision curve**")
        views.chart(figures.validation_decision_curve(report, large=large), key="validation_decision_curve")
        dc = report["decision_curve"]
        lo, hi = dc["threshold_range"]
        st.caption(f"Net benefit of offering organ preservation (watch-and-wait or local excision) when the probability is at "
                   f"least the threshold, from {100 * lo:.0f}% to {100 * hi:.0f}%. This range is a design choice of this tool, "
                   "not a published cut-off (see below).")
    st.markdown("**Net benefit at chosen thresholds**")
    st.dataframe(safe_frame(net_benefit_table(report)), hide_index=True, width="stretch")
    with st.expander("What 'offering organ preservation' means here, and why these thresholds"):
        st.markdown(md(dc["treat_means"]))
        st.markdown(md(dc["threshold_rationale"]))
    st.markdown("**By regimen group**")
    if report.get("groups"):
        from watchwait.validate import GROUP_NOTE

        st.caption(md(report.get("min_events_rule", "")) + ". " + GROUP_NOTE)
        st.dataframe(safe_frame(group_table(report)), hide_index=True, width="stretch")
    else:
        st.caption("No regimen groups in this report.")
    with st.expander("TRIPOD+AI checklist and methods"):
        st.dataframe(safe_frame(pd.DataFrame([{"item": r["item"], "topic": r["topic"], "in this report": r["status"],
                                               "where / what": r["where"]} for r in report.get("tripod_ai", [])])),
                     hide_index=True, width="stretch")
        from watchwait.validate import METHOD_LABELS

        st.markdown("\n".join(f"- **{md(METHOD_LABELS.get(k, k.replace('_', ' ')))}:** {md(v)}"
                               for k, v in report.get("methods", {}).items()))
        st.caption("The full report (HTML for printing, PNG plots, JSON) is in the model folder, under "
                   f"{REPORT_FOLDER}/.")
