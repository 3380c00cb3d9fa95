"""Intranet defaults (issue 10, item 10): loopback only, no usage statistics, no external IP lookup at start-up, a
favicon served by the app itself, and `make run` serving the app through the security-header middleware.
(The headers themselves, and that no page load calls an outside host: tests/e2e/test_patient_safety_e2e.py.)"""

from __future__ import annotations

import ast
import re
import tomllib

from apptest_helpers import ROOT


def _config() -> dict:
    return tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


def test_config_binds_loopback_and_sends_no_usage_statistics():
    cfg = _config()
    assert cfg["server"]["address"] == "127.0.0.1"
    assert cfg["browser"]["gatherUsageStats"] is False


def test_errors_show_no_details_and_no_links_to_outside_sites():
    """An error shows neither its text (it may hold a patient's values) nor Streamlit's links that would send it to
    Google or ChatGPT (their default, "auto", shows them on localhost, where a surgeon's own server runs)."""
    from streamlit import config

    cfg = _config()
    assert cfg["client"]["showErrorDetails"] == "none" and cfg["client"]["showErrorLinks"] is False
    assert "client.showErrorLinks" in config.get_config_options()  # an option this Streamlit knows (a typo is ignored)


def test_make_run_serves_the_app_with_headers_on_loopback():
    make = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*\n\t(.+)$", make, re.M).group(1)
    assert "streamlit run components/serve.py" in recipe
    assert "--server.address 127.0.0.1" in recipe and "--browser.gatherUsageStats false" in recipe


def test_no_external_ip_lookup_at_start_up(monkeypatch):
    """With the project's config (an address set), Streamlit's start-up banner never asks checkip.amazonaws.com."""
    from streamlit import config, net_util
    from streamlit.web import bootstrap

    monkeypatch.chdir(ROOT)
    config.get_config_options(force_reparse=True)
    calls = []
    monkeypatch.setattr(net_util, "get_external_ip", lambda: calls.append("lookup") or None)
    try:
        assert config.is_manually_set("server.address")
        bootstrap._print_url(False)
    finally:
        config.get_config_options(force_reparse=True)
    assert calls == []


def test_the_favicon_is_a_local_file():
    tree = ast.parse((ROOT / "app.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "set_page_config")
    icon = next(k.value for k in call.keywords if k.arg == "page_icon")
    assert isinstance(icon, ast.Name) and icon.id == "FAVICON"  # not a material icon or emoji (fetched from a font host)
    assert (ROOT / "components" / "favicon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_security_headers_middleware_adds_every_header():
    import asyncio

    from components.serve import HEADERS, SecurityHeaders

    sent = []

    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-frame-options", b"SAMEORIGIN")]})
        await send({"type": "http.response.body", "body": b""})

    async def send(message):
        sent.append(message)

    # in a thread of its own: a browser test run earlier in this worker may leave Playwright's loop running here
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, SecurityHeaders(inner)({"type": "http"}, None, send)).result()
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    assert headers == HEADERS  # every header, and the app's own weaker value replaced
    assert headers["x-frame-options"] == "DENY"


def test_no_full_garbage_collection_after_every_rerun_in_either_config():
    """runner.postScriptGC off in make run's and in production's settings: Streamlit's gc.collect(2) after every rerun
    was two thirds of the server's CPU per click (benchmarks/bench_load.py; README, "Load")."""
    for path in (ROOT / ".streamlit" / "config.toml", ROOT / "deploy" / "streamlit" / "config.toml"):
        assert tomllib.loads(path.read_text())["runner"]["postScriptGC"] is False, path
