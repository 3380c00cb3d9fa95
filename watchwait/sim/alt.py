"""A second simulated cohort, structurally different from :mod:`watchwait.sim`.

It emits the same data-dictionary columns (record version 2) and its own exact oracle, so that a
model chosen on one generator can be checked on another whose structure it was not built around.
It is a *stress test* for the model, not a second calibration of the clinical literature: the
rates are of the same order as in :mod:`watchwait.sim` (regimen CR rates, cCR accuracy,
ctDNA detection), but every functional form below is an assumption.

How it differs from :mod:`watchwait.sim`
---------------------------------------------

1. **Probit latent response with nonlinear and interaction effects.** s = eta(X) + sigma * e,
   e ~ N(0, 1), CR = (s > 0), so P(CR | X) = Phi(eta / sigma). eta has a curved age effect, a log
   tumour-length effect, a smooth CEA effect, a bump in distance, a cT4 x MRF interaction, a smooth
   (tanh) PD-L1 CPS effect under immunotherapy only, and a saturating weeks-to-assessment effect.
   Some recorded columns carry no signal at all (lateral nodes, circumferential extent).
2. **A second latent factor f ~ N(0, 1)**, independent of s ("host inflammation and shedding":
   oedema, fibrosis and reactive nodes, a high tumour-DNA shedding rate, a raised CEA). It enters
   *every* post-treatment signal: restaging readings look worse when f is high (more so under
   immunotherapy), ctDNA is shed more often and at higher levels, CEA at assessment is higher,
   and the residual scar is larger. Given the response s the signals are therefore *not*
   conditionally independent: they are independent only given (s, f), and a model has to learn
   that a raised CEA together with a raised ctDNA partly "explains away" a poor-looking MRI.
   The loadings are kept such that the oracle still obeys every clinical direction of
   :mod:`watchwait.directions` (a test checks it): restaging nodes load on f like the other
   readings (a larger loading made N+ -> N0 lower the oracle for some patients).
3. **Saturating and kinked signal responses.** Restaging readings follow g(s) = 3 tanh(s / 3), so
   very deep responses do not look ever better; ctDNA falls faster with s among responders than
   among non-responders (a kink at s = 0); the biopsy's sensitivity grows with the depth of the
   residual tumour.
4. **Missing at random (MAR), not completely at random.** ctDNA is tested more often under
   immunotherapy and in younger patients, PD-L1 more often under immunotherapy, DRE is more often
   not recorded for high tumours (distal edge > 8 cm), and the restaging biopsy is done more often
   when the recorded endoscopy is near-complete. Every missingness (and the biopsy decision)
   depends only on *recorded* values, so it is ignorable and the oracle needs no term for it.
   Blank covariates that enter eta (ECOG, baseline EMVI, PD-L1) are integrated exactly (ECOG and
   EMVI by summing over their values, PD-L1 by 16-node Gauss-Hermite quadrature over its latent
   score); CEA at baseline is never blank here.

The oracle
----------
P(CR | every recorded input) by integrating over s on a 400-point grid and over f by 20-node
Gauss-Hermite quadrature; every signal's likelihood given (s, f) is computed exactly (ordinal
readings as normal-interval probabilities, the residual size as the probability of its whole-mm
rounding interval, ctDNA as censored log-normal densities, CEA at assessment as a log-normal
density). It is deterministic (no Monte Carlo). The decision-context columns are drawn from
recorded covariates only and carry nothing about s.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import log_ndtr, ndtr

from watchwait.sim.common import (
    Cohort,
    blank,
    cohort_frame,
    draw_decision_context,
    draw_ordinal,
    draw_regimen,
    draw_regimen_fields,
    draw_staging,
    flag,
    interval_log_prob,
    level_index,
    lognorm_censored_loglik,
    numeric,
    ordinal_log_probs,
    round_sig,
    solve_intercepts,
    start,
    whole_mm_log_bounds,
)

# --------------------------------------------------------------------------- regimens
_F = dict
REGIMENS: dict[str, dict] = {  # weight, target P(CR), weeks from end of RT to assessment (mean, sd), fields
    "crt": dict(weight=0.18, target=0.16, weeks=(10, 2), fields=_F(
        rt_schedule="LCRT", sequence="none", immunotherapy="none", chemotherapy="none", systemic_cycles=0, regorafenib=False)),
    "tnt_scrt": dict(weight=0.15, target=0.28, weeks=(22, 3), fields=_F(
        rt_schedule="SCRT", sequence="consolidation", immunotherapy="none", chemotherapy="CAPOX", systemic_cycles=6, regorafenib=False)),
    "tnt_lcrt_consolidation": dict(weight=0.12, target=0.26, weeks=(20, 3), fields=_F(
        rt_schedule="LCRT", sequence="consolidation", immunotherapy="none", chemotherapy="FOLFOX", systemic_cycles=8, regorafenib=False)),
    "tnt_induction": dict(weight=0.10, target=0.20, weeks=(9, 2), fields=_F(
        rt_schedule="LCRT", sequence="induction", immunotherapy="none", chemotherapy="FOLFOX", systemic_cycles=8, regorafenib=False)),
    "itnt_scrt_consolidation": dict(weight=0.20, target=0.50, weeks=(22, 3), fields=_F(
        rt_schedule="SCRT", sequence="consolidation", immunotherapy="anti_pd1", chemotherapy="CAPOX", systemic_cycles=6, regorafenib=False)),
    "itnt_scrt_induction": dict(weight=0.08, target=0.50, weeks=(16, 3), fields=_F(
        rt_schedule="SCRT", sequence="induction", immunotherapy="anti_pd1", chemotherapy="CAPOX", systemic_cycles=6, regorafenib=False)),
    "itnt_lcrt_concurrent": dict(weight=0.09, target=0.44, weeks=(12, 2), fields=_F(
        rt_schedule="LCRT", sequence="concurrent", immunotherapy="anti_pd1", chemotherapy="CAPOX", systemic_cycles=4, regorafenib=False)),
    "itnt_pd1ctla4_regorafenib": dict(weight=0.08, target=0.46, weeks=(22, 3), fields=_F(
        rt_schedule="SCRT", sequence="consolidation", immunotherapy="pd1_ctla4", chemotherapy="CAPOX", systemic_cycles=6, regorafenib=True)),
}
CT_STAGES = (("T2", 0.10), ("T3", 0.15), ("T3a", 0.12), ("T3b", 0.22), ("T3c", 0.20), ("T3d", 0.08), ("T4a", 0.13))
CN_STAGES = (("N0", 0.27), ("N1", 0.43), ("N2", 0.30))
ECOG_P = (0.65, 0.30, 0.05)
EMVI_P = dict(advanced=0.45, other=0.22)  # P(baseline EMVI | cT3c-T4a), P(EMVI | otherwise)

# --------------------------------------------------------------------------- latent response
SIGMA_E = 1.5  # probit latent noise: s = eta + SIGMA_E * N(0, 1)
PDL1 = dict(log_cps_mean=0.4, log_cps_sd=1.1, ici_effect=0.9, centre=1.2)  # CPS = exp(mean + sd z); effect under ICI
GH_PDL1 = 16


def _cps_from_z(z: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.exp(PDL1["log_cps_mean"] + PDL1["log_cps_sd"] * z), 1), 0.0, 100.0)


def _eta_terms(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """eta without the regimen intercept, as named terms (the oracle swaps ECOG, EMVI and PD-L1 terms)."""
    ct = df["ct_stage"].to_numpy(dtype=object)
    cn = df["cn_stage"].to_numpy(dtype=object)
    mrf = df["mrf_involved"].to_numpy(float)
    t4 = (ct == "T4a").astype(float)
    age = df["age_years"].to_numpy(float)
    dist = df["distance_from_anal_verge_cm"].to_numpy(float)
    length = df["tumour_length_cm"].to_numpy(float)
    cea = df["cea_baseline_ng_ml"].to_numpy(float)
    weeks = df["weeks_rt_to_assessment"].to_numpy(float)
    centre = np.array([REGIMENS[r]["weeks"][0] for r in df["regimen"]], float)
    return {
        "stage": (-0.6 * t4 + 0.4 * (ct == "T2") - 0.25 * np.isin(ct, ["T3c", "T3d"])
                  + 0.45 * (cn == "N0") - 0.35 * (cn == "N2") - 0.5 * mrf - 0.5 * t4 * mrf),
        "length": -0.9 * np.log(length / 4.5),
        "cea": -0.45 * np.log1p(cea / 5.0) + 0.45 * np.log1p(0.7),
        "sex": 0.1 * (df["sex"].to_numpy(dtype=object) == "F"),
        "age": -0.015 * (age - 60) - 0.0008 * (age - 60) ** 2,
        "distance": 0.8 * np.exp(-(((dist - 6.5) / 2.2) ** 2)) - 0.3,
        "weeks": 0.35 * np.tanh((weeks - centre) / 4.0),
        "ecog": _ecog_term(df["ecog"].to_numpy(float)),
        "emvi": _emvi_term(df["emvi"].to_numpy(float)),
        "pdl1": _pdl1_term(df["pdl1_cps"].to_numpy(float), _ici(df)),
    }


def _ecog_term(ecog: np.ndarray) -> np.ndarray:
    return -0.2 * (ecog >= 1) - 0.4 * (ecog >= 2)


def _emvi_term(emvi: np.ndarray) -> np.ndarray:
    return -0.35 * emvi


def _pdl1_term(cps: np.ndarray, ici: np.ndarray) -> np.ndarray:
    return ici * PDL1["ici_effect"] * np.tanh(np.log1p(cps) - PDL1["centre"])


def _ici(df: pd.DataFrame) -> np.ndarray:
    return (df["immunotherapy"].to_numpy(dtype=object) != "none").astype(float)


def _eta_wo_intercept(df: pd.DataFrame) -> np.ndarray:
    return np.sum(list(_eta_terms(df).values()), axis=0)


@lru_cache(maxsize=1)
def regimen_intercepts() -> dict[str, float]:
    """Each regimen's intercept so that its marginal P(CR) = mean Phi(eta / sigma) equals its target (40,000 reference draws, seed 0)."""
    return solve_intercepts(REGIMENS, _covariates, _eta_wo_intercept, lambda lin: ndtr(lin / SIGMA_E))


