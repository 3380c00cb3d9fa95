"""The dashboard behind security headers: ``streamlit run components/serve.py`` (what ``make run`` does).

Streamlit's own settings have no option for response headers, but Streamlit >= 1.56 can serve the app as an
ASGI application (``st.App``) with Starlette middleware; :class:`SecurityHeaders` adds, to every HTTP response
(pages, static files, media, health):

- ``X-Frame-Options: DENY`` and ``Content-Security-Policy: frame-ancestors 'none'``: no other site can show
  the dashboard in a frame (clickjacking);
- ``X-Content-Type-Options: nosniff``: the browser never guesses a content type;
- ``Referrer-Policy: no-referrer``: no address of the dashboard (with ``?patient=``) leaves in a Referer.

It also keeps uploaded files in memory while they arrive (see ``MultiPartParser`` below).

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


check_store_at_start()
from components import layout  # noqa: E402 (after ROOT is on sys.path)

layout.use_app_navigation()  # from the first request on, app.py's navigation is the only one
app = st.App(str(ROOT / "app.py"), middleware=[Middleware(SecurityHeaders)])
