"""Outcomes as a cohort file: the site's own patients, with ``complete_response`` derived from their follow-up,
in the data dictionary's format, for ``watchwait train`` (closing the loop of issue 11).

:func:`outcomes_frame` takes plain records (dicts of the version-2 record columns plus the follow-up
columns: ``management``, ``ypt_stage``, ``ypn_stage``, ``local_regrowth``, ``months_to_regrowth``,
``months_followed``, ``distant_metastasis_followup``), validates them all together (every bad value of
every patient reported before anything is written) and derives ``complete_response`` exactly as the data
dictionary's Follow-up section defines it, with :func:`watchwait.derive.outcome_from_followup` (the same
function ``watchwait train`` uses):

- true for ypT0 (and ypN0 where nodes were examined), or for watch-and-wait without regrowth after
  >= 12 months followed;
- false for residual tumour at pathology (ypTis-T4, or ypN1/N2) or a local regrowth;
- blank (unknown) otherwise, e.g. watch-and-wait followed for less than 12 months without regrowth.

A record that already carries ``complete_response`` keeps it where the follow-up says nothing; where the two
disagree the export is refused, naming the patients. :func:`write_outcomes_cohort` writes the file atomically,
text cells that a spreadsheet would read as a formula escaped with a leading ``'`` (as every CSV watchwait
writes). With ``known_only`` the patients whose outcome is still unknown are left out: ``watchwait train``
needs an outcome for every patient.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from watchwait.artifacts import columns_of
from watchwait.derive import outcome_from_followup
from watchwait.errors import RecordError
from watchwait.export import ExportError
from watchwait.schema import BY_NAME, COLUMNS, FIELDS, OUTCOME
from watchwait.validation import validate_frame


@dataclass(frozen=True)
class OutcomesSummary:
    """What was written: patients in the file, by outcome (``unknown`` = blank ``complete_response``), and those
    left out because their outcome is unknown (``known_only``)."""

    path: Path | None
    n_patients: int
    n_complete: int
    n_not_complete: int
    n_unknown: int
    n_left_out: int = 0


def outcomes_frame(records: Iterable[Mapping[str, object]], *, known_only: bool = False) -> pd.DataFrame:
    """The cohort as the file holds it (data-dictionary columns in order, then any extra columns), with
    ``complete_response`` derived from the follow-up: booleans as ``true``/``false``, blanks as ``""``,
    whole-number fields as whole numbers. Raises :class:`watchwait.RecordError` listing every invalid value
    (by patient) and :class:`ExportError` when a recorded outcome contradicts the follow-up."""
    rows = [dict(r) for r in records]
    for k, r in enumerate(rows, start=1):
        if not isinstance(r, dict):  # pragma: no cover - dict(r) above already refused non-mappings
            raise ExportError(f"record {k} is not a mapping of column to value.")
    raw = pd.DataFrame(rows, dtype=object) if rows else pd.DataFrame(columns=list(COLUMNS), dtype=object)
    try:
        typed = validate_frame(raw, source="records with follow-up")
    except RecordError as exc:  # rows of a list of records: name each by its pseudonym too
        ids = raw["patient_id"].tolist() if "patient_id" in raw.columns else [None] * len(raw)
        issues = [type(i)(i.column, i.value, (f"patient {ids[i.row - 2]}: " if i.row and ids[i.row - 2] else "") + i.message,
                          row=None) for i in exc.issues]
        raise RecordError(issues, context="records with follow-up") from None
    derived = outcome_from_followup(columns_of(typed))
    recorded = typed[OUTCOME].to_numpy(dtype=float)
    clash = ~np.isnan(recorded) & ~np.isnan(derived) & (recorded != derived)
    if clash.any():
        who = ", ".join(str(p) for p in typed.loc[clash, "patient_id"].head(20))
        raise ExportError(f"complete response as recorded contradicts the follow-up (pathology, regrowth, months followed) "
                          f"for {int(clash.sum())} patient{'s' if clash.sum() != 1 else ''}: {who}; correct one or the other "
                          "before exporting.")
    outcome = np.where(np.isnan(derived), recorded, derived)
    typed[OUTCOME] = outcome
    if known_only:
        typed = typed[~np.isnan(outcome)].reset_index(drop=True)
    return _cells(typed)


def _cells(typed: pd.DataFrame) -> pd.DataFrame:
    """Typed columns as the data dictionary writes them (text cells; numbers stay numbers so that a negative
    radiomic value is not taken for a formula)."""
    out = {}
    extra = [c for c in typed.columns if c not in BY_NAME]
    for f in FIELDS:
        col = typed[f.name]
        if f.kind == "boolean":
            v = col.to_numpy(dtype=float)
            out[f.name] = pd.Series(np.where(np.isnan(v), "", np.where(v == 1.0, "true", "false")), dtype=object)
        elif f.kind == "integer":
            out[f.name] = col.astype("Int64")
        elif f.kind == "number":
            out[f.name] = col.astype("float64")
        else:
            out[f.name] = pd.Series(["" if v is None else str(v) for v in col], dtype=object)
    for name in extra:
        col = typed[name]
        out[name] = col if pd.api.types.is_float_dtype(col) else pd.Series(
            ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in col], dtype=object)
    return pd.DataFrame(out)


def write_outcomes_cohort(records: Iterable[Mapping[str, object]], path: str | os.PathLike, *,
                          known_only: bool = False) -> OutcomesSummary:
    """Write the cohort file (see :func:`outcomes_frame`) to ``path`` atomically; nothing is written when any
    record is invalid. Returns the counts."""
    from watchwait.atomic import check_output_path
    from watchwait.csvfiles import write_csv

    rows = [dict(r) for r in records]
    target = check_output_path(path)
    frame = outcomes_frame(rows, known_only=known_only)
    write_csv(frame, target)
    cr = frame[OUTCOME]
    return OutcomesSummary(path=target, n_patients=len(frame), n_complete=int((cr == "true").sum()),
                           n_not_complete=int((cr == "false").sum()), n_unknown=int((cr == "").sum()),
                           n_left_out=len(rows) - len(frame))
