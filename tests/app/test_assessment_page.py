"""Assessment screen: the numbers on screen are exactly watchwait.assess's, scope first, SHAP in points."""

import math

import pytest
import streamlit as st

import watchwait
from components import tables
from watchwait import present
from apptest_helpers import assert_suggestion_shown, goto, load_sample, new_app, plotly_specs, texts, walk


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def _assessment(app, pid):
    load_sample(app, pid)
    return goto(app, "assessment")


@pytest.mark.parametrize("pid", ["DEMO-01", "DEMO-02", "DEMO-09"])
def test_key_values_are_those_of_assess(app, sample_records, pid):
    a = watchwait.assess(sample_records[pid])
    s = a.suggestion
    _assessment(app, pid)
    lo, hi = a.interval
    # written as watchwait.present writes a model probability (DEMO-01 reads 0.9967: "> 99%", never "100%")
    assert [m.value for m in app.metric] == [present.percent(a.probability)]
    screen = texts(app)
    assert f"**90% interval: {present.interval_text(lo, hi)}**" in screen
    assert f"{present.about(a.probability)} have no tumour left" in screen
    assert_suggestion_shown(screen, s)
    assert f"Why: {s.rationale}" in screen and s.rule_id in screen
    assert a.category_label in screen
    assert a.model_version in screen
    for f in s.confirm + s.flags:  # every notice, by its rule and its own words
        assert f.rule_id in screen and (f.message[:40] in screen or f.title[:40] in screen), f.rule_id
    assert any("Synthetic training data" in w.value for w in app.warning)


def test_sample_patients_cover_an_unconditional_and_a_conditional_headline(sample_records):
    """DEMO-01 is the concordant cCR, DEMO-02 the cCR with a low probability (sample_data/README.md)."""
    assert not watchwait.assess(sample_records["DEMO-01"]).suggestion.conditional
    assert watchwait.assess(sample_records["DEMO-02"]).suggestion.conditional


def test_ccr_with_detectable_ctdna_headline_is_conditional(app, sample_records):
    """Brief rule 6 on screen: DEMO-13 (cCR, ctDNA detectable at assessment) never reads as an unqualified
    watch-and-wait; the headline names the conditions (systemic restaging, a repeat local assessment)."""
    a = watchwait.assess(sample_records["DEMO-13"])
    s = a.suggestion
    assert (a.category, s.pathway) == ("cCR", "watch_and_wait") and s.conditional
    _assessment(app, "DEMO-13")
    screen = texts(app)
    assert "Suggested, with conditions:" in screen
    assert "Suggested, with conditions: Watch-and-wait only after" in screen
    assert "Suggested: Watch-and-wait with surveillance" not in screen
    assert_suggestion_shown(screen, s)
    assert any("systemic restaging" in c for c in s.conditions)
    for rid in ("FLAG-cCR-ctDNA", "FLAG-ctDNA-systemic"):
        assert rid in screen


def test_flags_come_before_the_number(app, sample_records):
    flagged = [pid for pid, r in sample_records.items()  # which sample carries a flag depends on the model in use
               if (a := watchwait.assess(r)).in_scope and any(f.rule_id.startswith("FLAG") for f in a.suggestion.flags)]
    assert flagged
    _assessment(app, flagged[0])
    order = [type(el).__name__ for el in walk(app.main)]
    first_warning = next(i for i, el in enumerate(walk(app.main)) if type(el).__name__ == "Warning" and "FLAG" in el.value)
    assert first_warning < order.index("Metric")


def test_shap_waterfall_is_in_probability_points_largest_first_with_values(app, sample_records):
    a = watchwait.assess(sample_records["DEMO-01"])
    _assessment(app, "DEMO-01")
    water = next(s for s in plotly_specs(app) if s["data"][0]["type"] == "waterfall")["data"][0]
    rows = tables.waterfall_rows(a.contributions)
    # laid on the model's log-odds scale (the axis labelled in probability): each bar its contribution, its number
    # the contribution in probability points, the first and last bars at the baseline's and the patient's place
    assert water["x"][1:-1] == pytest.approx(list(rows["shap_logit"]))
    assert water["text"][1:-1] == [f"{v:+.1f}" for v in rows["shap_pp"]]
    assert water["x"][0] + sum(water["x"][1:-1]) == pytest.approx(water["x"][-1])
    assert water["x"][-1] - water["x"][0] == pytest.approx(logit(a.probability) - logit(a.base_probability))
    assert sum(rows["shap_pp"]) == pytest.approx(100 * (a.probability - a.base_probability))
    assert (water["text"][0], water["text"][-1]) == (present.percent(a.base_probability), present.percent(a.probability))
    top = a.contributions[0]
    assert water["y"][1] == tables.bar_label(top) and water["y"][1].replace("<br>", " ").startswith(top.label)
    assert f"value: {top.value}" in water["customdata"][1]  # the full value one hover away
    assert all(len(line) <= tables.BAR_WRAP for y in water["y"] for line in y.split("<br>") if " " in line)
    singles = [abs(v) for v, f in zip(water["x"][1:-1], rows["feature"]) if f != "other"]
    assert singles == sorted(singles, reverse=True)  # largest first (the summed rest comes last)
    by_input = next(d.value for d in app.dataframe if "technical name" in d.value.columns)
    assert by_input.iloc[0]["probability points"] == f"{top.shap_pp:+.1f}"


