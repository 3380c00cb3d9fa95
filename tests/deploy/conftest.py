"""Fixtures of the deployment tests: one PostgreSQL server and one deployment of deploy/ (nginx + replicas A and B)
per test session (per xdist worker; the tests of this folder stay on one worker), and Debian's Chromium launched as
the browser tests launch it (tests/e2e), each context watching its runs (st_helpers.WATCH_RUNS) and accepting the
self-signed certificate."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from deploy_harness import ROOT, deployment

sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from e2e_server import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (the browser tests' launch options, one copy)
from st_helpers import WATCH_RUNS  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts" / "deploy"


@pytest.fixture(scope="session")
def pg_server():
    from watchwait.store.pgserver import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer(fsync=False).start()
    except PostgresUnavailable as exc:
        pytest.fail(f"the deployment runs on PostgreSQL; it could not be started: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def deployed(request, pg_server, tmp_path_factory):
    """nginx (deploy/nginx/watchwait.conf) in front of replicas A and B (deploy/systemd's command line, deploy/streamlit's
    settings), one PostgreSQL database with an owner and an application role. The logs go to test-artifacts/deploy/
    when a test failed."""
    folder = tmp_path_factory.mktemp("deploy")
    with deployment(folder, pg_server) as dep:
        try:
            yield dep
        finally:
            if request.session.testsfailed:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                (ARTIFACTS / "deployment.log").write_text(dep.logs())
                if dep.nginx.access_log.exists():
                    shutil.copyfile(dep.nginx.access_log, ARTIFACTS / "access.log")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's Chromium (`make browser`)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser(browser):
    """pytest-playwright's browser, whose every new context watches its runs (settle() needs it) and accepts the
    test's self-signed certificate."""
    new_context = browser.new_context

    def watching(*args, **kwargs):
        context = new_context(*args, **{"ignore_https_errors": True, **kwargs})
        context.add_init_script(WATCH_RUNS)
        return context

    browser.new_context = watching
    yield browser
