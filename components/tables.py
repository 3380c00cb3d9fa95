"""The numbers behind every chart, as tables (pure pandas; no streamlit).

Each chart on screen has one of these next to it, so that every number is available as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

from components import fmt
from watchwait.schema import BY_NAME, CTDNA_COLUMNS, MODALITIES
from watchwait.references import plain
from watchwait.labels import value_text
from watchwait.present import not_tested, short_value  # noqa: F401 (also read as tables.*)
from watchwait.validation import FORMULA_START

WATERFALL_TOP = 12


def waterfall_rows(contributions: Sequence, top: int = WATERFALL_TOP) -> pd.DataFrame:
    """The ``top`` largest contributions of the inputs that were tested (as returned, largest |pp| first) and
    the rest of them summed in one bar. A modality whose every input is blank (``Contribution.not_tested``) is
    not evidence about this patient: it is left out here and folded into the starting point
    (:func:`not_tested`), so the start plus these bars still add up exactly to p."""
    tested = [c for c in contributions if not getattr(c, "not_tested", False)]
    shown = tested[:top]
    rest = tested[top:]
    rows = [{"bar": bar_label(c), "shap_pp": c.shap_pp, "shap_logit": c.shap_logit, "feature": c.feature} for c in shown]
    if rest:
        rows.append({"bar": f"{len(rest)} other inputs together", "shap_pp": sum(c.shap_pp for c in rest),
                     "shap_logit": sum(c.shap_logit for c in rest), "feature": "other"})
    return pd.DataFrame(rows, columns=["bar", "shap_pp", "shap_logit", "feature"])


BAR_VALUE_MAX = 32  # a longer value (a whole regimen) is left to the hover and the table
BAR_WRAP = 44


def bar_label(c) -> str:
    """'label = value' for a bar, the value left out when it is long, wrapped so no label crowds the bars."""
    value = short_value(c.value)
    text = c.label if len(value) > BAR_VALUE_MAX else f"{c.label} = {value}"
    words, lines, line = text.split(" "), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > BAR_WRAP:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "<br>".join(lines)


def not_used_text(not_used: Mapping[str, str] | None) -> str:
    """Measurements taken but left out of the model (brief rule 12: MRI radiomics unlike the training data, or kept
    out by the series checks), with the reason: they are not "not tested" ("" when none)."""
    if not not_used:
        return ""
    def short(why: str) -> str:
        first = why.split(":")[0].rstrip(".").strip()
        return first[:1].lower() + first[1:]

    return " ".join(f"Not used: {MODALITIES.get(m, m)} ({short(why)}; the notice above says which). The "
                    "probability, its interval and these explanations are computed as for a patient without them, so they "
                    "get no bar." for m, why in not_used.items())


def not_tested_text(contributions: Sequence, not_used: Mapping[str, str] | None = None) -> str:
    """The plain explanation of the modalities not tested ("" when every modality has at least one input); a
    modality in ``not_used`` (measured, left out of the model) is said by :func:`not_used_text` instead."""
    nt = {m: v for m, v in not_tested(contributions).items() if m not in (not_used or {})}
    if not nt:
        return ""
    names = "; ".join(MODALITIES.get(m, m) for m in nt)
    shift = sum(nt.values())
    return (f"Not tested: {names} (every input blank). A test not done is not evidence for or against a response, so "
            f"it gets no bar: the starting point is the model's average for patients without "
            f"{'this test' if len(nt) == 1 else 'these tests'} ({shift:+.1f} points from the average patient). "
            "Doing it would change the probability; the interval shows how certain the estimate is without it.")


def technical_names(features: Sequence) -> dict[str, str]:
    """Model feature name -> its technical name: the data-dictionary column(s) it is computed from
    (``Feature.sources``; for radiomics, the pyradiomics feature names)."""
    return {f.name: ", ".join(f.sources) for f in features}


def contributions_table(contributions: Sequence, technical: Mapping[str, str] | None = None,
                        not_used: Mapping[str, str] | None = None) -> pd.DataFrame:
    technical = technical or {}
    not_used = not_used or {}
    return pd.DataFrame({
        "input": [c.label for c in contributions],
        "patient's value": [c.value for c in contributions],
        "modality": [MODALITIES.get(c.modality, c.modality) for c in contributions],
        "probability points": [("not used" if c.modality in not_used else "not tested") if getattr(c, "not_tested", False)
                               else f"{c.shap_pp:+.1f}" for c in contributions],
        "technical name": [technical.get(c.feature, c.feature) for c in contributions],
    })


def modality_rows(modality_contributions: Mapping[str, dict]) -> pd.DataFrame:
    """Per-modality sums of the modalities that were tested, largest first (a modality with every input blank
    is "not tested": :func:`modality_table` and :func:`not_tested_text` say so; it gets no bar)."""
    items = sorted(((k, v) for k, v in modality_contributions.items() if not v.get("missing", False)),
                   key=lambda kv: -abs(kv[1]["shap_pp"]))
    return pd.DataFrame({
        "modality": [v["label"] for _, v in items],
        "shap_pp": [round(v["shap_pp"], 1) for _, v in items],
        "missing": [False for _ in items],
    })


def modality_table(modality_contributions: Mapping[str, dict]) -> pd.DataFrame:
    items = sorted(modality_contributions.items(), key=lambda kv: (bool(kv[1].get("missing")), -abs(kv[1]["shap_pp"])))
    return pd.DataFrame({
        "modality": [v["label"] for _, v in items],
        "probability points": [("not used" if v.get("not_used") else "not tested") if v.get("missing") else f"{v['shap_pp']:+.1f}"
                               for _, v in items],
        "inputs": [("measured but not used (unlike the model's training data, or kept out by the series checks): "
                    "folded into the starting point" if v.get("not_used") else
                    "not tested (every input blank): not evidence, folded into the starting point") if v.get("missing")
                   else "tested" for _, v in items],
    })


def ctdna_table(record: Mapping[str, object]) -> pd.DataFrame:
    vals = [record.get(c) for c in CTDNA_COLUMNS]
    return pd.DataFrame({
        "timepoint": [BY_NAME[c].label for c in CTDNA_COLUMNS],
        "ctDNA (MTM/mL)": ["not tested" if v is None else ("0 (not detected)" if v == 0 else f"{v:g}") for v in vals],
    })


def cea_table(record: Mapping[str, object]) -> pd.DataFrame:
    b, p = record.get("cea_baseline_ng_ml"), record.get("cea_post_ng_ml")
    say = lambda v: "not available" if v is None else f"{v:g}"  # noqa: E731
    ratio = "" if (b is None or p is None or b == 0) else f"{p / b:.2f}"
    return pd.DataFrame({
        "timepoint": ["C1: before treatment", "C2: after radiotherapy", "C3: at response assessment"],
        "CEA (ng/mL)": [say(b), "not measured (not in the data dictionary)", say(p)],
        "ratio to C1": ["", "", ratio],
    })


EVIDENCE_ENDPOINTS = {
    "pCR": "pathological complete response",
    "cCR": "clinical complete response",
    "CR": "complete response as the trial reports it (pathological or clinical)",
    "cCR+ncCR": "clinical plus near-complete clinical response",
    "pCR/cCR": "pathological or clinical complete response (planned endpoint)",
}
PRESERVATION_COLUMN = "Preservation (%)"
PRESERVATION_DEFINITION_COLUMN = "What 'preservation' means here"


# The shared screen's evidence table: what the room reads (the desk table has every column, each row's source
# among them; the screen names the table's sources above it).
EVIDENCE_SHARED_COLUMNS = ["Match to this patient's regimen", "Trial", "Arm", "Patients in arm (n)", "Radiotherapy",
                           "Immunotherapy", "Reported rate (endpoint, %)", "95% CI of the rate (Wilson, %)",
                           PRESERVATION_COLUMN, PRESERVATION_DEFINITION_COLUMN]


def evidence_table(arms: pd.DataFrame) -> pd.DataFrame:
    """The trial arms as shown: clinician-readable headers; every rate next to (and labelled with) its own
    endpoint, as reported; every preservation figure next to its definition (anal/sphincter preservation is
    not organ preservation). Raises ``ValueError`` for a preservation figure without a definition."""
    from watchwait.evidence import CLASS_LABELS, check_preservation_defined

    check_preservation_defined(arms)

    def ci(r) -> str:
        if pd.isna(r["rate_pct"]):
            return ""
        if pd.isna(r["ci_low"]):
            return "n not reported"
        return f"{r['ci_low']:.1f} to {r['ci_high']:.1f}"

    def rate(r) -> str:
        return "" if pd.isna(r["rate_pct"]) else f"{r['endpoint']} {r['rate_pct']:.1f}"

    rows = arms.to_dict(orient="records")
    return pd.DataFrame({
        "Match to this patient's regimen": [m or "" for m in arms["match"]],
        "Trial": arms["study"],
        "Registry ID": [r or "not registered" for r in arms["registry_id"]],
        "Arm": arms["arm"],
        "Patients in arm (n)": [("" if pd.isna(n) else str(int(n))) for n in arms["n_arm"]],
        "Radiotherapy": arms["rt"],
        "Sequence (systemic therapy vs RT)": arms["sequence"],
        "Immunotherapy": arms["immunotherapy"].where(arms["immunotherapy"] != "", "none"),
        "Immunotherapy class": [CLASS_LABELS.get(c, c) for c in arms["immunotherapy_class"]],
        "Chemotherapy": arms["chemotherapy"],
        "Other agent": arms["other_agent"],
        "Endpoint": arms["endpoint"],
        "Reported rate (endpoint, %)": [rate(r) for r in rows],
        "95% CI of the rate (Wilson, %)": [ci(r) for r in rows],
        PRESERVATION_COLUMN: [("" if pd.isna(v) else f"{v:.1f}") for v in arms["preservation_pct"]],
        PRESERVATION_DEFINITION_COLUMN: [("" if pd.isna(r["preservation_pct"]) else str(r["preservation_definition"]))
                                         for r in rows],
        "Status": arms["status"],
        "Source": [plain(x) for x in arms["source"]],
    })


def _metric_label(label: str) -> str:
    """'blood only' -> 'Blood: CEA and ctDNA kinetics only (the model's own branch)'."""
    if label.endswith(" only") and label[:-5] in MODALITIES:
        return f"{MODALITIES[label[:-5]]} only (the model's own branch)"
    return label


