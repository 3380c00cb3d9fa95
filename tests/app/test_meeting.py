"""The MDT meeting in AppTest (issue 11): create a meeting, import cases (a bad row: nothing written, every bad
row listed with the field as the form labels it), step through the cases (the open patient follows), record
decisions, the summary, the exports (the bytes a click downloads: a PDF and a FHIR Bundle that fhir.resources
parses), a reload that carries on, conflicts shown as plain messages, the name required before any write.

Every test has its own SQLite case store (WATCHWAIT_DATABASE_URL); the exports' bytes are the real ones: the
download buttons' callables are captured as Streamlit registers them and then called."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from apptest_helpers import ROOT, TIMEOUT, errors, goto, new_app, texts

import watchwait
from components import state
from components.safe import unescape
from watchwait import present
from watchwait.schema import BY_NAME

SAMPLE = ROOT / "sample_data" / "sample_patients.csv"
DATE = dt.date(2026, 12, 1)


def sample_rows() -> list[dict]:
    with SAMPLE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


@pytest.fixture
def db(tmp_path, monkeypatch):
    """A fresh SQLite case store for this test (the app opens it from WATCHWAIT_DATABASE_URL)."""
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("WATCHWAIT_DATABASE_URL", url)
    from watchwait.store import Store

    s = Store(url)
    yield s
    s.close()


@pytest.fixture
def downloads(monkeypatch):
    """file name -> the callable a download button registered (Streamlit runs it when the button is clicked)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    got: dict[str, object] = {}
    original = MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        got[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return got


def frame(at, *columns: str):
    """The first table on screen whose columns start with ``columns`` (AppTest does not expose a dataframe's key)."""
    for d in at.dataframe:
        if list(d.value.columns)[:len(columns)] == list(columns):
            return d.value
    raise AssertionError(f"no table with columns {columns}: {[list(d.value.columns) for d in at.dataframe]}")


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def named(at, name="Dr Chair"):
    """The Meeting screen with a name entered."""
    goto(at, "meeting")
    at.text_input(key=state.ACTOR_INLINE).input(name).run()
    return ok(at)


def create_meeting(at, title="Colorectal MDT"):
    at.date_input(key=state.meeting_key("new_date")).set_value(DATE)
    at.text_input(key=state.meeting_key("new_title")).input(title)
    at.button(key=state.meeting_key("create")).click().run()
    return ok(at)


def import_csv(at, name: str, data: bytes):
    at.file_uploader(key=state.import_key()).upload(name, data, "text/csv")
    at.run()
    at.button(key=state.meeting_key("import")).click().run()
    return ok(at)


def decide(at, mid: int, p: str, pathway: str, follows: str, rationale: str, present: str | None = None,
           reason: str | None = None, dissent: str | None = None):
    def k(what):
        return state.decision_key(mid, p, what)

    at.radio(key=k("pathway")).set_value(pathway)
    at.radio(key=k("follows")).set_value(follows)
    at.text_area(key=k("rationale")).input(rationale)
    if present is not None:
        at.text_area(key=k("present")).input(present)
    if reason is not None:
        at.text_area(key=k("reason")).input(reason)
    if dissent is not None:
        at.text_area(key=k("dissent")).input(dissent)
    at.button(key=k("submit")).click().run()
    return ok(at)


def meeting_with_cases(at, db, n=4):
    named(at)
    create_meeting(at)
    mid = db.meetings()[0].id
    import_csv(at, "cohort.csv", csv_bytes(sample_rows()[:n]))
    return mid


def test_writes_need_a_name_first(db):
    at = new_app()
    goto(at, "meeting")
    assert "Enter your name to run a meeting" in texts(at)
    assert not any(b.key == state.meeting_key("create") for b in at.button)
    assert db.meetings() == [] and db.audit() == []


def test_a_bad_row_writes_nothing_and_every_bad_row_is_listed_then_the_meeting_runs(db, downloads):
    at = new_app()
    named(at)
    create_meeting(at)
    [m] = db.meetings()
    assert (m.date, m.title, m.created_by) == ("2026-12-01", "Colorectal MDT", "Dr Chair")
    assert "Meeting of 2026-12-01 created" in texts(at)

    rows = sample_rows()
    rows[2]["age_years"] = "abc"  # spreadsheet row 4
    rows[5]["ecog"], rows[5]["mmr_status"] = "9", "xyz"  # row 7, two fields
    import_csv(at, "bad.csv", csv_bytes(rows))
    [err] = errors(at)
    assert err.startswith("**bad.csv was not imported: nothing was written.** 2 of its 15 rows have invalid values (3 in all): "
                          "rows 4, 7. Fix them and import the file again.")
    age, ecog, mmr = BY_NAME["age_years"].label, BY_NAME["ecog"].label, BY_NAME["mmr_status"].label
    assert f"- Row 4, {age} must be a whole number from 18 to 100; got 'abc' instead." in err
    assert f"- Row 7, {ecog} must be a whole number from 0 to 4; got '9' instead." in err
    assert f"- Row 7, {mmr} must be one of pMMR, dMMR; got 'xyz' instead." in err
    table = frame(at, "Row", "Field", "Problem")
    assert list(zip(table["Row"], table["Field"])) == [(4, age), (7, ecog), (7, mmr)]
    assert db.list_cases().total == 0 and db.meeting_cases(m.id) == []
    assert [e.action for e in db.audit()] == ["meeting.created"]

    import_csv(at, "cohort.csv", csv_bytes(sample_rows()[:4]))
    assert "Imported 4 case(s) from cohort.csv: 4 added to this meeting" in texts(at)
    cases = db.meeting_cases(m.id)
    assert [c.pseudonym for c in cases] == ["DEMO-01", "DEMO-02", "DEMO-03", "DEMO-04"]

    # case 1: the open patient is its record; the prediction shown is stored
    screen = texts(at)
    assert "Case 1 of 4: DEMO-01" in screen and "First discussion" in screen
    assert at.session_state[state.RAW]["patient_id"] == "DEMO-01"
    src = at.session_state[state.PATIENT_SOURCE]
    assert (src["kind"], src["name"], src["version"], src["meeting"], src["position"]) == ("store", "DEMO-01", 1, m.id, 1)
    expected = watchwait.assess(cases[0].assessment.record)
    [pred] = db.predictions(cases[0].assessment.id)
    assert pred.probability == pytest.approx(expected.probability) and pred.actor == "Dr Chair"
    assert pred.model_version == expected.model_version and pred.suggestion == expected.suggestion.pathway
    assert at.metric[0].value == present.percent(expected.probability)  # DEMO-01 reads 0.9967: "> 99%"
    assert [e.summary for e in db.audit() if e.action == "prediction.recorded"][-1].count("probability > 99%") == 1
    ok(at.run())
    assert len(db.predictions(cases[0].assessment.id)) == 1  # shown again: not stored twice
    assert at.query_params["meeting"] == str(m.id) and at.query_params["case"] == "1"

    hostile = "Complete response ![x](http://e.example/x.png) <b>now</b>"
    decide(at, m.id, "DEMO-01", "watch_and_wait", "yes", hostile, present="Dr Chair\nDr B. Surgeon\n\n")
    [d1] = db.decisions("DEMO-01")
    assert (d1.pathway, d1.follows_suggestion, d1.rationale, d1.present, d1.actor, d1.assessment_version) == (
        "watch_and_wait", True, hostile, ("Dr Chair", "Dr B. Surgeon"), "Dr Chair", 1)
    assert "Decision recorded for DEMO-01: Watch-and-wait (version 1, by Dr Chair)." in texts(at)
    # the case's history line agrees with the decision below it (issue 21: it said "no earlier decision in the store"
    # above "Decision recorded")
    screen = texts(at)
    assert "no earlier decision in the store" not in screen
    assert "**First discussion** of this case: no decision at an earlier meeting; this meeting's decision is below." in screen
    shown = [el.value for el in at.markdown if "Rationale:" in str(el.value)]
    assert shown and "\\!\\[x\\]\\(http" in shown[0] and "\\<b\\>" in shown[0]  # literal text, never markup

    # the Assessment screen shows the bound case; stepping on rebinds every screen
    goto(at, "assessment")
    assert "DEMO-01" in texts(at) or any("DEMO-01" in h.proto.body for h in at.get("html"))
    goto(at, "what_if")  # what-if scenarios of DEMO-01 exist now
    goto(at, "meeting")
    at.button(key=state.meeting_key("next")).click().run()
    ok(at)
    assert "Case 2 of 4: DEMO-02" in texts(at)
    assert at.session_state[state.RAW]["patient_id"] == "DEMO-02"
    bound = [state.RAW, state.EXTRA, state.MEMO, state.PATIENT_LOADED, state.PATIENT_SOURCE, state.IMAGING_VISITS,
             *(state.scenario_changes_key(i) for i in range(state.SCENARIO_COUNT))]
    assert [k for k in bound if "DEMO-01" in repr(at.session_state[k])] == []  # nothing of the previous patient
    assert not [k for k in at.session_state.to_dict() if str(k).startswith(("scenario:", "imaging:"))
                and "DEMO-01" in repr(at.session_state[k])]
    assert at.query_params["case"] == "2"
    goto(at, "assessment")
    banner = "\n".join(h.proto.body for h in at.get("html"))
    assert "DEMO-02" in banner and "DEMO-01" not in banner + texts(at)
    goto(at, "meeting")

    # the people present carry over; a decision that does not follow the suggestion needs a reason
    assert at.text_area(key=state.decision_key(m.id, "DEMO-02", "present")).value == "Dr Chair\nDr B. Surgeon"
    decide(at, m.id, "DEMO-02", "tme", "no", "Patient prefers surgery")
    assert errors(at)[-1] == "**Not recorded.** The reason for not following the suggestion is required; it was left blank."
    assert db.decisions("DEMO-02") == []
    decide(at, m.id, "DEMO-02", "tme", "no", "Patient prefers surgery", reason="Patient's informed choice",
           dissent="Dr C: would offer watch-and-wait")
    [d2] = db.decisions("DEMO-02")
    assert (d2.pathway, d2.follows_suggestion, d2.reason_not_followed, d2.dissent) == (
        "tme", False, "Patient's informed choice", "Dr C: would offer watch-and-wait")

    at.button(key=state.meeting_key("summary")).click().run()
    ok(at)
    screen = texts(at)
    assert "Summary: 2 of 4 cases decided" in screen
    assert "Not decided yet: case 3 (DEMO-03), case 4 (DEMO-04)." in screen
    summary = frame(at, "Case", "Patient", "Decision", "Follows the suggestion")
    assert list(summary["Decision"]) == ["Watch-and-wait", "Total mesorectal excision (TME)", "not decided", "not decided"]
    assert list(summary["Follows the suggestion"])[:2] == ["yes", "no: Patient's informed choice"]
    assert at.query_params["case"] == "summary"

    # the shared screen: an HTML table (24 px type, cells wrapped); st.table renders Markdown, so typed text is escaped
    at.session_state[state.PRESENTATION] = True
    at.run()
    ok(at)
    [shared] = [t.value for t in at.table if "Rationale" in t.value.columns]
    assert "Recorded by" not in shared.columns
    assert [unescape(v) for v in shared["Rationale"]][:2] == [hostile, "Patient prefers surgery"]
    assert "![x](" not in shared["Rationale"].iloc[0]
    at.session_state[state.PRESENTATION] = False
    at.run()

    # the FHIR Bundle a click downloads
    name = f"meeting-{m.id}_2026-12-01.fhir.json"
    from fhir.resources.R4B.bundle import Bundle

    bundle = Bundle.model_validate_json(downloads[name]())
    assert bundle.type == "collection" and bundle.identifier.value == "2026-12-01"
    subjects = [e.resource.subject.identifier.value for e in bundle.entry]
    assert subjects == ["DEMO-01", "DEMO-02", "DEMO-03", "DEMO-04"]
    first = bundle.entry[0].resource
    assert float(first.prediction[0].probabilityDecimal) == pytest.approx(round(100 * expected.probability, 1))
    assert json.loads(downloads[name]())["resourceType"] == "Bundle"

    # the case PDF a click downloads
    at.button(key=state.meeting_key("prev")).click().run()
    ok(at)
    assert "Case 4 of 4: DEMO-04" in texts(at)
    at.selectbox(key=state.MEETING_JUMP).set_value(1).run()
    ok(at)
    pdf = downloads["DEMO-01_2026-12-01.pdf"]()
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-1024:]
    assert at.session_state[state.RAW]["patient_id"] == "DEMO-01"
    assert "Decision recorded: Watch-and-wait" in texts(at)