def linear_predictor(df: pd.DataFrame) -> np.ndarray:
    b0 = regimen_intercepts()
    return np.array([b0[r] for r in df["regimen"]]) + _eta_wo_intercept(df)


# --------------------------------------------------------------------------- signals given (s, f)
def g(s):
    """Saturating response of the restaging readings to s."""
    return 3.0 * np.tanh(np.asarray(s, float) / 3.0)


def kink(s):
    """ctDNA's response to s: steeper among responders (s > 0)."""
    s = np.asarray(s, float)
    return np.where(s > 0, 1.5 * s, s)


# Restaging reading = g(s) + mu[ici] - lam[ici] * f (+ shift) + noise * N(0, 1), cut at ``cuts`` (higher = looks better).
RESTAGE = dict(mu=(0.0, -0.6), lam=(0.8, 1.3))
READINGS = dict(
    endoscopy=dict(noise=1.6, cuts=(-2.6, -0.6), levels=("incomplete", "near_complete", "complete")),
    dre=dict(noise=2.4, cuts=(-4.0, -2.4), levels=("mass", "smooth_induration", "normal")),
    mr_trg=dict(noise=2.6, cuts=(-4.2, -2.8, -1.4, 1.2), levels=(5, 4, 3, 2, 1)),
    dwi_restriction=dict(noise=2.2, cuts=(-1.8,), levels=(True, False)),
)
YMR_N = dict(noise=2.4, lam_extra=0.0, shift={"N0": 3.2, "N1": 0.0, "N2": -0.8}, cuts=(-5.0, -2.2), levels=("N2", "N1", "N0"))
YMR_EMVI = dict(noise=2.8, cuts=(-1.5,), levels=(True, False), p_without_baseline=0.03)
RESIDUAL = dict(log_frac=np.log(0.30), gamma=0.25, tau=0.15, sd=0.40, high=100.0)  # log mm = log(10 L) + log_frac - gamma g(s) + tau f + sd N
BIOPSY = dict(done_by_endoscopy={"complete": 0.20, "near_complete": 0.45, "incomplete": 0.15, None: 0.25},
              sens_floor=0.20, sens_depth=0.40, depth_scale=1.5)  # P(positive | s < 0) = floor + depth * Phi(-s / scale)
