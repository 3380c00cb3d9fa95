"""Looking after the case store: backups, restores, what a downgrade would remove, checking the trail, and the
least-privilege role on PostgreSQL (the ``watchwait db`` commands call these).

Backups
    :func:`backup` copies a live store: SQLite's online backup API (``sqlite3.Connection.backup``, consistent
    while the dashboard writes); PostgreSQL's ``pg_dump -Fc`` (Debian's ``postgresql-client``; a plain message
    when it is missing). The file is written atomically and is private (0600) in a private folder (0700): by
    default ``backups/`` beside the SQLite file, or ``var/backups/`` under the current folder for PostgreSQL.
    :func:`restore` puts a backup back (SQLite: the backup API the other way; PostgreSQL: ``pg_restore --clean
    --if-exists --single-transaction``, so a failed restore changes nothing). It refuses to overwrite a store
    that holds any row unless ``yes=True``, and then writes a backup of that store first.

Removing data
    :func:`downgrade_plan` runs the downgrade inside a transaction, notes every table and column it removes with
    its rows, and rolls back: what it reports is exactly what the downgrade would do, and nothing changes.

Least privilege (PostgreSQL)
    Migrations and ``watchwait db`` run as the role that owns the tables; the dashboard connects as an
    application role that may only read and append (:func:`grant_statements`): ``SELECT, INSERT`` on every table
    (the store never updates or deletes a row: every table is append-only), ``SELECT`` on ``alembic_version``,
    ``USAGE`` on the id sequences, ``CONNECT`` and schema ``USAGE``; and ``UPDATE (id)`` on ``patients`` and
    ``meetings`` only because PostgreSQL asks it of ``SELECT ... FOR UPDATE``, the row lock that queues two writers
    of one case or one meeting (an actual UPDATE of those tables is refused by their append-only triggers, which
    this role cannot disable). No ownership, so no ``ALTER TABLE ... DISABLE TRIGGER``, no DDL, no
    ``TRUNCATE``/``DELETE``, no other ``UPDATE``. :func:`owner_refusal` is the dashboard's start-up
    check: a message when it is connected as the tables' owner (or a superuser), unless
    ``WATCHWAIT_ALLOW_OWNER=1`` says this is a test.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.engine import URL

from watchwait.atomic import atomic_path
from watchwait.store import integrity, migrate
from watchwait.store.entities import StoreError

ALLOW_OWNER_ENV = "WATCHWAIT_ALLOW_OWNER"
#: tables whose rows the store locks with SELECT ... FOR UPDATE (PostgreSQL asks UPDATE on a column for that)
LOCKED_ROWS = ("patients", "meetings")
ROLE_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class NeedsConfirmation(StoreError):
    """The command would remove data; nothing was changed (give ``--yes``)."""


# ------------------------------------------------------------------------------------------- file modes
def private_folder(folder: Path) -> Path:
    """Make the folder (and its parents) if missing; a folder made here is 0700."""
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    return folder


# ------------------------------------------------------------------------------------------- backups
@dataclass
class BackupResult:
    path: Path
    size: int
    seconds: float
    engine: str


def _is_sqlite(u: URL) -> bool:
    return u.get_backend_name() == "sqlite"


def _sqlite_path(u: URL) -> Path:
    return Path(u.database).expanduser().resolve()


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def default_backup_path(u: URL) -> Path:
    if _is_sqlite(u):
        db = _sqlite_path(u)
        return db.parent / "backups" / f"{db.stem}-{_stamp()}.db"
    return Path.cwd() / "var" / "backups" / f"{u.database}-{_stamp()}.dump"


def pg_tool(name: str) -> str:
    """The path of ``pg_dump``/``pg_restore``: WATCHWAIT_PG_BINDIR, else PATH, else the newest Debian one."""
    env = os.environ.get("WATCHWAIT_PG_BINDIR")
    if env and (Path(env) / name).is_file():
        return str(Path(env) / name)
    found = shutil.which(name)
    if found:
        return found
    import glob

    for p in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                    key=lambda p: int(re.sub(r"\D", "", Path(p).parent.parent.name) or 0), reverse=True):
        return p
    raise StoreError(f"{name} was not found (on PATH, in WATCHWAIT_PG_BINDIR or under /usr/lib/postgresql/*/bin); "
                     f"install Debian's postgresql-client package (apt-get install postgresql-client) to back up or "
                     f"restore a PostgreSQL store.")


def _pg_args(u: URL) -> tuple[list[str], dict]:
    """libpq connection options for pg_dump/pg_restore (the password goes in the environment, not the command line)."""
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    args = ["--dbname", u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)]
    return args, env


def _run(cmd: list[str], env: dict, what: str) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        first = (r.stderr or r.stdout).strip().splitlines()
        raise StoreError(f"{what} failed: {first[0] if first else f'exit code {r.returncode}'}")
    return r


def backup(url: str | None = None, out: str | os.PathLike | None = None) -> BackupResult:
    """Copy the live store to ``out`` (default: :func:`default_backup_path`); the file is 0600."""
    u = migrate.resolve_url(url)
    target = Path(out).expanduser().resolve() if out is not None else default_backup_path(u)
    if out is None:
        private_folder(target.parent)
    elif target.is_dir():
        raise StoreError(f"The backup file {target} is a folder; give a file name (e.g. {target / 'watchwait.db'}).")
    elif not target.parent.is_dir():
        raise StoreError(f"The folder {target.parent} does not exist; make it first or give another --out.")
    t0 = time.perf_counter()
    if _is_sqlite(u):
        db = _sqlite_path(u)
        if not db.is_file():
            raise StoreError(f"There is no case store at {db}: nothing to back up.")
        if target == db or target.name in (db.name + "-wal", db.name + "-shm") and target.parent == db.parent:
            raise StoreError(f"The backup file {target} is the case store itself; give another --out.")
        with atomic_path(target, permissions=0o600) as tmp:
            src = sqlite3.connect(str(db), timeout=migrate.BUSY_TIMEOUT_S)
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            finally:
                dst.close()
                src.close()
    else:
        tool = pg_tool("pg_dump")
        args, env = _pg_args(u)
        with atomic_path(target, permissions=0o600) as tmp:
            _run([tool, "--format=custom", "--file", tmp, *args], env, "pg_dump")
    return BackupResult(target, target.stat().st_size, time.perf_counter() - t0, u.get_backend_name())


@dataclass
class RestoreResult:
    path: Path
    revision: str | None
    seconds: float
    backup_first: BackupResult | None = None


def rows_in_store(u: URL) -> int:
    """Rows in the store's tables (0 for an empty or new database)."""
    with migrate._engine_for(u) as engine, engine.connect() as conn:
        names = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        return sum(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in names)