def _app_at(query: dict):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    return ok(at.run())


def test_a_reload_reopens_the_meeting_at_the_case_and_carries_on(db):
    at = new_app()
    mid = meeting_with_cases(at, db)
    at.button(key=state.meeting_key("next")).click().run()
    at.button(key=state.meeting_key("next")).click().run()
    ok(at)
    assert dict(at.query_params) == {"meeting": str(mid), "case": "3"}

    again = _app_at({"meeting": str(mid), "case": "3"})  # a new session, as after a browser reload
    assert again.session_state[state.MEETING_ID] == mid and again.session_state[state.MEETING_CASE] == 3
    assert again.session_state[state.RAW]["patient_id"] == "DEMO-03"
    again.session_state[state.ACTOR] = "Dr Chair"
    goto(again, "meeting")
    assert "Case 3 of 4: DEMO-03" in texts(again)
    decide(again, mid, "DEMO-03", "local_excision", "yes", "Near-complete response, small scar", present="Dr Chair")
    assert db.decisions("DEMO-03")[0].pathway == "local_excision"
    again.button(key=state.meeting_key("next")).click().run()
    assert "Case 4 of 4: DEMO-04" in texts(ok(again))

    bad = _app_at({"meeting": "999", "case": "2"})
    assert any("The link names meeting 999, which is not in the case store" in unescape(w.value) for w in bad.warning)
    assert bad.session_state[state.MEETING_ID] is None and not bad.session_state[state.RAW]