CTDNA = dict(shed_a=0.7, shed_b=0.6,  # shedder iff shed_a + shed_b f + N(0, 1) > 0 (~73% at baseline)
             log_c1_mean=np.log(8.0), c1_f=0.5, c1_sd=1.2, log_lod=np.log(0.02),
             c2=dict(kappa=6.2, beta=0.9, f=0.3, sd=1.1), c3=dict(kappa=8.4, beta=0.85, f=0.4, sd=1.0))
CEA = dict(log_base_mean=np.log(3.5), log_base_sd=0.9, a=-0.40, b=0.85, rho=0.30, tau=0.30, sd=0.55, floor=0.2)

# MAR blanks: every probability is a function of recorded, never-blank columns.
MISSING = dict(ecog=0.08, emvi=0.05, lateral_nodes=0.10, circumferential_extent_pct=0.15, cea_post=0.08,
               ctdna_ici=0.25, ctdna_no_ici=0.55, ctdna_age70_extra=0.10, ctdna_c2=0.30, ctdna_c3=0.05, ctdna_c3_scrt_extra=0.10,
               pdl1_ici=0.20, pdl1_no_ici=0.60, mri=0.05, dwi_extra=0.08, endoscopy=0.03, dre=0.02, dre_high_extra=0.50,
               ymr_n_stage=0.08, ymr_emvi=0.15, residual_lesion_mm=0.20, restaging_biopsy=0.25,
               sphincter_involved=0.05, fit_for_major_surgery=0.05, patient_preference=0.10)


