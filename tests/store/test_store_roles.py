"""Roles checked in the case store's API (issue 20, store side): every role against every write, each refusal's
message word for word with nothing written (every table counted before and after), a permitted write storing
the provider's subject beside the display name (in the row and in its audit row), typed names kept as they were
(local mode), who looked (the access rows and their filters, append-only), the audit's person filter, and the
migration to 0003_identities and back. Every test runs on SQLite and on PostgreSQL (conftest.py)."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from helpers_store import count, raw_engine, record
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from watchwait.errors import WatchwaitError
from watchwait.store import (PERMISSIONS, ROLES, Access, InvalidEntry, NotPermitted, Person, Store, StoreError,
                             migrate)
from watchwait.store.tables import metadata

HEAD = "0004_integrity"
PEOPLE = {
    "viewer": Person("sub-viewer-1", "Dr V. Viewer", {"viewer"}),
    "clinician": Person("sub-clinician-2", "Dr C. Clinician", {"clinician"}),
    "chair": Person("sub-chair-3", "Dr H. Chair", {"chair"}),
    "administrator": Person("sub-admin-4", "A. Admin", {"administrator"}),
}

# role x action, written out here (not read from PERMISSIONS: test_the_permission_table_is_this_one checks that the
# store's table says the same). None: allowed. Otherwise the refusal, word for word.
EXPECTED: dict[tuple[str, str], str | None] = {
    ("viewer", "read"): None,
    ("viewer", "assess"): "Dr V. Viewer (viewer) may not store an assessment's prediction: that needs the clinician or chair role.",
    ("viewer", "save"): "Dr V. Viewer (viewer) may not save an assessment: that needs the clinician or chair role.",
    ("viewer", "follow_up"): "Dr V. Viewer (viewer) may not record follow-up: that needs the clinician or chair role.",
    ("viewer", "create_meeting"): "Dr V. Viewer (viewer) may not create a meeting: that needs the chair role.",
    ("viewer", "add_case"): "Dr V. Viewer (viewer) may not add a case to a meeting: that needs the chair role.",
    ("viewer", "import"): "Dr V. Viewer (viewer) may not import cases: that needs the chair role.",
    ("viewer", "decide"): "Dr V. Viewer (viewer) may not record a decision: that needs the chair role.",
    ("viewer", "correct"): "Dr V. Viewer (viewer) may not correct a decision: that needs the chair role.",
    ("viewer", "register_model"): "Dr V. Viewer (viewer) may not register a site model: that needs the administrator role.",
    ("viewer", "read_audit"): "Dr V. Viewer (viewer) may not read the audit trail: that needs the administrator role.",
    ("viewer", "read_accesses"): "Dr V. Viewer (viewer) may not read the audit trail: that needs the administrator role.",
    ("viewer", "administer_db"): ("Dr V. Viewer (viewer) may not change the case store's schema: that needs the "
                                  "administrator role."),

    ("clinician", "read"): None,
    ("clinician", "assess"): None,
    ("clinician", "save"): None,
    ("clinician", "follow_up"): None,
    ("clinician", "create_meeting"): "Dr C. Clinician (clinician) may not create a meeting: that needs the chair role.",
    ("clinician", "add_case"): "Dr C. Clinician (clinician) may not add a case to a meeting: that needs the chair role.",
    ("clinician", "import"): "Dr C. Clinician (clinician) may not import cases: that needs the chair role.",
    ("clinician", "decide"): "Dr C. Clinician (clinician) may not record a decision: that needs the chair role.",
    ("clinician", "correct"): "Dr C. Clinician (clinician) may not correct a decision: that needs the chair role.",
    ("clinician", "register_model"): ("Dr C. Clinician (clinician) may not register a site model: that needs the "
                                      "administrator role."),
    ("clinician", "read_audit"): ("Dr C. Clinician (clinician) may not read the audit trail: that needs the "
                                  "administrator role."),
    ("clinician", "read_accesses"): ("Dr C. Clinician (clinician) may not read the audit trail: that needs the "
                                     "administrator role."),
    ("clinician", "administer_db"): ("Dr C. Clinician (clinician) may not change the case store's schema: that needs "
                                     "the administrator role."),

    ("chair", "read"): None,
    ("chair", "assess"): None,
    ("chair", "save"): None,
    ("chair", "follow_up"): None,
    ("chair", "create_meeting"): None,
    ("chair", "add_case"): None,
    ("chair", "import"): None,
    ("chair", "decide"): None,
    ("chair", "correct"): None,
    ("chair", "register_model"): "Dr H. Chair (chair) may not register a site model: that needs the administrator role.",
    ("chair", "read_audit"): "Dr H. Chair (chair) may not read the audit trail: that needs the administrator role.",
    ("chair", "read_accesses"): "Dr H. Chair (chair) may not read the audit trail: that needs the administrator role.",
    ("chair", "administer_db"): ("Dr H. Chair (chair) may not change the case store's schema: that needs the "
                                 "administrator role."),

    ("administrator", "read"): None,
    ("administrator", "assess"): ("A. Admin (administrator) may not store an assessment's prediction: that needs the "
                                  "clinician or chair role."),
    ("administrator", "save"): "A. Admin (administrator) may not save an assessment: that needs the clinician or chair role.",
    ("administrator", "follow_up"): "A. Admin (administrator) may not record follow-up: that needs the clinician or chair role.",
    ("administrator", "create_meeting"): "A. Admin (administrator) may not create a meeting: that needs the chair role.",
    ("administrator", "add_case"): "A. Admin (administrator) may not add a case to a meeting: that needs the chair role.",
    ("administrator", "import"): "A. Admin (administrator) may not import cases: that needs the chair role.",
    ("administrator", "decide"): "A. Admin (administrator) may not record a decision: that needs the chair role.",
    ("administrator", "correct"): "A. Admin (administrator) may not correct a decision: that needs the chair role.",
    ("administrator", "register_model"): None,
    ("administrator", "read_audit"): None,
    ("administrator", "read_accesses"): None,
    ("administrator", "administer_db"): None,
}
ACTIONS = ("read", "assess", "save", "follow_up", "create_meeting", "add_case", "import", "decide", "correct",
           "register_model", "read_audit", "read_accesses", "administer_db")
# the table each write adds its row(s) to, and that table's subject column (None: a read, nothing is written)
WRITES_TO = {"read": ("accesses", "actor_subject"), "assess": ("predictions", "actor_subject"),
             "save": ("assessments", "actor_subject"), "follow_up": ("follow_ups", "actor_subject"),
             "create_meeting": ("meetings", "created_by_subject"), "add_case": ("meeting_cases", "actor_subject"),
             "import": ("assessments", "actor_subject"), "decide": ("decisions", "actor_subject"),
             "correct": ("decisions", "actor_subject"), "register_model": ("models", "actor_subject"),
             "read_audit": None, "read_accesses": None, "administer_db": None}


def _csv(*pids: str) -> bytes:
    frame = pd.DataFrame([record(p) for p in pids])
    frame = frame.map(lambda v: "true" if v is True else "false" if v is False else v)
    return frame.to_csv(index=False).encode()


@pytest.fixture
def ready(store):
    """A store in which every write below would succeed (typed names wrote it all, as local mode does)."""
    typed = dict(actor="Dr Typed", screen="Patient")
    a = store.save_assessment("RC-1", record("RC-1"), expected_version=None, **typed)
    store.save_assessment("RC-3", record("RC-3"), expected_version=None, **typed)
    m1 = store.create_meeting("2026-12-01", "Colorectal MDT", "Dr Typed")
    m2 = store.create_meeting("2026-12-08", "Colorectal MDT", "Dr Typed")
    store.add_case(m1.id, "RC-1", "Dr Typed", "Meeting")
    store.add_case(m1.id, "RC-3", "Dr Typed", "Meeting")
    store.record_decision(m1.id, "RC-3", pathway="tme", follows_suggestion=True, rationale="MDT consensus",
                          present=["Dr Typed"], actor="Dr Typed", screen="Presentation", expected_version=None)
    return dict(assessment_id=a.id, m1=m1.id, m2=m2.id)


def _do(store: Store, db_url: str, ready: dict, action: str, who):
    """The one write (or guarded read) of each action, with arguments that are valid."""
    if action == "read":
        return store.record_access(who, "RC-1", "Cases")
    if action == "assess":
        return store.record_prediction(ready["assessment_id"], model_version="m1", model_hash="ab" * 32,
                                       input_hash="cd" * 32, probability=0.4, interval=(0.3, 0.5), contributions=[],
                                       category="near_complete", suggestion="tme", rule_ids=[], flags=[], actor=who,
                                       screen="Assessment")
    if action == "save":
        return store.save_assessment("RC-2", record("RC-2"), expected_version=None, actor=who, screen="Patient")
    if action == "follow_up":
        return store.record_follow_up("RC-1", {"management": "tme"}, actor=who, screen="Follow-up", expected_version=None)
    if action == "create_meeting":
        return store.create_meeting("2026-12-15", "Colorectal MDT", who, "Meeting")
    if action == "add_case":
        return store.add_case(ready["m2"], "RC-1", who, "Meeting")
    if action == "import":
        return store.import_cases(ready["m2"], _csv("RC-20", "RC-21"), who, "Meeting", source="december.csv")
    if action == "decide":
        return store.record_decision(ready["m1"], "RC-1", pathway="watch_and_wait", follows_suggestion=True,
                                     rationale="clinical complete response", present=["Dr Typed"], actor=who,
                                     screen="Presentation", expected_version=None)
    if action == "correct":
        return store.record_decision(ready["m1"], "RC-3", pathway="local_excision", follows_suggestion=False,
                                     reason_not_followed="patient preference", rationale="corrected", present=["Dr Typed"],
                                     actor=who, screen="Presentation", expected_version=1)
    if action == "register_model":
        return store.register_model("site-2", "ee" * 32, {"auc": 0.71}, actor=who, screen="About")
    if action == "read_audit":
        return store.audit(reader=who)
    if action == "read_accesses":
        return store.accesses(reader=who)
    if action == "administer_db":
        return migrate.upgrade(db_url, actor=who)
    raise AssertionError(action)


def _everything(db_url: str) -> dict[str, list]:
    """Every row of every table (and the schema revision): "nothing was written" means this did not change."""
    eng = raw_engine(db_url)
    try:
        with eng.connect() as conn:
            out = {t.name: conn.execute(text(f"SELECT * FROM {t.name} ORDER BY 1")).all() for t in metadata.sorted_tables}
            out["alembic_version"] = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            return out
    finally:
        eng.dispose()


def test_the_permission_table_is_this_one():
    """The store's one table (watchwait.store.identity.PERMISSIONS) says what EXPECTED says, role by role."""
    as_actions = {"decide": "decide", "correct": "decide", "read_accesses": "read_audit"}
    for (role, action), refusal in EXPECTED.items():
        assert (role in PERMISSIONS[as_actions.get(action, action)]) is (refusal is None), (role, action)
    assert set(PERMISSIONS) == {as_actions.get(a, a) for a in ACTIONS}
    assert ROLES == ("viewer", "clinician", "chair", "administrator")
    assert len(EXPECTED) == len(ROLES) * len(ACTIONS)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_and_write(store, db_url, ready, role, action):
    """A refused write raises NotPermitted with its message and leaves every table exactly as it was; a permitted
    one goes through and stores the person's display name and subject (in its rows and its audit rows)."""
    person, refusal = PEOPLE[role], EXPECTED[(role, action)]
    before = _everything(db_url)
    if refusal is not None:
        with pytest.raises(NotPermitted) as exc:
            _do(store, db_url, ready, action, person)
        assert str(exc.value) == refusal
        assert _everything(db_url) == before
        return
    result = _do(store, db_url, ready, action, person)
    after = _everything(db_url)
    target = WRITES_TO[action]
    if target is None:  # a guarded read: allowed, and nothing written
        assert after == before
        if action == "administer_db":
            assert result == (HEAD, HEAD)
        return
    table, column = target
    new_rows = [r._mapping for r in after[table] if r not in before[table]]
    assert new_rows, f"{action} wrote no {table} row"
    name_col = "created_by" if table == "meetings" else "actor"
    assert {(r[name_col], r[column]) for r in new_rows} == {(person.name, person.subject)}
    new_audit = [r._mapping for r in after["audit"] if r not in before["audit"]]
    if action == "read":
        assert new_audit == []  # who looked is not an audit entry: nothing changed
        assert result == Access(result.id, result.at, person.name, person.subject, "RC-1", "Cases")
    else:
        assert new_audit and {(r["actor"], r["actor_subject"]) for r in new_audit} == {(person.name, person.subject)}
        # the store's own reads give the subject back
        entries = store.audit(limit=len(new_audit))
        assert {(e.actor, e.actor_subject, e.typed) for e in entries} == {(person.name, person.subject, False)}
    if hasattr(result, "actor_subject"):
        assert (result.actor, result.actor_subject) == (person.name, person.subject)


