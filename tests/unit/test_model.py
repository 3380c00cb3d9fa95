"""Fused predictor: exact SHAP, intervals that widen with missing inputs, verified artifacts."""
import json
import shutil

import numpy as np
import pytest

from watchwait import ModelArtifactError, RecordError
from watchwait.engine import assess
from watchwait.training import load_model


def test_shap_sums_exactly_to_the_probability(small_model, sample_records):
    _, bundle = small_model
    a = assess(sample_records["DEMO-01"], model=bundle)
    logit = np.log(a.probability / (1 - a.probability))
    base = np.log(a.base_probability / (1 - a.base_probability))
    assert base + sum(c.shap_logit for c in a.contributions) == pytest.approx(logit, abs=1e-9)
    assert sum(c.shap_pp for c in a.contributions) == pytest.approx(100 * (a.probability - a.base_probability), abs=1e-9)
    assert sum(m["shap_pp"] for m in a.modality_contributions.values()) == pytest.approx(100 * (a.probability - a.base_probability), abs=1e-9)
    assert {c.feature.split("__")[0] for c in a.contributions} == {c.modality for c in a.contributions}
    # the probability is the model's own prediction
    X = bundle.predictor.matrix({k: np.array([v], dtype=object if isinstance(v, str) or v is None else float) for k, v in a.record.items()})
    assert a.probability == pytest.approx(float(bundle.predictor.predict_proba(X)[0]), abs=1e-9)


def test_missing_modality_still_answers_and_widens_interval(small_model, sample_records):
    _, bundle = small_model
    rec = dict(sample_records["DEMO-01"])
    full = assess(rec, model=bundle)
    for c in ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml", "cea_baseline_ng_ml", "cea_post_ng_ml"):
        rec[c] = None
    masked = assess(rec, model=bundle)
    assert masked.probability is not None and "blood" in masked.missing_modalities
    assert (masked.interval[1] - masked.interval[0]) > (full.interval[1] - full.interval[0])
    nothing = assess({"patient_id": "Z", "mmr_status": "pMMR"}, model=bundle)
    assert nothing.probability is not None and nothing.interval[1] - nothing.interval[0] > 0.5


def test_held_out_metrics_compare_with_oracle_and_baselines(small_model):
    _, bundle = small_model
    m = bundle.card["metrics_held_out"]
    assert {"fused", "oracle", "clinical_nomogram", "blood_only", "restaging_only", "immune_only", "clinical_only"} <= set(m)
    assert m["fused"]["auc"] > m["clinical_nomogram"]["auc"] + 0.05
    assert m["fused"]["auc"] <= m["oracle"]["auc"] + 0.03
    cov = bundle.card["interval_coverage_held_out"]
    assert 0.80 <= cov["coverage"] <= 0.97  # 150 patients: wide tolerance; the benchmark measures 5,000


def test_tampered_artifact_is_refused(small_model, tmp_path):
    path, _ = small_model
    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    with open(bad / "model.joblib", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ModelArtifactError, match=r"model.joblib: sha256 .* does not match the model card"):
        load_model(bad)


def test_other_library_version_is_refused(small_model, tmp_path):
    path, _ = small_model
    other = tmp_path / "other"
    shutil.copytree(path, other)
    card = json.loads((other / "model_card.json").read_text())
    card["environment"]["libraries"]["scikit-learn"] = "1.2.0"
    (other / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelArtifactError, match=r"built with scikit-learn 1.2.0, but 1\.9\.\d+ is installed"):
        load_model(other)


def test_shipped_model_loads_and_says_synthetic():
    bundle = load_model()
    assert bundle.card["training_data"]["synthetic"] is True
    assert "Synthetic training data" in (bundle.path / "model_card.md").read_text()


def test_invalid_record_raises_project_error(small_model):
    _, bundle = small_model
    with pytest.raises(RecordError, match="mr_trg must be a whole number from 1 to 5; got 7 instead."):
        assess({"patient_id": "X", "mmr_status": "pMMR", "mr_trg": 7}, model=bundle)


def test_compiled_tree_kernels_equal_scikit_learn_exactly(small_model):
    from watchwait.model import _ensemble_raw, _ensemble_raw_parallel, _fast_trees

    _, bundle = small_model
    P = bundle.predictor
    X = np.ascontiguousarray(np.vstack([P.donors_] * 3))
    X[::7, 3] = np.nan  # missing values take the learned side
    for m in [P.model_, *P.members_]:
        t = _fast_trees(m)
        args = (t.roots, t.feature, t.threshold, t.missing_left, t.left, t.right, t.leaf, t.value, t.baseline)
        ref = m.decision_function(X)
        assert np.array_equal(_ensemble_raw(X, *args), ref)
        assert np.array_equal(_ensemble_raw_parallel(X, *args), ref)


def test_evidence_table_is_an_exact_copy_of_the_shared_one():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    shared = root.parent / "shared" / "clinical" / "evidence_trials.csv"
    if not shared.exists():
        pytest.skip("../shared is not next to this checkout")
    assert (root / "watchwait" / "data" / "evidence_trials.csv").read_bytes() == shared.read_bytes()


def test_runtime_artifact_predicts_like_the_full_model_and_is_hash_checked(small_model, tmp_path):
    import subprocess
    import sys

    from watchwait.engine import predict_frame
    from watchwait.simulate import simulate, to_csv_frame
    from watchwait.training import load_runtime
    from watchwait.validation import validate_frame

    path, bundle = small_model
    frame = validate_frame(to_csv_frame(simulate(300, seed=99, with_oracle=False).frame))
    full = predict_frame(frame, bundle)
    light = predict_frame(frame, load_runtime(path))
    assert full[["p_complete_response", "p_lower", "p_upper"]].equals(light[["p_complete_response", "p_lower", "p_upper"]])
    decision = ["category", "pathway", "flags", "rule_id", "conditional"]  # same numbers, so the same suggestion
    assert full[decision].equals(light[decision])
    # batch prediction does not need scikit-learn at all
    code = f"import sys; from watchwait.training import load_runtime; load_runtime({str(path)!r}); print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    with open(bad / "runtime.npz", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ModelArtifactError, match=r"runtime.npz: sha256 .* does not match the model card"):
        load_runtime(bad)
