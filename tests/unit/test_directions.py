"""The directions of the evidence (watchwait.directions): each yields a valid record, and the response
category never gets worse along any of them (property-based, over every combination of restaging
readings the data dictionary allows)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchwait.derive import columns_from_record, response_category
from watchwait.directions import BY_ID, DIRECTIONS, pairs
from watchwait.validation import validate_record

RANK = {"cCR": 0, "near-cCR": 1, "incomplete": 2}


def maybe(values):
    return st.one_of(st.none(), st.sampled_from(values))


records = st.fixed_dictionaries({
    "patient_id": st.just("D1"), "mmr_status": st.just("pMMR"),
    "mr_trg": maybe([1, 2, 3, 4, 5]), "endoscopy": maybe(["complete", "near_complete", "incomplete"]),
    "dre": maybe(["normal", "smooth_induration", "mass"]), "dwi_restriction": maybe([True, False]),
    "ymr_n_stage": maybe(["N0", "N1", "N2"]), "restaging_biopsy": maybe(["not_done", "negative", "positive"]),
    "cea_post_ng_ml": st.one_of(st.none(), st.floats(0.1, 500)),
    "ctdna_baseline_mtm_ml": st.one_of(st.none(), st.floats(0, 1000)),
    "ctdna_post_rt_mtm_ml": st.one_of(st.none(), st.floats(0, 1000)),
    "ctdna_post_treatment_mtm_ml": st.one_of(st.none(), st.floats(0, 1000)),
})


def _category(rec) -> str:
    return str(response_category(columns_from_record(validate_record(rec)))[0])


@settings(max_examples=400, deadline=None)
@given(records)
def test_no_direction_makes_the_response_category_worse(rec):
    before = _category(rec)
    for d in DIRECTIONS:
        if not d.applies(rec):
            continue
        after = _category(d.better(rec))  # also: the better record is a valid record
        if before in RANK and after in RANK:
            assert RANK[after] <= RANK[before], (d.id, rec)
        if before in ("cCR", "near-cCR"):
            # an improvement never makes a complete or near-complete record unassessable; an incomplete one
            # may become so when the finding that made it incomplete goes and other readings are missing
            assert after != "not_assessed", (d.id, rec)


def test_each_direction_changes_exactly_what_it_says():
    rec = {"patient_id": "D1", "mmr_status": "pMMR", "mr_trg": 3, "endoscopy": "incomplete", "dre": "mass",
           "dwi_restriction": True, "ymr_n_stage": "N2", "restaging_biopsy": "positive", "cea_post_ng_ml": 8.0,
           "ctdna_post_treatment_mtm_ml": 3.0}
    got = {d: {k: v for k, v in better.items() if rec.get(k) != v} for d, _, better in pairs([rec])}
    assert got == {
        "ctdna-c3-cleared": {"ctdna_post_treatment_mtm_ml": 0.0}, "mr-trg-better": {"mr_trg": 2},
        "endoscopy-better": {"endoscopy": "near_complete"}, "dre-better": {"dre": "smooth_induration"},
        "dwi-gone": {"dwi_restriction": False}, "cea-post-falls": {"cea_post_ng_ml": 4.0},
        "nodes-cleared": {"ymr_n_stage": "N0"}, "biopsy-negative": {"restaging_biopsy": "negative"}}
    untested = {"patient_id": "D2", "mmr_status": "pMMR"}
    assert [d for d, _, _ in pairs([untested])] == ["ctdna-tested-cleared"]
    # "not tested" and "tested, not detected" stay different facts: a tested-negative record is not "untested"
    assert not BY_ID["ctdna-tested-cleared"].applies({**untested, "ctdna_post_treatment_mtm_ml": 0.0})


RADIOMICS = {"radiomics_baseline_original_shape_VoxelVolume": 3417.0, "radiomics_restaging_original_shape_VoxelVolume": 2385.0,
             "radiomics_delta_original_shape_VoxelVolume": -1032.0, "radiomics_baseline_original_firstorder_Mean": -9.8,
             "radiomics_restaging_original_firstorder_Mean": -25.1, "radiomics_delta_original_firstorder_Mean": -15.3}
IMAGING = ("mri-volume-smaller", "mri-t2-darker")


def test_imaging_directions_shrink_the_tumour_and_keep_the_change_consistent():
    """Brief rule 12: a tumour that shrank less never raises the probability. The better record has a smaller
    restaging volume (or a darker T2 signal) and a change from baseline smaller by the same amount."""
    rec = {"patient_id": "D3", "mmr_status": "pMMR", "mr_trg": 2, "endoscopy": "complete", "dre": "normal", **RADIOMICS}
    got = {d: {k: v for k, v in better.items() if rec.get(k) != v} for d, _, better in pairs([rec]) if d in IMAGING}
    assert got == {
        "mri-volume-smaller": {"radiomics_restaging_original_shape_VoxelVolume": 1192.5,
                               "radiomics_delta_original_shape_VoxelVolume": -2224.5},
        "mri-t2-darker": {"radiomics_restaging_original_firstorder_Mean": pytest.approx(-45.1),
                          "radiomics_delta_original_firstorder_Mean": pytest.approx(-35.3)}}
    for d in IMAGING:
        better = BY_ID[d].better(rec)
        validate_record(better)
        for f in ("original_shape_VoxelVolume", "original_firstorder_Mean"):
            assert better[f"radiomics_delta_{f}"] == pytest.approx(better[f"radiomics_restaging_{f}"] - better[f"radiomics_baseline_{f}"])
        assert _category(better) == _category(rec)
    # without imaging, no imaging direction applies; with only the change recorded, it still does
    assert not [d for d, _, _ in pairs([{"patient_id": "D4", "mmr_status": "pMMR"}]) if d in IMAGING]
    only_delta = {"patient_id": "D5", "mmr_status": "pMMR", "radiomics_delta_original_shape_VoxelVolume": -100.0}
    assert [d for d, _, _ in pairs([only_delta]) if d in IMAGING] == ["mri-volume-smaller"]
    assert BY_ID["mri-volume-smaller"].better(only_delta)["radiomics_delta_original_shape_VoxelVolume"] < -100.0


@settings(max_examples=200, deadline=None)
@given(base=st.floats(50, 50000), shrink=st.floats(0.0, 1.5), t2_base=st.floats(-150, 150), t2_change=st.floats(-200, 100))
def test_imaging_directions_always_give_a_valid_record_with_less_tumour(base, shrink, t2_base, t2_change):
    rec = {"patient_id": "D6", "mmr_status": "pMMR",
           "radiomics_baseline_original_shape_VoxelVolume": base, "radiomics_restaging_original_shape_VoxelVolume": base * shrink,
           "radiomics_delta_original_shape_VoxelVolume": base * shrink - base,
           "radiomics_baseline_original_firstorder_Mean": t2_base, "radiomics_restaging_original_firstorder_Mean": t2_base + t2_change,
           "radiomics_delta_original_firstorder_Mean": t2_change}
    for d, _, better in pairs([rec]):
        validate_record(better)
        for phase in ("restaging", "delta"):
            for f in ("original_shape_VoxelVolume", "original_firstorder_Mean"):
                assert better[f"radiomics_{phase}_{f}"] <= rec[f"radiomics_{phase}_{f}"]
        assert better["radiomics_restaging_original_shape_VoxelVolume"] >= 0