def test_two_sessions_deciding_the_same_case_see_a_conflict_never_an_overwrite(db):
    a, b = new_app(), new_app()
    mid = meeting_with_cases(a, db, n=2)
    named(b, "Dr Second")
    b.selectbox(key=state.MEETING_CHOICE).set_value(mid).run()
    ok(b)
    assert "Case 1 of 2: DEMO-01" in texts(b)  # both opened case 1 with no decision yet

    decide(a, mid, "DEMO-01", "watch_and_wait", "yes", "cCR on every test", present="Dr Chair")
    decide(b, mid, "DEMO-01", "tme", "no", "Suspicious scar", present="Dr Second", reason="Scar on endoscopy")
    [d] = db.decisions("DEMO-01")
    assert (d.pathway, d.actor) == ("watch_and_wait", "Dr Chair")  # nothing overwritten
    [err] = errors(b)
    assert err.startswith("**Not saved: someone else saved this case first.** Case DEMO-01 at the meeting of 2026-12-01 "
                          "already has decision version 1, saved by Dr Chair at ")
    assert err.endswith("; nothing was saved. Open version 1 and make your change there.")
    b.button(key="reload_conflict:decision").click().run()
    ok(b)
    assert not errors(b) and "Decision recorded: Watch-and-wait" in texts(b)
    assert b.text_area(key=state.decision_key(mid, "DEMO-01", "rationale")).value == "Suspicious scar"  # kept
    b.button(key=state.decision_key(mid, "DEMO-01", "submit")).click().run()
    ok(b)
    assert [(x.version, x.pathway, x.actor) for x in db.decisions("DEMO-01")] == [
        (1, "watch_and_wait", "Dr Chair"), (2, "tme", "Dr Second")]


