"""Fused predictor: exact explanations, one evaluator per model, a conformal interval, verified artifacts."""
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


def test_missing_modality_still_answers_with_an_interval_around_it(small_model, sample_records):
    _, bundle = small_model
    rec = dict(sample_records["DEMO-01"])
    for c in ("ctdna_baseline_mtm_ml", "ctdna_post_rt_mtm_ml", "ctdna_post_treatment_mtm_ml", "cea_baseline_ng_ml", "cea_post_ng_ml"):
        rec[c] = None
    masked = assess(rec, model=bundle)
    assert masked.probability is not None and "blood" in masked.missing_modalities
    assert 0 <= masked.interval[0] <= masked.probability <= masked.interval[1] <= 1
    nothing = assess({"patient_id": "Z", "mmr_status": "pMMR"}, model=bundle)
    assert set(nothing.missing_modalities) >= {"blood", "immune", "restaging"}
    assert nothing.interval[0] <= nothing.probability <= nothing.interval[1]


def test_held_out_metrics_compare_with_oracle_and_baselines(small_model):
    _, bundle = small_model
    m = bundle.card["metrics_held_out"]
    assert {"fused", "oracle", "clinical_nomogram", "peer_logistic", "peer_hgb", "blood_only", "restaging_only", "immune_only",
            "clinical_only"} <= set(m)
    assert m["fused"]["auc"] > m["clinical_nomogram"]["auc"] + 0.05
    assert m["fused"]["auc"] <= m["oracle"]["auc"] + 0.03
    assert m["fused"]["mean_abs_gap_to_oracle"] < m["peer_logistic"]["mean_abs_gap_to_oracle"]
    cov = bundle.card["interval_coverage_held_out"]
    assert 0.75 <= cov["coverage"] <= 0.99  # 150 calibration + 150 measured patients: wide; bench_quality measures 5,000
    assert "Mondrian split-conformal" in cov["method"] and "crepes" in cov["method"]


def test_each_branch_alone_is_also_measured_among_patients_with_its_data(small_model):
    """Issue 17: a branch few patients have (radiomics) looked near chance over every held-out patient while it moved
    the patients who have it by tens of points; the card gives each branch's AUC among those with its data, beside the
    published figures."""
    path, bundle = small_model
    m = bundle.card["metrics_held_out"]
    n_held_out = bundle.card["training_data"]["n_held_out"]  # both halves: the branch models never see the interval's
    for key in ("clinical_only", "blood_only", "restaging_only", "immune_only"):
        assert 0 < m[key]["n_with_data"] <= n_held_out, key
        assert m[key]["auc_with_data"] is None or 0 <= m[key]["auc_with_data"] <= 1, key
    assert m["clinical_only"]["n_with_data"] == n_held_out  # staging and treatment are always recorded
    assert m["immune_only"]["n_with_data"] < 0.8 * n_held_out  # PD-L1 is blank for ~40%
    rows = {r["branch"]: r for r in bundle.card["separability_vs_published"]}
    assert {"clinical", "blood", "restaging", "immune"} <= set(rows)
    assert rows["restaging"]["auc_alone_with_data"] == m["restaging_only"]["auc_with_data"]
    assert rows["immune"]["verdict"] is None  # no published AUC for PD-L1
    text = (path / "model_card.md").read_text()
    assert "## Where the simulated cohort is more separable than published data" in text
    assert "MRI alone 0.65-0.73" in text


def test_tampered_artifact_is_refused(small_model, tmp_path):
    path, _ = small_model
    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    with open(bad / "arrays.npz", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ModelArtifactError, match=r"arrays.npz: sha256 .* does not match the model card"):
        load_model(bad)


def test_other_library_version_is_refused(small_model, tmp_path):
    path, _ = small_model
    other = tmp_path / "other"
    shutil.copytree(path, other)
    card = json.loads((other / "model_card.json").read_text())
    card["artifact"]["libraries"]["crepes"] = "0.8.0"
    (other / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelArtifactError, match=r"built with crepes 0.8.0, but 0\.9\.\d+ is installed"):
        load_model(other)


def test_shipped_model_loads_and_says_synthetic():
    bundle = load_model()
    assert bundle.card["training_data"]["synthetic"] is True
    assert "Synthetic training data" in (bundle.path / "model_card.md").read_text()


def test_invalid_record_raises_project_error(small_model):
    _, bundle = small_model
    with pytest.raises(RecordError, match="mr_trg must be a whole number from 1 to 5; got 7 instead."):
        assess({"patient_id": "X", "mmr_status": "pMMR", "mr_trg": 7}, model=bundle)


