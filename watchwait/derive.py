"""Derived values, computed in one place for one record or a whole cohort.

Everything works on *columns*: a mapping of column name to a NumPy array (a typed cohort frame
from :func:`watchwait.validation.validate_frame`, or :func:`columns_from_record` for one record).
Encodings: numbers and booleans as float (NaN = not available), categories as objects (None).

Response category (clinical brief; MSKCC / OPRA criteria): each restaging component is graded
0 (complete), 1 (near-complete) or 2 (incomplete):

- endoscopy: complete -> 0, near_complete -> 1, incomplete -> 2
- DRE: normal -> 0, smooth_induration -> 1, mass -> 2
- MRI: mrTRG 1-2 (dark T2 scar, no obvious tumour) -> 0; mrTRG 3 (mostly dark with some
  intermediate signal) -> 1; mrTRG 4-5 (intermediate signal without scar) -> 2
- DWI: no restriction -> 0; residual restriction -> 1 ("minimal diffusion signal" is near-cCR)

Category: any component 2 -> incomplete; otherwise, when all four are known, the worst grade
(0 -> cCR, 1 -> near-cCR); otherwise "not_assessed" (a cCR needs every component normal).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from watchwait.schema import BY_NAME, CTDNA_COLUMNS, FIELDS

CATEGORIES = ("cCR", "near-cCR", "incomplete", "not_assessed")
CATEGORY_LABELS = {
    "cCR": "Clinical complete response (cCR)",
    "near-cCR": "Near-complete response (near-cCR)",
    "incomplete": "Incomplete response",
    "not_assessed": "Not assessable: restaging incomplete",
}
RESTAGING_COMPONENTS = ("endoscopy", "dre", "mr_trg", "dwi_restriction")

_ENDO = {"complete": 0.0, "near_complete": 1.0, "incomplete": 2.0}
_DRE = {"normal": 0.0, "smooth_induration": 1.0, "mass": 2.0}
# Pseudo-count for ctDNA fold changes, in MTM/mL: half of the smallest level the simulator reports
# as detected; keeps log fold changes finite when a timepoint is 0 (= tested, not detected).
CTDNA_PSEUDOCOUNT = 0.01

Columns = Mapping[str, np.ndarray]


def columns_from_record(record: Mapping[str, object]) -> dict[str, np.ndarray]:
    """One validated record as 1-row columns with the cohort-frame encodings."""
    cols: dict[str, np.ndarray] = {}
    for name, value in record.items():
        field = BY_NAME.get(name)
        if field is not None and field.kind in ("integer", "number", "boolean"):
            cols[name] = np.array([np.nan if value is None else float(value)], dtype=float)  # type: ignore[arg-type]
        elif field is None and isinstance(value, float | int) and not isinstance(value, bool):
            cols[name] = np.array([float(value)])
        else:
            cols[name] = np.array([value], dtype=object)
    for field in FIELDS:
        if field.name not in cols:
            numeric = field.kind in ("integer", "number", "boolean")
            cols[field.name] = np.array([np.nan] if numeric else [None], dtype=float if numeric else object)
    return cols


def _map(values: np.ndarray, mapping: dict[str, float]) -> np.ndarray:
    from watchwait.features import map_categories

    return map_categories(values, mapping)


def restaging_grades(cols: Columns) -> dict[str, np.ndarray]:
    """Per-component grade 0/1/2 (NaN = not available)."""
    trg = np.asarray(cols["mr_trg"], dtype=float)
    mri = np.where(trg <= 2, 0.0, np.where(trg == 3, 1.0, np.where(trg >= 4, 2.0, np.nan)))
    return {
        "endoscopy": _map(np.asarray(cols["endoscopy"], dtype=object), _ENDO),
        "dre": _map(np.asarray(cols["dre"], dtype=object), _DRE),
        "mr_trg": mri,
        "dwi_restriction": np.asarray(cols["dwi_restriction"], dtype=float),
    }


def response_category(cols: Columns) -> np.ndarray:
    """cCR / near-cCR / incomplete / not_assessed for every row (see module docstring)."""
    grades = np.vstack(list(restaging_grades(cols).values()))
    any_incomplete = np.nanmax(np.where(np.isnan(grades), -1, grades), axis=0) >= 2
    all_known = ~np.isnan(grades).any(axis=0)
    worst = np.nanmax(np.where(np.isnan(grades), -1, grades), axis=0)
    out = np.full(grades.shape[1], "not_assessed", dtype=object)
    out[all_known & (worst == 0)] = "cCR"
    out[all_known & (worst == 1)] = "near-cCR"
    out[any_incomplete] = "incomplete"
    return out


def ctdna_kinetics(cols: Columns) -> dict[str, np.ndarray]:
    """ctDNA detection at each timepoint, clearance and log10 fold changes vs baseline.

    - ``ctdna_detected_c{1,2,3}``: 1 if > 0 MTM/mL, 0 if tested and not detected, NaN if not tested
    - ``ctdna_cleared``: detected at baseline (C1) and not detected at response assessment (C3)
    - ``ctdna_log10_fold_c2``/``_c3``: log10((C + 0.01) / (C1 + 0.01)); NaN unless both tested
    """
    c1, c2, c3 = (np.asarray(cols[c], dtype=float) for c in CTDNA_COLUMNS)
    with np.errstate(invalid="ignore"):
        det = [np.where(np.isnan(c), np.nan, (c > 0).astype(float)) for c in (c1, c2, c3)]
        cleared = np.where(np.isnan(c1) | np.isnan(c3) | (c1 <= 0), np.nan, (c3 <= 0).astype(float))
        fold = [np.log10((c + CTDNA_PSEUDOCOUNT) / (c1 + CTDNA_PSEUDOCOUNT)) for c in (c2, c3)]
    return {
        "ctdna_detected_c1": det[0],
        "ctdna_detected_c2": det[1],
        "ctdna_detected_c3": det[2],
        "ctdna_cleared": cleared,
        "ctdna_log10_fold_c2": fold[0],
        "ctdna_log10_fold_c3": fold[1],
    }


def immunotherapy_given(cols: Columns) -> np.ndarray:
    """1.0 if any checkpoint inhibitor was given, 0.0 if none, NaN if not recorded."""
    imm = pd.Series(np.asarray(cols["immunotherapy"], dtype=object))
    return np.where(imm.isna(), np.nan, (imm != "none").astype(float))


def derived_columns(cols: Columns) -> dict[str, np.ndarray]:
    """Every derived value the rules and the screen use, keyed by name."""
    out: dict[str, np.ndarray] = {"category": response_category(cols), "immunotherapy_given": immunotherapy_given(cols)}
    out.update(ctdna_kinetics(cols))
    return out
