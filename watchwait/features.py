"""Model features, one named branch per modality.

Each :class:`Feature` is ``<modality>__<name>``; the modality prefix flows into SHAP, the model
card and the screen. Features are computed from columns (see :mod:`watchwait.derive`), with NaN
wherever the underlying input is not available (never for a structural reason, so a NaN always
means "a test that could still be done").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from watchwait.derive import CTDNA_PSEUDOCOUNT, Columns, ctdna_kinetics
from watchwait.schema import BY_NAME, RADIOMICS_PREFIX


@dataclass(frozen=True)
class Feature:
    name: str  # "<modality>__<short>"
    modality: str
    label: str
    sources: tuple[str, ...]  # data-dictionary columns it is computed from
    compute: Callable[[Columns], np.ndarray]


def _num(col: str) -> Callable[[Columns], np.ndarray]:
    return lambda c: np.asarray(c[col], dtype=float)


def _cat(col: str, mapping: Mapping[str, float]) -> Callable[[Columns], np.ndarray]:
    def f(c: Columns) -> np.ndarray:
        return map_categories(c[col], mapping)
    return f


def map_categories(values, mapping: Mapping[str, float]) -> np.ndarray:
    """Category -> number (NaN for blank or unknown): a dict lookup for a few rows, pandas for many."""
    values = np.asarray(values, dtype=object)
    if len(values) <= 64:
        return np.array([mapping.get(v, np.nan) if isinstance(v, str) else np.nan for v in values], dtype=float)
    return pd.Series(values).map(mapping).to_numpy(dtype=float, na_value=np.nan)


def _log10(col: str) -> Callable[[Columns], np.ndarray]:
    return lambda c: np.log10(np.asarray(c[col], dtype=float) + CTDNA_PSEUDOCOUNT)


def _log(col: str) -> Callable[[Columns], np.ndarray]:
    return lambda c: np.log(np.maximum(np.asarray(c[col], dtype=float), 0.1))


# cT as one ordinal (no structural blanks): T3 without substage sits between T3b and T3c.
CT_ORDINAL = {"T1": 1.0, "T2": 2.0, "T3a": 3.0, "T3b": 3.25, "T3": 3.4, "T3c": 3.5, "T3d": 3.75, "T4a": 4.5, "T4b": 5.0}


def _cea_ratio(c: Columns) -> np.ndarray:
    return np.log(np.maximum(np.asarray(c["cea_post_ng_ml"], float), 0.1) / np.maximum(np.asarray(c["cea_baseline_ng_ml"], float), 0.1))


def _kin(key: str) -> Callable[[Columns], np.ndarray]:
    return lambda c: ctdna_kinetics(c)[key]


BASE_FEATURES: tuple[Feature, ...] = (
    # clinical: baseline staging and treatment
    Feature("clinical__age", "clinical", "Age (years)", ("age_years",), _num("age_years")),
    Feature("clinical__female", "clinical", "Female sex", ("sex",), _cat("sex", {"F": 1.0, "M": 0.0})),
    Feature("clinical__ecog", "clinical", "ECOG", ("ecog",), _num("ecog")),
    Feature("clinical__ct_stage", "clinical", "cT stage", ("ct_stage",), _cat("ct_stage", CT_ORDINAL)),
    Feature("clinical__cn_stage", "clinical", "cN stage", ("cn_stage",), _cat("cn_stage", {"N0": 0.0, "N1": 1.0, "N2": 2.0})),
    Feature("clinical__mrf", "clinical", "MRF involved", ("mrf_involved",), _num("mrf_involved")),
    Feature("clinical__emvi", "clinical", "EMVI", ("emvi",), _num("emvi")),
    Feature("clinical__lateral_nodes", "clinical", "Lateral nodes", ("lateral_nodes",), _num("lateral_nodes")),
    Feature("clinical__distance_cm", "clinical", "Distance from anal verge (cm)", ("distance_from_anal_verge_cm",), _num("distance_from_anal_verge_cm")),
    Feature("clinical__length_cm", "clinical", "Tumour length (cm)", ("tumour_length_cm",), _num("tumour_length_cm")),
    Feature("clinical__extent_pct", "clinical", "Circumferential extent (%)", ("circumferential_extent_pct",), _num("circumferential_extent_pct")),
    Feature("clinical__rt", "clinical", "Radiotherapy", ("rt_schedule",), _cat("rt_schedule", {"none": 0.0, "SCRT": 1.0, "LCRT": 2.0})),
    Feature("clinical__sequence", "clinical", "Sequence", ("sequence",), _cat("sequence", {"none": 0.0, "concurrent": 1.0, "induction": 2.0, "consolidation": 3.0})),
    Feature("clinical__immunotherapy", "clinical", "Immunotherapy", ("immunotherapy",), _cat("immunotherapy", {"none": 0.0, "anti_pdl1": 1.0, "anti_pd1": 1.0, "pd1_ctla4": 2.0})),
    Feature("clinical__chemotherapy", "clinical", "Systemic chemotherapy", ("chemotherapy",), _cat("chemotherapy", {"none": 0.0, "capecitabine": 1.0, "CAPOX": 2.0, "FOLFOX": 2.0})),
    Feature("clinical__cycles", "clinical", "Systemic cycles", ("systemic_cycles",), _num("systemic_cycles")),
    Feature("clinical__regorafenib", "clinical", "Regorafenib", ("regorafenib",), _num("regorafenib")),
    Feature("clinical__weeks_to_assessment", "clinical", "Weeks RT to assessment", ("weeks_rt_to_assessment",), _num("weeks_rt_to_assessment")),
    # immune
    Feature("immune__pdl1_cps", "immune", "PD-L1 CPS", ("pdl1_cps",), _num("pdl1_cps")),
    Feature("immune__pdl1_tps", "immune", "PD-L1 TPS (%)", ("pdl1_tps_pct",), _num("pdl1_tps_pct")),
    # blood
    Feature("blood__cea_baseline_log", "blood", "CEA before treatment (log)", ("cea_baseline_ng_ml",), _log("cea_baseline_ng_ml")),
    Feature("blood__cea_post_log", "blood", "CEA at assessment (log)", ("cea_post_ng_ml",), _log("cea_post_ng_ml")),
    Feature("blood__cea_log_ratio", "blood", "CEA change (log ratio post/baseline)", ("cea_baseline_ng_ml", "cea_post_ng_ml"), _cea_ratio),
    Feature("blood__ctdna_c1_log10", "blood", "ctDNA C1 (log10)", ("ctdna_baseline_mtm_ml",), _log10("ctdna_baseline_mtm_ml")),
    Feature("blood__ctdna_c2_log10", "blood", "ctDNA C2 (log10)", ("ctdna_post_rt_mtm_ml",), _log10("ctdna_post_rt_mtm_ml")),
    Feature("blood__ctdna_c3_log10", "blood", "ctDNA C3 (log10)", ("ctdna_post_treatment_mtm_ml",), _log10("ctdna_post_treatment_mtm_ml")),
    Feature("blood__ctdna_fold_c2", "blood", "ctDNA fold change C2/C1 (log10)", ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml"), _kin("ctdna_log10_fold_c2")),
    Feature("blood__ctdna_fold_c3", "blood", "ctDNA fold change C3/C1 (log10)", ("ctdna_baseline_mtm_ml", "ctdna_post_treatment_mtm_ml"), _kin("ctdna_log10_fold_c3")),
    # restaging
    Feature("restaging__mr_trg", "restaging", "MRI TRG", ("mr_trg",), _num("mr_trg")),
    Feature("restaging__endoscopy", "restaging", "Endoscopy", ("endoscopy",), _cat("endoscopy", {"complete": 0.0, "near_complete": 1.0, "incomplete": 2.0})),
    Feature("restaging__dre", "restaging", "DRE", ("dre",), _cat("dre", {"normal": 0.0, "smooth_induration": 1.0, "mass": 2.0})),
    Feature("restaging__dwi", "restaging", "DWI restriction", ("dwi_restriction",), _num("dwi_restriction")),
)


def radiomics_features(columns: list[str]) -> tuple[Feature, ...]:
    """Precomputed radiomic feature columns (``radiomics_<phase>_<pyradiomics name>``) as model features."""
    return tuple(
        Feature(f"radiomics__{c[len(RADIOMICS_PREFIX):]}", "radiomics", c[len(RADIOMICS_PREFIX):], (c,), _num(c))
        for c in sorted(columns) if c.startswith(RADIOMICS_PREFIX)
    )


def feature_matrix(features: tuple[Feature, ...], cols: Columns) -> np.ndarray:
    """rows x features float matrix (NaN = not available)."""
    n = len(next(iter(cols.values())))
    out = np.empty((n, len(features)), dtype=float)
    for j, f in enumerate(features):
        if all(s in cols for s in f.sources):
            with np.errstate(divide="ignore", invalid="ignore"):
                out[:, j] = f.compute(cols)
        else:
            out[:, j] = np.nan
    return out


def display_value(feature: Feature, record: Mapping[str, object]) -> str:
    """The patient's own input(s) behind a feature, in the data dictionary's units."""
    parts = []
    for src in feature.sources:
        v = record.get(src)
        field = BY_NAME.get(src)
        unit = f" {field.unit}" if field is not None and field.unit and field.unit != "%" else (field.unit if field else "")
        if v is None:
            parts.append("not available")
        elif isinstance(v, bool):
            parts.append("yes" if v else "no")
        elif src.startswith("ctdna_") and v == 0:
            parts.append("0 (not detected)")
        elif isinstance(v, float):
            parts.append(f"{v:g}{unit}")
        else:
            parts.append(f"{v}{unit}")
    return " -> ".join(parts) if len(parts) > 1 else parts[0]


def _probe_columns(features: tuple[Feature, ...], n: int = 24) -> dict[str, np.ndarray]:
    """Fixed probe inputs for :func:`spec_fingerprint`: every category, both booleans, numbers across each
    field's domain, and blanks, for every column a feature reads."""
    cols: dict[str, np.ndarray] = {}
    for name in sorted({s for f in features for s in f.sources}):
        field = BY_NAME.get(name)
        if field is not None and field.kind == "category":
            cycle = list(field.categories) + [None]
            cols[name] = np.array([cycle[i % len(cycle)] for i in range(n)], dtype=object)
        elif field is not None and field.kind == "boolean":
            cols[name] = np.array([(0.0, 1.0, np.nan)[i % 3] for i in range(n)])
        else:
            lo, hi = (field.low, field.high) if field is not None and field.low is not None else (-1000.0, 1000.0)
            values = np.linspace(lo, hi, n)
            values[::5] = np.nan
            values[1::7] = 0.0
            cols[name] = values
    return cols


def spec_fingerprint(features: tuple[Feature, ...]) -> str:
    """sha256 of what the features *compute*: their names, modalities, sources and their values on fixed
    probe inputs (rounded to 9 significant digits). A model records it when trained; loading refuses a
    model whose features would now compute something else (a changed mapping, transform or order)."""
    import hashlib

    cols = _probe_columns(features)
    m = feature_matrix(features, cols)
    with np.errstate(invalid="ignore"):
        rounded = np.where(np.isnan(m), np.inf, np.array([float(f"{v:.9g}") if np.isfinite(v) else v for v in m.ravel()]).reshape(m.shape))
    h = hashlib.sha256()
    for f in features:
        h.update(f"{f.name}|{f.modality}|{','.join(f.sources)};".encode())
    h.update(np.ascontiguousarray(rounded, dtype="<f8").tobytes())
    return h.hexdigest()
