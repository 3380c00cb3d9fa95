"""Patient screen: sample load, inline validation with the validator's messages, blanks and missing modalities."""

import watchwait
from apptest_helpers import errors, goto, load_sample, texts
from watchwait import present
from watchwait.schema import FIELDS, MODALITIES


def key(name, scope="patient"):
    return f"field:{scope}:{name}"


def test_form_has_a_widget_for_every_data_dictionary_field(app):
    load_sample(app, "DEMO-01")
    keys = {w.key for w in list(app.text_input) + list(app.selectbox)}
    assert {key(f.name) for f in FIELDS} <= keys


def test_sample_patient_fills_the_form_and_the_summary_matches_assess(app, sample_records):
    load_sample(app, "DEMO-01")
    rec = sample_records["DEMO-01"]
    assert app.text_input(key=key("age_years")).value == "61"
    assert app.text_input(key=key("ctdna_post_rt_mtm_ml")).value == "0"
    assert app.selectbox(key=key("regorafenib")).value == "true"
    a = watchwait.assess(rec)
    lo, hi = a.interval
    summary = app.success[0].value
    assert f"**{present.percent(a.probability)}** ({present.interval_text(lo, hi)})" in summary
    assert "**> 99%** (97% to > 99%)" in summary  # DEMO-01 reads 0.9967: never "100%"
    assert not a.suggestion.conditional  # DEMO-01: everything concordant
    assert f"suggested: **{a.suggestion.headline}**" in summary and a.suggestion.rule_id in summary
    assert "not available:** none" in texts(app)


def test_summary_shows_the_conditional_headline_never_the_bare_pathway(app, sample_records):
    a = watchwait.assess(sample_records["DEMO-13"])  # cCR, ctDNA detectable at assessment
    assert a.suggestion.conditional and a.suggestion.pathway == "watch_and_wait"
    load_sample(app, "DEMO-13")
    summary = app.success[0].value
    assert f"suggested, with conditions: **{a.suggestion.headline}**" in summary
    assert "Watch-and-wait with surveillance" not in summary
    assert f"{len(a.suggestion.confirm) + len(a.suggestion.flags)} notice(s) to read first" in summary


def test_blank_modality_is_listed_as_not_available(app, sample_records):
    load_sample(app, "DEMO-02")  # PD-L1 blank, no MRI (whether radiomics is listed depends on the model's branches)
    missing = watchwait.assess(sample_records["DEMO-02"]).missing_modalities
    assert "immune" in missing
    assert "not available:** " + ", ".join(MODALITIES[m] for m in missing) in texts(app)


def test_invalid_entry_is_explained_inline_and_nothing_is_calculated(app):
    load_sample(app, "DEMO-01")
    app.text_input(key=key("age_years")).input("150").run()
    msg = "Age must be a whole number from 18 to 100; got '150' instead."  # the form's label, not the column
    assert msg in errors(app)
    app.text_input(key=key("ctdna_post_treatment_mtm_ml")).input("lots").run()
    assert "ctDNA C3: at response assessment must be a number from 0 to 100000 MTM/mL; got 'lots' instead." in errors(app)
    assert "ctdna_post_treatment_mtm_ml" not in errors(app) and "age_years" not in texts(app)
    assert not app.success
    goto(app, "assessment")
    assert not app.metric
    assert msg in texts(app)


def test_blank_means_not_available_and_required_fields_say_so(app):
    load_sample(app, "DEMO-01")
    app.selectbox(key=key("mmr_status")).select("").run()
    assert "MMR status is required (one of pMMR, dMMR); it was left blank." in errors(app)
    app.selectbox(key=key("mmr_status")).select("pMMR").run()
    app.text_input(key=key("pdl1_cps")).input("").run()
    app.text_input(key=key("pdl1_tps_pct")).input("").run()
    assert not app.error
    assert f"not available:** {MODALITIES['immune']}" in texts(app)


def test_clear_empties_the_record(app):
    load_sample(app, "DEMO-01")
    app.button(key="clear_patient").click().run()
    assert app.text_input(key=key("patient_id")).value == ""
    assert "Empty record" in texts(app)


def test_out_of_scope_patient_shows_the_notice_and_no_probability(app):
    load_sample(app, "DEMO-11")
    assert not app.success
    assert "dMMR/MSI-H: outside this tool's scope" in app.error[0].value


def test_form_shows_codes_in_words_and_says_how_to_enter_lab_results(app):
    """Drop-downs show clinical words (the codes stay in the record); '<0.01' and '4,5' get a hint naming the
    field as the form labels it (issue 9)."""
    from watchwait.labels import code_text

    load_sample(app, "DEMO-01")
    dre = app.selectbox(key=key("dre"))
    assert "smooth induration" in dre.options and "smooth_induration" not in dre.options
    imm = app.selectbox(key=key("immunotherapy"))
    assert code_text("immunotherapy", "anti_pdl1") in imm.options and "anti_pdl1" not in imm.options
    app.text_input(key=key("ctdna_post_rt_mtm_ml")).input("<0.01").run()
    assert ("ctDNA C2: after radiotherapy must be a number from 0 to 100000 MTM/mL; got '<0.01' instead. "
            "Below the detection limit: enter 0 (= tested, not detected).") in errors(app)
    app.text_input(key=key("cea_post_ng_ml")).input("4,5").run()
    assert "CEA at response assessment must be a number from 0 to 10000 ng/mL; got '4,5' instead. Use a decimal point: enter 4.5 for 4,5." in errors(app)


def test_facts_banner_says_codes_in_words_and_names_a_new_metastasis(app):
    load_sample(app, "DEMO-01")
    banner = next(h.proto.body for h in app.get("html") if 'class="ww-facts"' in h.proto.body)
    assert "short-course radiotherapy" in banner and "anti-PD-1 + anti-CTLA-4" in banner
    assert "SCRT" not in banner and "pd1_ctla4" not in banner and "consolidation," not in banner
    load_sample(app, "DEMO-12")  # new distant metastasis at restaging: out of scope
    banner = next(h.proto.body for h in app.get("html") if 'class="ww-facts"' in h.proto.body)
    assert "new distant metastasis" in banner and "M0 at baseline" in banner


def test_facts_banner_says_not_tested_instead_of_blank_codes():
    from watchwait.present import key_facts

    facts = dict(key_facts({"patient_id": "X", "mmr_status": "pMMR", "ctdna_baseline_mtm_ml": 2.5, "ctdna_post_rt_mtm_ml": 0.0}))
    assert facts["ctDNA C1/C2/C3"] == "2.5 / 0 / not tested MTM/mL (0 = not detected)"
    facts = dict(key_facts({"patient_id": "X", "mmr_status": "pMMR"}))
    assert facts["ctDNA"] == "not tested" and "ctDNA C1/C2/C3" not in facts
    assert "n/a" not in " ".join(facts.values()) and "endoscopy not recorded" in facts["Restaging"]
