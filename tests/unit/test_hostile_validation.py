"""The validator against hostile values (issue 10): huge numbers, other scripts' digits, megabyte cells,
repeated header columns, many duplicate ids. Each is a field error with a pinned message, never an
OverflowError, a number read from non-ASCII digits, a megabyte echoed, or a quadratic wait."""

import io
import time

import pytest

from watchwait import CohortFileError, RecordError
from watchwait.validation import read_cohort, validate_record

GOOD = {"patient_id": "P-001", "mmr_status": "pMMR"}
DIGITS_HINT = " Write numbers with the digits 0-9 (other scripts' digits are not read as numbers)."


def _messages(record):
    with pytest.raises(RecordError) as err:
        validate_record({**GOOD, **record})
    return [i.message for i in err.value.issues]


@pytest.mark.parametrize("field, value, message", [
    ("age_years", 10**400, "age_years must be a whole number from 18 to 100; got a whole number of about 401 digits instead."),
    ("cea_post_ng_ml", -10**400, "cea_post_ng_ml must be a number from 0 to 10000 ng/mL; got a whole number of about 401 "
                                 "digits instead."),
    ("cea_post_ng_ml", "1e400", "cea_post_ng_ml must be a number from 0 to 10000 ng/mL; got '1e400' instead."),
    ("pdl1_cps", b"61", "pdl1_cps must be a number from 0 to 100; got b'61' instead."),
    ("age_years", "٦١", "age_years must be a whole number from 18 to 100; got '٦١' instead." + DIGITS_HINT),
    ("age_years", "６１", "age_years must be a whole number from 18 to 100; got '６１' instead." + DIGITS_HINT),
    ("pdl1_cps", "１.５", "pdl1_cps must be a number from 0 to 100; got '１.５' instead." + DIGITS_HINT),
    ("radiomics_t2_mean", 10**400, "radiomics_t2_mean must be a finite number (a radiomic feature, digits 0-9); got a "
                                   "whole number of about 401 digits instead."),
    ("radiomics_t2_mean", "٦١", "radiomics_t2_mean must be a finite number (a radiomic feature, digits 0-9); got '٦١' "
                               "instead."),
])
def test_hostile_numbers_are_field_errors(field, value, message):
    assert _messages({field: value}) == [message]


def test_a_megabyte_cell_is_cut_in_the_message():
    [message] = _messages({"age_years": "x" * 1_000_000})
    assert message == "age_years must be a whole number from 18 to 100; got '" + "x" * 80 + "…' (1,000,000 characters) instead."
    [message] = _messages({"patient_id": "=" * 1_000_000})
    assert message.endswith("got '" + "=" * 80 + "…' (1,000,000 characters) instead.") and len(message) < 300


def test_cohort_file_with_other_scripts_digits_names_row_and_field():
    text = "patient_id,mmr_status,age_years,radiomics_t2_mean\nA,pMMR,٦١,1.5\nB,pMMR,61,６１\n"
    with pytest.raises(RecordError) as err:
        read_cohort(io.StringIO(text), source="c.csv")
    assert str(err.value) == ("c.csv: 2 invalid values:\n"
                              "  - row 2, age_years must be a whole number from 18 to 100; got '٦١' instead." + DIGITS_HINT + "\n"
                              "  - row 3, radiomics_t2_mean must be a finite number (a radiomic feature, digits 0-9); "
                              "got '６１' instead.")


@pytest.mark.parametrize("header", ["patient_id,mmr_status,age_years, age_years", "patient_id,mmr_status,age_years,age_years"])
def test_a_column_named_twice_is_refused(header):
    with pytest.raises(CohortFileError, match=r"^c\.csv: the header names a column more than once \('age_years'\); keep one "
                                              r"column of each name\.$"):
        read_cohort(io.StringIO(header + "\nA,pMMR,61,62\n"), source="c.csv")


def test_many_copies_of_one_id_are_reported_quickly():
    text = "patient_id,mmr_status\n" + "A,pMMR\n" * 60_000
    start = time.perf_counter()
    with pytest.raises(RecordError) as err:
        read_cohort(io.StringIO(text), source="c.csv")
    assert time.perf_counter() - start < 10  # was one scan of the column per duplicate: quadratic
    assert len(err.value.issues) == 59_999
    assert err.value.issues[-1].message == "patient_id must be unique within a file; got 'A' again (first on row 2)."


def test_a_huge_integer_in_a_text_field_is_a_field_error():
    """Found by tests/fuzz: str() of an int of more than 4,300 digits raises ValueError."""
    assert _messages({"site": 10**5000}) == ["site must be text; got a whole number of about 5,001 digits instead."]


def test_a_folder_given_as_the_cohort_is_a_plain_error(tmp_path):
    (tmp_path / "adir").mkdir()
    with pytest.raises(CohortFileError, match=r"^adir: is a folder, not a cohort file; give the CSV file itself\.$"):
        read_cohort(tmp_path / "adir")
