"""Every ``st.session_state`` key the app uses, in one place.

The patient lives here, per browser session, never in a cache shared between users:

- ``RAW``: the record as entered, column -> raw value (text as typed, category, "true"/"false", or
  None / "" = not available). It is the single source of truth; form widgets are views of it.
- ``EXTRA``: unknown extra columns of an imported cohort row (kept and passed on, ignored by the model).
- ``MEMO``: the last assessments, keyed by the exact record (so moving between screens does not
  recompute; any edit changes the key).
- ``PRESENTATION``: the MDT shared-screen mode.
- ``SCENARIO_*``: the what-if scenarios (changed columns and their values).
- ``LAST_RUN_MS``: server time of the last script run (shown on About, read by the benchmark).
- ``PATIENT_TOKEN``: a number that changes whenever another patient is opened (a sample, a cohort row,
  Clear). Together with the pseudonym it is the patient's identity (:func:`identity`): everything shown
  that is not the record itself (imaging, radiomics, what-if scenarios) is bound to it and is dropped
  when it changes (:mod:`components.identity`).
- ``PATIENT_SOURCE``: where the open record came from (sample, cohort file or typed, and when);
  ``PATIENT_LOADED``: the record as it was opened, to tell unsaved edits; ``RADIOMICS_SOURCE``: where the
  record's radiomics came from (a cohort file, or MRI series loaded on this screen for this patient).
- ``PENDING_SWITCH``: a switch of patient waiting for the user to confirm that unsaved edits may go.
- ``IMAGING_VISITS``: per visit (baseline, restaging), the loaded series, ROI and features (in memory,
  never on disk) with the patient identity they were loaded for and when.

- ``ACTOR``: the user's name ("Your name", in the sidebar or on the Meeting screen): the "who" of every
  write to the case store (its audit trail). ``ACTOR_WIDGET``/``ACTOR_INLINE`` are the two fields that show it.
- ``MEETING_ID``, ``MEETING_CASE``: the MDT meeting open in this session and the case on screen (its
  position 1, 2, ... or ``"summary"``); the URL's ``?meeting=&case=`` mirror them (:mod:`components.links`).
  ``MEETING_URL_CHECKED``: the URL was read once (a reload is a new session).
- ``MEETING_FLASH``: messages of the last write, shown once after the rerun; ``STORE_CONFLICT``: a
  :class:`watchwait.store.VersionConflict` to show with its way to reload.
- ``SEEN``: the versions the user saw when a form was opened (per meeting case: decision and assessment;
  per case: follow-up), given to the store as ``expected_version``: a change saved by someone else in
  between is a conflict, never overwritten.
- ``BIND_ASKED``: the meeting case whose record was offered to replace an open patient with unsaved edits.
- ``MEETING_PRESENT``: per meeting, the people present last recorded (the next decision's form starts from it).
- ``CASES_PAGE``: the page of the Cases list.

Widget keys are derived here too (:func:`field_key`, :func:`scenario_key`) so that a test can find
any widget by key. Form widgets are views of ``RAW``: each run sets them from it, and their
``on_change`` callbacks write an edit back before the script runs.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

RAW = "patient_raw"
EXTRA = "patient_extra"
MEMO = "assessment_memo"
PRESENTATION = "presentation_mode"
PRESENTATION_WIDGET = "presentation_toggle"
SAMPLE_CHOICE = "sample_choice"
UPLOAD = "cohort_upload"  # the cohort file uploader's key is UPLOAD:<n> (upload_key): a new n empties it
UPLOAD_NONCE = "cohort_upload_nonce"
UPLOAD_CHOICE = "cohort_row_choice"
LAST_RUN_MS = "last_run_ms"
IMAGING_VISITS = "imaging_visits"
PATIENT_TOKEN = "patient_token"
PATIENT_SOURCE = "patient_source"
PATIENT_LOADED = "patient_loaded"
RADIOMICS_SOURCE = "radiomics_source"
PENDING_SWITCH = "pending_switch"
URL_CHECKED = "url_checked"
ACTOR = "actor_name"
ACTOR_WIDGET = "actor_name_sidebar"
ACTOR_INLINE = "actor_name_inline"
MEETING_ID = "meeting_id"
MEETING_CASE = "meeting_case"
MEETING_URL_CHECKED = "meeting_url_checked"
PREDICTIONS_KEPT = "predictions_kept"  # (assessment id, model version, input hash) stored from a screen this session
MEETING_FLASH = "meeting_flash"
STORE_CONFLICT = "store_conflict"
SEEN = "versions_seen"
BIND_ASKED = "meeting_bind_asked"
MEETING_PRESENT = "meeting_present"
CASES_PAGE = "cases_page"
MEETING_CHOICE = "meeting_choice"
MEETING_JUMP = "meeting_jump"
IMPORT_NONCE = "meeting_import_nonce"
SCENARIO_COUNT = 3
MEMO_SIZE = 8

_DEFAULTS: dict[str, object] = {
    RAW: {},
    EXTRA: {},
    MEMO: {},
    PRESENTATION: False,
    LAST_RUN_MS: None,
    IMAGING_VISITS: {},
    PATIENT_TOKEN: 0,
    PATIENT_SOURCE: {"kind": "typed"},
    PATIENT_LOADED: {"raw": {}, "extra": {}},
    RADIOMICS_SOURCE: None,
    PENDING_SWITCH: None,
    ACTOR: "",
    MEETING_ID: None,
    MEETING_CASE: 1,
    SEEN: {},
    MEETING_PRESENT: {},
    CASES_PAGE: 1,
}


def init() -> None:
    """Create every key with its default (called once per run by app.py)."""
    for key, value in _DEFAULTS.items():
        if key not in st.session_state:
            st.session_state[key] = value.copy() if isinstance(value, dict) else value
    for i in range(SCENARIO_COUNT):
        if scenario_changes_key(i) not in st.session_state:
            st.session_state[scenario_changes_key(i)] = {}


# ----------------------------------------------------------------------------- widget keys

def field_key(name: str, scope: str = "patient") -> str:
    """Key of the form widget for one data-dictionary column on one screen (``scope``)."""
    return f"field:{scope}:{name}"


def scenario_key(i: int, what: str) -> str:
    return f"scenario:{i}:{what}"


def scenario_changes_key(i: int) -> str:
    return scenario_key(i, "changes")


def upload_key() -> str:
    """Key of the cohort file uploader (changes when a patient from elsewhere is opened, which empties it)."""
    return f"{UPLOAD}:{int(st.session_state.get(UPLOAD_NONCE, 0))}"


def imaging_key(visit: str, what: str) -> str:
    """Key of an Imaging-screen widget of one visit (``what``: slice, level, width, series_upload, roi_upload)."""
    return f"imaging:{visit}:{what}"


# ----------------------------------------------------------------------------- patient

def raw() -> dict[str, object]:
    return st.session_state[RAW]


def extra() -> dict[str, object]:
    return st.session_state[EXTRA]


def set_field(name: str, value: object) -> None:
    st.session_state[RAW][name] = value


def replace_patient(raw_values: Mapping[str, object], extra_values: Mapping[str, object] | None = None,
                    source: Mapping[str, object] | None = None) -> None:
    """Open another patient: new raw values, fresh form widgets, a new identity, and nothing of the previous
    patient kept: no scenarios, no images, no radiomics source, no pending switch.

    ``source`` says where the record comes from (``{"kind": "sample"|"cohort"|"typed", "name": ..., "at": ...}``).
    """
    from datetime import datetime

    st.session_state[RAW] = dict(raw_values)
    st.session_state[EXTRA] = dict(extra_values or {})
    st.session_state[PATIENT_LOADED] = {"raw": normalised(raw_values), "extra": dict(extra_values or {})}
    st.session_state[PATIENT_TOKEN] = int(st.session_state.get(PATIENT_TOKEN, 0)) + 1
    src = dict(source or {"kind": "typed"})
    src.setdefault("at", datetime.now().strftime("%Y-%m-%d %H:%M:%S"))
    st.session_state[PATIENT_SOURCE] = src
    has_radiomics = any(str(k).startswith(RADIOMICS_PREFIX) for k in (extra_values or {}))
    st.session_state[RADIOMICS_SOURCE] = ({"kind": "file", "name": src.get("file", "")} if has_radiomics else None)
    st.session_state[PENDING_SWITCH] = None
    st.session_state[MEMO] = {}
    if src.get("kind") != "cohort":  # another patient than the cohort file's: the file (other patients) goes too
        st.session_state[UPLOAD_NONCE] = int(st.session_state.get(UPLOAD_NONCE, 0)) + 1
        st.session_state.pop(UPLOAD_CHOICE, None)
    for i in range(SCENARIO_COUNT):
        st.session_state[scenario_changes_key(i)] = {}
        for k in [k for k in st.session_state if str(k).startswith(f"scenario:{i}:") and k != scenario_changes_key(i)]:
            del st.session_state[k]
    clear_imaging()


RADIOMICS_PREFIX = "radiomics_"


def normalised(raw_values: Mapping[str, object]) -> dict[str, str]:
    """Raw values as compared for unsaved edits: blanks left out, text stripped."""
    from components.values import is_blank

    return {k: str(v).strip() for k, v in raw_values.items() if not is_blank(v)}


def identity() -> tuple[int, str]:
    """The open patient: (token of the last patient opened, pseudonym as entered now)."""
    return int(st.session_state.get(PATIENT_TOKEN, 0)), str(st.session_state.get(RAW, {}).get("patient_id") or "").strip()


def clear_patient() -> None:
    replace_patient({}, {})


def memo() -> dict:
    return st.session_state[MEMO]


def presentation() -> bool:
    return bool(st.session_state.get(PRESENTATION, False))


def set_presentation(on: bool) -> None:
    st.session_state[PRESENTATION] = bool(on)


def scenario_changes(i: int) -> dict[str, object]:
    return st.session_state[scenario_changes_key(i)]


def set_last_run_ms(ms: float) -> None:
    st.session_state[LAST_RUN_MS] = ms


# ----------------------------------------------------------------------------- imaging

def imaging_visits() -> dict[str, object]:
    """Loaded visits (``components.imaging.Bound``), by visit."""
    return st.session_state[IMAGING_VISITS]


def set_imaging_visit(visit: str, bound: object) -> None:
    """Store one loaded visit, and reset its viewer controls to their defaults."""
    st.session_state[IMAGING_VISITS][visit] = bound
    for what in ("slice", "level", "width"):
        st.session_state.pop(imaging_key(visit, what), None)


def clear_imaging() -> None:
    """Drop every loaded visit and every Imaging widget's state (uploaded files included)."""
    st.session_state[IMAGING_VISITS] = {}
    for k in [k for k in st.session_state if str(k).startswith("imaging:")]:
        del st.session_state[k]


