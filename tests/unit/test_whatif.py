"""watchwait.whatif: scenarios change only what they say, and compare through one assess function."""

import pytest

import watchwait
from watchwait import RecordError, whatif


def test_apply_changes_a_copy(sample_records):
    rec = sample_records["DEMO-01"]
    out = whatif.apply(rec, {"ctdna_post_treatment_mtm_ml": 1.0, "endoscopy": None})
    assert out["ctdna_post_treatment_mtm_ml"] == 1.0 and out["endoscopy"] is None
    assert rec["ctdna_post_treatment_mtm_ml"] == 0.0 and rec["endoscopy"] == "complete"
    assert {k: v for k, v in out.items() if k not in ("ctdna_post_treatment_mtm_ml", "endoscopy")} == \
           {k: v for k, v in rec.items() if k not in ("ctdna_post_treatment_mtm_ml", "endoscopy")}


def test_unknown_column_and_patient_id_are_refused():
    with pytest.raises(RecordError, match="must be a column of the data dictionary"):
        whatif.apply({}, {"ctdna_c3": 1})
    with pytest.raises(RecordError, match="cannot be changed in a scenario"):
        whatif.apply({}, {"patient_id": "X"})


def test_every_preset_is_a_valid_change(sample_records):
    for name, changes in whatif.PRESETS.items():
        whatif.check_changes(changes)
        watchwait.validation.validate_record(whatif.apply(sample_records["DEMO-03"], changes))


def test_compare_assesses_each_scenario_exactly(sample_records):
    rec = sample_records["DEMO-01"]
    sc = [whatif.Scenario("detectable", {"ctdna_post_treatment_mtm_ml": 1.0}),
          whatif.Scenario("bad", {"mr_trg": 9})]
    res = whatif.compare(rec, sc, assess=watchwait.assess)
    assert [r.name for r in res] == [whatif.CURRENT, "detectable", "bad"]
    assert res[0].assessment.probability == watchwait.assess(rec).probability
    expected = watchwait.assess({**rec, "ctdna_post_treatment_mtm_ml": 1.0})
    assert res[1].assessment.probability == expected.probability
    assert "FLAG-cCR-ctDNA" in [f.rule_id for f in res[1].assessment.suggestion.flags]
    # the new Suggestion fields come through: same pathway, but the scenario's headline is conditional
    now, then = res[0].assessment.suggestion, res[1].assessment.suggestion
    assert now.pathway == then.pathway == "watch_and_wait"
    assert not now.conditional and now.headline == now.label
    assert then.conditional and then.headline == expected.suggestion.headline != then.label
    assert then.headline.startswith("Watch-and-wait only after: ") and "systemic restaging" in then.headline
    assert res[2].assessment is None and res[2].issues[0].column == "mr_trg"
    assert "mr_trg must be a whole number from 1 to 5" in res[2].issues[0].message


def test_describe_change_uses_units_and_not_detected():
    assert whatif.describe_change("ctdna_post_treatment_mtm_ml", 0.0, 1.0) == "ctDNA C3: at response assessment: 0 (not detected) -> 1 MTM/mL"
    assert whatif.describe_change("regorafenib", None, True) == "Regorafenib: not available -> yes"


def test_complete_restaging_preset_includes_the_nodes_and_keeps_a_positive_biopsy(sample_records):
    preset = next(v for k, v in whatif.PRESETS.items() if k.startswith("Restaging complete response"))
    nodes = watchwait.assess(whatif.apply(sample_records["DEMO-10"], preset))  # was mrTRG 5, N2
    assert nodes.category == "cCR" and nodes.suggestion.pathway == "watch_and_wait"
    biopsy = watchwait.assess(whatif.apply(sample_records["DEMO-05"], preset))  # positive restaging biopsy
    assert biopsy.category == "incomplete" and biopsy.suggestion.pathway == "tme"
