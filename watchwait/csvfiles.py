"""Files the command line writes and reads besides cohort files: prediction tables (CSV, atomically written, formulas
escaped) and the simulator's oracle file. Here, not in :mod:`watchwait.cli`, so that the package's other modules
(the exports, the validation report) never import the command line."""

from __future__ import annotations

from pathlib import Path

from watchwait.atomic import atomic_path
from watchwait.errors import WatchwaitError, quoted

__all__ = ["write_csv", "escape_formulas", "read_truth"]


def write_csv(frame, path) -> None:
    """CSV via Arrow's writer (several times faster than pandas' for 100,000 rows); blanks for NaN.

    Written atomically (:func:`watchwait.atomic.atomic_path`): a failure never leaves a half-written
    file, and concurrent writers never mix their rows. Text cells a spreadsheet would evaluate as a
    formula are escaped (:func:`escape_formulas`)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.Table.from_pandas(escape_formulas(frame), preserve_index=False)
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="needed"))


from watchwait.validation import FORMULA_START  # noqa: E402 (with escape_formulas, its inverse lives in the reader)


def escape_formulas(frame):
    """A copy of ``frame`` whose text cells starting with :data:`FORMULA_START` get a leading ``'``.

    ``'`` is what spreadsheets themselves use to mean "text, not a formula": the cell shows ``-A1``
    and evaluates nothing. Numbers (a negative value) are not text cells and are left alone."""
    import pandas as pd

    out = frame.copy(deep=False)
    for name in out.columns:
        col = out[name]
        if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
            risky = col.astype("string").str.startswith(FORMULA_START).fillna(False).to_numpy(dtype=bool)
            if risky.any():
                values = col.to_numpy(dtype=object, copy=True)
                values[risky] = ["'" + str(v) for v in values[risky]]
                out[name] = pd.Series(values, index=col.index, dtype=col.dtype)
    return out


def read_truth(path, frame):
    """The oracle file of ``simulate --truth``: patient_id and p_oracle for every patient of ``frame``."""
    import pandas as pd

    name = Path(path).name
    try:
        truth = pd.read_csv(path, dtype={"patient_id": str}, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise WatchwaitError(f"{name}: no such file (--truth).") from None
    except IsADirectoryError:
        raise WatchwaitError(f"{name}: is a folder, not an oracle file (--truth).") from None
    except OSError as exc:
        raise WatchwaitError(f"{name}: cannot be read (--truth: {exc.strerror or type(exc).__name__}).") from None
    except (UnicodeDecodeError, pd.errors.EmptyDataError, pd.errors.ParserError, ValueError) as exc:
        raise WatchwaitError(f"{name}: not an oracle file of `watchwait simulate --truth` ({type(exc).__name__}).") from None
    missing = [c for c in ("patient_id", "p_oracle") if c not in truth.columns]
    if missing:
        raise WatchwaitError(f"{name}: no {' or '.join(missing)} column; --truth takes the oracle file written by "
                             "`watchwait simulate --truth`.")
    p = pd.to_numeric(truth["p_oracle"], errors="coerce")
    bad = ~(p.between(0, 1))
    if bad.any():
        raise WatchwaitError(f"{name}: p_oracle must be a probability from 0 to 1; not on row{'s' if bad.sum() > 1 else ''} "
                             + ", ".join(str(i + 2) for i in bad.to_numpy().nonzero()[0][:20]) + ".")
    if truth["patient_id"].duplicated().any():
        raise WatchwaitError(f"{name}: patient_id must be unique; the oracle file repeats "
                             f"{quoted(truth.loc[truth['patient_id'].duplicated(), 'patient_id'].iloc[0])}.")
    absent = ~frame["patient_id"].isin(truth["patient_id"])
    if absent.any():
        raise WatchwaitError(f"{name}: no oracle probability for {int(absent.sum())} patient(s) of the cohort, e.g. "
                             f"{quoted(frame.loc[absent, 'patient_id'].iloc[0])}; use the oracle file written with this cohort.")
    return truth
