"""Fixtures of the sign-in tests: one OpenID Connect provider per test session (per xdist worker), Debian's Chromium
launched as the browser tests launch it (tests/e2e), and the logs kept in test-artifacts/oidc/ when a test failed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from harness import ROOT, oidc_logs_kept, oidc_provider  # noqa: F401  (fixtures, used by the tests here)

sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from e2e_server import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (the browser tests' launch options, one copy)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's Chromium (`make browser`)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}
