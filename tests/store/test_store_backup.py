"""Nothing dropped by a command (issue 21 item 5), on SQLite and PostgreSQL: `watchwait db downgrade` without
--yes changes nothing and says what it would remove; with --yes it writes a backup first; `watchwait db backup` and
`watchwait db restore` round-trip every table's rows; restore refuses to overwrite a store with data without --yes
and backs it up first; the SQLite file, its folder and the backups are private."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from helpers_store import raw_engine, record
from sqlalchemy import inspect, text

from watchwait.cli import main
from watchwait.store import Store, migrate
from watchwait.store.admin import backup, restore, verify

HEAD = "0004_integrity"


def snapshot(url: str) -> dict:
    """Every table's columns and rows (ordered by key), the schema revision."""
    eng = raw_engine(url)
    try:
        with eng.connect() as conn:
            out = {"revision": conn.execute(text("SELECT version_num FROM alembic_version")).scalar()}
            for t in sorted(inspect(conn).get_table_names()):
                out[t] = [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))]
                out[t + ".columns"] = sorted(c["name"] for c in inspect(conn).get_columns(t))
            return out
    finally:
        eng.dispose()


def fill(s: Store, cohort: bytes, tag: str = "A") -> None:
    a = s.save_assessment(f"RC-{tag}1", record(f"RC-{tag}1"), expected_version=None, actor="Dr Ade", screen="Patient")
    s.record_prediction(a.id, model_version="m1", model_hash="ab" * 32, input_hash="cd" * 32, probability=0.4,
                        interval=(0.3, 0.5), contributions=[], category="near_complete", suggestion="reassess",
                        rule_ids=["PATH-near"], flags=["x"], actor="Dr Ade", screen="Assessment")
    m = s.create_meeting("2026-12-01", f"MDT {tag}", "Chair")
    s.add_case(m.id, f"RC-{tag}1", "Chair", "Meeting")
    assert s.import_cases(m.id, cohort, actor="Chair", screen="Meeting").ok
    s.record_decision(m.id, f"RC-{tag}1", pathway="tme", follows_suggestion=True, rationale="r", present=["A"],
                      actor="Chair", screen="Presentation", expected_version=None)
    s.record_follow_up(f"RC-{tag}1", {"management": "tme"}, actor="Dr Ade", screen="Follow-up", expected_version=None)
    s.register_model(f"m-{tag}", "ab" * 32, {"auc": 0.8})
    s.record_access("Dr Ade", f"RC-{tag}1", "Cases")


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("to", ["-1", "base", "0002_site_models"])
def test_downgrade_without_yes_changes_nothing_and_says_what_it_would_remove(store, db_url, cohort_csv, capsys, to):
    fill(store, cohort_csv(5, seed=3))
    store.close()
    before = snapshot(db_url)
    assert main(["db", "downgrade", "--url", db_url, "--to", to]) == 1
    err = capsys.readouterr().err
    assert snapshot(db_url) == before
    shown = migrate.shown(migrate.resolve_url(db_url))
    n_audit = len(before["audit"])
    if to == "base":
        assert err == (f"case store {shown}: downgrading from schema revision {HEAD} to none would remove table accesses "
                       f"(1 row); table assessments (6 rows); table audit ({n_audit} rows); table decisions (1 row); "
                       "table follow_ups (1 row); table meeting_cases (6 rows); table meetings (1 row); table models "
                       "(1 row); table patients (6 rows); table predictions (1 row).\nNothing was changed. To go ahead, "
                       "run `watchwait db downgrade --to base --yes`: a backup of the store is written first.\n")
    elif to == "-1":
        assert err.startswith(f"case store {shown}: downgrading from schema revision {HEAD} to 0003_identities would "
                              f"remove column accesses.chain_hash (1 value); column accesses.row_hash (1 value); column "
                              f"audit.chain_hash ({n_audit} values); column audit.covers ({n_audit} values); ")
    else:
        assert "to 0002_site_models would remove table accesses (1 row); column accesses.chain_hash" not in err
        assert "to 0002_site_models would remove table accesses (1 row); column assessments.actor_subject (0 values); " \
            "column audit.actor_subject (0 values); column audit.chain_hash" in err
    assert verify(db_url).ok


def test_downgrade_with_yes_writes_a_backup_first_that_restores_everything(store, db_url, cohort_csv, capsys, tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)  # PostgreSQL backups go to ./var/backups
    fill(store, cohort_csv(4, seed=4))
    store.close()
    before = snapshot(db_url)
    assert main(["db", "downgrade", "--url", db_url, "--to", "base", "--yes"]) == 0
    out = capsys.readouterr().out.splitlines()
    m = re.fullmatch(r"case store .*: backup written to (.+) \([0-9,]+ bytes\)", out[0])
    assert m, out
    path = Path(m.group(1))
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert out[1].startswith(f"case store {migrate.shown(migrate.resolve_url(db_url))}: schema revision {HEAD} -> none "
                             "(every table removed); removed table accesses (1 row); ")
    assert migrate.revision_of(db_url) == (None, HEAD)
    # an empty store: restoring needs no --yes
    assert main(["db", "restore", "--url", db_url, str(path)]) == 0
    assert snapshot(db_url) == before
    assert verify(db_url).ok


