"""What a clinician calls a code: one registry of display text for every category code of the data
dictionary (the form's drop-downs, the facts banner, explanations and error messages show these; the
codes stay in files and the API). Pure: no streamlit.

A code without an entry is shown as itself (stage codes such as "T3b" or "N1" are already what clinicians
say); a test checks that every category of the schema is either here or deliberately left as written.
"""

from __future__ import annotations

from watchwait.schema import BY_NAME

#: (field, code) -> text; ``None`` field = the same text for that code in every field.
CODE_TEXT: dict[tuple[str | None, str], str] = {
    ("sex", "F"): "female", ("sex", "M"): "male",
    ("rt_schedule", "SCRT"): "short-course radiotherapy (5 x 5 Gy)", ("rt_schedule", "LCRT"): "long-course chemoradiotherapy",
    ("rt_schedule", "none"): "no radiotherapy",
    ("sequence", "consolidation"): "consolidation (chemotherapy after radiotherapy)",
    ("sequence", "induction"): "induction (chemotherapy before radiotherapy)",
    ("sequence", "concurrent"): "concurrent with radiotherapy", ("sequence", "none"): "no systemic therapy sequence",
    ("immunotherapy", "none"): "no immunotherapy", ("immunotherapy", "anti_pd1"): "anti-PD-1",
    ("immunotherapy", "anti_pdl1"): "anti-PD-L1", ("immunotherapy", "pd1_ctla4"): "anti-PD-1 + anti-CTLA-4",
    ("chemotherapy", "none"): "no systemic chemotherapy", ("chemotherapy", "capecitabine"): "capecitabine",
    ("endoscopy", "complete"): "complete response", ("endoscopy", "near_complete"): "near-complete response",
    ("endoscopy", "incomplete"): "incomplete response (residual tumour)",
    ("dre", "normal"): "normal", ("dre", "smooth_induration"): "smooth induration", ("dre", "mass"): "palpable mass",
    ("restaging_biopsy", "not_done"): "not done", ("restaging_biopsy", "negative"): "negative",
    ("restaging_biopsy", "positive"): "positive (residual tumour)",
    ("fit_for_major_surgery", "yes"): "yes", ("fit_for_major_surgery", "no"): "no", ("fit_for_major_surgery", "uncertain"): "uncertain",
    ("patient_preference", "organ_preservation"): "organ preservation", ("patient_preference", "surgery"): "surgery",
    ("patient_preference", "undecided"): "undecided", ("patient_preference", "not_discussed"): "not yet discussed",
    ("management", "watch_and_wait"): "watch-and-wait", ("management", "local_excision"): "local excision",
    ("management", "tme"): "total mesorectal excision (TME)", ("management", "other"): "other",
}
#: Codes shown as written, on purpose: staging codes and abbreviations clinicians use as they are.
AS_WRITTEN = {"T1", "T2", "T3", "T3a", "T3b", "T3c", "T3d", "T4", "T4a", "T4b", "T0", "Tis", "N0", "N1", "N2", "M0", "M1", "pMMR",
              "dMMR", "CAPOX", "FOLFOX"}


def code_text(field: str, code: object) -> str:
    """Display text of a category code (``code_text("immunotherapy", "pd1_ctla4")`` = "anti-PD-1 + anti-CTLA-4")."""
    if not isinstance(code, str):
        return str(code)
    return CODE_TEXT.get((field, code)) or CODE_TEXT.get((None, code)) or code


def value_text(field: str, value: object) -> str:
    """A recorded value as a clinician reads it: codes in words, booleans as yes/no, numbers with their unit,
    blank as "not recorded"; ctDNA 0 as "0 (tested, not detected)"."""
    f = BY_NAME.get(field)
    if value is None or (isinstance(value, float) and value != value):
        return "not recorded"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if f is not None and f.kind == "category":
        return code_text(field, value)
    unit = "" if f is None or not f.unit else (f.unit if f.unit == "%" else f" {f.unit}")
    if field.startswith("ctdna_") and value == 0:
        return "0 (tested, not detected)"
    if isinstance(value, float):
        return f"{value:g}{unit}"
    return f"{value}{unit}"
