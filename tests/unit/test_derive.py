import numpy as np
import pytest

from watchwait.derive import columns_from_record, ctdna_kinetics, response_category
from watchwait.validation import validate_record


def cat(**kw):
    rec = validate_record({"patient_id": "X", "mmr_status": "pMMR", **kw})
    return response_category(columns_from_record(rec))[0]


ALL_CLEAR = dict(endoscopy="complete", dre="normal", mr_trg=1, dwi_restriction=False)


@pytest.mark.parametrize("change,expected", [
    ({}, "cCR"),
    ({"mr_trg": 2}, "cCR"),
    ({"mr_trg": 3}, "near-cCR"),
    ({"dwi_restriction": True}, "near-cCR"),
    ({"endoscopy": "near_complete"}, "near-cCR"),
    ({"dre": "smooth_induration"}, "near-cCR"),
    ({"mr_trg": 4}, "incomplete"),
    ({"endoscopy": "incomplete"}, "incomplete"),
    ({"dre": "mass"}, "incomplete"),
    ({"dwi_restriction": None}, "not_assessed"),
    ({"endoscopy": None, "dre": "mass"}, "incomplete"),
    ({"endoscopy": None, "mr_trg": 3}, "not_assessed"),
])
def test_category_follows_mskcc_opra_criteria(change, expected):
    assert cat(**{**ALL_CLEAR, **change}) == expected


def test_ctdna_kinetics():
    rec = validate_record({"patient_id": "X", "mmr_status": "pMMR", "ctdna_baseline_mtm_ml": 9.99,
                           "ctdna_post_rt_mtm_ml": 0.99, "ctdna_post_treatment_mtm_ml": 0})
    k = ctdna_kinetics(columns_from_record(rec))
    assert k["ctdna_cleared"][0] == 1.0 and k["ctdna_detected_c3"][0] == 0.0
    assert k["ctdna_log10_fold_c2"][0] == pytest.approx(-1.0)
    assert k["ctdna_log10_fold_c3"][0] == pytest.approx(-3.0)
    none = ctdna_kinetics(columns_from_record(validate_record({"patient_id": "X", "mmr_status": "pMMR", "ctdna_baseline_mtm_ml": 0, "ctdna_post_treatment_mtm_ml": 0})))
    assert np.isnan(none["ctdna_cleared"][0])  # never detected: "cleared" is undefined
