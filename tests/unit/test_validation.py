"""The one validator: pinned messages, every bad row at once, nothing returned from a bad file."""
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from watchwait import CohortFileError, RecordError
from watchwait.schema import BY_NAME, FIELDS
from watchwait.validation import check_cell, read_cohort, validate_frame, validate_record

GOOD = {"patient_id": "P-001", "mmr_status": "pMMR"}


def test_minimal_record_blanks_are_not_available():
    rec = validate_record(GOOD)
    assert rec["age_years"] is None and rec["ctdna_post_treatment_mtm_ml"] is None
    assert set(f.name for f in FIELDS) <= set(rec)


@pytest.mark.parametrize("field,value,message", [
    ("age_years", 17, "age_years must be a whole number from 18 to 100; got 17 instead."),
    ("age_years", "60.5", "age_years must be a whole number from 18 to 100; got '60.5' instead."),
    ("ct_stage", "T5", "ct_stage must be one of 'T1', 'T2', 'T3', 'T3a', 'T3b', 'T3c', 'T3d', 'T4a', 'T4b'; got 'T5' instead."),
    ("emvi", "maybe", "emvi must be true or false (also 1/0, yes/no); got 'maybe' instead."),
    ("pdl1_cps", 101, "pdl1_cps must be a number from 0 to 100; got 101 instead."),
    ("ctdna_post_treatment_mtm_ml", -1, "ctdna_post_treatment_mtm_ml must be a number from 0 to 100000 MTM/mL; got -1 instead."),
    ("cea_post_ng_ml", "nan", "cea_post_ng_ml must be a number from 0 to 10000 ng/mL; got 'nan' instead."),
    ("cea_post_ng_ml", "1_000", "cea_post_ng_ml must be a number from 0 to 10000 ng/mL; got '1_000' instead."),
    ("patient_id", "Jane Smith", "patient_id must be 1-64 characters: letters, digits, '-' or '_' (a pseudonym, never a name or hospital number); got 'Jane Smith' instead."),
    # record version 2
    ("ymr_n_stage", "N3", "ymr_n_stage must be one of 'N0', 'N1', 'N2'; got 'N3' instead."),
    ("restaging_biopsy", "maybe", "restaging_biopsy must be one of 'not_done', 'negative', 'positive'; got 'maybe' instead."),
    ("residual_lesion_mm", 101, "residual_lesion_mm must be a number from 0 to 100 mm; got 101 instead."),
    ("fit_for_major_surgery", "perhaps", "fit_for_major_surgery must be one of 'yes', 'no', 'uncertain'; got 'perhaps' instead."),
    ("patient_preference", "tme", "patient_preference must be one of 'organ_preservation', 'surgery', 'undecided', 'not_discussed'; got 'tme' instead."),
    ("months_followed", -1, "months_followed must be a number from 0 to 240 months; got -1 instead."),
])
def test_invalid_field_message_names_column_value_and_domain(field, value, message):
    with pytest.raises(RecordError) as err:
        validate_record({**GOOD, field: value})
    assert [i.message for i in err.value.issues] == [message]


def test_required_blank_and_all_errors_at_once():
    with pytest.raises(RecordError) as err:
        validate_record({"patient_id": "", "age_years": 5, "sex": "X"})
    cols = [i.column for i in err.value.issues]
    assert cols == ["patient_id", "age_years", "sex", "mmr_status"]
    assert "mmr_status is required" in str(err.value)


@pytest.mark.parametrize("raw,expected", [("TRUE", True), ("yes", True), ("1", True), ("No", False), ("0", False), (True, True)])
def test_boolean_spellings(raw, expected):
    assert validate_record({**GOOD, "emvi": raw})["emvi"] is expected


CSV = """patient_id,mmr_status,age_years,ct_stage,emvi,unknown_extra
A1,pMMR,60,T3b,true,kept
A2,pMMR,17,T3b,true,x
A3,pMMR,60,T9,perhaps,y
A4,,60,T2,false,z
A1,pMMR,61,T2,no,w
"""


