"""Cohort files as the model sees them: validated, with radiomic columns computed from imaging paths.

A cohort file may point to MRI (``mri_*`` columns, paths relative to the file) or carry
precomputed ``radiomics_*`` columns. :func:`read_model_cohort` validates the file (every bad row
reported, nothing returned) and, when images are referenced and the model columns are not already
there, extracts them (:func:`watchwait.imaging.model_features.radiomics_columns`: every failing
row reported at once, nothing returned).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from watchwait.validation import read_cohort

MRI_COLUMNS = ("mri_baseline_dir", "mri_baseline_roi", "mri_restaging_dir", "mri_restaging_roi")


def has_imaging(frame: pd.DataFrame) -> bool:
    return any(frame[c].notna().any() for c in MRI_COLUMNS if c in frame.columns)


def add_radiomics(frame: pd.DataFrame, base_dir: str | os.PathLike, n_jobs: int = 1,
                  dask_address: str | None = None) -> pd.DataFrame:
    """The frame with the model's radiomic columns filled from its imaging paths (if any): here (``n_jobs``
    processes) or on the Dask scheduler at ``dask_address``."""
    if not has_imaging(frame):
        return frame
    from watchwait.imaging.model_features import MODEL_COLUMNS, radiomics_columns

    if all(c in frame.columns for c in MODEL_COLUMNS):
        return frame  # precomputed
    rad = radiomics_columns(frame, base_dir=Path(base_dir), n_jobs=n_jobs, dask_address=dask_address)
    out = frame.drop(columns=[c for c in rad.columns if c in frame.columns]).join(rad)
    out.attrs["radiomics_provenance"] = rad.attrs.get("provenance")
    return out


def read_model_cohort(path: str | os.PathLike, n_jobs: int = 1, dask_address: str | None = None) -> pd.DataFrame:
    return add_radiomics(read_cohort(path), base_dir=Path(path).resolve().parent, n_jobs=n_jobs,
                         dask_address=dask_address)
