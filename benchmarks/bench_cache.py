"""The benchmarks' cache of simulated cohorts, never pickle (loading a pickle runs code; a cache folder may be
shared): the cohort as the cohort file `watchwait simulate` writes (read back by the project's own reader) and the
hidden truth as CSV. A cohort is cached only if it reads back identical (values and dtypes) to the simulated one,
so a cached run gives the figures of an uncached one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from watchwait.sim import to_csv_frame
from watchwait.validation import read_cohort, validate_frame


def cached_cohort(folder: str | os.PathLike | None, name: str,
                  simulate: Callable[[], object]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(validated cohort frame, truth frame) of ``simulate()`` (a :class:`watchwait.sim.Cohort`), kept in
    ``folder`` as ``<name>.csv`` and ``<name>_truth.csv`` (``folder`` None: no cache)."""
    cohort_path = None if folder is None else Path(folder) / f"{name}.csv"
    truth_path = None if folder is None else Path(folder) / f"{name}_truth.csv"
    if cohort_path is not None and cohort_path.exists() and truth_path.exists():
        return read_cohort(cohort_path), _read_truth(truth_path)
    c = simulate()
    csv_frame = to_csv_frame(c.frame)
    frame, truth = validate_frame(csv_frame), c.truth
    if cohort_path is None:
        return frame, truth
    cohort_path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for data, path in ((csv_frame, cohort_path), (truth, truth_path)):
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(fd)
            data.to_csv(tmp, index=False)
            written.append((tmp, path))
        pd.testing.assert_frame_equal(read_cohort(written[0][0]), frame)
        pd.testing.assert_frame_equal(_read_truth(written[1][0]), truth)
    except AssertionError:  # not faithful: no cache for this cohort
        for tmp, _ in written:
            os.unlink(tmp)
        return frame, truth
    for tmp, path in written:
        os.replace(tmp, path)
    return frame, truth


def _read_truth(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"patient_id": str})
