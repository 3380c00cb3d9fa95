"""Crash safety: a real process killed with SIGKILL while its big import transaction is open leaves the store
readable and consistent (no partial import; the audit matches the data), on SQLite and on PostgreSQL.

The kill is timed from the database's side: the test waits until the writer holds the write lock (SQLite:
BEGIN IMMEDIATE from here is refused; PostgreSQL: the writer's backend holds row-exclusive locks on the case
tables), so the process dies inside the transaction, not between two."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from helpers_store import count, raw_engine
from sqlalchemy import text

from watchwait.store import Store, migrate

ROWS = 2000
HERE = Path(__file__).resolve().parent


def _writing(url: str) -> bool:
    u = migrate.resolve_url(url)
    if u.get_backend_name() == "sqlite":
        conn = sqlite3.connect(u.database, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc)
            return True
        finally:
            conn.close()
    eng = raw_engine(url)
    try:
        with eng.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE l.pid <> pg_backend_pid() AND l.granted AND l.mode = 'RowExclusiveLock' "
                "AND c.relname IN ('patients', 'assessments', 'meeting_cases')")).scalar())
    finally:
        eng.dispose()


def _read_until(proc, word: str, seen: list[str]) -> str:
    while True:
        line = proc.stdout.readline()
        assert line, f"the writer ended early (exit {proc.poll()}): {proc.stderr.read()[-2000:]}"
        seen.append(line.strip())
        if line.startswith(word):
            return line.strip()


def test_sigkill_in_the_middle_of_an_import_leaves_a_consistent_store(db_url, tmp_path, cohort_csv):
    csv = tmp_path / "cohort.csv"
    csv.write_bytes(cohort_csv(ROWS, seed=9))
    Store(db_url).close()  # the schema exists before the writer starts
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(HERE / "crash_writer.py"), db_url, str(csv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    seen: list[str] = []
    try:
        _read_until(proc, "done", seen)  # one whole import committed
        killed_in = int(_read_until(proc, "begin", seen).split()[1])
        deadline = time.monotonic() + 120
        while not _writing(db_url):
            assert time.monotonic() < deadline, "the writer never took the write lock"
            assert proc.poll() is None
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert f"done {killed_in}" not in seen

    store = Store(db_url)  # readable: opens, and the schema check passes
    try:
        meetings = {m.id: m for m in store.meetings()}
        done = {int(line.split()[1]) for line in seen if line.startswith("done")}
        complete = {i for i, m in meetings.items() if m.n_cases == ROWS}
        # the kill may land after the import's commit and before the writer prints "done" (seen once in CI on
        # PostgreSQL): the killed import is then whole, never partial
        assert done <= complete <= done | {killed_in}
        assert {i for i, m in meetings.items() if m.n_cases not in (0, ROWS)} == set()  # no partial import
        late = killed_in in complete
        n_done = len(complete)
        assert count(db_url, "SELECT count(*) FROM assessments") == ROWS * n_done
        assert count(db_url, "SELECT count(*) FROM patients") == ROWS
        # the audit matches the data, row for row
        assert count(db_url, "SELECT count(*) FROM audit WHERE action = 'assessment.imported'") == ROWS * n_done
        assert count(db_url, "SELECT count(*) FROM audit WHERE action = 'meeting.case_added'") == count(
            db_url, "SELECT count(*) FROM meeting_cases")
        assert count(db_url, "SELECT count(*) FROM audit WHERE action = 'meeting.created'") == len(meetings)
        if store.dialect == "sqlite":
            assert count(db_url, "PRAGMA integrity_check") == "ok"
            assert count(db_url, "PRAGMA foreign_key_check") is None
        # and it takes writes again: the interrupted import, now whole
        if not late:
            report = store.import_cases(killed_in, csv.read_bytes(), actor="crash-test", screen="Meeting")
            assert report.ok
        assert store.meeting(killed_in).n_cases == ROWS
    finally:
        store.close()
