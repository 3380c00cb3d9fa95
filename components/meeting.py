"""The Meeting screen (pages/meeting.py): create a meeting; add cases from a cohort CSV (the store validates
every row first: any bad row and nothing is written, every bad cell listed with its row and the field as the
form labels it), from the store, or the open patient saved into the store; step through the cases (the open
patient becomes the case on screen, so every other screen shows it); record a decision per case; a summary of
every decision; the case PDF and the meeting's FHIR Bundle. Presentation mode shows the chair's shared screen.

The case store helpers (who, binding, conflicts) are in :mod:`components.casestore`; the URL in
:mod:`components.links`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from types import SimpleNamespace

import streamlit as st
from threadpoolctl import threadpool_limits

import watchwait
from components import auth, cache, fmt, identity, layout, patient, roles, state, views
from components.casestore import (
    PATHWAYS, SUMMARY, actor, actor_field, bind_case, db_errors, error_text, existing_store, flash,
    forget_asked, get_store, open_case_source, pathway_text, save_open_patient, set_conflict, show_conflict,
    show_flash, store_exists, suggested_text, switch_prompt, when,
)
from components.safe import md
from components.tables import safe_frame
from watchwait import ModelArtifactError
from watchwait.errors import RecordError
from watchwait.export import DecisionSummary, Meeting, ModelInfo
from watchwait.export.fhir import meeting_bundle, to_json
from watchwait.export.pdf import case_pdf
from watchwait.labels import value_text
from watchwait.schema import BY_NAME
from watchwait.validation import MAX_FILE_BYTES

COHORT_UPLOAD_MB = MAX_FILE_BYTES // 1024 ** 2  # the uploader's own limit, checked in the browser (read_cohort checks again)
from watchwait.store import NotFound, VersionConflict, prediction_fields, record_hash

SCREEN_MEETING = "Meeting"


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
        except db_errors() as exc:
            st.error("**The meeting was not created.** " + md(error_text(exc)))
            return
        open_meeting(m.id, 1)
        flash("success", f"Meeting of {m.date} created: {md(m.title)}. Add its cases below.")
        st.rerun()


def import_issue_rows(report) -> list[dict]:
    """Every bad cell of an import as a table row: the row (spreadsheet numbering, header = row 1), the field
    as the form labels it, and what is wrong and allowed."""

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
    if not roles.permitted("import"):
        return
    up = st.file_uploader("Import cases from a cohort CSV (data-dictionary columns, one row per patient)",
                          type=["csv"], key=state.import_key(), max_upload_size=COHORT_UPLOAD_MB)
    go = st.button("Import into this meeting", key=state.meeting_key("import"), disabled=up is None, type="primary")
    if not (go and up is not None):
        return
    try:
        rep = store.import_cases(m.id, up.getvalue(), actor=actor(), screen=SCREEN_MEETING, source=up.name)
    except db_errors() as exc:
        st.error("**Nothing was imported.** " + md(error_text(exc)))
        return
    if rep.ok:
        st.session_state[state.IMPORT_NONCE] = int(st.session_state.get(state.IMPORT_NONCE, 0)) + 1
        flash("success", f"Imported {rep.rows} case(s) from {md(up.name)}: {rep.added_to_meeting} added to this meeting "
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
    st.dataframe(safe_frame(rows), hide_index=True, width="stretch", key=state.meeting_key("import_issues"))


def add_from_store(store, m, on_meeting: set[str]) -> None:
    if not roles.permitted("add_case"):
        return
    q = st.text_input("Find a stored case (part of its pseudonym)", key=state.meeting_key("find"), max_chars=64)
    try:
        found = store.list_cases(search=q or None, page_size=50)
    except db_errors() as exc:
        st.error(md(error_text(exc)))
        return
    options = [c.pseudonym for c in found.items if c.pseudonym not in on_meeting]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pick = c1.selectbox("Stored case to add", options, index=None, key=state.meeting_key("pick"),
                        placeholder="No stored case matches" if not options else "Choose a case")
    if c2.button("Add to this meeting", key=state.meeting_key("add"), disabled=pick is None):
        try:
            pos = store.add_case(m.id, pick, actor=actor(), screen=SCREEN_MEETING)
        except db_errors() as exc:
            st.error("**Not added.** " + md(error_text(exc)))
            return
        flash("success", f"{md(pick)} added to this meeting as case {pos}.")
        st.rerun()
    if found.total > len(found.items):
        st.caption(f"The first {len(found.items)} of {found.total} stored cases; type part of a pseudonym to narrow.")


def add_open_patient(store, m) -> None:
    if not (roles.permitted("add_case") and roles.permitted("save")):
        return
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
        roles.note_saved()
        try:
            pos = store.add_case(m.id, v.pseudonym, actor=actor(), screen=SCREEN_MEETING)
        except db_errors() as exc:
            out.error("**Saved, but not added to the meeting.** " + md(error_text(exc)))
            return
        flash("success", f"{md(v.pseudonym)} saved (assessment version {v.version}) and on this meeting as case {pos}.")
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
                     "Recorded by": "" if d is None else roles.who_text(d.actor, d.actor_subject)})
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

    prev = mc.previous_decision
    if prev is None:  # "no earlier decision" beside this meeting's own "Decision recorded" read as a contradiction
        st.markdown("**First discussion** of this case: no decision at an earlier meeting"
                    + ("; this meeting's decision is below." if mc.decision is not None else "."))
        return
    head = (f"**Last discussed at the meeting of {prev.meeting_date}**: {pathway_text(prev.pathway)} "
            f"(recorded by {md(roles.who_text(prev.actor, prev.actor_subject))}, {when(prev.recorded_at)}).")
    if not mc.changes:
        st.markdown(head + " No change in the record since then.")
        return
    st.markdown(head + f" **{len(mc.changes)} change{'s' if len(mc.changes) != 1 else ''}** in the record since then:")
    st.dataframe(safe_frame([{"Field": c.label, "Then": value_text(c.field, c.before), "Now": value_text(c.field, c.after)}
                  for c in mc.changes]), hide_index=True, width="stretch", key=state.meeting_key("changes"))


def ensure_prediction(store, mc, a, bundle):
    """Store the prediction shown for this stored case (once per assessment version and model). Not for a person
    who may not ``assess`` (a viewer, an administrator): their look stores nothing, and says nothing about it."""

    pr = mc.prediction
    if pr is not None and pr.model_version == a.model_version and pr.input_hash == record_hash(a.record):
        return pr
    if not auth.may("assess"):  # a reader's look stores nothing (the next clinician or chair to show it does)
        return pr
    return store.record_prediction(mc.assessment.id, **prediction_fields(a, bundle), actor=actor(), screen=SCREEN_MEETING)


SCREEN_ASSESSMENT = "Assessment"


def keep_shown_prediction(a) -> None:
    """The Assessment screen: when the open patient is a stored case, unchanged since it was opened, the prediction
    shown is kept with that assessment version (once per version, model and input; the Meeting screen does the same
    through :func:`ensure_prediction`). Nothing is kept for an edited record (it is not the stored one) or without
    a name (every write says who); the screen says so in one line. Nothing is kept, silently, for a person who may
    not ``assess`` (a viewer or an administrator reading the case)."""

    src = open_case_source()
    if src is None or a.model_version is None or not auth.may("assess"):  # a reader's look stores nothing
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
    except db_errors() as exc:
        st.warning("The prediction shown could not be kept with the case: " + md(error_text(exc)))


def assessment_of(record: Mapping):
    """The engine's assessment of a stored record (memoised in the session), or None after saying why."""

    try:
        return patient.assess(dict(record))
    except RecordError as exc:
        st.error("The stored record has invalid entries: " + " ".join(md(fmt.issue_text(i)) for i in exc.issues))
    except ModelArtifactError as exc:
        st.error(f"The model could not be loaded, so no assessment can be shown: {md(exc)}")
    return None


