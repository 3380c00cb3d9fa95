"""RTSTRUCT contours to a voxel mask (even-odd rule at voxel centres)."""

from __future__ import annotations

import re

import numpy as np
from pydicom.dataset import Dataset

from ._frames import int_value
from ._grid import inplane_indices, nearest_slice_distance, slice_index, slice_tolerance
from .deid import NEUTRAL_WORDS, clean_text
from .dicom_io import Series
from .errors import GeometryMismatchError, RoiError

_CONTOUR_DATA = 0x30060050


def rtstruct_to_mask(ds: Dataset, series: Series, name: str,
                     roi_name: str | None) -> tuple[np.ndarray, str, list[str]]:
    """(mask, ROI name, warnings) for one ROI of a de-identified RTSTRUCT data set."""
    warnings: list[str] = []
    number, label, frame_uid = _choose_roi(ds, name, roi_name)
    if frame_uid and series.frame_of_reference_uid and frame_uid != series.frame_of_reference_uid:
        raise GeometryMismatchError(name, [f"frame of reference of ROI '{label}' differs from the series' "
                                           "(the contours belong to another scan)"])
    if not frame_uid or not series.frame_of_reference_uid:
        warnings.append(f"{name}: no frame of reference to compare with the series; contours placed "
                        "by position only")
    contours = _contours_of(ds, number)
    if not contours:
        raise RoiError(f"{name}: ROI '{label}' has no contours")
    mask = np.zeros(series.shape, dtype=bool)
    known = set(series.sop_instance_uids)
    unmatched = 0
    clipped = False
    for i, item in enumerate(contours, start=1):
        kind = str(item.get("ContourGeometricType", "CLOSED_PLANAR"))
        if kind != "CLOSED_PLANAR":
            warnings.append(f"{name}: contour {i} is {kind}, not CLOSED_PLANAR; skipped")
            continue
        refs = [str(r.get("ReferencedSOPInstanceUID", "")) for r in item.get("ContourImageSequence") or []]
        unmatched += bool(refs) and not any(r in known for r in refs)
        points = _points(item, name, i)
        along = points @ series.normal
        if np.ptp(along) > slice_tolerance(series):
            raise RoiError(f"{name}: contour {i} is not planar in the slice plane (spans "
                           f"{np.ptp(along):.2f} mm along the normal)")
        k = slice_index(series, float(along.mean()))
        if k is None:
            raise GeometryMismatchError(name, [
                f"contour {i} at {along.mean():.2f} mm along the normal is on no slice of the series "
                f"(nearest {nearest_slice_distance(series, float(along.mean())):.2f} mm away)"])
        rows, cols = inplane_indices(series, points)
        filled, outside = _fill(rows, cols, series.shape[1:])
        clipped |= outside
        mask[k] ^= filled
    if unmatched:
        warnings.append(f"{name}: {unmatched} contour(s) reference images that are not in this series; "
                        "placed by frame of reference and position instead")
    if clipped:
        warnings.append(f"{name}: ROI '{label}' extends outside the image; clipped to it")
    return mask, label, warnings


