"""Display text: every category code of the data dictionary is either worded (watchwait.labels) or a staging
code / abbreviation shown as written on purpose; explanations show values in words, never codes."""
from watchwait.features import BASE_FEATURES, display_value, radiomic_label, radiomics_features
from watchwait.labels import AS_WRITTEN, CODE_TEXT, code_text, value_text
from watchwait.schema import BY_NAME, FIELDS


def test_every_category_code_is_worded_or_deliberately_as_written():
    unworded = [(f.name, c) for f in FIELDS if f.kind == "category" for c in f.categories
                if (f.name, c) not in CODE_TEXT and c not in AS_WRITTEN]
    assert unworded == []
    assert all(key[0] is None or any(f.name == key[0] and key[1] in f.categories for f in FIELDS) for key in CODE_TEXT)


def test_codes_and_values_in_words():
    assert code_text("immunotherapy", "pd1_ctla4") == "anti-PD-1 + anti-CTLA-4"
    assert code_text("dre", "smooth_induration") == "smooth induration"
    assert value_text("ctdna_post_treatment_mtm_ml", 0.0) == "0 (tested, not detected)"
    assert value_text("ctdna_post_treatment_mtm_ml", None) == "not recorded"
    assert value_text("cea_post_ng_ml", 4.5) == "4.5 ng/mL"
    assert value_text("dwi_restriction", True) == "yes"


def test_explanation_values_never_show_codes():
    rec = {"immunotherapy": "pd1_ctla4", "pdl1_cps": 12.0, "endoscopy": "near_complete", "dre": "smooth_induration", "mr_trg": 2,
           "dwi_restriction": False, "ymr_n_stage": "N0", "restaging_biopsy": "not_done", "ctdna_baseline_mtm_ml": 5.0,
           "ctdna_post_treatment_mtm_ml": 0.0}
    by = {f.name: display_value(f, rec) for f in BASE_FEATURES}
    assert by["immune__pdl1_cps"] == "12"  # the immunotherapy gate is not shown as a value of PD-L1
    assert by["blood__ctdna_c3_fold"] == "5 MTM/mL -> 0 (tested, not detected)"
    assert "near-complete response" in by["restaging__worst_grade"] and "smooth induration" in by["restaging__worst_grade"]
    codes = ("pd1_ctla4", "near_complete", "smooth_induration", "not_done", "_")
    assert not [v for v in by.values() if any(c in v for c in codes)]


def test_residual_lesion_reads_as_lesion_over_tumour_length_short_enough_for_a_reason_line():
    from components.tables import BAR_VALUE_MAX

    f = next(x for x in BASE_FEATURES if x.name == "restaging__residual_rel_log")
    shown = display_value(f, {"residual_lesion_mm": 15, "tumour_length_cm": 6.9})
    assert shown == "15 mm / 6.9 cm" and len(shown) <= BAR_VALUE_MAX
    assert display_value(f, {"residual_lesion_mm": None, "tumour_length_cm": 6.9}) == (
        f"not recorded ({BY_NAME['residual_lesion_mm'].label})")


def test_radiomic_features_have_clinical_names_and_keep_the_technical_one():
    (f,) = radiomics_features(["radiomics_delta_original_firstorder_Mean"])
    assert f.label == "mean T2 signal in the tumour, change from baseline to restaging"
    assert f.sources == ("radiomics_delta_original_firstorder_Mean",)
    assert radiomic_label("radiomics_baseline_original_shape_VoxelVolume") == "tumour volume on MRI, before treatment"
