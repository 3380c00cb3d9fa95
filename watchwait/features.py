"""Model features, one named branch per modality.

Each :class:`Feature` is ``<modality>__<name>``; the modality prefix flows into SHAP, the model
card and the screen. Features are computed from columns (see :mod:`watchwait.derive`), with NaN
wherever the underlying input is not available (never for a structural reason, so a NaN always
means "a test that could still be done").
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from watchwait.derive import CTDNA_PSEUDOCOUNT, DRE_GRADE, ENDOSCOPY_GRADE, NODE_STAGE, Columns
from watchwait.schema import BY_NAME, RADIOMICS_PREFIX


@dataclass(frozen=True)
class Feature:
    name: str  # "<modality>__<short>"
    modality: str
    label: str
    sources: tuple[str, ...]  # data-dictionary columns it is computed from
    compute: Callable[[Columns], np.ndarray]
    direction: int = 0  # +1: the probability may only rise with the feature, -1: only fall; 0: free (model.py)
    kind: str = "number"  # "number" | "category" (a code: one level each, no order)


def _num(col: str) -> Callable[[Columns], np.ndarray]:
    return lambda c: np.asarray(c[col], dtype=float)


def _cat(col: str, mapping: Mapping[str, float]) -> Callable[[Columns], np.ndarray]:
    def f(c: Columns) -> np.ndarray:
        return map_categories(c[col], mapping)
    return f


def map_categories(values, mapping: Mapping[str, float]) -> np.ndarray:
    """Category -> number (NaN for blank or unknown): a dict lookup per distinct value (few), then a take."""
    values = np.asarray(values, dtype=object)
    if len(values) <= 64:
        return np.array([mapping.get(v, np.nan) if isinstance(v, str) else np.nan for v in values], dtype=float)
    codes, uniques = pd.factorize(values)  # blanks -> -1, which takes the trailing NaN
    table = np.array([mapping.get(u, np.nan) if isinstance(u, str) else np.nan for u in uniques] + [np.nan], dtype=float)
    return table[codes]


def _log(col: str) -> Callable[[Columns], np.ndarray]:
    return lambda c: np.log(np.maximum(np.asarray(c[col], dtype=float), 0.1))


# cT as one ordinal (no structural blanks): T3 without substage sits between T3b and T3c.
CT_ORDINAL = {"T1": 1.0, "T2": 2.0, "T3a": 3.0, "T3b": 3.25, "T3": 3.4, "T3c": 3.5, "T3d": 3.75, "T4a": 4.5, "T4b": 5.0}
# The readings' codes are derive's (one code per clinical value): grades 0/1/2 and the nodal stage as a number.
ENDOSCOPY, DRE, NODES = ENDOSCOPY_GRADE, DRE_GRADE, NODE_STAGE
LOG_PC = float(np.log10(CTDNA_PSEUDOCOUNT))
# An immunotherapy-only feature's value for a patient without immunotherapy: beyond every real value, so that
# the trees and the additive terms can treat "no immunotherapy" as its own level (never NaN: NaN = not tested).
NO_ICI = 9.0
_RT = {"none": 0, "SCRT": 1, "LCRT": 2}
_SEQ = {"none": 0, "concurrent": 1, "induction": 2, "consolidation": 3}
_ICI = {"none": 0, "anti_pdl1": 1, "anti_pd1": 2, "pd1_ctla4": 3}
_CHEMO = {"none": 0, "capecitabine": 1, "CAPOX": 2, "FOLFOX": 3}


def _ici(c: Columns) -> np.ndarray:
    return map_categories(c["immunotherapy"], {k: float(v > 0) for k, v in _ICI.items()})


def _regimen(c: Columns) -> np.ndarray:
    """The whole regimen as one category code (radiotherapy, sequence, immunotherapy, chemotherapy, cycles,
    regorafenib); NaN when any part is blank. Stateless: the same regimen always gets the same code."""
    parts = [map_categories(c["rt_schedule"], _RT), map_categories(c["sequence"], _SEQ), map_categories(c["immunotherapy"], _ICI),
             map_categories(c["chemotherapy"], _CHEMO), np.asarray(c["systemic_cycles"], float), np.asarray(c["regorafenib"], float)]
    r, s, i, ch, cyc, rego = parts
    return r * 1e5 + s * 1e4 + i * 1e3 + ch * 1e2 + np.minimum(cyc, 49) * 2 + rego


def _on_ici(value: Callable[[Columns], np.ndarray]) -> Callable[[Columns], np.ndarray]:
    def f(c: Columns) -> np.ndarray:
        ici = _ici(c)
        return np.where(ici == 1, value(c), np.where(np.isnan(ici), np.nan, NO_ICI))
    return f


def _pdl1(col: str) -> Callable[[Columns], np.ndarray]:
    return _on_ici(lambda c: np.log1p(np.asarray(c[col], dtype=float)))


def _cea_ratio(c: Columns) -> np.ndarray:
    return np.log(np.maximum(np.asarray(c["cea_post_ng_ml"], float), 0.1) / np.maximum(np.asarray(c["cea_baseline_ng_ml"], float), 0.1))


_CTDNA_COL = {"c1": "ctdna_baseline_mtm_ml", "c2": "ctdna_post_rt_mtm_ml", "c3": "ctdna_post_treatment_mtm_ml"}


def _ctdna_c1(c: Columns) -> np.ndarray:
    """log10(C1 + pseudo-count); not tested sits at the floor with "not detected" (testing can only raise it)."""
    c1 = np.asarray(c[_CTDNA_COL["c1"]], float)
    return np.where(np.isnan(c1), LOG_PC, np.log10(np.nan_to_num(c1) + CTDNA_PSEUDOCOUNT))


def _ctdna(tp: str, part: str) -> Callable[[Columns], np.ndarray]:
    """ctDNA at C2 or C3 as four features, so that "not tested" (detected 0, not-detected 0, level at the floor,
    fold 0) and "tested, not detected" (not-detected 1) stay different facts.

    A non-shedder (C1 tested and not detected) gets all four blank (NaN) while C2 or C3 is not detected: a tumour that
    sheds no detectable ctDNA before treatment will not shed it later either, so its "not detected" at C2/C3 says
    nothing about the response and must earn no credit. ctDNA detected later after none before is kept: it is found
    disease, read like any detectable level (the simulator has no such patient; the support check names it) (issue 17: DEMO-01, 0 MTM/mL at all three timepoints, gained
    18 points from it). Blank, the four are the same for "not detected" and "not tested", and whatever the model
    learns from them being blank is what C1 = 0 itself says (shedding is independent of the response)."""
    def f(c: Columns) -> np.ndarray:
        x = np.asarray(c[_CTDNA_COL[tp]], float)
        c1 = np.asarray(c[_CTDNA_COL["c1"]], float) if _CTDNA_COL["c1"] in c else np.full(len(x), np.nan)
        if part == "detected":
            out = (x > 0).astype(float)
        elif part == "negative":
            out = (x == 0).astype(float)
        elif part == "log10":
            out = np.where(x > 0, np.log10(np.where(x > 0, x, 1.0)), LOG_PC)
        else:
            both = ~np.isnan(x) & ~np.isnan(c1)
            with np.errstate(divide="ignore", invalid="ignore"):
                out = np.where(both, np.log10((np.nan_to_num(x) + CTDNA_PSEUDOCOUNT) / (np.nan_to_num(c1) + CTDNA_PSEUDOCOUNT)), 0.0)
        # a non-shedder's "not detected" is blank; ctDNA found later (C1 = 0, C2 or C3 > 0) is new disease and kept
        return np.where(non_shedder(c1) & ~(x > 0), np.nan, out)
    return f


def non_shedder(c1) -> np.ndarray:
    """True where ctDNA was tested before treatment (C1) and not detected: later results carry no information."""
    c1 = np.asarray(c1, float)
    with np.errstate(invalid="ignore"):
        return ~np.isnan(c1) & (c1 <= 0)


def _mri_grade(c: Columns) -> np.ndarray:
    trg = np.asarray(c["mr_trg"], float)
    return np.where(trg <= 2, 0.0, np.where(trg == 3, 1.0, np.where(trg >= 4, 2.0, np.nan)))


def _biopsy_positive(c: Columns) -> np.ndarray:
    return (np.asarray(c["restaging_biopsy"], dtype=object) == "positive").astype(float)


def _biopsy_done(c: Columns) -> np.ndarray:
    b = np.asarray(c["restaging_biopsy"], dtype=object)
    blank = np.array([not isinstance(v, str) for v in b], dtype=bool)
    return np.where(blank, np.nan, np.isin(b, ["negative", "positive"]).astype(float))


def _worst_grade(c: Columns) -> np.ndarray:
    """The worst restaging reading on a 0 (complete) / 1 (near-complete) / 2 (residual tumour) scale across
    endoscopy, DRE, MRI regression grade, DWI, restaging nodes (N+ = 1) and a positive biopsy (= 2)."""
    pos = _biopsy_positive(c)
    grades = np.vstack([map_categories(c["endoscopy"], ENDOSCOPY), map_categories(c["dre"], DRE), _mri_grade(c),
                        np.asarray(c["dwi_restriction"], float), np.minimum(map_categories(c["ymr_n_stage"], NODES), 1.0),
                        np.where(pos == 1, 2.0, np.nan)])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmax(grades, axis=0)


def _residual_log(c: Columns) -> np.ndarray:
    return np.log(np.asarray(c["residual_lesion_mm"], float) + 1)


def _residual_rel(c: Columns) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.log((np.asarray(c["residual_lesion_mm"], float) + 1) / (10 * np.asarray(c["tumour_length_cm"], float)))


REGIMEN = ("rt_schedule", "sequence", "immunotherapy", "chemotherapy", "systemic_cycles", "regorafenib")
RESTAGING = ("endoscopy", "dre", "mr_trg", "dwi_restriction", "ymr_n_stage", "restaging_biopsy")
UP, DOWN = +1, -1  # direction: the probability may only rise (UP) or only fall (DOWN) as the feature rises

BASE_FEATURES: tuple[Feature, ...] = (
    # clinical: baseline staging and treatment
    Feature("clinical__age", "clinical", "Age (years)", ("age_years",), _num("age_years")),
    Feature("clinical__female", "clinical", "Female sex", ("sex",), _cat("sex", {"F": 1.0, "M": 0.0})),
    Feature("clinical__ecog", "clinical", "ECOG", ("ecog",), _num("ecog")),
    Feature("clinical__ct_stage", "clinical", "cT stage", ("ct_stage",), _cat("ct_stage", CT_ORDINAL)),
    Feature("clinical__cn_stage", "clinical", "cN stage", ("cn_stage",), _cat("cn_stage", NODES)),
    Feature("clinical__mrf", "clinical", "MRF involved", ("mrf_involved",), _num("mrf_involved")),
    Feature("clinical__emvi", "clinical", "EMVI", ("emvi",), _num("emvi")),
    Feature("clinical__lateral_nodes", "clinical", "Lateral nodes", ("lateral_nodes",), _num("lateral_nodes")),
    Feature("clinical__distance_cm", "clinical", "Distance from anal verge (cm)", ("distance_from_anal_verge_cm",), _num("distance_from_anal_verge_cm")),
    Feature("clinical__length_log", "clinical", "Tumour length (cm)", ("tumour_length_cm",), _log("tumour_length_cm")),
    Feature("clinical__extent_pct", "clinical", "Circumferential extent (%)", ("circumferential_extent_pct",), _num("circumferential_extent_pct")),
    Feature("clinical__regimen", "clinical", "Neoadjuvant regimen", REGIMEN, _regimen, kind="category"),
    Feature("clinical__immunotherapy", "clinical", "Immunotherapy given", ("immunotherapy",), _ici),
    # each part of the regimen on its own as well, so that a part recorded counts when another is blank (the whole
    # regimen's code needs every part)
    Feature("clinical__rt_schedule", "clinical", "Radiotherapy schedule", ("rt_schedule",), _cat("rt_schedule", _RT), kind="category"),
    Feature("clinical__sequence", "clinical", "Treatment sequence", ("sequence",), _cat("sequence", _SEQ), kind="category"),
    Feature("clinical__chemotherapy", "clinical", "Chemotherapy", ("chemotherapy",), _cat("chemotherapy", _CHEMO), kind="category"),
    Feature("clinical__systemic_cycles", "clinical", "Systemic therapy cycles", ("systemic_cycles",), _num("systemic_cycles")),
    Feature("clinical__regorafenib", "clinical", "Regorafenib", ("regorafenib",), _num("regorafenib")),
    Feature("clinical__weeks_to_assessment", "clinical", "Weeks RT to assessment", ("weeks_rt_to_assessment",), _num("weeks_rt_to_assessment")),
    # immune (only informative with immunotherapy)
    Feature("immune__pdl1_cps", "immune", "PD-L1 CPS", ("pdl1_cps", "immunotherapy"), _pdl1("pdl1_cps")),
    Feature("immune__pdl1_tps", "immune", "PD-L1 TPS (%)", ("pdl1_tps_pct", "immunotherapy"), _pdl1("pdl1_tps_pct")),
    # the PD-L1 result itself, whether or not the immunotherapy is recorded (the two above need it)
    Feature("immune__pdl1_cps_any", "immune", "PD-L1 CPS (any regimen)", ("pdl1_cps",), lambda c: np.log1p(np.asarray(c["pdl1_cps"], float))),
    Feature("immune__pdl1_tps_any", "immune", "PD-L1 TPS (%, any regimen)", ("pdl1_tps_pct",),
            lambda c: np.log1p(np.asarray(c["pdl1_tps_pct"], float))),
    # blood
    Feature("blood__cea_baseline_log", "blood", "CEA before treatment", ("cea_baseline_ng_ml",), _log("cea_baseline_ng_ml")),
    Feature("blood__cea_post_log", "blood", "CEA at assessment", ("cea_post_ng_ml",), _log("cea_post_ng_ml"), direction=DOWN),
    Feature("blood__cea_log_ratio", "blood", "CEA change since baseline", ("cea_baseline_ng_ml", "cea_post_ng_ml"), _cea_ratio, direction=DOWN),
    Feature("blood__ctdna_c1_log10", "blood", "ctDNA before treatment", ("ctdna_baseline_mtm_ml",), _ctdna_c1, direction=UP),
    *(Feature(f"blood__ctdna_{tp}_{part}", "blood", f"ctDNA {when} ({what})", (_CTDNA_COL[tp],) if part != "fold" else (_CTDNA_COL["c1"], _CTDNA_COL[tp]),
              _ctdna(tp, part), direction=d)
      for tp, when in (("c2", "after radiotherapy"), ("c3", "at assessment"))
      for part, what, d in (("detected", "detected", DOWN), ("negative", "tested, not detected", UP), ("log10", "level", DOWN),
                            ("fold", "change since baseline", DOWN))),
    # restaging
    Feature("restaging__mr_trg", "restaging", "MRI regression grade (mrTRG)", ("mr_trg",), _num("mr_trg"), direction=DOWN),
    Feature("restaging__endoscopy", "restaging", "Endoscopy", ("endoscopy",), _cat("endoscopy", ENDOSCOPY), direction=DOWN),
    Feature("restaging__dre", "restaging", "Digital rectal examination", ("dre",), _cat("dre", DRE), direction=DOWN),
    Feature("restaging__dwi", "restaging", "Diffusion restriction", ("dwi_restriction",), _num("dwi_restriction"), direction=DOWN),
    Feature("restaging__ymr_n", "restaging", "Restaging MRI nodes", ("ymr_n_stage",), _cat("ymr_n_stage", NODES), direction=DOWN),
    Feature("restaging__ymr_emvi", "restaging", "EMVI on restaging MRI", ("ymr_emvi",), _num("ymr_emvi")),
    # the residual's size alone exists whenever it is recorded (tumour length may be blank); relative to the length
    # where both are (the simulators draw it scaled with the baseline length: a larger residual = less response)
    Feature("restaging__residual_log", "restaging", "Residual lesion size (mm)", ("residual_lesion_mm",), _residual_log, direction=DOWN),
    Feature("restaging__residual_rel_log", "restaging", "Residual lesion vs tumour length", ("residual_lesion_mm", "tumour_length_cm"),
            _residual_rel, direction=DOWN),
    Feature("restaging__biopsy_done", "restaging", "Restaging biopsy (taken or not)", ("restaging_biopsy",), _biopsy_done),
    Feature("restaging__biopsy_positive", "restaging", "Restaging biopsy (residual tumour or not)", ("restaging_biopsy",), _biopsy_positive, direction=DOWN),
    Feature("restaging__worst_grade", "restaging", "Worst restaging finding", RESTAGING, _worst_grade, direction=DOWN),
    Feature("restaging__worst_grade_ici", "restaging", "Worst restaging finding (with immunotherapy)", RESTAGING + ("immunotherapy",),
            _on_ici(_worst_grade), direction=DOWN),
    Feature("restaging__mr_trg_ici", "restaging", "mrTRG (with immunotherapy)", ("mr_trg", "immunotherapy"), _on_ici(_num("mr_trg")), direction=DOWN),
    Feature("restaging__endoscopy_ici", "restaging", "Endoscopy (with immunotherapy)", ("endoscopy", "immunotherapy"),
            _on_ici(_cat("endoscopy", ENDOSCOPY)), direction=DOWN),
)


# Clinical names of the radiomic features the model uses (pyradiomics names; watchwait.imaging.model_features).
RADIOMIC_NAMES = {
    "original_shape_VoxelVolume": ("tumour volume on MRI", "mm³"),
    "original_firstorder_Mean": ("mean T2 signal in the tumour", ""),
    "original_firstorder_InterquartileRange": ("spread of T2 signal in the tumour (interquartile range)", ""),
    "original_glcm_JointEntropy": ("texture heterogeneity (GLCM joint entropy)", ""),
    "original_glszm_SizeZoneNonUniformityNormalized": ("texture zone-size non-uniformity (GLSZM)", ""),
}
_PHASES = {"baseline": "before treatment", "restaging": "at restaging", "delta": "change from baseline to restaging"}


# Imaging follows the direction of the evidence like every other input (brief rule 12): a tumour that shrank less, or
# whose T2 signal fell less (fibrosis is dark on T2; residual tumour keeps an intermediate signal), never raises the
# probability; nor does a larger or brighter lesion at restaging. Deltas are restaging - baseline.
RADIOMIC_DIRECTIONS = {
    "delta_original_shape_VoxelVolume": DOWN,
    "delta_original_firstorder_Mean": DOWN,
    "restaging_original_shape_VoxelVolume": DOWN,
    "restaging_original_firstorder_Mean": DOWN,
}


def radiomic_label(column: str) -> str:
    """What a clinician calls a radiomic column: "tumour volume on MRI, change from baseline to restaging"; the
    pyradiomics name stays in :attr:`Feature.sources` for the technical details."""
    name = column[len(RADIOMICS_PREFIX):] if column.startswith(RADIOMICS_PREFIX) else column
    phase, _, feature = name.partition("_")
    what = RADIOMIC_NAMES.get(feature, (feature.replace("_", " "), ""))[0]
    return f"{what}, {_PHASES.get(phase, phase)}"


def radiomics_features(columns: list[str]) -> tuple[Feature, ...]:
    """Precomputed radiomic feature columns (``radiomics_<phase>_<pyradiomics name>``) as model features."""
    return tuple(
        Feature(f"radiomics__{c[len(RADIOMICS_PREFIX):]}", "radiomics", radiomic_label(c), (c,), _num(c),
                direction=RADIOMIC_DIRECTIONS.get(c[len(RADIOMICS_PREFIX):], 0))
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


def blank_cells(values) -> np.ndarray:
    """True where a column's cells are blank (NaN or None)."""
    v = np.asarray(values)
    if v.dtype.kind == "f":
        return np.isnan(v)
    return pd.isna(v.astype(object)) if v.dtype == object else np.zeros(v.shape, dtype=bool)


