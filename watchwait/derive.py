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

Record version 2 adds two readings (clinical brief, restaging nodes paragraph):

- restaging MRI nodes: N0 -> 0; N1/N2 (persistent suspicious nodes) -> 1: they rule out a cCR,
  near-cCR at best. Blank -> not graded (the rules then ask to confirm the nodes before a cCR or
  near-cCR pathway: rule FLAG-nodes-not-recorded).
- restaging biopsy: positive -> 2 (residual tumour: incomplete); negative or not done -> not
  graded (a negative biopsy rules nothing out).

Category: any component 2 -> incomplete; otherwise, when the four luminal and MRI components are
known, the worst grade over every graded component (0 -> cCR, 1 -> near-cCR); otherwise
"not_assessed" (a cCR needs every component normal).

Other derived values the rules (rules_v2.json) and the figures' populations (outcomes_v2.json) use:
discordance among endoscopy, MRI and DRE and "residual disease on one reading only"
(:func:`restaging_discordance`), near-complete on both endoscopy and MRI (:func:`ncr_endoscopy_and_mri`,
OPRA's nCR/nCR), the local-excision criteria with the baseline circumference
(:func:`local_excision_criteria`), CEA rising or above the normal range (:func:`cea_findings`) and ctDNA
kinetics (:func:`ctdna_kinetics`).
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
# Graded when recorded, never required for a category (a version-1 record has neither).
RESTAGING_V2_COMPONENTS = ("ymr_n_stage", "restaging_biopsy")

#: Restaging readings as grades 0 (complete) / 1 (near-complete) / 2 (residual tumour): the one code for them (the
#: model's features use the same).
ENDOSCOPY_GRADE = {"complete": 0.0, "near_complete": 1.0, "incomplete": 2.0}
DRE_GRADE = {"normal": 0.0, "smooth_induration": 1.0, "mass": 2.0}
#: The nodal stage as a number (cN and restaging ymrN): the one code for it (the model's features use it as is).
NODE_STAGE = {"N0": 0.0, "N1": 1.0, "N2": 2.0}
_BIOPSY = {"positive": 2.0}
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
        "endoscopy": _map(np.asarray(cols["endoscopy"], dtype=object), ENDOSCOPY_GRADE),
        "dre": _map(np.asarray(cols["dre"], dtype=object), DRE_GRADE),
        "mr_trg": mri,
        "dwi_restriction": np.asarray(cols["dwi_restriction"], dtype=float),
    }


def _column(cols: Columns, name: str, n: int) -> np.ndarray:
    """A column, or all blank when the record or file has none (version-1 input)."""
    if name in cols:
        return np.asarray(cols[name], dtype=object)
    return np.full(n, None, dtype=object)


def _numbers(cols: Columns, name: str, n: int) -> np.ndarray:
    """A numeric column, or all NaN when the record or file has none (version-1 input)."""
    return np.asarray(cols[name], dtype=float) if name in cols else np.full(n, np.nan)


def present(values: np.ndarray) -> np.ndarray:
    """Per cell: recorded (not None, NaN or pd.NA). An array in, an array out: no pandas Series for one row."""
    return ~pd.isna(np.asarray(values, dtype=object))


def equals(values: np.ndarray, value: str) -> np.ndarray:
    """Per cell: recorded and equal to ``value`` (a blank is never equal to anything, pd.NA included)."""
    values = np.asarray(values, dtype=object)
    out = np.zeros(len(values), dtype=bool)
    ok = present(values)
    out[ok] = values[ok] == value
    return out


def v2_grades(cols: Columns) -> dict[str, np.ndarray]:
    """Grades of the version-2 readings: restaging nodes (0/1) and biopsy (2 if positive), NaN = not graded."""
    n = len(np.asarray(cols["endoscopy"]))
    return {"ymr_n_stage": np.minimum(_map(_column(cols, "ymr_n_stage", n), NODE_STAGE), 1.0),  # N1 or N2: grade 1
            "restaging_biopsy": _map(_column(cols, "restaging_biopsy", n), _BIOPSY)}


