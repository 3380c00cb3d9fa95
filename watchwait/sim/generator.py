"""The generator of the simulated cohort (:mod:`watchwait.sim.model` states the model and its parameters): covariates,
the latent response score, every observed signal drawn from it, the blanks, and the decision context; the oracle
(:mod:`watchwait.sim.oracle`) is computed on the cohort it draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from watchwait.sim.common import (
    Cohort,
    blank,
    cohort_frame,
    draw_decision_context,
    draw_ordinal,
    round_sig,
    start,
)
from watchwait.sim.model import (
    BIOPSY,
    CEA,
    CTDNA,
    MISSING,
    MISSING_V2,
    READINGS,
    RESIDUAL,
    YMR_EMVI,
    YMR_N,
    _appearance_params,
    _bed_shift,
    _biopsy_done_p,
    _covariates,
    _ctdna_log_mean,
    appearance_error,
    linear_predictor,
)
from watchwait.sim.oracle import oracle


# --------------------------------------------------------------------------- signals

def _draw_signals(rng: np.random.Generator, df: pd.DataFrame, s: np.ndarray) -> np.ndarray:
    """Draw the version-1 signals from s; returns the shared restaging appearance a."""
    n = len(df)
    ici = df["immunotherapy"].to_numpy() != "none"
    a = s + appearance_error(rng.normal(size=n), *_appearance_params(ici))
    bed = _bed_shift(ici)
    for col, spec in READINGS.items():
        df[col] = draw_ordinal(rng, a + bed, spec["noise"], spec["cuts"], spec["levels"])
    df["mr_trg"] = df["mr_trg"].astype(int)
    df["dwi_restriction"] = df["dwi_restriction"].astype(bool)
    c = CTDNA
    shedder = rng.random(n) < c["p_shedder"]
    log_c1 = rng.normal(c["log_c1_mean"], c["log_c1_sd"], n)
    df["ctdna_baseline_mtm_ml"] = np.where(shedder, round_sig(np.exp(log_c1)), 0.0)
    for col, key in (("ctdna_post_rt_mtm_ml", "c2"), ("ctdna_post_treatment_mtm_ml", "c3")):
        p = c[key]
        log_ct = _ctdna_log_mean(log_c1, s, p) + p["sd"] * rng.normal(size=n)
        df[col] = np.where(shedder & (log_ct >= c["log_lod"]), round_sig(np.exp(log_ct)), 0.0)
    log_base = np.log(df["cea_baseline_ng_ml"].to_numpy(float))
    log_post = CEA["a"] + CEA["b"] * log_base - CEA["rho"] * s + CEA["sd"] * rng.normal(size=n)
    df["cea_post_ng_ml"] = np.clip(np.round(np.exp(log_post), 2), 0.2, 10000)
    return a


def _draw_restaging_v2(rng: np.random.Generator, df: pd.DataFrame, s: np.ndarray, a: np.ndarray,
                       emvi: np.ndarray) -> None:
    """Version-2 restaging columns from s and the appearance a (``emvi``: baseline EMVI before blanks)."""
    n = len(df)
    shift = np.array([YMR_N["shift"][c] for c in df["cn_stage"]], float)
    df["ymr_n_stage"] = draw_ordinal(rng, a + shift, YMR_N["noise"], YMR_N["cuts"], YMR_N["levels"])
    seen = draw_ordinal(rng, a, YMR_EMVI["noise"], YMR_EMVI["cuts"], YMR_EMVI["levels"]).astype(bool)
    miss = rng.random(n) < YMR_EMVI["p_without_baseline"]
    df["ymr_emvi"] = np.where(emvi, seen, miss)
    r = RESIDUAL
    mm = 10 * df["tumour_length_cm"].to_numpy(float) * np.exp(r["log_frac"] - r["gamma"] * a + r["sd"] * rng.normal(size=n))
    df["residual_lesion_mm"] = np.round(np.clip(mm, 0, r["high"])).astype(int)
    done = rng.random(n) < _biopsy_done_p(a)
    positive = (s < 0) & (rng.random(n) < BIOPSY["sensitivity"])
    df["restaging_biopsy"] = np.where(~done, "not_done", np.where(positive, "positive", "negative")).astype(object)


def _apply_missingness_v2(rng: np.random.Generator, df: pd.DataFrame, cols) -> None:
    n = len(df)
    for col in cols:
        blank(df, [col], rng.random(n) < MISSING_V2[col])


def _apply_missingness(rng: np.random.Generator, df: pd.DataFrame) -> None:
    n = len(df)
    m = MISSING

    def mcar(cols, p, where=None):
        mask = rng.random(n) < p
        if where is not None:
            mask &= where
        blank(df, cols, mask)
        return mask

    mcar(["pdl1_cps", "pdl1_tps_pct"], m["pdl1"])
    no_ctdna = mcar(list(("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml")), m["ctdna"])
    mcar(["ctdna_post_rt_mtm_ml"], m["ctdna_c2"], ~no_ctdna)
    mcar(["ctdna_post_treatment_mtm_ml"], m["ctdna_c3"], ~no_ctdna)
    mcar(["cea_baseline_ng_ml"], m["cea_baseline"])
    mcar(["cea_post_ng_ml"], m["cea_post"])
    for col in ("ecog", "emvi", "lateral_nodes", "circumferential_extent_pct", "endoscopy", "dre", "mr_trg", "dwi_restriction"):
        mcar([col], m[col])


# --------------------------------------------------------------------------- entry point

def simulate(n: int, seed: int = 0, with_oracle: bool = True) -> Cohort:
    """Simulate ``n`` eligible pMMR/MSS LARC patients (cohort file frame + hidden truth)."""
    rng, df, eta = start(n, seed, _covariates, linear_predictor)
    s = eta + rng.logistic(size=n)
    a = _draw_signals(rng, df, s)
    df["complete_response"] = s > 0
    emvi = df["emvi"].to_numpy(bool)  # before its blanks: ymr_emvi follows the true baseline EMVI
    _apply_missingness(rng, df)
    # version 2: drawn after every version-1 draw, so version-1 columns keep their values for a seed
    _draw_restaging_v2(rng, df, s, a, emvi)
    _apply_missingness_v2(rng, df, ("ymr_n_stage", "ymr_emvi", "residual_lesion_mm", "restaging_biopsy"))
    draw_decision_context(rng, df, MISSING_V2)
    frame, regimen = cohort_frame(df, "SIM", seed, "synthetic")
    truth = pd.DataFrame({"patient_id": frame["patient_id"], "regimen": regimen, "eta": eta, "latent_score": s,
                          "p_prior": expit(eta)})
    if with_oracle:
        truth["p_oracle"], _ = oracle(frame, regimen, np.random.default_rng(seed + 1_000_003))
    return Cohort(frame=frame, truth=truth)
