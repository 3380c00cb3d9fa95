"""The PACS tests' Orthanc: one per test session (per xdist worker), started in < 1 s, stopped at the end.

Orthanc missing is a failure with the way to install it (`make test`), never a skip."""

from __future__ import annotations

import socket

import pytest
from orthanc_server import start_orthanc, stop_orthanc


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))  # RuntimeError (a failure) when not installed
    try:
        yield server
    finally:
        stop_orthanc(server)


@pytest.fixture(scope="session")
def config(orthanc):
    from watchwait.imaging.pacs import PacsConfig

    return PacsConfig.from_mapping(orthanc.config)


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]