def test_spline_basis_is_scikit_learns_and_monotone(small_model):
    """One evaluator: the additive model's spline columns are scikit-learn's SplineTransformer (constant
    extrapolation) evaluated with scipy's BSpline, to 1e-12, and every basis column is non-decreasing."""
    from sklearn.preprocessing import SplineTransformer

    from watchwait.model import MonotoneGAM

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.lognormal(0, 1, 400), [np.nan] * 10])
    gam = MonotoneGAM(knots=4)
    (term,) = gam.basis(x[:, None])
    assert term.kind == "spline" and term.missing
    grid = np.linspace(-5, 40, 500)
    D, _, indicator = MonotoneGAM.design(grid[:, None], [term])
    st = SplineTransformer(n_knots=4, degree=3, knots="quantile", extrapolation="constant").fit(x[~np.isnan(x)][:, None])
    ref = st.transform(grid[:, None])
    ref_tail = np.cumsum(ref[:, ::-1], axis=1)[:, ::-1][:, 1:]
    np.testing.assert_allclose(D[:, ~indicator], ref_tail, atol=1e-12)
    assert (np.diff(D[:, ~indicator], axis=0) >= -1e-12).all()


def test_trees_are_lightgbms_own_and_explanations_exact(small_model):
    """The trees are evaluated by LightGBM itself; additive terms + TreeSHAP sum to the logit for every row,
    and each tree uses one modality's features plus the treatment context (regimen, immunotherapy) only."""
    from watchwait.artifacts import columns_of
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.validation import validate_frame

    _, bundle = small_model
    P = bundle.predictor
    X = P.matrix(columns_of(validate_frame(to_csv_frame(simulate(300, seed=98, with_oracle=False).frame))))
    e = P.explain(X)
    np.testing.assert_allclose(e.base_logit + e.contributions_logit.sum(axis=1), P._logit(X), atol=1e-9)
    dump = P.model_.booster.dump_model()
    from watchwait.model import CONTEXT_FEATURES

    mods = [None if f.name in CONTEXT_FEATURES else f.modality for f in P.features_]
    assert mods.count(None) == len(CONTEXT_FEATURES)

    def used(node, acc):
        if "split_feature" in node:
            if mods[node["split_feature"]] is not None:
                acc.add(mods[node["split_feature"]])
            used(node["left_child"], acc)
            used(node["right_child"], acc)
        return acc

    per_tree = [used(t["tree_structure"], set()) for t in dump["tree_info"]]
    assert len(per_tree) == P.trees and all(len(m) <= 1 for m in per_tree)
    assert len(set().union(*per_tree)) >= 2


def test_evidence_table_is_an_exact_copy_of_the_shared_one():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    shared = root.parent / "shared" / "clinical" / "evidence_trials.csv"
    if not shared.exists():
        pytest.skip("../shared is not next to this checkout")
    assert (root / "watchwait" / "data" / "evidence_trials.csv").read_bytes() == shared.read_bytes()


def test_a_cohort_too_small_to_check_is_refused_before_fitting():
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.training import train
    from watchwait.validation import validate_frame

    frame = validate_frame(to_csv_frame(simulate(80, seed=5, with_oracle=False).frame))
    n_cr = int(frame["complete_response"].sum())
    with pytest.raises(ModelArtifactError, match=(
            rf"a training cohort needs at least 40 patients with a complete response and 40 without; this one has {n_cr} and "
            rf"{80 - n_cr} \(of 80 patients\)\. Add patients or keep the shipped model\.")):
        train(frame)


def test_trees_raw_score_is_lightgbms_own_on_one_thread_or_every_core(small_model):
    """The trees' raw score is LightGBM's own ``predict``: one thread for a few rows, every core for a batch (>= 2,000
    rows), the same numbers either way, blanks and zeros included, for the main model (and the bootstrap refits, where
    a model keeps them: ``spread="refits"``)."""
    from watchwait.artifacts import columns_of
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.validation import validate_frame

    _, bundle = small_model
    P = bundle.predictor
    X = P.matrix(columns_of(validate_frame(to_csv_frame(simulate(1500, seed=97, with_oracle=False).frame))))
    X[::13, :] = np.where(np.arange(X.shape[1]) % 2 == 0, np.nan, X[::13, :])  # blanks where training had none
    X[::17, :] = 0.0
    X = np.vstack([X, X[::-1], X])  # 4,500 rows: every core, as well as one thread (< 2,000 rows)
    for m in [P.model_, *P.members_]:
        ref = m.booster.predict(X, raw_score=True, num_threads=1)
        assert np.array_equal(m.trees_raw(X), ref)
        assert np.array_equal(m.trees_raw(X[:50]), ref[:50])


def test_a_model_its_figures_cannot_vouch_for_says_so_first():
    from watchwait.training import usability_warnings

    assert usability_warnings(2500, 0.93) == []
    small, chance = usability_warnings(24, 0.55)
    assert small.startswith("Only 24 held-out patients measure this model (fewer than 200)")
    assert chance.startswith("Held-out AUC 0.55 (below 0.6)") and "keep the shipped model" in chance


def test_train_on_a_small_cohort_writes_the_model_with_a_warning(tmp_path, cli):
    run = cli  # watchwait.cli.main in process (tests/conftest.py run_cli)
    assert run("simulate", "--n", "260", "--seed", "8", "--out", str(tmp_path / "c.csv")).returncode == 0
    r = run("train", "--cohort", str(tmp_path / "c.csv"), "--out", str(tmp_path / "m"))
    assert r.returncode == 0, r.stderr
    assert "warning: Only 52 held-out patients measure this model (fewer than 200)" in r.stderr
    card = json.loads((tmp_path / "m" / "model_card.json").read_text())
    assert card["warnings"][0].startswith("Only 52 held-out patients")
    assert "> **Warning.** Only 52 held-out" in (tmp_path / "m" / "model_card.md").read_text()


