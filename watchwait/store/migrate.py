"""The database URL, the engine, and the schema's Alembic revisions (run programmatically).

:func:`resolve_url`: the URL argument, else ``WATCHWAIT_DATABASE_URL``, else the SQLite file
``var/watchwait.db`` under the current folder. ``postgresql://`` (or ``postgres://``) means psycopg 3; a
value without ``://`` is a path to an SQLite file.

SQLite connections run in WAL mode with foreign keys on and a busy timeout; a write transaction starts
with ``BEGIN IMMEDIATE`` (:func:`write_connection`) so concurrent writers queue for the lock instead of
failing half-way. PostgreSQL writers lock the rows they extend (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

import os
import re
import threading
from collections import deque
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from watchwait.store.entities import StoreSchemaError
from watchwait.store.identity import require

ENV_VAR = "WATCHWAIT_DATABASE_URL"
DEFAULT_PATH = Path("var") / "watchwait.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_S = 60
UPGRADE_COMMAND = "watchwait db upgrade"


class FairLock:
    """A lock granted in the order it was asked for (threading.Lock may hand it to the same thread again and
    again, starving a writer for seconds)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._queue: deque = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        me = object()
        with self._cond:
            self._queue.append(me)
            if self._cond.wait_for(lambda: not self._held and self._queue[0] is me, timeout):
                self._queue.popleft()
                self._held = True
                return True
            self._queue.remove(me)
            self._cond.notify_all()
            return False

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()


def resolve_url(url: str | None = None) -> URL:
    raw = url if url is not None else os.environ.get(ENV_VAR) or None
    if raw is None:
        path = Path.cwd() / DEFAULT_PATH
        _private_folder(path.parent)
        return make_url(f"sqlite:///{path}")
    raw = str(raw).strip()
    if "://" not in raw:
        path = Path(raw).expanduser().resolve()
        if path.is_dir():
            raise StoreSchemaError(f"The database path {path} is a folder; give the SQLite file (e.g. {path / 'watchwait.db'}).")
        _private_folder(path.parent)
        return make_url(f"sqlite:///{path}")
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise StoreSchemaError("The database URL is not a URL watchwait can read; use sqlite:///path/to/file.db or "
                               "postgresql://user@host:port/database.") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_folder(Path(parsed.database).expanduser().resolve().parent)
        return parsed.set(drivername="sqlite")
    raise StoreSchemaError(f"The database URL names {backend!r}; watchwait stores cases in SQLite (sqlite:///file.db) "
                           "or PostgreSQL (postgresql://...).")


def _private_folder(folder: Path) -> None:
    """A folder made here for the store is 0700 (an existing folder is left as it is)."""
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)


