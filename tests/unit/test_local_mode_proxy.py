"""Local mode behind a reverse proxy (issue 20/22): the dashboard binds loopback, so the start-up check passes, but a
reverse proxy in front serves it to the whole network with typed names. A request that came through a proxy (the
headers nginx adds) gets the refusal and nothing else; the same server answers a loopback browser as before.

The server is the real one (``components/serve.py``, local mode, no secrets), spoken to over Streamlit's own WebSocket
protocol, with and without the proxy's headers."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from components.auth import LOCAL_BEHIND_PROXY, LOCAL_BEHIND_PROXY_ENV, local_mode_behind_proxy

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("headers, refused", [
    ({"Host": "127.0.0.1:8501"}, False),
    ({"X-Forwarded-For": "10.1.2.3"}, True),
    ({"x-real-ip": "10.1.2.3"}, True),
    ({"X-Forwarded-Proto": "https"}, True),
    ({"Forwarded": "for=10.1.2.3;proto=https"}, True),
])
def test_a_request_through_a_proxy_is_refused_in_local_mode(headers, refused):
    assert local_mode_behind_proxy(headers, {}) == (LOCAL_BEHIND_PROXY if refused else None)
    assert local_mode_behind_proxy(headers, {LOCAL_BEHIND_PROXY_ENV: "1"}) is None  # the proxy's own tests
    assert local_mode_behind_proxy(headers, {LOCAL_BEHIND_PROXY_ENV: "yes"}) == (LOCAL_BEHIND_PROXY if refused else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("local_proxy") / "server.log"
    env = {k: v for k, v in __import__("os").environ.items() if k != LOCAL_BEHIND_PROXY_ENV}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("streamlit")), "run", "components/serve.py",
                             "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError(f"the dashboard did not start: {log.read_text()[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def _first_screen(url: str, headers: dict) -> tuple[list[str], list[str]]:
    """(the texts of the alerts, the keys of the widgets) of the first run a browser with ``headers`` gets."""

    async def go():
        alerts, widgets = [], []
        async with websockets.connect(url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit"],
                                      origin=url, additional_headers=headers, max_size=None) as ws:
            msg = BackMsg()
            msg.rerun_script.query_string = ""
            await ws.send(msg.SerializeToString())
            while True:
                f = ForwardMsg()
                f.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=60))
                if f.WhichOneof("type") == "script_finished":
                    return alerts, widgets
                if f.WhichOneof("type") == "delta" and f.delta.WhichOneof("type") == "new_element":
                    el = f.delta.new_element
                    kind = el.WhichOneof("type")
                    if kind == "alert":
                        alerts.append(el.alert.body)
                    elif getattr(getattr(el, kind), "id", ""):
                        widgets.append(getattr(el, kind).id.split("-", 2)[-1])

    # in a thread of its own: a pytest worker that ran Playwright's sync API before keeps an event loop running here
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def test_the_real_server_refuses_a_browser_that_came_through_a_proxy(local_server):
    alerts, widgets = _first_screen(local_server, {"X-Forwarded-For": "10.1.2.3", "X-Forwarded-Proto": "https"})
    assert alerts == [LOCAL_BEHIND_PROXY]
    assert widgets == []  # no picker, no form, no name box: nothing of the app


def test_the_same_server_answers_a_loopback_browser_as_before(local_server):
    alerts, widgets = _first_screen(local_server, {})
    assert LOCAL_BEHIND_PROXY not in alerts
    assert "sample_choice" in widgets and "field:patient:patient_id" in widgets