# --------------------------------------------------------------------------- drawing
def _covariates(rng: np.random.Generator, n: int) -> pd.DataFrame:
    df = pd.DataFrame({"regimen": draw_regimen(rng, REGIMENS, n)})
    df["age_years"] = np.clip(np.round(rng.normal(60, 11, n)), 18, 90).astype(int)
    df["sex"] = np.where(rng.random(n) < 0.38, "F", "M")
    df["ecog"] = rng.choice([0, 1, 2], size=n, p=ECOG_P).astype(float)
    draw_staging(rng, df, CT_STAGES, CN_STAGES)
    adv = df["ct_stage"].isin(["T3c", "T3d", "T4a"]).to_numpy()
    df["emvi"] = (rng.random(n) < np.where(adv, EMVI_P["advanced"], EMVI_P["other"])).astype(float)
    df["lateral_nodes"] = rng.random(n) < 0.12  # no effect on s (a column without signal)
    df["distance_from_anal_verge_cm"] = np.round(np.clip(rng.beta(2.0, 1.8, n) * 10, 0.5, 10), 1)
    df["tumour_length_cm"] = np.round(np.clip(np.exp(rng.normal(np.log(4.5), 0.35, n)), 1.0, 15), 1)
    df["circumferential_extent_pct"] = np.round(rng.uniform(25, 100, n), 0)  # no effect on s
    df["multiple_primaries"] = False
    df["new_distant_metastasis"] = False
    z = rng.normal(size=n)
    df["pdl1_cps"] = _cps_from_z(z)
    df["pdl1_tps_pct"] = np.where(z + 0.5 * rng.normal(size=n) > 1.1, np.clip(np.round(np.exp(rng.normal(1.0, 0.8, n))), 1, 100), 0.0)
    df["cea_baseline_ng_ml"] = np.clip(np.round(np.exp(rng.normal(CEA["log_base_mean"], CEA["log_base_sd"], n)), 2), 0.2, 10000)
    draw_regimen_fields(rng, df, REGIMENS)
    return df


