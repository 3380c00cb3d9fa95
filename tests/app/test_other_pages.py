"""What if, Trajectories, Evidence, Options and About: the values on screen are the engine's."""

import json

import pytest

import watchwait
from components import figures
from apptest_helpers import goto, load_sample, plotly_specs, texts
from watchwait import evidence, whatif
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
    assert [m.value for m in app.metric] == [f"{100 * a.probability:.0f}%" for a in expected]
    table = app.dataframe[0].value
    assert list(table.loc["rule"]) == [a.suggestion.rule_id for a in expected]
    assert "FLAG-cCR-ctDNA" in table.iloc[:, 2]["flags"]


def test_what_if_changes_several_inputs_at_once(app, sample_records):
    rec = sample_records["DEMO-05"]
    _page(app, "DEMO-05", "what_if")
    app.multiselect(key="scenario:2:fields").select("dre").select("mr_trg").run()
    app.selectbox(key="scenario:2:value:dre").select("normal").run()
    app.text_input(key="scenario:2:value:mr_trg").input("1").run()
    a = watchwait.assess({**rec, "dre": "normal", "mr_trg": 1})
    assert app.metric[-1].value == f"{100 * a.probability:.0f}%"
    col = app.dataframe[0].value.iloc[:, -1]
    assert col["suggested pathway"] == a.suggestion.label and col["rule"] == a.suggestion.rule_id
    assert "Digital rectal examination: mass -> normal" in col["changed inputs"]


def test_what_if_invalid_scenario_value_is_explained(app):
    _page(app, "DEMO-01", "what_if")
    app.multiselect(key="scenario:2:fields").select("mr_trg").run()
    app.text_input(key="scenario:2:value:mr_trg").input("7").run()
    assert "mr_trg must be a whole number from 1 to 5; got '7' instead." in texts(app)


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
    assert any(a["text"] == "not tested" for a in spec["layout"].get("annotations", []))


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
    a = watchwait.assess(sample_records["DEMO-03"])
    _page(app, "DEMO-03", "options")
    screen = texts(app)
    for opt in a.suggestion.options:
        assert f"#### {opt.label}" in screen
        for f in opt.figures:
            if f.n_out_of_100 is not None:
                assert f"**{f.n_out_of_100} out of 100** {f.label}" in screen
            assert f.source in screen
    assert f"Suggested by rule {a.suggestion.rule_id}" in screen
    plan = evidence.surveillance_schedule()
    assert plan["source"] in screen
    assert [r["what"] for r in plan["schedule"]][0] in json.dumps(app.table[0].value.to_dict())


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
