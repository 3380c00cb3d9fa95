"""Least privilege on PostgreSQL (issue 21 item 4), against the real server: the owner runs the schema and
`watchwait db grant --app-role NAME --apply`; connected as that role, the store's every write works, while
`ALTER TABLE ... DISABLE TRIGGER`, UPDATE, DELETE, TRUNCATE and DDL are refused by the database; the dashboard's
start-up check (`owner_refusal`) tells the owner from the application role."""

from __future__ import annotations

import itertools
import os

import psycopg
import pytest
from helpers_store import record

from watchwait.cli import main
from watchwait.store import Store, StoreError, migrate
from watchwait.store.admin import (OWNER_MESSAGE, apply_grants, connected_as_owner, grant_statements, owner_refusal,
                                   verify)

_n = itertools.count()


@pytest.fixture
def owner_url(pg_server):
    url = pg_server.create_database(f"priv{next(_n)}_{os.getpid()}")
    Store(url).close()  # the owner (here the server's superuser) creates the schema
    return url


@pytest.fixture
def app_role(pg_server):
    name = f"ww_app_{next(_n)}_{os.getpid()}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN")
    return name


def as_role(url: str, role: str) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://{role}@", 1)


def refused(url: str, sql: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.Error) as exc:
        conn.execute(sql)
    return str(exc.value).splitlines()[0]


def test_grant_prints_read_and_append_only(owner_url, app_role, capsys):
    assert main(["db", "grant", "--url", owner_url, "--app-role", app_role]) == 0
    out = capsys.readouterr().out.splitlines()
    db = owner_url.rsplit("/", 1)[1]
    tables = sorted(["accesses", "assessments", "audit", "decisions", "follow_ups", "meeting_cases", "meetings",
                     "models", "patients", "predictions"])
    expected = [f'GRANT CONNECT ON DATABASE "{db}" TO "{app_role}";', f'GRANT USAGE ON SCHEMA public TO "{app_role}";']
    for t in tables:
        expected += [f'REVOKE ALL ON TABLE {t} FROM "{app_role}";', f'GRANT SELECT, INSERT ON TABLE {t} TO "{app_role}";']
        if t in ("patients", "meetings"):  # for SELECT ... FOR UPDATE only
            expected.append(f'GRANT UPDATE (id) ON TABLE {t} TO "{app_role}";')
    expected += [f'REVOKE ALL ON TABLE alembic_version FROM "{app_role}";',
                 f'GRANT SELECT ON TABLE alembic_version TO "{app_role}";']
    for t in tables:
        if t != "models":  # keyed by version: no sequence
            expected += [f'REVOKE ALL ON SEQUENCE public.{t}_id_seq FROM "{app_role}";',
                         f'GRANT USAGE ON SEQUENCE public.{t}_id_seq TO "{app_role}";']
    assert out == expected
    assert not any(w in line for line in out for w in ("DELETE", "TRUNCATE", "TRIGGER", "OWNER", "CREATE"))
    assert [line for line in out if "UPDATE" in line] == [f'GRANT UPDATE (id) ON TABLE meetings TO "{app_role}";',
                                                          f'GRANT UPDATE (id) ON TABLE patients TO "{app_role}";']
    # printing changed nothing: the role still cannot read
    assert "permission denied for table audit" in refused(as_role(owner_url, app_role), "SELECT * FROM audit")