def test_two_sessions_editing_the_same_record_see_a_conflict(db):
    a, b = new_app(), new_app()
    meeting_with_cases(a, db, n=1)
    for at, name in ((a, "Dr Chair"), (b, "Dr Second")):
        at.session_state[state.ACTOR] = name
        goto(at, "cases")
        at.selectbox(key=state.cases_key("open")).set_value("DEMO-01").run()
        at.button(key=state.cases_key("open_button")).click().run()
        ok(at)
        assert at.session_state[state.RAW]["patient_id"] == "DEMO-01"
    for at, age in ((a, "71"), (b, "72")):
        goto(at, "patient")
        at.text_input(key=state.field_key("age_years")).input(age).run()
        goto(at, "cases")
        assert "Unsaved changes to this case: Age" in texts(ok(at))
        at.button(key=state.cases_key("save")).click().run()
        ok(at)
    versions = db.assessments("DEMO-01")
    assert [(v.version, v.record["age_years"], v.actor) for v in versions][1:] == [(2, 71, "Dr Chair")]
    [err] = errors(b)
    assert err.startswith("**Not saved: someone else saved this case first.** Case DEMO-01: assessment version 2 was saved "
                          "by Dr Chair at ")
    assert err.endswith("after version 1 that you opened; nothing was saved. Reload the case to see that change, then "
                        "make yours again.")
    b.button(key="reload_conflict:assessment").click().run()  # asks before the unsaved edit goes
    b.button(key="meeting_confirm_switch").click().run()
    ok(b)
    assert b.session_state[state.RAW]["age_years"] == "71" and b.session_state[state.PATIENT_SOURCE]["version"] == 2