def _draw_signals(rng: np.random.Generator, df: pd.DataFrame, s: np.ndarray, f: np.ndarray) -> None:
    n = len(df)
    grp = _ici(df).astype(int)
    mu, lam = np.array(RESTAGE["mu"])[grp], np.array(RESTAGE["lam"])[grp]
    base = g(s) + mu - lam * f
    for col, spec in READINGS.items():
        df[col] = draw_ordinal(rng, base, spec["noise"], spec["cuts"], spec["levels"])
    shift = np.array([YMR_N["shift"][c] for c in df["cn_stage"]])
    df["ymr_n_stage"] = draw_ordinal(rng, base + shift - YMR_N["lam_extra"] * f, YMR_N["noise"], YMR_N["cuts"], YMR_N["levels"])
    seen = draw_ordinal(rng, base, YMR_EMVI["noise"], YMR_EMVI["cuts"], YMR_EMVI["levels"]).astype(bool)
    df["ymr_emvi"] = np.where(df["emvi"].to_numpy(float) == 1, seen, rng.random(n) < YMR_EMVI["p_without_baseline"])
    r = RESIDUAL
    mm = 10 * df["tumour_length_cm"].to_numpy(float) * np.exp(r["log_frac"] - r["gamma"] * g(s) + r["tau"] * f + r["sd"] * rng.normal(size=n))
    df["residual_lesion_mm"] = np.round(np.clip(mm, 0, r["high"])).astype(int)
    c = CTDNA
    shedder = c["shed_a"] + c["shed_b"] * f + rng.normal(size=n) > 0
    log_c1 = np.maximum(c["log_c1_mean"] + c["c1_f"] * f + c["c1_sd"] * rng.normal(size=n), c["log_lod"])
    c1 = round_sig(np.exp(log_c1))
    df["ctdna_baseline_mtm_ml"] = np.where(shedder, c1, 0.0)
    for col, p in (("ctdna_post_rt_mtm_ml", c["c2"]), ("ctdna_post_treatment_mtm_ml", c["c3"])):
        log_ct = np.log(c1) - p["kappa"] - p["beta"] * kink(s) + p["f"] * f + p["sd"] * rng.normal(size=n)
        df[col] = np.where(shedder & (log_ct >= c["log_lod"]), round_sig(np.exp(log_ct)), 0.0)
    e = CEA
    log_post = e["a"] + e["b"] * np.log(df["cea_baseline_ng_ml"].to_numpy(float)) - e["rho"] * g(s) + e["tau"] * f + e["sd"] * rng.normal(size=n)
    df["cea_post_ng_ml"] = np.clip(np.round(np.exp(log_post), 2), e["floor"], 10000)


def _apply_missingness(rng: np.random.Generator, df: pd.DataFrame) -> None:
    """MAR blanks (each probability depends on recorded, never-blank columns only)."""
    n, m = len(df), MISSING
    u = lambda: rng.random(n)  # noqa: E731
    ici = _ici(df) == 1
    age = df["age_years"].to_numpy(float)
    high = df["distance_from_anal_verge_cm"].to_numpy(float) > 8
    scrt = (df["rt_schedule"] == "SCRT").to_numpy()
    for col in ("ecog", "emvi", "lateral_nodes", "circumferential_extent_pct"):
        blank(df, [col], u() < m[col])
    blank(df, ["cea_post_ng_ml"], u() < m["cea_post"])
    p_ct = np.where(ici, m["ctdna_ici"], m["ctdna_no_ici"]) + m["ctdna_age70_extra"] * (age >= 70)
    no_ct = u() < p_ct
    blank(df, ["ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml"], no_ct)
    blank(df, ["ctdna_post_rt_mtm_ml"], ~no_ct & (u() < m["ctdna_c2"]))
    blank(df, ["ctdna_post_treatment_mtm_ml"], ~no_ct & (u() < m["ctdna_c3"] + m["ctdna_c3_scrt_extra"] * scrt))
    blank(df, ["pdl1_cps", "pdl1_tps_pct"], u() < np.where(ici, m["pdl1_ici"], m["pdl1_no_ici"]))
    no_mri = u() < m["mri"]
    blank(df, ["mr_trg", "dwi_restriction", "ymr_n_stage", "ymr_emvi"], no_mri)
    blank(df, ["dwi_restriction"], u() < m["dwi_extra"])
    blank(df, ["endoscopy"], u() < m["endoscopy"])
    blank(df, ["dre"], u() < m["dre"] + m["dre_high_extra"] * high)
    for col in ("ymr_n_stage", "ymr_emvi", "residual_lesion_mm"):
        blank(df, [col], u() < m[col])


