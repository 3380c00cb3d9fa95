"""What each role sees and can do on the screens (issue 20): every write control present exactly when the role's
permission allows it, with one quiet line saying why where it is not; who looked (one access row per opening of a
stored case, none per rerun); a forged write of the viewer refused by the store; the administrator's audit view
filtered by person and case; local mode as before.

The signed-in person is given to AppTest the way Streamlit 1.67 supports: ``AppTest.user`` (what ``st.user`` reads:
``is_logged_in`` and the identity token's claims) and ``AppTest.secrets`` (an ``[auth]`` section: signed-in mode).
Nothing of the app is patched: components.auth builds the Person from those claims as it does behind the real
provider (tests/oidc signs each role in through Chromium). Every test has its own SQLite case store."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from apptest_helpers import ROOT, TIMEOUT, goto, new_app, texts, upload_imaging
from test_imaging_page import SAMPLES, _without_timing
from test_meeting import DATE, csv_bytes, sample_rows

from components import state
from components.safe import unescape
from watchwait.store import NotPermitted, Person, Store
from watchwait.store.identity import PERMISSIONS, ROLES

PEOPLE = {  # role -> the identity token's subject and display name
    "viewer": ("sub-viewer-1", "Dr V. Viewer"),
    "clinician": ("sub-clinician-2", "Dr C. Clinician"),
    "chair": ("sub-chair-3", "Dr H. Chair"),
    "administrator": ("sub-admin-4", "A. Admin"),
}
SECRETS = {"auth": {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
                    "client_id": "watchwait", "client_secret": "not-a-secret",
                    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}}

# role -> the writes its screens offer, written out (test_the_table_is_the_stores checks PERMISSIONS says the same).
ALLOWED = {
    "viewer": set(),
    "clinician": {"assess", "save", "follow_up"},
    "chair": {"assess", "save", "follow_up", "create_meeting", "add_case", "import", "decide"},
    "administrator": {"read_audit"},
}
ARTICLE = {"viewer": "a viewer", "clinician": "a clinician", "chair": "a chair", "administrator": "an administrator"}
# action -> the line a screen shows instead of its control (", you are signed in as <role>." follows)
WHY_NOT = {
    "save": "Saving an assessment to the case store needs the clinician or chair role",
    "follow_up": "Recording follow-up needs the clinician or chair role",
    "create_meeting": "Creating a meeting needs the chair role",
    "add_case": "Adding cases to a meeting needs the chair role",
    "decide": "Recording decisions needs the chair role",
    "assess": "Confirming a series for the model needs the clinician or chair role",
}


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def claims(role: str) -> dict:
    sub, name = PEOPLE[role]
    return {"is_logged_in": True, "sub": sub, "name": name, "groups": [role], "exp": time.time() + 3600}


def person(role: str) -> Person:
    sub, name = PEOPLE[role]
    return Person(sub, name, {role})


def signed_in(role: str, query: dict | None = None):
    """A new browser session of the person with this role (signed in through the site's provider)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.secrets = {k: dict(v) for k, v in SECRETS.items()}
    at.user = claims(role)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return ok(at.run())


def has(at, kind: str, key: str) -> bool:
    return any(getattr(w, "key", None) == key for w in getattr(at, kind))


def captions(at) -> list[str]:
    return [unescape(c.value) for c in at.caption]


def counts(db: Store) -> dict[str, int]:
    """Every table's rows (nothing but the access rows may change when a case is only looked at)."""
    from sqlalchemy import func, select

    from watchwait.store.tables import metadata

    with db._engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in metadata.sorted_tables}


@pytest.fixture
def db(tmp_path, monkeypatch):
    """A case store with one meeting (3 cases imported by a chair, DEMO-01 decided by then) and no access row."""
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    monkeypatch.setenv("WATCHWAIT_DATABASE_URL", url)
    s = Store(url)
    seed = Person("sub-seed", "Dr S. Seed", {"chair"})
    m = s.create_meeting(DATE, "Colorectal MDT", actor=seed, screen="test")
    assert s.import_cases(m.id, csv_bytes(sample_rows()[:3]), actor=seed, screen="test").ok
    s.record_decision(m.id, "DEMO-01", pathway="tme", follows_suggestion=True, reason_not_followed=None,
                      rationale="Seeded", present=["Dr S. Seed"], actor=seed, screen="test", expected_version=None,
                      assessment_version=1)
    yield s
    s.close()