def test_backup_and_restore_round_trip_every_table(store, db_url, cohort_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fill(store, cohort_csv(6, seed=5))
    before = snapshot(db_url)
    out = tmp_path / "keep" / "store.backup"
    out.parent.mkdir()
    assert main(["db", "backup", "--url", db_url, "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"case store {migrate.shown(migrate.resolve_url(db_url))}: backup written "
                                              f"to {out} (")
    assert _mode(out) == 0o600
    fill(store, cohort_csv(3, seed=6), tag="B")  # the store moves on after the backup
    store.close()
    after = snapshot(db_url)
    assert after != before
    # a store holding rows: refused without --yes, nothing changed
    assert main(["db", "restore", "--url", db_url, str(out)]) == 1
    n = sum(len(v) for k, v in after.items() if k != "revision" and not k.endswith(".columns") and k != "alembic_version")
    assert capsys.readouterr().err == (
        f"The case store at {migrate.shown(migrate.resolve_url(db_url))} holds {n:,} rows; restoring {out} would replace "
        "all of them. Nothing was changed. To go ahead, run the same command with --yes (a backup of the store as it "
        "is now is written first).\n")
    assert snapshot(db_url) == after
    assert main(["db", "restore", "--url", db_url, str(out), "--yes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = Path(re.fullmatch(r"the store as it was is backed up in (.+)", lines[0]).group(1))
    assert lines[1].startswith(f"case store {migrate.shown(migrate.resolve_url(db_url))}: restored from {out} (schema "
                               f"revision {HEAD}, ")
    assert snapshot(db_url) == before
    assert verify(db_url).ok
    with Store(db_url) as s:  # the restored store works
        s.save_assessment("RC-A1", record("RC-A1", age_years=70), expected_version=1, actor="Dr Ade", screen="Patient")
    assert verify(db_url).ok
    # and the backup taken before the restore holds the store as it was
    restore(db_url, first, yes=True)
    assert snapshot(db_url) == after


def test_restore_refuses_what_is_not_a_backup(db_url, tmp_path):
    Store(db_url).close()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 10)
    from watchwait.store import StoreError

    with pytest.raises(StoreError) as exc:
        restore(db_url, junk)
    engine = "SQLite" if db_url.startswith("sqlite") else "PostgreSQL"
    tail = ("(no schema revision in it); nothing was changed." if engine == "SQLite" else
            "(a pg_dump -Fc file with the case store's tables); nothing was changed.")
    assert str(exc.value) == f"{junk} is not a backup of a watchwait {engine} store {tail}"
    with pytest.raises(StoreError) as exc:
        restore(db_url, tmp_path / "missing.db")
    assert str(exc.value) == f"There is no backup file at {tmp_path / 'missing.db'}."


def test_the_sqlite_file_its_folder_and_backups_are_private(tmp_path, cohort_csv):
    folder = tmp_path / "new" / "store"
    db = folder / "watchwait.db"
    with Store(str(db)) as s:
        fill(s, cohort_csv(2, seed=7))
        assert _mode(db) == 0o600 and _mode(folder) == 0o700
        wal = db.with_name(db.name + "-wal")
        assert wal.exists() and _mode(wal) == 0o600
    b = backup(str(db))
    assert b.path.parent == folder / "backups" and _mode(b.path) == 0o600 and _mode(b.path.parent) == 0o700
    # an existing store left readable by others (0644, as before) is narrowed when opened
    os.chmod(db, 0o644)
    Store(str(db)).close()
    assert _mode(db) == 0o600


def test_backup_refuses_the_store_itself_and_a_missing_folder(tmp_path):
    from watchwait.store import StoreError

    db = tmp_path / "s.db"
    Store(str(db)).close()
    with pytest.raises(StoreError) as exc:
        backup(str(db), db)
    assert str(exc.value) == f"The backup file {db} is the case store itself; give another --out."
    with pytest.raises(StoreError) as exc:
        backup(str(db), tmp_path / "nowhere" / "b.db")
    assert str(exc.value) == f"The folder {tmp_path / 'nowhere'} does not exist; make it first or give another --out."
    assert main(["db", "backup", "--url", str(db), "--out", str(tmp_path)]) == 2


def test_a_missing_pg_dump_is_named_with_the_package_to_install(monkeypatch, tmp_path):
    import glob

    from watchwait.store import StoreError
    from watchwait.store.admin import pg_tool

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("WATCHWAIT_PG_BINDIR", str(tmp_path))
    monkeypatch.setattr(glob, "glob", lambda pattern: [])  # a machine without Debian's PostgreSQL packages
    with pytest.raises(StoreError) as exc:
        pg_tool("pg_dump")
    assert str(exc.value) == ("pg_dump was not found (on PATH, in WATCHWAIT_PG_BINDIR or under /usr/lib/postgresql/*/bin); "
                              "install Debian's postgresql-client package (apt-get install postgresql-client) to back up "
                              "or restore a PostgreSQL store.")
