"""The shipped model never moves against the direction of the clinical evidence (issue 8).

Property-based (hypothesis): a simulated patient, with restaging readings, ctDNA, CEA and MRI radiomics drawn over
everything the data dictionary allows, and every direction of :mod:`watchwait.directions` that applies
to it; the probability after the better reading must not be lower. Plus an exhaustive sweep over the
sample patients and 400 simulated ones, and the model's own construction: every directional feature is
bounded in the additive model and constrained in the trees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchwait.derive import columns_from_record
from watchwait.directions import DIRECTIONS, pairs
from watchwait.training import load_model
from watchwait.validation import frame_to_records, read_cohort, validate_record

TOL = 1e-12


@pytest.fixture(scope="module")
def shipped():
    return load_model()


@pytest.fixture(scope="module")
def simulated_records():
    from watchwait.sim import simulate, to_csv_frame
    from watchwait.validation import validate_frame

    return frame_to_records(validate_frame(to_csv_frame(simulate(400, seed=77, with_oracle=False).frame)))


def _p(bundle, rec) -> float:
    P = bundle.predictor
    X = P.matrix(columns_from_record(validate_record(rec)))
    return float(P.predict_proba(X)[0])


def maybe(values):
    return st.one_of(st.none(), st.sampled_from(values))


overrides = st.fixed_dictionaries({}, optional={
    "mr_trg": maybe([1, 2, 3, 4, 5]), "endoscopy": maybe(["complete", "near_complete", "incomplete"]),
    "dre": maybe(["normal", "smooth_induration", "mass"]), "dwi_restriction": maybe([True, False]),
    "ymr_n_stage": maybe(["N0", "N1", "N2"]), "restaging_biopsy": maybe(["not_done", "negative", "positive"]),
    "cea_post_ng_ml": st.one_of(st.none(), st.floats(0.1, 500)),
    "ctdna_baseline_mtm_ml": st.one_of(st.none(), st.just(0.0), st.floats(0.01, 5000)),
    "ctdna_post_rt_mtm_ml": st.one_of(st.none(), st.just(0.0), st.floats(0.01, 5000)),
    "ctdna_post_treatment_mtm_ml": st.one_of(st.none(), st.just(0.0), st.floats(0.01, 5000)),
    "immunotherapy": st.sampled_from(["none", "anti_pd1", "pd1_ctla4"]),
})



@st.composite
def radiomics(draw) -> dict:
    """MRI radiomics as the imaging pipeline writes them (delta = restaging - baseline), over a wide range: a
    tumour from 200 to 30,000 mm³ that shrank to nothing or grew by half; T2 signal falling or rising."""
    if draw(st.booleans()):
        return {}
    base_v, shrink = draw(st.floats(200, 30000)), draw(st.floats(0.01, 1.5))
    base_m, change_m = draw(st.floats(-60, 60)), draw(st.floats(-200, 80))
    out = {}
    for f, b, r in (("original_shape_VoxelVolume", base_v, base_v * shrink), ("original_firstorder_Mean", base_m, base_m + change_m),
                    ("original_firstorder_InterquartileRange", draw(st.floats(10, 60)), draw(st.floats(5, 120))),
                    ("original_glcm_JointEntropy", draw(st.floats(6, 9)), draw(st.floats(4, 9))),
                    ("original_glszm_SizeZoneNonUniformityNormalized", draw(st.floats(0.3, 0.7)), draw(st.floats(0.3, 0.7)))):
        out.update({f"radiomics_baseline_{f}": b, f"radiomics_restaging_{f}": r, f"radiomics_delta_{f}": r - b})
    return out


@settings(max_examples=300, deadline=None)
@given(i=st.integers(0, 399), change=overrides, imaging=radiomics())
def test_no_direction_lowers_the_probability(shipped, simulated_records, i, change, imaging):
    rec = {**simulated_records[i], **change, **imaging}
    before = _p(shipped, rec)
    for d in DIRECTIONS:
        if d.applies(rec):
            after = _p(shipped, d.better(rec))
            assert after >= before - TOL, (d.id, before, after, change)


def test_every_direction_holds_on_samples_and_simulated_patients(shipped, simulated_records):
    root = Path(__file__).resolve().parents[2]
    records = frame_to_records(read_cohort(root / "sample_data" / "sample_patients.csv")) + simulated_records
    changes = pairs(records)
    wrong = [(d, i) for d, i, better in changes if _p(shipped, better) < _p(shipped, records[i]) - TOL]
    assert {c[0] for c in changes} == {d.id for d in DIRECTIONS}  # every direction was exercised
    assert len(changes) > 1000 and wrong == []


def test_not_tested_and_tested_not_detected_stay_different(shipped):
    base = {"patient_id": "D", "mmr_status": "pMMR", "mr_trg": 2, "endoscopy": "near_complete", "dre": "normal"}
    not_tested = {**base}
    # a shedder (detected before treatment) whose ctDNA is no longer detected: a non-shedder (0 at C1) carries nothing
    # at C2/C3 (issue 17), tests/unit/test_simulator_nonshedder.py
    cleared = {**base, "ctdna_baseline_mtm_ml": 5.0, "ctdna_post_rt_mtm_ml": 0.0, "ctdna_post_treatment_mtm_ml": 0.0}
    P = shipped.predictor
    rows = [P.matrix(columns_from_record(validate_record(r)))[0] for r in (not_tested, cleared)]
    assert not np.array_equal(rows[0], rows[1])
    negative = [j for j, f in enumerate(P.features_) if f.name.endswith("_negative")]
    assert negative and all(rows[0][j] == 0 and rows[1][j] == 1 for j in negative)


def test_directional_features_are_constrained_in_both_stages(shipped):
    P = shipped.predictor
    directional = [j for j, f in enumerate(P.features_) if f.direction]
    assert len(directional) >= 15
    gam = P.model_.gam
    lo, hi = gam.lower_bounds_, gam.upper_bounds_
    for c, j in enumerate(gam.owner_):
        d = P.features_[j].direction
        if d > 0 and lo[c] == 0:
            assert gam.coef_[c] >= 0
        if d < 0 and hi[c] == 0:
            assert gam.coef_[c] <= 0
    bounded = {gam.owner_[c] for c in range(len(gam.owner_)) if lo[c] == 0 or hi[c] == 0}
    assert set(directional) <= bounded
    params = P.model_.booster.params
    assert [int(v) for v in params["monotone_constraints"]] == [f.direction for f in P.features_]


IMAGING_DOWN = ("radiomics__restaging_original_shape_VoxelVolume", "radiomics__delta_original_shape_VoxelVolume",
                "radiomics__restaging_original_firstorder_Mean", "radiomics__delta_original_firstorder_Mean")


def test_less_tumour_shrinkage_is_constrained_never_to_raise_the_probability(shipped):
    """Brief rule 12: the restaging tumour volume and mean T2 signal, and their change from baseline, may only lower
    the probability as they rise (the direction of the MRI tumour regression grade)."""
    directions = {f.name: f.direction for f in shipped.predictor.features_}
    assert {n: directions.get(n) for n in IMAGING_DOWN} == {n: -1 for n in IMAGING_DOWN}


def test_imaging_directions_hold_on_the_imaged_samples(shipped):
    root = Path(__file__).resolve().parents[2]
    records = frame_to_records(read_cohort(root / "sample_data" / "sample_patients.csv"))
    imaging = [(d, i, better) for d, i, better in pairs(records) if d.startswith("mri-")]
    assert {d for d, _, _ in imaging} == {"mri-volume-smaller", "mri-t2-darker"}
    assert all(_p(shipped, better) >= _p(shipped, records[i]) - TOL for _, i, better in imaging)


def test_a_directional_spline_with_values_piled_at_its_end_stays_monotone():
    """ctDNA's change since baseline is 0 for everyone not tested: the quantile knots coincided at 0, the B-splines
    summed to 0 there, and a model fitted on 150 patients gave 'not tested -> tested and cleared' a lower probability
    (benchmarks/bench_learning_curve.py, DEMO-02: -0.01 and -0.02). The knots now sit at the distinct values' quantiles."""
    from watchwait.model import MonotoneGAM

    rng = np.random.default_rng(3)
    n = 600
    x = np.where(rng.random(n) < 0.6, 0.0, -rng.gamma(2.0, 2.0, n))  # most at the top (0), a tail below
    y = rng.random(n) < 1 / (1 + np.exp(0.4 * x))  # falls as x rises: direction DOWN
    gam = MonotoneGAM(alpha=0.3, directions=[-1], kinds=["number"]).fit(x[:, None], y)
    t = gam.terms_[0]
    assert t.kind == "spline" and len(np.unique(t.values)) == len(t.values)
    grid = np.concatenate([np.linspace(x.min() - 1, 0, 400), [0.0, 1.0]])
    f = gam.decision_function(grid[:, None])
    assert np.all(np.diff(f) <= 1e-12)
    k = 3
    lo, hi = t.values[k], t.values[-k - 1]
    assert t.splines(np.array([lo, hi]), k).sum(axis=1) == pytest.approx([1.0, 1.0])


