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
each parameter names its source or says "assumption". ``TARGETS`` lists every figure the simulator
is calibrated to, with its source and accepted band; :func:`target_values` measures them on a
cohort and :func:`targets_table` writes the README table (tests/unit/test_simulator_targets.py
checks both).
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

# --------------------------------------------------------------------------- decision context
# Drawn from recorded covariates only (never from s; the oracle needs no term for them). Distance
# enters eta but is never blank, so sphincter involvement (and preference through it) is independent
# of CR given the observed inputs.
# sphincter_involved: by distal edge (distance from the anal verge, cm): assumption (the sphincter
# complex spans the lowest 3-4 cm; a distal edge <= 3 cm often involves it).
SPHINCTER = ((2.0, 0.55), (3.0, 0.35), (5.0, 0.08), (np.inf, 0.01))  # (distance upper bound, P): assumption
# fit_for_major_surgery (yes, no, uncertain): assumption. Frail = age >= 80 or ECOG >= 2 as recorded
# (a blank ECOG counts as not >= 2, so fitness never carries information about an unrecorded ECOG).
FITNESS = dict(fit=(0.92, 0.02, 0.06), frail=(0.45, 0.25, 0.30))  # assumption
# patient_preference (organ_preservation, surgery, undecided, not_discussed): assumption; a patient
# facing an abdominoperineal resection (sphincter involved) prefers organ preservation more often.
PREFERENCE = dict(levels=("organ_preservation", "surgery", "undecided", "not_discussed"),
                  default=(0.35, 0.15, 0.20, 0.30), sphincter=(0.55, 0.07, 0.18, 0.20))  # assumption
# MCAR blanks of the version-2 columns (assumption; "biopsy not recorded" = blank, not "not_done").
MISSING_V2 = dict(ymr_n_stage=0.10, ymr_emvi=0.20, residual_lesion_mm=0.25, restaging_biopsy=0.30,
                  sphincter_involved=0.05, fit_for_major_surgery=0.05, patient_preference=0.10)

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
    # the model's population: restaging found no new distant metastasis (recorded, so no confirm notice)
    df["new_distant_metastasis"] = False
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


def _draw_signals(rng: np.random.Generator, df: pd.DataFrame, s: np.ndarray) -> np.ndarray:
    """Draw the version-1 signals from s; returns the shared restaging appearance a."""
    n = len(df)
    ici = df["immunotherapy"].to_numpy() != "none"
    a = s + appearance_error(rng.normal(size=n), *_appearance_params(ici))
    bed = _bed_shift(ici)
    for col, spec in READINGS.items():
        reading = a + bed + spec["noise"] * rng.normal(size=n)
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
        log_ct = _ctdna_log_mean(log_c1, s, p) + p["sd"] * rng.normal(size=n)
        df[col] = np.where(shedder & (log_ct >= c["log_lod"]), _round_sig(np.exp(log_ct)), 0.0)
    log_base = np.log(df["cea_baseline_ng_ml"].to_numpy(float))
    log_post = CEA["a"] + CEA["b"] * log_base - CEA["rho"] * s + CEA["sd"] * rng.normal(size=n)
    df["cea_post_ng_ml"] = np.clip(np.round(np.exp(log_post), 2), 0.2, 10000)
    return a


def _ctdna_log_mean(log_c1, s, p: dict):
    """Mean log ctDNA level at C2 or C3 given the baseline log level and s (the simulator and the oracle)."""
    return log_c1 - p["kappa"] - p["beta"] * np.maximum(s, p.get("s_floor", -np.inf))


