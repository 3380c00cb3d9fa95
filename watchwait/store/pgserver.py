"""A throw-away PostgreSQL server on the loopback interface, for the store's tests and benchmark.

``initdb`` into a fresh temporary folder and ``pg_ctl start`` on a free 127.0.0.1 port. Both refuse to
run as root, so as root (as here and in CI) they run as the ``postgres`` user (``runuser -u postgres
--``) and the folder is handed to that user. The binaries come from ``WATCHWAIT_PG_BINDIR``, else the
newest ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package; ``make postgres`` installs it).
``stop()`` shuts the server down at once (no checkpoint: the data is thrown away) and removes the folder.

    with PostgresServer() as pg:
        url = pg.create_database("store_test")   # postgresql://postgres@127.0.0.1:PORT/store_test
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from watchwait.errors import WatchwaitError


class PostgresUnavailable(WatchwaitError):
    """No PostgreSQL server binaries on this machine, or the server would not start."""


def find_bindir() -> Path:
    env = os.environ.get("WATCHWAIT_PG_BINDIR")
    candidates = [Path(env)] if env else sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0), reverse=True)
    for c in candidates:
        if (c / "initdb").is_file() and (c / "pg_ctl").is_file():
            return c
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found "
        + (f"in WATCHWAIT_PG_BINDIR={env}" if env else "under /usr/lib/postgresql/*/bin")
        + "; install Debian's postgresql package (`make postgres`, or apt-get install postgresql).")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bindir: str | os.PathLike | None = None, fsync: bool = True):
        self.bindir = Path(bindir) if bindir else find_bindir()
        self.fsync = fsync
        self.port: int | None = None
        self.folder: Path | None = None
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = (["runuser", "-u", "postgres", "--"] if self._as_postgres else []) + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def start(self) -> PostgresServer:
        self.folder = Path(tempfile.mkdtemp(prefix="watchwait-pg-"))
        if self._as_postgres:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.folder, pw.pw_uid, pw.pw_gid)
        data = self.folder / "data"
        r = self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync")
        if r.returncode != 0:
            self._remove()
            raise PostgresUnavailable(f"initdb failed: {(r.stderr or r.stdout).strip()[-500:]}")
        last = ""
        for _ in range(5):
            port = _free_port()
            opts = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder} "
                    f"-c max_connections=200 -c fsync={'on' if self.fsync else 'off'}")
            r = self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "server.log"), "-w",
                          "-t", "60", "-o", opts, "start")
            if r.returncode == 0:
                self.port = port
                return self
            last = (r.stderr or r.stdout).strip()[-500:]
        log = self.folder / "server.log"
        tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
        self._remove()
        raise PostgresUnavailable(f"pg_ctl start failed: {last}\n{tail}")

    def url(self, database: str = "postgres") -> str:
        if self.port is None:
            raise PostgresUnavailable("the server is not running; call start() first.")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits and '_' only")
        with psycopg.connect(self.url().replace("postgresql://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def stop(self) -> None:
        if self.folder is None:
            return
        if self.port is not None:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
            self.port = None
        self._remove()

    def _remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