def _backup_revision(u: URL, path: Path) -> str | None:
    if _is_sqlite(u):
        try:
            with open(path, "rb") as fh:
                if fh.read(16) != b"SQLite format 3\x00":
                    raise sqlite3.DatabaseError("not an SQLite file")
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            finally:
                conn.close()
        except (sqlite3.Error, TypeError):
            raise StoreError(f"{path} is not a backup of a watchwait SQLite store (no schema revision in it); nothing "
                             "was changed.") from None
    r = subprocess.run([pg_tool("pg_restore"), "--list", str(path)], capture_output=True, text=True)
    if r.returncode != 0 or " TABLE public audit " not in r.stdout and " TABLE DATA public audit " not in r.stdout:
        raise StoreError(f"{path} is not a backup of a watchwait PostgreSQL store (a pg_dump -Fc file with the case "
                         "store's tables); nothing was changed.")
    return None


def restore(url: str | None, file: str | os.PathLike, *, yes: bool = False) -> RestoreResult:
    """Put a backup back. A store holding rows is overwritten only with ``yes`` (and is backed up first)."""
    u = migrate.resolve_url(url)
    path = Path(file).expanduser().resolve()
    if not path.is_file():
        raise StoreError(f"There is no backup file at {path}.")
    _backup_revision(u, path)
    if _is_sqlite(u) and path == _sqlite_path(u):
        raise StoreError(f"{path} is the case store itself; give a backup file.")
    n = 0 if _is_sqlite(u) and not _sqlite_path(u).exists() else rows_in_store(u)
    first = None
    if n:
        if not yes:
            raise NeedsConfirmation(
                f"The case store at {migrate.shown(u)} holds {n:,} rows; restoring {path} would replace all of them. "
                "Nothing was changed. To go ahead, run the same command with --yes (a backup of the store as it is now "
                "is written first).")
        first = backup(url)
    t0 = time.perf_counter()
    if _is_sqlite(u):
        db = _sqlite_path(u)
        if not db.exists():
            private_folder(db.parent)
            os.close(os.open(db, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        dst = sqlite3.connect(str(db), timeout=migrate.BUSY_TIMEOUT_S)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    else:
        args, env = _pg_args(u)
        _run([pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
              "--exit-on-error", *args, str(path)], env, "pg_restore")
    revision, _ = migrate.revision_of(url)
    return RestoreResult(path, revision, time.perf_counter() - t0, first)


# ------------------------------------------------------------------------------------------- downgrade plan
@dataclass
class DowngradePlan:
    before: str | None
    after: str | None
    tables: list[tuple[str, int]] = field(default_factory=list)  # (table, rows)
    columns: list[tuple[str, str, int]] = field(default_factory=list)  # (table, column, rows with a value)

    def describe(self) -> str:
        parts = [f"table {t} ({n:,} row{'s' if n != 1 else ''})" for t, n in self.tables]
        parts += [f"column {t}.{c} ({n:,} value{'s' if n != 1 else ''})" for t, c, n in self.columns]
        return "; ".join(parts) if parts else "no table or column (only the schema revision changes)"


def _schema(conn) -> dict[str, set[str]]:
    insp = inspect(conn)
    return {t: {c["name"] for c in insp.get_columns(t)} for t in insp.get_table_names() if t != "alembic_version"}


def downgrade_plan(url: str | None, revision: str) -> DowngradePlan:
    """What ``migrate.downgrade(url, revision)`` would remove: run inside a transaction, then rolled back."""
    u = migrate.resolve_url(url)
    migrate.check_revision_arg(revision)
    with migrate._engine_for(u) as engine, engine.connect() as conn:
        conn.execution_options(watchwait_write=True)
        trans = conn.begin()
        try:
            migrate._lock(conn)
            before = migrate.current(conn)
            if before is not None and before not in migrate.known_revisions():
                raise migrate.schema_mismatch(u, before, migrate.head())
            if before is None:
                raise migrate.StoreSchemaError(f"The case store at {migrate.shown(u)} has no watchwait schema; there is "
                                               "nothing to downgrade.")
            was = _schema(conn)
            command.downgrade(migrate._config(conn), revision)
            now = _schema(conn)
            after = migrate.current(conn)
        finally:
            trans.rollback()
        plan = DowngradePlan(before, after)
        with conn.begin():
            for t in sorted(set(was) - set(now)):
                plan.tables.append((t, conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar()))
            for t in sorted(set(was) & set(now)):
                for c in sorted(was[t] - now[t]):
                    plan.columns.append((t, c, conn.execute(text(f'SELECT count("{c}") FROM "{t}"')).scalar()))
    return plan


# ------------------------------------------------------------------------------------------- verify
def verify(url: str | None = None, expect: str | None = None) -> integrity.VerifyReport:
    """Check the whole store's hashes (:func:`watchwait.store.integrity.verify`) in one consistent snapshot."""
    u = migrate.resolve_url(url)
    with migrate._engine_for(u) as engine, engine.connect() as conn:
        have, want = migrate.current(conn), migrate.head()
        conn.rollback()
        if have != want:
            if have is None:
                raise StoreError(f"The case store at {migrate.shown(u)} has no watchwait schema; there is nothing to "
                                 "verify.")
            raise migrate.schema_mismatch(u, have, want)
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            return integrity.verify(conn, expect)


# ------------------------------------------------------------------------------------------- least privilege
def _quote_role(role: str) -> str:
    if not isinstance(role, str) or not ROLE_RE.fullmatch(role):
        raise StoreError(f"The application role must be a PostgreSQL role name of lower-case letters, digits and '_' "
                         f"(at most 63, not starting with a digit); got {role!r}.")
    return f'"{role}"'


def grant_statements(url: str | None, app_role: str) -> list[str]:
    """The GRANTs the application role needs on this store (read and append only); see the module docstring."""
    role = _quote_role(app_role)
    u = migrate.resolve_url(url)
    if _is_sqlite(u):
        raise StoreError("watchwait db grant is for a PostgreSQL store; an SQLite store is a file that only its "
                         "owner can read and write (0600 in a 0700 folder).")
    with migrate._engine_for(u) as engine, engine.connect() as conn:
        have = migrate.current(conn)
        if have is None:
            raise StoreError(f"The case store at {migrate.shown(u)} has no watchwait schema yet; run `watchwait db "
                             "upgrade` as the owner role first, then grant.")
        tables = sorted(t for t in inspect(conn).get_table_names() if t != "alembic_version")
        seqs = list(conn.execute(text("SELECT schemaname || '.' || sequencename FROM pg_sequences WHERE schemaname = "
                                      "current_schema() ORDER BY sequencename")).scalars())
        db = conn.execute(text("SELECT current_database()")).scalar()
    out = [f'GRANT CONNECT ON DATABASE "{db}" TO {role};', f"GRANT USAGE ON SCHEMA public TO {role};"]
    for t in tables:
        out += [f"REVOKE ALL ON TABLE {t} FROM {role};", f"GRANT SELECT, INSERT ON TABLE {t} TO {role};"]
        if t in LOCKED_ROWS:  # SELECT ... FOR UPDATE needs it; the append-only trigger refuses any actual UPDATE
            out.append(f"GRANT UPDATE (id) ON TABLE {t} TO {role};")
    out += [f"REVOKE ALL ON TABLE alembic_version FROM {role};", f"GRANT SELECT ON TABLE alembic_version TO {role};"]
    for s in seqs:
        out += [f"REVOKE ALL ON SEQUENCE {s} FROM {role};", f"GRANT USAGE ON SEQUENCE {s} TO {role};"]
    return out


def apply_grants(url: str | None, app_role: str) -> list[str]:
    """Run :func:`grant_statements` as the connecting role (the owner); refuses a role that does not exist or that
    owns the tables."""
    stmts = grant_statements(url, app_role)
    u = migrate.resolve_url(url)
    with migrate._engine_for(u) as engine, engine.begin() as conn:
        r = conn.execute(text("SELECT rolsuper, pg_has_role(:r, (SELECT tableowner FROM pg_tables WHERE tablename = "
                              "'audit' AND schemaname = current_schema()), 'MEMBER') FROM pg_roles WHERE rolname = :r"),
                         {"r": app_role}).first()
        if r is None:
            raise StoreError(f"There is no role {app_role} in this PostgreSQL; create it first (as the owner or an "
                             f"administrator): CREATE ROLE {app_role} LOGIN PASSWORD '...';")
        if r[0] or r[1]:
            raise StoreError(f"The role {app_role} is a superuser or owns the case store's tables, so it could switch "
                             "off the append-only triggers; the application role must be another role.")
        for s in stmts:
            conn.execute(text(s))
    return stmts


def connected_as_owner(url: str | None = None) -> bool:
    """True when the URL's role is a superuser or may act as the owner of the case store's tables (PostgreSQL);
    False on SQLite (a file: its mode protects it) and for an application role."""
    u = migrate.resolve_url(url)
    if _is_sqlite(u):
        return False
    with migrate._engine_for(u) as engine, engine.connect() as conn:
        sup = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        owns = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND "
                                 "pg_has_role(current_user, tableowner, 'MEMBER') AND tablename IN ('audit', "
                                 "'decisions', 'assessments', 'patients')")).scalar()
        return bool(sup) or owns > 0


OWNER_MESSAGE = ("The dashboard is connected to PostgreSQL as {user}, who owns the case store's tables (or is a "
                 "superuser) and so could switch off their append-only triggers. Connect as an application role "
                 "instead: create one, run `watchwait db grant --app-role NAME --apply` as the owner, and put that role "
                 "in WATCHWAIT_DATABASE_URL. (Tests only: WATCHWAIT_ALLOW_OWNER=1 allows the owner.)")


def owner_refusal(url: str | None = None) -> str | None:
    """The dashboard's start-up check: the plain message to show (and refuse to start) when it is connected to
    PostgreSQL as the tables' owner or a superuser, unless WATCHWAIT_ALLOW_OWNER=1; None when all is well."""
    if os.environ.get(ALLOW_OWNER_ENV, "").strip() == "1":
        return None
    u = migrate.resolve_url(url)
    if _is_sqlite(u) or not connected_as_owner(url):
        return None
    return OWNER_MESSAGE.format(user=u.username or "the connecting role")
