"""What if, Trajectories, Evidence, Options and About: the values on screen are the engine's."""

import json

import pytest

import watchwait
from watchwait.references import plain
from components import figures
from apptest_helpers import assert_suggestion_shown, goto, load_sample, plotly_specs, texts
from watchwait import evidence, present, whatif
from watchwait.schema import BY_NAME
from watchwait.training import load_model


def _page(app, pid, page):
    load_sample(app, pid)
    return goto(app, page)


# ----------------------------------------------------------------------------- what if

def test_what_if_default_scenarios_are_ctdna_cleared_and_detectable(app, sample_records):
    rec = sample_records["DEMO-01"]
    _page(app, "DEMO-01", "what_if")
    presets = list(whatif.PRESETS.values())
    expected = [watchwait.assess(rec), watchwait.assess({**rec, **presets[0]}), watchwait.assess({**rec, **presets[1]})]
    assert [m.value for m in app.metric] == [present.percent(a.probability) for a in expected]
    table = app.dataframe[0].value
    assert list(table.loc["rule"]) == [a.suggestion.rule_id for a in expected]
    assert list(table.loc["suggested next step"]) == [a.suggestion.headline for a in expected]
    assert "FLAG-cCR-ctDNA" in table.iloc[:, 2]["notices (confirm and flags)"]
    # ctDNA detectable: same pathway as the current patient, but conditional, in the table and on the cards
    now, detectable = expected[0].suggestion, expected[2].suggestion
    assert not now.conditional and detectable.conditional and detectable.pathway == now.pathway
    n = len(detectable.conditions)
    assert list(table.loc["conditional"]) == ["no", "no", f"yes: only after {n} condition{'s' if n != 1 else ''}"]
    screen = texts(app)
    assert f"Suggested: **{now.headline}**" in screen
    assert f"Suggested, with conditions: **{detectable.headline}**" in screen
    assert screen.count(f"Suggested: **{now.label}**") == 2  # current patient and ctDNA cleared, not the detectable one


def test_what_if_for_a_conditional_patient_never_shows_the_bare_pathway(app, sample_records):
    a = watchwait.assess(sample_records["DEMO-13"])  # cCR with ctDNA detectable at assessment
    _page(app, "DEMO-13", "what_if")
    table = app.dataframe[0].value
    assert table.iloc[:, 0]["suggested next step"] == a.suggestion.headline != a.suggestion.label
    assert table.iloc[:, 0]["conditional"].startswith("yes")
    cards = [m.value for m in app.markdown if m.value.startswith(("Suggested:", "Suggested, with conditions:"))]
    assert cards[0] == f"Suggested, with conditions: **{a.suggestion.headline}** (rule `{a.suggestion.rule_id}`)"
    assert cards[0].startswith("Suggested, with conditions: **Watch-and-wait only after: ")
    # ctDNA cleared (scenario A) lifts the ctDNA conditions; detectable (scenario B) keeps them
    cleared = watchwait.assess({**sample_records["DEMO-13"], "ctdna_post_treatment_mtm_ml": 0.0}).suggestion
    assert cards[1].startswith("Suggested, with conditions:" if cleared.conditional else "Suggested:")
    # with ctDNA cleared, systemic restaging is still asked only by the CEA flag (DEMO-13's CEA is above 5 ng/mL)
    assert not {"FLAG-ctDNA-systemic", "FLAG-cCR-ctDNA"} & {f.rule_id for f in cleared.flags}
    assert ("systemic restaging" in cleared.headline) == any(f.rule_id == "FLAG-CEA-systemic" for f in cleared.flags)
    assert cards[2] == cards[0]


def test_what_if_changes_several_inputs_at_once(app, sample_records):
    rec = sample_records["DEMO-09"]  # incomplete on DRE (mass), DWI not recorded
    _page(app, "DEMO-09", "what_if")
    app.multiselect(key="scenario:2:fields").select("dre").select("dwi_restriction").run()
    app.selectbox(key="scenario:2:value:dre").select("normal").run()
    app.selectbox(key="scenario:2:value:dwi_restriction").select("false").run()
    before = watchwait.assess(rec)
    a = watchwait.assess({**rec, "dre": "normal", "dwi_restriction": False})
    assert (before.category, a.category) == ("incomplete", "cCR")  # both changes needed for a cCR
    assert app.metric[-1].value == present.percent(a.probability)
    table = app.dataframe[0].value
    col = table.iloc[:, -1]
    assert col["suggested next step"] == a.suggestion.headline and col["rule"] == a.suggestion.rule_id
    assert col["response category"] == a.category_label and table.iloc[:, 0]["rule"] == before.suggestion.rule_id
    assert col["conditional"] == ("no" if not a.suggestion.conditional else f"yes: only after {len(a.suggestion.conditions)} "
                                  f"condition{'s' if len(a.suggestion.conditions) != 1 else ''}")
    assert "Digital rectal examination: palpable mass -> normal" in col["changed inputs"]