def test_the_table_is_the_stores():
    """The screens' table (ALLOWED) is the store's: PERMISSIONS, for the writes a screen offers."""
    shown = {a for a in PERMISSIONS if a not in ("read", "register_model", "administer_db")}
    assert {r: {a for a in shown if r in PERMISSIONS[a]} for r in ROLES} == ALLOWED
    # register_model and administer_db have no control on any screen (watchwait train, watchwait db): administrator
    assert PERMISSIONS["register_model"] == PERMISSIONS["administer_db"] == {"administrator"}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_exactly_the_write_controls_its_role_allows(db, role):
    mid = db.meetings()[0].id
    may = ALLOWED[role]
    why = {a: f"{WHY_NOT[a]}; you are signed in as {ARTICLE[role]}." for a in WHY_NOT}

    # Meeting screen, at case 2 (not decided; a deep link, as a colleague would send)
    at = signed_in(role, {"meeting": str(mid), "case": "2"})
    goto(at, "meeting")
    screen = texts(at)
    assert "Case 2 of 3: DEMO-02" in screen and "Your name" not in screen
    assert has(at, "button", state.meeting_key("create")) == ("create_meeting" in may)
    assert has(at, "button", state.meeting_key("import")) == ("import" in may)
    assert has(at, "file_uploader", state.import_key()) == ("import" in may)
    assert has(at, "button", state.meeting_key("add")) == ("add_case" in may)
    assert has(at, "button", state.meeting_key("add_open")) == ("add_case" in may)
    assert has(at, "button", state.decision_key(mid, "DEMO-02", "submit")) == ("decide" in may)
    assert has(at, "radio", state.decision_key(mid, "DEMO-02", "pathway")) == ("decide" in may)
    for action in ("create_meeting", "add_case", "decide"):
        assert (why[action] in captions(at)) == (action not in may), action
    if "decide" not in may:
        assert "**Not decided yet.**" in screen
    # the prediction shown is stored only for a role that may assess
    case2 = db.meeting_cases(mid)[1]
    assert len(db.predictions(case2.assessment.id)) == (1 if "assess" in may else 0)
    # case 1 was decided: every role reads the decision; only the chair gets the correction form
    at.button(key=state.meeting_key("prev")).click().run()
    assert "Decision recorded:" in texts(ok(at)) and "Rationale: Seeded" in texts(at)
    assert "Recorded by Dr S. Seed, " in texts(at) and "Created by Dr S. Seed, " in texts(at)
    assert has(at, "button", state.decision_key(mid, "DEMO-01", "submit")) == ("decide" in may)

    # Cases screen, DEMO-01 open (bound by the meeting): follow-up, saving changes, the audit view
    goto(at, "cases")
    assert has(at, "button", state.follow_up_key("DEMO-01", "submit")) == ("follow_up" in may)
    assert (why["follow_up"] in captions(at)) == ("follow_up" not in may)
    assert has(at, "selectbox", state.cases_key("audit_view:person")) == ("read_audit" in may)
    at.session_state[state.RAW] = dict(at.session_state[state.RAW], cea_post_ng_ml="40")  # an unsaved change
    ok(at.run())
    assert has(at, "button", state.cases_key("save")) == ("save" in may)
    assert (why["save"] in captions(at)) == ("save" not in may)
    if "save" in may:  # and the write goes through, under the signed-in person
        at.button(key=state.cases_key("save")).click().run()
        v = db.assessment("DEMO-01")
        assert (v.version, v.actor) == (2, PEOPLE[role][1])
        assert db.audit("DEMO-01", limit=1)[0].actor_subject == PEOPLE[role][0]


