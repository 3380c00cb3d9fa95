"""Every store test runs twice, unchanged: on SQLite (a temporary file) and on a real PostgreSQL server that
this session starts itself (watchwait.store.pgserver; as the postgres user when run as root). Without the
PostgreSQL binaries the tests fail (CI must run them on both): `make postgres` installs Debian's package."""

from __future__ import annotations

import itertools
import os

import pytest

from watchwait.store import Store
from watchwait.store.pgserver import PostgresServer, PostgresUnavailable

_n = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    try:
        server = PostgresServer(fsync=False).start()  # the tests kill clients, never the server
    except PostgresUnavailable as exc:
        pytest.fail(f"the store's tests run on SQLite and on PostgreSQL; PostgreSQL could not be started: {exc}",
                    pytrace=False)
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A URL of a new, empty database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_server").create_database(f"t{next(_n)}_{os.getpid()}")


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture(scope="session")
def cohort_csv():
    """Simulated cohort CSVs (bytes) by size and seed."""
    from watchwait.sim import simulate, to_csv_frame

    cache: dict[tuple[int, int], bytes] = {}

    def make(n: int, seed: int = 1) -> bytes:
        if (n, seed) not in cache:
            cache[(n, seed)] = to_csv_frame(simulate(n, seed=seed, with_oracle=False).frame).to_csv(index=False).encode()
        return cache[(n, seed)]

    return make