def test_what_if_says_codes_in_words(app):
    _page(app, "DEMO-01", "what_if")
    app.selectbox(key="scenario:2:preset").select("SCRT, consolidation CAPOX x6, no immunotherapy").run()
    changed = " ".join(app.dataframe[0].value.loc["changed inputs"])
    assert "Immunotherapy: anti-PD-1 + anti-CTLA-4 -> no immunotherapy" in changed
    assert "pd1_ctla4" not in changed and "anti_pd1" not in changed


def test_what_if_does_not_offer_follow_up_fields(app):
    from watchwait.schema import FOLLOW_UP

    _page(app, "DEMO-01", "what_if")
    offered = set(app.multiselect(key="scenario:2:fields").options)
    assert not {BY_NAME[c].label for c in FOLLOW_UP} & offered
    assert BY_NAME["fit_for_major_surgery"].label in offered


def test_what_if_invalid_scenario_value_is_explained(app):
    _page(app, "DEMO-01", "what_if")
    app.multiselect(key="scenario:2:fields").select("mr_trg").run()
    app.text_input(key="scenario:2:value:mr_trg").input("7").run()
    assert "MRI tumour regression grade (mrTRG) must be a whole number from 1 to 5; got '7' instead." in texts(app)
    assert "mr_trg" not in texts(app)


# ----------------------------------------------------------------------------- trajectories

def test_trajectories_show_not_detected_at_a_floor_and_not_tested_as_gaps(app, sample_records):
    _page(app, "DEMO-04", "trajectories")  # ctDNA 8.869 -> 0.0954 -> 0
    spec = plotly_specs(app)[0]
    nd = next(t for t in spec["data"] if t.get("name", "").startswith("0 = tested"))
    assert nd["x"] == ["C3: at assessment"] and nd["y"] == [figures.CTDNA_FLOOR]
    det = next(t for t in spec["data"] if t.get("name", "").startswith("detected"))
    assert det["y"] == [8.869, 0.0954]
    assert spec["layout"]["yaxis"]["type"] == "log"
    assert figures.CTDNA_DETECTION_LIMIT in spec["layout"]["yaxis"]["tickvals"]
    table = app.dataframe[0].value
    assert list(table["ctDNA (MTM/mL)"]) == ["8.869", "0.0954", "0 (not detected)"]
    assert "Cleared by response assessment:** yes" in texts(app)
    cea = app.dataframe[1].value
    assert list(cea["CEA (ng/mL)"])[0] == "2.49" and list(cea["CEA (ng/mL)"])[2] == "not available"


def test_trajectories_not_tested_timepoint(app):
    _page(app, "DEMO-03", "trajectories")  # C2 blank
    assert list(app.dataframe[0].value["ctDNA (MTM/mL)"]) == ["0 (not detected)", "not tested", "0 (not detected)"]
    spec = plotly_specs(app)[0]
    assert [t.endswith("<b>not tested</b>") for t in spec["layout"]["xaxis"]["ticktext"]] == [False, True, False]


# ----------------------------------------------------------------------------- evidence