def test_a_modality_not_tested_is_said_once_and_takes_no_bar(app, sample_records):
    """Every PD-L1 input blank (DEMO-02): no PD-L1 bar in either chart, the starting point is the average
    patient without that test, the screen says why once, the tables say "not tested" (issue 9)."""
    from watchwait.schema import MODALITIES

    a = watchwait.assess(sample_records["DEMO-02"])
    assert "immune" in a.missing_modalities
    blank = [c for c in a.contributions if c.not_tested]
    mods = list(dict.fromkeys(c.modality for c in blank))  # immune, and radiomics when the model has that branch
    assert "immune" in mods and set(mods) == set(a.missing_modalities) & {c.modality for c in a.contributions}
    _assessment(app, "DEMO-02")
    specs = plotly_specs(app)
    water = next(s for s in specs if s["data"][0]["type"] == "waterfall")["data"][0]
    bars = next(s for s in specs if s["data"][0]["type"] == "bar")["data"][0]
    assert not any(c.label in y.replace("<br>", " ") for c in blank for y in water["y"])
    assert not {MODALITIES[m] for m in mods} & set(bars["y"])
    assert water["y"][0] == "Average patient without " + " or ".join(MODALITIES[m] for m in mods)
    # the starting point is the baseline with the blank modality's contributions folded in (log-odds, exact)
    start = logit(a.base_probability) + sum(c.shap_logit for c in blank)
    assert water["x"][-1] - water["x"][0] == pytest.approx(logit(a.probability) - start)
    assert water["text"][0] == present.percent(1 / (1 + math.exp(-start)))
    screen = texts(app)
    assert screen.count("Not tested: " + "; ".join(MODALITIES[m] for m in mods) + " (every input blank)") == 1
    tables_ = {tuple(d.value.columns): d.value for d in app.dataframe}
    by_input = next(v for k, v in tables_.items() if "technical name" in k)
    assert set(by_input[by_input["modality"].isin([MODALITIES[m] for m in mods])]["probability points"]) == {"not tested"}
    per_mod = next(v for k, v in tables_.items() if "inputs" in k)
    assert per_mod[per_mod["modality"] == MODALITIES["immune"]]["probability points"].tolist() == ["not tested"]


def test_inputs_keep_their_technical_name_one_click_away(app, sample_records):
    from components import cache

    feats = {f.name: f for f in cache.model_bundle().predictor.features_}
    a = watchwait.assess(sample_records["DEMO-01"])
    _assessment(app, "DEMO-01")
    by_input = next(d.value for d in app.dataframe if "technical name" in d.value.columns)
    top = a.contributions[0]
    assert by_input.iloc[0]["technical name"] == ", ".join(feats[top.feature].sources)
    water = next(s for s in plotly_specs(app) if s["data"][0]["type"] == "waterfall")["data"][0]
    assert feats[top.feature].sources[0] in water["customdata"][1]
    assert not any("__" in y or "original_" in y for y in water["y"])  # no model-internal name on a bar


def test_out_of_scope_replaces_the_probability(app, sample_records):
    for pid, rule in (("DEMO-11", "SCOPE-dMMR"), ("DEMO-12", "SCOPE-NEW-M1")):
        a = watchwait.assess(sample_records[pid])
        _assessment(app, pid)
        assert not app.metric and not app.get("plotly_chart")
        assert a.scope_notices[0].title in app.error[0].value and rule in app.error[0].value
        assert not a.suggestion.conditional
        assert_suggestion_shown(texts(app), a.suggestion)


def test_editing_a_field_on_the_assessment_page_reassesses(app, sample_records):
    _assessment(app, "DEMO-01")
    app.text_input(key="field:assessment:ctdna_post_treatment_mtm_ml").input("1").run()
    a = watchwait.assess({**sample_records["DEMO-01"], "ctdna_post_treatment_mtm_ml": 1.0})
    assert [m.value for m in app.metric] == [present.percent(a.probability)]
    assert "FLAG-cCR-ctDNA" in texts(app)
    goto(app, "patient")
    assert app.text_input(key="field:patient:ctdna_post_treatment_mtm_ml").value == "1"


def test_model_that_cannot_load_gives_a_plain_message(monkeypatch):
    from components import cache
    from watchwait import ModelArtifactError

    def broken(path=None):
        raise ModelArtifactError("models/shipped/model.joblib: sha256 0000 does not match the model card")

    st.cache_resource.clear()
    monkeypatch.setattr(cache, "load_model", broken)
    try:
        at = new_app()
        load_sample(at, "DEMO-01")
        goto(at, "assessment")
        assert not at.exception and not at.metric
        assert "The model could not be loaded" in at.error[0].value and "does not match the model card" in at.error[0].value
        goto(at, "about_model")
        assert "The model could not be loaded" in at.error[0].value
    finally:
        monkeypatch.undo()
        st.cache_resource.clear()