def test_a_refusal_comes_before_any_other_check(store, db_url, ready):
    """A viewer learns nothing from a forged write: the role is checked before the arguments."""
    before = _everything(db_url)
    with pytest.raises(NotPermitted) as exc:
        store.save_assessment("not a pseudonym!", {"age_years": -4}, expected_version=7, actor=PEOPLE["viewer"],
                              screen="")
    assert str(exc.value) == "Dr V. Viewer (viewer) may not save an assessment: that needs the clinician or chair role."
    with pytest.raises(NotPermitted) as exc:
        store.record_decision(999, "RC-404", pathway="surgery", follows_suggestion=None, rationale="", present=[],
                              actor=PEOPLE["clinician"], screen="Presentation", expected_version=None)
    assert str(exc.value) == "Dr C. Clinician (clinician) may not record a decision: that needs the chair role."
    assert _everything(db_url) == before


def test_the_refusal_is_a_store_error_but_not_a_bad_entry():
    """Screens show any WatchwaitError's message as it is; one that reads InvalidEntry/NotFound as "no such case"
    (components/links.py) must not say that of a refusal."""
    assert issubclass(NotPermitted, StoreError) and issubclass(NotPermitted, WatchwaitError)
    assert issubclass(NotPermitted, PermissionError) and not issubclass(NotPermitted, InvalidEntry | LookupError)


