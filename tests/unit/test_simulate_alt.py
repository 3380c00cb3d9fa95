"""The second generator (watchwait.sim.alt): valid version-2 columns, an exact and calibrated oracle, and the
structure that makes it a different test from watchwait.sim (a second latent factor, MAR blanks)."""
import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr
from sklearn.metrics import roc_auc_score

from watchwait.sim import alt as A
from watchwait.schema import BY_NAME, V2_COLUMNS
from watchwait.sim import to_csv_frame
from watchwait.validation import validate_frame


@pytest.fixture(scope="module")
def big():
    """20,000 patients without the oracle: rates and structure."""
    return A.simulate(20_000, seed=7, with_oracle=False)


@pytest.fixture(scope="module")
def with_oracle():
    return A.simulate(3000, seed=8)


def test_columns_are_the_data_dictionary_and_validate(big):
    f = big.frame
    typed = validate_frame(to_csv_frame(f))  # raises on any bad cell
    assert len(typed) == len(f)
    assert {"ymr_n_stage", "ymr_emvi", "residual_lesion_mm", "restaging_biopsy", "sphincter_involved",
            "fit_for_major_surgery", "patient_preference"} <= set(f.columns) & set(V2_COLUMNS)
    for col in ("endoscopy", "dre", "ymr_n_stage", "restaging_biopsy", "ct_stage", "cn_stage", "immunotherapy"):
        assert set(f[col].dropna()) <= set(BY_NAME[col].categories), col
    for col in ("endoscopy", "dre", "ymr_n_stage", "restaging_biopsy"):
        assert set(f[col].dropna()) == set(BY_NAME[col].categories), col
    assert f["complete_response"].dtype == bool


@pytest.mark.slow
def test_oracle_is_calibrated_by_quintile(with_oracle):
    y = with_oracle.frame["complete_response"].to_numpy(bool)
    p = with_oracle.truth["p_oracle"].to_numpy()
    assert abs(p.mean() - y.mean()) < 0.02
    edges = np.quantile(p, [0.2, 0.4, 0.6, 0.8])
    q = np.searchsorted(edges, p)
    for b in range(5):
        m = q == b
        se = np.sqrt(p[m].mean() * (1 - p[m].mean()) / m.sum())
        assert abs(p[m].mean() - y[m].mean()) < 4 * se + 0.01, b
    assert roc_auc_score(y, p) > roc_auc_score(y, with_oracle.truth["p_prior"]) + 0.1
    assert 0.88 <= roc_auc_score(y, p) <= 0.96


def test_oracle_without_signals_equals_the_prior_exactly():
    c = A.simulate(300, seed=5, with_oracle=False)
    f = c.frame.copy()
    for col in ("endoscopy", "dre", "mr_trg", "dwi_restriction", "cea_post_ng_ml", "ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml",
                "ctdna_post_treatment_mtm_ml", "ymr_n_stage", "ymr_emvi", "residual_lesion_mm", "restaging_biopsy"):
        f[col] = None
    keep = f["pdl1_cps"].notna().to_numpy() & f["ecog"].notna().to_numpy() & f["emvi"].notna().to_numpy()
    p = A.oracle(f[keep].reset_index(drop=True), c.truth["regimen"].to_numpy()[keep])
    assert np.allclose(p, c.truth["p_prior"].to_numpy()[keep], atol=1e-3)  # Phi(eta / sigma), by grid integration


def test_oracle_sums_out_blank_covariates():
    """A blank ECOG, EMVI or PD-L1 (no signal recorded) gives the prior averaged over that covariate's distribution."""
    c = A.simulate(200, seed=6, with_oracle=False)
    f = c.frame.copy()
    for col in ("endoscopy", "dre", "mr_trg", "dwi_restriction", "cea_post_ng_ml", "ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml",
                "ctdna_post_treatment_mtm_ml", "ymr_n_stage", "ymr_emvi", "residual_lesion_mm", "restaging_biopsy"):
        f[col] = None
    f["ecog"], f["emvi"], f["pdl1_cps"], f["pdl1_tps_pct"] = 1, False, None, None
    reg = c.truth["regimen"].to_numpy()
    got = A.oracle(f, reg)
    rng = np.random.default_rng(0)
    z = rng.normal(size=20_000)
    d = f.assign(regimen=reg)
    expected = []
    for i in range(5):
        rows = d.iloc[[i] * len(z)].reset_index(drop=True)
        rows["pdl1_cps"] = A._cps_from_z(z)
        expected.append(ndtr(A.linear_predictor(rows) / A.SIGMA_E).mean())
    assert np.allclose(got[:5], expected, atol=4e-3)  # quadrature vs Monte Carlo over PD-L1


