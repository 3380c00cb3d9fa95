"""One patient at a time: switching patients, unsaved edits, the record's sources, and the link that reopens it.

- **Switching** (:func:`request_switch`): Load a sample, Import a cohort row and Clear open another patient
  through here. With unsaved edits (the record differs from what was opened) nothing is replaced until
  the user confirms (:func:`pending_prompt`); opening a patient drops everything bound to the previous one
  (:func:`components.state.replace_patient`).
- **Binding** (:func:`enforce`, every run): images and radiomics loaded on the Imaging screen belong to the
  identity open when they were loaded (token + pseudonym). When it changes (another patient, or the
  pseudonym edited), they are dropped, and the user is told once (:func:`show_notice`).
- **Sources** (:func:`sources_line`): where every imported value came from, for the facts banner.
- **Reload** (:func:`restore_from_url`, :func:`sync_url`): the URL's ``?patient=`` names the open sample
  patient; a reload (a new session) reopens it. While there are unsaved edits the browser asks before a reload
  or closing the tab (:func:`unload_guard`). Only the shipped pseudonymous sample patients can be reopened
  this way until a case store exists; an imported or typed record is not put in the URL.

User text that reaches Markdown goes through :func:`components.safe.md`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import streamlit as st

from components import state
from components.safe import md

QUERY_KEY = "patient"
NOTICE = "patient_notice"


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


# ----------------------------------------------------------------------------- unsaved edits

def _label(name: str) -> str:
    from watchwait.schema import BY_NAME

    f = BY_NAME.get(name)
    return f.label if f is not None else name


def unsaved_changes() -> list[str]:
    """What differs from the record as it was opened (field labels, in form order; "radiomics" for imported
    radiomics, "other columns" for any other extra column). [] when nothing was changed."""
    from watchwait.schema import FIELDS

    loaded = st.session_state.get(state.PATIENT_LOADED) or {"raw": {}, "extra": {}}
    now = state.normalised(state.raw())
    before = loaded["raw"]
    order = {f.name: i for i, f in enumerate(FIELDS)}
    names = sorted((n for n in set(now) | set(before) if now.get(n) != before.get(n)),
                   key=lambda n: (order.get(n, len(order)), n))
    out = [_label(n) for n in names]
    extra_now, extra_before = dict(state.extra()), dict(loaded["extra"])
    if extra_now != extra_before:
        keys = {k for k in set(extra_now) | set(extra_before) if extra_now.get(k) != extra_before.get(k)}
        if any(str(k).startswith(state.RADIOMICS_PREFIX) for k in keys):
            out.append("radiomics")
        if any(not str(k).startswith(state.RADIOMICS_PREFIX) for k in keys):
            out.append("other columns")
    return out


# ----------------------------------------------------------------------------- switching

def describe(source: Mapping[str, object]) -> str:
    """A patient to open, in words (plain text)."""
    kind = source.get("kind")
    if kind == "sample":
        return f"sample patient {source.get('name')}"
    if kind == "cohort":
        return f"patient {source.get('name')} from {source.get('file')}"
    if kind == "store":
        return f"case {source.get('name')} from the case store (assessment version {source.get('version')})"
    return "a new, empty record"


def _same_as_open(source: Mapping[str, object]) -> bool:
    cur = st.session_state.get(state.PATIENT_SOURCE) or {}
    return (source.get("kind") in ("sample", "cohort") and cur.get("kind") == source.get("kind")
            and cur.get("name") == source.get("name") and cur.get("file") == source.get("file")
            and state.identity()[1] == str(source.get("name")))


def request_switch(raw: Mapping[str, object], extra: Mapping[str, object], source: Mapping[str, object]) -> None:
    """Open another patient, unless unsaved edits would go: then ask first (:func:`pending_prompt`).
    Re-opening the patient already open, unchanged, does nothing (its images stay)."""
    changes = unsaved_changes()
    if not changes and _same_as_open(source):
        st.session_state[state.PENDING_SWITCH] = None
        return
    if changes:
        st.session_state[state.PENDING_SWITCH] = {"raw": dict(raw), "extra": dict(extra), "source": dict(source),
                                                  "changes": changes}
        return
    state.replace_patient(raw, extra, {**source, "at": _now()})


def confirm_switch() -> None:
    p = st.session_state.get(state.PENDING_SWITCH)
    if p:
        state.replace_patient(p["raw"], p["extra"], {**p["source"], "at": _now()})


def cancel_switch() -> None:
    """Keep editing: the switch is dropped, and the sample picker goes back to the patient still open (it showed the
    patient the user had picked, over another patient's record: issue 21)."""
    st.session_state[state.PENDING_SWITCH] = None
    src = st.session_state.get(state.PATIENT_SOURCE) or {}
    if src.get("kind") == "sample":
        st.session_state[state.SAMPLE_CHOICE] = src.get("name")
    else:
        st.session_state.pop(state.SAMPLE_CHOICE, None)


def pending_prompt(key_prefix: str = "", advice: str = "") -> bool:
    """Ask before unsaved edits go (True while a switch waits for an answer). ``key_prefix`` keeps the buttons'
    keys apart where a screen has its own prompt (the Meeting screen); ``advice`` is a sentence added to the question."""
    p = st.session_state.get(state.PENDING_SWITCH)
    if not p:
        return False
    who = state.identity()[1] or "the record on screen"
    with st.container(border=True, key="ww-confirm-switch"):
        st.warning(f"**Unsaved changes to {md(who)}** ({md(', '.join(p['changes']))}). Opening "
                   f"{md(describe(p['source']))} discards them, with this patient's images and what-if scenarios."
                   + (f" {advice}" if advice else ""), icon=":material/warning:")
        c1, c2, _ = st.columns([1.4, 1, 2])
        c1.button("Discard changes and continue", key=f"{key_prefix}confirm_switch", on_click=confirm_switch, type="primary")
        c2.button("Keep editing", key=f"{key_prefix}cancel_switch", on_click=cancel_switch)
    return True


# ----------------------------------------------------------------------------- binding

def _notify(text: str) -> None:
    st.session_state.setdefault(NOTICE, []).append(text)


def enforce() -> None:
    """Drop images and image radiomics that belong to another identity than the open one (every run)."""
    identity = state.identity()
    visits = state.imaging_visits()
    stale = sorted({b.patient_id for b in visits.values() if (b.token, b.patient_id) != identity})
    if stale:
        state.clear_imaging()
        _notify(f"The images of {', '.join(stale)} were closed: they belong to the patient who was open when they "
                "were loaded, and another patient is open now.")
    rs = st.session_state.get(state.RADIOMICS_SOURCE)
    if rs and rs.get("kind") == "imaging" and (rs.get("token"), rs.get("patient_id")) != identity:
        # back to the radiomics the record was opened with (from its file), if any
        has = state.restore_opened_radiomics()
        _notify(f"The radiomics from the MRI series of {rs.get('patient_id')} were taken out of the record: the "
                f"pseudonym is now {identity[1] or 'blank'}"
                + (" (the radiomics of the file the record came from are back)" if has else "")
                + ". Load this patient's own series on the Imaging screen.")


#: Other parts of the URL kept in step on every screen (components.links registers its ?meeting=&case= and
#: ?stored=&version= when it is imported): this module never imports components.links, which imports this one.
_URL_SYNCS: list = []


def register_url_sync(sync) -> None:
    """Call ``sync()`` on every screen, after this module's own URL sync."""
    if sync not in _URL_SYNCS:
        _URL_SYNCS.append(sync)


def on_every_screen() -> None:
    """Before a screen draws anything: bind, and sync the URL (the screen's header then shows the notices):
    ``?patient=`` for a sample patient, and the registered parts (``?meeting=&case=`` or ``?stored=&version=``
    for a stored case)."""
    enforce()
    sync_url()
    for sync in _URL_SYNCS:
        sync()


_GUARD = """<span class="ww-unload-guard" data-dirty="{dirty}"></span><script>
(() => {{
  const w = window;
  w.__wwDirty = {dirty};
  if (!w.__wwGuard) {{
    w.__wwGuard = (e) => {{ if (w.__wwDirty) {{ e.preventDefault(); e.returnValue = ""; return ""; }} }};
    w.addEventListener("beforeunload", w.__wwGuard);
  }}
}})();
</script>"""


def unload_guard() -> None:
    """A reload or closing the tab discards unsaved edits too: while there are any, the browser asks first
    ("Leave site? Changes you made may not be saved"). The element is hidden by the page CSS."""
    dirty = "true" if unsaved_changes() else "false"
    st.html(_GUARD.format(dirty=dirty), unsafe_allow_javascript=True)


def show_notice() -> None:
    """The last binding notice, once."""
    for text in st.session_state.pop(NOTICE, None) or []:
        st.warning(md(text), icon=":material/person_alert:")


# ----------------------------------------------------------------------------- sources

def sources_line() -> str:
    """Where every imported value of the open record came from (plain text; the banner escapes it)."""
    src = st.session_state.get(state.PATIENT_SOURCE) or {"kind": "typed"}
    kind = src.get("kind")
    if kind == "sample":
        parts = [f"Record: sample patient {src.get('name')} from {src.get('file', 'the sample file')} "
                 f"(synthetic), opened {src.get('at', '')}"]
    elif kind == "cohort":
        parts = [f"Record: patient {src.get('name')} from the cohort file {src.get('file')}, imported {src.get('at', '')}"]
    elif kind == "store":
        parts = [f"Record: case {src.get('name')} from the case store, assessment version {src.get('version')}, "
                 f"opened {src.get('at', '')}"]
    else:
        parts = ["Record: entered on this screen (not saved anywhere)"]
    changes = [c for c in unsaved_changes() if c != "radiomics"] if kind in ("sample", "cohort", "store") else []
    if changes:
        parts.append("changed here since: " + ", ".join(changes))
    rs = st.session_state.get(state.RADIOMICS_SOURCE)
    has = any(str(k).startswith(state.RADIOMICS_PREFIX) for k in state.extra())
    if rs and rs.get("kind") == "imaging":
        at = list(rs.get("at") or [])
        when = at[0] if len(set(at)) <= 1 else f"{at[0]} (baseline) and {at[1]} (restaging)"
        parts.append(f"Radiomics: from the MRI series loaded on {when} for this patient")
    elif has:
        parts.append(f"Radiomics: from the cohort file {(rs or {}).get('name') or src.get('file', '')}".rstrip())
    else:
        parts.append("Radiomics: none")
    return " · ".join(parts)


# ----------------------------------------------------------------------------- reload

def restore_from_url() -> None:
    """Once per session: reopen the sample patient the URL names (a browser reload starts a new session)."""
    if st.session_state.get(state.URL_CHECKED):
        return
    st.session_state[state.URL_CHECKED] = True
    wanted = st.query_params.get(QUERY_KEY)
    if not wanted or state.identity()[1]:
        return
    from components import cache, patient

    if wanted in cache.sample_ids():
        cache.wait_for_warmup()
        raw, extra = patient.record_to_raw(cache.sample_records()[wanted])
        state.replace_patient(raw, extra, {"kind": "sample", "name": wanted, "file": cache.SAMPLE_FILE.name,
                                           "at": _now()})
    else:
        _notify(f"The link names the patient {wanted}, who is not one of the sample patients: only a sample patient "
                "can be reopened from a link until a case store exists. Open the patient on this screen.")


def sync_url() -> None:
    """Keep ``?patient=`` naming the open sample patient (and nothing else)."""
    src = st.session_state.get(state.PATIENT_SOURCE) or {}
    pid = state.identity()[1]
    want = pid if src.get("kind") == "sample" and src.get("name") == pid else None
    have = st.query_params.get(QUERY_KEY)
    if want and have != want:
        st.query_params[QUERY_KEY] = want
    elif not want and have is not None:
        del st.query_params[QUERY_KEY]
