"""What-if scenarios: change several inputs of a patient record at once and compare the assessments.

A :class:`Scenario` is a name and a mapping of data-dictionary columns to new values (``None`` =
not available). :func:`apply` returns the changed record (the original is never modified);
:func:`compare` assesses the current patient and every scenario with one function, so that the
numbers side by side come from one model. :data:`PRESETS` holds the questions an MDT asks most
(ctDNA cleared or detectable; another regimen; a complete restaging). An assessment's suggestion
carries its own ``headline`` and ``conditional``: a screen comparing scenarios shows those, never
the bare pathway label of a conditional suggestion.

Pure: no streamlit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from watchwait.errors import FieldIssue, RecordError
from watchwait.schema import BY_NAME

CURRENT = "Current patient"

PRESETS: dict[str, dict[str, object]] = {
    "ctDNA cleared at assessment (C3 = 0, not detected)": {"ctdna_post_treatment_mtm_ml": 0.0},
    "ctDNA detectable at assessment (C3 = 1 MTM/mL)": {"ctdna_post_treatment_mtm_ml": 1.0},
    "ctDNA not tested": {"ctdna_baseline_mtm_ml": None, "ctdna_post_rt_mtm_ml": None, "ctdna_post_treatment_mtm_ml": None},
    "SCRT, consolidation CAPOX x6 + anti-PD-1 (TORCH-like)": {
        "rt_schedule": "SCRT", "sequence": "consolidation", "immunotherapy": "anti_pd1", "chemotherapy": "CAPOX",
        "systemic_cycles": 6, "regorafenib": False},
    "SCRT, consolidation CAPOX x6, no immunotherapy": {
        "rt_schedule": "SCRT", "sequence": "consolidation", "immunotherapy": "none", "chemotherapy": "CAPOX",
        "systemic_cycles": 6, "regorafenib": False},
    "LCRT alone (capecitabine radiosensitiser only)": {
        "rt_schedule": "LCRT", "sequence": "none", "immunotherapy": "none", "chemotherapy": "none",
        "systemic_cycles": 0, "regorafenib": False},
    # a cCR needs regressed nodes too (MSKCC MRI criteria; clinical brief); a positive biopsy is left as recorded
    "Restaging complete response (endoscopy complete, DRE normal, mrTRG 1, no DWI restriction, nodes N0)": {
        "endoscopy": "complete", "dre": "normal", "mr_trg": 1, "dwi_restriction": False, "ymr_n_stage": "N0"},
}


@dataclass(frozen=True)
class Scenario:
    name: str
    changes: Mapping[str, object] = field(default_factory=dict)


@dataclass
class ScenarioResult:
    name: str
    changes: dict[str, object]
    record: dict[str, object]
    assessment: object | None  # watchwait.engine.Assessment, or None when the changes are invalid
    issues: list[FieldIssue]


def check_changes(changes: Mapping[str, object]) -> None:
    """Every changed column must be a data-dictionary predictor or scope column; raises :class:`RecordError`."""
    bad = [FieldIssue(str(k), v, f"{k} must be a column of the data dictionary; got {k!r} instead.")
           for k, v in changes.items() if k not in BY_NAME]
    bad += [FieldIssue(k, v, f"{k} identifies the patient and cannot be changed in a scenario; got a change to {v!r} instead.")
            for k, v in changes.items() if k == "patient_id"]
    if bad:
        raise RecordError(bad, context="scenario")


def apply(record: Mapping[str, object], changes: Mapping[str, object]) -> dict[str, object]:
    """A copy of ``record`` with ``changes`` applied (``None`` = not available)."""
    check_changes(changes)
    out = dict(record)
    out.update(changes)
    return out


def compare(record: Mapping[str, object], scenarios: Sequence[Scenario], assess: Callable[[dict], object]) -> list[ScenarioResult]:
    """The current patient first, then every scenario, each assessed with ``assess``.

    An invalid current record raises :class:`RecordError`; an invalid scenario is kept with its issues
    and no assessment, so that the other scenarios still compare.
    """
    base = dict(record)
    results = [ScenarioResult(CURRENT, {}, base, assess(base), [])]
    for sc in scenarios:
        try:
            rec = apply(base, sc.changes)
            results.append(ScenarioResult(sc.name, dict(sc.changes), rec, assess(rec), []))
        except RecordError as exc:
            results.append(ScenarioResult(sc.name, dict(sc.changes), {**base, **sc.changes}, None, list(exc.issues)))
    return results


def describe_change(name: str, old: object, new: object) -> str:
    """'Label: old -> new unit' in data-dictionary units."""
    f = BY_NAME[name]
    unit = f" {f.unit}" if f.unit and f.unit != "%" else f.unit

    def say(v: object) -> str:
        if v is None:
            return "not available"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if name.startswith("ctdna_") and v in (0, 0.0, "0"):
            return "0 (not detected)"
        if isinstance(v, float):
            return f"{v:g}{unit}"
        return f"{v}{unit}"

    return f"{f.label}: {say(old)} -> {say(new)}"