def test_ctdna_found_at_assessment_after_none_before_is_read_as_disease(shipped):
    """A non-shedder's later 'not detected' carries nothing (issue 17), but ctDNA found at assessment after none before
    treatment is found disease: it lowers the probability like any detectable level, never left out as 'non-shedder'."""
    from watchwait.engine import assess

    base = {"patient_id": "D", "mmr_status": "pMMR", "ct_stage": "T3", "cn_stage": "N1", "cm_stage": "M0",
            "distance_from_anal_verge_cm": 6, "multiple_primaries": False, "new_distant_metastasis": False,
            "mr_trg": 3, "endoscopy": "near_complete", "dre": "normal", "dwi_restriction": False,
            "ctdna_baseline_mtm_ml": 0.0, "ctdna_post_rt_mtm_ml": 0.0}
    none_found = assess({**base, "ctdna_post_treatment_mtm_ml": 0.0}, shipped).probability
    found = assess({**base, "ctdna_post_treatment_mtm_ml": 1.5}, shipped).probability
    blank = assess({**base, "ctdna_post_treatment_mtm_ml": None}, shipped).probability
    assert none_found == pytest.approx(blank, abs=1e-9)  # a non-shedder's zero is as good as untested
    assert found < none_found - 0.05, (found, none_found)