def response_category(cols: Columns) -> np.ndarray:
    """cCR / near-cCR / incomplete / not_assessed for every row (see module docstring)."""
    core = np.vstack(list(restaging_grades(cols).values()))
    extra = np.vstack(list(v2_grades(cols).values()))
    grades = np.vstack([core, extra])
    any_incomplete = np.nanmax(np.where(np.isnan(grades), -1, grades), axis=0) >= 2
    all_known = ~np.isnan(core).any(axis=0)
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
    imm = np.asarray(cols["immunotherapy"], dtype=object)
    return np.where(present(imm), (~equals(imm, "none")).astype(float), np.nan)


def endoscopy_mri_discordant(cols: Columns) -> np.ndarray:
    """1.0 when endoscopy and MRI disagree on completeness (one complete, the other not), 0.0 when they
    agree or a positive restaging biopsy has settled it (residual tumour), NaN unless both are recorded.
    MRI reads complete at mrTRG 1-2 (:func:`reading_complete`). The rules use :func:`restaging_discordance`, which adds
    DRE."""
    rc = reading_complete(cols)
    endo, mri = rc["endoscopy"], rc["mr_trg"]
    settled = equals(_column(cols, "restaging_biopsy", len(endo)), "positive")
    return np.where(~np.isnan(endo) & ~np.isnan(mri), ((endo != mri) & ~settled).astype(float), np.nan)


#: The three restaging readings that can each read "complete", in the words the screen uses.
READING_WORDS = {"endoscopy": "endoscopy", "mr_trg": "MRI", "dre": "DRE"}


def reading_complete(cols: Columns) -> dict[str, np.ndarray]:
    """Per reading (endoscopy, MRI regression grade, DRE): 1.0 when it reads complete (flat scar; mrTRG 1-2; normal
    DRE), 0.0 when it reads near-complete or incomplete, NaN when not recorded. MRI reads complete at mrTRG 1-2 as in
    :func:`restaging_grades` (diffusion is graded on its own and is not a reading here)."""
    g = restaging_grades(cols)
    return {k: np.where(np.isnan(g[k]), np.nan, (g[k] == 0).astype(float)) for k in READING_WORDS}


