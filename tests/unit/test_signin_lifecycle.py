"""The sign-in's lifecycle (issue 20), below the browser: components/auth.py's rules (when a sign-in ends, how often
the timer looks, what a deep link may keep, what the sign-in screen says), app.py's gate in AppTest (a signed-in
session through ``AppTest.user``/``AppTest.secrets``, the way Streamlit 1.67 supports), the local-mode banner, and
the real server refusing local mode beyond loopback (a ``streamlit run`` subprocess, exit code 2).

tests/oidc/test_signin_screens.py does the same through the real provider and Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from components import auth

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "app"))
import apptest_helpers  # noqa: E402,F401  (AppTest runs app.py on every rerun, as the server does)
TIMEOUT = 90
SECRETS = {"auth": {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
                    "client_id": "watchwait", "client_secret": "not-a-secret",
                    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"},
           "watchwait_auth": {"idle_minutes": 15, "roles": {"chair": ["mdt-chair"], "viewer": ["mdt-viewer"]}}}
PAGES = {p.stem for p in (ROOT / "pages").glob("*.py")}


# ----------------------------------------------------------------------------- when a sign-in ends

def test_due_expiry_before_idle_and_neither_while_active():
    now = 1_000_000.0
    assert auth.due(now, now - 10, 900, now + 60) is None
    assert auth.due(now, now - 900, 900, now + 60) == "idle"  # exactly the limit: out
    assert auth.due(now, now - 899.9, 900, now + 60) is None
    assert auth.due(now, now - 10, 900, now) == "expired"  # exp is the first second it is no longer valid
    assert auth.due(now, now - 5000, 900, now - 1) == "expired"  # both: the token's end is said
    assert auth.due(now, None, 900, None) is None  # a new session with no exp claim
    assert auth.due(now, now - 10, 900, "soon") is None  # a malformed exp is no expiry (Streamlit checked the token)
    assert auth.due(now, now - 10, 900, True) is None


def test_the_timer_looks_every_tenth_of_the_idle_limit_within_one_and_thirty_seconds():
    assert auth.timer_seconds(15 * 60, None) == 30.0
    assert auth.timer_seconds(60, None) == 6.0
    assert auth.timer_seconds(5, None) == 1.0
    assert auth.timer_seconds(15 * 60, 12.5) == 12.5  # no later than the token's expiry
    assert auth.timer_seconds(15 * 60, -3) == 1.0


def test_the_sign_in_screen_says_why_in_words():
    assert auth.why_text("idle") == "You were signed out after 15 minutes without activity."
    assert auth.why_text("idle", 1) == "You were signed out after 1 minute without activity."
    assert auth.why_text("idle", 0.2) == "You were signed out after 12 seconds without activity."
    assert auth.why_text("idle", 2.5) == "You were signed out after 2.5 minutes without activity."
    assert auth.why_text("expired") == ("Your sign-in expired: the identity provider's sign-in ended. Sign in again to "
                                        "go on.")
    assert auth.why_text("signed_out") == "You signed out."
    assert auth.why_text("<b>forged</b>") is None and auth.why_text(None) is None


def test_a_browser_is_named_by_a_hash_of_its_cookie_never_the_cookie():
    key = auth.browser_key("2|1:0|10:1733|15:_streamlit_user|secret-claims")
    assert len(key) == 32 and "secret" not in key
    assert key == auth.browser_key("2|1:0|10:1733|15:_streamlit_user|secret-claims")
    assert auth.browser_key("") is None and auth.browser_key(None) is None


def test_a_sign_out_nobody_noted_is_the_persons_own_and_a_noted_one_is_said_once():
    assert auth.take_why(None) == "signed_out"
    key = auth.browser_key(f"cookie-{time.monotonic_ns()}")
    with auth._lock:
        auth._why[key] = "idle"
        auth._last_active[key] = time.time()
    assert not auth.ended(key)
    assert auth.take_why(key) == "idle"
    assert key not in auth._last_active
    assert auth.ended(key)  # other tabs of this browser sign out at their next look
    assert auth.take_why(key) == "signed_out"
    assert not auth.ended(None)


# ----------------------------------------------------------------------------- deep links kept across the sign-in

@pytest.mark.parametrize("path, query, kept", [
    ("/cases", "stored=DEMO-01&version=1", "/cases?stored=DEMO-01&version=1"),
    ("/meeting", "meeting=1&case=2", "/meeting?meeting=1&case=2"),
    ("/", "patient=DEMO-05", "/?patient=DEMO-05"),
    ("/meeting", "", "/meeting"),
    ("/", "", None),  # the root with nothing to keep
    ("/meeting", "meeting=1&next=https://evil.example/&x=1", "/meeting?meeting=1"),  # unknown keys dropped
    ("/meeting", "case=2&meeting=1", "/meeting?meeting=1&case=2"),  # the known keys, in one order
    ("/admin", "meeting=1", None),  # not a page of the app
    ("//evil.example/cases", "stored=A", None),
    ("/_stcore/health", "", None),
    ("/cases", "stored=" + "A" * 101, "/cases"),  # a value longer than 100 characters is not kept
    ("/cases", "stored=%3Cscript%3E", "/cases?stored=%3Cscript%3E"),  # kept encoded; the screen checks the id
])
def test_a_deep_link_keeps_only_a_page_of_the_app_and_its_known_keys(path, query, kept):
    assert auth.deep_link_target(path, query, PAGES) == kept


def test_a_deep_link_under_a_base_path_stays_under_it():
    assert auth.deep_link_target("/ww/cases", "stored=D", PAGES, "ww") == "/ww/cases?stored=D"
    assert auth.deep_link_target("/ww/", "meeting=1", PAGES, "/ww/") == "/ww/?meeting=1"
    assert auth.deep_link_target("/other/cases", "stored=D", PAGES, "ww") is None


def test_the_kept_link_is_signed_and_short_lived():
    signed = auth.sign_value("/cases?stored=DEMO-01&version=1", now=1000)
    assert auth.unsign_value(signed, now=1000 + 599) == "/cases?stored=DEMO-01&version=1"
    assert auth.unsign_value(signed, now=1000 + 601) is None  # older than 10 minutes
    assert auth.unsign_value(signed, now=999) is None  # from the future
    mac, stamp, value = signed.split(".", 2)
    assert auth.unsign_value(f"{mac}.{stamp}.%2Fmeeting", now=1000) is None  # another link, same signature
    assert auth.unsign_value("0" * 32 + f".{stamp}.{value}", now=1000) is None
    assert auth.unsign_value("garbage", now=1000) is None and auth.unsign_value(None) is None
    assert ";" not in signed and "," not in signed and " " not in signed  # a cookie value as it is


# ----------------------------------------------------------------------------- loopback

@pytest.mark.parametrize("address, ok", [
    ("127.0.0.1", True), ("127.0.1.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST", True), ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("", False), (None, False),
    ("mdt.hospital.example", False),
])
def test_only_loopback_is_loopback(address, ok):
    assert auth.is_loopback(address) is ok
    assert (auth.local_mode_refusal(address) is None) is ok


def _serve(args: list[str], cwd: Path, timeout: float = 60) -> tuple[int | None, str]:
    """``streamlit run components/serve.py`` (what ``make run`` does) with these options; the exit code, or None if
    it is still serving (then its health is checked and it is stopped), and what it printed."""
    port = auth_free_port()
    log = cwd / f"serve-{port}.log"
    env = {k: v for k, v in os.environ.items() if k != "WATCHWAIT_DATABASE_URL"}
    # On a wildcard or unset address, Streamlit (headless) asks checkip.amazonaws.com for the machine's external
    # address before the app is imported: a closed loopback port as the proxy keeps that request on this machine.
    closed = "http://127.0.0.1:9"
    env.update(HTTP_PROXY=closed, HTTPS_PROXY=closed, http_proxy=closed, https_proxy=closed,
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    cmd = [str(Path(sys.executable).with_name("streamlit")), "run", str(ROOT / "components" / "serve.py"),
           "--server.headless", "true", "--server.port", str(port), "--browser.gatherUsageStats", "false", *args]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    return proc.returncode, log.read_text()
                try:
                    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                    with opener.open(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                        if r.status == 200:
                            return None, log.read_text()
                except OSError:
                    time.sleep(0.2)
            raise AssertionError(f"neither serving nor stopped after {timeout} s:\n{log.read_text()}")
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)


def auth_free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_mode_refuses_to_start_on_all_interfaces(tmp_path):
    code, out = _serve(["--server.address", "0.0.0.0"], tmp_path)
    assert code == 2, out[-2000:]
    assert ("watchwait: the dashboard did not start. Without sign-in (no [auth] section in .streamlit/secrets.toml) "
            "it is in local mode, for one person on this computer: nobody is signed in and decisions carry a typed "
            "name. But server.address is '0.0.0.0', which other computers can reach. Either start it on loopback "
            "(--server.address 127.0.0.1, as `make run` does), or configure sign-in through the hospital's identity "
            "provider ([auth] and [watchwait_auth] in .streamlit/secrets.toml; README, \"Sign-in and roles\").") in out
    assert "Traceback" not in out


def test_local_mode_refuses_to_start_with_no_address_set(tmp_path):
    """No --server.address and no config (this folder has none): Streamlit listens on every interface."""
    code, out = _serve([], tmp_path)
    assert code == 2, out[-2000:]
    assert "But server.address is not set, which means every network interface." in out
    assert "Traceback" not in out


def test_local_mode_starts_on_loopback(tmp_path):
    code, out = _serve(["--server.address", "127.0.0.1"], tmp_path)
    assert code is None, out[-2000:]
    assert "did not start" not in out


def test_signed_in_mode_starts_on_all_interfaces(tmp_path):
    """With [auth] (sign-in), an address other computers reach is what a hospital server needs (behind its proxy)."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "http://127.0.0.1:8501/oauth2callback"\ncookie_secret = "'
                       + "x" * 32 + '"\nclient_id = "w"\nclient_secret = "s"\n'
                       'server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"\n')
    code, out = _serve(["--server.address", "0.0.0.0", "--secrets.files", str(secrets)], tmp_path)
    assert code is None, out[-2000:]