def test_several_roles_and_no_role(store, db_url, ready):
    both = Person("sub-5", "Dr B. Both", {"administrator", "clinician"})
    a = store.save_assessment("RC-5", record("RC-5"), expected_version=None, actor=both, screen="Patient")
    assert (a.actor, a.actor_subject) == ("Dr B. Both", "sub-5")
    store.register_model("site-5", "ff" * 32, {}, actor=both, screen="About")
    assert store.audit(reader=both)[0].summary == "model site-5 registered"
    before = _everything(db_url)
    with pytest.raises(NotPermitted) as exc:
        store.record_decision(ready["m1"], "RC-1", pathway="tme", follows_suggestion=True, rationale="r", present=["A"],
                              actor=both, screen="Presentation", expected_version=None)
    assert str(exc.value) == "Dr B. Both (clinician, administrator) may not record a decision: that needs the chair role."
    nobody = Person("sub-6", "Dr N. Nobody", set())
    with pytest.raises(NotPermitted) as exc:
        store.record_access(nobody, "RC-1", "Cases")
    assert str(exc.value) == ("Dr N. Nobody (no role) may not open a case: that needs the viewer, clinician, chair or "
                              "administrator role.")
    assert _everything(db_url) == before


def test_typed_names_are_local_mode_unchanged(store, db_url, ready):
    """A plain str is not checked and stores no subject; Person.local is the same thing as a Person."""
    assert {e.actor_subject for e in store.audit()} == {None} and all(e.typed for e in store.audit())
    assert count(db_url, "SELECT count(*) FROM assessments WHERE actor_subject IS NOT NULL") == 0
    assert count(db_url, "SELECT count(*) FROM meetings WHERE created_by_subject IS NOT NULL") == 0
    assert store.meeting(ready["m1"]).created_by_subject is None
    me = Person.local("Dr  Typed ")
    assert (me.subject, me.name, me.roles, me.typed) == (None, "Dr Typed", frozenset(ROLES), True)
    d = store.record_decision(ready["m1"], "RC-3", pathway="tme", follows_suggestion=True, rationale="again",
                              present=["Dr Typed"], actor=me, screen="Presentation", expected_version=1)
    assert (d.version, d.actor, d.actor_subject) == (2, "Dr Typed", None)
    assert store.register_model("site-9", "99" * 32, {}, actor=me).version == "site-9"
    assert store.audit(reader=me, limit=1)[0].typed


