"""The tamper-evident trail (issue 21 item 3): `watchwait db verify` finds an edit planted in any table by someone
with the database (the triggers dropped or disabled first, as an attacker with the file or the owner role would),
names the row in plain words, and passes on an untouched store; patients, meetings and meeting cases are
append-only now; an existing store gets its chain from the migration. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from helpers_store import count, raw_engine, record
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from watchwait.cli import main
from watchwait.store import Store, migrate
from watchwait.store.admin import verify
from watchwait.store.integrity import GENESIS, LABELS

TABLES = ("patients", "assessments", "predictions", "meetings", "meeting_cases", "decisions", "follow_ups", "models",
          "audit", "accesses")


@pytest.fixture
def filled(store, cohort_csv):
    """Every table with rows, through the store's own writes."""
    a = store.save_assessment("RC-200", record("RC-200"), expected_version=None, actor="Dr Ade", screen="Patient")
    store.save_assessment("RC-200", record("RC-200", age_years=65), expected_version=1, actor="Dr Ade", screen="Patient")
    store.record_prediction(a.id, model_version="m1", model_hash="ab" * 32, input_hash="cd" * 32, probability=0.4,
                            interval=(0.3, 0.5), contributions=[{"feature": "mr_trg", "value": 0.1}],
                            category="near_complete", suggestion="reassess", rule_ids=["PATH-near"], flags=[],
                            actor="Dr Ade", screen="Assessment")
    m = store.create_meeting("2026-12-01", "MDT", "Chair")
    store.add_case(m.id, "RC-200", "Chair", "Meeting")
    assert store.import_cases(m.id, cohort_csv(3, seed=2), actor="Chair", screen="Meeting").ok
    store.record_decision(m.id, "RC-200", pathway="tme", follows_suggestion=False, reason_not_followed="patient wish",
                          rationale="r", present=["A", "B"], actor="Chair", screen="Presentation", expected_version=None)
    store.record_follow_up("RC-200", {"management": "tme"}, actor="Dr Ade", screen="Follow-up", expected_version=None)
    store.register_model("m1", "ab" * 32, {"auc": 0.8})
    store.record_access("Dr Ade", "RC-200", "Cases")
    store.record_access("Dr Bo", "RC-200", "Cases")
    return store