@pytest.mark.parametrize("role", ROLES)
def test_confirming_an_unsettled_series_is_offered_only_to_a_role_that_may_assess(db, role):
    at = signed_in(role, {"stored": "DEMO-01", "version": "1"})
    goto(at, "imaging")
    seg = SAMPLES / "DEMO-01" / "baseline_seg.dcm"
    upload_imaging(at, "baseline", _without_timing("DEMO-01", "baseline"), seg.name, seg.read_bytes())
    ok(at)
    assert "Not used by the model unless you confirm it." in texts(at)
    may = "assess" in ALLOWED[role]
    assert has(at, "button", "imaging:baseline:confirm") == may
    assert (f"{WHY_NOT['assess']}; you are signed in as {ARTICLE[role]}." in captions(at)) == (not may)
    if may:
        at.button(key="imaging:baseline:confirm").click().run()
        [record] = ok(at).session_state["imaging:confirmed"].values()
        assert record["by"] == PEOPLE[role][1]  # the provider's display name, nothing typed


def test_a_viewer_opening_a_stored_case_writes_one_access_row_per_opening_and_nothing_else(db):
    mid = db.meetings()[0].id
    db.record_follow_up("DEMO-02", {"months_followed": 6}, actor="Dr Typed", screen="Cases", expected_version=None)
    before = counts(db)
    at = signed_in("viewer")
    goto(at, "cases")
    at.selectbox(key=state.cases_key("open")).set_value("DEMO-02").run()
    at.button(key=state.cases_key("open_button")).click().run()
    assert "Open case: DEMO-02 (assessment version 1)" in texts(ok(at))
    [trail] = [d.value for d in at.dataframe if list(d.value.columns) == ["When", "Who", "What", "Screen"]]
    assert list(trail["Who"])[:2] == ["Dr Typed (typed name, not signed in)", "Dr S. Seed"]  # the case's own trail
    assert "**Follow-up**, latest: version 1, by Dr Typed (typed name, not signed in), " in texts(at)
    ok(at.run())  # reruns, other screens: the same opening
    goto(at, "assessment")
    goto(at, "cases")
    [a] = db.accesses()
    assert (a.actor, a.actor_subject, a.pseudonym, a.screen) == ("Dr V. Viewer", "sub-viewer-1", "DEMO-02", "Cases")
    assert dt.datetime.fromisoformat(a.at).utcoffset() == dt.timedelta(0)  # when, in UTC
    after = counts(db)
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {"accesses": 1}

    # opening another case, then the first again: one row each; a meeting's case bound on the Meeting screen too
    at.selectbox(key=state.cases_key("open")).set_value("DEMO-03").run()
    at.button(key=state.cases_key("open_button")).click().run()
    at.selectbox(key=state.cases_key("open")).set_value("DEMO-02").run()
    at.button(key=state.cases_key("open_button")).click().run()
    ok(at)
    at.session_state[state.MEETING_ID], at.session_state[state.MEETING_CASE] = mid, 1
    goto(at, "meeting")
    ok(at.run())
    assert [(x.pseudonym, x.screen) for x in reversed(db.accesses())] == [
        ("DEMO-02", "Cases"), ("DEMO-03", "Cases"), ("DEMO-02", "Cases"), ("DEMO-01", "Meeting")]
    after = counts(db)
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {"accesses": 4}

    # a deep link in a new session (a browser reload): one row, from the screen the link opened
    link = signed_in("viewer", {"stored": "DEMO-03", "version": "1"})
    ok(link.run())
    newest = db.accesses(limit=1)[0]
    assert (newest.actor_subject, newest.pseudonym, newest.screen) == ("sub-viewer-1", "DEMO-03", "Patient")
    assert len(db.accesses()) == 5


def test_a_forged_write_with_the_viewers_identity_is_refused_and_writes_nothing(db):
    """The viewer's screens have no decision form; calling the store directly with the viewer's identity (the Person
    components.auth builds from the viewer's claims) is refused with its message, and nothing is written."""
    from components.auth import Settings, person_from_claims

    mid = db.meetings()[0].id
    viewer = person_from_claims(claims("viewer"), Settings())
    assert viewer == person("viewer")
    before = counts(db)
    with pytest.raises(NotPermitted) as refused:
        db.record_decision(mid, "DEMO-02", pathway="tme", follows_suggestion=True, reason_not_followed=None,
                           rationale="Forged", present=["Dr V. Viewer"], actor=viewer, screen="Meeting",
                           expected_version=None, assessment_version=1)
    assert str(refused.value) == "Dr V. Viewer (viewer) may not record a decision: that needs the chair role."
    with pytest.raises(NotPermitted) as refused:
        db.audit(reader=viewer)
    assert str(refused.value) == "Dr V. Viewer (viewer) may not read the audit trail: that needs the administrator role."
    assert counts(db) == before