def test_signed_in_identities_come_back_from_every_read(store, ready):
    chair, clin = PEOPLE["chair"], PEOPLE["clinician"]
    a = store.save_assessment("RC-1", record("RC-1", mr_trg=1), expected_version=1, actor=clin, screen="Patient")
    p = store.record_prediction(a.id, model_version="m1", model_hash="ab" * 32, input_hash="cd" * 32, probability=0.3,
                                interval=None, contributions=[], category="near_complete", suggestion="tme", rule_ids=[],
                                flags=[], actor=clin, screen="Assessment")
    m = store.create_meeting("2026-12-15", "MDT", chair)
    store.add_case(m.id, "RC-1", chair, "Meeting")
    store.record_decision(m.id, "RC-1", pathway="tme", follows_suggestion=True, rationale="r", present=["A"], actor=chair,
                          screen="Presentation", expected_version=None)
    store.record_follow_up("RC-1", {"management": "tme"}, actor=clin, screen="Follow-up", expected_version=None)
    assert store.assessment("RC-1").actor_subject == clin.subject
    assert [x.actor_subject for x in store.assessments("RC-1")] == [None, clin.subject]
    assert store.predictions(a.id) == [p] and p.actor_subject == clin.subject
    assert store.meeting(m.id).created_by_subject == chair.subject
    assert [d.actor_subject for d in store.decisions("RC-1")] == [chair.subject]
    assert store.follow_ups("RC-1")[0].actor_subject == clin.subject
    (case,) = store.meeting_cases(m.id)
    assert (case.assessment.actor_subject, case.prediction.actor_subject, case.decision.actor_subject,
            case.follow_up.actor_subject) == (clin.subject, clin.subject, chair.subject, clin.subject)


