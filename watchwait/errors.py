"""The project's own error types.

Every error a user can cause (a bad field, a bad cohort row, a tampered model, a malformed DICOM
file) is one of these, with a message that names what is wrong and what is allowed. The
dashboard and the CLI turn exactly these into plain messages; anything else is a bug and is
allowed to surface as one.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Longest piece of user text quoted in a message; longer values are cut (a 1 MB cell is not echoed).
MAX_QUOTED = 80


def quoted(value: object, limit: int = MAX_QUOTED) -> str:
    """``repr`` of a value for a message, cut to about ``limit`` characters with its full length said.

    ``quoted("x" * 10**6)`` is ``'xxxx…' (1,000,000 characters)``; short values are plain ``repr``.
    """
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        head = repr(value[:limit])
        return f"{head[:-1]}…{head[-1]} ({len(value):,} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return f"a whole number of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


class WatchwaitError(Exception):
    """Base class of every error the project raises on purpose."""


@dataclass(frozen=True)
class FieldIssue:
    """One invalid cell: which column, which value, what is allowed (and the row, for a file)."""

    column: str
    value: object
    message: str
    row: int | None = None  # spreadsheet numbering: header = row 1, first patient = row 2

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}{self.message}"


class RecordError(WatchwaitError, ValueError):
    """A patient record (or cohort file) breaks the data dictionary.

    ``issues`` lists every invalid cell, not only the first one.
    """

    def __init__(self, issues: list[FieldIssue], context: str = "patient record"):
        self.issues = list(issues)
        self.context = context
        shown = "\n".join(f"  - {i}" for i in self.issues[:50])
        more = f"\n  ... and {len(self.issues) - 50} more" if len(self.issues) > 50 else ""
        n = len(self.issues)
        super().__init__(f"{context}: {n} invalid value{'s' if n != 1 else ''}:\n{shown}{more}")


class CohortFileError(WatchwaitError):
    """A cohort file cannot be read at all (not found, not CSV, no header, missing required column)."""


class ModelArtifactError(WatchwaitError):
    """A model artifact is missing, altered (hash mismatch) or built with other library versions."""


class ImagingError(WatchwaitError):
    """A DICOM series, ROI or radiomics input is unusable; the message names the file and the fault."""