def _auc_se(auc: float, n: int, prevalence: float) -> float:
    """Standard error of an AUC (Hanley & McNeil 1982) from n and the prevalence."""
    n1 = max(1.0, n * prevalence)
    n0 = max(1.0, n - n1)
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc * auc) + (n0 - 1) * (q2 - auc * auc)) / (n1 * n0)
    return max(var, 0.0) ** 0.5


def metric_notes(card: Mapping[str, object], weak_auc: float = 0.6) -> list[str]:
    """What a clinician needs to read the metrics table without it contradicting itself: why the fused model
    can score above the oracle, and why a branch that ranks the cohort near chance can still move one patient."""
    m = card["metrics_held_out"]  # type: ignore[index]
    notes = []
    fused, oracle = m.get("fused"), m.get("oracle")
    if fused and oracle:
        n = int(fused.get("n") or 0)
        se = _auc_se(float(oracle["auc"]), n, float(fused.get("prevalence") or 0.35)) if n else 0.0
        noise = f"each AUC is uncertain by about ±{1.96 * se:.3f} (95%)" if se else "each AUC is uncertain"
        if fused["auc"] >= oracle["auc"]:
            notes.append(f"The fused model's AUC ({fused['auc']:.3f}) is at or above the oracle's ({oracle['auc']:.3f}). "
                         "That is not a contradiction: the oracle is the best possible without the MRI images (it sees "
                         "no radiomics), while the fused model uses radiomics where a patient had imaging; and these "
                         f"are {n} held-out patients, a finite sample: {noise}, so two AUCs this close can swap places "
                         "by chance.")
        else:
            notes.append(f"The fused model's AUC ({fused['auc']:.3f}) is {oracle['auc'] - fused['auc']:.3f} below the "
                         f"oracle's ({oracle['auc']:.3f}), the best possible without the MRI images; on {n} held-out "
                         f"patients {noise}.")
    missing = card.get("training_data", {}).get("missing_share_by_column", {})  # type: ignore[union-attr]
    inputs: dict[str, list[str]] = {}
    for f in card.get("features", []):  # type: ignore[union-attr]
        inputs.setdefault(f["modality"], []).extend(f["inputs"])
    for key, vals in m.items():
        if not key.endswith("_only") or vals.get("auc") is None or vals["auc"] >= weak_auc:
            continue
        mod = key[:-5]
        shares = [missing.get(c, 0.0) for c in set(inputs.get(mod, []))]
        blank = min(shares) if shares else 0.0
        why = (f"its inputs are blank for {100 * blank:.0f}% of the training patients" if blank >= 0.3
               else "its inputs carry little signal on their own")
        if mod == "immune":
            why += ", and PD-L1 matters only for patients given immunotherapy"
        notes.append(f"{MODALITIES.get(mod, mod)} alone has AUC {vals['auc']:.2f}, close to chance (0.5): {why}. "
                     "A branch that ranks the whole cohort poorly can still move one patient's probability when that "
                     "patient's own values are known: the contributions on the Assessment screen measure this patient's "
                     "values. A branch whose every input is blank for a patient is shown there as 'not tested', "
                     "without points.")
    return notes