def test_masked_copies_blank_only_test_groups_and_keep_outcomes():
    from watchwait.artifacts import columns_of
    from watchwait.model import TEST_GROUPS, masked_copies
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.validation import validate_frame

    frame = validate_frame(to_csv_frame(simulate(200, seed=12, with_oracle=False).frame))
    cols = columns_of(frame)
    y = frame["complete_response"].to_numpy(bool)
    out, y2 = masked_copies(cols, y, 0.5, np.random.default_rng(0))
    assert len(y2) == 300 and all(len(v) == 300 for v in out.values())
    grouped = {c for g in TEST_GROUPS.values() for c in g}
    for c, v in out.items():
        assert _text(v[:200]) == _text(cols[c])  # originals untouched
        if c not in grouped:  # a copy differs from its patient only in blanked test groups
            assert _text(v[200:]) == _text(np.asarray(cols[c])[_copied(out, cols, y2, y)])
    blanked = [np.array([x is None or (isinstance(x, float) and x != x) for x in out[g[0]][200:]]) for g in TEST_GROUPS.values()]
    assert np.vstack(blanked).any(axis=0).all()  # every copy lost at least one test group
    assert (y2[200:] == y[_copied(out, cols, y2, y)]).all()  # and kept its own outcome


def _text(values) -> list[str]:
    return [str(x) for x in np.asarray(values, dtype=object)]


def _copied(out, cols, y2, y):
    """Row indices of the copies, recovered from the patient ids (each copy keeps its id)."""
    ids = {pid: i for i, pid in enumerate(np.asarray(cols["patient_id"]))}
    return np.array([ids[pid] for pid in out["patient_id"][200:]])


def test_the_spread_is_learnt_from_the_refits_and_a_prediction_evaluates_none():
    """Issue 8, speed: the interval's spread comes from an additive regression of the 8 bootstrap refits' spread
    (model.SpreadFit), so a prediction evaluates the main model's trees only. Same seeds, both ways: the main model
    (probability, explanations) is identical; the learnt spread follows the refits' own on fresh patients (log scale
    correlation > 0.5; the refits' spread from 8 members is itself noisy); no refit is kept; a model saved before
    (no SpreadFit) still takes the spread from its refits; an unknown setting is refused by name."""
    import pickle

    from watchwait.artifacts import columns_of
    from watchwait.model import FusedPredictor, SpreadFit
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.training import known_outcomes
    from watchwait.validation import validate_frame

    fr, y, _ = known_outcomes(validate_frame(to_csv_frame(simulate(800, seed=41).frame)))
    fresh = columns_of(validate_frame(to_csv_frame(simulate(500, seed=42).frame)))
    learnt = FusedPredictor(seed=5, n_members=8, trees=40, masked_copies=1.0).fit(columns_of(fr), y)
    refits = FusedPredictor(seed=5, n_members=8, trees=40, masked_copies=1.0, spread="refits").fit(columns_of(fr), y)
    assert isinstance(learnt.spread_, SpreadFit) and learnt.members_ == [] and 0.2 < learnt.spread_.r2 < 1
    assert refits.spread_ is None and len(refits.members_) == 8
    X = learnt.matrix(fresh)
    assert np.array_equal(learnt.predict_proba(X), refits.predict_proba(X))
    a, b = np.log(learnt.sigma(X)), np.log(refits.sigma(X))
    assert np.corrcoef(a, b)[0, 1] > 0.5 and abs(np.median(a - b)) < 0.25, (np.corrcoef(a, b)[0, 1], np.median(a - b))
    assert "additive regression of the spread of 8 bootstrap refits" in learnt.interval_method_
    # a model pickled before SpreadFit existed: its state has no spread_ and no spread setting
    state = refits.__getstate__()
    del state["spread_"], state["spread"]
    old = FusedPredictor.__new__(FusedPredictor)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert np.array_equal(old.sigma(X), refits.sigma(X))
    with pytest.raises(ValueError, match="spread must be 'additive' or 'refits', not 'bagged'"):
        FusedPredictor(spread="bagged").fit(columns_of(fr), y)


def test_the_version_names_the_method_as_well_as_the_day_and_cohort():
    """Two models fitted on the same cohort the same day with another design (here: how the spread is computed) get
    other versions; the day and cohort parts are the same. A screen or a stored prediction that names a version so
    names one model."""
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.training import train
    from watchwait.validation import validate_frame

    c = simulate(500, seed=61)
    frame = validate_frame(to_csv_frame(c.frame))
    a = train(frame, seed=1, truth=c.truth, n_members=2).version
    b = train(frame, seed=1, truth=c.truth, n_members=2, spread="refits").version
    assert a.startswith("fused-") and a.count("-") == 3 and b.count("-") == 3, (a, b)
    assert a.rsplit("-", 1)[0] == b.rsplit("-", 1)[0] and a != b
