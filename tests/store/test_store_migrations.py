"""Alembic migrations: upgrade from an empty database and from the previous revision (data kept), downgrade and
upgrade again; the head matches watchwait.store.tables; the refusal of an older or newer schema, word for
word; and the `watchwait db` commands."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from helpers_store import count, raw_engine, record
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from watchwait.cli import main
from watchwait.store import Store, StoreSchemaError, migrate
from watchwait.store.tables import metadata

HEAD = "0004_integrity"
PREVIOUS = "0003_identities"
FIRST = "0001_case_store"
CASE_TABLES = {"patients", "assessments", "predictions", "meetings", "meeting_cases", "decisions", "follow_ups", "audit"}


def _tables(url) -> set[str]:
    eng = raw_engine(url)
    try:
        with eng.connect() as conn:
            return set(inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        eng.dispose()


def _shown(url) -> str:
    return migrate.shown(migrate.resolve_url(url))


def test_revisions_in_order():
    assert migrate.known_revisions() == [FIRST, "0002_site_models", PREVIOUS, HEAD] and migrate.head() == HEAD


def test_upgrade_from_empty_gives_exactly_the_tables_the_code_queries(db_url):
    assert migrate.upgrade(db_url) == (None, HEAD)
    assert _tables(db_url) == CASE_TABLES | {"models", "accesses"}
    eng = raw_engine(db_url)
    with eng.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    eng.dispose()
    assert diff == []
    assert migrate.upgrade(db_url) == (HEAD, HEAD)  # a second upgrade changes nothing


def test_the_store_creates_the_schema_on_an_empty_database(db_url):
    with Store(db_url) as s:
        assert s.revision == HEAD
    assert migrate.revision_of(db_url) == (HEAD, HEAD)


def test_upgrade_from_the_first_revision_keeps_the_data_then_down_and_up_again(db_url):
    assert migrate.upgrade(db_url, FIRST) == (None, FIRST)
    assert _tables(db_url) == CASE_TABLES
    with pytest.raises(StoreSchemaError) as exc:
        Store(db_url)
    assert str(exc.value) == (f"The case store at {_shown(db_url)} has schema revision {FIRST}; this watchwait needs "
                              f"{HEAD}. Back up the database, then run `watchwait db upgrade` to bring it to {HEAD}.")
    # data written under the previous revision (by the watchwait of that revision: plain SQL here)
    eng = raw_engine(db_url)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO patients (pseudonym, created_at) VALUES ('RC-300', '2026-11-01T09:00:00+00:00')"))
        conn.execute(text("INSERT INTO assessments (patient_id, version, record, saved_at, actor, screen) VALUES "
                          "((SELECT id FROM patients), 1, :r, '2026-11-01T09:00:00+00:00', 'Dr Ade', 'Patient')"),
                     {"r": '{"patient_id": "RC-300", "mmr_status": "pMMR", "age_years": 70}'})
        conn.execute(text("INSERT INTO predictions (assessment_id, model_version, model_hash, input_hash, probability, "
                          "contributions, category, suggestion, rule_ids, flags, recorded_at, actor, screen) VALUES "
                          "((SELECT id FROM assessments), 'old-model', 'aa', 'bb', 0.2, '[]', 'incomplete', 'tme', '[]', '[]', "
                          "'2026-11-01T09:00:01+00:00', 'Dr Ade', 'Assessment')"))
    eng.dispose()
    assert migrate.upgrade(db_url) == (FIRST, HEAD)
    with Store(db_url) as s:
        assert s.assessment("RC-300").record["age_years"] == 70
        assert [(m.version, m.n_predictions, m.registered_at) for m in s.models()] == [("old-model", 1, None)]
        s.register_model("site-1", "cc" * 32, {"auc": 0.7})
    assert migrate.downgrade(db_url, FIRST) == (HEAD, FIRST)
    assert _tables(db_url) == CASE_TABLES
    assert count(db_url, "SELECT count(*) FROM assessments") == 1
    assert migrate.upgrade(db_url) == (FIRST, HEAD)
    with Store(db_url) as s:
        assert s.assessment("RC-300").version == 1
        assert [m.version for m in s.models()] == ["old-model"]  # the downgrade dropped the site's model list
        s.save_assessment("RC-300", record("RC-300"), expected_version=1, actor="Dr Ade", screen="Patient")
        s.register_model("site-1", "cc" * 32, {"auc": 0.7})
    # the triggers came back with the upgrade
    eng = raw_engine(db_url)
    with eng.connect() as conn, pytest.raises(DBAPIError) as exc:
        with conn.begin():
            conn.execute(text("DELETE FROM models"))
    eng.dispose()
    assert "models is append-only" in str(exc.value.orig)
    # all the way down, and up again
    assert migrate.downgrade(db_url, "base") == (HEAD, None)
    assert _tables(db_url) == set()
    assert migrate.upgrade(db_url) == (None, HEAD)
    with Store(db_url) as s:
        assert s.list_cases().total == 0


def test_a_database_written_by_a_newer_watchwait_is_refused(db_url):
    migrate.upgrade(db_url)
    eng = raw_engine(db_url)
    with eng.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    eng.dispose()
    message = (f"The case store at {_shown(db_url)} has schema revision 0099_future, which this watchwait does not know "
               f"(its newest is {HEAD}): this database was written by a newer watchwait. Run that newer watchwait, or "
               "give this one another database.")
    with pytest.raises(StoreSchemaError) as exc:
        Store(db_url)
    assert str(exc.value) == message
    with pytest.raises(StoreSchemaError) as exc:
        migrate.upgrade(db_url)
    assert str(exc.value) == message
    assert count(db_url, "SELECT version_num FROM alembic_version") == "0099_future"


def test_a_database_with_other_tables_is_refused(db_url):
    eng = raw_engine(db_url)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE billing (id integer)"))
    eng.dispose()
    with pytest.raises(StoreSchemaError) as exc:
        Store(db_url)
    assert str(exc.value) == (f"The database {_shown(db_url)} holds tables that are not watchwait's (billing) and no "
                              "watchwait schema revision; give watchwait an empty database of its own.")
    assert _tables(db_url) == {"billing"}


def test_the_db_commands(db_url, capsys):
    shown = _shown(db_url)
    assert main(["db", "current", "--url", db_url]) == 0
    assert capsys.readouterr().out == (f"case store {shown}: schema revision none; this watchwait's is {HEAD} (empty (no "
                                       "watchwait schema yet; it is created when the store is first opened))\n")
    assert main(["db", "upgrade", "--url", db_url]) == 0
    assert capsys.readouterr().out == f"case store {shown}: schema revision none -> {HEAD}\n"
    assert main(["db", "downgrade", "--url", db_url, "--to", "-1"]) == 1  # without --yes: nothing changes
    assert capsys.readouterr().err == (
        f"case store {shown}: downgrading from schema revision {HEAD} to {PREVIOUS} would remove column "
        "accesses.chain_hash (0 values); column accesses.row_hash (0 values); column audit.chain_hash (0 values); column "
        "audit.covers (0 values); column audit.row_hash (0 values).\nNothing was changed. To go ahead, run `watchwait db "
        "downgrade --to -1 --yes`: a backup of the store is written first.\n")
    assert migrate.revision_of(db_url) == (HEAD, HEAD)
    assert main(["db", "downgrade", "--url", db_url, "--to", "-1", "--yes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"case store {shown}: backup written to ")
    assert out[1] == (f"case store {shown}: schema revision {HEAD} -> {PREVIOUS}; removed column accesses.chain_hash (0 "
                      "values); column accesses.row_hash (0 values); column audit.chain_hash (0 values); column "
                      "audit.covers (0 values); column audit.row_hash (0 values)")
    assert main(["db", "current", "--url", db_url]) == 0
    assert capsys.readouterr().out == (f"case store {shown}: schema revision {PREVIOUS}; this watchwait's is {HEAD} (older "
                                       "than this watchwait: run `watchwait db upgrade`)\n")
    assert main(["db", "downgrade", "--url", db_url, "--to", "0042"]) == 2
    assert capsys.readouterr().err == ("watchwait db: Unknown schema revision '0042'; give one of base, 0001_case_store, "
                                       "0002_site_models, 0003_identities, 0004_integrity, or -1 for one step back.\n")
    assert main(["db", "upgrade", "--url", db_url]) == 0
    assert capsys.readouterr().out == f"case store {shown}: schema revision {PREVIOUS} -> {HEAD}\n"
    assert main(["db", "upgrade", "--url", db_url]) == 0
    assert capsys.readouterr().out == f"case store {shown}: already at schema revision {HEAD}\n"


def test_url_resolution(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(migrate.ENV_VAR, raising=False)
    assert migrate.resolve_url(None).database == str(tmp_path / "var" / "watchwait.db")
    assert (tmp_path / "var").is_dir()
    monkeypatch.setenv(migrate.ENV_VAR, "postgresql://ww:secret@db.example:5432/ww")
    u = migrate.resolve_url(None)
    assert (u.drivername, migrate.shown(u)) == ("postgresql+psycopg", "postgresql+psycopg://ww:***@db.example:5432/ww")
    assert migrate.resolve_url(str(tmp_path / "x" / "cases.db")).database == str(tmp_path / "x" / "cases.db")
    with pytest.raises(StoreSchemaError) as exc:
        migrate.resolve_url("mysql://u@h/db")
    assert str(exc.value) == ("The database URL names 'mysql'; watchwait stores cases in SQLite (sqlite:///file.db) or "
                              "PostgreSQL (postgresql://...).")
    with pytest.raises(StoreSchemaError) as exc:
        Store("postgresql://nobody@127.0.0.1:1/none")
    assert str(exc.value).startswith("Cannot open the case store at postgresql+psycopg://nobody@127.0.0.1:1/none: ")