def test_cohort_reports_every_bad_row_with_spreadsheet_row_numbers():
    with pytest.raises(RecordError) as err:
        read_cohort(io.StringIO(CSV), source="cohort.csv")
    found = [(i.row, i.column) for i in err.value.issues]
    assert found == [(3, "age_years"), (4, "ct_stage"), (4, "emvi"), (5, "mmr_status"), (6, "patient_id")]
    assert "row 6, patient_id must be unique within a file; got 'A1' again (first on row 2)." in str(err.value)
    assert str(err.value).startswith("cohort.csv: 5 invalid values:")


def test_good_cohort_keeps_extra_columns_and_types():
    good = "\n".join(CSV.splitlines()[:2]) + "\n"
    fr = read_cohort(io.StringIO(good))
    assert fr.loc[0, "unknown_extra"] == "kept"
    assert fr.loc[0, "emvi"] == 1.0 and np.isnan(fr.loc[0, "pdl1_cps"])


def test_version_1_file_without_the_version_2_columns_stays_valid():
    """Record version 2 adds columns; a version-1 file has none of them, and each reads as not available."""
    from watchwait.schema import V2_COLUMNS

    fr = read_cohort(io.StringIO("patient_id,mmr_status,endoscopy,dre,mr_trg,dwi_restriction\nV1,pMMR,complete,normal,1,false\n"))
    assert len(fr) == 1
    rec = validate_record({"patient_id": "V1", "mmr_status": "pMMR"})
    assert all(rec[c] is None for c in V2_COLUMNS)


@pytest.mark.parametrize("text,message", [
    ("", "the file is empty"),
    ("age_years,sex\n60,F\n", "the required columns patient_id, mmr_status are missing from the header"),
])
def test_unreadable_cohort_files(text, message):
    with pytest.raises(CohortFileError, match=message):
        read_cohort(io.StringIO(text))


def test_non_utf8_file(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes("patient_id,mmr_status,site\nA,pMMR,Hôpital\n".encode("latin-1"))
    with pytest.raises(CohortFileError, match="not UTF-8"):
        read_cohort(p)


_cells = st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 200).map(str), st.floats(-10, 1e5).map(str), st.just("nan"),
                   st.sampled_from(["true", "No", "T3a", "N2", "pMMR", "complete", "mass", "SCRT", " 12 ", "1_000", "1e3", ".5", "5.", "+3", "infinity", "0x10"]))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([f for f in FIELDS if f.name != "patient_id"]), st.lists(_cells, min_size=1, max_size=6))
def test_file_and_record_paths_agree(field, cells):
    """The vectorised file path and the per-record path accept and reject exactly the same cells."""
    raw = pd.DataFrame({"patient_id": [f"P{i}" for i in range(len(cells))], "mmr_status": "pMMR",
                        field.name: ["" if c is None else c for c in cells]})
    if field.name == "mmr_status":
        raw["mmr_status"] = ["" if c is None else c for c in cells]
    record_ok = [check_cell(BY_NAME[field.name], c)[1] is None for c in raw[field.name]]
    try:
        validate_frame(raw)
        file_bad_rows = set()
    except RecordError as e:
        file_bad_rows = {i.row - 2 for i in e.issues if i.column == field.name}
    assert file_bad_rows == {i for i, ok in enumerate(record_ok) if not ok}


# ----------------------------------------------------------------------------- common lab entries (issue 9)

def test_below_detection_limit_says_how_to_enter_it():
    from watchwait.schema import BY_NAME
    from watchwait.validation import check_cell

    value, issue = check_cell(BY_NAME["ctdna_post_rt_mtm_ml"], "<0.01")
    assert value is None and issue is not None
    assert "below the detection limit: enter 0 (= tested, not detected)" in issue.message.lower()
    value, issue = check_cell(BY_NAME["cea_post_ng_ml"], "< 0.5")
    assert value is None and "detection limit" in issue.message and "enter 0" not in issue.message


def test_decimal_comma_is_explained_and_never_read_as_another_number():
    from watchwait.schema import BY_NAME
    from watchwait.validation import check_cell

    value, issue = check_cell(BY_NAME["cea_post_ng_ml"], "4,5")
    assert value is None and "enter 4.5 for 4,5" in issue.message
    value, issue = check_cell(BY_NAME["cea_post_ng_ml"], "1,000")  # thousands or decimal: not guessed
    assert value is None and "1000 or 1.000" in issue.message
    assert check_cell(BY_NAME["cea_post_ng_ml"], "4.5") == (4.5, None)
