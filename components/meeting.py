"""The MDT meeting and the case store on screen: what pages/meeting.py, pages/cases.py and About call.

- **Who** (:func:`actor`): the user's name ("Your name", in the sidebar, or on the Meeting screen when it is
  blank) is the "who" of every write; nothing is written without it.
- **Meeting** (:func:`meeting_screen`): create a meeting; add cases from a cohort CSV (the store validates
  every row first: any bad row and nothing is written, every bad cell listed with its row and the field as
  the form labels it), from the store, or the open patient saved into the store; step through the cases
  (the open patient becomes the case on screen, so every other screen shows it); record a decision per
  case; a summary of every decision; the case PDF and the meeting's FHIR Bundle.
- **Cases** (:func:`cases_screen`): every stored case, searched and paged; opening one opens that patient;
  follow-up for the open case.
- **Binding**: a stored case is opened like any patient (:func:`components.identity.request_switch`: unsaved
  edits are never dropped without a confirmation, and nothing of the previous patient survives). Its
  source is ``{"kind": "store", "name": pseudonym, "version": n}`` (plus ``meeting`` and ``position``
  inside a meeting).
- **Reload** (:func:`restore_from_url`, :func:`sync_url`): ``?meeting=<id>&case=<n>`` reopens the meeting
  at the case (``case=summary``: its summary), and the case's record as the open patient.
- **Conflicts**: every form remembers the version it was opened on (``state.SEEN``); the store refuses a
  save made on an older version (:class:`watchwait.store.VersionConflict`), shown as a plain message with a
  button that reloads the case. Nothing is overwritten silently.

User text (pseudonyms, names, titles, rationale, file names, messages quoting them) goes through
:func:`components.safe.md` in Markdown; tables (``st.dataframe``) and selectbox options are plain text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import SimpleNamespace

import streamlit as st

from components import fmt, identity, layout, patient, state
from components.safe import md
from watchwait.errors import RecordError, WatchwaitError
from watchwait.labels import code_text

SCREEN_MEETING = "Meeting"
SCREEN_CASES = "Cases"
Q_MEETING, Q_CASE = "meeting", "case"
# A stored case opened outside a meeting (Cases screen, Patient screen): ?stored=<pseudonym>&version=<n>
Q_STORED, Q_VERSION = "stored", "version"
SUMMARY = "summary"
PAGE_SIZE = 25
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
    """A stored UTC time as '2026-11-30 14:03 UTC'."""
    if not ts:
        return ""
    return dt.datetime.fromisoformat(ts).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _flash(kind: str, text: str) -> None:
    """A message (Markdown-safe text) shown once, after the rerun that follows a write."""
    st.session_state[state.MEETING_FLASH] = [*(st.session_state.get(state.MEETING_FLASH) or []), (kind, text)]


def show_flash() -> None:
    for kind, text in st.session_state.pop(state.MEETING_FLASH, None) or []:
        {"success": st.success, "error": st.error, "warning": st.warning}.get(kind, st.info)(text)


def _notice(text: str) -> None:
    """A plain-text notice shown once on the next screen (the identity notices' channel)."""
    st.session_state.setdefault(identity.NOTICE, []).append(text)


def _db_errors() -> tuple[type[BaseException], ...]:
    """What a store call may raise besides its own refusals: the database gone (server down, file removed)."""
    from sqlalchemy.exc import DBAPIError

    return (WatchwaitError, DBAPIError)


def _error_text(exc: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        return ("The case store did not answer (" + type(exc.orig or exc).__name__ + "); nothing was saved. "
                "Check that the database is running, then reload the page.")
    return str(exc)


# ----------------------------------------------------------------------------- who

def actor() -> str:
    return str(st.session_state.get(state.ACTOR) or "").strip()


def _actor_changed(key: str) -> None:
    st.session_state[state.ACTOR] = " ".join(str(st.session_state.get(key) or "").split())[:200]


def actor_field(key: str) -> None:
    """The "Your name" field (``key``: the sidebar's or the Meeting screen's), showing ``state.ACTOR``."""
    st.session_state[key] = st.session_state.get(state.ACTOR, "")
    st.text_input("Your name", key=key, on_change=_actor_changed, args=(key,), max_chars=200, help=NAME_HELP,
                  placeholder="e.g. Dr A. Jones")


def actor_sidebar() -> None:
    """The sidebar's "Your name" (desk mode; the Meeting screen asks for it too when it is blank)."""
    if state.presentation():
        return
    with st.sidebar:
        actor_field(state.ACTOR_WIDGET)


def name_required(what: str) -> bool:
    """True when a name is entered; otherwise says why it is needed before ``what`` and returns False."""
    if actor():
        return True
    st.warning(f"Enter your name (\"Your name\") before {what}: the case store records who made every change.",
               icon=":material/badge:")
    return False


# ----------------------------------------------------------------------------- the store

def get_store():
    """The case store, or None after saying why it could not be opened."""
    from components import cache

    try:
        return cache.store()
    except _db_errors() as exc:
        st.error("**The case store could not be opened**, so meetings and cases are not available: "
                 + md(_error_text(exc)), icon=":material/database:")
        return None


def store_exists() -> bool:
    """A database is configured (``WATCHWAIT_DATABASE_URL``) or the default file was already made. Viewing a
    screen never creates the default database file: the first write does."""
    import os
    from pathlib import Path

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


def _forget_asked() -> None:
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
    except _db_errors() as exc:
        out.error("**Not saved.** " + md(_error_text(exc)))
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
        except _db_errors() as exc:
            _flash("error", md(_error_text(exc)))
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
    from components import cache
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
    except _db_errors() as exc:
        _notice("The case in the link could not be reopened: " + _error_text(exc))
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
    from components import cache
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
    except _db_errors() as exc:
        _notice("The meeting in the link could not be reopened: " + _error_text(exc))
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


# ----------------------------------------------------------------------------- meeting: set-up

def open_meeting(meeting_id: int | None, case: int | str = 1) -> None:
    st.session_state[state.MEETING_ID] = meeting_id
    st.session_state[state.MEETING_CASE] = case
    st.session_state[state.BIND_ASKED] = None


def meeting_label(m) -> str:
    """A meeting as a picker option (plain text)."""
    return f"{m.date} · {m.title} ({m.n_cases} case{'s' if m.n_cases != 1 else ''}, {m.n_decided} decided)"


def _picked() -> None:
    """The meeting picker's choice. The browser sends a picker's value as its label, and this label counts the
    decisions: a click elsewhere right after a decision can carry the label from before it, which Streamlit passes
    on as the text itself and calls this as a change (a fresh-clone browser run once lost the chair's place, case
    3 -> 1, on the Presentation mode switch). Only another meeting, chosen by its number, reopens at its first case;
    "no meeting" closes it."""
    choice = st.session_state.get(state.MEETING_CHOICE)
    if choice is None:
        open_meeting(None)
    elif isinstance(choice, int) and choice != st.session_state.get(state.MEETING_ID):
        open_meeting(choice, 1)


def meeting_picker(store, meetings: list) -> None:
    ids = [m.id for m in meetings]
    by_id = {m.id: m for m in meetings}
    current = st.session_state.get(state.MEETING_ID)
    st.session_state[state.MEETING_CHOICE] = current if current in by_id else None
    st.selectbox("Meeting", ids, key=state.MEETING_CHOICE, index=None, on_change=_picked,
                 format_func=lambda i: meeting_label(by_id[i]), placeholder="Choose a meeting, or create one")


def new_meeting_form(store) -> None:
    with st.form(key=state.meeting_key("new"), clear_on_submit=False, border=True):
        st.markdown("**New meeting**")
        c1, c2 = st.columns([1, 2])
        date = c1.date_input("Meeting date", key=state.meeting_key("new_date"), format="YYYY-MM-DD")
        title = c2.text_input("Title", key=state.meeting_key("new_title"), max_chars=200,
                              placeholder="e.g. Colorectal MDT")
        go = st.form_submit_button("Create meeting", key=state.meeting_key("create"), type="primary")
    if go:
        store = store or get_store()  # the first meeting makes the database
        if store is None:
            return
        try:
            m = store.create_meeting(date, title, actor=actor(), screen=SCREEN_MEETING)
        except _db_errors() as exc:
            st.error("**The meeting was not created.** " + md(_error_text(exc)))
            return
        open_meeting(m.id, 1)
        _flash("success", f"Meeting of {m.date} created: {md(m.title)}. Add its cases below.")
        st.rerun()


def import_issue_rows(report) -> list[dict]:
    """Every bad cell of an import as a table row: the row (spreadsheet numbering, header = row 1), the field
    as the form labels it, and what is wrong and allowed."""
    from watchwait.schema import BY_NAME

    rows = []
    for i in report.issues:
        msg = str(i.message)
        prefix = f"row {i.row}, "
        if i.row is not None and msg.startswith(prefix):
            msg = msg[len(prefix):]
        text = fmt.issue_text(SimpleNamespace(column=i.column, message=msg)) if i.column else msg
        f = BY_NAME.get(str(i.column)) if i.column else None
        rows.append({"Row": i.row, "Field": f.label if f is not None else (i.column or "the whole file"), "Problem": text})
    return rows


def import_section(store, m) -> None:
    up = st.file_uploader("Import cases from a cohort CSV (data-dictionary columns, one row per patient)",
                          type=["csv"], key=state.import_key())
    go = st.button("Import into this meeting", key=state.meeting_key("import"), disabled=up is None, type="primary")
    if not (go and up is not None):
        return
    try:
        rep = store.import_cases(m.id, up.getvalue(), actor=actor(), screen=SCREEN_MEETING, source=up.name)
    except _db_errors() as exc:
        st.error("**Nothing was imported.** " + md(_error_text(exc)))
        return
    if rep.ok:
        st.session_state[state.IMPORT_NONCE] = int(st.session_state.get(state.IMPORT_NONCE, 0)) + 1
        _flash("success", f"Imported {rep.rows} case(s) from {md(up.name)}: {rep.added_to_meeting} added to this meeting "
                          f"({rep.new_patients} new to the store, {rep.new_versions} new assessment version(s)).")
        st.rerun()
    rows = import_issue_rows(rep)
    bad = rep.bad_rows
    head = (f"**{md(up.name)} was not imported: nothing was written.** "
            + (f"{len(bad)} of its {rep.rows} rows have invalid values ({len(rows)} in all): rows "
               + ", ".join(str(r) for r in bad) + ". Fix them and import the file again."
               if bad else "The file cannot be read as a cohort file."))
    lines = [f"- {'Row ' + str(r['Row']) + ', ' if r['Row'] else ''}{md(r['Problem'])}" for r in rows[:30]]
    more = [f"- ... and {len(rows) - 30} more in the table below"] if len(rows) > 30 else []
    st.error(head + "\n\n" + "\n".join(lines + more), icon=":material/error:")
    st.dataframe(rows, hide_index=True, width="stretch", key=state.meeting_key("import_issues"))


def add_from_store(store, m, on_meeting: set[str]) -> None:
    q = st.text_input("Find a stored case (part of its pseudonym)", key=state.meeting_key("find"), max_chars=64)
    try:
        found = store.list_cases(search=q or None, page_size=50)
    except _db_errors() as exc:
        st.error(md(_error_text(exc)))
        return
    options = [c.pseudonym for c in found.items if c.pseudonym not in on_meeting]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pick = c1.selectbox("Stored case to add", options, index=None, key=state.meeting_key("pick"),
                        placeholder="No stored case matches" if not options else "Choose a case")
    if c2.button("Add to this meeting", key=state.meeting_key("add"), disabled=pick is None):
        try:
            pos = store.add_case(m.id, pick, actor=actor(), screen=SCREEN_MEETING)
        except _db_errors() as exc:
            st.error("**Not added.** " + md(_error_text(exc)))
            return
        _flash("success", f"{md(pick)} added to this meeting as case {pos}.")
        st.rerun()
    if found.total > len(found.items):
        st.caption(f"The first {len(found.items)} of {found.total} stored cases; type part of a pseudonym to narrow.")


def add_open_patient(store, m) -> None:
    pid = state.identity()[1]
    if patient.is_empty():
        st.caption("No patient is open. Type one on the Patient screen, then save it here.")
        return
    problems = patient.issues()
    if problems:
        st.caption(f"The open patient {md(pid)} has {len(problems)} invalid entr{'y' if len(problems) == 1 else 'ies'}; "
                   "fix them on the Patient screen first.")
        return
    src = open_case_source()
    st.caption(f"Open patient: {md(pid)}"
               + (f" (stored case, version {src['version']}" + (", unsaved changes" if identity.unsaved_changes() else "")
                  + ")" if src else " (not in the case store yet)"))
    out = st.container()
    if st.button("Save the open patient to the case store and add it to this meeting", key=state.meeting_key("add_open")):
        v = save_open_patient(store, SCREEN_MEETING, out)
        if v is None:
            return
        try:
            pos = store.add_case(m.id, v.pseudonym, actor=actor(), screen=SCREEN_MEETING)
        except _db_errors() as exc:
            out.error("**Saved, but not added to the meeting.** " + md(_error_text(exc)))
            return
        _flash("success", f"{md(v.pseudonym)} saved (assessment version {v.version}) and on this meeting as case {pos}.")
        st.rerun()


def cases_table(cases: list) -> list[dict]:
    """The meeting's list (plain text cells)."""
    rows = []
    for mc in cases:
        pr, d = mc.prediction, mc.decision
        rows.append({"Case": mc.position, "Patient": mc.pseudonym,
                     "Assessment version": None if mc.assessment is None else mc.assessment.version,
                     "Probability": "" if pr is None else fmt.pct(pr.probability),
                     "Suggested": "" if pr is None else suggested_text(pr.suggestion),
                     "Decision": "not decided" if d is None else pathway_text(d.pathway),
                     "Recorded by": "" if d is None else d.actor})
    return rows


# ----------------------------------------------------------------------------- meeting: stepping through

def _go(case: int | str) -> None:
    st.session_state[state.MEETING_CASE] = case
    st.session_state[state.BIND_ASKED] = None


def _jumped() -> None:
    """The "Go to case" picker: a case number or the summary. A stale label (see :func:`_picked`) is not one."""
    choice = st.session_state[state.MEETING_JUMP]
    if choice != st.session_state.get(state.MEETING_CASE) and (isinstance(choice, int) or choice == SUMMARY):
        _go(choice)


def navigator(m, cases: list, current: int | str, large: bool) -> None:
    """Previous / where we are / Next / Summary. Desk mode: "where we are" is a picker that jumps to any case."""
    n = len(cases)
    pos = current if isinstance(current, int) else n + 1
    decided = sum(1 for mc in cases if mc.decision is not None)
    c1, c2, c3, c4 = st.columns([1, 2.6, 1, 1.2], vertical_alignment="center")
    c1.button("Previous case", key=state.meeting_key("prev"), icon=":material/arrow_back:", disabled=pos <= 1,
              on_click=_go, args=(min(pos - 1, n) if pos > 1 else 1,), width="stretch")
    with c2:
        if large:
            where = "Summary" if current == SUMMARY else f"Case {pos} of {n}"
            st.markdown(f"**{where}** · {md(m.title)}, {m.date} · {decided} of {n} decided")
        else:
            options = [mc.position for mc in cases] + [SUMMARY]
            names = {mc.position: f"Case {mc.position} of {n}: {mc.pseudonym}"
                     + (f" ({pathway_text(mc.decision.pathway)})" if mc.decision else "") for mc in cases}
            st.session_state[state.MEETING_JUMP] = current
            st.selectbox("Go to case", options, key=state.MEETING_JUMP, on_change=_jumped, label_visibility="collapsed",
                         format_func=lambda o: f"Summary of the meeting ({decided} of {n} decided)" if o == SUMMARY else names[o])
    c3.button("Next case", key=state.meeting_key("next"), icon=":material/arrow_forward:", disabled=pos >= n,
              on_click=_go, args=(pos + 1 if pos < n else n,), width="stretch")
    c4.button("Summary", key=state.meeting_key("summary"), icon=":material/summarize:", disabled=current == SUMMARY,
              on_click=_go, args=(SUMMARY,), width="stretch", type="primary" if pos >= n else "secondary")


def changes_since(mc) -> None:
    """What changed since the case was last discussed (at another meeting)."""
    from watchwait.labels import value_text

    prev = mc.previous_decision
    if prev is None:
        st.markdown("**First discussion** of this case (no earlier decision in the store).")
        return
    head = (f"**Last discussed at the meeting of {prev.meeting_date}**: {pathway_text(prev.pathway)} "
            f"(recorded by {md(prev.actor)}, {when(prev.recorded_at)}).")
    if not mc.changes:
        st.markdown(head + " No change in the record since then.")
        return
    st.markdown(head + f" **{len(mc.changes)} change{'s' if len(mc.changes) != 1 else ''}** in the record since then:")
    st.dataframe([{"Field": c.label, "Then": value_text(c.field, c.before), "Now": value_text(c.field, c.after)}
                  for c in mc.changes], hide_index=True, width="stretch", key=state.meeting_key("changes"))


def ensure_prediction(store, mc, a, bundle):
    """Store the prediction shown for this stored case (once per assessment version and model)."""
    from watchwait.store import prediction_fields, record_hash

    pr = mc.prediction
    if pr is not None and pr.model_version == a.model_version and pr.input_hash == record_hash(a.record):
        return pr
    return store.record_prediction(mc.assessment.id, **prediction_fields(a, bundle), actor=actor(), screen=SCREEN_MEETING)


SCREEN_ASSESSMENT = "Assessment"


def keep_shown_prediction(a) -> None:
    """The Assessment screen: when the open patient is a stored case, unchanged since it was opened, the prediction
    shown is kept with that assessment version (once per version, model and input; the Meeting screen does the same
    through :func:`ensure_prediction`). Nothing is kept for an edited record (it is not the stored one) or without
    a name (every write says who); the screen says so in one line."""
    from components import cache
    from watchwait.store import prediction_fields, record_hash

    src = open_case_source()
    if src is None or a.model_version is None:
        return
    if identity.unsaved_changes():
        st.caption("This prediction is of your unsaved changes, not of the stored case: it is not kept with the case.")
        return
    if not actor():
        st.caption("Enter your name in the sidebar to keep this prediction with the stored case (every write says who).")
        return
    kept = st.session_state.setdefault(state.PREDICTIONS_KEPT, set())
    store = existing_store()
    if store is None:
        return
    try:
        v = store.assessment(str(src["name"]), int(src["version"]))
        key = (v.id, a.model_version, record_hash(a.record))
        if key in kept:
            return
        if not any((p.model_version, p.input_hash) == key[1:] for p in store.predictions(v.id)):
            store.record_prediction(v.id, **prediction_fields(a, cache.model_bundle()), actor=actor(),
                                    screen=SCREEN_ASSESSMENT)
        kept.add(key)
    except _db_errors() as exc:
        st.warning("The prediction shown could not be kept with the case: " + md(_error_text(exc)))


def assessment_of(record: Mapping):
    """The engine's assessment of a stored record (memoised in the session), or None after saying why."""
    from watchwait import ModelArtifactError

    try:
        return patient.assess(dict(record))
    except RecordError as exc:
        st.error("The stored record has invalid entries: " + " ".join(md(fmt.issue_text(i)) for i in exc.issues))
    except ModelArtifactError as exc:
        st.error(f"The model could not be loaded, so no assessment can be shown: {md(exc)}")
    return None


def assessment_block(a, large: bool) -> None:
    """The case's assessment with the Assessment screen's own views (notices first, then the number)."""
    from components import views

    layout.facts_banner(a.record)
    views.notices(a, with_reminders=False, compact=large)
    if a.in_scope:
        left, middle, right = st.columns([0.85, 1.2, 1.25] if large else [1, 1.1, 1.3], gap="medium")
        with left:
            views.probability(a, large=large)
            views.category(a)
        with middle:
            views.top_reasons(a)
        with right:
            views.suggestion(a, large=large)
    else:
        views.category(a)
        views.suggestion(a, brief=True)
    st.page_link("pages/assessment.py", label="The full assessment: why, every input, icon array",
                 icon=":material/monitoring:")


def decision_summary(d):
    from watchwait.export import DecisionSummary

    return DecisionSummary(pathway=d.pathway, follows_suggestion=d.follows_suggestion,
                           reason_not_followed=d.reason_not_followed or "", rationale=d.rationale, present=tuple(d.present),
                           dissent=d.dissent or "", recorded_by=d.actor,
                           recorded_at=dt.datetime.fromisoformat(d.recorded_at))


def case_pdf_bytes(record: Mapping, a, m, decision, bundle, paper: str = "A4") -> bytes:
    """The one-page case PDF (watchwait.export.pdf) for the notes."""
    from watchwait.export import ModelInfo
    from watchwait.export.pdf import case_pdf

    return case_pdf(record, a, meeting_date=dt.date.fromisoformat(m.date), meeting_title=m.title,
                    decision=None if decision is None else decision_summary(decision),
                    model_info=ModelInfo.from_bundle(bundle), paper=paper)


def meeting_bundle_json(store, meeting_id: int, bundle) -> str:
    """The meeting's FHIR R4 Bundle (JSON): a RiskAssessment per case with an assessment, by the model in use.
    Runs outside a script run (a deferred download): no Streamlit calls."""
    from threadpoolctl import threadpool_limits

    import watchwait
    from watchwait.export import Meeting, ModelInfo
    from watchwait.export.fhir import meeting_bundle, to_json

    m = store.meeting(meeting_id)
    info = ModelInfo.from_bundle(bundle)
    items = []
    with threadpool_limits(limits=1, user_api="openmp"):
        for mc in store.meeting_cases(meeting_id):
            if mc.assessment is None:
                continue
            a = watchwait.assess(dict(mc.assessment.record), model=bundle)
            pr = mc.prediction
            occurrence = (dt.datetime.fromisoformat(pr.recorded_at) if pr is not None and pr.model_version == a.model_version
                          else dt.date.fromisoformat(m.date))
            items.append((a, info, occurrence))
    return to_json(meeting_bundle(Meeting(dt.date.fromisoformat(m.date), m.title), items))


def recorded_decision(d) -> None:
    """A recorded decision, in words (user text escaped)."""
    follows = ("follows the suggestion" if d.follows_suggestion
               else f"does not follow the suggestion; why: {md(d.reason_not_followed or '')}")
    lines = [f"**Decision recorded: {pathway_text(d.pathway)}** ({follows}).",
             f"Rationale: {md(d.rationale)}",
             f"Present: {md(', '.join(d.present))}"]
    if d.dissent:
        lines.append(f"Dissent: {md(d.dissent)}")
    lines.append(f"Recorded by {md(d.actor)}, {when(d.recorded_at)} (version {d.version}, on assessment version "
                 f"{d.assessment_version}).")
    with st.container(border=True, key="ww-decision-recorded"):
        st.markdown("  \n".join(lines))


def _lines(text: object) -> list[str]:
    return [" ".join(x.split()) for x in str(text or "").splitlines() if x.strip()]


def decision_form(store, m, mc, a, cases: list) -> None:
    """The decision form of one case (a correction is a new version); the versions it was opened on are the
    store's expected versions."""
    from watchwait.store import VersionConflict

    p = mc.pseudonym
    ck = f"{m.id}:{p}"

    def key(what: str) -> str:
        return state.decision_key(m.id, p, what)

    seen = st.session_state[state.SEEN]
    fresh = key("rationale") not in st.session_state
    if fresh or ck not in seen:
        seen[ck] = {"decision": None if mc.decision is None else mc.decision.version, "assessment": mc.assessment.version}
    if fresh:
        d = mc.decision
        if d is not None:
            st.session_state[key("pathway")] = d.pathway
            st.session_state[key("follows")] = "yes" if d.follows_suggestion else "no"
            st.session_state[key("reason")] = d.reason_not_followed or ""
            st.session_state[key("rationale")] = d.rationale
            st.session_state[key("present")] = "\n".join(d.present)
            st.session_state[key("dissent")] = d.dissent or ""
        else:
            last = max((c.decision for c in cases if c.decision is not None), key=lambda x: x.recorded_at, default=None)
            present = (st.session_state[state.MEETING_PRESENT].get(str(m.id))
                       or (list(last.present) if last is not None else []))
            st.session_state[key("present")] = "\n".join(present)
    if mc.decision is not None:
        recorded_decision(mc.decision)
    show_conflict(store, "decision", ck)
    out = st.container()
    s = a.suggestion
    title = "Record a correction (a new version; the first stays in the record)" if mc.decision else "Record the MDT decision"
    with st.form(key=f"decision:{ck}", border=True):
        st.markdown(f"**{title}**  \nSuggested: {s.headline} (rule {s.rule_id}).")
        st.radio("Pathway decided", PATHWAYS, format_func=pathway_text, index=None, key=key("pathway"), horizontal=True)
        st.radio("Does the decision follow the suggestion?", ("yes", "no"), index=None, key=key("follows"), horizontal=True,
                 format_func=lambda v: "Yes, it follows the suggestion" if v == "yes" else "No: say why below")
        c1, c2 = st.columns(2)
        c1.text_area("Why not the suggestion (required when the decision does not follow it)", key=key("reason"),
                     height=90, max_chars=4000)
        c2.text_area("Rationale (required)", key=key("rationale"), height=90, max_chars=4000)
        c1.text_area("People present (one per line; required)", key=key("present"), height=90)
        c2.text_area("Dissent (if any)", key=key("dissent"), height=90, max_chars=4000)
        go = st.form_submit_button("Record a correction" if mc.decision else "Record the decision",
                                   key=key("submit"), type="primary")
    if not go:
        return
    pathway, follows = st.session_state.get(key("pathway")), st.session_state.get(key("follows"))
    missing = ([] if pathway else ["the pathway decided"]) + ([] if follows else ["whether it follows the suggestion"])
    if missing:
        out.error("**Not recorded**: choose " + " and ".join(missing) + ".", icon=":material/error:")
        return
    reason = str(st.session_state.get(key("reason")) or "").strip()
    try:
        d = store.record_decision(
            m.id, p, pathway=pathway, follows_suggestion=follows == "yes", reason_not_followed=reason or None,
            rationale=str(st.session_state.get(key("rationale")) or ""), present=_lines(st.session_state.get(key("present"))),
            dissent=str(st.session_state.get(key("dissent")) or "").strip() or None, actor=actor(), screen=SCREEN_MEETING,
            expected_version=seen[ck]["decision"], assessment_version=seen[ck]["assessment"])
    except VersionConflict as exc:
        set_conflict("decision", ck, exc)
        st.rerun()
    except _db_errors() as exc:
        out.error("**Not recorded.** " + md(_error_text(exc)), icon=":material/error:")
        return
    seen[ck] = {"decision": d.version, "assessment": d.assessment_version}
    st.session_state[state.MEETING_PRESENT][str(m.id)] = list(d.present)
    _flash("success", f"Decision recorded for {md(p)}: {pathway_text(d.pathway)} (version {d.version}, by {md(d.actor)}).")
    st.rerun()


def _paper_key() -> str:
    return state.meeting_key("paper")


def exports(store, m, mc=None, a=None, record=None) -> None:
    """The case PDF (when a case is on screen) and the meeting's FHIR Bundle: made when clicked."""
    from components import cache

    bundle = cache.model_bundle()
    cols = st.columns([1.1, 1.6, 1.9] if mc is not None else [1.9, 2.7], vertical_alignment="bottom")
    i = 0
    if mc is not None:
        if _paper_key() not in st.session_state:
            st.session_state[_paper_key()] = "A4"
        paper = cols[0].radio("Paper", ("A4", "Letter"), key=_paper_key(), horizontal=True)
        decision = mc.decision
        cols[1].download_button("Case PDF for the notes", data=lambda: case_pdf_bytes(record, a, m, decision, bundle, paper),
                                file_name=f"{mc.pseudonym}_{m.date}.pdf", mime="application/pdf",
                                key=state.meeting_key("pdf"), icon=":material/picture_as_pdf:", on_click="ignore")
        i = 2
    cols[i].download_button("Meeting FHIR Bundle (JSON)", data=lambda: meeting_bundle_json(store, m.id, bundle),
                            file_name=f"meeting-{m.id}_{m.date}.fhir.json", mime="application/fhir+json",
                            key=state.meeting_key("fhir"), icon=":material/download:", on_click="ignore")


def case_view(store, m, cases: list, mc, large: bool, bound: str) -> None:
    st.subheader(f"Case {mc.position} of {len(cases)}: {md(mc.pseudonym)}")
    if bound == "declined":
        st.warning(f"The open patient is still {md(state.identity()[1])}, with unsaved changes: this case is shown from "
                   "the case store, and the other screens still show the open patient.", icon=":material/person_alert:")
        st.button("Open this case (discard the unsaved changes)", key=state.meeting_key("rebind"), on_click=_forget_asked)
    if mc.assessment is None:
        st.info("This case has no assessment in the store.")
        return
    with st.container(border=True, key="ww-changes"):
        changes_since(mc)
    a = assessment_of(mc.assessment.record)
    if a is None:
        return
    from components import cache

    try:
        ensure_prediction(store, mc, a, cache.model_bundle())
    except _db_errors() as exc:
        st.warning("The prediction shown could not be stored: " + md(_error_text(exc)))
    assessment_block(a, large)
    decision_form(store, m, mc, a, cases)
    exports(store, m, mc, a, mc.assessment.record)


def summary_rows(cases: list) -> list[dict]:
    rows = []
    for mc in cases:
        d = mc.decision
        if d is None:
            rows.append({"Case": mc.position, "Patient": mc.pseudonym, "Decision": "not decided", "Follows the suggestion": "",
                         "Rationale": "", "Present": "", "Dissent": "", "Recorded by": "", "When": ""})
            continue
        rows.append({"Case": mc.position, "Patient": mc.pseudonym, "Decision": pathway_text(d.pathway),
                     "Follows the suggestion": "yes" if d.follows_suggestion else f"no: {d.reason_not_followed}",
                     "Rationale": d.rationale, "Present": ", ".join(d.present), "Dissent": d.dissent or "",
                     "Recorded by": d.actor, "When": when(d.recorded_at) + (f" (version {d.version})" if d.version > 1 else "")})
    return rows


def summary_view(store, m, cases: list, large: bool = False) -> None:
    decided = [mc for mc in cases if mc.decision is not None]
    st.subheader(f"Summary: {len(decided)} of {len(cases)} case{'s' if len(cases) != 1 else ''} decided")
    open_ = [mc for mc in cases if mc.decision is None]
    if open_:
        st.warning("Not decided yet: " + ", ".join(f"case {mc.position} ({md(mc.pseudonym)})" for mc in open_) + ".",
                   icon=":material/pending_actions:")
    rows = summary_rows(cases)
    if large:
        # the shared screen: what was decided and why (who recorded it and when stay on the desk view), as an HTML
        # table in the screen's 24 px type with every cell wrapped (a dataframe is drawn on a canvas at its own small
        # size). st.table renders Markdown, so every cell goes through md(): typed text stays text.
        rows = [{k: md("" if v is None else v) for k, v in r.items() if k not in ("Recorded by", "When")} for r in rows]
        st.table(rows, hide_index=True)
    else:
        st.dataframe(rows, hide_index=True, width="stretch", key=state.meeting_key("summary_table"),
                     column_config={"Rationale": st.column_config.TextColumn(width="large"),
                                    "Present": st.column_config.TextColumn(width="medium")})
    exports(store, m)


def _case_at(cases: list, current) -> object | None:
    if current == SUMMARY or not cases:
        return None
    pos = current if isinstance(current, int) and 1 <= current <= len(cases) else 1
    return cases[pos - 1]


def meeting_screen() -> None:
    """The Meeting screen (pages/meeting.py)."""
    from components import cache

    large = state.presentation()
    store, cases, m, bound = None, [], None, "bound"
    error = None
    mid = st.session_state.get(state.MEETING_ID)
    if actor() and store_exists():
        try:
            store = cache.store()
            if mid:
                m = store.meeting(mid)
                cases = store.meeting_cases(mid)
        except _db_errors() as exc:
            error = exc
        if m is not None:
            if not cases:
                st.session_state[state.MEETING_CASE] = 1
            elif st.session_state.get(state.MEETING_CASE) != SUMMARY:
                mc = _case_at(cases, st.session_state.get(state.MEETING_CASE))
                st.session_state[state.MEETING_CASE] = mc.position
                if mc.assessment is not None:
                    bound = bind_case(m.id, mc)  # before the header: every screen shows this case from now on
        elif mid and error is None:
            open_meeting(None)
    sync_url()
    layout.header("Meeting")
    if error is not None:
        from watchwait.store import NotFound

        if isinstance(error, NotFound):
            open_meeting(None)
        st.error("**The case store could not be read.** " + md(_error_text(error)), icon=":material/database:")
        st.stop()
    if not actor():
        st.info("Enter your name to run a meeting: the case store records who created the meeting, who added each "
                "case and who recorded each decision.", icon=":material/badge:")
        actor_field(state.ACTOR_INLINE)
        st.stop()
    show_flash()
    if store is not None:
        show_conflict(store, "assessment", state.identity()[1])
    switch_prompt()
    if not large:
        try:
            meetings = [] if store is None else store.meetings()
        except _db_errors() as exc:
            st.error(md(_error_text(exc)))
            st.stop()
        c1, c2 = st.columns([1, 1.4], gap="large")
        with c1:
            meeting_picker(store, meetings)
            if m is not None:
                st.caption(f"Created by {md(m.created_by)}, {when(m.created_at)}. The address bar holds this meeting and "
                           "the case on screen: a reload carries on here.")
        with c2, st.expander("New meeting", expanded=m is None, icon=":material/add:"):
            new_meeting_form(store)
    if m is None:
        if large:
            st.info("No meeting is open: turn Presentation mode off to choose or create one.")
        return
    if not large:
        st.markdown(f"### {md(m.title)} · {m.date}")
        with st.expander(f"Add cases ({len(cases)} on the list)", expanded=not cases, icon=":material/playlist_add:"):
            t1, t2, t3 = st.tabs(["From a cohort CSV", "From the case store", "The open patient"])
            with t1:
                import_section(store, m)
            with t2:
                add_from_store(store, m, {mc.pseudonym for mc in cases})
            with t3:
                add_open_patient(store, m)
        if cases:
            with st.expander(f"The meeting's cases ({len(cases)})", icon=":material/list:"):
                st.dataframe(cases_table(cases), hide_index=True, width="stretch", key=state.meeting_key("cases_table"))
    if not cases:
        st.info("No cases on this meeting yet: add them above (a cohort CSV, stored cases, or the open patient).")
        return
    current = st.session_state.get(state.MEETING_CASE)
    navigator(m, cases, current, large)
    if current == SUMMARY:
        summary_view(store, m, cases, large)
        return
    mc = _case_at(cases, current)
    if bound == "asking":
        st.info(f"Case {mc.position} ({md(mc.pseudonym)}) opens as the patient on every screen once you answer above.")
    case_view(store, m, cases, mc, large, bound)


# ----------------------------------------------------------------------------- cases screen

def _reset_page() -> None:
    st.session_state[state.CASES_PAGE] = 1


def _page(delta: int) -> None:
    st.session_state[state.CASES_PAGE] = max(1, int(st.session_state.get(state.CASES_PAGE, 1)) + delta)


def _open_stored(store, pseudonym: str) -> None:
    try:
        v = store.assessment(pseudonym)
    except _db_errors() as exc:
        _flash("error", "**Not opened.** " + md(_error_text(exc)))
        return
    open_record(v.record, case_source(v.pseudonym, v.version))
    if not st.session_state.get(state.PENDING_SWITCH):
        _flash("success", f"{md(pseudonym)} is open (assessment version {v.version}): every screen shows this case.")


FOLLOW_FILTER = {"all": "All cases", "pending": "Follow-up pending (decided, no follow-up since)",
                 "done": "No follow-up pending"}


def case_rows(items) -> list[dict]:
    return [{"Patient": c.pseudonym, "Assessment version": c.assessment_version, "Saved": when(c.saved_at),
             "Last meeting": c.last_meeting_date or "", "Decision": pathway_text(c.pathway) or "not decided",
             "Decided": when(c.decided_at),
             "Follow-up": "pending" if c.pending_follow_up else (f"version {c.follow_up_version}" if c.follow_up_version else "")}
            for c in items]


def cases_list(store) -> None:
    meetings = store.meetings()
    by_id = {m.id: m for m in meetings}
    c1, c2, c3, c4 = st.columns([1.3, 1.5, 1.2, 1.4])
    search = c1.text_input("Pseudonym contains", key=state.cases_key("search"), max_chars=64, on_change=_reset_page)
    if st.session_state.get(state.cases_key("meeting")) not in by_id:
        st.session_state[state.cases_key("meeting")] = None
    mid = c2.selectbox("Meeting", list(by_id), index=None, key=state.cases_key("meeting"), on_change=_reset_page,
                       format_func=lambda i: meeting_label(by_id[i]), placeholder="Any meeting")
    pathway = c3.selectbox("Decision", PATHWAYS, index=None, key=state.cases_key("pathway"), on_change=_reset_page,
                           format_func=pathway_text, placeholder="Any decision")
    follow = c4.selectbox("Follow-up", list(FOLLOW_FILTER), key=state.cases_key("follow"), on_change=_reset_page,
                          format_func=FOLLOW_FILTER.get)
    page_no = int(st.session_state.get(state.CASES_PAGE, 1))
    kw = {"search": search or None, "meeting_id": mid, "pathway": pathway,
          "pending_follow_up": {"all": None, "pending": True, "done": False}[follow], "page_size": PAGE_SIZE}
    page = store.list_cases(page=page_no, **kw)
    if page_no > page.pages:
        st.session_state[state.CASES_PAGE] = page_no = page.pages
        page = store.list_cases(page=page_no, **kw)
    st.caption(f"{page.total} case{'s' if page.total != 1 else ''}" + (" match" if any([search, mid, pathway]) or follow != "all" else "")
               + f" · page {page.page} of {page.pages}")
    st.dataframe(case_rows(page.items), hide_index=True, width="stretch", key=state.cases_key("table"))
    n1, n2, n3, n4 = st.columns([1, 1, 2.2, 1], vertical_alignment="bottom")
    n1.button("Previous page", key=state.cases_key("prev"), disabled=page.page <= 1, on_click=_page, args=(-1,),
              icon=":material/arrow_back:", width="stretch")
    n2.button("Next page", key=state.cases_key("next"), disabled=page.page >= page.pages, on_click=_page, args=(1,),
              icon=":material/arrow_forward:", width="stretch")
    names = [c.pseudonym for c in page.items]
    if st.session_state.get(state.cases_key("open")) not in names:
        st.session_state[state.cases_key("open")] = None
    pick = n3.selectbox("Case to open", names, index=None, key=state.cases_key("open"), placeholder="Choose a case on this page")
    n4.button("Open", key=state.cases_key("open_button"), disabled=pick is None, type="primary", width="stretch",
              on_click=_open_stored, args=(store, pick))


def follow_up_form(store, pseudonym: str) -> None:
    """The data dictionary's follow-up columns for the open case (validated by the store; a new version each time)."""
    from components.form import NOT_AVAILABLE, label
    from watchwait.schema import BY_NAME, FOLLOW_UP
    from watchwait.store import VersionConflict

    fups = store.follow_ups(pseudonym)
    latest = fups[-1] if fups else None

    def key(what: str) -> str:
        return state.follow_up_key(pseudonym, what)

    sk = f"follow_up:{pseudonym}"
    seen = st.session_state[state.SEEN]
    fresh = key(FOLLOW_UP[0]) not in st.session_state
    if fresh or sk not in seen:
        seen[sk] = None if latest is None else latest.version
    if fresh and latest is not None:
        for name, value in latest.data.items():
            st.session_state[key(name)] = ("true" if value else "false") if isinstance(value, bool) else (
                f"{value:g}" if isinstance(value, float) else str(value))
    show_conflict(store, "follow_up", pseudonym)
    out = st.container()
    with st.form(key=f"follow_up:{pseudonym}", border=True):
        st.markdown("**Record follow-up** (a new version each time; blank = not known yet)"
                    + (f"  \nLatest: version {latest.version}, by {md(latest.actor)}, {when(latest.recorded_at)}." if latest else ""))
        cols = st.columns(4)
        for i, name in enumerate(FOLLOW_UP):
            f = BY_NAME[name]
            with cols[i % 4]:
                if f.kind == "category":
                    st.selectbox(label(f), ("",) + f.categories, key=key(name),
                                 format_func=lambda v, n=name: NOT_AVAILABLE if v == "" else code_text(n, v))
                elif f.kind == "boolean":
                    st.selectbox(label(f), ("", "true", "false"), key=key(name),
                                 format_func=lambda v: {"": NOT_AVAILABLE, "true": "yes", "false": "no"}[v])
                else:
                    st.text_input(label(f), key=key(name), placeholder="blank = not known", help=f.help or None)
        go = st.form_submit_button("Record follow-up", key=key("submit"), type="primary")
    if not go:
        return
    if not name_required("recording follow-up"):
        return
    values = {n: st.session_state.get(key(n)) for n in FOLLOW_UP}
    values = {n: v for n, v in values.items() if v not in (None, "") and str(v).strip() != ""}
    try:
        fu = store.record_follow_up(pseudonym, values, actor=actor(), screen=SCREEN_CASES, expected_version=seen[sk])
    except VersionConflict as exc:
        set_conflict("follow_up", pseudonym, exc)
        st.rerun()
    except RecordError as exc:
        out.error("**Follow-up not recorded**: " + " ".join(md(fmt.issue_text(i)) for i in exc.issues), icon=":material/error:")
        return
    except _db_errors() as exc:
        out.error("**Follow-up not recorded.** " + md(_error_text(exc)), icon=":material/error:")
        return
    seen[sk] = fu.version
    _flash("success", f"Follow-up recorded for {md(pseudonym)} (version {fu.version}).")
    st.rerun()


def history(store, pseudonym: str) -> None:
    decisions = store.decisions(pseudonym)
    if decisions:
        st.markdown("**Decisions**")
        st.dataframe([{"Meeting": d.meeting_date, "Decision": pathway_text(d.pathway),
                       "Follows the suggestion": "yes" if d.follows_suggestion else f"no: {d.reason_not_followed}",
                       "Rationale": d.rationale, "Present": ", ".join(d.present), "Dissent": d.dissent or "",
                       "Recorded by": d.actor, "When": when(d.recorded_at), "Version": d.version} for d in decisions],
                     hide_index=True, width="stretch", key=state.cases_key("decisions"))
    with st.expander("Audit trail of this case (who did what, when, from which screen)", icon=":material/history:"):
        st.dataframe([{"When": when(e.at), "Who": e.actor, "What": e.summary, "Screen": e.screen}
                      for e in store.audit(pseudonym, limit=100)], hide_index=True, width="stretch",
                     key=state.cases_key("audit"))


def open_case_section(store) -> None:
    src = open_case_source()
    pid = state.identity()[1]
    if src is None:
        if patient.is_empty():
            st.info("No case is open: open one from the list above.")
            return
        st.markdown(f"**Open patient: {md(pid) or 'no pseudonym yet'}**, not from the case store.")
        if patient.issues():
            st.caption("Fix its invalid entries on the Patient screen before saving it to the case store.")
            return
        out = st.container()
        if st.button("Save the open patient to the case store", key=state.cases_key("save_new")) \
                and name_required("saving to the case store") and (store := store or get_store()) is not None:
            v = save_open_patient(store, SCREEN_CASES, out)
            if v is not None:
                _flash("success", f"{md(v.pseudonym)} saved to the case store (assessment version {v.version}).")
                st.rerun()
        return
    st.subheader(f"Open case: {md(src['name'])} (assessment version {src['version']})")
    changes = identity.unsaved_changes()
    if changes:
        out = st.container()
        st.warning(f"Unsaved changes to this case: {md(', '.join(changes))}.", icon=":material/edit_note:")
        if st.button("Save the changes as a new assessment version", key=state.cases_key("save"), type="primary") \
                and name_required("saving to the case store"):
            v = save_open_patient(store, SCREEN_CASES, out)
            if v is not None:
                _flash("success", f"{md(v.pseudonym)}: assessment version {v.version} saved.")
                st.rerun()
    history(store, src["name"])
    follow_up_form(store, src["name"])


def cases_screen() -> None:
    """The Cases screen (pages/cases.py)."""
    layout.header("Cases")
    if not store_exists():
        st.info("No case store at this site yet: it is made when the first meeting is created (Meeting screen) or the "
                "first case is saved.", icon=":material/database:")
        show_flash()
        open_case_section(None)
        return
    store = get_store()
    if store is None:
        st.stop()
    show_flash()
    show_conflict(store, "assessment", state.identity()[1])
    switch_prompt()
    try:
        cases_list(store)
        open_case_section(store)
    except _db_errors() as exc:
        st.error("**The case store could not be read.** " + md(_error_text(exc)), icon=":material/database:")


# ----------------------------------------------------------------------------- About

def site_models_section(in_use: str) -> None:
    """About: the models registered at this site (``watchwait train``) and how many stored predictions each
    made; for an open stored case, which model made each of its predictions."""
    st.subheader("Models trained at this site")
    store = existing_store()
    if store is None:
        st.caption("No case store at this site yet: it is made when the first meeting or case is saved.")
        return
    try:
        models = store.models()
    except _db_errors() as exc:
        st.warning(md(_error_text(exc)))
        return
    if not models:
        st.caption("No model registered in the case store, and no stored prediction yet.")
    else:
        st.dataframe([{"Model version": x.version, "In use now": "yes" if x.version == in_use else "",
                       "Registered": when(x.registered_at) if x.registered_at else "not registered (shipped model)",
                       "Model file sha256": (x.model_hash or "")[:16], "Stored predictions": x.n_predictions}
                      for x in models], hide_index=True, width="stretch", key="about_site_models")
    src = open_case_source()
    if src is not None:
        rows = []
        for v in store.assessments(src["name"]):
            rows += [{"Assessment version": v.version, "Model version": pr.model_version,
                      "Probability": fmt.pct(pr.probability), "Suggested": suggested_text(pr.suggestion),
                      "Recorded": when(pr.recorded_at), "By": pr.actor} for pr in store.predictions(v.id)]
        st.markdown(f"**Predictions stored for the open case {md(src['name'])}** and the model each used")
        if rows:
            st.dataframe(rows, hide_index=True, width="stretch", key="about_case_predictions")
        else:
            st.caption("None yet: a prediction is stored when the case's assessment is shown at a meeting.")
