"""Error types of the imaging package.

All of them are :class:`watchwait.errors.ImagingError`, so a caller (CLI, dashboard) catches
one type and shows its message. Each message names the file (or the object) and the fault in
plain words, on the pattern ``"<file>: <what is wrong>"``.
"""

from __future__ import annotations

from collections.abc import Sequence

from watchwait.errors import ImagingError

__all__ = [
    "ImagingError",
    "DicomFileError",
    "SeriesError",
    "RoiError",
    "GeometryMismatchError",
    "RadiomicsError",
]


class DicomFileError(ImagingError):
    """One file cannot be used: not DICOM, not an MR/CT image, truncated, undecodable..."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


class SeriesError(ImagingError):
    """The files read fine one by one but do not make a usable 3-D series."""


class RoiError(ImagingError):
    """A ROI file (DICOM SEG, RTSTRUCT, NIfTI) cannot be turned into a mask on the series."""


class GeometryMismatchError(RoiError):
    """The ROI is defined on another grid than the series; ``differences`` says how."""

    def __init__(self, name: str, differences: Sequence[str]):
        self.name = name
        self.differences = tuple(differences)
        super().__init__(
            f"{name}: geometry does not match the series: " + "; ".join(self.differences)
        )


class RadiomicsError(ImagingError):
    """Feature extraction cannot run on this input (empty ROI, bad parameter file...)."""