def _draw_restaging_v2(rng: np.random.Generator, df: pd.DataFrame, s: np.ndarray, a: np.ndarray,
                       emvi: np.ndarray) -> None:
    """Version-2 restaging columns from s and the appearance a (``emvi``: baseline EMVI before blanks)."""
    n = len(df)
    shift = np.array([YMR_N["shift"][c] for c in df["cn_stage"]], float)
    reading = a + shift + YMR_N["noise"] * rng.normal(size=n)
    df["ymr_n_stage"] = np.array(YMR_N["levels"], dtype=object)[np.searchsorted(np.array(YMR_N["cuts"]), reading)]
    reading = a + YMR_EMVI["noise"] * rng.normal(size=n)
    seen = np.array(YMR_EMVI["levels"], dtype=bool)[np.searchsorted(np.array(YMR_EMVI["cuts"]), reading)]
    miss = rng.random(n) < YMR_EMVI["p_without_baseline"]
    df["ymr_emvi"] = np.where(emvi, seen, miss)
    r = RESIDUAL
    mm = 10 * df["tumour_length_cm"].to_numpy(float) * np.exp(r["log_frac"] - r["gamma"] * a + r["sd"] * rng.normal(size=n))
    df["residual_lesion_mm"] = np.round(np.clip(mm, 0, r["high"])).astype(int)
    done = rng.random(n) < _biopsy_done_p(a)
    positive = (s < 0) & (rng.random(n) < BIOPSY["sensitivity"])
    df["restaging_biopsy"] = np.where(~done, "not_done", np.where(positive, "positive", "negative")).astype(object)


def _biopsy_done_p(a: np.ndarray) -> np.ndarray:
    b = BIOPSY
    return b["base"] + b["peak"] * np.exp(-0.5 * ((a - b["centre"]) / b["width"]) ** 2)


def _draw_decision_context(rng: np.random.Generator, df: pd.DataFrame) -> None:
    """Decision context from *recorded* covariates only (call after the blanks are applied)."""
    n = len(df)
    dist = pd.to_numeric(df["distance_from_anal_verge_cm"], errors="coerce").to_numpy(float)
    bounds = np.array([b for b, _ in SPHINCTER])
    p_sph = np.array([p for _, p in SPHINCTER])[np.minimum(np.searchsorted(bounds, np.nan_to_num(dist, nan=10.0)),
                                                           len(bounds) - 1)]
    sphincter = rng.random(n) < p_sph
    df["sphincter_involved"] = sphincter
    ecog = pd.to_numeric(df["ecog"], errors="coerce").to_numpy(float)
    frail = (df["age_years"].to_numpy(float) >= 80) | (np.nan_to_num(ecog, nan=0.0) >= 2)
    p_fit = np.where(frail[:, None], np.array(FITNESS["frail"])[None, :], np.array(FITNESS["fit"])[None, :])
    df["fit_for_major_surgery"] = _categorical(rng, p_fit, ("yes", "no", "uncertain"))
    pr = PREFERENCE
    p_pref = np.where(sphincter[:, None], np.array(pr["sphincter"])[None, :], np.array(pr["default"])[None, :])
    df["patient_preference"] = _categorical(rng, p_pref, pr["levels"])


def _categorical(rng: np.random.Generator, probs: np.ndarray, levels) -> np.ndarray:
    """One draw per row from per-row category probabilities (rows x levels)."""
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    idx = (rng.random(len(probs))[:, None] > cum).sum(axis=1)
    return np.array(levels, dtype=object)[np.minimum(idx, len(levels) - 1)]


def _apply_missingness_v2(rng: np.random.Generator, df: pd.DataFrame, cols) -> None:
    n = len(df)
    for col in cols:
        mask = rng.random(n) < MISSING_V2[col]
        df[col] = df[col].astype(object)
        df.loc[mask, col] = None


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


# The restaging likelihoods are functions of the appearance a only. They are tabulated on a fixed grid of a (every
# categorical reading once per (group, level), gathered per row; the residual size per row), and the expectation over
# the appearance error, a = s + u with u two-piece (kinked at mu; see ``appearance_error``), is a
# matrix product with that density on the grid of s (one kernel per regimen group: no ICI, ICI). A fixed grid of a
# (step 0.05) resolves the readings' likelihoods (their narrowest width is 1) whatever the spread of u, which a
# Gauss rule in u (the earlier method) could not once sd_down was several times a reading's width.
_A_GRID = np.arange(-90.0, 30.0, 0.05) + 0.025