def test_who_looked_rows_and_their_filters(store, db_url, ready):
    v, c = PEOPLE["viewer"], PEOPLE["clinician"]
    same_name_typed = "Dr V. Viewer"  # someone typing the viewer's name in local mode is not the viewer
    store.record_access(v, "RC-1", "Cases")
    store.record_access(c, "RC-1", "Meeting")
    store.record_access(v, "RC-3", "Meeting")
    store.record_access(same_name_typed, "RC-3", "Patient")
    store.record_access(v, "RC-404", "Cases")  # a look-up of a case that is not stored is recorded too
    everyone = store.accesses()
    assert [(a.actor, a.actor_subject, a.pseudonym, a.screen, a.typed) for a in everyone] == [
        ("Dr V. Viewer", "sub-viewer-1", "RC-404", "Cases", False),
        ("Dr V. Viewer", None, "RC-3", "Patient", True),
        ("Dr V. Viewer", "sub-viewer-1", "RC-3", "Meeting", False),
        ("Dr C. Clinician", "sub-clinician-2", "RC-1", "Meeting", False),
        ("Dr V. Viewer", "sub-viewer-1", "RC-1", "Cases", False)]
    assert all(a.at.endswith("+00:00") for a in everyone)
    assert [a.at for a in everyone] == sorted((a.at for a in everyone), reverse=True)
    assert [a.pseudonym for a in store.accesses(person=v)] == ["RC-404", "RC-3", "RC-1"]
    assert [a.pseudonym for a in store.accesses(person="sub-viewer-1")] == ["RC-404", "RC-3", "RC-1"]
    assert [(a.pseudonym, a.screen) for a in store.accesses(person=same_name_typed)] == [("RC-3", "Patient")]
    assert [a.pseudonym for a in store.accesses(person=Person.local(same_name_typed))] == ["RC-3"]
    assert [a.actor for a in store.accesses(pseudonym="RC-1")] == ["Dr C. Clinician", "Dr V. Viewer"]
    assert [a.screen for a in store.accesses(person=v, pseudonym="RC-3")] == ["Meeting"]
    assert [a.pseudonym for a in store.accesses(person=v, limit=1, offset=1)] == ["RC-3"]
    assert store.accesses(person="sub-nobody") == [] and store.accesses(pseudonym="RC-2") == []
    assert store.accesses(reader=PEOPLE["administrator"], pseudonym="RC-1", person=c)[0].screen == "Meeting"
    # refused arguments: named, nothing written
    before = _everything(db_url)
    for call, message in [
        (lambda: store.record_access(v, "Jane Smith", "Cases"),
         "Patient pseudonym must be 1-64 characters: letters, digits, '-' or '_' (a pseudonym, never a name or "
         "hospital number); got 'Jane Smith' instead."),
        (lambda: store.record_access(v, "RC-1", ""), "The screen it was made on is required; it was left blank."),
        (lambda: store.record_access("", "RC-1", "Cases"), "Who made the change (actor) is required; it was left blank."),
        (lambda: store.accesses(limit=0), "The number of access rows must be a whole number from 1; got 0 instead."),
        (lambda: store.accesses(offset=-1), "The number of access rows to skip must be a whole number from 0; got -1 instead."),
        (lambda: store.accesses(person=""),
         "The person to filter by must be a Person, a subject or a typed name; got '' instead."),
    ]:
        with pytest.raises(InvalidEntry) as exc:
            call()
        assert str(exc.value) == message
    assert _everything(db_url) == before