def metrics_table(metrics: Mapping[str, dict]) -> pd.DataFrame:
    from watchwait.model_card import metric_rows

    rows = metric_rows(dict(metrics))
    return pd.DataFrame({
        "model": [_metric_label(label) for label, _ in rows],
        "AUC": [f"{m['auc']:.3f}" for _, m in rows],
        "Brier": [f"{m['brier']:.3f}" for _, m in rows],
        "calibration slope": [f"{m['calibration_slope']:.2f}" for _, m in rows],
        "calibration intercept": [f"{m['calibration_intercept']:+.2f}" for _, m in rows],
        "ECE": [f"{m['ece']:.3f}" for _, m in rows],
        "n": [m.get("n") for _, m in rows],
    })


def calibration_table(curve: Sequence[dict]) -> pd.DataFrame:
    return pd.DataFrame({
        "bin": [b["bin"] + 1 for b in curve],
        "n": [b["n"] for b in curve],
        "mean predicted (%)": [f"{100 * b['mean_predicted']:.1f}" for b in curve],
        "observed (%)": [f"{100 * b['observed']:.1f}" for b in curve],
    })


def coverage_table(coverage: Mapping[str, object]) -> pd.DataFrame:
    by = coverage.get("by_scenario", {})
    return pd.DataFrame({
        "tests missing": list(by),
        "patients": [v["n"] for v in by.values()],
        "true probability inside the interval": ["not measurable" if v.get("coverage") is None else f"{100 * v['coverage']:.1f}%"
                                                 for v in by.values()],
        "median width (percentage points)": [round(100 * v["median_width"]) for v in by.values()],
    })


