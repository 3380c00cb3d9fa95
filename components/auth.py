"""Who is using the dashboard: the person signed in through the site's OpenID Connect provider, or, in local mode,
the name typed in "Your name".

- **Signed-in mode**: ``[auth]`` is set in ``.streamlit/secrets.toml`` (Streamlit's ``st.login``; never committed).
  :func:`current_person` is a :class:`watchwait.store.identity.Person` built from the identity token's claims:
  ``sub`` (the subject), ``name`` (or ``email``) and the roles mapped from the roles claim (``groups`` by default)
  by the ``[watchwait_auth]`` section of the same file (:func:`settings`). Nothing is typed.
- **Local mode**: no ``[auth]``. :func:`current_person` is ``Person.local(typed name)`` (every role, no subject)
  once a name is typed, else ``None``.

Screens ask :func:`may` before showing a write control; the store checks the same permission again on every write
(``watchwait.store.identity.PERMISSIONS``), so a control that is hidden is also refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import streamlit as st

from components import state

if TYPE_CHECKING:
    from watchwait.store.identity import Person

# watchwait.store.identity is imported inside the functions: importing it runs watchwait/store/__init__.py (SQLAlchemy,
# Alembic), which the first screen must not wait for (tests/unit/test_lazy_start.py).

SETTINGS_SECTION = "watchwait_auth"
DEFAULT_ROLES_CLAIM = "groups"
DEFAULT_IDLE_MINUTES = 15.0


@dataclass(frozen=True)
class Settings:
    """``[watchwait_auth]`` in the secrets file: ``roles_claim`` (the claim holding the person's groups),
    ``idle_minutes`` (sign out after this long without a click), ``roles`` (role -> the provider's group names that
    grant it; a role not listed is granted by a group of its own name)."""

    roles_claim: str = DEFAULT_ROLES_CLAIM
    idle_minutes: float = DEFAULT_IDLE_MINUTES
    roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def roles_of(self, groups: object) -> frozenset[str]:
        """The roles the provider's groups grant (unknown groups grant nothing)."""
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, (list, tuple, set, frozenset)):
            return frozenset()
        from watchwait.store.identity import ROLES

        have = {str(g) for g in groups}
        return frozenset(r for r in ROLES if have & set(self.roles.get(r, (r,))))


def _secrets() -> Mapping | None:
    try:
        if not st.secrets.load_if_toml_exists():
            return None
        return st.secrets
    except FileNotFoundError:  # StreamlitSecretNotFoundError: a malformed secrets file (Streamlit reports it itself)
        return None


def configured() -> bool:
    """True when an identity provider is configured (``[auth]`` in the secrets file): signed-in mode."""
    s = _secrets()
    return s is not None and "auth" in s


def settings() -> Settings:
    from watchwait.store.identity import ROLES

    s = _secrets()
    raw = dict(s.get(SETTINGS_SECTION, {})) if s is not None else {}
    roles = {str(k): tuple(str(g) for g in (v if isinstance(v, (list, tuple)) else [v]))
             for k, v in dict(raw.get("roles", {})).items() if k in ROLES}
    return Settings(roles_claim=str(raw.get("roles_claim", DEFAULT_ROLES_CLAIM)),
                    idle_minutes=float(raw.get("idle_minutes", DEFAULT_IDLE_MINUTES)), roles=roles)


def person_from_claims(claims: Mapping, conf: Settings | None = None) -> Person | None:
    """The signed-in person from the identity token's claims; None without a subject."""
    from watchwait.store.identity import Person

    conf = conf or settings()
    subject = claims.get("sub")
    if not subject:
        return None
    name = claims.get("name") or claims.get("preferred_username") or claims.get("email") or str(subject)
    return Person(str(subject), str(name), conf.roles_of(claims.get(conf.roles_claim)))


def current_person() -> Person | None:
    """Who is acting now: the signed-in person (signed-in mode), ``Person.local(typed name)`` (local mode, once a
    name is typed), or None."""
    if configured():
        if not st.user.is_logged_in:
            return None
        return person_from_claims(st.user.to_dict())
    from watchwait.store.identity import Person

    name = str(st.session_state.get(state.ACTOR) or "").strip()
    return Person.local(name) if name else None