def test_the_audit_filters_by_person_and_case(store, ready):
    chair, clin = PEOPLE["chair"], PEOPLE["clinician"]
    store.save_assessment("RC-1", record("RC-1", mr_trg=1), expected_version=1, actor=clin, screen="Patient")
    store.save_assessment("RC-3", record("RC-3", mr_trg=1), expected_version=1, actor=clin, screen="Patient")
    store.record_decision(ready["m1"], "RC-1", pathway="tme", follows_suggestion=True, rationale="r", present=["A"],
                          actor=chair, screen="Presentation", expected_version=None)
    store.save_assessment("RC-3", record("RC-3", mr_trg=2, ecog=1), expected_version=2, actor="Dr C. Clinician",
                          screen="Patient")  # a typed name equal to the clinician's display name
    assert [(e.action, e.pseudonym) for e in store.audit(person=clin)] == [("assessment.saved", "RC-3"),
                                                                          ("assessment.saved", "RC-1")]
    assert [e.pseudonym for e in store.audit(person=clin.subject)] == ["RC-3", "RC-1"]
    assert [(e.pseudonym, e.typed) for e in store.audit(person="Dr C. Clinician")] == [("RC-3", True)]
    assert [e.action for e in store.audit("RC-1", person=chair)] == ["decision.recorded"]
    assert [e.summary for e in store.audit("RC-3", person=clin)] == ["assessment version 2 saved (1 field changed: "
                                                                     "MRI tumour regression grade (mrTRG))"]
    assert store.audit("RC-3", person=chair) == []
    typed = store.audit(person="Dr Typed")
    assert len(typed) == 7 and all(e.typed for e in typed)
    assert [e.id for e in store.audit(person="Dr Typed", limit=2, offset=1)] == [e.id for e in typed[1:3]]
    assert [e.action for e in store.audit(meeting_id=ready["m1"], person=chair)] == ["decision.recorded"]
    with pytest.raises(InvalidEntry) as exc:
        store.audit(offset=-1)
    assert str(exc.value) == "The number of audit entries to skip must be a whole number from 0; got -1 instead."