def test_cases_list_search_pages_filters_and_follow_up(db):
    from watchwait.sim import simulate, to_csv_frame

    m = db.create_meeting(DATE, "Big list", actor="seed")
    data = to_csv_frame(simulate(30, seed=3, with_oracle=False).frame).to_csv(index=False).encode()
    assert db.import_cases(m.id, data, actor="seed", screen="test").ok
    first = db.list_cases(page_size=30).items[0].pseudonym
    at = new_app()
    goto(at, "cases")
    assert "30 cases · page 1 of 2" in texts(at)
    assert len(frame(at, "Patient", "Assessment version", "Saved")) == 25
    at.button(key=state.cases_key("next")).click().run()
    assert "page 2 of 2" in texts(ok(at)) and len(frame(at, "Patient", "Assessment version", "Saved")) == 5
    at.text_input(key=state.cases_key("search")).input(first).run()
    assert "1 case match · page 1 of 1" in texts(ok(at))
    at.selectbox(key=state.cases_key("open")).set_value(first).run()
    at.button(key=state.cases_key("open_button")).click().run()
    ok(at)
    assert at.session_state[state.RAW]["patient_id"] == first
    assert f"Open case: {first} (assessment version 1)" in texts(at)

    # follow-up: a bad value is refused with the field's label; the name is required first
    k = lambda n: state.follow_up_key(first, n)
    at.selectbox(key=k("management")).set_value("watch_and_wait")
    at.text_input(key=k("months_followed")).input("300")
    at.button(key=k("submit")).click().run()
    assert any("Enter your name" in unescape(w.value) for w in ok(at).warning) and db.follow_ups(first) == []
    at.session_state[state.ACTOR] = "Dr Follow"
    at.button(key=k("submit")).click().run()
    assert errors(ok(at)) == ["**Follow-up not recorded**: Time followed must be a number from 0 to 240 months; got '300' instead."]
    assert db.follow_ups(first) == []
    at.text_input(key=k("months_followed")).input("14")
    at.selectbox(key=k("local_regrowth")).set_value("false")
    at.button(key=k("submit")).click().run()
    ok(at)
    [fu] = db.follow_ups(first)
    assert fu.data == {"management": "watch_and_wait", "local_regrowth": False, "months_followed": 14.0} and fu.actor == "Dr Follow"
    assert f"Follow-up recorded for {first} (version 1)." in texts(at)

    # filters: by decision and pending follow-up (one query per page in the store)
    db.record_decision(m.id, first, pathway="tme", follows_suggestion=False, reason_not_followed="r", rationale="x",
                       present=["A"], actor="seed", screen="test", expected_version=None)
    at.text_input(key=state.cases_key("search")).input("").run()
    at.selectbox(key=state.cases_key("pathway")).set_value("tme").run()
    table = frame(at, "Patient", "Assessment version", "Saved")
    assert list(table["Patient"]) == [first] and list(table["Decision"]) == ["Total mesorectal excision (TME)"]
    at.selectbox(key=state.cases_key("follow")).set_value("pending").run()
    assert list(frame(at, "Patient", "Assessment version", "Saved")["Follow-up"]) == ["pending"]


