"""A generative model of a pMMR/MSS LARC cohort, calibrated to ../shared/clinical/calibration.md.

Design (one latent response score, so the best possible prediction is computable exactly):

1. Covariates X (staging, treatment regimen, PD-L1, CEA) are drawn from published mixes.
2. A linear predictor eta(X) = regimen intercept + covariate effects (log odds). The regimen
   intercepts are solved numerically so that each regimen's marginal complete-response rate equals
   its published target (section 1 of calibration.md).
3. The latent response score s = eta + e, e ~ Logistic(0, 1); true complete response CR = (s > 0),
   so P(CR | X) = sigmoid(eta). Larger s = less residual tumour.
4. Every observed signal is drawn from s (never from CR directly):
   - restaging (endoscopy, DRE, mrTRG, DWI) from a shared *appearance* a = s + u, u two-piece
     (mu; a normal with a small SD sd_up above, a steep but bounded tail below, down to mu - floor: a
     response looks worse far more often than residual tumour looks better, but never like a gross
     tumour), plus a shift ``bed`` of these four cCR-criteria readings,
     with (mu, sd_up, sd_down, bed) per regimen group (without / with immunotherapy): the readings
     share one error (fibrosis and oedema fool all of them at once), which caps what they can tell
     together (issue 17); under immunotherapy mu < 0 and sd_down is larger: responders look worse and
     P(CR | not cCR) is higher (pseudo-residual disease, commoner after immunotherapy: TORCH 34.2%
     vs OPRA 10%, review 000 section 5); without it the cCR criteria are stricter (bed < 0) with a
     smaller shared error, so that P(CR | cCR) is ~0.81 (OPRA) at these arms' lower CR rates;
   - ctDNA: shedders (77% detected at baseline: Tie 2019, Zhou 2021) have a log level at C1; at C2
     and C3 log level = log C1 - kappa - beta * max(s, s_floor) + noise, reported 0 below the
     detection limit, so true responders are almost never detectable at C3 (Zhou 2021: none of 29
     ypCR);
   - CEA at assessment: log CEA_post = a + b log CEA_base - rho * s + noise (UNION CEA AUC 0.733);
   - version-2 restaging readings, from the same appearance a: restaging nodes (ymr_n_stage, cut
     points that depend on baseline cN), EMVI still visible (ymr_emvi, only after a baseline EMVI
     but for rare misses), residual lesion size (log-normal, scaled with baseline tumour length),
     and the restaging biopsy (done more often when the appearance is near-complete; positive only
     when s < 0, i.e. residual tumour, with limited sensitivity).
5. Decision context (sphincter involvement, fitness for major surgery, the patient's preference) is
   drawn from *recorded* covariates only (distance, age, the ECOG as recorded), never from s, so it
   carries no information about CR beyond the observed inputs and needs no oracle term.
6. Missingness is completely at random (MCAR) with the rates in ``MISSING`` and ``MISSING_V2``,
   so it is ignorable.
   Every version-2 column is drawn after the version-1 columns from the same generator, so the
   version-1 columns of a cohort are the same as before version 2 for the same seed.

The *oracle* is P(CR | every observed input), computed by integrating over s on a grid (and over
the appearance on a grid of its own, and over missing covariates that enter eta by
Monte Carlo draws from their generative distribution; a missing baseline EMVI also changes the
likelihood of ymr_emvi, draw by draw). It is written to a separate file and never
used for training.

Effect sizes from studies of 20-300 patients are shrunk towards zero (calibration.md asks for it);
each parameter names its source or says "assumption". ``watchwait.sim.targets.TARGETS`` lists every
figure the simulator is calibrated to, with its source and accepted band; ``target_values`` measures
them on a cohort and ``targets_table`` writes the README table (tests/unit/test_simulator_targets.py
checks both).

This module states the model (its parameters, covariates and linear predictor); the cohort is drawn by
:mod:`watchwait.sim.generator`, the oracle computed by :mod:`watchwait.sim.oracle`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.special import expit

from watchwait.sim.common import draw_regimen, draw_regimen_fields, draw_staging, solve_intercepts

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
    "itnt_pd1ctla4_regorafenib": dict(  # protocol 001 arm B; no results yet. Assumption: like REGINA in
        # its pMMR patients, 11/30 ~ 37% CR (6 pCR of 24 operated + 5 cCR; calibration.md section 1);
        # the 44% (16/36) counts all patients, dMMR included, outside this model's population
        weight=0.10, target=0.37, weeks=(22, 3),
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
# Restaging: appearance a = s + u, one error u shared by every restaging reading (the four of the
# cCR criteria and the version-2 ones); each of the four cCR-criteria readings (endoscopy, DRE,
# mrTRG, DWI) = a + bed + N(0, noise) cut at thresholds (higher = looks better).
# The shared error is two-piece (``appearance_error``, z ~ N(0, 1), half the mass on each side of
# mu): u = mu + sd_up * z above mu (small: a residual tumour rarely looks better than it is) and
# mu + floor * tanh(sd_down * z / floor) below (steep near mu, never below mu - floor). Fibrosis,
# oedema and immune infiltrates make a response look worse far more often (and by more) than a
# residual tumour looks better: a clean scar is reliable (P(CR | cCR) ~0.81, OPRA) while many true
# responders look near-complete or incomplete (pseudo-residual disease); but a response never looks
# like a gross tumour, so every reading at its worst (visible tumour, mass, mrTRG 5, ...) still
# means residual tumour (the floor, with the worst categories' cut points below it). Because the
# error is shared, no number of readings can see through it in between: it caps what the restaging
# readings together can tell (issue 17: with a small shared error, the eight readings together
# reached AUC 0.89 and the shipped model's restaging branch 0.88, above every published figure).
# Every reading at its worst: P(CR) 4.5% without ICI, 6% with (mrTRG 5 + incomplete endoscopy + mass on
# DRE, 15% and 5% of these patients; before the floor 12% and 34%, which let a profile with every reading
# at its worst keep most of its prior).
# Band chosen for the readings together (``TARGETS`` "auc_restaging_together": a logistic regression
# on all eight, i.e. the best a model can do from them): above the best single reading (endoscopy
# 0.67-0.76, MRI 0.65-0.73; PKU) and at most 0.80, below the only published combination that beats
# the single readings, ctDNA + mrTRG 0.886 (Wang 2021), and in line with OPRA's 67% accuracy of
# endoscopy + MRI together (Williams, Ann Surg 2025). Within one regimen group the readings together
# reach ~0.76-0.77; pooled over both groups, with the regimen group known, ~0.81, because CR rates
# differ by regimen (the shipped model's restaging branch sees the immunotherapy).
# Two regimen groups, without and with a checkpoint inhibitor (ICI):
# - with ICI (mu -1.0, sd_up 1.0, sd_down 11, floor 7, bed +0.8): responders look worse still (fibrosis and
#   immune infiltrates): P(CR | cCR) ~0.80 (OPRA, ASCO GI abstract 28, at a similar CR rate ~0.5)
#   and P(CR | not cCR) ~0.34 (pseudo-residual disease, TORCH 25/73 = 34.2%, review 000 section 5).
# - without ICI (mu 0, sd_up 0.8, sd_down 10, floor 7, bed -1.6): the cCR criteria are met by fewer
#   true responders (bed < 0; PKU, Pei JP et al.: cCR criteria sensitivity for pCR 0.11 after NACRT
#   vs 0.28 after NACRT + ICI [simulated: 0.18 vs 0.35]), so a cCR is rarer but as reliable as in
#   OPRA (TNT without ICI): P(CR | cCR) ~0.76-0.80 at these arms' CR rates of 15-28% (IWWD, mostly CRT:
#   25.2% 2-year regrowth after a cCR, i.e. ~0.75). OPRA's P(CR | not cCR) of 0.30 cannot be
#   reproduced here: it was measured at a 52% true-response rate, and P(CR | not cCR) stays below
#   an arm's CR rate whenever P(CR | cCR) is above it. It comes out at ~0.17, above OPRA's 10%
#   pseudo-residual rate (review 000 section 5) and less than half the ICI value.
#   ``bed`` shifts only the four cCR-criteria readings: the version-2 readings (nodes, EMVI,
#   residual size, biopsy) keep their tuning on a, reactive nodes stay commoner after ICI.
# The mu, sd_up, sd_down, floor and bed values have no published source of their own: they are tuned to the
# published targets above (P(CR | cCR), P(CR | not cCR), the single-reading AUCs and the band for the
# readings together).
# Reading noises: mrTRG and endoscopy are tuned so their single-reading AUCs (pooled) fall in the
# published ranges (MRI 0.65-0.73, endoscopy 0.67-0.76; PKU). DRE and DWI: no published source:
# set no stronger than MRI alone (AUC about 0.65 on its own) [simulated DRE 0.66, DWI 0.65]. The targets and
# their simulated values: ``TARGETS`` below.
APPEARANCE = dict(mu_no_ici=0.0, sd_up_no_ici=0.8, sd_no_ici=10.0, floor_no_ici=7.0, bed_no_ici=-1.6,  # tuned (see above)
                  mu_ici=-1.0, sd_up_ici=1.0, sd_ici=11.0, floor_ici=7.0, bed_ici=0.8)  # sd_* = sd_down
READINGS = dict(
    endoscopy=dict(noise=1.6, cuts=(-6.0, -0.8), levels=("incomplete", "near_complete", "complete")),  # PKU 0.67-0.76
    # no published source: set no stronger than MRI alone (AUC about 0.65 on its own)
    dre=dict(noise=3.3, cuts=(-7.5, -3.0), levels=("mass", "smooth_induration", "normal")),
    mr_trg=dict(noise=2.6, cuts=(-8.0, -5.5, -1.9, 1.0), levels=(5, 4, 3, 2, 1)),  # PKU 0.65-0.71, Wang 0.729
    # no published source (DWI alone): set no stronger than MRI alone (AUC about 0.65 on its own)
    dwi_restriction=dict(noise=3.0, cuts=(-3.0,), levels=(True, False)),
)
# ctDNA (MTM/mL). Quantitative levels were not found in the sources (calibration.md section 3):
# the level scale is an assumption; detection rates are calibrated.
CTDNA = dict(
    p_shedder=0.77,  # baseline detection 77% (Tie 2019), 75% (Zhou 2021)
    log_c1_mean=np.log(8.0), log_c1_sd=1.3,  # assumption
    log_lod=np.log(0.02),  # reported 0 below this level (assumption)
    # C2 (post-RT): fold change C2/C1 AUC ~0.82 among shedders (UNION MRD model at C2: AUC 0.85,
    # review 000 section 6; FUSCC ctDNA-only 0.818, Wang 2021) and ~96% of shedding complete
    # responders cleared (Wang 2021, pTRG0: 95.7%). Published detection is lower (Zhou 15.6% during
    # nCRT, Tie 8.3% post-CRT; Wang: 4-33% of baseline-positive by pTRG), but one censored level
    # carries the AUC of 0.82 only if ~2/3 of shedding non-responders stay detectable: the target is
    # the smallest detection rate consistent with that AUC, ~1/3 of those tested (~43% of shedders).
    # The level stops rising with residual tumour below s = -4 (s_floor; assumption: C2 stays below
    # C1 on average, and within the dictionary's range).
    c2=dict(kappa=7.6, beta=1.5, sd=1.2, s_floor=-4.0),
    # C3 (response assessment): ~12% detectable (Zhou 10.5% pre-surgery, Tie 8.3%); < 1% of true
    # complete responders (Zhou 2021: none of 29 ypCR); ~84% of shedders cleared (Wang 2021: 67-96%)
    c3=dict(kappa=8.9, beta=0.85, sd=1.0),
)
CEA = dict(log_base_mean=np.log(3.5), log_base_sd=0.9,  # ~30% > 5 ng/mL (Pu 2021: 34%; Yang 2013: 37% >= 6)
           a=-0.45, b=0.85, rho=0.24, sd=0.65)  # CEA at assessment AUC ~0.73 (UNION 0.733, review 000 section 6)

# MCAR probability that a field (or block) is blank.
MISSING = dict(pdl1=0.40, ctdna=0.40, ctdna_c2=0.25, ctdna_c3=0.05, cea_baseline=0.05, cea_post=0.08,
               ecog=0.10, emvi=0.05, lateral_nodes=0.10, circumferential_extent_pct=0.15,
               endoscopy=0.03, dre=0.03, mr_trg=0.04, dwi_restriction=0.10)

# --------------------------------------------------------------------------- version-2 restaging
# Drawn from the shared appearance a (they are read on the same MRI / endoscopy, so they share its
# error: under immunotherapy, responders' nodes and vessels look worse too). Higher a = looks better.
#
# ymr_n_stage: reading = a + shift[cN] + N(0, noise); N2 below cuts[0], N1 below cuts[1], else N0.
# No published source: set no stronger than MRI alone (AUC about 0.65 on its own) [simulated 0.59].
# calibration.md has no figure for restaging-MRI nodal accuracy; ASCO 2024 (section 6): "do not
# decide on nodal imaging alone", so persistent suspicious nodes are common in non-responders but
# also occur in true responders (reactive or sterilised nodes that stay >= 5 mm). Assumed rates
# (simulated, CRT/TNT without immunotherapy): cN+ -> ymrN+ in ~10-25% of true responders [cN1 10%,
# cN2 23%] and ~30-45% of non-responders [cN1 31%, cN2 44%]; cN0 -> ymrN0 in ~99%. Under
# immunotherapy the shared appearance error gives true responders more suspicious nodes [cN1 14%,
# cN2 25%]. (Before issue 17 the assumed rates were 10-15% vs 45-60%: with the shared
# error now large, as the restaging-together band needs, those rates would make the nodes alone
# stronger than MRI alone.) All parameters below are assumptions.
YMR_N = dict(
    noise=1.5,  # assumption (tuned to the rates above)
    shift={"N0": 6.0, "N1": 0.0, "N2": -1.5},  # assumption: cN0 rarely, cN2 most often, still node-positive
    cuts=(-10.5, -6.0), levels=("N2", "N1", "N0"),  # assumption (tuned to the rates above)
)
# ymr_emvi after a baseline EMVI: P(visible | a) = P(a + N(0, noise) < cut). yMR-EMVI sens 76.19%,
# spec 79.75% for pathological EMVI (Lee ES, Eur Radiol 2018; calibration.md section 4). A true
# complete responder has no viable tumour in vessels, so ~20% (1 - spec) of them still show EMVI
# (false positive); among non-responders, assuming ~60% still have pathological EMVI (assumption),
# ~0.6 x 0.76 + 0.4 x 0.20 ~ 0.54 show it. Cut and noise are tuned to the responders' rate (no ICI)
# [simulated 0.22; non-responders 0.51, below the assumed 0.54 since the non-responders' share is an
# assumption and the shared appearance error is large]. The 60% is an assumption: ymr_emvi alone
# [AUC 0.63 among baseline EMVI] stays below MRI alone.
# Without a baseline EMVI, a restaging EMVI is a baseline miss: 2%, whatever the response (assumption).
YMR_EMVI = dict(noise=2.0, cuts=(-4.0,), levels=(True, False), p_without_baseline=0.02)
# residual_lesion_mm = round(10 x tumour_length_cm x exp(log_frac - gamma * a + N(0, sd))), within
# 0-100. No published source: set no stronger than MRI alone (AUC about 0.65 on its own)
# [simulated: 0.65 for the size, 0.64 relative to the tumour length]. A scar in responders (median
# ~12 mm), a somewhat larger residual in non-responders (median ~18 mm), from a 45 mm median baseline
# tumour. (Before issue 17: gamma 0.22, sd 0.45, medians 10 vs 22 mm, AUC 0.80 alone, worth +35
# points for DEMO-13's 6 mm residual of a 6.9 cm tumour.) The near-cCR local-excision threshold of
# the clinical brief (<= 30 mm) still selects most near-cCR.
RESIDUAL = dict(log_frac=np.log(0.25), gamma=0.10, sd=0.50, high=100.0)
# Restaging biopsy of the tumour bed. Done with P(done | a) = base + peak x exp(-(a - centre)^2 /
# (2 width^2)): more often when the appearance is near-complete (an ambiguous scar), less often when
# the response is obviously complete or obviously incomplete (assumption; ~29% of recorded biopsied:
# ~42% of near-cCR, ~27% of cCR, ~18% of incomplete; centred where near-cCR lies on a).
# A positive biopsy means residual tumour: only when s < 0, with sensitivity 0.40 (assumption:
# a negative biopsy rules nothing out; the clinical brief). Never positive in a true responder.
# No published source: set no stronger than MRI alone (AUC about 0.65 on its own) [simulated: a
# positive biopsy alone 0.57].
BIOPSY = dict(base=0.10, peak=0.60, centre=-1.5, width=1.2, sensitivity=0.40)

# MCAR blanks of the version-2 columns and of the decision context (watchwait.sim.common.draw_decision_context)
# (assumption; "biopsy not recorded" = blank, not "not_done").
MISSING_V2 = dict(ymr_n_stage=0.10, ymr_emvi=0.20, residual_lesion_mm=0.25, restaging_biopsy=0.30,
                  sphincter_involved=0.05, fit_for_major_surgery=0.05, patient_preference=0.10)

CT_STAGES = (("T2", 0.10), ("T3", 0.18), ("T3a", 0.12), ("T3b", 0.22), ("T3c", 0.18), ("T3d", 0.08), ("T4a", 0.12))
CN_STAGES = (("N0", 0.29), ("N1", 0.41), ("N2", 0.30))  # OPRA ~71% cN+ (BJS 2024)


# --------------------------------------------------------------------------- covariates

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
    df = pd.DataFrame({"regimen": draw_regimen(rng, REGIMENS, n)})
    df["age_years"] = np.clip(np.round(rng.normal(58, 12, n)), 18, 90).astype(int)  # OPRA median 58, IQR 17
    df["sex"] = np.where(rng.random(n) < 0.35, "F", "M")  # 65% male (OPRA MRI cohort)
    df["ecog"] = rng.choice([0, 1, 2], size=n, p=[0.70, 0.27, 0.03])  # assumption
    draw_staging(rng, df, CT_STAGES, CN_STAGES)
    df["emvi"] = rng.random(n) < 0.30  # 30% (Dutch LARC)
    df["lateral_nodes"] = rng.random(n) < 0.12  # assumption
    df["distance_from_anal_verge_cm"] = np.round(np.clip(rng.beta(2.0, 1.8, n) * 10, 0.5, 10), 1)  # eligibility <= 10 cm
    df["tumour_length_cm"] = np.round(np.clip(np.exp(rng.normal(np.log(4.5), 0.35, n)), 1.0, 15), 1)
    df["circumferential_extent_pct"] = np.round(rng.uniform(25, 100, n), 0)
    df["multiple_primaries"] = False
    # the model's population: restaging found no new distant metastasis (recorded, so no confirm notice)
    df["new_distant_metastasis"] = False
    cps, tps = _draw_pdl1(rng, n)
    df["pdl1_cps"], df["pdl1_tps_pct"] = cps, tps
    df["cea_baseline_ng_ml"] = _draw_cea(rng, n)
    draw_regimen_fields(rng, df, REGIMENS)
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
    return solve_intercepts(REGIMENS, _covariates, _linear_predictor_wo_intercept, expit)


def linear_predictor(df: pd.DataFrame) -> np.ndarray:
    b0 = regimen_intercepts()
    return np.array([b0[r] for r in df["regimen"]]) + _linear_predictor_wo_intercept(df)




# --------------------------------------------------------------------------- signals

def _appearance_params(ici: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mu, the SD above (looks better than the truth), the SD below (looks worse) and the floor (how much worse at
    most) of the appearance error."""
    a = APPEARANCE
    return (np.where(ici, a["mu_ici"], a["mu_no_ici"]), np.where(ici, a["sd_up_ici"], a["sd_up_no_ici"]),
            np.where(ici, a["sd_ici"], a["sd_no_ici"]), np.where(ici, a["floor_ici"], a["floor_no_ici"]))


