"""The deployment of deploy/GUIDE.md on loopback: Debian's nginx with the shipped site file, two app replicas started
with the shipped unit's command line and the shipped Streamlit settings, one PostgreSQL database set up as the guide
says (an owner role that ran ``watchwait db upgrade``, an application role given ``watchwait db grant --apply``).

What differs from a hospital's machine is only what a test cannot have: loopback ports instead of 80/443/8501/8502, a
self-signed certificate for 127.0.0.1 made here with ``openssl req -x509``, temporary folders instead of /etc and
/var/log, processes started by hand instead of by systemd. The site file is deploy/nginx/watchwait.conf with its
placeholders replaced (:func:`site_for_test`: each replacement must match the shipped file exactly as often as
expected, so a changed file fails here by name rather than being tested in a form nobody ships).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SHIPPED_SITE = DEPLOY / "nginx" / "watchwait.conf"
SHIPPED_CONFIG = DEPLOY / "streamlit" / "config.toml"
SHIPPED_UNIT = DEPLOY / "systemd" / "watchwait@.service"
NGINX = os.environ.get("WATCHWAIT_NGINX", "/usr/sbin/nginx")
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
HOST = "127.0.0.1"
APP_ROLE, OWNER_ROLE, DATABASE = "watchwait_app", "watchwait_owner", "watchwait"

# Loopback calls never go through a proxy set in the environment; the test certificate is self-signed.
_INSECURE = ssl.create_default_context()
_INSECURE.check_hostname = False
_INSECURE.verify_mode = ssl.CERT_NONE
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=_INSECURE))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_NO_REDIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                           urllib.request.HTTPSHandler(context=_INSECURE), _NoRedirect())


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        """Every value of header ``name`` (a header sent twice shows twice)."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


def fetch(url: str, cookies: dict[str, str] | None = None, follow: bool = False, timeout: float = 10) -> Response:
    """A GET through the proxy (certificate not checked: it is self-signed), without following redirects unless
    ``follow``; an error status is returned, not raised."""
    req = urllib.request.Request(url)
    if cookies:
        req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
    try:
        with (_OPENER if follow else _NO_REDIRECT).open(req, timeout=timeout) as r:
            return Response(r.status, list(r.headers.items()), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, list(e.headers.items()), e.read())