@lru_cache(maxsize=1)
def _a_kernel() -> np.ndarray:
    """Density of a given s on the grids, groups x A x G, each column summing to 1 (P(a | s) per grid point)."""
    mu, sd_up, sd_down, floor = (x[:, None, None] for x in _appearance_params(np.array([False, True])))
    u = _A_GRID[None, :, None] - _S_GRID[None, None, :]  # groups x A x G
    k = appearance_density(u, mu, sd_up, sd_down, floor)
    return np.ascontiguousarray(k / k.sum(axis=1, keepdims=True))


def _ordinal_log_table(cuts, noise: float, shift=(0.0, 0.0)) -> np.ndarray:
    """log P(level | a) of the reading a + shift[group] + N(0, noise) cut at ``cuts``: groups x levels x A."""
    c = np.concatenate([[-np.inf], np.asarray(cuts, float), [np.inf]])
    a = _A_GRID[None, None, :] + np.asarray(shift, float)[:, None, None]
    cdf = ndtr((c[None, :, None] - a) / noise)
    return np.ascontiguousarray(np.log(np.clip(cdf[:, 1:] - cdf[:, :-1], 1e-300, 1.0)))


@lru_cache(maxsize=None)
def _reading_table(col: str) -> np.ndarray:
    spec = READINGS[col]
    return _ordinal_log_table(spec["cuts"], spec["noise"], _bed_shift(np.array([False, True])))


@lru_cache(maxsize=1)
def _ymr_n_table() -> np.ndarray:
    """log P(ymr_n_stage | a, cN): cN (N0, N1, N2) x groups x levels x A."""
    return np.stack([_ordinal_log_table(np.array(YMR_N["cuts"]) - YMR_N["shift"][cn], YMR_N["noise"])
                     for cn in ("N0", "N1", "N2")])


@lru_cache(maxsize=1)
def _ymr_emvi_table() -> np.ndarray:
    """log P(ymr_emvi | a) after a baseline EMVI: groups x (True, False) x A."""
    return _ordinal_log_table(YMR_EMVI["cuts"], YMR_EMVI["noise"])


@lru_cache(maxsize=1)
def _biopsy_done_table() -> np.ndarray:
    """log P(biopsy not done / done | a): groups x (not_done, done) x A (the same for both groups)."""
    p = np.broadcast_to(_biopsy_done_p(_A_GRID), (2, len(_A_GRID)))
    return np.ascontiguousarray(np.log(np.stack([1 - p, p], axis=1)))


def _level_index(values, levels) -> np.ndarray:
    """Index of each value in ``levels`` (-1 = blank or unknown)."""
    level_index = {lvl: i for i, lvl in enumerate(levels)}
    return np.array([level_index.get(_norm_level(v), -1) for v in values], dtype=int)


def _norm_level(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, bool):
        return int(v)
    return v


def _column(df: pd.DataFrame, col: str) -> np.ndarray:
    """A column as objects; all blank when the frame has none (a version-1 frame)."""
    return df[col].to_numpy(dtype=object) if col in df.columns else np.full(len(df), None, dtype=object)


def _numeric(df: pd.DataFrame, col: str) -> np.ndarray:
    return pd.to_numeric(pd.Series(_column(df, col)), errors="coerce").to_numpy(float)


def _add_gathered(ll_a: np.ndarray, table: np.ndarray, *index: np.ndarray) -> None:
    """ll_a[i] += table[index[0][i], index[1][i], ...] for rows whose last index is known (>= 0)."""
    known = index[-1] >= 0
    if known.any():
        ll_a[known] += table[tuple(ix[known] for ix in index)]


