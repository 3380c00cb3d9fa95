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
    ok = dict(residual_lesion_mm=th["le_max_residual_mm"], ymr_n_stage="N0", distance_from_anal_verge_cm=th["le_max_distance_cm"],
              circumferential_extent_pct=th["le_max_circumference_pct"] - 1)
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


def _derived(**kw):
    from watchwait.derive import derived_columns
    from watchwait.rules import load_rules

    rec = validate_record({"patient_id": "X", "mmr_status": "pMMR", **ALL_CLEAR, **kw})
    return {k: v[0] for k, v in derived_columns(columns_from_record(rec), load_rules().thresholds).items()}


@pytest.mark.parametrize("change,discordant,one,residual", [
    ({}, 0.0, 0.0, ""),
    ({"mr_trg": 3}, 1.0, 1.0, "MRI"),  # endoscopy complete, MRI not
    ({"endoscopy": "near_complete"}, 1.0, 1.0, "endoscopy"),  # MRI complete, endoscopy not
    ({"dre": "mass", "mr_trg": 2}, 1.0, 1.0, "DRE"),  # DEMO-09: only the DRE finds residual disease
    ({"dre": "smooth_induration"}, 1.0, 1.0, "DRE"),
    ({"endoscopy": "near_complete", "mr_trg": 3}, 0.0, 0.0, "endoscopy and MRI"),  # a normal DRE contradicts neither
    ({"endoscopy": "incomplete", "mr_trg": 4, "dre": "mass"}, 0.0, 0.0, "endoscopy, MRI and DRE"),
    ({"endoscopy": "incomplete", "dre": "mass"}, 1.0, 0.0, "endoscopy and DRE"),  # two readings: not 'one reading'
    ({"dre": "mass", "restaging_biopsy": "positive"}, 0.0, 0.0, "DRE"),  # settled by the biopsy
])
def test_discordance_among_endoscopy_mri_and_dre(change, discordant, one, residual):
    d = _derived(**change)
    assert d["restaging_discordant"] == discordant and d["residual_one_reading"] == one
    assert d["readings_residual"] == residual


def test_discordance_needs_a_recorded_pair():
    assert np.isnan(_derived(mr_trg=None, dre=None)["restaging_discordant"])
    assert _derived(mr_trg=None, dre="mass")["restaging_discordant"] == 1.0  # endoscopy complete, DRE mass
    assert np.isnan(_derived(mr_trg=None)["residual_one_reading"])  # 'one reading' needs all three


def test_near_complete_on_both_endoscopy_and_mri():
    assert _derived(endoscopy="near_complete", mr_trg=3)["ncr_endoscopy_and_mri"] == 1.0
    assert _derived(endoscopy="near_complete", mr_trg=2, dwi_restriction=True)["ncr_endoscopy_and_mri"] == 0.0
    assert _derived(dwi_restriction=True)["ncr_endoscopy_and_mri"] == 0.0  # only diffusion: not OPRA's nCR/nCR
    assert _derived(ymr_n_stage="N1")["ncr_endoscopy_and_mri"] == 0.0  # a cCR downgraded by nodes
    assert _derived(endoscopy="near_complete", mr_trg=4)["ncr_endoscopy_and_mri"] == 0.0
    assert np.isnan(_derived(endoscopy=None, mr_trg=3)["ncr_endoscopy_and_mri"])


@pytest.mark.parametrize("base,post,rising,high,systemic", [
    (3.0, 1.5, 0.0, 0.0, 0.0),
    (3.0, 4.0, 1.0, 0.0, 1.0),  # rising, within the normal range
    (9.0, 6.0, 0.0, 1.0, 1.0),  # falling, still above 5 ng/mL
    (9.0, 5.0, 0.0, 0.0, 0.0),  # exactly 5: not above
    (None, 6.0, np.nan, 1.0, 1.0),
    (3.0, None, np.nan, np.nan, 0.0),
])
def test_cea_rising_or_above_the_normal_range(base, post, rising, high, systemic):
    d = _derived(cea_baseline_ng_ml=base, cea_post_ng_ml=post)
    for key, want in (("cea_rising", rising), ("cea_above_normal", high), ("cea_systemic", systemic)):
        assert (np.isnan(d[key]) if np.isnan(want) else d[key] == want), key
    if systemic:
        assert d["cea_finding"]


def test_cea_and_circumference_without_their_thresholds_leave_them_out():
    """An older site copy of the rules, without the new thresholds: nothing breaks, nothing fires."""
    from watchwait.derive import cea_findings, local_excision_criteria

    rec = validate_record({"patient_id": "X", "mmr_status": "pMMR", **ALL_CLEAR, "cea_baseline_ng_ml": 3, "cea_post_ng_ml": 9,
                           "residual_lesion_mm": 10, "ymr_n_stage": "N0", "distance_from_anal_verge_cm": 5,
                           "circumferential_extent_pct": 80})
    cols = columns_from_record(rec)
    le = local_excision_criteria(cols, {"le_max_residual_mm": 30, "le_max_distance_cm": 8})
    assert le["le_criteria_met"][0] == 1.0 and le["le_circumference_unconfirmed"][0] == 0.0
    cea = cea_findings(cols, {})
    assert np.isnan(cea["cea_above_normal"][0]) and cea["cea_systemic"][0] == 1.0  # rising still counts


def test_circumference_applies_the_baseline_extent_to_the_residual():
    from watchwait.rules import load_rules

    limit = load_rules().thresholds["le_max_circumference_pct"]
    ok = dict(residual_lesion_mm=10, ymr_n_stage="N0", distance_from_anal_verge_cm=5)
    below = _derived(**ok, circumferential_extent_pct=limit - 1)
    assert below["le_criteria_met"] == 1.0 and below["le_circumference_unconfirmed"] == 0.0 and below["le_unconfirmed"] == ""
    at = _derived(**ok, circumferential_extent_pct=limit)
    assert at["le_criteria_met"] == 0.0 and at["le_criteria_failed"] == 0.0  # unconfirmed, never failed
    assert at["le_circumference_unconfirmed"] == 1.0 and at["le_missing"] == ""
    assert f"baseline extent {limit:g}%" in at["le_unconfirmed"]
    blank = _derived(**ok, circumferential_extent_pct=None)
    assert blank["le_criteria_met"] == 0.0 and blank["le_missing"] == "circumferential extent"