def test_a_reload_reopens_the_stored_case_opened_from_the_cases_screen(db):
    """?stored=&version= name the stored case open outside a meeting; a new session (a browser reload) reopens that
    version, says when the store has a newer one, and a link naming no stored case opens nothing and says why."""
    m = db.create_meeting(DATE, "List", actor="seed")
    assert db.import_cases(m.id, csv_bytes(sample_rows()[:3]), actor="seed", screen="test").ok
    at = new_app()
    goto(at, "cases")
    at.selectbox(key=state.cases_key("open")).set_value("DEMO-02").run()
    at.button(key=state.cases_key("open_button")).click().run()
    assert dict(ok(at).query_params) == {"stored": "DEMO-02", "version": "1"}
    goto(at, "assessment")
    assert dict(ok(at).query_params) == {"stored": "DEMO-02", "version": "1"}

    again = _app_at(dict(at.query_params))  # a new session, as after a browser reload
    assert again.session_state[state.RAW]["patient_id"] == "DEMO-02"
    src = again.session_state[state.PATIENT_SOURCE]
    assert (src["kind"], src["name"], src["version"]) == ("store", "DEMO-02", 1) and "meeting" not in src
    assert "newer version" not in texts(again)

    record = dict(db.assessment("DEMO-02").record, cea_post_ng_ml=2.5)
    db.save_assessment("DEMO-02", record, actor="Dr B", screen="test", expected_version=1)
    later = _app_at({"stored": "DEMO-02", "version": "1"})
    assert later.session_state[state.PATIENT_SOURCE]["version"] == 1
    assert ("Reopened DEMO-02 at assessment version 1, as the link names it; the store has a newer version (2). "
            "Open the newest from the Cases screen.") in texts(later)

    for bad in ("NOPE-1", "![x](http://127.0.0.1:9/b.png)"):
        gone = _app_at({"stored": bad, "version": "1"})
        assert not gone.session_state[state.RAW].get("patient_id")
        assert f"The link names the case {bad!r} (assessment version 1), which is not in the case store" in texts(gone)
        assert dict(gone.query_params) == {}


def test_the_assessment_screen_keeps_the_prediction_it_shows_of_a_stored_case(db):
    """Open a stored case from the Cases screen and look at it on the Assessment screen: the prediction shown is kept
    with that assessment version (who, which screen, which model), once; not without a name, not for unsaved edits."""
    import watchwait

    m = db.create_meeting(DATE, "List", actor="seed")
    assert db.import_cases(m.id, csv_bytes(sample_rows()[:2]), actor="seed", screen="test").ok
    v = db.assessment("DEMO-02")
    at = new_app()
    goto(at, "cases")
    at.selectbox(key=state.cases_key("open")).set_value("DEMO-02").run()
    at.button(key=state.cases_key("open_button")).click().run()
    goto(at, "assessment")
    assert "Enter your name in the sidebar to keep this prediction with the stored case" in texts(ok(at))
    assert db.predictions(v.id) == []

    at.session_state[state.ACTOR] = "Dr Desk"
    ok(at.run())
    [pr] = db.predictions(v.id)
    expected = watchwait.assess(v.record)
    assert (pr.actor, pr.screen, pr.model_version) == ("Dr Desk", "Assessment", expected.model_version)
    assert pr.probability == pytest.approx(expected.probability) and pr.suggestion == expected.suggestion.pathway
    ok(at.run())
    goto(at, "what_if")
    goto(at, "assessment")
    assert len(db.predictions(v.id)) == 1  # shown again: kept once

    at.session_state[state.RAW] = dict(at.session_state[state.RAW], cea_post_ng_ml="40")
    ok(at.run())
    assert "This prediction is of your unsaved changes, not of the stored case: it is not kept with the case." in texts(at)
    assert len(db.predictions(v.id)) == 1


def test_about_lists_the_models_and_which_model_each_stored_prediction_used(db):
    at = new_app()
    meeting_with_cases(at, db, n=1)
    goto(at, "about_model")
    models = frame(at, "Model version", "In use now")
    version = watchwait.assess(sample_rows()[0]).model_version
    assert list(models["Model version"]) == [version] and list(models["Stored predictions"]) == [1]
    assert list(models["In use now"]) == ["yes"]
    preds = frame(at, "Assessment version", "Model version")
    assert list(preds["Model version"]) == [version] and list(preds["By"]) == ["Dr Chair"]