def appearance_error(z: np.ndarray, mu, sd_up, sd_down, floor) -> np.ndarray:
    """The shared appearance error u from a standard normal z: mu + sd_up * z above mu; below it
    mu + floor * tanh(sd_down * z / floor), steep (sd_down) near mu and never below mu - floor, so that a response
    can look much worse than it is, but not as bad as a gross residual tumour (half the mass on each side of mu)."""
    return mu + np.where(z > 0, sd_up * z, floor * np.tanh(sd_down * z / floor))


def appearance_density(u: np.ndarray, mu, sd_up, sd_down, floor) -> np.ndarray:
    """Density of :func:`appearance_error` at u (change of variables from z ~ N(0, 1))."""
    d = np.asarray(u, float) - mu
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = np.clip(-d / floor, 0.0, 1.0 - 1e-15)
        z = -(floor / sd_down) * np.arctanh(w)
        below = np.exp(-0.5 * z * z) / (sd_down * (1.0 - w * w))
        above = np.exp(-0.5 * (d / sd_up) ** 2) / sd_up
    return np.where(d > 0, above, np.where(d > -floor, below, 0.0)) / np.sqrt(2 * np.pi)


def _bed_shift(ici: np.ndarray) -> np.ndarray:
    """Shift of the four cCR-criteria readings (endoscopy, DRE, mrTRG, DWI) on top of the appearance."""
    a = APPEARANCE
    return np.where(ici, a["bed_ici"], a["bed_no_ici"])


def _ctdna_log_mean(log_c1, s, p: dict):
    """Mean log ctDNA level at C2 or C3 given the baseline log level and s (the simulator and the oracle)."""
    return log_c1 - p["kappa"] - p["beta"] * np.maximum(s, p.get("s_floor", -np.inf))


def _biopsy_done_p(a: np.ndarray) -> np.ndarray:
    b = BIOPSY
    return b["base"] + b["peak"] * np.exp(-0.5 * ((a - b["centre"]) / b["width"]) ** 2)