def describe(name: str, old: object, new: object) -> str:
    """'Label: old -> new' as a clinician reads it (codes in words, units, ctDNA 0 = tested, not detected)."""
    return f"{BY_NAME[name].label}: {value_text(name, old)} -> {value_text(name, new)}"


def _typed(name: str, raw: object) -> object:
    """A raw form value as its typed value when valid ('true' -> True, '1' -> 1.0), else as typed in."""
    from watchwait.validation import check_cell

    value, issue = check_cell(BY_NAME[name], raw)
    return raw if issue is not None else value


SCENARIO_ROWS = ["changed inputs", "probability of complete response", "interval", "response category",
                 "suggested next step", "conditional", "rule", "notices (confirm and flags)"]


def _conditional_text(s) -> str:
    """Whether the suggested next step is conditional, and on how many conditions (clinical brief, rule 6)."""
    if not s.conditional:
        return "no"
    n = len(s.conditions)
    return f"yes: only after {n} condition{'s' if n != 1 else ''}"


SCENARIO_CORNER = "For each scenario"  # the header of the row names' column, where the table has one


def scenario_table(results: Sequence) -> pd.DataFrame:
    """One column per scenario (current patient first): changes, probability, interval, category, the
    suggested next step as the screen says it (the conditional headline, never the bare pathway while a
    caution qualifies it), whether it is conditional, the rule, and the ids of every confirm notice and flag."""
    base = results[0].record
    cols: dict[str, list[str]] = {}
    for r in results:
        changes = "; ".join(describe(k, base.get(k), _typed(k, v)) for k, v in r.changes.items()) or "none (as entered)"
        a = r.assessment
        if a is None:
            vals = [changes, "invalid: " + "; ".join(fmt.issue_text(i) for i in r.issues), "", "", "", "", "", ""]
        elif not a.in_scope:
            vals = [changes, "not given (outside scope)", "", a.category_label, a.suggestion.headline,
                    _conditional_text(a.suggestion), a.suggestion.rule_id, "; ".join(n.title for n in a.scope_notices)]
        else:
            s = a.suggestion
            ids = [n.rule_id for n in s.confirm] + [f.rule_id for f in s.flags]
            vals = [changes, fmt.pct(a.probability), fmt.interval(a.interval), a.category_label, s.headline,
                    _conditional_text(s), s.rule_id, "; ".join(ids) or "none"]
        name = r.name
        while name in cols:
            name += " "
        cols[name] = vals
    return pd.DataFrame(cols, index=SCENARIO_ROWS)