AUDIT_COLUMNS = {"changes": ["Time", "Person", "Sign-in id", "Case", "Meeting", "What", "Screen"],
                 "looks": ["Time", "Person", "Sign-in id", "Case", "Screen"]}


def _audit_table(at, tab: str):
    """The audit view's table of one tab (None when the tab shows none)."""
    for d in at.dataframe:
        if list(d.value.columns) == AUDIT_COLUMNS[tab]:
            return d.value
    return None


def test_the_audit_view_filters_by_person_and_case_and_pages(db, monkeypatch):
    from components import audit_view

    mid = db.meetings()[0].id
    chair, viewer = person("chair"), person("viewer")
    twin = Person("sub-chair-other", "Dr H. Chair", {"chair"})  # same display name, another person
    db.record_follow_up("DEMO-02", {"months_followed": 6}, actor=chair, screen="Cases", expected_version=None)
    db.record_follow_up("DEMO-03", {"months_followed": 3}, actor=twin, screen="Cases", expected_version=None)
    db.add_case(db.create_meeting(DATE, "Second list", actor=chair, screen="Meeting").id, "DEMO-03", actor=chair,
                screen="Meeting")
    db.record_access(viewer, "DEMO-02", "Cases")
    db.record_access(viewer, "DEMO-03", "Meeting")
    db.record_access(chair, "DEMO-03", "Meeting")
    db.record_access("Dr Typed", "DEMO-02", "Cases")  # a typed name (local mode, before sign-in)

    at = signed_in("administrator")
    goto(at, "cases")
    assert "The audit view needs" not in texts(at)
    people = at.selectbox(key=state.cases_key("audit_view:person"))
    assert people.options == ["Dr H. Chair (sign-in id sub-chair-3)", "Dr H. Chair (sign-in id sub-chair-other)",
                              "Dr S. Seed (sign-in id sub-seed)", "Dr Typed (typed name)",
                              "Dr V. Viewer (sign-in id sub-viewer-1)"]  # two people named Dr H. Chair stay apart
    everyone = _audit_table(at, "looks")
    assert [(r["Person"], r["Case"]) for _, r in everyone.iterrows()] == [
        ("Dr Typed (typed name, not signed in)", "DEMO-02"), ("Dr H. Chair", "DEMO-03"), ("Dr V. Viewer", "DEMO-03"),
        ("Dr V. Viewer", "DEMO-02")]
    assert all(t.endswith(" UTC") for t in everyone["Time"])

    people.set_value("s:sub-chair-3").run()
    changes = _audit_table(ok(at), "changes")
    assert list(changes["Sign-in id"]) == ["sub-chair-3"] * 3 and set(changes["Person"]) == {"Dr H. Chair"}
    assert list(changes["Case"]) == ["DEMO-03", "", "DEMO-02"]  # added to a meeting, the meeting, follow-up
    looks = _audit_table(at, "looks")
    assert [(r["Person"], r["Case"], r["Screen"]) for _, r in looks.iterrows()] == [("Dr H. Chair", "DEMO-03", "Meeting")]

    at.text_input(key=state.cases_key("audit_view:case")).input("DEMO-02").run()
    changes = _audit_table(ok(at), "changes")
    assert list(changes["Case"]) == ["DEMO-02"] and list(changes["Sign-in id"]) == ["sub-chair-3"]
    assert _audit_table(at, "looks") is None and "Nobody matching has opened a stored case." in captions(at)

    at.selectbox(key=state.cases_key("audit_view:person")).set_value(None).run()
    looks = _audit_table(ok(at), "looks")
    assert [(r["Person"], r["Sign-in id"]) for _, r in looks.iterrows()] == [
        ("Dr Typed (typed name, not signed in)", ""), ("Dr V. Viewer", "sub-viewer-1")]

    # pages: two rows a page, newest first
    monkeypatch.setattr(audit_view, "PAGE_SIZE", 2)
    at.text_input(key=state.cases_key("audit_view:case")).input("").run()
    seen = []
    for _ in range(3):
        seen += list(_audit_table(ok(at), "looks")["Case"])
        nxt = at.button(key=state.cases_key("audit_view:next:looks"))
        if nxt.disabled:
            break
        nxt.click().run()
    assert seen == [a.pseudonym for a in db.accesses()] and len(seen) == 4
    assert "Rows 3 to 4, newest first" in captions(at)

    # someone new: in the person list at the next rerun (the list is kept only while no newer row exists)
    db.record_access(Person("sub-new-5", "Dr N. New", {"viewer"}), "DEMO-01", "Cases")
    ok(at.run())
    assert "Dr N. New (sign-in id sub-new-5)" in at.selectbox(key=state.cases_key("audit_view:person")).options