def private_file(path: Path) -> None:
    """The SQLite file (and its -wal/-shm, which SQLite creates with the file's mode) is 0600: created so when new,
    narrowed to 0600 when an existing file of ours is readable by others."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        return
    except FileExistsError:
        pass
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            st = p.stat()
            if st.st_mode & 0o077 and st.st_uid == os.geteuid():
                os.chmod(p, 0o600)
        except OSError:
            pass


def shown(url: URL) -> str:
    """The URL for messages, password hidden."""
    return url.render_as_string(hide_password=True)


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            raise StoreSchemaError("An in-memory SQLite database cannot be shared between connections; give a file "
                                   "(sqlite:///path/to/file.db).")
        private_file(Path(url.database).expanduser().resolve())
        engine = create_engine(url, pool_size=5, max_overflow=60, pool_timeout=BUSY_TIMEOUT_S,
                               connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # the driver issues no BEGIN of its own; "begin" below does
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("watchwait_write") else "BEGIN")

        # writers of this process queue on a lock (first come, first served) before BEGIN IMMEDIATE: SQLite's
        # busy handler would have them poll with growing sleeps; other processes still meet the busy timeout
        engine.watchwait_write_lock = FairLock()
        return engine
    return create_engine(url, pool_size=5, max_overflow=40, pool_timeout=BUSY_TIMEOUT_S, pool_pre_ping=True)


@contextmanager
def write_connection(engine: Engine):
    """One write transaction: committed when the block ends, rolled back (nothing left) when it raises."""
    lock = getattr(engine, "watchwait_write_lock", None)
    if lock is not None:
        if not lock.acquire(timeout=BUSY_TIMEOUT_S):
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked (busy in this process)"))
        try:
            with engine.connect() as conn:
                conn.execution_options(watchwait_write=True)
                with conn.begin():
                    yield conn
        finally:
            lock.release()
        return
    with engine.connect() as conn:
        conn.execution_options(watchwait_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{BUSY_TIMEOUT_S}s'")
            yield conn


def _config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def known_revisions() -> list[str]:
    """Revision ids from the first to the head."""
    script = ScriptDirectory.from_config(_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _lock(conn: Connection) -> None:
    """Serialise schema changes between processes (SQLite: BEGIN IMMEDIATE already holds the write lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(74327001)"))


def check_or_create(engine: Engine, url: URL) -> str:
    """Create the schema on an empty database; refuse one at another revision. Returns the revision."""
    want = head()
    with engine.connect() as conn:
        have = current(conn)
        conn.rollback()
    if have == want:
        return want
    if have is None:
        with write_connection(engine) as conn:
            _lock(conn)
            have = current(conn)
            if have is None:
                foreign = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
                if foreign:
                    raise StoreSchemaError(
                        f"The database {shown(url)} holds tables that are not watchwait's ({', '.join(sorted(foreign)[:5])}) "
                        "and no watchwait schema revision; give watchwait an empty database of its own.")
                command.upgrade(_config(conn), "head")
                return want
    if have == want:
        return want
    raise schema_mismatch(url, have, want)


def schema_mismatch(url: URL, have: str, want: str) -> StoreSchemaError:
    if have in known_revisions():
        return StoreSchemaError(
            f"The case store at {shown(url)} has schema revision {have}; this watchwait needs {want}. "
            f"Back up the database, then run `{UPGRADE_COMMAND}` to bring it to {want}.")
    return StoreSchemaError(
        f"The case store at {shown(url)} has schema revision {have}, which this watchwait does not know (its newest is "
        f"{want}): this database was written by a newer watchwait. Run that newer watchwait, or give this one another "
        "database.")


def unreachable(url: URL, exc: OperationalError) -> StoreSchemaError:
    first = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
    return StoreSchemaError(f"Cannot open the case store at {shown(url)}: {first}")


@contextmanager
def _engine_for(url: URL):
    engine = make_engine(url)
    try:
        yield engine
    except OperationalError as exc:
        raise unreachable(url, exc) from None
    finally:
        engine.dispose()


def upgrade(url: str | None = None, revision: str = "head", *, actor: object = None) -> tuple[str | None, str | None]:
    """Upgrade the schema; returns (revision before, revision after). ``actor``: a
    :class:`~watchwait.store.identity.Person` needs the ``administer_db`` permission (None or a str: not checked)."""
    require(actor, "administer_db")
    u = resolve_url(url)
    with _engine_for(u) as engine, write_connection(engine) as conn:
        _lock(conn)
        before = current(conn)
        if before is not None and before not in known_revisions():
            raise schema_mismatch(u, before, head())
        command.upgrade(_config(conn), revision)
        return before, current(conn)


def downgrade(url: str | None, revision: str, *, actor: object = None) -> tuple[str | None, str | None]:
    """Downgrade the schema to ``revision`` ("base" removes every table); returns (before, after). ``actor`` as in
    :func:`upgrade`."""
    require(actor, "administer_db")
    u = resolve_url(url)
    check_revision_arg(revision)
    with _engine_for(u) as engine, write_connection(engine) as conn:
        _lock(conn)
        before = current(conn)
        if before is not None and before not in known_revisions():
            raise schema_mismatch(u, before, head())
        if before is None:
            raise StoreSchemaError(f"The case store at {shown(u)} has no watchwait schema; there is nothing to downgrade.")
        command.downgrade(_config(conn), revision)
        return before, current(conn)


def check_revision_arg(revision: str) -> None:
    if revision not in ("base", *known_revisions()) and not re.fullmatch(r"-[1-9][0-9]?", revision):
        raise StoreSchemaError(f"Unknown schema revision {revision!r}; give one of base, "
                               f"{', '.join(known_revisions())}, or -1 for one step back.")


def revision_of(url: str | None = None) -> tuple[str | None, str]:
    """(the database's revision, this watchwait's head)."""
    u = resolve_url(url)
    with _engine_for(u) as engine, engine.connect() as conn:
        return current(conn), head()