def scenario_points_rows(results: Sequence) -> pd.DataFrame:
    rows = []
    for r in results:
        a = r.assessment
        ok = a is not None and a.in_scope
        rows.append({"name": r.name, "p": 100 * a.probability if ok else None,
                     "lo": 100 * a.interval[0] if ok else None, "hi": 100 * a.interval[1] if ok else None})
    return pd.DataFrame(rows, columns=["name", "p", "lo", "hi"])


# ----------------------------------------------------------------------------- every table a screen hands Streamlit

# Streamlit's table toolbar ("Download as CSV", and copying cells) writes each cell's value as it is, with CSV quoting
# only (its exporter, useDataExporter in Streamlit 1.67's front end): a decision note typed as =HYPERLINK("http://x","y")
# would open in a spreadsheet as a live formula. Every frame given to st.dataframe goes through safe_frame first.

#: Text a spreadsheet reads as a plain number ("+12.3", "-5", "4.5e-3", "-12%"): a sign first, and no formula.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?")


def formula_risk(value: object) -> bool:
    """True for text a spreadsheet would run as a formula: it starts with = + - @ TAB or CR (OWASP's list, the
    :data:`watchwait.validation.FORMULA_START` the command line's CSV files escape), unless it is a plain signed
    number ("+12.3" points, "-5") or a lone "-" or "+" (a blank marker), which a spreadsheet reads as a value."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return False
    return not (value in ("-", "+") or _NUMBER.fullmatch(value))


def escape_cell(value: object) -> object:
    """``value`` with a leading ``'`` when :func:`formula_risk` (the spreadsheet's own "text, not a formula" mark,
    as :func:`watchwait.csvfiles.escape_formulas` writes it); everything else unchanged."""
    return "'" + value if formula_risk(value) else value


def safe_frame(data) -> pd.DataFrame:
    """``data`` (a DataFrame, or the rows st.dataframe accepts: a list of dicts) as a DataFrame whose text cells,
    column names and index labels a spreadsheet cannot run: every one :func:`formula_risk` finds gets a leading
    ``'``. Numbers, dates and every other cell are unchanged, and so is the text a clinician reads, except the
    rare text that starts like a formula, which the table shows as the CSV holds it ('=HYPERLINK(...)).

    Why here and not in the download: Streamlit builds the toolbar's CSV in the browser from the cells it was
    given, and offers no hook to escape it; the only other choice, ``client.disableDataExport``, also takes away
    copying cells."""
    frame = data.copy(deep=False) if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object or isinstance(col.dtype, (pd.StringDtype, pd.CategoricalDtype)):
            values = col.to_numpy(dtype=object, copy=True)
            risky = [i for i, v in enumerate(values) if formula_risk(v)]
            if risky:
                for i in risky:
                    values[i] = escape_cell(values[i])
                frame[name] = pd.Series(values, index=col.index, dtype=object)
    if any(formula_risk(c) for c in frame.columns):
        frame.columns = [escape_cell(c) for c in frame.columns]
    if not isinstance(frame.index, pd.RangeIndex) and (formula_risk(frame.index.name)
                                                       or any(formula_risk(v) for v in frame.index)):
        frame.index = pd.Index([escape_cell(v) for v in frame.index], name=escape_cell(frame.index.name))
    return frame
