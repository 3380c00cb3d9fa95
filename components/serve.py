"""The dashboard behind security headers: ``streamlit run components/serve.py`` (what ``make run`` does).

Streamlit's own settings have no option for response headers, but Streamlit >= 1.56 can serve the app as an
ASGI application (``st.App``) with Starlette middleware; :class:`SecurityHeaders` adds, to every HTTP response
(pages, static files, media, health):

- ``X-Frame-Options: DENY`` and ``Content-Security-Policy: frame-ancestors 'none'``: no other site can show
  the dashboard in a frame (clickjacking);
- ``X-Content-Type-Options: nosniff``: the browser never guesses a content type;
- ``Referrer-Policy: no-referrer``: no address of the dashboard (with ``?patient=``) leaves in a Referer.

It also keeps uploaded files in memory while they arrive (see ``MultiPartParser`` below).

Sign-in (issue 20): :class:`SignInCookies` keeps a deep link across the identity provider's round trip and tells the
sign-in screen why the last sign-out happened (components/auth.py says how). At start, :func:`check_local_mode_address`
refuses to serve local mode (no ``[auth]``: nobody signed in, typed names) on anything but loopback (exit code 2).

The app itself is ``app.py`` (``streamlit run app.py`` still works, without these headers: behind a reverse
proxy, set them there; README, "Running it on a hospital network").
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st
from starlette.formparsers import MultiPartParser
from starlette.middleware import Middleware

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run components/serve.py` puts components/ first, not the project
    sys.path.insert(0, str(ROOT))

HEADERS = {
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response (WebSocket traffic passes unchanged)."""

    def __init__(self, app) -> None:
        self.app = app
        self.raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = set(HEADERS)
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode("latin-1").lower() not in names]
                message = {**message, "headers": headers + self.raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SignInCookies:
    """ASGI middleware for the sign-in's round trips through the identity provider (full page loads, so the
    session's state is gone when the browser comes back):

    - an app page opened with a deep link (``/cases?stored=DEMO-01&version=1``, ``/meeting?meeting=1&case=2``):
      ``ww_next`` = the page and its known query keys (:func:`components.auth.deep_link_target`: never a host or
      another path), signed, for 10 minutes; a plain page opened by an anonymous browser forgets it;
    - the provider's return after a sign-in (``/oauth2callback?code=...``, which Streamlit answers with a redirect to
      the app's root): the redirect goes to ``ww_next`` instead, and ``ww_next`` and ``ww_signed_out`` are deleted;
    - a sign-out (``/auth/logout``, where ``st.logout()`` sends the browser): ``ww_signed_out`` = why
      (:func:`components.auth.take_why`: idle, expired, or the person's own), read by the sign-in screen.

    Both cookies are HttpOnly, SameSite=Lax, limited to the app's path. Only in signed-in mode."""

    def __init__(self, app) -> None:
        from components import auth

        self.app = app
        self.auth = auth
        self.pages = {p.stem for p in (ROOT / "pages").glob("*.py")}  # st.Page's url paths: the files' names

    @staticmethod
    def _cookies(scope) -> dict[str, str]:
        from http.cookies import CookieError, SimpleCookie

        jar = SimpleCookie()
        for k, v in scope.get("headers", []):
            if k == b"cookie":
                try:
                    jar.load(v.decode("latin-1"))
                except CookieError:  # a malformed Cookie header: no cookies of ours
                    return {}
        return {k: m.value for k, m in jar.items()}

    @staticmethod
    def _set(name: str, value: str, path: str, max_age: int) -> tuple[bytes, bytes]:
        """A Set-Cookie header; ``value`` is cookie-safe already (a reason's word, or auth.sign_value's text)."""
        cookie = f"{name}={value}; Max-Age={max_age}; Path={path}; HttpOnly; SameSite=Lax"
        return b"set-cookie", cookie.encode("latin-1")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or not self.auth.configured():
            await self.app(scope, receive, send)
            return
        from streamlit import config

        auth = self.auth
        base = (config.get_option("server.baseUrlPath") or "").strip("/")
        root = f"/{base}/" if base else "/"
        path = scope.get("path", "")
        query = scope.get("query_string", b"").decode("latin-1")
        cookies = self._cookies(scope)
        extra: list[tuple[bytes, bytes]] = []
        location: str | None = None

        if path.rstrip("/") == f"{root.rstrip('/')}/oauth2callback" and "code=" in query:
            location = auth.unsign_value(cookies.get(auth.NEXT_COOKIE))
            extra += [self._set(auth.NEXT_COOKIE, "", root, 0), self._set(auth.WHY_COOKIE, "", root, 0)]
        elif path.rstrip("/") == f"{root.rstrip('/')}/auth/logout":
            why = auth.take_why(auth.browser_key(cookies.get(auth.USER_COOKIE)))
            extra.append(self._set(auth.WHY_COOKIE, why, root, auth.COOKIE_SECONDS))
        else:
            target = auth.deep_link_target(path, query, self.pages, base)
            page_path = path == root or path.rstrip("/") == root.rstrip("/") or target is not None
            if target is not None:
                extra.append(self._set(auth.NEXT_COOKIE, auth.sign_value(target), root, auth.COOKIE_SECONDS))
            elif page_path and auth.USER_COOKIE not in cookies and auth.NEXT_COOKIE in cookies:
                extra.append(self._set(auth.NEXT_COOKIE, "", root, 0))  # a plain page: no deep link to keep

        if not extra:
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                status = message.get("status", 200)
                if location and 300 <= status < 400:
                    headers = [(k, v) for k, v in headers if k.lower() != b"location"]
                    headers.append((b"location", location.encode("latin-1")))
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_cookies)


