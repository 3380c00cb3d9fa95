"""The dashboard in a real Chromium: load, edit, assess, explain, suggest, evidence; screenshots of each screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

import watchwait
from watchwait import present
from st_helpers import T, go, load_sample, open_app, select, settle, shot, shown_headline, type_into
from watchwait.validation import frame_to_records, read_cohort

pytestmark = pytest.mark.e2e

C3 = "ctDNA C3: at response assessment (MTM/mL, 0-100000)"


@pytest.fixture(scope="module")
def samples():
    from e2e_server import ROOT

    return {r["patient_id"]: r for r in frame_to_records(read_cohort(ROOT / "sample_data" / "sample_patients.csv"))}


def test_load_edit_assess_explain_suggest_evidence(page: Page, server, shots, samples):
    open_app(page, server)
    load_sample(page, "DEMO-01")
    expect(page.get_by_text("Assessed: probability of complete response")).to_be_visible(timeout=T)
    shot(page, shots / "01_patient_DEMO-01.png")

    type_into(page, C3, "1")  # edit one field: ctDNA detectable at response assessment
    edited = watchwait.assess({**samples["DEMO-01"], "ctdna_post_treatment_mtm_ml": 1.0})
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(present.percent(edited.probability), timeout=T)

    go(page, "Assessment")
    expect(page.get_by_test_id("stMetricValue")).to_have_text(present.percent(edited.probability), timeout=T)
    lo, hi = edited.interval
    expect(page.get_by_text(f"90% interval: {present.interval_text(lo, hi)}")).to_be_visible()
    # detectable ctDNA turns the headline conditional (clinical brief, rule 6): no unqualified watch-and-wait
    assert edited.suggestion.conditional
    suggestion = page.locator(".st-key-ww-suggestion")
    assert shown_headline(suggestion) == f"Suggested, with conditions: {edited.suggestion.headline}"
    expect(suggestion.get_by_role("listitem").filter(has_text="systemic restaging (CT chest and abdomen)")).to_be_visible()
    expect(page.locator("[data-testid='stMain']")).not_to_contain_text(f"Suggested: {edited.suggestion.label}")
    expect(suggestion).to_contain_text(edited.suggestion.rule_id)
    expect(page.get_by_text("FLAG-cCR-ctDNA").first).to_be_visible()
    top = edited.contributions[0]
    waterfall = page.locator(".js-plotly-plot").filter(has_text="This patient")
    expect(waterfall).to_be_visible(timeout=T)
    # the bar says the value as a chart label does (3 significant digits) and wraps a long label (the break is lost in
    # the text): compare without white space
    from components.tables import short_value

    squash = lambda t: "".join(t.split())  # noqa: E731
    assert squash(f"{top.label} = {short_value(top.value)}") in squash(waterfall.inner_text())
    expect(page.get_by_text("Synthetic training data.").first).to_be_visible()
    shot(page, shots / "02_assessment_DEMO-01_ctDNA-edited.png")

    go(page, "What if")
    expect(page.get_by_test_id("stMetricValue")).to_have_count(3, timeout=T)
    shot(page, shots / "03_what_if.png")

    go(page, "Trajectories")
    expect(page.locator(".js-plotly-plot").first).to_contain_text("not detected", timeout=T)
    shot(page, shots / "04_trajectories.png")

    go(page, "Evidence")
    forest = page.locator(".js-plotly-plot").first
    expect(forest).to_contain_text("TORCH: SCRT, consolidation, toripalimab + CAPOX", timeout=T)
    expect(page.get_by_text("This patient's regimen:")).to_be_visible()
    shot(page, shots / "05_evidence.png")

    go(page, "Options")
    expect(page.get_by_text(f"{present.count(edited.probability)} out of 100").first).to_be_visible(timeout=T)
    expect(page.locator(".st-key-ww-option-watch_and_wait")).to_contain_text("Suggested, with conditions")
    expect(page.get_by_role("heading", name="Surveillance under watch-and-wait")).to_be_visible()
    shot(page, shots / "06_options.png")

    go(page, "About the model")
    expect(page.get_by_text(edited.model_version).first).to_be_visible(timeout=T)
    shot(page, shots / "07_about_model.png")


# Presentation mode at 1920 x 1080 (DEMO-02: the number, the headline, the flags in one screen; its top navigation;
# switched off again): checked in the shared screen's walk, test_shared_screen_e2e.py::_check_demo02 (was
# test_presentation_mode_fits_one_screen_at_1920x1080 here, a page of its own repeating that walk's DEMO-02 stop).


def test_out_of_scope_blank_modalities_and_cohort_import(page: Page, server, shots, tmp_path, samples):
    open_app(page, server)
    load_sample(page, "DEMO-04")  # SCRT, consolidation CAPOX + anti-PD-1: arms with the same regimen are highlighted
    go(page, "Evidence")
    expect(page.locator(".js-plotly-plot").first).to_contain_text("same regimen as this patient", timeout=T)
    shot(page, shots / "05b_evidence_DEMO-04_matching_arms.png")

    go(page, "Patient")
    load_sample(page, "DEMO-11")
    go(page, "Assessment")
    expect(page.get_by_text("dMMR/MSI-H: outside this tool's scope")).to_be_visible(timeout=T)
    expect(page.get_by_test_id("stMetricValue")).to_have_count(0)
    shot(page, shots / "09_assessment_out_of_scope_DEMO-11.png")

    # a record with only the required fields: every modality blank, still answered (with a wide interval)
    go(page, "Patient")
    page.get_by_role("button", name="Clear").click()
    settle(page)
    type_into(page, "Patient pseudonym (required)", "E2E-BLANK")
    select(page, "MMR status (required)", "pMMR")
    minimal = watchwait.assess({"patient_id": "E2E-BLANK", "mmr_status": "pMMR"})
    expect(page.get_by_text("not available:").first).to_be_visible(timeout=T)
    go(page, "Assessment")
    expect(page.get_by_test_id("stMetricValue")).to_have_text(present.percent(minimal.probability), timeout=T)
    # blank scope fields are not taken as in scope silently (rule 10): confirm notices, a conditional headline
    assert minimal.suggestion.conditional and minimal.suggestion.confirm
    assert shown_headline(page.locator(".st-key-ww-suggestion")) == f"Suggested, with conditions: {minimal.suggestion.headline}"
    for n in minimal.suggestion.confirm:
        expect(page.get_by_text(n.title).first).to_be_visible()
    shot(page, shots / "10_assessment_blank_modalities.png")

    # an invalid entry is explained inline, with the field and the allowed values
    go(page, "Patient")
    type_into(page, "Age (years, 18-100)", "150")
    expect(page.get_by_text("Age must be a whole number from 18 to 100; got '150' instead.").first).to_be_visible(timeout=T)
    shot(page, shots / "11_patient_invalid_age.png", full=False)
    type_into(page, "Age (years, 18-100)", "")

    # cohort import: a bad file shows the validator's messages; a good one imports the chosen row
    bad = tmp_path / "bad.csv"
    bad.write_text("patient_id,mmr_status,age_years\nP-1,pMMR,17\nP-2,MSS,60\n")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    settle(page)
    expect(page.get_by_text("bad.csv was not imported")).to_be_visible(timeout=T)
    expect(page.get_by_text("row 2, age_years must be a whole number from 18 to 100; got '17' instead.")).to_be_visible()
    expect(page.get_by_text("row 3, mmr_status must be one of 'pMMR', 'dMMR'; got 'MSS' instead.")).to_be_visible()
    shot(page, shots / "12_patient_bad_cohort_file.png")
    good = tmp_path / "good.csv"
    good.write_text("patient_id,mmr_status,endoscopy,dre,mr_trg,dwi_restriction,ctdna_post_treatment_mtm_ml\n"
                    "G-1,pMMR,complete,normal,1,false,0\nG-2,pMMR,incomplete,mass,4,true,3.5\n")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(good))
    settle(page)
    select(page, "Patient from the uploaded file (2 rows)", "G-2")
    page.get_by_role("button", name="Import this patient").click()
    settle(page)
    # the record on screen was edited above: the import asks first, and goes ahead once confirmed
    expect(page.get_by_text("Unsaved changes to")).to_be_visible(timeout=T)
    page.get_by_role("button", name="Discard changes and continue").click()
    settle(page)
    g2 = watchwait.assess({"patient_id": "G-2", "mmr_status": "pMMR", "endoscopy": "incomplete", "dre": "mass", "mr_trg": 4,
                           "dwi_restriction": True, "ctdna_post_treatment_mtm_ml": 3.5})
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(present.percent(g2.probability), timeout=T)
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(g2.suggestion.rule_id)
