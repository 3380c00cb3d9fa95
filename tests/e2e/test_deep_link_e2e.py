"""A bookmark opened first after the server starts (a restart overnight, then the MDT's link to a screen): the screen
opens through app.py, with its navigation and the patient the link names. Streamlit 1.67 would otherwise treat the
pages/ folder as its old multipage mode until some request had run app.py, and run pages/assessment.py alone
(components/serve.use_app_navigation; components/layout.header for `streamlit run app.py`)."""

from __future__ import annotations

import os
import sys
import subprocess
from pathlib import Path

import pytest
from e2e_server import ROOT, free_port, stop_server, wait_healthy
from playwright.sync_api import Page, expect
from st_helpers import T, settle

SERVERS = {
    "make run (components/serve.py)": "components/serve.py",
    "streamlit run app.py": "app.py",
}


@pytest.mark.parametrize("script", list(SERVERS.values()), ids=list(SERVERS))
def test_the_first_request_after_a_start_is_a_deep_link(page: Page, script, tmp_path):
    port = free_port()
    streamlit = Path(sys.executable).with_name("streamlit")
    env = {**os.environ, "WATCHWAIT_DATABASE_URL": f"sqlite:///{tmp_path / 'watchwait.db'}"}
    proc = subprocess.Popen([str(streamlit), "run", script, "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, stdout=(tmp_path / "log").open("w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        page.goto(f"{url}/assessment?patient=DEMO-05")  # the very first request this server answers
        expect(page.get_by_role("heading", name="Assessment").first).to_be_visible(timeout=T)
        settle(page)
        expect(page.get_by_test_id("ww-facts")).to_contain_text("DEMO-05", timeout=T)
        expect(page.get_by_test_id("stMetricValue").first).to_be_visible(timeout=T)
        # the app's own navigation (titles), not the folder's file names
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav.get_by_role("link", name="About the model")).to_be_visible(timeout=T)
        expect(nav.get_by_role("link", name="about model")).to_have_count(0)
        assert "Traceback" not in page.content()
        page.goto(f"{url}/meeting")  # a second screen by its link
        expect(page.get_by_role("heading", name="Meeting").first).to_be_visible(timeout=T)
    finally:
        stop_server(proc)
    log = (tmp_path / "log").read_text(encoding="utf-8")
    assert "Traceback" not in log and "Uncaught app execution" not in log, log[-3000:]
