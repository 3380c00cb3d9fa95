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
    # record version 2: persistent suspicious nodes rule out a cCR; a positive biopsy means residual tumour;
    # a negative biopsy rules nothing out; neither is needed for a category (a version-1 record has neither)
    ({"ymr_n_stage": "N0"}, "cCR"),
    ({"ymr_n_stage": "N1"}, "near-cCR"),
    ({"ymr_n_stage": "N2"}, "near-cCR"),
    ({"ymr_n_stage": "N1", "dre": "mass"}, "incomplete"),
    ({"restaging_biopsy": "positive"}, "incomplete"),
    ({"restaging_biopsy": "negative"}, "cCR"),
    ({"restaging_biopsy": "not_done", "mr_trg": 3}, "near-cCR"),
    ({"restaging_biopsy": "positive", "endoscopy": None}, "incomplete"),
    ({"ymr_n_stage": "N0", "endoscopy": None}, "not_assessed"),
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


def test_endoscopy_mri_discordance_and_local_excision_criteria():
    from watchwait.derive import derived_columns
    from watchwait.rules import load_rules

    th = load_rules().thresholds

    def d(**kw):
        rec = validate_record({"patient_id": "X", "mmr_status": "pMMR", **ALL_CLEAR, **kw})
        return {k: v[0] for k, v in derived_columns(columns_from_record(rec), th).items()}

    assert d()["endoscopy_mri_discordant"] == 0.0
    assert d(mr_trg=3)["endoscopy_mri_discordant"] == 1.0  # endoscopy complete, MRI not
    assert d(mr_trg=3, restaging_biopsy="positive")["endoscopy_mri_discordant"] == 0.0  # settled by the biopsy
    assert np.isnan(d(mr_trg=None)["endoscopy_mri_discordant"])
    ok = dict(residual_lesion_mm=th["le_max_residual_mm"], ymr_n_stage="N0", distance_from_anal_verge_cm=th["le_max_distance_cm"])
    assert d(**ok)["le_criteria_met"] == 1.0 and d(**ok)["le_criteria_failed"] == 0.0 and d(**ok)["le_missing"] == ""
    assert d(**{**ok, "ymr_n_stage": "N1"})["le_criteria_met"] == 0.0
    big = d(**{**ok, "residual_lesion_mm": th["le_max_residual_mm"] + 1})
    assert big["le_criteria_met"] == 0.0 and big["le_criteria_failed"] == 1.0
    assert d(**{**ok, "distance_from_anal_verge_cm": th["le_max_distance_cm"] + 0.5})["le_criteria_failed"] == 1.0
    assert d(**{**ok, "residual_lesion_mm": None, "ymr_n_stage": None})["le_missing"] == "residual lesion size, restaging nodes"


def test_present_and_equals_treat_every_kind_of_blank_as_blank():
    """derive.present / derive.equals (numpy, no Series per call): None, NaN and pd.NA are blank and never equal to a
    value; recorded text compares exactly (no case folding, no stripping)."""
    import pandas as pd

    from watchwait.derive import equals, present

    values = np.array(["positive", None, np.nan, pd.NA, "Positive", "negative", "positive "], dtype=object)
    assert present(values).tolist() == [True, False, False, False, True, True, True]
    assert equals(values, "positive").tolist() == [True, False, False, False, False, False, False]
    assert equals(np.array([], dtype=object), "positive").tolist() == []
