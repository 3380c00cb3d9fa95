"""The published figures the simulated cohort is calibrated to (``TARGETS``: what is measured, the published value,
its source and the accepted band), :func:`target_values` that measures them on a cohort, and :func:`targets_table`
that writes the README table (tests/unit/test_simulator_targets.py checks both)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from watchwait.sim.common import Cohort, to_csv_frame
from watchwait.sim.generator import simulate


# --------------------------------------------------------------------------- calibration targets
# Every figure the simulator is calibrated to: what is measured, the published value, where it comes
# from, and the band a simulated cohort must fall in. ``target_values`` measures them (no oracle);
# tests/unit/test_simulator_targets.py checks each band and that the README table is current.
# "TR" = true (complete) response; "cCR" = the response category of watchwait.derive.

@dataclass(frozen=True)
class Target:
    key: str
    what: str
    target: str  # the published figure, as shown
    low: float  # accepted band for the simulated value
    high: float
    source: str
    value: float | None = None  # numeric target when the band is value +/- a tolerance

    def tolerance(self) -> str:
        """The accepted band as shown: +/- a tolerance around a numeric target, else its bounds."""
        if self.value is not None and np.isclose(self.value - self.low, self.high - self.value):
            return f"± {self.high - self.value:.2f}"
        if self.high == np.inf:
            return f"≥ {self.low:.2f}"
        return f"{self.low:.2f} to {self.high:.2f}"


def _t(key, what, target, low, high, source, value=None) -> Target:
    return Target(key, what, target, low, high, source, value)


def _pm(key, what, value, tol, source, target=None) -> Target:
    return Target(key, what, target or f"{value:g}", round(value - tol, 4), round(value + tol, 4), source, value)


_S1, _S2, _S3, _S4, _S5 = (f"calibration.md §{i}" for i in range(1, 6))
TARGET_COHORT = dict(n=40_000, seed=2024)  # the cohort the README table and the target tests measure
TARGETS: tuple[Target, ...] = (
    # base rates (section 1)
    _t("cr_crt", "CR rate, LCRT then TME", "0.155 (0.117-0.20)", 0.12, 0.20,
       f"{_S1}: Maas 2010 15.6%, UNION ctrl 15.3%, PRODIGE 23 11.7%", 0.155),
    _t("cr_tnt", "CR rate, TNT without ICI (3 regimens)", "0.25 (0.17-0.327)", 0.20, 0.30,
       f"{_S1}: RAPIDO 27.7%, CAO/ARO/AIO-12 17-25%, STELLAR II ctrl 25%", 0.25),
    _t("cr_itnt_scrt", "CR rate, ICI TNT with SCRT first", "0.52 (0.455-0.565)", 0.45, 0.57,
       f"{_S1}: TORCH 56.5/54.2%, SPRING-01 59.2%, STELLAR II 45.5%", 0.52),
    _pm("cr_itnt_lcrt", "CR rate, LCRT + anti-PD-1 + CAPOX", 0.448, 0.05, f"{_S1}: SYSUCC 30/67"),
    _pm("cr_regina", "CR rate, PD-1/CTLA-4 + regorafenib arm (assumed REGINA-like)", 0.37, 0.04,
        f"{_S1}: REGINA pMMR 11/30"),
    _t("pdl1_ici", "CR difference, PD-L1 CPS ≥ 5 vs < 5, with ICI", "> 0 (0.50 vs 0.273)", 0.08, 0.30,
       f"{_S2}: Hou 2025 (n=20), shrunk"),
    _pm("pdl1_no_ici", "CR difference, PD-L1 CPS ≥ 5 vs < 5, without ICI", 0.0, 0.04,
        f"{_S2}: PD-L1 raises CR only under ICI", target="0"),
    # direction and rough size of covariate effects (section 2): crude odds ratios in the cohort
    _t("or_ct4", "odds ratio of CR, cT4 vs cT2-3", "< 1 (0.51)", 0.0, 0.95, f"{_S2}: PMC6072814, shrunk"),
    _t("or_cn2", "odds ratio of CR, cN2 vs cN0-1", "< 1 (direction)", 0.0, 0.95, f"{_S2}: NCDB, Lorimer 2017"),
    _t("or_mrf", "odds ratio of CR, MRF involved vs not", "< 1 (1/6.32)", 0.0, 0.95, f"{_S2}: PMC9021692, shrunk"),
    _t("or_emvi", "odds ratio of CR, EMVI vs none", "< 1 (direction)", 0.0, 0.95, f"{_S2}: nomogram, no OR found"),
    _t("or_cea", "odds ratio of CR, baseline CEA > 5 vs ≤ 5", "< 1 (0.34)", 0.0, 0.95, f"{_S2}: PMC6072814, shrunk"),
    _t("or_length", "odds ratio of CR, tumour > 5 vs ≤ 5 cm", "< 1 (1/2.6)", 0.0, 0.95, f"{_S2}: J Oncol, shrunk"),
    _t("distance_peak", "CR rate at 6-8 cm minus the higher of < 4 cm and 8-10 cm", "> 0 (0.30 vs 0.11, 0.17)",
       0.0, np.inf, f"{_S2}: Patel 2016, bimodal"),
    # clinical assessment (section 4)
    _t("ppv_crt", "P(TR | cCR), LCRT then TME", "0.75-0.81", 0.73, 0.86,
       f"{_S5}: IWWD (mostly CRT), 2-y regrowth 25.2%; {_S4}: OPRA 0.81 (TNT)"),
    _pm("ppv_tnt", "P(TR | cCR), TNT without ICI", 0.81, 0.05, f"{_S4}: OPRA ASCO GI 28"),
    _t("npv_no_ici", "P(TR | not cCR), without ICI", "0.10 to 0.30 (below the CR rate)", 0.10, 0.20,
       f"{_S4}: OPRA 10% (review 000 §5) to 0.30 (OPRA, at 52% TR; unreachable below 30% CR)"),
    _pm("ppv_ici", "P(TR | cCR), with ICI", 0.81, 0.05, f"{_S4}: OPRA ASCO GI 28"),
    _pm("npv_ici", "P(TR | not cCR), with ICI (pseudo-residual)", 0.342, 0.04, f"{_S4}: TORCH 25/73 (review 000 §5)"),
    _t("pseudo_residual_ratio", "P(TR | not cCR), with / without ICI", "3.4 (34.2% / 10%)", 2.0, np.inf,
       f"{_S4}: TORCH vs OPRA (review 000 §5)"),
    _pm("ymr_emvi_tr", "EMVI still seen on restaging MRI in TR (baseline EMVI, no ICI)", 0.2025, 0.05, target="0.20 (1 - 0.7975)",
        source=f"{_S4}: Lee 2018 yMR-EMVI spec 79.75%"),
    # single-signal discrimination (sections 2 and 4); AUC for CR
    _t("auc_mri", "AUC, mrTRG alone", "0.65-0.73", 0.65, 0.73, f"{_S4}: PKU (Pei JP) 0.71 / 0.65"),
    _t("auc_endoscopy", "AUC, endoscopy alone", "0.67-0.76", 0.67, 0.76, f"{_S4}: PKU (Pei JP) 0.67 / 0.76"),
    _t("auc_ctdna_c2", "AUC, ctDNA fold change C2/C1 (baseline-detected)", "0.82-0.85", 0.78, 0.87,
       f"{_S2}: Wang 2021 0.818, UNION 0.85 at C2"),
    _pm("auc_ctdna_mri", "AUC, ctDNA fold change + mrTRG (logistic, baseline-detected)", 0.886, 0.06,
        f"{_S2}: Wang 2021 0.886"),
    _pm("auc_cea", "AUC, CEA at assessment", 0.733, 0.04, f"{_S2}: UNION (review 000 §6)"),
    _t("auc_prior", "AUC, baseline covariates (P(CR | X))", "0.70-0.84", 0.70, 0.84, f"{_S2}: nomograms 0.836"),
    # restaging readings together, and those without a published figure on their own (issue 17)
    _t("auc_restaging_together", "AUC, all eight restaging readings together (logistic: endoscopy, DRE, mrTRG, DWI, "
       "nodes, EMVI, residual size, biopsy)", "> best single reading, ≤ 0.80", 0.74, 0.80,
       f"{_S4}: single readings 0.65-0.76 (PKU), OPRA endoscopy + MRI accuracy 67%; {_S2}: ctDNA + mrTRG 0.886 (Wang 2021)"),
    _t("auc_residual", "AUC, residual lesion size alone (mm, or relative to tumour length: the higher)",
       "≤ MRI alone (0.65)", 0.55, 0.67, f"no published source: set no stronger than MRI alone ({_S4}: PKU 0.65)"),
    _t("auc_nodes", "AUC, restaging MRI nodes alone", "≤ MRI alone (0.65)", 0.52, 0.67,
       f"no published source: set no stronger than MRI alone ({_S4}: PKU 0.65)"),
    _t("auc_unsourced_max", "highest AUC of another unsourced reading alone (DRE, DWI, positive biopsy, EMVI after a "
       "baseline EMVI)", "≤ MRI alone (0.65)", 0.52, 0.67, f"no published source: set no stronger than MRI alone ({_S4}: PKU 0.65)"),
    _t("auc_radiomics", "AUC, radiomics alone among imaged patients (logistic on the 15 model columns, 5-fold CV; "
       "recorded, see RADIOMICS_ALONE)", "0.80-0.85 (0.846)", 0.78, 0.85,
       f"{_S2}: radiomics pooled validation AUC 0.846 (38 studies), 0.85 (Jia 2022)"),
    # ctDNA detection (sections 2 and 3)
    _pm("ctdna_c1", "ctDNA detected at baseline (C1)", 0.77, 0.05, f"{_S3}: Tie 77%, Zhou 75%"),
    _pm("ctdna_c2", "ctDNA detected after RT (C2), all tested", 0.33, 0.05,
        f"{_S3}: compromise, see below (Zhou 15.6%, Tie 8.3%)"),
    _t("ctdna_c2_tr", "ctDNA detected at C2, baseline-detected TR", "0.043", 0.0, 0.06,
       f"{_S2}: Wang 2021 pTRG0 clearance 95.7%", 0.043),
    _t("ctdna_c3", "ctDNA detected at assessment (C3), all tested", "0.083-0.105", 0.06, 0.16,
       f"{_S3}: Tie 8.3%, Zhou 10.5%"),
    _t("ctdna_c3_tr", "ctDNA detected at C3 in TR", "0 (0/29)", 0.0, 0.02, f"{_S2}: Zhou 2021, none of 29 ypCR"),
    _t("ctdna_c3_cleared", "baseline-detected ctDNA cleared by C3", "0.67-0.96", 0.67, 0.96, f"{_S2}: Wang 2021"),
    _pm("ctdna_non_shedder", "AUC of ctDNA at C2 and C3 among non-shedders (not detected at C1): uninformative", 0.5,
        0.01, f"{_S3}: 23-25% not detected at baseline (Tie, Zhou); a non-shedder's later 'not detected' says nothing",
        target="0.5"),
    # cohort mix (section 3)
    _pm("mix_ct4", "cT4 share", 0.117, 0.03, f"{_S3}: OPRA 38/324"),
    _pm("mix_cn_pos", "cN+ share", 0.71, 0.03, f"{_S3}: OPRA 230/324"),
    _pm("mix_mrf", "MRF involved", 0.227, 0.03, f"{_S3}: Korea 112/493"),
    _pm("mix_emvi", "EMVI", 0.30, 0.03, f"{_S3}: Dutch LARC 20/67"),
    _pm("mix_cea_high", "baseline CEA > 5 ng/mL", 0.34, 0.04, f"{_S3}: Pu 2021 322/949"),
    _pm("mix_male", "male", 0.65, 0.03, f"{_S3}: OPRA MRI cohort 179/277"),
)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``y`` (ties count one half), ignoring NaN scores."""
    from scipy.stats import rankdata

    score = np.asarray(score, float)
    ok = ~np.isnan(score)
    y, score = np.asarray(y, bool)[ok], score[ok]
    n1, n0 = y.sum(), (~y).sum()
    return float((rankdata(score)[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


RESTAGING_READINGS = ("endoscopy", "dre", "mr_trg", "dwi_restriction", "ymr_n_stage", "ymr_emvi", "restaging_biopsy")


def _restaging_together_auc(f: pd.DataFrame, y: np.ndarray) -> float:
    """AUC of a logistic regression on every restaging reading (each category and its blank one-hot; the residual size
    as log mm and log relative to the tumour length, with a blank flag), fitted and measured on the same cohort (40,000
    patients, ~30 parameters: the best a model can do from the restaging readings alone, up to their functional form)."""
    from sklearn.linear_model import LogisticRegression

    parts = []
    for col in RESTAGING_READINGS:
        v = f[col].astype(object).where(f[col].notna(), "blank").astype(str)
        parts.append(pd.get_dummies(v, prefix=col).to_numpy(float))
    mm = pd.to_numeric(f["residual_lesion_mm"], errors="coerce").to_numpy(float)
    length = pd.to_numeric(f["tumour_length_cm"], errors="coerce").to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.log((mm + 1) / (10 * length))
    x = np.column_stack([*parts, np.nan_to_num(np.log(mm + 1)), np.nan_to_num(rel, posinf=0.0, neginf=0.0), np.isnan(mm)])
    return _auc(y, LogisticRegression(max_iter=3000).fit(x, y).decision_function(x))


# Radiomics alone, among imaged patients: too slow for target_values (pyradiomics on every pair), so measured with
# :func:`radiomics_alone_auc` (the real pipeline: watchwait.imaging.cohort_images.synth_patient, then pyradiomics on
# the pair with the reader's ROIs, in memory as tests/imaging/test_model_features.py does) and recorded here;
# tests/unit/test_simulator_radiomics.py measures it again on a smaller sample. The noise that sets it:
# watchwait/imaging/synthetic.py (_VOLUME_NOISE_SD, _FIBROSIS_NOISE_SD; 0.15 and 0.12 before issue 17, AUC 0.86 then).
RADIOMICS_ALONE = dict(auc=0.804, n=800, seed=5, repeats=5,
                       how="radiomics_alone_auc(800, seed=5): logistic regression (standardised) on the 15 model columns, "
                           "5-fold cross-validated, mean of 5 shuffles")


def radiomics_alone_auc(n: int = 800, seed: int = 5, repeats: int = 5, jobs: int = 2) -> float:
    """AUC for CR of a radiomics-only logistic regression (the 15 model columns, standardised), 5-fold
    cross-validated (mean over ``repeats`` shuffles), on ``n`` simulated patients all imaged through the real
    pipeline. Needs the imaging extras (pyradiomics, SimpleITK)."""
    from multiprocessing import get_context

    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    latent = simulate(n, seed=seed, with_oracle=False).truth["latent_score"].to_numpy()
    args = [(float(s), i) for i, s in enumerate(latent)]
    if jobs > 1:
        with get_context("fork").Pool(jobs) as pool:
            rows = pool.map(_radiomics_row, args, chunksize=8)
    else:
        rows = [_radiomics_row(a) for a in args]
    x, y = np.nan_to_num(np.array(rows, float)), latent > 0
    aucs = []
    for r in range(repeats):
        p = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)), x, y,
                              cv=StratifiedKFold(5, shuffle=True, random_state=r), method="predict_proba")[:, 1]
        aucs.append(roc_auc_score(y, p))
    return float(np.mean(aucs))


