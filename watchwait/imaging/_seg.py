"""DICOM SEG frames to a voxel mask (highdicom reads the object, frames matched to slices)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from pydicom.uid import UID

from ._frames import Frame, check_pixel_size, frames_of, int_value
from ._grid import inplane_indices, nearest_slice_distance, slice_index
from ._reading import DECODER_ERRORS, guard, quiet_pydicom
from .dicom_io import Series
from .errors import DicomFileError, GeometryMismatchError, RoiError

#: What highdicom raises reading an object that is not a valid SEG: pydicom's and its own
#: (ValueError, TypeError, AttributeError, KeyError, RuntimeError...), and ``sqlite3.Error`` from
#: the in-memory database it indexes frame references in (a reference of several values where
#: the IOD allows one cannot be stored there).
SEG_READER_ERRORS: tuple[type[Exception], ...] = (*DECODER_ERRORS, sqlite3.Error)
ORIENTATION_TOL = 1e-4
SPACING_RTOL = 1e-4
OFFSET_TOL = 0.01  # pixels


def seg_to_mask(ds: Dataset, series: Series, name: str, segment_numbers: Sequence[int] | None,
                threshold: float) -> tuple[np.ndarray, str, list[str]]:
    """(mask, segment labels, warnings) for a de-identified SEG data set."""
    with quiet_pydicom(), guard(name, RoiError, what="not a valid DICOM SEG", catch=SEG_READER_ERRORS):
        seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
    available = [int_value(n) for n in seg.segment_numbers]
    if None in available:
        raise RoiError(f"{name}: invalid Segment Number (0062,0004) in the Segment Sequence")
    wanted = list(segment_numbers) if segment_numbers is not None else available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise RoiError(f"{name}: no segment number {unknown}; the segments are {available}")
    seg_for = str(seg.get("FrameOfReferenceUID", ""))
    if seg_for and series.frame_of_reference_uid and seg_for != series.frame_of_reference_uid:
        raise GeometryMismatchError(name, ["frame of reference differs from the series' "
                                           "(the segmentation belongs to another scan)"])
    try:
        frames = frames_of(ds, name)
        meta = getattr(ds, "file_meta", None)
        syntax = UID(str(meta.get("TransferSyntaxUID", "") if meta else "") or "1.2.840.10008.1.2.1")
        check_pixel_size(ds, name, syntax)  # before decoding: the header may declare terabytes
    except DicomFileError as exc:
        raise RoiError(str(exc)) from None
    with quiet_pydicom(), guard(name, RoiError, what="segmentation pixel data cannot be decoded",
                                catch=DECODER_ERRORS):
        pixels = np.asarray(ds.pixel_array)
    shape = (len(frames), frames[0].rows, frames[0].cols)
    if pixels.size != shape[0] * shape[1] * shape[2]:
        raise RoiError(f"{name}: segmentation pixel data holds {pixels.size} values, not {shape[0]} "
                       f"frame(s) of {shape[1]} x {shape[2]}")
    pixels = pixels.reshape(shape)
    _check_planes(frames, series, name)
    if str(seg.get("SegmentationType", "")) == "FRACTIONAL":
        maximum = int_value(seg.get("MaximumFractionalValue"))
        if maximum is None or maximum < 1:
            raise RoiError(f"{name}: fractional segmentation without a valid Maximum Fractional Value "
                           f"(0062,000E): {str(seg.get('MaximumFractionalValue'))[:40]!r}")
        pixels = pixels.astype(float) / maximum >= threshold
    else:
        pixels = pixels > 0
    index = {(uid, fn): k for k, (uid, fn) in enumerate(zip(series.sop_instance_uids, series.frame_numbers))}
    mask = np.zeros(series.shape, dtype=bool)
    by_position = 0
    shared = (ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []  # one item per frame (frames_of)
    for i, (frame, item) in enumerate(zip(frames, per_frame)):
        number = _segment_number(item, shared, name, i)
        if number not in wanted:
            continue
        k_pos = slice_index(series, float(frame.position @ series.normal))
        k_ref = _referenced_slice(item, index)
        if k_ref is not None and k_pos is not None and k_ref != k_pos:
            raise GeometryMismatchError(name, [f"frame {i + 1} references slice {k_ref + 1} but lies at "
                                               f"the position of slice {k_pos + 1}"])
        k = k_ref if k_ref is not None else k_pos
        if k is None:
            along = float(frame.position @ series.normal)
            raise GeometryMismatchError(name, [
                f"frame {i + 1} matches no slice: it references no image of the series and lies "
                f"{nearest_slice_distance(series, along):.2f} mm from the nearest slice"])
        by_position += k_ref is None
        _paste(mask[k], pixels[i], frame, series, name, i)
    warnings = []
    if by_position:
        warnings.append(f"{name}: {by_position} frame(s) matched to slices by plane position "
                        "(their source image references are not in the series)")
    labels = ", ".join(seg.get_segment_description(n).segment_label for n in wanted)
    return mask, labels, warnings


def _segment_number(item: Dataset, shared: Dataset, name: str, i: int) -> int:
    """Referenced Segment Number of a frame (per-frame, or shared when there is one segment)."""
    for groups in (item, shared):
        seq = groups.get("SegmentIdentificationSequence")
        if seq:
            number = int_value(seq[0].get("ReferencedSegmentNumber"))
            if number is None:
                raise RoiError(f"{name}: frame {i + 1} has no valid Referenced Segment Number (0062,000B)")
            return number
    raise RoiError(f"{name}: frame {i + 1} has no Segment Identification Sequence (0062,000A)")


def _check_planes(frames: list[Frame], series: Series, name: str) -> None:
    frame = frames[0]
    differences = []
    series_iop = np.concatenate([series.row_direction, series.column_direction])
    if np.max(np.abs(np.concatenate([frame.row_dir, frame.col_dir]) - series_iop)) > ORIENTATION_TOL:
        differences.append(f"orientation {np.round(np.concatenate([frame.row_dir, frame.col_dir]), 5).tolist()} "
                           f"vs series {np.round(series_iop, 5).tolist()}")
    if not np.allclose(frame.pixel_spacing, series.spacing[1:], rtol=SPACING_RTOL):
        differences.append(f"pixel spacing {list(frame.pixel_spacing)} mm vs series {list(series.spacing[1:])} mm")
    if differences:
        raise GeometryMismatchError(name, differences)


def _referenced_slice(item: Dataset, index: dict[tuple[str, int | None], int]) -> int | None:
    for derivation in item.get("DerivationImageSequence") or []:
        for source in derivation.get("SourceImageSequence") or []:
            uid = str(source.get("ReferencedSOPInstanceUID", ""))
            frame_number = source.get("ReferencedFrameNumber")
            if frame_number in (None, ""):
                numbers: list[int | None] = [None, 1]
            else:  # a frame number that is not a number references nothing
                numbers = [int_value(frame_number)]
            for number in numbers:
                if (uid, number) in index:
                    return index[(uid, number)]
    return None


def _paste(plane: np.ndarray, values: np.ndarray, frame: Frame, series: Series, name: str, i: int) -> None:
    rows, cols = inplane_indices(series, frame.position)
    r0, c0 = float(rows[0]), float(cols[0])
    if abs(r0 - round(r0)) > OFFSET_TOL or abs(c0 - round(c0)) > OFFSET_TOL:
        raise GeometryMismatchError(name, [f"frame {i + 1} origin is {r0:.3f} rows, {c0:.3f} columns from "
                                           "the series origin: not on the pixel grid"])
    r0, c0 = round(r0), round(c0)
    height, width = plane.shape
    top, left = max(0, r0), max(0, c0)  # the part of the frame that lies on the image
    bottom, right = min(height, r0 + values.shape[0]), min(width, c0 + values.shape[1])
    inside = values[top - r0:max(top, bottom) - r0, left - c0:max(left, right) - c0]
    if inside.sum() != values.sum():
        raise GeometryMismatchError(name, [f"frame {i + 1} ({values.shape[0]} x {values.shape[1]} at row {r0}, "
                                           f"column {c0}) has segmented pixels outside the {height} x {width} image"])
    plane[top:top + inside.shape[0], left:left + inside.shape[1]] |= inside