def _draw_biopsy(rng: np.random.Generator, df: pd.DataFrame, s: np.ndarray) -> None:
    """Done with a probability set by the *recorded* endoscopy (MAR); positive only with residual tumour."""
    n = len(df)
    p_done = np.array([BIOPSY["done_by_endoscopy"][e] for e in df["endoscopy"].to_numpy(dtype=object)])
    done = rng.random(n) < p_done
    positive = rng.random(n) < _biopsy_sensitivity(s)
    df["restaging_biopsy"] = np.where(~done, "not_done", np.where(positive, "positive", "negative")).astype(object)
    blank(df, ["restaging_biopsy"], rng.random(n) < MISSING["restaging_biopsy"])


def _biopsy_sensitivity(s):
    b = BIOPSY
    s = np.asarray(s, float)
    return np.where(s < 0, b["sens_floor"] + b["sens_depth"] * ndtr(-s / b["depth_scale"]), 0.0)


def simulate(n: int, seed: int = 0, with_oracle: bool = True) -> Cohort:
    """Simulate ``n`` patients from the alternative generator (cohort frame + hidden truth, as :func:`watchwait.sim.simulate`)."""
    rng, df, eta = start(n, seed, _covariates, linear_predictor)
    s = eta + SIGMA_E * rng.normal(size=n)
    f = rng.normal(size=n)
    _draw_signals(rng, df, s, f)
    df["complete_response"] = s > 0
    _apply_missingness(rng, df)
    _draw_biopsy(rng, df, s)
    draw_decision_context(rng, df, MISSING)
    for col in ("ecog", "emvi"):  # recorded as integer / boolean like the main simulator
        v = df[col].to_numpy(dtype=object)
        df[col] = np.array([None if x is None or (isinstance(x, float) and np.isnan(x)) else (int(x) if col == "ecog" else bool(x))
                            for x in v], dtype=object)
    frame, regimen = cohort_frame(df, "ALT", seed, "synthetic-alt")
    truth = pd.DataFrame({"patient_id": frame["patient_id"], "regimen": regimen, "eta": eta, "latent_score": s,
                          "second_factor": f, "p_prior": ndtr(eta / SIGMA_E)})
    if with_oracle:
        truth["p_oracle"] = oracle(frame, regimen)
    return Cohort(frame=frame, truth=truth)


# --------------------------------------------------------------------------- oracle
S_GRID = np.arange(-14.0, 14.0, 0.07) + 0.035  # no point at exactly 0
_F_X, _F_W = np.polynomial.hermite_e.hermegauss(20)
_F_W = _F_W / _F_W.sum()
_Z_X, _Z_W = np.polynomial.hermite_e.hermegauss(GH_PDL1)
_Z_W = _Z_W / _Z_W.sum()


def _ordinal_table(cuts, noise: float, shift: float = 0.0, lam_extra: float = 0.0) -> np.ndarray:
    """log P(level | s, f): group (no ICI, ICI) x level x S x F."""
    return np.stack([ordinal_log_probs(cuts, g(S_GRID)[:, None] + RESTAGE["mu"][grp]
                                       - (RESTAGE["lam"][grp] + lam_extra) * _F_X[None, :] + shift, noise)
                     for grp in (0, 1)])


@lru_cache(maxsize=None)
def _tables() -> dict[str, np.ndarray]:
    t = {col: _ordinal_table(spec["cuts"], spec["noise"]) for col, spec in READINGS.items()}
    t["ymr_n_stage"] = np.stack([_ordinal_table(YMR_N["cuts"], YMR_N["noise"], YMR_N["shift"][cn], YMR_N["lam_extra"])
                                 for cn in ("N0", "N1", "N2")])
    t["ymr_emvi"] = _ordinal_table(YMR_EMVI["cuts"], YMR_EMVI["noise"])
    return t


def oracle(frame: pd.DataFrame, regimen: np.ndarray, chunk: int = 200) -> np.ndarray:
    """P(CR | every recorded input), exactly (grid over s, Gauss-Hermite over f and a blank PD-L1)."""
    n = len(frame)
    out = np.empty(n)
    regimen = np.asarray(regimen)
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        out[sl] = _oracle_chunk(frame.iloc[sl].reset_index(drop=True), regimen[sl])
    return out