# ------------------------------------------------------------------------------------------------ certificate
def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (subjectAltName IP) and its key, as the guide makes a test one."""
    folder.mkdir(parents=True, exist_ok=True)
    crt, key = folder / "watchwait.crt", folder / "watchwait.key"
    r = subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
                        "-addext", f"subjectAltName=IP:{HOST}", "-keyout", str(key), "-out", str(crt)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl req failed: {r.stderr.strip()}")
    key.chmod(0o600)
    return crt, key


# ------------------------------------------------------------------------------------------------ nginx
def site_for_test(https_port: int, http_port: int, replica_ports: tuple[int, int], crt: Path, key: Path,
                  logs: Path) -> str:
    """deploy/nginx/watchwait.conf with its placeholders replaced for loopback; each replacement is checked to match
    the shipped file the expected number of times."""
    text = SHIPPED_SITE.read_text()
    a, b = replica_ports
    replacements = [  # (shipped text, test text, times it occurs in the shipped file)
        ("    listen [::]:80;\n", "", 1),
        ("    listen [::]:443 ssl http2;\n", "", 1),
        ("listen 80;", f"listen {HOST}:{http_port};", 1),
        ("listen 443 ssl http2;", f"listen {HOST}:{https_port} ssl http2;", 1),
        ("server_name watchwait.hospital.example;", f"server_name {HOST};", 2),
        ("ssl_certificate     /etc/ssl/watchwait/watchwait.crt;", f"ssl_certificate     {crt};", 1),
        ("ssl_certificate_key /etc/ssl/watchwait/watchwait.key;", f"ssl_certificate_key {key};", 1),
        ("server 127.0.0.1:8501 max_fails=0;", f"server {HOST}:{a} max_fails=0;", 1),
        ("server 127.0.0.1:8502 max_fails=0;", f"server {HOST}:{b} max_fails=0;", 1),
        (" /var/log/nginx/", f" {logs}/", 3),
    ]
    for old, new, times in replacements:
        found = text.count(old)
        if found != times:
            raise AssertionError(f"{SHIPPED_SITE.relative_to(ROOT)} changed: {old.strip()!r} occurs {found} times, "
                                 f"the test expects {times}; update tests/deploy/deploy_harness.py with it")
        text = text.replace(old, new)
    return text


def main_conf(folder: Path, site: Path) -> str:
    """An nginx.conf like Debian's /etc/nginx/nginx.conf (its http { } settings, then the site), with every path in
    ``folder``."""
    tmp = folder / "tmp"
    return f"""worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {folder}/access.log;
    gzip on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {site};
}}
"""


@dataclass
class Nginx:
    proc: subprocess.Popen
    folder: Path
    https_port: int
    http_port: int
    replica_ports: tuple[int, int]

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.https_port}"

    @property
    def access_log(self) -> Path:
        return self.folder / "logs" / "watchwait.access.log"

    def access_lines(self) -> list[str]:
        return self.access_log.read_text(errors="replace").splitlines() if self.access_log.exists() else []

    def upstream_of(self, route: str) -> int | None:
        """The replica port that last answered a (non-WebSocket) request of the browser holding route cookie
        ``route``: read from the site's access log (``route=`` and ``upstream=``; a failover lists two addresses,
        the last one answered)."""
        port = None
        for line in self.access_lines():
            if f" route={route}" in line and "/_stcore/stream" not in line:
                m = re.search(r"upstream=(.+?) us=", line)
                if m and m.group(1) != "-":
                    port = int(m.group(1).split(",")[-1].strip().rsplit(":", 1)[-1])
        return port

    def log(self) -> str:
        parts = [self.folder / "error.log", self.folder / "logs" / "watchwait.error.log", self.folder / "nginx.out"]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())


def start_nginx(folder: Path, replica_ports: tuple[int, int], https_port: int | None = None,
                timeout: float = 20.0) -> Nginx:
    """Debian's nginx (``nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'``) on two free loopback ports, after
    ``nginx -t`` accepted the configuration."""
    if not Path(NGINX).exists():
        raise RuntimeError(f"{NGINX} not found: install Debian's nginx (`make nginx`, or apt-get install nginx)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logs").mkdir(exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    crt, key = make_certificate(folder / "tls")
    https_port, http_port = https_port or free_port(), free_port()
    site = folder / "watchwait.conf"
    site.write_text(site_for_test(https_port, http_port, replica_ports, crt, key, folder / "logs"))
    conf = folder / "nginx.conf"
    conf.write_text(main_conf(folder, site))
    args = [NGINX, "-p", str(folder), "-c", str(conf)]
    check = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t refused the configuration:\n{check.stderr}")
    out = (folder / "nginx.out").open("w")
    proc = subprocess.Popen([*args, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT)
    nginx = Nginx(proc, folder, https_port, http_port, replica_ports)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with code {proc.returncode}:\n{nginx.log()}")
        try:
            with socket.create_connection((HOST, https_port), timeout=1):
                return nginx
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"nginx not listening on {https_port} after {timeout:.0f} s:\n{nginx.log()}")


# ------------------------------------------------------------------------------------------------ replicas
def unit_command(port: int) -> list[str]:
    """The shipped unit's ExecStart for replica ``port`` (%i), with /opt/watchwait read as this checkout and its
    virtualenv as the one running the tests."""
    [line] = [ln for ln in SHIPPED_UNIT.read_text().splitlines() if ln.startswith("ExecStart=")]
    venv_bin = Path(sys.executable).parent
    cmd = line.removeprefix("ExecStart=").replace("%i", str(port))
    cmd = cmd.replace("/opt/watchwait/.venv/bin/", f"{venv_bin}/").replace("/opt/watchwait/", f"{ROOT}/")
    return shlex.split(cmd)


def write_etc(folder: Path, env: dict[str, str], secrets: str | None = None) -> Path:
    """The guide's /etc/watchwait in ``folder``: .streamlit/config.toml (the shipped one), env (0640), and
    .streamlit/secrets.toml when signed in."""
    (folder / ".streamlit").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHIPPED_CONFIG, folder / ".streamlit" / "config.toml")
    (folder / "env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    (folder / "env").chmod(0o640)
    if secrets is not None:
        (folder / ".streamlit" / "secrets.toml").write_text(secrets)
        (folder / ".streamlit" / "secrets.toml").chmod(0o640)
    return folder


def read_env_file(path: Path) -> dict[str, str]:
    """systemd's EnvironmentFile= as far as the guide uses it: KEY=value lines, # comments."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


