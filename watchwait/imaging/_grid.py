"""Patient coordinates (mm, LPS) to voxel indices on a :class:`Series` grid."""

from __future__ import annotations

import numpy as np

from .dicom_io import Series


def slice_tolerance(series: Series) -> float:
    """How far (mm, along the normal) a plane may be from a slice and still be on it."""
    return max(0.01, 0.25 * float(series.spacing[0]))


def slice_index(series: Series, along_normal: float) -> int | None:
    """Index of the slice at ``along_normal`` mm on the slice normal, or None if none is."""
    positions = np.asarray(series.slice_positions)
    k = int(np.argmin(np.abs(positions - along_normal)))
    return k if abs(positions[k] - along_normal) <= slice_tolerance(series) else None


def nearest_slice_distance(series: Series, along_normal: float) -> float:
    return float(np.min(np.abs(np.asarray(series.slice_positions) - along_normal)))


def inplane_indices(series: Series, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Continuous (row, column) indices of patient points (N, 3) in the series' planes."""
    offset = np.atleast_2d(points) - np.asarray(series.origin)
    cols = offset @ series.row_direction / series.spacing[2]
    rows = offset @ series.column_direction / series.spacing[1]
    return rows, cols
