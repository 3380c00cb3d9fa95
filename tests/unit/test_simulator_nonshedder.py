"""A ctDNA non-shedder (not detected before treatment) gains nothing from "not detected" later (issue 17): in the
simulator their C2/C3 carry no information about the response, and the model's C2/C3 features are blank for them,
so their probability is the same whether C2/C3 read 0 or were never taken."""
from __future__ import annotations

import numpy as np
import pytest

from watchwait.features import BASE_FEATURES, feature_matrix, non_shedder
from watchwait.sim import oracle, simulate, to_csv_frame
from watchwait.training import columns_of
from watchwait.validation import validate_frame

LATER = ("ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml")


def test_simulated_non_shedders_are_never_detected_later(sim20k):
    f = sim20k.frame
    c1 = f["ctdna_baseline_mtm_ml"].to_numpy(float)
    non = c1 == 0
    assert 0.18 <= non[~np.isnan(c1)].mean() <= 0.28  # 23-25% not detected at baseline (Tie, Zhou)
    for col in LATER:
        later = f[col].to_numpy(float)
        tested = non & ~np.isnan(later)
        assert tested.sum() > 1000 and (later[tested] == 0).all()  # 0 whatever the response: no information


def test_the_oracle_ignores_a_non_shedders_later_results():
    c = simulate(400, seed=17, with_oracle=False)
    f = c.frame
    non = (f["ctdna_baseline_mtm_ml"].to_numpy(float) == 0)
    rows = f[non].reset_index(drop=True)
    regimen = c.truth["regimen"].to_numpy()[non]
    zero, _ = oracle(rows.assign(**{col: 0.0 for col in LATER}), regimen, np.random.default_rng(0))
    blank, _ = oracle(rows.assign(**{col: None for col in LATER}), regimen, np.random.default_rng(0))
    np.testing.assert_array_equal(zero, blank)


def test_c2_c3_features_are_blank_for_a_non_shedder_only():
    feats = tuple(f for f in BASE_FEATURES if f.name.startswith(("blood__ctdna_c2", "blood__ctdna_c3")))
    assert len(feats) == 8
    cols = {"ctdna_baseline_mtm_ml": np.array([0.0, 0.0, 5.0, 5.0, np.nan]),
            "ctdna_post_rt_mtm_ml": np.array([0.0, np.nan, 0.0, np.nan, 0.0]),
            "ctdna_post_treatment_mtm_ml": np.array([0.0, np.nan, 0.0, np.nan, 0.0])}
    m = feature_matrix(feats, cols)
    assert np.isnan(m[:2]).all()  # non-shedder: "not detected" and "not tested" alike, blank
    assert not np.isnan(m[2:]).any()  # a shedder, or C1 not tested: never blank
    assert not np.array_equal(m[2], m[3])  # a shedder's "not detected" still differs from "not tested"
    assert non_shedder(cols["ctdna_baseline_mtm_ml"]).tolist() == [True, True, False, False, False]


@pytest.mark.slow
def test_a_non_shedders_probability_is_the_same_with_c2_c3_zero_or_blank(small_model):
    _, bundle = small_model
    predictor = bundle.predictor
    c = simulate(60, seed=23, with_oracle=False)
    frame = validate_frame(to_csv_frame(c.frame))
    frame["ctdna_baseline_mtm_ml"] = 0.0  # every patient a non-shedder, tested at baseline
    zero = frame.assign(**{col: 0.0 for col in LATER})
    blank = frame.assign(**{col: np.nan for col in LATER})
    p_zero = predictor.predict_proba(predictor.matrix(columns_of(zero)))
    p_blank = predictor.predict_proba(predictor.matrix(columns_of(blank)))
    np.testing.assert_array_equal(p_zero, p_blank)
    # a shedder's "not detected" is still evidence: the same patients with C1 = 5 MTM/mL do move
    shed = frame.assign(ctdna_baseline_mtm_ml=5.0)
    p_shed_zero = predictor.predict_proba(predictor.matrix(columns_of(shed.assign(**{col: 0.0 for col in LATER}))))
    p_shed_blank = predictor.predict_proba(predictor.matrix(columns_of(shed.assign(**{col: np.nan for col in LATER}))))
    assert np.abs(p_shed_zero - p_shed_blank).max() > 0.01