def _add_residual_loglik(ll_a: np.ndarray, mm: np.ndarray, length_cm: np.ndarray) -> None:
    """ll_a += log P(residual_lesion_mm rounded to whole mm | a, tumour length), for rows where it is recorded."""
    r = RESIDUAL
    known = np.flatnonzero(~np.isnan(mm) & ~np.isnan(length_cm) & (np.nan_to_num(length_cm) > 0))
    if not len(known):
        return
    k = np.round(mm[known])
    with np.errstate(divide="ignore"):
        lo = np.where(k <= 0, -np.inf, np.log(np.maximum(k - 0.5, 1e-300)))
        hi = np.where(k >= r["high"], np.inf, np.log(k + 0.5))
    centre = np.log(10 * length_cm[known]) + r["log_frac"]
    shift = (r["gamma"] / r["sd"]) * _A_GRID[None, :]
    z_lo = ((lo - centre) / r["sd"])[:, None] + shift
    z_hi = ((hi - centre) / r["sd"])[:, None] + shift
    # both bounds in the upper tail: reflect, P = Phi(-z_lo) - Phi(-z_hi) (no cancellation near 1)
    sign = np.where(z_lo > 0, -1.0, 1.0)
    p = sign * (ndtr(sign * z_hi) - ndtr(sign * z_lo))
    ll_a[known] += np.log(np.clip(p, 1e-300, 1.0))


def _lse_nodes(ll_a: np.ndarray, group: np.ndarray) -> np.ndarray:
    """log of the expectation over the appearance error given s: rows x A -> rows x G (``group``: 0 no ICI, 1 ICI)."""
    m = ll_a.max(axis=1, keepdims=True)
    e = np.exp(ll_a - m)
    out = np.empty((len(ll_a), len(_S_GRID)))
    kernel = _a_kernel()
    for g in (0, 1):
        rows = group == g
        if rows.any():
            out[rows] = e[rows] @ kernel[g]
    return m + np.log(np.maximum(out, 1e-300))


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

    Integrates over the latent score s on a grid, over the appearance on a grid of its own (step 0.05;
    the two-piece error's density as a kernel from s to a), and over missing covariates that enter eta (PD-L1, CEA baseline,
    ECOG, EMVI, lateral nodes, circumferential extent) by ``n_draws`` draws from the simulator's
    own generative distribution (those covariates are drawn independently of the others). The
    version-2 restaging columns (ymr_n_stage, ymr_emvi, residual_lesion_mm, restaging_biopsy)
    enter through their likelihoods given s and the appearance; a frame without them (version 1)
    is treated as if they were blank. The decision-context columns carry no information about s
    beyond the observed covariates and are ignored.
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
    """eta, log CEA baseline and baseline EMVI (1.0/0.0) for each row and draw (rows x draws); one draw if nothing is missing."""
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
    emvi = rep["emvi"].to_numpy(float).reshape(n, d)
    # rows with nothing missing: every draw is identical; keep them (cheap) for one code path
    return eta, log_cea, emvi