def assessment_block(a, large: bool) -> None:
    """The case's assessment with the Assessment screen's own views (notices first, then the number)."""

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

    return DecisionSummary(pathway=d.pathway, follows_suggestion=d.follows_suggestion,
                           reason_not_followed=d.reason_not_followed or "", rationale=d.rationale, present=tuple(d.present),
                           dissent=d.dissent or "", recorded_by=d.actor,
                           recorded_at=dt.datetime.fromisoformat(d.recorded_at))


def case_pdf_bytes(record: Mapping, a, m, decision, bundle, paper: str = "A4") -> bytes:
    """The one-page case PDF (watchwait.export.pdf) for the notes."""

    return case_pdf(record, a, meeting_date=dt.date.fromisoformat(m.date), meeting_title=m.title,
                    decision=None if decision is None else decision_summary(decision),
                    model_info=ModelInfo.from_bundle(bundle), paper=paper)


def meeting_bundle_json(store, meeting_id: int, bundle) -> str:
    """The meeting's FHIR R4 Bundle (JSON): a RiskAssessment per case with an assessment, by the model in use.
    Runs outside a script run (a deferred download): no Streamlit calls."""


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
    lines.append(f"Recorded by {md(roles.who_text(d.actor, d.actor_subject))}, {when(d.recorded_at)} "
                 f"(version {d.version}, on assessment version {d.assessment_version}).")
    with st.container(border=True, key="ww-decision-recorded"):
        st.markdown("  \n".join(lines))


def _lines(text: object) -> list[str]:
    return [" ".join(x.split()) for x in str(text or "").splitlines() if x.strip()]