def may(action: str) -> bool:
    """May the current person do ``action`` (an action of ``watchwait.store.identity.PERMISSIONS``)? Local mode:
    yes (the typed name is asked for where a write needs it). Signed in: by the person's roles."""
    if not configured():
        return True
    p = current_person()
    return p is not None and p.may(action)


# ============================================================================ the sign-in's lifecycle (issue 20)
#
# What a signed-in browser carries: Streamlit's signed, HttpOnly cookie ``_streamlit_user`` (the identity token's
# claims). Streamlit reads it when a tab connects and never checks the token's ``exp``; it has no idle limit. Both
# are this module's job: :func:`gate` (app.py, before anything is drawn) and :func:`keep_watch` (a timer on every
# screen, the shared screen included) sign the person out with :func:`sign_out`.
#
# Across the provider's round trips (sign-in and sign-out are full page loads, so ``st.session_state`` is lost),
# two short-lived cookies are set by components/serve.py's middleware (:class:`components.serve.SignInCookies`):
# ``ww_next`` (the deep link an anonymous browser opened, signed, restored right after the sign-in) and
# ``ww_signed_out`` (why the last sign-out happened: one of :data:`WHY`, shown on the sign-in screen).

import hashlib  # noqa: E402
import os  # noqa: E402
import hmac  # noqa: E402
import ipaddress  # noqa: E402
import secrets as _secrets_mod  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

USER_COOKIE = "_streamlit_user"  # Streamlit's identity cookie (streamlit.auth_util.USER_COOKIE_NAME)
NEXT_COOKIE = "ww_next"
WHY_COOKIE = "ww_signed_out"
COOKIE_SECONDS = 600  # both cookies: long enough for a sign-in at the provider, short enough to go stale

#: why a sign-out happened -> the reason's words on the sign-in screen ({idle}: "15 minutes").
WHY = {
    "idle": "You were signed out after {idle} without activity.",
    "expired": "Your sign-in expired: the identity provider's sign-in ended. Sign in again to go on.",
    "signed_out": "You signed out.",
}
#: the query keys a deep link may carry through the sign-in (components.links and components.identity read them
#: again and check every id, as for any link).
DEEP_LINK_KEYS = ("meeting", "case", "stored", "version", "patient")
MAX_DEEP_VALUE = 100

# session_state keys of this module (the rest of the app's keys are in components.state)
_TIMER_DUE = "auth_timer_due"  # set by the timer before it asks for a full run that signs out
_LAST_ACTIVE = "auth_last_active"  # the tab's own last activity (when no identity cookie is seen)

_KEY = _secrets_mod.token_bytes(32)  # signs ww_next; a new key per server process (a restart forgets links)
_lock = threading.Lock()
_last_active: dict[str, float] = {}  # browser key (a hash of the identity cookie) -> time of its last activity
_why: dict[str, str] = {}  # browser key -> why the sign-out it is going through happened
_ended: dict[str, float] = {}  # browser key -> when its sign-in ended (another tab of the same browser follows)


# ----------------------------------------------------------------------------- pure helpers (tested directly)

def idle_words(minutes: float) -> str:
    """15 -> '15 minutes', 1 -> '1 minute', 0.5 -> '30 seconds'."""
    if minutes < 1:
        s = max(1, round(minutes * 60))
        return f"{s} second{'s' if s != 1 else ''}"
    m = round(minutes, 1)
    m = int(m) if m == int(m) else m
    return f"{m} minute{'s' if m != 1 else ''}"


def why_text(code: str | None, idle_minutes: float = DEFAULT_IDLE_MINUTES) -> str | None:
    """The sign-in screen's line for a ``ww_signed_out`` cookie's value; None for anything not in :data:`WHY`."""
    if code not in WHY:
        return None
    return WHY[code].format(idle=idle_words(idle_minutes))


def due(now: float, last_active: float | None, idle_seconds: float, exp: object) -> str | None:
    """Why the sign-in must end now: ``"expired"`` (the identity token's ``exp`` has passed), ``"idle"`` (no
    activity for ``idle_seconds``), or None."""
    if isinstance(exp, (int, float)) and not isinstance(exp, bool) and now >= float(exp):
        return "expired"
    if last_active is not None and now - last_active >= idle_seconds:
        return "idle"
    return None


