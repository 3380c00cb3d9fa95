"""The audit trail (and every history table) is append-only in the database itself: raw SQL that changes or
deletes a row fails at the database, on SQLite (triggers) and on PostgreSQL (a trigger function)."""

from __future__ import annotations

import pytest
from helpers_store import raw_engine, record, table_counts
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError


@pytest.fixture
def filled(store):
    a = store.save_assessment("RC-200", record("RC-200"), expected_version=None, actor="Dr Ade", screen="Patient")
    store.record_prediction(a.id, model_version="m1", model_hash="ab" * 32, input_hash="cd" * 32, probability=0.4,
                            interval=(0.3, 0.5), contributions=[], category="near_complete", suggestion="reassess",
                            rule_ids=["PATH-near"], flags=[], actor="Dr Ade", screen="Assessment")
    m = store.create_meeting("2026-12-01", "MDT", "Chair")
    store.add_case(m.id, "RC-200", "Chair", "Meeting")
    store.record_decision(m.id, "RC-200", pathway="tme", follows_suggestion=True, rationale="r", present=["A"],
                          actor="Chair", screen="Presentation", expected_version=None)
    store.record_follow_up("RC-200", {"management": "tme"}, actor="Dr Ade", screen="Follow-up", expected_version=None)
    store.register_model("m1", "ab" * 32, {"auc": 0.8})
    return store


@pytest.mark.parametrize("table, sql", [
    ("audit", "UPDATE audit SET actor = 'someone else'"),
    ("audit", "UPDATE audit SET summary = 'nothing happened' WHERE id = 1"),
    ("audit", "DELETE FROM audit"),
    ("audit", "DELETE FROM audit WHERE id = 1"),
    ("assessments", "UPDATE assessments SET record = '{}'"),
    ("assessments", "DELETE FROM assessments"),
    ("predictions", "UPDATE predictions SET probability = 0.9"),
    ("decisions", "UPDATE decisions SET pathway = 'watch_and_wait'"),
    ("decisions", "DELETE FROM decisions"),
    ("follow_ups", "DELETE FROM follow_ups"),
    ("models", "UPDATE models SET model_hash = 'x'"),
])
def test_raw_sql_cannot_change_or_delete_history(filled, db_url, table, sql):
    before = table_counts(db_url)
    eng = raw_engine(db_url)
    with eng.connect() as conn:
        audit_before = conn.execute(text("SELECT * FROM audit ORDER BY id")).all()
        conn.rollback()
        with pytest.raises(DBAPIError) as exc:
            with conn.begin():
                conn.execute(text(sql))
        audit_after = conn.execute(text("SELECT * FROM audit ORDER BY id")).all()
    eng.dispose()
    assert f"{table} is append-only: rows cannot be changed or deleted" in str(exc.value.orig)
    assert table_counts(db_url) == before and audit_after == audit_before


def test_truncate_is_refused_too(filled, db_url):
    """PostgreSQL has TRUNCATE (a statement trigger refuses it); SQLite has none, and its DELETE without WHERE
    (its truncate optimisation) fires the row triggers because the table has triggers."""
    before = table_counts(db_url)
    sql = "TRUNCATE audit" if filled.dialect == "postgresql" else "DELETE FROM audit"
    eng = raw_engine(db_url)
    with eng.connect() as conn, pytest.raises(DBAPIError) as exc:
        with conn.begin():
            conn.execute(text(sql))
    eng.dispose()
    assert "audit is append-only: rows cannot be changed or deleted" in str(exc.value.orig)
    assert table_counts(db_url) == before


def test_the_api_has_no_way_to_edit_or_delete(filled):
    names = {n for n in dir(filled) if not n.startswith("_")}
    assert not {n for n in names if any(w in n for w in ("delete", "remove", "update", "edit", "purge", "drop"))}