# ----------------------------------------------------------------------------- meetings and the case store

def meeting_key(what: str) -> str:
    """Key of a Meeting-screen widget (new meeting date/title, import upload, add-from-store search...)."""
    return f"meeting:{what}"


def import_key() -> str:
    """Key of the meeting's cohort uploader (a new nonce empties it after an import)."""
    return meeting_key(f"import:{int(st.session_state.get(IMPORT_NONCE, 0))}")


def decision_key(meeting_id: int, pseudonym: str, what: str) -> str:
    """Key of one decision-form widget of one case at one meeting."""
    return f"decision:{meeting_id}:{pseudonym}:{what}"


def follow_up_key(pseudonym: str, what: str) -> str:
    """Key of one follow-up-form widget of one case (Cases screen)."""
    return f"follow_up:{pseudonym}:{what}"


def cases_key(what: str) -> str:
    """Key of a Cases-screen widget (search, meeting, pathway, pending, open)."""
    return f"cases:{what}"


def restore_opened_radiomics() -> bool:
    """Put back the radiomics the record was opened with (from its file), if any, in place of those an Imaging
    screen's series gave it, and say where the record's radiomics now come from. True when the file had some."""
    extra_values = extra()
    for k in [k for k in extra_values if str(k).startswith(RADIOMICS_PREFIX)]:
        del extra_values[k]
    opened = (st.session_state.get(PATIENT_LOADED) or {}).get("extra", {})
    extra_values.update({k: v for k, v in opened.items() if str(k).startswith(RADIOMICS_PREFIX)})
    src = st.session_state.get(PATIENT_SOURCE) or {}
    has = any(str(k).startswith(RADIOMICS_PREFIX) for k in opened)
    st.session_state[RADIOMICS_SOURCE] = {"kind": "file", "name": src.get("file", "")} if has else None
    return has
