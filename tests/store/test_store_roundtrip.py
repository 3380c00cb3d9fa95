"""Round trips of every write, versioning, and the pinned messages for refused input (nothing written)."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers_store import record, table_counts

from watchwait.errors import RecordError
from watchwait.store import (PATHWAYS, InvalidEntry, NotFound, VersionConflict, prediction_fields, record_hash)
from watchwait.validation import validate_record

WHO = dict(actor="Dr Ade", screen="Patient")


def _utc(ts: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(ts)
    assert t.utcoffset() == dt.timedelta(0)
    return t


def test_assessment_versions_round_trip_and_are_never_overwritten(store):
    a1 = store.save_assessment("RC-001", record("RC-001"), expected_version=None, **WHO)
    assert (a1.pseudonym, a1.version, a1.actor, a1.screen) == ("RC-001", 1, "Dr Ade", "Patient")
    assert a1.record == validate_record(record("RC-001"))
    a2 = store.save_assessment("RC-001", record("RC-001", mr_trg=1, endoscopy="complete"), expected_version=1,
                               actor="Dr Bo", screen="What if")
    assert a2.version == 2 and a2.record["mr_trg"] == 1 and a2.record["endoscopy"] == "complete"
    history = store.assessments("RC-001")
    assert [h.version for h in history] == [1, 2]
    assert history[0] == a1  # the first version is kept exactly as it was
    assert store.assessment("RC-001") == a2 and store.assessment("RC-001", 1) == a1
    assert _utc(a2.saved_at) >= _utc(a1.saved_at)
    # the same record again is no edit: no new version, no audit row
    n_audit = len(store.audit())
    assert store.save_assessment("RC-001", record("RC-001", mr_trg=1, endoscopy="complete"), expected_version=2, **WHO) == a2
    assert len(store.audit()) == n_audit
    entries = store.audit("RC-001")
    assert [(e.action, e.actor, e.screen) for e in entries] == [("assessment.saved", "Dr Bo", "What if"),
                                                                ("assessment.saved", "Dr Ade", "Patient")]
    assert entries[0].summary == ("assessment version 2 saved (2 fields changed: MRI tumour regression grade (mrTRG), "
                                  "Endoscopy)")
    assert entries[1].summary == "assessment version 1 saved (new case)"


@pytest.mark.parametrize("bad", ["Jane Smith", "", "x" * 65, "RC/001", None, 17, "RC-001\n"])
def test_a_pseudonym_outside_the_rule_is_refused_and_nothing_is_written(store, db_url, bad):
    before = table_counts(db_url)
    with pytest.raises(InvalidEntry) as exc:
        store.save_assessment(bad, record("RC-001"), expected_version=None, **WHO)
    shown = {"Jane Smith": "'Jane Smith'", "": "''", None: "None", 17: "17", "RC/001": "'RC/001'",
             "RC-001\n": "'RC-001\\n'", "x" * 65: repr("x" * 65)}[bad]
    assert str(exc.value) == ("Patient pseudonym must be 1-64 characters: letters, digits, '-' or '_' (a pseudonym, "
                              f"never a name or hospital number); got {shown} instead.")
    assert table_counts(db_url) == before


def test_an_invalid_record_field_is_refused_with_its_message_and_nothing_is_written(store, db_url):
    before = table_counts(db_url)
    with pytest.raises(RecordError) as exc:
        store.save_assessment("RC-002", record("RC-002", age_years=150, endoscopy="gone"), expected_version=None, **WHO)
    assert [i.message for i in exc.value.issues] == [
        "age_years must be a whole number from 18 to 100; got 150 instead.",
        "endoscopy must be one of 'complete', 'near_complete', 'incomplete'; got 'gone' instead."]
    with pytest.raises(InvalidEntry) as exc2:
        store.save_assessment("RC-002", record("RC-003"), expected_version=None, **WHO)
    assert str(exc2.value) == "The record's patient pseudonym 'RC-003' is not the case's pseudonym 'RC-002'; nothing was saved."
    with pytest.raises(InvalidEntry) as exc3:
        store.save_assessment("RC-002", record("RC-002"), expected_version=None, actor=" ", screen="Patient")
    assert str(exc3.value) == "Who made the change (actor) is required; it was left blank."
    assert table_counts(db_url) == before


def test_version_conflicts_name_who_saved_which_version_when(store, db_url):
    store.save_assessment("RC-004", record("RC-004"), expected_version=None, actor="Dr Ade", screen="Patient")
    b = store.save_assessment("RC-004", record("RC-004", ecog=1), expected_version=1, actor="Dr Bo", screen="Patient")
    when = dt.datetime.fromisoformat(b.saved_at).strftime("%Y-%m-%d %H:%M UTC")
    before = table_counts(db_url)
    with pytest.raises(VersionConflict) as exc:
        store.save_assessment("RC-004", record("RC-004", ecog=2), expected_version=1, actor="Dr Cy", screen="Patient")
    assert str(exc.value) == (f"Case RC-004: assessment version 2 was saved by Dr Bo at {when}, after version 1 that you "
                              "opened; nothing was saved. Reload the case to see that change, then make yours again.")
    with pytest.raises(VersionConflict) as exc:
        store.save_assessment("RC-004", record("RC-004", ecog=2), expected_version=None, actor="Dr Cy", screen="Patient")
    assert str(exc.value) == (f"Case RC-004 already has assessment version 2, saved by Dr Bo at {when}; nothing was saved. "
                              "Open version 2 and make your change there.")
    with pytest.raises(VersionConflict) as exc:
        store.save_assessment("RC-005", record("RC-005"), expected_version=3, actor="Dr Cy", screen="Patient")
    assert str(exc.value) == "Case RC-005 has no assessment yet, but you opened version 3; nothing was saved. Reload the case."
    assert table_counts(db_url) == before  # not even the new patient row of RC-005
    assert store.assessment("RC-004").record["ecog"] == 1


def test_prediction_from_a_real_assessment_round_trips(store):
    from watchwait.artifacts import load_model
    from watchwait.engine import assess

    bundle = load_model(None)
    a = store.save_assessment("RC-010", record("RC-010"), expected_version=None, **WHO)
    result = assess(a.record, bundle)
    fields = prediction_fields(result, bundle)
    assert fields["input_hash"] == record_hash(a.record) and fields["model_hash"] == bundle.card["artifact"]["sha256"]
    p = store.record_prediction(a.id, **fields, actor="Dr Ade", screen="Assessment")
    assert store.predictions(a.id) == [p]
    assert p.probability == result.probability and p.interval == result.interval
    assert p.model_version == bundle.version and p.suggestion == result.suggestion.pathway
    assert [c["feature"] for c in p.contributions] == [c.feature for c in result.contributions]
    assert p.rule_ids == (result.suggestion.rule_id,)
    assert p.flags == tuple(n.rule_id for n in (*result.suggestion.confirm, *result.suggestion.flags))
    assert store.audit("RC-010")[0].summary == (f"prediction for assessment version 1 by model {bundle.version}: "
                                                f"probability {result.probability:.0%}")
    # out of scope: no probability, no interval
    q = store.record_prediction(a.id, model_version="m1", model_hash="ab" * 32, input_hash="cd" * 32, probability=None,
                                interval=None, contributions=[], category="out_of_scope", suggestion="out_of_scope",
                                rule_ids=["SCOPE-dMMR"], flags=[], actor="Dr Ade", screen="Assessment")
    assert store.predictions(a.id) == [p, q] and q.interval is None
    with pytest.raises(InvalidEntry) as exc:
        store.record_prediction(a.id, **{**fields, "probability": 1.5}, actor="Dr Ade", screen="Assessment")
    assert str(exc.value) == "Probability must be a number from 0 to 1; got 1.5 instead."
    with pytest.raises(NotFound):
        store.record_prediction(10**6, **fields, actor="Dr Ade", screen="Assessment")
    assert [(m.version, m.n_predictions, m.registered_at) for m in store.models()] == [
        (bundle.version, 1, None), ("m1", 1, None)]
    store.register_model("m1", "ab" * 32, {"auc": 0.81, "trained_on": 1200}, actor="Dr Ade", screen="About")
    assert store.register_model("m1", "ab" * 32, {"auc": 0.81, "trained_on": 1200}).n_predictions == 1  # idempotent
    with pytest.raises(InvalidEntry) as exc:
        store.register_model("m1", "ef" * 32, {})
    assert str(exc.value) == ("Model m1 is already registered with another hash (abababababab..., not efefefefefef...); "
                              "a retrained model gets a new version.")
    site = store.models()
    assert [(m.version, m.card_summary, m.n_predictions) for m in site] == [
        ("m1", {"auc": 0.81, "trained_on": 1200}, 1), (bundle.version, {}, 1)]
    assert [e.summary for e in store.audit(limit=1)] == ["model m1 registered"]


def _meeting_with(store, *pids, date="2026-12-01"):
    m = store.create_meeting(date, "Colorectal MDT", "Chair")
    for pid in pids:
        if not store.list_cases(search=pid).total:
            store.save_assessment(pid, record(pid), expected_version=None, **WHO)
        store.add_case(m.id, pid, "Chair", "Meeting")
    return m


def test_meetings_cases_and_decisions_round_trip(store):
    m = _meeting_with(store, "RC-020", "RC-021", "RC-022")
    assert store.add_case(m.id, "RC-021", "Chair", "Meeting") == 2  # already on the list: keeps its place
    assert store.meeting(m.id) == store.meetings()[0]
    assert (store.meeting(m.id).n_cases, store.meeting(m.id).date) == (3, "2026-12-01")
    cases = store.meeting_cases(m.id)
    assert [(c.position, c.pseudonym, c.decision, c.changes) for c in cases] == [
        (1, "RC-020", None, None), (2, "RC-021", None, None), (3, "RC-022", None, None)]
    d = store.record_decision(m.id, "RC-021", pathway="local_excision", follows_suggestion=False,
                              reason_not_followed="Patient declines surgery with a stoma", rationale="Small ulcer, 12 mm",
                              present=["Dr Ade", "Dr Bo", "Dr Ade"], dissent="Dr Bo prefers TME", actor="Chair",
                              screen="Presentation", expected_version=None, assessment_version=1)
    assert (d.version, d.pathway, d.pathway_label, d.present, d.assessment_version) == (
        1, "local_excision", "local excision", ("Dr Ade", "Dr Bo"), 1)
    assert store.decisions("RC-021") == [d]
    assert store.meeting_cases(m.id)[1].decision == d and store.meeting(m.id).n_decided == 1
    d2 = store.record_decision(m.id, "RC-021", pathway="tme", follows_suggestion=True, rationale="Corrected: TME",
                               present=["Dr Ade"], actor="Chair", screen="Presentation", expected_version=1)
    assert d2.version == 2 and store.decisions("RC-021") == [d, d2]  # a correction is a new version
    assert store.meeting_cases(m.id)[1].decision == d2
    assert [e.summary for e in store.audit("RC-021", limit=2)] == [
        "decision version 2 recorded (correction) at the meeting of 2026-12-01: total mesorectal excision (TME), "
        "following the suggestion",
        "decision recorded at the meeting of 2026-12-01: local excision, not following the suggestion"]
    when = dt.datetime.fromisoformat(d2.recorded_at).strftime("%Y-%m-%d %H:%M UTC")
    with pytest.raises(VersionConflict) as exc:
        store.record_decision(m.id, "RC-021", pathway="tme", follows_suggestion=True, rationale="x", present=["A"],
                              actor="Dr Cy", screen="Presentation", expected_version=1)
    assert str(exc.value) == (f"Case RC-021 at the meeting of 2026-12-01: decision version 2 was saved by Chair at {when}, "
                              "after version 1 that you opened; nothing was saved. Reload the case to see that change, "
                              "then make yours again.")


DECISION = dict(pathway="watch_and_wait", follows_suggestion=True, rationale="cCR", present=["Dr Ade"], actor="Chair",
                screen="Presentation", expected_version=None)


@pytest.mark.parametrize("change, message", [
    (dict(follows_suggestion=False), "The reason for not following the suggestion is required; it was left blank."),
    (dict(follows_suggestion=False, reason_not_followed="   "),
     "The reason for not following the suggestion is required; it was left blank."),
    (dict(pathway="surgery"), "The pathway decided must be one of watch-and-wait, local excision, total mesorectal "
                              "excision (TME) (codes watch_and_wait, local_excision, tme); got 'surgery' instead."),
    (dict(pathway="reassess"), "The pathway decided must be one of watch-and-wait, local excision, total mesorectal "
                               "excision (TME) (codes watch_and_wait, local_excision, tme); got 'reassess' instead."),
    (dict(reason_not_followed="because"), "A reason for not following the suggestion was given, but the decision follows "
                                          "it; leave the reason blank, or record that the decision does not follow the "
                                          "suggestion."),
    (dict(follows_suggestion="yes"), "Whether the decision follows the suggestion must be yes or no (True/False); got "
                                     "'yes' instead."),
    (dict(rationale=""), "The rationale is required; it was left blank."),
    (dict(present=[]), "The people present are required: name at least one person at the meeting."),
    (dict(present="Dr Ade"), "The people present must be a list of names; got 'Dr Ade' instead."),
    (dict(rationale="x" * 4001), "The rationale must be at most 4,000 characters; got 4,001."),
])
def test_refused_decisions_have_pinned_messages_and_write_nothing(store, db_url, change, message):
    m = _meeting_with(store, "RC-030")
    before = table_counts(db_url)
    with pytest.raises(InvalidEntry) as exc:
        store.record_decision(m.id, "RC-030", **{**DECISION, **change})
    assert str(exc.value) == message
    assert table_counts(db_url) == before


def test_a_decision_needs_the_case_on_the_meeting_and_the_assessment_it_was_made_on(store, db_url):
    m = _meeting_with(store, "RC-031")
    store.save_assessment("RC-032", record("RC-032"), expected_version=None, **WHO)
    before = table_counts(db_url)
    with pytest.raises(InvalidEntry) as exc:
        store.record_decision(m.id, "RC-032", **DECISION)
    assert str(exc.value) == "Case RC-032 is not on the list of the meeting of 2026-12-01; add it to the meeting first."
    with pytest.raises(NotFound) as exc:
        store.record_decision(m.id, "RC-999", **DECISION)
    assert str(exc.value) == "No case with the pseudonym 'RC-999' in the store; save its assessment first."
    with pytest.raises(NotFound) as exc:
        store.record_decision(m.id + 100, "RC-031", **DECISION)
    assert str(exc.value) == f"No meeting number {m.id + 100} in the store."
    b = store.save_assessment("RC-031", record("RC-031", ecog=1), expected_version=1, actor="Dr Bo", screen="Patient")
    before = table_counts(db_url)
    with pytest.raises(VersionConflict) as exc:
        store.record_decision(m.id, "RC-031", **DECISION, assessment_version=1)
    when = dt.datetime.fromisoformat(b.saved_at).strftime("%Y-%m-%d %H:%M UTC")
    assert str(exc.value) == (f"Case RC-031: assessment version 2 was saved by Dr Bo at {when}, after version 1 that the "
                              "decision was made on; nothing was saved. Reload the case, review the change, then record "
                              "the decision again.")
    assert table_counts(db_url) == before
    with pytest.raises(InvalidEntry) as exc:
        store.create_meeting("1 December", "MDT", "Chair")
    assert str(exc.value) == "Meeting date must be a date (YYYY-MM-DD, e.g. 2026-12-01); got something else."


def test_what_changed_since_the_last_discussion(store):
    m1 = _meeting_with(store, "RC-040", "RC-041", date="2026-11-01")
    store.record_decision(m1.id, "RC-040", **{**DECISION, "pathway": "local_excision"})
    store.save_assessment("RC-040", record("RC-040", mr_trg=1, endoscopy="complete", residual_lesion_mm=3.5),
                          expected_version=1, **WHO)
    m2 = _meeting_with(store, "RC-040", "RC-041", date="2026-12-01")
    c40, c41 = store.meeting_cases(m2.id)
    assert c40.previous_decision.pathway == "local_excision" and c40.previous_decision.meeting_id == m1.id
    assert [(c.field, c.label, c.before, c.after) for c in c40.changes] == [
        ("mr_trg", "MRI tumour regression grade (mrTRG)", 2, 1),
        ("endoscopy", "Endoscopy", "near_complete", "complete"),
        ("residual_lesion_mm", "Residual lesion or scar, largest diameter", None, 3.5)]
    assert c40.assessment.version == 2 and c40.decision is None
    assert c41.previous_decision is None and c41.changes is None  # never discussed: first discussion
    # a decision at the second meeting does not change what the second meeting compares against
    store.record_decision(m2.id, "RC-040", **DECISION)
    assert store.meeting_cases(m2.id)[0].changes == c40.changes
    # the first meeting sees no earlier discussion
    assert store.meeting_cases(m1.id)[0].previous_decision is None
    # nothing changed since the last discussion: an empty tuple, not None
    m3 = _meeting_with(store, "RC-040", date="2026-12-15")
    assert store.meeting_cases(m3.id)[0].changes == ()


def test_follow_up_round_trip_versions_and_refusals(store, db_url):
    store.save_assessment("RC-050", record("RC-050"), expected_version=None, **WHO)
    f1 = store.record_follow_up("RC-050", {"management": "watch_and_wait", "months_followed": "6", "local_regrowth": "no"},
                                actor="Dr Ade", screen="Follow-up", expected_version=None)
    assert (f1.version, f1.data) == (1, {"management": "watch_and_wait", "months_followed": 6.0, "local_regrowth": False})
    f2 = store.record_follow_up("RC-050", {"management": "watch_and_wait", "months_followed": 14, "local_regrowth": False},
                                actor="Dr Ade", screen="Follow-up", expected_version=1)
    assert store.follow_ups("RC-050") == [f1, f2]
    assert store.audit("RC-050")[0].summary == ("follow-up version 2 recorded (Management actually given, Local regrowth, "
                                                "Time followed)")
    before = table_counts(db_url)
    with pytest.raises(RecordError) as exc:
        store.record_follow_up("RC-050", {"management": "surgery", "months_followed": 300}, actor="Dr Ade",
                               screen="Follow-up", expected_version=2)
    assert [i.message for i in exc.value.issues] == [
        "management must be one of 'watch_and_wait', 'local_excision', 'tme', 'other'; got 'surgery' instead.",
        "months_followed must be a number from 0 to 240 months; got 300 instead."]
    with pytest.raises(InvalidEntry) as exc:
        store.record_follow_up("RC-050", {"age_years": 70}, actor="Dr Ade", screen="Follow-up", expected_version=2)
    assert str(exc.value) == ("Follow-up takes only the follow-up columns (management, ypt_stage, ypn_stage, local_regrowth, "
                              "months_to_regrowth, months_followed, distant_metastasis_followup); got 'age_years'.")
    with pytest.raises(InvalidEntry) as exc:
        store.record_follow_up("RC-050", {"management": ""}, actor="Dr Ade", screen="Follow-up", expected_version=2)
    assert str(exc.value).startswith("Follow-up needs at least one value (Management actually given, ")
    with pytest.raises(VersionConflict):
        store.record_follow_up("RC-050", {"management": "tme"}, actor="Dr Ade", screen="Follow-up", expected_version=1)
    with pytest.raises(NotFound):
        store.record_follow_up("RC-051", {"management": "tme"}, actor="Dr Ade", screen="Follow-up", expected_version=None)
    assert table_counts(db_url) == before
    store.save_assessment("RC-052", record("RC-052"), expected_version=None, **WHO)
    assert [(r.pseudonym, r.assessment_version, r.follow_up, r.follow_up_version) for r in store.follow_up_records()] == [
        ("RC-050", 1, f2.data, 2), ("RC-052", 1, None, None)]
    assert store.follow_up_records()[0].record == validate_record(record("RC-050"))


def test_pathways_are_the_three_of_the_brief():
    assert PATHWAYS == ("watch_and_wait", "local_excision", "tme")