def test_evidence_highlights_arms_with_this_patients_regimen(app, sample_records):
    rec = sample_records["DEMO-04"]  # SCRT, consolidation CAPOX, anti-PD-1: TORCH-like
    _page(app, "DEMO-04", "evidence")
    arms = evidence.trials_for(rec)
    n_same = int((arms["match"] == evidence.MATCH_SAME).sum())
    assert f"**{n_same}** trial arm(s) used the same regimen" in texts(app)
    table = app.dataframe[0].value
    torch = table[(table["Trial"] == "TORCH") & (table["Sequence (systemic therapy vs RT)"] == "consolidation")].iloc[0]
    assert torch["Match to this patient's regimen"] == "same regimen" and torch["Registry ID"] == "NCT04518280"
    assert torch["95% CI of the rate (Wilson, %)"] == "{:.1f} to {:.1f}".format(*evidence.wilson_interval(56.5, 62))
    assert torch["Endpoint"] == "CR" and torch["Reported rate (endpoint, %)"] == "CR 56.5"
    assert torch["Preservation (%)"] == "82.3"
    assert torch["What 'preservation' means here"].startswith("anal (sphincter) preservation")
    assert not any("organ preservation" in str(c).lower() for c in table.columns)
    forest = plotly_specs(app)[0]
    same = [y for t in forest["data"] if t["name"].startswith("same regimen") for y in t["y"]]
    assert any(y.startswith("TORCH: SCRT, consolidation, toripalimab") for y in same)
    other = [y for t in forest["data"] if t["name"].startswith("other arms") for y in t["y"]]
    assert not any(y.startswith("TORCH: SCRT, consolidation") for y in other)
    assert len(table) == len(arms)


def test_evidence_for_out_of_scope_patient_shows_the_notice_first(app):
    _page(app, "DEMO-11", "evidence")
    assert "dMMR/MSI-H" in app.error[0].value


# ----------------------------------------------------------------------------- options

def test_options_side_by_side_with_out_of_100_figures_and_sources(app, sample_records):
    a = watchwait.assess(sample_records["DEMO-03"])  # near-cCR: local excision only after the disagreement is resolved
    s = a.suggestion
    _page(app, "DEMO-03", "options")
    screen = texts(app)
    assert [o.pathway for o in s.options] == ["watch_and_wait", "local_excision", "reassess", "tme"]
    for opt in s.options:
        assert f"#### {opt.label}" in screen
        for f in opt.figures:
            if f.kind == "published":  # apart, not in bold, naming its population
                assert f"{f.n_out_of_100} out of 100 {f.denominator} {f.label}" in screen
                assert f"**{f.n_out_of_100} out of 100** {f.denominator} {f.label}" not in screen
                assert f"Measured in: {plain(f.population)}" in screen
            elif f.disputed:  # the number and the picture disagree (rule 3): never a plain count
                assert f"**Disputed:** the model's {f.n_out_of_100} out of 100 {f.denominator} {f.label}" in screen
                assert f"**{f.n_out_of_100} out of 100** {f.denominator} {f.label}" not in screen
            else:
                assert f"**{f.n_out_of_100} out of 100** {f.denominator} {f.label}" in screen
            if f.kind != "model":  # a model figure says it is from the model; its source is in the details
                assert plain(f.source) in screen
        for text in opt.not_applicable:
            assert plain(text) in screen
            assert f"out of 100** {text}" not in screen
    # near-cCR: no watch-and-wait figure measured in cCR patients (the 94% salvage, the IWWD rates)
    assert not {"ww_salvage_early", "ww_distant", "ww_regrowth_2y"} & {f.id for o in s.options for f in o.figures}
    assert "out of 100** patients whose regrowth was found in the first 6 months" not in screen
    assert s.conditional and s.rule_id in screen
    assert_suggestion_shown(screen, s)
    assert s.surveillance["title"] == "Follow-up after transanal local excision"
    for plan in (evidence.surveillance_schedule(), s.surveillance):
        assert plain(plan["source"]) in screen
    shown = json.dumps([t.value.to_dict() for t in app.table])
    assert s.surveillance["schedule"][0]["what"] in shown
    assert evidence.surveillance_schedule()["schedule"][0]["what"] in shown


def test_options_show_an_icon_array_for_each_personalised_figure_and_cohort_figures_apart(app, sample_records):
    """As PREDICT lays options out (issue 9): each figure from the model has its own array of 100 patients with
    that many filled; published figures sit in a separate 'Published cohorts' box of the same option."""
    from streamlit.testing.v1.element_tree import Block

    a = watchwait.assess(sample_records["DEMO-01"])
    _page(app, "DEMO-01", "options")
    charts = {el.proto.id: json.loads(el.proto.spec) for el in app.get("plotly_chart")}
    model_figs = [(o, f) for o in a.suggestion.options for f in o.figures if f.kind == "model"]
    assert model_figs and len(app.get("plotly_chart")) == len(model_figs)
    filled = sorted(len(spec["data"][0]["x"]) for spec in charts.values())
    assert filled == sorted(f.n_out_of_100 for _, f in model_figs)
    published = [(o, f) for o in a.suggestion.options for f in o.figures if f.kind == "published"]
    assert published
    for o, f in published:
        cohort = next(b for b in _blocks(app.main) if getattr(b.proto, "id", "").endswith(f"ww-opt-cohort-{o.pathway}")
                      or f"ww-opt-cohort-{o.pathway}" in str(getattr(b, "key", "")))
        inside = "\n".join(str(getattr(e, "value", "")) for e in _leaves(cohort))
        assert f"{f.n_out_of_100} out of 100 {f.denominator}" in inside and "Published cohorts" in inside
        assert isinstance(cohort, Block)


