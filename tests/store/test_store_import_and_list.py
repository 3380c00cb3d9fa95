"""Cohort import into a meeting (all rows or nothing, every bad row reported), the case list (paging, search,
filters; one query per page) and the meeting's case view (a fixed number of queries, not one per case)."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from helpers_store import record, table_counts
from sqlalchemy import event

from watchwait.store import ImportIssue, InvalidEntry
from watchwait.validation import frame_to_records, read_cohort, validate_record

WHO = dict(actor="Chair", screen="Meeting")


def test_import_writes_every_case_in_one_go(store, db_url, cohort_csv):
    data = cohort_csv(40)
    m = store.create_meeting("2026-12-01", "MDT", "Chair")
    report = store.import_cases(m.id, data, **WHO, source="december.csv")
    expected = [validate_record(r) for r in frame_to_records(read_cohort(io.BytesIO(data)))]
    assert (report.ok, report.rows, report.written, report.new_patients, report.new_versions, report.added_to_meeting,
            report.issues) == (True, 40, 40, 40, 40, 40, ())
    cases = store.meeting_cases(m.id)
    assert [c.pseudonym for c in cases] == [r["patient_id"] for r in expected] == list(report.pseudonyms)
    assert [c.position for c in cases] == list(range(1, 41))
    assert [c.assessment.record for c in cases] == expected
    first = expected[0]["patient_id"]
    assert [e.summary for e in store.audit(first)] == [f"added to the meeting of 2026-12-01 (case 1) from december.csv",
                                                       "assessment version 1 imported from december.csv (row 2) (new case)"]
    # the same file again: no new versions, no second place on the list
    again = store.import_cases(m.id, data, **WHO)
    assert (again.ok, again.new_patients, again.new_versions, again.added_to_meeting) == (True, 0, 0, 0)
    assert table_counts(db_url)["assessments"] == 40 and table_counts(db_url)["meeting_cases"] == 40
    # into a second meeting: the cases join it, their assessments are not repeated
    m2 = store.create_meeting("2026-12-08", "MDT", "Chair")
    third = store.import_cases(m2.id, data, **WHO)
    assert (third.new_versions, third.added_to_meeting) == (0, 40) and store.meeting(m2.id).n_cases == 40


def test_import_with_bad_rows_writes_nothing_and_reports_every_bad_row(store, db_url, cohort_csv):
    frame = pd.read_csv(io.BytesIO(cohort_csv(30)), dtype=str, keep_default_na=False)
    frame.loc[3, "age_years"] = "150"
    frame.loc[10, "patient_id"] = "Jane Smith"
    frame.loc[10, "endoscopy"] = "gone"
    frame.loc[25, "mmr_status"] = ""
    data = frame.to_csv(index=False).encode()
    m = store.create_meeting("2026-12-01", "MDT", "Chair")
    before = table_counts(db_url)
    report = store.import_cases(m.id, data, **WHO)
    assert (report.ok, report.rows, report.written, report.bad_rows) == (False, 30, 0, (5, 12, 27))
    assert report.issues == (
        ImportIssue(5, "age_years", "row 5, age_years must be a whole number from 18 to 100; got '150' instead."),
        ImportIssue(12, "patient_id", "row 12, patient_id must be 1-64 characters: letters, digits, '-' or '_' (a "
                                      "pseudonym, never a name or hospital number); got 'Jane Smith' instead."),
        ImportIssue(12, "endoscopy", "row 12, endoscopy must be one of 'complete', 'near_complete', 'incomplete'; got "
                                     "'gone' instead."),
        ImportIssue(27, "mmr_status", "row 27, mmr_status is required (one of 'pMMR', 'dMMR'); got a blank cell."))
    assert table_counts(db_url) == before
    assert store.meeting_cases(m.id) == []


@pytest.mark.parametrize("data, message", [
    (b"", "uploaded file: the file is empty; a cohort file needs a header row and one row per patient."),
    (b"age_years\n61\n", "uploaded file: the required columns patient_id, mmr_status are missing from the header. Every "
                         "cohort file needs: patient_id, mmr_status (see the data dictionary)."),
    (b"\xff\xfe\x00a", "uploaded file: not UTF-8 text; save the cohort as CSV UTF-8."),
    (b"patient_id,mmr_status\n", "uploaded file: no patients (a header row only)."),
])
def test_an_unreadable_file_is_reported_and_writes_nothing(store, db_url, data, message):
    m = store.create_meeting("2026-12-01", "MDT", "Chair")
    before = table_counts(db_url)
    report = store.import_cases(m.id, data, **WHO)
    assert (report.ok, report.written, report.issues) == (False, 0, (ImportIssue(None, None, message),))
    assert table_counts(db_url) == before


def _count_queries(store):
    seen: list[str] = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "SET ", "PRAGMA")):
            seen.append(statement)

    event.listen(store._engine, "before_cursor_execute", hook)
    return seen, lambda: event.remove(store._engine, "before_cursor_execute", hook)


@pytest.fixture
def listed(store):
    """60 cases A-000..A-059 (every third also named B-...); decisions and follow-up on some."""
    m1 = store.create_meeting("2026-11-01", "November MDT", "Chair")
    m2 = store.create_meeting("2026-12-01", "December MDT", "Chair")
    pids = [f"A-{i:03d}" if i % 3 else f"B_{i:03d}" for i in range(60)]
    for i, pid in enumerate(pids):
        store.save_assessment(pid, record(pid), expected_version=None, actor="Dr Ade", screen="Patient")
        store.add_case(m1.id if i < 40 else m2.id, pid, **WHO)
    pathways = ["watch_and_wait", "local_excision", "tme"]
    for i, pid in enumerate(pids[:30]):
        store.record_decision(m1.id, pid, pathway=pathways[i % 3], follows_suggestion=True, rationale="r",
                              present=["Dr Ade"], actor="Chair", screen="Presentation", expected_version=None)
        if i % 2 == 0:
            store.record_follow_up(pid, {"management": pathways[i % 3]}, actor="Dr Ade", screen="Follow-up",
                                   expected_version=None)
    return store, m1, m2, sorted(pids), pids


def test_case_list_pages_searches_and_filters(listed):
    store, m1, m2, by_name, pids = listed
    page = store.list_cases(page_size=25)
    assert (page.total, page.pages, page.page) == (60, 3, 1)
    assert [c.pseudonym for c in page.items] == by_name[:25]
    assert [c.pseudonym for c in store.list_cases(page=3, page_size=25).items] == by_name[50:]
    beyond = store.list_cases(page=4, page_size=25)
    assert (beyond.items, beyond.total, beyond.pages) == ((), 60, 3)
    # search: part of a pseudonym, any case; "_" is a character, not a wildcard
    assert [c.pseudonym for c in store.list_cases(search="a-01").items] == [p for p in by_name if "A-01" in p]
    assert [c.pseudonym for c in store.list_cases(search="_0").items] == [p for p in by_name if "_0" in p]
    assert store.list_cases(search="%").total == 0
    assert {c.pseudonym for c in store.list_cases(meeting_id=m2.id, page_size=100).items} == set(pids[40:])
    tme = store.list_cases(pathway="tme", page_size=100)
    assert {c.pseudonym for c in tme.items} == {pids[i] for i in range(30) if i % 3 == 2}
    assert {c.pathway_label for c in tme.items} == {"total mesorectal excision (TME)"}
    pending = store.list_cases(pending_follow_up=True, page_size=100)
    assert {c.pseudonym for c in pending.items} == {pids[i] for i in range(30) if i % 2 == 1}
    assert store.list_cases(pending_follow_up=False, page_size=100).total == 45
    both = store.list_cases(search="B_", meeting_id=m1.id, pathway="watch_and_wait", pending_follow_up=False)
    assert [c.pseudonym for c in both.items] == sorted(pids[i] for i in range(0, 30, 6))
    one = next(c for c in page.items if c.pseudonym == pids[1])
    assert (one.assessment_version, one.last_meeting_date, one.pathway, one.follow_up_version, one.pending_follow_up) == (
        1, "2026-11-01", "local_excision", None, True)


def test_a_page_of_the_case_list_is_one_query(listed):
    store = listed[0]
    seen, stop = _count_queries(store)
    store.list_cases(search="A", pathway="tme", pending_follow_up=True, page=1, page_size=25)
    stop()
    assert len(seen) == 1


def test_the_meeting_view_takes_at_most_7_queries_for_3_or_40_cases(listed):
    store, m1, m2 = listed[:3]
    small = store.create_meeting("2026-12-15", "Small", "Chair")
    for pid in listed[4][:3]:
        store.add_case(small.id, pid, **WHO)
    seen, stop = _count_queries(store)
    assert len(store.meeting_cases(small.id)) == 3
    n_small = len(seen)
    seen.clear()
    assert len(store.meeting_cases(m1.id)) == 40
    stop()
    assert (n_small, len(seen)) == (7, 6)  # 7: the 3 cases were discussed before (their earlier records are read)


@pytest.mark.parametrize("kwargs, message", [
    (dict(page=0), "Page must be a whole number from 1; got 0 instead."),
    (dict(page_size=500), "Cases per page must be a whole number from 1 to 200; got 500 instead."),
    (dict(pathway="surgery"), "The pathway filter must be one of watch-and-wait, local excision, total mesorectal excision "
                              "(TME) (codes watch_and_wait, local_excision, tme); got 'surgery' instead."),
    (dict(meeting_id="1"), "The meeting must be given by its number (a whole number from 1); got '1' instead."),
])
def test_case_list_refuses_bad_arguments(store, kwargs, message):
    with pytest.raises(InvalidEntry) as exc:
        store.list_cases(**kwargs)
    assert str(exc.value) == message
