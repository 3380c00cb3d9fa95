"""One validator for the form, the Python API and cohort files.

:func:`check_cell` is the single rule: it turns one raw value into a typed value or a
:class:`~watchwait.errors.FieldIssue` whose message names the column, the value and what is
allowed. :func:`validate_record` applies it to a dict; :func:`validate_frame` applies the same
rules column by column to a whole file (vectorised, then :func:`check_cell` writes the message for
each bad cell), reports every bad row at once, and returns nothing usable when any row is bad.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from watchwait.errors import MAX_QUOTED, CohortFileError, FieldIssue, RecordError, quoted
from watchwait.schema import (BY_NAME, COLUMNS, FALSE_WORDS, FIELDS, MAX_CELL_CHARS, RADIOMICS_PREFIX, REQUIRED, TRUE_WORDS,
                              Field, max_chars)

# A number cell: optional sign, ASCII digits with an optional decimal point, optional exponent.
# Stricter than Python's float() (which also takes "1_000", "nan", "infinity" and any Unicode
# digits such as "٦١" or "６１"), and used by both paths. [0-9], not \d: \d matches every Unicode digit.
NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_NUMBER_RE = re.compile(NUMBER)


def is_blank(value: object) -> bool:
    """A blank cell means *not available*: None, NaN, pandas NA, or an empty/whitespace string."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _issue(field: Field, value: object) -> FieldIssue:
    shown = value if not isinstance(value, str) else value.strip()
    hint = ""
    if field.kind in ("integer", "number") and isinstance(value, str) and _has_non_ascii_digit(value):
        hint = " Write numbers with the digits 0-9 (other scripts' digits are not read as numbers)."
    elif field.kind in ("integer", "number") and isinstance(value, str):
        hint = _entry_hint(field, value.strip())
    return FieldIssue(field.name, value, f"{field.name} must be {field.allowed()}; got {quoted(shown)} instead.{hint}")


_BELOW_LIMIT_RE = re.compile(r"(<|&lt;|below|under|less than)\s*[0-9.,]+\s*\S*", re.IGNORECASE)
_DECIMAL_COMMA_RE = re.compile(r"[+-]?[0-9]+,[0-9]+")


def _entry_hint(field: Field, text: str) -> str:
    """How to enter a common lab result the validator does not read: a result below the detection limit
    ("<0.01") and a decimal comma ("4,5"; not read as 4.5, since "1,000" could be a thousands separator)."""
    if _BELOW_LIMIT_RE.fullmatch(text):
        if field.name.startswith("ctdna_"):
            return " Below the detection limit: enter 0 (= tested, not detected)."
        return (" A result below the detection limit is not a number: enter the limit itself, or leave it blank "
                "(= not available).")
    if _DECIMAL_COMMA_RE.fullmatch(text):
        whole, frac = text.split(",")
        if len(frac) == 3:  # "1,000": a thousands separator or a decimal comma; do not guess
            return (f" Write a number with a decimal point and no thousands separator: {whole}{frac} or "
                    f"{whole}.{frac}, whichever is meant.")
        return f" Use a decimal point: enter {whole}.{frac} for {text}."
    return ""


def _has_non_ascii_digit(text: str) -> bool:
    return any(ch.isdigit() and ch not in "0123456789" for ch in text)