def check_local_mode_address() -> None:
    """Refuse to serve local mode (no ``[auth]``: nobody signs in, decisions carry typed names) on an address other
    computers reach: print the plain message naming the settings to change, exit 2. Only when served (``streamlit
    run``); importing this module elsewhere (a test) checks nothing."""
    from streamlit import config

    if getattr(config, "_server_mode", None) is None:
        return
    from components import auth

    if auth.configured():
        return
    refusal = auth.local_mode_refusal(config.get_option("server.address"))
    if refusal:
        print(refusal, file=sys.stderr, flush=True)
        raise SystemExit(2)


# Uploaded files stay in memory: Starlette spools a multipart part larger than 1 MB to a temporary file on disk
# before Streamlit reads it into memory (where it stays anyway); a raw DICOM series must never reach the disk.
# 0 = never roll over (SpooledTemporaryFile); the upload size is bounded by server.maxUploadSize.
MultiPartParser.spool_max_size = 0


def check_store_at_start() -> None:
    """Refuse to start on a case store whose schema is older or newer than this watchwait's: print what is wrong and
    the command that fixes it, exit 2. With no database yet (no URL set, no default file), nothing is checked or
    created: the first saved case creates it."""
    import os

    # watchwait.store.migrate's ENV_VAR and DEFAULT_PATH (tests/unit/test_lazy_start.py holds them equal): importing the
    # store (SQLAlchemy, Alembic: about 0.6 s of CPU) only to find there is nothing to check would delay every start
    url = os.environ.get("WATCHWAIT_DATABASE_URL")
    default = Path.cwd() / "var" / "watchwait.db"
    if not url and not default.exists():
        return
    from watchwait.store import Store, StoreSchemaError

    try:
        Store(url or str(default)).close()
    except StoreSchemaError as exc:
        print(f"watchwait: the dashboard did not start. {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    from watchwait.store.admin import owner_refusal

    refusal = owner_refusal(url or str(default))  # PostgreSQL as the tables' owner could switch their triggers off
    if refusal:
        print(f"watchwait: the dashboard did not start. {refusal}", file=sys.stderr, flush=True)
        raise SystemExit(2)


check_store_at_start()
check_local_mode_address()
from components import layout  # noqa: E402 (after ROOT is on sys.path)

layout.use_app_navigation()  # from the first request on, app.py's navigation is the only one
app = st.App(str(ROOT / "app.py"), middleware=[Middleware(SecurityHeaders), Middleware(SignInCookies)])