def untrigger(conn, table: str) -> None:
    """What an attacker with the SQLite file or the PostgreSQL owner role does first."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        for name in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                                 {"t": table}).scalars().all():
            conn.execute(text(f"DROP TRIGGER {name}"))


def tamper(url: str, table: str, sql: str, **params) -> None:
    eng = raw_engine(url)
    try:
        with eng.begin() as conn:
            untrigger(conn, table)
            conn.execute(text(sql), params)
    finally:
        eng.dispose()


def audit_id(url: str, action: str, pseudonym: str | None = None) -> int:
    """The audit row of one write, found by what it says (not by the hashes under test)."""
    sql = "SELECT max(id) FROM audit WHERE action = :a" + (" AND pseudonym = :p" if pseudonym else "")
    return count(url, sql, a=action, p=pseudonym)


def first_problem(url: str) -> str:
    r = verify(url)
    assert not r.ok
    return r.problems[0].message


def test_an_untouched_store_is_intact_and_every_row_is_covered(filled, db_url, capsys):
    r = verify(db_url)
    assert r.ok, [p.message for p in r.problems]
    assert r.rows == {"audit": count(db_url, "SELECT count(*) FROM audit"), "patients": 4, "assessments": 5,
                      "predictions": 1, "meetings": 1, "meeting_cases": 4, "decisions": 1, "follow_ups": 1, "models": 1,
                      "accesses": 2}
    assert r.head_id == count(db_url, "SELECT max(id) FROM audit")
    assert r.head == count(db_url, "SELECT chain_hash FROM audit WHERE id = :i", i=r.head_id) != GENESIS
    assert main(["db", "verify", "--url", db_url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"case store {migrate.shown(migrate.resolve_url(db_url))}: intact ({r.rows['audit']} audit, "
                             "4 patients, 5 assessments, 1 predictions, 1 meetings, 4 meeting cases, 1 decisions, "
                             "1 follow-up, 1 models, 2 who looked; checked in ")
    assert out[1] == (f"chain head: audit row {r.head_id}, {r.head} (keep it elsewhere; `watchwait db verify --expect "
                      "HEAD` later shows the trail still holds it)")
    # each audit row covers exactly the rows its write added
    eng = raw_engine(db_url)
    with eng.connect() as conn:
        covers = {row.action: json.loads(row.covers) for row in conn.execute(text(
            "SELECT action, covers FROM audit WHERE pseudonym = 'RC-200' OR action LIKE 'meeting.created' OR "
            "action = 'model.registered' ORDER BY id"))}
    eng.dispose()
    assert [(t, k) for t, k, _ in covers["decision.recorded"]] == [("decisions", 1)]
    assert [(t, k) for t, k, _ in covers["model.registered"]] == [("models", "m1")]
    assert [t for t, _, _ in covers["meeting.created"]] == ["meetings"]


# (table, the planted edit, the row it names: (label, key SQL), the covering write's audit action or None)
EDITS = [
    ("patients", "UPDATE patients SET pseudonym = 'RC-999' WHERE pseudonym = 'RC-200'",
     "SELECT id FROM patients WHERE pseudonym = 'RC-999'", "patients row {k}: its content does not match the hash kept "
     "in audit row {a} (changed after it was written?)", ("assessment.saved", "RC-200", "min")),
    ("assessments", "UPDATE assessments SET record = replace(record, '65', '66') "
     "WHERE version = 2", "SELECT id FROM assessments WHERE version = 2", "assessments row {k}: its content does not "
     "match the hash kept in audit row {a} (changed after it was written?)", ("assessment.saved", "RC-200", "max")),
    ("predictions", "UPDATE predictions SET probability = 0.9", "SELECT id FROM predictions",
     "predictions row {k}: its content does not match the hash kept in audit row {a} (changed after it was written?)",
     ("prediction.recorded", None, "max")),
    ("meetings", "UPDATE meetings SET date = '2026-12-02'", "SELECT id FROM meetings",
     "meetings row {k}: its content does not match the hash kept in audit row {a} (changed after it was written?)",
     ("meeting.created", None, "max")),
    ("meeting_cases", "UPDATE meeting_cases SET position = 9 WHERE position = 1", "SELECT id FROM meeting_cases WHERE "
     "position = 9", "meeting cases row {k}: its content does not match the hash kept in audit row {a} (changed after "
     "it was written?)", ("meeting.case_added", "RC-200", "max")),
    ("decisions", "UPDATE decisions SET pathway = 'watch_and_wait', actor = 'forged'", "SELECT id FROM decisions",
     "decisions row {k}: its content does not match the hash kept in audit row {a} (changed after it was written?)",
     ("decision.recorded", None, "max")),
    ("follow_ups", "UPDATE follow_ups SET data = '{\"management\": \"watch_and_wait\"}'", "SELECT id FROM follow_ups",
     "follow-up row {k}: its content does not match the hash kept in audit row {a} (changed after it was written?)",
     ("follow_up.recorded", None, "max")),
    ("models", "UPDATE models SET model_hash = 'ef' || substr(model_hash, 3)", "SELECT 'm1'",
     "model {k}: its content does not match the hash kept in audit row {a} (changed after it was written?)",
     ("model.registered", None, "max")),
    ("audit", "UPDATE audit SET summary = 'nothing happened' WHERE action = 'decision.recorded'",
     "SELECT id FROM audit WHERE action = 'decision.recorded'",
     "audit row {k}: its hash does not match its content (changed after it was written?)", None),
    ("accesses", "UPDATE accesses SET actor = 'Dr Nobody' WHERE actor = 'Dr Ade'",
     "SELECT id FROM accesses WHERE actor = 'Dr Nobody'",
     "who looked row {k}: its hash does not match its content (changed after it was written?)", None),
]


@pytest.mark.parametrize("table, sql, key_sql, message, covering", EDITS, ids=[e[0] for e in EDITS])
def test_a_planted_edit_in_each_table_is_found_and_named(filled, db_url, capsys, table, sql, key_sql, message, covering):
    assert verify(db_url).ok
    a = None
    if covering:
        action, p, which = covering
        a = count(db_url, f"SELECT {which}(id) FROM audit WHERE action = :a" + (" AND pseudonym = :p" if p else ""),
                  a=action, p=p)
    tamper(db_url, table, sql)
    k = count(db_url, key_sql)
    expected = message.format(k=k, a=a)
    assert first_problem(db_url) == expected
    assert main(["db", "verify", "--url", db_url]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"case store {migrate.shown(migrate.resolve_url(db_url))}: NOT intact. {expected}"


@pytest.mark.parametrize("table", TABLES)
def test_one_changed_character_in_any_column_of_any_table_is_found(filled, db_url, table):
    """Every column of one row of the table (its key too), one at a time: its last character changed (a number by
    one, a flag flipped), then put back; a change the database itself refuses (a foreign key) is skipped."""
    eng = raw_engine(db_url)
    with eng.begin() as conn:
        untrigger(conn, table)
        row = conn.execute(text(f"SELECT * FROM {table} ORDER BY 1 DESC LIMIT 1")).mappings().first()
    key = "version" if table == "models" else "id"
    checked = []
    for column, value in row.items():
        if value is None:
            continue
        if column == key:
            new = value + 1000 if isinstance(value, int) else value + "x"
        elif isinstance(value, bool):
            new = not value
        elif isinstance(value, int):
            new = value + 1
        elif isinstance(value, float):
            new = value + 1e-9
        else:
            new = value[:-1] + ("x" if value[-1] != "x" else "y")
        try:
            with eng.begin() as conn:
                conn.execute(text(f"UPDATE {table} SET {column} = :v WHERE {key} = :k"), {"v": new, "k": row[key]})
        except DBAPIError:  # a foreign key or unique constraint refused this one change
            continue
        try:
            problems = verify(db_url).problems
            assert problems, f"{table}.{column} changed and not found"
            named = {f" row {row[key]}:", f"model {row[key]}:", f" row {new}:", f"model {new}:"}
            assert any(n in problems[0].message for n in named), (column, problems[0].message)
            checked.append(column)
        finally:
            with eng.begin() as conn:
                conn.execute(text(f"UPDATE {table} SET {column} = :v WHERE {key} = :k"),
                             {"v": value, "k": new if column == key else row[key]})
    eng.dispose()
    assert [p.message for p in verify(db_url).problems] == [  # every row back as it was: only the triggers are off
        f"{LABELS[table]}: its append-only triggers are missing or switched off (removed by someone with the database "
        "file or its owner role?)"]
    assert len(checked) >= 2 and set(checked) >= {c for c in row if row[c] is not None and c in ("pseudonym", "record", "pathway", "probability",
                                                                            "data", "summary", "title", "model_hash",
                                                                            "chain_hash", "row_hash", "covers", "position")}


def test_switched_off_triggers_are_found_even_before_any_edit(filled, db_url, capsys):
    tamper(db_url, "decisions", "SELECT 1")
    assert first_problem(db_url) == ("decisions: its append-only triggers are missing or switched off (removed by "
                                     "someone with the database file or its owner role?)")
    assert main(["db", "verify", "--url", db_url]) == 1


def test_a_changed_chain_hash_names_the_next_row(filled, db_url):
    i = count(db_url, "SELECT min(id) FROM audit WHERE action = 'decision.recorded'")
    prev = count(db_url, "SELECT max(id) FROM audit WHERE id < :i", i=i)
    tamper(db_url, "audit", "UPDATE audit SET chain_hash = :h WHERE id = :i", h="0" * 64, i=i)
    assert first_problem(db_url) == (f"audit row {i}: it does not follow from audit row {prev} (a row before it was "
                                     "removed, added or changed?)")


def test_a_deleted_row_is_found(filled, db_url):
    d = count(db_url, "SELECT id FROM decisions")
    a = audit_id(db_url, "decision.recorded")
    tamper(db_url, "decisions", "DELETE FROM decisions")
    assert first_problem(db_url) == (f"decisions row {d}: audit row {a} records it, but it is no longer in the store "
                                     "(deleted?)")


def test_a_row_added_outside_watchwait_is_found(filled, db_url):
    tamper(db_url, "patients", "INSERT INTO patients (pseudonym, created_at) VALUES ('RC-666', '2026-12-01T00:00:00')")
    k = count(db_url, "SELECT id FROM patients WHERE pseudonym = 'RC-666'")
    assert first_problem(db_url) == f"patients row {k}: no audit row records it (added outside watchwait?)"


def test_a_removed_audit_row_breaks_the_chain_at_the_next(filled, db_url):
    i = audit_id(db_url, "meeting.created")
    nxt = count(db_url, "SELECT min(id) FROM audit WHERE id > :i", i=i)
    prev = count(db_url, "SELECT max(id) FROM audit WHERE id < :i", i=i)
    tamper(db_url, "audit", "DELETE FROM audit WHERE id = :i", i=i)
    assert first_problem(db_url) == (f"audit row {nxt}: it does not follow from audit row {prev} (a row before it was "
                                     "removed, added or changed?)")


def test_a_shortened_trail_is_found_with_the_head_kept_elsewhere(filled, db_url, capsys):
    """Deleting the last write and its rows leaves a consistent chain; the head noted earlier is then missing."""
    earlier = verify(db_url).head
    filled.record_decision(count(db_url, "SELECT id FROM meetings"), "RC-200", pathway="tme", follows_suggestion=True,
                           rationale="again", present=["A"], actor="Chair", screen="Presentation", expected_version=1)
    filled.record_follow_up("RC-200", {"management": "tme"}, actor="Dr Ade", screen="Follow-up", expected_version=1)
    head = verify(db_url).head
    assert main(["db", "verify", "--url", db_url, "--expect", head[:16]]) == 0
    capsys.readouterr()
    tamper(db_url, "follow_ups", "DELETE FROM follow_ups WHERE version = 2")
    tamper(db_url, "audit", "DELETE FROM audit WHERE id = (SELECT max(id) FROM audit)")  # the noted head
    # a consistent shorter trail: only the noted head tells (and the triggers the attacker switched off)
    assert [p.message for p in verify(db_url).problems] == [
        "follow-up: its append-only triggers are missing or switched off (removed by someone with the database file or "
        "its owner role?)",
        "audit: its append-only triggers are missing or switched off (removed by someone with the database file or its "
        "owner role?)"]
    # the head noted before the removed write is still in the trail (upper case accepted)
    assert [p.table for p in verify(db_url, earlier.upper()).problems] == ["follow_ups", "audit"]
    assert main(["db", "verify", "--url", db_url, "--expect", head[:16]]) == 1
    assert capsys.readouterr().err.splitlines()[0].endswith(
        f"NOT intact. no audit row has the chain head {head[:16]}: the trail was rewritten or shortened since that "
        "head was noted.")
    assert main(["db", "verify", "--url", db_url, "--expect", "xyz"]) == 1
    assert "the expected chain head must be at least 12 of the hex digits `watchwait db verify` printed; got 'xyz'." \
        in capsys.readouterr().err


@pytest.mark.parametrize("table, sql", [
    ("patients", "UPDATE patients SET pseudonym = 'RC-999'"),
    ("patients", "DELETE FROM patients WHERE pseudonym = 'RC-200'"),
    ("meetings", "UPDATE meetings SET title = 'x'"),
    ("meeting_cases", "UPDATE meeting_cases SET patient_id = patient_id + 1 WHERE position = 1"),
    ("meeting_cases", "DELETE FROM meeting_cases"),
])
def test_patients_meetings_and_meeting_cases_are_append_only_now(filled, db_url, table, sql):
    eng = raw_engine(db_url)
    with eng.connect() as conn, pytest.raises(DBAPIError) as exc:
        with conn.begin():
            conn.execute(text(sql))
    eng.dispose()
    assert f"{table} is append-only: rows cannot be changed or deleted" in str(exc.value.orig)
    assert verify(db_url).ok


def test_the_migration_chains_an_existing_store(db_url):
    """A store at 0003 with rows (written as that watchwait did, plain SQL here): the upgrade hashes them, one
    audit row covers every existing row; later edits of those rows are found; the downgrade removes the columns."""
    migrate.upgrade(db_url, "0003_identities")
    eng = raw_engine(db_url)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO patients (pseudonym, created_at) VALUES ('RC-300', '2026-11-01T09:00:00+00:00')"))
        conn.execute(text("INSERT INTO assessments (patient_id, version, record, saved_at, actor, screen) VALUES "
                          "((SELECT id FROM patients), 1, '{}', '2026-11-01T09:00:00+00:00', 'Dr Ade', 'Patient')"))
        for i in range(3):
            conn.execute(text("INSERT INTO audit (at, actor, action, pseudonym, screen, summary) VALUES "
                              "('2026-11-01T09:00:00+00:00', 'Dr Ade', 'assessment.saved', 'RC-300', 'Patient', :s)"),
                         {"s": f"entry {i}"})
        conn.execute(text("INSERT INTO accesses (at, actor, pseudonym, screen) VALUES ('2026-11-01T09:00:00+00:00', "
                          "'Dr Ade', 'RC-300', 'Cases')"))
    eng.dispose()
    assert migrate.upgrade(db_url) == ("0003_identities", "0004_integrity")
    r = verify(db_url)
    assert r.ok and r.rows["audit"] == 4 and r.rows["accesses"] == 1
    with Store(db_url) as s:
        (started, *_) = s.audit()
        assert (started.action, started.actor, started.summary) == (
            "store.chain_started", "watchwait db upgrade", "tamper-evident trail started (schema revision 0004): 2 rows "
            "written before it are covered as they were at the upgrade")
        s.save_assessment("RC-300", record("RC-300"), expected_version=1, actor="Dr Ade", screen="Patient")
    assert verify(db_url).ok
    tamper(db_url, "assessments", "UPDATE assessments SET actor = 'Dr Forged' WHERE version = 1")
    assert first_problem(db_url) == (f"assessments row 1: its content does not match the hash kept in audit row "
                                     f"{started.id} (changed after it was written?)")
    tamper(db_url, "audit", "UPDATE audit SET summary = 'entry one' WHERE summary = 'entry 1'")
    assert first_problem(db_url) == "audit row 2: its hash does not match its content (changed after it was written?)"
    migrate.downgrade(db_url, "0003_identities")
    eng = raw_engine(db_url)
    with eng.connect() as conn:
        assert "covers" not in {c["name"] for c in inspect(conn).get_columns("audit")}
    eng.dispose()


def test_every_table_of_the_schema_is_covered_by_a_chain():
    """A table added by a later revision must be covered (its rows in an audit row's `covers`, integrity.CHAINED)
    or have a chain of its own (integrity.SELF_CHAINED), or `db verify` would not look at it."""
    from watchwait.store.integrity import CHAINED, SELF_CHAINED
    from watchwait.store.tables import metadata

    assert set(metadata.tables) == set(CHAINED) | set(SELF_CHAINED)


def test_every_table_of_the_schema_is_append_only(filled, db_url):
    """Every table the store writes refuses DELETE in the database itself (a later revision's table too; the
    fixture must then give it a row, as it does to every table now)."""
    from watchwait.store.tables import metadata

    eng = raw_engine(db_url)
    for table in metadata.tables:
        assert count(db_url, f"SELECT count(*) FROM {table}") > 0, f"the fixture wrote no row in {table}"
        with eng.connect() as conn, pytest.raises(DBAPIError) as exc:
            with conn.begin():
                conn.execute(text(f"DELETE FROM {table}"))
        assert f"{table} is append-only: rows cannot be changed or deleted" in str(exc.value.orig), table
    eng.dispose()
