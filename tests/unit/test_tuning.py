"""Training tuned to its cohort (issue 16): the penalty and the tree count come from cross-validation, the
out-of-fold calibration decides a recalibration, and a version-1 cohort trains."""

from __future__ import annotations

import numpy as np
import pytest

from watchwait.artifacts import columns_of
from watchwait.metrics import classification_metrics
from watchwait.model import FusedPredictor, expit
from watchwait.schema import V2_COLUMNS
from watchwait.tuning import ALPHAS, calibration_fit, recalibration, tune


def _cohort(n: int, seed: int):
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.validation import validate_frame

    c = simulate(n, seed=seed)
    frame = validate_frame(to_csv_frame(c.frame))
    return frame, frame["complete_response"].to_numpy(bool), c.truth["p_oracle"].to_numpy(float)


@pytest.fixture(scope="module")
def fresh():
    return _cohort(2000, seed=505)


def test_calibration_fit_recovers_a_known_intercept_and_slope():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, 20_000)
    y = rng.random(len(z)) < expit(0.5 + 0.7 * z)
    c = calibration_fit(y, z)
    assert c["intercept"] == pytest.approx(0.5, abs=0.06) and c["slope"] == pytest.approx(0.7, abs=0.04)
    lo, hi = c["slope_ci95"]
    assert lo < 0.7 < hi and hi - lo < 0.1
    from sklearn.linear_model import LogisticRegression

    ref = LogisticRegression(penalty=None, tol=1e-10, max_iter=1000).fit(z[:, None], y)
    assert c["slope"] == pytest.approx(float(ref.coef_[0, 0]), abs=1e-5)
    assert c["intercept"] == pytest.approx(float(ref.intercept_[0]), abs=1e-5)


def test_a_small_cohort_gets_a_stronger_penalty_and_a_calibrated_model(fresh):
    """400 patients: the default settings (set for 20,000) are overconfident on fresh patients; the tuned model
    chooses a stronger penalty and is calibrated (slope near 1) and closer to the true probability."""
    frame, y, _ = _cohort(400, seed=77)
    te, y_te, oracle = fresh
    cols = columns_of(frame)
    tuned = tune(cols, y, [], seed=0)
    assert tuned["alpha"] > FusedPredictor.alpha and tuned["alpha"] in ALPHAS
    assert tuned["alpha_logloss"][tuned["alpha_grid"].index(tuned["alpha"])] == min(tuned["alpha_logloss"])
    assert tuned["folds"] == 15  # 5 folds x 3 repeats below 1,000 patients
    default = FusedPredictor(n_members=0, masked_copies=1.0).fit(cols, y)
    chosen = FusedPredictor(n_members=0, masked_copies=1.0, alpha=tuned["alpha"], trees=tuned["trees"]).fit(cols, y)
    chosen.update_ = recalibration(tuned)
    X = default.matrix(columns_of(te))
    m_default = classification_metrics(y_te, default.predict_proba(X))
    m_chosen = classification_metrics(y_te, chosen.predict_proba(chosen.matrix(columns_of(te))))
    assert m_default["calibration_slope"] < 0.85  # the problem issue 16 measured
    assert 0.85 <= m_chosen["calibration_slope"] <= 1.2
    gap_default = np.mean(np.abs(default.predict_proba(X) - oracle))
    gap_chosen = np.mean(np.abs(chosen.predict_proba(chosen.matrix(columns_of(te))) - oracle))
    assert gap_chosen < gap_default


def test_an_overfitted_setting_is_recalibrated_and_says_why():
    frame, y, _ = _cohort(300, seed=8)
    tuned = tune(columns_of(frame), y, [], seed=0, alphas=(1e-3,), max_trees=300)
    c = tuned["oof_calibration"]
    assert c["slope_ci95"][1] < 1.0 and tuned["recalibrate"] is not None
    u = recalibration(tuned)
    assert u.method == "recalibration after training" and 0 < u.slope < 1
    assert u.reason.startswith(f"out-of-fold calibration slope {c['slope']:.2f} (95% CI")
    assert "excludes 1" in u.reason


def test_a_version_1_cohort_trains(tmp_path):
    """A cohort without the version-2 restaging columns trained to a traceback in the gradient-boosting peer
    (an all-blank column); it trains, and its model uses no version-2 input."""
    from watchwait.training import save_model, train

    frame, _, _ = _cohort(700, seed=12)
    v1 = frame.drop(columns=[c for c in frame.columns if c in V2_COLUMNS])
    bundle = train(v1, seed=0, n_members=2, tune=False)
    used = {s for f in bundle.predictor.features_ for s in f.sources}
    assert not used & set(V2_COLUMNS)
    assert set(bundle.card["metrics_held_out"]) >= {"fused", "peer_logistic", "peer_hgb"}
    assert bundle.card["metrics_held_out"]["peer_hgb"]["auc"] > 0.7
    save_model(bundle, tmp_path / "m")


def test_the_residual_size_is_a_feature_without_the_tumour_length(sample_records):
    """Where the tumour length is blank, the residual lesion still reaches the model (issue 16)."""
    from watchwait.artifacts import load_model
    from watchwait.derive import columns_from_record

    P = load_model().predictor
    names = [f.name for f in P.features_]
    j = names.index("restaging__residual_log")
    r = dict(sample_records["DEMO-13"], tumour_length_cm=None, residual_lesion_mm=15)
    x = P.matrix(columns_from_record(r))[0]
    assert x[j] == pytest.approx(np.log(16))
    assert np.isnan(x[names.index("restaging__residual_rel_log")])
    bigger = P.predict_proba(P.matrix(columns_from_record(dict(r, residual_lesion_mm=40))))[0]
    assert bigger <= P.predict_proba(P.matrix(columns_from_record(r)))[0]


def test_every_recorded_input_reaches_the_model_on_its_own(sample_records):
    """Issue 16: every input the shipped model reads gives it a feature that exists when that input is recorded, even
    with every other optional field blank (the residual size without the tumour length, one part of the regimen
    without the others, PD-L1 without the immunotherapy field)."""
    from watchwait.artifacts import load_model
    from watchwait.derive import columns_from_record
    from watchwait.schema import BY_NAME, REQUIRED

    P = load_model().predictor
    base = sample_records["DEMO-01"]
    blank = {k: (base[k] if k in REQUIRED else None) for k in base}
    lost = []
    for c in sorted({s for f in P.features_ for s in f.sources} - set(REQUIRED)):
        field = BY_NAME.get(c)
        if field is None:  # a radiomic column
            values = (100.0, 5000.0)
        elif field.kind == "category":
            values = tuple(field.categories[:2])
        elif field.kind == "boolean":
            values = (False, True)
        else:
            values = (field.low if field.low is not None else 0.0, (field.high if field.high is not None else 10.0) / 2)
        X = np.vstack([P.matrix(columns_from_record(dict(blank, **{c: v})))[0] for v in values])
        if np.allclose(X[0], X[1], equal_nan=True):
            lost.append(c)
    assert lost == []