def _radiomics_row(arg: tuple[float, int]) -> list[float]:
    """The 15 radiomics model columns of one simulated imaged patient (latent score, index), measured in memory."""
    import logging

    import SimpleITK as sitk

    from watchwait.imaging.cohort_images import synth_patient
    from watchwait.imaging.model_features import FEATURES, MODEL_COLUMNS
    from watchwait.imaging.radiomics import delta_features, extract_arrays

    latent, index = arg
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    pair = synth_patient(latent, np.random.default_rng([77, index, 7]))
    found = {}
    for visit in ("baseline", "restaging"):
        got = extract_arrays(np.round(pair[f"{visit}_image"]), pair[f"{visit}_roi"], pair["spacing"]).features
        found[visit] = {k: got[k] for k in FEATURES}
    delta = delta_features(found["baseline"], found["restaging"])
    cols = {**{f"radiomics_{v}_{k}": found[v][k] for v in found for k in FEATURES},
            **{f"radiomics_delta_{k}": delta[f"delta_{k}"] for k in FEATURES}}
    return [float(cols[c]) for c in MODEL_COLUMNS]


def _odds_ratio(y: np.ndarray, x: np.ndarray, known: np.ndarray) -> float:
    a, b = y[known & x].mean(), y[known & ~x].mean()
    return float(a / (1 - a) / (b / (1 - b)))


