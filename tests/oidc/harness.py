"""A real OpenID Connect provider on loopback for the sign-in tests, and a Streamlit app signed in through it.

The provider is tests/oidc/provider/provider.mjs: the npm package ``oidc-provider`` (installed by ``make oidc``, which
``make test`` runs) on Node, with the users of tests/oidc/provider/users.json, devInteractions' login form (login = the
user's id, any password) and no consent screen. Each app gets a client of its own, registered at the provider's
``/reg`` once the app's port (hence its ``/oauth2callback``) is known.

The app's ``[auth]`` goes into a ``secrets.toml`` in a temporary folder, passed to Streamlit with ``--secrets.files``:
the repository's own ``.streamlit/`` is never written.

Missing Node or the provider's packages is a failure naming the way to install them (``make oidc``), never a skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROVIDER_DIR = HERE / "provider"
ARTIFACTS = ROOT / "test-artifacts" / "oidc"
USERS: dict[str, dict] = json.loads((PROVIDER_DIR / "users.json").read_text())
NODE = os.environ.get("WATCHWAIT_NODE", "node")
GROUPS_SCOPE = "openid email profile groups"  # `groups` (the roles) is a scope of its own, as with Okta or Keycloak


# Loopback calls never go through a proxy set in the environment (urllib here; httpx, Authlib's client, in the app).
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _no_proxy_env() -> dict:
    hosts = ",".join(h for h in (os.environ.get("NO_PROXY", ""), "127.0.0.1,localhost") if h)
    return {"NO_PROXY": hosts, "no_proxy": hosts}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post_json(url: str, body: dict, token: str) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with _LOOPBACK.open(req, timeout=10) as r:
        return json.loads(r.read())


@dataclass
class Provider:
    """A running provider: its issuer URL, its identity-token lifetime and its log."""

    proc: subprocess.Popen
    issuer: str
    id_token_ttl: int
    log_path: Path
    registration_token: str = field(repr=False)
    log_file: object = field(default=None, repr=False)

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def register_client(self, redirect_uri: str) -> tuple[str, str]:
        """A new confidential client whose redirect URI (and post-logout redirect URI: st.logout sends the app's
        ``/oauth2callback``) is ``redirect_uri``; returns its id and secret."""
        reply = _post_json(f"{self.issuer}/reg", {
            "redirect_uris": [redirect_uri], "post_logout_redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code"], "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic", "client_name": "watchwait test app",
        }, self.registration_token)
        return reply["client_id"], reply["client_secret"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _check_installed() -> None:
    missing = [m for m in ("authlib", "httpx") if importlib.util.find_spec(m) is None]
    if missing:  # st.login would only show an error page in the browser
        raise RuntimeError(f"st.login needs {' and '.join(missing)} in the venv: pyproject.toml's streamlit[auth] "
                           "(make install), or `.venv/bin/pip install 'streamlit[auth]==1.67.*'`")
    if shutil.which(NODE) is None:
        raise RuntimeError("Node.js not found: the sign-in tests need it for their OpenID Connect provider "
                           "(`make oidc`, or `apt-get install nodejs npm` then `make oidc`)")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(f"{PROVIDER_DIR}/node_modules is missing: run `make oidc` (npm ci in that folder)")


def start_provider(folder: Path, id_token_ttl: int = 600, timeout: float = 20.0, args: tuple[str, ...] = ()) -> Provider:
    """provider.mjs on a free loopback port (it picks the port itself: no race), its log in ``folder``; ``args``
    are more of its options (e.g. a client of its own: ``--client-id``, ``--client-secret``, ``--redirect-uri``)."""
    _check_installed()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "provider.log"
    token = secrets.token_urlsafe(24)
    env = {**os.environ, "REGISTRATION_TOKEN": token, "NODE_NO_WARNINGS": "1"}
    log = log_path.open("w")
    proc = subprocess.Popen([NODE, "provider.mjs", "--port", "0", "--id-token-ttl", str(id_token_ttl), *args],
                            cwd=PROVIDER_DIR, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    # The first line on stdout says where it listens; read it in a thread so a silent provider cannot hang us.
    first: list[str] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not first or not first[0].strip():
        proc.kill()
        proc.wait()
        log.close()
        raise RuntimeError(f"the OpenID Connect provider did not start:\n{log_path.read_text(errors='replace')}")
    ready = json.loads(first[0])
    # Its later stdout (nothing expected) goes to the log, so the pipe never fills.
    threading.Thread(target=lambda: [log.write(line) for line in proc.stdout], daemon=True).start()
    provider = Provider(proc, ready["issuer"], int(ready["id_token_ttl"]), log_path, token, log)
    try:
        with _LOOPBACK.open(provider.metadata_url, timeout=5) as r:
            issuer = json.loads(r.read())["issuer"]
        if issuer != provider.issuer:
            raise RuntimeError(f"the provider's metadata names {issuer}, not {provider.issuer}")
    except BaseException:
        stop_provider(provider)
        raise
    return provider


def stop_provider(provider: Provider) -> None:
    _stop(provider.proc)
    if provider.log_file is not None:
        provider.log_file.close()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def auth_section(provider: Provider, app_url: str, scope: str | None = GROUPS_SCOPE, **extra) -> dict:
    """The ``[auth]`` of an app at ``app_url`` signing in through ``provider``, with a client registered for it.
    ``scope`` goes in ``client_kwargs`` (None: Streamlit's default, "openid email profile", which has no groups)."""
    redirect_uri = f"{app_url}/oauth2callback"
    client_id, client_secret = provider.register_client(redirect_uri)
    auth = {"redirect_uri": redirect_uri, "cookie_secret": secrets.token_urlsafe(32), "client_id": client_id,
            "client_secret": client_secret, "server_metadata_url": provider.metadata_url}
    if scope is not None:
        auth["client_kwargs"] = {"scope": scope}
    return {**auth, **extra}


def _toml_value(v) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))  # a TOML basic string is a JSON string for these values (no control characters)


