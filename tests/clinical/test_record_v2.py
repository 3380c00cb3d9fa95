"""Record version 2 end to end: a version-1 file stays valid, the new columns are validated with the
dictionary's domains, the response category uses restaging nodes and biopsy, and the training target
follows from the follow-up columns as the data dictionary says."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from watchwait.derive import columns_from_record, outcome_from_followup, response_category
from watchwait.engine import predict_frame
from watchwait.errors import ModelArtifactError, RecordError
from watchwait.schema import V2_COLUMNS
from watchwait.training import outcome
from watchwait.validation import read_cohort, validate_record
from tests.clinical.test_vignettes import BASE

SAMPLES = "sample_data/sample_patients.csv"


def test_a_version_1_file_is_still_valid_and_predicted(tmp_path):
    v2 = pd.read_csv(SAMPLES, dtype=str, keep_default_na=False)
    v1 = v2.drop(columns=[c for c in V2_COLUMNS if c in v2.columns])
    frame = read_cohort(io.StringIO(v1.to_csv(index=False)), source="v1.csv")
    out = predict_frame(frame)
    assert len(out) == len(v1)
    # nodes are not recorded in a version-1 file: a cCR is asked to confirm them, never silently accepted
    ccr = out[(out["category"] == "cCR") & out["p_complete_response"].notna()]  # in scope
    assert len(ccr) and ccr["flags"].str.contains("FLAG-nodes-not-recorded").all() and ccr["conditional"].all()


@pytest.mark.parametrize("column,value,allowed", [
    ("ymr_n_stage", "N3", "one of 'N0', 'N1', 'N2'"),
    ("restaging_biopsy", "suspicious", "one of 'not_done', 'negative', 'positive'"),
    ("residual_lesion_mm", "101", "a number from 0 to 100 mm"),
    ("fit_for_major_surgery", "maybe", "one of 'yes', 'no', 'uncertain'"),
    ("patient_preference", "rectum", "one of 'organ_preservation', 'surgery', 'undecided', 'not_discussed'"),
    ("months_followed", "300", "a number from 0 to 240 months"),
])
def test_new_columns_are_validated_with_the_dictionary_domain(column, value, allowed):
    with pytest.raises(RecordError) as e:
        validate_record({**BASE, column: value})
    assert allowed in str(e.value)


def test_a_bad_new_column_in_a_file_names_row_and_column_and_nothing_is_returned():
    df = pd.read_csv(SAMPLES, dtype=str, keep_default_na=False)
    df.loc[2, "ymr_n_stage"] = "N9"
    with pytest.raises(RecordError) as e:
        read_cohort(io.StringIO(df.to_csv(index=False)), source="bad.csv")
    assert "row 4, ymr_n_stage must be one of 'N0', 'N1', 'N2'; got 'N9' instead." in str(e.value)


@pytest.mark.parametrize("change,category", [
    ({}, "cCR"),
    ({"ymr_n_stage": "N1"}, "near-cCR"),  # persistent suspicious nodes rule out a cCR
    ({"ymr_n_stage": "N2", "dre": "mass"}, "incomplete"),
    ({"restaging_biopsy": "positive"}, "incomplete"),  # residual tumour
    ({"restaging_biopsy": "negative", "mr_trg": 3}, "near-cCR"),  # a negative biopsy rules nothing out
    ({"restaging_biopsy": "negative"}, "cCR"),
    ({"ymr_n_stage": None}, "cCR"),  # not recorded: the rules ask to confirm (FLAG-nodes-not-recorded)
    ({"ymr_n_stage": "N1", "dwi_restriction": None}, "not_assessed"),
])
def test_response_category_uses_nodes_and_biopsy(change, category):
    rec = validate_record({**BASE, **change})
    assert response_category(columns_from_record(rec))[0] == category


FOLLOW = pd.DataFrame([
    # management, ypT, ypN, regrowth, months to regrowth, months followed -> complete_response
    ("tme", "T0", "N0", None, None, 12, 1.0),
    ("tme", "T0", "N1", None, None, 12, 0.0),
    ("tme", "T2", "N0", None, None, 12, 0.0),
    ("local_excision", "T0", None, False, None, 14, 1.0),
    ("local_excision", "T0", None, True, 9, 14, 0.0),
    ("watch_and_wait", None, None, False, None, 12, 1.0),
    ("watch_and_wait", None, None, False, None, 11, np.nan),  # followed < 12 months: unknown
    ("watch_and_wait", None, None, True, 5, 8, 0.0),
    (None, None, None, None, None, None, np.nan),
], columns=["management", "ypt_stage", "ypn_stage", "local_regrowth", "months_to_regrowth", "months_followed", "expected"])


def _cols(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    cols = {c: frame[c].to_numpy(dtype=object) for c in ("management", "ypt_stage", "ypn_stage")}
    for c in ("local_regrowth", "months_to_regrowth", "months_followed"):
        cols[c] = pd.to_numeric(frame[c].map(lambda v: np.nan if v is None else float(v))).to_numpy(dtype=float)
    return cols


def test_complete_response_follows_from_the_follow_up_columns():
    got = outcome_from_followup(_cols(FOLLOW))
    np.testing.assert_array_equal(got, FOLLOW["expected"].to_numpy(dtype=float))


def test_training_target_fills_blanks_from_follow_up_and_refuses_a_contradiction():
    frame = pd.DataFrame(_cols(FOLLOW.iloc[:6]))
    frame["complete_response"] = [np.nan, 0.0, np.nan, 1.0, np.nan, np.nan]
    np.testing.assert_array_equal(outcome(frame), [True, False, False, True, False, True])
    frame.loc[0, "complete_response"] = 0.0  # ypT0N0 but recorded as not a complete response
    with pytest.raises(ModelArtifactError, match=r"contradicts the follow-up columns .* on rows 2;"):
        outcome(frame)


@pytest.mark.parametrize("change,unseen", [({"rt_schedule": "none", "sequence": "none"}, "no radiotherapy"),
                                          ({"immunotherapy": "anti_pdl1"}, "anti-PD-L1")])
def test_shipped_model_says_when_a_regimen_was_never_in_its_training_data(change, unseen):
    from watchwait.engine import assess

    a = assess({**BASE, **change})
    flag = next(f for f in a.suggestion.flags if f.rule_id == "FLAG-extrapolation")
    assert unseen in flag.message and a.suggestion.conditional and "extrapolation" in a.suggestion.headline
    assert "FLAG-extrapolation" not in [f.rule_id for f in assess(BASE).suggestion.flags]


def test_no_notice_carries_an_unfilled_template():
    import re

    from watchwait.engine import assess

    rec = {**BASE, "dre": "mass", "patient_preference": "organ_preservation", "residual_lesion_mm": None, "cm_stage": None,
           "ecog": 3, "fit_for_major_surgery": None, "immunotherapy": "anti_pdl1", "sphincter_involved": True}
    s = assess(rec).suggestion
    texts = [s.headline, s.rationale] + [t for n in s.flags + s.confirm + s.context for t in (n.title, n.message, n.rationale)]
    assert not [t for t in texts if re.search(r"\{[a-z_]+[^}]*\}", t)]
    pref = next(n for n in s.context if n.rule_id == "CTX-preference")
    assert "preference: organ preservation." in pref.message and "preference: organ preservation." in pref.rationale
