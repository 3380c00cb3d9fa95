"""End-to-end helpers: `streamlit run app.py` on a free loopback port, driven by Debian's Chromium through Playwright.

Chromium comes from Debian (`make browser` / `apt-get install -y chromium`); Playwright downloads nothing.
Screenshots go to test-artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("WATCHWAIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log_path: Path, env: dict | None = None) -> subprocess.Popen:
    """``make run``'s server (components/serve.py: app.py with security headers) on a loopback port."""
    streamlit = Path(sys.executable).with_name("streamlit")
    cmd = [str(streamlit), "run", "components/serve.py", "--server.headless", "true", "--server.address", "127.0.0.1",
           "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log_path.open("w"), stderr=subprocess.STDOUT, env=env)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy after {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def serving(folder: Path, extra_env: dict | None = None) -> Iterator[str]:
    """The app on a free loopback port, with a case store of its own in ``folder`` (a browser test never creates
    or touches the default var/watchwait.db) and ``extra_env`` (e.g. a PACS's settings); yields its URL."""
    port = free_port()
    env = {**os.environ, "WATCHWAIT_DATABASE_URL": f"sqlite:///{folder / 'watchwait.db'}", **(extra_env or {})}
    proc = start_server(port, folder / "server.log", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        stop_server(proc)
