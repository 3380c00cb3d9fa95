"""The rules file's contract (issue 19 item 3): a JSON schema closes every object, so a misspelt key, operator,
pathway or clause shape is refused with its place named; and every name a rule reads (its clauses' fields, a confirm
rule's field, the placeholders of its texts) must be a record column or a value the engine derives, so a misspelt
field cannot silently never fire (or, with is_blank, always fire)."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pandas as pd
import pytest

from watchwait import suggest
from watchwait.engine import assess
from watchwait.rules import RulesFileError, check_schema, load_rules, names_read, parse_rules, unknown_names

SHIPPED = json.loads(resources.files("watchwait").joinpath("data/rules_v2.json").read_text())


def _flag(data: dict, rule_id: str) -> dict:
    return next(r for r in data["flags"] if r["id"] == rule_id)


def test_the_shipped_rules_follow_the_schema():
    check_schema(SHIPPED)


@pytest.mark.parametrize("change, where", [
    (lambda d: _flag(d, "FLAG-ctDNA-systemic").update(qualifes=["tme"]), "flags/0: Additional properties are not "
     "allowed ('qualifes' was unexpected)"),
    (lambda d: _flag(d, "FLAG-ctDNA-systemic").update(when=[["ctdna_post_treatment_mtm_ml", "=>", 0]]),
     "flags/0/when/0/1: '=>' is not one of ['==', '!=', 'in', '>', '>=', '<', '<=', 'is_true', 'is_false', 'is_blank']"),
    (lambda d: _flag(d, "FLAG-ctDNA-systemic").update(when=[["ctdna_post_treatment_mtm_ml", ">"]]),
     "flags/0/when/0: ['ctdna_post_treatment_mtm_ml', '>'] is too short"),
    (lambda d: _flag(d, "FLAG-ctDNA-systemic").update(when=[["ctdna_post_treatment_mtm_ml", ">", "0.5"]]),
     "flags/0/when/0/2: '0.5' is not valid under any of the given schemas"),
    (lambda d: _flag(d, "FLAG-ctDNA-systemic").update(severity="warning"),
     "flags/0/severity: 'warning' is not one of ['caution', 'confirm', 'discordance', 'info']"),
    (lambda d: d["pathway"][0].update(pathway="watch_and_wiat"), "pathway/0/pathway: 'watch_and_wiat' is not one of"),
    (lambda d: d["thresholds"]["p_low"].update(value="0.5"), "thresholds/p_low/value: '0.5' is not of type 'number'"),
    (lambda d: d.update(flag=[]), "the top level: Additional properties are not allowed ('flag' was unexpected)"),
])
def test_a_rules_file_that_breaks_the_schema_is_refused_naming_where(change, where):
    data = copy.deepcopy(SHIPPED)
    change(data)
    with pytest.raises(RulesFileError) as info:
        parse_rules(data)
    message = str(info.value)
    assert message.startswith("The rules file does not follow its schema (data/rules.schema.json): ")
    assert where in message and message.endswith(". Nothing was loaded; correct the file.")


def test_names_read_are_the_clauses_the_field_and_the_placeholders():
    rules = load_rules()
    assert names_read(rules.by_id("FLAG-ctDNA-systemic")) == {"ctdna_post_treatment_mtm_ml"}
    assert "patient_preference_text" in names_read(rules.by_id("CTX-preference"))
    assert "cm_stage" in names_read(rules.by_id("CONFIRM-cM"))


@pytest.fixture(scope="module")
def real_context():
    """The names and values the engine gives the rules for DEMO-01 (captured from a real assess)."""
    from watchwait import engine

    seen = {}
    real = engine.decide

    def spy(ctx, rules, n):
        seen.update(ctx)
        return real(ctx, rules, n)

    engine.decide = spy
    try:
        assess(pd.read_csv("sample_data/sample_patients.csv").iloc[0].to_dict())
    finally:
        engine.decide = real
    return seen


def test_every_name_the_shipped_rules_read_exists_on_a_real_assessment(real_context):
    from watchwait.schema import COLUMNS

    known = set(real_context) | set(COLUMNS) | {"pathway"} | suggest._Row.OWN_NAMES
    assert len(known) > len(COLUMNS) + 20  # the derived values are there
    assert unknown_names(load_rules(), known) == []


def test_a_misspelt_field_stops_the_assessment_with_the_rule_named(real_context):
    data = copy.deepcopy(SHIPPED)
    _flag(data, "FLAG-ctDNA-systemic")["when"] = [["ctdna_post_treatmnt_mtm_ml", ">", 0]]
    _flag(data, "FLAG-ctDNA-systemic")["message"] = "ctDNA {ctdna_post_treatment_mtm_ml} and {typo_here}."
    rules = parse_rules(data)  # the structure is fine: only the names are wrong
    with pytest.raises(RulesFileError) as info:
        suggest.decide(dict(real_context), rules, 1)
    assert str(info.value) == (
        "The rules file reads names that no record column or derived value has (FLAG-ctDNA-systemic: "
        "ctdna_post_treatmnt_mtm_ml; FLAG-ctDNA-systemic: typo_here): such a rule would never fire (or, with "
        "is_blank, always). Correct the names; the data dictionary lists the record's columns.")
    suggest.decide(dict(real_context), load_rules(), 1)  # the shipped rules on the same context: no error