def test_accesses_are_append_only(store, db_url, ready):
    store.record_access(PEOPLE["viewer"], "RC-1", "Cases")
    before = _everything(db_url)
    statements = ["UPDATE accesses SET actor = 'someone else'", "UPDATE accesses SET actor_subject = NULL",
                  "DELETE FROM accesses", "DELETE FROM accesses WHERE id = 1"]
    if store.dialect == "postgresql":
        statements.append("TRUNCATE accesses")
    eng = raw_engine(db_url)
    try:
        for sql in statements:
            with eng.connect() as conn, pytest.raises(DBAPIError) as exc:
                with conn.begin():
                    conn.execute(text(sql))
            assert "accesses is append-only: rows cannot be changed or deleted" in str(exc.value.orig), sql
        with eng.connect() as conn, pytest.raises(DBAPIError) as exc:  # the subjects of the audit too
            with conn.begin():
                conn.execute(text("UPDATE audit SET actor_subject = 'forged'"))
        assert "audit is append-only" in str(exc.value.orig)
    finally:
        eng.dispose()
    assert _everything(db_url) == before
    names = {n for n in dir(store) if not n.startswith("_")}
    assert not {n for n in names if any(w in n for w in ("delete", "remove", "update", "edit", "purge", "drop"))}


def test_a_person_is_checked_when_made():
    for args, message in [
        (("sub", "  ", {"viewer"}), "A person needs a display name; got '  ' instead."),
        (("sub", "Dr X", {"viewer", "superuser"}), "Unknown role 'superuser' for Dr X; the roles are viewer, clinician, "
                                                  "chair, administrator."),
        (("sub", "Dr X", "chair"), "A person's roles must be a set of role names (viewer, clinician, chair, "
                                   "administrator); got 'chair' instead."),
        ((None, "Dr X", {"chair"}), "A signed-in person (Dr X) needs the identity provider's subject (1-255 characters); "
                                    "got None instead."),
        (("", "Dr X", {"chair"}), "A signed-in person (Dr X) needs the identity provider's subject (1-255 characters); "
                                  "got '' instead."),
        (("sub", "x" * 201, {"chair"}), "A person's display name must be at most 200 characters; got 201."),
    ]:
        with pytest.raises(InvalidEntry) as exc:
            Person(*args)
        assert str(exc.value) == message
    with pytest.raises(InvalidEntry) as exc:
        Person("sub", "Dr X", {"chair"}, typed=True)
    assert str(exc.value) == "A typed name (Dr X) has no subject at an identity provider; got 'sub'."
    p = Person("sub", " Dr   X ", ["chair", "clinician"])
    assert (p.name, p.roles, p.role_text) == ("Dr X", frozenset({"chair", "clinician"}), "clinician, chair")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.roles = frozenset(ROLES)  # type: ignore[misc]