def _blocks(node):
    children = getattr(node, "children", None)
    if children:
        yield node
        for c in children.values():
            yield from _blocks(c)


def _leaves(node):
    children = getattr(node, "children", None)
    if children:
        for c in children.values():
            yield from _leaves(c)
    else:
        yield node


def test_options_out_of_scope(app):
    _page(app, "DEMO-12", "options")
    assert "No options are compared" in texts(app)
    assert "out of 100" not in texts(app)


# ----------------------------------------------------------------------------- about

def test_about_shows_the_model_card_with_oracle_and_baselines(app):
    card = load_model().card
    goto(app, "about_model")
    screen = texts(app)
    assert card["model_version"] in screen and "Synthetic training data" in screen
    assert card["intended_use"] in screen
    metrics = app.dataframe[0].value
    fused = metrics[metrics["model"].str.startswith("Fused")].iloc[0]
    assert fused["AUC"] == f"{card['metrics_held_out']['fused']['auc']:.3f}"
    assert any(metrics["model"].str.startswith("Oracle")) and any(metrics["model"].str.startswith("Clinical nomogram"))
    cov = card["interval_coverage_held_out"]
    assert f"**{100 * cov['coverage']:.1f}%**" in screen
    calib = plotly_specs(app)[0]["data"][1]
    assert calib["y"] == pytest.approx([100 * b["observed"] for b in card["metrics_held_out"]["calibration_curve"]])


def test_about_does_not_contradict_itself_and_shows_no_internal_names(app):
    """Issue 9: the fused model beating the oracle and a branch at chance are explained in words; no server
    timings, checksums or generator module names outside the technical-details expander."""
    from components import tables
    from watchwait.schema import MODALITIES

    card = load_model().card
    goto(app, "about_model")
    screen = texts(app)
    notes = tables.metric_notes(card)
    assert notes and all(n in screen for n in notes)
    assert "Server time" not in screen
    metrics = app.dataframe[0].value
    assert not metrics["model"].str.fullmatch(r"[a-z]+ only").any()
    for key in card["metrics_held_out"]:
        if key.endswith("_only") and key[:-5] in MODALITIES:
            assert f"{MODALITIES[key[:-5]]} only (the model's own branch)" in set(metrics["model"])
    details = next(e for e in app.expander if e.label.startswith("Technical details"))
    assert card["artifact"]["sha256"] in "\n".join(str(x.value) for x in details.markdown)
    outside = _text_outside(app.main, "Technical details")
    assert "watchwait.sim" not in outside and "sha256" not in outside and card["artifact"]["sha256"][:16] not in outside
    assert "calibration.md" not in outside and "protocol 001" not in outside and "../shared" not in outside


def _text_outside(node, expander_prefix: str) -> str:
    if getattr(node, "type", None) == "expander" and str(getattr(node, "label", "")).startswith(expander_prefix):
        return ""
    children = getattr(node, "children", None)
    if children:
        return "\n".join(_text_outside(c, expander_prefix) for c in children.values())
    v = getattr(node, "value", None)
    return v if isinstance(v, str) else ""


def test_about_notes_explain_a_fused_auc_above_the_oracle_and_a_branch_at_chance():
    import copy

    from components import tables

    card = copy.deepcopy(load_model().card)
    m = card["metrics_held_out"]
    m["fused"]["auc"], m["oracle"]["auc"] = 0.913, 0.906
    m["immune_only"] = {**m["fused"], "auc": 0.500}
    notes = tables.metric_notes(card)
    assert "is at or above the oracle's (0.906)" in notes[0] and "sees no radiomics" in notes[0] and "finite sample" in notes[0]
    immune = next(n for n in notes if n.startswith("Immune biomarkers (PD-L1) alone has AUC 0.50"))
    assert "PD-L1 matters only for patients given immunotherapy" in immune and "'not tested'" in immune
    m["fused"]["auc"] = 0.900
    assert "below the oracle's" in tables.metric_notes(card)[0]