def timer_seconds(idle_seconds: float, exp_in: float | None) -> float:
    """How often the timer looks: a tenth of the idle limit, at most every 30 s and at least every second, and no
    later than the token's expiry. A screen left alone is signed out at most this long after it was due."""
    tick = min(30.0, idle_seconds / 10)
    if exp_in is not None:
        tick = min(tick, exp_in)
    return max(1.0, tick)


def browser_key(cookie_value: str | None) -> str | None:
    """A browser's sign-in, named without keeping its cookie: a hash of the identity cookie's value."""
    if not cookie_value:
        return None
    return hashlib.sha256(cookie_value.encode("utf-8", "replace")).hexdigest()[:32]


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.1 (any 127.x), ::1 and localhost; False for anything else and for unset (all interfaces)."""
    if not address or not str(address).strip():
        return False
    a = str(address).strip().strip("[]")
    if a.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(a).is_loopback
    except ValueError:
        return False


def local_mode_refusal(address: str | None) -> str | None:
    """Local mode on an address other computers reach: the plain refusal naming the settings to change; None on
    loopback."""
    if is_loopback(address):
        return None
    where = ("server.address is not set, which means every network interface" if not address or not str(address).strip()
             else f"server.address is {str(address).strip()!r}, which other computers can reach")
    return ("watchwait: the dashboard did not start. Without sign-in (no [auth] section in .streamlit/secrets.toml) "
            "it is in local mode, for one person on this computer: nobody is signed in and decisions carry a typed "
            f"name. But {where}. Either start it on loopback (--server.address 127.0.0.1, as `make run` does), or "
            "configure sign-in through the hospital's identity provider ([auth] and [watchwait_auth] in "
            ".streamlit/secrets.toml; README, \"Sign-in and roles\").")


#: Request headers a reverse proxy adds (deploy/nginx/watchwait.conf sets the first three).
PROXY_HEADERS = ("x-forwarded-for", "x-real-ip", "x-forwarded-proto", "forwarded")
#: Tests of the proxy itself run local mode behind nginx; a hospital never sets this.
LOCAL_BEHIND_PROXY_ENV = "WATCHWAIT_TEST_LOCAL_MODE_BEHIND_PROXY"
LOCAL_BEHIND_PROXY = ("This dashboard is in local mode: there is no sign-in, and changes carry a name anyone can type. "
                      "It was reached through a reverse proxy, so other computers on the network could use it under "
                      "any name. Nothing is shown. The hospital's IT team must configure sign-in through the "
                      "hospital's identity provider ([auth] and [watchwait_auth] in .streamlit/secrets.toml; "
                      "deploy/GUIDE.md). On one computer, open it at http://127.0.0.1 without the proxy.")


def local_mode_behind_proxy(headers: Mapping[str, str], environ: Mapping[str, str]) -> str | None:
    """Local mode reached through a reverse proxy (the app binds loopback, so serve.py's address check passes, yet
    nginx serves it to the whole network): the refusal, or None. ``headers``: the request's (any case)."""
    if environ.get(LOCAL_BEHIND_PROXY_ENV) == "1":
        return None
    names = {str(k).lower() for k in headers}
    return LOCAL_BEHIND_PROXY if names & set(PROXY_HEADERS) else None


def _headers() -> Mapping[str, str]:
    try:
        h = st.context.headers
    except RuntimeError:  # no Streamlit runtime: no request
        return {}
    return h if isinstance(h, Mapping) else {}


def deep_link_target(path: str, query: str, pages: set[str], base: str = "") -> str | None:
    """The same-origin path (``/<base>/<page>?<query>``) of a page address worth keeping across the sign-in, or
    None. Only a page of the app (``pages``: url paths such as ``cases``; ``""`` is the root) and only the keys of
    :data:`DEEP_LINK_KEYS` (the first value of each, at most 100 characters) are kept: never a host, a scheme or
    anything else a crafted link would carry."""
    base = base.strip("/")
    p = path
    if base:
        if not (p == f"/{base}" or p.startswith(f"/{base}/")):
            return None
        p = p[len(base) + 1:]
    page = p.strip("/")
    if page and page not in pages:
        return None
    parsed = urllib.parse.parse_qs(query, keep_blank_values=False)
    kept = [(k, parsed[k][0]) for k in DEEP_LINK_KEYS if k in parsed and 0 < len(parsed[k][0]) <= MAX_DEEP_VALUE]
    if not kept and not page:
        return None
    prefix = f"/{base}" if base else ""
    return f"{prefix}/{page}" + (("?" + urllib.parse.urlencode(kept)) if kept else "")