def test_the_migration_to_identities_and_back(db_url):
    """From 0002 with rows written by typed names: the upgrade keeps them (typed: no subject), a signed-in write
    stores its subject, who looked works; the downgrade drops the subjects and the access rows and keeps the rest;
    upgrading again brings back the columns, the table and its triggers."""
    assert migrate.upgrade(db_url, "0002_site_models") == (None, "0002_site_models")
    eng = raw_engine(db_url)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO patients (pseudonym, created_at) VALUES ('RC-300', '2026-11-01T09:00:00+00:00')"))
        conn.execute(text("INSERT INTO assessments (patient_id, version, record, saved_at, actor, screen) VALUES "
                          "((SELECT id FROM patients), 1, :r, '2026-11-01T09:00:00+00:00', 'Dr Ade', 'Patient')"),
                     {"r": '{"patient_id": "RC-300", "mmr_status": "pMMR", "age_years": 70}'})
        conn.execute(text("INSERT INTO audit (at, actor, action, pseudonym, screen, summary) VALUES "
                          "('2026-11-01T09:00:00+00:00', 'Dr Ade', 'assessment.saved', 'RC-300', 'Patient', "
                          "'assessment version 1 saved (new case)')"))
    eng.dispose()
    with pytest.raises(NotPermitted) as exc:  # the schema commands need the administrator role
        migrate.upgrade(db_url, actor=PEOPLE["chair"])
    assert str(exc.value) == ("Dr H. Chair (chair) may not change the case store's schema: that needs the "
                              "administrator role.")
    assert migrate.revision_of(db_url) == ("0002_site_models", HEAD)
    assert migrate.upgrade(db_url, actor=PEOPLE["administrator"]) == ("0002_site_models", HEAD)
    with Store(db_url) as s:
        (started, old) = s.audit()  # 0004 adds one audit row covering the rows already there
        assert started.action == "store.chain_started"
        assert (old.actor, old.actor_subject, old.typed) == ("Dr Ade", None, True)
        assert s.assessment("RC-300").actor_subject is None
        s.save_assessment("RC-300", record("RC-300"), expected_version=1, actor=PEOPLE["clinician"], screen="Patient")
        s.record_access(PEOPLE["viewer"], "RC-300", "Cases")
        assert [(e.actor, e.actor_subject) for e in s.audit()] == [("Dr C. Clinician", "sub-clinician-2"),
                                                                   ("watchwait db upgrade", None), ("Dr Ade", None)]
    with pytest.raises(NotPermitted):
        migrate.downgrade(db_url, "0002_site_models", actor=PEOPLE["viewer"])
    assert migrate.downgrade(db_url, "0002_site_models", actor=PEOPLE["administrator"]) == (HEAD, "0002_site_models")
    eng = raw_engine(db_url)
    with eng.connect() as conn:
        from sqlalchemy import inspect

        insp = inspect(conn)
        assert "accesses" not in insp.get_table_names()
        for table in ("assessments", "predictions", "meeting_cases", "decisions", "follow_ups", "audit", "models"):
            assert "actor_subject" not in {c["name"] for c in insp.get_columns(table)}, table
        assert "created_by_subject" not in {c["name"] for c in insp.get_columns("meetings")}
        assert {i["name"] for i in insp.get_indexes("audit")} == {"ix_audit_pseudonym"}
    eng.dispose()
    assert count(db_url, "SELECT count(*) FROM assessments") == 2  # the data stays; only who-signed-in goes
    assert count(db_url, "SELECT count(*) FROM audit") == 3
    eng = raw_engine(db_url)  # the older tables' triggers survived the dropped columns
    with eng.connect() as conn, pytest.raises(DBAPIError) as exc:
        with conn.begin():
            conn.execute(text("DELETE FROM audit"))
    eng.dispose()
    assert "audit is append-only" in str(exc.value.orig)
    assert migrate.upgrade(db_url) == ("0002_site_models", HEAD)
    with Store(db_url) as s:
        assert [(e.actor, e.actor_subject) for e in s.audit() if e.action != "store.chain_started"] == [
            ("Dr C. Clinician", None), ("Dr Ade", None)]
        assert s.accesses() == []
        s.record_access(PEOPLE["viewer"], "RC-300", "Cases")
    eng = raw_engine(db_url)
    with eng.connect() as conn, pytest.raises(DBAPIError) as exc:
        with conn.begin():
            conn.execute(text("DELETE FROM accesses"))
    eng.dispose()
    assert "accesses is append-only" in str(exc.value.orig)