def _toml_section(name: str, values: dict) -> str:
    """``[name]`` with its plain keys, then a ``[name.sub]`` table per dict value (e.g. ``[watchwait_auth.roles]``)."""
    plain = "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items() if not isinstance(v, dict))
    tables = "".join(_toml_section(f"{name}.{k}", v) for k, v in values.items() if isinstance(v, dict))
    return f"[{name}]\n{plain}{tables}"


def write_secrets(folder: Path, auth: dict, sections: dict | None = None) -> Path:
    """``folder/.streamlit/secrets.toml`` with ``[auth]`` (and more ``sections``, e.g. ``{"watchwait_auth": {...}}``);
    never inside the repository."""
    folder = folder.resolve()
    if folder == ROOT or ROOT in folder.parents:
        raise ValueError(f"secrets.toml belongs in a temporary folder, not in the repository ({folder})")
    path = folder / ".streamlit" / "secrets.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "[auth]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in auth.items())
    text += "".join(_toml_section(name, values) for name, values in (sections or {}).items())
    path.write_text(text)
    path.chmod(0o600)
    return path


@dataclass
class App:
    url: str
    proc: subprocess.Popen
    log_path: Path
    auth: dict = field(repr=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with _LOOPBACK.open(f"{url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy after {timeout:.0f} s")


@contextmanager
def serving_app(script: Path, folder: Path, provider: Provider, scope: str | None = GROUPS_SCOPE,
                extra_env: dict | None = None, cwd: Path | None = None, sections: dict | None = None,
                **auth_extra) -> Iterator[App]:
    """``streamlit run script`` on a free loopback port, signing in through ``provider``: a client registered for
    it, its ``[auth]`` (and ``sections``) in ``folder/.streamlit/secrets.toml`` (``--secrets.files``), its log in
    ``folder``. ``cwd`` defaults to ``folder`` (so no repository config is read); the dashboard runs with
    cwd=ROOT."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    auth = auth_section(provider, url, scope=scope, **auth_extra)
    secrets_path = write_secrets(folder, auth, sections)
    log_path = folder / "app.log"
    cmd = [str(Path(sys.executable).with_name("streamlit")), "run", str(script), "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--secrets.files", str(secrets_path)]
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, cwd=cwd or folder, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **_no_proxy_env(), **(extra_env or {})})
        try:
            wait_healthy(url, proc, log_path)
            yield App(url, proc, log_path, auth)
        finally:
            _stop(proc)


def keep_log(path: Path, name: str) -> Path | None:
    """Copy a log into test-artifacts/oidc/ (a failed run's evidence)."""
    if not path.exists():
        return None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    dest = ARTIFACTS / f"{name}-{worker}.log"
    shutil.copyfile(path, dest)
    return dest


# Fixtures: a conftest.py uses them by importing them (tests/oidc/conftest.py does; a browser test elsewhere can put
# tests/oidc on sys.path and do the same).

@pytest.fixture(scope="session")
def oidc_provider(request, tmp_path_factory):
    """The provider, started once per test session (per xdist worker) and stopped at its end; its log goes to
    test-artifacts/oidc/ when a test of the session failed."""
    provider = start_provider(tmp_path_factory.mktemp("oidc-provider"))
    try:
        yield provider
    finally:
        stop_provider(provider)
        if request.session.testsfailed:
            keep_log(provider.log_path, "provider")


@pytest.fixture
def oidc_logs_kept(request, tmp_path):
    """``tmp_path``, whose ``*.log`` files (a provider or an app started in the test) go to test-artifacts/oidc/
    when the test failed."""
    failed_before = request.session.testsfailed
    yield tmp_path
    if request.session.testsfailed > failed_before:
        for log in sorted(tmp_path.rglob("*.log")):
            keep_log(log, f"{request.node.name}-{log.parent.name}-{log.stem}".replace("/", "_"))
