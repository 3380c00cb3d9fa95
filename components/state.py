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
- ``IMAGING_SOURCES``: per visit (baseline, restaging), where its series and ROI are: paths on disk
  (a shipped sample, or this session's upload folder) and a label; never the files' bytes.
- ``IMAGING_UPLOAD_DIR``: this session's temporary upload folder (:class:`UploadFolder`: its path; the
  folder is deleted when the session ends, or at exit).
- ``IMAGING_MEMO``: the last loaded visits (series, ROI mask, features), keyed by the files' paths and
  modification times, in this session only.

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
UPLOAD = "cohort_upload"
UPLOAD_CHOICE = "cohort_row_choice"
LAST_RUN_MS = "last_run_ms"
IMAGING_SOURCES = "imaging_sources"
IMAGING_UPLOAD_DIR = "imaging_upload_dir"
IMAGING_MEMO = "imaging_memo"
IMAGING_SAMPLE_CHOICE = "imaging_sample_choice"
IMAGING_MEMO_SIZE = 4
SCENARIO_COUNT = 3
MEMO_SIZE = 8

_DEFAULTS: dict[str, object] = {
    RAW: {},
    EXTRA: {},
    MEMO: {},
    PRESENTATION: False,
    LAST_RUN_MS: None,
    IMAGING_SOURCES: {},
    IMAGING_MEMO: {},
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


def replace_patient(raw_values: Mapping[str, object], extra_values: Mapping[str, object] | None = None) -> None:
    """Load a new patient: new raw values, fresh form widgets, no scenarios carried over."""
    st.session_state[RAW] = dict(raw_values)
    st.session_state[EXTRA] = dict(extra_values or {})
    for i in range(SCENARIO_COUNT):
        st.session_state[scenario_changes_key(i)] = {}
        for k in [k for k in st.session_state if str(k).startswith(f"scenario:{i}:") and k != scenario_changes_key(i)]:
            del st.session_state[k]


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

class UploadFolder:
    """This session's temporary upload folder: only its path is kept; the folder is removed when
    this object is collected (the session has ended) or when the process exits."""

    def __init__(self) -> None:
        import tempfile
        import weakref

        self.path = tempfile.mkdtemp(prefix="watchwait-imaging-")
        weakref.finalize(self, _remove_tree, self.path)


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def imaging_sources() -> dict[str, dict[str, str]]:
    return st.session_state[IMAGING_SOURCES]


def set_imaging_source(visit: str, series: str, roi: str, label: str) -> None:
    """Point one visit at a series and a ROI on disk, and reset its viewer controls to their defaults."""
    st.session_state[IMAGING_SOURCES][visit] = {"series": str(series), "roi": str(roi), "label": label}
    for what in ("slice", "level", "width"):
        st.session_state.pop(imaging_key(visit, what), None)


def clear_imaging_source(visit: str) -> None:
    st.session_state[IMAGING_SOURCES].pop(visit, None)


def upload_dir() -> str:
    """This session's upload folder (created on first use)."""
    import os

    folder = st.session_state.get(IMAGING_UPLOAD_DIR)
    if folder is None or not os.path.isdir(folder.path):
        folder = st.session_state[IMAGING_UPLOAD_DIR] = UploadFolder()
    return folder.path


def imaging_memo() -> dict:
    return st.session_state[IMAGING_MEMO]
