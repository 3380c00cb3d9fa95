"""The administrator's audit view (Cases screen, shown only when ``auth.may("read_audit")``: the administrator when
people sign in; local mode's single user otherwise): every change to the case store (the audit trail) and who
opened which stored case (the access rows, :func:`components.roles.note_opening`), newest first, filtered by person
and by case, a page at a time.

- **Who** is the identity provider's display name and its subject ("sign-in id"), as the rows carry them
  (``actor``, ``actor_subject``): never a name typed in the session. A row written in local mode (a typed name, no
  subject) says so ("typed name, not signed in") when the site signs people in now.
- **The person filter** lists everyone in the newest :data:`PEOPLE_SCAN` rows of both tables (a signed-in person
  by subject, under their newest display name; a typed name as typed), and filters by subject, so two people of
  the same display name stay apart and a typed "Dr Chair" never lists the signed-in Dr Chair's rows.
- **The case filter** is the exact pseudonym.
- The store checks the reader too (``Store.audit(reader=)`` / ``Store.accesses(reader=)``: ``read_audit``).

Cells are display strings. The tables' CSV download carries user text as it was stored (display names, pseudonyms,
summaries quoting titles): see the README's note on formula-carrying CSV.
"""

from __future__ import annotations

import streamlit as st

from components import auth, state
from components.roles import who_text
from components.casestore import db_errors, error_text, when
from components.safe import md
from components.tables import safe_frame

PAGE_SIZE = 50
#: How many of the newest rows of each table the person filter's list is made from.
PEOPLE_SCAN = 2000
TABS = ("changes", "looks")


def _key(what: str) -> str:
    return state.cases_key(f"audit_view:{what}")


def _reset_pages() -> None:
    for tab in TABS:
        st.session_state[_key(f"page:{tab}")] = 0


def _page(tab: str, delta: int) -> None:
    st.session_state[_key(f"page:{tab}")] = max(0, int(st.session_state.get(_key(f"page:{tab}"), 0)) + delta)


def people(store, reader) -> dict[str, tuple[str, str | None]]:
    """Filter key -> (display name, subject) of everyone in the newest rows: ``"s:<subject>"`` for a signed-in
    person (their newest display name), ``"t:<name>"`` for a typed name. Kept in the session until a newer row
    exists (two one-row reads on a rerun instead of reading 2 x :data:`PEOPLE_SCAN` rows: 57 ms on SQLite)."""
    newest = ([e.id for e in store.audit(limit=1, reader=reader)],
              [a.id for a in store.accesses(limit=1, reader=reader)])
    kept = st.session_state.get(_key("people"))
    if kept is not None and kept[0] == newest:
        return kept[1]
    found: dict[str, tuple[str, str | None]] = {}
    rows = [(e.actor, e.actor_subject) for e in store.audit(limit=PEOPLE_SCAN, reader=reader)]
    rows += [(a.actor, a.actor_subject) for a in store.accesses(limit=PEOPLE_SCAN, reader=reader)]
    for actor, subject in rows:  # newest first: a subject keeps the newest name it was shown under
        found.setdefault(f"s:{subject}" if subject else f"t:{actor}", (actor, subject))
    found = dict(sorted(found.items(), key=lambda kv: (kv[1][0].casefold(), kv[0])))
    st.session_state[_key("people")] = (newest, found)
    return found


def person_label(name: str, subject: str | None) -> str:
    return f"{name} (sign-in id {subject})" if subject else f"{name} (typed name)"


def as_filter(name: str, subject: str | None):
    """The store's person filter for one entry of :func:`people` (a Person: by subject, or a typed name's rows)."""
    from watchwait.store.identity import Person

    return Person(subject, name) if subject else Person.local(name)


def change_rows(entries) -> list[dict]:
    return [{"Time": when(e.at), "Person": who_text(e.actor, e.actor_subject), "Sign-in id": e.actor_subject or "",
             "Case": e.pseudonym or "", "Meeting": "" if e.meeting_id is None else str(e.meeting_id),
             "What": e.summary, "Screen": e.screen} for e in entries]


def look_rows(accesses) -> list[dict]:
    return [{"Time": when(a.at), "Person": who_text(a.actor, a.actor_subject), "Sign-in id": a.actor_subject or "",
             "Case": a.pseudonym, "Screen": a.screen} for a in accesses]


def _paged(tab: str, fetch, to_rows, none: str) -> None:
    """One table a page at a time (one row more is fetched to know whether a next page exists)."""
    page = int(st.session_state.get(_key(f"page:{tab}"), 0))
    got = fetch(PAGE_SIZE + 1, page * PAGE_SIZE)
    if not got and page > 0:  # the filters changed under a later page
        st.session_state[_key(f"page:{tab}")] = page = 0
        got = fetch(PAGE_SIZE + 1, 0)
    more = len(got) > PAGE_SIZE
    got = got[:PAGE_SIZE]
    if not got:
        st.caption(none)
        return
    first = page * PAGE_SIZE + 1
    st.caption(f"Rows {first:,} to {first + len(got) - 1:,}, newest first" + (" (more on the next page)" if more else ""))
    st.dataframe(safe_frame(to_rows(got)), hide_index=True, width="stretch", key=_key(f"table:{tab}"))
    c1, c2, _ = st.columns([1, 1, 3])
    c1.button("Newer rows", key=_key(f"prev:{tab}"), disabled=page == 0, on_click=_page, args=(tab, -1),
              icon=":material/arrow_back:", width="stretch")
    c2.button("Older rows", key=_key(f"next:{tab}"), disabled=not more, on_click=_page, args=(tab, 1),
              icon=":material/arrow_forward:", width="stretch")


def audit_view(store) -> None:
    """The audit view (the caller checks ``auth.may("read_audit")``; the store checks the reader again)."""
    if store is None:
        return
    reader = auth.current_person()
    with st.expander("Audit view: every change, and who opened which case", icon=":material/policy:"):
        try:
            everyone = people(store, reader)
        except db_errors() as exc:
            st.error("**The audit trail could not be read.** " + md(error_text(exc)), icon=":material/database:")
            return
        c1, c2 = st.columns([1.6, 1])
        if st.session_state.get(_key("person")) not in everyone:
            st.session_state[_key("person")] = None
        pick = c1.selectbox("Person", list(everyone), index=None, key=_key("person"), on_change=_reset_pages,
                            format_func=lambda k: person_label(*everyone[k]), placeholder="Everyone")
        case = c2.text_input("Case (its pseudonym, exactly)", key=_key("case"), max_chars=64, on_change=_reset_pages,
                             placeholder="Every case").strip() or None
        person = None if pick is None else as_filter(*everyone[pick])
        st.caption("The person list holds everyone in the newest "
                   f"{PEOPLE_SCAN:,} rows of each table. Times are UTC.")
        changes, looks = st.tabs(["Changes (audit trail)", "Who opened which case"])
        try:
            with changes:
                _paged("changes", lambda n, skip: store.audit(case, limit=n, offset=skip, person=person, reader=reader),
                       change_rows, "No change matches." if person or case else "No change recorded yet.")
            with looks:
                _paged("looks", lambda n, skip: store.accesses(person, case, limit=n, offset=skip, reader=reader),
                       look_rows, "Nobody matching has opened a stored case." if person or case
                       else "No stored case opened yet.")
        except db_errors() as exc:
            st.error("**Not shown.** " + md(error_text(exc)), icon=":material/error:")