def test_regimen_rates_near_targets(big):
    y = big.frame["complete_response"].to_numpy(bool)
    for name, spec in A.REGIMENS.items():
        m = (big.truth["regimen"] == name).to_numpy()
        assert abs(y[m].mean() - spec["target"]) < 0.035, name


def test_signals_are_not_conditionally_independent_given_the_response(big):
    """Through the second factor f, CEA at assessment and the MRI grade stay correlated among patients with the same s."""
    f, t = big.frame, big.truth
    s = t["latent_score"].to_numpy()
    band = np.abs(s - 1.0) < 0.25
    cea = np.log(pd.to_numeric(f["cea_post_ng_ml"], errors="coerce").to_numpy(float))
    base = np.log(pd.to_numeric(f["cea_baseline_ng_ml"], errors="coerce").to_numpy(float))
    trg = pd.to_numeric(f["mr_trg"], errors="coerce").to_numpy(float)
    ok = band & ~np.isnan(cea) & ~np.isnan(trg)
    resid = cea[ok] - np.polyval(np.polyfit(base[ok], cea[ok], 1), base[ok])
    r = np.corrcoef(resid, trg[ok])[0, 1]
    assert r > 0.08  # worse-looking MRI goes with higher CEA at a given response
    # and the factor is what links them: given f too, the correlation is gone
    ff = t["second_factor"].to_numpy()[ok]
    r_f = np.corrcoef(resid - np.polyval(np.polyfit(ff, resid, 1), ff), trg[ok] - np.polyval(np.polyfit(ff, trg[ok], 1), ff))[0, 1]
    assert abs(r_f) < 0.05


def test_missingness_is_at_random_on_recorded_columns(big):
    f = big.frame
    ici = (f["immunotherapy"] != "none").to_numpy()
    untested = f["ctdna_baseline_mtm_ml"].isna().to_numpy()
    assert untested[~ici].mean() > untested[ici].mean() + 0.2  # tested more often under immunotherapy
    high = pd.to_numeric(f["distance_from_anal_verge_cm"]).to_numpy() > 8
    assert f["dre"].isna().to_numpy()[high].mean() > 0.4 > f["dre"].isna().to_numpy()[~high].mean()
    # a positive biopsy only with residual tumour
    y = f["complete_response"].to_numpy(bool)
    assert not ((f["restaging_biopsy"] == "positive").to_numpy() & y).any()
    # C3 almost never detectable in a true responder, often in a non-responder
    c3 = pd.to_numeric(f["ctdna_post_treatment_mtm_ml"], errors="coerce").to_numpy(float)
    tested = ~np.isnan(c3)
    assert (c3[tested & y] > 0).mean() < 0.04 < 0.15 < (c3[tested & ~y] > 0).mean()


def test_same_seed_same_cohort():
    a, b = A.simulate(200, seed=3), A.simulate(200, seed=3)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert np.array_equal(a.truth["p_oracle"], b.truth["p_oracle"])


@pytest.mark.slow
def test_oracle_obeys_every_direction_of_the_evidence():
    """The truth of this generator respects the clinical directions the model is constrained to (watchwait.directions):
    the second factor explains away, but never enough to turn better evidence into a lower probability."""
    from watchwait.directions import DIRECTIONS
    from watchwait.validation import frame_to_records

    c = A.simulate(300, seed=12)
    frame = validate_frame(to_csv_frame(c.frame))
    records = frame_to_records(frame)
    reg = c.truth["regimen"].to_numpy()
    base = c.truth["p_oracle"].to_numpy()
    seen = 0
    for d in DIRECTIONS:
        rows = [i for i, r in enumerate(records) if d.applies(r)]
        if not rows:
            continue
        better = validate_frame(to_csv_frame(pd.DataFrame([d.better(records[i]) for i in rows])))
        p = A.oracle(better, reg[rows])
        assert (p >= base[rows] - 1e-6).all(), d.id
        seen += len(rows)
    assert seen > 500
