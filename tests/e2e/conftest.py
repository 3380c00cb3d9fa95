"""Fixtures of the browser tests: the server, Debian's Chromium for pytest-playwright, the screenshot folder."""

import shutil
from pathlib import Path

import pytest

from e2e_server import CHROMIUM, CHROMIUM_ARGS, SHOTS, serving
from st_helpers import WATCH_RUNS


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with serving(tmp_path_factory.mktemp("streamlit")) as url:  # a case store of its own, in that folder
        yield url


WIDTH, HEIGHT = 1920, 1080  # the MDT's shared screen


@pytest.fixture
def wide(browser):
    """A page of its own at the shared screen's size (1920 x 1080)."""
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's Chromium (`make browser`)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser(browser):
    """pytest-playwright's browser, whose every new context (the `page` fixture's, `wide`, a test's own) runs
    st_helpers.WATCH_RUNS in each page first: settle() then knows when the run an action asked for has ended."""
    new_context = browser.new_context

    def watching(*args, **kwargs):
        context = new_context(*args, **kwargs)
        context.add_init_script(WATCH_RUNS)
        return context

    browser.new_context = watching
    yield browser


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1600, "height": 1000}}


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
