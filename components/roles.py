"""What the person using the dashboard may do on the screens (:func:`permitted`), and who looked
(:func:`note_opening`).

- **Write controls by role.** A screen shows a write control (save an assessment, record follow-up, create a
  meeting, add or import cases, record a decision, confirm an MRI series) only when
  :func:`components.auth.may` allows its action (``watchwait.store.identity.PERMISSIONS``). Where it is hidden,
  one quiet line says why ("Recording decisions needs the chair role; you are signed in as a viewer."): never a
  form that looks usable and fails on submit. The store checks the same permission again on every write, so a
  hidden control is also a refused write. Local mode (no sign-in) may do everything, as before.
- **Who looked.** Each opening of a stored case (the Cases screen's Open, a meeting's case bound on the Meeting
  screen, a ``?stored=`` or ``?meeting=&case=`` link) writes one access row (``Store.record_access``: who, which
  case, when, from which screen), once per opening and not once per rerun: an opening is a new open patient
  (``state.identity()``'s token) that is a stored case, or a meeting's case shown from the store while unsaved edits
  of another patient are kept (:func:`note_shown`; opening it afterwards is the same look). The screen named is the
  one the case was first shown on after it opened. In local mode the row carries the typed name; with no name typed, nothing is recorded (there
  is nobody to name, and the store records no anonymous rows). A store error here never hides the case: a plain
  warning says the opening was not recorded, and it is tried again on the next screen.

This module is imported by :mod:`components.patient` (every screen runs through ``timed_run``), so it imports only
:mod:`components.auth`, :mod:`components.cache`, :mod:`components.state` and :mod:`components.safe` (no import cycle), and
``watchwait.store`` (SQLAlchemy) only when a stored case is open or a refusal is worded.
"""

from __future__ import annotations

import streamlit as st

from components import auth, cache, state
from components.safe import md

#: What each action is called when a screen says it needs a role ("<this> needs the chair role; ...").
GERUND = {
    "read": "Opening a case",
    "assess": "Keeping the prediction shown with the stored case",
    "save": "Saving an assessment to the case store",
    "follow_up": "Recording follow-up",
    "create_meeting": "Creating a meeting",
    "add_case": "Adding cases to a meeting",
    "import": "Importing cases",
    "decide": "Recording decisions",
    "register_model": "Registering a site model",
    "read_audit": "The audit view",
    "administer_db": "Changing the case store's schema",
}

#: The session's openings recorded last (:func:`_looked`). Named here, not in components.state: this module's own
#: bookkeeping, read nowhere else.
LOOKED = "roles:looked"


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def signed_in_as() -> str:
    """'you are signed in as a viewer' / 'as a clinician and an administrator' / 'with no role'."""
    p = auth.current_person()
    if p is None:
        return "you are not signed in"
    from watchwait.store.identity import ROLES

    have = [r for r in ROLES if r in p.roles]
    if not have:
        return "you are signed in with no role"
    words = [_article(r) for r in have]
    return "you are signed in as " + (words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1])


def why_not(action: str, doing: str | None = None) -> str:
    """'Recording decisions needs the chair role; you are signed in as a viewer.' (plain text, no user text)."""
    from watchwait.store.identity import PERMISSIONS, ROLES

    needed = [r for r in ROLES if r in PERMISSIONS[action]]
    roles = needed[0] if len(needed) == 1 else ", ".join(needed[:-1]) + " or " + needed[-1]
    return f"{doing or GERUND[action]} needs the {roles} role; {signed_in_as()}."


def permitted(action: str, doing: str | None = None, where=None) -> bool:
    """True when the person may do ``action`` (local mode: always). Otherwise writes one quiet line saying why
    (in ``where``, a container; default: here) and returns False: the caller then draws no control."""
    if auth.may(action):
        return True
    (where or st).caption(why_not(action, doing))
    return False


def who_text(actor: str, subject: str | None) -> str:
    """A stored row's person as the screens show it: the provider's display name; a typed name (no subject) marked
    as one when the site signs people in (local mode: every name is typed, and says nothing more)."""
    if subject is None and auth.configured():
        return f"{actor} (typed name, not signed in)"
    return actor


# ----------------------------------------------------------------------------- who looked

def _store_errors() -> tuple[type[BaseException], ...]:
    """What recording an opening may raise (components.casestore.db_errors; not imported: no import cycle)."""
    from sqlalchemy.exc import DBAPIError

    from watchwait.errors import WatchwaitError

    return (WatchwaitError, DBAPIError)


def _open_stored_case() -> str | None:
    """The pseudonym of the open patient when it is a stored case, unchanged in name (as
    ``components.casestore.open_case_source``)."""
    src = st.session_state.get(state.PATIENT_SOURCE) or {}
    pid = state.identity()[1]
    return pid if src.get("kind") == "store" and pid and pid == src.get("name") else None


def _looked() -> dict:
    """This session's openings recorded last: ``open`` (the open patient's: ``["open", token, pseudonym]``) and
    ``shown`` (the pseudonym of a meeting's case shown from the store while the open patient is another)."""
    looked = st.session_state.get(LOOKED)
    if not isinstance(looked, dict):
        looked = st.session_state[LOOKED] = {"open": None, "shown": None}
    return looked


def _record(pseudonym: str, screen: str) -> bool:
    """One access row for ``pseudonym`` seen on ``screen`` (True: recorded, or nobody to record in local mode)."""
    who = auth.current_person()
    if who is None:  # local mode with no name typed (signed-in mode: the sign-in screen shows instead)
        return True
    try:
        cache.store().record_access(who, pseudonym, screen)
    except _store_errors() as exc:
        from watchwait.errors import WatchwaitError

        why = (str(exc) if isinstance(exc, WatchwaitError)  # a refusal or a bad entry: its own plain message
               else f"the case store did not answer ({type(getattr(exc, 'orig', None) or exc).__name__})")
        st.warning("Who opened this case could not be recorded; it is tried again on the next screen. " + md(why),
                   icon=":material/history_toggle_off:")
        return False
    return True


def note_opening(screen: str) -> None:
    """Record who opened the open stored case, once per opening (see the module docstring)."""
    pseudonym = _open_stored_case()
    if pseudonym is None:
        return
    looked, key = _looked(), ["open", *state.identity()]
    if looked["open"] == key:
        return
    if looked["shown"] == pseudonym:  # the same look: the meeting's case shown from the store became the open one
        looked.update(open=key, shown=None)
        return
    if _record(pseudonym, screen):
        looked["open"] = key


def note_shown(pseudonym: str, screen: str) -> None:
    """A meeting's case shown from the store while the open patient is another (unsaved edits kept, or the question
    not answered yet): a look too, recorded once while it stays on screen."""
    looked = _looked()
    if looked["shown"] != pseudonym and _record(pseudonym, screen):
        looked["shown"] = pseudonym


def shown_ends() -> None:
    """The Meeting screen shows no case from the store now (the case on screen is the open patient, or the summary)."""
    _looked()["shown"] = None


def note_saved() -> None:
    """The open patient was just saved by this person: saving is not looking (the audit says who saved it), and a
    case the person saved is not an opening to record."""
    if _open_stored_case() is not None:
        _looked()["open"] = ["open", *state.identity()]