def decision_form(store, m, mc, a, cases: list) -> None:
    """The decision form of one case (a correction is a new version); the versions it was opened on are the
    store's expected versions."""

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
    if not auth.may("decide"):  # no form: the decision as recorded (above), or that there is none yet
        if mc.decision is None:
            st.markdown("**Not decided yet.**")  # the suggestion is shown above, in the assessment's own words
        roles.permitted("decide")
        return
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
    except db_errors() as exc:
        out.error("**Not recorded.** " + md(error_text(exc)), icon=":material/error:")
        return
    seen[ck] = {"decision": d.version, "assessment": d.assessment_version}
    st.session_state[state.MEETING_PRESENT][str(m.id)] = list(d.present)
    flash("success", f"Decision recorded for {md(p)}: {pathway_text(d.pathway)} (version {d.version}, by {md(d.actor)}).")
    st.rerun()


def _paper_key() -> str:
    return state.meeting_key("paper")


def exports(store, m, mc=None, a=None, record=None) -> None:
    """The case PDF (when a case is on screen) and the meeting's FHIR Bundle: made when clicked."""

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
    if bound != "bound" and mc.assessment is not None:  # shown from the store, not (yet) the open patient: a look too
        roles.note_shown(mc.pseudonym, SCREEN_MEETING)
    else:
        roles.shown_ends()
    if bound == "declined":
        st.warning(f"The open patient is still {md(state.identity()[1])}, with unsaved changes: this case is shown from "
                   "the case store, and the other screens still show the open patient.", icon=":material/person_alert:")
        st.button("Open this case (discard the unsaved changes)", key=state.meeting_key("rebind"), on_click=forget_asked)
    if mc.assessment is None:
        st.info("This case has no assessment in the store.")
        return
    with st.container(border=True, key="ww-changes"):
        changes_since(mc)
    a = assessment_of(mc.assessment.record)
    if a is None:
        return

    try:
        ensure_prediction(store, mc, a, cache.model_bundle())
    except db_errors() as exc:
        st.warning("The prediction shown could not be stored: " + md(error_text(exc)))
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
                     "Recorded by": roles.who_text(d.actor, d.actor_subject),
                     "When": when(d.recorded_at) + (f" (version {d.version})" if d.version > 1 else "")})
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
        st.dataframe(safe_frame(rows), hide_index=True, width="stretch", key=state.meeting_key("summary_table"),
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
        except db_errors() as exc:
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
    identity.on_every_screen()  # again: the case just bound is the open patient now (app.py ran it before)
    roles.note_opening(SCREEN_MEETING)  # who looked: the case just bound (app.py's start-up saw the one before)
    layout.header("Meeting")
    if error is not None:

        if isinstance(error, NotFound):
            open_meeting(None)
        st.error("**The case store could not be read.** " + md(error_text(error)), icon=":material/database:")
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
        except db_errors() as exc:
            st.error(md(error_text(exc)))
            st.stop()
        c1, c2 = st.columns([1, 1.4], gap="large")
        with c1:
            meeting_picker(store, meetings)
            if m is not None:
                st.caption(f"Created by {md(roles.who_text(m.created_by, m.created_by_subject))}, {when(m.created_at)}. "
                           "The address bar holds this meeting and the case on screen: a reload carries on here.")
        if auth.may("create_meeting"):
            with c2, st.expander("New meeting", expanded=m is None, icon=":material/add:"):
                new_meeting_form(store)
        else:
            roles.permitted("create_meeting", where=c2)
    if m is None:
        if large:
            st.info("No meeting is open: turn Presentation mode off to choose or create one.")
        return
    if not large:
        st.markdown(f"### {md(m.title)} · {m.date}")
        if auth.may("import") or auth.may("add_case"):
            with st.expander(f"Add cases ({len(cases)} on the list)", expanded=not cases, icon=":material/playlist_add:"):
                t1, t2, t3 = st.tabs(["From a cohort CSV", "From the case store", "The open patient"])
                with t1:
                    import_section(store, m)
                with t2:
                    add_from_store(store, m, {mc.pseudonym for mc in cases})
                with t3:
                    add_open_patient(store, m)
        else:  # one line for the three ways in (importing and adding need the same role)
            roles.permitted("add_case")
        if cases:
            with st.expander(f"The meeting's cases ({len(cases)})", icon=":material/list:"):
                st.dataframe(safe_frame(cases_table(cases)), hide_index=True, width="stretch", key=state.meeting_key("cases_table"))
    if not cases:
        st.info("No cases on this meeting yet: add them above (a cohort CSV, stored cases, or the open patient)."
                if auth.may("add_case") else "No cases on this meeting yet.")
        return
    current = st.session_state.get(state.MEETING_CASE)
    navigator(m, cases, current, large)
    if current == SUMMARY:
        roles.shown_ends()
        summary_view(store, m, cases, large)
        return
    mc = _case_at(cases, current)
    if bound == "asking":  # nothing of the next case while the open patient is still the other one (issue 21)
        st.info(f"Case {mc.position} ({md(mc.pseudonym)}) is shown, with its decision form, once you answer above: "
                "open it (the unsaved changes go) or keep editing (it is then shown from the case store).")
        return
    case_view(store, m, cases, mc, large, bound)