@dataclass
class Replica:
    name: str
    port: int
    etc: Path
    log_path: Path
    allowed_host: str
    proc: subprocess.Popen | None = None
    starts: int = 0
    log_now: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 90.0) -> Replica:
        """The unit's command, as user root here (no watchwait user on a test machine), in the unit's working
        folder, with its EnvironmentFile. ``server.allowedHosts`` names the test's host (the shipped file names the
        hospital's placeholder; the guide says to set it), as systemd's Environment= would."""
        return self.launch().wait_healthy(timeout)

    def launch(self) -> Replica:
        env = {**os.environ, **read_env_file(self.etc / "env"), "PYTHONUNBUFFERED": "1",
               "STREAMLIT_SERVER_ALLOWED_HOSTS": self.allowed_host,
               "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
               # the local-mode deployments of these tests are on loopback: let local mode answer through nginx
               # (components.auth.local_mode_behind_proxy refuses it everywhere else)
               "WATCHWAIT_TEST_LOCAL_MODE_BEHIND_PROXY": "1"}
        self.starts += 1
        log = self.log_path.with_name(f"{self.log_path.stem}-{self.starts}.log")
        with log.open("w") as out:
            self.proc = subprocess.Popen(unit_command(self.port), cwd=self.etc, env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        self.log_now = log
        return self

    def wait_healthy(self, timeout: float = 90.0) -> Replica:
        log = self.log_now
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited with code {self.proc.returncode}:\n"
                                   f"{log.read_text(errors='replace')}")
            try:
                with _OPENER.open(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise RuntimeError(f"replica {self.name} not healthy after {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean stop (no session is told anything)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------------ PostgreSQL
def watchwait_cli(*args: str, url: str) -> subprocess.CompletedProcess:
    """``watchwait ...`` as the IT team runs it (a process of its own)."""
    exe = Path(sys.executable).with_name("watchwait")
    return subprocess.run([str(exe), *args, "--url", url], capture_output=True, text=True, timeout=180, cwd=ROOT,
                          env={**os.environ, "WATCHWAIT_DATABASE_URL": ""})


def prepare_database(pg, database: str = DATABASE) -> tuple[str, str]:
    """The guide's database on a running ``watchwait.store.pgserver.PostgresServer``: an owner role and an application
    role (both LOGIN), a database owned by the owner, ``watchwait db upgrade`` as the owner, then ``watchwait db
    grant --app-role watchwait_app --apply``. Returns (owner URL, application URL)."""
    import psycopg

    with psycopg.connect(pg.url(), autocommit=True) as conn:
        for role in (OWNER_ROLE, APP_ROLE):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"CREATE DATABASE {database} OWNER {OWNER_ROLE} TEMPLATE template0")
        conn.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
    owner = f"postgresql://{OWNER_ROLE}@{HOST}:{pg.port}/{database}"
    app = f"postgresql://{APP_ROLE}@{HOST}:{pg.port}/{database}"
    for step in (("db", "upgrade"), ("db", "grant", "--app-role", APP_ROLE, "--apply")):
        r = watchwait_cli(*step, url=owner)
        if r.returncode != 0:
            raise RuntimeError(f"watchwait {' '.join(step)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return owner, app


# ------------------------------------------------------------------------------------------------ the whole
@dataclass
class Deployment:
    nginx: Nginx
    replicas: dict[str, Replica]
    owner_url: str
    app_url: str
    folder: Path
    notes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.nginx.url

    def replica_on(self, port: int | None) -> Replica | None:
        return next((r for r in self.replicas.values() if r.port == port), None)

    def route_to(self, name: str, tries: int = 200) -> str:
        """A value of the route cookie that nginx's consistent hash sends to replica ``name`` (probed: a request with
        the cookie, then the access log says which replica answered)."""
        want = self.replicas[name].port
        for i in range(tries):
            route = f"{name.lower()}{i:04d}"
            r = fetch(f"{self.url}/_stcore/health", cookies={"ww_route": route})
            if r.status != 200:
                raise RuntimeError(f"health through nginx answered {r.status}")
            if self.nginx.upstream_of(route) == want:
                return route
        raise RuntimeError(f"no route cookie among {tries} sent to replica {name}")

    def logs(self) -> str:
        parts = [self.nginx.log()]
        for r in self.replicas.values():
            for p in sorted(r.log_path.parent.glob(f"{r.log_path.stem}-*.log")):
                parts.append(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


@contextmanager
def deployment(folder: Path, pg, secrets=None, database: str = DATABASE) -> Iterator[Deployment]:
    """nginx + replicas A and B + the guide's PostgreSQL database ``database`` on ``pg``. ``secrets(url)`` gives the
    text of .streamlit/secrets.toml for the dashboard at ``url`` (nginx's https address), or no secrets: local mode."""
    import secrets as _secrets

    owner, app = prepare_database(pg, database)
    https_port = free_port()
    env = {"WATCHWAIT_DATABASE_URL": app, "STREAMLIT_SERVER_COOKIE_SECRET": _secrets.token_hex(32)}
    etc = write_etc(folder / "etc-watchwait", env, secrets(f"https://{HOST}:{https_port}") if secrets else None)
    ports = (free_port(), free_port())
    replicas = {name: Replica(name, port, etc, folder / f"replica-{name}", HOST)
                for name, port in zip(("A", "B"), ports)}
    nginx = None
    try:
        for r in replicas.values():
            r.launch()
        for r in replicas.values():
            r.wait_healthy()
        nginx = start_nginx(folder / "nginx", ports, https_port)
        yield Deployment(nginx, replicas, owner, app, folder)
    finally:
        for r in replicas.values():
            r.stop()
        if nginx is not None:
            stop(nginx.proc)