def test_viewing_never_creates_the_default_database_the_first_meeting_does(tmp_path, monkeypatch):
    monkeypatch.delenv("WATCHWAIT_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    at = _app_at({"meeting": "1", "case": "2"})
    assert "this site has no case store yet" in unescape(at.warning[0].value)
    goto(at, "about_model")
    assert "No case store at this site yet" in texts(at)
    goto(at, "cases")
    assert "No case store at this site yet" in texts(at)
    named(at)
    assert at.selectbox(key=state.MEETING_CHOICE).options == []
    assert not (tmp_path / "var").exists()
    create_meeting(at)
    assert (tmp_path / "var" / "watchwait.db").exists() and "Meeting of 2026-12-01 created" in texts(at)


def test_stepping_on_never_drops_unsaved_edits_without_asking(db):
    at = new_app()
    meeting_with_cases(at, db, n=2)
    goto(at, "patient")
    at.text_input(key=state.field_key("age_years")).input("70").run()
    goto(at, "meeting")  # the same case: the edit stays
    assert at.session_state[state.RAW]["age_years"] == "70" and "Case 1 of 2: DEMO-01" in texts(ok(at))
    at.button(key=state.meeting_key("next")).click().run()
    ok(at)
    assert ("**Unsaved changes to DEMO-01** (Age). Opening case DEMO-02 from the case store (assessment version 1) "
            "discards them") in texts(at)
    assert at.session_state[state.RAW]["patient_id"] == "DEMO-01"
    # while the question waits, nothing of DEMO-02 is on screen beside DEMO-01's record: no case view, no decision form
    assert "Case 2 of 2: DEMO-02" not in texts(at)
    assert not [r for r in at.radio if str(r.key).startswith(state.decision_key(db.meetings()[0].id, "DEMO-02", ""))]
    assert "Case 2 (DEMO-02) is shown, with its decision form, once you answer above" in texts(at)
    at.button(key="meeting_cancel_switch").click().run()
    ok(at)
    assert "The open patient is still DEMO-01, with unsaved changes: this case is shown from the case store" in texts(at)
    assert at.session_state[state.RAW]["age_years"] == "70" and "Case 2 of 2: DEMO-02" in texts(at)
    at.button(key=state.meeting_key("rebind")).click().run()
    at.button(key="meeting_confirm_switch").click().run()
    ok(at)
    assert at.session_state[state.RAW]["patient_id"] == "DEMO-02" and at.session_state[state.PATIENT_SOURCE]["position"] == 2
    assert db.assessments("DEMO-01")[-1].version == 1  # the discarded edit was never saved



def test_a_stale_picker_value_sent_with_the_switch_to_presentation_mode_keeps_the_case_on_screen(db):
    """The browser sends a selectbox's value as its label, and the meeting picker's label counts the decisions
    ("15 cases, 2 decided"). A click on the Presentation mode switch right after a decision can carry the picker's
    label from before the decision: Streamlit cannot map it to a meeting, passes the text on as the value, and calls
    the picker's on_change. A fresh-clone browser run once lost the chair's place this way (case 3 -> case 1).
    Replayed here with that exact message."""
    from streamlit.testing.v1.element_tree import get_widget_state

    at = new_app()
    mid = meeting_with_cases(at, db)
    at.button(key=state.meeting_key("next")).click().run()
    at.button(key=state.meeting_key("next")).click().run()
    assert "Case 3 of 4: DEMO-03" in texts(ok(at))
    stale = [get_widget_state(at.selectbox(key=k)) for k in (state.MEETING_CHOICE, state.MEETING_JUMP)]
    assert "0 decided" in stale[0].string_value
    decide(at, mid, "DEMO-03", "local_excision", "yes", "Near-complete response, small scar", present="Dr Chair")
    assert "1 decided" in get_widget_state(at.selectbox(key=state.MEETING_CHOICE)).string_value
    at.toggle(key=state.PRESENTATION_WIDGET).set_value(True)
    ws = at._tree.get_widget_states()
    keep = {s.id for s in stale}
    ws = type(ws)(widgets=[w for w in ws.widgets if w.id not in keep] + stale)
    at._run(ws)
    ok(at)
    assert at.session_state[state.MEETING_ID] == mid and at.session_state[state.MEETING_CASE] == 3
    assert "Case 3 of 4: DEMO-03" in texts(at) and dict(at.query_params) == {"meeting": str(mid), "case": "3"}
