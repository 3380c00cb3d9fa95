"""The case store from the screens: who writes (:func:`actor`), the store itself (:func:`get_store`,
:func:`store_exists`), a stored case as the open patient (:func:`bind_case`, :func:`save_open_patient`), version
conflicts shown as plain messages with a reload button, and the small formatters the Meeting, Cases and About
screens share (pathways in words, stored times).

- **Who** (:func:`actor`): the user's name ("Your name", in the sidebar, or on the Meeting screen when it is
  blank) is the "who" of every write; nothing is written without it.
- **Binding**: a stored case is opened like any patient (:func:`components.identity.request_switch`: unsaved
  edits are never dropped without a confirmation, and nothing of the previous patient survives). Its
  source is ``{"kind": "store", "name": pseudonym, "version": n}`` (plus ``meeting`` and ``position``
  inside a meeting).
- **Conflicts**: every form remembers the version it was opened on (``state.SEEN``); the store refuses a
  save made on an older version (:class:`watchwait.store.VersionConflict`), shown as a plain message with a
  button that reloads the case. Nothing is overwritten silently.

User text (pseudonyms, names, titles, rationale, file names, messages quoting them) goes through
:func:`components.safe.md` in Markdown; tables (``st.dataframe``) and selectbox options are plain text.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

import streamlit as st

from components import cache, fmt, identity, patient, state
from components.safe import md
from watchwait.errors import RecordError, WatchwaitError
from watchwait.labels import code_text
from watchwait.timetext import utc_minute

# This module and components.links run on every screen, the first included: watchwait.store (SQLAlchemy, about
# 1.2 s to import) and watchwait.rules (about 1 s) are imported inside the functions that first need them.

SUMMARY = "summary"  # the meeting's summary, in place of a case position (state.MEETING_CASE, ?case=)
PATHWAYS = ("watch_and_wait", "local_excision", "tme")  # watchwait.store.PATHWAYS (imported lazily there)
NAME_HELP = ("Recorded with every change you make to the case store (meetings, imported cases, decisions, "
             "follow-up): the audit trail's \"who\". Kept for this browser session.")

# ----------------------------------------------------------------------------- small helpers

def pathway_text(code: str | None) -> str:
    """A pathway code in clinical words, capitalised ("Watch-and-wait", "Total mesorectal excision (TME)")."""
    if not code:
        return ""
    text = code_text("management", code)
    return text[:1].upper() + text[1:]


def suggested_text(code: str | None) -> str:
    """The engine's suggested next step (watchwait.rules.PATHWAY_LABELS) in words."""
    if not code:
        return "not recorded"
    from watchwait.rules import PATHWAY_LABELS

    return PATHWAY_LABELS.get(code, pathway_text(code))


def when(ts: str | None) -> str:
    """A stored UTC time as '2026-11-30 14:03 UTC' (blank when there is none)."""
    return utc_minute(ts)


def flash(kind: str, text: str) -> None:
    """A message (Markdown-safe text) shown once, after the rerun that follows a write."""
    st.session_state[state.MEETING_FLASH] = [*(st.session_state.get(state.MEETING_FLASH) or []), (kind, text)]


def show_flash() -> None:
    for kind, text in st.session_state.pop(state.MEETING_FLASH, None) or []:
        {"success": st.success, "error": st.error, "warning": st.warning}.get(kind, st.info)(text)


def db_errors() -> tuple[type[BaseException], ...]:
    """What a store call may raise besides its own refusals: the database gone (server down, file removed)."""
    from sqlalchemy.exc import DBAPIError

    return (WatchwaitError, DBAPIError)