def _log_prior_s(df: pd.DataFrame, regimen: np.ndarray) -> np.ndarray:
    """log p(s, baseline EMVI = e | recorded covariates): rows x 2 (EMVI 0/1) x S, blank ECOG/EMVI/PD-L1 summed out."""
    n = len(df)
    d = df.copy()
    d["regimen"] = regimen
    ecog, emvi, cps = numeric(d, "ecog"), flag(d["emvi"].to_numpy(dtype=object)), numeric(d, "pdl1_cps")
    d["ecog"], d["emvi"], d["pdl1_cps"] = 0.0, 0.0, 0.0
    terms = _eta_terms(d)
    b0 = regimen_intercepts()
    fixed = np.array([b0[r] for r in regimen]) + sum(v for k, v in terms.items() if k not in ("ecog", "emvi", "pdl1"))
    ici = _ici(d)
    # ECOG options and weights
    e_vals = np.array([0.0, 1.0, 2.0])
    e_w = np.where(np.isnan(ecog)[:, None], np.array(ECOG_P)[None, :], (ecog[:, None] == e_vals[None, :]).astype(float))
    # PD-L1: recorded value, or the Gauss-Hermite nodes of its latent score
    z_cps = _cps_from_z(_Z_X)
    blank_cps = np.isnan(cps)
    p_term = np.where(blank_cps[:, None], _pdl1_term(z_cps[None, :], ici[:, None]),
                      _pdl1_term(np.nan_to_num(cps)[:, None], ici[:, None]) * np.ones(GH_PDL1)[None, :])
    p_w = np.where(blank_cps[:, None], _Z_W[None, :], np.eye(1, GH_PDL1, 0))
    # EMVI prior given cT
    adv = np.isin(d["ct_stage"].to_numpy(dtype=object), ["T3c", "T3d", "T4a"])
    p1 = np.where(np.isnan(emvi), np.where(adv, EMVI_P["advanced"], EMVI_P["other"]), emvi)
    out = np.empty((n, 2, len(S_GRID)))
    for e in (0, 1):
        w_e = np.where(e == 1, p1, 1 - p1)
        eta = (fixed[:, None, None] + _ecog_term(e_vals)[None, :, None] + p_term[:, None, :] + _emvi_term(np.array(float(e))))  # n x 3 x Z
        w = e_w[:, :, None] * p_w[:, None, :]
        z = (S_GRID[None, None, None, :] - eta[..., None]) / SIGMA_E
        dens = (w[..., None] * np.exp(-0.5 * z * z)).sum(axis=(1, 2)) / (SIGMA_E * np.sqrt(2 * np.pi))
        with np.errstate(divide="ignore"):
            out[:, e] = np.log(dens * w_e[:, None])
    return out


