"""Imaging: DICOM MR series, tumour ROI masks, de-identification and radiomics (no UI).

Modules (import what you need; heavy libraries load only with the module that uses them):

* :mod:`.dicom_io` - :func:`load_series`, :func:`list_series`, :class:`Series`
* :mod:`.deid` - PS3.15 Annex E Basic Profile (the whole of Table E.1-1) with the Clean Descriptors and
  modified-dates options, applied by the reader on ingest
* :mod:`.ingest` - uploads de-identified in memory before anything is written (files 0600, folders 0700)
* :mod:`.roi` - :func:`load_roi` (DICOM SEG, RTSTRUCT, NIfTI) -> :class:`RoiMask`
* :mod:`.radiomics` - :func:`extract_features`, :func:`delta_features`, :func:`extract_cohort`
* :mod:`.ibsi` - IBSI name mapping and known differences
* :mod:`.synthetic` - synthetic baseline/restaging MR pairs and DICOM/SEG writers
* :mod:`.cli` - the ``radiomics`` subcommand (:func:`register`, :func:`run`)

Every user-caused problem raises :class:`watchwait.errors.ImagingError` (or a subclass in
:mod:`.errors`) with a message naming the file and what is wrong.
"""

from __future__ import annotations

from .errors import (
    DicomFileError,
    GeometryMismatchError,
    ImagingError,
    RadiomicsError,
    RoiError,
    SeriesError,
)

__all__ = [
    "Series",
    "SeriesInfo",
    "load_series",
    "list_series",
    "ImagingError",
    "DicomFileError",
    "SeriesError",
    "RoiError",
    "GeometryMismatchError",
    "RadiomicsError",
]

_LAZY = {"Series", "SeriesInfo", "list_series", "load_series"}


def __getattr__(name: str):
    """The reader's names load SimpleITK and pydicom on first use, not with the package: ``watchwait --help`` or a
    cohort file refused for its size never pays for them (tests/unit/test_bounded_input.py)."""
    if name in _LAZY:
        from . import dicom_io

        return getattr(dicom_io, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