def test_local_mode_records_the_typed_names_look_and_none_without_a_name(db):
    """Local mode as before: every control, the audit view for its single user, and an opening recorded under the
    typed name (nothing when no name is typed)."""
    at = new_app()
    goto(at, "cases")
    at.selectbox(key=state.cases_key("open")).set_value("DEMO-02").run()
    at.button(key=state.cases_key("open_button")).click().run()
    ok(at)
    assert db.accesses() == []  # no name typed: nobody to record
    at.session_state[state.ACTOR] = "Dr Local"
    ok(at.run())
    assert db.accesses() == []  # the same opening
    assert has(at, "button", state.follow_up_key("DEMO-02", "submit"))
    assert has(at, "selectbox", state.cases_key("audit_view:person"))
    at.selectbox(key=state.cases_key("open")).set_value("DEMO-03").run()
    at.button(key=state.cases_key("open_button")).click().run()
    [a] = db.accesses()
    assert (a.actor, a.actor_subject, a.pseudonym, a.screen) == ("Dr Local", None, "DEMO-03", "Cases")
    assert list(_audit_table(at, "looks")["Person"]) == ["Dr Local"]  # local mode: no "typed name" label


def test_a_store_error_while_recording_a_look_shows_the_case_and_a_plain_warning(db, monkeypatch):
    from watchwait.store import StoreBusy

    calls = []

    def busy(self, actor, pseudonym, screen):
        calls.append(pseudonym)
        raise StoreBusy("The case store stayed busy with other changes for over 5 s; nothing was saved.")

    real = Store.record_access
    monkeypatch.setattr(Store, "record_access", busy)
    at = signed_in("viewer", {"stored": "DEMO-02", "version": "1"})
    goto(at, "cases")
    assert "Open case: DEMO-02 (assessment version 1)" in texts(at)
    assert [unescape(w.value) for w in at.warning if "could not be recorded" in w.value] == [
        "Who opened this case could not be recorded; it is tried again on the next screen. The case store stayed "
        "busy with other changes for over 5 s; nothing was saved."]
    monkeypatch.setattr(Store, "record_access", real)
    ok(at.run())
    assert calls and [x.pseudonym for x in db.accesses()] == ["DEMO-02"]  # tried again, once it could be
    assert not [w for w in at.warning if "could not be recorded" in w.value]


def test_a_meeting_case_shown_while_unsaved_edits_are_kept_is_one_look(db):
    """Stepping on with unsaved edits shows the next case from the store (the open patient stays): that is a look,
    recorded once; opening it as the patient afterwards is the same look, not another."""
    mid = db.meetings()[0].id
    at = signed_in("clinician", {"meeting": str(mid), "case": "1"})
    goto(at, "meeting")
    at.session_state[state.RAW] = dict(at.session_state[state.RAW], age_years="70")  # an unsaved edit of DEMO-01
    ok(at.run())
    at.button(key=state.meeting_key("next")).click().run()
    assert "Opening case DEMO-02 from the case store (assessment version 1) discards them" in texts(ok(at))
    at.button(key="meeting_cancel_switch").click().run()
    assert "this case is shown from the case store" in texts(ok(at))
    ok(at.run())
    assert [(a.actor_subject, a.pseudonym, a.screen) for a in reversed(db.accesses())] == [
        ("sub-clinician-2", "DEMO-01", "Patient"), ("sub-clinician-2", "DEMO-02", "Meeting")]
    at.button(key=state.meeting_key("rebind")).click().run()
    at.button(key="meeting_confirm_switch").click().run()
    assert at.session_state[state.RAW]["patient_id"] == "DEMO-02"
    ok(at.run())
    assert len(db.accesses()) == 2  # the case shown became the open patient: the same look