def _as_float(value: object) -> float:
    """A finite-or-not float of an already shape-checked value; NaN when it cannot be one at all.

    ``float()`` of a huge int (``10**400``) raises OverflowError: that is a value out of range,
    not a bug, so it becomes infinity (and is refused by the range check).
    """
    try:
        return float(value.strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf
    except (TypeError, ValueError):
        return math.nan


# ----------------------------------------------------------------------------- limits
# Limits a hospital's own data never reaches by accident (issue 22, item 4). Each is refused early, with a message
# naming the limit, and the file is never read whole to find out: a 100,000-column header or a 1 GB cell is refused
# after at most MAX_LINE_CHARS characters of it have been read.

#: A cohort file's size: a registry of 100,000 patients with every column is about 60 MB.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: Columns of a cohort file: the data dictionary has about 90, a site's radiomics and extra columns add some.
MAX_COLUMNS = 1_000
#: Patients in one cohort file.
MAX_ROWS = 1_000_000
#: Characters in one line of the file (a whole patient).
MAX_LINE_CHARS = 1_000_000
# MAX_CELL_CHARS (a cell) and the text fields' limits (watchwait.schema.max_chars) live in the data dictionary's module.


def check_cell(field: Field, value: object) -> tuple[object, FieldIssue | None]:
    """Typed value (None = not available) or an issue, for one cell of one field."""
    if is_blank(value):
        if field.required:
            return None, FieldIssue(field.name, value, f"{field.name} is required ({field.allowed()}); got a blank cell.")
        return None, None
    kind = field.kind
    if kind == "boolean":
        if isinstance(value, bool | np.bool_):
            return bool(value), None
        if isinstance(value, int | np.integer) and value in (0, 1):
            return bool(value), None
        if isinstance(value, str):
            word = value.strip().lower()
            if word in TRUE_WORDS:
                return True, None
            if word in FALSE_WORDS:
                return False, None
        return None, _issue(field, value)
    if kind == "category":
        if isinstance(value, str) and value.strip() in field.categories:
            return value.strip(), None
        return None, _issue(field, value)
    if kind in ("integer", "number"):
        if isinstance(value, bool | np.bool_):
            return None, _issue(field, value)
        if isinstance(value, str) and not _NUMBER_RE.fullmatch(value.strip()):
            return None, _issue(field, value)
        if isinstance(value, bytes | bytearray | memoryview):
            return None, _issue(field, value)  # float(b"61") works, but bytes are not a number
        number = _as_float(value)  # NaN for what is not a number at all (a list, a date...)
        if not math.isfinite(number) or number < field.low or number > field.high:  # type: ignore[operator]
            return None, _issue(field, value)
        if kind == "integer":
            if number != int(number):
                return None, _issue(field, value)
            return int(number), None
        return number, None
    if kind == "text" and field.pattern:
        if isinstance(value, str) and re.fullmatch(field.pattern, value.strip()):
            return value.strip(), None
        return None, _issue(field, value)
    if isinstance(value, str):
        limit = max_chars(field)
        if len(value.strip()) > limit:
            return None, FieldIssue(field.name, value, f"{field.name} must be at most {limit:,} characters; got "
                                                       f"{len(value.strip()):,}.")
        return value.strip(), None
    try:
        return str(value), None
    except ValueError:  # str() of an int of more than 4,300 digits (Python's limit) is not text anyone typed
        return None, _issue(field, value)


def _check_extra(name: str, value: object) -> tuple[object, FieldIssue | None]:
    """Extra columns are kept and ignored, except precomputed radiomic features, which must be numbers."""
    if not name.startswith(RADIOMICS_PREFIX) or is_blank(value):
        return (None if is_blank(value) else value), None
    if isinstance(value, str):
        number = _as_float(value) if _NUMBER_RE.fullmatch(value.strip()) else math.nan
    elif isinstance(value, bool | np.bool_ | bytes | bytearray | memoryview):
        number = math.nan
    else:
        number = _as_float(value)
    if not math.isfinite(number):
        shown = name if len(name) <= MAX_QUOTED else quoted(name)
        return None, FieldIssue(name, value, f"{shown} must be a finite number (a radiomic feature, "
                                             f"digits 0-9); got {quoted(value)} instead.")
    return number, None


def validate_record(record: Mapping[str, object]) -> dict[str, object]:
    """Validate one patient record (a missing key or None = not available).

    Returns a dict with every data-dictionary column (typed; None where not available) plus any
    extra keys. Raises :class:`RecordError` listing every invalid field.
    """
    if not isinstance(record, Mapping):
        raise RecordError([FieldIssue("record", record, f"a patient record must be a mapping of column to value; got {type(record).__name__} instead.")])
    out: dict[str, object] = {}
    issues: list[FieldIssue] = []
    for field in FIELDS:
        value, issue = check_cell(field, record.get(field.name))
        out[field.name] = value
        if issue:
            issues.append(issue)
    for name, raw in record.items():
        if name in BY_NAME:
            continue
        value, issue = _check_extra(str(name), raw)
        out[str(name)] = value
        if issue:
            issues.append(issue)
    if issues:
        raise RecordError(issues)
    return out


# ----------------------------------------------------------------------------- files

def _vector_bad(field: Field, raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Typed column and a mask of invalid cells, with exactly :func:`check_cell`'s rules."""
    text = raw.astype("string").str.strip().fillna("")
    blank = (text == "").to_numpy()
    kind = field.kind
    if kind in ("integer", "number"):
        cells = text.where(~blank, None)
        try:  # a clean column casts directly (fast); any bad cell falls back to the per-cell coercion
            num = cells.astype("float64")
        except (ValueError, TypeError):
            num = pd.to_numeric(cells, errors="coerce").astype("float64")
        values = num.to_numpy()
        shaped = text.str.fullmatch(NUMBER).fillna(False).to_numpy(dtype=bool)
        with np.errstate(invalid="ignore"):
            ok = shaped & np.isfinite(values) & (values >= field.low) & (values <= field.high)
            if kind == "integer":
                ok &= values == np.floor(values)
        bad = ~blank & ~ok
        typed = pd.Series(np.where(blank | bad, np.nan, values), index=raw.index, dtype="float64")
    elif kind == "boolean":
        low = text.str.lower()
        is_true = low.isin(TRUE_WORDS).to_numpy()
        is_false = low.isin(FALSE_WORDS).to_numpy()
        bad = ~blank & ~is_true & ~is_false
        typed = pd.Series(np.where(is_true, 1.0, np.where(is_false, 0.0, np.nan)), index=raw.index)
    elif kind == "category":
        ok = text.isin(field.categories).to_numpy()
        bad = ~blank & ~ok
        typed = pd.Series(np.where(ok, text.to_numpy(dtype=object), None), index=raw.index, dtype=object)
    else:
        if field.pattern:
            ok = text.str.fullmatch(field.pattern).fillna(False).to_numpy(dtype=bool)
            bad = ~blank & ~ok
        else:
            bad = (text.str.len() > max_chars(field)).to_numpy(dtype=bool)
        typed = pd.Series(np.where(blank | bad, None, text.to_numpy(dtype=object)), index=raw.index, dtype=object)
    if field.required:
        bad = bad | blank
    return typed, bad


def validate_frame(raw: pd.DataFrame, source: str = "cohort file") -> pd.DataFrame:
    """Validate a whole cohort (cells as read from CSV) and return it typed.

    Typed frame: numbers and integers as float64 (NaN = not available), booleans as 1.0/0.0/NaN,
    categories and text as Python objects (None = not available); every data-dictionary column is
    present; extra columns are kept. Raises :class:`RecordError` listing every bad cell with its
    row (spreadsheet numbering: header = row 1) when any row is bad; nothing is returned then.
    """
    missing_required = [c for c in REQUIRED if c not in raw.columns]
    if missing_required:
        raise CohortFileError(
            f"{source}: the required column{'s' if len(missing_required) > 1 else ''} "
            f"{', '.join(missing_required)} {'are' if len(missing_required) > 1 else 'is'} missing from the header. "
            f"Every cohort file needs: {', '.join(REQUIRED)} (see the data dictionary)."
        )
    raw = raw.reset_index(drop=True)
    typed: dict[str, pd.Series] = {}
    issues: list[FieldIssue] = []
    for field in FIELDS:
        if field.name not in raw.columns:
            typed[field.name] = pd.Series(
                np.nan if field.kind in ("integer", "number", "boolean") else None,
                index=raw.index, dtype="float64" if field.kind in ("integer", "number", "boolean") else object)
            continue
        col, bad = _vector_bad(field, raw[field.name])
        typed[field.name] = col
        for i in np.flatnonzero(bad):
            value = raw[field.name].iloc[i]
            _, issue = check_cell(field, value)
            assert issue is not None, (field.name, value)  # vector and cell rules must agree
            issues.append(FieldIssue(field.name, value, issue.message, row=int(i) + 2))
    if "patient_id" in raw.columns:
        ids = typed["patient_id"]
        dup = ids.notna() & ids.duplicated(keep="first")
        if dup.any():  # first row of each id in one pass (not one scan per duplicate: 100,000 copies of one id)
            first_row = {v: int(i) for i, v in reversed(list(enumerate(ids.to_numpy()))) if v is not None}
            for i in np.flatnonzero(dup.to_numpy()):
                issues.append(FieldIssue("patient_id", ids.iloc[i],
                                         f"patient_id must be unique within a file; got {ids.iloc[i]!r} again "
                                         f"(first on row {first_row[ids.iloc[i]] + 2}).",
                                         row=int(i) + 2))
    for name in raw.columns:
        if name in BY_NAME:
            continue
        if str(name).startswith(RADIOMICS_PREFIX):
            text = raw[name].astype("string").str.strip().fillna("")
            shaped = text.str.fullmatch(NUMBER).fillna(False).to_numpy(dtype=bool)
            num = pd.to_numeric(text.where(shaped, None), errors="coerce").astype("float64")
            bad = (text != "").to_numpy() & ~np.isfinite(num.to_numpy())
            for i in np.flatnonzero(bad):
                _, issue = _check_extra(name, raw[name].iloc[i])
                issues.append(FieldIssue(name, raw[name].iloc[i], issue.message, row=int(i) + 2))  # type: ignore[union-attr]
            typed[name] = num
        else:
            typed[name] = raw[name]
    if issues:
        issues.sort(key=lambda i: (i.row or 0, COLUMNS.index(i.column) if i.column in BY_NAME else 999))
        raise RecordError(issues, context=source)
    return pd.DataFrame(typed)


#: First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula
#: (OWASP "CSV injection"); a tab or carriage return first can hide one. watchwait's own CSV outputs put a ``'``
#: before them (``watchwait.csvfiles.escape_formulas``), as spreadsheets do; the reader takes it off again.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def unescape_formulas(raw: pd.DataFrame) -> pd.DataFrame:
    """Undo the spreadsheet escape: a text cell ``'-A1`` (``'`` then a :data:`FORMULA_START` character) reads as
    ``-A1``, so a file watchwait wrote (predictions, exported outcomes) reads back with the values it was given.
    A ``'`` before anything else stays, and is judged as typed."""
    for name in raw.columns:
        col = raw[name].astype(str)
        escaped = col.str.startswith("'") & col.str[1:2].isin(FORMULA_START)
        if escaped.any():
            raw.loc[escaped, name] = col[escaped].str[1:]
    return raw


def read_cohort(path: str | os.PathLike | io.IOBase, source: str | None = None) -> pd.DataFrame:
    """Read and validate a cohort CSV (UTF-8, header row, comma, '.' decimal).

    Raises :class:`CohortFileError` when the file cannot be read as a cohort at all, and
    :class:`RecordError` (every bad cell, with rows) when any row breaks the data dictionary.
    """
    name = source or (Path(path).name if isinstance(path, str | os.PathLike) else "uploaded file")
    try:
        check_bounds(path, name)
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except FileNotFoundError:
        raise CohortFileError(f"{name}: no such file.") from None
    except IsADirectoryError:
        raise CohortFileError(f"{name}: is a folder, not a cohort file; give the CSV file itself.") from None
    except OSError as exc:  # permission denied, a device, an I/O error
        raise CohortFileError(f"{name}: cannot be read ({exc.strerror or type(exc).__name__}).") from None
    except UnicodeDecodeError:
        raise CohortFileError(f"{name}: not UTF-8 text; save the cohort as CSV UTF-8.") from None
    except pd.errors.EmptyDataError:
        raise CohortFileError(f"{name}: the file is empty; a cohort file needs a header row and one row per patient.") from None
    except pd.errors.ParserError as exc:
        raise CohortFileError(f"{name}: not a readable comma-separated file ({str(exc).strip()}).") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    _check_header(raw.columns, name)
    return validate_frame(unescape_formulas(raw), source=name)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def check_bounds(path: str | os.PathLike | io.IOBase, name: str) -> None:
    """Refuse a cohort file beyond the limits above (:data:`MAX_FILE_BYTES`, :data:`MAX_COLUMNS`, :data:`MAX_ROWS`,
    :data:`MAX_CELL_CHARS`, :data:`MAX_LINE_CHARS`) with a :class:`CohortFileError` naming the limit, before pandas
    reads it. The file is streamed line by line, each line read to at most :data:`MAX_LINE_CHARS` characters, so
    memory stays bounded whatever the file holds. A file object is read from its current position and put back
    there. What is not CSV at all is left for pandas to report."""
    if isinstance(path, str | os.PathLike):
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            raise CohortFileError(_too_big(name, size))
        with open(path, "rb") as fh:
            _scan(io.TextIOWrapper(fh, encoding="utf-8", newline=""), name)
        return
    start = path.tell()
    path.seek(0, io.SEEK_END)
    size = path.tell() - start
    path.seek(start)
    if size > MAX_FILE_BYTES:
        raise CohortFileError(_too_big(name, size))
    try:
        if isinstance(path, io.TextIOBase):
            _scan(path, name)
        else:
            text = io.TextIOWrapper(path, encoding="utf-8", newline="")  # type: ignore[arg-type]
            try:
                _scan(text, name)
            finally:
                text.detach()  # leave the caller's file open
    finally:
        path.seek(start)


def _too_big(name: str, size: int) -> str:
    return (f"{name}: {size / 1024 ** 2:,.0f} MB, above the {MAX_FILE_BYTES // 1024 ** 2:,} MB a cohort file may have; "
            f"split it into several files.")


def _scan(text: io.TextIOBase, name: str) -> None:
    import csv

    first = text.readline(MAX_LINE_CHARS + 1)
    if len(first) > MAX_LINE_CHARS:
        raise CohortFileError(f"{name}: the header has more than {first.count(',') + 1:,} columns in its first "
                              f"{MAX_LINE_CHARS:,} characters; a cohort file may have at most {MAX_COLUMNS:,} columns.")
    try:
        header = next(csv.reader([first]), [])
    except csv.Error:
        return
    if len(header) > MAX_COLUMNS:
        raise CohortFileError(f"{name}: the header has {len(header):,} columns; a cohort file may have at most "
                              f"{MAX_COLUMNS:,}.")
    long_line = False

    def lines():
        nonlocal long_line
        while True:
            line = text.readline(MAX_LINE_CHARS + 1)
            if not line:
                return
            if len(line) > MAX_LINE_CHARS:
                raise CohortFileError(f"{name}: row {reader.line_num + 2:,} is longer than {MAX_LINE_CHARS:,} "
                                      f"characters; a row may have at most {MAX_COLUMNS:,} cells of at most "
                                      f"{MAX_CELL_CHARS:,} characters each.")
            long_line = len(line) > MAX_CELL_CHARS
            yield line

    reader = csv.reader(lines())
    rows = 0
    try:
        for row in reader:
            rows += 1
            if rows > MAX_ROWS:
                raise CohortFileError(f"{name}: more than {_plural(MAX_ROWS, 'patient row')}; split the file.")
            if long_line:  # only a line longer than a cell's limit can hold a cell beyond it
                for j, cell in enumerate(row):
                    if len(cell) > MAX_CELL_CHARS:
                        column = header[j].strip() if j < len(header) else f"column {j + 1}"
                        raise CohortFileError(f"{name}: row {rows + 1:,}, column {quoted(column)}: a cell of "
                                              f"{len(cell):,} characters; a cell may have at most "
                                              f"{MAX_CELL_CHARS:,}.")
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):  # a quoted cell over many lines, beyond csv's own limit
            raise CohortFileError(f"{name}: row {rows + 2:,}: a cell of more than {csv.field_size_limit():,} "
                                  f"characters; a cell may have at most {MAX_CELL_CHARS:,}.") from None
        return  # not CSV as the csv module reads it: pandas says what is wrong


def _check_header(columns: pd.Index, name: str) -> None:
    """Refuse a header naming a column twice (also " age_years" next to "age_years", and the
    "age_years.1" pandas makes of a repeated data-dictionary column): which copy counts is unknowable."""
    seen: set[str] = set()
    twice: list[str] = []
    for c in columns:
        base = c
        stem, dot, suffix = c.rpartition(".")
        if dot and suffix.isdigit() and suffix.isascii() and stem in BY_NAME and stem in set(columns):
            base = stem
        if base in seen and base not in twice:
            twice.append(base)
        seen.add(base)
    if twice:
        shown = ", ".join(quoted(c) for c in twice[:10])
        raise CohortFileError(f"{name}: the header names {'a column' if len(twice) == 1 else 'columns'} more than once "
                              f"({shown}); keep one column of each name.")


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Typed frame rows back to records (booleans as True/False, blanks as None)."""
    records = []
    bool_cols = [f.name for f in FIELDS if f.kind == "boolean"]
    int_cols = [f.name for f in FIELDS if f.kind == "integer"]
    for row in frame.to_dict(orient="records"):
        rec: dict[str, object] = {}
        for k, v in row.items():
            if is_blank(v):
                rec[k] = None
            elif k in bool_cols:
                rec[k] = bool(v)
            elif k in int_cols:
                rec[k] = int(v)
            else:
                rec[k] = v
        records.append(rec)
    return records
