"""The address bar: ``?meeting=<id>&case=<n>`` (``case=summary``: its summary) reopens a meeting at the case,
with the case's record as the open patient; ``?stored=<pseudonym>&version=<n>`` a stored case opened outside a
meeting. :func:`restore_from_url` runs once per session from app.py; :func:`sync_url` keeps the URL in step on
every screen (registered with :mod:`components.identity`)."""

from __future__ import annotations

import streamlit as st

from components import cache, identity, patient, state
from components.casestore import (
    SUMMARY, case_source, db_errors, error_text, open_case_source, store_exists,
)

# watchwait.store (SQLAlchemy, about 1.2 s to import) is imported only when a link names a meeting or a stored
# case: this module runs on every screen, the first included.


def _notice(text: str) -> None:
    """A plain-text notice shown once on the next screen (the identity notices' channel)."""
    st.session_state.setdefault(identity.NOTICE, []).append(text)

Q_MEETING, Q_CASE = "meeting", "case"
# A stored case opened outside a meeting (Cases screen, Patient screen): ?stored=<pseudonym>&version=<n>
Q_STORED, Q_VERSION = "stored", "version"


# ----------------------------------------------------------------------------- URL

def restore_from_url() -> None:
    """Once per session: reopen the meeting (and the case, as the open patient) that the URL names, or the stored
    case it names (``?stored=&version=``)."""
    if st.session_state.get(state.MEETING_URL_CHECKED):
        return
    st.session_state[state.MEETING_URL_CHECKED] = True
    _restore_meeting()
    _restore_stored()


def _restore_stored() -> None:
    """Reopen the stored case version the URL names, unless a patient is already open (the meeting's case)."""
    raw_p, raw_v = st.query_params.get(Q_STORED), st.query_params.get(Q_VERSION)
    if not raw_p or state.identity()[1]:
        return
    from watchwait.store import InvalidEntry, NotFound

    if not store_exists():
        _notice("The link names a stored case, but this site has no case store yet; open a patient on the Patient screen.")
        return
    version = int(raw_v) if raw_v is not None and str(raw_v).isdigit() and int(raw_v) >= 1 else None
    try:
        store = cache.store()
        v = store.assessment(str(raw_p), version)
        latest = store.assessment(str(raw_p)).version
    except (NotFound, InvalidEntry):
        _notice(f"The link names the case {str(raw_p)[:40]!r}" + (f" (assessment version {version})" if version else "")
                + ", which is not in the case store; find the case on the Cases screen.")
        return
    except db_errors() as exc:
        _notice("The case in the link could not be reopened: " + error_text(exc))
        return
    raw, extra = patient.record_to_raw(v.record)
    state.replace_patient(raw, extra, case_source(v.pseudonym, v.version))
    if latest != v.version:
        _notice(f"Reopened {v.pseudonym} at assessment version {v.version}, as the link names it; the store has a newer "
                f"version ({latest}). Open the newest from the Cases screen.")


def _restore_meeting() -> None:
    raw_m = st.query_params.get(Q_MEETING)
    if not raw_m:
        return
    raw_c = st.query_params.get(Q_CASE)
    if not str(raw_m).isdigit() or int(raw_m) < 1:
        _notice(f"The link names the meeting {raw_m!r}, which is not a meeting number; open a meeting on the Meeting screen.")
        return
    from watchwait.store import NotFound

    mid = int(raw_m)
    if not store_exists():
        _notice(f"The link names meeting {mid}, but this site has no case store yet; create a meeting on the Meeting screen.")
        return
    try:
        store = cache.store()
        m = store.meeting(mid)
        cases = store.meeting_cases(mid)
    except NotFound:
        _notice(f"The link names meeting {mid}, which is not in the case store; open a meeting on the Meeting screen.")
        return
    except db_errors() as exc:
        _notice("The meeting in the link could not be reopened: " + error_text(exc))
        return
    st.session_state[state.MEETING_ID] = m.id
    if raw_c == SUMMARY:
        st.session_state[state.MEETING_CASE] = SUMMARY
        return
    st.session_state[state.MEETING_CASE] = 1
    if raw_c is None:
        return
    if not str(raw_c).isdigit() or not 1 <= int(raw_c) <= len(cases):
        _notice(f"The link names case {raw_c!r} of the meeting of {m.date}, which has {len(cases)} case(s); "
                "the meeting opens at its first case.")
        return
    mc = cases[int(raw_c) - 1]
    st.session_state[state.MEETING_CASE] = mc.position
    if mc.assessment is not None and not state.identity()[1]:
        raw, extra = patient.record_to_raw(mc.assessment.record)
        state.replace_patient(raw, extra, case_source(mc.pseudonym, mc.assessment.version, m.id, mc.position))


def sync_url() -> None:
    """Keep ``?meeting=`` naming the open meeting, and ``?case=`` the case on screen while the open patient is
    that case (or ``summary``), so that a reload carries on where the meeting was."""
    mid = st.session_state.get(state.MEETING_ID)
    want_m = str(mid) if mid else None
    want_c = None
    if mid:
        case = st.session_state.get(state.MEETING_CASE)
        src = open_case_source() or {}
        if case == SUMMARY:
            want_c = SUMMARY
        elif src.get("meeting") == mid and src.get("position") == case:
            want_c = str(case)
    # a stored case open outside the meeting's case on screen: the URL names it (and the version open)
    src = open_case_source()
    carried = src is not None and want_c not in (None, SUMMARY)
    want_s = None if src is None or carried else str(src["name"])
    want_v = None if want_s is None else str(src["version"])
    for key, want in ((Q_MEETING, want_m), (Q_CASE, want_c), (Q_STORED, want_s), (Q_VERSION, want_v)):
        have = st.query_params.get(key)
        if want and have != want:
            st.query_params[key] = want
        elif not want and have is not None:
            del st.query_params[key]


identity.register_url_sync(sync_url)  # on every screen, after the open patient's part of the URL
