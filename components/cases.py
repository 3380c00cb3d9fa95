"""The Cases screen (pages/cases.py): every stored case, searched and paged; opening one opens that patient on
every screen; follow-up for the open case. And About's section on the models registered at this site."""

from __future__ import annotations

import streamlit as st

from components import audit_view, auth, fmt, identity, layout, patient, roles, state
from components.casestore import (
    PATHWAYS, actor, case_source, db_errors, error_text, existing_store, flash, get_store, name_required,
    open_case_source, open_record, pathway_text, save_open_patient, set_conflict, show_conflict, show_flash,
    store_exists, suggested_text, switch_prompt, when,
)
from components.form import NOT_AVAILABLE, label
from components.meeting import meeting_label
from components.safe import md
from components.tables import safe_frame
from watchwait.errors import RecordError
from watchwait.labels import code_text
from watchwait.schema import BY_NAME, FOLLOW_UP
from watchwait.store import VersionConflict

SCREEN_CASES = "Cases"
PAGE_SIZE = 25


# ----------------------------------------------------------------------------- cases screen

def _reset_page() -> None:
    st.session_state[state.CASES_PAGE] = 1


def _page(delta: int) -> None:
    st.session_state[state.CASES_PAGE] = max(1, int(st.session_state.get(state.CASES_PAGE, 1)) + delta)


def _open_stored(store, pseudonym: str) -> None:
    try:
        v = store.assessment(pseudonym)
    except db_errors() as exc:
        flash("error", "**Not opened.** " + md(error_text(exc)))
        return
    open_record(v.record, case_source(v.pseudonym, v.version))
    if not st.session_state.get(state.PENDING_SWITCH):
        flash("success", f"{md(pseudonym)} is open (assessment version {v.version}): every screen shows this case.")


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
    st.dataframe(safe_frame(case_rows(page.items)), hide_index=True, width="stretch", key=state.cases_key("table"))
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


def _follow_up_value(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return code_text(name, value) if BY_NAME[name].kind == "category" else str(value)


def follow_up_read_only(latest) -> None:
    """The latest follow-up of the open case, for a person who may read it but not record follow-up."""
    if latest is None:
        st.markdown("**Follow-up**: none recorded yet.")
        return
    who = roles.who_text(latest.actor, latest.actor_subject)
    st.markdown(f"**Follow-up**, latest: version {latest.version}, by {md(who)}, {when(latest.recorded_at)}.")
    st.dataframe(safe_frame([{"Field": label(BY_NAME[n]), "Value": _follow_up_value(n, latest.data[n])}
                  for n in FOLLOW_UP if latest.data.get(n) is not None]), hide_index=True, width="stretch",
                 key=state.cases_key("follow_up_latest"))


def follow_up_form(store, pseudonym: str) -> None:
    """The data dictionary's follow-up columns for the open case (validated by the store; a new version each time)."""

    fups = store.follow_ups(pseudonym)
    latest = fups[-1] if fups else None
    if not auth.may("follow_up"):  # a reader: the latest follow-up as it stands, and why there is no form
        follow_up_read_only(latest)
        roles.permitted("follow_up")
        return

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
    who = "" if latest is None else roles.who_text(latest.actor, latest.actor_subject)
    with st.form(key=f"follow_up:{pseudonym}", border=True):
        st.markdown("**Record follow-up** (a new version each time; blank = not known yet)"
                    + (f"  \nLatest: version {latest.version}, by {md(who)}, {when(latest.recorded_at)}." if latest else ""))
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
    except db_errors() as exc:
        out.error("**Follow-up not recorded.** " + md(error_text(exc)), icon=":material/error:")
        return
    seen[sk] = fu.version
    flash("success", f"Follow-up recorded for {md(pseudonym)} (version {fu.version}).")
    st.rerun()


def history(store, pseudonym: str) -> None:
    decisions = store.decisions(pseudonym)
    if decisions:
        st.markdown("**Decisions**")
        st.dataframe(safe_frame([{"Meeting": d.meeting_date, "Decision": pathway_text(d.pathway),
                       "Follows the suggestion": "yes" if d.follows_suggestion else f"no: {d.reason_not_followed}",
                       "Rationale": d.rationale, "Present": ", ".join(d.present), "Dissent": d.dissent or "",
                       "Recorded by": roles.who_text(d.actor, d.actor_subject), "When": when(d.recorded_at),
                       "Version": d.version} for d in decisions]),
                     hide_index=True, width="stretch", key=state.cases_key("decisions"))
    with st.expander("Audit trail of this case (who did what, when, from which screen)", icon=":material/history:"):
        st.dataframe(safe_frame([{"When": when(e.at), "Who": roles.who_text(e.actor, e.actor_subject), "What": e.summary,
                       "Screen": e.screen}
                      for e in store.audit(pseudonym, limit=100)]), hide_index=True, width="stretch",
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
        if not roles.permitted("save"):
            return
        out = st.container()
        if st.button("Save the open patient to the case store", key=state.cases_key("save_new")) \
                and name_required("saving to the case store") and (store := store or get_store()) is not None:
            v = save_open_patient(store, SCREEN_CASES, out)
            if v is not None:
                roles.note_saved()
                flash("success", f"{md(v.pseudonym)} saved to the case store (assessment version {v.version}).")
                st.rerun()
        return
    st.subheader(f"Open case: {md(src['name'])} (assessment version {src['version']})")
    changes = identity.unsaved_changes()
    if changes:
        out = st.container()
        st.warning(f"Unsaved changes to this case: {md(', '.join(changes))}.", icon=":material/edit_note:")
        if roles.permitted("save") and st.button("Save the changes as a new assessment version",
                                                 key=state.cases_key("save"), type="primary") \
                and name_required("saving to the case store"):
            v = save_open_patient(store, SCREEN_CASES, out)
            if v is not None:
                roles.note_saved()
                flash("success", f"{md(v.pseudonym)}: assessment version {v.version} saved.")
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
    except db_errors() as exc:
        st.error("**The case store could not be read.** " + md(error_text(exc)), icon=":material/database:")
    if auth.may("read_audit"):  # the administrator (and local mode's single user)
        audit_view.audit_view(store)


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
    except db_errors() as exc:
        st.warning(md(error_text(exc)))
        return
    if not models:
        st.caption("No model registered in the case store, and no stored prediction yet.")
    else:
        st.dataframe(safe_frame([{"Model version": x.version, "In use now": "yes" if x.version == in_use else "",
                       "Registered": when(x.registered_at) if x.registered_at else "not registered (shipped model)",
                       "Model file sha256": (x.model_hash or "")[:16], "Stored predictions": x.n_predictions}
                      for x in models]), hide_index=True, width="stretch", key="about_site_models")
    src = open_case_source()
    if src is not None:
        rows = []
        for v in store.assessments(src["name"]):
            rows += [{"Assessment version": v.version, "Model version": pr.model_version,
                      "Probability": fmt.pct(pr.probability), "Suggested": suggested_text(pr.suggestion),
                      "Recorded": when(pr.recorded_at), "By": pr.actor} for pr in store.predictions(v.id)]
        st.markdown(f"**Predictions stored for the open case {md(src['name'])}** and the model each used")
        if rows:
            st.dataframe(safe_frame(rows), hide_index=True, width="stretch", key="about_case_predictions")
        else:
            st.caption("None yet: a prediction is stored when the case's assessment is shown at a meeting.")
