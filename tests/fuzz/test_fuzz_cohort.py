"""Hypothesis fuzzing of the cohort CSV reader, the validator and the record API: every case ends in
a result or one of the project's own errors (WatchwaitError), never anything else."""

from __future__ import annotations

import io
import string

import pandas as pd
from fuzz_settings import fuzz
from hypothesis import strategies as st

from watchwait.errors import WatchwaitError
from watchwait.schema import FIELDS
from watchwait.validation import read_cohort, validate_record

NAMES = [f.name for f in FIELDS] + ["radiomics_t2_mean", "extra", " age_years", "age_years.1", ""]
HOSTILE = ["", " ", "nan", "inf", "-inf", "1e400", "-0", "1_000", "٦١", "６１", "61", "18", "100", "0x10", "true", "YES",
           "pMMR", "dMMR", "T3b", "N1", "complete", "=1+1", "-A1", "+A1", "@x", "\t", "\r", "\x00", "\u202e", "é",
           "\"", "\"\"", ",", "\n", "a\nb", "9" * 500, "1" * 4400, "P-001", "-", "_"]
CELL = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12), st.text(string.digits + ".-+eE", max_size=10))


def _csv(header: list[str], rows: list[list[str]]) -> str:
    frame = pd.DataFrame(rows, columns=range(len(header))) if rows else pd.DataFrame(columns=range(len(header)))
    body = frame.to_csv(index=False, header=False)
    head = ",".join('"' + h.replace('"', '""') + '"' for h in header)
    return head + "\n" + body


@st.composite
def cohorts(draw):
    header = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=8))
    if draw(st.booleans()):
        header = ["patient_id", "mmr_status", *header]
    rows = draw(st.lists(st.lists(CELL, min_size=len(header), max_size=len(header)), max_size=6))
    return _csv(header, rows)


def _outcome(fn):
    try:
        result = fn()
    except WatchwaitError:
        return "refused"
    assert isinstance(result, pd.DataFrame | dict)
    return "result"


@fuzz(cohorts())
def test_fuzz_cohort_csv(text):
    _outcome(lambda: read_cohort(io.StringIO(text), source="fuzz.csv"))


@fuzz(st.binary(max_size=400))
def test_fuzz_cohort_bytes(data):
    _outcome(lambda: read_cohort(io.BytesIO(b"patient_id,mmr_status,age_years\n" + data), source="fuzz.csv"))


VALUES = st.one_of(CELL, st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                   st.just(10**400), st.just(-(10**5000)), st.binary(max_size=8), st.lists(st.integers(), max_size=2),
                   st.decimals(allow_nan=True, allow_infinity=True), st.fractions())


@fuzz(st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=8), st.booleans())
def test_fuzz_record_api(record, with_required):
    if with_required:
        record = {"patient_id": "P-1", "mmr_status": "pMMR", **record}
    _outcome(lambda: validate_record(record))