def target_values(cohort: Cohort) -> dict[str, float]:
    """The simulated value of every ``TARGETS`` entry, measured on a cohort (its recorded values; no oracle)."""
    from sklearn.linear_model import LogisticRegression

    from watchwait.derive import response_category
    from watchwait.validation import validate_frame

    f = validate_frame(to_csv_frame(cohort.frame))
    y = cohort.frame["complete_response"].to_numpy(bool)
    reg = cohort.truth["regimen"].to_numpy()
    ici = (f["immunotherapy"] != "none").to_numpy()
    crt, tnt = reg == "crt", np.isin(reg, ["tnt_scrt", "tnt_lcrt_consolidation", "tnt_induction"])
    cat = response_category({c: f[c].to_numpy() for c in f.columns})
    known, ccr = cat != "not_assessed", cat == "cCR"

    def num(col):
        return f[col].to_numpy(float)

    v: dict[str, float] = {}
    v["cr_crt"], v["cr_tnt"] = y[crt].mean(), y[tnt].mean()
    v["cr_itnt_scrt"] = y[np.isin(reg, ["itnt_scrt_consolidation", "itnt_scrt_induction"])].mean()
    v["cr_itnt_lcrt"], v["cr_regina"] = y[reg == "itnt_lcrt_concurrent"].mean(), y[reg == "itnt_pd1ctla4_regorafenib"].mean()
    cps = num("pdl1_cps")
    for key, g in (("pdl1_ici", ici), ("pdl1_no_ici", ~ici)):
        v[key] = y[g & (cps >= 5)].mean() - y[g & (cps < 5)].mean()
    ct, cn = f["ct_stage"].to_numpy(dtype=object), f["cn_stage"].to_numpy(dtype=object)
    every = np.ones(len(y), bool)
    v["or_ct4"] = _odds_ratio(y, np.isin(ct, ["T4", "T4a", "T4b"]), every)
    v["or_cn2"] = _odds_ratio(y, cn == "N2", every)
    for key, col in (("or_mrf", "mrf_involved"), ("or_emvi", "emvi")):
        x = num(col)
        v[key] = _odds_ratio(y, x == 1, ~np.isnan(x))
    cea0, length = num("cea_baseline_ng_ml"), num("tumour_length_cm")
    v["or_cea"] = _odds_ratio(y, cea0 > 5, ~np.isnan(cea0))
    v["or_length"] = _odds_ratio(y, length > 5, ~np.isnan(length))
    dist = num("distance_from_anal_verge_cm")
    rate = [y[(dist >= lo) & (dist < hi)].mean() for lo, hi in ((0, 4), (6, 8), (8, 10.01))]
    v["distance_peak"] = rate[1] - max(rate[0], rate[2])
    for key, g in (("crt", crt), ("tnt", tnt), ("ici", ici)):
        v[f"ppv_{key}"] = y[g & ccr].mean()
    for key, g in (("no_ici", ~ici), ("ici", ici)):
        v[f"npv_{key}"] = y[g & known & ~ccr].mean()
    v["pseudo_residual_ratio"] = v["npv_ici"] / v["npv_no_ici"]
    seen, emvi0 = num("ymr_emvi"), num("emvi")
    base = ~np.isnan(seen) & (emvi0 == 1) & ~ici
    v["ymr_emvi_tr"] = (seen[base & y] == 1).mean()
    v["auc_mri"] = _auc(y, -num("mr_trg"))
    v["auc_endoscopy"] = _auc(y, -f["endoscopy"].map({"complete": 0, "near_complete": 1, "incomplete": 2}).to_numpy(float))
    c1, c2, c3 = num("ctdna_baseline_mtm_ml"), num("ctdna_post_rt_mtm_ml"), num("ctdna_post_treatment_mtm_ml")
    shed = c1 > 0
    fold = np.log10((c2 + 0.01) / (c1 + 0.01))
    v["auc_ctdna_c2"] = _auc(y[shed], -fold[shed])
    trg = num("mr_trg")
    both = shed & ~np.isnan(fold) & ~np.isnan(trg)
    x = np.column_stack([fold[both], trg[both]])
    v["auc_ctdna_mri"] = _auc(y[both], LogisticRegression().fit(x, y[both]).decision_function(x))
    v["auc_cea"] = _auc(y, -num("cea_post_ng_ml"))
    v["auc_prior"] = _auc(y, cohort.truth["p_prior"].to_numpy())
    v["auc_restaging_together"] = _restaging_together_auc(f, y)
    mm, length = num("residual_lesion_mm"), num("tumour_length_cm")
    with np.errstate(divide="ignore", invalid="ignore"):
        v["auc_residual"] = max(_auc(y, -mm), _auc(y, -np.log((mm + 1) / (10 * length))))
    v["auc_nodes"] = _auc(y, -f["ymr_n_stage"].map({"N0": 0, "N1": 1, "N2": 2}).to_numpy(float))
    seen_emvi = num("ymr_emvi")
    with_emvi = num("emvi") == 1
    v["auc_unsourced_max"] = max(
        _auc(y, -f["dre"].map({"normal": 0, "smooth_induration": 1, "mass": 2}).to_numpy(float)),
        _auc(y, -num("dwi_restriction")),
        _auc(y, -f["restaging_biopsy"].map({"not_done": 0, "negative": 0, "positive": 1}).to_numpy(float)),
        _auc(y[with_emvi], -seen_emvi[with_emvi]))
    v["auc_radiomics"] = RADIOMICS_ALONE["auc"]
    v["ctdna_c1"] = (c1[~np.isnan(c1)] > 0).mean()
    v["ctdna_c2"] = (c2[~np.isnan(c2)] > 0).mean()
    v["ctdna_c2_tr"] = (c2[shed & ~np.isnan(c2) & y] > 0).mean()
    v["ctdna_c3"] = (c3[~np.isnan(c3)] > 0).mean()
    v["ctdna_c3_tr"] = (c3[~np.isnan(c3) & y] > 0).mean()
    v["ctdna_c3_cleared"] = (c3[shed & ~np.isnan(c3)] == 0).mean()
    non = c1 == 0  # tested at C1, not detected
    later = np.nan_to_num(c2) + np.nan_to_num(c3)  # every non-shedder is 0 at C2 and C3: AUC exactly 0.5
    v["ctdna_non_shedder"] = _auc(y[non], later[non])
    v["mix_ct4"] = np.isin(ct, ["T4", "T4a", "T4b"]).mean()
    v["mix_cn_pos"] = np.isin(cn, ["N1", "N2"]).mean()
    mrf, emvi = num("mrf_involved"), num("emvi")
    v["mix_mrf"], v["mix_emvi"] = np.nanmean(mrf), np.nanmean(emvi)
    v["mix_cea_high"] = (cea0[~np.isnan(cea0)] > 5).mean()
    v["mix_male"] = (f["sex"] == "M").mean()
    return {k: float(x) for k, x in v.items()}


def targets_table(values: dict[str, float] | None = None) -> str:
    """The README's calibration table (markdown): one row per ``TARGETS`` entry, simulated on ``TARGET_COHORT``."""
    if values is None:
        values = target_values(simulate(TARGET_COHORT["n"], seed=TARGET_COHORT["seed"], with_oracle=False))
    rows = ["| what | target | source | simulated | accepted |", "|---|---|---|---|---|"]
    for t in TARGETS:
        cells = (t.what, t.target, t.source, f"{values[t.key]:.3f}", t.tolerance())
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)