def _oracle_chunk(df: pd.DataFrame, regimen: np.ndarray) -> np.ndarray:
    n, G, F = len(df), len(S_GRID), len(_F_X)
    t = _tables()
    grp = _ici(df).astype(int)
    ll = np.zeros((n, G, F))

    for col, spec in READINGS.items():
        idx = level_index(df[col].to_numpy(dtype=object), spec["levels"])
        k = idx >= 0
        if k.any():
            ll[k] += t[col][grp[k], idx[k]]
    cn = level_index(df["cn_stage"].to_numpy(dtype=object), ("N0", "N1", "N2"))
    yn = level_index(df["ymr_n_stage"].to_numpy(dtype=object), YMR_N["levels"])
    k = (yn >= 0) & (cn >= 0)
    if k.any():
        ll[k] += t["ymr_n_stage"][cn[k], grp[k], yn[k]]
    # residual lesion size: probability of its whole-mm rounding interval (clipped at 0 and 100)
    mm, length = numeric(df, "residual_lesion_mm"), df["tumour_length_cm"].to_numpy(float)
    k = ~np.isnan(mm)
    if k.any():
        r = RESIDUAL
        lo, hi = whole_mm_log_bounds(mm[k], r["high"])
        centre = (np.log(10 * length[k]) + r["log_frac"])[:, None, None] - r["gamma"] * g(S_GRID)[None, :, None] + r["tau"] * _F_X[None, None, :]
        ll[k] += interval_log_prob((lo[:, None, None] - centre) / r["sd"], (hi[:, None, None] - centre) / r["sd"])
    # ctDNA: shedding and C1 inform f; C2 and C3 (given C1) inform s and f
    c = CTDNA
    c1 = numeric(df, "ctdna_baseline_mtm_ml")
    p_shed_lin = c["shed_a"] + c["shed_b"] * _F_X  # F
    non = c1 == 0
    ll[non] += log_ndtr(-p_shed_lin)[None, None, :]
    shed = c1 > 0
    if shed.any():
        lc1 = np.log(c1[shed])
        # a C1 at the detection limit is censored (drawn below it and clipped up); otherwise a density
        at_lod = np.isclose(c1[shed], round_sig(np.exp(c["log_lod"])))
        mean_c1 = c["log_c1_mean"] + c["c1_f"] * _F_X
        zc = (lc1[:, None] - mean_c1[None, :]) / c["c1_sd"]
        c1_ll = np.where(at_lod[:, None], log_ndtr(zc), -0.5 * zc * zc)
        ll[shed] += (log_ndtr(p_shed_lin)[None, :] + c1_ll)[:, None, :]
        for col, key in (("ctdna_post_rt_mtm_ml", "c2"), ("ctdna_post_treatment_mtm_ml", "c3")):
            obs = numeric(df, col)[shed]
            use = ~np.isnan(obs)
            if not use.any():
                continue
            p = c[key]
            mean = (lc1[use][:, None, None] - p["kappa"] - p["beta"] * kink(S_GRID)[None, :, None] + p["f"] * _F_X[None, None, :])
            rows = np.flatnonzero(shed)[use]
            ll[rows] += lognorm_censored_loglik(obs[use][:, None, None], mean, p["sd"], c["log_lod"])
    # CEA at assessment given CEA at baseline (never blank), s and f
    e = CEA
    post = numeric(df, "cea_post_ng_ml")
    k = ~np.isnan(post)
    if k.any():
        mean = (e["a"] + e["b"] * np.log(df["cea_baseline_ng_ml"].to_numpy(float)[k]))[:, None, None] - e["rho"] * g(S_GRID)[None, :, None] + e["tau"] * _F_X[None, None, :]
        zz = (np.log(post[k])[:, None, None] - mean) / e["sd"]
        floor = post[k] <= e["floor"]
        ll[k] += np.where(floor[:, None, None], log_ndtr(zz), -0.5 * zz * zz)
    # biopsy result (whether it was done depends on the recorded endoscopy only: no term)
    b = level_index(df["restaging_biopsy"].to_numpy(dtype=object), ("not_done", "negative", "positive"))
    sens = _biopsy_sensitivity(S_GRID)
    with np.errstate(divide="ignore"):
        ll[b == 1] += np.log1p(-sens)[None, :, None]
        ll[b == 2] += np.log(sens)[None, :, None]
    # ymr_emvi: P(. | s, f) after a baseline EMVI, a constant without one; a blank baseline EMVI is summed out
    ye = level_index(df["ymr_emvi"].to_numpy(dtype=object), YMR_EMVI["levels"])
    log_emvi = np.zeros((n, 2, G, F))
    k = ye >= 0
    if k.any():
        p0 = np.where(ye[k] == 0, YMR_EMVI["p_without_baseline"], 1 - YMR_EMVI["p_without_baseline"])
        log_emvi[k, 0] = np.log(p0)[:, None, None]
        log_emvi[k, 1] = t["ymr_emvi"][grp[k], ye[k]]
    log_prior = _log_prior_s(df, regimen)  # n x 2 x S
    lj = ll[:, None] + log_emvi + log_prior[..., None] + np.log(_F_W)[None, None, None, :]
    mx = lj.max(axis=(1, 2, 3), keepdims=True)
    w = np.exp(lj - mx).sum(axis=(1, 3))  # n x S
    return w[:, S_GRID > 0].sum(axis=1) / w.sum(axis=1)