def error_text(exc: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        return ("The case store did not answer (" + type(exc.orig or exc).__name__ + "); nothing was saved. "
                "Check that the database is running, then reload the page.")
    return str(exc)


# ----------------------------------------------------------------------------- who

def actor():
    """The "who" of a write: in signed-in mode the signed-in :class:`watchwait.store.identity.Person` (the store
    checks its role and records its subject and name); in local mode the typed name (a ``str``; blank: none yet)."""
    from components import auth

    if auth.configured():
        return auth.current_person()  # never None behind app.py's gate (components.auth.gate)
    return str(st.session_state.get(state.ACTOR) or "").strip()


def _actor_changed(key: str) -> None:
    st.session_state[state.ACTOR] = " ".join(str(st.session_state.get(key) or "").split())[:200]


def actor_field(key: str) -> None:
    """The "Your name" field (``key``: the sidebar's or the Meeting screen's), showing ``state.ACTOR``. Local mode
    only: a signed-in person's name comes from the identity provider, never from a box."""
    from components import auth

    if auth.configured():
        return
    st.session_state[key] = st.session_state.get(state.ACTOR, "")
    st.text_input("Your name", key=key, on_change=_actor_changed, args=(key,), max_chars=200, help=NAME_HELP,
                  placeholder="e.g. Dr A. Jones")


def signed_in_line() -> str | None:
    """'Signed in as Dr C. Chair (chair)' (Markdown-safe), or None in local mode."""
    from components import auth

    if not auth.configured():
        return None
    p = auth.current_person()
    return None if p is None else md(f"Signed in as {p.name} ({p.role_text})")


def actor_sidebar() -> None:
    """The sidebar's who (desk mode): "Signed in as <name> (<roles>)" and a one-click "Sign out" when signed in
    (presentation mode has them in the header: components.layout.header); else "Your name" (local mode; the Meeting
    screen asks for it too when it is blank)."""
    from components import auth

    if state.presentation():
        return
    with st.sidebar:
        line = signed_in_line()
        if line is None:
            actor_field(state.ACTOR_WIDGET)
            return
        st.markdown(line)
        if st.button("Sign out", key="auth_sign_out", icon=":material/logout:"):
            auth.sign_out("signed_out")


def name_required(what: str) -> bool:
    """True when a name is entered (local mode) or a person is signed in; otherwise says why it is needed before
    ``what`` and returns False."""
    if actor():
        return True
    st.warning(f"Enter your name (\"Your name\") before {what}: the case store records who made every change.",
               icon=":material/badge:")
    return False


# ----------------------------------------------------------------------------- the store

def get_store():
    """The case store, or None after saying why it could not be opened."""

    try:
        return cache.store()
    except db_errors() as exc:
        st.error("**The case store could not be opened**, so meetings and cases are not available: "
                 + md(error_text(exc)), icon=":material/database:")
        return None


def store_exists() -> bool:
    """A database is configured (``WATCHWAIT_DATABASE_URL``) or the default file was already made. Viewing a
    screen never creates the default database file: the first write does."""

    from watchwait.store.migrate import DEFAULT_PATH, ENV_VAR

    return bool(os.environ.get(ENV_VAR)) or (Path.cwd() / DEFAULT_PATH).exists()


def existing_store():
    """The case store if one exists (:func:`store_exists`), or None (also after saying why it could not be opened)."""
    return get_store() if store_exists() else None


# ----------------------------------------------------------------------------- binding the open patient

def case_source(pseudonym: str, version: int, meeting_id: int | None = None, position: int | None = None) -> dict:
    src: dict = {"kind": "store", "name": pseudonym, "version": int(version)}
    if meeting_id is not None:
        src.update(meeting=int(meeting_id), position=int(position or 0))
    return src


def open_case_source() -> dict | None:
    """The open patient's source when it is a stored case (and still that case: the pseudonym unchanged)."""
    src = st.session_state.get(state.PATIENT_SOURCE) or {}
    if src.get("kind") == "store" and state.identity()[1] == src.get("name"):
        return src
    return None


def _bound(pseudonym: str, version: int) -> bool:
    src = open_case_source()
    return bool(src) and src.get("name") == pseudonym and src.get("version") == version


def open_record(record: Mapping, source: dict) -> None:
    """Open a stored record as the open patient (asks first when unsaved edits would go)."""
    raw, extra = patient.record_to_raw(record)
    identity.request_switch(raw, extra, source)


def bind_case(meeting_id: int, mc) -> str:
    """Make the meeting case ``mc`` the open patient. Returns "bound", "asking" (unsaved edits: the
    confirmation shows) or "declined" (the user kept the edits; the case shows from the store)."""
    a = mc.assessment
    if _bound(mc.pseudonym, a.version):
        src = st.session_state[state.PATIENT_SOURCE]
        src.update(meeting=int(meeting_id), position=int(mc.position))
        st.session_state[state.BIND_ASKED] = None
        return "bound"
    if st.session_state.get(state.PENDING_SWITCH):
        return "asking"
    target = [int(meeting_id), mc.pseudonym, int(a.version)]
    if st.session_state.get(state.BIND_ASKED) == target:
        return "declined"
    open_record(a.record, case_source(mc.pseudonym, a.version, meeting_id, mc.position))
    if st.session_state.get(state.PENDING_SWITCH):
        st.session_state[state.BIND_ASKED] = target
        return "asking"
    return "bound"


def forget_asked() -> None:
    st.session_state[state.BIND_ASKED] = None


def switch_prompt() -> bool:
    """Ask before unsaved edits go (identity's confirmation, with how to keep them in the case store)."""
    return identity.pending_prompt("meeting_", "To keep them, choose Keep editing and save the changes to the case store first.")


def _mark_saved(v, meeting_id: int | None = None, position: int | None = None) -> None:
    """The open patient is now stored version ``v``: its source says so and it has no unsaved edits (same
    identity: its images and scenarios stay)."""
    st.session_state[state.PATIENT_SOURCE] = {**case_source(v.pseudonym, v.version, meeting_id, position),
                                              "at": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")}
    st.session_state[state.PATIENT_LOADED] = {"raw": state.normalised(state.raw()), "extra": dict(state.extra())}


def save_open_patient(store, screen: str, out) -> object | None:
    """Save the open patient's record as a new assessment version (on the version it was opened from, so a
    version saved by someone else in between is a conflict). Messages go to ``out``; returns the version."""
    from watchwait.store import VersionConflict

    rec = patient.draft()
    p = str(rec.get("patient_id") or "").strip()
    src = open_case_source() or {}
    expected = src.get("version") if src.get("name") == p else None
    try:
        v = store.save_assessment(p, {**rec, "patient_id": p}, expected_version=expected, actor=actor(), screen=screen)
    except VersionConflict as exc:
        set_conflict("assessment", p, exc)
        st.rerun()  # the conflict shows at the top of the screen, with its way to reload
    except RecordError as exc:
        out.error("**Not saved**: the record has invalid entries. " + " ".join(md(fmt.issue_text(i)) for i in exc.issues))
        return None
    except db_errors() as exc:
        out.error("**Not saved.** " + md(error_text(exc)))
        return None
    _mark_saved(v, src.get("meeting"), src.get("position"))
    return v


# ----------------------------------------------------------------------------- conflicts

def set_conflict(kind: str, key: str, exc: BaseException) -> None:
    st.session_state[state.STORE_CONFLICT] = {"kind": kind, "key": key, "message": str(exc)}


def _reload_after_conflict(store) -> None:
    c = st.session_state.pop(state.STORE_CONFLICT, None) or {}
    if c.get("kind") == "decision":
        st.session_state[state.SEEN].pop(c["key"], None)
    elif c.get("kind") == "follow_up":
        st.session_state[state.SEEN].pop(f"follow_up:{c['key']}", None)
    elif c.get("kind") == "assessment":
        src = open_case_source() or {}
        try:
            latest = store.assessment(c["key"])
        except db_errors() as exc:
            flash("error", md(error_text(exc)))
            return
        open_record(latest.record, case_source(latest.pseudonym, latest.version, src.get("meeting"), src.get("position")))


def show_conflict(store, kind: str, key: str) -> None:
    """The store's conflict message (who saved which version when), with a way to reload; never an overwrite."""
    c = st.session_state.get(state.STORE_CONFLICT)
    if not c or c.get("kind") != kind or c.get("key") != key:
        return
    with st.container(border=True, key=f"ww-conflict-{kind}"):
        st.error("**Not saved: someone else saved this case first.** " + md(c["message"]), icon=":material/sync_problem:")
        label = {"decision": "Reload the case (your entries stay in the form)",
                 "follow_up": "Reload the follow-up (your entries stay in the form)",
                 "assessment": "Reload the case from the store (asks before your changes go)"}[kind]
        st.button(label, key=f"reload_conflict:{kind}", on_click=_reload_after_conflict, args=(store,), type="primary")
