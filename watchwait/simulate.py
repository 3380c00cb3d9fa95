"""A generative model of a pMMR/MSS LARC cohort, calibrated to ../shared/clinical/calibration.md.

Design (one latent response score, so the best possible prediction is computable exactly):

1. Covariates X (staging, treatment regimen, PD-L1, CEA) are drawn from published mixes.
2. A linear predictor eta(X) = regimen intercept + covariate effects (log odds). The regimen
   intercepts are solved numerically so that each regimen's marginal complete-response rate equals
   its published target (section 1 of calibration.md).
3. The latent response score s = eta + e, e ~ Logistic(0, 1); true complete response CR = (s > 0),
   so P(CR | X) = sigmoid(eta). Larger s = less residual tumour.
4. Every observed signal is drawn from s (never from CR directly):
   - restaging (endoscopy, DRE, mrTRG, DWI) from a shared *appearance* a = s + u, u ~ N(mu, sd):
     the four readings share one error (fibrosis and oedema fool all of them at once), and under
     immunotherapy mu < 0 and sd is larger: responders look worse (pseudo-residual disease, commoner
     after immunotherapy: TORCH 34.2% vs OPRA 10%, review 000 section 5);
   - ctDNA: shedders (77% detected at baseline: Tie 2019, Zhou 2021) have a log level at C1; at C2
     and C3 log level = log C1 - kappa - beta * s + noise, reported 0 below the detection limit, so
     true responders are almost never detectable at C3 (Zhou 2021: none of 29 ypCR);
   - CEA at assessment: log CEA_post = a + b log CEA_base - rho * s + noise (UNION CEA AUC 0.733).
5. Missingness is completely at random (MCAR) with the rates in ``MISSING``, so it is ignorable.

The *oracle* is P(CR | every observed input), computed by integrating over s on a grid (and over
the appearance error by Gauss-Hermite quadrature, and over missing covariates that enter eta by
Monte Carlo draws from their generative distribution). It is written to a separate file and never
used for training.

Effect sizes from studies of 20-300 patients are shrunk towards zero (calibration.md asks for it);
each parameter names its source or says "assumption".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import expit, log_ndtr, ndtr

from watchwait.schema import COLUMNS

# --------------------------------------------------------------------------- treatment regimens
# name: (weight in cohort, target P(CR), field values, weeks from end of RT to assessment (mean, sd))
# Targets: calibration.md section 1.
REGIMENS: dict[str, dict] = {
    "crt": dict(  # LCRT with capecitabine, then TME. pCR 11.7-20%: Maas 2010 15.6%, UNION ctrl 15.3%
        weight=0.15, target=0.155, weeks=(10, 2),
        fields=dict(rt_schedule="LCRT", sequence="none", immunotherapy="none", chemotherapy="none",
                    systemic_cycles=0, regorafenib=False)),
    "tnt_scrt": dict(  # SCRT then 6x CAPOX: RAPIDO 27.7%, SPRING-01 ctrl 32.7%, STELLAR II ctrl 25%
        weight=0.12, target=0.28, weeks=(22, 3),
        fields=dict(rt_schedule="SCRT", sequence="consolidation", immunotherapy="none", chemotherapy="CAPOX",
                    systemic_cycles=6, regorafenib=False)),
    "tnt_lcrt_consolidation": dict(  # LCRT then chemo: CAO/ARO/AIO-12 consolidation 25%
        weight=0.10, target=0.25, weeks=(20, 3),
        fields=dict(rt_schedule="LCRT", sequence="consolidation", immunotherapy="none", chemotherapy="FOLFOX",
                    systemic_cycles=8, regorafenib=False)),
    "tnt_induction": dict(  # chemo then LCRT: CAO/ARO/AIO-12 induction 17%, network MA iTNT 20%
        weight=0.08, target=0.19, weeks=(9, 2),
        fields=dict(rt_schedule="LCRT", sequence="induction", immunotherapy="none", chemotherapy="FOLFOX",
                    systemic_cycles=8, regorafenib=False)),
    "itnt_scrt_consolidation": dict(  # TORCH A 56.5%, SPRING-01 59.2%, STELLAR II 45.5%, UNION 39.8% (pCR)
        weight=0.25, target=0.52, weeks=(22, 3),
        fields=dict(rt_schedule="SCRT", sequence="consolidation", immunotherapy="anti_pd1", chemotherapy="CAPOX",
                    systemic_cycles=6, regorafenib=False)),
    "itnt_scrt_induction": dict(  # TORCH B 54.2%
        weight=0.10, target=0.52, weeks=(16, 3),
        fields=dict(rt_schedule="SCRT", sequence="induction", immunotherapy="anti_pd1", chemotherapy="CAPOX",
                    systemic_cycles=6, regorafenib=False)),
    "itnt_lcrt_concurrent": dict(  # SYSUCC LCRT + sintilimab + CAPOX: CR 44.8%
        weight=0.10, target=0.45, weeks=(12, 2),
        fields=dict(rt_schedule="LCRT", sequence="concurrent", immunotherapy="anti_pd1", chemotherapy="CAPOX",
                    systemic_cycles=4, regorafenib=False)),
    "itnt_pd1ctla4_regorafenib": dict(  # protocol 001 arm B; no results yet. Assumption: like REGINA 44.4% CR
        weight=0.10, target=0.47, weeks=(22, 3),
        fields=dict(rt_schedule="SCRT", sequence="consolidation", immunotherapy="pd1_ctla4", chemotherapy="CAPOX",
                    systemic_cycles=6, regorafenib=True)),
}

# --------------------------------------------------------------------------- covariate effects
# log odds ratios on P(CR), shrunk from small single-centre studies (calibration.md section 2).
EFFECTS = dict(
    ct4=-0.50,  # cT4 OR 0.51 (PMC6072814), shrunk
    ct2=0.35,  # lower cT, higher pCR (NCDB, Lorimer 2017; no OR): assumption
    ct3cd=-0.20,  # T3c/T3d vs T3a/b: assumption (direction of cT effect)
    cn0=0.40,  # cN- OR 3.8 (J Oncol #76), shrunk heavily
    cn2=-0.30,  # assumption (direction, NCDB)
    mrf=-0.60,  # MRF(-) vs (+) OR 6.32 (PMC9021692, T3 only), shrunk
    emvi=-0.30,  # no direct OR found (calibration.md): direction only, assumption
    lateral=-0.20,  # assumption
    length_per_cm=-0.15,  # size <= 5 cm OR 2.6 (J Oncol), per cm from 4.5 cm
    extent_per_10pct=-0.08,  # post-CRT circumferential extent (Sun 2017): baseline effect assumed small
    cea_high=-0.55,  # CEA > 5: OR 0.34 (PMC6072814), OR 3.07 for <= 5 (J Oncol): shrunk
    female=0.15,  # female sex higher pCR (NCDB, no OR): assumption
    ecog2=-0.20,  # assumption
    weeks_per_week=0.02,  # longer interval, higher pCR (NCDB): assumption; regimen intercepts absorb the mean
    cps5_ici=0.60,  # CPS >= 5 under ICI: 50.0% vs 27.3% (Hou 2025, n=20) OR 2.66, shrunk
    tps1_ici=0.70,  # TPS >= 1% under ICI: 75% vs 17% (VOLTAGE-A, n=38) OR 14.6, shrunk heavily
)
# Distance from anal verge (cm) -> log odds, piecewise linear through the MSKCC bins (Patel 2016:
# pCR <4 cm 11%, 4-6 24%, 6-8 30%, 8-10 17%): bimodal.
DIST_KNOTS = (np.array([0.0, 3.0, 5.0, 7.0, 9.0, 10.0]), np.array([-0.75, -0.55, 0.20, 0.45, -0.05, -0.15]))

# --------------------------------------------------------------------------- signal parameters
# Restaging: appearance a = s + u, u ~ N(mu, sd); each reading = a + N(0, noise) cut at thresholds
# (higher = looks better). Tuned so that "cCR" (all four normal) gives P(CR | cCR) ~ 0.8 and
# P(CR | not cCR) ~ 0.3 (OPRA, ASCO GI abstract 28) and single-reading AUCs fall in the published
# ranges (MRI 0.65-0.73, endoscopy 0.67-0.76; PKU, Pei JP et al.).
APPEARANCE = dict(mu_no_ici=0.0, sd_no_ici=1.0, mu_ici=-0.7, sd_ici=1.5)
READINGS = dict(
    endoscopy=dict(noise=1.8, cuts=(-3.0, -0.8), levels=("incomplete", "near_complete", "complete")),
    dre=dict(noise=2.6, cuts=(-4.8, -3.0), levels=("mass", "smooth_induration", "normal")),
    mr_trg=dict(noise=2.9, cuts=(-5.0, -3.4, -1.9, 1.0), levels=(5, 4, 3, 2, 1)),
    dwi_restriction=dict(noise=2.6, cuts=(-3.0,), levels=(True, False)),
)
# ctDNA (MTM/mL). Quantitative levels were not found in the sources (calibration.md section 3):
# the level scale is an assumption; detection rates are calibrated.
CTDNA = dict(
    p_shedder=0.77,  # baseline detection 77% (Tie 2019), 75% (Zhou 2021)
    log_c1_mean=np.log(8.0), log_c1_sd=1.3,  # assumption
    log_lod=np.log(0.02),  # reported 0 below this level (assumption)
    # C2 (post-RT): ~40% of those tested still detectable; fold change C2/C1 AUC ~0.82 among shedders
    # (UNION MRD model at C2: AUC 0.85, review 000 section 6; FUSCC ctDNA-only 0.818, Wang 2021)
    c2=dict(kappa=6.4, beta=0.9, sd=1.2),
    # C3 (response assessment): ~12% detectable (Zhou 10.5% pre-surgery, Tie 8.3%); < 1% of true
    # complete responders (Zhou 2021: none of 29 ypCR); ~84% of shedders cleared (Wang 2021: 67-96%)
    c3=dict(kappa=8.9, beta=0.85, sd=1.0),
)
CEA = dict(log_base_mean=np.log(3.5), log_base_sd=0.9,  # ~30% > 5 ng/mL (Pu 2021: 34%; Yang 2013: 37% >= 6)
           a=-0.45, b=0.85, rho=0.30, sd=0.65)  # CEA AUC ~0.73 (UNION, review 000 section 6)

# MCAR probability that a field (or block) is blank.
MISSING = dict(pdl1=0.40, ctdna=0.40, ctdna_c2=0.25, ctdna_c3=0.05, cea_baseline=0.05, cea_post=0.08,
               ecog=0.10, emvi=0.05, lateral_nodes=0.10, circumferential_extent_pct=0.15,
               endoscopy=0.03, dre=0.03, mr_trg=0.04, dwi_restriction=0.10)

CT_STAGES = (("T2", 0.10), ("T3", 0.18), ("T3a", 0.12), ("T3b", 0.22), ("T3c", 0.18), ("T3d", 0.08), ("T4a", 0.12))
CN_STAGES = (("N0", 0.29), ("N1", 0.41), ("N2", 0.30))  # OPRA ~71% cN+ (BJS 2024)


@dataclass
class Cohort:
    """A simulated cohort: the cohort file frame and the hidden truth (latent score, oracle)."""

    frame: pd.DataFrame  # data-dictionary columns (+ complete_response)
    truth: pd.DataFrame  # patient_id, regimen, eta, latent_score, p_prior, p_oracle


# --------------------------------------------------------------------------- covariates

def _choice(rng: np.random.Generator, table, n):
    names, probs = zip(*table)
    return rng.choice(np.array(names, dtype=object), size=n, p=np.array(probs) / sum(probs))


def _draw_pdl1(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """PD-L1 CPS and TPS (22C3 biopsies: CPS >= 1 69%, >= 5 26%; TPS >= 1% 15-21%: Coussement 2024, VOLTAGE-A)."""
    z = rng.normal(size=n)
    cps = np.where(z < -0.50, rng.uniform(0, 0.9, n), np.exp(0.45 + 1.1 * (z + 0.5) + rng.normal(0, 0.4, n)))
    cps = np.clip(np.round(cps, 1), 0, 100)
    tps = np.where(z + rng.normal(0, 0.5, n) > 1.0, np.clip(np.round(np.exp(rng.normal(1.0, 0.8, n)), 0), 1, 100), 0.0)
    return cps, tps


def _draw_cea(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.clip(np.round(np.exp(rng.normal(CEA["log_base_mean"], CEA["log_base_sd"], n)), 2), 0.2, 10000)


def _covariates(rng: np.random.Generator, n: int) -> pd.DataFrame:
    regimen_names = list(REGIMENS)
    weights = np.array([REGIMENS[r]["weight"] for r in regimen_names])
    regimen = rng.choice(np.array(regimen_names, dtype=object), size=n, p=weights / weights.sum())
    df = pd.DataFrame({"regimen": regimen})
    df["age_years"] = np.clip(np.round(rng.normal(58, 12, n)), 18, 90).astype(int)  # OPRA median 58, IQR 17
    df["sex"] = np.where(rng.random(n) < 0.35, "F", "M")  # 65% male (OPRA MRI cohort)
    df["ecog"] = rng.choice([0, 1, 2], size=n, p=[0.70, 0.27, 0.03])  # assumption
    df["mmr_status"] = "pMMR"
    df["ct_stage"] = _choice(rng, CT_STAGES, n)
    df["cn_stage"] = _choice(rng, CN_STAGES, n)
    df["cm_stage"] = "M0"
    t_adv = df["ct_stage"].isin(["T3c", "T3d", "T4a"]).to_numpy()
    df["mrf_involved"] = rng.random(n) < np.where(t_adv, 0.45, 0.10)  # overall ~23% (Korea 22.7%)
    df["emvi"] = rng.random(n) < 0.30  # 30% (Dutch LARC)
    df["lateral_nodes"] = rng.random(n) < 0.12  # assumption
    df["distance_from_anal_verge_cm"] = np.round(np.clip(rng.beta(2.0, 1.8, n) * 10, 0.5, 10), 1)  # eligibility <= 10 cm
    df["tumour_length_cm"] = np.round(np.clip(np.exp(rng.normal(np.log(4.5), 0.35, n)), 1.0, 15), 1)
    df["circumferential_extent_pct"] = np.round(rng.uniform(25, 100, n), 0)
    df["multiple_primaries"] = False
    cps, tps = _draw_pdl1(rng, n)
    df["pdl1_cps"], df["pdl1_tps_pct"] = cps, tps
    df["cea_baseline_ng_ml"] = _draw_cea(rng, n)
    for col in ("rt_schedule", "sequence", "immunotherapy", "chemotherapy", "systemic_cycles", "regorafenib"):
        df[col] = [REGIMENS[r]["fields"][col] for r in regimen]
    mean = np.array([REGIMENS[r]["weeks"][0] for r in regimen], float)
    sd = np.array([REGIMENS[r]["weeks"][1] for r in regimen], float)
    df["weeks_rt_to_assessment"] = np.round(np.clip(rng.normal(mean, sd), 4, 40), 0)
    return df


def _linear_predictor_wo_intercept(df: pd.DataFrame) -> np.ndarray:
    """Covariate part of eta (log odds of CR). Uses complete covariates (the simulator's own draws)."""
    e = EFFECTS
    ct = df["ct_stage"].to_numpy()
    ici = (df["immunotherapy"].to_numpy() != "none")
    x = (e["ct4"] * (ct == "T4a") + e["ct2"] * (ct == "T2") + e["ct3cd"] * np.isin(ct, ["T3c", "T3d"])
         + e["cn0"] * (df["cn_stage"].to_numpy() == "N0") + e["cn2"] * (df["cn_stage"].to_numpy() == "N2")
         + e["mrf"] * df["mrf_involved"].to_numpy(float) + e["emvi"] * df["emvi"].to_numpy(float)
         + e["lateral"] * df["lateral_nodes"].to_numpy(float)
         + e["length_per_cm"] * (df["tumour_length_cm"].to_numpy(float) - 4.5)
         + e["extent_per_10pct"] * (df["circumferential_extent_pct"].to_numpy(float) - 60) / 10
         + e["cea_high"] * (df["cea_baseline_ng_ml"].to_numpy(float) > 5)
         + e["female"] * (df["sex"].to_numpy() == "F") + e["ecog2"] * (df["ecog"].to_numpy(float) >= 2)
         + np.interp(df["distance_from_anal_verge_cm"].to_numpy(float), *DIST_KNOTS)
         + ici * (e["cps5_ici"] * (df["pdl1_cps"].to_numpy(float) >= 5) + e["tps1_ici"] * (df["pdl1_tps_pct"].to_numpy(float) >= 1)))
    weeks_centre = np.array([REGIMENS[r]["weeks"][0] for r in df["regimen"]], float)
    return x + e["weeks_per_week"] * (df["weeks_rt_to_assessment"].to_numpy(float) - weeks_centre)


@lru_cache(maxsize=1)
def regimen_intercepts() -> dict[str, float]:
    """Solve each regimen's intercept so its marginal P(CR) equals the published target.

    Uses a fixed reference sample of 40,000 covariate draws (seed 0); deterministic.
    """
    rng = np.random.default_rng(0)
    ref = _covariates(rng, 40_000)
    out = {}
    for name, spec in REGIMENS.items():
        sub = ref.assign(regimen=name, **{k: v for k, v in spec["fields"].items()})
        mean, sd = spec["weeks"]
        sub["weeks_rt_to_assessment"] = np.round(np.clip(rng.normal(mean, sd, len(sub)), 4, 40), 0)
        x = _linear_predictor_wo_intercept(sub)
        lo, hi = -8.0, 8.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if expit(mid + x).mean() < spec["target"]:
                lo = mid
            else:
                hi = mid
        out[name] = (lo + hi) / 2
    return out


def linear_predictor(df: pd.DataFrame) -> np.ndarray:
    b0 = regimen_intercepts()
    return np.array([b0[r] for r in df["regimen"]]) + _linear_predictor_wo_intercept(df)


# --------------------------------------------------------------------------- signals

def _appearance_params(ici: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = APPEARANCE
    return np.where(ici, a["mu_ici"], a["mu_no_ici"]), np.where(ici, a["sd_ici"], a["sd_no_ici"])


def _draw_signals(rng: np.random.Generator, df: pd.DataFrame, s: np.ndarray) -> None:
    n = len(df)
    ici = df["immunotherapy"].to_numpy() != "none"
    mu, sd = _appearance_params(ici)
    a = s + mu + sd * rng.normal(size=n)
    for col, spec in READINGS.items():
        reading = a + spec["noise"] * rng.normal(size=n)
        idx = np.searchsorted(np.array(spec["cuts"]), reading)
        df[col] = np.array(spec["levels"], dtype=object)[idx]
    df["mr_trg"] = df["mr_trg"].astype(int)
    df["dwi_restriction"] = df["dwi_restriction"].astype(bool)
    c = CTDNA
    shedder = rng.random(n) < c["p_shedder"]
    log_c1 = rng.normal(c["log_c1_mean"], c["log_c1_sd"], n)
    df["ctdna_baseline_mtm_ml"] = np.where(shedder, _round_sig(np.exp(log_c1)), 0.0)
    for col, key in (("ctdna_post_rt_mtm_ml", "c2"), ("ctdna_post_treatment_mtm_ml", "c3")):
        p = c[key]
        log_ct = log_c1 - p["kappa"] - p["beta"] * s + p["sd"] * rng.normal(size=n)
        df[col] = np.where(shedder & (log_ct >= c["log_lod"]), _round_sig(np.exp(log_ct)), 0.0)
    log_base = np.log(df["cea_baseline_ng_ml"].to_numpy(float))
    log_post = CEA["a"] + CEA["b"] * log_base - CEA["rho"] * s + CEA["sd"] * rng.normal(size=n)
    df["cea_post_ng_ml"] = np.clip(np.round(np.exp(log_post), 2), 0.2, 10000)


def _round_sig(x: np.ndarray, sig: int = 4) -> np.ndarray:
    x = np.asarray(x, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(x > 0, np.floor(np.log10(np.abs(x))), 0)
    factor = 10.0 ** (sig - 1 - mag)
    return np.round(x * factor) / factor


def _apply_missingness(rng: np.random.Generator, df: pd.DataFrame) -> None:
    n = len(df)
    m = MISSING

    def blank(cols, p, where=None):
        mask = rng.random(n) < p
        if where is not None:
            mask &= where
        for col in cols:
            df[col] = df[col].astype(object)
            df.loc[mask, col] = None
        return mask

    blank(["pdl1_cps", "pdl1_tps_pct"], m["pdl1"])
    no_ctdna = blank(list(("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml")), m["ctdna"])
    blank(["ctdna_post_rt_mtm_ml"], m["ctdna_c2"], ~no_ctdna)
    blank(["ctdna_post_treatment_mtm_ml"], m["ctdna_c3"], ~no_ctdna)
    blank(["cea_baseline_ng_ml"], m["cea_baseline"])
    blank(["cea_post_ng_ml"], m["cea_post"])
    for col in ("ecog", "emvi", "lateral_nodes", "circumferential_extent_pct", "endoscopy", "dre", "mr_trg", "dwi_restriction"):
        blank([col], m[col])


# --------------------------------------------------------------------------- oracle

_S_GRID = np.arange(-16.0, 16.0, 0.08) + 0.04  # no grid point at exactly 0
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(16)  # probabilists' Hermite: N(0, 1) expectation
_GH_W = _GH_W / _GH_W.sum()


def _reading_loglik(values: np.ndarray, spec: dict, a_nodes: np.ndarray) -> np.ndarray:
    """log P(reading | appearance) for rows x grid x nodes; 0 where the reading is blank."""
    cuts = np.concatenate([[-np.inf], np.array(spec["cuts"], float), [np.inf]])
    level_index = {lvl: i for i, lvl in enumerate(spec["levels"])}
    idx = np.array([level_index.get(_norm_level(v), -1) for v in values])
    known = idx >= 0
    lo = cuts[np.where(known, idx, 0)][:, None, None]
    hi = cuts[np.where(known, idx + 1, 1)][:, None, None]
    z_hi = (hi - a_nodes) / spec["noise"]
    z_lo = (lo - a_nodes) / spec["noise"]
    p = np.clip(ndtr(z_hi) - ndtr(z_lo), 1e-300, 1.0)
    return np.where(known[:, None, None], np.log(p), 0.0)


def _norm_level(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, bool):
        return int(v)
    return v


def _lognorm_censored_loglik(obs: np.ndarray, mean: np.ndarray, sd: float, log_lod: float) -> np.ndarray:
    """log-likelihood of a ctDNA value: density of log value if > 0, P(below limit) if 0."""
    with np.errstate(divide="ignore"):
        logv = np.log(np.where(obs > 0, obs, 1.0))
    z = (logv - mean) / sd
    dens = -0.5 * z * z - np.log(sd)
    cens = log_ndtr((log_lod - mean) / sd)
    return np.where(obs > 0, dens, cens)


def oracle(frame: pd.DataFrame, regimen: np.ndarray, rng: np.random.Generator | None = None,
           n_draws: int = 96, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """P(CR | every observed input) for each row of a simulated cohort, and P(CR | covariates only).

    Integrates over the latent score s on a grid, over the appearance error by 16-node
    Gauss-Hermite quadrature, and over missing covariates that enter eta (PD-L1, CEA baseline,
    ECOG, EMVI, lateral nodes, circumferential extent) by ``n_draws`` draws from the simulator's
    own generative distribution (those covariates are drawn independently of the others).
    """
    rng = rng or np.random.default_rng(12345)
    n = len(frame)
    p_post = np.empty(n)
    p_prior = np.empty(n)
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        p_post[sl], p_prior[sl] = _oracle_chunk(frame.iloc[sl].reset_index(drop=True), np.asarray(regimen)[sl], rng, n_draws)
    return p_post, p_prior


_ETA_IMPUTABLE = ("pdl1", "cea_baseline_ng_ml", "ecog", "emvi", "lateral_nodes", "circumferential_extent_pct")


def _covariate_draws(df: pd.DataFrame, regimen: np.ndarray, rng: np.random.Generator, n_draws: int):
    """eta and log CEA baseline for each row and draw (rows x draws); one draw if nothing is missing."""
    n = len(df)
    base = df.copy()
    base["regimen"] = regimen
    missing = {
        "pdl1": base["pdl1_cps"].isna().to_numpy(),
        "cea_baseline_ng_ml": base["cea_baseline_ng_ml"].isna().to_numpy(),
        "ecog": base["ecog"].isna().to_numpy(),
        "emvi": base["emvi"].isna().to_numpy(),
        "lateral_nodes": base["lateral_nodes"].isna().to_numpy(),
        "circumferential_extent_pct": base["circumferential_extent_pct"].isna().to_numpy(),
    }
    any_missing = np.any(np.vstack(list(missing.values())), axis=0)
    d = n_draws if any_missing.any() else 1
    rep = base.loc[base.index.repeat(d)].reset_index(drop=True)
    m = len(rep)
    rows = np.repeat(np.arange(n), d)
    cps, tps = _draw_pdl1(rng, m)
    fill = {
        "pdl1_cps": (missing["pdl1"][rows], cps),
        "pdl1_tps_pct": (missing["pdl1"][rows], tps),
        "cea_baseline_ng_ml": (missing["cea_baseline_ng_ml"][rows], _draw_cea(rng, m)),
        "ecog": (missing["ecog"][rows], rng.choice([0, 1, 2], size=m, p=[0.70, 0.27, 0.03])),
        "emvi": (missing["emvi"][rows], rng.random(m) < 0.30),
        "lateral_nodes": (missing["lateral_nodes"][rows], rng.random(m) < 0.12),
        "circumferential_extent_pct": (missing["circumferential_extent_pct"][rows], np.round(rng.uniform(25, 100, m), 0)),
    }
    for col, (mask, draws) in fill.items():
        vals = rep[col].to_numpy(dtype=object).copy()
        vals[mask] = draws[mask]
        rep[col] = pd.to_numeric(pd.Series(vals), errors="coerce") if col not in ("emvi", "lateral_nodes") else vals.astype(float)
    for col in ("mrf_involved", "emvi", "lateral_nodes"):
        rep[col] = rep[col].astype(float)
    eta = linear_predictor(rep).reshape(n, d)
    log_cea = np.log(rep["cea_baseline_ng_ml"].to_numpy(float)).reshape(n, d)
    # rows with nothing missing: every draw is identical; keep them (cheap) for one code path
    return eta, log_cea


def _oracle_chunk(df: pd.DataFrame, regimen: np.ndarray, rng: np.random.Generator, n_draws: int):
    n = len(df)
    s = _S_GRID[None, :]  # 1 x G
    eta, log_cea = _covariate_draws(df, regimen, rng, n_draws)  # n x D
    p_prior = expit(eta).mean(axis=1)

    # restaging: integrate over appearance a = s + mu + sd * xi
    ici = df["immunotherapy"].to_numpy() != "none"
    mu, sd = _appearance_params(ici)
    a_nodes = s[:, :, None] + mu[:, None, None] + sd[:, None, None] * _GH_X[None, None, :]  # n x G x Q
    ll_a = np.zeros_like(a_nodes)
    for col, spec in READINGS.items():
        ll_a += _reading_loglik(df[col].to_numpy(dtype=object), spec, a_nodes)
    m = ll_a.max(axis=2, keepdims=True)
    ll_restage = (m[:, :, 0] + np.log(np.sum(np.exp(ll_a - m) * _GH_W, axis=2)))  # n x G

    # ctDNA: C1 observed whenever any timepoint is (simulator design)
    c = CTDNA
    c1 = pd.to_numeric(df["ctdna_baseline_mtm_ml"], errors="coerce").to_numpy(float)
    ll_ct = np.zeros((n, s.shape[1]))
    shed = np.nan_to_num(c1, nan=0.0) > 0
    log_c1 = np.log(np.where(shed, c1, 1.0))[:, None]
    for col, key in (("ctdna_post_rt_mtm_ml", "c2"), ("ctdna_post_treatment_mtm_ml", "c3")):
        obs = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        use = shed & ~np.isnan(obs)
        p = c[key]
        mean = log_c1 - p["kappa"] - p["beta"] * s
        ll = _lognorm_censored_loglik(np.nan_to_num(obs, nan=0.0)[:, None], mean, p["sd"], c["log_lod"])
        ll_ct += np.where(use[:, None], ll, 0.0)

    # CEA post given s and CEA baseline (per covariate draw)
    cea_post = pd.to_numeric(df["cea_post_ng_ml"], errors="coerce").to_numpy(float)
    has_post = ~np.isnan(cea_post)
    log_post = np.log(np.where(has_post, cea_post, 1.0))[:, None, None]
    mean_post = CEA["a"] + CEA["b"] * log_cea[:, :, None] - CEA["rho"] * s[:, None, :]  # n x D x G
    z = (log_post - mean_post) / CEA["sd"]
    ll_cea = np.where(has_post[:, None, None], -0.5 * z * z, 0.0)

    # prior of s given eta (logistic density), per draw
    u = s[:, None, :] - eta[:, :, None]  # n x D x G
    log_prior = -u - 2 * np.log1p(np.exp(-u))
    log_joint = log_prior + ll_cea + (ll_restage + ll_ct)[:, None, :]  # n x D x G
    mx = log_joint.max(axis=(1, 2), keepdims=True)
    w = np.exp(log_joint - mx).sum(axis=1)  # n x G
    pos = _S_GRID > 0
    p_post = w[:, pos].sum(axis=1) / w.sum(axis=1)
    return p_post, p_prior


# --------------------------------------------------------------------------- entry point

def simulate(n: int, seed: int = 0, with_oracle: bool = True) -> Cohort:
    """Simulate ``n`` eligible pMMR/MSS LARC patients (cohort file frame + hidden truth)."""
    if n < 1:
        raise ValueError(f"n must be a positive number of patients; got {n} instead.")
    rng = np.random.default_rng(seed)
    df = _covariates(rng, n)
    eta = linear_predictor(df)
    s = eta + rng.logistic(size=n)
    _draw_signals(rng, df, s)
    df["complete_response"] = s > 0
    _apply_missingness(rng, df)
    df.insert(0, "patient_id", [f"SIM-{seed}-{i:06d}" for i in range(n)])
    df.insert(1, "site", "synthetic")
    regimen = df.pop("regimen").to_numpy()
    frame = df[[c for c in COLUMNS if c in df.columns]]
    truth = pd.DataFrame({"patient_id": frame["patient_id"], "regimen": regimen, "eta": eta, "latent_score": s,
                          "p_prior": expit(eta)})
    if with_oracle:
        truth["p_oracle"], _ = oracle(frame, regimen, np.random.default_rng(seed + 1_000_003))
    return Cohort(frame=frame, truth=truth)


def to_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Cohort frame as cells for a CSV: booleans as true/false, blanks empty."""
    out = frame.copy()
    for col in out.columns:
        vals = out[col].to_numpy(dtype=object)
        out[col] = ["" if v is None or (isinstance(v, float) and np.isnan(v)) else
                    ("true" if v is True or v is np.True_ else "false" if v is False or v is np.False_ else v)
                    for v in vals]
    return out
