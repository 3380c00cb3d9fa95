"""The current patient: raw form values <-> record, and its assessment (memoised per session).

Only the project's own errors are caught (``watchwait.WatchwaitError`` subclasses) and turned into
plain messages; anything else is a bug and surfaces as one.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st
from threadpoolctl import threadpool_limits

import watchwait
from components import cache, fmt, roles, state
from components.safe import md
from components.values import is_blank
from watchwait import FieldIssue, ModelArtifactError, RecordError
from watchwait.schema import FIELDS


def to_raw(value: object) -> object:
    """A typed record value as the form holds it (exact: floats keep every digit)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def record_to_raw(record: Mapping[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    """(raw values of data-dictionary columns, extra columns) for a typed record."""
    names = {f.name for f in FIELDS}
    raw = {k: to_raw(v) for k, v in record.items() if k in names}
    extra = {k: v for k, v in record.items() if k not in names and not is_blank(v)}
    return raw, extra


def draft() -> dict[str, object]:
    """The record as entered (raw values; blank = not available), extra columns included."""
    rec: dict[str, object] = dict(state.extra())
    for name, value in state.raw().items():
        rec[name] = None if is_blank(value) else value
    # MRI series loaded on the Imaging screen that the series checks keep out of the model: the reason reaches the
    # Assessment (brief rule 12). Not when the record's radiomics came from its cohort file: viewing another series
    # must not blank measurements the file recorded.
    source = st.session_state.get(state.RADIOMICS_SOURCE) or {}
    if source.get("kind") != "file":
        from components.imaging import kept_out_cell

        cell = kept_out_cell()
        if cell:
            rec["imaging_kept_out"] = cell
    if source.get("kind") == "imaging":  # a clinician's confirmation of a series its headers could not settle:
        from watchwait.imaging.series_check import CONFIRMED_COLUMN, confirmed_cell  # saved with the case (who, when)

        cell = confirmed_cell(source.get("series_checks") or {})
        if cell:
            rec[CONFIRMED_COLUMN] = cell
    return rec


def is_empty() -> bool:
    return all(is_blank(v) for v in state.raw().values())


def issues() -> list[FieldIssue]:
    """Every invalid field of the record as entered ([] when valid)."""
    from watchwait.validation import validate_record

    try:
        validate_record(draft())
    except RecordError as exc:
        return list(exc.issues)
    return []


def _key(record: Mapping[str, object]) -> str:
    return json.dumps(record, sort_keys=True, default=str)


def assess(record: Mapping[str, object]):
    """``watchwait.assess`` with the cached model, memoised in this session only.

    One OpenMP thread: a single patient is a few trees' walk, and thread start-up costs more than it
    saves (about 3x slower on a busy 2-core server). Raises ``RecordError`` / ``ModelArtifactError``.
    """
    key = _key(record)
    memo = state.memo()
    if key in memo:
        return memo[key]
    bundle = cache.model_bundle()
    with threadpool_limits(limits=1, user_api="openmp"):
        result = watchwait.assess(dict(record), model=bundle)
    if len(memo) >= state.MEMO_SIZE:
        memo.pop(next(iter(memo)))
    memo[key] = result
    return result


@dataclass
class Current:
    """What the screens need about the current patient."""

    record: dict[str, object] | None  # the draft (None when the form is empty)
    assessment: object | None  # watchwait Assessment, or None
    issues: list[FieldIssue]
    error: str | None  # a plain message (model could not load)


def current() -> Current:
    if is_empty():
        return Current(None, None, [], None)
    rec = draft()
    try:
        return Current(rec, assess(rec), [], None)
    except RecordError as exc:
        return Current(rec, None, list(exc.issues), None)
    except ModelArtifactError as exc:
        return Current(rec, None, [], f"The model could not be loaded, so no assessment can be shown: {exc}")


def require_assessment():
    """Render why there is nothing to show (and stop the page), or return the current assessment."""
    cur = current()
    if cur.record is None:
        st.info("No patient yet. Load a sample patient or enter one on the **Patient** screen.")
        st.page_link("pages/patient.py", label="Go to the Patient screen", icon=":material/person:")
        st.stop()
    if cur.error:
        st.error(md(cur.error))
        st.stop()
    if cur.issues:
        st.error("The patient record has invalid entries, so nothing is calculated until they are fixed on the "
                 "**Patient** screen:\n\n" + "\n".join(f"- {md(fmt.issue_text(i))}" for i in cur.issues))
        st.page_link("pages/patient.py", label="Fix them on the Patient screen", icon=":material/edit:")
        st.stop()
    return cur.assessment


def timed_run(page, t0: float | None = None) -> None:
    """Run the selected page, record the server time of the whole run since ``t0``, then start warming
    the model (after the first screen is out, so that its imports do not hold up the first render). Before the
    page runs, an opening of a stored case is recorded (:func:`components.roles.note_opening`: who looked).

    With ``WATCHWAIT_LOG_RUN_MS=1`` each run's time is also written to stderr (benchmarks/bench_app.py).
    """
    t0 = time.perf_counter() if t0 is None else t0
    cache.wait_for_warmup()
    roles.note_opening(page.title)  # who looked: a stored case opened since the last screen (once per opening)
    try:
        page.run()
    finally:
        ms = (time.perf_counter() - t0) * 1000
        state.set_last_run_ms(ms)
        if os.environ.get("WATCHWAIT_LOG_RUN_MS"):
            print(f"watchwait-run-ms {ms:.1f} {page.title}", file=sys.stderr, flush=True)
        cache.start_warmup()
