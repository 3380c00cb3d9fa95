"""The simulator reproduces the published targets (../shared/clinical/calibration.md), and its oracle is exact."""
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from watchwait.derive import response_category
from watchwait.sim import oracle, simulate, to_csv_frame
from watchwait.training import columns_of
from watchwait.validation import validate_frame


@pytest.fixture(scope="module")
def typed(sim20k):
    return validate_frame(to_csv_frame(sim20k.frame))


@pytest.fixture(scope="module")
def y(sim20k):
    return sim20k.frame["complete_response"].to_numpy(bool)


# published ranges (calibration.md section 1)
@pytest.mark.parametrize("regimens,low,high", [
    (["crt"], 0.12, 0.20),  # LCRT then TME: 11.7-20% pCR
    (["tnt_scrt", "tnt_lcrt_consolidation", "tnt_induction"], 0.20, 0.33),  # TNT 25-30% (17-32.7%)
    (["itnt_scrt_consolidation", "itnt_scrt_induction"], 0.45, 0.57),  # immunotherapy TNT, SCRT first
])
def test_regimen_cr_rates(sim20k, y, regimens, low, high):
    rate = y[sim20k.truth["regimen"].isin(regimens).to_numpy()].mean()
    assert low <= rate <= high


def test_pdl1_raises_cr_only_under_immunotherapy(sim20k, y):
    f = sim20k.frame
    cps = pd.to_numeric(f["pdl1_cps"]).to_numpy(float)
    ici = (f["immunotherapy"] != "none").to_numpy()
    hi, lo = cps >= 5, cps < 5
    assert y[ici & hi].mean() - y[ici & lo].mean() > 0.08
    assert abs(y[~ici & hi].mean() - y[~ici & lo].mean()) < 0.04


def test_clinical_assessment_accuracy(typed, y, sim20k):
    cat = response_category(columns_of(typed))
    ici = (sim20k.frame["immunotherapy"] != "none").to_numpy()
    known = cat != "not_assessed"
    ccr = cat == "cCR"
    # under immunotherapy (CR prevalence ~0.5, that of OPRA): P(TR|cCR) ~0.8, P(TR|not cCR) ~0.3
    assert 0.74 <= y[ici & ccr].mean() <= 0.86
    assert 0.25 <= y[ici & known & ~ccr].mean() <= 0.38
    # pseudo-residual disease commoner after immunotherapy (TORCH 34.2% vs OPRA 10%)
    assert y[ici & known & ~ccr].mean() > 2 * y[~ici & known & ~ccr].mean()


def _auc(y, x):
    x = np.asarray(x, float)
    ok = ~np.isnan(x)
    return roc_auc_score(y[ok], x[ok])


def test_single_signal_aucs_in_published_ranges(typed, y):
    f = typed
    assert 0.65 <= _auc(y, -f["mr_trg"]) <= 0.73  # MRI alone
    endo = f["endoscopy"].map({"complete": 0, "near_complete": 1, "incomplete": 2}).astype(float)
    assert 0.67 <= _auc(y, -endo) <= 0.76
    shed = (f["ctdna_baseline_mtm_ml"] > 0).to_numpy()
    fold = np.log10((f["ctdna_post_rt_mtm_ml"] + 0.01) / (f["ctdna_baseline_mtm_ml"] + 0.01)).to_numpy()
    assert 0.78 <= _auc(y[shed], -fold[shed]) <= 0.87  # on-treatment ctDNA among baseline-detected: ~0.82-0.85


def test_post_treatment_ctdna_almost_never_detectable_in_true_responders(typed, y):
    c3 = typed["ctdna_post_treatment_mtm_ml"].to_numpy(float)
    tested = ~np.isnan(c3)
    assert (c3[tested & y] > 0).mean() < 0.02
    assert 0.06 <= (c3[tested] > 0).mean() <= 0.16  # 8.3-10.5% overall (Tie, Zhou)
    assert 0.72 <= (typed["ctdna_baseline_mtm_ml"].dropna() > 0).mean() <= 0.82  # 75-77% at baseline


def test_clinical_prior_discrimination_like_baseline_nomograms(sim20k, y):
    assert 0.70 <= roc_auc_score(y, sim20k.truth["p_prior"]) <= 0.84


def test_oracle_without_signals_equals_prior_exactly():
    c = simulate(300, seed=5, with_oracle=False)
    f = c.frame.copy()
    # every signal blank, version-2 restaging included; the decision-context columns stay as drawn
    # (they carry nothing about the response beyond the covariates, so the oracle ignores them)
    for col in ("endoscopy", "dre", "mr_trg", "dwi_restriction", "cea_post_ng_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml",
                "ymr_n_stage", "ymr_emvi", "residual_lesion_mm", "restaging_biopsy",
                "pdl1_cps", "pdl1_tps_pct", "cea_baseline_ng_ml", "ecog", "emvi", "lateral_nodes", "circumferential_extent_pct"):
        f[col] = None
    assert f["patient_preference"].notna().any() and f["fit_for_major_surgery"].notna().any()
    f["pdl1_cps"], f["pdl1_tps_pct"] = c.frame["pdl1_cps"], c.frame["pdl1_tps_pct"]
    keep = f["pdl1_cps"].notna().to_numpy()
    f["cea_baseline_ng_ml"] = 3.0
    for col, v in (("ecog", 0), ("emvi", False), ("lateral_nodes", False), ("circumferential_extent_pct", 50.0)):
        f[col] = v
    post, prior = oracle(f[keep].reset_index(drop=True), c.truth["regimen"].to_numpy()[keep])
    assert np.allclose(post, prior, atol=2e-3)  # grid integration of the logistic prior


def test_oracle_is_calibrated_and_beats_the_prior():
    c = simulate(3000, seed=8)
    assert c.frame["ymr_n_stage"].notna().any() and c.frame["restaging_biopsy"].notna().any()  # version-2 signals in play
    y = c.frame["complete_response"].to_numpy(bool)
    p = c.truth["p_oracle"].to_numpy()
    assert abs(p.mean() - y.mean()) < 0.02
    bins = np.clip((p * 5).astype(int), 0, 4)
    for b in range(5):
        m = bins == b
        if m.sum() > 100:
            se = np.sqrt(p[m].mean() * (1 - p[m].mean()) / m.sum())
            assert abs(p[m].mean() - y[m].mean()) < 4 * se + 0.01
    assert roc_auc_score(y, p) > roc_auc_score(y, c.truth["p_prior"]) + 0.1