def modality_inputs(features: tuple[Feature, ...]) -> dict[str, tuple[str, ...]]:
    """Per modality the model uses: the data-dictionary columns that are evidence of that modality (a
    feature's other inputs, e.g. the regimen gating PD-L1, do not count)."""
    out: dict[str, set[str]] = {}
    for f in features:
        for s in f.sources:
            field = BY_NAME.get(s)
            if (field is not None and field.modality == f.modality) or (f.modality == "radiomics" and s.startswith(RADIOMICS_PREFIX)):
                out.setdefault(f.modality, set()).add(s)
    return {m: tuple(sorted(v)) for m, v in out.items()}


def modalities_not_tested(features: tuple[Feature, ...], cols: Columns) -> dict[str, np.ndarray]:
    """Per modality, per row: True when every input of that modality is blank (the test was not done)."""
    n = len(next(iter(cols.values())))
    return {m: np.logical_and.reduce([blank_cells(cols[c]) if c in cols else np.ones(n, bool) for c in inputs])
            for m, inputs in modality_inputs(features).items()}


def display_value(feature: Feature, record: Mapping[str, object]) -> str:
    """The patient's own input(s) behind a feature, as a clinician reads them: one input as its value; a series
    of the same measurement (ctDNA, CEA) as "before -> after"; several different inputs as "label: value; ..."."""
    from watchwait.labels import value_text

    own = [s for s in feature.sources if not (s == "immunotherapy" and feature.modality != "clinical")] or list(feature.sources)
    if len(own) == 1:
        return value_text(own[0], record.get(own[0]))
    if own == ["residual_lesion_mm", "tumour_length_cm"]:  # the label says what they are: "15 mm / 6.9 cm"
        from watchwait.validation import is_blank

        blank = [BY_NAME[s].label for s in own if is_blank(record.get(s))]
        return " / ".join(value_text(s, record.get(s)) for s in own) if not blank else f"not recorded ({', '.join(blank)})"
    if all(s.startswith(("ctdna_", "cea_")) for s in own):
        return " -> ".join(value_text(s, record.get(s)) for s in own)
    return "; ".join(f"{BY_NAME[s].label if s in BY_NAME else s}: {value_text(s, record.get(s))}" for s in own)


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
        h.update(f"{f.name}|{f.modality}|{','.join(f.sources)}|{f.direction}|{f.kind};".encode())
    h.update(np.ascontiguousarray(rounded, dtype="<f8").tobytes())
    return h.hexdigest()