def sign_value(value: str, now: float | None = None) -> str:
    """``value`` with the time and an HMAC (this process's key): what ``ww_next`` holds."""
    stamp = str(int(now if now is not None else time.time()))
    mac = hmac.new(_KEY, f"{stamp}|{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{mac}.{stamp}.{urllib.parse.quote(value, safe='')}"


def unsign_value(signed: str | None, now: float | None = None, max_age: float = COOKIE_SECONDS) -> str | None:
    """The value :func:`sign_value` signed, if the signature holds and it is younger than ``max_age``; else None."""
    if not signed or signed.count(".") < 2:
        return None
    mac, stamp, quoted = signed.split(".", 2)
    value = urllib.parse.unquote(quoted)
    good = hmac.new(_KEY, f"{stamp}|{value}".encode(), hashlib.sha256).hexdigest()[:32]
    if not stamp.isdigit() or not hmac.compare_digest(mac, good):
        return None
    age = (now if now is not None else time.time()) - int(stamp)
    return value if 0 <= age <= max_age else None


def take_why(key: str | None) -> str:
    """Why the browser with this key is signing out (what :func:`sign_out` noted), forgotten once read; a sign-out
    nobody noted is the person's own ("signed_out")."""
    with _lock:
        if key is not None:
            _last_active.pop(key, None)
            _end(key)
            return _why.pop(key, "signed_out")
    return "signed_out"


def _end(key: str) -> None:
    """The sign-in of this browser has ended: every other tab still holding it signs out at its next run or timer
    look (Streamlit reads the identity cookie only when a tab connects; st.logout clears one tab's session)."""
    now = time.time()
    _ended[key] = now
    if len(_ended) > 10_000:
        for k in [k for k, t in _ended.items() if now - t > 86_400]:
            del _ended[k]


def ended(key: str | None) -> bool:
    """Has the sign-in this key names been ended (signed out in another tab)?"""
    if key is None:
        return False
    with _lock:
        return key in _ended


# ----------------------------------------------------------------------------- in the script

def _claims() -> dict:
    return st.user.to_dict() if st.user.is_logged_in else {}


def _cookie(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except RuntimeError:  # no Streamlit runtime: no cookies
        return None
    return value if isinstance(value, str) else None  # AppTest's stand-in client gives a mock, not a cookie


def _my_key() -> str | None:
    # without cookies (AppTest) the key is None and the tab's own clock is used
    return browser_key(_cookie(USER_COOKIE))


def _last_activity(key: str | None) -> float | None:
    if key is not None:
        with _lock:
            return _last_active.get(key)
    return st.session_state.get(_LAST_ACTIVE)


def _touch(key: str | None, now: float) -> None:
    """This run is activity: a person clicked, typed, opened or reloaded a screen."""
    st.session_state[_LAST_ACTIVE] = now
    if key is not None:
        with _lock:
            _last_active[key] = now
            if len(_last_active) > 10_000:  # forget browsers gone quiet for a day
                for k in [k for k, t in _last_active.items() if now - t > 86_400]:
                    del _last_active[k]


def sign_out(why: str) -> None:
    """End the sign-in: note why (the sign-in screen says it, through components/serve.py's ``ww_signed_out``), then
    ``st.logout()`` (clears Streamlit's identity cookie and ends the session at the provider, then comes back to the
    app's root, which shows the sign-in screen). Stops the run: nothing more is drawn."""
    key = _my_key()
    if key is not None:
        with _lock:
            _why[key] = why if why in WHY else "signed_out"
            _last_active.pop(key, None)
            _end(key)
    st.session_state.pop(_LAST_ACTIVE, None)
    if why != "signed_out":
        # An expiry or idle sign-out must not wait behind the "Leave site?" question of unsaved edits
        # (components.identity.unload_guard): the screen would stay up, on the wall too, with the patient on it.
        st.html("<script>window.__wwDirty = false;</script>", unsafe_allow_javascript=True)
    st.logout()
    st.stop()


def _hide_navigation(pages) -> None:
    """The app's navigation, listed nowhere: the URL's page is kept (a deep link stays in the address bar), and no
    screen's script runs."""
    st.navigation(pages, position="hidden")


def sign_in_screen(pages) -> None:
    """What an anonymous browser sees in signed-in mode: the app's name, one line and one "Sign in" button (a
    clinician expects a sign-in page of the app, not to land on the hospital's login form without knowing why);
    the reason of the last sign-out when there is one. No patient, no case, no screen."""
    _hide_navigation(pages)
    st.title("watchwait")
    st.markdown("Decision support for the rectal cancer MDT. Sign in with your hospital account to open patients, "
                "meetings and stored cases.")
    why = _cookie(WHY_COOKIE)
    text = why_text(why, settings().idle_minutes)
    if text:
        st.info(text, icon=":material/logout:")
    if st.button("Sign in", type="primary", key="auth_sign_in"):
        st.login()
    st.stop()


def no_role_screen(pages, person: Person | None) -> None:
    """A signed-in person without a watchwait role (or a token without a subject): a plain message, a sign-out,
    nothing else."""
    from components.safe import md

    _hide_navigation(pages)
    st.title("watchwait")
    if person is None:
        st.warning("Your sign-in did not say who you are (the identity provider's token has no subject), so "
                   "watchwait cannot record your actions. Ask your hospital's IT service desk.",
                   icon=":material/no_accounts:")
    else:
        from watchwait.store.identity import ROLES

        conf = settings()
        groups = ", ".join(g for r in ROLES for g in conf.roles.get(r, (r,)))
        st.warning(md(f"Signed in as {person.name}, but your account has no watchwait role; ask your hospital's IT "
                      f"service desk to add you to one of the groups {groups}."), icon=":material/no_accounts:")
    if st.button("Sign out", key="auth_sign_out_norole"):
        sign_out("signed_out")
    st.stop()


def gate(pages) -> None:
    """app.py, before anything is drawn. Local mode: refuse to show anything when served beyond loopback (serve.py
    refuses to start then; this covers ``streamlit run app.py``). Signed-in mode: the sign-in screen for an
    anonymous browser; a sign-out when the token's ``exp`` has passed or the browser was idle for
    ``idle_minutes``; the plain message for a person without a role. Returns only for a person who may read."""
    if not configured():
        from streamlit import config

        # Only when served (``streamlit run``: the server mode is set); an AppTest has no server and no address.
        served = getattr(config, "_server_mode", None) is not None
        refusal = local_mode_refusal(config.get_option("server.address")) if served else None
        if served and not refusal:
            refusal = local_mode_behind_proxy(_headers(), os.environ)
        if refusal:
            _hide_navigation(pages)
            st.error(refusal.removeprefix("watchwait: the dashboard did not start. "), icon=":material/lock:")
            st.stop()
        return
    if not st.user.is_logged_in:
        sign_in_screen(pages)
    now = time.time()
    key = _my_key()
    by_timer = st.session_state.pop(_TIMER_DUE, None)
    why = "signed_out" if ended(key) else due(now, _last_activity(key), settings().idle_minutes * 60,
                                              _claims().get("exp"))
    if why or by_timer:
        _hide_navigation(pages)
        sign_out(why or by_timer)
    _touch(key, now)
    person = current_person()
    if person is None or not person.roles:
        no_role_screen(pages, person)


def keep_watch() -> None:
    """A timer on every screen of a signed-in browser (the shared screen too): a screen left alone makes no runs, so
    every :func:`timer_seconds` a small fragment run (not activity) looks at the clock and, once the sign-in is due
    to end, asks for a full run that signs out (:func:`gate`). The screen then goes to the sign-in screen by itself:
    a wall display does not keep showing a patient."""
    if not configured() or not st.user.is_logged_in:
        return
    conf = settings()
    exp = _claims().get("exp")
    exp_in = float(exp) - time.time() if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None
    tick = timer_seconds(conf.idle_minutes * 60, exp_in)

    def _look() -> None:
        key = _my_key()
        why = "signed_out" if ended(key) else due(time.time(), _last_activity(key), conf.idle_minutes * 60,
                                                  _claims().get("exp"))
        if why:
            st.session_state[_TIMER_DUE] = why
            st.rerun(scope="app")

    with st.sidebar:
        st.fragment(run_every=tick)(_look)()