def _oracle_chunk(df: pd.DataFrame, regimen: np.ndarray, rng: np.random.Generator, n_draws: int):
    n = len(df)
    s = _S_GRID[None, :]  # 1 x G
    eta, log_cea, emvi_draws = _covariate_draws(df, regimen, rng, n_draws)  # n x D
    p_prior = expit(eta).mean(axis=1)

    # restaging: log-likelihood on the grid of the appearance a, then integrated over a given s (two kernels: no ICI, ICI)
    group = (df["immunotherapy"].to_numpy() != "none").astype(int)
    ll_a = np.zeros((n, len(_A_GRID)))
    for col, spec in READINGS.items():
        _add_gathered(ll_a, _reading_table(col), group, _level_index(df[col].to_numpy(dtype=object), spec["levels"]))
    # version 2: restaging nodes given baseline cN (a blank cN: no term; the simulator never blanks it)
    cn = _level_index(_column(df, "cn_stage"), ("N0", "N1", "N2"))
    ymr_n = np.where(cn >= 0, _level_index(_column(df, "ymr_n_stage"), YMR_N["levels"]), -1)
    _add_gathered(ll_a, _ymr_n_table(), np.maximum(cn, 0), group, ymr_n)
    # residual lesion size, scaled with the baseline tumour length
    _add_residual_loglik(ll_a, _numeric(df, "residual_lesion_mm"), _numeric(df, "tumour_length_cm"))
    # biopsy done or not (a); its result depends on s itself (ll_s below)
    biopsy = _level_index(_column(df, "restaging_biopsy"), ("not_done", "negative", "positive"))
    _add_gathered(ll_a, _biopsy_done_table(), group, np.where(biopsy >= 0, np.minimum(biopsy, 1), -1))
    # ymr_emvi: P(. | a) after a baseline EMVI, a constant (baseline miss) without one; when the
    # baseline EMVI is blank, the likelihood depends on its draw (handled per draw below)
    y_emvi = _level_index(_column(df, "ymr_emvi"), YMR_EMVI["levels"])
    emvi0 = np.array([np.nan if _norm_level(v) is None else float(_norm_level(v)) for v in _column(df, "emvi")])
    log_p0 = np.log(np.array([YMR_EMVI["p_without_baseline"], 1 - YMR_EMVI["p_without_baseline"]]))
    with_baseline = (emvi0 == 1) & (y_emvi >= 0)
    _add_gathered(ll_a, _ymr_emvi_table(), group, np.where(with_baseline, y_emvi, -1))
    ll_restage = _lse_nodes(ll_a, group)  # n x G
    ambiguous = np.isnan(emvi0) & (y_emvi >= 0)
    if ambiguous.any():
        amb = np.flatnonzero(ambiguous)
        ll_emvi1 = _lse_nodes(ll_a[amb] + _ymr_emvi_table()[group[amb], y_emvi[amb]], group[amb])
        ll_emvi0 = ll_restage[amb] + log_p0[y_emvi[amb]][:, None]
    no_baseline = (emvi0 == 0) & (y_emvi >= 0)
    ll_restage[no_baseline] += log_p0[y_emvi[no_baseline]][:, None]  # a constant: kept for clarity
    if ambiguous.any():
        ll_restage[amb] = ll_emvi0

    # biopsy result given s: positive only with residual tumour (s < 0), with limited sensitivity
    sens = BIOPSY["sensitivity"]
    residual = (_S_GRID < 0)[None, :]
    ll_s = np.zeros((n, s.shape[1]))
    ll_s[biopsy == 1] = np.log(np.where(residual, 1 - sens, 1.0))
    ll_s[biopsy == 2] = np.where(residual, np.log(sens), -np.inf)

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
        mean = _ctdna_log_mean(log_c1, s, p)
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
    log_joint = log_prior + ll_cea + (ll_restage + ll_ct + ll_s)[:, None, :]  # n x D x G
    if ambiguous.any():  # blank baseline EMVI: ymr_emvi's likelihood follows each draw of it
        log_joint[amb] += np.where(emvi_draws[amb][:, :, None] == 1, (ll_emvi1 - ll_emvi0)[:, None, :], 0.0)
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
    a = _draw_signals(rng, df, s)
    df["complete_response"] = s > 0
    emvi = df["emvi"].to_numpy(bool)  # before its blanks: ymr_emvi follows the true baseline EMVI
    _apply_missingness(rng, df)
    # version 2: drawn after every version-1 draw, so version-1 columns keep their values for a seed
    _draw_restaging_v2(rng, df, s, a, emvi)
    _apply_missingness_v2(rng, df, ("ymr_n_stage", "ymr_emvi", "residual_lesion_mm", "restaging_biopsy"))
    _draw_decision_context(rng, df)
    _apply_missingness_v2(rng, df, ("sphincter_involved", "fit_for_major_surgery", "patient_preference"))
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