# ----------------------------------------------------------------------------- the gate, in AppTest

@pytest.fixture(autouse=True)
def own_case_store(tmp_path, monkeypatch):
    """No test reads or creates the default var/watchwait.db."""
    monkeypatch.setenv("WATCHWAIT_DATABASE_URL", f"sqlite:///{tmp_path / 'watchwait.db'}")


def _app(secrets: dict | None = None, user: dict | None = None, query: dict | None = None, page: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if secrets is not None:
        at.secrets = {k: dict(v) for k, v in secrets.items()}
    if user is not None:
        at.user = user
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _all_text(at) -> str:
    parts = []
    for kind in ("title", "markdown", "info", "warning", "error", "caption", "text", "header", "subheader"):
        parts += [str(getattr(e, "value", "")) for e in getattr(at, kind)]
    parts += [str(getattr(e, "label", "")) for e in at.button]
    return "\n".join(parts)


@pytest.mark.parametrize("query, page", [({}, None), ({"stored": "DEMO-01", "version": "1"}, "cases"),
                                         ({"meeting": "1", "case": "2"}, "meeting"), ({"patient": "DEMO-05"}, None)])
def test_anonymous_sees_the_sign_in_screen_only(query, page):
    at = _app(SECRETS, {"is_logged_in": False}, query)
    if page:  # another page asked for directly: still the sign-in screen
        at.switch_page(f"pages/{page}.py").run()
    assert [t.value for t in at.title] == ["watchwait"]
    assert [b.label for b in at.button] == ["Sign in"]
    text = _all_text(at)
    assert "DEMO-0" not in text and "Your name" not in text
    assert not at.text_input and not at.selectbox and not at.toggle  # no form, no picker, no presentation toggle
    assert at.session_state["patient_raw"] == {} or not any(at.session_state["patient_raw"].values())


def test_a_person_without_a_role_sees_one_message_and_sign_out():
    at = _app(SECRETS, {"is_logged_in": True, "sub": "s-9", "name": "P. Visitor", "groups": ["library-staff"],
                        "exp": time.time() + 600}, {"patient": "DEMO-05"})
    from components.safe import unescape

    assert [unescape(w.value) for w in at.warning] == [
        "Signed in as P. Visitor, but your account has no watchwait role; ask your hospital's IT service desk to add "
        "you to one of the groups mdt-viewer, clinician, mdt-chair, administrator."]
    assert [b.label for b in at.button] == ["Sign out"]
    assert "DEMO-05" not in _all_text(at)


def test_signed_in_the_sidebar_says_who_and_there_is_no_name_box():
    at = _app(SECRETS, {"is_logged_in": True, "sub": "chair-7", "name": "Dr C. Chair", "groups": ["mdt-chair"],
                        "exp": time.time() + 600})
    side = [m.value for m in at.sidebar.markdown]
    assert "Signed in as Dr C\\. Chair \\(chair\\)" in side
    assert [b.label for b in at.sidebar.button] == ["Sign out"]
    assert not [t for t in at.text_input if t.label == "Your name"]
    assert not _local_banner(at)


def _local_banner(at) -> bool:
    return any("Local mode: nobody is signed in" in str(getattr(e, "proto", "")) for e in _walk(at._tree))


def _walk(node):
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _walk(child)


@pytest.mark.parametrize("page", [None, "assessment", "what_if", "trajectories", "evidence", "options", "imaging",
                                  "meeting", "cases", "about_model"])
def test_local_mode_has_the_banner_on_every_screen(page):
    at = _app(page=page)
    assert _local_banner(at), page
    assert [t for t in at.text_input if t.label == "Your name"]  # the typed name, as before


def test_local_mode_has_the_banner_on_the_shared_screen_too():
    from components import state

    at = _app()
    at.session_state[state.PRESENTATION] = True
    at.run()
    assert not at.exception
    assert _local_banner(at)


def test_an_expired_token_stops_the_run_before_any_screen():
    """exp in the past: the gate signs out (st.logout) and nothing of the app is drawn, whatever the URL asks."""
    at = _app(SECRETS, {"is_logged_in": True, "sub": "chair-7", "name": "Dr C. Chair", "groups": ["mdt-chair"],
                        "exp": time.time() - 1}, {"patient": "DEMO-05"})
    assert not at.title and not at.button and "DEMO-05" not in _all_text(at)