def test_the_app_role_writes_everything_the_store_writes_and_cannot_tamper(owner_url, app_role, cohort_csv, capsys):
    assert main(["db", "grant", "--url", owner_url, "--app-role", app_role, "--apply"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (f"applied: {app_role} may now read and append to the case "
                                                        "store, nothing more")
    app = as_role(owner_url, app_role)
    with Store(app) as s:  # every write of the store, as the app role
        a = s.save_assessment("RC-1", record("RC-1"), expected_version=None, actor="Dr Ade", screen="Patient")
        s.save_assessment("RC-1", record("RC-1", age_years=70), expected_version=1, actor="Dr Ade", screen="Patient")
        s.record_prediction(a.id, model_version="m1", model_hash="ab" * 32, input_hash="cd" * 32, probability=0.3,
                            interval=(0.2, 0.4), contributions=[], category="near_complete", suggestion="reassess",
                            rule_ids=[], flags=[], actor="Dr Ade", screen="Assessment")
        m = s.create_meeting("2026-12-01", "MDT", "Chair")
        s.add_case(m.id, "RC-1", "Chair", "Meeting")
        assert s.import_cases(m.id, cohort_csv(4, seed=8), actor="Chair", screen="Meeting").ok
        s.record_decision(m.id, "RC-1", pathway="tme", follows_suggestion=True, rationale="r", present=["A"],
                          actor="Chair", screen="Presentation", expected_version=None)
        s.record_follow_up("RC-1", {"management": "tme"}, actor="Dr Ade", screen="Follow-up", expected_version=None)
        s.register_model("m1", "ab" * 32, {"auc": 0.8})
        s.record_access("Dr Ade", "RC-1", "Cases")
        assert len(s.audit()) == 16 and s.list_cases().total == 5 and len(s.meeting_cases(m.id)) == 5
    assert verify(app).ok  # the app role can also check the trail
    # what an attacker with the app's credentials tries
    assert refused(app, "ALTER TABLE audit DISABLE TRIGGER USER") == "must be owner of table audit"
    assert refused(app, "ALTER TABLE decisions DISABLE TRIGGER ALL") == "must be owner of table decisions"
    assert refused(app, "UPDATE audit SET actor = 'forged'") == "permission denied for table audit"
    assert refused(app, "UPDATE decisions SET pathway = 'watch_and_wait'") == "permission denied for table decisions"
    assert refused(app, "UPDATE patients SET pseudonym = 'RC-9'") == "permission denied for table patients"
    # the one column it may name (for FOR UPDATE): the append-only trigger refuses the update itself
    assert refused(app, "UPDATE patients SET id = id") == "patients is append-only: rows cannot be changed or deleted"
    assert refused(app, "UPDATE meetings SET id = id + 100") == ("meetings is append-only: rows cannot be changed or "
                                                                 "deleted")
    assert refused(app, "DELETE FROM meeting_cases") == "permission denied for table meeting_cases"
    assert refused(app, "TRUNCATE audit") == "permission denied for table audit"
    assert refused(app, "DROP TABLE accesses") == "must be owner of table accesses"
    assert refused(app, "CREATE TABLE x (i int)") == "permission denied for schema public"
    assert refused(app, "DROP TRIGGER audit_append_only ON audit") == "must be owner of relation audit"
    assert refused(app, "UPDATE alembic_version SET version_num = 'x'") == "permission denied for table alembic_version"
    assert verify(owner_url).ok


def test_the_dashboards_start_up_check(owner_url, app_role, monkeypatch, tmp_path):
    monkeypatch.delenv("WATCHWAIT_ALLOW_OWNER", raising=False)
    apply_grants(owner_url, app_role)
    app = as_role(owner_url, app_role)
    assert connected_as_owner(owner_url) is True and connected_as_owner(app) is False
    assert owner_refusal(app) is None
    assert owner_refusal(owner_url) == OWNER_MESSAGE.format(user="postgres") == (
        "The dashboard is connected to PostgreSQL as postgres, who owns the case store's tables (or is a superuser) and "
        "so could switch off their append-only triggers. Connect as an application role instead: create one, run "
        "`watchwait db grant --app-role NAME --apply` as the owner, and put that role in WATCHWAIT_DATABASE_URL. "
        "(Tests only: WATCHWAIT_ALLOW_OWNER=1 allows the owner.)")
    assert owner_refusal(str(tmp_path / "s.db")) is None  # an SQLite store: its file mode protects it
    monkeypatch.setenv("WATCHWAIT_ALLOW_OWNER", "1")
    assert owner_refusal(owner_url) is None


def test_a_non_superuser_owner_is_an_owner_too(pg_server, app_role):
    owner = f"ww_owner_{next(_n)}_{os.getpid()}"
    db = f"owned{next(_n)}_{os.getpid()}"
    with psycopg.connect(pg_server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN")
        conn.execute(f"CREATE DATABASE {db} OWNER {owner}")
    url = as_role(pg_server.url(db), owner)
    migrate.upgrade(url)
    assert connected_as_owner(url) is True
    apply_grants(url, app_role)
    assert connected_as_owner(as_role(pg_server.url(db), app_role)) is False
    # the owner itself can disable a trigger: why the dashboard must not run as it
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit DISABLE TRIGGER USER")
        conn.execute("ALTER TABLE audit ENABLE TRIGGER USER")


def test_a_role_without_grants_gets_a_plain_message(owner_url, app_role):
    """Before `db grant --apply` (or after a restore, which brings back no grants), and on an empty database."""
    from watchwait.store import StoreSchemaError

    app = as_role(owner_url, app_role)
    with pytest.raises(StoreSchemaError) as exc:
        Store(app)
    assert str(exc.value) == (
        f"{app_role} may not use the case store at {migrate.shown(migrate.resolve_url(app))} (permission denied for "
        f"table alembic_version). The owner of its tables grants what the dashboard needs with `watchwait db grant "
        f"--app-role {app_role} --apply` (needed again after a restore); the schema itself is created and upgraded by "
        "the owner (`watchwait db upgrade`).")


def test_grant_refusals(owner_url, app_role, tmp_path):
    with pytest.raises(StoreError) as exc:
        grant_statements(owner_url, "App; DROP TABLE audit")
    assert str(exc.value) == ("The application role must be a PostgreSQL role name of lower-case letters, digits and '_' "
                              "(at most 63, not starting with a digit); got 'App; DROP TABLE audit'.")
    with pytest.raises(StoreError) as exc:
        apply_grants(owner_url, "nobody_here")
    assert str(exc.value) == ("There is no role nobody_here in this PostgreSQL; create it first (as the owner or an "
                              "administrator): CREATE ROLE nobody_here LOGIN PASSWORD '...';")
    with pytest.raises(StoreError) as exc:
        apply_grants(owner_url, "postgres")
    assert str(exc.value) == ("The role postgres is a superuser or owns the case store's tables, so it could switch off "
                              "the append-only triggers; the application role must be another role.")
    with pytest.raises(StoreError) as exc:
        grant_statements(str(tmp_path / "s.db"), app_role)
    assert str(exc.value) == ("watchwait db grant is for a PostgreSQL store; an SQLite store is a file that only its "
                              "owner can read and write (0600 in a 0700 folder).")


def test_after_a_restore_the_grants_are_applied_again(owner_url, app_role, tmp_path, monkeypatch, capsys):
    from watchwait.store import StoreSchemaError

    monkeypatch.chdir(tmp_path)
    apply_grants(owner_url, app_role)
    app = as_role(owner_url, app_role)
    with Store(app) as s:
        s.save_assessment("RC-1", record("RC-1"), expected_version=None, actor="Dr Ade", screen="Patient")
    assert main(["db", "backup", "--url", owner_url, "--out", str(tmp_path / "b.dump")]) == 0
    assert main(["db", "restore", "--url", owner_url, str(tmp_path / "b.dump"), "--yes"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == ("the backup carries no grants: run `watchwait db grant --app-role "
                                                        "NAME --apply` again for the dashboard's role")
    with pytest.raises(StoreSchemaError):
        Store(app)
    assert main(["db", "grant", "--url", owner_url, "--app-role", app_role, "--apply"]) == 0
    with Store(app) as s:
        assert s.assessment("RC-1").version == 1
        s.save_assessment("RC-1", record("RC-1", age_years=70), expected_version=1, actor="Dr Ade", screen="Patient")
    assert verify(owner_url).ok


def test_the_dashboard_does_not_start_as_the_owner_and_starts_as_the_app_role(owner_url, app_role, tmp_path):
    """components/serve.py (what `make run` serves) runs owner_refusal at start: the owner is refused with the
    message and exit 2 before anything is served; the application role starts."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (f"import sys; sys.path.insert(0, {str(root)!r}); import runpy; "
            f"runpy.run_path({str(root / 'components' / 'serve.py')!r})")
    env = {k: v for k, v in os.environ.items() if k != "WATCHWAIT_ALLOW_OWNER"}
    run = subprocess.run([sys.executable, "-c", code], env={**env, "WATCHWAIT_DATABASE_URL": owner_url}, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.strip() == ("watchwait: the dashboard did not start. "
                                  + OWNER_MESSAGE.format(user="postgres"))
    apply_grants(owner_url, app_role)
    run = subprocess.run([sys.executable, "-c", code], env={**env, "WATCHWAIT_DATABASE_URL": as_role(owner_url, app_role)},
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]