def _choose_roi(ds: Dataset, name: str, roi_name: str | None) -> tuple[int, str, str]:
    rois = []
    for r in ds.get("StructureSetROISequence") or []:
        if "ROINumber" not in r:
            continue
        number = int_value(r.ROINumber)
        if number is None:
            raise RoiError(f"{name}: invalid ROI Number (3006,0022) {str(r.ROINumber)[:40]!r}")
        rois.append((number, str(r.get("ROIName", "")), str(r.get("ReferencedFrameOfReferenceUID", ""))))
    if not rois:
        raise RoiError(f"{name}: the RTSTRUCT has no ROI (empty Structure Set ROI Sequence)")
    names = ", ".join(repr(r[1]) for r in rois)
    if roi_name is None:
        if len(rois) > 1:
            raise RoiError(f"{name}: {len(rois)} ROIs ({names}); choose one by name")
        return rois[0]
    by_number = re.fullmatch(r"\s*#\s*(\d{1,9})\s*", roi_name)
    if by_number:  # "#2": ROI Number 2 (names may coincide once cleaned)
        matches = [r for r in rois if r[0] == int(by_number.group(1))]
        if not matches:
            raise RoiError(f"{name}: no ROI number {int(by_number.group(1))}; the ROI numbers are "
                           f"{', '.join(str(r[0]) for r in rois)}")
        return matches[0]
    # the names are de-identified (Clean Descriptors): the one asked for is compared once cleaned the same way
    wanted = clean_text(roi_name.strip(), NEUTRAL_WORDS["ROIName"])
    matches = [r for r in rois if r[1].strip().lower() == wanted.lower()]
    if not matches:
        raise RoiError(f"{name}: no ROI named {wanted!r}; the ROIs are {names}")
    if len(matches) > 1:
        raise RoiError(f"{name}: {len(matches)} ROIs are named {wanted!r} (ROI numbers "
                       f"{', '.join(str(r[0]) for r in matches)}); choose one by number ('#{matches[0][0]}')")
    return matches[0]


def _contours_of(ds: Dataset, number: int) -> list[Dataset]:
    for item in ds.get("ROIContourSequence") or []:
        if int_value(item.get("ReferencedROINumber")) == number:
            return list(item.get("ContourSequence") or [])
    return []


def _points(item: Dataset, name: str, i: int) -> np.ndarray:
    """Contour Data as an (N, 3) array, parsed straight from the encoded text when possible."""
    elem = item.get_item(_CONTOUR_DATA) if _CONTOUR_DATA in item else None
    try:
        value = elem.value if elem is not None else None
        if isinstance(value, (bytes, bytearray)):  # still encoded: "x\\y\\z\\..."
            data = np.array(value.decode("ascii").strip(" \x00").split("\\"), dtype=float)
        else:
            data = np.array([float(v) for v in value], dtype=float)  # type: ignore[union-attr]
    except (AttributeError, TypeError, ValueError, UnicodeDecodeError):
        raise RoiError(f"{name}: contour {i} has no valid Contour Data (3006,0050)") from None
    if data.size < 9 or data.size % 3 or not np.all(np.isfinite(data)):
        raise RoiError(f"{name}: contour {i} has {data.size} coordinates; a polygon needs x, y, z "
                       "triplets for at least 3 points")
    return data.reshape(-1, 3)


def _fill(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """Voxel centres inside the polygon (even-odd rule), and whether it leaves the image.

    A centre (r, c) is inside when a ray towards +column crosses the polygon's edges an odd
    number of times; crossings are computed once per image row (scanline), edges that start
    exactly on the row count on one side only (``(y_i > r) != (y_j > r)``).
    """
    height, width = shape
    out = np.zeros(shape, dtype=bool)
    outside = bool(rows.min() < -0.5 or cols.min() < -0.5 or rows.max() > height - 0.5
                   or cols.max() > width - 0.5)
    r0, r1 = max(0, int(np.floor(rows.min()))), min(height - 1, int(np.ceil(rows.max())))
    c0, c1 = max(0, int(np.floor(cols.min()))), min(width - 1, int(np.ceil(cols.max())))
    if r0 > r1 or c0 > c1:
        return out, True
    ys = np.arange(r0, r1 + 1, dtype=float)
    y_i, x_i = rows[:, None], cols[:, None]
    y_j, x_j = np.roll(rows, 1)[:, None], np.roll(cols, 1)[:, None]
    crosses = (y_i > ys) != (y_j > ys)  # edges x rows
    dy = np.where(y_j == y_i, 1.0, y_j - y_i)
    x_cross = (x_j - x_i) * (ys - y_i) / dy + x_i
    centres = np.arange(c0, c1 + 1, dtype=float)
    for k in range(ys.size):
        xs = np.sort(x_cross[crosses[:, k], k])
        if xs.size:
            beyond = xs.size - np.searchsorted(xs, centres, side="right")  # crossings with x > centre
            out[r0 + k, c0:c1 + 1] = beyond % 2 == 1
    return out, outside