def _words(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""


def restaging_discordance(cols: Columns) -> dict[str, np.ndarray]:
    """Discordance among endoscopy, MRI and DRE (clinical brief rule 3; Williams, Ann Surg 2025: endoscopy and MRI
    disagreed in 46% of OPRA assessments; DRE joins them as a design choice of this tool, since the brief's cCR needs a
    normal DRE as well).

    - ``restaging_discordant``: 1.0 when endoscopy and MRI disagree on completeness (one complete, the other not), or
      when DRE finds residual disease (smooth induration or a mass) while endoscopy or MRI reads complete; 0.0 when
      the recorded readings do not disagree so, or a positive restaging biopsy has settled it (residual tumour); NaN
      when no such pair is recorded. A normal DRE beside residual disease on endoscopy or MRI is not a disagreement
      (design choice: a normal DRE does not rule out what endoscopy or MRI sees);
    - ``readings_complete`` / ``readings_residual``: the readings that read complete / not complete, in words;
    - ``residual_one_reading``: 1.0 when exactly one reading shows residual disease and the other two read complete
      (all three recorded) and no positive biopsy has confirmed it, else 0.0 (NaN when a reading is blank).
    """
    rc = reading_complete(cols)
    n = len(rc["endoscopy"])
    stack = np.vstack([rc[k] for k in READING_WORDS])
    n_known = (~np.isnan(stack)).sum(axis=0)
    n_complete = np.nansum(stack == 1.0, axis=0)
    n_residual = np.nansum(stack == 0.0, axis=0)
    settled = equals(_column(cols, "restaging_biopsy", n), "positive")
    endo, mri, dre = rc["endoscopy"], rc["mr_trg"], rc["dre"]
    known = (~np.isnan(endo) & ~np.isnan(mri)) | (~np.isnan(dre) & (~np.isnan(endo) | ~np.isnan(mri)))
    endo_mri = ~np.isnan(endo) & ~np.isnan(mri) & (endo != mri)
    dre_alone = (dre == 0.0) & ((endo == 1.0) | (mri == 1.0))
    disc = np.where(known, ((endo_mri | dre_alone) & ~settled).astype(float), np.nan)
    one = np.where(n_known == 3, ((n_residual == 1) & (n_complete == 2) & ~settled).astype(float), np.nan)
    done, left = [], []
    for i in range(n):
        done.append(_words([w for k, w in READING_WORDS.items() if rc[k][i] == 1.0]))
        left.append(_words([w for k, w in READING_WORDS.items() if rc[k][i] == 0.0]))
    return {"restaging_discordant": disc, "residual_one_reading": one,
            "readings_complete": np.array(done, dtype=object), "readings_residual": np.array(left, dtype=object)}


def ncr_endoscopy_and_mri(cols: Columns) -> np.ndarray:
    """1.0 when endoscopy reads near-complete and MRI is graded near-complete (mrTRG 3): OPRA's "near-cCR on both
    endoscopy and MRI" (Williams, Ann Surg 2025: regrowth 59.3%). 0.0 when both are recorded otherwise, NaN when
    either is blank."""
    endo = np.asarray(cols["endoscopy"], dtype=object)
    trg = np.asarray(cols["mr_trg"], dtype=float)
    known = present(endo) & ~np.isnan(trg)
    return np.where(known, (equals(endo, "near_complete") & (trg == 3)).astype(float), np.nan)


def cea_findings(cols: Columns, thresholds: Mapping[str, float]) -> dict[str, np.ndarray]:
    """CEA at response assessment against the baseline and against ``cea_upper_normal`` (a labelled threshold).

    - ``cea_rising``: 1.0 when CEA at assessment is above the baseline value, 0.0 when not, NaN unless both recorded;
    - ``cea_above_normal``: 1.0 when CEA at assessment is above ``cea_upper_normal``, 0.0 when not, NaN when blank
      (and when the rule set has no such threshold);
    - ``cea_systemic``: 1.0 when either holds, else 0.0; ``cea_finding``: what was found, in words.
    """
    n = len(np.asarray(cols["endoscopy"]))
    base = _numbers(cols, "cea_baseline_ng_ml", n)
    post = _numbers(cols, "cea_post_ng_ml", n)
    limit = thresholds.get("cea_upper_normal")
    with np.errstate(invalid="ignore"):
        rising = np.where(np.isnan(base) | np.isnan(post), np.nan, (post > base).astype(float))
        high = (np.full(n, np.nan) if limit is None else
                np.where(np.isnan(post), np.nan, (post > limit).astype(float)))
    systemic = ((rising == 1.0) | (high == 1.0)).astype(float)
    words = []
    for i in range(n):
        parts = []
        if rising[i] == 1.0:
            parts.append(f"above its baseline value ({base[i]:g} ng/mL)")
        if high[i] == 1.0:
            parts.append(f"above {limit:g} ng/mL")
        words.append(" and ".join(parts))
    return {"cea_rising": rising, "cea_above_normal": high, "cea_systemic": systemic,
            "cea_finding": np.array(words, dtype=object)}


def local_excision_criteria(cols: Columns, thresholds: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Transanal local-excision criteria of the clinical brief (rule 7), per row.

    ``le_criteria_met``: residual lesion <= ``le_max_residual_mm``, restaging nodes N0, distal edge
    <= ``le_max_distance_cm`` and baseline circumferential extent < ``le_max_circumference_pct``, all recorded.
    ``le_criteria_failed``: the residual lesion or the distal edge is recorded beyond its limit (nodes have their own
    rule). ``le_missing``: the criteria that are not recorded, in words (empty when none).

    Circumference (NCCN: < 30% of the circumference; a design choice of this tool how it applies): the record holds
    the *baseline* extent only, not the residual's. A residual is taken to cover no more of the circumference than the
    tumour did at baseline, so a baseline extent below the limit meets the criterion; at or above it the criterion is
    unconfirmed (``le_circumference_unconfirmed``: the MDT confirms the residual's extent), never failed, since the
    residual may have shrunk. ``le_unconfirmed``: ``le_missing`` plus that confirmation, in words. A rule set without
    ``le_max_circumference_pct`` (an older site copy) leaves the circumference out, as before."""
    n = len(np.asarray(cols["endoscopy"]))
    resid = _numbers(cols, "residual_lesion_mm", n)
    dist = np.asarray(cols["distance_from_anal_verge_cm"], dtype=float)
    circ = _numbers(cols, "circumferential_extent_pct", n)
    nodes = _column(cols, "ymr_n_stage", n)
    limit = thresholds.get("le_max_circumference_pct")
    with np.errstate(invalid="ignore"):
        circ_ok = np.ones(n, dtype=bool) if limit is None else circ < limit
        circ_unconfirmed = np.zeros(n, dtype=bool) if limit is None else circ >= limit
        met = ((resid <= thresholds["le_max_residual_mm"]) & equals(nodes, "N0") & (dist <= thresholds["le_max_distance_cm"])
               & circ_ok)
        failed = (resid > thresholds["le_max_residual_mm"]) | (dist > thresholds["le_max_distance_cm"])
    circ_blank = np.isnan(circ) if limit is not None else np.zeros(n, dtype=bool)
    words, unconfirmed = [], []
    for i, (r, d, nd, c) in enumerate(zip(np.isnan(resid), np.isnan(dist), ~present(nodes), circ_blank)):
        w = ", ".join(w for w, miss in (("residual lesion size", r), ("restaging nodes", nd),
                                        ("distance from the anal verge", d), ("circumferential extent", c)) if miss)
        words.append(w)
        extra = (f"the residual covers less than {limit:g}% of the circumference (baseline extent {circ[i]:g}%)"
                 if circ_unconfirmed[i] else "")
        unconfirmed.append(", ".join(x for x in (w, extra) if x))
    return {"le_criteria_met": met.astype(float), "le_criteria_failed": failed.astype(float),
            "le_circumference_unconfirmed": circ_unconfirmed.astype(float),
            "le_missing": np.array(words, dtype=object), "le_unconfirmed": np.array(unconfirmed, dtype=object)}


def derived_columns(cols: Columns, thresholds: Mapping[str, float] | None = None) -> dict[str, np.ndarray]:
    """Every derived value the rules and the screen use, keyed by name."""
    n = len(np.asarray(cols["endoscopy"]))
    out: dict[str, np.ndarray] = {"category": response_category(cols), "immunotherapy_given": immunotherapy_given(cols),
                                  "endoscopy_mri_discordant": endoscopy_mri_discordant(cols),
                                  # 1 for a positive restaging biopsy (proven residual tumour), else 0 (negative, not done or blank)
                                  "biopsy_positive": equals(_column(cols, "restaging_biopsy", n), "positive").astype(float)}
    out.update(restaging_discordance(cols))
    out["ncr_endoscopy_and_mri"] = ncr_endoscopy_and_mri(cols)
    out.update(ctdna_kinetics(cols))
    if thresholds is not None:
        out.update(local_excision_criteria(cols, thresholds))
        out.update(cea_findings(cols, thresholds))
    return out


def outcome_from_followup(cols: Columns) -> np.ndarray:
    """``complete_response`` as the data dictionary derives it from the follow-up columns (1/0, NaN = unknown).

    - 0 (false): residual tumour at pathology (ypT other than T0, or ypN1/N2), or a local regrowth;
    - 1 (true): ypT0 (and ypN0 where nodes were examined), or watch-and-wait without regrowth after
      at least 12 months followed;
    - NaN: not enough follow-up (e.g. watch-and-wait followed for less than 12 months without regrowth).
    """
    n = len(next(iter(cols.values()))) if cols else 0

    def obj(name):
        return pd.Series(_column(cols, name, n))

    def num(name):
        return np.asarray(cols[name], dtype=float) if name in cols else np.full(n, np.nan)

    ypt, ypn, mgmt = obj("ypt_stage"), obj("ypn_stage"), obj("management")
    regrowth, months = num("local_regrowth"), num("months_followed")
    out = np.full(n, np.nan)
    with np.errstate(invalid="ignore"):
        t0 = (ypt == "T0").to_numpy() & ~ypn.isin(["N1", "N2"]).to_numpy()
        residual = (ypt.notna() & (ypt != "T0")).to_numpy() | ypn.isin(["N1", "N2"]).to_numpy()
        sustained = (mgmt == "watch_and_wait").to_numpy() & (regrowth == 0) & (months >= 12)
        out[t0 | sustained] = 1.0
        out[residual | (regrowth == 1)] = 0.0
    return out
